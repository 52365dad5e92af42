//! How a record's value is written: an OTLP `Export*ServiceRequest` in protobuf or OTLP/JSON.

use serde::Deserialize;

/// Record encodings, named as the Collector's kafka exporter and receiver name them
/// (`encoding: otlp_proto | otlp_json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
}
