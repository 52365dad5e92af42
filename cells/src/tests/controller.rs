//! B3 decided for the whole cluster: brokers state their own controller flag (Members ELECT /
//! RESIGN SELF, rule B3), and the cluster reads DOWN only when no live broker has been the
//! controller for `controller_grace`. A controller moving between brokers polled out of phase
//! is never DOWN; all brokers at 0 for longer than the grace is; one broker at 1 recovers it;
//! stale brokers do not count.

#![allow(clippy::field_reassign_with_default)]

use std::{collections::HashMap, time::Duration};

use kafka_obs_signal::{
    Evidence, Signal, SignalKind,
    condition::Phase,
    members, situations,
    statuses::{Confidence, Sign},
};

use super::{
    S, T0, closed, default_engine, engine, feed, opened, rolled, shown, status, subject, tick,
};
use crate::{
    CONTROLLER_RULE, DERIVED_SOURCE, Event, Hierarchy, HierarchyConfig, ReadingView, Status,
};

const CLUSTER: &str = "cluster=prod";
const ELECT: SignalKind = SignalKind::Members(members::Sign::Elect, members::Dimension::Own);
const RESIGN: SignalKind = SignalKind::Members(members::Sign::Resign, members::Dimension::Own);

fn broker(id: &str) -> String {
    format!("{CLUSTER}/broker={id}")
}

/// What broker `id`'s sidecar says about itself at time `t`.
fn flag(id: &str, active: bool, t: u64) -> Signal {
    Signal::new(
        subject(&broker(id)),
        if active { ELECT } else { RESIGN },
        Evidence::rule(CONTROLLER_RULE)
            .with("active_controller_count", f64::from(u8::from(active))),
        t,
    )
    .from_source(format!("broker-{id}-sidecar"))
}

/// The cluster's derived B3 reading, if it has one.
fn verdict(h: &Hierarchy) -> Option<ReadingView> {
    h.detail(&subject(CLUSTER))?
        .readings
        .into_iter()
        .find(|r| r.rule == CONTROLLER_RULE && r.source == DERIVED_SOURCE)
}

fn verdict_sign(h: &Hierarchy) -> Option<Sign> {
    verdict(h).and_then(|r| r.status).map(|s| s.sign)
}

const DOWN: Status = Status::new(Sign::Down, Confidence::Confirmed);

