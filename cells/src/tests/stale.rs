//! Staleness and eviction: vanished cells go stale and leave the roll-up, are forgotten,
//! evicted for room (stale first), revived; dropping a cluster; evicted ids stay dead.

#![allow(clippy::field_reassign_with_default)]

use super::*;

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
    feed(&mut h, &healthy("cluster=a/broker=1", T0));
    feed(&mut h, &healthy("cluster=b/broker=1", T0 + 10 * S));
    assert_eq!(h.len(), 5);
    // Full with nothing stale: refused, counted.
    let refused = h.ingest_into(
        &healthy("cluster=c/broker=1", T0 + 20 * S),
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
        &healthy("cluster=c/broker=1", T0 + 66 * S),
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
    feed(&mut h, &healthy("cluster=a/broker=1", T0));
    tick(&mut h, T0 + 61 * S);
    // Needs one more cell under the stale cluster: the only stale candidate not on the path
    // is broker=1.
    let r = h.ingest_into(
        &healthy("cluster=a/broker=2", T0 + 62 * S),
        T0 + 62 * S,
        &mut Vec::new(),
    );
    assert_eq!(r, Ingested::Applied);
    h.check().unwrap_or_else(|e| panic!("{e}"));
    assert!(h.lookup(&subject("cluster=a/broker=2")).is_some());
    assert!(h.lookup(&subject("cluster=a/broker=1")).is_none());
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
    feed(&mut h, &healthy("cluster=b", T0 + 5 * S));
    let new = h.lookup(&subject("cluster=b")).expect("exists");
    assert_ne!(old, new);
    assert!(h.view(old).is_none());
    assert!(h.subject(old).is_none());
}
