//! kafka-obs beside rotel (a Rust OpenTelemetry collector, PyPI `rotel`) on the same load in the
//! same run (issue #19). Each collector runs alone on core 0 (`taskset -c 0`); this process (the
//! load generator and the sinks) and the `tansu` broker run where this process runs (core 1
//! under `scripts/vs-rotel.sh`). For every row both collectors get the same OTLP metrics load
//! for the same time and the same drain, and the table shows, per collector: the rate of points
//! delivered to the sink (or read back from the topic), the collector's CPU-seconds (utime +
//! stime from `/proc/<pid>/stat`), points per CPU-second, p50/p99 request latency as the client
//! saw it, peak RSS (`VmHWM`) and whether every answered point arrived.
//!
//! Rows: OTLP/gRPC -> OTLP/gRPC, OTLP/HTTP -> OTLP/HTTP, OTLP/gRPC -> Kafka, at 100 and 1000
//! points per request, 1 and 16 requests in flight (one source per client), with the
//! collector's outgoing compression `gzip` and `none`.
//!
//! Run: `scripts/vs-rotel.sh [--quick] [--rows <text>]` (installs rotel, builds, pins). Flags:
//! `--quick` (3 s per row instead of 10), `--seconds N`, `--rows <text>` (only rows whose name
//! contains it, e.g. `kafka` or `grpc 1000pt`). `KAFKA_OBS_BIN` and `ROTEL_BIN` pick other
//! builds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tonic::codec::CompressionEncoding;

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::args::Args;
use kafka_obs_tests::otlp::kv;
use kafka_obs_tests::rss;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

const TOPIC: &str = "vs-rotel-metrics";
const PARTITIONS: i32 = 3;
/// One client, one request at a time, before the measurement.
const WARM_UP: Duration = Duration::from_millis(500);
/// A drain that delivered nothing new for this long is over (what is missing is lost).
const DRAIN_IDLE: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Grpc,
    Http,
    Kafka,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Grpc => "otlp/grpc -> otlp/grpc",
            Route::Http => "otlp/http -> otlp/http",
            Route::Kafka => "otlp/grpc -> kafka",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Row {
    route: Route,
    points: usize,
    in_flight: usize,
    gzip: bool,
}

impl Row {
    fn name(&self) -> String {
        format!(
            "{} {}pt x{} {}",
            self.route.label(),
            self.points,
            self.in_flight,
            if self.gzip { "gzip" } else { "none" }
        )
    }

    fn compression(&self) -> &'static str {
        if self.gzip { "gzip" } else { "none" }
    }
}

fn all_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for route in [Route::Grpc, Route::Http, Route::Kafka] {
        for points in [100, 1000] {
            for in_flight in [1, 16] {
                for gzip in [true, false] {
                    rows.push(Row {
                        route,
                        points,
                        in_flight,
                        gzip,
                    });
                }
            }
        }
    }
    rows
}

/// Points that reached the destination, and when the last of them did.
struct Delivered {
    points: AtomicU64,
    last: Mutex<Instant>,
}

impl Delivered {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            points: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    fn add(&self, n: u64) {
        if n > 0 {
            self.points.fetch_add(n, Ordering::Relaxed);
            *self.last.lock().unwrap() = Instant::now();
        }
    }

    fn get(&self) -> u64 {
        self.points.load(Ordering::Relaxed)
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap()
    }
}

fn points_in(request: &ExportMetricsServiceRequest) -> u64 {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            _ => 0,
        } as u64)
        .sum()
}

/// The OTLP/gRPC sink: counts points, answers OK.
#[derive(Clone)]
struct GrpcSink(Arc<Delivered>);

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.add(points_in(request.get_ref()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn grpc_sink(delivered: Arc<Delivered>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = futures::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(GrpcSink(delivered))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(64 << 20),
            )
            .serve_with_incoming(incoming),
    );
    addr
}

