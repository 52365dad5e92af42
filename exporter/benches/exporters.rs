//! Exporter throughput on loopback, printed as items per second: each network exporter through
//! the whole delivery layer (queue, lanes, retry wrapper) to a real peer (in-process tonic and
//! hyper sinks for OTLP and the signal stream, the `tansu` broker for Kafka), beside bare
//! encoding of the same items in the same run; then the disk queue (`file_storage`) against
//! the in-memory queue with a transport that does nothing, so only the queue differs.
//!
//! Run: `cargo bench -p kafka-obs-exporter --bench exporters`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use http_body_util::{BodyExt, Full};
use prost::Message;
use tokio::sync::mpsc;

use kafka_obs_api::{
    Batch, BuildContext, ComponentId, ComponentKind, DataKind, ExporterConfig, Host,
    StorageCapability, Telemetry,
};
use kafka_obs_exporter::delivery::{
    DeliveryError, DeliveryExporter, DeliverySettings, Outcome, QueueConfig, Transport,
    encode_record,
};
use kafka_obs_exporter::kafka::KafkaExporterConfig;
use kafka_obs_exporter::otlp::OtlpExporterConfig;
use kafka_obs_exporter::otlp::OtlpHttpExporterConfig;
use kafka_obs_exporter::signals::SignalsExporterConfig;
use kafka_obs_extension::file_storage::{FileStorage, Fsync, OnFull, QueueOptions};
use kafka_obs_proto::aggregator::v1::signal_aggregator_server::{
    SignalAggregator, SignalAggregatorServer,
};
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};
use kafka_obs_signal::otlp::ExportResource;
use kafka_obs_signal::otlp::logs::{from_export_request, to_export_request};
use kafka_obs_signal::proto::to_envelope;
use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};

const SOURCES: u64 = 10;
const PER_SOURCE: u64 = 50;
const BATCHES: u64 = 200;

/// Batches of signal events: 10 sources x 50 signals = 500 items each.
fn batches(n: u64) -> Vec<Batch> {
    let kind: SignalKind = "Queues.OVERFLOW".parse().unwrap();
    (0..n)
        .map(|b| {
            let mut signals = Vec::new();
            for src in 0..SOURCES {
                for i in 0..PER_SOURCE {
                    let subject = Subject::from_pairs([
                        ("cluster", "prod"),
                        ("service", "orders"),
                        ("client", "order-producer"),
                        ("topic", "orders"),
                    ])
                    .unwrap();
                    let mut ev = Evidence::rule("P1");
                    ev.values.insert("utilization".into(), 0.97);
                    let mut s = Signal::new(subject, kind, ev, 1_700_000_000_000_000_000 + i);
                    s.source_id = format!("pod-{src}");
                    s.sequence = b * PER_SOURCE + i;
                    signals.push(s);
                }
            }
            Batch::Logs(to_export_request(&signals, &ExportResource::default()))
        })
        .collect()
}

fn items(b: &[Batch]) -> u64 {
    b.iter().map(|b| b.item_count() as u64).sum()
}

fn report(name: &str, n: u64, elapsed: Duration) {
    println!(
        "{name:<44} {n:>8} items {:>9.1} ms {:>12.0} items/s",
        elapsed.as_secs_f64() * 1000.0,
        n as f64 / elapsed.as_secs_f64()
    );
}

fn ctx(id: &str, host: Host) -> BuildContext {
    BuildContext::for_test(ComponentKind::Exporter, id, &[DataKind::Logs]).with_host(host)
}

/// Runs `config`'s exporter over `input` and returns the elapsed time until it finished.
async fn run_exporter(config: &dyn ExporterConfig, host: Host, input: Vec<Batch>) -> Duration {
    let c = ctx("bench", host);
    let exporter = config.build(&c).unwrap();
    run_built(exporter, &c, config.queue().capacity, input).await
}

