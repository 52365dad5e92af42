//! Pack `kafka-consumer`: rules C1-C11 on one consumer client (`client-id`), and C4 on each of
//! its partitions (`client-id`, `topic`, `partition`).
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | C1 | records-lag-max > 10 000 | Queues OVERFLOW + Statuses DEGRADED (CONFIRMED); left at or below 9 500: Queues ENQUEUE + Statuses STABLE under C1 |
//! | C2 | lag > 2 × previous poll's lag and > 100 | Statuses DIVERGING (MEASURED), held while the lag keeps rising; recovery Statuses STABLE under C2 |
//! | C3 | otherwise | the normal state (a STABLE reading, no signal of its own) |
//! | C4 | per-partition records-lag, Burrow's window (see `lag.rs`) | Statuses DIVERGING / DEGRADED / DOWN / CONVERGING / STABLE, confidence from window completeness, `time_lag_seconds` evidence |
//! | C5 | records-consumed-rate, bytes-consumed-rate | passthrough (C4 uses the rate) |
//! | C6 | fetch-latency-avg > 500 ms | Statuses DEGRADED (MEASURED) |
//! | C7 | assigned-partitions > 0 / == 0 in a group | Resources GRANT / DENY (GRANT on the way back only) |
//! | C8 | commit-latency-avg <= 1 s / above / commits stopped while consuming | Services SUCCESS / EXPIRE / FAIL × CALLER |
//! | C9 | a rebalance < 60 s after the previous one | Statuses ERRATIC (CONFIRMED) with the count and span; STABLE once 60 s pass without one |
//! | C10 | rebalance-latency-avg > 5 000 ms | Statuses DEGRADED (MEASURED) |
//! | C11 | last-poll-seconds-ago > 80 % / > 100 % of max.poll.interval (300 s) | Statuses DEGRADED / DEFECTIVE |
//!
//! A consumer is "in a group" once its rebalance-total is above zero (it has joined).

use kafka_obs_signal::{
    Evidence, SignalKind, counters, queues, resources, services,
    statuses::{Confidence, Sign},
};

use super::{Common, Input, Reader, Rule, Sink, fresh_value, input, known};
use crate::signals::config::ConsumerPack;
use crate::signals::lag::LagWindow;
use crate::signals::state::{CounterState, CounterStep, Tracker, ladder, status_kind};

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
const SLOTS: usize = 11;

/// Per-partition lag (C4).
pub const PARTITION_LAG: u8 = 0;

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
];

/// The attribute keys that name a partition's client row (for its consumption rate).
pub const CLIENT_KEYS: &[&str] = &["client-id"];

/// State of one consumer client.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub vals: [f64; SLOTS],
    lag: Tracker,
    previous_lag: Option<f64>,
    fetch: Tracker,
    assignment: Tracker,
    commit: Tracker,
    rebalances: CounterState,
    last_rebalance_at: Option<u64>,
    storm: Tracker,
    storm_start: u64,
    storm_count: f64,
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
            rebalances: CounterState::default(),
            last_rebalance_at: None,
            storm: Tracker::default(),
            storm_start: 0,
            storm_count: 0.0,
            slow_rebalance: Tracker::default(),
            poll: Tracker::default(),
        }
    }
}

impl ClientRow {
    /// The per-partition consumption rate (records/s): the client's rate over its assigned
    /// partitions. `None` when the rate is unknown.
    pub fn partition_rate(&self) -> Option<f64> {
        let rate = known(&self.vals, CONSUMED_RATE)?;
        let partitions = known(&self.vals, ASSIGNED)
            .filter(|p| *p >= 1.0)
            .unwrap_or(1.0);
        Some(rate / partitions)
    }
}

/// State of one partition (C4).
#[derive(Debug, Clone, Default)]
pub struct PartitionRow {
    pub vals: [f64; 1],
    window: LagWindow,
    tracker: Tracker,
    /// Row key of the client this partition belongs to.
    pub client: u64,
}

impl PartitionRow {
    pub fn new(client: u64) -> Self {
        Self {
            vals: [f64::NAN],
            client,
            ..Self::default()
        }
    }
}

const NANOS: f64 = 1e9;

