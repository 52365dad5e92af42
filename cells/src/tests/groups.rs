//! The broker's view of consumers (`kafka_admin`): a group's partitions roll up into the group,
//! and an incident chains the group (broker view) with its members' client cells (sidecar
//! view), the partition's replicas and the brokers hosting its topic, not with clients of other
//! groups.

#![allow(clippy::field_reassign_with_default)]

use super::*;

const GROUP: &str = "cluster=prod/group=billing";
const GROUP_PARTITION: &str = "cluster=prod/group=billing/topic=orders/partition=0";
const MEMBER: &str = "cluster=prod/service=billing-service/instance=pod-1/client=billing-consumer";
const OTHER: &str = "cluster=prod/service=audit-service/instance=pod-4/client=audit-consumer";

/// Two consumer services read `orders`; only `billing-consumer` is a member of `billing`, and
/// the group lists it (`group=billing/client=billing-consumer`, the member count by client).
fn healthy_groups(h: &mut Hierarchy, t: u64) {
    for path in [
        GROUP_PARTITION,
        "cluster=prod/group=billing/client=billing-consumer",
        "cluster=prod/topic=orders/partition=0",
        "cluster=prod/broker=2/topic=orders/partition=0",
        "cluster=prod/broker=1/topic=payments/partition=0",
        "cluster=prod/service=billing-service/instance=pod-1/client=billing-consumer/topic=orders",
        "cluster=prod/service=audit-service/instance=pod-4/client=audit-consumer/topic=orders",
    ] {
        feed(
            h,
            &status(path, Sign::Stable, Confidence::Confirmed, "H", t),
        );
    }
}

#[test]
fn a_stopped_group_partition_rolls_up_and_chains_with_its_member_not_another_groups_client() {
    let mut h = default_engine();
    healthy_groups(&mut h, T0);
    let (t0, t1, t2) = (T0 + 60 * S, T0 + 90 * S, T0 + 100 * S);
    let mut events = feed(
        &mut h,
        &status(GROUP_PARTITION, Sign::Down, Confidence::Measured, "K1", t0),
    );
    assert_eq!(
        rolled(&h, GROUP).map(|s| s.sign),
        Some(Sign::Down),
        "a group's status is its worst partition's"
    );
    events.extend(feed(
        &mut h,
        &status(MEMBER, Sign::Degraded, Confidence::Measured, "C11", t1),
    ));
    events.extend(feed(
        &mut h,
        &status(OTHER, Sign::Degraded, Confidence::Measured, "C6", t2),
    ));
    let opened = opened(&events);
    assert_eq!(
        opened.len(),
        2,
        "the other group's client is its own incident"
    );
    let incidents = h.incidents();
    let chains: Vec<Vec<&str>> = incidents.open.iter().map(chain_names).collect();
    assert!(
        chains.contains(&vec![
            "group=billing/topic=orders/partition=0",
            "service=billing-service/instance=pod-1/client=billing-consumer",
        ]),
        "{chains:?}"
    );
    assert!(
        chains.contains(&vec![
            "service=audit-service/instance=pod-4/client=audit-consumer"
        ]),
        "{chains:?}"
    );

    // The way back: the partition is OK again, the group rolls back to STABLE.
    feed(
        &mut h,
        &status(
            GROUP_PARTITION,
            Sign::Stable,
            Confidence::Measured,
            "K1",
            t2 + 10 * S,
        ),
    );
    assert_eq!(rolled(&h, GROUP).map(|s| s.sign), Some(Sign::Stable));
}

#[test]
fn a_group_partition_chains_with_the_partitions_replicas_and_its_brokers() {
    let mut h = default_engine();
    healthy_groups(&mut h, T0);
    let t0 = T0 + 60 * S;
    let mut events = feed(
        &mut h,
        &status(
            "cluster=prod/topic=orders/partition=0",
            Sign::Down,
            Confidence::Measured,
            "K6",
            t0,
        ),
    );
    events.extend(feed(
        &mut h,
        &status(
            GROUP_PARTITION,
            Sign::Degraded,
            Confidence::Measured,
            "K1",
            t0 + 10 * S,
        ),
    ));
    events.extend(feed(
        &mut h,
        &status(
            "cluster=prod/broker=2",
            Sign::Degraded,
            Confidence::Confirmed,
            "B1",
            t0 + 20 * S,
        ),
    ));
    // Broker 1 hosts `payments` only: not related.
    events.extend(feed(
        &mut h,
        &status(
            "cluster=prod/broker=1",
            Sign::Degraded,
            Confidence::Confirmed,
            "B1",
            t0 + 30 * S,
        ),
    ));
    assert_eq!(opened(&events).len(), 2);
    let incidents = h.incidents();
    let chains: Vec<Vec<&str>> = incidents.open.iter().map(chain_names).collect();
    assert!(
        chains.contains(&vec![
            "topic=orders/partition=0",
            "group=billing/topic=orders/partition=0",
            "broker=2",
        ]),
        "{chains:?}"
    );
}

