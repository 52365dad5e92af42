//! Benchmarks of the `jmx` receiver, printed as figures for BENCHMARKS.md (not a test).
//!
//! 1. Poll latency of the `kafka-producer,kafka-consumer,jvm` presets against one scenario JVM:
//!    our poller (client + OTLP conversion) beside the JDK's own JMX client doing the same
//!    queryNames/getAttributes (`benches/java/JmxPollBench.java`), both warmed up, same target.
//!    The JDK client runs right after ours, against the same JVM.
//! 2. A sidecar `kafka-obs` (release build) polling that JVM and writing to a file: RSS and CPU at
//!    a 10 s interval, and CPU per poll from a 100 ms interval run (the 10 s figure extrapolated
//!    from it), beside the Java client's RSS.
//! 3. How many targets one core can poll every 10 s: one thread polls N scenario JVMs
//!    (`-Xmx32m`) round-robin; its CPU time per poll gives polls per CPU-second × 10 s.
//!
//! Run: `cargo build --release -p kafka-obs && cargo bench -p kafka-obs-receiver --bench jmx_poll`
//! (`KAFKA_OBS_BIN` picks another binary, `KAFKA_OBS_REF_BIN` runs others (`:`-separated)
//! beside it in the sidecar section; `JMX_BENCH_TARGETS` the JVM count, default 20;
//! `JMX_BENCH_SECTIONS` a subset of `latency,sidecar,targets`).
//!
//! Section 1 prints one line per variant of our poller, interleaved in the same run: the same
//! calls as the JDK client (no name cache, one session), then as the receiver polls (names
//! cached and re-queried every 6th poll, as the default 60 s refresh at a 10 s interval does)
//! over 1 to 4 sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_obs_api::{ComponentId, ComponentKind, Telemetry};
use kafka_obs_receiver::jmx::{JmxReceiverConfig, PollOutcome, TargetPoller};
use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::scenario::ScenarioJvm;

const PRESETS: &str = "kafka-producer,kafka-consumer,jvm";

fn config(port: u16) -> JmxReceiverConfig {
    let yaml =
        format!("{{endpoint: '127.0.0.1:{port}', target_system: '{PRESETS}', timeout: 30s}}");
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    JmxReceiverConfig::parse(&value).unwrap()
}

fn poller(config: &JmxReceiverConfig, telemetry: &Telemetry) -> TargetPoller {
    let id: ComponentId = "jmx/bench".parse().unwrap();
    let mut settings = config.target_settings(&id.to_string());
    settings.interval = Duration::from_secs(10);
    TargetPoller::new(
        config.endpoints[0].clone(),
        Arc::new(config.plan().unwrap()),
        &settings,
        &telemetry.component(ComponentKind::Receiver, &id),
    )
}

fn percentiles(mut us: Vec<u64>) -> (u64, u64, u64, u64) {
    us.sort_unstable();
    let n = us.len();
    let mean = us.iter().sum::<u64>() / n as u64;
    (
        us[n / 2],
        us[n * 9 / 10],
        us[(n * 99 / 100).min(n - 1)],
        mean,
    )
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime in seconds from a /proc/.../stat file.
fn cpu_seconds(stat_path: &str) -> f64 {
    let text = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is index 0, utime is field 14 overall -> index 11.
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / clk_tck()
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Rss of the process's mappings from `/proc/<pid>/smaps`, in KiB, grouped as BENCHMARKS.md
/// shows them: the executable, OpenSSL (when linked dynamically), the other shared libraries and
/// anonymous memory (heap, stacks, malloc arenas).
fn smaps_kib(pid: u32) -> BTreeMap<&'static str, u64> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut groups = BTreeMap::new();
    let mut group = "anonymous";
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let path = words.nth(4).unwrap_or("");
            group = if path.is_empty() || path.starts_with('[') {
                "anonymous"
            } else if Path::new(path) == exe {
                "executable"
            } else if path.contains("libcrypto") || path.contains("libssl") {
                "OpenSSL (shared)"
            } else {
                "other shared libraries"
            };
        } else if first == "Rss:" {
            let kib: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *groups.entry(group).or_insert(0) += kib;
        }
    }
    groups
}

