//! SIGHUP reloads the configuration of the real binary, with real peers on both sides: the
//! OpenTelemetry Python SDK's OTLP exporters send numbered log records into our `otlp`
//! receiver (gRPC and HTTP), and our `otlp` exporters deliver to an independent OTLP server
//! (`testkit/python/otlp_receiver.py`) that records every number it got.
//!
//! - a valid reload adds an exporter and changes the batch processor: new traffic reaches the
//!   new backend, in batches of the new size;
//! - an invalid reload leaves the running graph alone, logs what `kafka-obs validate` says,
//!   counts a failure, and the exit code stays 0;
//! - reloads under load lose nothing: every number an SDK export was acknowledged for arrives;
//! - a reload whose graph does not build (a port held elsewhere) runs the previous one again;
//! - a disk-queued exporter delivers, after a reload fixed its endpoint, what it had on disk;
//! - the listeners stay open: a client connecting all through three reloads is never refused;
//!   the health check answers 200 after a reload removed a component;
//! - SIGHUPs during a reload collapse into one more, and SIGTERM during a reload's drain stops
//!   the process within `service.shutdown_timeout`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::otlp_peer::{PyOtlpReceiver, ReceiverOptions};
use kafka_obs_testkit::peers;
use kafka_obs_tests::Collector;
use serde_json::Value;

/// The collector's config: an `otlp` receiver on `grpc`/`http`, the batch processor with
/// `batch` (a YAML flow map), and an `otlp` exporter per `(name, port)` of `backends`.
fn config(grpc: u16, http: u16, batch: &str, backends: &[(&str, u16)], service: &str) -> String {
    let mut exporters = String::new();
    for (name, port) in backends {
        exporters.push_str(&format!(
            "  otlp/{name}:\n    endpoint: http://127.0.0.1:{port}\n    tls: {{insecure: true}}\n    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}\n"
        ));
    }
    let names: Vec<String> = backends.iter().map(|(n, _)| format!("otlp/{n}")).collect();
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}}}
      http: {{endpoint: 127.0.0.1:{http}}}
processors:
  batch: {batch}
exporters:
{exporters}service:
{service}  pipelines:
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [{}]
",
        names.join(", ")
    )
}

/// Replaces the collector's config file at once (a rename), so a SIGHUP never reads half of it.
fn rewrite(collector: &Collector, yaml: &str) {
    let next = collector.dir.path().join("config.yaml.next");
    std::fs::write(&next, yaml).unwrap();
    std::fs::rename(&next, collector.dir.path().join("config.yaml")).unwrap();
}

