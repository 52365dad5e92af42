//! OTLP/gRPC metric data points per second through `otlp -> batch -> file`, with the collector
//! pinned to one core, beside bare protobuf decode+encode of the same requests in this process
//! (the floor any OTLP pipeline pays). The ratio is the figure that matters.
//!
//! Run: `cargo build --release -p kafka-obs && cargo bench -p kafka-obs-tests --bench otlp_pipeline`
//! (set KAFKA_OBS_BIN to benchmark another build). Needs `taskset` (util-linux).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::otlp::{metrics_client, metrics_request};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

const REQUESTS: u64 = 4000;
const POINTS: usize = 100;
const IN_FLIGHT: usize = 8;

fn release_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("KAFKA_OBS_BIN") {
        return p.into();
    }
    let bin = kafka_obs_testkit::workspace_root().join("target/release/kafka-obs");
    let alt = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| std::path::PathBuf::from(d).join("release/kafka-obs"));
    match alt {
        Some(a) if a.is_file() => a,
        _ => bin,
    }
}

fn bare_codec(encoded: &[Vec<u8>]) -> f64 {
    let start = Instant::now();
    let mut bytes = 0usize;
    for buf in encoded {
        let req = ExportMetricsServiceRequest::decode(buf.as_slice()).expect("decode");
        bytes += req.encode_to_vec().len();
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(bytes > 0);
    (encoded.len() * POINTS) as f64 / secs
}

fn main() {
    let bin = release_bin();
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release -p kafka-obs",
        bin.display()
    );
    let requests: Vec<ExportMetricsServiceRequest> =
        (0..REQUESTS).map(|r| metrics_request(r, POINTS)).collect();
    let encoded: Vec<Vec<u8>> = requests.iter().map(Message::encode_to_vec).collect();
    let avg_bytes = encoded.iter().map(Vec::len).sum::<usize>() / encoded.len();

    // Reference, warmed up once.
    bare_codec(&encoded[..200]);
    let reference = bare_codec(&encoded);

    let dir = tempfile::tempdir().expect("tmp");
    let (grpc, metrics) = (free_port(), free_port());
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(
        &cfg,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\nprocessors:\n  batch:\nexporters:\n  file:\n    path: {}/out.jsonl\nservice:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      address: 127.0.0.1:{metrics}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [file]\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let mut collector = ChildGuard::spawn(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(&bin)
            .arg("--config")
            .arg(&cfg),
    )
    .expect("start kafka-obs under taskset");
    wait_for_port(
        format!("127.0.0.1:{grpc}").parse().expect("addr"),
        Duration::from_secs(20),
    )
    .expect("collector up");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let elapsed = runtime.block_on(async move {
        let client = metrics_client(grpc).await;
        // Warm-up.
        for r in 0..50 {
            client
                .clone()
                .export(metrics_request(r, POINTS))
                .await
                .expect("warm-up");
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        let per_task = requests.len() / IN_FLIGHT;
        let mut chunks = requests
            .chunks(per_task)
            .map(<[_]>::to_vec)
            .collect::<Vec<_>>();
        for chunk in chunks.drain(..) {
            let mut c = client.clone();
            tasks.push(tokio::spawn(async move {
                for req in chunk {
                    c.export(req).await.expect("export");
                }
            }));
        }
        for t in tasks {
            t.await.expect("sender");
        }
        start.elapsed()
    });
    // Stop: the flush of the last batches is part of the work.
    let stop_start = Instant::now();
    let status = collector.terminate(Duration::from_secs(30)).expect("stop");
    let total = elapsed + stop_start.elapsed();
    assert!(status.success());
    let pipeline = (REQUESTS as usize * POINTS) as f64 / total.as_secs_f64();

    println!("otlp -> batch -> file, collector pinned to 1 core (taskset -c 0)");
    println!(
        "  requests: {REQUESTS} x {POINTS} points ({avg_bytes} bytes each), {IN_FLIGHT} in flight"
    );
    println!(
        "  bare protobuf decode+encode (1 thread): {:>12.0} points/s",
        reference
    );
    println!(
        "  otlp -> batch -> file (1 core)        : {:>12.0} points/s",
        pipeline
    );
    println!(
        "  ratio pipeline / bare codec           : {:>12.3}",
        pipeline / reference
    );
}
