//! The way back: a condition's recovery replaces its onset, a status signal's list of current
//! conditions drops what its source no longer holds (a lost recovery, a restarted sidecar),
//! cells return to NORMAL after `damping.clear_after`, and incidents close once every member
//! has been clear for `incidents.close_after`: once, not while a member is still in trouble,
//! not early for a member that flaps.

use kafka_obs_signal::{
    Evidence, Signal, SignalKind,
    condition::{CURRENT, Phase, STATUS_RULE, current_list},
    probes, queues, situations,
    statuses::{Confidence, Sign},
};

use super::{
    S, T0, actions, closed, default_engine, engine, feed, opened, rolled, shown, situation, status,
    subject, tick,
};
use crate::{ActionKind, Event, Hierarchy, HierarchyConfig, IncidentState};

const PRODUCER: &str = "cluster=prod/service=orders/instance=pod-1/client=order-producer";
const CONSUMER: &str = "cluster=prod/service=orders/instance=pod-1/client=order-consumer";
const BROKER: &str = "cluster=prod/broker=2";
const SIDECAR: &str = "order-service-pod-1";

/// A rule's onset on `path` from the service's sidecar.
fn onset(path: &str, kind: SignalKind, rule: &str, t: u64) -> Signal {
    Signal::new(subject(path), kind, Evidence::rule(rule), t)
        .from_source(SIDECAR)
        .in_phase(Phase::Onset)
}

/// The recovery of that onset: the same rule, the contract's recovery sign.
fn recovery(path: &str, kind: SignalKind, rule: &str, t: u64) -> Signal {
    Signal::new(subject(path), kind.recovery(), Evidence::rule(rule), t)
        .from_source(SIDECAR)
        .in_phase(Phase::Recovery)
}

/// The subject's overall status from the sidecar, with its list of current conditions.
fn stated(path: &str, sign: Sign, current: &[&str], t: u64) -> Signal {
    Signal::new(
        subject(path),
        SignalKind::Statuses(sign, Confidence::Confirmed),
        Evidence::rule(STATUS_RULE),
        t,
    )
    .from_source(SIDECAR)
    .with_attribute(CURRENT, current_list(current.iter().copied()))
}

const OVERFLOW: SignalKind = SignalKind::Queues(queues::Sign::Overflow);
const ERRATIC: SignalKind = SignalKind::Statuses(Sign::Erratic, Confidence::Confirmed);
const FAIL: SignalKind = SignalKind::Probes(probes::Sign::Fail, probes::Dimension::Outbound);
const DEGRADED: SignalKind = SignalKind::Statuses(Sign::Degraded, Confidence::Confirmed);

fn rules_of(h: &Hierarchy, path: &str) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = h
        .detail(&subject(path))
        .map(|d| d.readings.into_iter().map(|r| (r.rule, r.source)).collect())
        .unwrap_or_default();
    rules.sort();
    rules
}

fn own_situation(h: &Hierarchy, path: &str) -> situations::Sign {
    h.detail(&subject(path))
        .and_then(|d| d.cell.own)
        .map_or(situations::Sign::Normal, |s| s.situation(false))
}

fn open_count(h: &Hierarchy) -> usize {
    h.incidents().open.len()
}

// ---- a reading is replaced by its rule's recovery ---------------------------------------------

