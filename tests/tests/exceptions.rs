//! The exceptions pack end to end: a real Python application logs its exceptions through the
//! OpenTelemetry SDK (`logger.exception`, OTLP/gRPC) into the real binary's `otlp` receiver,
//! a logs pipeline feeds the `signals` connector, and its signals go to a `file` exporter.
//!
//! A second test reads the same rules from a log *file*: the `filelog` receiver tails a Java
//! service's log (multi-line stack traces joined by `multiline.line_start_pattern`, severity
//! parsed by a `regex_parser`), and E1 types the burst by the trace's first header line.
//!
//! The application runs phases (tests/python/app_exceptions.py): a steady error rate the
//! connector learns as its baseline; a rate over it spread across types (E2 DIVERGING, no burst
//! of any one type); back to the baseline (E2 STABLE); a burst of one type (E1 Services FAIL
//! with the type and message); back to the baseline (E1 Services SUCCESS). Every onset must
//! have its recovery under the same rule id, and each in its phase.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_api::Batch;
use kafka_obs_signal::Signal;
use kafka_obs_signal::condition::{PHASE, Phase};
use kafka_obs_signal::otlp::logs::from_export_request;
use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_tests::{Collector, complete_lines};
use serde_json::Value;

const INSTANCE: &str = "checkout-7f9c";
const SUBJECT: &str = "service=checkout/instance=checkout-7f9c";

fn collector_yaml(grpc: u16, signals: &Path) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
connectors:
  signals:
    packs:
      exceptions:
        burst_count: 10
        burst_window: 2s
        rate_interval: 2s
        rate_warmup: 3
        rate_factor: 3
        rate_recover_factor: 2
        rate_min_per_minute: 150
exporters:
  file/signals:
    path: {}
service:
  pipelines:
    logs/app:
      receivers: [otlp]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [file/signals]
",
        signals.display()
    )
}

/// The signals written so far.
fn signals(file: &Path) -> Vec<Signal> {
    let mut out = Vec::new();
    for (i, line) in complete_lines(file).iter().enumerate() {
        match kafka_obs_otlp_json::from_json_line(line, i + 1) {
            Ok(Batch::Logs(request)) => {
                out.extend(from_export_request(&request).expect("signals decode"));
            }
            other => panic!("line {} of the signals file is not logs: {other:?}", i + 1),
        }
    }
    out
}

/// `(kind, phase)` of the signals of `rule` about the instance, in order.
fn of_rule<'a>(all: &'a [Signal], rule: &str) -> Vec<&'a Signal> {
    all.iter()
        .filter(|s| s.evidence.rule == rule && s.subject.qualified() == SUBJECT)
        .collect()
}

fn label(s: &Signal) -> String {
    format!("{} {}", s.kind, s.phase().map_or("-", |p| p.as_str()))
}

/// When a phase of the application ran (ns since the epoch).
struct Span {
    name: String,
    start: u64,
    end: u64,
}

fn spans(out: &Path) -> Vec<Span> {
    let text = std::fs::read_to_string(out).expect("the app wrote its phases");
    let v: Value = serde_json::from_str(&text).expect("phases json");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|p| Span {
            name: p["name"].as_str().expect("name").to_owned(),
            start: p["start"].as_u64().expect("start"),
            end: p["end"].as_u64().expect("end"),
        })
        .collect()
}

