//! The OTLP exporters, one module per transport as in the receiver: [`grpc`] is exporter
//! `otlp` (alias `otlp_grpc`), [`http`] is exporter `otlp_http` (alias `otlphttp`). What they
//! share is here: the `compression` key, what a reply's `partial_success` means for the
//! counters, and how a transport error is put into words. Both deliver through the shared
//! delivery layer (`crate::delivery`) and dial with the client TLS of `kafka_obs_net`.

pub mod grpc;
pub mod http;

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
