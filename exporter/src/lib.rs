//! Exporters: where data leaves kafka-obs.
//!
//! Each exporter lives in its own module and is listed once in [`factories`]. [`otlp_json`] is
//! the OTLP/JSON line codec the file, debug and Kafka exporters share; [`delivery`] is the
//! timeout/retry/queue layer every network exporter (`otlp`, `otlp_http`, `signals`, `kafka`)
//! shares; [`tls`] their client TLS and [`auth`] the headers of an authenticator extension.

use kafka_obs_api::ExporterFactory;

pub mod auth;
pub mod debug;
pub mod delivery;
pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod otlp_http;
pub mod otlp_json;
pub mod resource_split;
pub mod signals;
pub mod tls;

/// Every exporter type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ExporterFactory>> {
    vec![
        Box::new(debug::DebugExporterFactory),
        Box::new(file::FileExporterFactory),
        Box::new(otlp::OtlpGrpcExporterFactory),
        Box::new(otlp_http::OtlpHttpExporterFactory),
        Box::new(signals::SignalsExporterFactory),
        #[cfg(feature = "kafka")]
        Box::new(kafka::KafkaExporterFactory),
    ]
}
