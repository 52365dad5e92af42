//! The `memory_limiter` processor's keys (the Collector's), their defaults and their check.
//! Percentages become bytes at build, when the machine's (or cgroup's) memory is read.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, Processor, ProcessorConfig,
    UnneededKey, parse_component_config,
};

use super::limiter::{Limiter, Limits};
use crate::per_parcel::PerParcel;

const MIB: u64 = 1 << 20;

/// How the limit is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `limit_mib` and `spike_limit_mib` (default 20% of the limit).
    Mib { limit: u64, spike: u64 },
    /// `limit_percentage` and `spike_limit_percentage` of the total memory (default 20% of
    /// the limit).
    Percentage { limit: u32, spike: u32 },
}

/// The validated configuration of a `memory_limiter` processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimiterConfig {
    pub check_interval: Duration,
    pub limit: Limit,
    /// The Collector's garbage-collection keys that were set (accepted, no effect here).
    unneeded: Vec<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, deserialize_with = "de::opt_duration")]
    check_interval: Option<Duration>,
    #[serde(default)]
    limit_mib: u64,
    #[serde(default)]
    spike_limit_mib: Option<u64>,
    #[serde(default)]
    limit_percentage: u32,
    #[serde(default)]
    spike_limit_percentage: Option<u32>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    min_gc_interval_when_soft_limited: Option<Duration>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    min_gc_interval_when_hard_limited: Option<Duration>,
}

fn bad(path: &str, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

impl MemoryLimiterConfig {
    /// Parses and checks the YAML body of a `memory_limiter` processor.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let check_interval = match raw.check_interval {
            None => {
                return Err(bad(
                    "check_interval",
                    "missing; set how often memory is measured, like `check_interval: 1s`",
                ));
            }
            Some(d) if d.is_zero() => {
                return Err(bad(
                    "check_interval",
                    "must be greater than zero, like `1s`",
                ));
            }
            Some(d) => d,
        };
        let limit = if raw.limit_mib > 0 {
            // As in the Collector, `limit_mib` wins when both are set.
            let spike = raw.spike_limit_mib.unwrap_or(raw.limit_mib / 5);
            if spike >= raw.limit_mib {
                return Err(bad(
                    "spike_limit_mib",
                    format!(
                        "{spike} must be smaller than limit_mib ({}); the soft limit is limit_mib - spike_limit_mib",
                        raw.limit_mib
                    ),
                ));
            }
            Limit::Mib {
                limit: raw.limit_mib,
                spike,
            }
        } else if raw.limit_percentage > 0 {
            if raw.limit_percentage > 100 {
                return Err(bad(
                    "limit_percentage",
                    format!("{} is above 100", raw.limit_percentage),
                ));
            }
            let spike = raw
                .spike_limit_percentage
                .unwrap_or(raw.limit_percentage / 5);
            if spike >= raw.limit_percentage {
                return Err(bad(
                    "spike_limit_percentage",
                    format!(
                        "{spike} must be smaller than limit_percentage ({})",
                        raw.limit_percentage
                    ),
                ));
            }
            Limit::Percentage {
                limit: raw.limit_percentage,
                spike,
            }
        } else {
            return Err(bad(
                "limit_mib",
                "no limit: set limit_mib (MiB) or limit_percentage (of the total or cgroup memory)",
            ));
        };
        if raw.spike_limit_mib.is_some() && !matches!(limit, Limit::Mib { .. }) {
            return Err(bad(
                "spike_limit_mib",
                "goes with limit_mib; with limit_percentage use spike_limit_percentage",
            ));
        }
        if raw.spike_limit_percentage.is_some() && !matches!(limit, Limit::Percentage { .. }) {
            return Err(bad(
                "spike_limit_percentage",
                "goes with limit_percentage; with limit_mib use spike_limit_mib",
            ));
        }
        let mut unneeded = Vec::new();
        if raw.min_gc_interval_when_soft_limited.is_some() {
            unneeded.push("min_gc_interval_when_soft_limited");
        }
        if raw.min_gc_interval_when_hard_limited.is_some() {
            unneeded.push("min_gc_interval_when_hard_limited");
        }
        Ok(Self {
            check_interval,
            limit,
            unneeded,
        })
    }

    /// The limits in bytes, given the memory available to the process.
    pub(super) fn limits(&self, total_memory: u64) -> Limits {
        let (hard, spike) = match self.limit {
            Limit::Mib { limit, spike } => (limit * MIB, spike * MIB),
            Limit::Percentage { limit, spike } => (
                total_memory / 100 * u64::from(limit),
                total_memory / 100 * u64::from(spike),
            ),
        };
        Limits {
            hard,
            soft: hard - spike,
        }
    }
}

