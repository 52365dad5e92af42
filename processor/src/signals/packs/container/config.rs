//! The configuration of pack `container` (`packs: {container: {...}}`) and its check.

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::{check_fraction, err};

/// `packs: {container: {...}}`: thresholds of CR1, CR2 and CR5 (CR3 and CR4 have none).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerPackConfig {
    /// CR1: working set / memory limit from which the container is DIVERGING (0.80).
    pub memory_diverging: f64,
    /// CR1: ... DEGRADED (0.90): the OOM killer is near.
    pub memory_degraded: f64,
    /// CR2: share of CFS periods throttled, over the window, that is a throttled CPU (0.25).
    pub throttled_share: f64,
    /// CR2: readings the throttled share is measured over (6: one minute at 10 s polls).
    pub throttle_window: u16,
    /// CR5: open file descriptors / their limit from which the process is DIVERGING (0.90).
    pub fd_utilization: f64,
}

impl Default for ContainerPackConfig {
    fn default() -> Self {
        Self {
            memory_diverging: 0.80,
            memory_degraded: 0.90,
            throttled_share: 0.25,
            throttle_window: 6,
            fd_utilization: 0.90,
        }
    }
}

/// The longest `throttle_window` (a ring of readings per row).
pub const MAX_THROTTLE_WINDOW: u16 = 60;

impl ContainerPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        check_fraction("memory_diverging", self.memory_diverging)?;
        check_fraction("memory_degraded", self.memory_degraded)?;
        if self.memory_diverging >= self.memory_degraded {
            return Err(err(
                "memory_degraded",
                "memory thresholds must rise: memory_diverging < memory_degraded",
            ));
        }
        check_fraction("throttled_share", self.throttled_share)?;
        if !(2..=MAX_THROTTLE_WINDOW).contains(&self.throttle_window) {
            return Err(err(
                "throttle_window",
                format!(
                    "{} readings: give 2 to {MAX_THROTTLE_WINDOW} (a share needs two readings)",
                    self.throttle_window
                ),
            ));
        }
        check_fraction("fd_utilization", self.fd_utilization)
    }
}
