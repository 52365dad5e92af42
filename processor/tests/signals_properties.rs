//! Properties of the signal engine that hold for any input:
//! - NaN and infinities never produce a signal or a status point;
//! - a constant series says what it has to say on its first poll and then only heartbeats;
//! - hysteresis bounds the transitions of a series that oscillates inside a threshold's band.

use crate::common;

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
    (
        "kafka.consumer.records-lead",
        &[("client-id", "c"), ("topic", "t"), ("partition", "0")],
    ),
    (
        "kafka.consumer.records-consumed-rate",
        &[("client-id", "c"), ("topic", "t")],
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

// ---- Conditions clear: any history, then healthy polls, ends STABLE everywhere -------------

/// How a history value of an input is drawn, and what the input reads when all is well.
#[derive(Clone, Copy)]
enum Input {
    /// A level drawn from `lo..hi`; healthy at `ok`.
    Level { lo: f64, hi: f64, ok: f64 },
    /// A monotonic counter: rises by 0..3 per poll, sometimes restarts; healthy: unchanged.
    Counter,
    /// Seconds since an event: drawn from `0..hi`; healthy: growing by the poll interval.
    Ago { hi: f64 },
    /// A position (a partition's lead): drawn from `0..hi`, so it moves back as well as on;
    /// healthy: moving on by `step` each poll (the consumer consumes).
    Position { hi: f64, step: f64 },
}

const fn level(lo: f64, hi: f64, ok: f64) -> Input {
    Input::Level { lo, hi, ok }
}

const P: &[(&str, &str)] = &[("client-id", "p")];
const C: &[(&str, &str)] = &[("client-id", "c")];
const PARTITION: &[(&str, &str)] = &[("client-id", "c"), ("topic", "t"), ("partition", "0")];

/// An input: metric name, point attributes, how it is drawn.
type InputSpec = (&'static str, &'static [(&'static str, &'static str)], Input);

/// Every input of every built-in pack.
const INPUTS: &[InputSpec] = &[
    (
        "kafka.producer.buffer-available-bytes",
        P,
        level(0.0, 1000.0, 900.0),
    ),
    (
        "kafka.producer.buffer-total-bytes",
        P,
        level(1000.0, 1000.0, 1000.0),
    ),
    ("kafka.producer.buffer-exhausted-total", P, Input::Counter),
    (
        "kafka.producer.batch-size-avg",
        P,
        level(0.0, 20000.0, 12000.0),
    ),
    (
        "kafka.producer.record-send-rate",
        P,
        level(0.0, 5000.0, 1000.0),
    ),
    (
        "kafka.producer.request-latency-avg",
        P,
        level(0.0, 2000.0, 5.0),
    ),
    ("kafka.producer.record-error-rate", P, level(0.0, 5.0, 0.0)),
    ("kafka.producer.record-retry-rate", P, level(0.0, 5.0, 0.0)),
    (
        "kafka.consumer.records-lag-max",
        C,
        level(0.0, 50000.0, 10.0),
    ),
    (
        "kafka.consumer.total.records-consumed-rate",
        C,
        level(0.0, 2000.0, 500.0),
    ),
    (
        "kafka.consumer.total.bytes-consumed-rate",
        C,
        level(0.0, 1e6, 5e4),
    ),
    (
        "kafka.consumer.fetch-latency-avg",
        C,
        level(0.0, 2000.0, 20.0),
    ),
    (
        "kafka.consumer.assigned-partitions",
        C,
        level(0.0, 4.0, 3.0),
    ),
    (
        "kafka.consumer.commit-latency-avg",
        C,
        level(0.0, 3000.0, 5.0),
    ),
    ("kafka.consumer.commit-rate", C, level(0.0, 2.0, 1.0)),
    (
        "kafka.consumer.rebalance-latency-avg",
        C,
        level(0.0, 10000.0, 100.0),
    ),
    ("kafka.consumer.rebalance-total", C, Input::Counter),
    (
        "kafka.consumer.last-rebalance-seconds-ago",
        C,
        Input::Ago { hi: 120.0 },
    ),
    (
        "kafka.consumer.last-poll-seconds-ago",
        C,
        level(0.0, 400.0, 1.0),
    ),
    (
        "kafka.consumer.records-lag",
        PARTITION,
        level(0.0, 50000.0, 10.0),
    ),
    (
        "kafka.consumer.records-lead",
        PARTITION,
        Input::Position {
            hi: 1e6,
            step: 500.0,
        },
    ),
    (
        "kafka.consumer.records-consumed-rate",
        &[("client-id", "c"), ("topic", "t")],
        level(0.0, 2000.0, 500.0),
    ),
    ("jvm.memory.heap.used", &[], level(0.0, 1e6, 3e5)),
    ("jvm.memory.heap.max", &[], level(1e6, 1e6, 1e6)),
    (
        "jvm.gc.collections.count",
        &[("name", "G1")],
        Input::Counter,
    ),
    (
        "jvm.gc.collections.elapsed",
        &[("name", "G1")],
        Input::Counter,
    ),
    (
        "kafka.partition.under_replicated",
        &[],
        level(0.0, 5.0, 0.0),
    ),
    ("kafka.partition.offline", &[], level(0.0, 5.0, 0.0)),
    ("kafka.controller.active.count", &[], level(0.0, 1.0, 1.0)),
    (
        "kafka.network.processor.avg.idle.percent",
        &[],
        level(0.0, 1.0, 0.9),
    ),
    (
        "kafka.request.handler.avg.idle.percent",
        &[],
        level(0.0, 1.0, 0.9),
    ),
    ("kafka.unclean.election.rate", &[], Input::Counter),
    (
        "kafka.isr.operation.count",
        &[("operation", "shrink")],
        Input::Counter,
    ),
    (
        "kafka.request.time.99p",
        &[("request", "Produce")],
        level(0.0, 3000.0, 5.0),
    ),
    (
        "kafka_obs.target.up",
        &[("endpoint", "jvm:9999")],
        level(0.0, 1.0, 1.0),
    ),
];

/// Healthy polls after the history: longer than every window of the built-in packs (C4's ten
/// polls, C9's minute, trends, heartbeats) with defaults.
const HEALTHY_POLLS: usize = 40;

/// One drawn poll: per input, `None` (not reported this poll) or a draw in `0..1`, with a
/// restart flag for counters.
type Draw = Vec<Option<(f64, bool)>>;

/// Plays `history` then [`HEALTHY_POLLS`] healthy polls through a fresh engine and returns
/// every evaluation and the index of the first healthy one.
fn play(yaml: &str, history: &[Draw]) -> (Vec<kafka_obs_processor::signals::Evaluation>, usize) {
    let mut h = Harness::new(yaml);
    let mut counters = vec![0.0f64; INPUTS.len()];
    let mut out = Vec::new();
    for draw in history {
        let mut points = Vec::new();
        for (i, (metric, attrs, input)) in INPUTS.iter().enumerate() {
            let Some((u, restart)) = draw[i] else {
                continue;
            };
            let value = match *input {
                Input::Level { lo, hi, .. } => lo + u * (hi - lo),
                Input::Counter => {
                    counters[i] = if restart {
                        0.0
                    } else {
                        counters[i] + (u * 3.0).floor()
                    };
                    counters[i]
                }
                Input::Ago { hi } | Input::Position { hi, .. } => u * hi,
            };
            points.push(p(metric, attrs, value));
        }
        out.push(h.poll(&points));
    }
    let healthy_from = out.len();
    for k in 0..HEALTHY_POLLS {
        let points: Vec<P> = INPUTS
            .iter()
            .enumerate()
            .map(|(i, (metric, attrs, input))| {
                let value = match *input {
                    Input::Level { ok, .. } => ok,
                    Input::Counter => counters[i],
                    Input::Ago { hi } => hi + 10.0 * (k as f64 + 1.0),
                    Input::Position { hi, step } => hi + step * (k as f64 + 1.0),
                };
                p(metric, attrs, value)
            })
            .collect();
        out.push(h.poll(&points));
    }
    (out, healthy_from)
}

/// The life-cycle properties of a run: every recovery follows an onset of the same subject,
/// rule and instrument; after the healthy polls no condition is open, every subject's last
/// status point is STABLE and its last stated status is STABLE with no current conditions.
fn check_conditions_clear(
    run: &[kafka_obs_processor::signals::Evaluation],
    healthy_from: usize,
) -> Result<(), String> {
    use kafka_obs_signal::condition::{self, Phase};
    use kafka_obs_signal::otlp::status::attr;
    use std::collections::BTreeMap;

    let mut open: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    let mut stated: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (i, e) in run.iter().enumerate() {
        for s in &e.signals {
            let key = (
                s.subject.qualified(),
                s.evidence.rule.clone(),
                s.kind.instrument().as_str().to_string(),
            );
            match s.phase() {
                Some(Phase::Onset) => {
                    open.insert(key, true);
                }
                Some(Phase::Recovery) if open.insert(key.clone(), false).is_none() => {
                    return Err(format!(
                        "poll {i}: recovery {} without an onset: {key:?}",
                        s.kind
                    ));
                }
                Some(Phase::Recovery) => {}
                None => {}
            }
            if s.evidence.rule == condition::STATUS_RULE {
                let current = s
                    .attributes
                    .get(condition::CURRENT)
                    .cloned()
                    .unwrap_or_default();
                stated.insert(s.subject.qualified(), (s.kind.to_string(), current));
            }
        }
    }
    if let Some((key, _)) = open.iter().find(|(_, held)| **held) {
        return Err(format!(
            "still open after {HEALTHY_POLLS} healthy polls: {key:?}"
        ));
    }
    for (subject, (kind, current)) in &stated {
        if !kind.starts_with("Statuses.STABLE") || !current.is_empty() {
            return Err(format!(
                "{subject} last stated {kind} with conditions [{current}]"
            ));
        }
    }
    let Some(last) = run.last() else {
        return Ok(());
    };
    for point in &last.status_points {
        let text = |key: &str| {
            point
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default()
        };
        if !text(attr::STATUS).contains("\"STABLE\"") {
            return Err(format!(
                "status gauge of {} is {} ({}) after {HEALTHY_POLLS} healthy polls",
                text(attr::SUBJECT),
                text(attr::STATUS),
                text(attr::RULE)
            ));
        }
    }
    if run.len() > healthy_from && last.status_points.is_empty() {
        return Err("no status points in the last healthy poll".into());
    }
    Ok(())
}

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    let one = prop::option::weighted(0.85, (0.0..1.0f64, prop::bool::weighted(0.05)));
    prop::collection::vec(prop::collection::vec(one, INPUTS.len()), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_history_then_healthy_polls_clears_every_condition(history in draws()) {
        let (run, healthy_from) = play("", &history);
        if let Err(e) = check_conditions_clear(&run, healthy_from) {
            prop_assert!(false, "{e}");
        }
    }
}

#[test]
fn a_sticky_rule_is_caught() {
    // A rule that holds on healthy input (as a rule that forgot to let go would): the check
    // must fail, naming it; the same history without it passes.
    let sticky = "rules:\n\
                  - name: sticky\n\
                  \x20 metric: kafka.producer.record-send-rate\n\
                  \x20 threshold:\n\
                  \x20   bands:\n\
                  \x20     - {emit: Statuses.STABLE.MEASURED}\n\
                  \x20     - {above: -1, emit: Statuses.DEGRADED.MEASURED}\n";
    let history = vec![vec![Some((0.99, false)); INPUTS.len()]; 3];
    let (run, from) = play("", &history);
    assert_eq!(check_conditions_clear(&run, from), Ok(()));
    // The history did put conditions in force, and all of them recovered.
    let mut onsets: Vec<String> = run
        .iter()
        .flat_map(|e| &e.signals)
        .filter(|s| s.phase() == Some(kafka_obs_signal::condition::Phase::Onset))
        .map(|s| s.evidence.rule.clone())
        .collect();
    onsets.sort();
    onsets.dedup();
    assert!(onsets.len() >= 8, "{onsets:?}");
    let (run, from) = play(sticky, &history);
    let err = check_conditions_clear(&run, from).expect_err("a sticky rule must be caught");
    assert!(err.contains("sticky"), "{err}");
}
