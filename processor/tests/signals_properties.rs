//! Properties of the signal engine that hold for any input:
//! - NaN and infinities never produce a signal or a status point;
//! - a constant series says what it has to say on its first poll and then only heartbeats;
//! - hysteresis bounds the transitions of a series that oscillates inside a threshold's band.

mod common;

use common::{Harness, P, p};
use proptest::prelude::*;

/// Level-like inputs of every pack (counters that only move with events, T1's up/down and
/// B3's controller count, whose rules escalate on purpose while a condition lasts, are left
/// out of the constant-series property).
const LEVELS: &[(&str, &[(&str, &str)])] = &[
    (
        "kafka.producer.buffer-available-bytes",
        &[("client-id", "p")],
    ),
    ("kafka.producer.batch-size-avg", &[("client-id", "p")]),
    ("kafka.producer.request-latency-avg", &[("client-id", "p")]),
    (
        "kafka.producer.record-error-rate",
        &[("client-id", "p"), ("topic", "t")],
    ),
    ("kafka.producer.record-retry-rate", &[("client-id", "p")]),
    ("kafka.consumer.records-lag-max", &[("client-id", "c")]),
    (
        "kafka.consumer.records-lag",
        &[("client-id", "c"), ("topic", "t"), ("partition", "0")],
    ),
    ("kafka.consumer.fetch-latency-avg", &[("client-id", "c")]),
    ("kafka.consumer.assigned-partitions", &[("client-id", "c")]),
    ("kafka.consumer.commit-latency-avg", &[("client-id", "c")]),
    (
        "kafka.consumer.rebalance-latency-avg",
        &[("client-id", "c")],
    ),
    ("kafka.consumer.rebalance-total", &[("client-id", "c")]),
    (
        "kafka.consumer.last-poll-seconds-ago",
        &[("client-id", "c")],
    ),
    ("jvm.memory.heap.used", &[]),
    ("jvm.gc.collections.count", &[("name", "G1")]),
    ("jvm.gc.collections.elapsed", &[("name", "G1")]),
    ("kafka.partition.under_replicated", &[]),
    ("kafka.partition.offline", &[]),
    ("kafka.network.processor.avg.idle.percent", &[]),
    ("kafka.request.handler.avg.idle.percent", &[]),
    ("kafka.unclean.election.rate", &[]),
    ("kafka.isr.operation.count", &[("operation", "shrink")]),
    ("kafka.request.time.99p", &[("request", "Produce")]),
];

/// Companions some rules need to judge at all (the buffer's total, the heap's max).
fn with_companions(points: Vec<P>) -> Vec<P> {
    let mut out = points;
    out.push(p(
        "kafka.producer.buffer-total-bytes",
        &[("client-id", "p")],
        1000.0,
    ));
    out.push(p("jvm.memory.heap.max", &[], 1e6));
    out
}

fn not_a_number() -> impl Strategy<Value = f64> {
    prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn nan_never_makes_a_signal(
        polls in prop::collection::vec(
            prop::collection::vec((0..LEVELS.len(), not_a_number()), 1..12),
            1..15,
        ),
    ) {
        let mut h = Harness::new("");
        for poll in polls {
            let mut points: Vec<P> = poll.iter().map(|(i, v)| p(LEVELS[*i].0, LEVELS[*i].1, *v)).collect();
            points.push(p("kafka_obs.target.up", &[("endpoint", "x")], f64::NAN));
            points.push(p("kafka.controller.active.count", &[], f64::NAN));
            let e = h.poll(&points);
            prop_assert!(e.signals.is_empty(), "{:?}", common::all(&e.signals));
            prop_assert!(e.status_points.is_empty());
        }
    }

    #[test]
    fn a_constant_series_is_quiet_after_its_first_status(
        which in 0..LEVELS.len(),
        value in prop_oneof![0.0..1.0f64, 0.0..2000.0f64, 0.0..1e6f64],
        polls in 2..30usize,
    ) {
        let (metric, attrs) = LEVELS[which];
        let mut h = Harness::new("");
        let first = h.poll(&with_companions(vec![p(metric, attrs, value)]));
        // A subject whose rules need two readings (a delta) announces itself on the second.
        let mut announced = first.signals.iter().any(|s| s.attributes.contains_key("reason"));
        for i in 1..polls {
            let e = h.poll(&with_companions(vec![p(metric, attrs, value)]));
            let mut loud = Vec::new();
            for s in &e.signals {
                match s.attributes.get("reason").map(String::as_str) {
                    Some("heartbeat") => {}
                    Some("first-status") if !announced => announced = true,
                    _ => loud.push(format!("{}@{}", s.kind, s.evidence.rule)),
                }
            }
            prop_assert!(loud.is_empty(), "{metric} = {value}, poll {i}: {loud:?}");
        }
    }

    #[test]
    fn hysteresis_bounds_transitions_inside_the_band(
        values in prop::collection::vec(0.0..1.0f64, 5..60),
    ) {
        // fetch-latency-avg around its 500 ms threshold, never below 500 - 5 %.
        let mut h = Harness::new("packs: {kafka-consumer: }");
        let mut transitions = 0;
        for v in &values {
            let latency = 476.0 + v * 100.0;
            let e = h.poll(&[p("kafka.consumer.fetch-latency-avg", &[("client-id", "c")], latency)]);
            transitions += common::said(&e.signals).iter().filter(|s| s.ends_with("@C6")).count();
        }
        prop_assert!(transitions <= 1, "{transitions} transitions");

        // Buffer utilization between OVERFLOW's exit (0.9025) and full: LIMIT at most once,
        // OVERFLOW at most once, never back.
        let mut h = Harness::new("packs: {kafka-producer: }");
        let mut transitions = 0;
        for v in &values {
            let utilization = 0.903 + v * 0.097;
            let e = h.poll(&[
                p("kafka.producer.buffer-available-bytes", &[("client-id", "p")], (1.0 - utilization) * 1000.0),
                p("kafka.producer.buffer-total-bytes", &[("client-id", "p")], 1000.0),
            ]);
            transitions += common::said(&e.signals)
                .iter()
                .filter(|s| s.ends_with("@P1") || s.ends_with("@P2") || s.ends_with("@P3"))
                .count();
        }
        prop_assert!(transitions <= 2, "{transitions} transitions");
    }

    #[test]
    fn without_hysteresis_the_same_series_would_flap(seed in 0u8..1) {
        let _ = seed;
        let mut h = Harness::new("hysteresis: 0\npacks: {kafka-consumer: }");
        let mut transitions = 0;
        for i in 0..20 {
            let latency = if i % 2 == 0 { 499.0 } else { 501.0 };
            let e = h.poll(&[p("kafka.consumer.fetch-latency-avg", &[("client-id", "c")], latency)]);
            transitions += common::said(&e.signals).len();
        }
        prop_assert!(transitions >= 18);
    }
}
