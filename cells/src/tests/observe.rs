//! The Observers: readings per (instrument, rule, source), signs read as default statuses
//! with scorecard confidence, overrides, readings fading after their TTL.

#![allow(clippy::field_reassign_with_default)]

use super::*;

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