/// The OTLP/HTTP sink: gunzips when asked, decodes, counts points, answers 200.
async fn http_sink(delivered: Arc<Delivered>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let delivered = delivered.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let delivered = delivered.clone();
                        async move {
                            let gzip = req
                                .headers()
                                .get("content-encoding")
                                .is_some_and(|v| v.as_bytes() == b"gzip");
                            let body = req.into_body().collect().await?.to_bytes();
                            let body = if gzip {
                                let mut out = Vec::new();
                                flate2::read::GzDecoder::new(&body[..])
                                    .read_to_end(&mut out)
                                    .expect("gzip body from the collector");
                                Bytes::from(out)
                            } else {
                                body
                            };
                            let request = ExportMetricsServiceRequest::decode(body)
                                .expect("OTLP protobuf body from the collector");
                            delivered.add(points_in(&request));
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .header("content-type", "application/x-protobuf")
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Reads the topic from the beginning on its own thread, counting points, until `stop`.
/// Counts what it consumes: tansu's high watermarks count batches, not records.
fn topic_reader(brokers: &str, delivered: Arc<Delivered>, stop: Arc<AtomicBool>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("vs-rotel-{}", free_port()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("Kafka consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign the topic");
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let request = ExportMetricsServiceRequest::decode(m.payload().unwrap_or(&[]))
                        .expect("an otlp_proto record");
                    delivered.add(points_in(&request));
                }
                Some(Err(e)) => eprintln!("# consumer: {e}"),
                None => {}
            }
        }
    });
}

/// One client's request: `points` gauge points of the source `client-<id>`.
fn request(client: usize, points: usize) -> ExportMetricsServiceRequest {
    let mut r = kafka_obs_tests::otlp::metrics_request(client as u64, points);
    if let Some(resource) = r.resource_metrics[0].resource.as_mut() {
        resource.attributes.push(kv(
            "service.instance.id",
            Value::StringValue(format!("client-{client}")),
        ));
    }
    r
}

/// What the clients saw: points answered OK, and each request's latency.
#[derive(Default)]
struct Answers {
    points: u64,
    failed: u64,
    latencies: Vec<Duration>,
}

/// `row.in_flight` clients, each with one export in flight, until `until`.
async fn load(row: Row, port: u16, until: Instant) -> Answers {
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..row.in_flight {
        let req = request(client, row.points);
        let points = row.points as u64;
        tasks.spawn(async move {
            let mut seen = Answers::default();
            match row.route {
                Route::Grpc | Route::Kafka => {
                    let mut c = grpc_client(port).await;
                    while Instant::now() < until {
                        let sent = Instant::now();
                        match c.export(req.clone()).await {
                            Ok(_) => seen.points += points,
                            Err(_) => seen.failed += 1,
                        }
                        seen.latencies.push(sent.elapsed());
                    }
                }
                Route::Http => {
                    let c = http_client();
                    let body = Bytes::from(req.encode_to_vec());
                    while Instant::now() < until {
                        let sent = Instant::now();
                        if http_export(&c, port, body.clone()).await {
                            seen.points += points;
                        } else {
                            seen.failed += 1;
                        }
                        seen.latencies.push(sent.elapsed());
                    }
                }
            }
            seen
        });
    }
    let mut all = Answers::default();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        all.points += r.points;
        all.failed += r.failed;
        all.latencies.extend(r.latencies);
    }
    all.latencies.sort();
    all
}

async fn grpc_client(port: u16) -> MetricsServiceClient<tonic::transport::Channel> {
    MetricsServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("connect to the collector's OTLP/gRPC port"),
    )
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn http_export(client: &HttpClient, port: u16, body: Bytes) -> bool {
    let req = hyper::Request::post(format!("http://127.0.0.1:{port}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(Full::new(body))
        .unwrap();
    match client.request(req).await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            let _ = resp.into_body().collect().await;
            ok
        }
        Err(_) => false,
    }
}

