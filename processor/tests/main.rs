//! Integration tests of the signals connector's rule engine: rules, user rules and properties.
//!
//! One test binary per crate (issue #12): each former `tests/<name>.rs` is the module
//! `<name>` here, so `cargo test --test integration <name>::` runs one file's tests;
//! linking one binary instead of one per file keeps CI's disk and link time down.

mod common;

mod signals_container;
mod signals_kafka_admin;
mod signals_properties;
mod signals_rules;
mod signals_user_rules;
