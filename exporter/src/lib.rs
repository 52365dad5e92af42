//! Exporters: where data leaves kafka-obs.
//!
//! Each exporter lives in its own module, which offers its `FACTORY` (the binary lists them);
//! [`otlp`] holds
//! both OTLP exporters (`otlp` over gRPC, `otlp_http`), one file per transport. [`delivery`] is
//! the timeout/retry/queue layer every network exporter (`otlp`, `otlp_http`, `signals`,
//! `kafka`) shares and [`auth`] the headers of an authenticator extension. The OTLP/JSON codec
//! (`kafka_obs_otlp_json`) and client TLS (`kafka_obs_net`) live in crates of their own,
//! shared with the receivers.

pub mod auth;
pub mod debug;
pub mod delivery;
pub mod file;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod resource_split;
pub mod signals;
