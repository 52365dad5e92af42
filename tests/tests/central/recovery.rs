//! The story ends in recovery, and everything clears (issue #11): the real binary as two
//! processes, a sidecar (`jmx` -> `signals` connector -> `signals` gRPC exporter, plus `file`
//! exporters of the signals and the status gauge) and a central (`signals` receiver ->
//! `hierarchy`, its closed incidents as traces to a `file` exporter), reading a scenario JVM
//! that plays `normal, buffer-overflow, lag-spike, rebalance-storm, recovery` on a 1 s tick.
//!
//! Checked, each by name so that a failure lists every check that did not hold:
//!
//! - before the story: no status worse than STABLE, neither as a gauge point nor as a
//!   Statuses signal;
//! - during it: producer buffer OVERFLOW (P1) on the producer client, lag (C1, C2) and the
//!   rebalance storm (C9) on the consumer client, and an open incident at the central;
//! - after it, within the configured windows: every client cell NORMAL / STABLE (and live) in
//!   `/api/v1/tree`, every incident closed in `/api/v1/incidents`, each closed incident
//!   exported as a trace exactly once;
//! - in the sidecar's signal file: every recovery (`kafka_obs.condition = recovery`) follows an
//!   onset of the same rule on the same subject and instrument, every condition that began
//!   ended, and each subject's last `kafka_obs.status` point and last status statement
//!   (rule `status`) say STABLE with no condition holding.
//!
//! The central keeps `observer.reading_ttl` at its default (5 m), far beyond the test: a cell
//! may only turn green because a recovery replaced its reading, not because the reading
//! faded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kafka_obs_tests::complete_lines;

use super::*;

const PRODUCER: &str = "client=order-producer";
const CONSUMER: &str = "client=inventory-consumer";
/// The scenario's tick and the sidecar's poll interval.
const TICK: Duration = Duration::from_secs(1);
/// Central windows (see the config below).
const CLEAR_AFTER: &str = "2s";
const CLOSE_AFTER: &str = "4s";
const STALE_AFTER: &str = "10s";
/// How long after the recovery phase began everything must have cleared: the scenario eases
/// back to normal in 5 ticks, the slowest rule (C9, with `rebalance_storm_interval: 5s`) needs
/// 5 s without a rebalance, then `clear_after` and `close_after`; the rest is slack for a
/// loaded machine.
const CLEAR_WITHIN: Duration = Duration::from_secs(40);
/// A poll may read a tick's values a little before the test sees the tick's `PHASE` line.
const EDGE: u64 = 500_000_000;

/// One signal event read back from a `file` exporter (OTLP JSON lines).
#[derive(Debug, Clone)]
struct Event {
    /// Position in the file: the order the sidecar emitted them in.
    order: usize,
    time_ns: u64,
    /// Qualified path, `cluster=e2e/service=order-service/.../client=order-producer`.
    subject: String,
    instrument: String,
    sign: String,
    dimension: Option<String>,
    rule: String,
    /// `kafka_obs.condition`: `onset` or `recovery`.
    phase: Option<String>,
    /// `kafka_obs.conditions` of a `status` statement.
    conditions: Option<String>,
    reason: Option<String>,
}

impl Event {
    fn kind(&self) -> String {
        match &self.dimension {
            Some(d) => format!("{}.{}.{d}", self.instrument, self.sign),
            None => format!("{}.{}", self.instrument, self.sign),
        }
    }

    fn line(&self) -> String {
        format!(
            "#{} t={} {} {}@{} phase={:?} conditions={:?} reason={:?}",
            self.order,
            self.time_ns,
            self.subject,
            self.kind(),
            self.rule,
            self.phase,
            self.conditions,
            self.reason
        )
    }
}