#[test]
fn a_recovery_replaces_its_onset_and_the_cell_is_normal_after_clear_after() {
    for (kind, rule, path) in [
        (OVERFLOW, "P1", PRODUCER),
        (ERRATIC, "C9", CONSUMER),
        (FAIL, "P9", PRODUCER),
    ] {
        let mut h = default_engine();
        let mut events = feed(&mut h, &onset(path, kind, rule, T0));
        assert_ne!(own_situation(&h, path), situations::Sign::Normal, "{kind}");
        assert_eq!(opened(&events).len(), 1, "{kind}");
        let t = T0 + 20 * S;
        events.extend(feed(&mut h, &recovery(path, kind, rule, t)));
        // One reading, the recovery's, under the same key.
        let detail = h.detail(&subject(path)).expect("exists");
        assert_eq!(detail.readings.len(), 1, "{kind}");
        assert_eq!(detail.readings[0].signal, kind.recovery().to_string());
        assert_eq!(detail.readings[0].rule, rule);
        // Out of trouble at once, shown better only after clear_after (60 s).
        assert_eq!(own_situation(&h, path), situations::Sign::Normal, "{kind}");
        assert_eq!(
            rolled(&h, path).map(|s| s.sign),
            Some(Sign::Stable),
            "{kind}"
        );
        assert_ne!(
            shown(&h, path).map(|s| s.sign),
            Some(Sign::Stable),
            "{kind}"
        );
        events.extend(tick(&mut h, t + 59 * S));
        assert_ne!(
            shown(&h, path).map(|s| s.sign),
            Some(Sign::Stable),
            "{kind}"
        );
        events.extend(tick(&mut h, t + 60 * S));
        for cell in [path, "cluster=prod/service=orders", "cluster=prod"] {
            assert_eq!(
                shown(&h, cell).map(|s| s.sign),
                Some(Sign::Stable),
                "{kind} {cell}"
            );
            assert_eq!(
                situation(&h, cell).map(|s| s.sign),
                Some(situations::Sign::Normal),
                "{kind} {cell}"
            );
        }
        assert!(
            closed(&events).is_empty(),
            "{kind}: closes after close_after"
        );
        events.extend(tick(&mut h, t + 300 * S));
        assert_eq!(closed(&events).len(), 1, "{kind}");
    }
}

#[test]
fn a_recovery_whose_sign_reads_nothing_reads_stable_unless_the_user_says_none() {
    // Queues.ENQUEUE reads as no status, so as P3 (no phase) it only clears P1's reading ...
    let mut h = default_engine();
    feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    let plain = Signal::new(
        subject(PRODUCER),
        OVERFLOW.recovery(),
        Evidence::rule("P1"),
        T0 + S,
    )
    .from_source(SIDECAR);
    feed(&mut h, &plain);
    assert_eq!(h.detail(&subject(PRODUCER)).and_then(|d| d.cell.own), None);
    // ... but as P1's recovery it says the producer is well: STABLE (scorecard confidence).
    feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0 + 2 * S));
    feed(&mut h, &recovery(PRODUCER, OVERFLOW, "P1", T0 + 3 * S));
    let own = h.detail(&subject(PRODUCER)).and_then(|d| d.cell.own);
    assert_eq!(own.map(|s| s.sign), Some(Sign::Stable));
    // `observer.readings: {Queues.ENQUEUE: none}` wins: the recovery clears, reads nothing.
    let mut config = HierarchyConfig::default();
    config
        .observer
        .readings
        .insert("Queues.ENQUEUE".into(), "none".into());
    let mut h = engine(config);
    feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    feed(&mut h, &recovery(PRODUCER, OVERFLOW, "P1", T0 + S));
    assert_eq!(h.detail(&subject(PRODUCER)).and_then(|d| d.cell.own), None);
    assert_eq!(own_situation(&h, PRODUCER), situations::Sign::Normal);
}

// ---- a status signal is authoritative -----------------------------------------------------------

#[test]
fn a_status_list_drops_the_sources_readings_of_rules_it_does_not_name() {
    let mut h = default_engine();
    feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    feed(&mut h, &onset(PRODUCER, FAIL, "P9", T0 + S));
    feed(
        &mut h,
        &stated(PRODUCER, Sign::Degraded, &["P1", "P9"], T0 + S),
    );
    // Another source's reading of the same rule is not this source's to drop.
    let other = Signal::new(subject(PRODUCER), OVERFLOW, Evidence::rule("P1"), T0 + S)
        .from_source("another-sidecar");
    feed(&mut h, &other);
    assert_eq!(rules_of(&h, PRODUCER).len(), 4);
    // P1's recovery was lost; the status now lists P9 only.
    let events = feed(
        &mut h,
        &stated(PRODUCER, Sign::Degraded, &["P9"], T0 + 2 * S),
    );
    assert_eq!(
        rules_of(&h, PRODUCER),
        vec![
            ("P1".to_string(), "another-sidecar".to_string()),
            ("P9".to_string(), SIDECAR.to_string()),
            (STATUS_RULE.to_string(), SIDECAR.to_string()),
        ]
    );
    assert_eq!(h.stats().pruned_readings, 1);
    assert!(closed(&events).is_empty());
    // All clear from this source: only its status and the other source's reading remain.
    feed(&mut h, &stated(PRODUCER, Sign::Stable, &[], T0 + 3 * S));
    assert_eq!(
        rules_of(&h, PRODUCER),
        vec![
            ("P1".to_string(), "another-sidecar".to_string()),
            (STATUS_RULE.to_string(), SIDECAR.to_string()),
        ]
    );
    assert_eq!(h.stats().pruned_readings, 2);
    // The other source still says OVERFLOW: the producer is still in trouble.
    assert_ne!(own_situation(&h, PRODUCER), situations::Sign::Normal);
    // And once that source recovers too, the producer is well.
    let gone = Signal::new(
        subject(PRODUCER),
        OVERFLOW.recovery(),
        Evidence::rule("P1"),
        T0,
    )
    .from_source("another-sidecar")
    .in_phase(Phase::Recovery);
    feed(&mut h, &gone);
    assert_eq!(own_situation(&h, PRODUCER), situations::Sign::Normal);
}

