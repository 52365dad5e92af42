//! Signals on the wire as OTLP, so any OpenTelemetry backend can store and query them.
//!
//! - [`logs`]: each signal is an OpenTelemetry *event*, a log record with
//!   `event_name = "kafka_obs.signal"`, the signal's fields as `signal.*` attributes, a short
//!   human sentence as body and a severity from its status. Decoding is lossless and checks
//!   everything. Also the grouping of signals into an `ExportLogsServiceRequest` and back.
//! - [`status`]: statuses as the `kafka_obs.status` gauge, one point per subject, so Grafana
//!   can chart each subject's health over time.
//!
//! Attribute names are constants in [`attr`] and [`status::attr`]; they are a public
//! contract (dashboards and the aggregator query them), documented on each constant.

pub mod logs;
pub mod status;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};

/// The `event_name` of every signal log record.
pub const EVENT_NAME: &str = "kafka_obs.signal";

/// The instrumentation scope name used for signal logs and status metrics.
pub const SCOPE_NAME: &str = "kafka-obs-signal";

/// Attribute keys of signal log records. Every key starting with `signal.` is reserved.
pub mod attr {
    /// The instrument (or language): `Queues`, `Statuses`, ... (string).
    pub const INSTRUMENT: &str = "signal.instrument";
    /// The sign: `OVERFLOW`, `DEGRADED`, ... (string).
    pub const SIGN: &str = "signal.sign";
    /// The dimension, only for instruments that have one: `OUTBOUND`, `CONFIRMED`, ...
    /// (string).
    pub const DIMENSION: &str = "signal.dimension";
    /// The subject's path of values: `prod/order-service/pod-1/order-producer/orders`
    /// (string).
    pub const SUBJECT: &str = "signal.subject";
    /// The subject's path of levels, segment by segment with [`SUBJECT`]:
    /// `cluster/service/instance/client/topic` (string).
    pub const SUBJECT_LEVELS: &str = "signal.subject_levels";
    /// The rule id: `P1`, `C4`, a user rule's name (string).
    pub const RULE: &str = "signal.rule";
    /// The rule's threshold, when it had one (double).
    pub const THRESHOLD: &str = "signal.threshold";
    /// The emitting source: `order-service-pod-abc123` (string).
    pub const SOURCE_ID: &str = "signal.source_id";
    /// The per-source sequence number (int; a string of digits above `i64::MAX`).
    pub const SEQUENCE: &str = "signal.sequence";
    /// Prefix of evidence values: `signal.evidence.utilization = 0.97` (double).
    pub const EVIDENCE_PREFIX: &str = "signal.evidence.";
    /// Prefix that escapes a signal's own attribute whose key itself starts with `signal.`
    /// (other own attributes are written under their own key).
    pub const ATTRIBUTE_PREFIX: &str = "signal.attribute.";
    /// Prefix of the whole reserved namespace.
    pub const RESERVED_PREFIX: &str = "signal.";
}

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..InstrumentationScope::default()
    }
}

pub(crate) fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

pub(crate) fn string(value: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

/// Resource attributes for exported signals and status metrics: the exporting collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportResource {
    /// `service.name` of the resource (default `kafka-obs`).
    pub service_name: String,
    /// More resource attributes (`host.name`, `deployment.environment.name`, ...).
    pub attributes: Vec<(String, String)>,
}

impl Default for ExportResource {
    fn default() -> Self {
        Self {
            service_name: "kafka-obs".to_string(),
            attributes: Vec::new(),
        }
    }
}

impl ExportResource {
    /// The OTLP resource for signals from `source_id`: `service.name`, then
    /// `service.instance.id = source_id` when it is not empty, then the extra attributes.
    pub(crate) fn resource(
        &self,
        source_id: &str,
    ) -> opentelemetry_proto::tonic::resource::v1::Resource {
        let mut attributes = vec![kv("service.name", string(&self.service_name))];
        if !source_id.is_empty() {
            attributes.push(kv("service.instance.id", string(source_id)));
        }
        attributes.extend(
            self.attributes
                .iter()
                .filter(|(k, _)| {
                    k != "service.name" && (source_id.is_empty() || k != "service.instance.id")
                })
                .map(|(k, v)| kv(k.as_str(), string(v))),
        );
        opentelemetry_proto::tonic::resource::v1::Resource {
            attributes,
            ..Default::default()
        }
    }
}
