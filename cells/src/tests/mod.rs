//! Scenario tests of the whole engine: roll-up, staleness, damping, variability, incidents,
//! correlation (the seed's "Order-123 failed" example), notifications, eviction, queries.
//! Property tests are in `props.rs`.

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

mod controller;
mod recovery;

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

// ---- roll-up ---------------------------------------------------------------------------------

#[test]
fn cells_are_created_from_subjects_and_roll_up_the_worst_live_child() {
    let mut h = default_engine();
    let p0 = "cluster=prod/broker=1/topic=orders/partition=0";
    let p1 = "cluster=prod/broker=1/topic=orders/partition=1";
    feed(
        &mut h,
        &status(p0, Sign::Stable, Confidence::Confirmed, "I1", T0),
    );
    assert_eq!(h.len(), 5, "root, cluster, broker, topic, partition");
    feed(
        &mut h,
        &status(p1, Sign::Degraded, Confidence::Measured, "I1", T0),
    );
    for path in [
        "cluster=prod",
        "cluster=prod/broker=1",
        "cluster=prod/broker=1/topic=orders",
    ] {
        assert_eq!(
            rolled(&h, path),
            Some(st(Sign::Degraded, Confidence::Measured)),
            "{path}"
        );
    }
    // A late healthy sibling does not hide the sick one.
    feed(
        &mut h,
        &status(p0, Sign::Stable, Confidence::Confirmed, "I1", T0 + S),
    );
    assert_eq!(
        rolled(&h, "cluster=prod"),
        Some(st(Sign::Degraded, Confidence::Measured))
    );
    // Confidence is carried up: of two DEGRADED children the surer one wins.
    let p2 = "cluster=prod/broker=1/topic=orders/partition=2";
    feed(
        &mut h,
        &status(p2, Sign::Degraded, Confidence::Confirmed, "I1", T0 + S),
    );
    assert_eq!(
        rolled(&h, "cluster=prod"),
        Some(st(Sign::Degraded, Confidence::Confirmed))
    );
    // The sick readings are replaced by healthy ones of the same key: the roll-up recovers
    // at once, the shown status after the damping hold.
    feed(
        &mut h,
        &status(p1, Sign::Stable, Confidence::Confirmed, "I1", T0 + 2 * S),
    );
    feed(
        &mut h,
        &status(p2, Sign::Stable, Confidence::Confirmed, "I1", T0 + 2 * S),
    );
    assert_eq!(
        rolled(&h, "cluster=prod"),
        Some(st(Sign::Stable, Confidence::Confirmed))
    );
    assert_eq!(
        shown(&h, "cluster=prod"),
        Some(st(Sign::Degraded, Confidence::Confirmed))
    );
    tick(&mut h, T0 + 63 * S);
    assert_eq!(
        shown(&h, "cluster=prod"),
        Some(st(Sign::Stable, Confidence::Confirmed))
    );
}

#[test]
fn readings_are_kept_per_instrument_rule_and_source() {
    let mut h = default_engine();
    let client = "cluster=prod/service=orders/instance=pod-1/client=order-producer";
    feed(
        &mut h,
        &status(client, Sign::Degraded, Confidence::Measured, "P11", T0),
    );
    // Another rule says STABLE: it does not replace P11's reading.
    feed(
        &mut h,
        &status(client, Sign::Stable, Confidence::Confirmed, "P8", T0 + S),
    );
    // Another source with the same rule does not either.
    let other =
        status(client, Sign::Stable, Confidence::Confirmed, "P11", T0 + S).from_source("sidecar-2");
    feed(&mut h, &other);
    let detail = h.detail(&subject(client)).expect("cell exists");
    assert_eq!(detail.readings.len(), 3);
    assert_eq!(
        detail.cell.own,
        Some(st(Sign::Degraded, Confidence::Measured))
    );
    // The same key replaces.
    feed(
        &mut h,
        &status(
            client,
            Sign::Stable,
            Confidence::Confirmed,
            "P11",
            T0 + 2 * S,
        ),
    );
    let detail = h.detail(&subject(client)).expect("cell exists");
    assert_eq!(detail.readings.len(), 3);
    assert_eq!(
        detail.cell.own,
        Some(st(Sign::Stable, Confidence::Confirmed))
    );
}

