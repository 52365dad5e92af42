//! The central side of kafka-obs: connector `hierarchy`, which wraps the pure cell engine
//! (`kafka-obs-cells`) with the I/O it leaves out.
//!
//! - [`connector`]: the component; one task owns the engine (no locks), ingests signal
//!   events from the `otlp`, `signals` or `kafka` receivers, ticks the engine's clock and
//!   settles each parcel's receipt once its signals are in the engine;
//! - [`input`]: signal records, the scale-out control records and the status gauge in;
//! - [`output`]: events, the status gauge and incident traces out as OTLP;
//! - [`notify`]: the Actors layer's delivery, Alertmanager-shaped webhooks from their own task;
//! - [`api`]: the query API, the live web view (`page.html`) and its server-sent events;
//! - [`write_deadline`]: the API's listener, whose connections drop a client that stopped
//!   reading;
//! - [`config`]: the YAML shape and its validation; [`federation`] its federation keys.
//!
//! It is its own crate rather than a module of `kafka-obs-processor` because the HTTP
//! server, the web page and the webhook client would otherwise weigh on every processor.

pub mod api;
pub mod config;
pub mod connector;
pub mod federation;
pub mod input;
pub mod notify;
pub mod output;
pub mod write_deadline;

pub use config::HierarchyConnectorConfig;
pub use connector::FACTORY;
