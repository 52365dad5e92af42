//! One cell's state. Kept small (about 230 bytes plus its readings) because there are
//! hundreds of thousands: names are interned, the children's roll-up is a count per status
//! bucket allocated only for cells that have children, and every ring is bounded.

use std::collections::VecDeque;

use kafka_obs_signal::{Scorecard, SignalKind, situations};

use crate::{
    incident::IncidentId,
    intern::{Interner, Sym},
    model::{BUCKETS, CellKind, Situation, Status},
    view::HistoryEntry,
};

/// "No contribution" in [`Cell::contrib`].
pub(crate) const NO_BUCKET: u8 = u8::MAX;
/// Evidence values kept per reading.
pub(crate) const MAX_EVIDENCE: usize = 8;

/// The latest signal of one (instrument, rule, source) on a cell.
#[derive(Debug)]
pub(crate) struct Reading {
    pub kind: SignalKind,
    pub rule: Sym,
    pub source: Sym,
    /// `None`: the sign reads as no status (it replaced one that did).
    pub status: Option<Status>,
    /// The signal's own timestamp.
    pub time_unix: u64,
    /// Engine time it arrived.
    pub received: u64,
    pub threshold: Option<f64>,
    pub evidence: EvidenceBuf,
}

/// Evidence values kept inline in a reading.
const INLINE_EVIDENCE: usize = 2;

/// A reading's named evidence values: the first two inline (a heartbeat's evidence is then
/// updated in place, in the cell's own cache lines), up to [`MAX_EVIDENCE`] in all.
#[derive(Debug, Default)]
pub(crate) struct EvidenceBuf {
    inline: [(Sym, f64); INLINE_EVIDENCE],
    len: u8,
    more: Vec<(Sym, f64)>,
}

impl EvidenceBuf {
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Sym, f64)> {
        self.inline[..self.len().min(INLINE_EVIDENCE)]
            .iter()
            .chain(self.more.iter())
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut (Sym, f64)> {
        if i >= self.len() {
            None
        } else if i < INLINE_EVIDENCE {
            Some(&mut self.inline[i])
        } else {
            self.more.get_mut(i - INLINE_EVIDENCE)
        }
    }

    /// Appends a value; `total` is how many the reading will hold (for an exact allocation).
    pub fn push(&mut self, entry: (Sym, f64), total: usize) {
        let i = self.len();
        if i < INLINE_EVIDENCE {
            self.inline[i] = entry;
        } else {
            self.more.reserve_exact(
                total
                    .saturating_sub(INLINE_EVIDENCE + self.more.len())
                    .max(1),
            );
            self.more.push(entry);
        }
        self.len += 1;
    }

    /// Removes the values from position `n` on and returns their names.
    pub fn truncate(&mut self, n: usize) -> impl Iterator<Item = Sym> + '_ {
        let old = self.len();
        let n = n.min(old);
        self.len = n as u8;
        let inline_dropped = self.inline[n.min(INLINE_EVIDENCE)..old.min(INLINE_EVIDENCE)]
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>();
        let from = n.saturating_sub(INLINE_EVIDENCE).min(self.more.len());
        inline_dropped
            .into_iter()
            .chain(self.more.drain(from..).map(|e| e.0))
    }

    pub fn heap_bytes(&self) -> usize {
        self.more.capacity() * std::mem::size_of::<(Sym, f64)>()
    }
}

impl Reading {
    /// Still counted at engine time `now`.
    #[inline]
    pub fn live(&self, now: u64, ttl: u64) -> bool {
        self.received.saturating_add(ttl) > now
    }

    pub fn release(&self, strings: &mut Interner) {
        strings.release(self.rule);
        strings.release(self.source);
        for (name, _) in self.evidence.iter() {
            strings.release(*name);
        }
    }
}

/// A cell's readings: the first one inline (most cells have one, and a heartbeat then touches
/// no other memory), the rest in a vector.
#[derive(Debug, Default)]
pub(crate) struct Readings {
    first: Option<Reading>,
    more: Vec<Reading>,
}

impl Readings {
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &Reading> {
        self.first.iter().chain(self.more.iter())
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&Reading> {
        match i {
            0 => self.first.as_ref(),
            _ => self.more.get(i - 1),
        }
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Reading> {
        match i {
            0 => self.first.as_mut(),
            _ => self.more.get_mut(i - 1),
        }
    }

    pub fn push(&mut self, reading: Reading) -> usize {
        if self.first.is_none() {
            self.first = Some(reading);
            0
        } else {
            self.more.reserve_exact(1);
            self.more.push(reading);
            self.more.len()
        }
    }

    pub fn swap_remove(&mut self, i: usize) -> Option<Reading> {
        if i == 0 {
            let removed = self.first.take();
            self.first = self.more.pop();
            removed
        } else if i <= self.more.len() {
            Some(self.more.swap_remove(i - 1))
        } else {
            None
        }
    }

    /// Removes every reading.
    pub fn take_all(&mut self) -> impl Iterator<Item = Reading> {
        let first = self.first.take();
        let more = std::mem::take(&mut self.more);
        first.into_iter().chain(more)
    }

    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.more.capacity() * size_of::<Reading>()
            + self.iter().map(|r| r.evidence.heap_bytes()).sum::<usize>()
    }
}

/// A troubled cell's membership of an open incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    pub incident: IncidentId,
    pub member: u32,
}

