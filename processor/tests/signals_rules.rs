//! Table-driven tests of every rule of `docs/rules.md`, with the seed's numbers where it
//! gives them. Each case is a sequence of polls (10 s apart) and, per poll, the signals the
//! rules emit, written `Instrument.SIGN[.DIMENSION]@rule`.

use crate::common;

use common::{Harness, P, SECOND, all, p, said};
use kafka_obs_signal::condition::Phase;
use kafka_obs_signal::otlp::status::STATUS_METRIC;
use kafka_obs_signal::statuses::Sign;

const PRODUCER: &[(&str, &str)] = &[("client-id", "order-producer")];
const PRODUCER_TOPIC: &[(&str, &str)] = &[("client-id", "order-producer"), ("topic", "orders")];
const CONSUMER: &[(&str, &str)] = &[("client-id", "inventory-consumer")];

/// Runs `polls` and checks each poll's signals, keeping only the rules in `rules` (all when
/// empty).
fn table(yaml: &str, rules: &[&str], polls: &[(Vec<P>, &[&str])]) -> Harness {
    let mut h = Harness::new(yaml);
    for (i, (points, want)) in polls.iter().enumerate() {
        let got: Vec<String> = h
            .said(points)
            .into_iter()
            .filter(|s| rules.is_empty() || rules.iter().any(|r| s.ends_with(&format!("@{r}"))))
            .collect();
        assert_eq!(got, *want, "poll {i}");
    }
    h
}

fn buffer(utilization: f64) -> Vec<P> {
    vec![
        p(
            "kafka.producer.buffer-available-bytes",
            PRODUCER,
            (1.0 - utilization) * 100.0,
        ),
        p("kafka.producer.buffer-total-bytes", PRODUCER, 100.0),
    ]
}

#[test]
fn p1_p2_p3_buffer_pressure_and_overflow_with_hysteresis() {
    table(
        "packs: {kafka-producer: }",
        &["P1", "P2", "P3"],
        &[
            (buffer(0.50), &[]),
            (buffer(0.81), &["Systems.LIMIT.SPACE@P2"]),
            (buffer(0.96), &["Queues.OVERFLOW@P1"]),
            (buffer(0.96), &[]),
            (buffer(0.93), &[]), // above 0.95 - 5 %: still OVERFLOW
            (buffer(0.90), &["Queues.ENQUEUE@P1"]), // P1 recovers, P2 still holds
            (buffer(0.78), &[]), // above 0.80 - 5 %: still LIMIT
            (buffer(0.70), &["Systems.NORMAL.SPACE@P2"]),
            (buffer(0.70), &[]),
            (
                buffer(0.97),
                &["Systems.LIMIT.SPACE@P2", "Queues.OVERFLOW@P1"],
            ),
            (
                buffer(0.10),
                &["Queues.ENQUEUE@P1", "Systems.NORMAL.SPACE@P2"],
            ),
        ],
    );
}

#[test]
fn p1_evidence_has_the_utilization_the_capacity_and_the_threshold() {
    let mut h = Harness::new("packs: {kafka-producer: }");
    let e = h.poll(&buffer(0.96));
    let s = e
        .signals
        .iter()
        .find(|s| s.evidence.rule == "P1")
        .expect("P1 signal");
    assert!((s.evidence.get("utilization").unwrap_or(0.0) - 0.96).abs() < 1e-9);
    assert_eq!(s.evidence.get("total_bytes"), Some(100.0));
    assert_eq!(s.evidence.threshold, Some(0.95));
    assert_eq!(
        s.subject.qualified(),
        "cluster=prod/service=order-service/instance=pod-1/client=order-producer"
    );
}

#[test]
fn p5_exhaustions_are_increments_and_overflows_and_a_reset_is_a_reset() {
    let exhausted = |v| vec![p("kafka.producer.buffer-exhausted-total", PRODUCER, v)];
    let h = table(
        "packs: {kafka-producer: }",
        &["P5"],
        &[
            (exhausted(0.0), &[]),
            (exhausted(0.0), &[]),
            (
                exhausted(2.0),
                &["Counters.INCREMENT@P5", "Queues.OVERFLOW@P5"],
            ),
            (
                exhausted(4.0),
                &["Counters.INCREMENT@P5", "Queues.OVERFLOW@P5"],
            ),
            // The client restarted: the counter began again. Not an increment of a huge delta.
            // No exhaustion in this poll: the overflow is over.
            (exhausted(1.0), &["Counters.RESET@P5", "Queues.ENQUEUE@P5"]),
            (
                exhausted(3.0),
                &["Counters.INCREMENT@P5", "Queues.OVERFLOW@P5"],
            ),
        ],
    );
    drop(h);
    let mut h = Harness::new("packs: {kafka-producer: }");
    h.poll(&exhausted(5.0));
    let e = h.poll(&exhausted(7.0));
    assert_eq!(e.signals[0].evidence.get("delta"), Some(2.0));
}

#[test]
fn p6_batch_size_moves_beyond_the_dead_band() {
    let batch = |v| vec![p("kafka.producer.batch-size-avg", PRODUCER, v)];
    table(
        "packs: {kafka-producer: }",
        &["P6"],
        &[
            (batch(12000.0), &[]),
            (batch(12100.0), &[]), // 0.8 % of the reference
            (batch(12200.0), &["Gauges.INCREMENT@P6"]),
            (batch(12200.0), &[]),
            (batch(11000.0), &["Gauges.DECREMENT@P6"]),
        ],
    );
}

#[test]
fn p7_p4_c5_throughput_and_capacity_are_passthrough() {
    let mut h = Harness::new("");
    let e = h.poll(&[
        p("kafka.producer.record-send-rate", PRODUCER, 1000.0),
        p("kafka.consumer.total.bytes-consumed-rate", CONSUMER, 5e5),
    ]);
    assert!(said(&e.signals).is_empty());
}