#[test]
fn instrument_signs_read_as_default_statuses_with_scorecard_confidence() {
    let mut h = default_engine();
    let client = "cluster=prod/service=orders/instance=pod-1/client=order-producer";
    let overflow = |t| {
        Signal::new(
            subject(client),
            SignalKind::Queues(queues::Sign::Overflow),
            Evidence::rule("P1")
                .with("utilization", 0.97)
                .threshold(0.95),
            t,
        )
    };
    assert_eq!(
        h.ingest_into(&overflow(T0), T0, &mut Vec::new()),
        Ingested::Applied
    );
    // One sample is only TENTATIVE.
    let own = |h: &Hierarchy| h.detail(&subject(client)).and_then(|d| d.cell.own);
    assert_eq!(own(&h), Some(st(Sign::Degraded, Confidence::Tentative)));
    for i in 1..6 {
        feed(&mut h, &overflow(T0 + i * S));
    }
    assert_eq!(own(&h), Some(st(Sign::Degraded, Confidence::Confirmed)));
    // A sign without a reading of another key is not stored.
    let count = Signal::new(
        subject(client),
        SignalKind::Counters(counters::Sign::Increment),
        Evidence::rule("P5").with("delta", 1.0),
        T0 + 7 * S,
    );
    assert_eq!(
        h.ingest_into(&count, T0 + 7 * S, &mut Vec::new()),
        Ingested::NoReading
    );
    assert_eq!(
        h.detail(&subject(client)).map(|d| d.readings.len()),
        Some(1)
    );
    // ... but one of the same key clears the reading.
    let enqueue = Signal::new(
        subject(client),
        SignalKind::Queues(queues::Sign::Enqueue),
        Evidence::rule("P1").with("utilization", 0.5),
        T0 + 8 * S,
    );
    assert_eq!(
        h.ingest_into(&enqueue, T0 + 8 * S, &mut Vec::new()),
        Ingested::Applied
    );
    assert_eq!(own(&h), None);
    assert_eq!(h.stats().no_reading, 1);
}

#[test]
fn observer_overrides_change_the_readings() {
    let mut config = HierarchyConfig::default();
    config
        .observer
        .readings
        .insert("Queues.ENQUEUE".into(), "STABLE".into());
    config
        .observer
        .readings
        .insert("Probes.FAIL.OUTBOUND".into(), "DEFECTIVE".into());
    let mut h = engine(config);
    let client = "cluster=prod/service=orders/instance=pod-1/client=c";
    let fail = Signal::new(
        subject(client),
        SignalKind::Probes(probes::Sign::Fail, probes::Dimension::Outbound),
        Evidence::rule("P9"),
        T0,
    );
    feed(&mut h, &fail);
    assert_eq!(
        h.detail(&subject(client))
            .and_then(|d| d.cell.own)
            .map(|s| s.sign),
        Some(Sign::Defective)
    );
    let enqueue = Signal::new(
        subject(client),
        SignalKind::Queues(queues::Sign::Enqueue),
        Evidence::rule("P3"),
        T0,
    );
    assert_eq!(
        h.ingest_into(&enqueue, T0, &mut Vec::new()),
        Ingested::Applied
    );
}

#[test]
fn readings_fade_after_their_ttl() {
    let mut config = HierarchyConfig::default();
    config.observer.reading_ttl = Duration::from_secs(60);
    config.stale_after = Duration::from_secs(600);
    config.forget_after = Duration::from_secs(3600);
    let mut h = engine(config);
    let client = "cluster=prod/service=orders/instance=pod-1/client=c";
    let overflow = Signal::new(
        subject(client),
        SignalKind::Queues(queues::Sign::Overflow),
        Evidence::rule("P1"),
        T0,
    );
    feed(&mut h, &overflow);
    // Keep the cell fresh with a healthy status of another rule.
    feed(
        &mut h,
        &status(
            client,
            Sign::Stable,
            Confidence::Confirmed,
            "P11",
            T0 + 30 * S,
        ),
    );
    assert_eq!(rolled(&h, client).map(|s| s.sign), Some(Sign::Degraded));
    tick(&mut h, T0 + 59 * S);
    assert_eq!(rolled(&h, client).map(|s| s.sign), Some(Sign::Degraded));
    tick(&mut h, T0 + 61 * S);
    assert_eq!(rolled(&h, client).map(|s| s.sign), Some(Sign::Stable));
    assert_eq!(
        rolled(&h, "cluster=prod").map(|s| s.sign),
        Some(Sign::Stable)
    );
    let detail = h.detail(&subject(client)).expect("exists");
    assert!(detail.readings.iter().any(|r| r.expired && r.rule == "P1"));
}

// ---- staleness ------------------------------------------------------------------------------