#[test]
fn sdk_exception_logs_burst_and_rate_signals_recover() {
    let python = peers::python().expect("the peers venv (KAFKA_OBS_VENV)");
    let grpc = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("signals.jsonl");
    let collector = Collector::start(&collector_yaml(grpc, &file));
    let script = kafka_obs_testkit::workspace_root().join("tests/python/app_exceptions.py");
    let phases_out = dir.path().join("phases.json");
    // name:seconds:per_second:types (seconds 0: all at once).
    let phases = [
        "baseline:10:1:PaymentDeclinedError",
        "rate:6:6:PaymentDeclinedError+CartExpiredError+AddressLookupError",
        "calm:8:1:PaymentDeclinedError",
        "burst:0:15:OrderValidationException",
        "after:6:1:PaymentDeclinedError",
    ]
    .join(",");
    let status = Command::new(python)
        .arg(&script)
        .args(["--endpoint", &format!("http://127.0.0.1:{grpc}")])
        .args(["--instance", INSTANCE, "--phases", &phases])
        .arg("--out")
        .arg(&phases_out)
        .status()
        .expect("run the app");
    assert!(status.success(), "the app failed: {status}");
    let spans = spans(&phases_out);
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("phase {name}"))
    };

    // Wait (bounded) until every condition raised has recovered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let all = loop {
        let all = signals(&file);
        let open = |rule: &str| {
            of_rule(&all, rule)
                .iter()
                .map(|s| match s.phase() {
                    Some(Phase::Onset) => 1i32,
                    Some(Phase::Recovery) => -1,
                    None => 0,
                })
                .sum::<i32>()
        };
        let e1_done = of_rule(&all, "E1")
            .iter()
            .any(|s| s.phase() == Some(Phase::Recovery));
        if e1_done && open("E1") == 0 && open("E2") == 0 {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "conditions still open 20 s after the app ended: {:?}\nkafka-obs log:\n{}",
            all.iter().map(label).collect::<Vec<_>>(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // E2: the rate phase diverges from the learned baseline with no burst of any type, and
    // comes back under the same rule id before the burst.
    let e2 = of_rule(&all, "E2");
    let e2_labels: Vec<String> = e2.iter().map(|s| label(s)).collect();
    assert!(
        e2_labels.len() >= 2,
        "E2 must diverge and recover: {e2_labels:?}"
    );
    assert_eq!(
        e2_labels[..2],
        [
            "Statuses.DIVERGING.MEASURED onset",
            "Statuses.STABLE.MEASURED recovery"
        ],
        "{e2_labels:?}"
    );
    let (rate, calm) = (span("rate"), span("calm"));
    assert!(
        e2[0].time_unix_nano >= rate.start && e2[0].time_unix_nano <= calm.start + 2_500_000_000,
        "E2 onset outside the rate phase"
    );
    assert!(
        e2[1].time_unix_nano >= rate.end && e2[1].time_unix_nano <= calm.end,
        "E2 recovery outside the calm phase"
    );
    let per_minute = e2[0].evidence.get("errors_per_minute").expect("rate");
    let baseline = e2[0].evidence.get("baseline_per_minute").expect("baseline");
    assert!(
        (240.0..=480.0).contains(&per_minute) && (20.0..=100.0).contains(&baseline),
        "rate {per_minute}/min over baseline {baseline}/min (the app sent 360 and 60)"
    );

    // E1: one burst, of the type thrown in the burst phase, with its message, then its way
    // back once the window emptied; nothing from E1 in the rate phase.
    let e1 = of_rule(&all, "E1");
    let e1_labels: Vec<String> = e1.iter().map(|s| label(s)).collect();
    assert_eq!(
        e1_labels,
        [
            "Services.FAIL.CALLEE onset",
            "Services.SUCCESS.CALLEE recovery"
        ],
        "{e1_labels:?}"
    );
    let burst = span("burst");
    let onset = e1[0];
    assert!(onset.time_unix_nano >= burst.start);
    assert_eq!(
        onset.attributes.get("exception.type").map(String::as_str),
        Some("OrderValidationException")
    );
    let message = onset.attributes.get("exception.message").expect("message");
    assert!(
        message.contains("rejected by OrderValidationException"),
        "{message}"
    );
    assert!(onset.evidence.get("errors_in_window").expect("count") >= 10.0);
    let back = e1[1];
    assert_eq!(
        back.attributes.get("exception.type").map(String::as_str),
        Some("OrderValidationException")
    );
    assert!(back.evidence.get("held_seconds").expect("held") >= 1.0);
    assert_eq!(
        back.attributes.get(PHASE).map(String::as_str),
        Some("recovery")
    );

    // The instance's status went DEGRADED with the burst and is STABLE at the end.
    let statuses: Vec<String> = all
        .iter()
        .filter(|s| s.evidence.rule == "status" && s.subject.qualified() == SUBJECT)
        .map(|s| s.kind.to_string())
        .collect();
    assert!(
        statuses.iter().any(|s| s.starts_with("Statuses.DEGRADED")),
        "{statuses:?}"
    );
    assert!(
        statuses
            .last()
            .is_some_and(|s| s.starts_with("Statuses.STABLE")),
        "{statuses:?}"
    );

    // Every record was read; only the ERROR ones counted (the app's INFO lines are not).
    let errors = 10 + 36 + 8 + 15 + 6;
    assert_eq!(
        collector.metric("kafka_obs_signals_error_records_total", &[]),
        f64::from(errors)
    );
    assert_eq!(
        collector.metric("kafka_obs_signals_log_records_total", &[]),
        f64::from(errors + 5)
    );
}

/// One Java log entry: a header line and, for an error, its stack trace.
fn java_entry(n: u32, error: bool) -> String {
    if error {
        format!(
            "2026-12-08 02:20:{:02}.{n:03} ERROR [orders-worker-{n}] placing order {n} failed\n\
             com.shop.orders.OrderValidationException: order {n} has no lines\n\
             \tat com.shop.orders.Validator.check(Validator.java:31)\n\
             \tat com.shop.orders.OrderService.place(OrderService.java:88)\n\
             Caused by: java.lang.IllegalStateException: empty cart\n\
             \tat com.shop.cart.Cart.lines(Cart.java:12)\n",
            n % 60
        )
    } else {
        format!(
            "2026-12-08 02:20:{:02}.{n:03} INFO [orders-worker-{n}] order {n} placed\n",
            n % 60
        )
    }
}

#[test]
fn a_java_log_file_tailed_by_filelog_bursts_by_its_trace_header_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("orders.log");
    let file = dir.path().join("signals.jsonl");
    // Two quiet entries before the collector starts; the burst is appended while it runs.
    std::fs::write(&log, java_entry(1, false) + &java_entry(2, false)).expect("write log");
    let config = format!(
        r#"receivers:
  filelog:
    include: [{log}]
    start_at: beginning
    poll_interval: 100ms
    multiline:
      line_start_pattern: '^\d{{4}}-\d{{2}}-\d{{2}} '
    operators:
      - type: regex_parser
        regex: '^(?P<time>\S+ \S+) (?P<level>[A-Z]+) \[(?P<thread>[^\]]+)\]'
        severity:
          parse_from: attributes.level
processors:
  resource:
    attributes:
      - {{key: service.name, value: orders, action: upsert}}
      - {{key: service.instance.id, value: orders-0, action: upsert}}
connectors:
  signals:
    packs:
      exceptions:
        burst_count: 10
        burst_window: 3s
exporters:
  file/signals:
    path: {signals}
service:
  pipelines:
    logs/app:
      receivers: [filelog]
      processors: [resource]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [file/signals]
"#,
        log = log.display(),
        signals = file.display()
    );
    let collector = Collector::start(&config);
    let mut text = String::new();
    for n in 3..15 {
        text.push_str(&java_entry(n, true));
    }
    // A line after the burst closes its last entry (multi-line needs the next start).
    text.push_str(&java_entry(15, false));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .expect("append the burst");

    let deadline = Instant::now() + Duration::from_secs(30);
    let e1 = loop {
        let all = signals(&file);
        let e1: Vec<Signal> = all
            .iter()
            .filter(|s| s.evidence.rule == "E1")
            .cloned()
            .collect();
        if e1.iter().any(|s| s.phase() == Some(Phase::Recovery)) {
            break e1;
        }
        assert!(
            Instant::now() < deadline,
            "no E1 onset and recovery in 30 s: {:?}\nkafka-obs log:\n{}",
            all.iter().map(label).collect::<Vec<_>>(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let labels: Vec<String> = e1.iter().map(label).collect();
    assert_eq!(
        labels,
        [
            "Services.FAIL.CALLEE onset",
            "Services.SUCCESS.CALLEE recovery"
        ]
    );
    let onset = &e1[0];
    assert_eq!(
        onset.subject.qualified(),
        "service=orders/instance=orders-0"
    );
    // The first header of the trace names the type, not its `Caused by:`.
    assert_eq!(
        onset.attributes.get("exception.type").map(String::as_str),
        Some("com.shop.orders.OrderValidationException")
    );
    let message = onset.attributes.get("exception.message").expect("message");
    assert!(message.ends_with("has no lines"), "{message}");
    // Each multi-line entry is one record; only the twelve ERROR entries are errors.
    assert_eq!(
        collector.metric("kafka_obs_signals_error_records_total", &[]),
        12.0
    );
    let read = collector.metric("kafka_obs_signals_log_records_total", &[]);
    assert!((14.0..=15.0).contains(&read), "{read} records read");
}