#[test]
fn p8_latency_50_150_500_is_diverging() {
    let latency = |v| vec![p("kafka.producer.request-latency-avg", PRODUCER, v)];
    table(
        "packs: {kafka-producer: }",
        &["P8"],
        &[
            (latency(50.0), &[]),
            (latency(150.0), &[]),
            (latency(500.0), &["Statuses.DIVERGING.MEASURED@P8"]),
            (latency(900.0), &[]),
            // Three agreeing polls: the condition is CONFIRMED, and the signal says so once.
            (latency(900.0), &["Statuses.DIVERGING.CONFIRMED@P8"]),
            (latency(900.0), &["Statuses.STABLE.MEASURED@P8"]), // settled
            (latency(600.0), &[]),
            (latency(300.0), &[]),
            (latency(120.0), &["Statuses.CONVERGING.MEASURED@P8"]),
        ],
    );
}

#[test]
fn p8_a_single_spike_is_not_diverging() {
    let latency = |v| vec![p("kafka.producer.request-latency-avg", PRODUCER, v)];
    let polls: Vec<(Vec<P>, &[&str])> = [50.0, 52.0, 49.0, 55.0, 900.0, 50.0, 51.0, 49.0]
        .iter()
        .map(|v| (latency(*v), &[][..]))
        .collect();
    table("packs: {kafka-producer: }", &["P8"], &polls);
}

#[test]
fn p8_latency_under_min_latency_ms_is_never_diverging() {
    let latency = |v| vec![p("kafka.producer.request-latency-avg", PRODUCER, v)];
    // 1 -> 2 -> 3 ms, and on: every poll grows, none is news under the 100 ms floor.
    let small = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0];
    let polls: Vec<(Vec<P>, &[&str])> = small.iter().map(|v| (latency(*v), &[][..])).collect();
    table("packs: {kafka-producer: }", &["P8"], &polls);
    // Crossing the floor while rising is a rise.
    table(
        "packs: {kafka-producer: }",
        &["P8"],
        &[
            (latency(40.0), &[]),
            (latency(90.0), &[]),
            (latency(200.0), &["Statuses.DIVERGING.MEASURED@P8"]),
        ],
    );
    // The floor is a key of latency_trend; 0 turns it off.
    let mut h = Harness::new("packs: {kafka-producer: {latency_trend: {min_latency_ms: 0}}}");
    let said: Vec<String> = small[..3]
        .iter()
        .flat_map(|v| h.said(&latency(*v)))
        .filter(|s| s.ends_with("@P8"))
        .collect();
    assert_eq!(said, ["Statuses.DIVERGING.MEASURED@P8"]);
    let e = h.poll(&latency(5.0));
    assert!(e.signals.iter().all(|s| s.evidence.rule != "P8"));
}

#[test]
fn p9_errors_fail_and_succeed_again_p10_retries() {
    let rates = |err: f64, retry: f64| {
        vec![
            p("kafka.producer.record-error-rate", PRODUCER, err),
            p("kafka.producer.record-retry-rate", PRODUCER, retry),
        ]
    };
    table(
        "packs: {kafka-producer: }",
        &["P9", "P10"],
        &[
            (rates(0.0, 0.0), &[]),
            (
                rates(0.2, 3.0),
                &["Probes.FAIL.OUTBOUND@P9", "Services.RETRY.CALLER@P10"],
            ),
            (rates(0.2, 3.0), &[]),
            (rates(0.0, 0.0), &["Probes.SUCCEED.OUTBOUND@P9"]),
        ],
    );
}

#[test]
fn p9_on_a_topic_names_the_client_and_the_topic() {
    let mut h = Harness::new("packs: {kafka-producer: }");
    h.poll(&[p("kafka.producer.record-error-rate", PRODUCER_TOPIC, 0.0)]);
    let e = h.poll(&[p("kafka.producer.record-error-rate", PRODUCER_TOPIC, 5.0)]);
    let s = &e.signals[0];
    assert_eq!(s.kind.to_string(), "Probes.FAIL.OUTBOUND");
    assert_eq!(
        s.subject.qualified(),
        "cluster=prod/service=order-service/instance=pod-1/client=order-producer/topic=orders"
    );
}

#[test]
fn p11_rolls_up_the_worst_producer_condition() {
    let poll = |u: f64, err: f64| {
        let mut v = buffer(u);
        v.push(p("kafka.producer.record-error-rate", PRODUCER, err));
        v
    };
    let mut h = table(
        "packs: {kafka-producer: }",
        &["P11"],
        &[
            (poll(0.5, 0.0), &[]),
            (poll(0.85, 0.0), &["Statuses.DIVERGING.TENTATIVE@P11"]),
            (poll(0.85, 1.0), &["Statuses.DEGRADED.TENTATIVE@P11"]),
            (poll(0.97, 1.0), &[]),
            (poll(0.97, 1.0), &[]),
        ],
    );
    // Three agreeing polls: the client's status point says CONFIRMED.
    let e = h.poll(&poll(0.97, 1.0));
    let point = &e.status_points[0];
    let attr = |k: &str| {
        point
            .attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.as_ref())
            .map(|v| format!("{:?}", v.value))
    };
    assert!(
        attr("status").is_some_and(|s| s.contains("DEGRADED")),
        "{point:?}"
    );
    assert!(
        attr("confidence").is_some_and(|s| s.contains("CONFIRMED")),
        "{point:?}"
    );
}

fn lag(v: f64) -> Vec<P> {
    vec![p("kafka.consumer.records-lag-max", CONSUMER, v)]
}

#[test]
fn c1_lag_12000_is_overflow_and_degraded_confirmed() {
    table(
        "packs: {kafka-consumer: }",
        &["C1", "C2", "C3"],
        &[(
            lag(12000.0),
            &["Queues.OVERFLOW@C1", "Statuses.DEGRADED.CONFIRMED@C1"],
        )],
    );
}

#[test]
fn c2_lag_1000_to_2500_is_diverging_measured() {
    table(
        "packs: {kafka-consumer: }",
        &["C1", "C2", "C3"],
        &[
            (lag(1000.0), &[]),
            (lag(2500.0), &["Statuses.DIVERGING.MEASURED@C2"]),
        ],
    );
}

