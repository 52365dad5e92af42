//! The configuration of pack `targets` (`packs: {targets: {...}}`) and its check.

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

use crate::signals::config::err;

/// `packs: {targets: {...}}`: T1 and T2.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsPackConfig {
    /// T1: consecutive failed polls after which the target is DOWN (3).
    pub down_after_failures: u16,
    /// T2: emit a signal when a subject goes stale (true).
    pub report_stale: bool,
}

impl Default for TargetsPackConfig {
    fn default() -> Self {
        Self {
            down_after_failures: 3,
            report_stale: true,
        }
    }
}

impl TargetsPackConfig {
    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        if self.down_after_failures == 0 {
            return Err(err("down_after_failures", "must be at least 1"));
        }
        Ok(())
    }
}
