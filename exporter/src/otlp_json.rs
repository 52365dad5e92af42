//! OTLP/JSON lines: one `Export*ServiceRequest` per line, as the Collector's fileexporter and
//! the OTLP file exporter spec write them.
//!
//! Encoding uses `opentelemetry-proto`'s serde support, which follows the OTLP/JSON rules:
//! lowerCamelCase keys, trace and span ids as hex, 64-bit integers as decimal strings, enums as
//! integers. A line's signal is told by its top-level key (`resourceMetrics`, `resourceLogs`,
//! `resourceSpans`), so one decoder reads any file. The file, debug and Kafka exporters share
//! the encoder; tests use the decoder to read back what was written.
//!
//! NaN and ±Infinity are written as `"NaN"`, `"Infinity"`, `"-Infinity"` as OTLP/JSON requires
//! (see [`special_floats`]). Known gap: `opentelemetry-proto`'s deserializer reads those strings
//! only in summary quantiles, so [`from_json_line`] cannot read a non-finite gauge value back
//! (the Collector can). Protobuf output carries them intact either way.

mod special_floats;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Deserialize;

use kafka_obs_api::Batch;

use special_floats::Special;

/// Why a batch could not be written or a line read as OTLP/JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    #[error("cannot encode the batch as OTLP/JSON: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("line {line}: not an OTLP/JSON request: {source}")]
    Decode {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "line {line}: no signal in the request; expected one of resourceMetrics, resourceLogs or resourceSpans"
    )]
    NoSignal { line: usize },
}

/// Appends `batch` as one line of OTLP/JSON, newline included.
pub fn write_json_line(batch: &Batch, out: &mut Vec<u8>) -> Result<(), JsonError> {
    match batch {
        Batch::Metrics(r) => serde_json::to_writer(&mut *out, &Special(r)),
        Batch::Logs(r) => serde_json::to_writer(&mut *out, &Special(r)),
        Batch::Traces(r) => serde_json::to_writer(&mut *out, &Special(r)),
    }
    .map_err(JsonError::Encode)?;
    out.push(b'\n');
    Ok(())
}

/// `batch` as one line of OTLP/JSON, without the newline.
pub fn to_json_line(batch: &Batch) -> Result<String, JsonError> {
    match batch {
        Batch::Metrics(r) => serde_json::to_string(&Special(r)),
        Batch::Logs(r) => serde_json::to_string(&Special(r)),
        Batch::Traces(r) => serde_json::to_string(&Special(r)),
    }
    .map_err(JsonError::Encode)
}

/// Any of the three requests; the key that is present tells the signal.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyRequest {
    resource_metrics: Option<Vec<ResourceMetrics>>,
    resource_logs: Option<Vec<ResourceLogs>>,
    resource_spans: Option<Vec<ResourceSpans>>,
}

/// Reads one line of OTLP/JSON (`line_no` is only used in errors).
pub fn from_json_line(line: &str, line_no: usize) -> Result<Batch, JsonError> {
    let any: AnyRequest = serde_json::from_str(line).map_err(|source| JsonError::Decode {
        line: line_no,
        source,
    })?;
    if let Some(resource_metrics) = any.resource_metrics {
        Ok(Batch::Metrics(ExportMetricsServiceRequest {
            resource_metrics,
        }))
    } else if let Some(resource_logs) = any.resource_logs {
        Ok(Batch::Logs(ExportLogsServiceRequest { resource_logs }))
    } else if let Some(resource_spans) = any.resource_spans {
        Ok(Batch::Traces(ExportTraceServiceRequest { resource_spans }))
    } else {
        Err(JsonError::NoSignal { line: line_no })
    }
}

