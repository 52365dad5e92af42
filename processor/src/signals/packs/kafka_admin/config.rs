//! The configuration of pack `kafka_admin` (`packs: {kafka_admin: {...}}`) and its check.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;

use crate::signals::config::{check_non_negative, check_positive, err};

/// `packs: {kafka_admin: {...}}`: thresholds of K1-K11.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminPackConfig {
    /// K1, K3, K9: polls in a partition's window, like Burrow's `intervals` (10).
    pub window: u16,
    /// K1: polls without a committed offset, while the group has members, that are ERR (the
    /// window when unset).
    pub no_commit_polls: Option<u16>,
    /// K2: time lag in seconds above which the partition is DEGRADED (60).
    pub time_lag_threshold: f64,
    /// K3: growth of the time lag, in seconds per second of wall time over the window, from
    /// which the consumer falls behind (0.5; a stopped consumer grows at about 1).
    pub time_lag_growth: f64,
    /// K8: how long a smaller broker count must last before it is taken as the cluster's new
    /// size and the condition clears (10m).
    #[serde(deserialize_with = "de::duration")]
    pub broker_left_hold: Duration,
    /// K11: share of the partitions a broker is the preferred replica of that another replica
    /// leads, above which the broker is DIVERGING (0.1, Kafka's
    /// `leader.imbalance.per.broker.percentage` of 10).
    pub leader_imbalance: f64,
}

impl Default for AdminPackConfig {
    fn default() -> Self {
        Self {
            window: 10,
            no_commit_polls: None,
            time_lag_threshold: 60.0,
            time_lag_growth: 0.5,
            broker_left_hold: Duration::from_secs(600),
            leader_imbalance: 0.1,
        }
    }
}

impl AdminPackConfig {
    /// Polls without a commit (while the group has members) that are ERR.
    pub fn no_commit_polls(&self) -> u16 {
        self.no_commit_polls.unwrap_or(self.window)
    }

    pub(crate) fn check(&self) -> Result<(), ComponentConfigError> {
        if !(3..=1000).contains(&self.window) {
            return Err(err(
                "window",
                format!(
                    "{} polls is out of range: use 3 to 1000 (Burrow's default is 10)",
                    self.window
                ),
            ));
        }
        if self.no_commit_polls == Some(0) {
            return Err(err("no_commit_polls", "must be at least 1"));
        }
        check_non_negative("time_lag_threshold", self.time_lag_threshold)?;
        check_positive("time_lag_growth", self.time_lag_growth)?;
        if !(0.0..1.0).contains(&self.leader_imbalance) {
            return Err(err(
                "leader_imbalance",
                format!(
                    "{} is not a share: use a value from 0 up to (not including) 1, e.g. 0.1",
                    self.leader_imbalance
                ),
            ));
        }
        if self.broker_left_hold.is_zero() {
            return Err(err("broker_left_hold", "must be above zero, e.g. 10m"));
        }
        Ok(())
    }
}
