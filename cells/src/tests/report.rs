//! Roll-up and the Reporters: the worst live child rolls up, damping holds improvements, a
//! flapping child makes its parent VOLATILE, confirmed DEGRADED can escalate, history is a
//! bounded ring.

#![allow(clippy::field_reassign_with_default)]

use super::*;

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
