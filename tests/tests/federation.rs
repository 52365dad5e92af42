//! Federation end to end on the real binary, five processes and a scenario JVM: two sidecars
//! with local circuits federate every cell over the signal stream (bearer token) to two
//! regional centrals, which federate under `region=eu-1` / `region=us-1` to one global
//! central. The eu sidecar runs the real pipeline, a scenario JVM's broker MBeans over JMX ->
//! `signals` (kafka pack) -> `hierarchy` -> federate; the us sidecar is fed signal events over
//! OTLP (`otlp` -> `hierarchy`). The story: broker 1 of cluster `prod` loses ISR in eu-1 (the
//! JVM plays `under-replicated`), then the producer writing its topic overflows in us-1. The
//! global API must show both regions' clusters with the children's statuses and confidence,
//! one incident chaining the two regions (the broker first) under an id derived from the eu
//! sidecar's story; the global central killed and restarted rebuilds the same id and its
//! webhook gets the opening again under the same key; a regional central killed and
//! restarted mid-story must neither lose nor duplicate anything in the global view (it
//! rebuilds from its sidecar's resends); the recovery (the JVM plays `recovery`) must reach
//! the global view and close the incident once, within the configured windows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_signal::condition::Phase;
use kafka_obs_signal::{Evidence, Signal, SignalKind, queues, statuses};
use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::scenario::{Role, ScenarioJvm};
use kafka_obs_tests::webhook::Webhook;
use kafka_obs_tests::{Collector, SignalSender};
use serde_json::Value;

/// Windows of every tier (engine time is each process's wall clock).
const WINDOWS: &str = "tick_interval: 200ms
    stale_after: 20s
    damping: {clear_after: 2s}
    incidents: {close_after: 3s}";
const FEDERATE: &str = "interval: 200ms
      resend_interval: 2s";
const SIDECAR_TOKEN: &str = "regional-secret";
const GLOBAL_TOKEN: &str = "global-secret";
const BROKER: &str = "cluster=prod/broker=1";
const PRODUCER: &str = "cluster=prod/service=orders/instance=pod-1/client=order-producer";

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {GLOBAL_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// Polls `check` every 200 ms until it returns `Some`, or fails naming `what` and the last
/// state seen.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_global(intake: u16, api: u16, webhook: u16) -> Collector {
    Collector::start(&format!(
        r#"
receivers:
  signals/regions:
    endpoint: 127.0.0.1:{intake}
    auth: {{authenticator: bearertokenauth}}
connectors:
  hierarchy:
    source_id: central-global
    {WINDOWS}
    federation: {{max_cells_per_child: 200}}
    notify:
      update_interval: 1h
      webhook: {{endpoint: 'http://127.0.0.1:{webhook}/api/v2/alerts', retry_interval: 100ms}}
    api:
      endpoint: 127.0.0.1:{api}
      publish_interval: 200ms
      auth: {{authenticator: bearertokenauth}}
extensions:
  bearertokenauth:
    token: {GLOBAL_TOKEN}
exporters:
  debug: {{verbosity: basic}}
service:
  extensions: [bearertokenauth]
  pipelines:
    logs/in:
      receivers: [signals/regions]
      exporters: [hierarchy]
    traces/out:
      receivers: [hierarchy]
      exporters: [debug]
"#
    ))
}

fn start_regional(region: &str, intake: u16, global: u16) -> Collector {
    Collector::start(&format!(
        r#"
receivers:
  signals/sidecars:
    endpoint: 127.0.0.1:{intake}
    auth: {{authenticator: bearertokenauth/sidecars}}
connectors:
  hierarchy:
    source_id: central-{region}
    {WINDOWS}
    api: {{enabled: false}}
    federate:
      pipeline: logs/federation
      level: client
      prefix: {{region: {region}}}
      {FEDERATE}
extensions:
  bearertokenauth/sidecars:
    token: {SIDECAR_TOKEN}
  bearertokenauth/global:
    token: {GLOBAL_TOKEN}
exporters:
  signals/global:
    endpoint: http://127.0.0.1:{global}
    auth: {{authenticator: bearertokenauth/global}}
service:
  extensions: [bearertokenauth/sidecars, bearertokenauth/global]
  pipelines:
    logs/in:
      receivers: [signals/sidecars]
      exporters: [hierarchy]
    logs/federation:
      receivers: [hierarchy]
      exporters: [signals/global]
"#
    ))
}

