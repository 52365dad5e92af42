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
    /// Cell staleness etc. scale with the story's speed.
    pub stale_after: Duration,
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

pub fn yaml(t: &Targets<'_>) -> String {
    let mut y = String::new();
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
  signals:
    stale_after: {stale}
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
        stale = ms(t.stale_after * 3),
        cell_stale = ms(t.stale_after * 2),
        clear = ms(t.interval * 3),
        close = ms(t.interval * 5),
        tick = ms(t.interval / 4),
        web = t.web,
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
    let receivers: Vec<String> = t.jvms.iter().map(|(s, _, _)| format!("jmx/{s}")).collect();
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