#[test]
fn a_status_signal_without_the_list_drops_nothing() {
    let mut h = default_engine();
    feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    // An older sender: a status under the status rule, without `kafka_obs.conditions`.
    let old = Signal::new(
        subject(PRODUCER),
        SignalKind::Statuses(Sign::Stable, Confidence::Confirmed),
        Evidence::rule(STATUS_RULE),
        T0 + S,
    )
    .from_source(SIDECAR);
    feed(&mut h, &old);
    // A list on a signal of another rule is not a status list either.
    let listed = Signal::new(
        subject(PRODUCER),
        FAIL.recovery(),
        Evidence::rule("P9"),
        T0 + S,
    )
    .from_source(SIDECAR)
    .with_attribute(CURRENT, "");
    feed(&mut h, &listed);
    assert_eq!(rules_of(&h, PRODUCER).len(), 3);
    assert_eq!(h.stats().pruned_readings, 0);
    assert_ne!(own_situation(&h, PRODUCER), situations::Sign::Normal);
}

#[test]
fn a_restarted_sidecar_that_holds_no_conditions_clears_its_cells_and_the_incident_closes() {
    let mut h = default_engine();
    let mut events = feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    events.extend(feed(&mut h, &onset(CONSUMER, ERRATIC, "C9", T0 + S)));
    events.extend(feed(
        &mut h,
        &stated(PRODUCER, Sign::Degraded, &["P1"], T0 + S),
    ));
    events.extend(feed(
        &mut h,
        &stated(CONSUMER, Sign::Erratic, &["C9"], T0 + S),
    ));
    assert_eq!(
        opened(&events).len(),
        1,
        "both clients of one service: one incident"
    );
    // The sidecar restarts; its new engine holds no conditions and says so on first sight.
    let back = T0 + 120 * S;
    events.extend(feed(&mut h, &stated(PRODUCER, Sign::Stable, &[], back)));
    events.extend(feed(&mut h, &stated(CONSUMER, Sign::Stable, &[], back)));
    for path in [PRODUCER, CONSUMER] {
        assert_eq!(
            rules_of(&h, path),
            vec![(STATUS_RULE.to_string(), SIDECAR.to_string())]
        );
        assert_eq!(own_situation(&h, path), situations::Sign::Normal);
    }
    events.extend(tick(&mut h, back + 60 * S));
    assert_eq!(
        situation(&h, "cluster=prod").map(|s| s.sign),
        Some(situations::Sign::Normal)
    );
    events.extend(tick(&mut h, back + 299 * S));
    assert!(closed(&events).is_empty());
    events.extend(tick(&mut h, back + 300 * S));
    assert_eq!(closed(&events).len(), 1);
    assert_eq!(open_count(&h), 0);
}

// ---- incidents close ------------------------------------------------------------------------------