/// A sidecar with a local circuit federating every cell to `regional`; `intake` is the YAML
/// of its receivers, the connectors before its `hierarchy`, and the pipelines that feed it.
fn start_sidecar_with(name: &str, regional: u16, intake: Intake) -> Collector {
    let Intake {
        receivers,
        connectors,
        pipelines,
    } = intake;
    Collector::start(&format!(
        r#"
receivers:
{receivers}
connectors:
{connectors}
  hierarchy:
    source_id: sidecar-{name}
    {WINDOWS}
    api: {{enabled: false}}
    notify: {{log: false}}
    federate:
      pipeline: logs/federation
      level: client
      {FEDERATE}
extensions:
  bearertokenauth:
    token: {SIDECAR_TOKEN}
exporters:
  signals/regional:
    endpoint: http://127.0.0.1:{regional}
    auth: {{authenticator: bearertokenauth}}
service:
  extensions: [bearertokenauth]
  pipelines:
{pipelines}
    logs/federation:
      receivers: [hierarchy]
      exporters: [signals/regional]
"#
    ))
}

/// What feeds a sidecar's hierarchy (YAML fragments, indented for their sections).
struct Intake {
    receivers: String,
    connectors: String,
    pipelines: String,
}

/// The us sidecar: signal events over OTLP on `otlp` -> its local circuit.
fn start_sidecar(name: &str, otlp: u16, regional: u16) -> Collector {
    start_sidecar_with(
        name,
        regional,
        Intake {
            receivers: format!(
                "  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{otlp}}}"
            ),
            connectors: String::new(),
            pipelines: "    logs/in:
      receivers: [otlp]
      exporters: [hierarchy]"
                .into(),
        },
    )
}

