//! OTLP requests built from the codec's own fixtures (every metric type, ids, 64-bit extremes)
//! and then stretched: resources repeated, attributes by the thousand, attribute values nested
//! hundreds of levels deep (past prost's recursion limit), long strings, non-finite and extreme
//! numbers, ids of the wrong length. Encoded the way each transport carries them: protobuf in
//! gRPC frames (optionally gzip-compressed), HTTP bodies (protobuf or JSON, optionally gzip), and
//! Kafka record values.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use kafka_obs_api::{Batch, DataKind};
use kafka_obs_kafka_client::record::{self, Encoding};
use kafka_obs_otlp_json::fixtures;

use super::{draw, size};
use crate::targets::{HTTP_GZIP, HTTP_JSON, RECORD_JSON, kind_of};

/// Protobuf tags and varints the mutator splices in.
pub static PROTO_DICTIONARY: &[&[u8]] = &[
    b"\x0a",
    b"\x12",
    b"\x1a",
    b"\x22",
    b"\x0a\xff\xff\xff\xff\x0f",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x00\x00\x00\x00\x00",
    b"\x01\x00\x00\x00\x10",
    b"\x1f\x8b\x08\x00",
];

/// OTLP/JSON keys and values the mutator splices in.
pub static JSON_DICTIONARY: &[&[u8]] = &[
    b"{\"resourceMetrics\":[",
    b"{\"resourceLogs\":[",
    b"{\"resourceSpans\":[",
    b"\"scopeMetrics\":[{\"metrics\":[",
    b"\"gauge\":{\"dataPoints\":[{\"asDouble\":",
    b"\"sum\":{\"dataPoints\":[{\"asInt\":\"",
    b"\"histogram\":{\"dataPoints\":[{\"bucketCounts\":[",
    b"\"attributes\":[{\"key\":\"k\",\"value\":{\"kvlistValue\":{\"values\":[",
    b"{\"arrayValue\":{}}",
    b"\"traceId\":\"",
    b"\"NaN\"",
    b"\"Infinity\"",
    b"\"-9223372036854775808\"",
    b"18446744073709551615",
    b"1e999",
    b"\\ud800",
    b"[[[[[[[[[[[[[[[[",
];

/// A stretched request of `kind`.
pub fn batch(runner: &mut TestRunner, kind: DataKind) -> Batch {
    let mut batch = match kind {
        DataKind::Metrics => fixtures::metrics(),
        DataKind::Logs => fixtures::logs(),
        DataKind::Traces => fixtures::traces(),
    };
    let copies = size(runner, 200).max(1);
    let attributes = stretched_attributes(runner, copies);
    let extreme = runner.rng().random_bool(0.3);
    match &mut batch {
        Batch::Metrics(r) => {
            for rm in &mut r.resource_metrics {
                rm.resource
                    .get_or_insert_default()
                    .attributes
                    .extend(attributes.iter().cloned());
                if extreme {
                    for metric in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
                        extremes(runner, metric);
                    }
                }
            }
            r.resource_metrics = repeat(&r.resource_metrics, copies);
        }
        Batch::Logs(r) => {
            for rl in &mut r.resource_logs {
                rl.resource
                    .get_or_insert_default()
                    .attributes
                    .extend(attributes.iter().cloned());
            }
            r.resource_logs = repeat(&r.resource_logs, copies);
        }
        Batch::Traces(r) => {
            for rs in &mut r.resource_spans {
                rs.resource
                    .get_or_insert_default()
                    .attributes
                    .extend(attributes.iter().cloned());
                for span in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
                    if extreme {
                        // Ids of the wrong length: valid protobuf, invalid OTLP.
                        span.trace_id = vec![0xAB; size(runner, 40)];
                        span.span_id = vec![0xCD; size(runner, 12)];
                    }
                }
            }
            r.resource_spans = repeat(&r.resource_spans, copies);
        }
    }
    batch
}

/// An OTLP/gRPC request body: selector byte, then one gRPC frame (gzip-compressed or not).
pub fn grpc(runner: &mut TestRunner) -> Vec<u8> {
    let selector = draw(runner, 0u8..3);
    let message = proto(&batch(runner, kind_of(selector)));
    let compress = runner.rng().random_bool(0.3);
    let payload = if compress { gzip(&message) } else { message };
    let mut out = vec![selector, u8::from(compress)];
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&payload);
    out
}

