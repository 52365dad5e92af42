//! Burrow-style evaluation of one partition's consumer lag (rule C4).
//!
//! Burrow (LinkedIn) judges a partition over a window of its last N readings without lag
//! thresholds: STOP, STALL, REWIND, WARN, OK. We read the partition's lag (`records-lag`), its
//! lead where the client reports it (`records-lead`: the consumer's position minus the log's
//! start offset), and consumption rates, not committed offsets; so each of Burrow's questions
//! is asked of what we have, in Burrow's order of precedence (first match wins):
//!
//! | Burrow | here | status |
//! |---|---|---|
//! | STOP: no commits for longer than the window, while behind | no progress in `lag_window` (10) consecutive readings while lag > 0 | DOWN |
//! | STALL: committing the same offset while lag > 0 | no progress in `stall_polls` (3) consecutive readings while lag > 0 | DEGRADED |
//! | REWIND: the committed offset went back | the position went back (below) within the last `lag_window` readings | ERRATIC |
//! | WARN: lag never decreased across the window | lag did not decrease over the last `lag_min_rising` (3) or more readings, with at least `lag_min_rising - 1` real increases among them | DIVERGING |
//! | (falling lag) | lag fell after a rise, or fell over `lag_min_rising` readings | CONVERGING |
//! | OK | otherwise | STABLE |
//!
//! **Progress is judged per partition**, from the partition's own readings first:
//!
//! 1. its lead rose (the position moved forward): progress; its lead unchanged while behind
//!    (the position did not move): none;
//! 2. its lag fell: progress (only the position moving forward lowers the lag);
//! 3. otherwise a consumption rate of zero means none: the client's rate for the partition's
//!    topic (`records-consumed-rate` with a `topic` attribute) where it reports one, else its
//!    total rate. Nothing consumed from the topic (or at all) is nothing consumed from this
//!    partition.
//!
//! A rate above zero says that *some* partition of the topic (or of the client) was consumed,
//! not that this one was: it is never taken as this partition's progress, and never divided
//! over the assigned partitions to make a per-partition rate (partitions are not consumed
//! evenly: a stuck one sits beside busy ones). With a rate above zero, a lag that did not
//! fall and no lead, progress is unknown and STOP/STALL are not judged.
//!
//! **REWIND** needs the lead. Lag is `log end - position` and lead is `position - log start`.
//! A position that moves back by `R` lowers the lead by `R` and raises the lag by `R`; nothing
//! else does both: consumption raises the lead and lowers the lag, production raises only the
//! lag, retention (the log start moving up) lowers only the lead. So a reading is a rewind
//! when its lead fell and its lag rose by at least as much as the lead fell (evidence
//! `rewound_records`, the fall of the lead). What it can miss or mistake: a rewind smaller than
//! what was consumed after it within the same poll (the net position moved forward), one
//! coinciding with retention that deleted more than was produced; and, the other way round,
//! retention deleting more than was consumed while producers wrote at least as much within
//! one poll looks like a rewind. Retention deletes whole segments, usually far more than a
//! poll's traffic, so both are rare. From lag alone a rewind cannot be told from a burst of
//! production, so without a lead REWIND is not judged.
//!
//! **Confidence from agreeing readings.** It restarts at TENTATIVE whenever the verdict
//! changes and grows as the window fills with readings of the same verdict: TENTATIVE until
//! `lag_window` consecutive readings agree, MEASURED from a full window, CONFIRMED from three.
//!
//! **Time lag**: `lag / rate` seconds where `rate` is the client's rate for the partition's
//! topic, when it is known and above zero. When the client reads several partitions of the
//! topic this partition gets only part of that rate, so the time to catch up is at least
//! this. The client's total rate mixes topics and gives no time lag.

use kafka_obs_signal::statuses::{Confidence, Sign};

use super::config::ConsumerPackConfig;

/// The consumption rates (records/s) that bear on one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// The client's rate for the partition's topic.
    pub topic: Option<f64>,
    /// The client's total rate: decides only when it is zero (nothing consumed at all).
    pub client: Option<f64>,
}

impl Rates {
    /// Nothing was consumed from the partition's topic (or, with no topic rate, at all).
    fn nothing_consumed(&self) -> bool {
        match self.topic {
            Some(rate) => rate <= 0.0,
            None => self.client.is_some_and(|rate| rate <= 0.0),
        }
    }
}

/// One reading of a partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagReading {
    pub lag: f64,
    /// `records-lead`, when the client reports it in this evaluation.
    pub lead: Option<f64>,
    pub rates: Rates,
}

