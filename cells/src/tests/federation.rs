//! Federation between two engines: a child publishes its cells at a level cut under a
//! prefix, a parent ingests them as leaves (the child's status and confidence kept), opens
//! one incident for the story, follows the recovery back to NORMAL and closes it, lets a
//! silent child's cells go stale and takes them back when it speaks again, and chains a
//! broker in one region with the clients of another.

use kafka_obs_signal::{
    Evidence, Signal, SignalKind,
    statuses::{Confidence, Sign},
};

use super::{
    S, T0, broker_lost_isr, closed, default_engine, feed, healthy_cluster, opened,
    producer_buffer_pressure, shown, situation, st, subject, tick,
};
use crate::Hierarchy;
use crate::federation::{CellRecord, Cut, Gate, Publisher, PublisherConfig};
use kafka_obs_signal::situations;

const MINUTE: u64 = 60 * S;

fn publisher(id: &str, cut: Cut, region: &str) -> Publisher {
    Publisher::new(PublisherConfig {
        id: id.into(),
        cut,
        prefix: vec![("region".into(), region.into())],
        resend_interval_ns: 30 * S,
    })
}

/// Publishes the child's due records into the parent through its gate and ticks the
/// parent; returns how many records went and the parent's events.
fn forward(
    child: &Hierarchy,
    p: &mut Publisher,
    gate: &mut Gate,
    parent: &mut Hierarchy,
    t: u64,
) -> (usize, Vec<crate::Event>) {
    let round = p.round(child, None, t);
    let mut events = Vec::new();
    for record in &round.records {
        let signal = record.to_signal();
        let back = CellRecord::from_signal(&signal)
            .expect("decodes")
            .expect("a record");
        gate.admit(back, t).expect("admitted");
        events.extend(parent.ingest(&signal, t));
    }
    events.extend(tick(parent, t));
    (round.records.len(), events)
}

fn broker_recovered(t: u64) -> Signal {
    Signal::new(
        subject("cluster=prod/broker=2"),
        SignalKind::Statuses(Sign::Stable, Confidence::Confirmed),
        Evidence::rule("B1").with("under_replicated_partitions", 0.0),
        t,
    )
    .from_source("broker-2-sidecar")
}

#[test]
fn the_cut_keeps_cells_within_its_depth_below_the_cluster() {
    let at = |cut: Cut, path: &str| cut.admits(&subject(path));
    assert!(at(Cut::Cluster, "cluster=prod"));
    assert!(at(Cut::Cluster, "region=eu-1/cluster=prod"));
    assert!(!at(Cut::Cluster, "cluster=prod/broker=2"));
    assert!(!at(Cut::Cluster, "region=eu-1"));
    assert!(at(Cut::Service, "cluster=prod/service=orders"));
    assert!(at(Cut::Service, "cluster=prod/broker=2"));
    assert!(!at(
        Cut::Service,
        "cluster=prod/service=orders/instance=pod-1"
    ));
    assert!(at(
        Cut::Instance,
        "cluster=prod/service=orders/instance=pod-1"
    ));
    assert!(at(
        Cut::Client,
        "cluster=prod/service=orders/instance=pod-1/client=p/topic=orders"
    ));
}

#[test]
fn a_parent_keeps_the_childs_status_follows_its_recovery_and_closes_one_incident() {
    let mut child = default_engine();
    let mut parent = default_engine();
    let mut gate = Gate::new("global", 100);
    let mut p = publisher("central-eu", Cut::Service, "eu-1");
    healthy_cluster(&mut child, T0);
    assert_eq!(
        forward(&child, &mut p, &mut gate, &mut parent, T0).0,
        4,
        "two brokers, two services (the cluster has no status of its own)"
    );

    // Onset: the broker loses ISR in the child; the parent shows it with the same confidence.
    feed(&mut child, &broker_lost_isr(T0 + S));
    let mut events = Vec::new();
    let round = p.round(&child, None, T0 + 2 * S);
    assert!(!round.full);
    for r in &round.records {
        events.extend(parent.ingest(&r.to_signal(), T0 + 2 * S));
        gate.admit(r.clone(), T0 + 2 * S).expect("admitted");
    }
    let degraded = st(Sign::Degraded, Confidence::Confirmed);
    assert_eq!(
        shown(&parent, "region=eu-1/cluster=prod/broker=2"),
        Some(degraded)
    );
    assert_eq!(shown(&parent, "region=eu-1/cluster=prod"), Some(degraded));
    assert_eq!(
        shown(&parent, "region=eu-1"),
        Some(degraded),
        "the prefix rolls up too"
    );
    assert_eq!(opened(&events).len(), 1, "one incident for the story");
    let incident = gate
        .get("region=eu-1/cluster=prod/broker=2")
        .and_then(|f| f.incident.clone())
        .expect("the child's incident travels with the cell");
    assert!(incident.key.starts_with("central-eu#"), "{}", incident.key);
    assert_eq!(incident.root_cause, "cluster=prod/broker=2");

    // Nothing changed: no delta. The resend interval sends everything again, no new incident.
    assert_eq!(p.round(&child, None, T0 + 3 * S).records.len(), 0);
    let mut resend = Vec::new();
    let round = p.round(&child, None, T0 + 31 * S);
    assert!(round.full);
    for r in &round.records {
        resend.extend(parent.ingest(&r.to_signal(), T0 + 31 * S));
    }
    assert!(opened(&resend).is_empty(), "a resend opens nothing");

    // Recovery: the child clears after its damping, the parent after its own.
    feed(&mut child, &broker_recovered(T0 + 40 * S));
    tick(&mut child, T0 + 40 * S + 2 * MINUTE);
    forward(
        &child,
        &mut p,
        &mut gate,
        &mut parent,
        T0 + 40 * S + 2 * MINUTE,
    );
    let stable = st(Sign::Stable, Confidence::Confirmed);
    assert_eq!(
        parent
            .lookup(&subject("region=eu-1/cluster=prod/broker=2"))
            .and_then(|id| parent.view(id))
            .and_then(|v| v.own),
        Some(stable),
        "the child's recovery replaced its onset"
    );
    let mut t = T0 + 40 * S + 2 * MINUTE;
    let mut closes = Vec::new();
    while t < T0 + 15 * MINUTE {
        t += 10 * S;
        tick(&mut child, t);
        closes.extend(forward(&child, &mut p, &mut gate, &mut parent, t).1);
    }
    assert_eq!(shown(&parent, "region=eu-1/cluster=prod"), Some(stable));
    assert_eq!(
        situation(&parent, "region=eu-1/cluster=prod").map(|s| s.sign),
        Some(situations::Sign::Normal)
    );
    assert_eq!(closed(&closes).len(), 1, "closed once");
    assert!(parent.incidents().open.is_empty(), "nothing left open");
}