/// One point of the `kafka_obs.status` gauge.
#[derive(Debug, Clone)]
struct Point {
    time_ns: u64,
    /// The subject's value path (`e2e/order-service/order-service-0/order-producer`).
    subject: String,
    status: String,
    rule: String,
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An attribute of an OTLP JSON attribute list as text, whatever its value type.
fn attribute(attributes: &Value, key: &str) -> Option<String> {
    let value = attributes
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?
        .get("value")?
        .as_object()?
        .values()
        .next()?;
    Some(
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned),
    )
}

fn lines_json(file: &Path) -> Vec<Value> {
    complete_lines(file)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn read_events(file: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for v in lines_json(file) {
        let records = v["resourceLogs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rl| rl["scopeLogs"].as_array().into_iter().flatten())
            .flat_map(|sl| sl["logRecords"].as_array().into_iter().flatten());
        for r in records {
            let a = &r["attributes"];
            let Some(instrument) = attribute(a, "signal.instrument") else {
                continue;
            };
            let levels = attribute(a, "signal.subject_levels").unwrap_or_default();
            let values = attribute(a, "signal.subject").unwrap_or_default();
            let subject = levels
                .split('/')
                .zip(values.split('/'))
                .map(|(l, v)| format!("{l}={v}"))
                .collect::<Vec<_>>()
                .join("/");
            out.push(Event {
                order: out.len(),
                time_ns: number(&r["timeUnixNano"]).unwrap_or(0),
                subject,
                instrument,
                sign: attribute(a, "signal.sign").unwrap_or_default(),
                dimension: attribute(a, "signal.dimension"),
                rule: attribute(a, "signal.rule").unwrap_or_default(),
                phase: attribute(a, "kafka_obs.condition"),
                conditions: attribute(a, "kafka_obs.conditions"),
                reason: attribute(a, "reason"),
            });
        }
    }
    out
}

fn read_points(file: &Path) -> Vec<Point> {
    let mut out = Vec::new();
    for v in lines_json(file) {
        let metrics = v["resourceMetrics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rm| rm["scopeMetrics"].as_array().into_iter().flatten())
            .flat_map(|sm| sm["metrics"].as_array().into_iter().flatten())
            .filter(|m| m["name"] == "kafka_obs.status");
        for m in metrics {
            for dp in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                let a = &dp["attributes"];
                out.push(Point {
                    time_ns: number(&dp["timeUnixNano"]).unwrap_or(0),
                    subject: attribute(a, "subject").unwrap_or_default(),
                    status: attribute(a, "status").unwrap_or_default(),
                    rule: attribute(a, "rule").unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// `kafka_obs.incident.id` of every incident root span in a traces file, in file order.
fn incident_traces(file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for v in lines_json(file) {
        let spans = v["resourceSpans"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
            .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
            .filter(|s| s["name"] == "kafka_obs.incident");
        for s in spans {
            out.push(attribute(&s["attributes"], "kafka_obs.incident.id").unwrap_or_default());
        }
    }
    out
}

/// Every cell of a tree, depth first.
fn cells(node: &Value) -> Vec<&Value> {
    let mut out = vec![node];
    for child in node["nodes"].as_array().into_iter().flatten() {
        out.extend(cells(child));
    }
    out
}

/// `path STATUS/SITUATION (stale)` for the report.
fn describe_cell(cell: &Value) -> String {
    format!(
        "{} {}/{}{}",
        cell["path"].as_str().unwrap_or("?"),
        status_of(cell),
        situation_of(cell).0,
        if cell["stale"] == true {
            " (stale)"
        } else {
            ""
        }
    )
}

/// NORMAL and STABLE, and live (a stale cell says nothing about recovery).
fn is_green(cell: &Value) -> bool {
    status_of(cell) == "STABLE" && situation_of(cell).0 == "NORMAL" && cell["stale"] != true
}

/// Incidents in a few lines each: id, state, root cause, and per chain link its path, status
/// and whether it recovered.
fn describe_incidents(incidents: &Value) -> String {
    let mut out = Vec::new();
    for list in ["open", "closed"] {
        for i in incidents[list].as_array().into_iter().flatten() {
            out.push(format!(
                "#{} {} {} root cause {} (opened {}, closed {})",
                i["id"],
                i["state"],
                i["situation"],
                i["root_cause"],
                i["opened_ns"],
                i["closed_ns"]
            ));
            for link in i["chain"].as_array().into_iter().flatten() {
                out.push(format!(
                    "    {} now {} recovered={}",
                    link["path"].as_str().unwrap_or("?"),
                    status_of(link),
                    link["recovered"]
                ));
            }
        }
    }
    if out.is_empty() {
        format!("no incidents: {incidents}")
    } else {
        out.join("\n")
    }
}

fn incident_ids(incidents: &Value, list: &str) -> Vec<String> {
    incidents[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].to_string())
        .collect()
}

/// Named checks that all run; the test fails at the end with every one that did not hold.
#[derive(Default)]
struct Checks {
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            self.passed.push(name.to_string());
        } else {
            self.failed.push(format!("FAILED {name}:\n{}", detail()));
        }
    }

    fn finish(self, context: &str) {
        eprintln!("passed:\n  {}", self.passed.join("\n  "));
        assert!(
            self.failed.is_empty(),
            "{} of {} checks failed\n\n{}\n\npassed: {:?}\n\n{context}",
            self.failed.len(),
            self.failed.len() + self.passed.len(),
            self.failed.join("\n\n"),
            self.passed
        );
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn the_story_ends_in_recovery_and_every_condition_and_incident_clears() {
    let dir = tempfile::tempdir().unwrap();
    let signals_file = dir.path().join("signals.jsonl");
    let status_file = dir.path().join("status.jsonl");
    let traces_file = dir.path().join("traces.jsonl");
    let central_events = dir.path().join("central.jsonl");

    // ---- the central process ----
    let intake = free_port();
    let api_port = free_port();
    let central = Collector::start(&format!(
        r#"
receivers:
  signals/in:
    endpoint: 127.0.0.1:{intake}
connectors:
  hierarchy:
    source_id: central-recovery
    tick_interval: 200ms
    stale_after: {STALE_AFTER}
    damping: {{clear_after: {CLEAR_AFTER}}}
    incidents: {{close_after: {CLOSE_AFTER}}}
    api: {{endpoint: '127.0.0.1:{api_port}', publish_interval: 200ms}}
exporters:
  file/traces:
    path: {traces}
  file/events:
    path: {events}
service:
  pipelines:
    logs/in:
      receivers: [signals/in]
      exporters: [hierarchy]
    logs/out:
      receivers: [hierarchy]
      exporters: [file/events]
    traces/out:
      receivers: [hierarchy]
      exporters: [file/traces]
"#,
        traces = traces_file.display(),
        events = central_events.display(),
    ));
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();
    wait_for_port(api, Duration::from_secs(10)).expect("the central API listens");

    // ---- the scenario JVM: paused on its first normal step until the sidecar reads it ----
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Client)
        .tick(TICK)
        .timeline("normal:6t,buffer-overflow:4t,lag-spike:10t,rebalance-storm:9t,recovery")
        .start()
        .expect("scenario JVM");
    scenario.tick().unwrap(); // normal k = 0: the consumer joins

    // ---- the sidecar process ----
    let sidecar = Collector::start_with(
        &format!(
            r#"
receivers:
  jmx:
    endpoint: ${{env:JMX_ENDPOINT}}
    target_system: kafka-producer,kafka-consumer
    collection_interval: {interval}ms
    initial_delay: 0s
    resource_attributes:
      service.name: order-service
      service.instance.id: order-service-0
      kafka.cluster: e2e
connectors:
  signals:
    source_id: sidecar-recovery
    heartbeat_every: 2
    packs:
      kafka-producer:
      kafka-consumer:
        rebalance_storm_interval: 5s
      targets:
exporters:
  signals/central:
    endpoint: http://127.0.0.1:{intake}
  file/signals:
    path: {signals}
  file/status:
    path: {status}
service:
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [signals/central, file/signals]
    metrics/status:
      receivers: [signals]
      exporters: [file/status]
"#,
            interval = TICK.as_millis(),
            signals = signals_file.display(),
            status = status_file.display(),
        ),
        CollectorOptions {
            env: vec![(
                "JMX_ENDPOINT".into(),
                format!("127.0.0.1:{}", scenario.jmx_port()),
            )],
            ..Default::default()
        },
    );
    let context = || {
        format!(
            "sidecar log (tail):\n{}\n\ncentral log (tail):\n{}",
            tail(&sidecar.stderr(), 30),
            tail(&central.stderr(), 30)
        )
    };
    wait_until(
        "the sidecar's first status points for both clients",
        Duration::from_secs(30),
        || {
            let points = read_points(&status_file);
            let seen = |client: &str| {
                let name = client.trim_start_matches("client=");
                points.iter().any(|p| p.subject.ends_with(name))
            };
            (seen(PRODUCER) && seen(CONSUMER)).then_some(())
        },
    );

    // ---- the story, on the scenario's own clock ----
    scenario.resume().unwrap();
    scenario
        .wait_for_phase("buffer-overflow", Duration::from_secs(30))
        .unwrap();
    let story_ns = now_ns();
    scenario
        .wait_for_phase("recovery", Duration::from_secs(60))
        .unwrap();
    let recovery_ns = now_ns();
    let recovery_started = Instant::now();
    let during = get_json(api, "/api/v1/incidents").unwrap_or(Value::Null);

    // ---- after it: wait (bounded) until the central shows everything cleared ----
    let mut green_after = None;
    let mut closed_after = None;
    let mut tree = Value::Null;
    let mut incidents = Value::Null;
    while recovery_started.elapsed() < CLEAR_WITHIN {
        std::thread::sleep(Duration::from_millis(500));
        let (Some(t), Some(i)) = (
            get_json(api, "/api/v1/tree"),
            get_json(api, "/api/v1/incidents"),
        ) else {
            continue;
        };
        tree = t;
        incidents = i;
        let clients: Vec<&Value> = cells(&tree)
            .into_iter()
            .filter(|c| c["kind"] == "client")
            .collect();
        if green_after.is_none() && clients.len() >= 2 && clients.iter().all(|c| is_green(c)) {
            green_after = Some(recovery_started.elapsed());
        }
        let closed = incident_ids(&incidents, "closed");
        if closed_after.is_none()
            && incident_ids(&incidents, "open").is_empty()
            && !closed.is_empty()
        {
            let traced: BTreeSet<String> = incident_traces(&traces_file).into_iter().collect();
            if closed.iter().all(|id| traced.contains(id)) {
                closed_after = Some(recovery_started.elapsed());
            }
        }
        if green_after.is_some() && closed_after.is_some() {
            break;
        }
    }
    // A little longer, so a late flap, a second trace of a closed incident or a sticky status
    // point would show.
    std::thread::sleep(Duration::from_secs(3));
    if let (Some(t), Some(i)) = (
        get_json(api, "/api/v1/tree"),
        get_json(api, "/api/v1/incidents"),
    ) {
        tree = t;
        incidents = i;
    }
    eprintln!(
        "recovery began {recovery_ns}; client cells green after {green_after:?}, incidents closed \
         (and traced) after {closed_after:?}"
    );

    let events = read_events(&signals_file);
    let points = read_points(&status_file);
    let traces = incident_traces(&traces_file);
    let dump_events = |filter: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .filter(|e| filter(e))
            .map(Event::line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut checks = Checks::default();

    // ---- before the story: nothing worse than STABLE ----
    let before = story_ns - EDGE;
    let bad_points: Vec<&Point> = points
        .iter()
        .filter(|p| p.time_ns < before && p.status != "STABLE")
        .collect();
    checks.check(
        "before the story: every status gauge point STABLE",
        bad_points.is_empty(),
        || format!("{bad_points:#?}"),
    );
    checks.check(
        "before the story: the sidecar reported status points",
        points.iter().any(|p| p.time_ns < before),
        || {
            format!(
                "story began at {story_ns}; points: {:#?}",
                &points[..points.len().min(10)]
            )
        },
    );
    let not_stable =
        |e: &Event| e.time_ns < before && e.instrument == "Statuses" && e.sign != "STABLE";
    checks.check(
        "before the story: no Statuses signal other than STABLE",
        !events.iter().any(not_stable),
        || dump_events(&not_stable),
    );

    // ---- during the story: the expected conditions on the right subjects ----
    let during_story = |e: &Event| {
        e.time_ns + EDGE >= story_ns
            && e.time_ns <= recovery_ns + 2 * TICK.as_nanos() as u64
            && e.phase.as_deref() != Some("recovery")
    };
    let expect = [
        (
            "P1 Queues.OVERFLOW on the producer client",
            PRODUCER,
            "P1",
            "Queues.OVERFLOW",
        ),
        (
            "C1 Queues.OVERFLOW on the consumer client",
            CONSUMER,
            "C1",
            "Queues.OVERFLOW",
        ),
        (
            "C2 Statuses.DIVERGING on the consumer client",
            CONSUMER,
            "C2",
            "Statuses.DIVERGING",
        ),
        (
            "C9 Statuses.ERRATIC on the consumer client",
            CONSUMER,
            "C9",
            "Statuses.ERRATIC",
        ),
    ];
    for (name, client, rule, kind) in expect {
        checks.check(
            &format!("during the story: {name}"),
            events.iter().any(|e| {
                during_story(e)
                    && e.subject.ends_with(client)
                    && e.rule == rule
                    && e.kind().starts_with(kind)
            }),
            || dump_events(&|e| during_story(e) && e.rule == rule),
        );
    }
    checks.check(
        "during the story: the central has an open incident when recovery begins",
        !incident_ids(&during, "open").is_empty(),
        || describe_incidents(&during),
    );

    // ---- after it: the central's view ----
    let clients: Vec<&Value> = cells(&tree)
        .into_iter()
        .filter(|c| c["kind"] == "client")
        .collect();
    let client_paths: BTreeSet<&str> = clients.iter().filter_map(|c| c["path"].as_str()).collect();
    checks.check(
        "after the story: both client cells in /api/v1/tree",
        [PRODUCER, CONSUMER]
            .iter()
            .all(|c| client_paths.iter().any(|p| p.ends_with(c))),
        || format!("{client_paths:?}"),
    );
    checks.check(
        &format!(
            "after the story: every client cell NORMAL/STABLE and live within {CLEAR_WITHIN:?}"
        ),
        green_after.is_some() && clients.iter().all(|c| is_green(c)),
        || {
            clients
                .iter()
                .map(|c| describe_cell(c))
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    let not_green: Vec<String> = cells(&tree)
        .into_iter()
        .filter(|c| c["level"].as_str().is_some_and(|l| !l.is_empty()))
        .filter(|c| !is_green(c))
        .map(describe_cell)
        .collect();
    checks.check(
        "after the story: every cell of the tree NORMAL/STABLE and live",
        not_green.is_empty(),
        || not_green.join("\n"),
    );
    let open = incident_ids(&incidents, "open");
    let closed = incident_ids(&incidents, "closed");
    checks.check(
        &format!("after the story: every incident closed within {CLEAR_WITHIN:?}"),
        closed_after.is_some() && open.is_empty() && !closed.is_empty(),
        || describe_incidents(&incidents),
    );
    let chains: Vec<String> = incidents["closed"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["chain"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l["path"].as_str().map(str::to_owned))
        .collect();
    checks.check(
        "after the story: the closed incidents' chains hold both clients",
        [PRODUCER, CONSUMER]
            .iter()
            .all(|c| chains.iter().any(|p| p.contains(c))),
        || format!("{chains:#?}"),
    );
    let mut traced: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &traces {
        *traced.entry(id.as_str()).or_default() += 1;
    }
    checks.check(
        "after the story: each closed incident's trace exported exactly once, no other",
        !closed.is_empty()
            && closed.iter().all(|id| traced.get(id.as_str()) == Some(&1))
            && traced.keys().all(|id| closed.iter().any(|c| c == id)),
        || format!("closed {closed:?}; root spans per incident id {traced:?}"),
    );

    // ---- the sidecar's own account: conditions begin and end under one rule id ----
    let key = |e: &Event| (e.subject.clone(), e.instrument.clone(), e.rule.clone());
    let mut onsets: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut orphans = Vec::new();
    let mut last_phase: BTreeMap<(String, String, String), &Event> = BTreeMap::new();
    for e in &events {
        match e.phase.as_deref() {
            Some("onset") => {
                onsets.entry(key(e)).or_insert(e.order);
            }
            Some("recovery") => {
                if !onsets.contains_key(&key(e)) {
                    orphans.push(e.line());
                }
            }
            _ => continue,
        }
        last_phase.insert(key(e), e);
    }
    checks.check(
        "sidecar: signals carry kafka_obs.condition (onset and recovery)",
        !onsets.is_empty()
            && events
                .iter()
                .any(|e| e.phase.as_deref() == Some("recovery")),
        || dump_events(&|e| e.rule != "status" && e.reason.is_none()),
    );
    // Without any phase attribute the two checks below would hold vacuously.
    let phased = !last_phase.is_empty();
    checks.check(
        "sidecar: every recovery follows an onset of the same rule, subject and instrument",
        phased && orphans.is_empty(),
        || {
            if phased {
                orphans.join("\n")
            } else {
                "no signal carries kafka_obs.condition".to_string()
            }
        },
    );
    let unended: Vec<String> = last_phase
        .values()
        .filter(|e| e.phase.as_deref() != Some("recovery"))
        .map(|e| e.line())
        .collect();
    checks.check(
        "sidecar: every condition that began has ended (last phase per rule, subject, instrument is recovery)",
        phased && unended.is_empty(),
        || {
            if phased {
                unended.join("\n")
            } else {
                "no signal carries kafka_obs.condition".to_string()
            }
        },
    );
    let mut last_point: BTreeMap<&str, &Point> = BTreeMap::new();
    for p in &points {
        last_point.insert(p.subject.as_str(), p);
    }
    let sticky: Vec<String> = last_point
        .values()
        .filter(|p| p.status != "STABLE")
        .map(|p| {
            format!(
                "{} {} (rule {}) at {}",
                p.subject, p.status, p.rule, p.time_ns
            )
        })
        .collect();
    checks.check(
        "sidecar: the last kafka_obs.status point of each subject is STABLE",
        !last_point.is_empty() && sticky.is_empty(),
        || sticky.join("\n"),
    );
    let mut last_status: BTreeMap<&str, &Event> = BTreeMap::new();
    for e in events.iter().filter(|e| e.rule == "status") {
        last_status.insert(e.subject.as_str(), e);
    }
    let still: Vec<String> = last_status
        .values()
        .filter(|e| e.sign != "STABLE" || e.conditions.as_deref().is_some_and(|c| !c.is_empty()))
        .map(|e| e.line())
        .collect();
    checks.check(
        "sidecar: each subject's last status statement (rule `status`) is STABLE with no condition",
        !last_status.is_empty() && still.is_empty(),
        || {
            if last_status.is_empty() {
                "no signal under rule `status`".to_string()
            } else {
                still.join("\n")
            }
        },
    );

    checks.finish(&context());
    drop(sidecar);
    drop(central);
    scenario.quit().unwrap();
}