impl LagReading {
    /// A reading with only the lag.
    pub fn lag(lag: f64) -> Self {
        Self {
            lag,
            lead: None,
            rates: Rates::default(),
        }
    }
}

/// One partition's window, kept as run lengths and counts (under 100 bytes).
#[derive(Debug, Clone, Default)]
pub struct LagWindow {
    previous: Option<f64>,
    previous_lead: Option<f64>,
    /// Readings in the current run without a decrease, the lag it started from, and how
    /// many of its steps were strict increases.
    rising: u16,
    rising_base: f64,
    increases: u16,
    /// Readings in the current run of decreases.
    falling: u16,
    /// Consecutive readings with known no progress while behind.
    stalled: u16,
    /// Readings since the latest rewind, while it is within the window.
    since_rewind: Option<u16>,
    rewound: f64,
    /// Readings seen in total (saturating).
    seen: u32,
    status: Option<Sign>,
    /// Consecutive readings with the current verdict.
    agreeing: u32,
}

/// One evaluation of a [`LagWindow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagVerdict {
    pub status: Sign,
    pub confidence: Confidence,
    /// The verdict differs from the previous reading's (the first reading's STABLE does not).
    pub changed: bool,
    /// The verdict is unchanged and its confidence rose with this reading.
    pub confidence_rose: bool,
    /// Readings in the window (at most `lag_window`).
    pub window_readings: u16,
    /// Consecutive readings with this verdict.
    pub agreeing_readings: u32,
    /// Consecutive readings without progress while behind.
    pub stalled_polls: u16,
    /// How far the latest rewind within the window set the position back.
    pub rewound_records: Option<f64>,
    /// Estimated seconds behind, when the topic's rate allows it.
    pub time_lag_seconds: Option<f64>,
}

impl LagWindow {
    /// The current verdict and its confidence, once there was a reading.
    pub fn current(&self, p: &ConsumerPackConfig) -> Option<(Sign, Confidence)> {
        self.status
            .map(|s| (s, confidence(self.agreeing, p.lag_window)))
    }

    /// Feeds one reading.
    pub fn observe(&mut self, reading: LagReading, p: &ConsumerPackConfig) -> LagVerdict {
        let lag = reading.lag;
        let previous = self.previous.replace(lag);
        let previous_lead = std::mem::replace(&mut self.previous_lead, reading.lead);
        self.seen = self.seen.saturating_add(1);
        let mut decreased = false;
        match previous {
            None => {
                self.rising = 1;
                self.rising_base = lag;
                self.increases = 0;
                self.falling = 1;
            }
            Some(prev) => {
                decreased = lag < prev;
                if decreased {
                    self.rising = 1;
                    self.rising_base = lag;
                    self.increases = 0;
                    self.falling = self.falling.saturating_add(1);
                } else {
                    self.rising = self.rising.saturating_add(1);
                    if lag > prev {
                        self.increases = self.increases.saturating_add(1);
                    }
                    self.falling = 1;
                }
            }
        }

        // The position's move, where the lead tells it.
        let lead_step = reading
            .lead
            .zip(previous_lead)
            .map(|(now, before)| now - before);
        let rewind = match (lead_step, previous) {
            (Some(step), Some(prev)) if step < 0.0 && lag - prev >= -step => Some(-step),
            _ => None,
        };
        self.since_rewind = match rewind {
            Some(records) => {
                self.rewound = records;
                Some(0)
            }
            None => self
                .since_rewind
                .map(|n| n.saturating_add(1))
                .filter(|n| *n < p.lag_window),
        };
        let progress = if rewind.is_some() {
            None
        } else if lead_step.is_some_and(|s| s > 0.0) || decreased {
            Some(true)
        } else if lead_step == Some(0.0) || reading.rates.nothing_consumed() {
            Some(false)
        } else {
            None
        };
        self.stalled = match progress {
            Some(false) if lag > 0.0 => self.stalled.saturating_add(1),
            _ => 0,
        };

        let rise = self.rising >= p.lag_min_rising
            && self.increases + 1 >= p.lag_min_rising
            && lag > self.rising_base;
        let fall = self.falling >= p.lag_min_rising && lag > 0.0;
        let status = if self.stalled >= p.lag_window {
            Sign::Down
        } else if self.stalled >= p.stall_polls {
            Sign::Degraded
        } else if self.since_rewind.is_some() {
            Sign::Erratic
        } else if rise {
            Sign::Diverging
        } else {
            match self.status {
                Some(Sign::Diverging | Sign::Erratic) if decreased => Sign::Converging,
                Some(Sign::Converging) if decreased && lag > 0.0 => Sign::Converging,
                _ if fall => Sign::Converging,
                _ => Sign::Stable,
            }
        };
        let before = self.status.replace(status);
        let changed = before.unwrap_or(Sign::Stable) != status;
        let was = confidence(self.agreeing, p.lag_window);
        self.agreeing = if before == Some(status) {
            self.agreeing.saturating_add(1)
        } else {
            1
        };
        let confidence = confidence(self.agreeing, p.lag_window);

        let window = u32::from(p.lag_window);
        LagVerdict {
            status,
            confidence,
            changed,
            confidence_rose: before == Some(status) && confidence > was,
            window_readings: self.seen.min(window) as u16,
            agreeing_readings: self.agreeing,
            stalled_polls: self.stalled,
            rewound_records: self.since_rewind.map(|_| self.rewound),
            time_lag_seconds: reading.rates.topic.filter(|r| *r > 0.0).map(|r| lag / r),
        }
    }
}

