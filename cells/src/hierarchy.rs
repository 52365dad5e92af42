//! The engine: [`Hierarchy`].

use kafka_obs_signal::{Signal, Subject};
use serde::Serialize;

use crate::{
    config::{ConfigError, HierarchyConfig, Settings},
    event::Event,
    incident::{Incident, IncidentId, IncidentsView},
    model::CellId,
    view::{CellDetail, CellNode, CellView, HistoryEntry},
};

/// What became of one ingested signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    /// Its reading was stored in its cell (and rolled up).
    Applied,
    /// Its cell was updated (fresh, no longer stale), but its sign reads as no status (a
    /// Counters INCREMENT, an Actors signal, ...).
    NoReading,
    /// Its cell did not exist and could not be created: `max_cells` cells and none stale.
    Refused,
}

/// Running totals, for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Cells now (the root included).
    pub cells: usize,
    /// Cells now stale.
    pub stale_cells: usize,
    /// Signals ingested.
    pub signals: u64,
    /// Of those, with no status reading.
    pub no_reading: u64,
    /// Of those, refused for want of room (`max_cells`).
    pub refused: u64,
    /// Cells created.
    pub created_cells: u64,
    /// Cells evicted after `forget_after`.
    pub forgotten_cells: u64,
    /// Stale cells evicted early to make room under `max_cells`.
    pub evicted_for_room: u64,
    /// Cells dropped with their cluster.
    pub dropped_cells: u64,
    /// Readings replaced because their cell had `max_readings_per_cell` other keys.
    pub evicted_readings: u64,
    /// Evidence values beyond eight per reading, not kept.
    pub truncated_evidence: u64,
    /// Incidents opened.
    pub incidents_opened: u64,
    /// Incidents closed.
    pub incidents_closed: u64,
    /// Incidents not opened because `incidents.max_open` were open.
    pub incidents_refused: u64,
    /// Incidents open now.
    pub incidents_open: usize,
    /// Notifications to perform.
    pub notifications: u64,
    /// Notifications suppressed as duplicates.
    pub suppressed_duplicate: u64,
    /// Notifications suppressed by the rate limit.
    pub suppressed_rate_limited: u64,
    /// Updates suppressed by `notify.update_interval`.
    pub suppressed_too_soon: u64,
}

/// What [`Hierarchy::drop_cluster`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DropReport {
    /// Cells removed.
    pub cells: usize,
    /// Open incidents discarded (without notifications: the new owner has them).
    pub incidents: usize,
}

/// The cell hierarchy; see the crate documentation.
#[derive(Debug)]
pub struct Hierarchy {
    config: HierarchyConfig,
    settings: Settings,
}

impl Hierarchy {
    /// An empty hierarchy (just the root), or the first configuration error.
    pub fn new(config: HierarchyConfig) -> Result<Self, ConfigError> {
        let settings = config.validate()?;
        Ok(Self { config, settings })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &HierarchyConfig {
        &self.config
    }

    /// Ingests one signal at engine time `now_ns` and returns what changed. See
    /// [`Hierarchy::ingest_into`].
    pub fn ingest(&mut self, signal: &Signal, now_ns: u64) -> Vec<Event> {
        let mut out = Vec::new();
        self.ingest_into(signal, now_ns, &mut out);
        out
    }

    /// Ingests one signal: finds or creates its cell (and the cells above it), stores the
    /// reading under (instrument, rule, source), recomputes the cell's own status and rolls it
    /// up as far as something changes, then runs the Reporters and Actors on every cell that
    /// changed. Events are appended to `out`. Allocates only for new cells, new reading keys
    /// and events.
    ///
    /// `now_ns` is the engine's clock (staleness, damping, rate limits); it should not go
    /// backwards, and if it does the latest time seen is used. The signal's own timestamp is
    /// kept with the reading and orders explanation chains.
    pub fn ingest_into(&mut self, signal: &Signal, now_ns: u64, out: &mut Vec<Event>) -> Ingested {
        let _ = (signal, now_ns, out, &self.settings);
        todo!()
    }

    /// Advances time without a signal and returns what changed. See [`Hierarchy::tick_into`].
    pub fn tick(&mut self, now_ns: u64) -> Vec<Event> {
        let mut out = Vec::new();
        self.tick_into(now_ns, &mut out);
        out
    }

    /// Advances time: readings past `observer.reading_ttl` stop counting, cells without news
    /// for `stale_after` go stale (and leave their parents' roll-ups), damping timers expire,
    /// variability decays, incidents whose members all recovered `incidents.close_after` ago
    /// close, and cells stale for `forget_after` are evicted. Call it regularly (every second
    /// is plenty); its cost is a scan of one word per cell plus the work that is due.
    pub fn tick_into(&mut self, now_ns: u64, out: &mut Vec<Event>) {
        let _ = (now_ns, out);
        todo!()
    }

    /// Removes every cell of `cluster` (ownership moved to another aggregator) and discards
    /// its open incidents without notifications.
    pub fn drop_cluster(&mut self, cluster: &str) -> DropReport {
        let _ = cluster;
        todo!()
    }

    /// Number of cells, the root included.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// True when only the root exists.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// Running totals.
    pub fn stats(&self) -> Stats {
        todo!()
    }

    /// The cell of `subject`, if it exists.
    pub fn lookup(&self, subject: &Subject) -> Option<CellId> {
        let _ = subject;
        todo!()
    }

    /// The subject of a cell; `None` if the id is stale (the cell was evicted).
    pub fn subject(&self, cell: CellId) -> Option<Subject> {
        let _ = cell;
        todo!()
    }

    /// The tree view of one cell.
    pub fn view(&self, cell: CellId) -> Option<CellView> {
        let _ = cell;
        todo!()
    }

    /// The subtree under `subject` (the root for the whole tree), `depth` levels deep (0: the
    /// cell alone). Children are ordered by path.
    pub fn tree(&self, subject: &Subject, depth: usize) -> Option<CellNode> {
        let _ = (subject, depth);
        todo!()
    }

    /// Every cell's view, in no particular order.
    pub fn cells(&self) -> impl Iterator<Item = CellView> + '_ {
        todo!();
        #[allow(unreachable_code)]
        std::iter::empty()
    }

    /// Everything about one cell: readings with evidence, history, children.
    pub fn detail(&self, subject: &Subject) -> Option<CellDetail> {
        let _ = subject;
        todo!()
    }

    /// One cell's history ring, oldest first.
    pub fn history(&self, subject: &Subject) -> Option<Vec<HistoryEntry>> {
        let _ = subject;
        todo!()
    }

    /// Open incidents and the most recent closed ones.
    pub fn incidents(&self) -> IncidentsView {
        todo!()
    }

    /// One incident, open or among the kept closed ones.
    pub fn incident(&self, id: IncidentId) -> Option<Incident> {
        let _ = id;
        todo!()
    }

    /// The signal an event stands for, from `source_id`, for export: a Statuses signal for
    /// [`Event::StatusChanged`], Situations for [`Event::SituationChanged`], the Actors signal
    /// of an [`Event::Action`]; `None` for the others or a cell no longer there.
    pub fn signal_for(&self, event: &Event) -> Option<Signal> {
        let _ = event;
        todo!()
    }
}
