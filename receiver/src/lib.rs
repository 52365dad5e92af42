//! Receivers: where data enters kafka-obs.
//!
//! Each receiver lives in its own module, which offers its `FACTORY`; the binary lists the
//! factories (cli/src/components.rs). Adding a receiver is adding a module and one line there.

pub mod jmx;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod kafka_admin;
pub mod otlp;
pub mod signals;
