//! The OpenTelemetry Python SDK (gRPC and HTTP exporters, one export in flight, as its batch
//! processors send) through `otlp -> batch -> otlp` to a real OTLP server: every export is
//! answered OK, none times out, and the server receives exactly what was sent.
//!
//! Two pipelines: the batch processor's defaults (200 ms), and a 12 s batch timeout, longer than
//! the SDK's 10 s export timeout. No exporter downstream has a persistent queue, so the answer
//! comes when the batch processor took the data (issue #13); had it waited for the batch to
//! leave, every export into the 12 s pipeline would time out. (The server peer, the Rust
//! `fake-opentelemetry-collector`, does not take gzip, hence `compression: none`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;
use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::Collector;
use serde_json::Value;

const EXPORTS: usize = 20;
const ITEMS: usize = 5;

fn collector_yaml(ports: &Ports, sink: std::net::SocketAddr) -> String {
    let Ports {
        grpc,
        http,
        slow_grpc,
        slow_http,
    } = ports;
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
      http: {{endpoint: 127.0.0.1:{http}}}
  otlp/slow:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{slow_grpc}}}
      http: {{endpoint: 127.0.0.1:{slow_http}}}
processors:
  batch:
  batch/slow:
    timeout: 12s
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
    compression: none
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
    traces/slow:
      receivers: [otlp/slow]
      processors: [batch/slow]
      exporters: [otlp]
    logs/slow:
      receivers: [otlp/slow]
      processors: [batch/slow]
      exporters: [otlp]
"
    )
}

struct Ports {
    grpc: u16,
    http: u16,
    slow_grpc: u16,
    slow_http: u16,
}

/// Runs the SDK sender for one run; returns its `{"traces": [...], "logs": [...]}` results.
fn send(run: &str, protocol: &str, port: u16, dir: &std::path::Path) -> Value {
    let python = peers::python().expect("python peers");
    let script = kafka_obs_testkit::workspace_root().join("tests/python/one_in_flight.py");
    let out = dir.join(format!("{run}.json"));
    let log = dir.join(format!("{run}.log"));
    let mut guard = ChildGuard::spawn(
        Command::new(python)
            .arg(script)
            .args(["--protocol", protocol, "--run", run])
            .args(["--endpoint", &format!("http://127.0.0.1:{port}")])
            .args(["--exports", &EXPORTS.to_string()])
            .args(["--items", &ITEMS.to_string()])
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .expect("start the Python SDK sender");
    // 40 exports; one that timed out would take the SDK's 10 s, and the sender stops there.
    let status = guard
        .wait_timeout(Duration::from_secs(120))
        .unwrap()
        .expect("the SDK sender finished within 120 s");
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "[{run}] sender failed ({status}):\n{stderr}"
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// Spans and log records the sink received, counted by their `run` attribute.
#[derive(Debug, Default, PartialEq)]
struct Received {
    spans: BTreeMap<String, usize>,
    logs: BTreeMap<String, usize>,
}

/// The run named in an attribute value (the sink shows values in their `Debug` form).
fn run_of(value: Option<&String>, runs: &[&str]) -> String {
    let value = value.map(String::as_str).unwrap_or_default();
    runs.iter()
        .find(|run| value.contains(&format!("\"{run}\"")))
        .map_or_else(|| format!("unknown: {value}"), |run| run.to_string())
}

/// Drains the sink as it fills (its channels hold 64 items each, then it stops answering)
/// until `stop` fires, then once more; what the collector delivered before it stopped was
/// answered by the sink, so it is in the channels by then.
async fn drain(
    mut sink: FakeCollectorServer,
    runs: Vec<&'static str>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Received {
    let mut received = Received::default();
    loop {
        let last = !matches!(
            stop.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        );
        for span in sink.exported_spans(64, Duration::from_millis(100)).await {
            *received
                .spans
                .entry(run_of(span.attributes.get("run"), &runs))
                .or_insert(0) += 1;
        }
        for log in sink.exported_logs(64, Duration::from_millis(100)).await {
            *received
                .logs
                .entry(run_of(log.attributes.get("run"), &runs))
                .or_insert(0) += 1;
        }
        if last {
            return received;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_one_in_flight_is_answered_at_once_through_a_batch_processor() {
    let sink = FakeCollectorServer::start().await.unwrap();
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        slow_grpc: free_port(),
        slow_http: free_port(),
    };
    let mut collector = Collector::start(&collector_yaml(&ports, sink.address()));
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        ("grpc-default", "grpc", ports.grpc),
        ("http-default", "http", ports.http),
        ("grpc-12s", "grpc", ports.slow_grpc),
        ("http-12s", "http", ports.slow_http),
    ];
    let (stop_draining, stop) = tokio::sync::oneshot::channel();
    let draining = tokio::spawn(drain(
        sink,
        runs.iter().map(|(run, _, _)| *run).collect(),
        stop,
    ));
    for (run, protocol, port) in runs {
        let results = tokio::task::block_in_place(|| send(run, protocol, port, dir.path()));
        for signal in ["traces", "logs"] {
            let exports = results[signal].as_array().unwrap();
            let failed: Vec<&Value> = exports.iter().filter(|e| e["ok"] != true).collect();
            assert!(
                failed.is_empty(),
                "[{run}] {signal}: export {} of {EXPORTS} failed (the SDK timed out or was refused)\n{}",
                exports.len(),
                collector.stderr()
            );
            assert_eq!(exports.len(), EXPORTS, "[{run}] {signal}: every export ran");
        }
    }
    // The 12 s pipeline still holds its batches: a clean stop flushes them.
    let status = tokio::task::block_in_place(|| collector.terminate(Duration::from_secs(20)));
    assert!(status.success(), "{status}\n{}", collector.stderr());
    stop_draining.send(()).unwrap();
    let received = tokio::time::timeout(Duration::from_secs(30), draining)
        .await
        .expect("the sink drained")
        .unwrap();
    let expected: BTreeMap<String, usize> = runs
        .iter()
        .map(|(run, _, _)| (run.to_string(), EXPORTS * ITEMS))
        .collect();
    assert_eq!(
        received,
        Received {
            spans: expected.clone(),
            logs: expected
        },
        "received per run\n{}",
        collector.stderr()
    );
}
