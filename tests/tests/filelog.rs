//! The `filelog` receiver in the real binary, reading files this test writes, delivering to an
//! independent OTLP server (testkit's Python receiver on the official proto stubs):
//!
//! - multi-line Java stack traces, rotation by rename, copytruncate, and a restart of the
//!   binary mid-stream with `storage`: every entry arrives exactly once;
//! - regex and JSON parsing with severity and timestamps, checked field by field;
//! - the real otelcol-contrib's filelog receiver reading the same file with the same
//!   configuration sends the same records (bodies, attributes, severity, timestamps);
//! - an unknown operator type is a config error naming its path and the supported types.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_testkit::otlp_peer::{PyOtlpReceiver, ReceiverOptions};
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::{Collector, validate};
use serde_json::Value;

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_data().unwrap();
}

/// Entry `seq` as a log4j-style line; every 7th carries a Java stack trace.
fn entry(seq: usize) -> String {
    let mut s = format!("2026-12-08 01:02:03,456 ERROR [main] orders seq={seq} failed\n");
    if seq.is_multiple_of(7) {
        s.push_str(&format!(
            "com.shop.OrderValidationException: order o-{seq} invalid\n\tat com.shop.Orders.validate(Orders.java:42)\n\tat com.shop.Orders.place(Orders.java:17)\n"
        ));
    }
    s
}

fn entries(range: std::ops::Range<usize>) -> String {
    range.map(entry).collect()
}

