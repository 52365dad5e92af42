//! Burrow's window evaluation of one consumer group's partition (rule K1), on the committed
//! offsets the `kafka_admin` receiver reads from the broker each poll.
//!
//! Burrow keeps the last N commits of a partition and judges them in this order (its wiki,
//! "Consumer Lag Evaluation Rules", and its evaluator):
//!
//! 1. the current lag is 0: OK;
//! 2. STOP: the newest commit is older than the span between the oldest and the newest commit
//!    of the window, while behind;
//! 3. any lag of the window is 0: OK;
//! 4. REWIND: a committed offset of the window is below the one before it;
//! 5. STALL: the committed offset did not move over the window, while behind;
//! 6. WARN: the offsets moved but the lag never decreased over the window;
//! 7. otherwise OK.
//!
//! We poll instead of reading `__consumer_offsets`, so a window entry is a poll, and what
//! OffsetFetch cannot tell us is told apart by time:
//!
//! - **commit times**: OffsetFetch returns the offset, not when it was committed, and a
//!   consumer re-committing the same offset looks like one that stopped committing. A commit is
//!   dated by the first poll that saw its offset, and Burrow's STOP span is taken over the last N
//!   distinct offsets. STALL is "the offset did not move over a full window of polls"; STOP is
//!   "it has not moved for longer than Burrow's span and at least two windows of polls", so a
//!   paused consumer shows STALL, then STOP, as in Burrow.
//! - **WARN** needs a real rise (the newest lag above the oldest): Burrow also warns on a lag
//!   that stays flat while offsets move, which is a consumer keeping pace, not falling behind.
//! - **ERR**: a group with members but no committed offset for the partition for
//!   `no_commit_polls` polls (Burrow reports a partition with no commits as NOTFOUND).
//! - STALL, WARN and the full-window part of STOP wait for a full window; until then a
//!   partition is OK, like Burrow with fewer commits than its window.

use std::collections::VecDeque;

use kafka_obs_signal::statuses::Sign;

/// Burrow's partition statuses, plus OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burrow {
    Ok,
    Warn,
    Stall,
    Stop,
    Rewind,
    Err,
}

impl Burrow {
    /// The Statuses sign each state reads as (docs/rules.md, K1).
    pub fn sign(self) -> Sign {
        match self {
            Self::Ok => Sign::Stable,
            Self::Warn => Sign::Diverging,
            Self::Rewind => Sign::Erratic,
            Self::Stall => Sign::Degraded,
            Self::Err => Sign::Defective,
            Self::Stop => Sign::Down,
        }
    }

    /// Burrow's own name, carried as the signal's `burrow.status` attribute.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "WARN",
            Self::Stall => "STALL",
            Self::Stop => "STOP",
            Self::Rewind => "REWIND",
            Self::Err => "ERR",
        }
    }

    /// The tracker state of this status (0 = OK, the normal state).
    pub fn level(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warn => 1,
            Self::Rewind => 2,
            Self::Stall => 3,
            Self::Err => 4,
            Self::Stop => 5,
        }
    }
}

/// One poll of a partition of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Poll {
    /// When the poll read it (ns since the epoch).
    pub time: u64,
    /// The committed offset; `None` when the group has none for the partition (kafkametrics
    /// reports -1).
    pub offset: Option<f64>,
    /// Log end offset minus the committed offset.
    pub lag: f64,
    /// The group's member count, when known.
    pub members: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    time: u64,
    offset: f64,
    lag: f64,
}

/// What one evaluation found, for the evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub status: Burrow,
    /// Seconds since the committed offset last moved.
    pub since_commit_seconds: f64,
    /// Polls in the window.
    pub window_polls: u16,
    /// How far the offset went back, for a REWIND.
    pub rewound: Option<f64>,
    /// Polls in a row without a committed offset.
    pub no_commit_polls: u16,
}

/// One partition's window: the last N polls and the first-seen times of the last N distinct
/// committed offsets (a few hundred bytes).
#[derive(Debug, Clone, Default)]
pub struct Window {
    polls: VecDeque<Entry>,
    commits: VecDeque<u64>,
    no_commit: u16,
}

const NANOS: f64 = 1e9;

