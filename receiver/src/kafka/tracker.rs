//! Which offsets of each partition may be committed: the highest contiguous accepted one.
//!
//! Every record polled (not replayed) is pending until the pipeline accepted it (or it was
//! skipped as undecodable); verdicts arrive in any order. The offset to commit for a partition
//! is one past the last record of the longest settled run from the oldest pending record, so a
//! record still waiting (or refused and being retried) holds the commit back and a restart
//! re-reads it and what follows: at least once, with the uncommitted tail as the only
//! reprocessing. A record given up on (shutdown before its verdict) stays unsettled for good.

use std::collections::{BTreeMap, HashMap};

/// A topic partition.
pub(crate) type Tp = (String, i32);

#[derive(Debug, Default)]
struct Part {
    /// Polled offsets -> settled.
    pending: BTreeMap<i64, bool>,
    /// The next offset to commit (one past the last settled run), if any.
    commit_at: Option<i64>,
    /// What the broker has.
    committed: Option<i64>,
    /// A record given up on: the commit never passes it.
    blocked: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    parts: HashMap<Tp, Part>,
}

impl Tracker {
    /// A record was polled and handed on.
    pub(crate) fn polled(&mut self, tp: &Tp, offset: i64) {
        self.part(tp).pending.insert(offset, false);
    }

    fn part(&mut self, tp: &Tp) -> &mut Part {
        if !self.parts.contains_key(tp) {
            self.parts.insert(tp.clone(), Part::default());
        }
        self.parts.get_mut(tp).expect("inserted above")
    }

    /// The record at `offset` is safe (accepted) or skipped for good (undecodable).
    pub(crate) fn settle(&mut self, tp: &Tp, offset: i64) {
        let Some(part) = self.parts.get_mut(tp) else {
            return; // revoked meanwhile
        };
        if let Some(done) = part.pending.get_mut(&offset) {
            *done = true;
        }
        while let Some(entry) = part.pending.first_entry() {
            if !*entry.get() {
                break;
            }
            let (o, _) = entry.remove_entry();
            let at = part.blocked.map_or(o + 1, |b| b.min(o + 1));
            part.commit_at = Some(at);
        }
    }

    /// Stops waiting for a record that will get no verdict (never handed on, or given up);
    /// the commit stays before it.
    pub(crate) fn abandon(&mut self, tp: &Tp, offset: i64) {
        if let Some(part) = self.parts.get_mut(tp)
            && part.pending.get(&offset) == Some(&false)
        {
            part.pending.remove(&offset);
            part.blocked = Some(part.blocked.map_or(offset, |b| b.min(offset)));
        }
    }

    /// Records of `tps` still waiting for a verdict.
    pub(crate) fn waiting<'a>(&self, tps: impl IntoIterator<Item = &'a Tp>) -> usize {
        tps.into_iter()
            .filter_map(|tp| self.parts.get(tp))
            .map(|p| p.pending.values().filter(|d| !**d).count())
            .sum()
    }

    /// Records of every partition still waiting for a verdict.
    pub(crate) fn waiting_all(&self) -> usize {
        self.parts
            .values()
            .map(|p| p.pending.values().filter(|d| !**d).count())
            .sum()
    }

    /// Offsets to commit now (for `only`, or every partition): those past what was committed.
    pub(crate) fn to_commit(&self, only: Option<&[Tp]>) -> Vec<(Tp, i64)> {
        self.parts
            .iter()
            .filter(|(tp, _)| only.is_none_or(|o| o.contains(tp)))
            .filter_map(|(tp, p)| {
                let at = p.commit_at?;
                (p.committed.is_none_or(|c| at > c)).then(|| (tp.clone(), at))
            })
            .collect()
    }

    /// The broker took these offsets.
    pub(crate) fn committed(&mut self, done: &[(Tp, i64)]) {
        for (tp, at) in done {
            if let Some(p) = self.parts.get_mut(tp) {
                p.committed = Some(p.committed.map_or(*at, |c| c.max(*at)));
            }
        }
    }

    /// Forgets partitions no longer assigned (late verdicts for them are ignored).
    pub(crate) fn forget(&mut self, tps: &[Tp]) {
        for tp in tps {
            self.parts.remove(tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> Tp {
        ("t".to_string(), p)
    }

    #[test]
    fn commits_the_contiguous_accepted_prefix() {
        let mut t = Tracker::default();
        for o in 10..15 {
            t.polled(&tp(0), o);
        }
        t.settle(&tp(0), 11);
        t.settle(&tp(0), 12);
        assert!(t.to_commit(None).is_empty(), "10 still waits");
        t.settle(&tp(0), 10);
        assert_eq!(t.to_commit(None), vec![(tp(0), 13)]);
        t.committed(&[(tp(0), 13)]);
        assert!(t.to_commit(None).is_empty());
        assert_eq!(t.waiting([&tp(0)]), 2);
        t.settle(&tp(0), 14);
        t.settle(&tp(0), 13);
        assert_eq!(t.to_commit(None), vec![(tp(0), 15)]);
        assert_eq!(t.waiting_all(), 0);
    }

    #[test]
    fn gaps_in_offsets_do_not_block() {
        // Compacted topics and transaction markers leave gaps between polled offsets.
        let mut t = Tracker::default();
        t.polled(&tp(0), 3);
        t.polled(&tp(0), 7);
        t.settle(&tp(0), 3);
        t.settle(&tp(0), 7);
        assert_eq!(t.to_commit(None), vec![(tp(0), 8)]);
    }

    #[test]
    fn partitions_are_separate_and_forgotten_on_revoke() {
        let mut t = Tracker::default();
        t.polled(&tp(0), 0);
        t.polled(&tp(1), 0);
        t.settle(&tp(1), 0);
        assert_eq!(t.to_commit(Some(&[tp(1)])), vec![(tp(1), 1)]);
        assert!(t.to_commit(Some(&[tp(0)])).is_empty());
        t.forget(&[tp(0)]);
        t.settle(&tp(0), 0);
        assert_eq!(t.waiting_all(), 0);
        assert!(t.to_commit(Some(&[tp(0)])).is_empty());
    }

    #[test]
    fn abandoned_records_hold_the_commit_and_stop_the_wait() {
        let mut t = Tracker::default();
        for o in 0..4 {
            t.polled(&tp(0), o);
        }
        t.settle(&tp(0), 0);
        t.abandon(&tp(0), 2);
        t.settle(&tp(0), 1);
        assert_eq!(t.to_commit(None), vec![(tp(0), 2)]);
        assert_eq!(t.waiting_all(), 1, "3 may still get its verdict");
        t.settle(&tp(0), 3);
        t.polled(&tp(0), 4);
        t.settle(&tp(0), 4);
        assert_eq!(t.to_commit(None), vec![(tp(0), 2)], "never past 2");
        assert_eq!(t.waiting_all(), 0);
    }
}
