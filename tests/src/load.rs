//! The central under load (issue #14), shared by the full-scale harness
//! (`benches/central_load.rs`) and the short integration test (`tests/central/load.rs`).
//!
//! It starts the real binary on `examples/aggregator.yaml` (the production central: the
//! `signals/in` gRPC stream, `otlp` gRPC and HTTP, connector `hierarchy` with its API and web
//! view behind a bearer token, OTLP exports), with only what needs a peer we do not run
//! changed: the `kafka` intake and command topic are left out, the webhook too, every port is
//! a free 127.0.0.1 one and both OTLP exporters point at an in-process OTLP sink that accepts
//! everything. Then, for the plan's duration:
//!
//! - `streams` signal streams, each a sidecar of its own (own connection, source id and
//!   sequence, `SignalAggregatorClient` and `to_envelope` as the `signals` exporter uses),
//!   sending Statuses signals at `stream_rate` per second and timing each envelope from send
//!   to its `ACCEPTED` ack, which the receiver sends only after the engine took the signal;
//!   every `bad_every`-th envelope carries a payload that does not decode;
//! - `otlp_senders` OTLP/gRPC clients exporting signal events as logs;
//! - junk: once a second a malformed OTLP/HTTP body and an OTLP/gRPC message over
//!   `max_recv_msg_size_mib`, every fifth second an OTLP/HTTP body over the size limit;
//! - `sse_clients` web-view clients that open `/api/v1/events` and never read, and one that
//!   reads (it must keep receiving);
//! - a sampler: the central's RSS and the time `/api/v1/health` takes (a question the engine's
//!   task answers between parcels, so it shows whether ingest starves everything else).
//!
//! [`LoadReport::problems`] lists every check that failed: counts from both sides agree
//! (every acked signal is in the engine), bad input was refused and counted, the never-reading
//! clients were dropped and counted while the reading one was not, RSS stayed under the bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_proto::aggregator::v1::signal_aggregator_client::SignalAggregatorClient;
use kafka_obs_proto::aggregator::v1::{AckStatus, SignalEnvelope};
use kafka_obs_signal::otlp::{ExportResource, logs};
use kafka_obs_signal::{Evidence, Signal, SignalKind, statuses};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::rss::{RssSeries, RssSummary};
use crate::{Collector, kafka_obs_bin};

/// The bearer token the central's API demands.
const TOKEN: &str = "load-token";
/// Bytes of the oversized OTLP/HTTP body (the receiver's default limit is 20 MiB).
const OVERSIZED_HTTP: usize = 21 << 20;
/// Bytes of the oversized OTLP/gRPC message (`max_recv_msg_size_mib` defaults to 4).
const OVERSIZED_GRPC: usize = 5 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub streams: usize,
    pub otlp_senders: usize,
    pub sse_clients: usize,
    pub duration: Duration,
    /// Signals per second on each stream.
    pub stream_rate: f64,
    /// Export requests per second from each OTLP sender, each of `otlp_batch` signals.
    pub otlp_rate: f64,
    pub otlp_batch: usize,
    /// Every n-th envelope of a stream has a payload that does not decode (0: none).
    pub bad_every: u64,
    /// How often the central's RSS and API latency are sampled.
    pub sample_every: Duration,
    /// The bound checked on the central's RSS.
    pub rss_bound_mib: u64,
    /// `api.write_timeout` for the central, when not the example's (the default).
    pub write_timeout: Option<Duration>,
    /// Characters added to every instance name: a bigger live snapshot from the same number
    /// of cells, so that a short run fills a stalled viewer's socket buffers (up to 4 MiB
    /// on the central's side) as a long one does.
    pub name_padding: usize,
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            streams: 1000,
            otlp_senders: 50,
            sse_clients: 100,
            duration: Duration::from_secs(600),
            stream_rate: 1.0,
            otlp_rate: 1.0,
            otlp_batch: 20,
            bad_every: 100,
            sample_every: Duration::from_secs(1),
            rss_bound_mib: 512,
            write_timeout: None,
            name_padding: 0,
        }
    }
}

