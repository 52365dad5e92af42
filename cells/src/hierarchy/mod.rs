//! The engine: [`Hierarchy`], its state and its entry points (`ingest`, `tick`,
//! `drop_cluster`). The work is split by job over this folder: `tree.rs` (finding, creating
//! and removing cells, their names), `observe.rs` (the Observers: readings -> own status),
//! `report.rs` (the roll-up and the Reporters: damping, situation, variability), `stale.rs`
//! (wake times, staleness, eviction for room) and `check.rs` (the invariants the tests
//! check). Correlation and incidents are in `incident/`, notifications in `actors.rs`, the
//! read-only snapshots in `query.rs`.

use std::collections::{HashMap, VecDeque};

use kafka_obs_signal::Signal;
use serde::Serialize;

use crate::{
    actors::Notifications,
    cell::Cell,
    config::{ConfigError, HierarchyConfig, Settings},
    controller::Controllers,
    event::Event,
    federation::wire::story_of,
    hash::{Fx, PathHasher},
    incident::{Incidents, TroubleChange},
    intern::{Interner, Sym},
    model::CellKind,
    slab::{CHUNK, Slab},
};

#[cfg(test)]
mod check;
mod observe;
mod report;
mod stale;
mod tree;

/// Subjects deeper than this are refused (a real hierarchy has about six levels).
pub(crate) const MAX_DEPTH: usize = 32;
/// An ancestor's `last_seen` is only moved when it is older than this, and the walk up stops
/// at the first ancestor that is fresh enough (its own ancestors are at least as fresh), so a
/// heartbeat usually touches its cell and its parent only. Staleness is measured in minutes;
/// cells with children wait this much longer before going stale, so a parent never goes stale
/// before its children.
pub(crate) const TOUCH_GRANULARITY: u64 = 100_000_000;

/// What became of one ingested signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    /// Its reading was stored in its cell (and rolled up).
    Applied,
    /// Its cell was updated (fresh, no longer stale), but its sign reads as no status (a
    /// Counters INCREMENT, an Actors signal, ...).
    NoReading,
    /// Its cell did not exist and could not be created: `max_cells` cells and none stale, or
    /// a subject deeper than 32 levels.
    Refused,
}

/// Running totals, for self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Cells now (the root included).
    pub cells: usize,
    /// Cells now stale.
    pub stale_cells: usize,
    /// Interned strings now (level and cell names, rules, sources, evidence names).
    pub strings: usize,
    /// Signals ingested.
    pub signals: u64,
    /// Of those, with no status reading.
    pub no_reading: u64,
    /// Of those, refused for want of room (`max_cells`) or too deep.
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
    /// Readings dropped because a status signal of their source (rule `status`) no longer
    /// listed their rule among the subject's current conditions: recoveries that were lost,
    /// sources that restarted.
    pub pruned_readings: u64,
    /// Times a cluster was judged to have no active controller (B3 DOWN).
    pub controller_down: u64,
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
    /// Updates held back by `notify.update_interval` or the rate limit, to be sent later as
    /// one (or folded into the close).
    pub deferred_updates: u64,
}

/// What [`Hierarchy::drop_cluster`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DropReport {
    /// Cells removed.
    pub cells: usize,
    /// Open incidents discarded (without notifications: the new owner has them).
    pub incidents: usize,
}

/// Level names the engine looks for, interned once and never released.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Levels {
    pub empty: Sym,
    pub cluster: Sym,
    pub topic: Sym,
    pub client: Sym,
}