#[test]
fn c1_c2_c3_a_lag_spike_and_its_recovery() {
    table(
        "packs: {kafka-consumer: }",
        &["C1", "C2", "C3"],
        &[
            (lag(100.0), &[]),
            (lag(60.0), &[]),
            (lag(1.0), &[]), // below the floor
            (lag(3.0), &[]), // tripled, but 1 -> 3 is not news
            (lag(1000.0), &["Statuses.DIVERGING.MEASURED@C2"]),
            (lag(2500.0), &[]), // still DIVERGING
            (
                lag(12000.0),
                &[
                    "Statuses.STABLE.MEASURED@C2", // C2 ends as C1 begins
                    "Queues.OVERFLOW@C1",
                    "Statuses.DEGRADED.CONFIRMED@C1",
                ],
            ),
            (lag(12000.0), &[]),
            (lag(9600.0), &[]), // above 10 000 - 5 %
            (
                lag(9000.0),
                &["Queues.ENQUEUE@C1", "Statuses.STABLE.CONFIRMED@C1"],
            ),
            (lag(6000.0), &[]),
        ],
    );
}

const PARTITION: &[(&str, &str)] = &[
    ("client-id", "inventory-consumer"),
    ("topic", "orders"),
    ("partition", "0"),
];
const CONSUMER_TOPIC: &[(&str, &str)] = &[("client-id", "inventory-consumer"), ("topic", "orders")];

/// A partition's lag with the client's rate for its topic and a busy client total.
fn partition(lag: f64, topic_rate: f64) -> Vec<P> {
    vec![
        p(
            "kafka.consumer.total.records-consumed-rate",
            CONSUMER,
            5000.0,
        ),
        p("kafka.consumer.assigned-partitions", CONSUMER, 2.0),
        p(
            "kafka.consumer.records-consumed-rate",
            CONSUMER_TOPIC,
            topic_rate,
        ),
        p("kafka.consumer.records-lag", PARTITION, lag),
    ]
}

#[test]
fn c4_partition_lag_by_burrow_rules_with_time_lag() {
    let poll = partition;
    let mut polls: Vec<(Vec<P>, &[&str])> = vec![
        (poll(100.0, 1000.0), &[]),
        (poll(60.0, 1000.0), &[]),
        (poll(1000.0, 200.0), &[]),
        (poll(2500.0, 200.0), &["Statuses.DIVERGING.TENTATIVE@C4"]),
        (poll(12000.0, 200.0), &[]),
        (poll(9000.0, 2500.0), &["Statuses.CONVERGING.TENTATIVE@C4"]),
        (poll(3000.0, 2500.0), &[]),
        (poll(100.0, 1000.0), &[]),
        (poll(60.0, 1000.0), &[]),
        // A new verdict starts again at TENTATIVE, however many readings came before.
        (poll(100.0, 1000.0), &["Statuses.STABLE.TENTATIVE@C4"]),
        // Nothing consumed from the topic while behind (the client's total is busy with other
        // topics): STALL, then STOP after a window.
        (poll(100.0, 0.0), &[]),
        (poll(100.0, 0.0), &[]),
        (poll(100.0, 0.0), &["Statuses.DEGRADED.TENTATIVE@C4"]),
    ];
    for _ in 0..6 {
        polls.push((poll(100.0, 0.0), &[]));
    }
    polls.push((poll(100.0, 0.0), &["Statuses.DOWN.TENTATIVE@C4"]));
    // A window of agreeing readings: the condition is MEASURED, a new onset says so.
    for _ in 0..8 {
        polls.push((poll(100.0, 0.0), &[]));
    }
    polls.push((poll(100.0, 0.0), &["Statuses.DOWN.MEASURED@C4"]));
    let mut h = table("packs: {kafka-consumer: }", &["C4"], &polls);
    let e = h.poll(&poll(5000.0, 500.0));
    let s = e
        .signals
        .iter()
        .find(|s| s.evidence.rule == "C4")
        .expect("C4 signal");
    // The topic's 500 records/s, 5000 behind: 10 s at least. The client's 5000/s over its 2
    // partitions (2 s) is not this partition's pace.
    assert_eq!(s.evidence.get("time_lag_seconds"), Some(10.0));
    assert_eq!(s.evidence.get("topic_consumed_rate"), Some(500.0));
    assert_eq!(s.evidence.get("client_consumed_rate"), Some(5000.0));
    assert_eq!(
        s.subject.qualified(),
        "cluster=prod/service=order-service/instance=pod-1/client=inventory-consumer/topic=orders/partition=0"
    );
}

#[test]
fn c4_progress_is_the_partitions_own_a_busy_client_does_not_hide_a_stuck_partition() {
    // The client consumes 5000/s (its other partitions do); this partition's lag is frozen.
    let stuck = |lead: Option<f64>| {
        let mut v = vec![
            p(
                "kafka.consumer.total.records-consumed-rate",
                CONSUMER,
                5000.0,
            ),
            p("kafka.consumer.assigned-partitions", CONSUMER, 6.0),
            p("kafka.consumer.records-lag", PARTITION, 700.0),
        ];
        if let Some(lead) = lead {
            v.push(p("kafka.consumer.records-lead", PARTITION, lead));
        }
        v
    };
    // Without the lead the client's rate proves nothing either way: no stall is claimed.
    let polls: Vec<(Vec<P>, &[&str])> = (0..12).map(|_| (stuck(None), &[][..])).collect();
    table("packs: {kafka-consumer: }", &["C4"], &polls);
    // With it, the position that does not move is a stall, then a stop.
    let mut polls: Vec<(Vec<P>, &[&str])> = vec![
        (stuck(Some(40.0)), &[]),
        (stuck(Some(40.0)), &[]),
        (stuck(Some(40.0)), &[]),
        (stuck(Some(40.0)), &["Statuses.DEGRADED.TENTATIVE@C4"]),
    ];
    for _ in 0..6 {
        polls.push((stuck(Some(40.0)), &[]));
    }
    polls.push((stuck(Some(40.0)), &["Statuses.DOWN.TENTATIVE@C4"]));
    table("packs: {kafka-consumer: }", &["C4"], &polls);
}

