//! The fuzz targets: one per decoder that reads bytes from outside, each calling the entry
//! point production uses, so a finding here is a finding in the collector.
//!
//! A target answers `Ok` (the input was accepted) or `Err(message)` (rejected, with the
//! decoder's own message); the runner groups inputs by that message to keep a corpus of inputs
//! that reach different checks. Targets that decode several signals or encodings take the
//! first byte of the input as a selector, so one corpus covers them all.

use bytes::Bytes;
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::test_runner::TestRunner;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, Streaming};

use kafka_obs_api::{Batch, DataKind};
use kafka_obs_config::Registry;
use kafka_obs_jmx::javaser::{Limits, reader};
use kafka_obs_kafka_client::record::{self, Encoding};
use kafka_obs_proto::aggregator::v1::SignalEnvelope;
use kafka_obs_receiver::otlp::{GrpcSettings, HttpSettings};
use kafka_obs_signal::otlp::ExportResource;
use kafka_obs_signal::otlp::logs::to_export_request;
use kafka_obs_signal::proto::from_envelope;

use crate::generate;

/// One decoder under test.
#[derive(Debug)]
pub struct Target {
    /// Its name on the command line and its folder under `fuzz/corpus/` and `fuzz/findings/`.
    pub name: &'static str,
    /// What it feeds, and through which entry point.
    pub about: &'static str,
    /// Runs one input; `Err` is the decoder's rejection message.
    pub decode: fn(&[u8]) -> Result<(), String>,
    /// A valid-looking input drawn from the structure-aware generators.
    pub generate: fn(&mut TestRunner) -> Vec<u8>,
    /// Tokens the mutator inserts (keywords, tags, magic numbers of the format).
    pub dictionary: &'static [&'static [u8]],
    /// Further seed folders, relative to the workspace root (real inputs kept elsewhere).
    pub seeds: &'static [&'static str],
}

/// Every target, in the order the runner visits them.
pub static TARGETS: &[Target] = &[
    Target {
        name: "jmx_reply",
        about: "a JMX server's JRMP Return: parse_return and everything the client reads from it \
                (stubs, exceptions, queryNames, getAttributes, values), small and production limits",
        decode: jmx_reply,
        generate: generate::javaser::reply,
        dictionary: generate::javaser::DICTIONARY,
        seeds: &["jmx/tests/corpus"],
    },
    Target {
        name: "jmx_stream",
        about: "a plain Java serialization stream (AC ED 00 05 ...): the hardened reader and \
                value conversion",
        decode: jmx_stream,
        generate: generate::javaser::stream,
        dictionary: generate::javaser::DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "jmx_object_name",
        about: "an MBean name as a server sends it: ObjectName::parse, canonical form, matching",
        decode: jmx_object_name,
        generate: generate::javaser::object_name,
        dictionary: &[
            b",", b"=", b":", b"*", b"?", b"\"", b"\\", b"type=", b"name=",
        ],
        seeds: &[],
    },
    Target {
        name: "otlp_grpc",
        about: "an OTLP/gRPC request body (5-byte frames, gzip allowed) decoded by tonic's \
                codec as the otlp receiver's services do; first byte picks the signal",
        decode: otlp_grpc,
        generate: generate::otlp::grpc,
        dictionary: generate::otlp::PROTO_DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "otlp_http",
        about: "an OTLP/HTTP body through the otlp receiver's decoding (gunzip within the limit, \
                protobuf or JSON); first byte picks signal, encoding and gzip",
        decode: otlp_http,
        generate: generate::otlp::http,
        dictionary: generate::otlp::PROTO_DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "otlp_json",
        about: "an OTLP/JSON request through kafka-obs-otlp-json's decode_batch; first byte \
                picks the signal",
        decode: otlp_json,
        generate: generate::otlp::json,
        dictionary: generate::otlp::JSON_DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "signal_envelope",
        about: "a SignalEnvelope from the signal stream: protobuf decode, from_envelope's \
                checks, and the OTLP log conversion the signals receiver does",
        decode: signal_envelope,
        generate: generate::signal::envelope,
        dictionary: generate::signal::DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "kafka_record",
        about: "a Kafka record value through kafka-client's record::decode; first byte picks \
                the signal and otlp_proto or otlp_json",
        decode: kafka_record,
        generate: generate::otlp::kafka_record,
        dictionary: generate::otlp::JSON_DICTIONARY,
        seeds: &[],
    },
    Target {
        name: "config",
        about: "a YAML config through kafka-obs-config: parse, line index, ${env:...} \
                expansion, each component body validated by its factory, the service graph",
        decode: config,
        generate: generate::config::document,
        dictionary: generate::config::DICTIONARY,
        seeds: &["examples"],
    },
];

