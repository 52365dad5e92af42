//! The top-level shape of the file and the `service` section, as serde sees them.
//!
//! Component bodies stay untyped YAML here: only their factories know their shape. The
//! `service.telemetry` section follows the Collector's layout (`logs.level`, `metrics.address`
//! or `metrics.readers`, `traces.processors`), restricted to what kafka-obs implements.
//!
//! The top level is read key by key ([`RawConfig::read`]): each section, each pipeline and
//! each `service` key on its own, so a mistake near the top does not hide the ones below it,
//! and what could not be read is remembered so that later checks do not blame its absence.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_obs_api::config::{de, plain_words};
use kafka_obs_api::{ComponentConfigError, parse_component_config};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::ConfigError;

/// The five component sections, in the order the Collector documents them.
pub(crate) const SECTIONS: [&str; 5] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
];

#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub receivers: BTreeMap<String, Value>,
    pub processors: BTreeMap<String, Value>,
    pub exporters: BTreeMap<String, Value>,
    pub connectors: BTreeMap<String, Value>,
    pub extensions: BTreeMap<String, Value>,
    pub service: RawService,
    /// Sections that are there but could not be read (their error is reported): a reference
    /// into one is not also called undefined.
    pub unreadable: BTreeSet<&'static str>,
}

impl RawConfig {
    /// Reads the top level of the merged document, every part on its own; each mistake goes
    /// to `errors` with its key path.
    pub(crate) fn read(document: &Value, errors: &mut Vec<ConfigError>) -> Self {
        let mut raw = Self::default();
        let Value::Mapping(top) = document else {
            return raw; // the source refuses a document that is not a mapping
        };
        for (key, body) in top {
            let key = crate::expand::key_text(key);
            let section = SECTIONS.iter().find(|s| **s == key).copied();
            match (section, key.as_str()) {
                (Some(name), _) => {
                    let read = read_part::<BTreeMap<String, Value>>(name, body, errors);
                    let slot = match name {
                        "receivers" => &mut raw.receivers,
                        "processors" => &mut raw.processors,
                        "exporters" => &mut raw.exporters,
                        "connectors" => &mut raw.connectors,
                        _ => &mut raw.extensions,
                    };
                    match read {
                        Some(map) => *slot = map,
                        None => {
                            raw.unreadable.insert(name);
                        }
                    }
                }
                (None, "service") => raw.service = RawService::read(body, errors),
                (None, other) => errors.push(ConfigError::new(
                    other,
                    format!(
                        "unknown field `{other}` at the top level; a config has receivers, processors, exporters, connectors, extensions and service"
                    ),
                )),
            }
        }
        raw
    }
}

/// Reads one part of the document at `path`; its errors go to `errors`, `None` when it has any.
fn read_part<T: serde::de::DeserializeOwned + Default>(
    path: &str,
    body: &Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match parse_component_config::<T>(body) {
        Ok(v) => Some(v),
        Err(e) => {
            push_all(path, e, errors);
            None
        }
    }
}

/// Every error of a component-shaped body, prefixed with where the body is.
pub(crate) fn push_all(prefix: &str, e: ComponentConfigError, errors: &mut Vec<ConfigError>) {
    for e in e.into_all() {
        let path = if e.path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}::{}", e.path)
        };
        errors.push(ConfigError::new(path, e.message));
    }
}

#[derive(Debug)]
pub(crate) struct RawService {
    pub extensions: Vec<String>,
    pub pipelines: BTreeMap<String, RawPipeline>,
    /// False when `service.pipelines`, or one pipeline in it, could not be read: checks that
    /// need every pipeline (one defined at all, connectors used on both sides) are skipped.
    pub pipelines_complete: bool,
    pub telemetry: RawTelemetry,
    /// How long exporters get to flush on shutdown before what is left is counted as dropped.
    pub shutdown_timeout: Duration,
}

