//! End to end with the real binary: `kafka_admin` receiver -> `signals` connector (pack
//! `kafka_admin`) -> `file` exporter, against tansu with a real confluent-kafka producer and
//! consumer group (`kafka_admin_rules/group_driver.py`, driven line by line). Each Burrow
//! state of K1 is provoked the way it happens in production (a paused consumer, a slow one, a
//! reset to an earlier offset), must reach its onset in order and then its recovery under the
//! same rule id; the committed offset in the evidence must be what the group's own client
//! reads back; an emptied group (K7) and a deleted one (its subjects go stale) are seen. The
//! last test adds the `hierarchy` connector after the signals and reads its API: the group's
//! cell in trouble on a paused consumer and back to normal after it resumes.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use kafka_obs_signal::Signal;
use kafka_obs_signal::otlp::logs::from_log_record;
use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::peers;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::{Collector, complete_lines, http_get};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::Value;

const DRIVER: &str = include_str!("kafka_admin_rules/group_driver.py");
const PARTITION: &str = "cluster=e2e/group=billing/topic=orders/partition=0";
const GROUP: &str = "cluster=e2e/group=billing";
/// Records per second the driver's producer writes.
const RATE: u32 = 5;

/// The producer and consumer group, one command at a time.
struct Driver {
    _guard: ChildGuard,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Driver {
    fn start(brokers: &str, dir: &Path) -> Driver {
        let script = dir.join("group_driver.py");
        std::fs::write(&script, DRIVER).expect("write driver");
        let mut guard = ChildGuard::spawn(
            Command::new(peers::python().expect("python peers"))
                .arg(&script)
                .args([brokers, "orders", "billing", "billing-consumer"])
                .arg(RATE.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .expect("start the driver");
        let stdin = guard.child_mut().stdin.take().expect("stdin");
        let stdout = guard.child_mut().stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = Driver {
            _guard: guard,
            stdin,
            lines,
        };
        driver.expect("ready");
        driver
    }

    fn expect(&mut self, prefix: &str) -> String {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the driver did not say `{prefix}` in 20 s"));
        assert!(line.starts_with(prefix), "driver: {line}");
        line
    }

    /// Sends a command and returns the driver's answer.
    fn send(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("driver stdin");
        self.stdin.flush().expect("flush");
        let word = command.split_whitespace().next().unwrap_or_default();
        self.expect(&format!("ok {word}"))
    }

    /// The group's committed offset, as its own client reads it back.
    fn committed(&mut self) -> f64 {
        let answer = self.send("committed");
        answer
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("driver: {answer}"))
    }
}

/// The signals in the file so far, decoded by the signal contract's own decoder.
fn signals(file: &Path) -> Vec<Signal> {
    let mut out = Vec::new();
    for line in complete_lines(file) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    if let Ok(signal) = from_log_record(&log_record(r)) {
                        out.push(signal);
                    }
                }
            }
        }
    }
    out
}

/// An OTLP/JSON log record back as the proto record (the attributes and times the signal
/// decoder reads).
fn log_record(r: &Value) -> LogRecord {
    let number = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    let attributes = r["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let v = &a["value"];
            let value = if let Some(s) = v["stringValue"].as_str() {
                any_value::Value::StringValue(s.to_owned())
            } else if let Some(d) = v["doubleValue"].as_f64() {
                any_value::Value::DoubleValue(d)
            } else if !v["intValue"].is_null() {
                any_value::Value::IntValue(number(&v["intValue"]) as i64)
            } else {
                return None;
            };
            Some(KeyValue {
                key: a["key"].as_str()?.to_owned(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            })
        })
        .collect();
    LogRecord {
        time_unix_nano: number(&r["timeUnixNano"]),
        event_name: r["eventName"].as_str().unwrap_or_default().to_owned(),
        attributes,
        ..Default::default()
    }
}

/// `Instrument.SIGN[.DIMENSION]@rule/phase` of a rule's signal.
fn label(s: &Signal) -> String {
    format!(
        "{}@{}/{}",
        s.kind,
        s.evidence.rule,
        s.phase().map_or("-", |p| p.as_str())
    )
}

