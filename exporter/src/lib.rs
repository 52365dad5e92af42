//! Exporters: where data leaves kafka-obs.
//!
//! Each exporter lives in its own module and is listed once in [`factories`]. [`otlp_json`] is
//! the OTLP/JSON line codec the file, debug and Kafka exporters share.

use kafka_obs_api::ExporterFactory;

pub mod debug;
pub mod file;
pub mod otlp_json;

/// Every exporter type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ExporterFactory>> {
    vec![
        Box::new(debug::DebugExporterFactory),
        Box::new(file::FileExporterFactory),
    ]
}
