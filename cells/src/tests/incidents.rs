//! Correlation into incidents (the seed's "Order-123 failed"): chains ordered by onset,
//! explanations, unrelated trouble opening its own incident.

#![allow(clippy::field_reassign_with_default)]

use super::*;

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
