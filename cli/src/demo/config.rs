//! The demo's configuration: an ordinary kafka-obs YAML written to the work directory (so a
//! user can read it and run it by hand), holding a sidecar pipeline per service JVM and the
//! central pipeline in one process.
//!
//! How the sidecars reach the central side is the `--via` option: `memory` (a connector, no
//! network), `otlp` (the sidecars' `otlp` exporter to the central `otlp` receiver on loopback)
//! or `kafka` (the sidecars' `kafka` exporter to a topic, read back by the central `kafka`
//! receiver: "Kafka monitoring Kafka").

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::story::{INVENTORY, ORDER};

/// How signals travel from the sidecars to the central side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Memory,
    Otlp { port: u16 },
    Kafka { brokers: String, topic: String },
}

pub struct Targets<'a> {
    /// `(service, jmx port, target_system)` per JVM.
    pub jvms: &'a [(String, u16, &'static str)],
    pub interval: Duration,
    pub web: SocketAddr,
    pub work: &'a Path,
    pub via: &'a Via,
    pub windows: Windows,
}

/// The configuration's time windows. They are all multiples of the poll interval (which
/// shrinks with `--speed`), so the story looks the same at every speed, and they are short
/// enough that the recovery chapter shows the tree turning green and the incident closing:
/// the defaults (1 m damping, 5 m before an incident closes, a rebalance storm of 60 s) suit a
/// production cluster, not a three-minute story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Sidecar: a subject without data this long is stale.
    pub subject_stale: Duration,
    /// Sidecar: rebalances closer than this are a storm (C9); one storm of the story's
    /// rebalances (every third tick) and quiet again soon after it.
    pub rebalance_storm: Duration,
    /// Sidecar: failed orders closer than this are a burst (E1); the burst ends this long
    /// after the last one.
    pub error_burst: Duration,
    /// Central: a cell without news this long drops out of its parent's roll-up.
    pub cell_stale: Duration,
    /// Central: a better status is shown once it held this long.
    pub clear_after: Duration,
    /// Central: an incident closes once every member was out of trouble this long.
    pub close_after: Duration,
    /// Central: the engine's clock and the live view's refresh.
    pub tick: Duration,
}

