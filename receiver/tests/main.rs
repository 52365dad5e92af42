//! Integration tests of the JMX receiver against real JVMs.
//!
//! One test binary per crate (issue #12): each former `tests/<name>.rs` is the module
//! `<name>` here, so `cargo test --test integration <name>::` runs one file's tests;
//! linking one binary instead of one per file keeps CI's disk and link time down.

mod common;

mod cgroup_live;
mod jmx_crosscheck;
mod jmx_lifecycle;
