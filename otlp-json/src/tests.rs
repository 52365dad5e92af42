//! The codec against the OTLP/JSON mapping: round trips, the shapes the spec prescribes when
//! writing, and what it allows senders to write when reading.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::{self, Data};
use opentelemetry_proto::tonic::metrics::v1::number_data_point;

use super::*;
use crate::fixtures::{logs, metrics, traces};

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

/// The OTLP/JSON rules: lowerCamelCase keys, hex trace/span ids, 64-bit integers as
/// decimal strings (numbers accepted too), enums as integers, unknown keys ignored.
#[test]
fn requests_decode_as_the_otlp_json_spec_allows() {
    let traces = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
      "scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{
        "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","parentSpanId":"",
        "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
        "attributes":[{"key":"n","value":{"intValue":"-42"}},{"key":"big","value":{"intValue":9007199254740993}},
                      {"key":"raw","value":{"bytesValue":"AQID"}},{"key":"list","value":{"arrayValue":{}}}],
        "status":{"code":2,"message":"boom"},"someFutureField":{"x":1}}]}]}]}"#;
    let batch = decode_batch(DataKind::Traces, traces.as_bytes()).expect("decodes");
    let Batch::Traces(req) = batch else {
        panic!("traces")
    };
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id,
        vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.kind, 2);
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    let values: Vec<_> = span
        .attributes
        .iter()
        .map(|kv| kv.value.as_ref().and_then(|v| v.value.clone()))
        .collect();
    assert_eq!(values[0], Some(Value::IntValue(-42)));
    assert_eq!(values[1], Some(Value::IntValue(9_007_199_254_740_993)));
    assert_eq!(values[2], Some(Value::BytesValue(vec![1, 2, 3])));
    assert!(matches!(&values[3], Some(Value::ArrayValue(a)) if a.values.is_empty()));
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));

    let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
        {"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"7","asInt":"9223372036854775807"},{"asDouble":1.5}]}},
        {"name":"s","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asDouble":3}]}},
        {"name":"h","histogram":{"aggregationTemporality":1,"dataPoints":[{"count":"3","sum":6.5,"bucketCounts":["1",2],"explicitBounds":[1.0]}]}}]}]}]}"#;
    let Batch::Metrics(req) = decode_batch(DataKind::Metrics, metrics.as_bytes()).expect("decodes")
    else {
        panic!("metrics")
    };
    let ms = &req.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(g)) = &ms[0].data else {
        panic!("gauge")
    };
    assert_eq!(g.data_points[0].time_unix_nano, 7);
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(i64::MAX))
    );
    assert_eq!(
        g.data_points[1].value,
        Some(number_data_point::Value::AsDouble(1.5))
    );
    let Some(Data::Sum(s)) = &ms[1].data else {
        panic!("sum")
    };
    assert!(s.is_monotonic);
    assert_eq!(s.aggregation_temporality, 2);
    let Some(Data::Histogram(h)) = &ms[2].data else {
        panic!("histogram")
    };
    assert_eq!(h.data_points[0].count, 3);
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);

    let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","observedTimeUnixNano":"2",
        "severityNumber":9,"severityText":"INFO","body":{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}},
        "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","flags":1,"eventName":"e"}]}]}]}"#;
    let Batch::Logs(req) = decode_batch(DataKind::Logs, logs.as_bytes()).expect("decodes") else {
        panic!("logs")
    };
    let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        (
            rec.time_unix_nano,
            rec.observed_time_unix_nano,
            rec.severity_number
        ),
        (1, 2, 9)
    );
    assert_eq!(rec.trace_id.len(), 16);
    assert_eq!(rec.event_name, "e");
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for bad in [
        "",
        "{",
        "[]",
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
    ] {
        assert!(
            decode_batch(DataKind::Traces, bad.as_bytes()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn partial_success_round_trips_with_the_count_as_a_string() {
    assert_eq!(export_response(DataKind::Logs, None), b"{}");
    let body = export_response(DataKind::Logs, Some((2, "bad")));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(v["partialSuccess"]["rejectedLogRecords"], "2");
    assert_eq!(
        partial_success(DataKind::Logs, &body),
        Some((2, "bad".into()))
    );
    let numeric = br#"{"partialSuccess":{"rejectedSpans":3}}"#;
    assert_eq!(
        partial_success(DataKind::Traces, numeric),
        Some((3, String::new()))
    );
    assert_eq!(partial_success(DataKind::Metrics, b"{}"), None);
    assert_eq!(partial_success(DataKind::Metrics, b"not json"), None);
}
