//! Pack `kafka_admin` through the engine: rows keyed by group × topic × partition, by topic ×
//! partition and by cluster, their subjects, and each condition's onset and recovery.

use crate::common::{Harness, P, SECOND, p};
use kafka_obs_signal::Signal;

const GROUP: &[(&str, &str)] = &[
    ("group", "billing"),
    ("topic", "orders"),
    ("partition", "0"),
];
const PARTITION: &[(&str, &str)] = &[("topic", "orders"), ("partition", "0")];

fn admin() -> Harness {
    let mut h = Harness::new("packs: {kafka_admin: {window: 5, time_lag_threshold: 30}}");
    h.step = SECOND;
    h.resource = vec![("kafka.cluster", "prod")];
    h
}

/// One poll of the group's partition: committed offset, lag, time lag; the group's members.
fn group(offset: f64, lag: f64, time_lag: f64, members: f64) -> Vec<P> {
    vec![
        p("kafka.consumer_group.offset", GROUP, offset),
        p("kafka.consumer_group.lag", GROUP, lag),
        p("kafka.consumer_group.time_lag", GROUP, time_lag),
        p(
            "kafka.consumer_group.members",
            &[("group", "billing")],
            members,
        ),
    ]
}

/// The rule signals of `rule` as `Instrument.SIGN[.DIMENSION]/phase`.
fn of(signals: &[Signal], rule: &str) -> Vec<String> {
    signals
        .iter()
        .filter(|s| s.evidence.rule == rule)
        .map(|s| {
            format!(
                "{}/{}",
                s.kind,
                s.attributes
                    .get("kafka_obs.condition")
                    .map_or("-", String::as_str)
            )
        })
        .collect()
}

