//! A record's value: one OTLP `Export*ServiceRequest`, in protobuf (`otlp_proto`) or OTLP/JSON
//! (`otlp_json`). The `kafka` exporter writes it with [`encode`], the `kafka` receiver reads it
//! with [`decode`] (as OpenTelemetry's kafkareceiver and kafkaexporter do), so the two halves
//! of the format live side by side and are tested as a round trip.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::Deserialize;

use kafka_obs_api::{Batch, DataKind};
use kafka_obs_otlp_json as otlp_json;

/// How a record's value is written, named as the Collector's kafka exporter and receiver name
/// it (`encoding: otlp_proto | otlp_json`). The Collector's other encodings are refused by
/// name, saying that kafka-obs carries OTLP only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
}

/// Encodings the Collector's kafka exporter or receiver knows and kafka-obs does not.
const COLLECTOR_ONLY_ENCODINGS: &[&str] = &[
    "jaeger_proto",
    "jaeger_json",
    "zipkin_proto",
    "zipkin_json",
    "zipkin_thrift",
    "raw",
    "text",
    "json",
    "azure_resource_logs",
];

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "otlp_proto" => Ok(Self::OtlpProto),
            "otlp_json" => Ok(Self::OtlpJson),
            other if COLLECTOR_ONLY_ENCODINGS.contains(&other) || other.starts_with("text_") => {
                Err(format!(
                    "`{other}` is an encoding of the Collector's kafka components that kafka-obs does not support (it carries OTLP only); use otlp_proto (the default) or otlp_json"
                ))
            }
            other => Err(format!(
                "unknown encoding `{other}`; use otlp_proto (the default) or otlp_json"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Encoding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a record's value could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("the record has no value")]
    Empty,
    #[error("not an OTLP {kind} request in protobuf: {source}")]
    Proto {
        kind: DataKind,
        #[source]
        source: prost::DecodeError,
    },
    #[error("not an OTLP {kind} request in JSON: {source}")]
    Json {
        kind: DataKind,
        #[source]
        source: serde_json::Error,
    },
}

/// `batch` as a record value.
pub fn encode(batch: &Batch, encoding: Encoding) -> Result<Vec<u8>, otlp_json::JsonError> {
    match encoding {
        Encoding::OtlpProto => Ok(match batch {
            Batch::Metrics(r) => r.encode_to_vec(),
            Batch::Logs(r) => r.encode_to_vec(),
            Batch::Traces(r) => r.encode_to_vec(),
        }),
        Encoding::OtlpJson => otlp_json::to_json_line(batch).map(String::into_bytes),
    }
}

/// A record value as a batch of `kind` (a topic carries one signal; the value does not say
/// which).
pub fn decode(value: &[u8], kind: DataKind, encoding: Encoding) -> Result<Batch, RecordError> {
    if value.is_empty() {
        return Err(RecordError::Empty);
    }
    match encoding {
        Encoding::OtlpProto => {
            let proto = |source| RecordError::Proto { kind, source };
            Ok(match kind {
                DataKind::Logs => {
                    Batch::Logs(ExportLogsServiceRequest::decode(value).map_err(proto)?)
                }
                DataKind::Metrics => {
                    Batch::Metrics(ExportMetricsServiceRequest::decode(value).map_err(proto)?)
                }
                DataKind::Traces => {
                    Batch::Traces(ExportTraceServiceRequest::decode(value).map_err(proto)?)
                }
            })
        }
        Encoding::OtlpJson => otlp_json::decode_batch(kind, value)
            .map_err(|source| RecordError::Json { kind, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_otlp_json::fixtures;

    /// What the exporter writes, the receiver reads back unchanged, in either encoding.
    /// Compared as protobuf bytes, which also holds for the fixtures' NaN values.
    #[test]
    fn what_is_encoded_decodes_to_the_same_batch() {
        for batch in [fixtures::metrics(), fixtures::logs(), fixtures::traces()] {
            let want = encode(&batch, Encoding::OtlpProto).expect("encodes");
            for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
                let value = encode(&batch, encoding).expect("encodes");
                let back = decode(&value, batch.kind(), encoding).expect("decodes");
                let got = encode(&back, Encoding::OtlpProto).expect("encodes");
                assert_eq!(got, want, "{} in {encoding:?}", batch.kind());
            }
        }
    }

    #[test]
    fn bad_values_say_what_they_are_not() {
        let json = br#"{"resourceLogs":[{"resource":{"attributes":[]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"5","body":{"stringValue":"x"}}]}]}]}"#;
        let batch = decode(json, DataKind::Logs, Encoding::OtlpJson).expect("json");
        assert_eq!(batch.item_count(), 1);
        assert!(matches!(
            decode(b"", DataKind::Logs, Encoding::OtlpProto),
            Err(RecordError::Empty)
        ));
        assert!(matches!(
            decode(&[0xff, 0xff, 0xff], DataKind::Logs, Encoding::OtlpProto),
            Err(RecordError::Proto { .. })
        ));
        assert!(matches!(
            decode(b"{not json", DataKind::Metrics, Encoding::OtlpJson),
            Err(RecordError::Json { .. })
        ));
    }

    #[test]
    fn encodings_are_named_as_the_collector_names_them() {
        assert_eq!("otlp_json".parse::<Encoding>(), Ok(Encoding::OtlpJson));
        assert_eq!("otlp_proto".parse::<Encoding>(), Ok(Encoding::OtlpProto));
        let e = "jaeger_proto"
            .parse::<Encoding>()
            .expect_err("collector-only");
        assert!(
            e.contains("kafka-obs does not support") && e.contains("otlp_json"),
            "{e}"
        );
        let e = "avro".parse::<Encoding>().expect_err("unknown");
        assert!(e.starts_with("unknown encoding `avro`"), "{e}");
    }
}