/// An OTLP/HTTP body: selector byte (signal, JSON, gzip), then the body.
pub fn http(runner: &mut TestRunner) -> Vec<u8> {
    let signal = draw(runner, 0u8..3);
    let json = runner.rng().random_bool(0.5);
    let compress = runner.rng().random_bool(0.3);
    let batch = batch(runner, kind_of(signal));
    let body = if json {
        json_body(&batch)
    } else {
        proto(&batch)
    };
    let body = if compress { gzip(&body) } else { body };
    let mut selector = signal;
    if json {
        selector |= HTTP_JSON;
    }
    if compress {
        selector |= HTTP_GZIP;
    }
    let mut out = vec![selector];
    out.extend_from_slice(&body);
    out
}

/// An OTLP/JSON body: selector byte, then the JSON.
pub fn json(runner: &mut TestRunner) -> Vec<u8> {
    let selector = draw(runner, 0u8..3);
    let mut out = vec![selector];
    out.extend_from_slice(&json_body(&batch(runner, kind_of(selector))));
    out
}

/// A Kafka record value: selector byte (signal, JSON), then the value as the exporter writes it.
pub fn kafka_record(runner: &mut TestRunner) -> Vec<u8> {
    let signal = draw(runner, 0u8..3);
    let json = runner.rng().random_bool(0.5);
    let encoding = if json {
        Encoding::OtlpJson
    } else {
        Encoding::OtlpProto
    };
    let value = record::encode(&batch(runner, kind_of(signal)), encoding).unwrap_or_default();
    let mut out = vec![if json { signal | RECORD_JSON } else { signal }];
    out.extend_from_slice(&value);
    out
}

fn proto(batch: &Batch) -> Vec<u8> {
    record::encode(batch, Encoding::OtlpProto).unwrap_or_default()
}

fn json_body(batch: &Batch) -> Vec<u8> {
    kafka_obs_otlp_json::to_json_line(batch)
        .map(String::into_bytes)
        .unwrap_or_default()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn repeat<T: Clone>(items: &[T], copies: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len() * copies);
    for _ in 0..copies {
        out.extend_from_slice(items);
    }
    out
}

/// Many attributes, one of them nested deep, with long keys and values; fewer and shorter
/// when the resource is repeated `copies` times, so a request stays near the receivers' limits
/// (4 MiB gRPC, 20 MiB HTTP) rather than far past them, where it would only slow the fuzzer.
fn stretched_attributes(runner: &mut TestRunner, copies: usize) -> Vec<KeyValue> {
    let count = size(runner, (200_000 / copies).min(5_000));
    let long = size(runner, (4_000_000 / copies).min(100_000));
    let mut out: Vec<KeyValue> = (0..count)
        .map(|i| fixtures::kv(&format!("k{i}"), any_value::Value::IntValue(i64::MIN)))
        .collect();
    out.push(fixtures::kv(
        &"k".repeat(long),
        any_value::Value::StringValue("v".repeat(long)),
    ));
    let depth = size(runner, 400);
    let mut value = any_value::Value::BoolValue(true);
    for level in 0..depth {
        let inner = AnyValue { value: Some(value) };
        value = if level % 2 == 0 {
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![inner],
            })
        } else {
            any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "n".into(),
                    value: Some(inner),
                    ..Default::default()
                }],
            })
        };
    }
    out.push(fixtures::kv("deep", value));
    out
}

/// Number points set to values a sane source never sends.
fn extremes(runner: &mut TestRunner, metric: &mut opentelemetry_proto::tonic::metrics::v1::Metric) {
    let points = match &mut metric.data {
        Some(metric::Data::Gauge(g)) => &mut g.data_points,
        Some(metric::Data::Sum(s)) => &mut s.data_points,
        _ => return,
    };
    for point in points {
        point.value = Some(draw(
            runner,
            prop_oneof![
                Just(number_data_point::Value::AsDouble(f64::NAN)),
                Just(number_data_point::Value::AsDouble(f64::NEG_INFINITY)),
                Just(number_data_point::Value::AsDouble(1e308)),
                Just(number_data_point::Value::AsInt(i64::MIN)),
                any::<i64>().prop_map(number_data_point::Value::AsInt),
            ],
        ));
        point.time_unix_nano = draw(
            runner,
            prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()],
        );
    }
}
