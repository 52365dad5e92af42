//! Fuzzing on the stable toolchain for every decoder that reads bytes from outside: JMX replies
//! and Java serialization, MBean names, OTLP over gRPC and HTTP (protobuf and JSON), the signal
//! stream's envelopes, Kafka record values, and the YAML config (issue #14).
//!
//! cargo-fuzz needs nightly and libFuzzer; this crate does the same job with stable Rust:
//! [`targets`] calls each decoder's production entry point, [`mutate`] changes corpus inputs
//! byte by byte, [`generate`] builds valid but expensive inputs (random bytes rarely get past
//! a decoder's first checks), [`check`] judges each input (panic, time, allocation), [`run`]
//! loops for a time budget and [`corpus`] keeps the inputs on disk. The binary
//! (`cargo run -p kafka-obs-fuzz --release -- --seconds 60`) fuzzes; the test binary replays
//! the committed corpus and findings, so every finding, once fixed, stays a regression test.

pub mod check;
pub mod corpus;
pub mod generate;
pub mod mutate;
pub mod run;
pub mod targets;