/// Sidecars of brokers polled every 10 s, each at its own offset (`(id, offset_s)`), emitting
/// their flag on change and every sixth poll, as the broker pack does; `controller` says which
/// broker is the active controller at a time (`None`: none). Ticks every second from `from`
/// to `to` (exclusive); returns the events and calls `each` after every second.
struct Brokers {
    offsets: Vec<(&'static str, u64)>,
    last: HashMap<&'static str, (bool, u32)>,
}

impl Brokers {
    fn new(offsets: &[(&'static str, u64)]) -> Self {
        Self {
            offsets: offsets.to_vec(),
            last: HashMap::new(),
        }
    }

    fn run(
        &mut self,
        h: &mut Hierarchy,
        from: u64,
        to: u64,
        controller: impl Fn(u64) -> Option<&'static str>,
        mut each: impl FnMut(&Hierarchy, u64),
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let mut t = from;
        while t < to {
            for &(id, offset) in &self.offsets {
                if (t / S) % 10 != offset {
                    continue;
                }
                let active = controller(t) == Some(id);
                let entry = self.last.entry(id).or_insert((!active, 0));
                let changed = entry.0 != active;
                entry.1 += 1;
                if changed || entry.1 >= 6 {
                    *entry = (active, 0);
                    events.extend(feed(h, &flag(id, active, t)));
                }
            }
            events.extend(tick(h, t));
            each(h, t);
            t += S;
        }
        events
    }
}

#[test]
fn non_controller_brokers_reporting_zero_never_put_the_cluster_down() {
    let mut h = default_engine();
    let mut brokers = Brokers::new(&[("1", 0), ("2", 3), ("3", 7)]);
    // Broker 1 is the controller throughout; 2 and 3 report 0 for an hour.
    let events = brokers.run(
        &mut h,
        T0,
        T0 + 3600 * S,
        |_| Some("1"),
        |h, t| {
            assert!(verdict(h).is_none(), "at {}s", (t - T0) / S);
        },
    );
    assert!(opened(&events).is_empty());
    assert_eq!(h.stats().controller_down, 0);
    // The flags are news (the broker cells are fresh), but not readings.
    assert_eq!(
        h.detail(&subject(&broker("2"))).map(|d| d.readings.len()),
        Some(0)
    );
}

#[test]
fn the_controller_moving_between_brokers_polled_out_of_phase_is_never_down() {
    let mut h = default_engine();
    let mut brokers = Brokers::new(&[("1", 0), ("2", 3), ("3", 7)]);
    // Every 3 minutes the controller moves to the next broker, after an election that
    // itself leaves the cluster without a controller for 8 s; the old controller's next poll
    // sees 0 before the new one's sees 1 (up to 18 s without any broker saying 1).
    let controller = |t: u64| {
        let s = (t - T0) / S;
        let (epoch, into) = (s / 180, s % 180);
        if epoch > 0 && into < 8 {
            return None;
        }
        Some(["1", "2", "3"][(epoch % 3) as usize])
    };
    let events = brokers.run(&mut h, T0, T0 + 3600 * S, controller, |h, t| {
        assert!(verdict(h).is_none(), "at {}s", (t - T0) / S);
    });
    assert!(opened(&events).is_empty());
    assert_eq!(h.stats().controller_down, 0);
    assert_ne!(rolled(&h, CLUSTER).map(|s| s.sign), Some(Sign::Down));
}

#[test]
fn no_controller_for_longer_than_the_grace_is_down_until_one_broker_reports_one() {
    let mut h = default_engine();
    let mut brokers = Brokers::new(&[("1", 0), ("2", 3), ("3", 7)]);
    let lost = T0 + 60 * S;
    let back = T0 + 900 * S;
    let controller = move |t: u64| (t < lost || t >= back).then_some("2");
    let mut down_at = None;
    let mut events = brokers.run(&mut h, T0, back, controller, |h, t| {
        if down_at.is_none() && verdict_sign(h) == Some(Sign::Down) {
            down_at = Some(t);
        }
    });
    // Broker 2 reports 0 at its first poll after the loss (63 s); 30 s of grace later, DOWN.
    assert_eq!(down_at, Some(T0 + 93 * S));
    assert_eq!(
        h.stats().controller_down,
        1,
        "stated once, restated while it holds"
    );
    // Still DOWN 14 minutes on: restated, so it does not fade after reading_ttl (5 m).
    let reading = verdict(&h).expect("a verdict");
    assert_eq!(reading.status, Some(DOWN));
    assert_eq!(
        reading.evidence.values.get("active_controllers"),
        Some(&0.0)
    );
    assert_eq!(reading.evidence.values.get("brokers_reporting"), Some(&3.0));
    assert!(!reading.expired);
    assert_eq!(shown(&h, CLUSTER), Some(DOWN));
    assert_eq!(
        h.lookup(&subject(CLUSTER))
            .and_then(|id| h.view(id))
            .map(|v| v.situation.sign),
        Some(situations::Sign::Critical)
    );
    // It went the way of every reading: an incident with the cluster as its root cause.
    let incident = opened(&events)
        .first()
        .map(|i| (*i).clone())
        .expect("opened");
    assert_eq!(incident.root_cause, CLUSTER);
    assert_eq!(incident.chain[0].evidence[0].evidence.rule, CONTROLLER_RULE);
    assert_eq!(
        incident.chain[0].onset_unix_nano,
        T0 + 63 * S,
        "onset: the loss"
    );
    // Broker 2 is elected again: at its next poll (903 s), the reading is replaced by the
    // recovery; the cluster shows STABLE after clear_after and the incident closes after
    // close_after.
    events.extend(brokers.run(&mut h, back, T0 + 963 * S, controller, |_, _| {}));
    assert_eq!(
        shown(&h, CLUSTER),
        Some(DOWN),
        "clear_after holds the better status"
    );
    events.extend(brokers.run(&mut h, T0 + 963 * S, T0 + 1000 * S, controller, |_, _| {}));
    assert_eq!(shown(&h, CLUSTER).map(|s| s.sign), Some(Sign::Stable));
    let reading = verdict(&h).expect("a verdict");
    assert_eq!(reading.status.map(|s| s.sign), Some(Sign::Stable));
    assert_eq!(
        h.detail(&subject(CLUSTER)).map(|d| d.readings.len()),
        Some(1),
        "replaced, not added"
    );
    events.extend(brokers.run(&mut h, T0 + 1000 * S, T0 + 1600 * S, controller, |_, _| {}));
    let done = closed(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].closed_ns, Some(T0 + 1203 * S));
    assert_eq!(h.stats().controller_down, 1);
}

#[test]
fn a_recovery_within_the_grace_is_never_shown_and_the_grace_is_configurable() {
    let mut config = HierarchyConfig::default();
    config.controller_grace = Duration::ZERO;
    let mut h = engine(config);
    // With no grace, the verdict comes on the ingest of the last zero, not a tick later.
    feed(&mut h, &flag("1", true, T0));
    feed(&mut h, &flag("2", false, T0));
    assert!(verdict(&h).is_none());
    let events = feed(&mut h, &flag("1", false, T0 + S));
    assert_eq!(verdict_sign(&h), Some(Sign::Down));
    assert_eq!(opened(&events).len(), 1);
    feed(&mut h, &flag("2", true, T0 + 2 * S));
    assert_eq!(verdict_sign(&h), Some(Sign::Stable));

    let mut h = default_engine();
    feed(&mut h, &flag("1", false, T0));
    tick(&mut h, T0 + 29 * S);
    feed(&mut h, &flag("2", true, T0 + 29 * S));
    tick(&mut h, T0 + 31 * S);
    assert!(verdict(&h).is_none());
    // The grace starts again from the next loss.
    feed(&mut h, &flag("2", false, T0 + 40 * S));
    tick(&mut h, T0 + 69 * S);
    assert!(verdict(&h).is_none());
    tick(&mut h, T0 + 70 * S);
    assert_eq!(verdict_sign(&h), Some(Sign::Down));
}

#[test]
fn a_stale_broker_does_not_count_and_its_flag_is_forgotten() {
    let mut h = default_engine();
    let mut brokers = Brokers::new(&[("2", 3), ("3", 7)]);
    // Broker 1 is the controller; its sidecar reports once and then dies.
    feed(&mut h, &flag("1", true, T0));
    let mut down_at = None;
    brokers.run(
        &mut h,
        T0,
        T0 + 400 * S,
        |_| Some("1"),
        |h, t| {
            if down_at.is_none() && verdict_sign(h) == Some(Sign::Down) {
                down_at = Some(t);
            }
        },
    );
    // Broker 1 goes stale 180 s after its last signal; 30 s later the cluster is DOWN.
    let stale = h
        .lookup(&subject(&broker("1")))
        .and_then(|id| h.view(id))
        .is_some_and(|v| v.stale);
    assert!(stale);
    assert_eq!(down_at, Some(T0 + 210 * S));
    // Its sidecar is back with other news: the old flag does not count ...
    let t = T0 + 400 * S;
    feed(
        &mut h,
        &status(&broker("1"), Sign::Stable, Confidence::Confirmed, "B1", t),
    );
    tick(&mut h, t + S);
    assert_eq!(verdict_sign(&h), Some(Sign::Down));
    // ... until it restates it.
    feed(&mut h, &flag("1", true, t + 2 * S));
    assert_eq!(verdict_sign(&h), Some(Sign::Stable));
}

#[test]
fn when_no_live_broker_reports_a_flag_the_verdict_is_withdrawn() {
    let mut h = default_engine();
    let client = format!("{CLUSTER}/service=orders/instance=pod-1/client=c");
    for id in ["1", "2"] {
        feed(&mut h, &flag(id, false, T0));
    }
    tick(&mut h, T0 + 30 * S);
    assert_eq!(verdict_sign(&h), Some(Sign::Down));
    // The broker sidecars go quiet; a client keeps the cluster fresh.
    let mut t = T0 + 30 * S;
    while t < T0 + 240 * S {
        t += 10 * S;
        feed(
            &mut h,
            &status(&client, Sign::Stable, Confidence::Confirmed, "C3", t),
        );
        tick(&mut h, t);
    }
    // Nothing can be said about the controller: no DOWN, and no claim that all is well.
    assert!(verdict(&h).is_none());
    assert_eq!(rolled(&h, CLUSTER).map(|s| s.sign), Some(Sign::Stable));
    assert_eq!(h.stats().controller_down, 1);
}

#[test]
fn a_broker_without_a_sidecar_is_not_seen() {
    // The documented limit: the controller (broker 1) has no sidecar, so the cluster only
    // hears the others' zeros and reads DOWN.
    let mut h = default_engine();
    let mut brokers = Brokers::new(&[("2", 3), ("3", 7)]);
    brokers.run(&mut h, T0, T0 + 60 * S, |_| Some("1"), |_, _| {});
    assert_eq!(verdict_sign(&h), Some(Sign::Down));
}

#[test]
fn only_the_brokers_own_b3_flags_count() {
    let mut h = default_engine();
    // A flag on the cluster subject, or below the broker, is not a broker's flag.
    let on_cluster = Signal::new(
        subject(CLUSTER),
        RESIGN,
        Evidence::rule(CONTROLLER_RULE),
        T0,
    );
    let below = Signal::new(
        subject(&format!("{}/topic=orders", broker("1"))),
        RESIGN,
        Evidence::rule(CONTROLLER_RULE),
        T0,
    );
    // Another rule's ELECT/RESIGN (a consumer group's leader) is not either, nor a peer's.
    let other_rule = Signal::new(subject(&broker("1")), RESIGN, Evidence::rule("G1"), T0);
    let peer = Signal::new(
        subject(&broker("1")),
        SignalKind::Members(members::Sign::Resign, members::Dimension::Peer),
        Evidence::rule(CONTROLLER_RULE),
        T0,
    );
    for signal in [on_cluster, below, other_rule, peer] {
        feed(&mut h, &signal);
    }
    tick(&mut h, T0 + 3600 * S);
    assert!(verdict(&h).is_none());
    // A sidecar that marks its flags as onset and recovery changes nothing for the verdict
    // (the ELECT then reads STABLE on the broker itself).
    let mut h = default_engine();
    feed(&mut h, &flag("1", false, T0).in_phase(Phase::Onset));
    feed(&mut h, &flag("2", true, T0).in_phase(Phase::Recovery));
    tick(&mut h, T0 + 60 * S);
    assert!(verdict(&h).is_none());
    assert_eq!(
        h.detail(&subject(&broker("2")))
            .and_then(|d| d.cell.own)
            .map(|s| s.sign),
        Some(Sign::Stable)
    );
    // An older sidecar's cluster-level B3 status is an ordinary reading of its source.
    let old = Signal::new(
        subject(CLUSTER),
        SignalKind::Statuses(Sign::Down, Confidence::Confirmed),
        Evidence::rule(CONTROLLER_RULE),
        T0 + 61 * S,
    )
    .from_source("old-sidecar");
    feed(&mut h, &old);
    assert_eq!(rolled(&h, CLUSTER), Some(DOWN));
    assert!(verdict(&h).is_none());
}

#[test]
fn clusters_are_judged_apart_and_a_dropped_cluster_is_forgotten() {
    let mut h = default_engine();
    let other = |id: &str, active: bool, t: u64| {
        Signal::new(
            subject(&format!("cluster=dr/broker={id}")),
            if active { ELECT } else { RESIGN },
            Evidence::rule(CONTROLLER_RULE),
            t,
        )
    };
    feed(&mut h, &flag("1", true, T0));
    feed(&mut h, &other("1", false, T0));
    tick(&mut h, T0 + 31 * S);
    assert!(verdict(&h).is_none(), "prod has its controller");
    let dr = h
        .detail(&subject("cluster=dr"))
        .and_then(|d| d.cell.own)
        .map(|s| s.sign);
    assert_eq!(dr, Some(Sign::Down));
    // Dropped (owned elsewhere now) and seen again: judged from scratch, the grace anew.
    h.drop_cluster("dr");
    feed(&mut h, &other("1", false, T0 + 40 * S));
    tick(&mut h, T0 + 69 * S);
    assert_eq!(
        h.detail(&subject("cluster=dr")).and_then(|d| d.cell.own),
        None
    );
    tick(&mut h, T0 + 70 * S);
    let dr = h
        .detail(&subject("cluster=dr"))
        .and_then(|d| d.cell.own)
        .map(|s| s.sign);
    assert_eq!(dr, Some(Sign::Down));
}
