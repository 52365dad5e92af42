//! Test harness for the signal engine: builds OTLP requests from `(metric, attributes,
//! value)` triples, steps a clock by one poll (10 s) per evaluation, and renders signals as
//! `Instrument.SIGN[.DIMENSION]@rule` for table-driven assertions.

#![allow(dead_code)]

use kafka_obs_processor::signals::{Engine, Evaluation, SignalsConfig};
use kafka_obs_signal::Signal;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub const SECOND: u64 = 1_000_000_000;
pub const START: u64 = 1_700_000_000 * SECOND;

/// One data point.
#[derive(Debug, Clone)]
pub struct P {
    pub metric: String,
    pub attrs: Vec<(String, String)>,
    pub value: f64,
}

pub fn p(metric: &str, attrs: &[(&str, &str)], value: f64) -> P {
    P {
        metric: metric.to_string(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// A request with one resource and one gauge per point (as a JMX poll produces).
pub fn request(resource: &[(&str, &str)], points: &[P], time: u64) -> ExportMetricsServiceRequest {
    let metrics = points
        .iter()
        .map(|pt| Metric {
            name: pt.metric.clone(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: pt.attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsDouble(pt.value)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

pub const RESOURCE: &[(&str, &str)] = &[
    ("kafka.cluster", "prod"),
    ("service.name", "order-service"),
    ("service.instance.id", "pod-1"),
];

/// An engine, a clock and a resource.
pub struct Harness {
    pub engine: Engine,
    pub now: u64,
    pub step: u64,
    pub resource: Vec<(&'static str, &'static str)>,
}

impl Harness {
    pub fn new(yaml: &str) -> Self {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        let config = SignalsConfig::parse(&value).expect("valid config");
        Self {
            engine: Engine::new(config),
            now: START,
            step: 10 * SECOND,
            resource: RESOURCE.to_vec(),
        }
    }

    /// One poll, 10 s after the previous one.
    pub fn poll(&mut self, points: &[P]) -> Evaluation {
        self.now += self.step;
        let req = request(&self.resource, points, self.now);
        self.engine.evaluate(&req, self.now)
    }

    /// Polls and renders the rule signals (not first statuses or heartbeats).
    pub fn said(&mut self, points: &[P]) -> Vec<String> {
        said(&self.poll(points).signals)
    }
}

/// `Instrument.SIGN[.DIMENSION]@rule` of each signal that a rule emitted (signals the engine
/// adds itself, first statuses, heartbeats and staleness, carry a `reason` and are left out).
pub fn said(signals: &[Signal]) -> Vec<String> {
    signals
        .iter()
        .filter(|s| !s.attributes.contains_key("reason"))
        .map(|s| format!("{}@{}", s.kind, s.evidence.rule))
        .collect()
}

/// Every signal, with the reason when the engine added it.
pub fn all(signals: &[Signal]) -> Vec<String> {
    signals
        .iter()
        .map(|s| match s.attributes.get("reason") {
            Some(r) => format!("{}@{}#{r}", s.kind, s.evidence.rule),
            None => format!("{}@{}", s.kind, s.evidence.rule),
        })
        .collect()
}