#[test]
fn k1_a_paused_consumer_stalls_then_stops_and_clears_once_it_catches_up() {
    let mut h = admin();
    let mut seen: Vec<(usize, String)> = Vec::new();
    let mut subject = None;
    let mut burrow = Vec::new();
    // Consuming, then paused for 14 polls while producers go on, then resumed.
    let mut polls: Vec<(f64, f64)> = (0..5).map(|k| (100.0 * f64::from(k), 10.0)).collect();
    polls.extend((0..14).map(|k| (400.0, 20.0 + 10.0 * f64::from(k))));
    polls.extend([(500.0, 60.0), (600.0, 0.0), (610.0, 0.0)]);
    for (i, (offset, lag)) in polls.iter().enumerate() {
        let out = h.poll(&group(*offset, *lag, 0.0, 1.0));
        for s in out.signals.iter().filter(|s| s.evidence.rule == "K1") {
            subject = Some(s.subject.qualified());
            burrow.push(
                s.attributes
                    .get("burrow.status")
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        seen.extend(of(&out.signals, "K1").into_iter().map(|s| (i, s)));
    }
    let kinds: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    // WARN while the lag grew after the last move, STALL once the window shows no move,
    // STOP once it has not moved for two windows, OK (the recovery) once it moves again.
    assert_eq!(
        kinds,
        [
            "Statuses.DIVERGING.MEASURED/onset",
            "Statuses.DEGRADED.MEASURED/onset",
            "Statuses.DOWN.MEASURED/onset",
            "Statuses.STABLE.MEASURED/recovery",
        ],
        "{seen:?}"
    );
    assert_eq!(burrow, ["WARN", "STALL", "STOP", "OK"]);
    assert_eq!(seen[3].0, 19, "recovered on the poll that moved the offset");
    assert_eq!(
        subject.as_deref(),
        Some("cluster=prod/group=billing/topic=orders/partition=0")
    );
}

#[test]
fn k1_members_without_commits_are_err_and_clear_with_the_first_commit() {
    let mut h = admin();
    let mut kinds = Vec::new();
    for _ in 0..6 {
        kinds.extend(of(&h.poll(&group(-1.0, -1.0, 0.0, 2.0)).signals, "K1"));
    }
    assert_eq!(kinds, ["Statuses.DEFECTIVE.MEASURED/onset"]);
    let back = h.poll(&group(50.0, 0.0, 0.0, 2.0));
    assert_eq!(
        of(&back.signals, "K1"),
        ["Statuses.STABLE.MEASURED/recovery"]
    );
}

#[test]
fn k1_a_reset_to_earlier_offsets_is_a_rewind_that_clears() {
    let mut h = admin();
    let mut kinds = Vec::new();
    let mut rewound = None;
    let mut polls: Vec<(f64, f64)> = (0..5)
        .map(|k| (1000.0 + 10.0 * f64::from(k), 5.0))
        .collect();
    polls.push((100.0, 950.0));
    polls.extend((1..=6).map(|k| (100.0 + 150.0 * f64::from(k), 950.0 - 150.0 * f64::from(k))));
    for (offset, lag) in polls {
        let out = h.poll(&group(offset, lag, 0.0, 1.0));
        if let Some(s) = out.signals.iter().find(|s| s.evidence.rule == "K1") {
            rewound = rewound.or(s.evidence.get("rewound_records"));
        }
        kinds.extend(of(&out.signals, "K1"));
    }
    assert_eq!(
        kinds,
        [
            "Statuses.ERRATIC.MEASURED/onset",
            "Statuses.STABLE.MEASURED/recovery"
        ]
    );
    assert_eq!(rewound, Some(940.0));
}

#[test]
fn k2_k3_time_lag_over_the_threshold_and_growing_at_wall_clock_speed_clear_when_it_falls() {
    let mut h = admin();
    let mut a2 = Vec::new();
    let mut a3 = Vec::new();
    let mut growth = None;
    // Paused: the time lag grows by one second per second of wall time.
    for k in 0..40 {
        let out = h.poll(&group(100.0, 5.0, f64::from(k), 1.0));
        a2.extend(of(&out.signals, "K2"));
        a3.extend(of(&out.signals, "K3"));
        if let Some(s) = out.signals.iter().find(|s| s.evidence.rule == "K3") {
            growth = growth.or(s.evidence.get("growth_per_second"));
        }
    }
    assert_eq!(a2, ["Statuses.DEGRADED.MEASURED/onset"]);
    assert_eq!(a3, ["Statuses.DIVERGING.MEASURED/onset"]);
    assert_eq!(growth, Some(1.0));
    // Caught up.
    let mut a2 = Vec::new();
    let mut a3 = Vec::new();
    for _ in 0..6 {
        let out = h.poll(&group(500.0, 0.0, 0.0, 1.0));
        a2.extend(of(&out.signals, "K2"));
        a3.extend(of(&out.signals, "K3"));
    }
    assert_eq!(a2, ["Statuses.STABLE.MEASURED/recovery"]);
    assert_eq!(a3, ["Statuses.STABLE.MEASURED/recovery"]);
}

#[test]
fn k7_a_group_emptied_and_joined_again_is_said_on_the_group() {
    let mut h = admin();
    let members = |n: f64| {
        vec![p(
            "kafka.consumer_group.members",
            &[("group", "billing")],
            n,
        )]
    };
    assert!(of(&h.poll(&members(2.0)).signals, "K7").is_empty());
    let out = h.poll(&members(0.0));
    assert_eq!(of(&out.signals, "K7"), ["Members.LEAVE.PEER/-"]);
    let s = out
        .signals
        .iter()
        .find(|s| s.evidence.rule == "K7")
        .expect("K7");
    assert_eq!(s.subject.qualified(), "cluster=prod/group=billing");
    assert_eq!(
        of(&h.poll(&members(1.0)).signals, "K7"),
        ["Members.JOIN.PEER/-"]
    );
}

#[test]
fn k4_k5_k6_replicas_and_leader_on_the_partition_each_clear() {
    let mut h = admin();
    let meta = |isr: f64, leader: f64, offline: f64| {
        vec![
            p("kafka.partition.replicas", PARTITION, 3.0),
            p("kafka.partition.replicas_in_sync", PARTITION, isr),
            p("kafka.partition.leader", PARTITION, leader),
            p("kafka.partition.offline_replicas", PARTITION, offline),
        ]
    };
    assert!(
        h.poll(&meta(3.0, 1.0, 0.0))
            .signals
            .iter()
            .all(|s| !s.evidence.rule.starts_with('K'))
    );
    let out = h.poll(&meta(1.0, -1.0, 2.0));
    assert_eq!(of(&out.signals, "K4"), ["Statuses.DEGRADED.MEASURED/onset"]);
    assert_eq!(
        of(&out.signals, "K5"),
        ["Statuses.DEFECTIVE.MEASURED/onset"]
    );
    assert_eq!(of(&out.signals, "K6"), ["Statuses.DOWN.MEASURED/onset"]);
    let s = out
        .signals
        .iter()
        .find(|s| s.evidence.rule == "K6")
        .expect("K6");
    assert_eq!(
        s.subject.qualified(),
        "cluster=prod/topic=orders/partition=0"
    );
    let out = h.poll(&meta(3.0, 2.0, 0.0));
    for rule in ["K4", "K5", "K6"] {
        assert_eq!(
            of(&out.signals, rule),
            ["Statuses.STABLE.MEASURED/recovery"],
            "{rule}"
        );
    }
}

#[test]
fn k8_a_broker_that_left_comes_back_or_is_accepted_after_the_hold() {
    let mut h = Harness::new("packs: {kafka_admin: {window: 3, broker_left_hold: 5s}}");
    h.step = SECOND;
    h.resource = vec![("kafka.cluster", "prod")];
    let brokers = |n: f64| vec![p("kafka.brokers", &[], n)];
    h.poll(&brokers(3.0));
    let out = h.poll(&brokers(2.0));
    assert_eq!(of(&out.signals, "K8"), ["Members.LEAVE.PEER/onset"]);
    assert_eq!(out.signals[0].subject.qualified(), "cluster=prod");
    assert_eq!(
        of(&h.poll(&brokers(3.0)).signals, "K8"),
        ["Members.JOIN.PEER/recovery"]
    );
    // Decommissioned: the smaller count becomes the cluster's size after the hold.
    h.poll(&brokers(2.0));
    let mut later = Vec::new();
    for _ in 0..6 {
        later.extend(of(&h.poll(&brokers(2.0)).signals, "K8"));
    }
    assert_eq!(later, ["Members.JOIN.PEER/recovery"]);
}

#[test]
fn k9_a_controller_change_is_erratic_for_a_window_and_no_controller_is_down() {
    let mut h = Harness::new("packs: {kafka_admin: {window: 3}}");
    h.step = SECOND;
    h.resource = vec![("kafka.cluster", "prod")];
    let controller = |id: f64| vec![p("kafka.cluster.controller", &[], id)];
    let mut kinds = Vec::new();
    for id in [1.0, 1.0, 2.0, 2.0, 2.0, 2.0, -1.0, 3.0] {
        kinds.extend(of(&h.poll(&controller(id)).signals, "K9"));
    }
    assert_eq!(
        kinds,
        [
            "Statuses.ERRATIC.MEASURED/onset",
            "Statuses.STABLE.MEASURED/recovery",
            "Statuses.DOWN.MEASURED/onset",
            "Statuses.STABLE.MEASURED/recovery",
        ]
    );
}

#[test]
fn bad_pack_keys_name_their_path() {
    use kafka_obs_processor::signals::SignalsConfig;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("packs: {kafka_admin: {window: 1}}").expect("yaml");
    let e = SignalsConfig::parse(&value).expect_err("window");
    assert_eq!(e.path, "packs::kafka_admin::window");
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("packs: {kafka_admin: {time_lag_growth: 0}}").expect("yaml");
    let e = SignalsConfig::parse(&value).expect_err("growth");
    assert_eq!(e.path, "packs::kafka_admin::time_lag_growth");
}

#[test]
fn k1_a_group_with_members_that_committed_nothing_is_err_on_the_group_and_clears() {
    let mut h = admin();
    let group = |committed: f64| {
        vec![
            p("kafka.consumer_group.members", &[("group", "billing")], 2.0),
            p(
                "kafka.consumer_group.committed_partitions",
                &[("group", "billing")],
                committed,
            ),
        ]
    };
    let mut kinds = Vec::new();
    for _ in 0..6 {
        kinds.extend(of(&h.poll(&group(0.0)).signals, "K1"));
    }
    assert_eq!(kinds, ["Statuses.DEFECTIVE.MEASURED/onset"]);
    let back = h.poll(&group(1.0));
    assert_eq!(
        of(&back.signals, "K1"),
        ["Statuses.STABLE.MEASURED/recovery"]
    );
    let s = back
        .signals
        .iter()
        .find(|s| s.evidence.rule == "K1")
        .expect("K1");
    assert_eq!(s.subject.qualified(), "cluster=prod/group=billing");
}

#[test]
fn k10_a_member_client_id_becomes_the_groups_client_subject_and_leaves_with_its_count() {
    let mut h = admin();
    let member = |n: f64| {
        vec![
            p(
                "kafka.consumer_group.client.members",
                &[
                    ("group", "billing"),
                    ("client.id", "billing-consumer"),
                    ("client.host", "/10.0.0.7"),
                ],
                n,
            ),
            p(
                "kafka.consumer_group.client.assigned_partitions",
                &[
                    ("group", "billing"),
                    ("client.id", "billing-consumer"),
                    ("client.host", "/10.0.0.7"),
                ],
                if n > 0.0 { 3.0 } else { 0.0 },
            ),
        ]
    };
    let out = h.poll(&member(2.0));
    assert_eq!(of(&out.signals, "K10"), ["Members.JOIN.PEER/-"]);
    let join = out
        .signals
        .iter()
        .find(|s| s.evidence.rule == "K10")
        .expect("K10");
    assert_eq!(
        join.subject.qualified(),
        "cluster=prod/group=billing/client=billing-consumer",
        "the member's client id is the `client` level the sidecars' cells use"
    );
    assert_eq!(join.evidence.values.get("assigned_partitions"), Some(&3.0));
    assert_eq!(
        join.attributes.get("client.host").map(String::as_str),
        Some("/10.0.0.7")
    );
    // Its subject is stated, so the hierarchy gets the member list.
    assert!(
        out.signals
            .iter()
            .any(|s| s.evidence.rule == "status" && s.subject == join.subject),
        "{:?}",
        out.signals
    );
    assert!(of(&h.poll(&member(2.0)).signals, "K10").is_empty());
    assert_eq!(
        of(&h.poll(&member(0.0)).signals, "K10"),
        ["Members.LEAVE.PEER/-"]
    );
    assert_eq!(
        of(&h.poll(&member(1.0)).signals, "K10"),
        ["Members.JOIN.PEER/-"]
    );
}

#[test]
fn k11_a_broker_that_leads_too_few_of_its_preferred_partitions_diverges_and_clears() {
    let mut h = admin();
    let broker = |preferred: f64, led: f64| {
        vec![
            p(
                "kafka.broker.preferred_partitions",
                &[("broker.id", "2")],
                preferred,
            ),
            p(
                "kafka.broker.preferred_partitions_led",
                &[("broker.id", "2")],
                led,
            ),
        ]
    };
    // 1 of 20 not led (5 %) is within Kafka's 10 %.
    assert!(of(&h.poll(&broker(20.0, 19.0)).signals, "K11").is_empty());
    let out = h.poll(&broker(20.0, 14.0));
    assert_eq!(
        of(&out.signals, "K11"),
        ["Statuses.DIVERGING.MEASURED/onset"]
    );
    let s = out
        .signals
        .iter()
        .find(|s| s.evidence.rule == "K11")
        .expect("K11");
    assert_eq!(s.subject.qualified(), "cluster=prod/broker=2");
    assert_eq!(s.evidence.values.get("imbalance"), Some(&0.3));
    assert_eq!(
        s.evidence.values.get("preferred_partitions_not_led"),
        Some(&6.0)
    );
    assert_eq!(s.evidence.threshold, Some(0.1));
    // Still imbalanced: the condition holds without a new onset.
    assert!(of(&h.poll(&broker(20.0, 15.0)).signals, "K11").is_empty());
    // A preferred-replica election: the broker leads its partitions again.
    assert_eq!(
        of(&h.poll(&broker(20.0, 20.0)).signals, "K11"),
        ["Statuses.STABLE.MEASURED/recovery"]
    );
    // A broker preferred for nothing is balanced.
    assert!(of(&h.poll(&broker(0.0, 0.0)).signals, "K11").is_empty());
}

#[test]
fn k11_a_leader_imbalance_that_is_not_a_share_is_refused_with_its_path() {
    use kafka_obs_processor::signals::SignalsConfig;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("packs: {kafka_admin: {leader_imbalance: 1.5}}").expect("yaml");
    let e = SignalsConfig::parse(&value).expect_err("leader_imbalance");
    assert_eq!(e.path, "packs::kafka_admin::leader_imbalance");
}