impl Default for RawService {
    fn default() -> Self {
        Self {
            extensions: Vec::new(),
            pipelines: BTreeMap::new(),
            pipelines_complete: true,
            telemetry: RawTelemetry::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl RawService {
    fn read(body: &Value, errors: &mut Vec<ConfigError>) -> Self {
        let mut service = Self::default();
        let map = match body {
            Value::Null => return service,
            Value::Mapping(m) => m,
            _ => {
                errors.push(ConfigError::new(
                    "service",
                    "`service` must be a mapping with pipelines (and extensions, telemetry, shutdown_timeout)",
                ));
                service.pipelines_complete = false;
                return service;
            }
        };
        for (key, value) in map {
            let key = crate::expand::key_text(key);
            let path = format!("service::{key}");
            match key.as_str() {
                "extensions" => {
                    service.extensions = read_part(&path, value, errors).unwrap_or_default();
                }
                "pipelines" => service.read_pipelines(&path, value, errors),
                "telemetry" => {
                    service.telemetry = read_part(&path, value, errors).unwrap_or_default();
                }
                "shutdown_timeout" => match de::duration(value.clone()) {
                    Ok(d) => service.shutdown_timeout = d,
                    Err(e) => errors.push(ConfigError::new(path, plain_words(&e.to_string()))),
                },
                other => errors.push(ConfigError::new(
                    path,
                    format!(
                        "unknown field `{other}`, expected one of `extensions`, `pipelines`, `telemetry`, `shutdown_timeout`"
                    ),
                )),
            }
        }
        service
    }

    /// Each pipeline on its own, so one written wrong does not hide the others.
    fn read_pipelines(&mut self, path: &str, value: &Value, errors: &mut Vec<ConfigError>) {
        let Some(written) = read_part::<BTreeMap<String, Value>>(path, value, errors) else {
            self.pipelines_complete = false;
            return;
        };
        for (name, body) in written {
            match read_part::<RawPipeline>(&format!("{path}::{name}"), &body, errors) {
                Some(p) => {
                    self.pipelines.insert(name, p);
                }
                None => self.pipelines_complete = false,
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawPipeline {
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTelemetry {
    pub logs: LogSettings,
    pub metrics: RawMetrics,
    pub traces: RawTraces,
    /// Resource attributes on the collector's own telemetry.
    pub resource: BTreeMap<String, String>,
}

/// `service.telemetry.logs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `trace`, `debug`, `info`, `warn` or `error` (or a `tracing` filter directive).
    pub level: String,
    pub encoding: LogEncoding,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            encoding: LogEncoding::Console,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMetrics {
    pub level: MetricsLevel,
    /// The Prometheus scrape address (the Collector's older key, kept because it is short).
    pub address: Option<String>,
    pub readers: Vec<RawReader>,
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self {
            level: MetricsLevel::Normal,
            address: None,
            readers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    None,
    Basic,
    Normal,
    Detailed,
}

/// One entry of `metrics.readers`: exactly one of `pull` or `periodic`. (A struct of options
/// rather than an enum: externally tagged enums do not deserialize from an untyped YAML value.)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReader {
    pub pull: Option<RawPull>,
    pub periodic: Option<RawPeriodic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPull {
    pub exporter: RawPullExporter,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPullExporter {
    pub prometheus: RawPrometheus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrometheus {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeriodic {
    /// Milliseconds, as the Collector writes it.
    #[serde(default = "default_interval_ms")]
    pub interval: u64,
    pub exporter: RawPushExporter,
}

fn default_interval_ms() -> u64 {
    60_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPushExporter {
    pub otlp: RawOtlp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
    #[serde(default = "default_protocol")]
    pub protocol: String,
    pub endpoint: String,
}

fn default_protocol() -> String {
    "grpc".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTraces {
    pub processors: Vec<RawSpanProcessor>,
}

/// One entry of `traces.processors`; `batch` is the only kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpanProcessor {
    pub batch: RawBatchSpanProcessor,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBatchSpanProcessor {
    pub exporter: RawPushExporter,
}

/// Where the collector pushes its own telemetry over OTLP/gRPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpPushSettings {
    pub endpoint: String,
    pub interval: Duration,
}

/// `service.telemetry.metrics`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    pub level: MetricsLevel,
    /// Prometheus scrape address; `None` when `level: none`.
    pub address: Option<String>,
    pub otlp: Option<OtlpPushSettings>,
}

/// `service.telemetry.traces`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracesSettings {
    pub otlp: Option<OtlpPushSettings>,
}

/// `service.telemetry`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    pub logs: LogSettings,
    pub metrics: MetricsSettings,
    pub traces: TracesSettings,
    pub resource: BTreeMap<String, String>,
}

pub(crate) const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:8888";
