//! The OTLP/JSON codec, encode and decode, for every part of kafka-obs that reads or writes
//! it: the OTLP/HTTP receiver's JSON bodies, the `kafka` receiver's `otlp_json` records, the
//! `file`, `debug`, `kafka` and `otlp_http` exporters, and the tests that read their output.
//!
//! Encoding uses `opentelemetry-proto`'s serde support, which follows the OTLP/JSON rules:
//! lowerCamelCase keys, trace and span ids as hex, 64-bit integers as decimal strings, enums as
//! integers. NaN and ±Infinity are written as `"NaN"`, `"Infinity"`, `"-Infinity"` as
//! OTLP/JSON requires (see [`special_floats`]). Decoding takes what the spec allows senders to
//! write: 64-bit integers as strings or numbers, hex ids in either case, unknown keys ignored,
//! and `{"arrayValue":{}}` with its empty `values` left out. A line of OTLP/JSON lines (the
//! Collector's fileexporter and the OTLP file exporter spec: one `Export*ServiceRequest` per
//! line) tells its signal by its top-level key (`resourceMetrics`, `resourceLogs`,
//! `resourceSpans`), so one decoder reads any file. The `partialSuccess` of a JSON reply is
//! here too, written by the receiver and read by the `otlp_http` exporter.
//!
//! Known gap: `opentelemetry-proto`'s deserializer reads the non-finite strings only in summary
//! quantiles, so a non-finite gauge value cannot be read back (the Collector can). Protobuf
//! carries them intact either way.
//!
//! A crate of its own rather than a module of `kafka-obs-api`: receivers and exporters both
//! need it and must not depend on each other, and the API crate stays the small, stable set of
//! traits and data types without a JSON stack. It depends only on that crate (for
//! [`Batch`]), `opentelemetry-proto` and `serde_json`.

mod special_floats;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use kafka_obs_api::{Batch, DataKind};

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

/// `batch` as one line of OTLP/JSON, without the newline (an OTLP/HTTP body, a Kafka record).
pub fn to_json_line(batch: &Batch) -> Result<String, JsonError> {
    match batch {
        Batch::Metrics(r) => serde_json::to_string(&Special(r)),
        Batch::Logs(r) => serde_json::to_string(&Special(r)),
        Batch::Traces(r) => serde_json::to_string(&Special(r)),
    }
    .map_err(JsonError::Encode)
}

/// One `Export*ServiceRequest` from OTLP/JSON bytes. Senders that omit empty repeated fields
/// write `{"arrayValue":{}}`, which the generated serde types reject (their `values` is
/// required); only when the direct decode fails do we pay for a second pass that fills those
/// in.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    // serde would also take a struct written as an array; an OTLP/JSON body is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(<serde_json::Error as serde::de::Error>::custom(
            "expected a JSON object such as {\"resourceMetrics\": [...]}",
        ));
    }
    let first = match serde_json::from_slice(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(first);
    };
    if !fill_empty_lists(&mut value) {
        return Err(first);
    }
    serde_json::from_value(value).map_err(|_| first)
}

/// The request of `kind` from OTLP/JSON bytes (an OTLP/HTTP body, a Kafka record).
pub fn decode_batch(kind: DataKind, bytes: &[u8]) -> Result<Batch, serde_json::Error> {
    Ok(match kind {
        DataKind::Metrics => Batch::Metrics(decode(bytes)?),
        DataKind::Logs => Batch::Logs(decode(bytes)?),
        DataKind::Traces => Batch::Traces(decode(bytes)?),
    })
}

/// Adds `"values": []` to `arrayValue`/`kvlistValue` objects lacking it; `true` if any changed.
fn fill_empty_lists(value: &mut serde_json::Value) -> bool {
    let mut changed = false;
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if (key == "arrayValue" || key == "kvlistValue")
                    && let serde_json::Value::Object(list) = inner
                    && !list.contains_key("values")
                {
                    list.insert("values".into(), serde_json::Value::Array(Vec::new()));
                    changed = true;
                }
                changed |= fill_empty_lists(inner);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                changed |= fill_empty_lists(item);
            }
        }
        _ => {}
    }
    changed
}

/// Any of the three requests; the key that is present tells the signal.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyRequest {
    resource_metrics: Option<Vec<ResourceMetrics>>,
    resource_logs: Option<Vec<ResourceLogs>>,
    resource_spans: Option<Vec<ResourceSpans>>,
}

/// Reads one line of OTLP/JSON, whichever signal it holds (`line_no` is only used in errors).
pub fn from_json_line(line: &str, line_no: usize) -> Result<Batch, JsonError> {
    let any: AnyRequest = decode(line.as_bytes()).map_err(|source| JsonError::Decode {
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

/// The key of a `partialSuccess` that counts what was rejected.
fn rejected_key(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Metrics => "rejectedDataPoints",
        DataKind::Logs => "rejectedLogRecords",
        DataKind::Traces => "rejectedSpans",
    }
}

/// The JSON body of an OTLP/HTTP success reply (`Export*ServiceResponse`): `{}`, or with
/// `partial` as `(rejected items, message)` its `partialSuccess`; the count is an int64, so
/// a decimal string.
pub fn export_response(kind: DataKind, partial: Option<(i64, &str)>) -> Vec<u8> {
    let json = match partial {
        None => serde_json::json!({}),
        Some((rejected, message)) => serde_json::json!({
            "partialSuccess": { rejected_key(kind): rejected.to_string(), "errorMessage": message }
        }),
    };
    json.to_string().into_bytes()
}

/// `(rejected, message)` of a JSON success reply's `partialSuccess`, if it has one (a count
/// written as a number is read too; no count means 0). `None` also for a body that is not
/// JSON: a reply that does not say what it rejected rejected nothing.
pub fn partial_success(kind: DataKind, body: &[u8]) -> Option<(i64, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let p = v.get("partialSuccess")?;
    let rejected = match p.get(rejected_key(kind)) {
        Some(serde_json::Value::String(s)) => s.parse().ok()?,
        Some(n) => n.as_i64()?,
        None => 0,
    };
    let message = p
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    Some((rejected, message))
}

#[cfg(test)]
mod tests;
