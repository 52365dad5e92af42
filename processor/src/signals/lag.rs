//! Burrow-style evaluation of one partition's consumer lag (rule C4).
//!
//! Burrow (LinkedIn) judges a partition over a window of its last N readings without lag
//! thresholds: STOP, STALL, WARN, OK. We read lag (`records-lag`) and the consumer's
//! consumption rate, not committed offsets, so each of Burrow's questions is asked of what
//! we have, in Burrow's order of precedence:
//!
//! | Burrow | here | status |
//! |---|---|---|
//! | STOP: no commits for longer than the window, while behind | no progress in `lag_window` (10) consecutive readings while lag > 0 | DOWN |
//! | STALL: committing the same offset while lag > 0 | no progress in `stall_polls` (3) consecutive readings while lag > 0 | DEGRADED |
//! | WARN: lag never decreased across the window | lag did not decrease over the last `lag_min_rising` (3) or more readings, with at least `lag_min_rising - 1` real increases among them | DIVERGING |
//! | (falling lag) | lag fell after a rise, or fell over `lag_min_rising` readings | CONVERGING |
//! | OK | otherwise | STABLE |
//!
//! *Progress* in a reading means the consumer consumed (its consumption rate is above zero)
//! or the lag went down. When no rate is known and the lag did not fall, progress is unknown
//! and STOP/STALL are not judged. Burrow's REWIND (offset moving backwards) needs offsets and
//! is not evaluated. A run is counted from the last decrease, so a rise that starts inside the
//! window is caught without waiting for N polls of rising readings.
//!
//! **Confidence from window completeness**: fewer than `lag_window` readings seen, TENTATIVE;
//! a full window, MEASURED; three full windows seen, CONFIRMED.
//!
//! **Time lag**: `lag / rate` seconds, where `rate` is the partition's share of the consumption
//! rate; only when that rate is above zero (at zero the consumer is not catching up at all).

use kafka_obs_signal::statuses::{Confidence, Sign};

use super::config::ConsumerPack;

/// One partition's window, kept as run lengths and counts (about 40 bytes).
#[derive(Debug, Clone, Default)]
pub struct LagWindow {
    previous: Option<f64>,
    /// Readings in the current run without a decrease, the lag it started from, and how
    /// many of its steps were strict increases.
    rising: u16,
    rising_base: f64,
    increases: u16,
    /// Readings in the current run of decreases.
    falling: u16,
    /// Consecutive readings with known no progress while behind.
    stalled: u16,
    /// Readings seen in total (saturating).
    seen: u32,
    status: Option<Sign>,
}

/// One evaluation of a [`LagWindow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagVerdict {
    pub status: Sign,
    pub confidence: Confidence,
    /// Readings in the window (at most `lag_window`).
    pub window_readings: u16,
    /// Consecutive readings without progress while behind.
    pub stalled_polls: u16,
    /// Estimated seconds behind, when the rate allows it.
    pub time_lag_seconds: Option<f64>,
}

impl LagWindow {
    /// Feeds one lag reading, with the partition's consumption rate (records/s) if known.
    pub fn observe(&mut self, lag: f64, rate: Option<f64>, p: &ConsumerPack) -> LagVerdict {
        let previous = self.previous.replace(lag);
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
        let progress = match rate {
            Some(r) => Some(r > 0.0 || decreased),
            None if decreased => Some(true),
            None => None,
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
        } else if rise {
            Sign::Diverging
        } else {
            match self.status {
                Some(Sign::Diverging) if decreased => Sign::Converging,
                Some(Sign::Converging) if decreased && lag > 0.0 => Sign::Converging,
                _ if fall => Sign::Converging,
                _ => Sign::Stable,
            }
        };
        self.status = Some(status);

        let window = u32::from(p.lag_window);
        let confidence = if self.seen < window {
            Confidence::Tentative
        } else if self.seen < 3 * window {
            Confidence::Measured
        } else {
            Confidence::Confirmed
        };
        LagVerdict {
            status,
            confidence,
            window_readings: self.seen.min(window) as u16,
            stalled_polls: self.stalled,
            time_lag_seconds: rate.filter(|r| *r > 0.0).map(|r| lag / r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(readings: &[(f64, Option<f64>)]) -> Vec<Sign> {
        let p = ConsumerPack::default();
        let mut w = LagWindow::default();
        readings
            .iter()
            .map(|(lag, rate)| w.observe(*lag, *rate, &p).status)
            .collect()
    }

    #[test]
    fn a_healthy_consumer_whose_lag_moves_is_stable() {
        let readings: Vec<_> = (0..30)
            .map(|k| (if k % 2 == 0 { 100.0 } else { 60.0 }, Some(1000.0)))
            .collect();
        assert!(run(&readings).iter().all(|s| *s == Sign::Stable));
    }

    #[test]
    fn rising_lag_diverges_then_converges_as_it_falls() {
        let lags = [
            100.0, 60.0, 1000.0, 2500.0, 12000.0, 12000.0, 9000.0, 6000.0, 3000.0, 800.0, 100.0,
            60.0, 100.0,
        ];
        let readings: Vec<_> = lags.iter().map(|l| (*l, Some(200.0))).collect();
        let s = run(&readings);
        assert_eq!(s[2], Sign::Stable);
        assert_eq!(s[3], Sign::Diverging);
        assert_eq!(s[5], Sign::Diverging);
        assert!(s[6..11].iter().all(|x| *x == Sign::Converging), "{s:?}");
        assert_eq!(s[12], Sign::Stable);
    }

    #[test]
    fn no_consumption_while_behind_stalls_then_stops() {
        let readings: Vec<_> = (0..12).map(|_| (100.0, Some(0.0))).collect();
        let s = run(&readings);
        assert_eq!(s[1], Sign::Stable);
        assert_eq!(s[2], Sign::Degraded);
        assert_eq!(s[8], Sign::Degraded);
        assert_eq!(s[9], Sign::Down);
        // Caught up: lag 0 with no consumption is not a stall.
        let idle: Vec<_> = (0..12).map(|_| (0.0, Some(0.0))).collect();
        assert!(run(&idle).iter().all(|x| *x == Sign::Stable));
    }

    #[test]
    fn confidence_follows_window_completeness_and_time_lag_uses_the_rate() {
        let p = ConsumerPack::default();
        let mut w = LagWindow::default();
        let first = w.observe(500.0, Some(100.0), &p);
        assert_eq!(first.confidence, Confidence::Tentative);
        assert_eq!(first.time_lag_seconds, Some(5.0));
        for _ in 0..9 {
            w.observe(500.0, Some(100.0), &p);
        }
        assert_eq!(w.observe(500.0, None, &p).confidence, Confidence::Measured);
        for _ in 0..20 {
            w.observe(500.0, Some(100.0), &p);
        }
        let v = w.observe(500.0, Some(0.0), &p);
        assert_eq!(v.confidence, Confidence::Confirmed);
        assert_eq!(v.time_lag_seconds, None);
    }
}
