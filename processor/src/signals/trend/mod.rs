//! Trend detection for early warning: a sustained rise is flagged well before a fixed
//! threshold would be crossed, and a single spike is not a trend. Used by P8 (producer
//! request latency), B5 (broker request time p99) and user `trend` rules.
//!
//! Two tests, either of which starts a rise (DIVERGING):
//!
//! - **Run test.** The last `rising_polls` (3) readings rise strictly, and the reading
//!   *before the latest* is already at least `growth` (2x) times the first of the run. The
//!   seed's `50 -> 150 -> 500 ms` is DIVERGING at 500 (150 >= 2 x 50); the scenario's
//!   `50 -> 75 -> 100 -> 150` at 150, long before a 500 ms threshold. Because the growth is
//!   measured one reading back, one outlier cannot trigger it: a spike is always the latest
//!   reading or ends the run.
//! - **Slope test** (noisy rises that are not strictly monotonic). With a full window of
//!   `window` (8) readings, the Theil-Sen line (median of pairwise slopes, which ignores up
//!   to ~29 % outliers) must grow by the `growth` factor across the window, and the latest
//!   reading must be a rise. A step followed by a plateau does not start it (no rise), and a
//!   lone spike barely moves a median.
//!
//! **Floor.** A reading below `floor` is never DIVERGING, however fast it grows: for P8 and B5
//! that is `min_latency_ms` (100 ms), so `1 -> 2 -> 3 ms` (tripled, but nothing anyone waits
//! for) is not an alarm. A rise that started below the floor counts once a reading reaches it
//! (`40 -> 90 -> 200 ms` is DIVERGING at 200), and a rise in progress ends when a reading drops
//! below it (STABLE, or CONVERGING if it fell by more than the band).
//!
//! A rise ends when readings stay flat (within `flat_band`, 5 %) or keep rising only
//! slightly for `settle_polls` (2) readings (STABLE: it settled), or when a reading falls by
//! more than the band (CONVERGING). A sustained fall, the mirror of the run test, is also
//! CONVERGING when no rise was seen, e.g. latency returning from a plateau.

pub mod config;

use std::collections::VecDeque;

use self::config::TrendConfig;

/// What the detector concludes after a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trend {
    /// No sustained movement (the initial state).
    #[default]
    Stable,
    /// A sustained rise.
    Diverging,
    /// Falling back after a rise, or a sustained fall.
    Converging,
}

/// The numbers behind the latest conclusion, for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrendEvidence {
    /// The reading the current rise (or fall) started from.
    pub base: f64,
    /// The latest reading divided by `base`.
    pub growth: f64,
    /// The Theil-Sen slope per reading over the window (0 when it was not computed).
    pub slope: f64,
}

/// One series' trend detector. Memory: the window (`window` readings) plus a few numbers.
#[derive(Debug, Clone, Default)]
pub struct TrendDetector {
    window: VecDeque<f64>,
    /// Length, in readings, of the current strictly rising run (1 = no rise yet).
    rising: u16,
    rising_base: f64,
    /// Length of the current strictly falling run.
    falling: u16,
    falling_base: f64,
    /// Consecutive readings that did not fall (counts towards settling).
    calm: u16,
    state: Trend,
    evidence: TrendEvidence,
}

impl TrendDetector {
    /// The state after the latest reading.
    pub fn state(&self) -> Trend {
        self.state
    }

    /// The evidence of the latest reading.
    pub fn evidence(&self) -> TrendEvidence {
        self.evidence
    }

    /// Feeds one reading (finite; the caller drops NaN) and returns the new state.
    pub fn observe(&mut self, value: f64, p: &TrendConfig) -> Trend {
        let previous = self.window.back().copied();
        let keep = usize::from(p.window.max(2));
        if self.window.len() == keep {
            self.window.pop_front();
        }
        self.window.push_back(value);

        let Some(previous) = previous else {
            self.rising = 1;
            self.falling = 1;
            self.rising_base = value;
            self.falling_base = value;
            self.evidence = TrendEvidence {
                base: value,
                growth: 1.0,
                slope: 0.0,
            };
            return self.state;
        };
        if value > previous {
            self.rising += 1;
        } else {
            self.rising = 1;
            self.rising_base = value;
        }
        if value < previous {
            self.falling += 1;
        } else {
            self.falling = 1;
            self.falling_base = value;
        }
        let band = p.flat_band * previous.abs();
        let falls = value < previous - band;

        let run_rise = self.rising >= p.rising_polls && grew(self.rising_base, previous, p.growth);
        let mut slope = 0.0;
        let slope_rise =
            value > previous && p.window >= 4 && self.window.len() == usize::from(p.window) && {
                let (s, start, end) = theil_sen(&self.window);
                slope = s;
                start > 0.0 && end >= p.growth * start
            };
        let under_floor = value < p.floor;
        let rise = (run_rise || slope_rise) && !under_floor;
        let sustained_fall = self.falling >= p.rising_polls
            && self.falling_base > 0.0
            && previous * p.growth <= self.falling_base;

        self.calm = if falls {
            0
        } else {
            self.calm.saturating_add(1)
        };
        self.state = match self.state {
            _ if rise => Trend::Diverging,
            Trend::Diverging if falls => Trend::Converging,
            Trend::Diverging if under_floor => Trend::Stable,
            Trend::Diverging | Trend::Converging if self.calm >= p.settle_polls => Trend::Stable,
            Trend::Stable if sustained_fall => Trend::Converging,
            other => other,
        };
        if rise {
            self.calm = 0;
        }
        let base = match self.state {
            Trend::Converging if sustained_fall => self.falling_base,
            _ => self.rising_base,
        };
        self.evidence = TrendEvidence {
            base,
            growth: if base != 0.0 { value / base } else { 0.0 },
            slope,
        };
        self.state
    }
}