#[test]
fn a_silent_childs_cells_go_stale_and_come_back_when_it_speaks_again() {
    let mut child = default_engine();
    let mut parent = default_engine();
    let mut gate = Gate::new("global", 100);
    let mut p = publisher("central-eu", Cut::Cluster, "eu-1");
    healthy_cluster(&mut child, T0);
    forward(&child, &mut p, &mut gate, &mut parent, T0);
    let path = "region=eu-1/cluster=prod";
    let stale = |h: &Hierarchy| {
        h.lookup(&subject(path))
            .and_then(|id| h.view(id))
            .map(|v| v.stale)
    };
    assert_eq!(stale(&parent), Some(false));
    // Default stale_after is 3m: nothing for 4m.
    tick(&mut parent, T0 + 4 * MINUTE);
    assert_eq!(stale(&parent), Some(true));
    // The child speaks again (its next full resend): fresh.
    let mut p = publisher("central-eu", Cut::Cluster, "eu-1");
    healthy_cluster(&mut child, T0 + 4 * MINUTE);
    forward(&child, &mut p, &mut gate, &mut parent, T0 + 4 * MINUTE + S);
    assert_eq!(stale(&parent), Some(false));
}

#[test]
fn a_broker_in_one_region_and_clients_in_another_make_one_incident() {
    let mut eu = default_engine();
    let mut us = default_engine();
    let mut global = default_engine();
    let mut gate = Gate::new("global", 100);
    let mut p_eu = publisher("central-eu", Cut::Client, "eu-1");
    let mut p_us = publisher("central-us", Cut::Client, "us-1");
    // The brokers live in eu-1, the order service in us-1; both know the topic `orders`.
    for path in [
        "cluster=prod/broker=2/topic=orders/partition=0",
        "cluster=prod/broker=1/topic=payments/partition=0",
    ] {
        feed(
            &mut eu,
            &super::status(path, Sign::Stable, Confidence::Confirmed, "H", T0),
        );
    }
    feed(
        &mut us,
        &super::status(
            "cluster=prod/service=order-service/instance=pod-1/client=order-producer/topic=orders",
            Sign::Stable,
            Confidence::Confirmed,
            "H",
            T0,
        ),
    );
    forward(&eu, &mut p_eu, &mut gate, &mut global, T0);
    forward(&us, &mut p_us, &mut gate, &mut global, T0);
    feed(&mut eu, &broker_lost_isr(T0 + S));
    feed(&mut us, &producer_buffer_pressure(T0 + 2 * S));
    let mut events = Vec::new();
    for (child, p) in [(&eu, &mut p_eu), (&us, &mut p_us)] {
        for r in p.round(child, None, T0 + 3 * S).records {
            events.extend(global.ingest(&r.to_signal(), T0 + 3 * S));
        }
    }
    assert_eq!(opened(&events).len(), 1, "one incident across the regions");
    let incidents = global.incidents();
    assert_eq!(incidents.open.len(), 1);
    let chain: Vec<&str> = incidents.open[0]
        .chain
        .iter()
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(
        chain.first().copied(),
        Some("region=eu-1/cluster=prod/broker=2"),
        "the broker is the root cause: {chain:?}"
    );
    assert!(
        chain.contains(
            &"region=us-1/cluster=prod/service=order-service/instance=pod-1/client=order-producer"
        ),
        "{chain:?}"
    );
}

