//! Real OpenTelemetry clients into the `otlp` receiver, through `batch`, out of `file`:
//! the Python SDK over gRPC and HTTP (plain and gzip), and the OpenTelemetry Collector itself
//! tailing a log file and sending OTLP/HTTP with gzip. The file is read back as OTLP JSON by
//! walking the JSON per the OTLP spec (not with our own decoder), so a wrong encoding fails.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_tests::Collector;
use serde_json::Value;

fn pipeline_config(grpc: u16, http: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
    send_batch_size: 50
    timeout: 100ms
exporters:
  file/metrics:
    path: {d}/metrics.jsonl
  file/logs:
    path: {d}/logs.jsonl
  file/traces:
    path: {d}/traces.jsonl
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/metrics]
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/logs]
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file/traces]
"
    )
}

/// Every JSON line of an OTLP JSON file.
fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// OTLP JSON writes 64-bit integers as strings; accept both spellings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn attr<'a>(attrs: &'a [Value], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn attr_str(attrs: &[Value], key: &str) -> Option<String> {
    attr(attrs, key)?
        .get("stringValue")?
        .as_str()
        .map(str::to_string)
}

/// The resources whose `test.run` attribute is `run`, from every line of a file.
fn resources_of<'a>(lines: &'a [Value], list_key: &str, run: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .flat_map(|l| arr(l, list_key))
        .filter(|r| attr_str(arr(&r["resource"], "attributes"), "test.run").as_deref() == Some(run))
        .collect()
}

fn check_run(dir: &Path, run: &str, expected: &Value) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;

    // Metrics.
    let lines = read_lines(&dir.join("metrics.jsonl"));
    let resources = resources_of(&lines, "resourceMetrics", run);
    assert!(!resources.is_empty(), "[{run}] no metrics arrived");
    let metrics: Vec<&Value> = resources
        .iter()
        .flat_map(|r| arr(r, "scopeMetrics"))
        .flat_map(|s| arr(s, "metrics"))
        .collect();
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("[{run}] metric {name} missing"))
    };
    let orders = find("orders.processed");
    assert_eq!(orders["unit"], "1");
    let sum = &orders["sum"];
    assert_eq!(sum["isMonotonic"], true, "[{run}] {orders}");
    assert_eq!(int(&sum["aggregationTemporality"]), Some(2), "cumulative");
    for (shop, value) in expected["counter"].as_object().unwrap() {
        let dp = arr(sum, "dataPoints")
            .iter()
            .find(|dp| attr_str(arr(dp, "attributes"), "shop").as_deref() == Some(shop))
            .unwrap_or_else(|| panic!("[{run}] orders.processed{{shop={shop}}} missing"));
        assert_eq!(int(&dp["asInt"]), value.as_i64(), "[{run}] {dp}");
        let t = int(&dp["timeUnixNano"]).unwrap();
        assert!(
            t >= expected["metrics_collected_before_ns"].as_i64().unwrap() && t <= now,
            "[{run}] timestamp {t}"
        );
        assert!(int(&dp["startTimeUnixNano"]).unwrap() <= t);
    }
    let hist = &find("checkout.latency")["histogram"];
    let dp = &arr(hist, "dataPoints")[0];
    assert_eq!(int(&dp["count"]), expected["histogram"]["count"].as_i64());
    assert_eq!(dp["sum"].as_f64(), expected["histogram"]["sum"].as_f64());
    assert_eq!(
        attr_str(arr(dp, "attributes"), "route").as_deref(),
        Some("/pay")
    );
    assert_eq!(find("checkout.latency")["unit"], "ms");
    let gauge = &find("queue.depth")["gauge"];
    let dp = &arr(gauge, "dataPoints")[0];
    assert_eq!(dp["asDouble"].as_f64(), expected["gauge"].as_f64());
    assert_eq!(
        attr_str(arr(dp, "attributes"), "queue").as_deref(),
        Some("q1")
    );

    // Logs.
    let lines = read_lines(&dir.join("logs.jsonl"));
    let records: Vec<&Value> = resources_of(&lines, "resourceLogs", run)
        .into_iter()
        .flat_map(|r| arr(r, "scopeLogs"))
        .flat_map(|s| arr(s, "logRecords"))
        .collect();
    let sent = expected["logs"].as_array().unwrap();
    assert_eq!(
        records.len(),
        sent.len(),
        "[{run}] every log record arrives exactly once"
    );
    for want in sent {
        let got = records
            .iter()
            .find(|r| int(&r["timeUnixNano"]) == want["time"].as_i64())
            .unwrap_or_else(|| panic!("[{run}] log at {} missing", want["time"]));
        assert_eq!(got["body"]["stringValue"], want["body"]);
        assert_eq!(int(&got["severityNumber"]), Some(13), "WARN");
        assert_eq!(got["severityText"], "WARN");
        let attrs = arr(got, "attributes");
        assert_eq!(
            int(&attr(attrs, "i").unwrap()["intValue"]),
            want["attributes"]["i"].as_i64()
        );
        assert_eq!(attr_str(attrs, "kind").as_deref(), Some("test"));
        assert_eq!(
            attr(attrs, "ratio").unwrap()["doubleValue"].as_f64(),
            want["attributes"]["ratio"].as_f64()
        );
        assert_eq!(
            attr(attrs, "ok").unwrap()["boolValue"],
            want["attributes"]["ok"]
        );
    }

    // Spans.
    let lines = read_lines(&dir.join("traces.jsonl"));
    let spans: Vec<&Value> = resources_of(&lines, "resourceSpans", run)
        .into_iter()
        .flat_map(|r| arr(r, "scopeSpans"))
        .flat_map(|s| arr(s, "spans"))
        .collect();
    let sent = expected["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        sent.len(),
        "[{run}] every span arrives exactly once"
    );
    for want in sent {
        let got = spans
            .iter()
            .find(|s| {
                s["spanId"].as_str().map(str::to_ascii_lowercase).as_deref()
                    == want["span_id"].as_str()
            })
            .unwrap_or_else(|| panic!("[{run}] span {} missing: {spans:?}", want["span_id"]));
        assert_eq!(got["name"], want["name"]);
        assert_eq!(
            got["traceId"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            want["trace_id"].as_str()
        );
        assert_eq!(
            got.get("parentSpanId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase(),
            want["parent_span_id"].as_str().unwrap()
        );
        assert_eq!(int(&got["startTimeUnixNano"]), want["start"].as_i64());
        assert_eq!(int(&got["endTimeUnixNano"]), want["end"].as_i64());
        for (k, v) in want["attributes"].as_object().unwrap() {
            let a = attr(arr(got, "attributes"), k)
                .unwrap_or_else(|| panic!("[{run}] span attribute {k} missing"));
            match v {
                Value::String(s) => assert_eq!(a["stringValue"], *s),
                Value::Number(n) => assert_eq!(int(&a["intValue"]), n.as_i64()),
                other => panic!("unexpected attribute {other}"),
            }
        }
    }
}

#[test]
fn python_sdk_over_grpc_and_http_arrives_intact() {
    let python = peers::python().expect("python peers");
    let script = kafka_obs_testkit::workspace_root().join("tests/python/send_otlp.py");
    let (grpc, http) = (free_port(), free_port());
    let out_dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&pipeline_config(grpc, http, out_dir.path()));

    let runs = [
        (
            "grpc-plain",
            "grpc",
            format!("http://127.0.0.1:{grpc}"),
            false,
        ),
        (
            "grpc-gzip",
            "grpc",
            format!("http://127.0.0.1:{grpc}"),
            true,
        ),
        (
            "http-plain",
            "http",
            format!("http://127.0.0.1:{http}"),
            false,
        ),
        (
            "http-gzip",
            "http",
            format!("http://127.0.0.1:{http}"),
            true,
        ),
    ];
    let mut expected = Vec::new();
    for (run, protocol, endpoint, gzip) in &runs {
        let exp_path = out_dir.path().join(format!("{run}.expected.json"));
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .args([
                "--protocol",
                protocol,
                "--endpoint",
                endpoint,
                "--run",
                run,
                "--out",
            ])
            .arg(&exp_path)
            .env("OTEL_BSP_SCHEDULE_DELAY", "10");
        if *gzip {
            cmd.arg("--gzip");
        }
        let out = cmd.output().expect("run the Python sender");
        assert!(
            out.status.success(),
            "[{run}] sender failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            collector.stderr()
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.contains("Failed to export"),
            "[{run}] the SDK reported an export failure:\n{text}"
        );
        expected.push((
            *run,
            serde_json::from_slice::<Value>(&std::fs::read(&exp_path).unwrap()).unwrap(),
        ));
    }
    // Self-metrics agree with what was sent: 4 runs of 10 log records and 3 spans.
    let accepted = |name: &str| collector.metric(name, &[]);
    assert_eq!(accepted("otelcol_receiver_accepted_log_records"), 40.0);
    assert_eq!(accepted("otelcol_receiver_accepted_spans"), 12.0);
    let status = collector.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit status {status}\n{}",
        collector.stderr()
    );
    for (run, exp) in &expected {
        check_run(out_dir.path(), run, exp);
    }
}