async fn run_built(
    exporter: Box<dyn kafka_obs_api::Exporter>,
    c: &BuildContext,
    capacity: usize,
    input: Vec<Batch>,
) -> Duration {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (run, _) = c.run_for_test();
    let started = Instant::now();
    let task = tokio::spawn(exporter.run(rx, run));
    for b in input {
        tx.send(b.into()).await.unwrap();
    }
    drop(tx);
    task.await.unwrap().unwrap();
    let elapsed = started.elapsed();
    let sent = c
        .telemetry
        .registry()
        .snapshot()
        .into_iter()
        .filter(|s| s.name.starts_with("otelcol_exporter_send_failed_"))
        .map(|s| s.value.as_i64())
        .sum::<i64>();
    assert_eq!(sent, 0, "the benchmark lost items");
    elapsed
}

#[derive(Clone, Default)]
struct CountingLogs(Arc<AtomicU64>);

#[tonic::async_trait]
impl LogsService for CountingLogs {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

struct AckAll;

type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl SignalAggregator for AckAll {
    type StreamSignalsStream = AckStream;

    async fn stream_signals(
        &self,
        request: tonic::Request<tonic::Streaming<SignalEnvelope>>,
    ) -> Result<tonic::Response<AckStream>, tonic::Status> {
        use futures::StreamExt;
        let acks = request.into_inner().map(|e| {
            let e = e?;
            Ok(Ack {
                source_id: e.source_id,
                sequence: e.sequence,
                status: AckStatus::Accepted.into(),
                message: String::new(),
                cumulative: true,
            })
        });
        Ok(tonic::Response::new(Box::pin(acks)))
    }
}

async fn grpc_sink() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                LogsServiceServer::new(CountingLogs::default())
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .add_service(
                SignalAggregatorServer::new(AckAll)
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    port
}

/// An OTLP/HTTP sink: reads the body, answers 200 with an empty protobuf response.
async fn http_sink() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).unwrap()
}

/// Does nothing, successfully: the queue comparison measures only the queue.
struct Null;

impl Transport for Null {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        let n = batch.item_count() as u64;
        async move { Ok(Outcome::all(n)) }.boxed()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async_main());
}