#[test]
fn a_vanished_partition_goes_stale_and_stops_keeping_the_cluster_red() {
    let mut config = HierarchyConfig::default();
    config.stale_after = Duration::from_secs(180);
    config.damping.clear_after = Duration::from_secs(60);
    let mut h = engine(config);
    let gone = "cluster=prod/broker=1/topic=orders/partition=7";
    let alive = "cluster=prod/broker=1/topic=orders/partition=0";
    feed(
        &mut h,
        &status(gone, Sign::Defective, Confidence::Confirmed, "I1", T0),
    );
    assert_eq!(
        situation(&h, "cluster=prod").map(|s| s.sign),
        Some(situations::Sign::Critical)
    );
    // The healthy partition keeps reporting; the sick one vanished.
    let mut events = Vec::new();
    for i in 0..=30 {
        let t = T0 + i * 10 * S;
        events.extend(feed(
            &mut h,
            &status(alive, Sign::Stable, Confidence::Confirmed, "I1", t),
        ));
        events.extend(tick(&mut h, t));
    }
    let id = h.lookup(&subject(gone)).expect("still shown");
    let view = h.view(id).expect("view");
    assert!(view.stale);
    assert_eq!(
        view.status.map(|s| s.sign),
        Some(Sign::Defective),
        "frozen as it was"
    );
    assert!(events.iter().any(|e| matches!(e,
        Event::StaleChanged { cell, stale: true, .. } if *cell == id)));
    // Went stale at +180 s; the cluster shows STABLE clear_after (60 s) later.
    assert_eq!(
        rolled(&h, "cluster=prod").map(|s| s.sign),
        Some(Sign::Stable)
    );
    assert_eq!(
        shown(&h, "cluster=prod").map(|s| s.sign),
        Some(Sign::Stable)
    );
    assert_eq!(
        situation(&h, "cluster=prod").map(|s| s.sign),
        Some(situations::Sign::Normal)
    );
    // News brings it back into the roll-up.
    let t = T0 + 301 * S;
    let back = feed(
        &mut h,
        &status(gone, Sign::Degraded, Confidence::Measured, "I1", t),
    );
    assert!(
        back.iter()
            .any(|e| matches!(e, Event::StaleChanged { stale: false, .. }))
    );
    assert_eq!(
        rolled(&h, "cluster=prod").map(|s| s.sign),
        Some(Sign::Degraded)
    );
}

#[test]
fn stale_cells_are_forgotten_and_their_names_freed() {
    let mut config = HierarchyConfig::default();
    config.stale_after = Duration::from_secs(60);
    config.forget_after = Duration::from_secs(120);
    let mut h = engine(config);
    let baseline = h.stats().strings;
    for p in 0..10 {
        let path = format!("cluster=prod/broker=1/topic=t{p}/partition={p}");
        feed(
            &mut h,
            &status(&path, Sign::Stable, Confidence::Confirmed, "I1", T0),
        );
    }
    assert_eq!(h.len(), 1 + 2 + 20);
    tick(&mut h, T0 + 61 * S);
    assert_eq!(h.stats().stale_cells, 22);
    let events = tick(&mut h, T0 + 121 * S);
    assert_eq!(h.len(), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::CellEvicted { .. }))
            .count(),
        22
    );
    assert_eq!(h.stats().forgotten_cells, 22);
    assert_eq!(h.stats().strings, baseline, "every name was released");
}

#[test]
fn max_cells_evicts_the_longest_stale_first_and_refuses_when_none_is() {
    let mut config = HierarchyConfig::default();
    config.max_cells = 6;
    config.stale_after = Duration::from_secs(60);
    let mut h = engine(config);
    feed(
        &mut h,
        &status(
            "cluster=a/broker=1",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0,
        ),
    );
    feed(
        &mut h,
        &status(
            "cluster=b/broker=1",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0 + 10 * S,
        ),
    );
    assert_eq!(h.len(), 5);
    // Full with nothing stale: refused, counted.
    let refused = h.ingest_into(
        &status(
            "cluster=c/broker=1",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0 + 20 * S,
        ),
        T0 + 20 * S,
        &mut Vec::new(),
    );
    assert_eq!(refused, Ingested::Refused);
    assert_eq!(h.stats().refused, 1);
    // cluster a goes stale first; a new cluster evicts it, not b.
    tick(&mut h, T0 + 65 * S);
    assert_eq!(h.stats().stale_cells, 2);
    let mut events = Vec::new();
    let applied = h.ingest_into(
        &status(
            "cluster=c/broker=1",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0 + 66 * S,
        ),
        T0 + 66 * S,
        &mut events,
    );
    assert_eq!(applied, Ingested::Applied);
    h.check().unwrap_or_else(|e| panic!("{e}"));
    assert!(h.lookup(&subject("cluster=a")).is_none());
    assert!(h.lookup(&subject("cluster=b/broker=1")).is_some());
    assert!(h.lookup(&subject("cluster=c/broker=1")).is_some());
    assert_eq!(h.stats().evicted_for_room, 2);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CellEvicted { path, .. } if path == "cluster=a"))
    );
}

