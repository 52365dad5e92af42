//! The top-level shape of the file and the `service` section, as serde sees them.
//!
//! Component bodies stay untyped YAML here: only their factories know their shape. The
//! `service.telemetry` section follows the Collector's layout (`logs.level`, `metrics.address`
//! or `metrics.readers`, `traces.processors`), restricted to what kafka-obs implements.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_obs_api::config::de;
use serde::Deserialize;
use serde_yaml_ng::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    pub receivers: BTreeMap<String, Value>,
    pub processors: BTreeMap<String, Value>,
    pub exporters: BTreeMap<String, Value>,
    pub connectors: BTreeMap<String, Value>,
    pub extensions: BTreeMap<String, Value>,
    pub service: RawService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawService {
    pub extensions: Vec<String>,
    pub pipelines: BTreeMap<String, RawPipeline>,
    pub telemetry: RawTelemetry,
    /// How long exporters get to flush on shutdown before what is left is counted as dropped.
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_timeout: Duration,
}

impl Default for RawService {
    fn default() -> Self {
        Self {
            extensions: Vec::new(),
            pipelines: BTreeMap::new(),
            telemetry: RawTelemetry::default(),
            shutdown_timeout: Duration::from_secs(10),
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
