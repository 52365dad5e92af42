//! kafka-obs's own protobuf messages and gRPC services, generated at build time from
//! `proto/` (protox + tonic-prost-build, no system `protoc`).
//!
//! - [`signal::v1`]: the full `Signal` message, the payload of the signal stream.
//! - [`aggregator::v1`]: the seed's `SignalAggregator.StreamSignals` service with its
//!   `SignalEnvelope` (the seed's `Signal`, field numbers unchanged, plus `sequence`) and `Ack`,
//!   with client and server code.
//!
//! Conversions between these messages and the vocabulary types live in `kafka-obs-signal`, so
//! this crate stays a thin, dependency-light wire definition.

/// `kafka_obs.signal.v1`: the full signal message.
pub mod signal {
    /// Version 1 of the signal message.
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/kafka_obs.signal.v1.rs"));
    }
}

/// `kafka_obs.aggregator.v1`: the SignalAggregator streaming service.
pub mod aggregator {
    /// Version 1 of the aggregator service.
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/kafka_obs.aggregator.v1.rs"));
    }
}

/// The encoded `FileDescriptorSet` of every message and service above, for gRPC reflection
/// and for tools that decode payloads dynamically.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kafka_obs_descriptor.bin"));