#[test]
fn a_stale_ancestor_on_the_new_path_is_revived_not_evicted() {
    let mut config = HierarchyConfig::default();
    config.max_cells = 3;
    config.stale_after = Duration::from_secs(60);
    let mut h = engine(config);
    feed(
        &mut h,
        &status(
            "cluster=a/broker=1",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0,
        ),
    );
    tick(&mut h, T0 + 61 * S);
    // Needs one more cell under the stale cluster: the only stale candidate not on the path
    // is broker=1.
    let r = h.ingest_into(
        &status(
            "cluster=a/broker=2",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0 + 62 * S,
        ),
        T0 + 62 * S,
        &mut Vec::new(),
    );
    assert_eq!(r, Ingested::Applied);
    h.check().unwrap_or_else(|e| panic!("{e}"));
    assert!(h.lookup(&subject("cluster=a/broker=2")).is_some());
    assert!(h.lookup(&subject("cluster=a/broker=1")).is_none());
}

// ---- damping, situations, variability -------------------------------------------------------

/// A child flapping between DEGRADED and STABLE every 10 s for 5 minutes.
fn flap(h: &mut Hierarchy, path: &str, from: u64, seconds: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..seconds / 10 {
        let t = from + i * 10 * S;
        let sign = if i % 2 == 0 {
            Sign::Degraded
        } else {
            Sign::Stable
        };
        events.extend(feed(h, &status(path, sign, Confidence::Measured, "C4", t)));
        events.extend(tick(h, t + S));
    }
    events
}

#[test]
fn a_flapping_child_makes_its_parent_volatile_not_a_storm_of_notifications() {
    let mut h = default_engine();
    let flapper = "cluster=prod/service=orders/instance=pod-1/client=c1/topic=orders";
    let steady = "cluster=prod/service=orders/instance=pod-1/client=c2/topic=orders";
    feed(
        &mut h,
        &status(steady, Sign::Stable, Confidence::Confirmed, "C3", T0),
    );
    let mut events = flap(&mut h, flapper, T0, 300);
    let service = "cluster=prod/service=orders";
    let s = situation(&h, service).expect("exists");
    assert_eq!(
        s.sign,
        situations::Sign::Warning,
        "damped: the parent holds WARNING"
    );
    assert_eq!(s.variability, situations::Variability::Volatile);
    assert_eq!(
        situation(&h, flapper).map(|s| s.variability),
        Some(situations::Variability::Volatile)
    );
    // The parent's shown status changed once (to DEGRADED), not thirty times.
    let service_id = h.lookup(&subject(service)).expect("exists");
    let changes = events
        .iter()
        .filter(|e| matches!(e, Event::StatusChanged { cell, .. } if *cell == service_id))
        .count();
    assert_eq!(changes, 1);
    // It settles: STABLE from now on.
    let end = T0 + 300 * S;
    for i in 0..120 {
        let t = end + i * 10 * S;
        events.extend(feed(
            &mut h,
            &status(flapper, Sign::Stable, Confidence::Measured, "C4", t),
        ));
        events.extend(feed(
            &mut h,
            &status(steady, Sign::Stable, Confidence::Confirmed, "C3", t),
        ));
        events.extend(tick(&mut h, t + S));
    }
    let s = situation(&h, service).expect("exists");
    assert_eq!(
        s,
        crate::Situation::NORMAL,
        "variability decays after the window"
    );
    // One incident: one open, one close.
    assert_eq!(opened(&events).len(), 1);
    assert_eq!(closed(&events).len(), 1);
    let notifications: Vec<ActionKind> = actions(&events)
        .into_iter()
        .filter(|a| a.perform())
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        notifications,
        vec![ActionKind::NotifyOpen, ActionKind::NotifyClose]
    );
    assert_eq!(h.stats().incidents_opened, 1);
    assert_eq!(h.stats().incidents_closed, 1);
}

