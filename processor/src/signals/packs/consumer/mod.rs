//! Pack `kafka-consumer`: rules C1-C11 on one consumer client (`client-id`), and C4 on each of
//! its partitions (`client-id`, `topic`, `partition`).
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | C1 | records-lag-max > 10 000 | Queues OVERFLOW + Statuses DEGRADED (CONFIRMED); left at or below 9 500: Queues ENQUEUE + Statuses STABLE under C1 |
//! | C2 | lag > 2 × previous poll's lag and > 100 | Statuses DIVERGING (MEASURED), held while the lag keeps rising; recovery Statuses STABLE under C2 |
//! | C3 | otherwise | the normal state (a STABLE reading, no signal of its own) |
//! | C4 | per-partition records-lag (and records-lead), Burrow's window (see `lag.rs`) | Statuses DOWN / DEGRADED (stall) / ERRATIC (rewind) / DIVERGING / CONVERGING / STABLE on a new verdict, again when agreeing readings raise a condition's confidence; TENTATIVE on each new verdict, MEASURED after a full window of agreeing readings, CONFIRMED after three; `time_lag_seconds` evidence from the topic's rate |
//! | C5 | total.records-consumed-rate, total.bytes-consumed-rate; records-consumed-rate per topic | passthrough (C4 reads the topic's rate, and a client's zero rate) |
//! | C6 | fetch-latency-avg > 500 ms | Statuses DEGRADED (MEASURED) |
//! | C7 | assigned-partitions > 0 / == 0 in a group | Resources GRANT / DENY (GRANT on the way back only) |
//! | C8 | commit-latency-avg <= 1 s / above / commits stopped while consuming | Services SUCCESS / EXPIRE / FAIL × CALLER |
//! | C9 | two or more rebalances within 60 s of each other (dated by last-rebalance-seconds-ago) | Statuses ERRATIC (CONFIRMED) with the count and span; STABLE (CONFIRMED) once 60 s pass without another, judged at every evaluation |
//! | C10 | rebalance-latency-avg > 5 000 ms | Statuses DEGRADED (MEASURED) |
//! | C11 | last-poll-seconds-ago > 80 % / > 100 % of max.poll.interval (300 s) | Statuses DEGRADED / DEFECTIVE |
//!
//! A consumer is "in a group" once its rebalance-total is above zero (it has joined). The
//! per-topic consumed rate (`client-id`, `topic`) lands on a row of its own, a [`ClientRow`]
//! keyed by client and topic, on which no client rule has inputs: C4's partitions read it.
//!
//! C4 judges each partition over its window in `lag.rs`; C9 dates rebalances in `rebalances.rs`.

pub mod config;

pub mod lag;
mod rebalances;

use kafka_obs_signal::{
    Evidence, SignalKind, queues, resources, services,
    statuses::{Confidence, Sign},
};
use opentelemetry_proto::tonic::common::v1::KeyValue;

use self::config::ConsumerPackConfig;
use self::lag::{LagReading, LagWindow, Rates};
use self::rebalances::Rebalances;
use super::shared::StatusRule;
use super::{Common, Input, Reader, Rule, Sink, fresh_value, input, known};
use crate::signals::state::{
    CounterStep, Tracker, hash_attrs_subset, ladder, row_key, status_kind,
};

const LAG_MAX: u8 = 0;
const CONSUMED_RATE: u8 = 1;
const BYTES_RATE: u8 = 2;
const FETCH_LATENCY: u8 = 3;
const ASSIGNED: u8 = 4;
const COMMIT_LATENCY: u8 = 5;
const COMMIT_RATE: u8 = 6;
const REBALANCE_LATENCY: u8 = 7;
const REBALANCE_TOTAL: u8 = 8;
const LAST_REBALANCE_AGO: u8 = 9;
const LAST_POLL_AGO: u8 = 10;
/// On a (client, topic) row: the client's rate for that topic (C4).
const TOPIC_RATE: u8 = 11;
const SLOTS: usize = 12;

/// Per-partition lag (C4).
pub const PARTITION_LAG: u8 = 0;
/// Per-partition lead: the position minus the log start offset (C4's REWIND).
pub const PARTITION_LEAD: u8 = 1;