/// YAML added to the run's configuration for a stage after the signals: extra connectors and
/// exporters (at 2 spaces), extra exporters of the signals (`, hierarchy`), extra pipelines
/// (at 4 spaces).
#[derive(Default)]
struct Stage {
    connectors: String,
    exporters: String,
    also: String,
    pipelines: String,
}

struct Run {
    _tansu: Tansu,
    collector: Collector,
    driver: Driver,
    logs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    fn start() -> Run {
        Self::start_with(Stage::default())
    }

    /// With a stage after the signals (the `hierarchy` connector).
    fn start_with(stage: Stage) -> Run {
        let Stage {
            connectors,
            exporters,
            also,
            pipelines,
        } = stage;
        let tansu = Tansu::start().expect("tansu");
        tansu.create_topic("orders", 1).expect("topic");
        let dir = tempfile::tempdir().expect("temp dir");
        let logs = dir.path().join("signals.jsonl");
        let collector = Collector::start(&format!(
            r#"
receivers:
  kafka_admin:
    brokers: ["{brokers}"]
    collection_interval: 1s
    cluster_alias: e2e
connectors:
  signals:
    packs:
      kafka_admin: {{window: 5, time_lag_threshold: 4}}
      targets:
    stale_after: 4s
{connectors}
exporters:
  file/signals:
    path: {logs}
{exporters}
service:
  pipelines:
    metrics:
      receivers: [kafka_admin]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [file/signals{also}]
{pipelines}
"#,
            brokers = tansu.brokers(),
            logs = logs.display(),
        ));
        let driver = Driver::start(&tansu.brokers(), dir.path());
        Run {
            _tansu: tansu,
            collector,
            driver,
            logs,
            _dir: dir,
        }
    }