/// Evaluates a client row after this evaluation's readings (`mask`) were stored.
pub fn evaluate(r: &mut ClientRow, mask: u32, p: &ConsumerPack, c: &Common, sink: &mut Sink<'_>) {
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
        let level = ladder(
            v,
            &[p.fetch_latency_degraded_ms],
            r.fetch.state(),
            c.hysteresis,
            false,
            false,
        );
        threshold_status(
            &mut r.fetch,
            level,
            Sign::Degraded,
            Rule::C6,
            "fetch_latency_ms",
            v,
            p.fetch_latency_degraded_ms,
            c,
            sink,
        );
    }
    status_reading(&r.fetch, Sign::Degraded, Rule::C6, c, sink);

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

    // C9: rebalance storms.
    let interval = p.rebalance_storm_interval.as_nanos() as u64;
    if let Some(total) = fresh_value(&r.vals, mask, REBALANCE_TOTAL) {
        let ago = fresh_value(&r.vals, mask, LAST_REBALANCE_AGO).filter(|a| *a >= 0.0);
        let at = ago.map_or(t, |a| t.saturating_sub((a * NANOS) as u64));
        match r.rebalances.observe(total) {
            CounterStep::First => {
                if total > 0.0 && ago.is_some() {
                    r.last_rebalance_at = Some(at);
                }
            }
            CounterStep::Increase(delta) => {
                let previous = r.last_rebalance_at.replace(at);
                let gap = previous.map(|prev| at.saturating_sub(prev));
                let storm = delta >= 2.0 || gap.is_some_and(|g| g < interval);
                if storm {
                    if r.storm.state() == 0 {
                        r.storm_start = previous
                            .filter(|_| gap.is_some_and(|g| g < interval))
                            .unwrap_or(at);
                        r.storm_count = if previous.is_some() && gap.is_some_and(|g| g < interval) {
                            delta + 1.0
                        } else {
                            delta
                        };
                    } else {
                        r.storm_count += delta;
                    }
                    if let Some(kind) = r.storm.observe(1, t, |_| {
                        Some(SignalKind::Statuses(Sign::Erratic, Confidence::Confirmed))
                    }) {
                        let mut e = Evidence::rule(Rule::C9.name())
                            .with("rebalances", r.storm_count)
                            .with(
                                "span_seconds",
                                at.saturating_sub(r.storm_start) as f64 / NANOS,
                            )
                            .threshold(p.rebalance_storm_interval.as_secs_f64());
                        if let Some(g) = gap {
                            e = e.with("interval_seconds", g as f64 / NANOS);
                        }
                        sink.emit(kind, e);
                    }
                }
            }
            CounterStep::Reset { previous } => {
                r.last_rebalance_at = None;
                sink.emit(
                    SignalKind::Counters(counters::Sign::Reset),
                    Evidence::rule(Rule::C9.name())
                        .with("previous", previous)
                        .with("total", total),
                );
            }
            CounterStep::Same => {}
        }
    }
    if r.storm.state() == 1
        && r.last_rebalance_at
            .is_none_or(|last| t.saturating_sub(last) >= interval)
        && let Some(kind) = r.storm.observe(0, t, |_| {
            Some(SignalKind::Statuses(Sign::Stable, Confidence::Confirmed))
        })
    {
        let end = r.last_rebalance_at.unwrap_or(t);
        sink.emit(
            kind,
            Evidence::rule(Rule::C9.name())
                .with("rebalances", r.storm_count)
                .with(
                    "span_seconds",
                    end.saturating_sub(r.storm_start) as f64 / NANOS,
                )
                .threshold(p.rebalance_storm_interval.as_secs_f64()),
        );
    }
    if r.storm.state() == 1 {
        sink.status(Rule::C9, Sign::Erratic, Confidence::Confirmed);
    }

    // C10: slow rebalances.
    if let Some(v) = fresh_value(&r.vals, mask, REBALANCE_LATENCY) {
        let level = ladder(
            v,
            &[p.rebalance_latency_degraded_ms],
            r.slow_rebalance.state(),
            c.hysteresis,
            false,
            false,
        );
        threshold_status(
            &mut r.slow_rebalance,
            level,
            Sign::Degraded,
            Rule::C10,
            "rebalance_latency_ms",
            v,
            p.rebalance_latency_degraded_ms,
            c,
            sink,
        );
    }
    status_reading(&r.slow_rebalance, Sign::Degraded, Rule::C10, c, sink);

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

/// Evaluates a partition row (C4); `rate` is the partition's consumption rate if known.
pub fn evaluate_partition(
    r: &mut PartitionRow,
    mask: u32,
    rate: Option<f64>,
    p: &ConsumerPack,
    sink: &mut Sink<'_>,
) {
    let Some(lag) = fresh_value(&r.vals, mask, PARTITION_LAG) else {
        return;
    };
    let verdict = r.window.observe(lag, rate, p);
    let kind = SignalKind::Statuses(verdict.status, verdict.confidence);
    if let Some(kind) = r
        .tracker
        .observe(verdict.status.rank(), sink.time, |_| Some(kind))
    {
        let mut e = Evidence::rule(Rule::C4.name())
            .with("lag", lag)
            .with("window_readings", f64::from(verdict.window_readings))
            .threshold(f64::from(p.lag_window));
        if verdict.stalled_polls > 0 {
            e = e.with("stalled_polls", f64::from(verdict.stalled_polls));
        }
        if let Some(rate) = rate {
            e = e.with("consumed_rate", rate);
        }
        if let Some(seconds) = verdict.time_lag_seconds {
            e = e.with("time_lag_seconds", seconds);
        }
        sink.emit(kind, e);
    }
    sink.status(Rule::C4, verdict.status, verdict.confidence);
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

/// A one-threshold status rule: `bad` (MEASURED, raised by agreement) above the threshold,
/// STABLE on the way back.
#[allow(clippy::too_many_arguments)]
pub(crate) fn threshold_status(
    tracker: &mut Tracker,
    level: u8,
    bad: Sign,
    rule: Rule,
    name: &str,
    value: f64,
    threshold: f64,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let agreement = c.confidence;
    let sign = if level >= 1 { bad } else { Sign::Stable };
    if let Some(kind) = tracker.observe(level.min(1), sink.time, |streak| {
        Some(status_kind(sign, Confidence::Measured, streak, &agreement))
    }) {
        sink.emit(
            kind,
            Evidence::rule(rule.name())
                .with(name, value)
                .threshold(threshold),
        );
    }
}

/// The current reading of a [`threshold_status`] rule, for the subject's status.
pub(crate) fn status_reading(
    tracker: &Tracker,
    bad: Sign,
    rule: Rule,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    if tracker.streak() > 0 {
        let sign = if tracker.state() >= 1 {
            bad
        } else {
            Sign::Stable
        };
        sink.status(
            rule,
            sign,
            c.confidence.raise(Confidence::Measured, tracker.streak()),
        );
    }
}