/// The confidence `agreeing` consecutive readings of one verdict give.
fn confidence(agreeing: u32, window: u16) -> Confidence {
    let window = u32::from(window);
    if agreeing < window {
        Confidence::Tentative
    } else if agreeing < 3 * window {
        Confidence::Measured
    } else {
        Confidence::Confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(lag: f64, rate: Option<f64>) -> LagReading {
        LagReading {
            lag,
            lead: None,
            rates: Rates {
                topic: rate,
                client: None,
            },
        }
    }

    fn run(readings: &[LagReading]) -> Vec<Sign> {
        let p = ConsumerPackConfig::default();
        let mut w = LagWindow::default();
        readings.iter().map(|r| w.observe(*r, &p).status).collect()
    }

    #[test]
    fn a_healthy_consumer_whose_lag_moves_is_stable() {
        let readings: Vec<_> = (0..30)
            .map(|k| topic(if k % 2 == 0 { 100.0 } else { 60.0 }, Some(1000.0)))
            .collect();
        assert!(run(&readings).iter().all(|s| *s == Sign::Stable));
    }

    #[test]
    fn rising_lag_diverges_then_converges_as_it_falls() {
        let lags = [
            100.0, 60.0, 1000.0, 2500.0, 12000.0, 12000.0, 9000.0, 6000.0, 3000.0, 800.0, 100.0,
            60.0, 100.0,
        ];
        let readings: Vec<_> = lags.iter().map(|l| topic(*l, Some(200.0))).collect();
        let s = run(&readings);
        assert_eq!(s[2], Sign::Stable);
        assert_eq!(s[3], Sign::Diverging);
        assert_eq!(s[5], Sign::Diverging);
        assert!(s[6..11].iter().all(|x| *x == Sign::Converging), "{s:?}");
        assert_eq!(s[12], Sign::Stable);
    }

    #[test]
    fn nothing_consumed_from_the_topic_while_behind_stalls_then_stops() {
        let readings: Vec<_> = (0..12).map(|_| topic(100.0, Some(0.0))).collect();
        let s = run(&readings);
        assert_eq!(s[1], Sign::Stable);
        assert_eq!(s[2], Sign::Degraded);
        assert_eq!(s[8], Sign::Degraded);
        assert_eq!(s[9], Sign::Down);
        // Caught up: lag 0 with no consumption is not a stall.
        let idle: Vec<_> = (0..12).map(|_| topic(0.0, Some(0.0))).collect();
        assert!(run(&idle).iter().all(|x| *x == Sign::Stable));
    }

    #[test]
    fn a_busy_client_or_topic_is_no_proof_that_this_partition_moves() {
        // The client consumes (other partitions do), this partition's lag is stuck: neither the
        // client's nor the topic's positive rate counts as its progress, so no verdict of
        // "consuming fine" hides it; with its lead, the frozen position is a stall.
        let stuck = |lead: Option<f64>, client: Option<f64>, topic: Option<f64>| LagReading {
            lag: 500.0,
            lead,
            rates: Rates { topic, client },
        };
        let s = run(&[stuck(Some(40.0), Some(900.0), Some(300.0)); 5]);
        assert_eq!(
            s[2..],
            [Sign::Stable, Sign::Degraded, Sign::Degraded],
            "{s:?}"
        );
        // Without a lead a positive rate leaves progress unknown: no stall is claimed.
        assert!(
            run(&[stuck(None, Some(900.0), None); 12])
                .iter()
                .all(|x| *x == Sign::Stable)
        );
        // The client consumed nothing at all: no partition progressed.
        assert_eq!(run(&[stuck(None, Some(0.0), None); 3])[2], Sign::Degraded);
        // A zero topic rate decides even when the client is busy with other topics.
        assert_eq!(
            run(&[stuck(None, Some(900.0), Some(0.0)); 3])[2],
            Sign::Degraded
        );
        // A lead that rises is progress whatever the rates say.
        let moving: Vec<_> = (0..12)
            .map(|k| stuck(Some(40.0 + f64::from(k)), Some(0.0), Some(0.0)))
            .collect();
        assert!(run(&moving).iter().all(|x| *x == Sign::Stable));
    }

    #[test]
    fn a_position_that_moves_back_is_a_rewind_retention_is_not() {
        let p = ConsumerPackConfig::default();
        let at = |lag: f64, lead: f64| LagReading {
            lag,
            lead: Some(lead),
            rates: Rates {
                topic: Some(50.0),
                client: None,
            },
        };
        let mut w = LagWindow::default();
        w.observe(at(100.0, 5000.0), &p);
        w.observe(at(90.0, 5100.0), &p);
        // Seek back 3000: lead -3000 (+ 50 consumed since), lag +3000 (+ 40 produced - 50).
        let v = w.observe(at(3080.0, 2150.0), &p);
        assert_eq!((v.status, v.changed), (Sign::Erratic, true));
        assert_eq!(v.confidence, Confidence::Tentative);
        assert_eq!(v.rewound_records, Some(2950.0));
        // It holds while the rewind is in the window, then the falling lag converges.
        let mut states = Vec::new();
        for k in 1..=10 {
            let k = f64::from(k);
            states.push(
                w.observe(at(3080.0 - 200.0 * k, 2150.0 + 200.0 * k), &p)
                    .status,
            );
        }
        assert!(
            states[..9].iter().all(|s| *s == Sign::Erratic),
            "{states:?}"
        );
        assert_eq!(states[9], Sign::Converging);

        // Retention: the log start jumps by a segment, the lead falls, the lag does not rise.
        let mut w = LagWindow::default();
        w.observe(at(100.0, 90_000.0), &p);
        let v = w.observe(at(80.0, 40_000.0), &p);
        assert_eq!(v.status, Sign::Stable);
        // Production raises the lag, the lead goes on rising: not a rewind either.
        let v = w.observe(at(5000.0, 40_100.0), &p);
        assert_eq!(v.status, Sign::Stable);
        assert_eq!(v.rewound_records, None);
        // Without a lead, a jump of the lag is not judged a rewind.
        assert_eq!(
            run(&[topic(100.0, None), topic(9000.0, None)])[1],
            Sign::Stable
        );
    }

    #[test]
    fn confidence_restarts_with_each_verdict_and_grows_with_agreeing_readings() {
        let p = ConsumerPackConfig::default();
        let mut w = LagWindow::default();
        let first = w.observe(topic(500.0, Some(100.0)), &p);
        assert_eq!(first.confidence, Confidence::Tentative);
        assert!(!first.changed, "the first STABLE is not news");
        assert_eq!(first.time_lag_seconds, Some(5.0));
        let mut rose = Vec::new();
        for k in 2..=30 {
            let v = w.observe(topic(500.0, Some(100.0)), &p);
            if v.confidence_rose {
                rose.push((k, v.confidence));
            }
        }
        assert_eq!(
            rose,
            [(10, Confidence::Measured), (30, Confidence::Confirmed)]
        );
        // The verdict changes (nothing consumed: a stall): back to TENTATIVE.
        w.observe(topic(500.0, Some(0.0)), &p);
        w.observe(topic(500.0, Some(0.0)), &p);
        let v = w.observe(topic(500.0, Some(0.0)), &p);
        assert_eq!((v.status, v.changed), (Sign::Degraded, true));
        assert_eq!(v.confidence, Confidence::Tentative);
        assert_eq!(v.time_lag_seconds, None);
        assert_eq!(w.current(&p), Some((Sign::Degraded, Confidence::Tentative)));
        // Only the topic's rate gives a time lag.
        let mut w = LagWindow::default();
        let client_only = LagReading {
            lag: 500.0,
            lead: None,
            rates: Rates {
                topic: None,
                client: Some(100.0),
            },
        };
        assert_eq!(w.observe(client_only, &p).time_lag_seconds, None);
        assert_eq!(w.observe(LagReading::lag(500.0), &p).status, Sign::Stable);
    }
}