/// The metric-name table: what the `kafka-consumer` preset calls each input.
pub const METRICS: &[Input] = &[
    input("kafka.consumer.records-lag-max", Reader::Consumer, LAG_MAX),
    input(
        "kafka.consumer.total.records-consumed-rate",
        Reader::Consumer,
        CONSUMED_RATE,
    ),
    input(
        "kafka.consumer.total.bytes-consumed-rate",
        Reader::Consumer,
        BYTES_RATE,
    ),
    input(
        "kafka.consumer.fetch-latency-avg",
        Reader::Consumer,
        FETCH_LATENCY,
    ),
    input(
        "kafka.consumer.assigned-partitions",
        Reader::Consumer,
        ASSIGNED,
    ),
    input(
        "kafka.consumer.commit-latency-avg",
        Reader::Consumer,
        COMMIT_LATENCY,
    ),
    input("kafka.consumer.commit-rate", Reader::Consumer, COMMIT_RATE),
    input(
        "kafka.consumer.rebalance-latency-avg",
        Reader::Consumer,
        REBALANCE_LATENCY,
    ),
    input(
        "kafka.consumer.rebalance-total",
        Reader::Consumer,
        REBALANCE_TOTAL,
    ),
    input(
        "kafka.consumer.last-rebalance-seconds-ago",
        Reader::Consumer,
        LAST_REBALANCE_AGO,
    ),
    input(
        "kafka.consumer.last-poll-seconds-ago",
        Reader::Consumer,
        LAST_POLL_AGO,
    ),
    input(
        "kafka.consumer.records-lag",
        Reader::Partition,
        PARTITION_LAG,
    ),
    input(
        "kafka.consumer.records-lead",
        Reader::Partition,
        PARTITION_LEAD,
    ),
    // With `client-id` and `topic`: a (client, topic) row, which C4's partitions read.
    input(
        "kafka.consumer.records-consumed-rate",
        Reader::Consumer,
        TOPIC_RATE,
    ),
];

/// The attribute keys that name a partition's client row (its total consumption rate).
const CLIENT_KEYS: &[&str] = &["client-id"];
/// The attribute keys that name a partition's (client, topic) row (the topic's rate).
const TOPIC_KEYS: &[&str] = &["client-id", "topic"];

/// State of one consumer client.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub vals: [f64; SLOTS],
    lag: Tracker,
    previous_lag: Option<f64>,
    fetch: Tracker,
    assignment: Tracker,
    commit: Tracker,
    rebalances: Rebalances,
    slow_rebalance: Tracker,
    poll: Tracker,
}

impl Default for ClientRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; SLOTS],
            lag: Tracker::default(),
            previous_lag: None,
            fetch: Tracker::default(),
            assignment: Tracker::default(),
            commit: Tracker::default(),
            rebalances: Rebalances::default(),
            slow_rebalance: Tracker::default(),
            poll: Tracker::default(),
        }
    }
}

/// State of one partition (C4).
#[derive(Debug, Clone, Default)]
pub struct PartitionRow {
    pub vals: [f64; 2],
    window: LagWindow,
    /// Row keys of the client and of the (client, topic) this partition belongs to.
    client: u64,
    topic: u64,
}

impl PartitionRow {
    /// The row of the partition whose point has `attributes`, under the resource `resource`.
    pub fn new(resource: u64, attributes: &[KeyValue]) -> Self {
        let key = |keys| {
            row_key(
                resource,
                hash_attrs_subset(attributes, keys),
                Reader::Consumer.tag(),
            )
        };
        Self {
            vals: [f64::NAN; 2],
            client: key(CLIENT_KEYS),
            topic: key(TOPIC_KEYS),
            ..Self::default()
        }
    }

    /// The consumption rates that bear on this partition, from its client's rows (`row` finds
    /// a consumer row by key).
    pub fn rates<'a>(&self, row: impl Fn(u64) -> Option<&'a ClientRow>) -> Rates {
        Rates {
            topic: row(self.topic).and_then(|t| known(&t.vals, TOPIC_RATE)),
            client: row(self.client).and_then(|c| known(&c.vals, CONSUMED_RATE)),
        }
    }
}

const NANOS: f64 = 1e9;