fn release_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KAFKA_OBS_BIN") {
        return p.into();
    }
    // The bench runs from target/release/deps; the binary is target/release/kafka-obs.
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("kafka-obs"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} is missing: cargo build --release -p kafka-obs first",
        bin.display()
    );
    bin
}

/// How our poller is set up for one latency column.
struct Variant {
    label: String,
    connections: usize,
    /// Every how many polls the names are queried again (1 = every poll).
    refresh_every: usize,
}

fn variants() -> Vec<Variant> {
    let mut v = vec![Variant {
        label: "same calls as the JDK client (no name cache, 1 session)".into(),
        connections: 1,
        refresh_every: 1,
    }];
    // The receiver's default refresh is 60 s at a 10 s interval: every 6th poll queries.
    for connections in 1..=4 {
        v.push(Variant {
            label: format!(
                "as the receiver polls: name cache (refresh every 6th poll), {connections} session{}",
                if connections == 1 { "" } else { "s" }
            ),
            connections,
            refresh_every: 6,
        });
    }
    v
}

/// Section 1.
fn poll_latency(rt: &tokio::runtime::Runtime, scenario: &ScenarioJvm) -> u64 {
    let config = config(scenario.jmx_port());
    let telemetry = Telemetry::new();
    let variants = variants();
    let mut pollers: Vec<TargetPoller> = variants
        .iter()
        .map(|v| {
            let mut c = config.clone();
            c.connections_per_target = v.connections;
            c.mbean_refresh_interval = Duration::from_secs(3600);
            poller(&c, &telemetry)
        })
        .collect();
    // Interleaved in rounds of 100 polls, so a change of load on the shared machine hits every
    // variant alike.
    let (warm, rounds, per_round) = (100, 10, 100);
    let iters = rounds * per_round;
    let mut shape = (0, 0);
    let mut us: Vec<Vec<u64>> = variants.iter().map(|_| Vec::with_capacity(iters)).collect();
    rt.block_on(async {
        for (p, v) in pollers.iter_mut().zip(&variants) {
            for i in 0..warm {
                if i % v.refresh_every == 0 {
                    p.forget_names();
                }
                if let (_, PollOutcome::Up { mbeans, points }) = p.poll().await {
                    shape = (mbeans, points);
                }
            }
        }
        for _ in 0..rounds {
            for ((p, v), us) in pollers.iter_mut().zip(&variants).zip(us.iter_mut()) {
                for i in 0..per_round {
                    if i % v.refresh_every == 0 {
                        p.forget_names();
                    }
                    let t = Instant::now();
                    let (_, outcome) = p.poll().await;
                    us.push(t.elapsed().as_micros() as u64);
                    assert!(
                        matches!(outcome, PollOutcome::Up { mbeans, .. } if mbeans == shape.0),
                        "{outcome:?}"
                    );
                }
            }
        }
    });
    println!(
        "poll latency, ours (Rust client + OTLP conversion): {} MBeans, {} data points per poll; {iters} polls per variant after {warm} warm-up, interleaved in rounds of {per_round}",
        shape.0, shape.1
    );
    for (v, us) in variants.iter().zip(us) {
        let (p50, p90, p99, mean) = percentiles(us);
        println!(
            "  {}: p50 {p50} us, p90 {p90} us, p99 {p99} us, mean {mean} us",
            v.label
        );
    }
    drop(pollers);

    // The same work with the JDK's JMX client.
    let spec_dir = tempfile::tempdir().unwrap();
    let spec = spec_dir.path().join("spec.tsv");
    let plan = config.plan().unwrap();
    let mut by_pattern: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in plan.rules() {
        for bean in &rule.beans {
            by_pattern
                .entry(bean.to_string())
                .or_default()
                .extend(rule.attributes().map(str::to_owned));
        }
    }
    let text: String = by_pattern
        .iter()
        .map(|(p, a)| format!("{p}\t{}\n", a.iter().cloned().collect::<Vec<_>>().join(",")))
        .collect();
    std::fs::write(&spec, text).unwrap();
    let classes = kafka_obs_testkit::java::compile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/java"),
    )
    .expect("javac JmxPollBench");
    let out = Command::new(kafka_obs_testkit::java::java_bin())
        .arg("-Xmx64m")
        .arg("-cp")
        .arg(&classes)
        .arg("JmxPollBench")
        .arg(scenario.jmx_url())
        .arg(&spec)
        .arg("1000")
        .arg(iters.to_string())
        .output()
        .expect("run JmxPollBench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_default()
            .to_owned()
    };
    let lat: Vec<String> = line("LATENCY_US ").split(' ').map(str::to_owned).collect();
    let java_rss: u64 = line("RSS_KB ").parse().unwrap_or(0);
    println!(
        "poll latency, JDK 17 JMX client (same calls, 1000 warm-up): {}; p50 {} us, p90 {} us, p99 {} us, mean {} us; its RSS {} MiB",
        line("POLL "),
        lat.first().cloned().unwrap_or_default(),
        lat.get(1).cloned().unwrap_or_default(),
        lat.get(2).cloned().unwrap_or_default(),
        lat.get(3).cloned().unwrap_or_default(),
        java_rss / 1024
    );
    java_rss
}