async fn async_main() {
    let input = batches(BATCHES);
    let n = items(&input);
    println!(
        "# {BATCHES} batches x {} items (signal events, {SOURCES} sources per batch)",
        n / BATCHES
    );

    // Bare encoding of the same items.
    let t = Instant::now();
    let mut bytes = 0usize;
    for b in &input {
        if let Batch::Logs(r) = b {
            bytes += r.encode_to_vec().len();
        }
    }
    report("encode otlp_proto (prost)", n, t.elapsed());
    println!("#   {} bytes per item", bytes as u64 / n);
    let t = Instant::now();
    for b in &input {
        let _ = kafka_obs_otlp_json::to_json_line(b).unwrap();
    }
    report("encode otlp_json", n, t.elapsed());
    let t = Instant::now();
    for b in &input {
        if let Batch::Logs(r) = b {
            for s in from_export_request(r).unwrap() {
                let _ = to_envelope(&s).unwrap().encode_to_vec();
            }
        }
    }
    report("decode signal events + encode envelopes", n, t.elapsed());

    let grpc = grpc_sink().await;
    let http = http_sink().await;

    for gzip in ["none", "gzip"] {
        let cfg = OtlpExporterConfig::parse(&yaml(&format!(
            "endpoint: http://127.0.0.1:{grpc}\ncompression: {gzip}"
        )))
        .unwrap();
        let e = run_exporter(&cfg, Host::default(), input.clone()).await;
        report(&format!("otlp (gRPC, compression {gzip})"), n, e);
    }
    for (enc, gzip) in [("proto", "none"), ("proto", "gzip"), ("json", "none")] {
        let cfg = OtlpHttpExporterConfig::parse(&yaml(&format!(
            "endpoint: http://127.0.0.1:{http}\nencoding: {enc}\ncompression: {gzip}"
        )))
        .unwrap();
        let e = run_exporter(&cfg, Host::default(), input.clone()).await;
        report(&format!("otlp_http ({enc}, compression {gzip})"), n, e);
    }
    let cfg = SignalsExporterConfig::parse(&yaml(&format!(
        "endpoint: http://127.0.0.1:{grpc}\ncompression: none\nmax_in_flight: 5000"
    )))
    .unwrap();
    let e = run_exporter(&cfg, Host::default(), input.clone()).await;
    report("signals (gRPC stream, acks)", n, e);

    match kafka_obs_testkit::peers::tansu_bin() {
        Ok(tansu) => {
            let port = kafka_obs_testkit::net::free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut broker = kafka_obs_testkit::process::ChildGuard::spawn(
                Command::new(&tansu)
                    .args([
                        "broker",
                        "--listener-url",
                        &url,
                        "--advertised-listener-url",
                        &url,
                    ])
                    .args(["--storage-engine", "memory://tansu/"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .unwrap();
            kafka_obs_testkit::net::wait_for_port(
                format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_secs(10),
            )
            .unwrap();
            let _ = Command::new(&tansu)
                .args([
                    "topic",
                    "create",
                    "--broker",
                    &url,
                    "--partitions",
                    "3",
                    "__kafka-obs-signals",
                ])
                .status();
            // The last row: how much of an attempt's time is the client's linger (5 ms).
            for (enc, comp, linger) in [
                ("otlp_proto", "none", "5ms"),
                ("otlp_proto", "lz4", "5ms"),
                ("otlp_json", "none", "5ms"),
                ("otlp_proto", "none", "0ms"),
            ] {
                let cfg = KafkaExporterConfig::parse(&yaml(&format!(
                    "brokers: [127.0.0.1:{port}]\nlogs: {{encoding: {enc}}}\nproducer: {{compression: {comp}, linger: {linger}}}\ntimeout: 30s"
                )))
                .unwrap();
                let e = run_exporter(&cfg, Host::default(), input.clone()).await;
                report(&format!("kafka ({enc}, {comp}, linger {linger})"), n, e);
            }
            let _ = broker.terminate(Duration::from_secs(5));
        }
        Err(e) => println!("# kafka skipped: {e}"),
    }

    // The queue alone: in memory vs on disk, with a transport that does nothing.
    println!("# queue cost (null transport, 10 lanes)");
    let settings = DeliverySettings::default();
    let c = ctx("bench/memory", Host::default());
    let exp = DeliveryExporter::build(Null, settings.clone(), &c).unwrap();
    let e = run_built(Box::new(exp), &c, 1000, input.clone()).await;
    report("in-memory queue", n, e);
    for fsync in [Fsync::Never, Fsync::Interval, Fsync::Always] {
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(
            "file_storage",
            dir.path().to_path_buf(),
            QueueOptions {
                max_size: 1 << 30,
                segment_size: 16 << 20,
                fsync,
                fsync_interval: Duration::from_secs(1),
                on_full: OnFull::DropNewest,
            },
        );
        let mut host = Host::default();
        let id: ComponentId = "file_storage".parse().unwrap();
        host.insert(id.clone(), Arc::new(StorageCapability(Arc::new(storage))));
        let disk = DeliverySettings {
            queue: QueueConfig {
                storage: Some(id),
                ..QueueConfig::default()
            },
            ..settings.clone()
        };
        let c = ctx("bench/disk", host);
        let exp = DeliveryExporter::build(Null, disk, &c).unwrap();
        let e = run_built(Box::new(exp), &c, 64, input.clone()).await;
        report(&format!("disk queue (file_storage, fsync {fsync:?})"), n, e);
    }
    // Raw write throughput of the disk queue: push only.
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(
        "file_storage",
        dir.path().to_path_buf(),
        QueueOptions {
            max_size: 1 << 30,
            segment_size: 16 << 20,
            fsync: Fsync::Always,
            fsync_interval: Duration::from_secs(1),
            on_full: OnFull::DropNewest,
        },
    );
    let t = Telemetry::new();
    let q = kafka_obs_api::Storage::open_queue(
        &storage,
        "raw",
        &t.component(ComponentKind::Exporter, &"raw".parse().unwrap()),
    )
    .unwrap();
    let records: Vec<Vec<u8>> = input.iter().map(|b| encode_record(b, false)).collect();
    let mb: usize = records.iter().map(Vec::len).sum();
    let started = Instant::now();
    for r in &records {
        q.push(0, r).unwrap();
    }
    let e = started.elapsed();
    report("disk queue push only (fsync always)", n, e);
    println!(
        "#   {:.1} MB/s, {:.0} batches/s",
        mb as f64 / 1e6 / e.as_secs_f64(),
        records.len() as f64 / e.as_secs_f64()
    );
}