/// One cell. `repr(C)` with the fields an ingest touches first, so a heartbeat reads two
/// cache lines of the cell; aligned to a cache line.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Cell {
    // ---- hot: every ingest and roll-up ----
    /// Engine time something of the cell may next change without a signal (`u64::MAX`:
    /// nothing). Never later than the real next change; earlier only costs a look.
    pub wake: u64,
    /// Engine time of the last signal on this cell or below.
    pub last_seen: u64,
    pub path_hash: u64,
    /// A second, independent hash of the path: with `path_hash`, 128 bits that identify it.
    pub path_check: u64,
    /// Damping: engine time the roll-up started to differ from what is shown.
    pub pending_since: Option<u64>,
    pub readings: Readings,
    /// Live children's roll-ups, counted per [`Status::bucket`].
    pub counts: Option<Box<[u32; BUCKETS]>>,
    /// Engine times of the recent changes of `raw_situation`, oldest first.
    pub transitions: Vec<u64>,
    pub parent: u32,
    pub generation: u32,
    pub level: Sym,
    pub value: Sym,
    pub depth: u8,
    pub used: bool,
    pub stale: bool,
    /// The bucket this cell adds to its parent's counts, or [`NO_BUCKET`].
    pub contrib: u8,
    /// Damping: the pending change is towards worse.
    pub pending_worse: bool,
    /// Situation of the undamped roll-up, for the variability.
    pub raw_situation: situations::Sign,
    /// Situation of `own` when the cell's trouble began or last escalated.
    pub trouble_situation: situations::Sign,
    pub kind: CellKind,
    pub own: Option<Status>,
    pub rolled: Option<Status>,
    pub shown: Option<Status>,
    pub situation: Situation,
    // ---- cold: trouble, queries, structure changes ----
    /// Signal time the cell's own trouble began.
    pub trouble_since: Option<u64>,
    pub membership: Option<Membership>,
    pub scorecard: Option<Box<Scorecard>>,
    pub children: Vec<u32>,
    pub history: VecDeque<HistoryEntry>,
}

impl Cell {
    pub fn new(parent: u32, generation: u32, level: Sym, value: Sym, kind: CellKind) -> Self {
        Self {
            wake: u64::MAX,
            parent,
            generation,
            level,
            value,
            kind,
            depth: 0,
            used: true,
            stale: false,
            contrib: NO_BUCKET,
            pending_worse: false,
            raw_situation: situations::Sign::Normal,
            trouble_situation: situations::Sign::Normal,
            own: None,
            rolled: None,
            shown: None,
            situation: Situation::NORMAL,
            pending_since: None,
            last_seen: 0,
            trouble_since: None,
            membership: None,
            path_hash: 0,
            path_check: 0,
            readings: Readings::default(),
            scorecard: None,
            counts: None,
            children: Vec::new(),
            transitions: Vec::new(),
            history: VecDeque::new(),
        }
    }

    /// The worst live child roll-up.
    #[inline]
    pub fn worst_child(&self) -> Option<Status> {
        let counts = self.counts.as_ref()?;
        let bucket = counts.iter().rposition(|&n| n > 0)?;
        Status::from_bucket(bucket)
    }

    /// The worst live reading.
    #[inline]
    pub fn own_status(&self, now: u64, ttl: u64) -> Option<Status> {
        self.readings
            .iter()
            .filter(|r| r.live(now, ttl))
            .filter_map(|r| r.status)
            .max()
    }

    /// Appends to the history ring.
    pub fn record(&mut self, time_ns: u64, capacity: usize) {
        if self.history.len() >= capacity {
            self.history.pop_front();
        } else if self.history.len() == self.history.capacity() {
            // Grow by a few entries at a time: most cells change rarely.
            self.history
                .reserve_exact(if self.history.is_empty() { 1 } else { 2 });
        }
        self.history.push_back(HistoryEntry {
            time_ns,
            status: self.shown,
            situation: self.situation,
            stale: self.stale,
        });
    }

    /// Heap bytes this cell owns (not counting interned strings or index entries).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.readings.heap_bytes()
            + self
                .scorecard
                .as_ref()
                .map_or(0, |_| size_of::<Scorecard>())
            + self
                .counts
                .as_ref()
                .map_or(0, |_| size_of::<[u32; BUCKETS]>())
            + self.children.capacity() * size_of::<u32>()
            + self.transitions.capacity() * size_of::<u64>()
            + self.history.capacity() * size_of::<HistoryEntry>()
    }
}
