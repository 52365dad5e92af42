//! How fast a collector answers an OTLP client that keeps one export in flight (what the
//! OpenTelemetry SDKs do): per-request latency (p50, p99, max) and requests/s, side by side in
//! one run for kafka-obs `otlp -> batch (defaults) -> otlp`, kafka-obs `otlp -> otlp` (no batch
//! processor), and rotel (a Rust OTLP collector, batching by default) forwarding to the same
//! OTLP/gRPC sink. Each collector is pinned to core 0 (`taskset -c 0`); the client and the sink
//! run in this process (pin it to the other core, see BENCHMARKS.md).
//!
//! Run: `cargo build --release -p kafka-obs && taskset -c 1 cargo bench -p kafka-obs-tests
//! --bench otlp_answers`. `KAFKA_OBS_BIN` picks another kafka-obs build; `ROTEL_BIN` the
//! rotel binary (default: `rotel/rotel-agent` in the peers venv, PyPI `rotel==0.0.1a15`);
//! `SECONDS` (default 5) how long each collector is measured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::otlp::{metrics_client, metrics_request};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tonic::codec::CompressionEncoding;

/// Gauge points per request (100, as in the `otlp_pipeline` bench).
const POINTS: usize = 100;
const WARM_UP: u64 = 200;

/// The backend every collector forwards to: answers OK and forgets.
struct Sink;

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn start_sink() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            // kafka-obs compresses with gzip by default, as the Collector does.
            .add_service(
                MetricsServiceServer::new(Sink).accept_compressed(CompressionEncoding::Gzip),
            )
            .serve_with_incoming(connections(listener)),
    );
    addr
}

/// The listener as the stream of connections tonic serves.
fn connections(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| s);
        Some((accepted, l))
    })
}

/// What one collector showed.
struct Figures {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// One client, one export in flight, for `measure` after a warm-up.
async fn one_in_flight(port: u16, measure: Duration) -> Figures {
    let mut client = metrics_client(port).await;
    for r in 0..WARM_UP {
        client
            .export(metrics_request(r, POINTS))
            .await
            .expect("warm-up export");
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut r = WARM_UP;
    while started.elapsed() < measure {
        let request = metrics_request(r, POINTS);
        let sent = Instant::now();
        client.export(request).await.expect("export answered OK");
        latencies.push(sent.elapsed());
        r += 1;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Figures {
        requests: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// `kafka-obs` on core 0 forwarding OTLP/gRPC on `grpc` to `sink`, with or without `batch`.
fn kafka_obs(bin: &Path, dir: &Path, grpc: u16, sink: SocketAddr, batch: bool) -> ChildGuard {
    let processors = if batch {
        "      processors: [batch]\n"
    } else {
        ""
    };
    let config = dir.join(format!("kafka-obs-batch-{batch}.yaml"));
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\nprocessors:\n  batch:\nexporters:\n  otlp:\n    endpoint: {sink}\n    tls: {{insecure: true}}\nservice:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n{processors}      exporters: [otlp]\n",
            free_port()
        ),
    )
    .unwrap();
    ChildGuard::spawn(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(bin)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null()),
    )
    .expect("start kafka-obs under taskset")
}

/// rotel on core 0 forwarding OTLP/gRPC on `grpc` to `sink`, with its default batching.
fn rotel(bin: &Path, dir: &Path, grpc: u16, sink: SocketAddr) -> ChildGuard {
    ChildGuard::spawn(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(bin)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args([
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "grpc"])
            .args(["--otlp-exporter-endpoint", &format!("http://{sink}")])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .stdout(Stdio::null()),
    )
    .expect("start rotel under taskset")
}

fn main() {
    let bin = kafka_obs_tests::release_bin();
    let rotel_bin = peers::rotel_bin()
        .expect("pip install rotel==0.0.1a15 in the peers venv, or set ROTEL_BIN");
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let measure = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sink = runtime.block_on(start_sink());

    type Start<'a> = Box<dyn Fn(u16) -> ChildGuard + 'a>;
    let targets: [(&str, Start); 3] = [
        (
            "kafka-obs otlp -> batch (defaults) -> otlp",
            Box::new(|port| kafka_obs(&bin, dir.path(), port, sink, true)),
        ),
        (
            "kafka-obs otlp -> otlp (no batch)",
            Box::new(|port| kafka_obs(&bin, dir.path(), port, sink, false)),
        ),
        (
            "rotel otlp -> otlp (its default batching)",
            Box::new(|port| rotel(&rotel_bin, dir.path(), port, sink)),
        ),
    ];
    let mut rows = Vec::new();
    for (name, start) in &targets {
        let port = free_port();
        let mut collector = start(port);
        wait_for_port(
            format!("127.0.0.1:{port}").parse().unwrap(),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("{name} did not listen on {port}: {e}"));
        let figures = runtime.block_on(one_in_flight(port, measure));
        let _ = collector.terminate(Duration::from_secs(15));
        rows.push((name, figures));
    }

    println!(
        "one OTLP/gRPC export in flight ({POINTS} gauge points each), {seconds} s per collector, \
         collectors pinned to core 0, forwarding to an OTLP/gRPC sink"
    );
    println!(
        "  {:<44} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "collector", "requests", "req/s", "p50", "p99", "max"
    );
    for (name, f) in &rows {
        println!(
            "  {:<44} {:>9} {:>10.0} {:>10.3?} {:>10.3?} {:>10.3?}",
            name, f.requests, f.per_second, f.p50, f.p99, f.max
        );
    }
}
