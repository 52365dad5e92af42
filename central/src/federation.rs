//! The `hierarchy` connector's federation keys: `federate` (the child side: send this
//! hierarchy's cells at a level cut, under a prefix, to the logs pipeline that carries them
//! to the parent) and `federation` (the parent side: how many cells each child may create).
//! The contract itself, and what both sides do with it, is `kafka_obs_cells::federation`.
//!
//! ```yaml
//! connectors:
//!   hierarchy:
//!     source_id: central-eu-1
//!     federate:
//!       pipeline: logs/federation
//!       level: cluster
//!       prefix: {region: eu-1}
//!       interval: 1s
//!       resend_interval: 30s
//!     federation: {max_cells_per_child: 10000}
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_cells::duration;
use kafka_obs_cells::federation::{Cut, PublisherConfig};
use kafka_obs_signal::Subject;
use serde::Deserialize;

/// The engine's default `source_id`: a hierarchy that federates must name itself.
const DEFAULT_SOURCE_ID: &str = "kafka-obs-central";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawFederate {
    pipeline: String,
    level: String,
    prefix: BTreeMap<String, String>,
    #[serde(with = "duration")]
    interval: Duration,
    #[serde(with = "duration")]
    resend_interval: Duration,
}

impl Default for RawFederate {
    fn default() -> Self {
        Self {
            pipeline: String::new(),
            level: "cluster".into(),
            prefix: BTreeMap::new(),
            interval: Duration::from_secs(1),
            resend_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawFederation {
    max_cells_per_child: usize,
}

impl Default for RawFederation {
    fn default() -> Self {
        Self {
            max_cells_per_child: 10_000,
        }
    }
}

/// The child side, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederateSettings {
    /// The logs pipeline (`logs/federation`) that receives the records, and only them.
    pub pipeline: String,
    /// What the publisher needs (id, cut, prefix, resend interval).
    pub publisher: PublisherConfig,
    /// How often changed cells are gathered and sent.
    pub interval: Duration,
}

/// The parent side, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FederationSettings {
    /// Cells each child (the sending hierarchy) may create here; more are refused, counted.
    pub max_cells_per_child: usize,
}

fn err(path: &str, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

pub(crate) fn parse_federate(
    raw: &RawFederate,
    source_id: &str,
) -> Result<FederateSettings, ComponentConfigError> {
    let pipeline = raw.pipeline.trim();
    if pipeline != "logs" && !pipeline.starts_with("logs/") {
        return Err(err(
            "federate::pipeline",
            format!(
                "{pipeline:?} must name the logs pipeline that carries the federated cells to the parent (and nothing else), e.g. logs/federation, listing this connector as its receiver"
            ),
        ));
    }
    let cut = Cut::parse(raw.level.trim()).ok_or_else(|| {
        err(
            "federate::level",
            format!(
                "{:?} is not a level cut; use one of {}",
                raw.level,
                Cut::NAMES.join(", ")
            ),
        )
    })?;
    let mut prefix = Vec::new();
    for (level, value) in &raw.prefix {
        let key = format!("federate::prefix::{level}");
        if level == "cluster" || Cut::parse(level).is_some() {
            return Err(err(
                &key,
                "the prefix goes above the cluster; name a level of your own, e.g. region",
            ));
        }
        // The value must survive a qualified path (`region=eu-1/cluster=...`) both ways.
        let plain = !value.is_empty() && !value.contains(['/', '=']);
        if !plain || Subject::from_pairs([(level.as_str(), value.as_str())]).is_err() {
            return Err(err(
                &key,
                format!("{value:?} is not a subject segment value (non-empty, no '/' or '=')"),
            ));
        }
        prefix.push((level.clone(), value.clone()));
    }
    if raw.interval < Duration::from_millis(100) {
        return Err(err("federate::interval", "must be at least 100ms, e.g. 1s"));
    }
    if raw.resend_interval < raw.interval {
        return Err(err(
            "federate::resend_interval",
            "must be at least federate::interval; keep it well under the parent's stale_after (e.g. 30s against 3m)",
        ));
    }
    if source_id == DEFAULT_SOURCE_ID {
        return Err(err(
            "source_id",
            "a hierarchy that federates must have a source_id of its own (e.g. central-eu-1): federated cells carry the ids of the hierarchies they passed, and a parent refuses cells whose path holds its own",
        ));
    }
    Ok(FederateSettings {
        pipeline: pipeline.to_string(),
        publisher: PublisherConfig {
            id: source_id.to_string(),
            cut,
            prefix,
            resend_interval_ns: u64::try_from(raw.resend_interval.as_nanos()).unwrap_or(u64::MAX),
        },
        interval: raw.interval,
    })
}

pub(crate) fn parse_federation(
    raw: &RawFederation,
) -> Result<FederationSettings, ComponentConfigError> {
    if raw.max_cells_per_child == 0 {
        return Err(err(
            "federation::max_cells_per_child",
            "must be at least 1, e.g. 10000",
        ));
    }
    Ok(FederationSettings {
        max_cells_per_child: raw.max_cells_per_child,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::HierarchyConnectorConfig;

    fn parse(yaml: &str) -> Result<HierarchyConnectorConfig, String> {
        HierarchyConnectorConfig::parse(&serde_yaml_ng::from_str(yaml).unwrap())
            .map_err(|e| e.to_string())
    }

    const OK: &str = "source_id: central-eu-1\nfederate: {pipeline: logs/federation, level: service, prefix: {region: eu-1}, resend_interval: 10s}\n";

    #[test]
    fn a_federate_block_is_read_with_its_cut_and_prefix() {
        let c = parse(OK).unwrap();
        let f = c.federate.unwrap();
        assert_eq!(f.pipeline, "logs/federation");
        assert_eq!(f.publisher.id, "central-eu-1");
        assert_eq!(
            f.publisher.prefix,
            vec![("region".to_string(), "eu-1".to_string())]
        );
        assert_eq!(f.publisher.resend_interval_ns, 10_000_000_000);
        assert_eq!(c.federation.max_cells_per_child, 10_000);
        assert!(parse("{}").unwrap().federate.is_none());
    }

    #[test]
    fn bad_federation_keys_are_refused_by_key_path() {
        for (yaml, key) in [
            (
                "source_id: a\nfederate: {pipeline: metrics/x}",
                "federate::pipeline",
            ),
            ("source_id: a\nfederate: {}", "federate::pipeline"),
            (
                "source_id: a\nfederate: {pipeline: logs/f, level: topic}",
                "federate::level",
            ),
            (
                "source_id: a\nfederate: {pipeline: logs/f, prefix: {cluster: x}}",
                "federate::prefix::cluster",
            ),
            (
                "source_id: a\nfederate: {pipeline: logs/f, prefix: {region: 'a/b'}}",
                "federate::prefix::region",
            ),
            (
                "source_id: a\nfederate: {pipeline: logs/f, interval: 10ms}",
                "federate::interval",
            ),
            (
                "source_id: a\nfederate: {pipeline: logs/f, interval: 5s, resend_interval: 1s}",
                "federate::resend_interval",
            ),
            ("federate: {pipeline: logs/f}", "source_id"),
            (
                "federation: {max_cells_per_child: 0}",
                "federation::max_cells_per_child",
            ),
            ("federate: {pipeline: logs/f, levle: cluster}", "levle"),
        ] {
            let e = parse(yaml).expect_err(yaml);
            assert!(e.contains(key), "{yaml}: {e}");
        }
    }
}
