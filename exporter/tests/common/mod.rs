//! Shared pieces of the exporter integration tests: contexts to build and run an exporter
//! outside the runtime, batches whose every item can be traced, a recording OTLP gRPC server
//! (gzip accepted, scripted failures), and a small Python OTLP/HTTP receiver built on the
//! official `opentelemetry-proto` package.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
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
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;

use kafka_obs_api::{
    Batch, BuildContext, ComponentId, ComponentKind, DataKind, ExporterConfig, Host, Parcel,
    RunError, Telemetry,
};
use kafka_obs_testkit::process::ChildGuard;

pub fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn resource(source: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s("kafka-obs-test")),
            kv("service.instance.id", s(source)),
        ],
        ..Default::default()
    })
}

/// `n` log records numbered from `first`, attributes `seq` (int) and `kind=log` (string).
pub fn logs(source: &str, first: u64, n: u64) -> Batch {
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(source),
            scope_logs: vec![ScopeLogs {
                log_records: (first..first + n)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + i,
                        body: Some(AnyValue {
                            value: Some(s(&format!("record {i}"))),
                        }),
                        attributes: vec![
                            kv("seq", Value::IntValue(i as i64)),
                            kv("kind", s("log")),
                        ],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn metrics(source: &str, first: u64, n: u64) -> Batch {
    Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(source),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "kafka.producer.record-send-rate".into(),
                    unit: "{record}/s".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: (first..first + n)
                            .map(|i| NumberDataPoint {
                                attributes: vec![
                                    kv("seq", Value::IntValue(i as i64)),
                                    kv("topic", s("orders")),
                                ],
                                time_unix_nano: 1_700_000_000_000_000_000 + i,
                                value: Some(number_data_point::Value::AsDouble(i as f64 / 2.0)),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn traces(source: &str, first: u64, n: u64) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(source),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + n)
                    .map(|i| Span {
                        trace_id: vec![1; 16],
                        span_id: (i + 1).to_be_bytes().to_vec(),
                        name: format!("span {i}"),
                        attributes: vec![kv("seq", Value::IntValue(i as i64))],
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 2,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// A build context for exporter `id`, with its telemetry registry and an optional host.
pub fn build_ctx(id: &str, host: Host) -> (BuildContext, Telemetry) {
    let ctx = BuildContext::for_test(ComponentKind::Exporter, id, &DataKind::ALL).with_host(host);
    let t = ctx.telemetry.registry().clone();
    (ctx, t)
}

/// The exporter's input queue, fed with bare batches (nobody waits on their receipts).
pub struct Input(mpsc::Sender<Parcel>);

impl Input {
    pub async fn send(&self, batch: Batch) -> Result<(), mpsc::error::SendError<Parcel>> {
        self.0.send(batch.into()).await
    }

    pub fn try_send(&self, batch: Batch) -> Result<(), mpsc::error::TrySendError<Parcel>> {
        self.0.try_send(batch.into())
    }
}

/// A host offering `bearertokenauth` built from `body`, as the runtime builds extensions.
pub fn host_with_token(body: &str) -> Host {
    let id: ComponentId = "bearertokenauth".parse().unwrap();
    let config = kafka_obs_extension::bearertokenauth::BearerTokenAuthConfig::parse(
        &serde_yaml_ng::from_str(body).unwrap(),
    )
    .unwrap();
    let ctx = BuildContext::for_test(ComponentKind::Extension, "bearertokenauth", &[]);
    let ext = kafka_obs_api::ExtensionConfig::build(&config, &ctx).unwrap();
    let mut host = Host::default();
    host.insert(id, ext.capability().unwrap());
    host
}

/// A running exporter: push batches, then `finish` closes the input and waits.
pub struct Running {
    pub tx: Input,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), RunError>>,
    pub telemetry: Telemetry,
}

impl Running {
    pub fn start(config: &dyn ExporterConfig, id: &str, host: Host) -> Running {
        let (ctx, telemetry) = build_ctx(id, host);
        let exporter = config.build(&ctx).expect("build the exporter");
        let (tx, rx) = mpsc::channel(config.queue().capacity);
        let (run, shutdown) = ctx.run_for_test();
        let task = tokio::spawn(exporter.run(rx, run));
        Running {
            tx: Input(tx),
            shutdown,
            task,
            telemetry,
        }
    }

    /// Closes the input; waits up to `deadline`, then fires the shutdown deadline.
    pub async fn finish(self, deadline: Duration) -> Telemetry {
        drop(self.tx);
        let stop = self.shutdown.clone();
        let mut task = self.task;
        tokio::select! {
            r = &mut task => { r.unwrap().unwrap(); }
            () = tokio::time::sleep(deadline) => {
                stop.cancel();
                task.await.unwrap().unwrap();
            }
        }
        self.telemetry
    }

    pub fn counter(&self, name: &str, labels: &[&str]) -> u64 {
        counter(&self.telemetry, name, labels)
    }

    pub fn all_signals(&self, prefix: &str) -> u64 {
        all_signals(&self.telemetry, prefix)
    }
}

/// Sum of every series of `name` whose rendered labels contain all `labels`.
pub fn counter(t: &Telemetry, name: &str, labels: &[&str]) -> u64 {
    t.render_prometheus()
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Sum over the three signals of a Collector per-signal counter: `otelcol_exporter_sent`
/// reads `otelcol_exporter_sent_{metric_points,log_records,spans}`.
pub fn all_signals(t: &Telemetry, prefix: &str) -> u64 {
    ["metric_points", "log_records", "spans"]
        .iter()
        .map(|noun| counter(t, &format!("{prefix}_{noun}"), &[]))
        .sum()
}

/// Polls `f` until it is true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// What the recording server saw.
#[derive(Default)]
pub struct Recorded {
    pub logs: Vec<ExportLogsServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub traces: Vec<ExportTraceServiceRequest>,
    /// `grpc-encoding` of each request.
    pub encodings: Vec<Option<String>>,
    pub headers: Vec<BTreeMap<String, String>>,
}

/// Knobs: fail the next N requests with UNAVAILABLE; reject N log records per request.
#[derive(Default)]
pub struct Control {
    pub fail_next: AtomicUsize,
    /// Refuse the next N requests with INVALID_ARGUMENT (permanent).
    pub invalid_next: AtomicUsize,
    /// Requests answered with an error.
    pub refused: AtomicUsize,
    pub reject_logs: AtomicI64,
}

#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Recorded>>,
    pub control: Arc<Control>,
}

impl Recorder {
    fn note<T>(&self, req: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let mut seen = self.seen.lock().unwrap();
        seen.encodings.push(
            req.metadata()
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        seen.headers.push(
            req.metadata()
                .iter()
                .filter_map(|kv| match kv {
                    tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                        Some((k.to_string(), v.to_str().ok()?.to_string()))
                    }
                    _ => None,
                })
                .collect(),
        );
        let invalid = self.control.invalid_next.load(Ordering::SeqCst);
        if invalid > 0 {
            self.control
                .invalid_next
                .store(invalid - 1, Ordering::SeqCst);
            self.control.refused.fetch_add(1, Ordering::SeqCst);
            seen.encodings.pop();
            seen.headers.pop();
            return Err(tonic::Status::invalid_argument("scripted refusal"));
        }
        let fail = self.control.fail_next.load(Ordering::SeqCst);
        if fail > 0 {
            self.control.refused.fetch_add(1, Ordering::SeqCst);
            self.control.fail_next.store(fail - 1, Ordering::SeqCst);
            seen.encodings.pop();
            seen.headers.pop();
            return Err(tonic::Status::unavailable("scripted outage"));
        }
        Ok(())
    }

    pub fn log_seqs(&self) -> Vec<i64> {
        let seen = self.seen.lock().unwrap();
        seen.logs
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter_map(|r| seq_of(&r.attributes))
            .collect()
    }

    pub fn metric_seqs(&self) -> Vec<i64> {
        let seen = self.seen.lock().unwrap();
        seen.metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .flat_map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.clone(),
                _ => Vec::new(),
            })
            .filter_map(|p| seq_of(&p.attributes))
            .collect()
    }

    pub fn span_seqs(&self) -> Vec<i64> {
        let seen = self.seen.lock().unwrap();
        seen.traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .filter_map(|sp| seq_of(&sp.attributes))
            .collect()
    }
}

pub fn seq_of(attrs: &[KeyValue]) -> Option<i64> {
    attrs.iter().find(|kv| kv.key == "seq").and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        }
    })
}

#[tonic::async_trait]
impl LogsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.note(&request)?;
        self.seen.lock().unwrap().logs.push(request.into_inner());
        let reject = self.control.reject_logs.load(Ordering::SeqCst);
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: (reject > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: reject,
                error_message: "scripted rejection".into(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.note(&request)?;
        self.seen.lock().unwrap().metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.note(&request)?;
        self.seen.lock().unwrap().traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A recording OTLP gRPC server on 127.0.0.1 (`port` 0: any). Aborted on drop of the handle.
pub async fn recording_server(port: u16) -> (Recorder, std::net::SocketAddr, ServerHandle) {
    let rec = Recorder::default();
    let (addr, handle) = serve_recorder(rec.clone(), port).await;
    (rec, addr, handle)
}

/// Serves an existing recorder (to bring a "backend" back on the same port).
pub async fn serve_recorder(rec: Recorder, port: u16) -> (std::net::SocketAddr, ServerHandle) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                LogsServiceServer::new(rec.clone())
                    .accept_compressed(CompressionEncoding::Gzip)
                    .send_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                MetricsServiceServer::new(rec.clone()).accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                TraceServiceServer::new(rec.clone()).accept_compressed(CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, ServerHandle(task))
}

pub struct ServerHandle(tokio::task::JoinHandle<Result<(), tonic::transport::Error>>);

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The Python OTLP/HTTP receiver: decodes with the official `opentelemetry-proto` package and
/// prints one JSON line per request: path, content type, gzip, and each item's `seq`
/// attribute. `FAIL_FIRST=n` answers 503 to the first n requests.
pub const PY_RECEIVER: &str = r#"
import gzip, json, os, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as L
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as M
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as T
KINDS = {"/v1/logs": (L.ExportLogsServiceRequest, L.ExportLogsServiceResponse),
         "/v1/metrics": (M.ExportMetricsServiceRequest, M.ExportMetricsServiceResponse),
         "/v1/traces": (T.ExportTraceServiceRequest, T.ExportTraceServiceResponse)}
fail = [int(os.environ.get("FAIL_FIRST", "0"))]
lock = threading.Lock()
def seqs(req):
    out = []
    def attrs(a):
        for kv in a:
            if kv.key == "seq": out.append(kv.value.int_value)
    for r in getattr(req, "resource_logs", []):
        for s in r.scope_logs:
            for x in s.log_records: attrs(x.attributes)
    for r in getattr(req, "resource_metrics", []):
        for s in r.scope_metrics:
            for m in s.metrics:
                for p in m.gauge.data_points: attrs(p.attributes)
    for r in getattr(req, "resource_spans", []):
        for s in r.scope_spans:
            for x in s.spans: attrs(x.attributes)
    return out
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            failing = fail[0] > 0
            if failing: fail[0] -= 1
        if failing:
            self.send_response(503); self.send_header("Retry-After", "0"); self.send_header("Content-Length", "0"); self.end_headers(); return
        gz = self.headers.get("Content-Encoding") == "gzip"
        if gz: body = gzip.decompress(body)
        ctype = self.headers.get("Content-Type", "")
        req_t, resp_t = KINDS[self.path]
        req = req_t()
        if ctype == "application/json": json_format.Parse(body, req)
        else: req.ParseFromString(body)
        line = json.dumps({"path": self.path, "ctype": ctype, "gzip": gz,
                           "auth": self.headers.get("Authorization"),
                           "seqs": seqs(req),
                           "first": json_format.MessageToDict(req)})
        with lock:
            print(line, flush=True)
        if ctype == "application/json":
            out = b"{}"
        else:
            out = resp_t().SerializeToString()
        self.send_response(200); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(json.dumps({"port": srv.server_address[1]}), flush=True)
srv.serve_forever()
"#;

/// A running Python receiver; lines it printed are collected in the background.
pub struct PyReceiver {
    pub port: u16,
    pub lines: Arc<Mutex<Vec<serde_json::Value>>>,
    _guard: ChildGuard,
}

impl PyReceiver {
    pub fn start(fail_first: usize) -> PyReceiver {
        let python = kafka_obs_testkit::peers::python().expect("peers venv");
        let mut cmd = Command::new(python);
        cmd.arg("-c")
            .arg(PY_RECEIVER)
            .env("FAIL_FIRST", fail_first.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn(&mut cmd).expect("start the python receiver");
        let stdout = guard.child_mut().stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader.read_line(&mut first).expect("port line");
        let port = serde_json::from_str::<serde_json::Value>(&first).expect("port json")["port"]
            .as_u64()
            .expect("port") as u16;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        PyReceiver {
            port,
            lines,
            _guard: guard,
        }
    }

    pub fn seqs(&self, path: &str) -> Vec<i64> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["path"] == path)
            .flat_map(|l| l["seqs"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_i64())
            .collect()
    }
}

/// `n` signal events of `source` with sequences `first..first+n`, as the signals connector
/// emits them (one resource per source), plus `noise` plain log records that are not signals.
pub fn signal_batch(source: &str, first: u64, n: u64, noise: u64) -> Batch {
    use kafka_obs_signal::otlp::ExportResource;
    use kafka_obs_signal::otlp::logs::to_export_request;
    use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject};
    let kind: SignalKind = "Queues.OVERFLOW".parse().expect("signal kind");
    let signals: Vec<Signal> = (first..first + n)
        .map(|seq| {
            let subject = Subject::from_pairs([
                ("cluster", "prod"),
                ("service", "orders"),
                ("client", source),
            ])
            .expect("subject");
            let mut evidence = Evidence::rule("P1");
            evidence.values.insert("utilization".into(), 0.97);
            let mut s = Signal::new(subject, kind, evidence, 1_700_000_000_000_000_000 + seq);
            s.source_id = source.to_string();
            s.sequence = seq;
            s
        })
        .collect();
    let mut req = to_export_request(&signals, &ExportResource::default());
    if noise > 0
        && let Some(rl) = req.resource_logs.first_mut()
        && let Some(sl) = rl.scope_logs.first_mut()
    {
        for i in 0..noise {
            sl.log_records.push(LogRecord {
                body: Some(AnyValue {
                    value: Some(s(&format!("plain log {i}"))),
                }),
                ..Default::default()
            });
        }
    }
    Batch::Logs(req)
}
