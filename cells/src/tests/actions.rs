//! Notifications (the Actors layer): de-duplicated by root cause, rate-limited, held below
//! `notify.min_situation` until an escalation, escalations reported at once.

#![allow(clippy::field_reassign_with_default)]

use super::*;

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
