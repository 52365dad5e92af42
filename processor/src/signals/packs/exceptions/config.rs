//! The configuration of pack `exceptions` (`packs: {exceptions: {...}}`) and its check.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;

use crate::signals::config::{check_positive, err};

/// `packs: {exceptions: {...}}`: E1 (error burst) and E2 (error rate over its baseline).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExceptionsPackConfig {
    /// E1: errors of one type within `burst_window` that are a burst (5).
    pub burst_count: u32,
    /// E1: the window the burst is counted in (60s).
    #[serde(deserialize_with = "de::duration")]
    pub burst_window: Duration,
    /// E2: the interval one rate reading covers (60s).
    #[serde(deserialize_with = "de::duration")]
    pub rate_interval: Duration,
    /// E2: weight of the newest interval in the learned baseline (EWMA, 0.2).
    pub rate_alpha: f64,
    /// E2: intervals learned before the rule judges (5).
    pub rate_warmup: u32,
    /// E2: the rate is DIVERGING above this multiple of the baseline (3.0) ...
    pub rate_factor: f64,
    /// E2: ... and at least this many errors per minute (6.0).
    pub rate_min_per_minute: f64,
    /// E2: it recovers at or below this multiple of the baseline (1.5), or half of
    /// `rate_min_per_minute`, whichever is higher.
    pub rate_recover_factor: f64,
    /// Exception types tracked per service instance (32); further types share the row
    /// `exception.type=(other)`.
    pub max_types_per_instance: u32,
    /// Characters of `exception.message` carried on a signal (200).
    pub message_max_chars: u32,
}

impl Default for ExceptionsPackConfig {
    fn default() -> Self {
        Self {
            burst_count: 5,
            burst_window: Duration::from_secs(60),
            rate_interval: Duration::from_secs(60),
            rate_alpha: 0.2,
            rate_warmup: 5,
            rate_factor: 3.0,
            rate_min_per_minute: 6.0,
            rate_recover_factor: 1.5,
            max_types_per_instance: 32,
            message_max_chars: 200,
        }
    }
}

/// Most timestamps E1 keeps per row: a `burst_count` above it would cost memory per type.
pub const MAX_BURST_COUNT: u32 = 10_000;

impl ExceptionsPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        if !(2..=MAX_BURST_COUNT).contains(&self.burst_count) {
            return Err(err(
                "burst_count",
                format!(
                    "{} must be between 2 and {MAX_BURST_COUNT} (errors of one type that make a burst)",
                    self.burst_count
                ),
            ));
        }
        if self.burst_window.is_zero() {
            return Err(err("burst_window", "must be longer than 0s (e.g. 60s)"));
        }
        if self.rate_interval < Duration::from_secs(1) {
            return Err(err("rate_interval", "must be at least 1s (e.g. 60s)"));
        }
        if !(self.rate_alpha > 0.0 && self.rate_alpha <= 1.0) {
            return Err(err(
                "rate_alpha",
                format!(
                    "{} must be in (0, 1] (the newest interval's weight in the baseline)",
                    self.rate_alpha
                ),
            ));
        }
        check_positive("rate_factor", self.rate_factor)?;
        check_positive("rate_min_per_minute", self.rate_min_per_minute)?;
        check_positive("rate_recover_factor", self.rate_recover_factor)?;
        if self.rate_recover_factor >= self.rate_factor {
            return Err(err(
                "rate_recover_factor",
                format!(
                    "{} must be below rate_factor ({}): the way back needs a lower line than the way in",
                    self.rate_recover_factor, self.rate_factor
                ),
            ));
        }
        if self.max_types_per_instance == 0 {
            return Err(err("max_types_per_instance", "must be at least 1"));
        }
        if self.message_max_chars == 0 {
            return Err(err("message_max_chars", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::signals::config::SignalsConfig;

    fn parse(text: &str) -> Result<SignalsConfig, kafka_obs_api::ComponentConfigError> {
        SignalsConfig::parse(&serde_yaml_ng::from_str(text).expect("yaml"))
    }

    #[test]
    fn keys_parse_and_bad_values_name_their_path() {
        let c = parse("packs: {exceptions: {burst_count: 8, burst_window: 30s}}").expect("valid");
        let p = c.packs.exceptions.expect("on");
        assert_eq!(
            (p.burst_count, p.burst_window),
            (8, Duration::from_secs(30))
        );
        assert!(c.packs.jvm.is_none(), "only the listed packs run");
        let e = parse("packs: {exceptions: {rate_recover_factor: 3}}").expect_err("not below");
        assert_eq!(e.path, "packs::exceptions::rate_recover_factor");
        assert!(e.message.contains("below rate_factor"), "{e}");
        let e = parse("packs: {exceptions: {burst_count: 1}}").expect_err("too few");
        assert_eq!(e.path, "packs::exceptions::burst_count");
        let e = parse("packs: {exceptions: {rate_interval: 10ms}}").expect_err("too short");
        assert_eq!(e.path, "packs::exceptions::rate_interval");
        let e = parse("packs: {exceptions: {burst_windw: 1s}}").expect_err("unknown key");
        assert_eq!(e.path, "packs::exceptions::burst_windw");
        assert!(
            parse("").expect("defaults").packs.exceptions.is_some(),
            "without `packs` every pack runs"
        );
    }
}