/// The cell hierarchy; see the crate documentation.
#[derive(Debug)]
pub struct Hierarchy {
    config: HierarchyConfig,
    pub(crate) settings: Settings,
    pub(crate) cells: Slab<Cell>,
    /// Per chunk of the slab: the earliest `Cell::wake` in it, so `tick` looks only at
    /// chunks with something due.
    chunk_wake: Vec<u64>,
    free: Vec<u32>,
    pub(crate) live: usize,
    pub(crate) strings: Interner,
    /// (parent, level, value) -> child.
    pub(crate) index: HashMap<(u32, Sym, Sym), u32, Fx>,
    /// Hash of a cell's whole path -> cell, for the hot path.
    pub(crate) paths: HashMap<u64, u32, Fx>,
    /// Cells in the order they went stale, for eviction when `max_cells` is reached.
    stale_queue: VecDeque<(u32, u32)>,
    pub(crate) stale_count: usize,
    pub(crate) now: u64,
    pub(crate) incidents: Incidents,
    /// Notification state: recent root causes, the rate limit.
    pub(crate) notifications: Notifications,
    /// The brokers' controller flags per cluster, for B3.
    pub(crate) controllers: Controllers,
    pub(crate) stats: Stats,
    pub(crate) levels: Levels,
    /// Scratch: cells on the current path that were revived.
    revived: Vec<u32>,
    /// Scratch: cells on the current path (creation).
    prefix: Vec<u32>,
    /// Scratch: the story of the federated record being ingested, for the incident its
    /// cell may open.
    pub(crate) arriving_story: Option<String>,
}