/// The dedupe keys of the notifications the engine decided to perform.
fn notification_keys(events: &[crate::Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            crate::Event::Action(a) => Some(a.dedupe_key.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn incident_ids_derive_from_the_childs_story_across_parent_restarts_and_tiers() {
    // Three tiers: a sidecar's local circuit, a regional, a global.
    let mut sidecar = default_engine();
    let mut to_regional = publisher("sidecar-eu", Cut::Client, "eu-1");
    let mut regional = default_engine();
    let mut regional_gate = Gate::new("central-eu", 100);
    let mut to_global = Publisher::new(PublisherConfig {
        id: "central-eu".into(),
        cut: Cut::Client,
        prefix: Vec::new(),
        resend_interval_ns: 30 * S,
    });
    let mut global = default_engine();
    let mut global_gate = Gate::new("global", 100);
    healthy_cluster(&mut sidecar, T0);
    forward(
        &sidecar,
        &mut to_regional,
        &mut regional_gate,
        &mut regional,
        T0,
    );
    forward(&regional, &mut to_global, &mut global_gate, &mut global, T0);

    feed(&mut sidecar, &broker_lost_isr(T0 + S));
    let local = sidecar.incidents().open;
    assert_eq!(local.len(), 1);
    assert_eq!(local[0].id, 1, "a local incident keeps its counted id");
    assert_eq!(local[0].story, None);
    let t = T0 + 2 * S;
    let (_, at_regional) = forward(
        &sidecar,
        &mut to_regional,
        &mut regional_gate,
        &mut regional,
        t,
    );
    let (_, at_global) = forward(&regional, &mut to_global, &mut global_gate, &mut global, t);
    let [regional_incident] = opened(&at_regional)[..] else {
        panic!("one incident at the regional: {at_regional:?}");
    };
    let [global_incident] = opened(&at_global)[..] else {
        panic!("one incident at the global: {at_global:?}");
    };
    let story = crate::federation::story::local_key("sidecar-eu", 1, local[0].opened_ns);
    let id = crate::federation::story::incident_id(&story);
    assert_eq!(regional_incident.story.as_deref(), Some(story.as_str()));
    assert_eq!(regional_incident.id, id, "derived from the sidecar's story");
    assert_eq!(
        global_incident.id, id,
        "the regional passes the story on unchanged"
    );
    let first_keys = notification_keys(&at_global);
    assert!(
        first_keys.contains(&format!("incident-{id}-open")),
        "{first_keys:?}"
    );

    // The global central restarts: a fresh engine rebuilt from the regional's next resend
    // opens the incident under the same id, so its notification has the same dedupe key.
    let mut global = default_engine();
    let mut global_gate = Gate::new("global", 100);
    let t = T0 + 31 * S;
    feed(&mut sidecar, &broker_lost_isr(t));
    forward(
        &sidecar,
        &mut to_regional,
        &mut regional_gate,
        &mut regional,
        t,
    );
    let (sent, rebuilt) = forward(&regional, &mut to_global, &mut global_gate, &mut global, t);
    assert!(sent > 1, "a full resend");
    let [again] = opened(&rebuilt)[..] else {
        panic!("the restarted global opens it once: {rebuilt:?}");
    };
    assert_eq!(again.id, id, "the same id after the restart");
    assert_eq!(
        notification_keys(&rebuilt),
        first_keys,
        "the same dedupe key"
    );

    // The regional restarts too: rebuilt from the sidecar's resend, its incident has the
    // same id and story, so the global (which kept its incident) opens nothing new.
    let mut regional = default_engine();
    let mut regional_gate = Gate::new("central-eu", 100);
    let mut to_regional = publisher("sidecar-eu", Cut::Client, "eu-1");
    let mut to_global = Publisher::new(to_global.config().clone());
    let t = T0 + 35 * S;
    let (_, at_regional) = forward(
        &sidecar,
        &mut to_regional,
        &mut regional_gate,
        &mut regional,
        t,
    );
    assert_eq!(opened(&at_regional).first().map(|i| i.id), Some(id));
    let (_, at_global) = forward(&regional, &mut to_global, &mut global_gate, &mut global, t);
    assert!(opened(&at_global).is_empty(), "{at_global:?}");
    assert_eq!(
        global
            .incidents()
            .open
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        vec![id]
    );

    // The way back: the sidecar's recovery closes the story's incident at every tier once.
    feed(&mut sidecar, &broker_recovered(T0 + 40 * S));
    let mut t = T0 + 40 * S;
    let mut closes = Vec::new();
    while t < T0 + 15 * MINUTE {
        t += 10 * S;
        tick(&mut sidecar, t);
        forward(
            &sidecar,
            &mut to_regional,
            &mut regional_gate,
            &mut regional,
            t,
        );
        closes.extend(forward(&regional, &mut to_global, &mut global_gate, &mut global, t).1);
    }
    let closed_ids: Vec<u64> = closed(&closes).iter().map(|i| i.id).collect();
    assert_eq!(closed_ids, vec![id], "closed once, under the story's id");
    assert!(global.incidents().open.is_empty());
    assert!(
        notification_keys(&closes).contains(&format!("incident-{id}-close")),
        "{closes:?}"
    );
}