/// Where a collector sends, for one run.
enum Destination {
    Grpc(SocketAddr),
    Http(SocketAddr),
    Kafka(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collector {
    KafkaObs,
    Rotel,
}

impl Collector {
    fn label(self) -> &'static str {
        match self {
            Collector::KafkaObs => "kafka-obs",
            Collector::Rotel => "rotel",
        }
    }
}

struct Bins {
    kafka_obs: PathBuf,
    rotel: PathBuf,
}

/// Starts `who` on core 0, receiving on `port`; returns the guard (its pid is the collector's:
/// taskset execs it).
fn start(
    who: Collector,
    bins: &Bins,
    dir: &Path,
    row: Row,
    port: u16,
    to: &Destination,
) -> ChildGuard {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match who {
        Collector::KafkaObs => {
            let receiver = match row.route {
                Route::Http => format!("http:\n        endpoint: 127.0.0.1:{port}"),
                Route::Grpc | Route::Kafka => format!("grpc:\n        endpoint: 127.0.0.1:{port}"),
            };
            let (name, exporter) = match to {
                Destination::Grpc(a) => (
                    "otlp",
                    format!(
                        "otlp:\n    endpoint: {a}\n    tls: {{insecure: true}}\n    compression: {}",
                        row.compression()
                    ),
                ),
                Destination::Http(a) => (
                    "otlp_http",
                    format!(
                        "otlp_http:\n    endpoint: http://{a}\n    compression: {}",
                        row.compression()
                    ),
                ),
                Destination::Kafka(b) => (
                    "kafka",
                    format!(
                        "kafka:\n    brokers: [{b}]\n    metrics: {{topic: {TOPIC}, encoding: otlp_proto}}\n    producer: {{compression: {}}}",
                        row.compression()
                    ),
                ),
            };
            let config = dir.join("kafka-obs.yaml");
            std::fs::write(
                &config,
                format!(
                    "receivers:\n  otlp:\n    protocols:\n      {receiver}\nprocessors:\n  batch:\nexporters:\n  {exporter}\nservice:\n  telemetry:\n    logs: {{level: warn}}\n    metrics: {{address: 127.0.0.1:{}}}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [{name}]\n",
                    free_port()
                ),
            )
            .unwrap();
            cmd.arg(&bins.kafka_obs).arg("--config").arg(&config);
        }
        Collector::Rotel => {
            let (grpc, http) = match row.route {
                Route::Http => (free_port(), port),
                Route::Grpc | Route::Kafka => (port, free_port()),
            };
            cmd.arg(&bins.rotel)
                .arg("start")
                .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
                .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
                .arg("--pid-file")
                .arg(dir.join("rotel.pid"))
                .arg("--log-file")
                .arg(dir.join("rotel.log"));
            match to {
                Destination::Grpc(a) | Destination::Http(a) => {
                    let protocol = if matches!(to, Destination::Grpc(_)) {
                        "grpc"
                    } else {
                        "http"
                    };
                    cmd.args(["--exporter", "otlp", "--otlp-exporter-protocol", protocol])
                        .args(["--otlp-exporter-endpoint", &format!("http://{a}")])
                        .args(["--otlp-exporter-compression", row.compression()]);
                }
                Destination::Kafka(b) => {
                    // Our guarantees, so the comparison is like for like: acks=all, idempotence.
                    cmd.args(["--exporter", "kafka", "--kafka-exporter-brokers", b])
                        .args(["--kafka-exporter-metrics-topic", TOPIC])
                        .args(["--kafka-exporter-format", "protobuf"])
                        .args(["--kafka-exporter-compression", row.compression()])
                        .args(["--kafka-exporter-acks", "all"])
                        .args(["--kafka-exporter-custom-config", "enable.idempotence=true"]);
                }
            }
        }
    }
    ChildGuard::spawn(&mut cmd).expect("start the collector under taskset")
}

/// Waits until `delivered` reaches `expected` or stops moving for `DRAIN_IDLE`.
async fn drain(delivered: &Delivered, expected: u64) {
    let mut last = (delivered.get(), Instant::now());
    while delivered.get() < expected {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = delivered.get();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > DRAIN_IDLE {
            return;
        }
    }
}

/// One collector on one row.
struct Figures {
    delivered_per_second: f64,
    cpu_seconds: f64,
    points_per_cpu_second: f64,
    p50: Duration,
    p99: Duration,
    peak_rss_mib: f64,
    /// Delivered minus answered over the whole run (0: everything answered arrived once).
    missing: i64,
    failed_requests: u64,
}

async fn measure(who: Collector, bins: &Bins, dir: &Path, row: Row, seconds: Duration) -> Figures {
    let delivered = Delivered::new();
    let stop_reader = Arc::new(AtomicBool::new(false));
    // The broker lives as long as this run: a fresh, empty topic for each collector.
    let mut broker = None;
    let destination = match row.route {
        Route::Grpc => Destination::Grpc(grpc_sink(delivered.clone()).await),
        Route::Http => Destination::Http(http_sink(delivered.clone()).await),
        Route::Kafka => {
            let tansu = Tansu::start().expect("start tansu");
            tansu
                .create_topic(TOPIC, PARTITIONS as u32)
                .expect("create the topic");
            topic_reader(&tansu.brokers(), delivered.clone(), stop_reader.clone());
            let brokers = tansu.brokers();
            broker = Some(tansu);
            Destination::Kafka(brokers)
        }
    };
    let port = free_port();
    let mut collector = start(who, bins, dir, row, port, &destination);
    let pid = collector.pid();
    wait_for_port(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{} did not listen on {port}: {e}", who.label()));

    // Warm-up: the path works end to end before the clock starts.
    let warm_up = Row {
        in_flight: 1,
        ..row
    };
    let mut answered = load(warm_up, port, Instant::now() + WARM_UP).await.points;
    // Delivered before the clock starts (what is missing shows in the final check).
    drain(&delivered, answered).await;

    let before = delivered.get();
    let cpu_before = rss::cpu_seconds(pid).unwrap_or(0.0);
    let started = Instant::now();
    let answers = load(row, port, started + seconds).await;
    answered += answers.points;
    drain(&delivered, answered).await;
    let cpu = rss::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let points = delivered.get() - before;
    let took = delivered
        .last()
        .saturating_duration_since(started)
        .max(seconds / 100);
    let peak = rss::peak_rss_kib(pid).unwrap_or(0);
    let _ = collector.terminate(Duration::from_secs(15));
    stop_reader.store(true, Ordering::Relaxed);
    drop(broker);
    let at = |q: f64| {
        answers
            .latencies
            .get(((answers.latencies.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    Figures {
        delivered_per_second: points as f64 / took.as_secs_f64(),
        cpu_seconds: cpu,
        points_per_cpu_second: if cpu > 0.0 { points as f64 / cpu } else { 0.0 },
        p50: at(0.50),
        p99: at(0.99),
        peak_rss_mib: peak as f64 / 1024.0,
        missing: delivered.get() as i64 - answered as i64,
        failed_requests: answers.failed,
    }
}

fn check(f: &Figures) -> String {
    let mut out = match f.missing {
        0 => "all delivered".to_string(),
        n if n < 0 => format!("LOST {}", -n),
        n => format!("{n} extra"),
    };
    if f.failed_requests > 0 {
        out.push_str(&format!(", {} requests refused", f.failed_requests));
    }
    out
}

fn main() {
    let args = Args::from_env();
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = Duration::from_secs(args.get("seconds", if quick { 3 } else { 10 }));
    let filter: String = args.get("rows", String::new());
    let bins = Bins {
        kafka_obs: kafka_obs_tests::release_bin(),
        rotel: peers::rotel_bin()
            .expect("run scripts/vs-rotel.sh (installs rotel==0.0.1a15), or set ROTEL_BIN"),
    };
    let rows: Vec<Row> = all_rows()
        .into_iter()
        .filter(|r| r.name().contains(&filter))
        .collect();
    assert!(!rows.is_empty(), "--rows {filter:?} matches no row");
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# {} s per row and collector; collectors on core 0, load/sinks/tansu beside this process; load average at start: {}",
        seconds.as_secs(),
        load_average
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| row | collector | points/s delivered | CPU-s | points per CPU-s | p50 | p99 | peak RSS MiB | check |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        for who in [Collector::KafkaObs, Collector::Rotel] {
            let f = runtime.block_on(measure(who, &bins, dir.path(), row, seconds));
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.0} | {:.2?} | {:.2?} | {:.1} | {} |",
                row.name(),
                who.label(),
                f.delivered_per_second,
                f.cpu_seconds,
                f.points_per_cpu_second,
                f.p50,
                f.p99,
                f.peak_rss_mib,
                check(&f)
            );
        }
    }
}