/// Counts kept by the load generator.
#[derive(Debug, Default)]
struct Tally {
    envelopes_sent: AtomicU64,
    bad_sent: AtomicU64,
    acked_accepted: AtomicU64,
    acked_rejected: AtomicU64,
    acked_retry: AtomicU64,
    streams_failed: AtomicU64,
    otlp_records_ok: AtomicU64,
    otlp_records_refused: AtomicU64,
    junk_http_sent: AtomicU64,
    junk_http_refused: AtomicU64,
    junk_grpc_sent: AtomicU64,
    junk_grpc_refused: AtomicU64,
    live_events_read: AtomicU64,
}

/// Microseconds from send to answer, per kind of request.
#[derive(Debug, Default)]
struct Latencies {
    acks: Mutex<Vec<u32>>,
    otlp: Mutex<Vec<u32>>,
    health: Mutex<Vec<u32>>,
}

fn record(into: &Mutex<Vec<u32>>, took: Duration) {
    let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
    if let Ok(mut v) = into.lock() {
        v.push(micros);
    }
}

/// Percentiles of a latency sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(sample: &Mutex<Vec<u32>>) -> Self {
        let mut v = sample.lock().map(|v| v.clone()).unwrap_or_default();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Self {
            count: v.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p90 {:.1}, p99 {:.1}, max {:.1} ({} samples)",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

/// What the central's self-metrics said at the end.
#[derive(Debug, Clone, Default)]
pub struct CentralCounts {
    pub stream_accepted: f64,
    pub otlp_logs_accepted: f64,
    pub engine_signals: f64,
    pub engine_bad_records: f64,
    pub rejected_envelopes: f64,
    pub otlp_refused: f64,
    pub slow_clients_dropped: f64,
    pub live_clients_refused: f64,
    pub live_clients_at_end: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub plan: LoadPlan,
    pub binary: String,
    pub elapsed: Duration,
    pub envelopes_sent: u64,
    pub bad_sent: u64,
    pub acked_accepted: u64,
    pub acked_rejected: u64,
    pub acked_retry: u64,
    pub streams_failed: u64,
    pub otlp_records_ok: u64,
    pub otlp_records_refused: u64,
    pub junk_http_sent: u64,
    pub junk_http_refused: u64,
    pub junk_grpc_sent: u64,
    pub junk_grpc_refused: u64,
    /// Never-reading clients whose connection the central closed.
    pub sse_closed_by_central: u64,
    /// Snapshots the reading client got, and whether it was still connected at the end.
    pub live_events_read: u64,
    pub live_reader_connected: bool,
    /// Bytes of the last live snapshot (`/api/v1/snapshot`).
    pub snapshot_bytes: usize,
    pub acks: Percentiles,
    pub otlp: Percentiles,
    pub health: Percentiles,
    pub health_failures: u64,
    pub rss: RssSummary,
    pub central: CentralCounts,
}

impl LoadReport {
    /// Every check that failed, each saying what differed.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let c = &self.central;
        let mut check = |ok: bool, what: String| {
            if !ok {
                out.push(what);
            }
        };
        check(
            c.stream_accepted as u64 == self.acked_accepted,
            format!(
                "the stream receiver counted {} accepted signals, the senders got {} ACCEPTED acks",
                c.stream_accepted, self.acked_accepted
            ),
        );
        check(
            c.otlp_logs_accepted as u64 == self.otlp_records_ok,
            format!(
                "the otlp receiver counted {} accepted log records, the senders got OK for {}",
                c.otlp_logs_accepted, self.otlp_records_ok
            ),
        );
        check(
            c.engine_signals == c.stream_accepted + c.otlp_logs_accepted,
            format!(
                "the engine ingested {} signals, the receivers accepted {} + {}",
                c.engine_signals, c.stream_accepted, c.otlp_logs_accepted
            ),
        );
        check(
            c.engine_bad_records == 0.0,
            format!("the engine skipped {} records", c.engine_bad_records),
        );
        check(
            self.acked_accepted + self.acked_rejected + self.acked_retry == self.envelopes_sent,
            format!(
                "{} envelopes sent, {} acked ({} accepted, {} rejected, {} retry)",
                self.envelopes_sent,
                self.acked_accepted + self.acked_rejected + self.acked_retry,
                self.acked_accepted,
                self.acked_rejected,
                self.acked_retry
            ),
        );
        check(
            self.acked_rejected == self.bad_sent && c.rejected_envelopes as u64 == self.bad_sent,
            format!(
                "{} bad envelopes sent, {} acked REJECTED, {} counted by the central",
                self.bad_sent, self.acked_rejected, c.rejected_envelopes
            ),
        );
        check(
            self.junk_http_refused == self.junk_http_sent
                && c.otlp_refused as u64 >= self.junk_http_sent,
            format!(
                "{} junk OTLP/HTTP requests, {} refused, {} counted",
                self.junk_http_sent, self.junk_http_refused, c.otlp_refused
            ),
        );
        check(
            self.junk_grpc_refused == self.junk_grpc_sent,
            format!(
                "{} oversized OTLP/gRPC requests, {} refused",
                self.junk_grpc_sent, self.junk_grpc_refused
            ),
        );
        check(
            self.streams_failed == 0,
            format!("{} signal streams failed", self.streams_failed),
        );
        let sse = self.plan.sse_clients as u64;
        check(
            self.sse_closed_by_central == sse && c.slow_clients_dropped as u64 == sse,
            format!(
                "{sse} web-view clients never read: {} closed by the central, {} counted as dropped",
                self.sse_closed_by_central, c.slow_clients_dropped
            ),
        );
        check(
            self.live_reader_connected && self.live_events_read > 0,
            format!(
                "the reading web-view client got {} snapshots and is {}",
                self.live_events_read,
                if self.live_reader_connected {
                    "connected"
                } else {
                    "gone"
                }
            ),
        );
        check(
            self.rss.max <= self.plan.rss_bound_mib * 1024,
            format!(
                "central RSS reached {:.1} MiB, over the bound of {} MiB",
                self.rss.max as f64 / 1024.0,
                self.plan.rss_bound_mib
            ),
        );
        out
    }

    /// The figures as a Markdown table.
    pub fn table(&self) -> String {
        let p = &self.plan;
        let c = &self.central;
        let secs = self.elapsed.as_secs_f64();
        let mib = |k: u64| k as f64 / 1024.0;
        let rows: Vec<(String, String)> = vec![
            ("binary".into(), self.binary.clone()),
            (
                "load".into(),
                format!(
                    "{} streams x {}/s, {} OTLP senders x {}/s x {} signals, {} never-reading web-view clients + 1 reading, {:.0} s",
                    p.streams,
                    p.stream_rate,
                    p.otlp_senders,
                    p.otlp_rate,
                    p.otlp_batch,
                    p.sse_clients,
                    secs
                ),
            ),
            (
                "envelopes sent / ACCEPTED / REJECTED / RETRY".into(),
                format!(
                    "{} / {} / {} / {}",
                    self.envelopes_sent, self.acked_accepted, self.acked_rejected, self.acked_retry
                ),
            ),
            (
                "OTLP signals OK / refused".into(),
                format!("{} / {}", self.otlp_records_ok, self.otlp_records_refused),
            ),
            (
                "accepted by the receivers (stream + OTLP) / in the engine".into(),
                format!(
                    "{} + {} / {}",
                    c.stream_accepted, c.otlp_logs_accepted, c.engine_signals
                ),
            ),
            (
                "signals into the engine per second".into(),
                format!("{:.0}", c.engine_signals / secs),
            ),
            (
                "bad envelopes sent / counted rejected".into(),
                format!("{} / {}", self.bad_sent, c.rejected_envelopes),
            ),
            (
                "junk OTLP/HTTP (malformed + oversized) sent / refused / counted".into(),
                format!(
                    "{} / {} / {}",
                    self.junk_http_sent, self.junk_http_refused, c.otlp_refused
                ),
            ),
            (
                "oversized OTLP/gRPC sent / refused".into(),
                format!("{} / {}", self.junk_grpc_sent, self.junk_grpc_refused),
            ),
            (
                "never-reading web-view clients closed by the central / counted dropped".into(),
                format!(
                    "{} / {}",
                    self.sse_closed_by_central, c.slow_clients_dropped
                ),
            ),
            (
                "web-view clients refused (503) / connected at the end".into(),
                format!("{} / {}", c.live_clients_refused, c.live_clients_at_end),
            ),
            (
                "reading web-view client: snapshots read, connected at the end".into(),
                format!("{}, {}", self.live_events_read, self.live_reader_connected),
            ),
            (
                "live snapshot at the end (JSON)".into(),
                format!("{:.0} KiB", self.snapshot_bytes as f64 / 1024.0),
            ),
            (
                "stream send -> ACCEPTED ack (in the engine)".into(),
                self.acks.to_string(),
            ),
            ("OTLP export -> OK".into(), self.otlp.to_string()),
            (
                "GET /api/v1/health (answered by the engine's task)".into(),
                format!("{}; {} failed", self.health, self.health_failures),
            ),
            (
                "central RSS start / min / max / end".into(),
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} MiB",
                    mib(self.rss.start),
                    mib(self.rss.min),
                    mib(self.rss.max),
                    mib(self.rss.end)
                ),
            ),
            (
                "central RSS slope, whole run / second half".into(),
                format!(
                    "{:+.1} / {:+.1} MiB per hour",
                    self.rss.slope_per_hour / 1024.0,
                    self.rss.second_half_slope_per_hour / 1024.0
                ),
            ),
        ];
        let mut text = String::from("| figure | value |\n|---|---|\n");
        for (k, v) in rows {
            text.push_str(&format!("| {k} | {v} |\n"));
        }
        text
    }
}