impl ComponentConfig for MemoryLimiterConfig {
    fn unneeded_keys(&self) -> Vec<UnneededKey> {
        self.unneeded
            .iter()
            .map(|path| UnneededKey {
                path: (*path).to_string(),
                why: "Rust frees memory as soon as it is dropped; there is no garbage collector to run",
            })
            .collect()
    }
}

impl ProcessorConfig for MemoryLimiterConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        let total = match self.limit {
            Limit::Mib { .. } => 0,
            Limit::Percentage { .. } => super::memory::total_memory_bytes().map_err(|e| {
                BuildError::Other(format!(
                    "processors::{}::limit_percentage: cannot read the total memory ({e}); set limit_mib instead",
                    ctx.id
                ))
            })?,
        };
        // Measure once now, so a process that starts above its limit is caught at once.
        super::memory::process_rss_bytes().map_err(|e| {
            BuildError::Other(format!(
                "processors::{}: cannot measure this process's memory ({e}); memory_limiter needs Linux /proc",
                ctx.id
            ))
        })?;
        Ok(Box::new(PerParcel::new(Limiter::new(
            self.check_interval,
            self.limits(total),
            ctx.telemetry.clone(),
        ))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(yaml: &str) -> Result<MemoryLimiterConfig, ComponentConfigError> {
        MemoryLimiterConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/memory_limiter.yaml")).unwrap();
        let get = |id: &str| {
            MemoryLimiterConfig::parse(&value[id]).unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        let mib = get("memory_limiter");
        assert_eq!(mib.check_interval, Duration::from_secs(1));
        assert_eq!(
            mib.limit,
            Limit::Mib {
                limit: 4000,
                spike: 800
            }
        );
        assert_eq!(
            mib.limits(0),
            Limits {
                hard: 4000 * MIB,
                soft: 3200 * MIB
            }
        );
        let pct = get("memory_limiter/percentage");
        assert_eq!(
            pct.limit,
            Limit::Percentage {
                limit: 80,
                spike: 25
            }
        );
        let l = pct.limits(1000 * MIB);
        assert_eq!((l.hard, l.soft), (800 * MIB, 550 * MIB));
        let gc = get("memory_limiter/gc-keys");
        assert_eq!(gc.unneeded_keys().len(), 2);
        assert_eq!(
            gc.limit,
            Limit::Mib {
                limit: 500,
                spike: 100
            }
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = |yaml: &str| parse(yaml).expect_err(yaml);
        assert_eq!(e("limit_mib: 100").path, "check_interval");
        assert_eq!(
            e("check_interval: 0s\nlimit_mib: 100").path,
            "check_interval"
        );
        assert_eq!(
            e("check_interval: soon\nlimit_mib: 100").path,
            "check_interval"
        );
        assert_eq!(e("check_interval: 1s").path, "limit_mib");
        let x = e("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100");
        assert_eq!(x.path, "spike_limit_mib");
        assert!(x.message.contains("smaller than limit_mib"), "{x}");
        assert_eq!(
            e("check_interval: 1s\nlimit_percentage: 120").path,
            "limit_percentage"
        );
        assert_eq!(
            e("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60").path,
            "spike_limit_percentage"
        );
        assert_eq!(
            e("check_interval: 1s\nlimit_percentage: 50\nspike_limit_mib: 10").path,
            "spike_limit_mib"
        );
        assert!(
            e("check_interval: 1s\nlimit_mib: 1\nballast_size_mib: 1")
                .message
                .contains("unknown field")
        );
    }
}
