//! End to end with the real binary: scenario JVM -> `jmx` receiver -> `signals` connector ->
//! `file` exporter. The scenario is paused and stepped exactly once per poll (the test waits
//! for each poll to land in the metrics file, then ticks), so the rules see the scenario's
//! documented per-tick trajectories. Each scripted phase must produce its expected signals in
//! order, about the right client / topic / partition, and the normal phase nothing at all.

use std::path::Path;
use std::time::{Duration, Instant};

use kafka_obs_testkit::scenario::{Role, ScenarioJvm};
use kafka_obs_tests::{Collector, CollectorOptions, complete_lines};
use serde_json::Value;

/// One signal read back from the logs file.
#[derive(Debug, Clone)]
struct Seen {
    time_ns: u64,
    kind: String,
    rule: String,
    subject: String,
    reason: Option<String>,
}

impl Seen {
    fn label(&self) -> String {
        format!("{}@{}", self.kind, self.rule)
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Times of the polls in the metrics file (from `kafka_obs.target.up`).
fn poll_times(file: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    for line in complete_lines(file) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        for rm in v["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten() {
                    if m["name"] == "kafka_obs.target.up" {
                        for dp in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                            if let Some(t) = num(&dp["timeUnixNano"]) {
                                out.push(t as u64);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn signals(file: &Path) -> Vec<Seen> {
    let mut out = Vec::new();
    for line in complete_lines(file) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    let attr = |key: &str| {
                        r["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|a| a["key"] == key)
                            .and_then(|a| a["value"]["stringValue"].as_str())
                            .map(str::to_owned)
                    };
                    let mut kind = format!(
                        "{}.{}",
                        attr("signal.instrument").unwrap_or_default(),
                        attr("signal.sign").unwrap_or_default()
                    );
                    if let Some(d) = attr("signal.dimension") {
                        kind = format!("{kind}.{d}");
                    }
                    let levels = attr("signal.subject_levels").unwrap_or_default();
                    let values = attr("signal.subject").unwrap_or_default();
                    let subject = levels
                        .split('/')
                        .zip(values.split('/'))
                        .map(|(l, v)| format!("{l}={v}"))
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push(Seen {
                        time_ns: num(&r["timeUnixNano"]).unwrap_or(0.0) as u64,
                        kind,
                        rule: attr("signal.rule").unwrap_or_default(),
                        subject,
                        reason: attr("reason"),
                    });
                }
            }
        }
    }
    out
}

/// Waits for the first poll later than `after` and returns its time.
fn next_poll(file: &Path, after: u64, collector: &Collector) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = poll_times(file).into_iter().find(|t| *t > after) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no poll after {after} in 20 s; kafka-obs log:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True if `want` appears in `got` in order (other signals may come in between).
fn in_order(got: &[String], want: &[&str]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

const PRODUCER: &str = "client=order-producer";
const CONSUMER: &str = "client=inventory-consumer";

#[test]
fn scenario_phases_become_their_signals_in_order() {
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Client)
        .start()
        .expect("scenario JVM");
    scenario.tick().expect("tick"); // normal k = 0: the consumer joins
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = dir.path().join("metrics.jsonl");
    let logs = dir.path().join("signals.jsonl");
    let config = format!(
        r#"
receivers:
  jmx:
    endpoint: ${{env:JMX_ENDPOINT}}
    target_system: kafka-producer,kafka-consumer
    collection_interval: 1500ms
    resource_attributes:
      service.name: order-service
      kafka.cluster: e2e
connectors:
  signals:
    packs:
      kafka-producer:
      kafka-consumer:
      targets:
    stale_after: 5m
exporters:
  file/metrics:
    path: {}
  file/signals:
    path: {}
service:
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [signals, file/metrics]
    logs/signals:
      receivers: [signals]
      exporters: [file/signals]
"#,
        metrics.display(),
        logs.display()
    );
    let collector = Collector::start_with(
        &config,
        CollectorOptions {
            env: vec![(
                "JMX_ENDPOINT".into(),
                format!("127.0.0.1:{}", scenario.jmx_port()),
            )],
            ..Default::default()
        },
    );

    // (phase, ticks): one tick per poll.
    let timeline: &[(&str, u32)] = &[
        ("normal", 4),
        ("buffer-pressure", 2),
        ("buffer-overflow", 2),
        ("lag-spike", 9),
        ("rebalance-storm", 7),
        ("latency-divergence", 6),
        ("error-burst", 3),
        ("recovery", 6),
    ];
    // The poll time that opens each phase (its first poll after its first tick).
    let mut bounds: Vec<(&str, u64)> = Vec::new();
    let mut last = next_poll(&metrics, 0, &collector); // the normal k = 0 poll
    bounds.push(("normal", last));
    for (i, (phase, ticks)) in timeline.iter().enumerate() {
        for t in 0..*ticks {
            if i == 0 && t == 0 {
                continue; // already played before the collector started
            }
            if t == 0 {
                scenario.phase(phase).expect("phase");
            }
            // Tick right after a poll landed: the next poll sees exactly this step.
            last = next_poll(&metrics, last, &collector);
            scenario.tick().expect("tick");
            if t == 0 {
                bounds.push((phase, last + 1));
            }
        }
    }
    let end = next_poll(&metrics, last, &collector);
    std::thread::sleep(Duration::from_millis(500));
    let all = signals(&logs);
    let phase_of = |time: u64| {
        bounds
            .iter()
            .rev()
            .find(|(_, start)| time >= *start)
            .map(|(p, _)| *p)
    };
    let by_phase = |phase: &str| -> Vec<Seen> {
        all.iter()
            .filter(|s| {
                s.reason.is_none() && s.time_ns <= end && phase_of(s.time_ns) == Some(phase)
            })
            .cloned()
            .collect()
    };
    let labels = |seen: &[Seen]| seen.iter().map(Seen::label).collect::<Vec<_>>();
    let dump = || {
        all.iter()
            .map(|s| {
                format!(
                    "{} {} {} {:?} [{:?}]",
                    s.time_ns,
                    s.label(),
                    s.subject,
                    s.reason,
                    phase_of(s.time_ns)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Normal: nothing but the first statuses (and heartbeats).
    let normal = by_phase("normal");
    assert!(normal.is_empty(), "spurious signals in normal:\n{}", dump());
    assert!(
        all.iter()
            .any(|s| s.reason.as_deref() == Some("first-status") && s.subject.ends_with(PRODUCER)),
        "{}",
        dump()
    );

    let pressure = by_phase("buffer-pressure");
    assert!(
        in_order(
            &labels(&pressure),
            &["Gauges.INCREMENT@P6", "Systems.LIMIT.SPACE@P2"]
        ),
        "buffer-pressure: {:?}\n{}",
        labels(&pressure),
        dump()
    );
    assert!(
        pressure
            .iter()
            .filter(|s| s.rule == "P2")
            .all(|s| s.subject.ends_with(PRODUCER))
    );

    let overflow = by_phase("buffer-overflow");
    assert!(
        in_order(
            &labels(&overflow),
            &[
                "Queues.OVERFLOW@P1",
                "Counters.INCREMENT@P5",
                "Queues.OVERFLOW@P5"
            ]
        ),
        "buffer-overflow: {:?}\n{}",
        labels(&overflow),
        dump()
    );

    let lag = by_phase("lag-spike");
    let client_lag: Vec<String> = lag
        .iter()
        .filter(|s| s.subject.ends_with(CONSUMER) && s.rule.starts_with('C') && s.rule != "C4")
        .map(Seen::label)
        .collect();
    // The lag ladder (docs/rules.md, C1-C3): C2 begins, ends as C1 begins, and C1 ends with
    // its own recovery (Queues ENQUEUE and Statuses STABLE under C1); C3 emits nothing.
    assert!(
        in_order(
            &client_lag,
            &[
                "Statuses.DIVERGING.MEASURED@C2",
                "Queues.OVERFLOW@C1",
                "Statuses.DEGRADED.CONFIRMED@C1",
                "Queues.ENQUEUE@C1",
            ]
        ) && client_lag
            .iter()
            .any(|l| l.starts_with("Statuses.STABLE.") && l.ends_with("@C2"))
            && client_lag
                .iter()
                .any(|l| l.starts_with("Statuses.STABLE.") && l.ends_with("@C1"))
            && !client_lag.iter().any(|l| l.ends_with("@C3")),
        "lag-spike: {client_lag:?}\n{}",
        dump()
    );
    assert!(
        lag.iter().any(|s| s.rule == "C4"
            && s.kind.starts_with("Statuses.DIVERGING")
            && s.subject
                .ends_with("client=inventory-consumer/topic=orders/partition=0")),
        "no per-partition DIVERGING:\n{}",
        dump()
    );

    let storm = by_phase("rebalance-storm");
    assert!(
        in_order(
            &labels(&storm),
            &[
                "Resources.DENY@C7",
                "Statuses.ERRATIC.CONFIRMED@C9",
                "Statuses.DEGRADED.MEASURED@C10"
            ]
        ),
        "rebalance-storm: {:?}\n{}",
        labels(&storm),
        dump()
    );

    let latency = by_phase("latency-divergence");
    assert!(
        in_order(&labels(&latency), &["Statuses.DIVERGING.MEASURED@P8"]),
        "latency-divergence: {:?}\n{}",
        labels(&latency),
        dump()
    );
    let p8 = latency
        .iter()
        .find(|s| s.rule == "P8")
        .map(|s| s.subject.clone());
    assert!(p8.is_some_and(|s| s.ends_with(PRODUCER)));

    let errors = by_phase("error-burst");
    let fails: Vec<&Seen> = errors
        .iter()
        .filter(|s| s.label() == "Probes.FAIL.OUTBOUND@P9")
        .collect();
    assert!(
        fails.iter().any(|s| s.subject.ends_with(PRODUCER)),
        "{}",
        dump()
    );
    assert!(
        fails
            .iter()
            .any(|s| s.subject.ends_with("client=order-producer/topic=orders")),
        "{}",
        dump()
    );
    assert!(
        !fails.iter().any(|s| s.subject.contains("topic=payments")),
        "{}",
        dump()
    );
    assert!(
        in_order(&labels(&errors), &["Services.RETRY.CALLER@P10"]),
        "{}",
        dump()
    );

    let recovery = by_phase("recovery");
    assert!(
        recovery
            .iter()
            .any(|s| s.label() == "Probes.SUCCEED.OUTBOUND@P9" && s.subject.ends_with(PRODUCER)),
        "recovery: {:?}\n{}",
        labels(&recovery),
        dump()
    );
    // Never a DOWN: the target stayed up all along.
    assert!(!all.iter().any(|s| s.kind.contains("DOWN")), "{}", dump());
    drop(collector);
    scenario.quit().expect("quit");
}