#[test]
fn a_group_that_lists_no_members_chains_with_any_client_of_its_topics() {
    let mut h = default_engine();
    for path in [
        GROUP_PARTITION,
        "cluster=prod/service=audit-service/instance=pod-4/client=audit-consumer/topic=orders",
        "cluster=prod/service=pay-service/instance=pod-7/client=pay-consumer/topic=payments",
    ] {
        feed(
            &mut h,
            &status(path, Sign::Stable, Confidence::Confirmed, "H", T0),
        );
    }
    let t0 = T0 + 60 * S;
    let mut events = feed(
        &mut h,
        &status(GROUP_PARTITION, Sign::Down, Confidence::Measured, "K1", t0),
    );
    events.extend(feed(
        &mut h,
        &status(
            OTHER,
            Sign::Degraded,
            Confidence::Measured,
            "C11",
            t0 + 10 * S,
        ),
    ));
    events.extend(feed(
        &mut h,
        &status(
            "cluster=prod/service=pay-service/instance=pod-7/client=pay-consumer",
            Sign::Degraded,
            Confidence::Measured,
            "C11",
            t0 + 20 * S,
        ),
    ));
    assert_eq!(opened(&events).len(), 2, "pay-consumer reads another topic");
    let incidents = h.incidents();
    let chains: Vec<Vec<&str>> = incidents.open.iter().map(chain_names).collect();
    assert!(
        chains.contains(&vec![
            "group=billing/topic=orders/partition=0",
            "service=audit-service/instance=pod-4/client=audit-consumer",
        ]),
        "{chains:?}"
    );
}

/// Two groups read `orders`, each listing its member's client id (the `kafka_admin` pack's K10
/// `group / client` subjects): a STALL on `billing`'s partition chains with the sidecar cell
/// of `billing-consumer` only, though `audit-consumer` reads the same topic and is troubled
/// too; the audit group's own STALL chains with `audit-consumer`. Both clear on the way back.
#[test]
fn a_stalled_group_partition_chains_with_the_client_of_its_member_client_id_only() {
    let mut h = default_engine();
    const AUDIT_PARTITION: &str = "cluster=prod/group=audit/topic=orders/partition=0";
    for path in [
        GROUP_PARTITION,
        AUDIT_PARTITION,
        "cluster=prod/group=billing/client=billing-consumer",
        "cluster=prod/group=audit/client=audit-consumer",
        "cluster=prod/service=billing-service/instance=pod-1/client=billing-consumer/topic=orders",
        "cluster=prod/service=audit-service/instance=pod-4/client=audit-consumer/topic=orders",
    ] {
        feed(
            &mut h,
            &status(path, Sign::Stable, Confidence::Confirmed, "K10", T0),
        );
    }
    let t0 = T0 + 60 * S;
    let mut events = feed(
        &mut h,
        &status(
            GROUP_PARTITION,
            Sign::Degraded,
            Confidence::Measured,
            "K1",
            t0,
        ),
    );
    events.extend(feed(
        &mut h,
        &status(
            OTHER,
            Sign::Degraded,
            Confidence::Measured,
            "C11",
            t0 + 10 * S,
        ),
    ));
    events.extend(feed(
        &mut h,
        &status(
            MEMBER,
            Sign::Degraded,
            Confidence::Measured,
            "C11",
            t0 + 20 * S,
        ),
    ));
    events.extend(feed(
        &mut h,
        &status(
            AUDIT_PARTITION,
            Sign::Degraded,
            Confidence::Measured,
            "K1",
            t0 + 30 * S,
        ),
    ));
    assert_eq!(
        opened(&events).len(),
        2,
        "one incident per group and its own member"
    );
    let incidents = h.incidents();
    let chains: Vec<Vec<&str>> = incidents.open.iter().map(chain_names).collect();
    assert!(
        chains.contains(&vec![
            "group=billing/topic=orders/partition=0",
            "service=billing-service/instance=pod-1/client=billing-consumer",
        ]),
        "{chains:?}"
    );
    assert!(
        chains.contains(&vec![
            "service=audit-service/instance=pod-4/client=audit-consumer",
            "group=audit/topic=orders/partition=0",
        ]),
        "{chains:?}"
    );
    assert_eq!(rolled(&h, GROUP).map(|s| s.sign), Some(Sign::Degraded));

    // The way back: billing's partition moves again and its client recovers.
    let t1 = t0 + 60 * S;
    for (path, rule) in [(GROUP_PARTITION, "K1"), (MEMBER, "C11")] {
        feed(
            &mut h,
            &status(path, Sign::Stable, Confidence::Measured, rule, t1),
        );
    }
    assert_eq!(rolled(&h, GROUP).map(|s| s.sign), Some(Sign::Stable));
    // Billing's incident has every member recovered; audit's is untouched.
    for incident in h.incidents().open {
        let billing = chain_names(&incident)
            .iter()
            .any(|name| name.contains("billing"));
        assert_eq!(
            incident.chain.iter().all(|l| l.recovered),
            billing,
            "{incident:?}"
        );
    }
}