#[test]
fn damping_holds_improvements_and_raise_after_holds_worsening() {
    let mut config = HierarchyConfig::default();
    config.damping.raise_after = Duration::from_secs(20);
    config.damping.clear_after = Duration::from_secs(60);
    let mut h = engine(config);
    let p = "cluster=prod/broker=1";
    feed(
        &mut h,
        &status(p, Sign::Stable, Confidence::Confirmed, "B1", T0),
    );
    assert_eq!(
        shown(&h, p),
        None,
        "even the first status waits raise_after"
    );
    tick(&mut h, T0 + 20 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Stable));
    feed(
        &mut h,
        &status(p, Sign::Degraded, Confidence::Confirmed, "B1", T0 + 30 * S),
    );
    // A blip shorter than raise_after is never shown.
    feed(
        &mut h,
        &status(p, Sign::Stable, Confidence::Confirmed, "B1", T0 + 40 * S),
    );
    tick(&mut h, T0 + 55 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Stable));
    feed(
        &mut h,
        &status(p, Sign::Degraded, Confidence::Confirmed, "B1", T0 + 60 * S),
    );
    tick(&mut h, T0 + 79 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Stable));
    tick(&mut h, T0 + 80 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Degraded));
    feed(
        &mut h,
        &status(p, Sign::Stable, Confidence::Confirmed, "B1", T0 + 90 * S),
    );
    tick(&mut h, T0 + 149 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Degraded));
    tick(&mut h, T0 + 150 * S);
    assert_eq!(shown(&h, p).map(|s| s.sign), Some(Sign::Stable));
    let history = h.history(&subject(p)).expect("exists");
    assert!(history.len() >= 3);
    assert!(history.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
}

#[test]
fn confirmed_degraded_escalates_to_critical_when_configured() {
    let mut config = HierarchyConfig::default();
    config.reporter.escalate_confirmed_degraded = true;
    let mut h = engine(config);
    let p = "cluster=prod/broker=1";
    feed(
        &mut h,
        &status(p, Sign::Degraded, Confidence::Measured, "B1", T0),
    );
    assert_eq!(
        situation(&h, p).map(|s| s.sign),
        Some(situations::Sign::Warning)
    );
    feed(
        &mut h,
        &status(p, Sign::Degraded, Confidence::Confirmed, "B1", T0 + S),
    );
    assert_eq!(
        situation(&h, p).map(|s| s.sign),
        Some(situations::Sign::Critical)
    );
}

#[test]
fn history_is_a_bounded_ring() {
    let mut config = HierarchyConfig::default();
    config.history_len = 4;
    config.damping.clear_after = Duration::ZERO;
    let mut h = engine(config);
    let p = "cluster=prod/broker=1";
    for i in 0..20 {
        let sign = if i % 2 == 0 {
            Sign::Degraded
        } else {
            Sign::Stable
        };
        feed(
            &mut h,
            &status(p, sign, Confidence::Measured, "B1", T0 + i * S),
        );
    }
    let history = h.history(&subject(p)).expect("exists");
    assert_eq!(history.len(), 4);
    assert_eq!(history.last().map(|e| e.time_ns), Some(T0 + 19 * S));
}

// ---- correlation: the seed's "Order-123 failed" --------------------------------------------

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

