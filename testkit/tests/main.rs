//! Integration tests of the test kit itself: the JVM launcher and the scenario JVM.
//!
//! One test binary per crate (issue #12): each former `tests/<name>.rs` is the module
//! `<name>` here, so `cargo test --test integration <name>::` runs one file's tests;
//! linking one binary instead of one per file keeps CI's disk and link time down.

mod jvm;
mod scenario;
