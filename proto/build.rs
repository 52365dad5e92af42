//! Compiles `proto/**/*.proto` with protox (a protobuf compiler written in Rust, so no system
//! `protoc` is needed) and generates prost messages plus tonic client and server code.
//! The encoded FileDescriptorSet is also written to OUT_DIR for gRPC reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "kafka_obs/signal/v1/signal.proto",
    "kafka_obs/aggregator/v1/aggregator.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let fds = protox::compile(PROTOS, ["proto"])?;
    fs::write(
        out_dir.join("kafka_obs_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Deterministic map order, so the same signal always encodes to the same bytes.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