fn signal(collector: &Collector, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(collector.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits until the log holds `needle` at least `times` times.
fn wait_log(collector: &Collector, needle: &str, times: usize, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if collector.stderr().matches(needle).count() >= times {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

const RELOADED: &str = "configuration reloaded";

/// Sends SIGHUP and waits until the log holds `needle` `times` times.
fn hup_until(collector: &Collector, needle: &str, times: usize) {
    signal(collector, "HUP");
    assert!(
        wait_log(collector, needle, times, Duration::from_secs(20)),
        "no {needle:?} ({times}) after SIGHUP:\n{}",
        collector.stderr()
    );
}

/// Sends SIGHUP and waits for the `n`-th successful reload.
fn reload(collector: &Collector, n: usize) {
    hup_until(collector, RELOADED, n);
}

/// What one run of `tests/python/send_logs_numbered.py` reports.
struct Sent {
    ok: Vec<i64>,
    failed: Vec<i64>,
    exports_failed: u64,
}

fn read_sent(path: &std::path::Path) -> Sent {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let numbers = |k: &str| -> Vec<i64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_i64)
            .collect()
    };
    Sent {
        ok: numbers("ok"),
        failed: numbers("failed"),
        exports_failed: v["exports_failed"].as_u64().unwrap(),
    }
}

/// The Python SDK sender; `until` is either `--count N` or `--until-file F`.
fn sender(
    protocol: &str,
    port: u16,
    first: i64,
    batch: usize,
    until: [&str; 2],
    out: &std::path::Path,
) -> Child {
    let script = kafka_obs_testkit::workspace_root().join("tests/python/send_logs_numbered.py");
    Command::new(peers::python().expect("python peers"))
        .arg(script)
        .args(["--protocol", protocol])
        .args(["--endpoint", &format!("http://127.0.0.1:{port}")])
        .args(["--first", &first.to_string()])
        .args(["--batch", &batch.to_string()])
        .args(until)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `count` records in exports of `batch` and waits for the sender to finish.
fn send(protocol: &str, port: u16, first: i64, batch: usize, count: usize) -> Sent {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sent.json");
    let status = sender(
        protocol,
        port,
        first,
        batch,
        ["--count", &count.to_string()],
        &out,
    )
    .wait()
    .unwrap();
    assert!(status.success());
    read_sent(&out)
}

/// Waits until `backend` received every number of `want` (over gRPC, logs).
fn arrived_all(backend: &PyOtlpReceiver, want: &[i64], timeout: Duration) -> bool {
    let want: BTreeSet<i64> = want.iter().copied().collect();
    backend.wait_for(timeout, |_| {
        let got: BTreeSet<i64> = backend.seqs("grpc", "logs").into_iter().collect();
        want.is_subset(&got)
    })
}

/// The item counts of the requests `backend` got that carry a number in `range`.
fn request_sizes(backend: &PyOtlpReceiver, range: std::ops::Range<i64>) -> Vec<usize> {
    backend
        .accepted("grpc")
        .iter()
        .filter(|l| l["signal"] == "logs")
        .filter_map(|l| l["seqs"].as_array().cloned())
        .filter(|seqs| {
            seqs.iter()
                .filter_map(Value::as_i64)
                .any(|n| range.contains(&n))
        })
        .map(|seqs| seqs.len())
        .collect()
}

/// `kafka_obs_config_reloads_total{result}`.
fn reloads(collector: &Collector, result: &str) -> f64 {
    collector.metric(
        "kafka_obs_config_reloads_total",
        &[&format!("result=\"{result}\"")],
    )
}

/// SIGTERM, and the exit code is 0 whatever the reloads came to.
fn stops_cleanly(mut collector: Collector) {
    let status = collector.terminate(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{}", collector.stderr());
}

/// A collector running `config` with `{timeout: 100ms}` batches and one backend, `otlp/a`.
struct OneBackend {
    a: PyOtlpReceiver,
    grpc: u16,
    http: u16,
    config: String,
    collector: Collector,
}

fn running_with_one_backend() -> OneBackend {
    let a = backend();
    let (grpc, http) = (free_port(), free_port());
    let config = config(grpc, http, "{timeout: 100ms}", &[("a", a.grpc_port)], "");
    let collector = Collector::start(&config);
    OneBackend {
        a,
        grpc,
        http,
        config,
        collector,
    }
}

fn backend() -> PyOtlpReceiver {
    PyOtlpReceiver::start(&ReceiverOptions::default()).expect("the Python OTLP receiver")
}

#[test]
fn a_valid_reload_adds_an_exporter_and_changes_the_batch_size() {
    let OneBackend {
        a,
        grpc,
        http,
        collector,
        ..
    } = running_with_one_backend();
    let b = backend();

    // Before: one export of 20 records reaches backend a in one request; b gets nothing.
    let before = send("grpc", grpc, 0, 20, 20);
    assert_eq!(before.ok.len(), 20, "{}", collector.stderr());
    assert!(arrived_all(&a, &before.ok, Duration::from_secs(15)));
    assert_eq!(request_sizes(&a, 0..20), vec![20]);

    // The reload: a second exporter, and outgoing batches of at most 5.
    rewrite(
        &collector,
        &config(
            grpc,
            http,
            "{timeout: 100ms, send_batch_size: 5, send_batch_max_size: 5}",
            &[("a", a.grpc_port), ("b", b.grpc_port)],
            "",
        ),
    );
    reload(&collector, 1);

    // After: the same traffic (over HTTP this time) reaches both, in requests of 5.
    let after = send("http", http, 100, 20, 20);
    assert_eq!(after.ok.len(), 20, "{}", collector.stderr());
    for backend in [&a, &b] {
        assert!(
            arrived_all(backend, &after.ok, Duration::from_secs(15)),
            "{:?}\n{}",
            backend.seqs("grpc", "logs"),
            collector.stderr()
        );
        assert_eq!(request_sizes(backend, 100..120), vec![5, 5, 5, 5]);
    }
    // b received only what was sent after the reload.
    assert!(b.seqs("grpc", "logs").iter().all(|n| *n >= 100));
    assert_eq!(reloads(&collector, "success"), 1.0);

    // The same file again: nothing to do, and it says so.
    signal(&collector, "HUP");
    assert!(wait_log(
        &collector,
        "the configuration did not change; nothing to do",
        1,
        Duration::from_secs(10)
    ));
    assert_eq!(reloads(&collector, "unchanged"), 1.0);
    stops_cleanly(collector);
}

#[test]
fn health_check_stays_green_when_a_reload_removes_a_component() {
    let (a, b) = (backend(), backend());
    let (grpc, http, health) = (free_port(), free_port(), free_port());
    let with_health = |backends: &[(&str, u16)]| {
        format!(
            "extensions:\n  health_check: {{endpoint: 127.0.0.1:{health}}}\n{}",
            config(grpc, http, "{}", backends, "  extensions: [health_check]\n")
        )
    };
    let collector = Collector::start(&with_health(&[("a", a.grpc_port), ("b", b.grpc_port)]));
    let check =
        || kafka_obs_tests::http_get(format!("127.0.0.1:{health}").parse().unwrap(), "/").unwrap();
    assert_eq!(check().0, 200);
    rewrite(&collector, &with_health(&[("a", a.grpc_port)]));
    reload(&collector, 1);
    // exporter/otlp/b stopped with the old graph; it is gone, not "stopped" forever.
    let (status, body) = check();
    assert_eq!(status, 200, "{body}");
    let sent = send("grpc", grpc, 0, 5, 5);
    assert!(arrived_all(&a, &sent.ok, Duration::from_secs(15)));
    stops_cleanly(collector);
}

#[test]
fn a_disk_queue_delivers_after_a_reload_what_the_old_endpoint_could_not_take() {
    let a = backend();
    let (grpc, http, dead) = (free_port(), free_port(), free_port());
    let queue = tempfile::tempdir().unwrap();
    // Exporter `otlp/a` with a disk queue; a reload fixes its endpoint.
    let disk_queued = |port: u16| {
        let service = "  extensions: [file_storage]\n  shutdown_timeout: 2s\n";
        config(grpc, http, "{timeout: 100ms}", &[("a", port)], service).replace(
            "    retry_on_failure:",
            "    sending_queue: {storage: file_storage}\n    retry_on_failure:",
        ) + &format!(
            "extensions:\n  file_storage:\n    directory: {}\n",
            queue.path().display()
        )
    };
    let collector = Collector::start(&disk_queued(dead));
    // Accepted once on disk, though nothing listens where the exporter sends.
    let sent = send("grpc", grpc, 0, 10, 30);
    assert_eq!(sent.ok.len(), 30, "{}", collector.stderr());
    rewrite(&collector, &disk_queued(a.grpc_port));
    reload(&collector, 1);
    assert!(
        arrived_all(&a, &sent.ok, Duration::from_secs(20)),
        "{:?}\n{}",
        a.seqs("grpc", "logs"),
        collector.stderr()
    );
    stops_cleanly(collector);
}

#[test]
fn an_invalid_reload_keeps_the_running_configuration_and_says_why() {
    let OneBackend {
        a,
        grpc,
        config: good,
        collector,
        ..
    } = running_with_one_backend();
    let first = send("grpc", grpc, 0, 5, 5);
    assert!(arrived_all(&a, &first.ok, Duration::from_secs(15)));

    // Two mistakes: a misspelt key and a pipeline naming an exporter that does not exist.
    let bad = good
        .replace("timeout: 100ms", "timeout: 100ms, send_batch_sise: 5")
        .replace("exporters: [otlp/a]", "exporters: [otlp/a, otlp/missing]");
    rewrite(&collector, &bad);
    hup_until(&collector, "configuration reload refused", 1);
    // Each error line `kafka-obs validate` prints for the file is in the log too.
    let validate = kafka_obs_tests::validate(&bad);
    assert!(!validate.status.success());
    let report = String::from_utf8_lossy(&validate.stderr).into_owned();
    let errors: Vec<&str> = report
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    assert!(!errors.is_empty(), "{report}");
    let log = collector.stderr();
    for error in &errors {
        // Compare up to the location: validate read a copy of the file under another name.
        let message = error.split(" (at ").next().unwrap();
        assert!(
            log.contains(message),
            "{message:?} is not in the log:\n{log}"
        );
    }
    assert_eq!(reloads(&collector, "failure"), 1.0);

    // The old graph still runs, unchanged.
    let second = send("grpc", grpc, 100, 5, 5);
    assert_eq!(second.ok.len(), 5);
    assert!(arrived_all(&a, &second.ok, Duration::from_secs(15)));
    assert_eq!(reloads(&collector, "success"), 0.0);
    stops_cleanly(collector);
}

#[test]
fn a_reload_that_does_not_build_runs_the_previous_configuration_again() {
    let OneBackend {
        a,
        grpc,
        config: good,
        collector,
        ..
    } = running_with_one_backend();
    // Valid, but its second receiver's port is held by another process (this test).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cannot_bind = good
        .replace(
            "processors:\n",
            &format!("  otlp/second:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{port}}}\nprocessors:\n"),
        )
        .replace("receivers: [otlp]", "receivers: [otlp, otlp/second]");
    assert!(kafka_obs_tests::validate(&cannot_bind).status.success());
    rewrite(&collector, &cannot_bind);
    hup_until(&collector, "configuration reload failed", 1);
    assert!(wait_log(
        &collector,
        "everything is ready",
        2,
        Duration::from_secs(15)
    ));
    let log = collector.stderr();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")),
        "the log names the port:\n{log}"
    );
    assert_eq!(reloads(&collector, "failure"), 1.0);
    // The previous graph runs again, on the same sockets.
    let after = send("grpc", grpc, 0, 5, 5);
    assert_eq!(after.ok.len(), 5, "{log}");
    assert!(arrived_all(&a, &after.ok, Duration::from_secs(15)));
    drop(taken);
    stops_cleanly(collector);
}

#[test]
fn reloads_under_load_lose_nothing_an_sdk_was_told_was_accepted() {
    let a = backend();
    let (grpc, http) = (free_port(), free_port());
    let batch = |size: usize| format!("{{timeout: 50ms, send_batch_size: {size}}}");
    let collector = Collector::start(&config(grpc, http, &batch(100), &[("a", a.grpc_port)], ""));
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    let (grpc_out, http_out) = (dir.path().join("grpc.json"), dir.path().join("http.json"));
    let until = ["--until-file", stop.to_str().unwrap()];
    let mut senders = [
        sender("grpc", grpc, 0, 100, until, &grpc_out),
        sender("http", http, 1_000_000, 100, until, &http_out),
    ];

    // Three reloads while both senders keep one export in flight each.
    std::thread::sleep(Duration::from_millis(1500));
    for n in 1..=3 {
        rewrite(
            &collector,
            &config(grpc, http, &batch(100 + n * 10), &[("a", a.grpc_port)], ""),
        );
        reload(&collector, n);
        std::thread::sleep(Duration::from_millis(700));
    }
    std::fs::write(&stop, "").unwrap();
    for s in &mut senders {
        assert!(s.wait().unwrap().success());
    }

    let (g, h) = (read_sent(&grpc_out), read_sent(&http_out));
    let ok: Vec<i64> = g.ok.iter().chain(&h.ok).copied().collect();
    assert!(
        g.ok.len() >= 500 && h.ok.len() >= 500,
        "too little traffic to mean anything: {} over gRPC, {} over HTTP",
        g.ok.len(),
        h.ok.len()
    );
    let missing = || {
        let got: BTreeSet<i64> = a.seqs("grpc", "logs").into_iter().collect();
        ok.iter().filter(|n| !got.contains(n)).count()
    };
    assert!(
        arrived_all(&a, &ok, Duration::from_secs(30)),
        "{} of {} acknowledged records never arrived\n{}",
        missing(),
        ok.len(),
        collector.stderr()
    );
    // The SDK resends what was refused; an export it gave up on is not counted as sent.
    eprintln!(
        "sent and acknowledged: {} (gRPC) + {} (HTTP); exports given up: {} (gRPC), {} (HTTP) = {} records",
        g.ok.len(),
        h.ok.len(),
        g.exports_failed,
        h.exports_failed,
        g.failed.len() + h.failed.len()
    );
    assert_eq!(reloads(&collector, "success"), 3.0);
    stops_cleanly(collector);
}

/// Connects to `addr` and, when `request` is given, sends it and reads the status code of the
/// answer. `Err` only when the connection itself failed.
fn connect_once(addr: SocketAddr, request: Option<&str>) -> std::io::Result<Option<u16>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    let Some(request) = request else {
        return Ok(None);
    };
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // The connection was made: what happens to the request after is not what this test is
    // about (an old server may close it as it stops), so only answers are counted.
    if s.write_all(request.as_bytes()).is_err() {
        return Ok(None);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    Ok(text.split_whitespace().nth(1).and_then(|c| c.parse().ok()))
}

#[test]
fn clients_are_never_refused_while_the_configuration_reloads() {
    let OneBackend {
        a,
        grpc,
        http,
        collector,
        ..
    } = running_with_one_backend();
    let done = Arc::new(AtomicBool::new(false));
    // Clients connecting back to back to both listeners and to the self-metrics endpoint;
    // over HTTP each also sends a request (an empty OTLP/JSON export, a scrape).
    let export = |port: u16| {
        format!(
            "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
    };
    let scrape = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        collector.metrics_addr
    );
    let targets: Vec<(SocketAddr, Option<String>)> = vec![
        (
            format!("127.0.0.1:{http}").parse().unwrap(),
            Some(export(http)),
        ),
        (format!("127.0.0.1:{grpc}").parse().unwrap(), None),
        (collector.metrics_addr, Some(scrape)),
    ];
    let clients: Vec<_> = targets
        .into_iter()
        .map(|(addr, request)| {
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut connected, mut answered, mut refused) = (0u64, 0u64, Vec::new());
                while !done.load(Ordering::Relaxed) {
                    match connect_once(addr, request.as_deref()) {
                        Ok(status) => {
                            connected += 1;
                            answered += u64::from(status.is_some_and(|c| c == 200));
                        }
                        Err(e) => refused.push(format!("{addr}: {e} ({:?})", e.kind())),
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                (addr, request.is_some(), connected, answered, refused)
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    for n in 1..=3 {
        let size = 100 + n * 10;
        rewrite(
            &collector,
            &config(
                grpc,
                http,
                &format!("{{timeout: 100ms, send_batch_size: {size}}}"),
                &[("a", a.grpc_port)],
                "",
            ),
        );
        reload(&collector, n as usize);
        std::thread::sleep(Duration::from_millis(300));
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        let (addr, asks, connected, answered, refused) = client.join().unwrap();
        assert!(
            refused.is_empty(),
            "{addr} refused {} times: {:?}\n{}",
            refused.len(),
            &refused[..refused.len().min(5)],
            collector.stderr()
        );
        assert!(connected > 50, "{addr}: only {connected} connections");
        assert!(
            !asks || answered > 50,
            "{addr}: {connected} connections, {answered} answered 200"
        );
    }
    assert_eq!(reloads(&collector, "success"), 3.0);
}

#[test]
fn sighups_during_a_reload_coalesce_and_sigterm_still_stops_in_time() {
    // An exporter whose backend never answers: a reload's drain lasts the shutdown timeout.
    let dead = free_port();
    let (grpc, http) = (free_port(), free_port());
    let with_timeout = |batch: &str| {
        config(
            grpc,
            http,
            batch,
            &[("dead", dead)],
            "  shutdown_timeout: 3s\n",
        )
    };
    let mut collector = Collector::start(&with_timeout("{timeout: 50ms}"));
    assert_eq!(send("grpc", grpc, 0, 5, 5).ok.len(), 5);

    // Four SIGHUPs in a row: the first reload drains for ~3 s, the other three make one more.
    rewrite(&collector, &with_timeout("{timeout: 60ms}"));
    for _ in 0..4 {
        signal(&collector, "HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        wait_log(&collector, RELOADED, 1, Duration::from_secs(15)),
        "{}",
        collector.stderr()
    );
    assert!(wait_log(
        &collector,
        "the configuration did not change; nothing to do",
        1,
        Duration::from_secs(10)
    ));
    std::thread::sleep(Duration::from_millis(500));
    let log = collector.stderr();
    // Signals that arrive closer together than the handler runs may already be one.
    let requested = log.matches("reload requested").count();
    assert!((2..=4).contains(&requested), "{requested} requests:\n{log}");
    assert_eq!(log.matches(RELOADED).count(), 1, "{log}");
    assert_eq!(
        log.matches("the configuration did not change").count(),
        1,
        "four SIGHUPs made two reloads:\n{log}"
    );

    // SIGTERM while a reload drains: no new graph, the process ends within the timeout.
    assert_eq!(send("grpc", grpc, 100, 5, 5).ok.len(), 5);
    rewrite(&collector, &with_timeout("{timeout: 70ms}"));
    signal(&collector, "HUP");
    assert!(wait_log(
        &collector,
        "draining the running pipelines",
        2,
        Duration::from_secs(10)
    ));
    let asked = Instant::now();
    let status = collector.terminate(Duration::from_secs(15));
    let took = asked.elapsed();
    assert!(status.success(), "{status}\n{}", collector.stderr());
    assert!(
        took < Duration::from_secs(3 + 2),
        "stopped {took:?} after SIGTERM (shutdown_timeout 3s)\n{}",
        collector.stderr()
    );
    let log = collector.stderr();
    assert!(log.contains("a stop was requested while draining"), "{log}");
    assert_eq!(log.matches(RELOADED).count(), 1, "{log}");
}
