//! The configuration of pack `kafka-producer` (`packs: {kafka-producer: {...}}`) and its check.

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::{check_fraction, check_non_negative, err};
use crate::signals::trend::config::{TrendConfig, latency_trend};

/// `packs: {kafka-producer: {...}}`: thresholds of P1-P11.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerPackConfig {
    /// P1: buffer utilization above which the queue OVERFLOWs (0.95).
    pub buffer_overflow_utilization: f64,
    /// P2: buffer utilization above which the buffer is under pressure, Systems LIMIT (0.80).
    pub buffer_pressure_utilization: f64,
    /// P6: relative change of batch-size-avg that is reported (0.01).
    pub batch_size_dead_band: f64,
    /// P8: the request-latency-avg trend detector, with its `min_latency_ms` floor (100).
    #[serde(deserialize_with = "latency_trend")]
    pub latency_trend: TrendConfig,
    /// P9: record-error-rate above which sends FAIL (0).
    pub error_rate_threshold: f64,
    /// P10: record-retry-rate above which sends RETRY (0).
    pub retry_rate_threshold: f64,
}

impl Default for ProducerPackConfig {
    fn default() -> Self {
        Self {
            buffer_overflow_utilization: 0.95,
            buffer_pressure_utilization: 0.80,
            batch_size_dead_band: 0.01,
            latency_trend: TrendConfig::latency(),
            error_rate_threshold: 0.0,
            retry_rate_threshold: 0.0,
        }
    }
}

impl ProducerPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        check_fraction(
            "buffer_overflow_utilization",
            self.buffer_overflow_utilization,
        )?;
        check_fraction(
            "buffer_pressure_utilization",
            self.buffer_pressure_utilization,
        )?;
        if self.buffer_pressure_utilization >= self.buffer_overflow_utilization {
            return Err(err(
                "buffer_pressure_utilization",
                "must be below buffer_overflow_utilization (pressure comes before overflow)",
            ));
        }
        check_fraction("batch_size_dead_band", self.batch_size_dead_band)?;
        self.latency_trend
            .check()
            .map_err(|e| e.within("latency_trend"))?;
        check_non_negative("error_rate_threshold", self.error_rate_threshold)?;
        check_non_negative("retry_rate_threshold", self.retry_rate_threshold)
    }
}