#[test]
fn order_123_failed_broker_then_buffer_then_business_failures_in_that_order() {
    let mut h = default_engine();
    healthy_cluster(&mut h, T0);
    let (t0, t1, t2) = (T0 + 60 * S, T0 + 100 * S, T0 + 130 * S);
    let mut events = feed(&mut h, &broker_lost_isr(t0));
    let first = opened(&events);
    assert_eq!(first.len(), 1);
    assert_eq!(chain_names(first[0]), vec!["broker=2"]);
    let open = actions(&events);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, ActionKind::NotifyOpen);
    assert_eq!(open[0].act, actors::Sign::Report);
    assert!(open[0].perform());
    assert_eq!(
        open[0].signal.kind,
        SignalKind::Actors(actors::Sign::Report)
    );
    assert_eq!(open[0].signal.subject, subject(BROKER));
    assert_eq!(open[0].incident.chain[0].evidence[0].evidence.rule, "B1");

    events.extend(feed(&mut h, &producer_buffer_pressure(t1)));
    events.extend(feed(&mut h, &validation_failures(t2)));
    assert_eq!(opened(&events).len(), 1, "one incident, not three");
    let incidents = h.incidents();
    assert_eq!(incidents.open.len(), 1);
    let incident = &incidents.open[0];
    assert_eq!(
        chain_names(incident),
        vec![
            "broker=2",
            "service=order-service/instance=pod-1/client=order-producer",
            "service=order-service/instance=pod-1",
        ]
    );
    assert_eq!(incident.root_cause, BROKER);
    assert_eq!(incident.situation, situations::Sign::Warning);
    let e = &incident.explanation;
    let (a, b, c) = (
        e.find("broker=2 DEGRADED (Statuses.DEGRADED.CONFIRMED B1 under_replicated_partitions=2)"),
        e.find("client=order-producer DEGRADED (Queues.OVERFLOW P1 utilization=0.97)"),
        e.find("instance=pod-1 DEGRADED (Probes.FAIL.OUTBOUND A2 order-validation-failures=5)"),
    );
    assert!(a < b && b < c && a.is_some(), "{e}");
    assert!(e.contains(" -> "));
    // Every member is in the incident; the cluster above is WARNING through the roll-up only.
    for path in [BROKER, PRODUCER, SERVICE] {
        let view = h.lookup(&subject(path)).and_then(|id| h.view(id));
        assert_eq!(view.and_then(|v| v.incident), Some(incident.id), "{path}");
    }
    assert_eq!(
        h.lookup(&subject("cluster=prod"))
            .and_then(|id| h.view(id))
            .and_then(|v| v.incident),
        None
    );

    // The chain grew within update_interval of the opening: the update goes out later, once.
    assert!(
        actions(&events)
            .iter()
            .all(|a| a.kind == ActionKind::NotifyOpen)
    );
    let later = tick(&mut h, t0 + 301 * S);
    let updates = actions(&later);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].kind, ActionKind::NotifyUpdate);
    assert_eq!(updates[0].act, actors::Sign::Explain);
    assert_eq!(updates[0].incident.chain.len(), 3);

    // Recovery: all three heal; the incident closes close_after (5 m) later, with the chain.
    let t3 = t0 + 400 * S;
    let mut end = Vec::new();
    end.extend(feed(
        &mut h,
        &status(BROKER, Sign::Stable, Confidence::Confirmed, "B1", t3)
            .from_source("broker-2-sidecar"),
    ));
    end.extend(feed(
        &mut h,
        &Signal::new(
            subject(PRODUCER),
            SignalKind::Queues(queues::Sign::Enqueue),
            Evidence::rule("P1"),
            t3,
        )
        .from_source("order-service-pod-1"),
    ));
    end.extend(feed(
        &mut h,
        &Signal::new(
            subject(SERVICE),
            SignalKind::Probes(probes::Sign::Succeed, probes::Dimension::Outbound),
            Evidence::rule("A2"),
            t3,
        )
        .from_source("order-service-pod-1"),
    ));
    for i in 1..=40 {
        let t = t3 + i * 10 * S;
        for path in [BROKER, PRODUCER, SERVICE] {
            end.extend(feed(
                &mut h,
                &status(path, Sign::Stable, Confidence::Confirmed, "H", t),
            ));
        }
        end.extend(tick(&mut h, t));
    }
    let done = closed(&end);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, IncidentState::Closed);
    assert_eq!(done[0].chain.len(), 3);
    assert!(done[0].chain.iter().all(|l| l.recovered));
    let close = actions(&end);
    assert_eq!(close.len(), 1);
    assert_eq!(close[0].kind, ActionKind::NotifyClose);
    assert_eq!(close[0].act, actors::Sign::Affirm);
    assert!(close[0].perform());
    assert_eq!(
        close[0].dedupe_key,
        format!("incident-{}-close", done[0].id)
    );
    let kept = h.incidents();
    assert!(kept.open.is_empty());
    assert_eq!(kept.closed.len(), 1);
    assert_eq!(
        h.incident(done[0].id).map(|i| i.state),
        Some(IncidentState::Closed)
    );
}

#[test]
fn the_chain_follows_onset_times_even_when_signals_arrive_in_reverse() {
    let mut h = default_engine();
    healthy_cluster(&mut h, T0);
    let (t0, t1, t2) = (T0 + 60 * S, T0 + 100 * S, T0 + 130 * S);
    let now = T0 + 200 * S;
    // Business failures arrive first, the broker's news last (a slow sidecar).
    for signal in [
        validation_failures(t2),
        producer_buffer_pressure(t1),
        broker_lost_isr(t0),
    ] {
        h.ingest(&signal, now);
        h.check().unwrap_or_else(|e| panic!("{e}"));
    }
    let incidents = h.incidents();
    assert_eq!(incidents.open.len(), 1);
    assert_eq!(
        chain_names(&incidents.open[0]),
        vec![
            "broker=2",
            "service=order-service/instance=pod-1/client=order-producer",
            "service=order-service/instance=pod-1",
        ]
    );
}

#[test]
fn the_explanation_rounds_evidence_and_the_chain_keeps_it_exact() {
    let mut h = default_engine();
    let rate = 100.0 / 3.0;
    let slow = Signal::new(
        subject("cluster=prod/service=billing/instance=pod-2/client=billing-consumer"),
        SignalKind::Statuses(Sign::Degraded, Confidence::Confirmed),
        Evidence::rule("C4")
            .with("consumed_rate", rate)
            .with("lag_seconds", 0.950_000_000_1)
            .threshold(50.0),
        T0,
    )
    .from_source("billing-pod-2");
    let events = feed(&mut h, &slow);
    let incident = opened(&events)[0];
    assert!(
        incident.explanation.contains(
            "client=billing-consumer DEGRADED \
             (Statuses.DEGRADED.CONFIRMED C4 consumed_rate=33.3 lag_seconds=0.95)"
        ),
        "{}",
        incident.explanation
    );
    let evidence = &incident.chain[0].evidence[0].evidence;
    assert_eq!(evidence.values["consumed_rate"], 33.333_333_333_333_336);
}

