//! Sample requests for tests: every metric type and the field shapes that are easy to get
//! wrong in JSON (64-bit extremes, NaN, bytes, arrays, ids). Built only for this crate's tests
//! and for crates that enable the `fixtures` feature in their dev-dependencies.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use kafka_obs_api::Batch;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, metric, number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span, Status, span};

/// An attribute.
pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv(
                "service.name",
                any_value::Value::StringValue("orders".into()),
            ),
            kv("host.cpu", any_value::Value::IntValue(i64::MAX)),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "kafka-obs".into(),
        version: "0.1.0".into(),
        ..Default::default()
    })
}

/// Every metric type, with the field shapes that are easy to get wrong in JSON.
pub fn metrics() -> Batch {
    let point = |t: u64, v| NumberDataPoint {
        attributes: vec![kv("topic", any_value::Value::StringValue("orders".into()))],
        start_time_unix_nano: 1,
        time_unix_nano: t,
        value: Some(v),
        ..Default::default()
    };
    Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![
                    Metric {
                        name: "kafka.consumer.records-lag-max".into(),
                        unit: "{record}".into(),
                        description: "lag".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![
                                point(
                                    1_700_000_000_123_456_789,
                                    number_data_point::Value::AsInt(-5),
                                ),
                                point(2, number_data_point::Value::AsDouble(0.25)),
                            ],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "kafka.message.count".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![point(3, number_data_point::Value::AsInt(i64::MIN))],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "kafka.request.time".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: 4,
                                count: u64::MAX,
                                sum: Some(12.5),
                                bucket_counts: vec![1, 2, u64::MAX - 3],
                                explicit_bounds: vec![1.0, 10.0],
                                min: Some(0.5),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        data: Some(metric::Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                count: 3,
                                sum: 6.0,
                                quantile_values: vec![summary_data_point::ValueAtQuantile {
                                    quantile: 0.99,
                                    value: f64::NAN,
                                }],
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    })
}

/// A log record with every kind of attribute value, ids and an event name.
pub fn logs() -> Batch {
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: 10,
                    observed_time_unix_nano: 11,
                    severity_number: 13,
                    severity_text: "WARN".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "consumer group lagging".into(),
                        )),
                    }),
                    attributes: vec![
                        kv("ratio", any_value::Value::DoubleValue(0.5)),
                        kv("ok", any_value::Value::BoolValue(false)),
                        kv("raw", any_value::Value::BytesValue(vec![0, 255, 7])),
                        kv(
                            "list",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(any_value::Value::IntValue(1)),
                                }],
                            }),
                        ),
                    ],
                    trace_id: vec![0xab; 16],
                    span_id: vec![0x01; 8],
                    flags: 1,
                    event_name: "kafka.consumer.lag".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A span with ids, a kind, an event and a status.
pub fn traces() -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![Span {
                    trace_id: (0..16).collect(),
                    span_id: (0..8).collect(),
                    parent_span_id: vec![9; 8],
                    name: "poll".into(),
                    kind: span::SpanKind::Consumer as i32,
                    start_time_unix_nano: 100,
                    end_time_unix_nano: 200,
                    events: vec![span::Event {
                        time_unix_nano: 150,
                        name: "rebalance".into(),
                        ..Default::default()
                    }],
                    status: Some(Status {
                        message: "slow".into(),
                        code: 2,
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}
