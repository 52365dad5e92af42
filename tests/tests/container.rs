//! End to end with the real binary: the `cgroup` receiver on a fixture root the test mutates
//! (one state per poll: memory climbing to its limit and back, an OOM kill, throttled CPU, a
//! restart of the watched process, file descriptors near their limit) -> `signals` connector
//! (pack `container`) -> `file` exporter; and the same rules fed by the real Python
//! OpenTelemetry SDK under the names kubeletstats and k8scluster use, over OTLP/gRPC.
//! Every rule's onset must be followed by its recovery under the same rule id.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_tests::{Collector, file_items};

/// One rule signal from the signals file.
#[derive(Debug, Clone)]
struct Said {
    kind: String,
    rule: String,
    subject: String,
    condition: String,
}

fn said(file: &Path) -> Vec<Said> {
    let mut out = Vec::new();
    for r in file_items(file, "logRecords") {
        let attr = |key: &str| {
            r["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == key)
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        if !attr("reason").is_empty() {
            continue; // first statuses and heartbeats: the engine's, not a rule's
        }
        let mut kind = format!("{}.{}", attr("signal.instrument"), attr("signal.sign"));
        let dimension = attr("signal.dimension");
        if !dimension.is_empty() {
            kind = format!("{kind}.{dimension}");
        }
        out.push(Said {
            kind,
            rule: attr("signal.rule"),
            subject: attr("signal.subject"),
            condition: attr("kafka_obs.condition"),
        });
    }
    out
}

/// `kind@rule/condition` of each signal of `rule`, in order.
fn of_rule(all: &[Said], rule: &str) -> Vec<String> {
    all.iter()
        .filter(|s| s.rule == rule)
        .map(|s| format!("{}@{}/{}", s.kind, s.rule, s.condition))
        .collect()
}

/// Times of the polls in the metrics file (one `container.memory.usage` point each).
fn poll_times(file: &Path) -> Vec<u64> {
    file_items(file, "metrics")
        .iter()
        .filter(|m| m["name"] == "container.memory.usage")
        .flat_map(|m| {
            m["gauge"]["dataPoints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|dp| {
            let t = &dp["timeUnixNano"];
            t.as_u64().or_else(|| t.as_str()?.parse().ok())
        })
        .collect()
}

/// The state of the fixture cgroup and watched process at one poll.
#[derive(Debug, Clone, Copy)]
struct State {
    memory_ratio: f64,
    /// Cumulative CFS periods and throttled periods.
    periods: u64,
    throttled: u64,
    oom_kills: u64,
    start_ticks: u64,
    open_fds: usize,
}

const LIMIT: u64 = 1 << 30;
const PID: u32 = 4242;

/// Writes `content` so a poll sees the old file or the new one, never half of it.
fn put(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, content).expect("write fixture");
    std::fs::rename(&tmp, path).expect("rename fixture");
}

struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let r = root.path();
        for dir in ["proc/self", "sys/fs/cgroup", &format!("proc/{PID}/fd")] {
            std::fs::create_dir_all(r.join(dir)).expect("mkdir");
        }
        put(&r.join("proc/self/cgroup"), "0::/\n");
        put(
            &r.join("sys/fs/cgroup/cgroup.controllers"),
            "cpu memory pids\n",
        );
        put(&r.join("sys/fs/cgroup/memory.max"), &format!("{LIMIT}\n"));
        put(
            &r.join(format!("proc/{PID}/cmdline")),
            "java\0-jar\0orders.jar\0",
        );
        put(
            &r.join(format!("proc/{PID}/limits")),
            "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            100                  4096                 files     \n",
        );
        Self { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn set(&self, s: State) {
        let cg = |f: &str| self.path(&format!("sys/fs/cgroup/{f}"));
        put(
            &cg("cpu.stat"),
            &format!(
                "usage_usec {}\nnr_periods {}\nnr_throttled {}\nthrottled_usec {}\n",
                s.periods * 50_000,
                s.periods,
                s.throttled,
                s.throttled * 20_000
            ),
        );
        let working = (s.memory_ratio * LIMIT as f64) as u64;
        let inactive = 4096 * 1024;
        put(&cg("memory.current"), &format!("{}\n", working + inactive));
        put(
            &cg("memory.stat"),
            &format!("anon {working}\ninactive_file {inactive}\n"),
        );
        put(
            &cg("memory.events"),
            &format!("low 0\nhigh 0\nmax 0\noom {0}\noom_kill {0}\n", s.oom_kills),
        );
        put(
            &self.path(&format!("proc/{PID}/stat")),
            &format!(
                "{PID} (java) S 1 {PID} {PID} 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 30 0 {} 1000 200\n",
                s.start_ticks
            ),
        );
        let fd_dir = self.path(&format!("proc/{PID}/fd"));
        let have = std::fs::read_dir(&fd_dir).expect("fd dir").count();
        for i in s.open_fds..have {
            std::fs::remove_file(fd_dir.join(i.to_string())).expect("close fd");
        }
        for i in have..s.open_fds {
            std::fs::write(fd_dir.join(i.to_string()), "").expect("open fd");
        }
    }
}

/// One poll's change of the fixture.
type Step = fn(State) -> State;

/// A running collector: `receiver` -> `signals` connector (pack `container`) -> files.
struct Run {
    dir: tempfile::TempDir,
    metrics: PathBuf,
    signals: PathBuf,
    collector: Collector,
}

/// Starts the binary with `receiver` (a YAML block under `receivers:`, indented two spaces).
fn run(receiver: &str) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let (metrics, signals) = (
        dir.path().join("metrics.jsonl"),
        dir.path().join("signals.jsonl"),
    );
    let config = format!(
        r#"
receivers:
{receiver}
connectors:
  signals:
    packs:
      container:
    stale_after: 5m
exporters:
  file/metrics:
    path: {}
  file/signals:
    path: {}
service:
  pipelines:
    metrics:
      receivers: [{}]
      exporters: [signals, file/metrics]
    logs/signals:
      receivers: [signals]
      exporters: [file/signals]
"#,
        metrics.display(),
        signals.display(),
        receiver.trim().split(':').next().unwrap_or_default()
    );
    Run {
        collector: Collector::start(&config),
        dir,
        metrics,
        signals,
    }
}

#[test]
fn a_mutated_cgroup_fixture_gives_onset_and_recovery_of_every_container_rule() {
    let fixture = Fixture::new();
    let base = State {
        memory_ratio: 0.5,
        periods: 0,
        throttled: 0,
        oom_kills: 0,
        start_ticks: 1000,
        open_fds: 10,
    };
    // One state per poll; CFS periods advance by 100 every poll, as a busy cgroup's do.
    let steps: &[(&str, Step)] = &[
        ("base", |s| s),
        ("base", |s| s),
        ("memory 85 %", |s| State {
            memory_ratio: 0.85,
            ..s
        }),
        ("memory 95 %", |s| State {
            memory_ratio: 0.95,
            ..s
        }),
        ("OOM kill", |s| State { oom_kills: 1, ..s }),
        ("memory freed", |s| State {
            memory_ratio: 0.3,
            ..s
        }),
        // CR2 runs at its default window (six readings, five intervals): four throttled polls
        // put the share well past 0.25 even when a poll races a write and one interval
        // holds 200 periods, and the quiet ones after slide it back below.
        ("throttled", |s| State {
            throttled: s.throttled + 80,
            ..s
        }),
        ("throttled", |s| State {
            throttled: s.throttled + 80,
            ..s
        }),
        ("throttled", |s| State {
            throttled: s.throttled + 80,
            ..s
        }),
        ("throttled", |s| State {
            throttled: s.throttled + 80,
            ..s
        }),
        ("not throttled", |s| s),
        ("restarted", |s| State {
            start_ticks: 2000,
            ..s
        }),
        ("running", |s| s),
        ("fds near limit", |s| State { open_fds: 95, ..s }),
        ("fds closed", |s| State { open_fds: 10, ..s }),
        ("base", |s| s),
    ];
    fixture.set(base);
    let receiver = format!(
        r#"  cgroup:
    collection_interval: 700ms
    root_path: {}
    process: {{pid: {PID}}}
    resource_attributes: {{service.name: orders, service.instance.id: orders-0}}"#,
        fixture.root.path().display()
    );
    // The files live as long as `_dir`.
    let Run {
        dir: _dir,
        collector,
        metrics,
        signals,
    } = run(&receiver);

    // Write each state right after a poll landed: the next poll reads exactly that state.
    // The newest poll counts: when the exporter wrote two polls at once, stepping through
    // them would write two states before one poll and skip a state.
    let mut state = base;
    let mut last = 0;
    for (name, change) in steps {
        let deadline = Instant::now() + Duration::from_secs(20);
        last = loop {
            if let Some(t) = poll_times(&metrics).into_iter().filter(|t| *t > last).max() {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "no poll before step {name} in 20 s:\n{}",
                collector.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        state = change(State {
            periods: state.periods + 100,
            ..state
        });
        fixture.set(state);
    }
    // The last state's poll, and its signals.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !poll_times(&metrics).into_iter().any(|t| t > last) {
        assert!(
            Instant::now() < deadline,
            "no final poll:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));

    let all = said(&signals);
    let dump = || format!("{all:#?}\n{}", collector.stderr());
    assert_eq!(
        of_rule(&all, "CR1"),
        [
            "Statuses.DIVERGING.MEASURED@CR1/onset",
            "Statuses.DEGRADED.MEASURED@CR1/onset",
            "Statuses.STABLE.MEASURED@CR1/recovery"
        ],
        "{}",
        dump()
    );
    assert_eq!(
        of_rule(&all, "CR3"),
        [
            "Counters.INCREMENT@CR3/",
            "Resources.DENY@CR3/onset",
            "Resources.GRANT@CR3/recovery"
        ],
        "{}",
        dump()
    );
    assert_eq!(
        of_rule(&all, "CR2"),
        [
            "Statuses.DEGRADED.MEASURED@CR2/onset",
            "Statuses.STABLE.MEASURED@CR2/recovery"
        ],
        "{}",
        dump()
    );
    assert_eq!(
        of_rule(&all, "CR4"),
        [
            "Statuses.DEGRADED.MEASURED@CR4/onset",
            "Statuses.STABLE.MEASURED@CR4/recovery"
        ],
        "{}",
        dump()
    );
    assert_eq!(
        of_rule(&all, "CR5"),
        [
            "Statuses.DIVERGING.MEASURED@CR5/onset",
            "Statuses.STABLE.MEASURED@CR5/recovery"
        ],
        "{}",
        dump()
    );
    // All about the service instance, so they land on its cell.
    for s in &all {
        assert!(s.subject.ends_with("orders/orders-0"), "{s:?}");
    }
    assert_eq!(
        collector.metric("kafka_obs_cgroup_process_visible", &[]),
        1.0
    );
    assert_eq!(
        collector.metric("kafka_obs_cgroup_unreadable_files_total", &[]),
        0.0
    );
    assert!(collector.metric("otelcol_receiver_accepted_metric_points", &[]) > 0.0);
}

#[test]
fn an_unreadable_cgroup_and_an_invisible_process_are_logged_once_and_counted_not_fatal() {
    // A /proc with no such process, and no cgroup files at all.
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(root.path().join("proc/self")).expect("mkdir");
    let receiver = format!(
        r#"  cgroup:
    collection_interval: 200ms
    root_path: {}
    process: {{command_line: 'no-such-process-anywhere'}}"#,
        root.path().display()
    );
    // The files live as long as `_dir`.
    let Run {
        dir: _dir,
        collector,
        metrics: _,
        signals: _,
    } = run(&receiver);
    let deadline = Instant::now() + Duration::from_secs(20);
    while collector.metric("kafka_obs_cgroup_unreadable_files_total", &[]) < 20.0 {
        assert!(
            Instant::now() < deadline,
            "no polls counted:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = collector.stderr();
    assert_eq!(
        log.matches("cgroup files cannot be read").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("the watched process cannot be seen").count(),
        1,
        "{log}"
    );
    assert!(log.contains("shareProcessNamespace"), "{log}");
    assert_eq!(
        collector.metric("kafka_obs_cgroup_process_visible", &[]),
        0.0
    );
}

#[test]
fn a_relative_root_path_is_refused_with_its_key_path() {
    let out = kafka_obs_tests::validate(
        "receivers: {cgroup: {root_path: hostfs}}\nexporters: {debug: }\nservice: {pipelines: {metrics: {receivers: [cgroup], exporters: [debug]}}}\n",
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("receivers::cgroup::root_path"), "{text}");
    assert!(text.contains("absolute"), "{text}");
}

#[test]
fn kubeletstats_names_from_the_python_sdk_drive_the_same_rules() {
    let python = peers::python().expect("python peers");
    let script = kafka_obs_testkit::workspace_root().join("tests/python/send_kubeletstats.py");
    let port = free_port();
    let receiver =
        format!("  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}");
    // The files live as long as `_dir`.
    let Run {
        dir: _dir,
        collector,
        metrics: _,
        signals,
    } = run(&receiver);
    let out = Command::new(&python)
        .arg(&script)
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--utilization",
            "0.5,0.85,0.95,0.95,0.4,0.4",
            "--restarts",
            "2,2,2,3,3,3",
        ])
        .output()
        .expect("run the Python sender");
    assert!(
        out.status.success(),
        "sender failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        collector.stderr()
    );
    let want_cr1 = [
        "Statuses.DIVERGING.MEASURED@CR1/onset",
        "Statuses.DEGRADED.MEASURED@CR1/onset",
        "Statuses.STABLE.MEASURED@CR1/recovery",
    ];
    let want_cr4 = [
        "Statuses.DEGRADED.MEASURED@CR4/onset",
        "Statuses.STABLE.MEASURED@CR4/recovery",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = said(&signals);
        if of_rule(&all, "CR1") == want_cr1 && of_rule(&all, "CR4") == want_cr4 {
            assert!(
                all.iter().all(|s| s.subject.ends_with("orders/orders-0")),
                "{all:#?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CR1 {:?} and CR4 {:?} from the SDK's points:\n{}",
            of_rule(&all, "CR1"),
            of_rule(&all, "CR4"),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
