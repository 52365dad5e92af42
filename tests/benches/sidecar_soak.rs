//! The sidecar soak (issue #14): `examples/sidecar.yaml` as shipped, polling a real scenario
//! JVM over JMX for a long time, its signals on the gRPC stream and its metrics over OTLP to a
//! real central (`signals` + `otlp` receivers -> `hierarchy`, the same binary). Every
//! `--sample-every` the sidecar's RSS is read from /proc; at the end the harness prints the
//! RSS figures (start, min, max, end, slope over the run and over its second half) beside the
//! sidecar's own counts (polls, signal events acked by the central), so a flat line is seen
//! to come from a sidecar that was working.
//!
//! ```text
//! cargo build --release -p kafka-obs --no-default-features
//! cargo bench -p kafka-obs-tests --bench sidecar_soak -- --seconds 3600 --interval 1s
//! ```
//! `--interval` is the sidecar's `COLLECTION_INTERVAL` (the example's default is 10s; 1s
//! ages it ten times faster). The scenario JVM loops through normal, buffer overflow, lag
//! spike, rebalance storm and recovery, so conditions open and clear all along.
//! Set KAFKA_OBS_BIN to soak another build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::scenario::{Role, ScenarioJvm};
use kafka_obs_tests::args::Args;
use kafka_obs_tests::rss::RssSeries;
use kafka_obs_tests::{Collector, CollectorOptions, kafka_obs_bin};

/// The central the sidecar ships to: the stream intake and OTLP, into the hierarchy.
fn central_yaml(intake: u16, otlp: u16, events: &std::path::Path) -> String {
    format!(
        r#"
receivers:
  signals/in:
    endpoint: 127.0.0.1:{intake}
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp}
connectors:
  hierarchy:
    source_id: soak-central
exporters:
  file/events:
    path: {events}
    rotation: {{max_megabytes: 10, max_backups: 1}}
service:
  telemetry:
    logs:
      level: warn
  pipelines:
    logs/in:
      receivers: [signals/in, otlp]
      exporters: [hierarchy]
    metrics/in:
      receivers: [otlp]
      exporters: [hierarchy]
    logs/out:
      receivers: [hierarchy]
      exporters: [file/events]
"#,
        events = events.display()
    )
}

/// `examples/sidecar.yaml` unchanged but for its fixed ports (health check, self-metrics),
/// which would clash with anything else on the machine.
fn sidecar_yaml(health: u16) -> String {
    let path = kafka_obs_testkit::workspace_root().join("examples/sidecar.yaml");
    let text = std::fs::read_to_string(&path).expect("examples/sidecar.yaml");
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("sidecar.yaml");
    doc["extensions"]["health_check"]["endpoint"] = format!("127.0.0.1:{health}").into();
    serde_yaml_ng::to_string(&doc).expect("yaml")
}

fn main() {
    let args = Args::from_env();
    let seconds: u64 = args.get("seconds", 3600);
    let interval: String = args.get("interval", "1s".to_string());
    let sample_every = Duration::from_secs(args.get("sample-every", 5));
    println!(
        "sidecar soak: {} for {seconds} s, poll interval {interval}, RSS every {} s",
        kafka_obs_bin().display(),
        sample_every.as_secs()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let (intake, otlp) = (free_port(), free_port());
    let central = Collector::start(&central_yaml(
        intake,
        otlp,
        &dir.path().join("central-events.jsonl"),
    ));
    let scenario = ScenarioJvm::builder()
        .role(Role::Client)
        .tick(Duration::from_secs(1))
        .timeline("normal:60t,buffer-overflow:30t,lag-spike:40t,rebalance-storm:30t,recovery:60t")
        .looped()
        .jvm(|b| b.jvm_arg("-Xmx64m"))
        .start()
        .expect("scenario JVM");
    let sidecar = Collector::start_with(
        &sidecar_yaml(free_port()),
        CollectorOptions {
            env: vec![
                (
                    "JMX_URL".into(),
                    format!("127.0.0.1:{}", scenario.jmx_port()),
                ),
                (
                    "AGGREGATOR_URL".into(),
                    format!("http://127.0.0.1:{intake}"),
                ),
                ("OTLP_ENDPOINT".into(), format!("http://127.0.0.1:{otlp}")),
                ("COLLECTION_INTERVAL".into(), interval.clone()),
                (
                    "QUEUE_DIR".into(),
                    dir.path().join("queue").display().to_string(),
                ),
            ],
            ..Default::default()
        },
    );

    let mut rss = RssSeries::new();
    let began = Instant::now();
    let mut next_report = Duration::ZERO;
    while began.elapsed() < Duration::from_secs(seconds) {
        let Some(kib) = rss.sample(sidecar.pid()) else {
            panic!("the sidecar exited:\n{}", sidecar.stderr());
        };
        if began.elapsed() >= next_report {
            println!(
                "  t={:>5} s  rss {:>6.1} MiB  polls {:>6}  signals acked by the central {:>7}",
                began.elapsed().as_secs(),
                kib as f64 / 1024.0,
                polls(&sidecar),
                central.metric(
                    "otelcol_receiver_accepted_log_records",
                    &["receiver=\"signals/in\""]
                ),
            );
            next_report += Duration::from_secs(60);
        }
        std::thread::sleep(sample_every);
    }
    let summary = rss.summary().expect("samples");
    let sent = sidecar.metric(
        "otelcol_exporter_sent_log_records",
        &["exporter=\"signals/aggregator\""],
    );
    let engine = central.metric("kafka_obs_hierarchy_signals_total", &[]);
    println!("\n| figure | value |\n|---|---|");
    println!("| duration | {seconds} s at a {interval} poll interval |");
    println!("| polls | {} |", polls(&sidecar));
    println!("| signal events the sidecar's signals/aggregator sent | {sent} |");
    println!("| signals the central's engine ingested | {engine} |");
    let mib = |k: u64| k as f64 / 1024.0;
    println!("| RSS start | {:.1} MiB |", mib(summary.start));
    println!(
        "| RSS min / max | {:.1} / {:.1} MiB |",
        mib(summary.min),
        mib(summary.max)
    );
    println!("| RSS end | {:.1} MiB |", mib(summary.end));
    println!(
        "| RSS slope, whole run / second half | {:+.2} / {:+.2} MiB per hour |",
        summary.slope_per_hour / 1024.0,
        summary.second_half_slope_per_hour / 1024.0
    );
    println!("\n{summary}");
    drop(scenario);
}

/// Polls the sidecar's `jmx` receiver made so far.
fn polls(sidecar: &Collector) -> f64 {
    sidecar.metric("kafka_obs_jmx_polls_total", &[])
}