#[test]
fn c4_a_position_that_moves_back_is_a_rewind() {
    let poll = |lag: f64, lead: f64| {
        let mut v = partition(lag, 50.0);
        v.push(p("kafka.consumer.records-lead", PARTITION, lead));
        v
    };
    let mut h = table(
        "packs: {kafka-consumer: }",
        &["C4"],
        &[
            (poll(100.0, 5000.0), &[]),
            (poll(90.0, 5100.0), &[]),
            // Retention moved the log start: the lead fell, the lag did not rise.
            (poll(90.0, 1000.0), &[]),
            // Production: the lag rose, the lead went on: still nothing.
            (poll(400.0, 1050.0), &[]),
        ],
    );
    // The consumer seeks back 900: lead -900 (+ 50 consumed), lag +900 (- 50 + 100 produced).
    let e = h.poll(&poll(1350.0, 200.0));
    let c4: Vec<_> = e
        .signals
        .iter()
        .filter(|s| s.evidence.rule == "C4")
        .collect();
    assert_eq!(c4.len(), 1, "{:?}", said(&e.signals));
    assert_eq!(c4[0].kind.to_string(), "Statuses.ERRATIC.TENTATIVE");
    assert_eq!(c4[0].evidence.get("rewound_records"), Some(850.0));
    assert_eq!(c4[0].evidence.get("lead"), Some(200.0));
}

#[test]
fn c6_slow_fetches_are_degraded() {
    let fetch = |v| vec![p("kafka.consumer.fetch-latency-avg", CONSUMER, v)];
    table(
        "packs: {kafka-consumer: }",
        &["C6"],
        &[
            (fetch(20.0), &[]),
            (fetch(800.0), &["Statuses.DEGRADED.MEASURED@C6"]),
            (fetch(490.0), &[]),
            (fetch(400.0), &["Statuses.STABLE.MEASURED@C6"]),
        ],
    );
}

#[test]
fn c7_partitions_granted_and_denied_in_a_group() {
    let poll = |rebalances: f64, assigned: f64| {
        vec![
            p("kafka.consumer.rebalance-total", CONSUMER, rebalances),
            p("kafka.consumer.assigned-partitions", CONSUMER, assigned),
        ]
    };
    table(
        "packs: {kafka-consumer: }",
        &["C7"],
        &[
            (poll(0.0, 0.0), &[]), // not in a group yet
            (poll(1.0, 6.0), &[]),
            (poll(1.0, 0.0), &["Resources.DENY@C7"]),
            (poll(1.0, 6.0), &["Resources.GRANT@C7"]),
        ],
    );
}

#[test]
fn c8_commits_within_the_sla_succeed_slow_ones_expire_stopped_ones_fail() {
    let poll = |latency: f64, rate: f64| {
        vec![
            p(
                "kafka.consumer.total.records-consumed-rate",
                CONSUMER,
                1000.0,
            ),
            p("kafka.consumer.assigned-partitions", CONSUMER, 6.0),
            p("kafka.consumer.commit-latency-avg", CONSUMER, latency),
            p("kafka.consumer.commit-rate", CONSUMER, rate),
        ]
    };
    table(
        "packs: {kafka-consumer: }",
        &["C8"],
        &[
            (poll(15.0, 0.2), &[]),
            (poll(1500.0, 0.2), &["Services.EXPIRE.CALLER@C8"]),
            (poll(15.0, 0.2), &["Services.SUCCESS.CALLER@C8"]),
            (poll(f64::NAN, 0.0), &["Services.FAIL.CALLER@C8"]),
        ],
    );
}

fn rebalance(total: f64, ago: f64) -> Vec<P> {
    vec![
        p("kafka.consumer.rebalance-total", CONSUMER, total),
        p("kafka.consumer.last-rebalance-seconds-ago", CONSUMER, ago),
    ]
}

#[test]
fn c9_rebalances_30s_apart_are_erratic_confirmed() {
    let mut h = table(
        "packs: {kafka-consumer: }",
        &["C9"],
        &[
            (rebalance(1.0, 0.0), &[]),
            (rebalance(1.0, 10.0), &[]),
            (rebalance(1.0, 20.0), &[]),
            (rebalance(2.0, 0.0), &["Statuses.ERRATIC.CONFIRMED@C9"]),
            (rebalance(3.0, 0.0), &[]), // the storm goes on
            (rebalance(3.0, 10.0), &[]),
            (rebalance(3.0, 20.0), &[]),
            (rebalance(3.0, 30.0), &[]),
            (rebalance(3.0, 40.0), &[]),
            (rebalance(3.0, 50.0), &[]),
            (rebalance(3.0, 60.0), &["Statuses.STABLE.CONFIRMED@C9"]),
        ],
    );
    drop(h);
    h = Harness::new("packs: {kafka-consumer: }");
    for (total, ago) in [(1.0, 0.0), (1.0, 10.0), (1.0, 20.0)] {
        h.poll(&rebalance(total, ago));
    }
    let e = h.poll(&rebalance(2.0, 0.0));
    let s = e
        .signals
        .iter()
        .find(|s| s.evidence.rule == "C9")
        .expect("storm");
    assert_eq!(s.evidence.get("rebalances"), Some(2.0));
    assert_eq!(s.evidence.get("interval_seconds"), Some(30.0));
    assert_eq!(s.evidence.get("span_seconds"), Some(30.0));
    assert_eq!(s.evidence.threshold, Some(60.0));
}

#[test]
fn c9_rebalances_90s_apart_are_nothing() {
    let mut polls: Vec<(Vec<P>, &[&str])> = vec![(rebalance(1.0, 0.0), &[])];
    for k in 1..9 {
        polls.push((rebalance(1.0, 10.0 * k as f64), &[]));
    }
    polls.push((rebalance(2.0, 0.0), &[]));
    table("packs: {kafka-consumer: }", &["C9"], &polls);
}

#[test]
fn c9_counter_reset_is_a_reset() {
    table(
        "packs: {kafka-consumer: }",
        &["C9"],
        &[
            (rebalance(40.0, 500.0), &[]),
            (rebalance(1.0, 0.0), &["Counters.RESET@C9"]),
        ],
    );
}

