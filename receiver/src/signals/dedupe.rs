//! Which `(source_id, sequence)` pairs the `signals` receiver has already taken, so a resend
//! is recognised and not passed on twice.
//!
//! A sender resends every envelope it has no ack for when its stream breaks, and its retry
//! layer resends a batch that was not fully acked in time, so the same envelope can arrive
//! again: after it was accepted (the ack was lost), or while the first copy is still on its way
//! through the pipeline. Per source we keep:
//!
//! - the accepted sequences as merged ranges (a sender numbers consecutively, so this is
//!   usually one range), trimmed to the last `window` sequence numbers below the highest;
//! - the sequences in flight, each with everyone waiting for its verdict (the first copy's
//!   stream and any stream a resend came on).
//!
//! A copy of an accepted sequence is acked at once and dropped; a copy of one in flight waits
//! for the first copy's verdict and is then answered the same way; a refused sequence is
//! forgotten, so its resend is taken as new. A sequence below the window is unknown and taken
//! as new: at least once is kept even when the window was too small, at the cost of a
//! duplicate. The number of sources is bounded too: past `max_sources` the source used least
//! recently (and with nothing in flight) is forgotten.

use std::collections::{BTreeMap, HashMap};

/// What became of one arriving envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Not seen before: pass it on; its waiter is registered.
    New,
    /// Already accepted: ack it now, do not pass it on.
    Accepted,
    /// The first copy is still in the pipeline: its waiter was added and hears the verdict.
    Joined,
}

/// Bounds of the state kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeSettings {
    /// Sequence numbers remembered per source, below the highest accepted.
    pub window: u64,
    /// Sources remembered at most.
    pub max_sources: usize,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        Self {
            window: 100_000,
            max_sources: 10_000,
        }
    }
}

#[derive(Debug)]
struct Source<W> {
    /// Accepted sequences: start -> end (inclusive), disjoint, not adjacent.
    accepted: BTreeMap<u64, u64>,
    in_flight: HashMap<u64, Vec<W>>,
    last_used: u64,
}

impl<W> Source<W> {
    fn new(now: u64) -> Self {
        Self {
            accepted: BTreeMap::new(),
            in_flight: HashMap::new(),
            last_used: now,
        }
    }

    fn is_accepted(&self, seq: u64) -> bool {
        self.accepted
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, end)| *end >= seq)
    }

    fn accept(&mut self, seq: u64, window: u64) {
        if self.is_accepted(seq) {
            return;
        }
        let mut start = seq;
        let mut end = seq;
        // Join the range ending just below, and the one starting just above.
        if let Some((&s, &e)) = self.accepted.range(..seq).next_back()
            && e.checked_add(1) == Some(seq)
        {
            self.accepted.remove(&s);
            start = s;
        }
        if let Some(next) = seq.checked_add(1)
            && let Some(e) = self.accepted.remove(&next)
        {
            end = e;
        }
        self.accepted.insert(start, end);
        self.trim(window);
    }

    /// Forgets what lies more than `window` below the highest accepted sequence.
    fn trim(&mut self, window: u64) {
        let Some((_, &high)) = self.accepted.iter().next_back() else {
            return;
        };
        let low = high.saturating_sub(window.saturating_sub(1));
        while let Some((&s, &e)) = self.accepted.iter().next() {
            if s >= low {
                break;
            }
            self.accepted.remove(&s);
            if e >= low {
                self.accepted.insert(low, e);
                break;
            }
        }
    }
}

/// The receiver-wide record of taken sequences; `W` is whoever waits for a verdict.
#[derive(Debug)]
pub(crate) struct Dedupe<W> {
    settings: DedupeSettings,
    sources: HashMap<String, Source<W>>,
    clock: u64,
    /// Sources forgotten because `max_sources` was reached.
    pub(crate) evicted: u64,
}

impl<W> Dedupe<W> {
    pub(crate) fn new(settings: DedupeSettings) -> Self {
        Self {
            settings,
            sources: HashMap::new(),
            clock: 0,
            evicted: 0,
        }
    }

    pub(crate) fn sources(&self) -> usize {
        self.sources.len()
    }

    /// Records an arriving envelope; see [`Admit`].
    pub(crate) fn admit(&mut self, source: &str, seq: u64, waiter: W) -> Admit {
        self.clock += 1;
        let now = self.clock;
        if !self.sources.contains_key(source) {
            self.make_room();
            self.sources.insert(source.to_string(), Source::new(now));
        }
        let Some(state) = self.sources.get_mut(source) else {
            return Admit::New;
        };
        state.last_used = now;
        if state.is_accepted(seq) {
            return Admit::Accepted;
        }
        match state.in_flight.get_mut(&seq) {
            Some(waiters) => {
                waiters.push(waiter);
                Admit::Joined
            }
            None => {
                state.in_flight.insert(seq, vec![waiter]);
                Admit::New
            }
        }
    }