#[test]
fn a_full_life_cycle_from_normal_through_an_incident_back_to_normal_and_closed() {
    let mut h = default_engine();
    // Normal: healthy statuses everywhere.
    let t = T0;
    let topic = format!("{PRODUCER}/topic=orders");
    let mut events = Vec::new();
    let healthy = status(BROKER, Sign::Stable, Confidence::Confirmed, "B1", t);
    events.extend(feed(&mut h, &healthy.from_source("broker-2")));
    events.extend(feed(&mut h, &stated(PRODUCER, Sign::Stable, &[], t)));
    events.extend(feed(&mut h, &stated(&topic, Sign::Stable, &[], t)));
    assert!(opened(&events).is_empty());
    let normal = |h: &Hierarchy| {
        situation(h, "cluster=prod").map(|s| s.sign) == Some(situations::Sign::Normal)
    };
    assert!(normal(&h));
    // Trouble: the broker loses ISR, then the producer's buffer overflows.
    let t1 = T0 + 60 * S;
    let t2 = T0 + 90 * S;
    events.extend(feed(
        &mut h,
        &onset(BROKER, DEGRADED, "B1", t1).from_source("broker-2"),
    ));
    events.extend(feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", t2)));
    events.extend(feed(&mut h, &stated(PRODUCER, Sign::Degraded, &["P1"], t2)));
    assert_eq!(opened(&events).len(), 1);
    let incident = h.incidents().open.into_iter().next().expect("open");
    let chain: Vec<&str> = incident.chain.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(chain[0], "broker=2", "the broker came first: root cause");
    assert!(chain.len() >= 2, "{chain:?}");
    assert!(incident.chain.iter().all(|l| !l.recovered));
    // Recovery signals: the producer first, the broker 30 s later.
    let r1 = T0 + 200 * S;
    let r2 = T0 + 230 * S;
    events.extend(feed(&mut h, &recovery(PRODUCER, OVERFLOW, "P1", r1)));
    events.extend(feed(&mut h, &stated(PRODUCER, Sign::Stable, &[], r1)));
    events.extend(tick(&mut h, r1 + 20 * S));
    assert_eq!(open_count(&h), 1, "the broker is still in trouble");
    events.extend(feed(
        &mut h,
        &recovery(BROKER, DEGRADED, "B1", r2).from_source("broker-2"),
    ));
    let incident = h.incidents().open.into_iter().next().expect("still open");
    assert!(incident.chain.iter().all(|l| l.recovered), "{incident:?}");
    // Cells NORMAL after clear_after, counted from the last recovery.
    events.extend(tick(&mut h, r2 + 59 * S));
    assert!(!normal(&h));
    events.extend(tick(&mut h, r2 + 60 * S));
    for path in [BROKER, PRODUCER, "cluster=prod"] {
        assert_eq!(
            shown(&h, path).map(|s| s.sign),
            Some(Sign::Stable),
            "{path}"
        );
        assert_eq!(
            situation(&h, path).map(|s| s.sign),
            Some(situations::Sign::Normal),
            "{path}"
        );
    }
    // The incident closes close_after (5 m) after its last member recovered, once.
    events.extend(tick(&mut h, r2 + 299 * S));
    assert!(closed(&events).is_empty());
    events.extend(tick(&mut h, r2 + 300 * S));
    events.extend(tick(&mut h, r2 + 301 * S));
    events.extend(tick(&mut h, r2 + 900 * S));
    let done = closed(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, IncidentState::Closed);
    assert_eq!(done[0].closed_ns, Some(r2 + 300 * S));
    let notified: Vec<ActionKind> = actions(&events)
        .into_iter()
        .filter(|a| a.perform())
        .map(|a| a.kind)
        .collect();
    assert_eq!(notified.first(), Some(&ActionKind::NotifyOpen));
    assert_eq!(
        notified
            .iter()
            .filter(|k| **k == ActionKind::NotifyClose)
            .count(),
        1
    );
    assert_eq!(open_count(&h), 0);
    assert_eq!(h.incidents().closed.len(), 1);
    assert_eq!(h.stats().incidents_closed, 1);
    // Healthy news afterwards opens nothing and closes nothing.
    let later = r2 + 1000 * S;
    let quiet = feed(&mut h, &stated(PRODUCER, Sign::Stable, &[], later));
    assert!(quiet.iter().all(|e| !matches!(
        e,
        Event::IncidentOpened(_) | Event::IncidentClosed(_) | Event::Action(_)
    )));
}

#[test]
fn an_incident_stays_open_while_any_member_is_in_trouble() {
    let mut h = default_engine();
    let mut events = feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    events.extend(feed(&mut h, &onset(CONSUMER, ERRATIC, "C9", T0 + S)));
    assert_eq!(opened(&events).len(), 1);
    events.extend(feed(
        &mut h,
        &recovery(PRODUCER, OVERFLOW, "P1", T0 + 10 * S),
    ));
    // Long past close_after, the consumer still storms (restated by its status heartbeat).
    let mut t = T0 + 10 * S;
    while t < T0 + 1200 * S {
        t += 60 * S;
        events.extend(feed(&mut h, &stated(CONSUMER, Sign::Erratic, &["C9"], t)));
        events.extend(feed(&mut h, &onset(CONSUMER, ERRATIC, "C9", t)));
        events.extend(tick(&mut h, t + S));
    }
    assert!(closed(&events).is_empty());
    assert_eq!(open_count(&h), 1);
    assert_eq!(shown(&h, PRODUCER).map(|s| s.sign), Some(Sign::Stable));
    // It ends; the incident closes close_after later.
    events.extend(feed(&mut h, &recovery(CONSUMER, ERRATIC, "C9", t + 10 * S)));
    events.extend(feed(
        &mut h,
        &stated(CONSUMER, Sign::Stable, &[], t + 10 * S),
    ));
    events.extend(tick(&mut h, t + 309 * S));
    assert!(closed(&events).is_empty());
    events.extend(tick(&mut h, t + 310 * S));
    assert_eq!(closed(&events).len(), 1);
}

#[test]
fn a_flapping_recovery_does_not_close_the_incident_early() {
    let mut h = default_engine();
    let mut events = feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    // Recovers for 4 minutes at a time and overflows again, for almost an hour: each quiet
    // spell is shorter than close_after (5 m), so the incident stays open; it is longer than
    // clear_after (1 m), so the shown status follows, and the cell reads VOLATILE.
    let mut t = T0;
    for _ in 0..12 {
        events.extend(feed(
            &mut h,
            &recovery(PRODUCER, OVERFLOW, "P1", t + 30 * S),
        ));
        for s in (60..=270).step_by(30) {
            events.extend(tick(&mut h, t + s * S));
        }
        assert_eq!(open_count(&h), 1);
        t += 270 * S;
        events.extend(feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", t)));
    }
    assert_eq!(
        opened(&events).len(),
        1,
        "one incident, however often it flaps"
    );
    assert!(closed(&events).is_empty());
    assert_eq!(
        situation(&h, PRODUCER).map(|s| s.variability),
        Some(situations::Variability::Volatile)
    );
    // A flap faster than clear_after is not even shown as a recovery.
    let mut fast = Vec::new();
    for i in 0..10 {
        let at = t + i * 20 * S;
        fast.extend(feed(
            &mut h,
            &recovery(PRODUCER, OVERFLOW, "P1", at + 10 * S),
        ));
        fast.extend(feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", at + 20 * S)));
        fast.extend(tick(&mut h, at + 20 * S));
        assert_ne!(shown(&h, PRODUCER).map(|s| s.sign), Some(Sign::Stable));
    }
    assert!(closed(&fast).is_empty() && opened(&fast).is_empty());
    // It settles: closed close_after after the last recovery, once.
    let end = t + 200 * S;
    fast.extend(feed(&mut h, &recovery(PRODUCER, OVERFLOW, "P1", end)));
    fast.extend(tick(&mut h, end + 299 * S));
    assert!(closed(&fast).is_empty());
    fast.extend(tick(&mut h, end + 300 * S));
    fast.extend(tick(&mut h, end + 600 * S));
    assert_eq!(closed(&fast).len(), 1);
}

#[test]
fn a_member_gone_stale_counts_as_out_of_trouble() {
    // Staleness keeps its meaning: a sidecar that vanished says nothing any more, so its
    // cell leaves the roll-up and the incident, which closes close_after later.
    let mut h = default_engine();
    let mut events = feed(&mut h, &onset(PRODUCER, OVERFLOW, "P1", T0));
    events.extend(tick(&mut h, T0 + 179 * S));
    assert_eq!(open_count(&h), 1);
    events.extend(tick(&mut h, T0 + 181 * S));
    let view = h.lookup(&subject(PRODUCER)).and_then(|id| h.view(id));
    assert!(view.is_some_and(|v| v.stale));
    events.extend(tick(&mut h, T0 + 480 * S));
    assert!(closed(&events).is_empty());
    events.extend(tick(&mut h, T0 + 482 * S));
    assert_eq!(closed(&events).len(), 1);
}
