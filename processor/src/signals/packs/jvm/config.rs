//! The configuration of pack `jvm` (`packs: {jvm: {...}}`) and its check.

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::{check_fraction, err};

/// `packs: {jvm: {...}}`: thresholds of J1-J3.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JvmPackConfig {
    /// J1: heap used/max from which the JVM is DIVERGING (0.75).
    pub heap_diverging: f64,
    /// J1: ... DEGRADED (0.85).
    pub heap_degraded: f64,
    /// J1: ... DEFECTIVE (0.95).
    pub heap_defective: f64,
    /// J3: share of the wall time between two polls spent collecting that is a long pause
    /// (0.10: 1 s per 10 s poll).
    pub gc_pause_fraction: f64,
}

impl Default for JvmPackConfig {
    fn default() -> Self {
        Self {
            heap_diverging: 0.75,
            heap_degraded: 0.85,
            heap_defective: 0.95,
            gc_pause_fraction: 0.10,
        }
    }
}

impl JvmPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        check_fraction("heap_diverging", self.heap_diverging)?;
        check_fraction("heap_degraded", self.heap_degraded)?;
        check_fraction("heap_defective", self.heap_defective)?;
        if !(self.heap_diverging < self.heap_degraded && self.heap_degraded < self.heap_defective) {
            return Err(err(
                "heap_degraded",
                "heap thresholds must rise: heap_diverging < heap_degraded < heap_defective",
            ));
        }
        check_fraction("gc_pause_fraction", self.gc_pause_fraction)
    }
}