const BUSINESS: &str = "
      - bean: com.example.orders:type=OrderMetrics
        prefix: orders.
        mapping:
          orders-processed-count: {metric: processed, type: counter}
          order-validation-failures: {metric: validation.failures, type: counter}
          inventory-check-latency: {metric: inventory.check.latency, unit: ms}
          payment-gateway-calls: {metric: payment.gateway.calls, type: counter}
          payment-gateway-failures: {metric: payment.gateway.failures, type: counter}
";

/// Runs the sidecar for `run` at `interval`; returns (polls, cpu s, rss KiB, peak KiB) and its
/// smaps breakdown at the end.
fn sidecar(
    bin: &Path,
    port: u16,
    interval: &str,
    run: Duration,
) -> (usize, f64, u64, u64, BTreeMap<&'static str, u64>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("metrics.jsonl");
    let metrics_port = free_port();
    let yaml = format!(
        "receivers:
  jmx:
    endpoint: 127.0.0.1:{port}
    target_system: {PRESETS}
    collection_interval: {interval}
    rules:{BUSINESS}
exporters:
  file:
    path: {}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics_port}
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [file]
",
        out.display()
    );
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn(&mut cmd).expect("start kafka-obs");
    wait_for_port(
        format!("127.0.0.1:{metrics_port}").parse().unwrap(),
        Duration::from_secs(20),
    )
    .expect("kafka-obs up");
    let pid = guard.pid();
    let started = Instant::now();
    let mut last = (0, 0);
    while started.elapsed() < run {
        std::thread::sleep(Duration::from_millis(500));
        last = rss_kib(pid);
    }
    let cpu = cpu_seconds(&format!("/proc/{pid}/stat"));
    let smaps = smaps_kib(pid);
    let _ = guard.terminate(Duration::from_secs(10));
    let polls = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count();
    (polls, cpu, last.0, last.1, smaps)
}