/// The status the engine states for the subject ending in `end` (its `kafka_obs.status` point).
fn status_of(e: &kafka_obs_processor::signals::Evaluation, end: &str) -> Option<String> {
    e.status_points.iter().find_map(|point| {
        let attr = |k: &str| {
            point.attributes.iter().find(|a| a.key == k).and_then(|a| {
                match a.value.as_ref()?.value.as_ref()? {
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => {
                        Some(s.clone())
                    }
                    _ => None,
                }
            })
        };
        attr("subject")
            .filter(|s| s.ends_with(end))
            .and(attr("status"))
    })
}

/// Whether a storm holds at `t` (seconds), by the definition: the latest rebalance up to `t`
/// came less than `interval` after the one before it, and less than `interval` ago.
fn storm_holds(times: &[u64], t: u64, interval: u64) -> bool {
    let seen: Vec<u64> = times.iter().copied().filter(|r| *r <= t).collect();
    match seen.as_slice() {
        [.., before, last] => last - before < interval && t - last < interval,
        _ => false,
    }
}

/// Polls a consumer whose rebalances happen at `times` (seconds from the start) every `step`
/// seconds up to `until`; returns, per poll, its time, whether the engine says ERRATIC, and
/// the C9 signals.
fn rebalance_run(
    times: &[u64],
    step: u64,
    until: u64,
    dated: bool,
) -> Vec<(u64, bool, Vec<String>)> {
    let mut h = Harness::new("packs: {kafka-consumer: }");
    h.step = step * SECOND;
    let mut out = Vec::new();
    let mut t = 0;
    while t + step <= until {
        t += step;
        let seen: Vec<u64> = times.iter().copied().filter(|r| *r <= t).collect();
        let mut points = vec![p(
            "kafka.consumer.rebalance-total",
            CONSUMER,
            seen.len() as f64,
        )];
        if let (true, Some(last)) = (dated, seen.last()) {
            points.push(p(
                "kafka.consumer.last-rebalance-seconds-ago",
                CONSUMER,
                (t - last) as f64,
            ));
        }
        let e = h.poll(&points);
        let erratic = status_of(&e, "inventory-consumer").as_deref() == Some("ERRATIC");
        let c9 = said(&e.signals)
            .into_iter()
            .filter(|s| s.ends_with("@C9"))
            .collect();
        out.push((t, erratic, c9));
    }
    out
}

#[test]
fn c9_a_storm_is_decided_by_the_rebalance_times_not_by_the_poll_interval() {
    // Storms: 100/130, 400/430/455 (two of them between two 60 s polls), 700/705 (both between
    // two 60 s polls); 300 and 1000 stand alone.
    let times = [100, 130, 300, 400, 430, 455, 700, 705, 1000];
    let mut verdicts = Vec::new();
    for step in [10, 60] {
        let run = rebalance_run(&times, step, 1080, true);
        for (t, erratic, _) in &run {
            assert_eq!(
                *erratic,
                storm_holds(&times, *t, 60),
                "poll every {step} s, at {t} s"
            );
        }
        let signals: Vec<String> = run.into_iter().flat_map(|(_, _, s)| s).collect();
        verdicts.push(signals);
    }
    assert_eq!(verdicts[0], verdicts[1]);
    assert_eq!(
        verdicts[0],
        [
            "Statuses.ERRATIC.CONFIRMED@C9",
            "Statuses.STABLE.CONFIRMED@C9",
            "Statuses.ERRATIC.CONFIRMED@C9",
            "Statuses.STABLE.CONFIRMED@C9",
            "Statuses.ERRATIC.CONFIRMED@C9",
            "Statuses.STABLE.CONFIRMED@C9"
        ]
    );
}

#[test]
fn c9_reports_count_and_span_and_ends_without_a_new_rebalance_on_any_evaluation() {
    // Four rebalances 20-30 s apart, then quiet; after the storm only other consumer metrics
    // arrive (rebalance-total is not polled at all): the storm still ends on time.
    let mut h = Harness::new("packs: {kafka-consumer: }");
    let mut signals = Vec::new();
    for (total, ago) in [(1.0, 0.0), (1.0, 10.0), (2.0, 0.0), (3.0, 0.0), (3.0, 10.0)] {
        signals.extend(h.poll(&rebalance(total, ago)).signals);
    }
    let e = h.poll(&rebalance(4.0, 5.0)); // the 4th, 25 s after the 3rd
    assert_eq!(
        status_of(&e, "inventory-consumer").as_deref(),
        Some("ERRATIC")
    );
    let mut ended = None;
    for k in 1..=8 {
        let e = h.poll(&[p("kafka.consumer.last-poll-seconds-ago", CONSUMER, 1.0)]);
        if let Some(s) = e
            .signals
            .iter()
            .find(|s| s.evidence.rule == "C9" && !s.attributes.contains_key("reason"))
        {
            ended = Some((k, s.clone()));
            break;
        }
        assert_eq!(
            status_of(&e, "inventory-consumer").as_deref(),
            Some("ERRATIC")
        );
    }
    // The 4th rebalance was at poll 6 - 5 s; 60 s later is 5.5 polls on: the 6th poll after.
    let (k, stable) = ended.expect("the storm ended");
    assert_eq!(k, 6);
    assert_eq!(stable.kind.to_string(), "Statuses.STABLE.CONFIRMED");
    // The rule's own STABLE is the storm's recovery.
    assert_eq!(stable.phase(), Some(Phase::Recovery));
    assert_eq!(stable.evidence.get("rebalances"), Some(4.0));
    // From the 1st (poll 1) to the 4th (poll 6 - 5 s): 45 s.
    assert_eq!(stable.evidence.get("span_seconds"), Some(45.0));
    let onset = signals
        .iter()
        .find(|s| s.evidence.rule == "C9")
        .expect("onset");
    assert_eq!(onset.evidence.get("rebalances"), Some(2.0));
    assert_eq!(onset.evidence.get("interval_seconds"), Some(20.0));
}

#[test]
fn c9_without_last_rebalance_seconds_ago_the_polls_date_the_rebalances() {
    let times = [100, 130, 400, 490];
    let run = rebalance_run(&times, 10, 600, false);
    for (t, erratic, _) in &run {
        assert_eq!(*erratic, storm_holds(&times, *t, 60), "at {t} s");
    }
    let signals: Vec<String> = run.into_iter().flat_map(|(_, _, s)| s).collect();
    assert_eq!(
        signals,
        [
            "Statuses.ERRATIC.CONFIRMED@C9",
            "Statuses.STABLE.CONFIRMED@C9"
        ]
    );
}

