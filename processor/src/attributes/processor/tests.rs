//! The `attributes` processor against the Collector README's include/exclude examples: which
//! spans, log records and data points get the actions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use kafka_obs_api::{Batch, ComponentConfigError};

use super::AttributesConfig;

fn parse(yaml: &str) -> Result<AttributesConfig, ComponentConfigError> {
    AttributesConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(text(v)),
        ..Default::default()
    }
}

fn text(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

/// Spans `(service, span name, attributes)`, one resource each, scope `lib`.
fn spans(items: &[(&str, &str, Vec<KeyValue>)], lib: (&str, &str)) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: items
            .iter()
            .map(|(service, name, attrs)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: lib.0.into(),
                        version: lib.1.into(),
                        ..Default::default()
                    }),
                    spans: vec![Span {
                        name: (*name).into(),
                        attributes: attrs.clone(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

/// The attributes of every span, log record or data point, in order.
fn all_attrs(batch: &Batch) -> Vec<Vec<KeyValue>> {
    match batch {
        Batch::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|x| &x.scope_spans)
            .flat_map(|x| &x.spans)
            .map(|s| s.attributes.clone())
            .collect(),
        Batch::Logs(r) => r
            .resource_logs
            .iter()
            .flat_map(|x| &x.scope_logs)
            .flat_map(|x| &x.log_records)
            .map(|s| s.attributes.clone())
            .collect(),
        Batch::Metrics(r) => r
            .resource_metrics
            .iter()
            .flat_map(|x| &x.scope_metrics)
            .flat_map(|x| &x.metrics)
            .flat_map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s.data_points.clone(),
                _ => Vec::new(),
            })
            .map(|p| p.attributes)
            .collect(),
    }
}

fn has(attrs: &[KeyValue], k: &str) -> bool {
    attrs.iter().any(|kv| kv.key == k)
}

#[test]
fn regexp_include_services_and_strict_exclude_span_names() {
    // README: include services matching `auth.*`, exclude the span named `login`.
    let config = parse(
        r#"
include:
  match_type: regexp
  services: ["auth.*"]
exclude:
  match_type: strict
  span_names: ["login"]
actions:
  - key: password
    action: update
    value: obfuscated
  - key: token
    action: delete
"#,
    )
    .unwrap();
    let secret = || vec![kv("password", "p"), kv("token", "t")];
    let mut batch = spans(
        &[
            ("auth-svc", "verify", secret()),
            ("auth-svc", "login", secret()),
            ("billing", "verify", secret()),
        ],
        ("lib", "1"),
    );
    config.apply(&mut batch);
    let got = all_attrs(&batch);
    assert_eq!(got[0], vec![kv("password", "obfuscated")]);
    assert_eq!(got[1], secret(), "excluded by span name");
    assert_eq!(got[2], secret(), "not included by service");
}

#[test]
fn strict_include_with_attribute_values_and_libraries() {
    // README: services A/B whose spans have `redact_trace: false`, from one library version.
    let config = parse(
        r#"
include:
  match_type: strict
  services: ["svcA", "svcB"]
  attributes:
    - key: redact_trace
      value: false
  libraries:
    - name: mongo-java-driver
      version: 3.8.0
actions:
  - key: credit_card
    action: delete
"#,
    )
    .unwrap();
    let attrs = |redact: bool| {
        vec![
            KeyValue {
                key: "redact_trace".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(redact)),
                }),
                ..Default::default()
            },
            kv("credit_card", "4111"),
        ]
    };
    let mut batch = spans(
        &[
            ("svcA", "q", attrs(false)),
            ("svcB", "q", attrs(true)),
            ("svcC", "q", attrs(false)),
        ],
        ("mongo-java-driver", "3.8.0"),
    );
    config.apply(&mut batch);
    let got = all_attrs(&batch);
    assert!(!has(&got[0], "credit_card"));
    assert!(has(&got[1], "credit_card"), "attribute value differs");
    assert!(has(&got[2], "credit_card"), "service not listed");

    let mut other_version = spans(&[("svcA", "q", attrs(false))], ("mongo-java-driver", "3.9"));
    config.apply(&mut other_version);
    assert!(has(&all_attrs(&other_version)[0], "credit_card"));
}

#[test]
fn log_bodies_and_metric_names() {
    let logs_config = parse(
        r#"
include:
  match_type: regexp
  log_bodies: ["^AUTH"]
actions:
  - {key: audited, value: true, action: insert}
"#,
    )
    .unwrap();
    let mut logs = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: ["AUTH failed for bob", "GET /"]
                    .iter()
                    .map(|b| LogRecord {
                        body: Some(text(b)),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    logs_config.apply(&mut logs);
    let got = all_attrs(&logs);
    assert!(has(&got[0], "audited") && !has(&got[1], "audited"));

    let metrics_config = parse(
        r#"
exclude:
  match_type: strict
  metric_names: ["jvm.memory.heap.used"]
actions:
  - {key: kafka.cluster, value: prod, action: upsert}
"#,
    )
    .unwrap();
    let metric = |name: &str| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint::default()],
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut metrics = Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric("kafka.message.count"),
                    metric("jvm.memory.heap.used"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    metrics_config.apply(&mut metrics);
    let got = all_attrs(&metrics);
    assert_eq!(got[0], vec![kv("kafka.cluster", "prod")]);
    assert!(got[1].is_empty());
}

#[test]
fn errors_name_the_path() {
    let e = |yaml: &str| parse(yaml).expect_err(yaml);
    assert_eq!(e("{}").path, "actions");
    assert_eq!(
        e("actions: [{key: a, action: delete}]\ninclude: {services: [a]}").path,
        "include::match_type"
    );
    assert_eq!(
        e("actions: [{key: a, action: delete}]\nexclude: {match_type: regexp, span_names: ['(']}")
            .path,
        "exclude::span_names::0"
    );
    assert_eq!(
        e("actions: [{key: a, action: delete}]\ninclude: {match_type: strict}").path,
        "include"
    );
    assert_eq!(
        e("actions: [{key: a, action: delete}]\ninclude: {match_type: regexp, attributes: [{key: a, value: 1}]}").path,
        "include::attributes::0::value"
    );
    assert!(
        e("actions: [{key: a, action: delete}]\ninclude: {match_type: strict, span_kinds: [server]}")
            .message
            .contains("unknown field")
    );
}
