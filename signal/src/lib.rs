//! The Serventis signal vocabulary as Rust types, and signals on the wire.
//!
//! kafka-obs turns Kafka and JVM metrics into *signals*:
//! `subject × instrument × sign [× dimension] + evidence` (see `docs/vocabulary.md`).
//! This crate is the shared language of everything downstream of the rules:
//!
//! - [`instruments`] and [`languages`]: every instrument and universal language with its
//!   signs and dimensions, under their current names; parsing also accepts the seed's old
//!   names where they map to exactly one current name.
//! - [`SignalKind`]: an instrument with *its own* sign and dimension types, so a combination
//!   the vocabulary forbids cannot be built. [`SignalKind::default_status`] gives the
//!   canonical sign → status readings; [`statuses::Sign`] orders by severity and reads as a
//!   situation; [`Scorecard`] turns status readings into a confidence.
//! - [`Subject`] and [`SubjectBuilder`]: hierarchical names built from resource attributes and
//!   MBean keys with a configurable key set.
//! - [`Signal`] and [`Evidence`], and [`Rounded`], how evidence values read to people;
//!   [`condition`]: a condition's onset and recovery on the wire.
//! - [`intake`]: the scale-out protocol's names (a record's topic and partition, the
//!   rebalance announcements, replayed records) the `kafka` receiver writes and the central
//!   side reads.
//! - [`otlp`]: signals as OpenTelemetry events and statuses as the `kafka_obs.status` gauge;
//!   [`proto`]: signals as kafka-obs's protobuf messages and the seed's stream envelope.
//!   Both directions are lossless; decoding returns [`DecodeError`] instead of panicking.
//!
//! ```
//! use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, otlp::logs, proto, queues};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let subject: Subject = "cluster=prod/client=order-producer/topic=orders".parse()?;
//! let signal = Signal::new(
//!     subject,
//!     SignalKind::Queues(queues::Sign::Overflow),
//!     Evidence::rule("P1").with("utilization", 0.97).threshold(0.95),
//!     1_700_000_000_000_000_000,
//! )
//! .from_source("order-service-pod-abc123");
//!
//! let record = logs::to_log_record(&signal);
//! assert_eq!(record.event_name, "kafka_obs.signal");
//! assert_eq!(logs::from_log_record(&record)?, signal);
//!
//! let envelope = proto::to_envelope(&signal)?;
//! assert_eq!(envelope.signal_type, "Queues.OVERFLOW");
//! assert_eq!(proto::from_envelope(&envelope)?, signal);
//!
//! // Invalid combinations do not parse (and cannot be written as Rust values).
//! assert!("Queues.FAIL".parse::<SignalKind>().is_err());
//! assert!("Probes.FAIL".parse::<SignalKind>().is_err()); // needs OUTBOUND or INBOUND
//! # Ok(())
//! # }
//! ```

mod builder;
pub mod condition;
mod describe;
mod error;
pub mod instruments;
pub mod intake;
mod kind;
pub mod languages;
mod names;
pub mod otlp;
pub mod proto;
mod scorecard;
mod signal;
#[cfg(any(test, feature = "proptest"))]
pub mod strategy;
mod subject;

#[cfg(test)]
mod properties;

pub use builder::{Attributes, LevelSpec, SubjectBuilder, SubjectConfigError};
pub use error::{DecodeError, EncodeError};
pub use instruments::{
    breakers, caches, counters, gauges, guards, leases, members, messages, probes, queues,
    resources, routers, sensors, services,
};
pub use kind::{Instrument, Severity, SignalKind, VocabError};
pub use languages::{actors, agents, outcomes, situations, statuses, systems, trends};
pub use names::UnknownName;
pub use scorecard::{Scorecard, ScorecardParams};
pub use signal::{Evidence, Rounded, Signal};
pub use subject::{Segment, Subject, SubjectError};
