//! Integration tests of the exporters against real peers (an OTLP collector, a Kafka-protocol broker, TLS servers).
//!
//! One test binary per crate (issue #12): each former `tests/<name>.rs` is the module
//! `<name>` here, so `cargo test --test integration <name>::` runs one file's tests;
//! linking one binary instead of one per file keeps CI's disk and link time down.

mod common;

mod auth;
mod kafka;
mod kafka_tls;
mod otlp;
mod signals;
mod tls;