#[test]
fn unrelated_trouble_opens_its_own_incident() {
    let mut h = default_engine();
    healthy_cluster(&mut h, T0);
    let t = T0 + 60 * S;
    feed(&mut h, &broker_lost_isr(t));
    // Broker 1 hosts payments, not orders: not related to broker 2 or the order producer.
    let b1 = status(
        "cluster=prod/broker=1",
        Sign::Degraded,
        Confidence::Confirmed,
        "B1",
        t + S,
    );
    let events = feed(&mut h, &b1);
    assert_eq!(opened(&events).len(), 1);
    // The order producer is related to broker 2 (orders) only.
    let events = feed(&mut h, &producer_buffer_pressure(t + 2 * S));
    assert!(opened(&events).is_empty());
    // The same failure in another cluster is unrelated.
    let other = status(
        "cluster=dr/broker=2",
        Sign::Degraded,
        Confidence::Confirmed,
        "B1",
        t + 3 * S,
    );
    let events = feed(&mut h, &other);
    assert_eq!(opened(&events).len(), 1);
    assert_eq!(opened(&events)[0].cluster, "dr");
    // Outside the window, related trouble is a new incident.
    let late = T0 + 2000 * S;
    let events = feed(
        &mut h,
        &status(
            "cluster=prod/broker=2/topic=orders/partition=0",
            Sign::Degraded,
            Confidence::Measured,
            "I1",
            late,
        ),
    );
    assert_eq!(opened(&events).len(), 1);
    assert_eq!(h.incidents().open.len(), 4);
}

#[test]
fn a_broker_without_topic_news_is_related_to_any_client_of_its_cluster() {
    let mut h = default_engine();
    let t = T0;
    feed(
        &mut h,
        &status(
            &format!("{PRODUCER}/topic=orders"),
            Sign::Stable,
            Confidence::Confirmed,
            "H",
            t,
        ),
    );
    feed(
        &mut h,
        &status(
            "cluster=prod/broker=5",
            Sign::Degraded,
            Confidence::Confirmed,
            "B1",
            t + S,
        ),
    );
    let events = feed(&mut h, &producer_buffer_pressure(t + 2 * S));
    assert!(opened(&events).is_empty());
    assert_eq!(h.incidents().open[0].chain.len(), 2);
}

// ---- notifications ----------------------------------------------------------------------

#[test]
fn a_recurring_root_cause_is_notified_once_within_the_dedupe_interval() {
    let mut config = HierarchyConfig::default();
    config.incidents.close_after = Duration::from_secs(60);
    let mut h = engine(config);
    let mut events = Vec::new();
    let mut t = T0;
    for _ in 0..3 {
        events.extend(feed(
            &mut h,
            &status(BROKER, Sign::Degraded, Confidence::Confirmed, "B1", t),
        ));
        t += 30 * S;
        events.extend(feed(
            &mut h,
            &status(BROKER, Sign::Stable, Confidence::Confirmed, "B1", t),
        ));
        t += 90 * S;
        events.extend(tick(&mut h, t));
        t += 10 * S;
    }
    assert_eq!(opened(&events).len(), 3);
    assert_eq!(closed(&events).len(), 3);
    let acts: Vec<(ActionKind, Option<Suppression>, actors::Sign)> = actions(&events)
        .into_iter()
        .map(|a| (a.kind, a.suppressed, a.act))
        .collect();
    use ActionKind::*;
    assert_eq!(
        acts,
        vec![
            (NotifyOpen, None, actors::Sign::Report),
            (NotifyClose, None, actors::Sign::Affirm),
            (NotifyOpen, Some(Suppression::Duplicate), actors::Sign::Deny),
            (
                NotifyClose,
                Some(Suppression::NotOpened),
                actors::Sign::Deny
            ),
            (NotifyOpen, Some(Suppression::Duplicate), actors::Sign::Deny),
            (
                NotifyClose,
                Some(Suppression::NotOpened),
                actors::Sign::Deny
            ),
        ]
    );
    assert_eq!(h.stats().suppressed_duplicate, 2);
    assert_eq!(h.stats().notifications, 2);
}