impl Window {
    /// Feeds one poll and judges the window (see the module documentation).
    pub fn observe(&mut self, poll: Poll, window: u16, no_commit_polls: u16) -> Verdict {
        let n = usize::from(window);
        let Some(offset) = poll.offset.filter(|o| *o >= 0.0) else {
            // No commit: the window is not fed; a group with members that never commits is ERR.
            self.no_commit = self.no_commit.saturating_add(1);
            let has_members = poll.members.is_some_and(|m| m > 0.0);
            let status = if has_members && self.no_commit >= no_commit_polls {
                Burrow::Err
            } else {
                Burrow::Ok
            };
            return Verdict {
                status,
                since_commit_seconds: 0.0,
                window_polls: self.polls.len() as u16,
                rewound: None,
                no_commit_polls: self.no_commit,
            };
        };
        self.no_commit = 0;
        let moved = self.polls.back().is_none_or(|e| e.offset != offset);
        if moved {
            self.commits.push_back(poll.time);
            if self.commits.len() > n {
                self.commits.pop_front();
            }
        }
        self.polls.push_back(Entry {
            time: poll.time,
            offset,
            lag: poll.lag,
        });
        if self.polls.len() > n {
            self.polls.pop_front();
        }
        let newest_commit = self.commits.back().copied().unwrap_or(poll.time);
        let since = poll.time.saturating_sub(newest_commit);
        let verdict = |status, rewound| Verdict {
            status,
            since_commit_seconds: since as f64 / NANOS,
            window_polls: self.polls.len() as u16,
            rewound,
            no_commit_polls: 0,
        };
        if poll.lag <= 0.0 {
            return verdict(Burrow::Ok, None);
        }
        let full = self.polls.len() >= n;
        let (first, last) = match (self.polls.front(), self.polls.back()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return verdict(Burrow::Ok, None),
        };
        let poll_span = last.time.saturating_sub(first.time);
        let commit_span = newest_commit.saturating_sub(self.commits.front().copied().unwrap_or(0));
        if full && since > commit_span.max(2 * poll_span) {
            return verdict(Burrow::Stop, None);
        }
        if self.polls.iter().any(|e| e.lag <= 0.0) {
            return verdict(Burrow::Ok, None);
        }
        let rewound = self
            .polls
            .iter()
            .zip(self.polls.iter().skip(1))
            .map(|(a, b)| a.offset - b.offset)
            .fold(0.0_f64, f64::max);
        if rewound > 0.0 {
            return verdict(Burrow::Rewind, Some(rewound));
        }
        if !full {
            return verdict(Burrow::Ok, None);
        }
        if first.offset == last.offset {
            return verdict(Burrow::Stall, None);
        }
        let never_fell = self
            .polls
            .iter()
            .zip(self.polls.iter().skip(1))
            .all(|(a, b)| b.lag >= a.lag);
        if never_fell && last.lag > first.lag {
            return verdict(Burrow::Warn, None);
        }
        verdict(Burrow::Ok, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// Runs polls one second apart (offset, lag) through a window of 5.
    fn run(polls: &[(Option<f64>, f64)], members: Option<f64>) -> Vec<Burrow> {
        let mut w = Window::default();
        polls
            .iter()
            .enumerate()
            .map(|(i, (offset, lag))| {
                w.observe(
                    Poll {
                        time: (i as u64 + 1) * S,
                        offset: *offset,
                        lag: *lag,
                        members,
                    },
                    5,
                    5,
                )
                .status
            })
            .collect()
    }

    #[test]
    fn a_consumer_keeping_up_is_ok_and_lag_zero_anywhere_in_the_window_is_ok() {
        let steady: Vec<_> = (0..20)
            .map(|k| {
                (
                    Some(100.0 * f64::from(k)),
                    if k % 3 == 0 { 0.0 } else { 40.0 },
                )
            })
            .collect();
        assert!(run(&steady, Some(1.0)).iter().all(|s| *s == Burrow::Ok));
        // A flat lag while offsets move keeps pace: not WARN (Burrow would warn).
        let flat: Vec<_> = (0..20)
            .map(|k| (Some(100.0 * f64::from(k)), 40.0))
            .collect();
        assert!(run(&flat, Some(1.0)).iter().all(|s| *s == Burrow::Ok));
    }

    #[test]
    fn a_paused_consumer_stalls_then_stops_and_recovers_once_it_catches_up() {
        let mut polls: Vec<_> = (0..5).map(|k| (Some(10.0 * f64::from(k)), 5.0)).collect();
        polls.extend((0..12).map(|k| (Some(40.0), 10.0 + f64::from(k))));
        let s = run(&polls, Some(1.0));
        assert!(s[..5].iter().all(|x| *x == Burrow::Ok), "{s:?}");
        // The offset stopped moving at poll 5 (index 4); a full window of the same offset later,
        // STALL; once it has not moved for longer than two windows of polls, STOP.
        assert_eq!(s[8], Burrow::Stall, "{s:?}");
        assert_eq!(s[12], Burrow::Stall, "{s:?}");
        assert_eq!(s[13], Burrow::Stop, "{s:?}");
        assert_eq!(s[16], Burrow::Stop);
        // Resumed: the offset moves while still behind (lag falls), then caught up.
        let mut w = Window::default();
        let mut last = Burrow::Ok;
        for (i, (offset, lag)) in polls.iter().enumerate() {
            last = w
                .observe(
                    Poll {
                        time: (i as u64 + 1) * S,
                        offset: *offset,
                        lag: *lag,
                        members: Some(1.0),
                    },
                    5,
                    5,
                )
                .status;
        }
        assert_eq!(last, Burrow::Stop);
        let resumed = w.observe(
            Poll {
                time: 18 * S,
                offset: Some(45.0),
                lag: 15.0,
                members: Some(1.0),
            },
            5,
            5,
        );
        assert_eq!(resumed.status, Burrow::Ok, "moving again and the lag fell");
        let caught_up = w.observe(
            Poll {
                time: 19 * S,
                offset: Some(60.0),
                lag: 0.0,
                members: Some(1.0),
            },
            5,
            5,
        );
        assert_eq!(caught_up.status, Burrow::Ok);
    }

    #[test]
    fn a_slow_consumer_whose_lag_only_grows_is_warn() {
        let polls: Vec<_> = (0..8)
            .map(|k| (Some(10.0 * f64::from(k)), 50.0 + 20.0 * f64::from(k)))
            .collect();
        let s = run(&polls, Some(1.0));
        assert_eq!(s[3], Burrow::Ok, "not before a full window");
        assert_eq!(s[4], Burrow::Warn);
        assert_eq!(s[7], Burrow::Warn);
        // One decrease in the window: not WARN any more.
        let mut polls = polls;
        polls.push((Some(200.0), 10.0));
        assert_eq!(*run(&polls, Some(1.0)).last().expect("polls"), Burrow::Ok);
    }

    #[test]
    fn an_offset_that_moves_back_is_rewind_while_it_is_in_the_window() {
        let mut polls: Vec<_> = (0..4)
            .map(|k| (Some(1000.0 + 10.0 * f64::from(k)), 5.0))
            .collect();
        polls.push((Some(200.0), 900.0));
        polls.extend((1..=6).map(|k| {
            (
                Some(200.0 + 100.0 * f64::from(k)),
                900.0 - 100.0 * f64::from(k),
            )
        }));
        let mut w = Window::default();
        let mut verdicts = Vec::new();
        for (i, (offset, lag)) in polls.iter().enumerate() {
            verdicts.push(w.observe(
                Poll {
                    time: (i as u64 + 1) * S,
                    offset: *offset,
                    lag: *lag,
                    members: Some(1.0),
                },
                5,
                5,
            ));
        }
        assert_eq!(verdicts[4].status, Burrow::Rewind);
        assert_eq!(verdicts[4].rewound, Some(830.0));
        assert!(verdicts[5..8].iter().all(|v| v.status == Burrow::Rewind));
        // Four polls later the rewind left the window of 5.
        assert_eq!(verdicts[8].status, Burrow::Ok, "{verdicts:?}");
    }

    #[test]
    fn members_without_commits_are_err_and_an_empty_group_is_not() {
        let none: Vec<_> = (0..6).map(|_| (None, 0.0)).collect();
        let s = run(&none, Some(2.0));
        assert_eq!(s[3], Burrow::Ok);
        assert_eq!(s[4], Burrow::Err);
        assert!(run(&none, Some(0.0)).iter().all(|x| *x == Burrow::Ok));
        assert!(run(&none, None).iter().all(|x| *x == Burrow::Ok));
        // The first commit clears it.
        let mut polls = none;
        polls.push((Some(10.0), 0.0));
        assert_eq!(*run(&polls, Some(2.0)).last().expect("polls"), Burrow::Ok);
    }
}