fn body(record: &Value) -> String {
    record["body"]["string_value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn attributes(record: &Value) -> BTreeMap<String, String> {
    record["attributes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let v = &kv["value"];
            let text = v["string_value"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            (kv["key"].as_str().unwrap_or_default().to_string(), text)
        })
        .collect()
}

/// The `seq=N` of every record received so far.
fn seqs(peer: &PyOtlpReceiver) -> Vec<usize> {
    peer.log_records("http")
        .iter()
        .filter_map(|r| {
            let b = body(r);
            let at = b.find("seq=")? + 4;
            b[at..].split(' ').next()?.parse().ok()
        })
        .collect()
}

fn wait_for_count(peer: &PyOtlpReceiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while seqs(peer).len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} entries arrived",
            seqs(peer).len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sidecar_config(log: &Path, storage: &Path, http_port: u16) -> String {
    format!(
        r"receivers:
  filelog:
    include: [{log}]
    start_at: beginning
    poll_interval: 50ms
    multiline:
      line_start_pattern: '^\d{{4}}-'
    storage: file_storage
extensions:
  file_storage:
    directory: {storage}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:{http_port}
service:
  extensions: [file_storage]
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [otlp_http]
",
        log = log.display(),
        storage = storage.display(),
    )
}

#[test]
fn rotation_truncation_stack_traces_and_restart_deliver_every_entry_once() {
    let peer = PyOtlpReceiver::start(&ReceiverOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let storage = dir.path().join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let config = sidecar_config(&log, &storage, peer.http_port);
    append(&log, &entries(0..50));
    let mut collector = Collector::start(&config);
    wait_for_count(&peer, 50);

    // Rotation by rename: the end of the old file and the whole new one.
    append(&log, &entries(50..70));
    std::thread::sleep(Duration::from_millis(20));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &entries(70..90));
    wait_for_count(&peer, 90);

    // copytruncate: the copy is not followed (not matched), the truncated file is re-read
    // from its start.
    std::fs::copy(&log, dir.path().join("app.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    append(&log, &entries(90..110));
    wait_for_count(&peer, 110);

    // A restart mid-stream: lines written while it is down are read after it, none twice.
    append(&log, &entries(110..125));
    // Past force_flush_period (500ms), so entry 124 (no next start line yet) went out too.
    wait_for_count(&peer, 125);
    assert!(collector.terminate(Duration::from_secs(15)).success());
    append(&log, &entries(125..140));
    let collector = Collector::start(&config);
    wait_for_count(&peer, 140);
    std::thread::sleep(Duration::from_secs(1));

    let mut got = seqs(&peer);
    got.sort_unstable();
    assert_eq!(got, (0..140).collect::<Vec<_>>(), "each entry exactly once");
    // Stack traces are one record each, inner lines kept.
    let records = peer.log_records("http");
    let traced = records
        .iter()
        .find(|r| body(r).contains("seq=14 "))
        .unwrap();
    assert_eq!(
        body(traced),
        "2026-12-08 01:02:03,456 ERROR [main] orders seq=14 failed\ncom.shop.OrderValidationException: order o-14 invalid\n\tat com.shop.Orders.validate(Orders.java:42)\n\tat com.shop.Orders.place(Orders.java:17)"
    );
    assert_eq!(attributes(traced)["log.file.name"], "app.log");
    // Only the entries after the restart count in the new process.
    assert_eq!(
        collector.metric(
            "otelcol_receiver_accepted_log_records",
            &["receiver=\"filelog\"", "transport=\"\""]
        ),
        15.0
    );
    assert_eq!(
        collector.metric("kafka_obs_filelog_files_open", &["receiver=\"filelog\""]),
        1.0
    );
}

/// The parsing operators as the example page documents them.
const PARSERS: &str = r#"
    operators:
      - type: regex_parser
        regex: '^(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) (?P<level>\w+) (?P<logger>\S+) - (?P<message>.*)$'
        timestamp:
          parse_from: attributes.time
          layout: '%Y-%m-%d %H:%M:%S.%L'
        severity:
          parse_from: attributes.level
"#;

const REGEX_LINES: &str = "2026-12-08 01:02:03.456 ERROR com.shop.Orders - order o-1 rejected\n\
2026-12-08 01:02:04.000 WARN com.shop.Pool - pool at 90%\n\
2026-12-08 01:02:05.789 INFO com.shop.Orders - order o-2 placed\n";

#[test]
fn regex_and_json_parsing_field_by_field() {
    let peer = PyOtlpReceiver::start(&ReceiverOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text_log = dir.path().join("text.log");
    let json_log = dir.path().join("json.log");
    append(&text_log, REGEX_LINES);
    append(
        &json_log,
        concat!(
            r#"{"ts":"2026-12-08T01:02:03.456Z","lvl":"E","msg":"boom","order":{"id":"o-1"},"retries":3}"#,
            "\n",
            r#"{"ts":"2026-12-08T01:02:04.5+02:00","lvl":"W","msg":"slow"}"#,
            "\n",
            "not json at all\n"
        ),
    );
    let _collector = Collector::start(&format!(
        r#"receivers:
  filelog/text:
    include: [{text}]
    start_at: beginning
    include_file_path: true
{PARSERS}
  filelog/json:
    include: [{json}]
    start_at: beginning
    operators:
      - type: json_parser
        on_error: drop
        timestamp: {{parse_from: attributes.ts, layout_type: gotime, layout: '2006-01-02T15:04:05.999999999Z07:00'}}
        severity: {{parse_from: attributes.lvl, mapping: {{error: E, warn: W}}}}
      - type: move
        from: attributes.msg
        to: body
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:{port}
service:
  pipelines:
    logs:
      receivers: [filelog/text, filelog/json]
      exporters: [otlp_http]
"#,
        text = text_log.display(),
        json = json_log.display(),
        port = peer.http_port,
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.log_records("http").len() < 5 {
        assert!(Instant::now() < deadline, "{:?}", peer.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let records = peer.log_records("http");
    assert_eq!(
        records.len(),
        5,
        "the bad JSON line is dropped: {records:#?}"
    );
    let by_body = |b: &str| records.iter().find(|r| body(r) == b).unwrap().clone();

    let error = by_body("2026-12-08 01:02:03.456 ERROR com.shop.Orders - order o-1 rejected");
    assert_eq!(error["time_unix_nano"], "1796691723456000000");
    assert_eq!(error["severity_number"], "SEVERITY_NUMBER_ERROR");
    assert_eq!(error["severity_text"], "ERROR");
    let attrs = attributes(&error);
    assert_eq!(attrs["logger"], "com.shop.Orders");
    assert_eq!(attrs["message"], "order o-1 rejected");
    assert_eq!(attrs["level"], "ERROR");
    assert_eq!(attrs["log.file.name"], "text.log");
    assert_eq!(attrs["log.file.path"], text_log.display().to_string());
    assert!(error["observed_time_unix_nano"].as_str().unwrap().len() >= 19);
    let warn = by_body("2026-12-08 01:02:04.000 WARN com.shop.Pool - pool at 90%");
    assert_eq!(warn["severity_number"], "SEVERITY_NUMBER_WARN");
    assert_eq!(warn["time_unix_nano"], "1796691724000000000");
    let info = by_body("2026-12-08 01:02:05.789 INFO com.shop.Orders - order o-2 placed");
    assert_eq!(info["severity_number"], "SEVERITY_NUMBER_INFO");

    let boom = by_body("boom");
    assert_eq!(boom["time_unix_nano"], "1796691723456000000");
    assert_eq!(boom["severity_number"], "SEVERITY_NUMBER_ERROR");
    assert_eq!(boom["severity_text"], "E");
    let attrs = attributes(&boom);
    assert_eq!(attrs["retries"], r#"{"int_value":"3"}"#);
    assert!(attrs["order"].contains("o-1"), "{attrs:?}");
    assert!(!attrs.contains_key("msg"));
    let slow = by_body("slow");
    // 04.5 at +02:00 is 23:02:04.5 UTC the day before.
    assert_eq!(slow["time_unix_nano"], "1796684524500000000");
    assert_eq!(slow["severity_number"], "SEVERITY_NUMBER_WARN");
}

#[test]
fn the_same_records_as_otelcol_contribs_filelog() {
    let ours = PyOtlpReceiver::start(&ReceiverOptions::default()).unwrap();
    let theirs = PyOtlpReceiver::start(&ReceiverOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut text = String::from(REGEX_LINES);
    text.push_str("2026-12-08 01:02:06.001 ERROR com.shop.Orders - stack follows\n\tat com.shop.Orders.place(Orders.java:17)\n");
    text.push_str("2026-12-08 01:02:07.002 DEBUG com.shop.Cache - hit\n");
    append(&log, &text);
    let receiver = format!(
        r"    include: [{log}]
    start_at: beginning
    multiline:
      line_start_pattern: '^\d{{4}}-'
{PARSERS}",
        log = log.display()
    );
    let otelcol_config = dir.path().join("otelcol.yaml");
    std::fs::write(
        &otelcol_config,
        format!(
            "receivers:
  filelog:
{receiver}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{port}
    compression: none
service:
  telemetry:
    logs: {{level: warn}}
    metrics: {{level: none}}
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [otlphttp]
",
            port = theirs.http_port
        ),
    )
    .unwrap();
    let otelcol_log = std::fs::File::create(dir.path().join("otelcol.log")).unwrap();
    let _otelcol = ChildGuard::spawn(
        Command::new(peers::otelcol_bin().expect("otelcol-contrib peer"))
            .arg("--config")
            .arg(&otelcol_config)
            .stdout(otelcol_log.try_clone().unwrap())
            .stderr(otelcol_log),
    )
    .unwrap();
    let _collector = Collector::start(&format!(
        "receivers:
  filelog:
{receiver}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:{port}
service:
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [otlp_http]
",
        port = ours.http_port
    ));
    let deadline = Instant::now() + Duration::from_secs(40);
    while ours.log_records("http").len() < 5 || theirs.log_records("http").len() < 5 {
        assert!(
            Instant::now() < deadline,
            "ours {:?}\ntheirs {:?}\n{}",
            ours.lines(),
            theirs.lines(),
            std::fs::read_to_string(dir.path().join("otelcol.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    // What both must agree on; observed times differ by nature.
    let view = |r: &Value| {
        (
            body(r),
            attributes(r),
            r["severity_number"].clone(),
            r["severity_text"].clone(),
            r["time_unix_nano"].clone(),
        )
    };
    let mut a: Vec<_> = ours.log_records("http").iter().map(view).collect();
    let mut b: Vec<_> = theirs.log_records("http").iter().map(view).collect();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
}

#[test]
fn an_unknown_operator_type_names_its_path_and_the_supported_ones() {
    let out = validate(
        "receivers:
  filelog:
    include: [/tmp/x.log]
    operators:
      - type: regex_parser
        regex: '(?P<a>.)'
      - type: csv_parser
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [debug]
",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("receivers::filelog::operators::1::type")
            && err.contains("csv_parser")
            && err.contains(
                "regex_parser, json_parser, severity_parser, time_parser, move, add, remove"
            ),
        "{err}"
    );
}