/// The central's config: `examples/aggregator.yaml` with the changes the module doc lists.
pub fn central_config(
    ports: &Ports,
    token_file: &std::path::Path,
    sink: u16,
    write_timeout: Option<Duration>,
) -> String {
    let path = kafka_obs_testkit::workspace_root().join("examples/aggregator.yaml");
    let text = std::fs::read_to_string(&path).expect("examples/aggregator.yaml");
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("aggregator.yaml");
    let local = |port: u16| serde_yaml_ng::Value::from(format!("127.0.0.1:{port}"));
    let map = |v: &mut serde_yaml_ng::Value| v.as_mapping_mut().expect("a mapping").clone();
    let mut receivers = map(&mut doc["receivers"]);
    receivers.remove("kafka");
    doc["receivers"] = receivers.into();
    doc["receivers"]["signals/in"]["endpoint"] = local(ports.intake);
    doc["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = local(ports.otlp_grpc);
    doc["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = local(ports.otlp_http);
    let mut notify = map(&mut doc["connectors"]["hierarchy"]["notify"]);
    notify.remove("webhook");
    doc["connectors"]["hierarchy"]["notify"] = notify.into();
    doc["connectors"]["hierarchy"]["api"]["endpoint"] = local(ports.api);
    if let Some(t) = write_timeout {
        doc["connectors"]["hierarchy"]["api"]["write_timeout"] =
            format!("{}ms", t.as_millis()).into();
    }
    doc["extensions"]["bearertokenauth"]["filename"] = token_file.display().to_string().into();
    doc["extensions"]["health_check"]["endpoint"] = local(ports.health);
    let mut exporters = map(&mut doc["exporters"]);
    exporters.remove("kafka/commands");
    doc["exporters"] = exporters.into();
    for exporter in ["otlp/backend", "otlp/status"] {
        doc["exporters"][exporter]["endpoint"] = format!("http://127.0.0.1:{sink}").into();
    }
    let mut pipelines = map(&mut doc["service"]["pipelines"]);
    pipelines.remove("logs/commands");
    doc["service"]["pipelines"] = pipelines.into();
    doc["service"]["pipelines"]["logs/in"]["receivers"] =
        serde_yaml_ng::to_value(["signals/in", "otlp"]).expect("list");
    doc["service"]["telemetry"]["logs"]["level"] = "warn".into();
    serde_yaml_ng::to_string(&doc).expect("yaml")
}

/// The central's ports.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub intake: u16,
    pub otlp_grpc: u16,
    pub otlp_http: u16,
    pub api: u16,
    pub health: u16,
}

impl Ports {
    fn free() -> Self {
        use kafka_obs_testkit::net::free_port;
        Self {
            intake: free_port(),
            otlp_grpc: free_port(),
            otlp_http: free_port(),
            api: free_port(),
            health: free_port(),
        }
    }
}

/// An OTLP/gRPC server that accepts everything: where the central's exporters send.
#[derive(Debug, Clone, Copy)]
struct Sink;

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        _: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        _: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        _: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_sink() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the OTLP sink");
    let port = listener.local_addr().expect("sink address").port();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(Sink).max_decoding_message_size(64 << 20))
            .add_service(MetricsServiceServer::new(Sink).max_decoding_message_size(64 << 20))
            .add_service(TraceServiceServer::new(Sink).max_decoding_message_size(64 << 20))
            .serve_with_incoming(incoming),
    );
    port
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A status signal about `path` at second `second` of its sender's minute: DEGRADED for the
/// first five seconds, STABLE after, so that every sender's cells go bad and (after the
/// engine's damping) recover once a minute, incidents open and close and the live snapshot
/// keeps moving. Senders start at different seconds.
fn status_signal(path: &str, source: &str, second: u64) -> Signal {
    let sign = if second % 60 < 5 {
        statuses::Sign::Degraded
    } else {
        statuses::Sign::Stable
    };
    Signal::new(
        path.parse().expect("a valid subject"),
        SignalKind::Statuses(sign, statuses::Confidence::Confirmed),
        Evidence::rule("load").with("value", second as f64),
        now_ns(),
    )
    .from_source(source)
}

