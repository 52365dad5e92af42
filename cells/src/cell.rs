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
    pub evidence: Vec<(Sym, f64)>,
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
        for (name, _) in &self.evidence {
            strings.release(*name);
        }
    }
}

/// A troubled cell's membership of an open incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Membership {
    pub incident: IncidentId,
    pub member: u32,
}

#[derive(Debug)]
pub(crate) struct Cell {
    pub parent: u32,
    pub generation: u32,
    pub level: Sym,
    pub value: Sym,
    pub kind: CellKind,
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
    pub own: Option<Status>,
    pub rolled: Option<Status>,
    pub shown: Option<Status>,
    pub situation: Situation,
    /// Damping: engine time the roll-up started to differ from what is shown.
    pub pending_since: Option<u64>,
    /// Engine time of the last signal on this cell or below.
    pub last_seen: u64,
    /// Signal time the cell's own trouble began.
    pub trouble_since: Option<u64>,
    pub membership: Option<Membership>,
    pub path_hash: u64,
    pub readings: Vec<Reading>,
    pub scorecard: Option<Box<Scorecard>>,
    /// Live children's roll-ups, counted per [`Status::bucket`].
    pub counts: Option<Box<[u32; BUCKETS]>>,
    pub children: Vec<u32>,
    /// Engine times of the recent changes of `raw_situation`, oldest first.
    pub transitions: Vec<u64>,
    pub history: VecDeque<HistoryEntry>,
}

impl Cell {
    pub fn new(parent: u32, generation: u32, level: Sym, value: Sym, kind: CellKind) -> Self {
        Self {
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
            readings: Vec::new(),
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
        let readings = self.readings.capacity() * size_of::<Reading>()
            + self
                .readings
                .iter()
                .map(|r| r.evidence.capacity() * size_of::<(Sym, f64)>())
                .sum::<usize>();
        readings
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