/// The target named `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The signal a selector byte picks.
pub fn kind_of(selector: u8) -> DataKind {
    match selector % 3 {
        0 => DataKind::Metrics,
        1 => DataKind::Logs,
        _ => DataKind::Traces,
    }
}

/// Splits off the selector byte; an empty input selects 0 and has no body.
fn split_selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, &[]),
    }
}

fn jmx_reply(data: &[u8]) -> Result<(), String> {
    let _ = kafka_obs_jmx::fuzzing::reply(data);
    kafka_obs_jmx::fuzzing::production_reply(data)
}

fn jmx_stream(data: &[u8]) -> Result<(), String> {
    kafka_obs_jmx::fuzzing::stream(data);
    reader::read_all_objects(data, Limits::default())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn jmx_object_name(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let name = kafka_obs_jmx::ObjectName::parse(&text).map_err(|e| e.to_string())?;
    let canonical = name.canonical();
    let again = kafka_obs_jmx::ObjectName::parse(&canonical)
        .map_err(|e| format!("the canonical form {canonical:?} does not parse again: {e}"))?;
    // A pattern matches itself only when it is not one; a plain name must match itself.
    if !name.is_pattern() && !name.matches(&again) {
        return Err(format!(
            "{canonical:?} does not match its own canonical form"
        ));
    }
    Ok(())
}

/// Decodes one gRPC message the way tonic's server does for a unary OTLP export: frames read
/// from the body, gzip accepted, at most the receiver's default `max_recv_msg_size`.
fn grpc_message<T: Message + Default + Send + 'static>(body: &[u8]) -> Result<T, String> {
    let mut codec = tonic_prost::ProstCodec::<T, T>::default();
    let limit = GrpcSettings::default().max_recv_msg_size;
    let body = Full::new(Bytes::copy_from_slice(body));
    let mut stream = Streaming::new_request(
        codec.decoder(),
        body,
        Some(CompressionEncoding::Gzip),
        Some(limit),
    );
    match futures::executor::block_on(stream.message()) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err("missing request message".to_string()),
        Err(status) => Err(status.message().to_string()),
    }
}

fn otlp_grpc(data: &[u8]) -> Result<(), String> {
    let (selector, body) = split_selector(data);
    let batch = match kind_of(selector) {
        DataKind::Metrics => Batch::Metrics(grpc_message::<ExportMetricsServiceRequest>(body)?),
        DataKind::Logs => Batch::Logs(grpc_message::<ExportLogsServiceRequest>(body)?),
        DataKind::Traces => Batch::Traces(grpc_message::<ExportTraceServiceRequest>(body)?),
    };
    let _ = batch.item_count();
    Ok(())
}

/// Selector bits of `otlp_http` inputs: besides the signal (`% 3` of the low bits).
pub const HTTP_JSON: u8 = 0x10;
pub const HTTP_GZIP: u8 = 0x20;

fn otlp_http(data: &[u8]) -> Result<(), String> {
    let (selector, body) = split_selector(data);
    let limit = HttpSettings::default().max_request_body_size;
    let batch = kafka_obs_receiver::otlp::decode_request_body(
        kind_of(selector & 0x0F),
        selector & HTTP_JSON != 0,
        selector & HTTP_GZIP != 0,
        body,
        limit,
    )?;
    let _ = batch.item_count();
    Ok(())
}

fn otlp_json(data: &[u8]) -> Result<(), String> {
    let (selector, body) = split_selector(data);
    let batch =
        kafka_obs_otlp_json::decode_batch(kind_of(selector), body).map_err(|e| e.to_string())?;
    let _ = batch.item_count();
    Ok(())
}

fn signal_envelope(data: &[u8]) -> Result<(), String> {
    let envelope = SignalEnvelope::decode(data).map_err(|e| e.to_string())?;
    let signal = from_envelope(&envelope).map_err(|e| e.to_string())?;
    let request = to_export_request([&signal], &ExportResource::default());
    let _ = Batch::Logs(request).item_count();
    Ok(())
}

/// Selector bit of `kafka_record` inputs: OTLP/JSON instead of protobuf.
pub const RECORD_JSON: u8 = 0x10;

fn kafka_record(data: &[u8]) -> Result<(), String> {
    let (selector, value) = split_selector(data);
    let encoding = if selector & RECORD_JSON != 0 {
        Encoding::OtlpJson
    } else {
        Encoding::OtlpProto
    };
    let batch =
        record::decode(value, kind_of(selector & 0x0F), encoding).map_err(|e| e.to_string())?;
    let _ = batch.item_count();
    Ok(())
}

fn config(data: &[u8]) -> Result<(), String> {
    thread_local! {
        static REGISTRY: Registry = kafka_obs::components::registry();
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let texts = [(std::path::PathBuf::from("fuzz.yaml"), text)];
    REGISTRY.with(|registry| {
        kafka_obs_config::load_texts(&texts, registry)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}
