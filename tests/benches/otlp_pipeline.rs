//! OTLP/gRPC metric data points per second through `otlp -> batch -> file`, with the collector
//! pinned to one core, beside bare protobuf decode+encode of the same requests in this process
//! (the floor any OTLP pipeline pays) and protobuf decode + OTLP JSON encode (the floor of a
//! pipeline ending in a JSON file). The ratios are the figures that matter.
//!
//! Run: `cargo build --release -p kafka-obs && cargo bench -p kafka-obs-tests --bench otlp_pipeline`
//! (set KAFKA_OBS_BIN to benchmark another build). Needs `taskset` (util-linux).

#![allow(clippy::unwrap_used)]

use std::path::Path;
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

/// Points/s of `work` applied to every request, single-threaded.
fn reference(encoded: &[Vec<u8>], work: impl Fn(ExportMetricsServiceRequest) -> usize) -> f64 {
    let start = Instant::now();
    let mut bytes = 0usize;
    for buf in encoded {
        bytes += work(ExportMetricsServiceRequest::decode(buf.as_slice()).expect("decode"));
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(bytes > 0);
    (encoded.len() * POINTS) as f64 / secs
}

/// Runs the collector on one core with the file exporter writing `format`; returns points/s.
fn pipeline(bin: &Path, requests: &[ExportMetricsServiceRequest], format: &str) -> f64 {
    let dir = tempfile::tempdir().expect("tmp");
    let (grpc, metrics) = (free_port(), free_port());
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(
        &cfg,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\nprocessors:\n  batch:\nexporters:\n  file:\n    path: {}/out.data\n    format: {format}\nservice:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      address: 127.0.0.1:{metrics}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [file]\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let mut collector = ChildGuard::spawn(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(bin)
            .arg("--config")
            .arg(&cfg),
    )
    .expect("start kafka-obs under taskset");
    wait_for_port(
        format!("127.0.0.1:{grpc}").parse().expect("addr"),
        Duration::from_secs(20),
    )
    .expect("collector up");
    let requests = requests.to_vec();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let elapsed = runtime.block_on(async move {
        let client = metrics_client(grpc).await;
        for r in 0..50 {
            client
                .clone()
                .export(metrics_request(r, POINTS))
                .await
                .expect("warm-up");
        }
        let start = Instant::now();
        let per_task = requests.len().div_ceil(IN_FLIGHT);
        let mut tasks = Vec::new();
        for chunk in requests.chunks(per_task).map(<[_]>::to_vec) {
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
    // The flush of the last batches on stop is part of the work.
    let stop_start = Instant::now();
    let status = collector.terminate(Duration::from_secs(30)).expect("stop");
    assert!(status.success());
    let total = elapsed + stop_start.elapsed();
    (REQUESTS as usize * POINTS) as f64 / total.as_secs_f64()
}

fn main() {
    let bin = kafka_obs_tests::release_bin();
    let requests: Vec<ExportMetricsServiceRequest> =
        (0..REQUESTS).map(|r| metrics_request(r, POINTS)).collect();
    let encoded: Vec<Vec<u8>> = requests.iter().map(Message::encode_to_vec).collect();
    let avg_bytes = encoded.iter().map(Vec::len).sum::<usize>() / encoded.len();

    let proto = |r: ExportMetricsServiceRequest| r.encode_to_vec().len();
    let json = |r: ExportMetricsServiceRequest| serde_json::to_vec(&r).expect("json").len();
    reference(&encoded[..200], proto); // warm-up
    let bare = reference(&encoded, proto);
    let bare_json = reference(&encoded, json);
    let pipeline_proto = pipeline(&bin, &requests, "proto");
    let pipeline_json = pipeline(&bin, &requests, "json");

    println!("otlp -> batch -> file, collector pinned to 1 core (taskset -c 0)");
    println!(
        "  requests: {REQUESTS} x {POINTS} points ({avg_bytes} bytes each), {IN_FLIGHT} in flight"
    );
    println!("  protobuf decode + encode (1 thread)    : {bare:>10.0} points/s");
    println!("  protobuf decode + OTLP JSON encode     : {bare_json:>10.0} points/s");
    println!(
        "  otlp -> batch -> file, format: proto   : {pipeline_proto:>10.0} points/s  (ratio to decode+encode {:.3})",
        pipeline_proto / bare
    );
    println!(
        "  otlp -> batch -> file, format: json    : {pipeline_json:>10.0} points/s  (ratio to decode+JSON {:.3})",
        pipeline_json / bare_json
    );
}
