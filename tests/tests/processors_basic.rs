//! `memory_limiter`, `resource` and `attributes` in the real binary, between real peers.
//!
//! - The OpenTelemetry Python SDK sends metrics, logs and spans over gRPC; `resource` and
//!   `attributes` change them; an independent OTLP/gRPC server on the official
//!   `opentelemetry-proto` stubs (`tests/python/otlp_dump_receiver.py`) decodes what our
//!   exporter sent, and the test reads that JSON.
//! - A tonic OTLP client floods a collector whose exporter's backend is down, behind a
//!   `memory_limiter`: the process's peak resident memory (the kernel's `VmHWM`) stays within
//!   the limit plus the overhead the docs state (the limit is on the live heap, as the
//!   Collector's is on Go's heap), refusals are answered `UNAVAILABLE` and counted, once the
//!   backend comes up every request answered OK arrives there, and the limiter reopens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use serde_json::Value;

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::Collector;
use kafka_obs_tests::otlp::{kv, metrics_client};

/// `tests/python/otlp_dump_receiver.py` on a port of our choosing; killed on drop.
struct DumpReceiver {
    lines: Arc<Mutex<Vec<Value>>>,
    _guard: ChildGuard,
}

impl DumpReceiver {
    fn start(port: u16, ids: Option<&str>) -> DumpReceiver {
        let script = kafka_obs_testkit::workspace_root().join("tests/python/otlp_dump_receiver.py");
        let mut cmd = Command::new(peers::python().expect("python peers"));
        cmd.arg(&script).args(["--port", &port.to_string()]);
        if let Some(attr) = ids {
            cmd.args(["--ids", attr]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn(&mut cmd).unwrap();
        let mut reader = BufReader::new(guard.child_mut().stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(
            first.contains("listening"),
            "receiver did not start: {first:?}"
        );
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        DumpReceiver {
            lines,
            _guard: guard,
        }
    }

    fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until `f` holds on the lines so far, at most `timeout`.
    fn wait_for(&self, timeout: Duration, f: impl Fn(&[Value]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if f(&self.lines()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        f(&self.lines())
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An attribute's value in protobuf's JSON mapping (`{"stringValue": ...}`), if present.
fn attr<'a>(attrs: &'a [Value], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

/// SHA-256 hex of `text`, computed by Python's hashlib (not by the code under test).
fn sha256_hex(text: &str) -> String {
    let out = Command::new(peers::python().unwrap())
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())",
            text,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn rewrite_config(grpc: u16, backend: u16) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  resource:
    attributes:
      - {{key: kafka.cluster, value: orders-prod, action: upsert}}
      - {{key: test.run, action: hash}}
      - {{key: telemetry.sdk.version, action: delete}}
  attributes/spans:
    include: {{match_type: strict, span_names: [checkout]}}
    actions:
      - {{key: order.id, action: hash}}
      - {{key: order.kind, value: web, action: insert}}
  attributes/logs:
    exclude: {{match_type: regexp, log_bodies: ["line [0-4]$"]}}
    actions:
      - {{key: i, action: convert, converted_type: string}}
      - {{key: kind, action: delete}}
  attributes/metrics:
    include: {{match_type: strict, metric_names: [orders.processed]}}
    actions:
      - {{key: shop, pattern: "^(?P<region>[a-z])", action: extract}}
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    sending_queue: {{num_consumers: 1}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, attributes/spans]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [resource, attributes/logs]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [resource, attributes/metrics]
      exporters: [otlp]
"#
    )
}

/// Every `(resource attributes, item)` of one signal in the dumped requests.
fn items(lines: &[Value], signal: &str) -> Vec<(Vec<Value>, Value)> {
    let (res_key, scope_key, item_key) = match signal {
        "traces" => ("resourceSpans", "scopeSpans", "spans"),
        "logs" => ("resourceLogs", "scopeLogs", "logRecords"),
        _ => ("resourceMetrics", "scopeMetrics", "metrics"),
    };
    let mut out = Vec::new();
    for line in lines.iter().filter(|l| l["signal"] == signal) {
        for r in arr(&line["request"], res_key) {
            let resource = arr(&r["resource"], "attributes").to_vec();
            for s in arr(r, scope_key) {
                for item in arr(s, item_key) {
                    out.push((resource.clone(), item.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn resource_and_attributes_rewrite_what_a_python_sdk_sends() {
    let (grpc, backend) = (free_port(), free_port());
    let receiver = DumpReceiver::start(backend, None);
    let collector = Collector::start(&rewrite_config(grpc, backend));
    let work = tempfile::tempdir().unwrap();
    let run = format!("run-{grpc}");
    let status = Command::new(peers::python().unwrap())
        .arg(kafka_obs_testkit::workspace_root().join("tests/python/send_otlp.py"))
        .args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("http://127.0.0.1:{grpc}"),
        ])
        .args(["--run", &run, "--out"])
        .arg(work.path().join("expected.json"))
        .status()
        .unwrap();
    assert!(status.success(), "the Python SDK sender failed");
    let arrived = receiver.wait_for(Duration::from_secs(20), |lines| {
        items(lines, "traces").len() >= 3
            && items(lines, "logs").len() >= 10
            && items(lines, "metrics").len() >= 3
    });
    assert!(
        arrived,
        "not everything arrived: {:?}\n{}",
        receiver.lines(),
        collector.stderr()
    );
    let lines = receiver.lines();

    // resource: on every resource of every signal.
    let run_hash = sha256_hex(&run);
    for signal in ["traces", "logs", "metrics"] {
        for (resource, _) in items(&lines, signal) {
            assert_eq!(
                attr(&resource, "kafka.cluster").unwrap()["stringValue"],
                "orders-prod"
            );
            assert_eq!(
                attr(&resource, "test.run").unwrap()["stringValue"],
                run_hash.as_str()
            );
            assert_eq!(
                attr(&resource, "service.name").unwrap()["stringValue"],
                "py-sender"
            );
            assert!(
                attr(&resource, "telemetry.sdk.version").is_none(),
                "{signal}: {resource:?}"
            );
        }
    }

    // attributes/spans: only the span named `checkout`.
    let spans = items(&lines, "traces");
    for (_, span) in &spans {
        let attrs = arr(span, "attributes");
        if span["name"] == "checkout" {
            assert_eq!(
                attr(attrs, "order.id").unwrap()["stringValue"],
                sha256_hex("o-123").as_str()
            );
            assert_eq!(attr(attrs, "order.kind").unwrap()["stringValue"], "web");
        } else {
            assert!(attr(attrs, "order.kind").is_none(), "{span}");
            assert_eq!(attr(attrs, "attempt").unwrap()["intValue"], "1");
        }
    }

    // attributes/logs: lines 5-9 converted and trimmed, lines 0-4 excluded by their body.
    let logs = items(&lines, "logs");
    assert_eq!(logs.len(), 10);
    for (_, log) in &logs {
        let body = log["body"]["stringValue"].as_str().unwrap();
        let n: i64 = body.trim_start_matches("log line ").parse().unwrap();
        let attrs = arr(log, "attributes");
        if n >= 5 {
            assert_eq!(
                attr(attrs, "i").unwrap()["stringValue"],
                n.to_string().as_str(),
                "{log}"
            );
            assert!(attr(attrs, "kind").is_none(), "{log}");
        } else {
            assert_eq!(
                attr(attrs, "i").unwrap()["intValue"],
                n.to_string().as_str(),
                "{log}"
            );
            assert_eq!(attr(attrs, "kind").unwrap()["stringValue"], "test");
        }
    }

    // attributes/metrics: regions extracted on `orders.processed` points only.
    let mut regions = BTreeSet::new();
    for (_, metric) in items(&lines, "metrics") {
        for kind in ["sum", "gauge", "histogram"] {
            for p in arr(&metric[kind], "dataPoints") {
                let attrs = arr(p, "attributes");
                let region = attr(attrs, "region");
                if metric["name"] == "orders.processed" {
                    let shop = attr(attrs, "shop").unwrap()["stringValue"]
                        .as_str()
                        .unwrap();
                    let region = region.unwrap()["stringValue"].as_str().unwrap();
                    assert_eq!(region, &shop[..1]);
                    regions.insert(region.to_string());
                } else {
                    assert!(region.is_none(), "{metric}");
                }
            }
        }
    }
    assert_eq!(regions, BTreeSet::from(["e".to_string(), "u".to_string()]));
    assert_eq!(
        collector.metric(
            "otelcol_processor_outgoing_items",
            &["processor=\"attributes/logs\""]
        ),
        10.0
    );
}

const POINTS: usize = 1000;
const LIMIT_MIB: u64 = 150;
/// What the process holds beyond its live heap under this flood (requests being decoded,
/// allocator slack, code, stacks): docs/components/processor-memory_limiter.md states it, as
/// the Collector's README says its process runs about 50 MiB above `limit_mib`.
const OVERHEAD_MIB: u64 = 64;
const SPIKE_MIB: u64 = 40;

/// A request of `POINTS` gauge points, each tagged `req=<req>`.
fn flood_request(req: u64) -> ExportMetricsServiceRequest {
    let data_points = (0..POINTS)
        .map(|p| NumberDataPoint {
            attributes: vec![
                kv("req", any_value::Value::IntValue(req as i64)),
                kv(
                    "host",
                    any_value::Value::StringValue(format!("host-{p:04}")),
                ),
            ],
            time_unix_nano: 1_700_000_000_000_000_000 + p as u64,
            value: Some(number_data_point::Value::AsDouble(p as f64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "flood.value".into(),
                    data: Some(Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn limiter_config(grpc: u16, backend: u16) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  memory_limiter:
    check_interval: 20ms
    limit_mib: {LIMIT_MIB}
    spike_limit_mib: {SPIKE_MIB}
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0s}}
    # Big enough that only the limiter, not the queue, bounds what a dead backend piles up.
    sending_queue: {{queue_size: 1000000, num_consumers: 2}}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [otlp]
"
    )
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limiter_bounds_a_flood_and_loses_nothing_it_accepted() {
    let (grpc, backend) = (free_port(), free_port());
    // The backend is down: everything accepted piles up in the exporter's queue.
    let collector = Collector::start(&limiter_config(grpc, backend));
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let limited = Arc::new(Mutex::new(0u64));
    let other_errors = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut lanes = Vec::new();
    for lane in 0..4u64 {
        let (accepted, limited, other_errors) =
            (accepted.clone(), limited.clone(), other_errors.clone());
        lanes.push(tokio::spawn(async move {
            let mut client = metrics_client(grpc).await;
            // Without the limiter this is 2 GB of points.
            for i in 0..2500u64 {
                if Instant::now() > deadline {
                    return;
                }
                let req = lane * 10_000 + i;
                match client.export(flood_request(req)).await {
                    Ok(_) => {
                        accepted.lock().unwrap().insert(req as i64);
                    }
                    Err(status)
                        if status.code() == tonic::Code::Unavailable
                            && status.message().contains("memory_limiter") =>
                    {
                        *limited.lock().unwrap() += 1;
                        // A well-behaved sender backs off; keep the flood going but let the
                        // refusals be answered.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(status) => other_errors.lock().unwrap().push(status.to_string()),
                }
            }
        }));
    }
    for lane in lanes {
        lane.await.unwrap();
    }
    let peak_kib = peak_rss_kib(collector.pid());
    let accepted: BTreeSet<i64> = accepted.lock().unwrap().clone();
    let limited = *limited.lock().unwrap();
    let other_errors = other_errors.lock().unwrap().clone();
    eprintln!(
        "accepted {} requests, refused {limited} by the limiter; peak RSS {} MiB (limit {LIMIT_MIB} MiB)",
        accepted.len(),
        peak_kib / 1024
    );
    assert!(other_errors.is_empty(), "{other_errors:?}");
    assert!(
        accepted.len() >= 20,
        "the limiter refused from the start: {}",
        collector.stderr()
    );
    assert!(limited > 0, "the flood never reached the limit");
    assert!(
        peak_kib < (LIMIT_MIB + OVERHEAD_MIB) * 1024,
        "peak resident memory {peak_kib} KiB above the {LIMIT_MIB} MiB limit + {OVERHEAD_MIB} MiB"
    );
    assert_eq!(
        collector.metric(
            "kafka_obs_processor_refused_items_total",
            &["processor=\"memory_limiter\"", "data_type=\"metrics\""]
        ),
        (limited * POINTS as u64) as f64
    );
    assert!(collector.metric("kafka_obs_processor_memory_limiter_memory_bytes", &[]) > 0.0);

    // The backend comes up: every point of every request answered OK is delivered (at least
    // once: a request whose export timed out while the backend was down may come twice).
    let receiver = DumpReceiver::start(backend, Some("req"));
    let delivered = |lines: &[Value]| -> BTreeMap<i64, usize> {
        let mut points = BTreeMap::new();
        for id in lines
            .iter()
            .flat_map(|l| arr(l, "ids").iter().filter_map(Value::as_i64))
        {
            *points.entry(id).or_default() += 1;
        }
        points
    };
    let complete = |got: &BTreeMap<i64, usize>| {
        accepted
            .iter()
            .filter(|req| got.get(req).copied().unwrap_or(0) < POINTS)
            .count()
    };
    let all = receiver.wait_for(Duration::from_secs(120), |lines| {
        complete(&delivered(lines)) == 0
    });
    let got = delivered(&receiver.lines());
    assert!(
        all,
        "{} of {} accepted requests did not fully arrive",
        complete(&got),
        accepted.len()
    );
    // Nothing arrived that was refused.
    assert!(
        got.keys().all(|req| accepted.contains(req)),
        "a refused request was delivered"
    );

    // The way back: with the queue drained, memory falls under the soft limit again and the
    // limiter lets data in; a limiter that stays shut is an alarm that never clears.
    let mut client = metrics_client(grpc).await;
    let back = Instant::now() + Duration::from_secs(60);
    let mut refusals_after_drain = 0u32;
    let reopened = loop {
        match client.export(flood_request(900_000)).await {
            Ok(_) => break true,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                refusals_after_drain += 1;
                if Instant::now() > back {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("{status}"),
        }
    };
    assert!(
        reopened,
        "still refusing 60 s after the queue drained ({refusals_after_drain} refusals; rss gauge {} bytes)",
        collector.metric("kafka_obs_processor_memory_limiter_memory_bytes", &[])
    );
    assert!(
        receiver.wait_for(Duration::from_secs(30), |lines| {
            delivered(lines).get(&900_000).copied().unwrap_or(0) >= POINTS
        }),
        "the request accepted after the recovery was not delivered"
    );
}