    /// The pipeline's verdict on `seq`: everyone waiting for it, to be answered. An accepted
    /// sequence is remembered; a refused one is forgotten so its resend is taken.
    pub(crate) fn settle(&mut self, source: &str, seq: u64, accepted: bool) -> Vec<W> {
        let window = self.settings.window;
        let Some(state) = self.sources.get_mut(source) else {
            return Vec::new();
        };
        let waiters = state.in_flight.remove(&seq).unwrap_or_default();
        if accepted {
            state.accept(seq, window);
        }
        waiters
    }

    /// Forgets the least recently used sources with nothing in flight until there is room
    /// for one more.
    fn make_room(&mut self) {
        while self.sources.len() >= self.settings.max_sources.max(1) {
            let oldest = self
                .sources
                .iter()
                .filter(|(_, s)| s.in_flight.is_empty())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.sources.remove(&k);
                    self.evicted += 1;
                }
                // Everything is in flight: go over the bound rather than lose a verdict.
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(window: u64, max_sources: usize) -> DedupeSettings {
        DedupeSettings {
            window,
            max_sources,
        }
    }

    #[test]
    fn resend_after_accept_is_acked_not_passed_on() {
        let mut d = Dedupe::new(settings(100, 10));
        assert_eq!(d.admit("a", 1, 'x'), Admit::New);
        assert_eq!(d.settle("a", 1, true), vec!['x']);
        assert_eq!(d.admit("a", 1, 'y'), Admit::Accepted);
        assert_eq!(d.admit("b", 1, 'z'), Admit::New, "sources are separate");
    }

    #[test]
    fn resend_while_in_flight_waits_for_the_verdict() {
        let mut d = Dedupe::new(settings(100, 10));
        assert_eq!(d.admit("a", 7, 1), Admit::New);
        assert_eq!(d.admit("a", 7, 2), Admit::Joined);
        assert_eq!(d.settle("a", 7, true), vec![1, 2]);
        assert_eq!(d.admit("a", 7, 3), Admit::Accepted);
    }

    #[test]
    fn refused_is_forgotten_so_the_resend_is_taken() {
        let mut d = Dedupe::new(settings(100, 10));
        assert_eq!(d.admit("a", 7, 1), Admit::New);
        assert_eq!(d.admit("a", 7, 2), Admit::Joined);
        assert_eq!(d.settle("a", 7, false), vec![1, 2]);
        assert_eq!(d.admit("a", 7, 3), Admit::New);
    }

    #[test]
    fn ranges_merge_and_the_window_trims_old_sequences() {
        let mut d = Dedupe::new(settings(10, 10));
        for seq in [5, 3, 4, 1, 2] {
            d.admit("a", seq, ());
            d.settle("a", seq, true);
        }
        let ranges: Vec<_> = d.sources["a"]
            .accepted
            .iter()
            .map(|(s, e)| (*s, *e))
            .collect();
        assert_eq!(ranges, [(1, 5)]);
        for seq in 6..=20 {
            d.admit("a", seq, ());
            d.settle("a", seq, true);
        }
        let ranges: Vec<_> = d.sources["a"]
            .accepted
            .iter()
            .map(|(s, e)| (*s, *e))
            .collect();
        assert_eq!(ranges, [(11, 20)], "the last 10 sequences");
        assert_eq!(d.admit("a", 11, ()), Admit::Accepted);
        assert_eq!(
            d.admit("a", 10, ()),
            Admit::New,
            "below the window: unknown"
        );
    }

    #[test]
    fn gaps_stay_open() {
        let mut d = Dedupe::new(settings(100, 10));
        for seq in [1, 2, 4, 5] {
            d.admit("a", seq, ());
            d.settle("a", seq, true);
        }
        assert_eq!(d.admit("a", 3, ()), Admit::New);
        assert_eq!(d.admit("a", 4, ()), Admit::Accepted);
        d.settle("a", 3, true);
        assert_eq!(d.sources["a"].accepted.len(), 1, "3 joined both ranges");
    }

    #[test]
    fn sources_are_bounded_and_in_flight_ones_kept() {
        let mut d = Dedupe::new(settings(100, 2));
        d.admit("a", 1, ());
        d.admit("b", 1, ());
        d.settle("b", 1, true);
        // "a" is in flight, "b" is idle: "b" goes.
        d.admit("c", 1, ());
        assert_eq!(d.sources(), 2);
        assert_eq!(d.evicted, 1);
        assert!(d.sources.contains_key("a") && d.sources.contains_key("c"));
        // Both in flight: over the bound rather than losing a verdict.
        d.admit("d", 1, ());
        assert_eq!(d.sources(), 3);
    }

    #[test]
    fn extreme_sequences() {
        let mut d = Dedupe::new(settings(u64::MAX, 10));
        for seq in [u64::MAX, 1, u64::MAX - 1] {
            assert_eq!(d.admit("a", seq, ()), Admit::New);
            d.settle("a", seq, true);
            assert_eq!(d.admit("a", seq, ()), Admit::Accepted);
        }
    }
}