#[test]
fn c10_rebalance_latency_6s_is_degraded() {
    let latency = |v| vec![p("kafka.consumer.rebalance-latency-avg", CONSUMER, v)];
    table(
        "packs: {kafka-consumer: }",
        &["C10"],
        &[
            (latency(300.0), &[]),
            (latency(6000.0), &["Statuses.DEGRADED.MEASURED@C10"]),
            (latency(300.0), &["Statuses.STABLE.MEASURED@C10"]),
        ],
    );
}

#[test]
fn c11_time_since_poll_against_max_poll_interval() {
    let ago = |v| vec![p("kafka.consumer.last-poll-seconds-ago", CONSUMER, v)];
    table(
        "packs: {kafka-consumer: }",
        &["C11"],
        &[
            (ago(0.0), &[]),
            (ago(120.0), &[]),
            (ago(250.0), &["Statuses.DEGRADED.MEASURED@C11"]),
            (ago(360.0), &["Statuses.DEFECTIVE.MEASURED@C11"]),
            (ago(0.0), &["Statuses.STABLE.MEASURED@C11"]),
        ],
    );
}

#[test]
fn j1_heap_ladder() {
    let heap = |ratio: f64| {
        vec![
            p("jvm.memory.heap.used", &[], ratio * 1000.0),
            p("jvm.memory.heap.max", &[], 1000.0),
        ]
    };
    table(
        "packs: {jvm: }",
        &["J1"],
        &[
            (heap(0.5), &[]),
            (heap(0.76), &["Statuses.DIVERGING.MEASURED@J1"]),
            (heap(0.86), &["Statuses.DEGRADED.MEASURED@J1"]),
            (heap(0.96), &["Statuses.DEFECTIVE.MEASURED@J1"]),
            (heap(0.5), &["Statuses.STABLE.MEASURED@J1"]),
        ],
    );
}

#[test]
fn j2_j3_collections_and_long_pauses() {
    let gc = |count: f64, ms: f64| {
        let name = [("name", "G1 Old Generation")];
        vec![
            p("jvm.gc.collections.count", &name, count),
            p("jvm.gc.collections.elapsed", &name, ms),
        ]
    };
    let mut h = table(
        "packs: {jvm: }",
        &["J2", "J3"],
        &[
            (gc(10.0, 100.0), &[]),
            (gc(12.0, 200.0), &["Counters.INCREMENT@J2"]), // 100 ms per 10 s: 1 %
            (
                gc(30.0, 2200.0),
                &["Counters.INCREMENT@J2", "Statuses.DEGRADED.MEASURED@J3"],
            ),
            (gc(30.0, 2250.0), &["Statuses.STABLE.MEASURED@J3"]),
            (gc(1.0, 5.0), &["Counters.RESET@J2", "Counters.RESET@J3"]),
        ],
    );
    let e = h.poll(&gc(2.0, 6.0));
    let s = &e.signals[0];
    assert_eq!(s.evidence.get("delta"), Some(1.0));
    assert_eq!(
        s.attributes.get("name").map(String::as_str),
        Some("G1 Old Generation")
    );
}

const BROKER: &[(&str, &str)] = &[("kafka.cluster", "prod"), ("broker.id", "1")];

fn broker_harness() -> Harness {
    let mut h = Harness::new("packs: {kafka: }");
    h.resource = BROKER.to_vec();
    h
}

#[test]
fn b1_b2_b6_b7_broker_conditions() {
    let mut h = broker_harness();
    let poll = |h: &mut Harness, urp: f64, offline: f64, net: f64, handler: f64, unclean: f64| {
        h.said(&[
            p("kafka.partition.under_replicated", &[], urp),
            p("kafka.partition.offline", &[], offline),
            p("kafka.network.processor.avg.idle.percent", &[], net),
            p("kafka.request.handler.avg.idle.percent", &[], handler),
            p("kafka.unclean.election.rate", &[], unclean),
        ])
    };
    assert_eq!(poll(&mut h, 0.0, 0.0, 0.9, 0.85, 0.0), Vec::<String>::new());
    assert_eq!(
        poll(&mut h, 2.0, 0.0, 0.9, 0.85, 0.0),
        ["Statuses.DEGRADED.CONFIRMED@B1"]
    );
    assert_eq!(
        poll(&mut h, 2.0, 2.0, 0.2, 0.05, 1.0),
        [
            "Statuses.DEFECTIVE.MEASURED@B2",
            "Resources.TIMEOUT@B6N",
            "Resources.DENY@B6H",
            "Statuses.DEFECTIVE.MEASURED@B7"
        ]
    );
    assert_eq!(
        poll(&mut h, 0.0, 0.0, 0.9, 0.85, 1.0),
        [
            "Statuses.STABLE.CONFIRMED@B1",
            "Statuses.STABLE.MEASURED@B2",
            "Resources.GRANT@B6N",
            "Resources.GRANT@B6H",
            "Statuses.STABLE.MEASURED@B7"
        ]
    );
}