#[test]
fn otel_collector_tails_a_file_and_sends_gzip_otlp_http() {
    let otelcol = peers::otelcol_bin().expect("otelcol peer");
    let http = free_port();
    let work = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&format!(
        "receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  file:
    path: {out}/logs.jsonl
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
",
        out = work.path().display()
    ));

    let input = work.path().join("app.log");
    let lines: Vec<String> = (0..500)
        .map(|i| format!("line {i:04} order=o-{i} status=ok"))
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let otel_cfg = work.path().join("otelcol.yaml");
    std::fs::write(
        &otel_cfg,
        format!(
            "receivers:
  filelog:
    include: [{input}]
    start_at: beginning
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{http}
    compression: gzip
processors:
  batch:
    timeout: 200ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [filelog]
      processors: [batch]
      exporters: [otlphttp]
",
            input = input.display()
        ),
    )
    .unwrap();
    let otel_log = std::fs::File::create(work.path().join("otelcol.log")).unwrap();
    let mut otel = ChildGuard::spawn(
        Command::new(&otelcol)
            .arg("--config")
            .arg(&otel_cfg)
            .stdout(otel_log.try_clone().unwrap())
            .stderr(otel_log),
    )
    .expect("start otelcol-contrib");

    // Wait until every line is in our file (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = work.path().join("logs.jsonl");
    let bodies = || -> Vec<String> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .flat_map(|l| {
                arr(&l, "resourceLogs")
                    .iter()
                    .flat_map(|r| arr(r, "scopeLogs"))
                    .flat_map(|s| arr(s, "logRecords"))
                    .filter_map(|r| r["body"]["stringValue"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    loop {
        if bodies().len() >= lines.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = otel.terminate(Duration::from_secs(10));
    assert_eq!(
        collector.metric(
            "otelcol_receiver_accepted_log_records",
            &["transport=\"http\""]
        ),
        lines.len() as f64
    );
    let status = collector.terminate(Duration::from_secs(10));
    assert!(status.success());
    let mut got = bodies();
    got.sort();
    assert_eq!(
        got,
        lines,
        "every tailed line arrives exactly once; otelcol said:\n{}",
        std::fs::read_to_string(work.path().join("otelcol.log")).unwrap_or_default()
    );
}
