//! The trend detector's configuration: the keys of `latency_trend` (P8),
//! `request_latency_trend` (B5) and a user `trend` rule's `detector`, with their check.

use serde::{Deserialize, Deserializer};

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::{check_fraction, check_non_negative, err};

/// Parameters of the trend detector (P8, B5, user `trend` rules); see the detector in `trend/mod.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendConfig {
    /// Consecutive increasing readings that make a sustained rise (3: `50 -> 150 -> 500`).
    pub rising_polls: u16,
    /// Growth factor the rise must already have reached one reading before the latest (2.0).
    pub growth: f64,
    /// Readings the robust (Theil-Sen) slope test looks at; 0 turns that test off (8).
    pub window: u16,
    /// Readings within the dead band that make a rise "settled" (2).
    pub settle_polls: u16,
    /// Relative change treated as flat while settling (0.05).
    pub flat_band: f64,
    /// A reading below this is never part of a rise (0: no floor). Not a key of its own: P8
    /// and B5 set it from `min_latency_ms` (see `latency_trend`); user `trend` rules have
    /// none.
    #[serde(skip)]
    pub floor: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        Self {
            rising_polls: 3,
            growth: 2.0,
            window: 8,
            settle_polls: 2,
            flat_band: 0.05,
            floor: 0.0,
        }
    }
}

/// The default latency floor of P8 and B5, in ms: 1 -> 2 -> 3 ms triples, but is not news.
pub const MIN_LATENCY_MS: f64 = 100.0;

impl TrendConfig {
    /// The detector of a latency trend (P8, B5): the defaults with the [`MIN_LATENCY_MS`] floor.
    pub fn latency() -> Self {
        Self {
            floor: MIN_LATENCY_MS,
            ..Self::default()
        }
    }
}

/// `latency_trend` (P8) and `request_latency_trend` (B5) as written: the trend keys plus
/// `min_latency_ms`, the floor below which a latency is never DIVERGING.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLatencyTrend {
    rising_polls: u16,
    growth: f64,
    window: u16,
    settle_polls: u16,
    flat_band: f64,
    min_latency_ms: f64,
}

impl Default for RawLatencyTrend {
    fn default() -> Self {
        let d = TrendConfig::latency();
        Self {
            rising_polls: d.rising_polls,
            growth: d.growth,
            window: d.window,
            settle_polls: d.settle_polls,
            flat_band: d.flat_band,
            min_latency_ms: d.floor,
        }
    }
}

/// Reads a [`RawLatencyTrend`] into the detector's parameters, `min_latency_ms` as the floor.
pub(crate) fn latency_trend<'de, D: Deserializer<'de>>(d: D) -> Result<TrendConfig, D::Error> {
    let raw = RawLatencyTrend::deserialize(d)?;
    Ok(TrendConfig {
        rising_polls: raw.rising_polls,
        growth: raw.growth,
        window: raw.window,
        settle_polls: raw.settle_polls,
        flat_band: raw.flat_band,
        floor: raw.min_latency_ms,
    })
}

impl TrendConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        if self.rising_polls < 2 {
            return Err(err(
                "rising_polls",
                "must be at least 2 (a rise needs two readings)",
            ));
        }
        if !(self.growth > 1.0 && self.growth.is_finite()) {
            return Err(err("growth", "must be a finite factor above 1.0, e.g. 2.0"));
        }
        if self.window != 0 && self.window < 4 {
            return Err(err("window", "must be 0 (off) or at least 4 readings"));
        }
        if self.window > 64 {
            return Err(err("window", "must be at most 64 readings"));
        }
        if self.settle_polls == 0 {
            return Err(err("settle_polls", "must be at least 1"));
        }
        check_fraction("flat_band", self.flat_band)?;
        check_non_negative("min_latency_ms", self.floor)
    }
}