#[test]
fn b6_network_and_request_handler_idle_are_separate_conditions() {
    let mut h = broker_harness();
    let mut poll = |net: f64, handler: f64| {
        let e = h.poll(&[
            p("kafka.network.processor.avg.idle.percent", &[], net),
            p("kafka.request.handler.avg.idle.percent", &[], handler),
        ]);
        (said(&e.signals), status_of(&e, "1"))
    };
    let stable = Some("STABLE".to_string());
    let degraded = Some("DEGRADED".to_string());
    assert_eq!(poll(0.9, 0.9), (vec![], stable.clone()));
    assert_eq!(
        poll(0.2, 0.9),
        (vec!["Resources.TIMEOUT@B6N".to_string()], degraded.clone())
    );
    assert_eq!(
        poll(0.2, 0.05),
        (vec!["Resources.DENY@B6H".to_string()], degraded.clone())
    );
    // The network threads recover; the request handlers are still saturated.
    assert_eq!(
        poll(0.5, 0.05),
        (vec!["Resources.GRANT@B6N".to_string()], degraded.clone())
    );
    assert_eq!(poll(0.5, 0.08), (vec![], degraded));
    assert_eq!(
        poll(0.5, 0.5),
        (vec!["Resources.GRANT@B6H".to_string()], stable)
    );

    // Each recovery is its own condition's, and the other condition stays listed.
    let mut h = broker_harness();
    let idle = |net: f64, handler: f64| {
        vec![
            p("kafka.network.processor.avg.idle.percent", &[], net),
            p("kafka.request.handler.avg.idle.percent", &[], handler),
        ]
    };
    h.poll(&idle(0.9, 0.9));
    h.poll(&idle(0.2, 0.05));
    let e = h.poll(&idle(0.5, 0.05));
    let grant = e
        .signals
        .iter()
        .find(|s| s.evidence.rule == "B6N")
        .expect("B6N recovery");
    assert_eq!(grant.phase(), Some(Phase::Recovery));
    assert_eq!(grant.evidence.get("held_seconds"), Some(10.0));
    let statement = e
        .signals
        .iter()
        .find_map(|s| s.current_conditions())
        .expect("status statement")
        .collect::<Vec<_>>();
    assert_eq!(statement, ["B6H"]);
}

#[test]
fn b5_request_time_trend_has_the_latency_floor_and_says_when_confirmed() {
    let mut h = broker_harness();
    let mut p99 = |v: f64| h.said(&[p("kafka.request.time.99p", &[("request", "Produce")], v)]);
    // 2 -> 4 -> 8 -> 16 ms: doubling, but a fast broker.
    for v in [2.0, 4.0, 8.0, 16.0, 32.0, 64.0] {
        assert!(p99(v).is_empty(), "{v}");
    }
    assert_eq!(p99(130.0), ["Statuses.DIVERGING.MEASURED@B5"]);
    assert!(p99(260.0).is_empty());
    assert_eq!(p99(520.0), ["Statuses.DIVERGING.CONFIRMED@B5"]);
    assert!(p99(900.0).is_empty());
    let mut h = Harness::new("packs: {kafka: {request_latency_trend: {min_latency_ms: 1}}}");
    h.resource = BROKER.to_vec();
    let said: Vec<String> = [2.0, 4.0, 8.0]
        .iter()
        .flat_map(|v| h.said(&[p("kafka.request.time.99p", &[("request", "Produce")], *v)]))
        .collect();
    assert_eq!(said, ["Statuses.DIVERGING.MEASURED@B5"]);
}

#[test]
fn b1_subject_is_the_broker() {
    let mut h = broker_harness();
    h.poll(&[p("kafka.partition.under_replicated", &[], 0.0)]);
    let e = h.poll(&[p("kafka.partition.under_replicated", &[], 1.0)]);
    assert_eq!(e.signals[0].subject.qualified(), "cluster=prod/broker=1");
}

#[test]
fn b3_each_broker_states_whether_it_is_the_controller_and_never_puts_the_cluster_down() {
    let mut h = broker_harness();
    let controller = |v| vec![p("kafka.controller.active.count", &[], v)];
    let e = h.poll(&controller(1.0));
    assert_eq!(said(&e.signals), ["Members.ELECT.SELF@B3"]);
    assert_eq!(e.signals[0].subject.qualified(), "cluster=prod/broker=1");
    assert_eq!(
        e.signals[0].evidence.get("active_controller_count"),
        Some(1.0)
    );
    // The rule id the central hierarchy reads the flags by.
    assert_eq!(
        e.signals[0].evidence.rule,
        kafka_obs_signal::condition::CONTROLLER_RULE
    );
    // Unchanged: quiet until the heartbeat restates it (a restarted central learns it).
    for _ in 0..5 {
        assert!(h.said(&controller(1.0)).is_empty());
    }
    assert_eq!(h.said(&controller(1.0)), ["Members.ELECT.SELF@B3"]);
    // The controller moved to another broker: this one resigns. Nothing about the cluster,
    // and nothing that reads as trouble: the hierarchy decides B3 over every broker.
    let e = h.poll(&controller(0.0));
    assert_eq!(said(&e.signals), ["Members.RESIGN.SELF@B3"]);
    for _ in 0..20 {
        let e = h.poll(&controller(0.0));
        assert!(
            e.signals
                .iter()
                .all(|s| s.subject.qualified() == "cluster=prod/broker=1"
                    && s.status().is_none_or(|(sign, _)| sign == Sign::Stable)),
            "{:?}",
            all(&e.signals)
        );
    }
}

#[test]
fn b4_isr_shrinks_evict_b5_request_time_trend() {
    let mut h = broker_harness();
    let poll = |h: &mut Harness, shrinks: f64, expands: f64, p99: f64| {
        h.said(&[
            p(
                "kafka.isr.operation.count",
                &[("operation", "shrink")],
                shrinks,
            ),
            p(
                "kafka.isr.operation.count",
                &[("operation", "expand")],
                expands,
            ),
            p("kafka.request.time.99p", &[("request", "Produce")], p99),
        ])
    };
    assert!(poll(&mut h, 0.0, 0.0, 20.0).is_empty());
    assert_eq!(poll(&mut h, 1.0, 0.0, 60.0), ["Members.EVICT.PEER@B4"]);
    assert_eq!(
        poll(&mut h, 1.0, 1.0, 200.0),
        ["Statuses.DIVERGING.MEASURED@B5"]
    );
    let e = h.poll(&[p(
        "kafka.isr.operation.count",
        &[("operation", "shrink")],
        3.0,
    )]);
    assert_eq!(e.signals[0].evidence.get("isr_shrinks"), Some(2.0));
}