/// Section 2.
fn sidecar_rss_cpu(scenario: &ScenarioJvm, java_rss_kib: u64) {
    let port = scenario.jmx_port();
    let bin = release_bin();
    // `KAFKA_OBS_REF_BIN`: other builds (say, the slim one, or an earlier commit), `:`-separated,
    // run the same way right after, so the RSS figures come from one run on the same JVM.
    let references: Vec<PathBuf> = std::env::var_os("KAFKA_OBS_REF_BIN")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    for bin in std::iter::once(&bin).chain(&references) {
        let label = bin.display();
        let (polls, cpu, rss, peak, smaps) = sidecar(bin, port, "10s", Duration::from_secs(35));
        println!(
            "sidecar ({label}) at 10 s for 35 s: {polls} polls written; RSS {:.1} MiB (peak {:.1} MiB); CPU {cpu:.2} s in total, start-up included ({:.3} % of one core)",
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            cpu / 35.0 * 100.0
        );
        let smaps: Vec<String> = smaps
            .iter()
            .map(|(group, kib)| format!("{group} {:.2} MiB", *kib as f64 / 1024.0))
            .collect();
        println!("  its RSS by mapping (smaps): {}", smaps.join(", "));
    }
    let (polls, cpu, rss, peak, _) = sidecar(&bin, port, "100ms", Duration::from_secs(20));
    let per_poll_ms = cpu / polls.max(1) as f64 * 1000.0;
    println!(
        "sidecar at 100 ms for 20 s: {polls} polls written; RSS {:.1} MiB (peak {:.1} MiB); CPU {cpu:.2} s = {per_poll_ms:.3} ms per poll (start-up included) -> at 10 s: {:.4} % of one core",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        per_poll_ms / 10_000.0 * 100.0
    );
    println!(
        "JDK client RSS for comparison: {:.1} MiB",
        java_rss_kib as f64 / 1024.0
    );
}

/// Section 3.
fn targets_per_core(rt: &tokio::runtime::Runtime) {
    let n: usize = std::env::var("JMX_BENCH_TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let started = Instant::now();
    let mut jvms = Vec::new();
    // Start them a few at a time (2 cores are shared with everything else).
    for chunk in (0..n).collect::<Vec<_>>().chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|_| {
                std::thread::spawn(|| {
                    let s = ScenarioJvm::builder()
                        .paused()
                        .jvm(|b| b.jvm_arg("-Xmx32m"))
                        .start()
                        .expect("scenario JVM");
                    s.ticks(3).expect("ticks");
                    s
                })
            })
            .collect();
        jvms.extend(handles.into_iter().map(|h| h.join().expect("start thread")));
    }
    println!(
        "{n} scenario JVMs (-Xmx32m) started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let telemetry = Telemetry::new();
    let mut pollers: Vec<TargetPoller> = jvms
        .iter()
        .map(|s| poller(&config(s.jmx_port()), &telemetry))
        .collect();
    let (polls, cpu, wall) = rt.block_on(async {
        // Connect and warm up.
        for p in pollers.iter_mut() {
            for _ in 0..5 {
                p.poll().await;
            }
        }
        let cpu0 = cpu_seconds("/proc/thread-self/stat");
        let t0 = Instant::now();
        let mut polls = 0usize;
        while t0.elapsed() < Duration::from_secs(30) {
            for p in pollers.iter_mut() {
                let (_, outcome) = p.poll().await;
                assert!(matches!(outcome, PollOutcome::Up { .. }), "{outcome:?}");
                polls += 1;
            }
        }
        (
            polls,
            cpu_seconds("/proc/thread-self/stat") - cpu0,
            t0.elapsed().as_secs_f64(),
        )
    });
    let per_poll_ms = cpu / polls as f64 * 1000.0;
    let per_cpu_second = polls as f64 / cpu;
    println!(
        "{n} targets round-robin for {wall:.0} s on one thread: {polls} polls ({:.0}/s wall, the JVMs share the 2 cores), polling thread CPU {cpu:.2} s = {per_poll_ms:.3} ms per poll -> {per_cpu_second:.0} polls per CPU-second -> about {:.0} targets per core at a 10 s interval",
        polls as f64 / wall,
        per_cpu_second * 10.0
    );
    drop(pollers);
    drop(jvms);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run only
    // when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let scenario = ScenarioJvm::builder()
        .paused()
        .start()
        .expect("scenario JVM");
    scenario.ticks(3).expect("ticks");
    let sections =
        std::env::var("JMX_BENCH_SECTIONS").unwrap_or_else(|_| "latency,sidecar,targets".into());
    let java_rss = if sections.contains("latency") {
        poll_latency(&rt, &scenario)
    } else {
        0
    };
    if sections.contains("sidecar") {
        sidecar_rss_cpu(&scenario, java_rss);
    }
    drop(scenario);
    if sections.contains("targets") {
        targets_per_core(&rt);
    }
}