/// One sidecar: a stream of envelopes until `stop`, then waits (bounded) for every ack.
async fn stream(
    i: usize,
    port: u16,
    plan: LoadPlan,
    tally: Arc<Tally>,
    lat: Arc<Latencies>,
    stop: CancellationToken,
) {
    let source = format!("load-sidecar-{i}");
    let path = format!(
        "cluster=load/service=svc-{}/instance=inst-{i}{}/client=producer-{i}",
        i % 20,
        "p".repeat(plan.name_padding)
    );
    let channel = match tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect()
        .await
    {
        Ok(c) => c,
        Err(_) => {
            tally.streams_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut client = SignalAggregatorClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel::<SignalEnvelope>(64);
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let response = match client.stream_signals(tokio_stream_of(rx)).await {
        Ok(r) => r,
        Err(_) => {
            tally.streams_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut acks = response.into_inner();
    let outstanding = Arc::new(AtomicU64::new(0));
    let reader = {
        let (tally, lat, sent_at, outstanding) = (
            tally.clone(),
            lat.clone(),
            sent_at.clone(),
            outstanding.clone(),
        );
        tokio::spawn(async move {
            while let Ok(Some(ack)) = acks.message().await {
                let at = sent_at
                    .lock()
                    .ok()
                    .and_then(|mut m| m.remove(&ack.sequence));
                let Some(at) = at else { continue };
                outstanding.fetch_sub(1, Ordering::Relaxed);
                match AckStatus::try_from(ack.status) {
                    Ok(AckStatus::Accepted) => {
                        record(&lat.acks, at.elapsed());
                        tally.acked_accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(AckStatus::Rejected) => {
                        tally.acked_rejected.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        tally.acked_retry.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // Spread the streams' first sends over one period.
    let period = Duration::from_secs_f64(1.0 / plan.stream_rate.max(0.001));
    tokio::time::sleep(period.mul_f64((i % 1000) as f64 / 1000.0)).await;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sequence = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        sequence += 1;
        let second = (sequence as f64 / plan.stream_rate) as u64 + i as u64 * 7;
        let mut signal = status_signal(&path, &source, second);
        signal.sequence = sequence;
        let Ok(mut envelope) = kafka_obs_signal::proto::to_envelope(&signal) else {
            continue;
        };
        let bad = plan.bad_every > 0 && sequence.is_multiple_of(plan.bad_every);
        if bad {
            envelope.payload = vec![0xff; 9];
        }
        if let Ok(mut m) = sent_at.lock() {
            m.insert(sequence, Instant::now());
        }
        outstanding.fetch_add(1, Ordering::Relaxed);
        if tx.send(envelope).await.is_err() {
            tally.streams_failed.fetch_add(1, Ordering::Relaxed);
            break;
        }
        tally.envelopes_sent.fetch_add(1, Ordering::Relaxed);
        if bad {
            tally.bad_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Every ack, within a bound, before the stream is closed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
}

/// The envelopes a sender task queues, as the request stream tonic wants.
fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<SignalEnvelope>,
) -> impl futures::Stream<Item = SignalEnvelope> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// One OTLP sender: logs of signal events until `stop`.
async fn otlp_sender(
    j: usize,
    port: u16,
    plan: LoadPlan,
    tally: Arc<Tally>,
    lat: Arc<Latencies>,
    stop: CancellationToken,
) {
    let source = format!("load-otlp-{j}");
    let path = format!(
        "cluster=load/service=otlp-{}/instance=otlp-{j}{}/client=consumer-{j}",
        j % 10,
        "p".repeat(plan.name_padding)
    );
    let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .timeout(Duration::from_secs(30))
        .connect()
        .await
    else {
        tally.streams_failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut client = LogsServiceClient::new(channel);
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / plan.otlp_rate.max(0.001)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let second = started.elapsed().as_secs() + j as u64 * 7;
        let signals: Vec<Signal> = (0..plan.otlp_batch)
            .map(|_| status_signal(&path, &source, second))
            .collect();
        let request = logs::to_export_request(&signals, &ExportResource::default());
        let began = Instant::now();
        match client.export(request).await {
            Ok(_) => {
                record(&lat.otlp, began.elapsed());
                tally
                    .otlp_records_ok
                    .fetch_add(signals.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                tally
                    .otlp_records_refused
                    .fetch_add(signals.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// A raw HTTP/1.1 request on a fresh connection; the status code, or `None` when the server
/// closed the connection without one.
async fn http_status(addr: SocketAddr, head: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(head.as_bytes()).await.ok()?;
    // The server may answer (413) and close before the whole body is written.
    let _ = s.write_all(body).await;
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Once a second: a malformed OTLP/HTTP body and an OTLP/gRPC message over the limit; every
/// fifth second also an OTLP/HTTP body over the limit.
async fn junk(ports: Ports, tally: Arc<Tally>, stop: CancellationToken) {
    let http: SocketAddr = format!("127.0.0.1:{}", ports.otlp_http)
        .parse()
        .expect("addr");
    let garbage = vec![0xffu8; 64];
    let oversized = vec![0u8; OVERSIZED_HTTP];
    let grpc =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", ports.otlp_grpc))
            .expect("endpoint")
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .ok()
            .map(|c| LogsServiceClient::new(c).max_encoding_message_size(64 << 20));
    let huge = {
        let text = "x".repeat(OVERSIZED_GRPC);
        let signal = status_signal("cluster=load/service=junk", &text, 0);
        logs::to_export_request([&signal], &ExportResource::default())
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    for round in 0u64.. {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        // The oversized body costs 20 MiB of reading each time: one in five rounds.
        let bodies: &[&Vec<u8>] = if round.is_multiple_of(5) {
            &[&garbage, &oversized]
        } else {
            &[&garbage]
        };
        for body in bodies {
            let head = format!(
                "POST /v1/logs HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            tally.junk_http_sent.fetch_add(1, Ordering::Relaxed);
            if matches!(http_status(http, &head, body).await, Some(400 | 413)) {
                tally.junk_http_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(mut client) = grpc.clone() {
            tally.junk_grpc_sent.fetch_add(1, Ordering::Relaxed);
            if client.export(huge.clone()).await.is_err() {
                tally.junk_grpc_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn events_request(api: SocketAddr) -> String {
    format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    )
}

/// A web-view client that sends its request and never reads; the connection comes back
/// when the run ends, to see whether the central closed it.
async fn idle_viewer(api: SocketAddr) -> Option<TcpStream> {
    // A small receive buffer, as a phone on a bad network has: the central's side fills soon.
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.set_recv_buffer_size(4096).ok()?;
    let mut s = socket.connect(api).await.ok()?;
    s.write_all(events_request(api).as_bytes()).await.ok()?;
    Some(s)
}

/// Whether the central closed a never-reading client's connection: reads what is buffered
/// and looks for the end of the stream (or a reset) within a bound.
async fn closed_by_peer(mut s: TcpStream) -> bool {
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A web-view client that reads, counting snapshot events, until `stop`; whether it was
/// still connected then.
async fn reading_viewer(api: SocketAddr, tally: Arc<Tally>, stop: CancellationToken) -> bool {
    let Ok(mut s) = TcpStream::connect(api).await else {
        return false;
    };
    if s.write_all(events_request(api).as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut tail = Vec::<u8>::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return true,
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&tail);
                    let events = text.matches("event: snapshot").count() as u64;
                    tally.live_events_read.fetch_add(events, Ordering::Relaxed);
                    // Keep only what may hold the start of the next marker.
                    let keep = tail.len().saturating_sub(16);
                    tail.drain(..keep);
                }
            }
        }
    }
}

/// Times `GET /api/v1/health` every `every` until `stop`.
async fn health_prober(
    api: SocketAddr,
    every: Duration,
    lat: Arc<Latencies>,
    failures: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let head = format!(
        "GET /api/v1/health HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let began = Instant::now();
        match http_status(api, &head, b"").await {
            Some(200) => record(&lat.health, began.elapsed()),
            _ => {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Runs the plan against a fresh central; panics only when the central cannot start.
pub fn run(plan: &LoadPlan) -> LoadReport {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let ports = Ports::free();
    let sink = runtime.block_on(start_sink());
    let central = Collector::start(&central_config(
        &ports,
        &token_file,
        sink,
        plan.write_timeout,
    ));
    let api: SocketAddr = format!("127.0.0.1:{}", ports.api).parse().expect("addr");
    kafka_obs_testkit::net::wait_for_port(api, Duration::from_secs(20)).expect("the API listens");

    let tally = Arc::new(Tally::default());
    let lat = Arc::new(Latencies::default());
    let health_failures = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let began = Instant::now();
    let mut rss = RssSeries::new();

    let mut elapsed = Duration::ZERO;
    let (sse_closed, live_connected) = runtime.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..plan.sse_clients {
            idle.extend(idle_viewer(api).await);
        }
        let reader = tokio::spawn(reading_viewer(api, tally.clone(), stop.clone()));
        let mut tasks = Vec::new();
        for i in 0..plan.streams {
            tasks.push(tokio::spawn(stream(
                i,
                ports.intake,
                plan.clone(),
                tally.clone(),
                lat.clone(),
                stop.clone(),
            )));
        }
        for j in 0..plan.otlp_senders {
            tasks.push(tokio::spawn(otlp_sender(
                j,
                ports.otlp_grpc,
                plan.clone(),
                tally.clone(),
                lat.clone(),
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(junk(ports, tally.clone(), stop.clone())));
        tasks.push(tokio::spawn(health_prober(
            api,
            plan.sample_every,
            lat.clone(),
            health_failures.clone(),
            stop.clone(),
        )));
        let mut next_line = Duration::ZERO;
        while began.elapsed() < plan.duration {
            if rss.sample(central.pid()).is_none() {
                break;
            }
            if began.elapsed() >= next_line {
                let kib = rss.samples().last().map_or(0, |s| s.1);
                eprintln!(
                    "  t={:>4} s  central rss {:>7.1} MiB  sent {:>8}  acked {:>8}  otlp ok {:>8}",
                    began.elapsed().as_secs(),
                    kib as f64 / 1024.0,
                    tally.envelopes_sent.load(Ordering::Relaxed),
                    tally.acked_accepted.load(Ordering::Relaxed),
                    tally.otlp_records_ok.load(Ordering::Relaxed),
                );
                next_line += Duration::from_secs(10);
            }
            tokio::time::sleep(plan.sample_every).await;
        }
        elapsed = began.elapsed();
        stop.cancel();
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(60), task).await;
        }
        let live = reader.await.unwrap_or(false);
        let closed = futures::future::join_all(idle.into_iter().map(closed_by_peer)).await;
        (closed.into_iter().filter(|c| *c).count() as u64, live)
    });
    rss.sample(central.pid());
    let snapshot_bytes = crate::http_get(api, &format!("/api/v1/snapshot?access_token={TOKEN}"))
        .map_or(0, |(_, body)| body.len());
    let metrics = central.metrics();
    let m = |name: &str, labels: &[&str]| crate::metric_value(&metrics, name, labels);
    let t = |c: &AtomicU64| c.load(Ordering::Relaxed);
    LoadReport {
        plan: plan.clone(),
        binary: kafka_obs_bin().display().to_string(),
        elapsed,
        envelopes_sent: t(&tally.envelopes_sent),
        bad_sent: t(&tally.bad_sent),
        acked_accepted: t(&tally.acked_accepted),
        acked_rejected: t(&tally.acked_rejected),
        acked_retry: t(&tally.acked_retry),
        streams_failed: t(&tally.streams_failed),
        otlp_records_ok: t(&tally.otlp_records_ok),
        otlp_records_refused: t(&tally.otlp_records_refused),
        junk_http_sent: t(&tally.junk_http_sent),
        junk_http_refused: t(&tally.junk_http_refused),
        junk_grpc_sent: t(&tally.junk_grpc_sent),
        junk_grpc_refused: t(&tally.junk_grpc_refused),
        sse_closed_by_central: sse_closed,
        live_events_read: t(&tally.live_events_read),
        live_reader_connected: live_connected,
        snapshot_bytes,
        acks: Percentiles::of(&lat.acks),
        otlp: Percentiles::of(&lat.otlp),
        health: Percentiles::of(&lat.health),
        health_failures: health_failures.load(Ordering::Relaxed),
        rss: rss.summary().unwrap_or(RssSummary {
            samples: 0,
            start: 0,
            min: 0,
            max: 0,
            end: 0,
            slope_per_hour: 0.0,
            second_half_slope_per_hour: 0.0,
        }),
        central: CentralCounts {
            stream_accepted: m(
                "otelcol_receiver_accepted_log_records",
                &["receiver=\"signals/in\""],
            ),
            otlp_logs_accepted: m(
                "otelcol_receiver_accepted_log_records",
                &["receiver=\"otlp\""],
            ),
            engine_signals: m("kafka_obs_hierarchy_signals_total", &[]),
            engine_bad_records: m("kafka_obs_hierarchy_bad_records_total", &[]),
            rejected_envelopes: m("kafka_obs_receiver_rejected_envelopes_total", &[]),
            // Bad input is the Collector's "failed"; a full pipeline its "refused".
            otlp_refused: m(
                "otelcol_receiver_failed_log_records",
                &["receiver=\"otlp\""],
            ) + m(
                "otelcol_receiver_refused_log_records",
                &["receiver=\"otlp\""],
            ),
            slow_clients_dropped: m("kafka_obs_hierarchy_api_slow_clients_dropped_total", &[]),
            live_clients_refused: m("kafka_obs_hierarchy_live_clients_refused_total", &[]),
            live_clients_at_end: m("kafka_obs_hierarchy_live_clients", &[]),
        },
    }
}
