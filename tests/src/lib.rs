//! Helpers for the end-to-end tests in `tests/tests/`: run the real `kafka-obs` binary on a
//! config, read its self-metrics, stop it the way an operator would.
//!
//! The binary is the one `./scripts/test.sh` builds before running the suite
//! (`target/<profile>/kafka-obs`, found next to the test executable); `KAFKA_OBS_BIN` overrides.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;

// The load and soak harnesses' flags and RSS series (benches/central_load.rs,
// benches/sidecar_soak.rs and the short load test).
pub mod args;
pub mod load;
pub mod rss;
// Readers of the deployment kit's formats, for tests/tests/deploy_kit/.
pub mod cargo_toml;
pub mod dockerfile;
pub mod prometheus;
pub mod promql;
pub mod webhook;

/// The `kafka-obs` binary under test.
pub fn kafka_obs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KAFKA_OBS_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in target/<profile>/deps/; the binary in target/<profile>/.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    let bin = profile_dir.join("kafka-obs");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (./scripts/test.sh does: cargo build --workspace --bins)",
        bin.display()
    );
    bin
}

/// The release `kafka-obs` a benchmark measures (`cargo build --release -p kafka-obs`), or
/// `KAFKA_OBS_BIN` to measure another build.
///
/// # Panics
/// When that file is missing, saying how to build it.
pub fn release_bin() -> PathBuf {
    let bin = match std::env::var_os("KAFKA_OBS_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| kafka_obs_testkit::workspace_root().join("target"))
            .join("release/kafka-obs"),
    };
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release -p kafka-obs",
        bin.display()
    );
    bin
}

/// `kafka-obs validate` on one in-memory config.
pub fn validate(yaml: &str) -> Output {
    validate_with_env(yaml, &[])
}

/// `kafka-obs validate` on `yaml` with `env` set (for `${env:...}` references).
pub fn validate_with_env(yaml: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).expect("write config");
    Command::new(kafka_obs_bin())
        .arg("validate")
        .arg("--config")
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .expect("run kafka-obs validate")
}

/// A running `kafka-obs` process, killed on drop.
pub struct Collector {
    guard: ChildGuard,
    pub dir: tempfile::TempDir,
    /// Where its Prometheus self-metrics are served.
    pub metrics_addr: SocketAddr,
}

/// How to start a [`Collector`].
#[derive(Default)]
pub struct CollectorOptions {
    /// Let the child's stdout go to a pipe nobody reads (to stall a `debug` exporter).
    pub stdout_unread_pipe: bool,
    pub env: Vec<(String, String)>,
}

impl Collector {
    /// Starts `kafka-obs --config <yaml>`. The YAML may use `${env:METRICS_ADDR}` for the
    /// self-metrics address; when it has no `telemetry` section one is added on a free port.
    pub fn start(yaml: &str) -> Collector {
        Self::start_with(yaml, CollectorOptions::default())
    }