const C6: StatusRule = StatusRule::new(Rule::C6, Sign::Degraded, Confidence::Measured);
const C10: StatusRule = StatusRule::new(Rule::C10, Sign::Degraded, Confidence::Measured);

/// Evaluates a client row after this evaluation's readings (`mask`) were stored.
pub fn evaluate(
    r: &mut ClientRow,
    mask: u32,
    p: &ConsumerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let t = sink.time;
    let agreement = c.confidence;

    // C1-C3: records-lag-max.
    if let Some(lag) = fresh_value(&r.vals, mask, LAG_MAX) {
        let before = r.lag.state();
        let over = ladder(
            lag,
            &[p.lag_overflow],
            u8::from(before == 2),
            c.hysteresis,
            false,
            false,
        ) == 1;
        let previous = r.previous_lag.replace(lag);
        let doubled =
            previous.is_some_and(|prev| lag > p.lag_growth_factor * prev && lag > p.lag_floor);
        let still_rising = before == 1 && previous.is_some_and(|prev| lag > prev);
        let state = if over {
            2
        } else if doubled || still_rising {
            1
        } else {
            0
        };
        let kind = r.lag.observe(state, t, |streak| {
            Some(match state {
                2 => status_kind(Sign::Degraded, Confidence::Confirmed, streak, &agreement),
                1 => status_kind(Sign::Diverging, Confidence::Measured, streak, &agreement),
                _ => status_kind(Sign::Stable, Confidence::Confirmed, streak, &agreement),
            })
        });
        if let Some(kind) = kind {
            let evidence = |rule: Rule, threshold: f64| {
                let e = Evidence::rule(rule.name())
                    .with("lag", lag)
                    .threshold(threshold);
                match previous {
                    Some(prev) => e.with("previous_lag", prev),
                    None => e,
                }
            };
            // C1 and C2 are conditions; leaving one is its recovery, under its own id (C3,
            // the normal state, has no signal of its own).
            match before {
                2 => {
                    sink.emit(
                        SignalKind::Queues(queues::Sign::Enqueue),
                        evidence(Rule::C1, p.lag_overflow),
                    );
                    sink.emit(
                        SignalKind::Statuses(Sign::Stable, Confidence::Confirmed),
                        evidence(Rule::C1, p.lag_overflow),
                    );
                }
                1 => sink.emit(
                    SignalKind::Statuses(Sign::Stable, Confidence::Measured),
                    evidence(Rule::C2, p.lag_growth_factor),
                ),
                _ => {}
            }
            match state {
                2 => {
                    sink.emit(
                        SignalKind::Queues(queues::Sign::Overflow),
                        evidence(Rule::C1, p.lag_overflow),
                    );
                    sink.emit(kind, evidence(Rule::C1, p.lag_overflow));
                }
                1 => sink.emit(kind, evidence(Rule::C2, p.lag_growth_factor)),
                _ => {}
            }
        }
    }
    if r.lag.streak() > 0 {
        match r.lag.state() {
            2 => sink.status(
                Rule::C1,
                Sign::Degraded,
                agreement.raise(Confidence::Confirmed, r.lag.streak()),
            ),
            1 => sink.status(
                Rule::C2,
                Sign::Diverging,
                agreement.raise(Confidence::Measured, r.lag.streak()),
            ),
            _ => sink.status(Rule::C3, Sign::Stable, Confidence::Confirmed),
        }
    }

    // C6: fetch latency.
    if let Some(v) = fresh_value(&r.vals, mask, FETCH_LATENCY) {
        C6.threshold(
            &mut r.fetch,
            ("fetch_latency_ms", v),
            p.fetch_latency_degraded_ms,
            c,
            sink,
        );
    }
    C6.reading(&r.fetch, c, sink);

    // C7: partitions assigned.
    let in_group = known(&r.vals, REBALANCE_TOTAL).is_some_and(|v| v > 0.0);
    if let Some(assigned) = fresh_value(&r.vals, mask, ASSIGNED) {
        let level = if assigned > 0.0 {
            0
        } else if in_group {
            1
        } else {
            r.assignment.state()
        };
        let sign = if level == 1 {
            resources::Sign::Deny
        } else {
            resources::Sign::Grant
        };
        if let Some(kind) = r
            .assignment
            .observe(level, t, |_| Some(SignalKind::Resources(sign)))
        {
            let mut e = Evidence::rule(Rule::C7.name()).with("assigned_partitions", assigned);
            if let Some(total) = known(&r.vals, REBALANCE_TOTAL) {
                e = e.with("rebalance_total", total);
            }
            sink.emit(kind, e);
        }
    }
    if r.assignment.streak() > 0 {
        let sign = if r.assignment.state() == 1 {
            resources::Sign::Deny
        } else {
            resources::Sign::Grant
        };
        sink.reading_of(Rule::C7, SignalKind::Resources(sign), Confidence::Measured);
    }

    // C8: commits.
    let latency = fresh_value(&r.vals, mask, COMMIT_LATENCY);
    let rate = fresh_value(&r.vals, mask, COMMIT_RATE);
    if latency.is_some() || rate.is_some() {
        let slow = latency.map(|l| {
            let before = u8::from(r.commit.state() == 1);
            ladder(
                l,
                &[p.commit_latency_sla_ms],
                before,
                c.hysteresis,
                false,
                false,
            ) == 1
        });
        let consuming = known(&r.vals, CONSUMED_RATE).is_some_and(|v| v > 0.0)
            && known(&r.vals, ASSIGNED).is_some_and(|v| v > 0.0);
        let stopped = rate.is_some_and(|v| v <= 0.0) && consuming;
        let level = if slow == Some(true) {
            1
        } else if stopped {
            2
        } else {
            0
        };
        if let Some(kind) = r.commit.observe(level, t, |_| Some(commit_kind(level))) {
            let mut e = Evidence::rule(Rule::C8.name()).threshold(p.commit_latency_sla_ms);
            if let Some(l) = latency {
                e = e.with("commit_latency_ms", l);
            }
            if let Some(v) = known(&r.vals, COMMIT_RATE) {
                e = e.with("commit_rate", v);
            }
            sink.emit(kind, e);
        }
    }
    if r.commit.streak() > 0 {
        sink.reading_of(
            Rule::C8,
            commit_kind(r.commit.state()),
            Confidence::Measured,
        );
    }

    // C9: rebalance storms, decided by the rebalances' times.
    let interval = p.rebalance_storm_interval.as_nanos() as u64;
    if let Some(total) = fresh_value(&r.vals, mask, REBALANCE_TOTAL) {
        let ago = fresh_value(&r.vals, mask, LAST_REBALANCE_AGO).filter(|a| *a >= 0.0);
        let latest = ago.map_or(t, |a| t.saturating_sub((a * NANOS) as u64));
        let rb = &mut r.rebalances;
        match rb.counter.observe(total) {
            // Only the latest of a client's earlier rebalances can be dated.
            CounterStep::First if total > 0.0 && ago.is_some() => rb.record(1, latest, interval),
            CounterStep::Increase(delta) => rb.record(delta.round() as u64, latest, interval),
            CounterStep::Reset { previous } => {
                sink.counter_reset(Rule::C9.name(), previous, total);
                // The restarted client's own rebalances since it began again: a consumer
                // that keeps crashing and rejoining is a storm.
                rb.record(total.round() as u64, latest, interval);
            }
            CounterStep::First | CounterStep::Same => {}
        }
        rb.read_at = Some(t);
    }
    let rb = &mut r.rebalances;
    let holds = rb.storm_holds(t, interval);
    let step = rb.tracker.advance(u8::from(holds), t);
    if step.changed {
        let sign = if holds { Sign::Erratic } else { Sign::Stable };
        let mut e = Evidence::rule(Rule::C9.name())
            .with("rebalances", f64::from(rb.storm_count))
            .with(
                "span_seconds",
                rb.storm_last.saturating_sub(rb.storm_start) as f64 / NANOS,
            )
            .threshold(p.rebalance_storm_interval.as_secs_f64());
        if holds {
            e = e.with("interval_seconds", rb.storm_gap as f64 / NANOS);
        } else {
            e = e.with(
                "quiet_seconds",
                t.saturating_sub(rb.storm_last) as f64 / NANOS,
            );
        }
        sink.emit(SignalKind::Statuses(sign, Confidence::Confirmed), e);
    }
    if holds {
        sink.status(Rule::C9, Sign::Erratic, Confidence::Confirmed);
    } else if rb.storm_count > 0 {
        // After a storm, its reading is the way back (a subject's status must not keep it).
        sink.status(Rule::C9, Sign::Stable, Confidence::Confirmed);
    }

    // C10: slow rebalances.
    if let Some(v) = fresh_value(&r.vals, mask, REBALANCE_LATENCY) {
        C10.threshold(
            &mut r.slow_rebalance,
            ("rebalance_latency_ms", v),
            p.rebalance_latency_degraded_ms,
            c,
            sink,
        );
    }
    C10.reading(&r.slow_rebalance, c, sink);

    // C11: time since the last poll against max.poll.interval.
    if let Some(v) = fresh_value(&r.vals, mask, LAST_POLL_AGO).filter(|v| *v >= 0.0) {
        let max = p.max_poll_interval.as_secs_f64();
        let thresholds = [p.poll_interval_warning * max, max];
        let level = ladder(v, &thresholds, r.poll.state(), c.hysteresis, false, false);
        let sign = poll_sign(level);
        if let Some(kind) = r.poll.observe(level, t, |streak| {
            Some(status_kind(sign, Confidence::Measured, streak, &agreement))
        }) {
            sink.emit(
                kind,
                Evidence::rule(Rule::C11.name())
                    .with("last_poll_seconds_ago", v)
                    .with("max_poll_interval_seconds", max)
                    .threshold(thresholds[usize::from(level.saturating_sub(1))]),
            );
        }
    }
    if r.poll.streak() > 0 {
        let conf = agreement.raise(Confidence::Measured, r.poll.streak());
        sink.status(Rule::C11, poll_sign(r.poll.state()), conf);
    }
    let _ = BYTES_RATE; // C5: passthrough.
}