/// Reads every non-blank line of an OTLP/JSON lines text, in order.
pub fn from_json_lines(text: &str) -> Result<Vec<Batch>, JsonError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| from_json_line(l, i + 1))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
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
                                data_points: vec![point(
                                    3,
                                    number_data_point::Value::AsInt(i64::MIN),
                                )],
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

    /// NaN never equals itself; compare the rest of the metrics batch by its protobuf bytes.
    fn same(a: &Batch, b: &Batch) -> bool {
        use prost::Message;
        let bytes = |x: &Batch| match x {
            Batch::Metrics(r) => r.encode_to_vec(),
            Batch::Logs(r) => r.encode_to_vec(),
            Batch::Traces(r) => r.encode_to_vec(),
        };
        bytes(a) == bytes(b)
    }

    #[test]
    fn lines_decode_back_to_the_same_requests() {
        let batches = [metrics(), logs(), traces()];
        let mut text = Vec::new();
        for b in &batches {
            write_json_line(b, &mut text).expect("encodes");
        }
        let text = String::from_utf8(text).expect("utf-8");
        assert_eq!(text.lines().count(), 3, "one request per line");
        let back = from_json_lines(&text).expect("decodes");
        assert_eq!(back.len(), 3);
        for (a, b) in batches.iter().zip(&back) {
            assert!(same(a, b), "{a:?}\n!=\n{b:?}");
        }
    }

    #[test]
    fn lines_follow_the_otlp_json_spec() {
        let line = to_json_line(&traces()).expect("encodes");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "000102030405060708090a0b0c0d0e0f");
        assert_eq!(span["spanId"], "0001020304050607");
        assert_eq!(span["startTimeUnixNano"], "100");
        assert_eq!(span["kind"], 5, "enums are integers");
        let attr = &v["resourceSpans"][0]["resource"]["attributes"][1]["value"];
        assert_eq!(attr["intValue"], i64::MAX.to_string());

        let line = to_json_line(&metrics()).expect("encodes");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        let m = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
        assert_eq!(m[0]["gauge"]["dataPoints"][0]["asInt"], "-5");
        assert_eq!(
            m[0]["gauge"]["dataPoints"][0]["timeUnixNano"],
            "1700000000123456789"
        );
        assert_eq!(m[1]["sum"]["isMonotonic"], true);
        assert_eq!(
            m[2]["histogram"]["dataPoints"][0]["count"],
            u64::MAX.to_string()
        );
        assert_eq!(
            m[3]["summary"]["dataPoints"][0]["quantileValues"][0]["value"],
            "NaN"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn non_finite_doubles_are_written_as_strings() {
        let mut batch = metrics();
        if let Batch::Metrics(r) = &mut batch {
            let ms = &mut r.resource_metrics[0].scope_metrics[0].metrics;
            if let Some(metric::Data::Gauge(g)) = &mut ms[0].data {
                g.data_points[1].value = Some(number_data_point::Value::AsDouble(f64::NAN));
            }
            if let Some(metric::Data::Histogram(h)) = &mut ms[2].data {
                h.data_points[0].sum = Some(f64::INFINITY);
                h.data_points[0].min = Some(f64::NEG_INFINITY);
            }
        }
        let line = to_json_line(&batch).expect("encodes");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        let m = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
        assert_eq!(m[0]["gauge"]["dataPoints"][1]["asDouble"], "NaN");
        assert_eq!(
            m[0]["gauge"]["dataPoints"][0]["asInt"], "-5",
            "other values untouched"
        );
        assert_eq!(m[2]["histogram"]["dataPoints"][0]["sum"], "Infinity");
        assert_eq!(m[2]["histogram"]["dataPoints"][0]["min"], "-Infinity");
        assert_eq!(
            m[2]["histogram"]["dataPoints"][0]["explicitBounds"][1],
            10.0
        );
        assert!(!line.contains("\"asDouble\":null"), "{line}");
    }

    #[test]
    fn bad_lines_are_errors_with_line_numbers() {
        let err = from_json_lines("{\"resourceLogs\":[]}\n\n{\"x\":1}\n").expect_err("no signal");
        assert!(matches!(err, JsonError::NoSignal { line: 3 }), "{err}");
        let err = from_json_lines("not json").expect_err("not json");
        assert!(matches!(err, JsonError::Decode { line: 1, .. }), "{err}");
    }
}
