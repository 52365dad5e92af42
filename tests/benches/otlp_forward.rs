//! OTLP/gRPC forwarding per CPU-second, side by side in one run: kafka-obs `otlp -> batch ->
//! otlp` (this build, and an older build when `KAFKA_OBS_BEFORE` names one) and rotel, each
//! pinned to core 0, forwarding 1000-point metric requests (16 in flight) to the same
//! OTLP/gRPC sink, once with gzip on both hops (the Collector's default) and once without.
//! The sink counts the points it received: a row's figures end when every point sent has
//! arrived there, not when the client got its answers. CPU-seconds are the collector's own
//! (`utime + stime` from `/proc/<pid>/stat`) over the measured part, so the load generator and
//! the sink (in this process, on the other core) are not counted.
//!
//! Run: `cargo build --release -p kafka-obs && taskset -c 1 cargo bench -p kafka-obs-tests
//! --bench otlp_forward`. `KAFKA_OBS_BIN` picks the kafka-obs build, `KAFKA_OBS_BEFORE` adds
//! another build as a reference row, `ROTEL_BIN` the rotel binary (default: `rotel/rotel-agent`
//! in the peers venv); `REQUESTS` (default 2000) per row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::otlp::{metrics_client, metrics_request};
use kafka_obs_tests::rss;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tonic::codec::CompressionEncoding;

/// Gauge points per request.
const POINTS: usize = 1000;
const IN_FLIGHT: usize = 16;
const WARM_UP: u64 = 100;
/// Distinct requests the client cycles through (built before the clock starts).
const POOL: u64 = 64;

/// The backend every collector forwards to: counts the points it received.
#[derive(Clone, Default)]
struct Sink(Arc<AtomicU64>);

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let points: usize = request
            .get_ref()
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.len(),
                _ => 0,
            })
            .sum();
        self.0.fetch_add(points as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn start_sink(sink: Sink) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = futures::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| s);
        Some((accepted, l))
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(sink)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(64 << 20),
            )
            .serve_with_incoming(incoming),
    );
    addr
}

struct Row {
    name: String,
    points: u64,
    wall: Duration,
    cpu: f64,
    rss_mib: f64,
}

/// Sends `count` requests from `pool`, `IN_FLIGHT` at a time, each answered OK.
async fn send(port: u16, gzip: bool, pool: &Arc<Vec<ExportMetricsServiceRequest>>, count: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut client = metrics_client(port)
            .await
            .max_encoding_message_size(64 << 20);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        let (pool, next) = (pool.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let request = pool[(i % POOL) as usize].clone();
                client.export(request).await.expect("export answered OK");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Waits until the sink has `target` points (a collector may still be flushing its batch).
async fn delivered(sink: &Sink, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.0.load(Ordering::Relaxed) < target {
        assert!(
            Instant::now() < deadline,
            "only {} of {target} points reached the sink",
            sink.0.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// kafka-obs `otlp -> batch -> otlp` on core 0.
fn kafka_obs(bin: &Path, dir: &Path, grpc: u16, sink: SocketAddr, gzip: bool) -> ChildGuard {
    let compression = if gzip { "gzip" } else { "none" };
    let config = dir.join(format!("kafka-obs-{compression}-{grpc}.yaml"));
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\nprocessors:\n  batch:\nexporters:\n  otlp:\n    endpoint: {sink}\n    tls: {{insecure: true}}\n    compression: {compression}\nservice:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      address: 127.0.0.1:{}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlp]\n",
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

/// rotel on core 0 with its default batching.
fn rotel(bin: &Path, dir: &Path, grpc: u16, sink: SocketAddr, gzip: bool) -> ChildGuard {
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
            .args([
                "--otlp-exporter-compression",
                if gzip { "gzip" } else { "none" },
            ])
            .arg("--pid-file")
            .arg(dir.join(format!("rotel-{grpc}.pid")))
            .arg("--log-file")
            .arg(dir.join(format!("rotel-{grpc}.log")))
            .stdout(Stdio::null()),
    )
    .expect("start rotel under taskset")
}

type Start<'a> = Box<dyn Fn(u16, bool) -> ChildGuard + 'a>;

fn main() {
    let bin = kafka_obs_tests::release_bin();
    let before = std::env::var_os("KAFKA_OBS_BEFORE").map(PathBuf::from);
    let rotel_bin = peers::rotel_bin()
        .expect("pip install rotel==0.0.1a15 in the peers venv, or set ROTEL_BIN");
    let requests: u64 = std::env::var("REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sink = Sink::default();
    let sink_addr = runtime.block_on(start_sink(sink.clone()));
    let pool = Arc::new((0..POOL).map(|r| metrics_request(r, POINTS)).collect());

    let mut targets: Vec<(String, Start)> = vec![(
        "kafka-obs otlp -> batch -> otlp".into(),
        Box::new(|port, gzip| kafka_obs(&bin, dir, port, sink_addr, gzip)),
    )];
    if let Some(before) = &before {
        targets.push((
            "kafka-obs before (KAFKA_OBS_BEFORE)".into(),
            Box::new(move |port, gzip| kafka_obs(before, dir, port, sink_addr, gzip)),
        ));
    }
    targets.push((
        "rotel otlp -> otlp".into(),
        Box::new(|port, gzip| rotel(&rotel_bin, dir, port, sink_addr, gzip)),
    ));

    let mut rows = Vec::new();
    for gzip in [true, false] {
        for (name, start) in &targets {
            let port = free_port();
            let mut collector = start(port, gzip);
            wait_for_port(
                format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_secs(20),
            )
            .unwrap_or_else(|e| panic!("{name} did not listen on {port}: {e}"));
            let pid = collector.pid();
            let row = runtime.block_on(async {
                let base = sink.0.load(Ordering::Relaxed);
                send(port, gzip, &pool, WARM_UP).await;
                delivered(&sink, base + WARM_UP * POINTS as u64).await;
                let base = sink.0.load(Ordering::Relaxed);
                let cpu = rss::cpu_seconds(pid).expect("the collector runs");
                let started = Instant::now();
                send(port, gzip, &pool, requests).await;
                let points = requests * POINTS as u64;
                delivered(&sink, base + points).await;
                Row {
                    name: format!("{name}, {}", if gzip { "gzip" } else { "none" }),
                    points,
                    wall: started.elapsed(),
                    cpu: rss::cpu_seconds(pid).expect("the collector runs") - cpu,
                    rss_mib: rss::peak_rss_kib(pid).expect("the collector runs") as f64 / 1024.0,
                }
            });
            let _ = collector.terminate(Duration::from_secs(15));
            rows.push(row);
        }
    }

    println!(
        "OTLP/gRPC metrics, {POINTS}-point requests, {IN_FLIGHT} in flight, {requests} requests \
         per row, collectors pinned to core 0, counted at the sink"
    );
    println!(
        "  {:<46} {:>9} {:>8} {:>11} {:>7} {:>13} {:>9}",
        "collector, compression on both hops",
        "points",
        "wall s",
        "points/s",
        "CPU s",
        "points/CPU-s",
        "peak RSS"
    );
    for r in &rows {
        println!(
            "  {:<46} {:>9} {:>8.2} {:>11.0} {:>7.2} {:>13.0} {:>6.1} MiB",
            r.name,
            r.points,
            r.wall.as_secs_f64(),
            r.points as f64 / r.wall.as_secs_f64(),
            r.cpu,
            r.points as f64 / r.cpu,
            r.rss_mib
        );
    }
}
