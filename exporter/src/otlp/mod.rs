//! The OTLP exporters, one module per transport as in the receiver: [`grpc`] is exporter
//! `otlp` (alias `otlp_grpc`), [`http`] is exporter `otlp_http` (alias `otlphttp`). What they
//! share is here: the `compression` key, what a reply's `partial_success` means for the
//! counters, and how a transport error is put into words. Both deliver through the shared
//! delivery layer (`crate::delivery`) and dial with the client TLS of `kafka_obs_net`.

pub mod grpc;
pub mod http;

use std::io::Write;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use kafka_obs_api::DataKind;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde::Deserialize;

use crate::delivery::Outcome;

pub use grpc::{GrpcTransport, OtlpExporterConfig};
pub use http::{Encoding, HttpTransport, OtlpHttpExporterConfig, encode_body};

/// `compression` of the OTLP exporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    #[default]
    Gzip,
}

/// What a reply's `partial_success` means for the counters.
pub(crate) fn partial_outcome(items: u64, partial: Option<(i64, String)>) -> Outcome {
    match partial {
        Some((rejected, message)) if rejected > 0 => {
            let rejected = (rejected as u64).min(items);
            Outcome {
                delivered: items - rejected,
                rejected,
                reason: Some(if message.is_empty() {
                    "no reason given".into()
                } else {
                    message
                }),
            }
        }
        Some((_, message)) if !message.is_empty() => {
            tracing::warn!(%message, "backend accepted the batch with a warning");
            Outcome::all(items)
        }
        _ => Outcome::all(items),
    }
}

/// `prefix` followed by `body` gzip-compressed at the fastest level: any level is the same
/// wire format to a decompressor, and the fastest costs a fraction of the default's CPU for
/// a few percent more bytes on OTLP's repetitive protobuf.
pub(crate) fn gzip_after(prefix: Vec<u8>, body: &[u8]) -> Vec<u8> {
    let mut out = prefix;
    out.reserve(body.len() / 4 + 64);
    let mut enc = GzEncoder::new(out, GzLevel::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// `(rejected, message)` from a protobuf `Export*ServiceResponse` of `kind`; `None` when the
/// reply is empty, unreadable or has no `partial_success`.
pub(crate) fn partial_of_proto(kind: DataKind, body: &[u8]) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    match kind {
        DataKind::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_data_points, p.error_message)),
        DataKind::Logs => ExportLogsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)),
        DataKind::Traces => ExportTraceServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_spans, p.error_message)),
    }
}

/// An error with its causes (`client error (Connect): invalid peer certificate: UnknownIssuer`):
/// hyper's own message alone does not say what went wrong with the connection.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