    /// Waits up to `within` for a signal of `rule` on `subject` that `want` accepts, after
    /// the `skip` signals already looked at; returns it and the new count.
    fn wait(
        &self,
        (subject, rule): (&str, &str),
        skip: usize,
        within: Duration,
        want: impl Fn(&Signal) -> bool,
    ) -> (Signal, usize) {
        let deadline = Instant::now() + within;
        loop {
            let all = signals(&self.logs);
            if let Some((i, s)) = all.iter().enumerate().skip(skip).find(|(_, s)| {
                s.subject.qualified() == subject && s.evidence.rule == rule && want(s)
            }) {
                return (s.clone(), i + 1);
            }
            if Instant::now() >= deadline {
                let said: Vec<String> = all
                    .iter()
                    .filter(|s| {
                        s.subject.qualified().starts_with(GROUP)
                            || s.subject.qualified() == "cluster=e2e"
                    })
                    .map(|s| format!("{} {}", s.subject.qualified(), label(s)))
                    .collect();
                panic!(
                    "no {rule} signal as wanted on {subject} within {within:?}; said:\n{}\n\nkafka-obs log:\n{}",
                    said.join("\n"),
                    self.collector.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The rule signals (K rules) about `subject` from position `from` on.
    fn said(&self, subject: &str, from: usize) -> Vec<String> {
        signals(&self.logs)
            .iter()
            .skip(from)
            .filter(|s| s.subject.qualified() == subject && s.evidence.rule.starts_with('K'))
            .map(label)
            .collect()
    }
}

fn burrow(s: &Signal) -> &str {
    s.attributes.get("burrow.status").map_or("", String::as_str)
}

#[test]
fn a_paused_consumer_stalls_then_stops_and_recovers_once_it_catches_up() {
    let mut run = Run::start();
    // Consuming: the partition is judged and OK.
    let (_, seen) = run.wait((PARTITION, "status"), 0, Duration::from_secs(20), |_| true);
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        run.said(PARTITION, 0).is_empty(),
        "a consumer keeping up raises nothing: {:?}",
        run.said(PARTITION, 0)
    );

    run.driver.send("pause");
    let paused = Instant::now();
    let (stall, at) = run.wait((PARTITION, "K1"), seen, Duration::from_secs(25), |s| {
        burrow(s) == "STALL"
    });
    assert_eq!(label(&stall), "Statuses.DEGRADED.MEASURED@K1/onset");
    let committed = run.driver.committed();
    assert_eq!(
        stall.evidence.get("committed_offset"),
        Some(committed),
        "the offset K1 judged is the one the group's client reads back"
    );
    let (stop, _) = run.wait((PARTITION, "K1"), at, Duration::from_secs(25), |s| {
        burrow(s) == "STOP"
    });
    assert_eq!(label(&stop), "Statuses.DOWN.MEASURED@K1/onset");
    let since = stop.evidence.get("seconds_since_commit").unwrap_or(0.0);
    assert!(
        // Two windows of 5 polls ~1 s apart (the poll span of a window is ~4 s), counted
        // from the last poll that saw the offset move, which may precede the pause a little.
        since > 7.0 && since <= paused.elapsed().as_secs_f64() + 5.0,
        "STOP after two windows of 1 s polls without a commit: {since} s (paused {:?} ago)",
        paused.elapsed()
    );
    // The time lag grew with the wall clock: over K2's 4 s, and K3 at about 1 s per second.
    let (k3, _) = run.wait((PARTITION, "K3"), seen, Duration::from_secs(5), |s| {
        s.phase().is_some_and(|p| p.as_str() == "onset")
    });
    let growth = k3.evidence.get("growth_per_second").unwrap_or(0.0);
    // K3's onset comes as soon as the window's slope (which still holds polls from before
    // the pause) passes 0.5; a stopped consumer's time lag grows at ~1 s/s.
    assert!(
        (0.5..=1.4).contains(&growth),
        "a stopped consumer's time lag grows with the wall time: {growth} s/s"
    );
    run.wait((PARTITION, "K2"), seen, Duration::from_secs(5), |s| {
        label(s) == "Statuses.DEGRADED.MEASURED@K2/onset"
    });

    let resumed_at = signals(&run.logs).len();
    run.driver.send("normal");
    let (ok, _) = run.wait(
        (PARTITION, "K1"),
        resumed_at,
        Duration::from_secs(20),
        |s| burrow(s) == "OK",
    );
    assert_eq!(label(&ok), "Statuses.STABLE.MEASURED@K1/recovery");
    for rule in ["K2", "K3"] {
        run.wait(
            (PARTITION, rule),
            resumed_at,
            Duration::from_secs(20),
            |s| label(s) == format!("Statuses.STABLE.MEASURED@{rule}/recovery"),
        );
    }
}

#[test]
fn a_slow_consumer_warns_a_reset_rewinds_and_an_emptied_then_deleted_group_is_seen() {
    let mut run = Run::start();
    let (_, seen) = run.wait((PARTITION, "status"), 0, Duration::from_secs(20), |_| true);
    std::thread::sleep(Duration::from_secs(4));

    // Slow: one record every 2 s against 5 produced per second.
    run.driver.send("slow 2");
    let (warn, at) = run.wait((PARTITION, "K1"), seen, Duration::from_secs(25), |s| {
        burrow(s) == "WARN"
    });
    assert_eq!(label(&warn), "Statuses.DIVERGING.MEASURED@K1/onset");
    let (k3, _) = run.wait((PARTITION, "K3"), seen, Duration::from_secs(15), |s| {
        s.phase().is_some_and(|p| p.as_str() == "onset")
    });
    let growth = k3.evidence.get("growth_per_second").unwrap_or(0.0);
    // Reading 0.5 of 5 records/s the time lag grows at ~0.9 s/s; K3's onset comes as soon as
    // the window's slope (which still holds polls from before the slowdown) passes 0.5.
    assert!(
        (0.5..=1.4).contains(&growth),
        "a slow consumer's time lag grows with the wall time: {growth} s/s"
    );
    run.driver.send("normal");
    let (ok, at) = run.wait((PARTITION, "K1"), at, Duration::from_secs(20), |s| {
        burrow(s) == "OK"
    });
    assert_eq!(label(&ok), "Statuses.STABLE.MEASURED@K1/recovery");

    // A reset to an earlier offset (committed by the group's own client).
    run.driver.send("pause");
    std::thread::sleep(Duration::from_secs(2));
    run.driver.send("rewind 3");
    let (rewind, at) = run.wait((PARTITION, "K1"), at, Duration::from_secs(10), |s| {
        burrow(s) == "REWIND"
    });
    assert_eq!(label(&rewind), "Statuses.ERRATIC.MEASURED@K1/onset");
    assert_eq!(rewind.evidence.get("committed_offset"), Some(3.0));
    assert!(rewind.evidence.get("rewound_records").unwrap_or(0.0) > 0.0);
    run.driver.send("normal");
    let (_, at) = run.wait((PARTITION, "K1"), at, Duration::from_secs(20), |s| {
        label(s) == "Statuses.STABLE.MEASURED@K1/recovery"
    });

    // Emptied: the only member leaves (offsets kept).
    run.driver.send("close");
    let (left, _) = run.wait((GROUP, "K7"), at, Duration::from_secs(15), |_| true);
    assert_eq!(label(&left), "Members.LEAVE.PEER@K7/-");
    assert_eq!(left.evidence.get("members"), Some(0.0));

    // Deleted: its series stop; its subjects go stale (T2).
    let answer = run.driver.send("delete");
    assert_eq!(answer, "ok delete", "tansu deletes an empty group");
    run.wait((PARTITION, "T2"), at, Duration::from_secs(20), |s| {
        s.attributes.get("reason").map(String::as_str) == Some("stale")
    });
}

/// The hierarchy API's view of one cell, when it has it.
fn cell(api: std::net::SocketAddr, subject: &str) -> Option<Value> {
    let query = subject.replace('=', "%3D").replace('/', "%2F");
    match http_get(api, &format!("/api/v1/cell?subject={query}")) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Waits up to `within` for the group's cell in the hierarchy API with a status `want` takes.
fn wait_group(
    run: &Run,
    api: std::net::SocketAddr,
    what: &str,
    within: Duration,
    want: &dyn Fn(&str) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Some(c) = cell(api, GROUP) {
            if want(status_of(&c)) {
                return c;
            }
            last = Some(c);
        }
        assert!(
            Instant::now() < deadline,
            "the group's cell was not {what} within {within:?}; last: {last:#?}\nkafka-obs log:\n{}",
            run.collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn status_of(cell: &Value) -> &str {
    cell["status"]["status"].as_str().unwrap_or("NONE")
}

/// The whole chain on the real binary: `kafka_admin` -> `signals` -> `hierarchy`. The group's
/// cell (its partitions rolled up) turns DEGRADED or DOWN while the consumer is paused and
/// back to STABLE after it resumes. (The member's `group / client` cell, K10, is not checked
/// here: tansu 0.6 answers DescribeGroups with an empty client id, which makes no cell; the
/// join by client id is proven in `cells/src/tests/groups.rs` and the pack's tests.)
#[test]
fn the_hierarchy_shows_a_paused_groups_cell_in_trouble_and_back_to_normal() {
    let api_port = free_port();
    let mut run = Run::start_with(Stage {
        connectors: format!(
            "  hierarchy:
    tick_interval: 100ms
    source_id: central-admin
    damping: {{clear_after: 1s}}
    api: {{endpoint: '127.0.0.1:{api_port}', publish_interval: 100ms}}"
        ),
        exporters: "  debug: {verbosity: basic}".into(),
        also: ", hierarchy".into(),
        pipelines: "    traces/out:
      receivers: [hierarchy]
      exporters: [debug]
    logs/out:
      receivers: [hierarchy]
      exporters: [debug]"
            .into(),
    });
    let api: std::net::SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
    wait_for_port(api, Duration::from_secs(10)).expect("the hierarchy API listens");
    let started = Instant::now();
    wait_group(&run, api, "STABLE", Duration::from_secs(20), &|s| {
        s == "STABLE"
    });
    run.driver.send("pause");
    let trouble = wait_group(
        &run,
        api,
        "DEGRADED or DOWN",
        Duration::from_secs(30),
        &|s| s == "DEGRADED" || s == "DOWN",
    );
    let partition = cell(api, PARTITION).unwrap_or_default();
    assert!(
        partition.to_string().contains("K1"),
        "the group's {} is K1's on its partition: {partition:#}",
        status_of(&trouble)
    );

    run.driver.send("normal");
    wait_group(&run, api, "back to STABLE", Duration::from_secs(30), &|s| {
        s == "STABLE"
    });
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "bounded: {:?}",
        started.elapsed()
    );
}
