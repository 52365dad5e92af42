//! Scenario tests of the whole engine, one file per subject: `observe.rs` (readings),
//! `report.rs` (roll-up, damping, situations, variability), `stale.rs` (staleness, eviction,
//! dropped clusters), `incidents.rs` (correlation: the seed's "Order-123 failed"),
//! `actions.rs` (notifications), `queries.rs` (snapshots, export), `recovery.rs` (the way
//! back), `controller.rs` (B3). This file holds their shared helpers and fixtures. Property
//! tests are in `props.rs`.

#![allow(clippy::field_reassign_with_default)]

use std::time::Duration;

use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject, actors, counters, probes, queues, situations,
    statuses::{Confidence, Sign},
};

use crate::{
    Action, ActionKind, Event, Hierarchy, HierarchyConfig, Incident, IncidentState, Ingested,
    Status, Suppression,
};

mod actions;
mod controller;
mod federation;
mod groups;
mod incidents;
mod observe;
mod queries;
mod recovery;
mod report;
mod stale;

pub(crate) const S: u64 = 1_000_000_000;
/// A start time far from zero, as real clocks are.
pub(crate) const T0: u64 = 1_700_000_000 * S;

pub(crate) fn subject(text: &str) -> Subject {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub(crate) fn status(path: &str, sign: Sign, confidence: Confidence, rule: &str, t: u64) -> Signal {
    Signal::new(
        subject(path),
        SignalKind::Statuses(sign, confidence),
        Evidence::rule(rule),
        t,
    )
    .from_source("sidecar-1")
}

/// A healthy cell's status signal (rule `x`).
fn healthy(path: &str, t: u64) -> Signal {
    status(path, Sign::Stable, Confidence::Confirmed, "x", t)
}

fn engine(config: HierarchyConfig) -> Hierarchy {
    Hierarchy::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn default_engine() -> Hierarchy {
    engine(HierarchyConfig::default())
}

/// Feeds a signal whose timestamp is the engine time, checking the invariants after.
fn feed(h: &mut Hierarchy, signal: &Signal) -> Vec<Event> {
    let events = h.ingest(signal, signal.time_unix_nano);
    if let Err(e) = h.check() {
        panic!("invariant broken after {}: {e}", signal.subject.qualified());
    }
    events
}

fn tick(h: &mut Hierarchy, now: u64) -> Vec<Event> {
    let events = h.tick(now);
    if let Err(e) = h.check() {
        panic!("invariant broken after tick: {e}");
    }
    events
}

fn shown(h: &Hierarchy, path: &str) -> Option<Status> {
    h.lookup(&subject(path))
        .and_then(|id| h.view(id))
        .and_then(|v| v.status)
}

fn rolled(h: &Hierarchy, path: &str) -> Option<Status> {
    h.lookup(&subject(path))
        .and_then(|id| h.view(id))
        .and_then(|v| v.rolled)
}

fn situation(h: &Hierarchy, path: &str) -> Option<crate::Situation> {
    h.lookup(&subject(path))
        .and_then(|id| h.view(id))
        .map(|v| v.situation)
}

fn actions(events: &[Event]) -> Vec<&Action> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Action(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect()
}

fn opened(events: &[Event]) -> Vec<&Incident> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IncidentOpened(i) => Some(i.as_ref()),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Event]) -> Vec<&Incident> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IncidentClosed(i) => Some(i.as_ref()),
            _ => None,
        })
        .collect()
}

const fn st(sign: Sign, confidence: Confidence) -> Status {
    Status::new(sign, confidence)
}

// ---- the seed's "Order-123 failed": fixtures for incidents, actions and queries ----------

const BROKER: &str = "cluster=prod/broker=2";
const PRODUCER: &str = "cluster=prod/service=order-service/instance=pod-1/client=order-producer";
const SERVICE: &str = "cluster=prod/service=order-service/instance=pod-1";

/// The healthy picture before the failure: broker 2 hosts `orders`, broker 1 `payments`,
/// the order producer writes `orders`.
fn healthy_cluster(h: &mut Hierarchy, t: u64) {
    for path in [
        "cluster=prod/broker=2/topic=orders/partition=0",
        "cluster=prod/broker=1/topic=payments/partition=0",
        "cluster=prod/service=order-service/instance=pod-1/client=order-producer/topic=orders",
        "cluster=prod/service=payment-service/instance=pod-9/client=payment-consumer/topic=payments",
    ] {
        feed(
            h,
            &status(path, Sign::Stable, Confidence::Confirmed, "H", t),
        );
    }
}

fn broker_lost_isr(t: u64) -> Signal {
    Signal::new(
        subject(BROKER),
        SignalKind::Statuses(Sign::Degraded, Confidence::Confirmed),
        Evidence::rule("B1")
            .with("under_replicated_partitions", 2.0)
            .threshold(0.0),
        t,
    )
    .from_source("broker-2-sidecar")
}

fn producer_buffer_pressure(t: u64) -> Signal {
    Signal::new(
        subject(PRODUCER),
        SignalKind::Queues(queues::Sign::Overflow),
        Evidence::rule("P1")
            .with("utilization", 0.97)
            .threshold(0.95),
        t,
    )
    .from_source("order-service-pod-1")
}

fn validation_failures(t: u64) -> Signal {
    Signal::new(
        subject(SERVICE),
        SignalKind::Probes(probes::Sign::Fail, probes::Dimension::Outbound),
        Evidence::rule("A2").with("order-validation-failures", 5.0),
        t,
    )
    .from_source("order-service-pod-1")
}

fn chain_names(incident: &Incident) -> Vec<&str> {
    incident.chain.iter().map(|l| l.name.as_str()).collect()
}

// ---- the engine as a whole ---------------------------------------------------------------

#[test]
fn a_time_going_backwards_is_clamped() {
    let mut h = default_engine();
    feed(
        &mut h,
        &status(
            BROKER,
            Sign::Stable,
            Confidence::Confirmed,
            "B1",
            T0 + 10 * S,
        ),
    );
    h.ingest(
        &status(BROKER, Sign::Degraded, Confidence::Confirmed, "B1", T0),
        T0,
    );
    h.check().unwrap_or_else(|e| panic!("{e}"));
    let view = h
        .lookup(&subject(BROKER))
        .and_then(|id| h.view(id))
        .expect("exists");
    assert_eq!(view.last_update_ns, T0 + 10 * S);
}

#[test]
fn the_engine_can_move_between_threads() {
    fn send<T: Send + Sync>() {}
    send::<Hierarchy>();
    send::<Event>();
}
