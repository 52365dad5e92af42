//! C9's memory: the dated rebalances of one consumer's current storm window, kept in a small
//! ring, and the storm they make.

use crate::signals::state::{CounterState, Tracker};

/// Rebalance times C9 keeps: at most this many of the latest (within one storm interval).
const REBALANCE_RING: usize = 16;

/// C9's state: the dated rebalances of the current storm window and the storm they make.
///
/// Each rise of `rebalance-total` is dated by `last-rebalance-seconds-ago` (the sample's own
/// time when that attribute is missing). A rise of `n > 1` in one poll dates only the latest;
/// the `n - 1` before it happened after the previous reading, and are spread evenly over that
/// span. So the storm does not depend on the poll interval: with polls no longer apart than
/// the storm interval, two rebalances less than an interval apart are a storm however they
/// fall between polls.
#[derive(Debug, Clone, Default)]
pub(super) struct Rebalances {
    pub(super) counter: CounterState,
    /// When `rebalance-total` was last read (ns).
    pub(super) read_at: Option<u64>,
    /// The latest rebalance times, oldest first, none older than one storm interval before
    /// the newest: a ring of [`REBALANCE_RING`].
    times: [u64; REBALANCE_RING],
    head: u8,
    len: u8,
    /// The current (or last) storm: rebalances each less than an interval after the one
    /// before. Its first and latest rebalance, the gap before the latest, and how many.
    in_storm: bool,
    pub(super) storm_start: u64,
    pub(super) storm_last: u64,
    pub(super) storm_gap: u64,
    pub(super) storm_count: u32,
    /// A storm was found, or grew, in this evaluation.
    found: bool,
    pub(super) tracker: Tracker,
}

impl Rebalances {
    fn last(&self) -> Option<u64> {
        (self.len > 0).then(|| {
            self.times[(usize::from(self.head) + usize::from(self.len) - 1) % REBALANCE_RING]
        })
    }

    fn first(&self) -> Option<u64> {
        (self.len > 0).then(|| self.times[usize::from(self.head)])
    }

    fn push(&mut self, at: u64) {
        if usize::from(self.len) == REBALANCE_RING {
            self.head = ((usize::from(self.head) + 1) % REBALANCE_RING) as u8;
            self.len -= 1;
        }
        self.times[(usize::from(self.head) + usize::from(self.len)) % REBALANCE_RING] = at;
        self.len += 1;
    }

    /// Drops the times at least `interval` before `at`.
    fn prune(&mut self, at: u64, interval: u64) {
        while let Some(first) = self.first()
            && at.saturating_sub(first) >= interval
        {
            self.head = ((usize::from(self.head) + 1) % REBALANCE_RING) as u8;
            self.len -= 1;
        }
    }

    /// Records `n` new rebalances, the latest at `latest`; the others after the previous
    /// reading (or rebalance), spread evenly up to `latest`.
    pub(super) fn record(&mut self, n: u64, latest: u64, interval: u64) {
        if n == 0 {
            return;
        }
        let known = self.last();
        let latest = latest.max(known.unwrap_or(0));
        let lower = self
            .read_at
            .unwrap_or(latest)
            .max(known.unwrap_or(0))
            .min(latest);
        // Only the last REBALANCE_RING can be kept; older ones of the same poll still count.
        let skipped = n.saturating_sub(REBALANCE_RING as u64);
        for k in skipped + 1..=n {
            let at = lower + ((latest - lower) as u128 * u128::from(k) / u128::from(n)) as u64;
            self.add(at, interval);
        }
        if skipped > 0 && self.in_storm {
            self.storm_start = self.storm_start.min(lower + (latest - lower) / n);
            self.storm_count = self
                .storm_count
                .saturating_add(u32::try_from(skipped).unwrap_or(u32::MAX));
        }
    }

    /// One dated rebalance, in time order.
    fn add(&mut self, at: u64, interval: u64) {
        self.prune(at, interval);
        match self.last() {
            Some(previous) => {
                if !self.in_storm {
                    self.in_storm = true;
                    self.storm_start = self.first().unwrap_or(previous);
                    self.storm_count = u32::from(self.len);
                }
                self.storm_count = self.storm_count.saturating_add(1);
                self.storm_last = at;
                self.storm_gap = at.saturating_sub(previous);
                self.found = true;
            }
            None => self.in_storm = false,
        }
        self.push(at);
    }

    /// Whether the storm holds at `t`: until a whole interval passed after its latest
    /// rebalance; a storm found late (polls further apart than the interval) holds for the
    /// evaluation that found it.
    pub(super) fn storm_holds(&mut self, t: u64, interval: u64) -> bool {
        let found = std::mem::take(&mut self.found);
        if self.in_storm && (found || t.saturating_sub(self.storm_last) < interval) {
            return true;
        }
        self.in_storm = false;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_rebalance_ring_is_bounded_and_a_burst_in_one_poll_counts_whole() {
        let interval = 60 * S;
        let mut r = Rebalances {
            read_at: Some(100 * S),
            ..Rebalances::default()
        };
        // 40 rebalances between the reading at 100 s and the latest at 110 s.
        r.record(40, 110 * S, interval);
        assert_eq!(usize::from(r.len), REBALANCE_RING);
        assert!(r.storm_holds(110 * S, interval));
        assert_eq!(r.storm_count, 40);
        assert_eq!(r.last(), Some(110 * S));
        assert_eq!(r.storm_start, 100 * S + S / 4);
        // It holds until a whole interval after the latest, judged at any time.
        assert!(r.storm_holds(169 * S, interval));
        assert!(!r.storm_holds(170 * S, interval));
        // A lone rebalance later: the ring keeps only the latest interval, no storm.
        r.record(1, 400 * S, interval);
        assert_eq!(r.len, 1);
        assert!(!r.storm_holds(400 * S, interval));
    }
}