#[test]
fn notifications_are_rate_limited() {
    let mut config = HierarchyConfig::default();
    config.notify.rate_limit.burst = 2;
    config.notify.rate_limit.per = Duration::from_secs(60);
    let mut h = engine(config);
    let mut events = Vec::new();
    for c in 0..5 {
        let path = format!("cluster=c{c}/broker=1");
        events.extend(feed(
            &mut h,
            &status(&path, Sign::Defective, Confidence::Confirmed, "B2", T0),
        ));
    }
    let performed = actions(&events).iter().filter(|a| a.perform()).count();
    assert_eq!(performed, 2);
    assert_eq!(h.stats().suppressed_rate_limited, 3);
    // A minute later the bucket is full again.
    let path = "cluster=c9/broker=1";
    let events = feed(
        &mut h,
        &status(
            path,
            Sign::Defective,
            Confidence::Confirmed,
            "B2",
            T0 + 60 * S,
        ),
    );
    assert!(actions(&events).iter().all(|a| a.perform()));
}

#[test]
fn warnings_below_min_situation_are_notified_when_they_escalate() {
    let mut config = HierarchyConfig::default();
    config.notify.min_situation = situations::Sign::Critical;
    let mut h = engine(config);
    let events = feed(&mut h, &broker_lost_isr(T0));
    assert_eq!(opened(&events).len(), 1);
    assert!(actions(&events).is_empty());
    let events = feed(
        &mut h,
        &status(BROKER, Sign::Defective, Confidence::Confirmed, "B2", T0 + S),
    );
    let acts = actions(&events);
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].kind, ActionKind::NotifyOpen);
    assert_eq!(acts[0].incident.situation, situations::Sign::Critical);
    // Further escalation of a notified incident is an immediate REPORT update.
    let events = feed(
        &mut h,
        &status(BROKER, Sign::Down, Confidence::Confirmed, "B3", T0 + 2 * S),
    );
    assert!(
        actions(&events).is_empty(),
        "DOWN is CRITICAL too: no escalation"
    );
    let events = feed(
        &mut h,
        &status(
            PRODUCER,
            Sign::Degraded,
            Confidence::Measured,
            "P11",
            T0 + 3 * S,
        ),
    );
    assert!(
        actions(&events).is_empty(),
        "a chain update within update_interval waits"
    );
}

#[test]
fn escalation_of_a_notified_incident_is_reported_at_once() {
    let mut h = default_engine();
    feed(&mut h, &broker_lost_isr(T0));
    let events = feed(
        &mut h,
        &status(BROKER, Sign::Defective, Confidence::Confirmed, "B2", T0 + S),
    );
    let acts = actions(&events);
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].kind, ActionKind::NotifyUpdate);
    assert_eq!(acts[0].act, actors::Sign::Report);
    assert_eq!(acts[0].incident.situation, situations::Sign::Critical);
}

// ---- queries and export -------------------------------------------------------------------

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

#[test]
fn dropping_a_cluster_removes_its_cells_and_incidents_only() {
    let mut h = default_engine();
    healthy_cluster(&mut h, T0);
    feed(&mut h, &broker_lost_isr(T0 + S));
    feed(
        &mut h,
        &status(
            "cluster=dr/broker=1",
            Sign::Degraded,
            Confidence::Confirmed,
            "B1",
            T0 + S,
        ),
    );
    let before = h.len();
    let report = h.drop_cluster("prod");
    h.check().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.incidents, 1);
    assert_eq!(h.len(), before - report.cells);
    assert_eq!(h.len(), 3, "root, dr, dr/broker=1");
    assert_eq!(h.incidents().open.len(), 1);
    assert_eq!(
        h.lookup(&Subject::root())
            .and_then(|id| h.view(id))
            .and_then(|v| v.rolled)
            .map(|s| s.sign),
        Some(Sign::Degraded)
    );
    assert_eq!(h.stats().dropped_cells, report.cells as u64);
    // Its cells come back from new signals (a replay after ownership returns).
    feed(&mut h, &broker_lost_isr(T0 + 2 * S));
    assert!(h.lookup(&subject(BROKER)).is_some());
}

#[test]
fn evicted_ids_do_not_reach_the_cell_that_reuses_the_slot() {
    let mut config = HierarchyConfig::default();
    config.stale_after = Duration::from_secs(1);
    config.forget_after = Duration::from_secs(1);
    let mut h = engine(config);
    feed(
        &mut h,
        &status("cluster=a", Sign::Stable, Confidence::Confirmed, "x", T0),
    );
    let old = h.lookup(&subject("cluster=a")).expect("exists");
    tick(&mut h, T0 + 2 * S);
    tick(&mut h, T0 + 4 * S);
    feed(
        &mut h,
        &status(
            "cluster=b",
            Sign::Stable,
            Confidence::Confirmed,
            "x",
            T0 + 5 * S,
        ),
    );
    let new = h.lookup(&subject("cluster=b")).expect("exists");
    assert_ne!(old, new);
    assert!(h.view(old).is_none());
    assert!(h.subject(old).is_none());
}

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