#[test]
fn t1_a_target_that_fails_three_polls_is_down_and_connects_again() {
    let up = |v| {
        vec![p(
            "kafka_obs.target.up",
            &[("endpoint", "localhost:9999")],
            v,
        )]
    };
    table(
        "packs: {targets: }",
        &["T1"],
        &[
            (up(1.0), &[]),
            (up(0.0), &["Probes.FAIL.OUTBOUND@T1"]),
            (up(0.0), &["Probes.FAIL.OUTBOUND@T1"]),
            (
                up(0.0),
                &["Probes.FAIL.OUTBOUND@T1", "Statuses.DOWN.CONFIRMED@T1"],
            ),
            (up(0.0), &["Probes.FAIL.OUTBOUND@T1"]),
            (
                up(1.0),
                &["Probes.CONNECT.OUTBOUND@T1", "Statuses.STABLE.MEASURED@T1"],
            ),
            (up(1.0), &[]),
        ],
    );
}

#[test]
fn t2_a_vanished_client_goes_stale_not_down() {
    let mut h = Harness::new("stale_after: 30s");
    let producer = buffer(0.5);
    let consumer = lag(50.0);
    let mut both = producer.clone();
    both.extend(consumer.clone());
    h.poll(&both);
    h.poll(&both);
    // The producer closes; the consumer keeps reporting.
    let mut stale = Vec::new();
    for _ in 0..5 {
        let e = h.poll(&consumer);
        stale.extend(
            all(&e.signals)
                .into_iter()
                .filter(|s| !s.contains("@C") && !s.contains("@status")),
        );
    }
    assert_eq!(stale, ["Probes.DISCONNECT.OUTBOUND@T2#stale"], "{stale:?}");
    assert!(!stale.iter().any(|s| s.contains("DOWN")));
    // No status points for the stale producer.
    let e = h.poll(&consumer);
    assert_eq!(e.status_points.len(), 1);
    // It comes back: it announces its status again.
    let e = h.poll(&both);
    assert!(
        all(&e.signals).iter().any(|s| s.ends_with("#first-status")),
        "{:?}",
        all(&e.signals)
    );
}

#[test]
fn nan_and_infinity_are_no_reading() {
    let mut h = Harness::new("");
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let e = h.poll(&[
            p("kafka.producer.buffer-available-bytes", PRODUCER, v),
            p("kafka.producer.buffer-total-bytes", PRODUCER, v),
            p("kafka.producer.request-latency-avg", PRODUCER, v),
            p("kafka.producer.record-error-rate", PRODUCER, v),
            p("kafka.consumer.records-lag-max", CONSUMER, v),
            p("kafka.consumer.rebalance-total", CONSUMER, v),
            p("jvm.memory.heap.used", &[], v),
        ]);
        assert!(e.signals.is_empty(), "{:?}", all(&e.signals));
        assert!(e.status_points.is_empty());
    }
}

#[test]
fn a_steady_subject_announces_itself_once_then_heartbeats_every_sixth_evaluation() {
    let mut h = Harness::new("packs: {kafka-producer: }");
    let mut seen = Vec::new();
    for i in 0..13 {
        for s in all(&h.poll(&buffer(0.5)).signals) {
            seen.push(format!("{i}:{s}"));
        }
    }
    assert_eq!(
        seen,
        [
            "0:Statuses.STABLE.TENTATIVE@status#first-status",
            "6:Statuses.STABLE.CONFIRMED@status#heartbeat",
            "12:Statuses.STABLE.CONFIRMED@status#heartbeat"
        ]
    );
}

#[test]
fn the_status_gauge_has_one_point_per_subject_with_the_worst_status() {
    let mut h = Harness::new("");
    let mut points = buffer(0.97);
    points.extend(lag(50.0));
    points.push(p("kafka.producer.record-error-rate", PRODUCER_TOPIC, 0.0));
    let e = h.poll(&points);
    assert_eq!(e.status_points.len(), 3, "{:?}", e.status_points);
    let metric = kafka_obs_signal::otlp::status::status_gauge(e.status_points);
    assert_eq!(metric.name, STATUS_METRIC);
}

#[test]
fn metrics_pushed_over_otlp_with_other_attributes_work_too() {
    // An application pushes the consumer's lag with its own attributes; the subject has them.
    let mut h = Harness::new("packs: {kafka-consumer: }");
    h.resource = vec![("service.name", "billing"), ("k8s.pod.name", "billing-7")];
    let attrs = [("client-id", "billing-consumer"), ("topic", "invoices")];
    h.poll(&[p("kafka.consumer.records-lag-max", &attrs, 10.0)]);
    let e = h.poll(&[p("kafka.consumer.records-lag-max", &attrs, 20000.0)]);
    assert_eq!(
        said(&e.signals),
        ["Queues.OVERFLOW@C1", "Statuses.DEGRADED.CONFIRMED@C1"]
    );
    assert_eq!(
        e.signals[0].subject.qualified(),
        "service=billing/client=billing-consumer/topic=invoices"
    );
}

#[test]
fn a_producer_and_a_consumer_with_the_same_client_id_do_not_share_state() {
    let mut h = Harness::new("");
    let same = [("client-id", "x")];
    h.poll(&[
        p("kafka.producer.record-error-rate", &same, 0.0),
        p("kafka.consumer.records-lag-max", &same, 100.0),
    ]);
    let e = h.poll(&[
        p("kafka.producer.record-error-rate", &same, 1.0),
        p("kafka.consumer.records-lag-max", &same, 100.0),
    ]);
    assert_eq!(said(&e.signals), ["Probes.FAIL.OUTBOUND@P9"]);
}

#[test]
fn silent_series_are_forgotten_after_series_ttl() {
    let mut h = Harness::new("series_ttl: 1m\nstale_after: 20s");
    h.poll(&buffer(0.5));
    assert_eq!(h.engine.series(), 1);
    h.now += 120 * SECOND;
    h.engine.sweep(h.now);
    assert_eq!(h.engine.series(), 0);
    assert_eq!(h.engine.subjects(), 0);
    assert_eq!(h.engine.stats().evicted_series, 1);
}

#[test]
fn max_series_bounds_the_state() {
    let mut h = Harness::new("max_series: 2");
    let clients: Vec<P> = (0..5)
        .map(|i| {
            let id = format!("c{i}");
            p(
                "kafka.consumer.records-lag-max",
                &[("client-id", id.as_str())],
                1.0,
            )
        })
        .collect();
    h.poll(&clients);
    assert_eq!(h.engine.series(), 2);
    assert_eq!(h.engine.stats().refused_series, 3);
}