/// The eu sidecar: the scenario JVM's broker MBeans (`jmx` on `jmx`) -> `signals` (kafka
/// pack) -> its local circuit.
fn start_jmx_sidecar(name: &str, jmx: u16, regional: u16) -> Collector {
    start_sidecar_with(
        name,
        regional,
        Intake {
            // No instance level (the receiver names one after its endpoint): the broker's
            // cell is `cluster=prod/broker=1`, on the broker side of the cluster.
            receivers: format!(
                r#"  jmx/broker:
    endpoint: 127.0.0.1:{jmx}
    target_system: kafka
    collection_interval: 500ms
    resource_attributes:
      kafka.cluster: prod
      broker.id: "1"
      service.instance.id: """#
            ),
            connectors: "  signals:
    source_id: broker-1
    heartbeat_every: 2
    packs:
      kafka:"
                .into(),
            pipelines: "    metrics:
      receivers: [jmx/broker]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [hierarchy]"
                .into(),
        },
    )
}

fn signal(path: &str, kind: SignalKind, evidence: Evidence, source: &str) -> Signal {
    Signal::new(path.parse().unwrap(), kind, evidence, now_ns()).from_source(source)
}

fn stable(path: &str, rule: &str, source: &str) -> Signal {
    signal(
        path,
        SignalKind::Statuses(statuses::Sign::Stable, statuses::Confidence::Confirmed),
        Evidence::rule(rule),
        source,
    )
}

fn cell(api: SocketAddr, path: &str) -> Result<Value, String> {
    let query = path.replace('=', "%3D");
    get_json(api, &format!("/api/v1/cell?subject={query}"))
        .ok_or_else(|| format!("no cell {path} yet"))
}

fn shown(cell: &Value) -> (String, String, String) {
    (
        cell["status"]["status"].as_str().unwrap_or("NONE").into(),
        cell["status"]["confidence"].as_str().unwrap_or("").into(),
        cell["situation"]["situation"].as_str().unwrap_or("").into(),
    )
}

fn incidents(api: SocketAddr) -> Result<(Vec<Value>, Vec<Value>), String> {
    let v = get_json(api, "/api/v1/incidents").ok_or("no incidents answer")?;
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    Ok((list("open"), list("closed")))
}

/// The (dedupe key, incident_id label) of every "open" alert the webhook got.
fn opens(hook: &Webhook) -> Vec<(String, u64)> {
    hook.alerts()
        .iter()
        .filter(|a| a["annotations"]["action"] == "open")
        .map(|a| {
            (
                a["annotations"]["dedupe_key"].as_str().unwrap_or("").into(),
                a["labels"]["incident_id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect()
}

fn chain(incident: &Value) -> Vec<String> {
    incident["chain"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|l| l["path"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps the us sidecar's healthy picture fresh (a sidecar's own signals connector
/// heartbeats the same way, as the eu one does).
fn heartbeat(us: &SignalSender) {
    us.send(&[stable(
        &format!("{PRODUCER}/topic=orders"),
        "H",
        "order-service-pod-1",
    )]);
}

#[test]
fn two_sidecars_two_regions_one_global_view() {
    let started = Instant::now();
    let (global_intake, global_api) = (free_port(), free_port());
    let (eu_intake, us_intake) = (free_port(), free_port());
    let us_otlp = free_port();
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Broker)
        .start()
        .expect("scenario JVM");
    scenario.tick().unwrap(); // normal: broker 1 healthy
    let hook = Webhook::start();
    let global = start_global(global_intake, global_api, hook.port);
    let api: SocketAddr = format!("127.0.0.1:{global_api}").parse().unwrap();
    wait_for_port(api, Duration::from_secs(10)).expect("the global API listens");
    let eu_regional = start_regional("eu-1", eu_intake, global_intake);
    let _us_regional = start_regional("us-1", us_intake, global_intake);
    let eu_sidecar = start_jmx_sidecar("eu", scenario.jmx_port(), eu_intake);
    let _us_sidecar = start_sidecar("us", us_otlp, us_intake);
    let us = SignalSender::new(us_otlp);

    // The healthy picture reaches the global view under each region's prefix: broker 1 from
    // its JMX readings.
    heartbeat(&us);
    wait_for(
        "both regions' clusters in the global view",
        Duration::from_secs(40),
        || {
            let eu = cell(api, &format!("region=eu-1/{BROKER}")).map_err(|e| {
                format!(
                    "{e}; global tree {:?}; eu sidecar {}",
                    get_json(api, "/api/v1/tree?depth=8"),
                    eu_sidecar.stderr()
                )
            })?;
            let us = cell(api, &format!("region=us-1/{PRODUCER}"))?;
            match (shown(&eu).0.as_str(), shown(&us).0.as_str()) {
                ("STABLE", "STABLE") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );

    // The story: the broker loses ISR (eu-1: UnderReplicatedPartitions 1, then 2, held),
    // then the producer writing its topic overflows (us-1).
    scenario.phase("under-replicated").unwrap();
    scenario.ticks(2).unwrap();
    // The global central's incident takes its id from the eu sidecar's story, and notifies.
    let opened_first = wait_for(
        "the global incident's opening at the webhook",
        Duration::from_secs(20),
        || match opens(&hook).as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        },
    );
    let (_, story_id) = opened_first.clone();
    assert!(
        story_id >= 1 << 52,
        "an id derived from the story: {story_id}"
    );

    // The global central killed and restarted: rebuilt from the regionals' resends, the
    // incident has the same id, and its notification the same labels' incident_id and
    // dedupe key (Alertmanager and PagerDuty-like receivers fold it into the firing alert).
    drop(global);
    let global = start_global(global_intake, global_api, hook.port);
    wait_for_port(api, Duration::from_secs(10)).expect("the restarted global API listens");
    let rebuilt = wait_for(
        "the restarted global's incident",
        Duration::from_secs(20),
        || {
            let (open, _) = incidents(api)?;
            match open.as_slice() {
                [one] => Ok((one["id"].as_u64(), one["story"].clone())),
                other => Err(format!("{} open", other.len())),
            }
        },
    );
    assert_eq!(rebuilt.0, Some(story_id), "the same id after the restart");
    // The eu sidecar's own incident 1 is the story, passed through the regional unchanged.
    assert!(
        rebuilt
            .1
            .as_str()
            .is_some_and(|s| s.starts_with("sidecar-eu#1@")),
        "{}",
        rebuilt.1
    );
    let again = wait_for(
        "the restarted global's notification",
        Duration::from_secs(10),
        || match opens(&hook).as_slice() {
            [_, second] => Ok(second.clone()),
            other => Err(format!("{other:?}")),
        },
    );
    assert_eq!(
        again, opened_first,
        "the same dedupe key and incident_id label"
    );

    std::thread::sleep(Duration::from_millis(300));
    us.send(&[signal(
        PRODUCER,
        SignalKind::Queues(queues::Sign::Overflow),
        Evidence::rule("P1").with("utilization", 0.97),
        "order-service-pod-1",
    )
    .in_phase(Phase::Onset)]);
    let incident = wait_for(
        "one incident chaining both regions",
        Duration::from_secs(20),
        || {
            let (open, _) = incidents(api)?;
            let [one] = open.as_slice() else {
                return Err(format!("{} open", open.len()));
            };
            let links = chain(one);
            if links.iter().any(|p| p.starts_with("region=us-1/")) {
                Ok(one.clone())
            } else {
                Err(format!("{links:?}"))
            }
        },
    );
    let links = chain(&incident);
    assert_eq!(
        links.first().map(String::as_str),
        Some(format!("region=eu-1/{BROKER}").as_str()),
        "the broker is the probable root cause: {links:?}"
    );
    let broker = cell(api, &format!("region=eu-1/{BROKER}")).unwrap();
    assert_eq!(
        shown(&broker),
        ("DEGRADED".into(), "CONFIRMED".into(), "WARNING".into()),
        "the child's status and confidence are kept"
    );
    let reading = &broker["readings"][0];
    assert_eq!(reading["rule"], "federation", "{reading}");
    assert_eq!(reading["source"], "central-eu-1", "{reading}");
    assert_eq!(
        reading["evidence"]["values"]["under_replicated_partitions"], 2.0,
        "the evidence travels: {reading}"
    );
    // What the broker cell came with: its path through the tiers, the child's situation and
    // the child's incident (its key derived from the child's id and incident number).
    let federated = get_json(api, "/api/v1/federation").expect("the federation view");
    let came = &federated[&format!("region=eu-1/{BROKER}")];
    assert_eq!(
        came["origin"],
        serde_json::json!(["sidecar-eu", "central-eu-1"]),
        "{came}"
    );
    assert_eq!(came["child"], "central-eu-1");
    assert_eq!(came["situation"]["situation"], "WARNING", "{came}");
    assert!(
        came["incident"]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("central-eu-1#")),
        "{came}"
    );
    assert_eq!(came["incident"]["root_cause"], BROKER, "{came}");
    let eu_cluster = cell(api, "region=eu-1/cluster=prod").unwrap();
    assert_eq!(shown(&eu_cluster).2, "WARNING", "{eu_cluster}");
    let incident_id = incident["id"].as_u64().unwrap();
    assert_eq!(
        incident_id, story_id,
        "the us producer joined the story's incident"
    );

    // A regional central killed and restarted: it rebuilds from its sidecar's resends; the
    // global view neither loses the region nor opens a second incident.
    // Dropping the collector kills its process (no graceful stop).
    drop(eu_regional);
    let restarted = start_regional("eu-1", eu_intake, global_intake);
    let before = global.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]);
    wait_for(
        "the restarted regional federating again",
        Duration::from_secs(15),
        || {
            let now = global.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]);
            let broker = cell(api, &format!("region=eu-1/{BROKER}"))?;
            if now > before + 2.0 && broker["stale"] == false {
                Ok(())
            } else {
                Err(format!("received {before} -> {now}, broker {broker}"))
            }
        },
    );
    // Past a resend or two of the rebuilt regional.
    std::thread::sleep(Duration::from_secs(3));
    let (open, closed) = incidents(api).unwrap();
    assert_eq!(
        open.iter().map(|i| i["id"].as_u64()).collect::<Vec<_>>(),
        vec![Some(incident_id)],
        "still the one incident: {open:?}"
    );
    assert!(
        closed.is_empty(),
        "nothing closed by the restart: {closed:?}"
    );
    assert_eq!(
        shown(&cell(api, &format!("region=eu-1/{BROKER}")).unwrap()).0,
        "DEGRADED"
    );
    assert_eq!(
        global.metric("kafka_obs_hierarchy_incidents_opened_total", &[]),
        1.0
    );

    // Recovery: both conditions clear at the sidecars; the global view follows within the
    // windows (three tiers of 2 s damping, 3 s close_after, 200 ms federation intervals).
    // The JVM's recovery: UnderReplicatedPartitions 2, 1, 1, 0, 0.
    scenario.phase("recovery").unwrap();
    scenario.ticks(5).unwrap();
    scenario.phase("normal").unwrap();
    scenario.tick().unwrap();
    us.send(&[signal(
        PRODUCER,
        SignalKind::Queues(queues::Sign::Overflow).recovery(),
        Evidence::rule("P1").with("utilization", 0.2),
        "order-service-pod-1",
    )
    .in_phase(Phase::Recovery)]);
    let recovered = Instant::now();
    wait_for(
        "the recovery in the global view",
        Duration::from_secs(30),
        || {
            heartbeat(&us);
            let (open, closed) = incidents(api)?;
            let eu = shown(&cell(api, "region=eu-1/cluster=prod")?);
            let us = shown(&cell(api, "region=us-1/cluster=prod")?);
            if open.is_empty() && closed.len() == 1 && eu.2 == "NORMAL" && us.2 == "NORMAL" {
                Ok(())
            } else {
                Err(format!(
                    "open {} closed {} eu {eu:?} us {us:?}",
                    open.len(),
                    closed.len()
                ))
            }
        },
    );
    let took = recovered.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "recovery took {took:?}, beyond three tiers' windows"
    );
    assert_eq!(
        global.metric("kafka_obs_hierarchy_incidents_closed_total", &[]),
        1.0,
        "closed once"
    );
    let actions: Vec<String> = hook
        .alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["annotations"]["action"].as_str().unwrap_or(""),
                a["labels"]["incident_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("open ")).count(),
        2,
        "one open per global process, both the same alert: {actions:?}"
    );
    assert!(
        actions.contains(&format!("close {story_id}")),
        "the close of the same alert: {actions:?}"
    );
    assert_eq!(
        global.metric(
            "kafka_obs_hierarchy_federation_refused_total",
            &["reason=\"cycle\""]
        ),
        0.0
    );
    drop(restarted);
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// A hierarchy that federates into `parent` with `max_cells_per_child`, and feeds OTLP signal
/// events in on `otlp`.
fn start_looped(name: &str, intake: u16, otlp: u16, parent: u16, max_cells: usize) -> Collector {
    Collector::start(&format!(
        r#"
receivers:
  signals/in:
    endpoint: 127.0.0.1:{intake}
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{otlp}}}
connectors:
  hierarchy:
    source_id: {name}
    {WINDOWS}
    api: {{enabled: false}}
    notify: {{log: false}}
    federation: {{max_cells_per_child: {max_cells}}}
    federate:
      pipeline: logs/federation
      level: client
      {FEDERATE}
exporters:
  signals/parent:
    endpoint: http://127.0.0.1:{parent}
service:
  pipelines:
    logs/in:
      receivers: [signals/in, otlp]
      exporters: [hierarchy]
    logs/federation:
      receivers: [hierarchy]
      exporters: [signals/parent]
"#
    ))
}

/// Two hierarchies federating into each other: each refuses its own cells coming back
/// (counted as `cycle`), and a child beyond `max_cells_per_child` is refused (counted) while
/// the cells it already has keep updating.
#[test]
fn a_loop_is_refused_and_a_child_is_bounded() {
    let (a_in, b_in, a_otlp, b_otlp) = (free_port(), free_port(), free_port(), free_port());
    let a = start_looped("hier-a", a_in, a_otlp, b_in, 1000);
    // b takes at most 3 cells from a.
    let b = start_looped("hier-b", b_in, b_otlp, a_in, 3);
    let sender = SignalSender::new(a_otlp);
    let paths = [
        "cluster=loop/broker=1",
        "cluster=loop/broker=2",
        "cluster=loop/broker=3",
        "cluster=loop/broker=4",
        "cluster=loop/broker=5",
    ];
    let send = |sign| {
        let signals: Vec<Signal> = paths
            .iter()
            .map(|p| {
                signal(
                    p,
                    SignalKind::Statuses(sign, statuses::Confidence::Confirmed),
                    Evidence::rule("H"),
                    "broker",
                )
            })
            .collect();
        sender.send(&signals);
    };
    send(statuses::Sign::Stable);
    wait_for(
        "a's cells back at a refused as a cycle, b bounded",
        Duration::from_secs(20),
        || {
            let cycle = a.metric(
                "kafka_obs_hierarchy_federation_refused_total",
                &["reason=\"cycle\""],
            );
            let bounded = b.metric(
                "kafka_obs_hierarchy_federation_refused_total",
                &["reason=\"max_cells_per_child\""],
            );
            let admitted = b.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]);
            if cycle > 0.0 && bounded > 0.0 && admitted >= 3.0 {
                Ok(())
            } else {
                Err(format!(
                    "cycle {cycle}, bounded {bounded}, admitted {admitted}"
                ))
            }
        },
    );
    // a never took anything from b: everything b has came from a.
    assert_eq!(
        a.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]),
        0.0
    );
    // b has exactly three of a's cells (plus the cluster they made and the root) ...
    assert_eq!(
        b.metric("kafka_obs_hierarchy_cells", &[]),
        5.0,
        "{}",
        b.stderr()
    );
    // ... which keep updating: a change reaches b while the refusals go on.
    let before = b.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]);
    send(statuses::Sign::Degraded);
    wait_for(
        "updates of the admitted cells",
        Duration::from_secs(10),
        || {
            let now = b.metric("kafka_obs_hierarchy_federated_cells_received_total", &[]);
            let open = b.metric("kafka_obs_hierarchy_incidents_open", &[]);
            if now > before && open >= 1.0 {
                Ok(())
            } else {
                Err(format!("received {before} -> {now}, open incidents {open}"))
            }
        },
    );
    assert!(a.stderr().contains("refused a federated cell"), "logged");
}
