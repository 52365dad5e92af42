//! The engine: [`Hierarchy`]. This file holds the tree (finding and creating cells, eviction),
//! the Observers (readings -> own status), the roll-up and the Reporters (damping, situation,
//! variability); `actors.rs` holds correlation, incidents and notifications; `query.rs` the
//! read-only snapshots.

use std::collections::{HashMap, VecDeque};

use kafka_obs_signal::{
    Instrument, Scorecard, Signal, Subject, condition::STATUS_RULE, situations, statuses,
};
use serde::Serialize;

use crate::{
    actors::{Incidents, TroubleChange},
    cell::{Cell, EvidenceBuf, MAX_EVIDENCE, NO_BUCKET, Reading},
    config::{ConfigError, HierarchyConfig, Settings},
    controller::Controllers,
    event::Event,
    hash::{Fx, PathHasher},
    intern::{Interner, Sym},
    model::{BUCKETS, CellId, CellKind, Situation, Status},
    slab::{CHUNK, CHUNK_BITS, Slab},
};

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
    /// The brokers' controller flags per cluster, for B3.
    pub(crate) controllers: Controllers,
    pub(crate) stats: Stats,
    pub(crate) levels: Levels,
    /// Scratch: cells on the current path that were revived.
    revived: Vec<u32>,
    /// Scratch: cells on the current path (creation).
    prefix: Vec<u32>,
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
            incidents: Incidents::new(&settings),
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
            self.on_trouble(leaf, change, now, out);
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

    // ---- finding and creating cells -------------------------------------------------------

    pub(crate) fn cell_id(&self, idx: u32) -> CellId {
        CellId {
            index: idx,
            generation: self.cells[idx as usize].generation,
        }
    }

    /// The slot of a live cell id.
    pub(crate) fn slot(&self, id: CellId) -> Option<u32> {
        let c = self.cells.get(id.index as usize)?;
        (c.used && c.generation == id.generation).then_some(id.index)
    }

    /// The cell of `subject` if it exists.
    pub(crate) fn find(&self, subject: &Subject) -> Option<u32> {
        if subject.depth() > MAX_DEPTH {
            return None;
        }
        let hash = path_hash(subject);
        if let Some(&idx) = self.paths.get(&hash.0)
            && self.matches(idx, subject, hash.1)
        {
            return Some(idx);
        }
        let mut cur = 0u32;
        for seg in subject.segments() {
            let level = self.strings.get(seg.level())?;
            let value = self.strings.get(seg.value())?;
            cur = *self.index.get(&(cur, level, value))?;
        }
        Some(cur)
    }

    /// The cell the path index found is the subject's: same depth and the same second hash
    /// (two independent 64-bit hashes of the path agree).
    #[inline]
    fn matches(&self, idx: u32, subject: &Subject, check: u64) -> bool {
        let c = &self.cells[idx as usize];
        c.used && usize::from(c.depth) == subject.depth() && c.path_check == check
    }

    /// Finds or creates the cell of `subject`, touches it and its ancestors (fresh, revived);
    /// `None` if there is no room or the subject is too deep; with the cell, whether it was
    /// stale.
    fn resolve(
        &mut self,
        subject: &Subject,
        now: u64,
        out: &mut Vec<Event>,
    ) -> Option<(u32, bool)> {
        if subject.depth() > MAX_DEPTH {
            return None;
        }
        let hash = path_hash(subject);
        let leaf = match self.paths.get(&hash.0) {
            Some(&idx) if self.matches(idx, subject, hash.1) => idx,
            _ => self.create_path(subject, now, out)?,
        };
        let revived = self.touch(leaf, now, out);
        Some((leaf, revived))
    }

    fn create_path(&mut self, subject: &Subject, now: u64, out: &mut Vec<Event>) -> Option<u32> {
        // The existing prefix.
        self.prefix.clear();
        self.prefix.push(0);
        let mut cur = 0u32;
        let segs = subject.segments();
        let mut hasher = PathHasher::default();
        let mut existing = 0;
        for seg in segs {
            let found = self
                .strings
                .get(seg.level())
                .zip(self.strings.get(seg.value()))
                .and_then(|(l, v)| self.index.get(&(cur, l, v)).copied());
            match found {
                Some(child) => {
                    hash_segment(&mut hasher, seg.level(), seg.value());
                    cur = child;
                    self.prefix.push(cur);
                    existing += 1;
                }
                None => break,
            }
        }
        let missing = segs.len() - existing;
        if missing == 0 {
            return Some(cur);
        }
        // Room: evict the longest-stale cells, never one on this path.
        while self.live + missing > self.settings.max_cells {
            if !self.evict_for_room(now, out) {
                return None;
            }
        }
        for seg in &segs[existing..] {
            hash_segment(&mut hasher, seg.level(), seg.value());
            let level = self.strings.acquire(seg.level());
            let value = self.strings.acquire(seg.value());
            let kind = CellKind::of_level(seg.level());
            let depth = self.cells[cur as usize].depth + 1;
            let idx = match self.free.pop() {
                Some(i) => {
                    let generation = self.cells[i as usize].generation;
                    self.cells[i as usize] = Cell::new(cur, generation, level, value, kind);
                    i
                }
                None => {
                    let i = self.cells.len() as u32;
                    self.cells.push(Cell::new(cur, 0, level, value, kind));
                    if (i as usize) >> CHUNK_BITS >= self.chunk_wake.len() {
                        self.chunk_wake.push(u64::MAX);
                    }
                    i
                }
            };
            let cell = &mut self.cells[idx as usize];
            cell.depth = depth;
            // `touch` sets it, and walks on to the older ancestors.
            cell.last_seen = 0;
            (cell.path_hash, cell.path_check) = hasher.finish();
            self.paths.insert(cell.path_hash, idx);
            self.index.insert((cur, level, value), idx);
            let children = &mut self.cells[cur as usize].children;
            children.reserve_exact(if children.len() < 4 {
                1
            } else {
                children.len() / 2
            });
            children.push(idx);
            self.set_wake(idx, now.saturating_add(self.settings.stale_after));
            self.live += 1;
            self.stats.created_cells += 1;
            cur = idx;
        }
        Some(cur)
    }

    /// Marks the cell and its ancestors fresh; stale ones come back (and are refreshed by the
    /// caller from `self.revived`).
    fn touch(&mut self, leaf: u32, now: u64, out: &mut Vec<Event>) -> bool {
        let mut idx = leaf;
        let mut leaf_revived = false;
        loop {
            let history_len = self.settings.history_len;
            let c = &mut self.cells[idx as usize];
            if idx != leaf && !c.stale && c.last_seen.saturating_add(TOUCH_GRANULARITY) > now {
                break;
            }
            c.last_seen = c.last_seen.max(now);
            if c.stale {
                c.stale = false;
                self.stale_count -= 1;
                c.record(now, history_len);
                out.push(Event::StaleChanged {
                    cell: CellId {
                        index: idx,
                        generation: c.generation,
                    },
                    stale: false,
                    time_ns: now,
                });
                if idx == leaf {
                    leaf_revived = true;
                } else {
                    self.revived.push(idx);
                }
            }
            if idx == 0 {
                break;
            }
            idx = c.parent;
        }
        // Refresh the deepest revived cell first.
        self.revived.reverse();
        leaf_revived
    }

    // ---- Observers ------------------------------------------------------------------------

    /// Stores the signal's reading: `None` if it has no status and no reading to replace,
    /// else whether it is a new key.
    fn apply_reading(
        &mut self,
        idx: u32,
        signal: &Signal,
        status: Option<statuses::Sign>,
        now: u64,
    ) -> Option<bool> {
        let instrument = signal.kind.instrument();
        let rule = signal.evidence.rule.as_str();
        let source = signal.source_id.as_str();
        let strings = &mut self.strings;
        let cell = &mut self.cells[idx as usize];
        let pos = cell.readings.iter().position(|r| {
            r.kind.instrument() == instrument
                && strings.resolve(r.rule) == rule
                && strings.resolve(r.source) == source
        });
        let Some(sign) = status else {
            // A sign without a reading clears the reading of its own key, if there is one.
            let r = cell.readings.get_mut(pos?)?;
            r.kind = signal.kind;
            r.status = None;
            r.time_unix = signal.time_unix_nano;
            r.received = now;
            update_evidence(r, signal, strings, &mut self.stats);
            return Some(false);
        };
        let status = match signal.kind.status() {
            Some((sign, confidence)) => Status::new(sign, confidence),
            None => {
                let params = self.settings.scorecard;
                let card = cell
                    .scorecard
                    .get_or_insert_with(|| Box::new(Scorecard::new(params)));
                let (leader, confidence) = card.vote(sign);
                Status::new(
                    sign,
                    if leader == sign {
                        confidence
                    } else {
                        statuses::Confidence::Tentative
                    },
                )
            }
        };
        let new_key = pos.is_none();
        let pos = match pos {
            Some(pos) => pos,
            None => {
                if cell.readings.len() >= self.settings.max_readings {
                    let oldest = cell
                        .readings
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, r)| r.received)
                        .map_or(0, |(i, _)| i);
                    if let Some(r) = cell.readings.swap_remove(oldest) {
                        r.release(strings);
                    }
                    self.stats.evicted_readings += 1;
                }
                cell.readings.push(Reading {
                    kind: signal.kind,
                    rule: strings.acquire(rule),
                    source: strings.acquire(source),
                    status: None,
                    time_unix: 0,
                    received: 0,
                    threshold: None,
                    evidence: EvidenceBuf::default(),
                })
            }
        };
        let r = cell.readings.get_mut(pos)?;
        r.kind = signal.kind;
        r.status = Some(status);
        r.time_unix = signal.time_unix_nano;
        r.received = now;
        update_evidence(r, signal, strings, &mut self.stats);
        Some(new_key)
    }

    /// A status signal (rule [`STATUS_RULE`]) that lists its subject's current conditions is
    /// authoritative for its source on its cell: drops that source's readings of every other
    /// rule the list does not name (a recovery that was lost, a source that restarted and
    /// holds none of its old conditions). A status signal without the list (older senders)
    /// drops nothing. Linear in the cell's readings (each checked against the few rules
    /// listed), no allocation; returns how many readings went.
    fn prune_readings(&mut self, idx: u32, signal: &Signal) -> usize {
        if signal.current_conditions().is_none() {
            return 0;
        }
        // A source that is not interned has no readings anywhere.
        let Some(source) = self.strings.get(&signal.source_id) else {
            return 0;
        };
        let strings = &mut self.strings;
        let readings = &mut self.cells[idx as usize].readings;
        let mut dropped = 0;
        let mut i = 0;
        while let Some(r) = readings.get(i) {
            let rule = strings.resolve(r.rule);
            let keep = r.source != source
                || rule == STATUS_RULE
                || signal
                    .current_conditions()
                    .is_some_and(|mut listed| listed.any(|l| l == rule));
            if keep {
                i += 1;
                continue;
            }
            // The last reading takes position `i`, which is looked at next.
            if let Some(r) = readings.swap_remove(i) {
                r.release(strings);
            }
            dropped += 1;
        }
        self.stats.pruned_readings += dropped as u64;
        dropped
    }

    /// Applies a reading the engine derived itself (the cluster's B3 verdict) through the path
    /// of an ingested signal: Observers, roll-up, Reporters, Actors, so it shows in statuses,
    /// situations and incidents like any other. It is not news from outside: the cell is not
    /// touched (freshness stays with the signals below it) and no signal is counted.
    pub(crate) fn apply_derived(
        &mut self,
        idx: u32,
        signal: &Signal,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        let status = self.settings.readings.status_of_signal(signal);
        let applied = self.apply_reading(idx, signal, status, now);
        let onset = if signal.time_unix_nano == 0 {
            now
        } else {
            signal.time_unix_nano
        };
        self.settle(idx, now, onset, applied == Some(true), out);
    }

    /// Removes the reading of (instrument, rule, source) from a cell, if it has one, and
    /// settles the cell; true if there was one.
    pub(crate) fn remove_reading(
        &mut self,
        idx: u32,
        instrument: Instrument,
        rule: &str,
        source: &str,
        now: u64,
        out: &mut Vec<Event>,
    ) -> bool {
        let (Some(rule), Some(source)) = (self.strings.get(rule), self.strings.get(source)) else {
            return false;
        };
        let readings = &mut self.cells[idx as usize].readings;
        let Some(pos) = readings.iter().position(|r| {
            r.kind.instrument() == instrument && r.rule == rule && r.source == source
        }) else {
            return false;
        };
        if let Some(r) = readings.swap_remove(pos) {
            r.release(&mut self.strings);
        }
        self.settle(idx, now, now, true, out);
        true
    }

    /// After a cell's readings changed outside an ingest: its own status, the roll-up and
    /// Reporters, and the Actors if its trouble changed.
    fn settle(&mut self, idx: u32, now: u64, onset: u64, force: bool, out: &mut Vec<Event>) {
        let change = self.update_own(idx, now, onset);
        self.refresh(idx, now, force, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    /// Recomputes the cell's own status and says how its trouble changed.
    fn update_own(&mut self, idx: u32, now: u64, onset: u64) -> TroubleChange {
        let ttl = self.settings.reading_ttl;
        let escalate = self.settings.escalate_confirmed_degraded;
        let c = &mut self.cells[idx as usize];
        c.own = c.own_status(now, ttl);
        let situation = if c.stale {
            situations::Sign::Normal
        } else {
            c.own
                .map_or(situations::Sign::Normal, |s| s.situation(escalate))
        };
        match (c.trouble_since, situation) {
            (None, situations::Sign::Normal) => TroubleChange::None,
            (None, _) => {
                c.trouble_since = Some(onset);
                c.trouble_situation = situation;
                TroubleChange::Began
            }
            (Some(_), situations::Sign::Normal) => {
                c.trouble_since = None;
                c.trouble_situation = situations::Sign::Normal;
                TroubleChange::Ended
            }
            (Some(_), s) if s > c.trouble_situation => {
                c.trouble_situation = s;
                TroubleChange::Worsened
            }
            (Some(_), _) => TroubleChange::Continued,
        }
    }

    // ---- roll-up and Reporters --------------------------------------------------------------

    /// Recomputes the roll-up of `start` and walks up while a contribution changes, running
    /// the Reporters on each cell whose roll-up changed (and on `start` when `force`).
    pub(crate) fn refresh(&mut self, start: u32, now: u64, force: bool, out: &mut Vec<Event>) {
        let mut idx = start;
        let mut force = force;
        loop {
            let c = &mut self.cells[idx as usize];
            let rolled = c.own.max(c.worst_child());
            let changed = rolled != c.rolled;
            c.rolled = rolled;
            let wake_unset = c.wake == u64::MAX;
            if (changed || force) && !c.stale {
                self.report(idx, now, out);
            }
            if changed || force || wake_unset {
                let wake = self.next_wake(idx);
                self.set_wake(idx, wake);
            }
            force = false;
            if idx == 0 {
                break;
            }
            let c = &mut self.cells[idx as usize];
            let contrib = match (c.stale, rolled) {
                (false, Some(s)) => s.bucket() as u8,
                _ => NO_BUCKET,
            };
            if contrib == c.contrib {
                break;
            }
            let old = c.contrib;
            c.contrib = contrib;
            let parent = c.parent;
            let counts = self.cells[parent as usize]
                .counts
                .get_or_insert_with(|| Box::new([0; BUCKETS]));
            if old != NO_BUCKET {
                counts[usize::from(old)] -= 1;
            }
            if contrib != NO_BUCKET {
                counts[usize::from(contrib)] += 1;
            }
            idx = parent;
        }
    }

    /// Damping, situation and variability of one cell; emits what changed.
    fn report(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let s = &self.settings;
        let escalate = s.escalate_confirmed_degraded;
        let c = &mut self.cells[idx as usize];
        let raw = c
            .rolled
            .map_or(situations::Sign::Normal, |x| x.situation(escalate));
        if raw != c.raw_situation {
            c.raw_situation = raw;
            if c.transitions.len() >= s.volatile_at as usize {
                c.transitions.remove(0);
            }
            c.transitions.reserve_exact(1);
            c.transitions.push(now);
        }
        let horizon = now.saturating_sub(s.variability_window);
        let expired = c.transitions.iter().take_while(|&&t| t <= horizon).count();
        if expired > 0 {
            c.transitions.drain(..expired);
        }
        // Damping.
        let mut shown = c.shown;
        if c.rolled == shown {
            c.pending_since = None;
        } else {
            let worse = c.rolled > shown;
            let since = match c.pending_since {
                Some(t) if c.pending_worse == worse => t,
                _ => now,
            };
            c.pending_since = Some(since);
            c.pending_worse = worse;
            let hold = if worse { s.raise_after } else { s.clear_after };
            if now.saturating_sub(since) >= hold {
                shown = c.rolled;
                c.pending_since = None;
            }
        }
        let n = c.transitions.len() as u32;
        let variability = if n >= s.volatile_at {
            situations::Variability::Volatile
        } else if n >= s.variable_at {
            situations::Variability::Variable
        } else {
            situations::Variability::Constant
        };
        let situation = Situation {
            sign: shown.map_or(situations::Sign::Normal, |x| x.situation(escalate)),
            variability,
        };
        let id = CellId {
            index: idx,
            generation: c.generation,
        };
        let mut changed = false;
        if shown != c.shown {
            out.push(Event::StatusChanged {
                cell: id,
                previous: c.shown,
                status: shown,
                time_ns: now,
            });
            c.shown = shown;
            changed = true;
        }
        if situation != c.situation {
            out.push(Event::SituationChanged {
                cell: id,
                previous: c.situation,
                situation,
                time_ns: now,
            });
            c.situation = situation;
            changed = true;
        }
        if changed {
            c.record(now, s.history_len);
        }
    }

    /// How long after its `last_seen` a cell goes stale.
    #[inline]
    fn stale_deadline(&self, c: &Cell) -> u64 {
        if c.children.is_empty() {
            self.settings.stale_after
        } else {
            self.settings.stale_after.saturating_add(TOUCH_GRANULARITY)
        }
    }

    #[inline]
    fn set_wake(&mut self, idx: u32, wake: u64) {
        self.cells[idx as usize].wake = wake;
        let chunk = &mut self.chunk_wake[idx as usize >> CHUNK_BITS];
        *chunk = (*chunk).min(wake);
    }

    /// The earliest engine time anything of the cell may change on its own.
    fn next_wake(&self, idx: u32) -> u64 {
        let s = &self.settings;
        let c = &self.cells[idx as usize];
        let mut wake = u64::MAX;
        if idx != 0 {
            wake = c.last_seen.saturating_add(if c.stale {
                s.forget_after
            } else {
                self.stale_deadline(c)
            });
        }
        if c.stale {
            return wake;
        }
        for r in c.readings.iter() {
            if r.status.is_some() && r.live(self.now, s.reading_ttl) {
                wake = wake.min(r.received.saturating_add(s.reading_ttl));
            }
        }
        if let Some(since) = c.pending_since {
            let hold = if c.pending_worse {
                s.raise_after
            } else {
                s.clear_after
            };
            wake = wake.min(since.saturating_add(hold));
        }
        if let Some(&first) = c.transitions.first() {
            wake = wake.min(first.saturating_add(s.variability_window));
        }
        wake
    }

    /// A cell whose wake time came: staleness, eviction, expired readings, damping, decay.
    fn wake_cell(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let s = &self.settings;
        let c = &self.cells[idx as usize];
        if !c.used {
            self.cells[idx as usize].wake = u64::MAX;
            return;
        }
        if idx != 0 && c.stale {
            if c.last_seen.saturating_add(s.forget_after) <= now {
                let parent = c.parent;
                let n = self.evict_subtree(idx, now, out);
                self.stats.forgotten_cells += n as u64;
                self.refresh(parent, now, false, out);
            } else {
                let wake = self.next_wake(idx);
                self.set_wake(idx, wake);
            }
            return;
        }
        if idx != 0 && c.last_seen.saturating_add(self.stale_deadline(c)) <= now {
            self.go_stale(idx, now, out);
            return;
        }
        let change = self.update_own(idx, now, now);
        self.refresh(idx, now, true, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    fn go_stale(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let history_len = self.settings.history_len;
        let c = &mut self.cells[idx as usize];
        c.stale = true;
        c.pending_since = None;
        c.record(now, history_len);
        let generation = c.generation;
        self.stale_count += 1;
        self.stale_queue.push_back((idx, generation));
        out.push(Event::StaleChanged {
            cell: CellId {
                index: idx,
                generation,
            },
            stale: true,
            time_ns: now,
        });
        // A stale cell is out of trouble: it says nothing any more.
        let change = self.update_own(idx, now, now);
        self.refresh(idx, now, true, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    // ---- eviction ---------------------------------------------------------------------------

    /// Evicts the longest-stale cell that is not on the path being created; false if none.
    fn evict_for_room(&mut self, now: u64, out: &mut Vec<Event>) -> bool {
        let mut skipped = Vec::new();
        let mut evicted = false;
        while let Some((idx, generation)) = self.stale_queue.pop_front() {
            let c = &self.cells[idx as usize];
            if !c.used || c.generation != generation || !c.stale {
                continue;
            }
            if self.prefix.contains(&idx) {
                skipped.push((idx, generation));
                continue;
            }
            let parent = c.parent;
            let n = self.evict_subtree(idx, now, out);
            self.stats.evicted_for_room += n as u64;
            self.refresh(parent, now, false, out);
            evicted = true;
            break;
        }
        for entry in skipped.into_iter().rev() {
            self.stale_queue.push_front(entry);
        }
        evicted
    }

    fn compact_stale_queue(&mut self) {
        if self.stale_queue.len() > 2 * self.stale_count + 1024 {
            let cells = &self.cells;
            self.stale_queue.retain(|&(idx, generation)| {
                let c = &cells[idx as usize];
                c.used && c.generation == generation && c.stale
            });
        }
    }

    /// Removes a cell and everything below it; returns how many cells went.
    pub(crate) fn evict_subtree(&mut self, top: u32, now: u64, out: &mut Vec<Event>) -> usize {
        if top == 0 {
            return 0;
        }
        // Detach from the parent first.
        let parent = self.cells[top as usize].parent;
        let contrib = self.cells[top as usize].contrib;
        let p = &mut self.cells[parent as usize];
        if let Some(pos) = p.children.iter().position(|&c| c == top) {
            p.children.swap_remove(pos);
        }
        if contrib != NO_BUCKET
            && let Some(counts) = p.counts.as_mut()
        {
            counts[usize::from(contrib)] -= 1;
        }
        let mut stack = vec![top];
        let mut order = Vec::new();
        while let Some(idx) = stack.pop() {
            order.push(idx);
            stack.extend_from_slice(&self.cells[idx as usize].children);
        }
        // Deepest first, so paths can still be built.
        for &idx in order.iter().rev() {
            if self.cells[idx as usize].trouble_since.is_some() {
                self.cells[idx as usize].trouble_since = None;
                self.on_trouble(idx, TroubleChange::Ended, now, out);
            }
            let path = self.path_of(idx);
            let id = self.cell_id(idx);
            out.push(Event::CellEvicted {
                cell: id,
                path,
                time_ns: now,
            });
        }
        for &idx in &order {
            let generation = self.cells[idx as usize].generation.wrapping_add(1);
            let mut cell = std::mem::replace(
                &mut self.cells[idx as usize],
                Cell::new(
                    u32::MAX,
                    generation,
                    self.levels.empty,
                    self.levels.empty,
                    CellKind::Other,
                ),
            );
            cell.used = false;
            self.cells[idx as usize].used = false;
            if self.paths.get(&cell.path_hash) == Some(&idx) {
                self.paths.remove(&cell.path_hash);
            }
            self.index.remove(&(cell.parent, cell.level, cell.value));
            self.strings.release(cell.level);
            self.strings.release(cell.value);
            for r in cell.readings.take_all() {
                r.release(&mut self.strings);
            }
            if cell.stale {
                self.stale_count -= 1;
            }
            self.cells[idx as usize].wake = u64::MAX;
            self.free.push(idx);
            self.live -= 1;
        }
        order.len()
    }

    fn has_cluster_ancestor(&self, mut idx: u32) -> bool {
        while idx != 0 && idx != u32::MAX {
            let c = &self.cells[idx as usize];
            if c.level == self.levels.cluster {
                return true;
            }
            idx = c.parent;
        }
        false
    }

    // ---- names ----------------------------------------------------------------------------

    /// The subject of a slot.
    pub(crate) fn subject_of(&self, idx: u32) -> Subject {
        let mut pairs = Vec::new();
        let mut cur = idx;
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            pairs.push((self.strings.resolve(c.level), self.strings.resolve(c.value)));
            cur = c.parent;
        }
        pairs.reverse();
        Subject::from_pairs(pairs).unwrap_or_default()
    }

    /// The qualified path of a slot.
    pub(crate) fn path_of(&self, idx: u32) -> String {
        self.subject_of(idx).qualified()
    }

    /// The cluster value of a slot (`""` outside any cluster).
    pub(crate) fn cluster_of(&self, idx: u32) -> &str {
        let mut cur = idx;
        let mut found = "";
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            if c.level == self.levels.cluster {
                found = self.strings.resolve(c.value);
            }
            cur = c.parent;
        }
        found
    }
}

fn update_evidence(r: &mut Reading, signal: &Signal, strings: &mut Interner, stats: &mut Stats) {
    r.threshold = signal.evidence.threshold;
    let total = signal.evidence.values.len().min(MAX_EVIDENCE);
    let mut n = 0;
    for (name, &value) in signal.evidence.values.iter().take(MAX_EVIDENCE) {
        if let Some(slot) = r.evidence.get_mut(n) {
            if strings.resolve(slot.0) != name.as_str() {
                strings.release(slot.0);
                slot.0 = strings.acquire(name);
            }
            slot.1 = value;
        } else {
            r.evidence.push((strings.acquire(name), value), total);
        }
        n += 1;
    }
    if r.evidence.len() > n {
        let dropped: Vec<Sym> = r.evidence.truncate(n).collect();
        for name in dropped {
            strings.release(name);
        }
    }
    let total = signal.evidence.values.len();
    if total > MAX_EVIDENCE {
        stats.truncated_evidence += (total - MAX_EVIDENCE) as u64;
    }
}

#[inline]
fn hash_segment(h: &mut PathHasher, level: &str, value: &str) {
    h.write(level.as_bytes());
    h.write(value.as_bytes());
}

/// The two hashes of a whole subject, as cells store them in `path_hash` and `path_check`.
pub(crate) fn path_hash(subject: &Subject) -> (u64, u64) {
    let mut h = PathHasher::default();
    for seg in subject.segments() {
        hash_segment(&mut h, seg.level(), seg.value());
    }
    h.finish()
}

#[cfg(test)]
impl Hierarchy {
    /// Recomputes everything the engine keeps incrementally and compares: the children's
    /// counts, each contribution, each roll-up, staleness monotonicity, the indexes.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut live = 0;
        let mut stale = 0;
        for (i, c) in self.cells.iter().enumerate() {
            if !c.used {
                continue;
            }
            live += 1;
            stale += usize::from(c.stale);
            let i = i as u32;
            let mut expected = [0u32; BUCKETS];
            for &child in &c.children {
                let k = &self.cells[child as usize];
                if !k.used || k.parent != i {
                    return Err(format!("cell {i}: child {child} is not its child"));
                }
                if !c.stale && k.last_seen > c.last_seen.saturating_add(TOUCH_GRANULARITY) {
                    return Err(format!("cell {i}: child {child} has newer news"));
                }
                if !k.stale && c.stale {
                    return Err(format!("cell {i} is stale but child {child} is not"));
                }
                let want = match (k.stale, k.rolled) {
                    (false, Some(s)) => s.bucket() as u8,
                    _ => NO_BUCKET,
                };
                if k.contrib != want {
                    return Err(format!(
                        "cell {child}: contributes {} not {want}",
                        k.contrib
                    ));
                }
                if want != NO_BUCKET {
                    expected[usize::from(want)] += 1;
                }
            }
            let counts = c.counts.as_deref().copied().unwrap_or([0; BUCKETS]);
            if counts != expected {
                return Err(format!("cell {i}: counts {counts:?} != {expected:?}"));
            }
            let worst = c
                .children
                .iter()
                .map(|&k| &self.cells[k as usize])
                .filter(|k| !k.stale)
                .filter_map(|k| k.rolled)
                .max();
            if c.rolled != c.own.max(worst) {
                return Err(format!(
                    "cell {i}: rolled {:?} != max({:?}, {worst:?})",
                    c.rolled, c.own
                ));
            }
            if i != 0 {
                let key = (c.parent, c.level, c.value);
                if self.index.get(&key) != Some(&i) {
                    return Err(format!("cell {i}: not in the index"));
                }
            }
            if c.readings.len() > self.settings.max_readings {
                return Err(format!("cell {i}: {} readings", c.readings.len()));
            }
            if c.history.len() > self.settings.history_len {
                return Err(format!("cell {i}: history of {}", c.history.len()));
            }
        }
        if live != self.live || stale != self.stale_count {
            return Err(format!(
                "live {live}/{} stale {stale}/{}",
                self.live, self.stale_count
            ));
        }
        if self.index.len() != live - 1 {
            return Err(format!(
                "index has {} entries for {live} cells",
                self.index.len()
            ));
        }
        Ok(())
    }
}
