//! The configuration of pack `kafka` (`packs: {kafka: {...}}`) and its check.

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::{check_fraction, check_non_negative};
use crate::signals::trend::config::{TrendConfig, latency_trend};

/// `packs: {kafka: {...}}`: thresholds of the broker rules B1-B7.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerPackConfig {
    /// B1: under-replicated partitions above which the broker is DEGRADED (0).
    pub under_replicated_threshold: f64,
    /// B2: offline partitions above which the broker is DEFECTIVE (0).
    pub offline_threshold: f64,
    /// B5: the request-time p99 trend detector, with its `min_latency_ms` floor (100).
    #[serde(deserialize_with = "latency_trend")]
    pub request_latency_trend: TrendConfig,
    /// B6N: NetworkProcessorAvgIdlePercent below which the network threads TIMEOUT (0.3).
    pub network_idle_min: f64,
    /// B6H: RequestHandlerAvgIdlePercent below which the handler pool DENYs (0.1).
    pub request_handler_idle_min: f64,
}

impl Default for BrokerPackConfig {
    fn default() -> Self {
        Self {
            under_replicated_threshold: 0.0,
            offline_threshold: 0.0,
            request_latency_trend: TrendConfig::latency(),
            network_idle_min: 0.3,
            request_handler_idle_min: 0.1,
        }
    }
}

impl BrokerPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        check_non_negative(
            "under_replicated_threshold",
            self.under_replicated_threshold,
        )?;
        check_non_negative("offline_threshold", self.offline_threshold)?;
        self.request_latency_trend
            .check()
            .map_err(|e| e.within("request_latency_trend"))?;
        check_fraction("network_idle_min", self.network_idle_min)?;
        check_fraction("request_handler_idle_min", self.request_handler_idle_min)
    }
}
