//! Exporter fault tests on the real binary: a backend down for 30 s, `kill -9` with the disk
//! queue, a damaged queue file, the disk cap, and one dead exporter beside two live ones.
//! The backend is a recording OTLP gRPC server in this process that can refuse everything
//! (UNAVAILABLE) and be switched on. Retry intervals are short here (100 ms .. 1 s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tonic::codec::CompressionEncoding;

use kafka_obs_testkit::net::free_port;
use kafka_obs_tests::Collector;
use kafka_obs_tests::otlp::{metrics_client, metrics_request};

/// Records the `req` attribute of every point; refuses everything while `down`.
#[derive(Clone, Default)]
struct Backend {
    reqs: Arc<Mutex<Vec<i64>>>,
    down: Arc<AtomicBool>,
}

impl Backend {
    fn distinct(&self) -> BTreeSet<i64> {
        self.reqs.lock().unwrap().iter().copied().collect()
    }

    fn points(&self) -> usize {
        self.reqs.lock().unwrap().len()
    }
}

#[tonic::async_trait]
impl MetricsService for Backend {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if self.down.load(Ordering::SeqCst) {
            return Err(tonic::Status::unavailable("backend is down (scripted)"));
        }
        let mut reqs = self.reqs.lock().unwrap();
        for rm in &request.get_ref().resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    if let Some(Data::Gauge(g)) = &m.data {
                        for p in &g.data_points {
                            for a in &p.attributes {
                                if a.key == "req"
                                    && let Some(any_value::Value::IntValue(v)) =
                                        a.value.as_ref().and_then(|v| v.value.as_ref())
                                {
                                    reqs.push(*v);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

struct Served(tokio::task::JoinHandle<Result<(), tonic::transport::Error>>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(backend: Backend, port: u16) -> Served {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    Served(tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(backend).accept_compressed(CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    ))
}

async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

const RETRY: &str = "    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0";

fn config(grpc: u16, exporters: &str, names: &str, extensions: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
{extensions}exporters:
{exporters}
service:
{}  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [{names}]
",
        if extensions.is_empty() {
            String::new()
        } else {
            "  extensions: [file_storage]\n".to_string()
        }
    )
}

fn storage(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "extensions:
  file_storage:
    directory: {}
{extra}",
        dir.display()
    )
}

fn otlp_exporter(name: &str, port: u16, queue: &str) -> String {
    format!(
        "  {name}:
    endpoint: 127.0.0.1:{port}
    tls: {{insecure: true}}
    timeout: 2s
{RETRY}
{queue}"
    )
}

async fn send(grpc: u16, range: std::ops::Range<u64>, points: usize) {
    let mut client = metrics_client(grpc).await;
    for req in range {
        client
            .export(metrics_request(req, points))
            .await
            .unwrap_or_else(|e| panic!("request {req} refused: {e}"));
    }
}

/// The fault case: the backend is down for 30 s while data keeps coming, then up.
/// The first 15 s nothing listens (connection refused), the next 15 s it answers UNAVAILABLE.
/// Retries use the default `max_elapsed_time` (300 s), with short intervals so the test ends
/// soon after the backend returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_for_30s_then_up_delivers_everything_with_retries_counted() {
    const REQUESTS: i64 = 300;
    const POINTS: usize = 10;
    const OUTAGE: Duration = Duration::from_secs(30);
    let (grpc, backend_port) = (free_port(), free_port());
    let exporter = format!(
        "  otlp:
    endpoint: 127.0.0.1:{backend_port}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure:
      initial_interval: 500ms
      max_interval: 5s
"
    );
    let collector = Collector::start(&config(grpc, &exporter, "otlp", ""));
    let metric = |name: &str| collector.metric(name, &["exporter=\"otlp\""]);
    let started = Instant::now();
    // Data keeps coming for the whole outage: one request every 100 ms.
    let sender = tokio::spawn(async move {
        let mut client = metrics_client(grpc).await;
        for req in 0..REQUESTS as u64 {
            tokio::time::sleep_until((started + Duration::from_millis(100) * req as u32).into())
                .await;
            client
                .export(metrics_request(req, POINTS))
                .await
                .unwrap_or_else(|e| panic!("request {req} refused: {e}"));
        }
    });

    // Phase 1: nothing listens.
    tokio::time::sleep_until((started + OUTAGE / 2).into()).await;
    let retries_refused = metric("kafka_obs_exporter_retries_total");
    assert!(retries_refused > 0.0, "{}", collector.metrics());
    // Phase 2: the backend listens but refuses everything.
    let backend = Backend::default();
    backend.down.store(true, Ordering::SeqCst);
    let _served = serve(backend.clone(), backend_port).await;
    tokio::time::sleep_until((started + OUTAGE - Duration::from_secs(2)).into()).await;
    // Still down: retries kept growing, batches wait in the queue, nothing failed or dropped.
    let retries_unavailable = metric("kafka_obs_exporter_retries_total");
    assert!(
        retries_unavailable > retries_refused,
        "retries {retries_refused} -> {retries_unavailable}"
    );
    assert!(
        metric("otelcol_exporter_queue_size") > 0.0,
        "{}",
        collector.metrics()
    );
    assert_eq!(metric("otelcol_exporter_sent_metric_points"), 0.0);
    assert_eq!(metric("otelcol_exporter_send_failed_metric_points"), 0.0);
    assert_eq!(metric("otelcol_exporter_enqueue_failed_metric_points"), 0.0);
    assert!(backend.distinct().is_empty());
    tokio::time::sleep_until((started + OUTAGE).into()).await;
    backend.down.store(false, Ordering::SeqCst);
    let up_at = started.elapsed();
    sender.await.unwrap();

    assert!(
        wait_until(Duration::from_secs(25), || backend.distinct().len()
            == REQUESTS as usize)
        .await,
        "delivered {} of {REQUESTS} requests\n{}",
        backend.distinct().len(),
        collector.stderr()
    );
    let drained_in = started.elapsed() - up_at;
    // Nothing lost; a duplicate could only come from a retried attempt (at least once).
    let points = backend.points();
    let duplicates = points - REQUESTS as usize * POINTS;
    let retries = metric("kafka_obs_exporter_retries_total");
    assert!(
        duplicates as f64 <= retries * POINTS as f64,
        "{duplicates} duplicate points, {retries} retries"
    );
    let sent = || metric("otelcol_exporter_sent_metric_points");
    // The backend records a request before the exporter sees the reply and counts it.
    wait_until(Duration::from_secs(10), || {
        sent() >= (REQUESTS as usize * POINTS) as f64
    })
    .await;
    assert!(sent() >= (REQUESTS as usize * POINTS) as f64);
    assert_eq!(metric("otelcol_exporter_send_failed_metric_points"), 0.0);
    assert_eq!(metric("otelcol_exporter_enqueue_failed_metric_points"), 0.0);
    eprintln!(
        "30 s outage: {REQUESTS} requests ({} points) all delivered {drained_in:?} after the backend came back; {duplicates} duplicate points; retries {retries_refused} (refused) -> {retries_unavailable} (unavailable) -> {retries} (end)",
        REQUESTS as usize * POINTS
    );
}

fn kill9(collector: &Collector) {
    let status = std::process::Command::new("kill")
        .args(["-9", &collector.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_the_disk_queue_then_restart_delivers_every_accepted_item() {
    let (grpc, backend_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(
        grpc,
        &otlp_exporter(
            "otlp",
            backend_port,
            "    sending_queue:\n      storage: file_storage\n      num_consumers: 2",
        ),
        "otlp",
        &storage(dir.path(), ""),
    );
    let backend = Backend::default();
    let _served = serve(backend.clone(), backend_port).await;
    let collector = Collector::start(&yaml);
    // Half goes through, then the backend refuses: the rest is mid-export (retrying).
    send(grpc, 0..100, 10).await;
    assert!(
        wait_until(Duration::from_secs(20), || backend.distinct().len() == 100).await,
        "{}\n{}",
        collector.stderr(),
        collector.metrics()
    );
    backend.down.store(true, Ordering::SeqCst);
    send(grpc, 100..300, 10).await;
    assert!(
        wait_until(Duration::from_secs(20), || collector.metric(
            "kafka_obs_exporter_persisted_items_total",
            &["exporter=\"otlp\""]
        ) == 3000.0)
        .await,
        "{}",
        collector.metrics()
    );
    assert!(collector.metric("kafka_obs_exporter_retries_total", &[]) > 0.0);
    kill9(&collector);
    drop(collector);

    backend.down.store(false, Ordering::SeqCst);
    let collector = Collector::start(&yaml);
    assert!(
        wait_until(Duration::from_secs(30), || backend.distinct().len() == 300).await,
        "after restart: {} of 300\n{}",
        backend.distinct().len(),
        collector.stderr()
    );
    assert!(collector.stderr().contains("disk queue recovered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_queue_file_starts_reports_and_delivers_the_rest() {
    let (grpc, backend_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(
        grpc,
        &otlp_exporter(
            "otlp",
            backend_port,
            "    sending_queue:\n      storage: file_storage",
        ),
        "otlp",
        &storage(dir.path(), ""),
    );
    let collector = Collector::start(&yaml);
    send(grpc, 0..50, 10).await;
    assert!(
        wait_until(Duration::from_secs(20), || collector
            .metric("kafka_obs_exporter_persisted_items_total", &[])
            == 500.0)
        .await
    );
    kill9(&collector);
    drop(collector);
    // Damage a byte in the middle of the (only) segment file.
    let queue_dir = dir.path().join("exporter-otlp");
    let seg = std::fs::read_dir(&queue_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&seg).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&seg, &bytes).unwrap();

    let backend = Backend::default();
    let _served = serve(backend.clone(), backend_port).await;
    let collector = Collector::start(&yaml);
    assert!(
        wait_until(Duration::from_secs(30), || backend.distinct().len() == 49).await,
        "delivered {:?}\n{}",
        backend.distinct().len(),
        collector.stderr()
    );
    assert_eq!(
        collector.metric("kafka_obs_storage_damaged_records_total", &[]),
        1.0
    );
    assert!(collector.stderr().contains("disk queue record damaged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_cap_applies_the_configured_policy_and_counts() {
    for (policy, counter) in [
        (
            "drop_newest",
            "otelcol_exporter_enqueue_failed_metric_points",
        ),
        ("drop_oldest", "kafka_obs_storage_evicted_records_total"),
    ] {
        let (grpc, backend_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let yaml = config(
            grpc,
            &otlp_exporter(
                "otlp",
                backend_port,
                "    sending_queue:\n      storage: file_storage",
            ),
            "otlp",
            &storage(
                dir.path(),
                &format!("    max_size: 64KiB\n    on_full: {policy}\n    fsync: never\n"),
            ),
        );
        let collector = Collector::start(&yaml);
        // With drop_newest a request that no longer fits on disk is refused to its sender
        // (retry later): the receiver answers only for what is safe.
        let mut client = metrics_client(grpc).await;
        let mut refused = 0;
        for req in 0..300u64 {
            if let Err(e) = client.export(metrics_request(req, 10)).await {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{policy}: {e}");
                assert!(e.message().contains("disk queue"), "{policy}: {e}");
                refused += 1;
            }
        }
        assert_eq!(
            refused > 0,
            policy == "drop_newest",
            "{policy}: {refused} requests refused"
        );
        assert!(
            wait_until(Duration::from_secs(20), || collector.metric(counter, &[])
                > 0.0)
            .await,
            "{policy}: {}",
            collector.metrics()
        );
        let size = collector.metric("kafka_obs_storage_size_bytes", &[]);
        assert!(size <= 65536.0, "{policy}: {size} bytes on disk");
        let backend = Backend::default();
        let _served = serve(backend.clone(), backend_port).await;
        if policy == "drop_newest" {
            // Everything that was accepted onto the disk arrives, starting with the oldest.
            let persisted = collector.metric("kafka_obs_exporter_persisted_items_total", &[]);
            assert!(
                wait_until(Duration::from_secs(20), || {
                    backend.distinct().len() as f64 * 10.0 == persisted
                })
                .await,
                "{policy}: {} delivered, {persisted} persisted\n{}",
                backend.distinct().len(),
                collector.metrics()
            );
            assert!(backend.distinct().contains(&0), "the oldest are kept");
        } else {
            assert!(
                wait_until(Duration::from_secs(20), || backend
                    .distinct()
                    .contains(&299))
                .await,
                "{policy}: the newest are kept\n{}",
                collector.metrics()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dead_exporter_does_not_slow_two_live_ones() {
    let (grpc, dead, live) = (free_port(), free_port(), free_port());
    let out = tempfile::tempdir().unwrap();
    let exporters = format!(
        "{}\n{}\n  file:\n    path: {}/out.jsonl\n",
        otlp_exporter("otlp/dead", dead, ""),
        otlp_exporter("otlp/live", live, ""),
        out.path().display()
    );
    let yaml = config(grpc, &exporters, "otlp/dead, otlp/live, file", "");
    let backend = Backend::default();
    let _served = serve(backend.clone(), live).await;
    let collector = Collector::start(&yaml);
    let started = Instant::now();
    send(grpc, 0..3000, 20).await;
    let accepted_in = started.elapsed();
    assert!(
        wait_until(Duration::from_secs(30), || backend.distinct().len() == 3000).await,
        "live otlp got {} of 3000",
        backend.distinct().len()
    );
    let delivered_in = started.elapsed();
    let path = out.path().join("out.jsonl");
    assert!(
        wait_until(Duration::from_secs(30), || {
            kafka_obs_tests::otlp::request_ids_in_file(
                &std::fs::read_to_string(&path).unwrap_or_default(),
            )
            .len()
                == 60_000
        })
        .await
    );
    let dropped = collector.metric(
        "otelcol_exporter_enqueue_failed_metric_points",
        &["exporter=\"otlp/dead\""],
    );
    assert!(dropped > 0.0, "the dead exporter's overflow is counted");
    assert_eq!(
        collector.metric(
            "otelcol_exporter_enqueue_failed_metric_points",
            &["exporter=\"otlp/live\""]
        ),
        0.0
    );
    eprintln!(
        "60000 points: accepted in {accepted_in:?}, live otlp complete in {delivered_in:?}, dead exporter dropped {dropped}"
    );
    let _: SocketAddr = collector.metrics_addr;
}
