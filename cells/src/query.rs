//! Read-only queries: owned, serializable snapshots of cells and incidents, and the signals
//! that events stand for.

use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject};

use crate::{
    cell::Reading,
    event::Event,
    hierarchy::Hierarchy,
    incident::{Incident, IncidentId, IncidentsView},
    model::CellId,
    view::{CellDetail, CellNode, CellView, EvidenceView, HistoryEntry, ReadingView},
};

impl Hierarchy {
    /// The cell of `subject`, if it exists.
    pub fn lookup(&self, subject: &Subject) -> Option<CellId> {
        self.find(subject).map(|idx| self.cell_id(idx))
    }

    /// The subject of a cell; `None` if the id is stale (the cell was evicted).
    pub fn subject(&self, cell: CellId) -> Option<Subject> {
        self.slot(cell).map(|idx| self.subject_of(idx))
    }

    /// The tree view of one cell.
    pub fn view(&self, cell: CellId) -> Option<CellView> {
        self.slot(cell).map(|idx| self.view_of(idx))
    }

    /// The subtree under `subject` (the root for the whole tree), `depth` levels deep (0: the
    /// cell alone). Children are ordered by path.
    pub fn tree(&self, subject: &Subject, depth: usize) -> Option<CellNode> {
        let idx = self.find(subject)?;
        Some(self.node(idx, depth))
    }

    /// Every cell's view, in no particular order.
    pub fn cells(&self) -> impl Iterator<Item = CellView> + '_ {
        (0..self.cells.len() as u32)
            .filter(|&idx| self.cells[idx as usize].used)
            .map(|idx| self.view_of(idx))
    }

    /// Everything about one cell: readings with evidence, history, children.
    pub fn detail(&self, subject: &Subject) -> Option<CellDetail> {
        let idx = self.find(subject)?;
        let c = &self.cells[idx as usize];
        let mut readings: Vec<&Reading> = c.readings.iter().collect();
        readings.sort_by_key(|r| std::cmp::Reverse(r.received));
        let mut children: Vec<String> = c.children.iter().map(|&i| self.path_of(i)).collect();
        children.sort();
        Some(CellDetail {
            cell: self.view_of(idx),
            readings: readings.into_iter().map(|r| self.reading_view(r)).collect(),
            trouble_since_unix_nano: c.trouble_since,
            history: c.history.iter().copied().collect(),
            children,
        })
    }

    /// One cell's history ring, oldest first.
    pub fn history(&self, subject: &Subject) -> Option<Vec<HistoryEntry>> {
        let idx = self.find(subject)?;
        Some(self.cells[idx as usize].history.iter().copied().collect())
    }

    /// Open incidents and the most recent closed ones.
    pub fn incidents(&self) -> IncidentsView {
        IncidentsView {
            open: self
                .incidents
                .open_ids()
                .filter_map(|id| self.open_snapshot(id))
                .collect(),
            closed: self.incidents.closed().cloned().collect(),
        }
    }

    /// One incident, open or among the kept closed ones.
    pub fn incident(&self, id: IncidentId) -> Option<Incident> {
        self.open_snapshot(id)
            .or_else(|| self.incidents.closed().find(|i| i.id == id).cloned())
    }

    /// The signal an event stands for, from `source_id`, for export: a Statuses signal for
    /// [`Event::StatusChanged`] (none when the status went away), Situations for
    /// [`Event::SituationChanged`], the Actors signal of an [`Event::Action`]; `None` for the
    /// others or a cell no longer there.
    pub fn signal_for(&self, event: &Event) -> Option<Signal> {
        let source = self.settings.source_id.as_str();
        match event {
            Event::StatusChanged {
                cell,
                status: Some(status),
                time_ns,
                ..
            } => {
                let idx = self.slot(*cell)?;
                let c = &self.cells[idx as usize];
                let mut evidence = Evidence::rule("cells.rollup");
                if let Some(own) = c.own {
                    evidence = evidence.with("own_rank", f64::from(own.sign.rank()));
                }
                Some(
                    Signal::new(
                        self.subject_of(idx),
                        SignalKind::Statuses(status.sign, status.confidence),
                        evidence,
                        *time_ns,
                    )
                    .from_source(source),
                )
            }
            Event::SituationChanged {
                cell,
                situation,
                time_ns,
                ..
            } => {
                let idx = self.slot(*cell)?;
                let c = &self.cells[idx as usize];
                let mut evidence = Evidence::rule("cells.reporter")
                    .with("recent_changes", c.transitions.len() as f64);
                if let Some(shown) = c.shown {
                    evidence = evidence.with("status_rank", f64::from(shown.sign.rank()));
                }
                Some(
                    Signal::new(
                        self.subject_of(idx),
                        SignalKind::Situations(situation.sign, situation.variability),
                        evidence,
                        *time_ns,
                    )
                    .from_source(source),
                )
            }
            Event::Action(action) => Some(action.signal.clone()),
            _ => None,
        }
    }

    pub(crate) fn view_of(&self, idx: u32) -> CellView {
        let c = &self.cells[idx as usize];
        CellView {
            id: self.cell_id(idx),
            path: self.path_of(idx),
            level: self.strings.resolve(c.level).to_string(),
            name: self.strings.resolve(c.value).to_string(),
            kind: c.kind,
            cluster: self.cluster_of(idx).to_string(),
            own: c.own,
            rolled: c.rolled,
            status: c.shown,
            situation: c.situation,
            stale: c.stale,
            last_update_ns: c.last_seen,
            children: c.children.len(),
            incident: c.membership.map(|m| m.incident),
        }
    }

    fn node(&self, idx: u32, depth: usize) -> CellNode {
        let c = &self.cells[idx as usize];
        let mut nodes = Vec::new();
        if depth > 0 {
            let mut children = c.children.clone();
            children.sort_by(|&a, &b| {
                let (ca, cb) = (&self.cells[a as usize], &self.cells[b as usize]);
                self.strings
                    .resolve(ca.level)
                    .cmp(self.strings.resolve(cb.level))
                    .then_with(|| {
                        self.strings
                            .resolve(ca.value)
                            .cmp(self.strings.resolve(cb.value))
                    })
            });
            nodes = children
                .into_iter()
                .map(|child| self.node(child, depth - 1))
                .collect();
        }
        CellNode {
            cell: self.view_of(idx),
            nodes,
        }
    }

    pub(crate) fn reading_view(&self, r: &Reading) -> ReadingView {
        ReadingView {
            signal: r.kind.to_string(),
            instrument: r.kind.instrument().as_str().to_string(),
            rule: self.strings.resolve(r.rule).to_string(),
            source: self.strings.resolve(r.source).to_string(),
            status: r.status,
            time_unix_nano: r.time_unix,
            received_ns: r.received,
            expired: !r.live(self.now, self.settings.reading_ttl),
            evidence: EvidenceView {
                rule: self.strings.resolve(r.rule).to_string(),
                values: r
                    .evidence
                    .iter()
                    .map(|(name, v)| (self.strings.resolve(*name).to_string(), *v))
                    .collect(),
                threshold: r.threshold,
            },
        }
    }
}