impl Windows {
    pub fn for_interval(interval: Duration) -> Self {
        Self {
            subject_stale: interval * 15,
            rebalance_storm: interval * 5,
            error_burst: interval * 5,
            cell_stale: interval * 10,
            clear_after: interval * 3,
            close_after: interval * 4,
            tick: interval / 4,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

pub fn yaml(t: &Targets<'_>) -> String {
    let mut y = String::new();
    let w = &t.windows;
    let interval = ms(t.interval);
    let work = t.work.display();
    y.push_str("# Written by `kafka-obs demo`; run it by hand with `kafka-obs --config <this file>`.\nreceivers:\n");
    for (service, port, target) in t.jvms {
        let _ = writeln!(
            y,
            "  jmx/{service}:
    endpoint: 127.0.0.1:{port}
    target_system: {target}
    collection_interval: {interval}
    initial_delay: 0s
    resource_attributes:
      kafka.cluster: demo"
        );
        if *target == "kafka,jvm" {
            // A broker is a broker cell, not a service; name its instance (default: the
            // JMX endpoint, a random port here).
            let _ = writeln!(
                y,
                "      broker.id: \"1\"\n      service.instance.id: {service}"
            );
        } else {
            let _ = writeln!(
                y,
                "      service.name: {service}\n      service.instance.id: {service}-0"
            );
        }
    }
    // order-service's application log (applog.rs), a Java log with multi-line stack traces.
    let _ = writeln!(
        y,
        "  filelog/{ORDER}:
    include: [{log}]
    start_at: beginning
    poll_interval: {interval}
    multiline:
      line_start_pattern: '^\\d{{2}}:\\d{{2}}:\\d{{2}} '
    operators:
      - type: regex_parser
        regex: '^(?P<time>\\S+) (?P<level>[A-Z]+) \\[(?P<thread>[^\\]]+)\\]'
        severity:
          parse_from: attributes.level",
        log = crate::demo::applog::path(t.work).display(),
    );
    // inventory-service's container (cgroup.rs): its memory against its limit.
    let _ = writeln!(
        y,
        "  cgroup/{INVENTORY}:
    root_path: {root}
    collection_interval: {interval}
    resource_attributes:
      kafka.cluster: demo
      service.name: {INVENTORY}
      service.instance.id: {INVENTORY}-0",
        root = crate::demo::cgroup::root(t.work).display(),
    );
    match t.via {
        Via::Memory => {}
        Via::Otlp { port } => {
            let _ = writeln!(
                y,
                "  otlp/central:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}"
            );
        }
        Via::Kafka { brokers, topic } => {
            let _ = writeln!(
                y,
                "  kafka/central:
    brokers: [{brokers}]
    topic: {topic}
    group_id: kafka-obs-demo
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s"
            );
        }
    }
    let _ = writeln!(
        y,
        "
connectors:
  # Windows in proportion to the poll interval, so the story's recovery fits in it (the
  # defaults suit production: rebalance_storm_interval 60s, hierarchy stale_after 3m,
  # clear_after 1m, close_after 5m).
  signals:
    stale_after: {stale}
    packs:
      kafka-producer:
      kafka-consumer:
        rebalance_storm_interval: {storm}
      kafka:
      jvm:
      targets:
      container:
      exceptions:
        burst_count: 5
        burst_window: {burst}
  hierarchy:
    stale_after: {cell_stale}
    tick_interval: {tick}
    damping:
      clear_after: {clear}
    incidents:
      close_after: {close}
    api:
      endpoint: {web}
      publish_interval: {tick}
",
        stale = ms(w.subject_stale),
        storm = ms(w.rebalance_storm),
        burst = ms(w.error_burst),
        cell_stale = ms(w.cell_stale),
        clear = ms(w.clear_after),
        close = ms(w.close_after),
        tick = ms(w.tick),
        web = t.web,
    );
    // The log's records name the same service instance as its JMX (the same cell).
    let _ = writeln!(
        y,
        "processors:
  resource/{ORDER}-log:
    attributes:
      - {{key: kafka.cluster, value: demo, action: upsert}}
      - {{key: service.name, value: {ORDER}, action: upsert}}
      - {{key: service.instance.id, value: {ORDER}-0, action: upsert}}"
    );
    y.push_str("exporters:\n");
    let _ = writeln!(
        y,
        "  file/signals:
    path: {work}/signals.jsonl
  file/central:
    path: {work}/central.jsonl"
    );
    let (sidecar_out, central_in) = match t.via {
        Via::Memory => ("hierarchy", "signals"),
        Via::Otlp { port } => {
            let _ = writeln!(
                y,
                "  otlp/sidecar:
    endpoint: http://127.0.0.1:{port}
    tls: {{insecure: true}}"
            );
            ("otlp/sidecar", "otlp/central")
        }
        Via::Kafka { brokers, topic } => {
            let _ = writeln!(
                y,
                "  kafka/sidecar:
    brokers: [{brokers}]
    logs:
      topic: {topic}"
            );
            ("kafka/sidecar", "kafka/central")
        }
    };
    let mut receivers: Vec<String> = t.jvms.iter().map(|(s, _, _)| format!("jmx/{s}")).collect();
    receivers.push(format!("cgroup/{INVENTORY}"));
    let _ = writeln!(
        y,
        "
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: none
  pipelines:
    metrics/sidecars:
      receivers: [{receivers}]
      exporters: [signals]
    logs/{ORDER}-app:
      receivers: [filelog/{ORDER}]
      processors: [resource/{ORDER}-log]
      exporters: [signals]
    logs/sidecars:
      receivers: [signals]
      exporters: [{sidecar_out}, file/signals]",
        receivers = receivers.join(", "),
    );
    if *t.via != Via::Memory {
        let _ = writeln!(
            y,
            "    logs/central:
      receivers: [{central_in}]
      exporters: [hierarchy]"
        );
    }
    y.push_str(
        "    logs/incidents:
      receivers: [hierarchy]
      exporters: [file/central]
",
    );
    y
}
