//! End-to-end tests of the real binary against real peers.
//!
//! One test binary per crate (issue #12): each former `tests/<name>.rs` is the module
//! `<name>` here, so `cargo test --test integration <name>::` runs one file's tests;
//! linking one binary instead of one per file keeps CI's disk and link time down.

mod central;
mod config_errors;
mod container;
mod demo;
mod deploy_kit;
mod docs_pages;
mod examples;
mod exceptions;
mod exporter_faults;
mod federation;
mod filelog;
mod intake;
mod jmx_e2e;
mod kafka_admin;
mod kafka_admin_rules;
mod otelcol_contrib;
mod otelcol_names;
mod otlp_peers;
mod otlp_security;
mod processors_basic;
mod processors_ottl;
mod receipts;
mod reload;
mod runtime_behaviour;
mod sdk_answers;
mod signals_e2e;