/// Evaluates a partition row (C4) with the consumption `rates` of its client's rows.
pub fn evaluate_partition(
    r: &mut PartitionRow,
    mask: u32,
    rates: Rates,
    p: &ConsumerPackConfig,
    sink: &mut Sink<'_>,
) {
    if let Some(lag) = fresh_value(&r.vals, mask, PARTITION_LAG) {
        let lead = fresh_value(&r.vals, mask, PARTITION_LEAD);
        let v = r.window.observe(LagReading { lag, lead, rates }, p);
        // A new verdict; or a condition whose window filled with agreeing readings (a new
        // onset at the higher confidence).
        if v.changed || (v.confidence_rose && v.status > Sign::Converging) {
            let mut e = Evidence::rule(Rule::C4.name())
                .with("lag", lag)
                .with("window_readings", f64::from(v.window_readings))
                .with("agreeing_readings", f64::from(v.agreeing_readings))
                .threshold(f64::from(p.lag_window));
            if let Some(lead) = lead {
                e = e.with("lead", lead);
            }
            if v.stalled_polls > 0 {
                e = e.with("stalled_polls", f64::from(v.stalled_polls));
            }
            if let Some(records) = v.rewound_records {
                e = e.with("rewound_records", records);
            }
            if let Some(rate) = rates.topic {
                e = e.with("topic_consumed_rate", rate);
            }
            if let Some(rate) = rates.client {
                e = e.with("client_consumed_rate", rate);
            }
            if let Some(seconds) = v.time_lag_seconds {
                e = e.with("time_lag_seconds", seconds);
            }
            sink.emit(SignalKind::Statuses(v.status, v.confidence), e);
        }
    }
    // The verdict stands between lag readings too (an evaluation with only the lead).
    if let Some((status, confidence)) = r.window.current(p) {
        sink.status(Rule::C4, status, confidence);
    }
}

fn commit_kind(level: u8) -> SignalKind {
    let sign = match level {
        1 => services::Sign::Expire,
        2 => services::Sign::Fail,
        _ => services::Sign::Success,
    };
    SignalKind::Services(sign, services::Dimension::Caller)
}

fn poll_sign(level: u8) -> Sign {
    match level {
        2 => Sign::Defective,
        1 => Sign::Degraded,
        _ => Sign::Stable,
    }
}
