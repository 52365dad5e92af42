//! The parent side of federation: admits federated cells or refuses them, and remembers
//! what each admitted cell came with (its origin path, the child's situation and incident)
//! for the view and for federating further up.
//!
//! Refused are records whose origin path already holds this hierarchy's id (they went round
//! a cycle) and records that would give their child (the sender, the origin's last) more
//! than `max_cells_per_child` cells. A cell already admitted is always updated.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::wire::{CellRecord, IncidentRef};
use crate::model::Situation;

/// Why a federated cell was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its origin path holds this hierarchy's id.
    Cycle,
    /// Its child already has `max_cells_per_child` cells here.
    ChildFull,
}

impl Refusal {
    /// The label of the refusal counter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cycle => "cycle",
            Self::ChildFull => "max_cells_per_child",
        }
    }
}

/// What the parent keeps of an admitted cell beside the engine's reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Federated {
    /// The hierarchies it came through, each once, in order of first arrival.
    pub origin: Vec<String>,
    /// The sender.
    pub child: String,
    /// The child's situation with variability, as last sent.
    pub situation: Situation,
    /// The child's incident key (`<child>#<id>`) with root cause and chain, as last sent.
    pub incident: Option<FederatedIncident>,
    /// Wall-clock time of the last record (ns).
    pub received_ns: u64,
}

/// The child's incident as last sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FederatedIncident {
    /// `<child>#<id>`.
    pub key: String,
    /// Probable root cause, a path in the child's tree.
    pub root_cause: String,
    /// The chain as one sentence.
    pub explanation: String,
    /// The story it continues; the parent's incident id derives from it.
    pub story: String,
}

impl From<IncidentRef> for FederatedIncident {
    fn from(i: IncidentRef) -> Self {
        Self {
            key: i.key,
            root_cause: i.root_cause,
            explanation: i.explanation,
            story: i.story,
        }
    }
}

/// The parent side of federation; see the module documentation.
#[derive(Debug)]
pub struct Gate {
    id: String,
    max_cells_per_child: usize,
    /// Cell paths (qualified) per child.
    children: HashMap<String, HashSet<String>>,
    cells: HashMap<String, Federated>,
}

impl Gate {
    /// A gate for hierarchy `id` (its `source_id`).
    pub fn new(id: impl Into<String>, max_cells_per_child: usize) -> Self {
        Self {
            id: id.into(),
            max_cells_per_child,
            children: HashMap::new(),
            cells: HashMap::new(),
        }
    }

    /// Admits `record` (remembering what it came with) or says why not.
    pub fn admit(&mut self, record: CellRecord, now_ns: u64) -> Result<(), Refusal> {
        if record.origin.iter().any(|o| o == &self.id) {
            return Err(Refusal::Cycle);
        }
        let child = record.origin.last().cloned().unwrap_or_default();
        let path = record.subject.qualified();
        let paths = self.children.entry(child.clone()).or_default();
        if !paths.contains(&path) {
            if paths.len() >= self.max_cells_per_child {
                return Err(Refusal::ChildFull);
            }
            paths.insert(path.clone());
        }
        let entry = self.cells.entry(path).or_insert_with(|| Federated {
            origin: Vec::new(),
            child: child.clone(),
            situation: record.situation,
            incident: None,
            received_ns: now_ns,
        });
        for o in record.origin {
            if !entry.origin.contains(&o) {
                entry.origin.push(o);
            }
        }
        entry.child = child;
        entry.situation = record.situation;
        entry.incident = record.incident.map(FederatedIncident::from);
        entry.received_ns = now_ns;
        Ok(())
    }

    /// The hierarchies a federated cell came through, if it is one.
    pub fn origin_of(&self, path: &str) -> Option<&[String]> {
        self.cells.get(path).map(|f| f.origin.as_slice())
    }

    /// What an admitted cell came with.
    pub fn get(&self, path: &str) -> Option<&Federated> {
        self.cells.get(path)
    }

    /// Every admitted cell, by path.
    pub fn cells(&self) -> impl Iterator<Item = (&String, &Federated)> {
        self.cells.iter()
    }

    /// Cells admitted from `child`.
    pub fn cells_of(&self, child: &str) -> usize {
        self.children.get(child).map_or(0, HashSet::len)
    }

    /// Forgets the cells `keep` says no longer exist (the engine evicted them), so they stop
    /// counting against their child's bound.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.cells.retain(|path, _| keep(path));
        let cells = &self.cells;
        for paths in self.children.values_mut() {
            paths.retain(|p| cells.contains_key(p));
        }
        self.children.retain(|_, paths| !paths.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use kafka_obs_signal::{Evidence, situations, statuses};

    use super::*;
    use crate::model::Status;

    fn record(path: &str, origin: &[&str]) -> CellRecord {
        CellRecord {
            subject: path.parse().expect("subject"),
            status: Status::new(statuses::Sign::Stable, statuses::Confidence::Confirmed),
            situation: Situation {
                sign: situations::Sign::Normal,
                variability: situations::Variability::Constant,
            },
            origin: origin.iter().map(|s| s.to_string()).collect(),
            incident: None,
            evidence: Evidence::rule("federation"),
            time_unix_nano: 1,
        }
    }

    #[test]
    fn a_record_that_went_round_a_cycle_is_refused() {
        let mut gate = Gate::new("global", 10);
        assert_eq!(
            gate.admit(record("cluster=a", &["global", "eu"]), 1),
            Err(Refusal::Cycle)
        );
        assert_eq!(gate.cells_of("eu"), 0);
        assert_eq!(gate.admit(record("cluster=a", &["side", "eu"]), 1), Ok(()));
        assert_eq!(
            gate.origin_of("cluster=a"),
            Some(&["side".to_string(), "eu".to_string()][..])
        );
    }

    #[test]
    fn a_child_gets_at_most_its_bound_of_cells_and_keeps_updating_them() {
        let mut gate = Gate::new("global", 2);
        assert_eq!(gate.admit(record("cluster=a", &["eu"]), 1), Ok(()));
        assert_eq!(gate.admit(record("cluster=b", &["eu"]), 1), Ok(()));
        assert_eq!(
            gate.admit(record("cluster=c", &["eu"]), 1),
            Err(Refusal::ChildFull)
        );
        // Updates of admitted cells go on; another child has its own bound.
        assert_eq!(gate.admit(record("cluster=a", &["eu"]), 2), Ok(()));
        assert_eq!(gate.admit(record("cluster=c", &["us"]), 2), Ok(()));
        // A forgotten cell makes room again.
        gate.retain(|p| p != "cluster=b");
        assert_eq!(gate.cells_of("eu"), 1);
        assert_eq!(gate.admit(record("cluster=c", &["eu"]), 3), Ok(()));
    }
}