/// True when `to` is at least `factor` times `from` (any rise from zero or below counts).
fn grew(from: f64, to: f64, factor: f64) -> bool {
    if from > 0.0 {
        to >= factor * from
    } else {
        to > from && to > 0.0
    }
}

/// The Theil-Sen line over `values` at positions 0..n: `(slope, fitted start, fitted end)`.
fn theil_sen(values: &VecDeque<f64>) -> (f64, f64, f64) {
    let n = values.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            slopes.push((values[j] - values[i]) / (j - i) as f64);
        }
    }
    let slope = median(&mut slopes);
    let mut intercepts: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| v - slope * i as f64)
        .collect();
    let start = median(&mut intercepts);
    (slope, start, start + slope * (n - 1) as f64)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64]) -> Vec<Trend> {
        let p = TrendConfig::default();
        let mut d = TrendDetector::default();
        values.iter().map(|v| d.observe(*v, &p)).collect()
    }

    #[test]
    fn the_seed_rise_is_diverging_at_its_third_reading() {
        assert_eq!(
            run(&[50.0, 150.0, 500.0]),
            [Trend::Stable, Trend::Stable, Trend::Diverging]
        );
    }

    #[test]
    fn a_gradual_rise_is_caught_long_before_a_fixed_threshold() {
        // The scenario's latency-divergence after normal: flagged at 150 ms, not 500.
        let states = run(&[50.0, 50.0, 50.0, 75.0, 100.0, 150.0, 300.0, 500.0]);
        assert_eq!(states[4], Trend::Stable);
        assert_eq!(states[5], Trend::Diverging);
        assert_eq!(states[7], Trend::Diverging);
    }

    #[test]
    fn a_single_spike_is_not_a_trend() {
        for series in [
            &[50.0, 50.0, 50.0, 500.0, 50.0, 50.0][..],
            &[50.0, 55.0, 500.0, 50.0][..],
            &[50.0, 52.0, 55.0, 58.0, 60.0, 62.0, 900.0, 61.0][..],
            &[50.0, 48.0, 51.0, 49.0, 50.0, 52.0, 49.0, 51.0, 5000.0, 50.0][..],
        ] {
            assert!(
                run(series).iter().all(|t| *t == Trend::Stable),
                "{series:?}: {:?}",
                run(series)
            );
        }
    }

    #[test]
    fn latencies_under_the_floor_are_never_diverging() {
        let p = TrendConfig::latency();
        let run = |values: &[f64]| {
            let mut d = TrendDetector::default();
            values.iter().map(|v| d.observe(*v, &p)).collect::<Vec<_>>()
        };
        // Tripled, and the slope test's window is full of growth: still nothing.
        let small = run(&[1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0]);
        assert!(small.iter().all(|t| *t == Trend::Stable), "{small:?}");
        // A rise that crosses the floor counts from the first reading at or above it.
        assert_eq!(run(&[40.0, 90.0, 200.0])[2], Trend::Diverging);
        // The seed's rise is above the floor where it matters.
        assert_eq!(run(&[50.0, 150.0, 500.0])[2], Trend::Diverging);
        // A rise in progress that sinks under the floor without falling much is over.
        let p = TrendConfig {
            floor: 100.0,
            flat_band: 0.5,
            ..TrendConfig::default()
        };
        let mut d = TrendDetector::default();
        let states: Vec<_> = [30.0, 70.0, 150.0, 99.0]
            .iter()
            .map(|v| d.observe(*v, &p))
            .collect();
        assert_eq!(states[2..], [Trend::Diverging, Trend::Stable]);
        // Without a floor (user rules) small numbers rise like any others.
        assert_eq!(
            super::tests::run(&[1.0, 2.0, 4.0]),
            [Trend::Stable, Trend::Stable, Trend::Diverging]
        );
    }

    #[test]
    fn a_noisy_rise_is_caught_by_the_slope_test() {
        let states = run(&[50.0, 70.0, 65.0, 90.0, 85.0, 120.0, 110.0, 160.0]);
        assert_eq!(states[7], Trend::Diverging, "{states:?}");
    }

    #[test]
    fn a_rise_settles_on_a_plateau_and_converges_when_it_falls() {
        let states = run(&[
            50.0, 150.0, 500.0, 500.0, 500.0, 410.0, 320.0, 230.0, 140.0, 50.0,
        ]);
        assert_eq!(states[2], Trend::Diverging);
        assert_eq!(states[3], Trend::Diverging);
        assert_eq!(states[4], Trend::Stable);
        assert_eq!(states[8], Trend::Converging, "{states:?}");
        let states = run(&[50.0, 150.0, 500.0, 300.0, 300.0, 300.0]);
        assert_eq!(states[3], Trend::Converging);
        assert_eq!(states[5], Trend::Stable);
    }
}
