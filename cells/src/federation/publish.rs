//! The child side of federation: which cells cross the level cut, under which prefix, and
//! when. A cell is published when its federated state (shown status, situation, incident)
//! changed since it was last sent, and every cell again every `resend_interval`, so a parent
//! that restarted (or lost a record) rebuilds within one interval.

use std::collections::HashMap;

use kafka_obs_signal::{Evidence, Subject};

use super::gate::Gate;
use super::story;
use super::wire::{CellRecord, IncidentRef, RULE};
use crate::hierarchy::Hierarchy;
use crate::model::{Situation, Status};
use crate::view::CellView;

/// How deep below its cluster a cell may be to be federated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Cluster cells only.
    Cluster,
    /// Down to services (and brokers, at the same depth).
    Service,
    /// Down to instances (and a broker's topics).
    Instance,
    /// Every cell under the cluster: clients with their topics, brokers with their topics
    /// and partitions (the topics are what relates a client to the brokers hosting them).
    Client,
}

impl Cut {
    /// The names `federate.level` accepts.
    pub const NAMES: [&'static str; 4] = ["cluster", "service", "instance", "client"];

    /// The cut named `name`, if it is one of [`Cut::NAMES`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cluster" => Some(Self::Cluster),
            "service" => Some(Self::Service),
            "instance" => Some(Self::Instance),
            "client" => Some(Self::Client),
            _ => None,
        }
    }

    /// Levels below the cluster segment a federated cell may have.
    const fn depth(self) -> usize {
        match self {
            Self::Cluster => 0,
            Self::Service => 1,
            Self::Instance => 2,
            Self::Client => usize::MAX,
        }
    }

    /// Whether a cell at `subject` crosses the cut: it is under a cluster and at most
    /// [`Cut::depth`] levels below it. Levels above the cluster (a prefix an earlier tier
    /// added) are the parent's to build from the prefix, not sent.
    pub fn admits(self, subject: &Subject) -> bool {
        self.below_cluster(subject)
            .is_some_and(|depth| depth <= self.depth())
    }

    /// Whether a cell at `subject` is on the cut itself: its children are not sent, so the
    /// parent gets its roll-up as a leaf. Cells above the cut send their own status and the
    /// parent rolls them up from their federated children, as the child does.
    pub fn is_edge(self, subject: &Subject) -> bool {
        self.below_cluster(subject) == Some(self.depth())
    }

    fn below_cluster(self, subject: &Subject) -> Option<usize> {
        let segments = subject.segments();
        segments
            .iter()
            .position(|s| s.level() == "cluster")
            .map(|at| segments.len() - 1 - at)
    }
}

/// What a publisher needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// This hierarchy's id (its `source_id`): the last element of every origin path.
    pub id: String,
    /// The level cut.
    pub cut: Cut,
    /// `(level, value)` pairs put in front of every subject, e.g. `region=eu-1`.
    pub prefix: Vec<(String, String)>,
    /// Every cell is sent again this often (ns).
    pub resend_interval_ns: u64,
}

/// The part of a record whose change makes it due.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    status: Status,
    situation: Situation,
    incident: Option<String>,
}

/// What a round of publishing produced.
#[derive(Debug, Default)]
pub struct Round {
    /// The records to send.
    pub records: Vec<CellRecord>,
    /// Whether this was a full resend.
    pub full: bool,
    /// Cells under the cut whose subject did not fit under the prefix (too deep).
    pub unfit: usize,
}

/// The child side of federation; see the module documentation.
#[derive(Debug)]
pub struct Publisher {
    config: PublisherConfig,
    sent: HashMap<String, Fingerprint>,
    next_full: u64,
}

impl Publisher {
    /// A publisher that sends everything on its first round.
    pub fn new(config: PublisherConfig) -> Self {
        Self {
            config,
            sent: HashMap::new(),
            next_full: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The records due at `now_ns` (wall clock, ns): every live cell under the cut when a
    /// full resend is due, otherwise those whose state changed since they were last sent.
    /// A cell on the cut sends its shown roll-up, one above it its own status (see
    /// [`Cut::is_edge`]). Stale cells and cells without a status are not sent: the parent
    /// lets them go stale on its own clock. `upstream` is this hierarchy's own gate when it is itself a parent, so
    /// a cell it federates further carries the path it came by.
    pub fn round(&mut self, h: &Hierarchy, upstream: Option<&Gate>, now_ns: u64) -> Round {
        let full = now_ns >= self.next_full;
        if full {
            self.next_full = now_ns.saturating_add(self.config.resend_interval_ns);
            self.sent.clear();
        }
        let mut round = Round {
            full,
            ..Round::default()
        };
        let candidates: Vec<CellView> = h.cells().filter(|v| !v.stale).collect();
        for view in candidates {
            let Ok(subject) = view.path.parse::<Subject>() else {
                continue;
            };
            if !self.config.cut.admits(&subject) {
                continue;
            }
            let status = if self.config.cut.is_edge(&subject) {
                view.status
            } else {
                view.own
            };
            let Some(status) = status else { continue };
            let incident = view.incident.and_then(|id| h.incident(id));
            // A cell in trouble only through its children has no onset of its own: its
            // incident's root cause began it.
            let incident_onset = incident
                .as_ref()
                .and_then(|i| i.chain.first())
                .map(|l| l.onset_unix_nano);
            let incident = incident.map(|i| IncidentRef {
                key: format!("{}#{}", self.config.id, i.id),
                story: i
                    .story
                    .unwrap_or_else(|| story::local_key(&self.config.id, i.id, i.opened_ns)),
                root_cause: i.root_cause,
                explanation: i.explanation,
            });
            let print = Fingerprint {
                status,
                situation: view.situation,
                incident: incident.as_ref().map(|i| i.key.clone()),
            };
            if self.sent.get(&view.path) == Some(&print) {
                continue;
            }
            let Some(prefixed) = self.prefixed(&subject) else {
                round.unfit += 1;
                continue;
            };
            let detail = h.detail(&subject);
            let onset = detail
                .as_ref()
                .and_then(|d| d.trouble_since_unix_nano)
                .or(incident_onset)
                .unwrap_or(now_ns);
            let evidence = detail
                .as_ref()
                .and_then(|d| {
                    d.readings
                        .iter()
                        .filter(|r| !r.expired && r.status.is_some())
                        .max_by_key(|r| r.status)
                })
                .map_or_else(
                    || Evidence::rule(RULE),
                    |r| {
                        let mut e = Evidence::rule(r.evidence.rule.clone());
                        e.values = r.evidence.values.clone();
                        e.threshold = r.evidence.threshold;
                        e
                    },
                );
            let mut origin: Vec<String> = upstream
                .and_then(|g| g.origin_of(&view.path))
                .map(<[String]>::to_vec)
                .unwrap_or_default();
            origin.retain(|o| o != &self.config.id);
            origin.push(self.config.id.clone());
            round.records.push(CellRecord {
                subject: prefixed,
                status,
                situation: view.situation,
                origin,
                incident,
                evidence,
                time_unix_nano: onset,
            });
            self.sent.insert(view.path, print);
        }
        round
    }

    fn prefixed(&self, subject: &Subject) -> Option<Subject> {
        let pairs = self
            .config
            .prefix
            .iter()
            .map(|(l, v)| (l.as_str(), v.as_str()))
            .chain(subject.segments().iter().map(|s| (s.level(), s.value())));
        Subject::from_pairs(pairs).ok()
    }
}
