//! The configuration of pack `kafka-consumer` (`packs: {kafka-consumer: {...}}`) and its check.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;

use crate::signals::config::{check_fraction, check_non_negative, check_positive, err};

/// `packs: {kafka-consumer: {...}}`: thresholds of C1-C11.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerPackConfig {
    /// C1: records-lag-max above which the consumer is DEGRADED and its queue OVERFLOWs (10000).
    pub lag_overflow: f64,
    /// C2: growth factor over the previous poll's lag that is DIVERGING (2.0).
    pub lag_growth_factor: f64,
    /// C2: lag at or below which growth is not news (100).
    pub lag_floor: f64,
    /// C4: per-partition lag readings in Burrow's window (10).
    pub lag_window: u16,
    /// C4: consecutive non-decreasing readings (with a net rise) that are DIVERGING (3).
    pub lag_min_rising: u16,
    /// C4: consecutive readings without progress while behind that are a STALL (3).
    pub stall_polls: u16,
    /// C6: fetch-latency-avg in ms above which fetching is DEGRADED (500).
    pub fetch_latency_degraded_ms: f64,
    /// C8: commit-latency-avg in ms within which a commit is a SUCCESS (1000).
    pub commit_latency_sla_ms: f64,
    /// C9: two or more rebalances within this of each other are a storm, which ends once this
    /// long passes without another (60s).
    #[serde(deserialize_with = "de::duration")]
    pub rebalance_storm_interval: Duration,
    /// C10: rebalance-latency-avg in ms above which rebalancing is DEGRADED (5000).
    pub rebalance_latency_degraded_ms: f64,
    /// C11: the consumers' max.poll.interval.ms (300s).
    #[serde(deserialize_with = "de::duration")]
    pub max_poll_interval: Duration,
    /// C11: share of max_poll_interval since the last poll that is DEGRADED (0.8).
    pub poll_interval_warning: f64,
}

impl Default for ConsumerPackConfig {
    fn default() -> Self {
        Self {
            lag_overflow: 10_000.0,
            lag_growth_factor: 2.0,
            lag_floor: 100.0,
            lag_window: 10,
            lag_min_rising: 3,
            stall_polls: 3,
            fetch_latency_degraded_ms: 500.0,
            commit_latency_sla_ms: 1000.0,
            rebalance_storm_interval: Duration::from_secs(60),
            rebalance_latency_degraded_ms: 5000.0,
            max_poll_interval: Duration::from_secs(300),
            poll_interval_warning: 0.8,
        }
    }
}

impl ConsumerPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        check_positive("lag_overflow", self.lag_overflow)?;
        if !(self.lag_growth_factor > 1.0 && self.lag_growth_factor.is_finite()) {
            return Err(err(
                "lag_growth_factor",
                "must be a finite factor above 1.0",
            ));
        }
        check_non_negative("lag_floor", self.lag_floor)?;
        if !(3..=64).contains(&self.lag_window) {
            return Err(err("lag_window", "must be between 3 and 64 readings"));
        }
        if self.lag_min_rising < 2 || self.lag_min_rising > self.lag_window {
            return Err(err(
                "lag_min_rising",
                "must be at least 2 and at most lag_window",
            ));
        }
        if self.stall_polls < 2 || self.stall_polls > self.lag_window {
            return Err(err(
                "stall_polls",
                "must be at least 2 and at most lag_window",
            ));
        }
        check_positive("fetch_latency_degraded_ms", self.fetch_latency_degraded_ms)?;
        check_positive("commit_latency_sla_ms", self.commit_latency_sla_ms)?;
        if self.rebalance_storm_interval.is_zero() {
            return Err(err(
                "rebalance_storm_interval",
                "must be above zero, e.g. 60s",
            ));
        }
        check_positive(
            "rebalance_latency_degraded_ms",
            self.rebalance_latency_degraded_ms,
        )?;
        if self.max_poll_interval.is_zero() {
            return Err(err("max_poll_interval", "must be above zero, e.g. 300s"));
        }
        check_fraction("poll_interval_warning", self.poll_interval_warning)
    }
}