    pub fn start_with(yaml: &str, options: CollectorOptions) -> Collector {
        let dir = tempfile::tempdir().expect("temp dir");
        let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let overlay = dir.path().join("telemetry.yaml");
        std::fs::write(
            &overlay,
            format!("service:\n  telemetry:\n    metrics:\n      address: {metrics_addr}\n"),
        )
        .expect("write overlay");
        let stdout = if options.stdout_unread_pipe {
            Stdio::piped()
        } else {
            Stdio::from(std::fs::File::create(dir.path().join("stdout.log")).expect("stdout log"))
        };
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let mut cmd = Command::new(kafka_obs_bin());
        cmd.arg("--config")
            .arg(&config)
            .arg("--config")
            .arg(&overlay)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut guard = ChildGuard::spawn(&mut cmd).expect("start kafka-obs");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if wait_for_port(metrics_addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = guard.try_wait() {
                panic!(
                    "kafka-obs exited with {status} before it was ready:\n{}",
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "kafka-obs did not become ready in 20 s"
            );
        }
        Collector {
            guard,
            dir,
            metrics_addr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The process's log so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The Prometheus text of its self-metrics.
    pub fn metrics(&self) -> String {
        let (status, body) = http_get(self.metrics_addr, "/metrics").expect("scrape self-metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The sum of every series of `name` whose labels contain all of `labels` (`k="v"` pairs).
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_value(&self.metrics(), name, labels)
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.guard.terminate(timeout).expect("terminate kafka-obs")
    }

    /// Resident set size in KiB, from /proc (0 once the process is gone).
    pub fn rss_kib(&self) -> u64 {
        rss::rss_kib(self.pid()).unwrap_or(0)
    }
}

/// Sums the samples of `name` whose label set contains every `k="v"` in `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A minimal HTTP/1.1 GET (enough for our own endpoints), returning status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Our servers may answer chunked; strip the chunk framing for callers.
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_value_sums_matching_series() {
        let text = "# HELP x y\nfoo_total{a=\"1\",b=\"2\"} 3\nfoo_total{a=\"1\",b=\"3\"} 4\nfoo_total_other 9\n";
        assert_eq!(metric_value(text, "foo_total", &["a=\"1\""]), 7.0);
        assert_eq!(metric_value(text, "foo_total", &["b=\"3\""]), 4.0);
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}

/// OTLP requests and a gRPC client for driving a collector from a test.
pub mod otlp {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use serde_json::Value;

    pub fn kv(k: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    /// A request of `points` gauge points, all tagged `req=<req>` so each can be traced.
    pub fn metrics_request(req: u64, points: usize) -> ExportMetricsServiceRequest {
        let data_points = (0..points)
            .map(|p| NumberDataPoint {
                attributes: vec![
                    kv("req", any_value::Value::IntValue(req as i64)),
                    kv("point", any_value::Value::IntValue(p as i64)),
                ],
                time_unix_nano: 1_700_000_000_000_000_000 + req * 1000 + p as u64,
                value: Some(number_data_point::Value::AsDouble(p as f64 * 0.5)),
                ..Default::default()
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue("load".into()),
                    )],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "load.value".into(),
                        unit: "1".into(),
                        data: Some(Data::Gauge(Gauge { data_points })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub async fn metrics_client(port: u16) -> MetricsServiceClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .timeout(std::time::Duration::from_secs(10))
            .connect()
            .await
            .expect("connect to the collector's OTLP gRPC port");
        MetricsServiceClient::new(channel)
    }

    /// `req` attribute of every metric data point in an OTLP JSON lines file.
    pub fn request_ids_in_file(text: &str) -> Vec<i64> {
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for rm in v["resourceMetrics"].as_array().into_iter().flatten() {
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        for dp in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                            for a in dp["attributes"].as_array().into_iter().flatten() {
                                if a["key"] == "req" {
                                    let iv = &a["value"]["intValue"];
                                    if let Some(n) =
                                        iv.as_str().and_then(|s| s.parse().ok()).or(iv.as_i64())
                                    {
                                        out.push(n);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// The complete lines of a file another process is appending to (the last, possibly
/// half-written line left out).
pub fn complete_lines(file: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let done = text.rsplit_once('\n').map(|(d, _)| d).unwrap_or("");
    done.lines().map(str::to_owned).collect()
}

/// The items of a file exporter's OTLP/JSON lines (complete lines only): for each resource
/// (`resourceLogs` / `resourceMetrics`), each scope (`scopeLogs` / `scopeMetrics`), the
/// entries of `items` (`logRecords` / `metrics`).
pub fn file_items(file: &std::path::Path, items: &str) -> Vec<serde_json::Value> {
    let (resources, scopes) = match items {
        "logRecords" => ("resourceLogs", "scopeLogs"),
        "metrics" => ("resourceMetrics", "scopeMetrics"),
        _ => ("resourceSpans", "scopeSpans"),
    };
    let mut out = Vec::new();
    for line in complete_lines(file) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        for r in v[resources].as_array().into_iter().flatten() {
            for s in r[scopes].as_array().into_iter().flatten() {
                out.extend(s[items].as_array().into_iter().flatten().cloned());
            }
        }
    }
    out
}

/// Sends signal events to a collector's OTLP/gRPC receiver on 127.0.0.1; `send` returns once
/// the collector answered OK (after its pipeline accepted them).
pub struct SignalSender {
    rt: tokio::runtime::Runtime,
    port: u16,
}

impl SignalSender {
    pub fn new(port: u16) -> Self {
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime"),
            port,
        }
    }

    pub fn send(&self, signals: &[kafka_obs_signal::Signal]) {
        use kafka_obs_signal::otlp::{ExportResource, logs};
        use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
        let request = logs::to_export_request(signals, &ExportResource::default());
        self.rt.block_on(async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", self.port))
                    .expect("a valid endpoint")
                    .timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("connect to the collector's OTLP receiver");
            LogsServiceClient::new(channel)
                .export(request)
                .await
                .expect("the collector accepts the signals");
        });
    }
}
