//! Exporters: where data leaves kafka-obs.
//!
//! Each exporter lives in its own module and is listed once in [`factories`]; [`otlp`] holds
//! both OTLP exporters (`otlp` over gRPC, `otlp_http`), one file per transport. [`delivery`] is
//! the timeout/retry/queue layer every network exporter (`otlp`, `otlp_http`, `signals`,
//! `kafka`) shares and [`auth`] the headers of an authenticator extension. The OTLP/JSON codec
//! (`kafka_obs_otlp_json`) and client TLS (`kafka_obs_net`) live in crates of their own,
//! shared with the receivers.

use kafka_obs_api::ExporterFactory;

pub mod auth;
pub mod debug;
pub mod delivery;
pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod resource_split;
pub mod signals;

/// Every exporter type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ExporterFactory>> {
    vec![
        Box::new(debug::DebugExporterFactory),
        Box::new(file::FileExporterFactory),
        Box::new(otlp::OtlpGrpcExporterFactory),
        Box::new(otlp::OtlpHttpExporterFactory),
        Box::new(signals::SignalsExporterFactory),
        #[cfg(feature = "kafka")]
        Box::new(kafka::KafkaExporterFactory),
    ]
}