impl Hierarchy {
    /// An empty hierarchy (just the root), or the first configuration error.
    pub fn new(config: HierarchyConfig) -> Result<Self, ConfigError> {
        let settings = config.validate()?;
        let mut strings = Interner::default();
        let levels = Levels {
            empty: strings.acquire(""),
            cluster: strings.acquire("cluster"),
            topic: strings.acquire("topic"),
            client: strings.acquire("client"),
        };
        strings.retain(levels.empty);
        let mut root = Cell::new(u32::MAX, 0, levels.empty, levels.empty, CellKind::Root);
        (root.path_hash, root.path_check) = PathHasher::default().finish();
        let mut paths = HashMap::default();
        paths.insert(root.path_hash, 0);
        let mut cells = Slab::default();
        cells.push(root);
        Ok(Self {
            config,
            incidents: Incidents::new(),
            notifications: Notifications::new(&settings),
            controllers: Controllers::default(),
            settings,
            cells,
            chunk_wake: vec![u64::MAX],
            free: Vec::new(),
            live: 1,
            strings,
            index: HashMap::default(),
            paths,
            stale_queue: VecDeque::new(),
            stale_count: 0,
            now: 0,
            stats: Stats::default(),
            levels,
            revived: Vec::new(),
            prefix: Vec::new(),
            arriving_story: None,
        })
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
    /// A condition's recovery replaces its onset's reading (same rule and instrument,
    /// `kafka_obs_signal::condition`). A status signal (rule `status`) that lists the
    /// subject's current conditions drops its source's readings of every rule not listed. A
    /// broker's controller flag (Members ELECT / RESIGN SELF, rule B3) is kept for the
    /// cluster's B3 verdict (see `controller.rs`).
    ///
    /// `now_ns` is the engine's clock (staleness, damping, rate limits); it should not go
    /// backwards, and if it does the latest time seen is used. The signal's own timestamp is
    /// kept with the reading and orders explanation chains.
    pub fn ingest_into(&mut self, signal: &Signal, now_ns: u64, out: &mut Vec<Event>) -> Ingested {
        let now = self.advance(now_ns);
        self.stats.signals += 1;
        let Some((leaf, revived)) = self.resolve(&signal.subject, now, out) else {
            self.stats.refused += 1;
            return Ingested::Refused;
        };
        let status = self.settings.readings.status_of_signal(signal);
        let applied = self.apply_reading(leaf, signal, status, now);
        let pruned = self.prune_readings(leaf, signal);
        let onset = if signal.time_unix_nano == 0 {
            now
        } else {
            signal.time_unix_nano
        };
        let change = self.update_own(leaf, now, onset);
        // A heartbeat that changes nothing skips the Reporters and keeps the cell's (earlier)
        // wake time; a new reading key, a pruned one or a revival may bring another.
        self.refresh(
            leaf,
            now,
            revived || applied == Some(true) || pruned > 0,
            out,
        );
        while let Some(cell) = self.revived.pop() {
            self.refresh(cell, now, true, out);
        }
        if change != TroubleChange::None {
            self.arriving_story = story_of(signal).map(str::to_string);
            self.on_trouble(leaf, change, now, out);
            self.arriving_story = None;
        }
        self.controller_signal(leaf, signal, now, out);
        if applied.is_some() {
            Ingested::Applied
        } else {
            self.stats.no_reading += 1;
            Ingested::NoReading
        }
    }

    /// Advances time without a signal and returns what changed. See [`Hierarchy::tick_into`].
    pub fn tick(&mut self, now_ns: u64) -> Vec<Event> {
        let mut out = Vec::new();
        self.tick_into(now_ns, &mut out);
        out
    }

    /// Advances time: readings past `observer.reading_ttl` stop counting, cells without news
    /// for `stale_after` go stale (and leave their parents' roll-ups), damping timers expire,
    /// variability decays, clusters whose live brokers have reported no active controller
    /// for `controller_grace` read DOWN (B3), incidents whose members all recovered
    /// `incidents.close_after` ago close, held-back updates go out, and cells stale for
    /// `forget_after` are evicted. Call it regularly (every second is plenty); its cost is a
    /// scan of one word per cell and a look at each broker's controller flag, plus the work
    /// that is due.
    pub fn tick_into(&mut self, now_ns: u64, out: &mut Vec<Event>) {
        let now = self.advance(now_ns);
        for chunk in 0..self.chunk_wake.len() {
            if self.chunk_wake[chunk] > now {
                continue;
            }
            let first = chunk * CHUNK;
            let last = (first + CHUNK).min(self.cells.len());
            for idx in first..last {
                if self.cells[idx].wake <= now {
                    self.wake_cell(idx as u32, now, out);
                }
            }
            let mut earliest = u64::MAX;
            for idx in first..last {
                earliest = earliest.min(self.cells[idx].wake);
            }
            self.chunk_wake[chunk] = earliest;
        }
        self.controllers_tick(now, out);
        self.incidents_tick(now, out);
        self.compact_stale_queue();
    }

    /// Removes every cell of `cluster` (ownership moved to another aggregator) and discards
    /// its open incidents without notifications.
    pub fn drop_cluster(&mut self, cluster: &str) -> DropReport {
        let incidents = self.discard_incidents(cluster);
        let roots: Vec<u32> = (0..self.cells.len() as u32)
            .filter(|&i| {
                let c = &self.cells[i as usize];
                c.used
                    && i != 0
                    && c.level == self.levels.cluster
                    && self.strings.resolve(c.value) == cluster
                    && !self.has_cluster_ancestor(c.parent)
            })
            .collect();
        let now = self.now;
        let mut sink = Vec::new();
        let mut cells = 0;
        for idx in roots {
            if self.cells[idx as usize].used {
                let parent = self.cells[idx as usize].parent;
                cells += self.evict_subtree(idx, now, &mut sink);
                self.refresh(parent, now, false, &mut sink);
            }
        }
        self.stats.dropped_cells += cells as u64;
        self.forget_dropped_controllers();
        DropReport { cells, incidents }
    }

    /// Number of cells, the root included.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when only the root exists.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// Running totals.
    pub fn stats(&self) -> Stats {
        Stats {
            cells: self.live,
            stale_cells: self.stale_count,
            strings: self.strings.len(),
            incidents_open: self.incidents.open_count(),
            ..self.stats
        }
    }

    /// Heap and inline bytes the cells' own state takes (slots, readings, rings, counts),
    /// without interned names and index maps: a lower bound for memory per cell.
    pub fn cell_state_bytes(&self) -> usize {
        self.cells.slot_bytes()
            + self.chunk_wake.capacity() * 8
            + self.cells.iter().map(Cell::heap_bytes).sum::<usize>()
    }

    // ---- time ----------------------------------------------------------------------------

    fn advance(&mut self, now_ns: u64) -> u64 {
        self.now = self.now.max(now_ns);
        self.now
    }
}
