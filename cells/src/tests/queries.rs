//! Queries and export: snapshots serialize for the JSON API, events become signals.

#![allow(clippy::field_reassign_with_default)]

use super::*;

#[test]
fn snapshots_serialize_for_the_json_api() {
    let mut h = default_engine();
    healthy_cluster(&mut h, T0);
    feed(&mut h, &broker_lost_isr(T0 + S));
    let tree = h.tree(&Subject::root(), 2).expect("root");
    assert_eq!(tree.cell.path, "");
    assert_eq!(tree.nodes.len(), 1);
    assert_eq!(tree.nodes[0].cell.path, "cluster=prod");
    let brokers: Vec<&str> = tree.nodes[0]
        .nodes
        .iter()
        .map(|n| n.cell.name.as_str())
        .collect();
    assert_eq!(brokers, vec!["1", "2", "order-service", "payment-service"]);
    assert!(tree.nodes[0].nodes[0].nodes.is_empty(), "depth limit");
    let json = serde_json::to_value(&tree).unwrap_or_default();
    assert_eq!(json["nodes"][0]["path"], "cluster=prod");
    assert_eq!(json["nodes"][0]["status"]["status"], "DEGRADED");
    assert_eq!(json["nodes"][0]["status"]["confidence"], "CONFIRMED");
    assert_eq!(json["nodes"][0]["situation"]["situation"], "WARNING");
    assert_eq!(json["nodes"][0]["kind"], "cluster");

    let detail = h.detail(&subject(BROKER)).expect("exists");
    let json = serde_json::to_value(&detail).unwrap_or_default();
    assert_eq!(json["readings"][0]["signal"], "Statuses.DEGRADED.CONFIRMED");
    assert_eq!(
        json["readings"][0]["evidence"]["values"]["under_replicated_partitions"],
        2.0
    );
    assert_eq!(json["readings"][0]["source"], "broker-2-sidecar");
    assert_eq!(json["trouble_since_unix_nano"], T0 + S);
    assert_eq!(json["children"][0], "cluster=prod/broker=2/topic=orders");
    let incidents = serde_json::to_value(h.incidents()).unwrap_or_default();
    assert_eq!(incidents["open"][0]["situation"], "WARNING");
    assert_eq!(
        incidents["open"][0]["chain"][0]["peak"]["status"],
        "DEGRADED"
    );
    assert_eq!(h.cells().count(), h.len());
    assert!(h.cells().all(|c| c.cluster == "prod" || c.path.is_empty()));
}

#[test]
fn events_become_signals_for_export() {
    let mut h = default_engine();
    let events = feed(&mut h, &broker_lost_isr(T0));
    let signals: Vec<Signal> = events.iter().filter_map(|e| h.signal_for(e)).collect();
    let broker = subject(BROKER);
    assert!(signals.iter().any(|s| s.subject == broker
        && s.kind == SignalKind::Statuses(Sign::Degraded, Confidence::Confirmed)
        && s.source_id == "kafka-obs-central"));
    assert!(signals.iter().any(|s| s.subject == subject("cluster=prod")
        && s.kind
            == SignalKind::Situations(
                situations::Sign::Warning,
                situations::Variability::Constant
            )));
    assert!(
        signals
            .iter()
            .any(|s| s.kind == SignalKind::Actors(actors::Sign::Report)
                && s.attributes.get("action").map(String::as_str) == Some("notify_open"))
    );
}
