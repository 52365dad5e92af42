//! Pack `kafka-producer`: rules P1-P11 on one producer client (`client-id`) or one of its
//! topics (`client-id`, `topic`).
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | P1 | utilization `1 - available/total` > 0.95 | Queues OVERFLOW; recovery Queues ENQUEUE |
//! | P2 | utilization > 0.80 | Systems LIMIT × SPACE (a DIVERGING reading); recovery Systems NORMAL × SPACE |
//! | P3 | utilization back at or below 0.80 | the normal state: the recoveries of P1 and P2, under their ids |
//! | P4 | buffer-total-bytes | passthrough; P1's `total_bytes` evidence |
//! | P5 | buffer-exhausted-total rises | Counters INCREMENT (delta) + Queues OVERFLOW; a fall is Counters RESET |
//! | P6 | batch-size-avg moves > 1 % from the last reported value | Gauges INCREMENT / DECREMENT |
//! | P7 | record-send-rate | passthrough |
//! | P8 | request-latency-avg trend, never below `latency_trend.min_latency_ms` (100 ms) | Statuses DIVERGING (MEASURED), again as CONFIRMED once agreeing polls confirm it; CONVERGING, STABLE after |
//! | P9 | record-error-rate > 0 / back to 0 | Probes FAIL / SUCCEED × OUTBOUND |
//! | P10 | record-retry-rate > 0 | Services RETRY × CALLER |
//! | P11 | worst of P1, P2, P8, P9 | Statuses for the client, confidence from agreeing polls |
//!
//! P1-P3 are one hysteresis ladder with two nested conditions: P2 holds from 0.81 and until
//! 0.76, P1 (on top of P2) from 0.96 and until 0.9025 (thresholds minus 5 %).

pub mod config;

use kafka_obs_signal::{
    Evidence, SignalKind, counters, gauges, probes, queues, services,
    statuses::{Confidence, Sign},
    systems,
};

use self::config::ProducerPackConfig;
use super::shared::{above, latency_trend};
use super::{Common, Input, Reader, Rule, Sink, fresh_value, input, known};
use crate::signals::state::{CounterState, CounterStep, Tracker, ladder, status_kind};
use crate::signals::trend::TrendDetector;

const AVAILABLE: u8 = 0;
const TOTAL: u8 = 1;
const EXHAUSTED: u8 = 2;
const BATCH_SIZE: u8 = 3;
const SEND_RATE: u8 = 4;
const LATENCY: u8 = 5;
const ERROR_RATE: u8 = 6;
const RETRY_RATE: u8 = 7;
const SLOTS: usize = 8;

/// The metric-name table: what the `kafka-producer` preset calls each input.
pub const METRICS: &[Input] = &[
    input(
        "kafka.producer.buffer-available-bytes",
        Reader::Producer,
        AVAILABLE,
    ),
    input("kafka.producer.buffer-total-bytes", Reader::Producer, TOTAL),
    input(
        "kafka.producer.buffer-exhausted-total",
        Reader::Producer,
        EXHAUSTED,
    ),
    input(
        "kafka.producer.batch-size-avg",
        Reader::Producer,
        BATCH_SIZE,
    ),
    input(
        "kafka.producer.record-send-rate",
        Reader::Producer,
        SEND_RATE,
    ),
    input(
        "kafka.producer.request-latency-avg",
        Reader::Producer,
        LATENCY,
    ),
    input(
        "kafka.producer.record-error-rate",
        Reader::Producer,
        ERROR_RATE,
    ),
    input(
        "kafka.producer.record-retry-rate",
        Reader::Producer,
        RETRY_RATE,
    ),
];

/// State of one producer client or producer topic.
#[derive(Debug, Clone)]
pub struct Row {
    pub vals: [f64; SLOTS],
    buffer: Tracker,
    exhausted: CounterState,
    batch_reference: Option<f64>,
    latency: TrendDetector,
    latency_state: Tracker,
    errors: Tracker,
    retries: Tracker,
    rollup: Tracker,
}

impl Default for Row {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; SLOTS],
            buffer: Tracker::default(),
            exhausted: CounterState::default(),
            batch_reference: None,
            latency: TrendDetector::default(),
            latency_state: Tracker::default(),
            errors: Tracker::default(),
            retries: Tracker::default(),
            rollup: Tracker::default(),
        }
    }
}

const LIMIT: SignalKind = SignalKind::Systems(systems::Sign::Limit, systems::Dimension::Space);

/// Evaluates the row after this evaluation's readings (`mask`) were stored.
pub fn evaluate(r: &mut Row, mask: u32, p: &ProducerPackConfig, c: &Common, sink: &mut Sink<'_>) {
    let t = sink.time;
    let mut rollup = Sign::Stable;

    // P1-P3 (P4: the total is the baseline in the evidence).
    let avail = fresh_value(&r.vals, mask, AVAILABLE);
    let total = known(&r.vals, TOTAL);
    if let (Some(avail), Some(total)) = (avail, total)
        && total > 0.0
    {
        let utilization = 1.0 - avail / total;
        let thresholds = [p.buffer_pressure_utilization, p.buffer_overflow_utilization];
        let level = ladder(
            utilization,
            &thresholds,
            r.buffer.state(),
            c.hysteresis,
            false,
            false,
        );
        let kind = match level {
            2 => SignalKind::Queues(queues::Sign::Overflow),
            1 => LIMIT,
            _ => SignalKind::Queues(queues::Sign::Enqueue),
        };
        let before = r.buffer.state();
        if r.buffer.observe(level, t, |_| Some(kind)).is_some() {
            let evidence = |rule: Rule, threshold: f64| {
                Evidence::rule(rule.name())
                    .with("utilization", utilization)
                    .with("available_bytes", avail)
                    .with("total_bytes", total)
                    .threshold(threshold)
            };
            // Two nested conditions: P2 (pressure) holds from level 1 on, P1 (overflow) at
            // level 2. Leaving one is its recovery, under its own id.
            if before == 2 && level < 2 {
                sink.emit(
                    SignalKind::Queues(queues::Sign::Enqueue),
                    evidence(Rule::P1, p.buffer_overflow_utilization),
                );
            }
            if before >= 1 && level == 0 {
                sink.emit(
                    SignalKind::Systems(systems::Sign::Normal, systems::Dimension::Space),
                    evidence(Rule::P2, p.buffer_pressure_utilization),
                );
            }
            if before == 0 && level >= 1 {
                sink.emit(LIMIT, evidence(Rule::P2, p.buffer_pressure_utilization));
            }
            if before < 2 && level == 2 {
                sink.emit(kind, evidence(Rule::P1, p.buffer_overflow_utilization));
            }
        }
    }
    if r.buffer.state() >= 1 {
        sink.status(Rule::P2, Sign::Diverging, Confidence::Measured);
        rollup = rollup.max(Sign::Diverging);
    }
    if r.buffer.state() == 2 {
        sink.reading_of(
            Rule::P1,
            SignalKind::Queues(queues::Sign::Overflow),
            Confidence::Measured,
        );
        rollup = rollup.max(Sign::Degraded);
    }

    // P5: exhaustions are witnessed overflows.
    if let Some(v) = fresh_value(&r.vals, mask, EXHAUSTED) {
        match r.exhausted.observe(v) {
            CounterStep::Increase(delta) => {
                sink.emit(
                    SignalKind::Counters(counters::Sign::Increment),
                    Evidence::rule(Rule::P5.name())
                        .with("delta", delta)
                        .with("total", v),
                );
                sink.emit(
                    SignalKind::Queues(queues::Sign::Overflow),
                    Evidence::rule(Rule::P5.name()).with("exhaustions", delta),
                );
            }
            CounterStep::Reset { previous } => sink.counter_reset(Rule::P5.name(), previous, v),
            CounterStep::First | CounterStep::Same => {}
        }
    }

    // P6: batch size beyond a dead band of the last reported value.
    if let Some(v) = fresh_value(&r.vals, mask, BATCH_SIZE) {
        match r.batch_reference {
            None => r.batch_reference = Some(v),
            Some(reference) => {
                let change = if reference != 0.0 {
                    (v - reference) / reference.abs()
                } else if v != 0.0 {
                    1.0
                } else {
                    0.0
                };
                if change.abs() > p.batch_size_dead_band {
                    let sign = if change > 0.0 {
                        gauges::Sign::Increment
                    } else {
                        gauges::Sign::Decrement
                    };
                    sink.emit(
                        SignalKind::Gauges(sign),
                        Evidence::rule(Rule::P6.name())
                            .with("value", v)
                            .with("previous", reference)
                            .with("change_ratio", change)
                            .threshold(p.batch_size_dead_band),
                    );
                    r.batch_reference = Some(v);
                }
            }
        }
    }

    // P8: latency trend (never DIVERGING under `latency_trend.min_latency_ms`).
    let latency_sign = latency_trend(
        &mut r.latency,
        &mut r.latency_state,
        fresh_value(&r.vals, mask, LATENCY),
        &p.latency_trend,
        (Rule::P8, "latency_ms"),
        c,
        sink,
    );
    rollup = rollup.max(latency_sign);

    // P9: errors.
    if let Some(v) = fresh_value(&r.vals, mask, ERROR_RATE) {
        let level = above(v, p.error_rate_threshold, &r.errors, c);
        let kind = probe(level);
        if let Some(kind) = r.errors.observe(level, t, |_| Some(kind)) {
            sink.emit(
                kind,
                Evidence::rule(Rule::P9.name())
                    .with("record_error_rate", v)
                    .threshold(p.error_rate_threshold),
            );
        }
    }
    if r.errors.streak() > 0 {
        sink.reading_of(Rule::P9, probe(r.errors.state()), Confidence::Measured);
    }
    if r.errors.state() == 1 {
        rollup = rollup.max(Sign::Degraded);
    }

    // P10: retries.
    if let Some(v) = fresh_value(&r.vals, mask, RETRY_RATE) {
        let level = above(v, p.retry_rate_threshold, &r.retries, c);
        let kind = (level == 1).then_some(SignalKind::Services(
            services::Sign::Retry,
            services::Dimension::Caller,
        ));
        if let Some(kind) = r.retries.observe(level, t, |_| kind) {
            sink.emit(
                kind,
                Evidence::rule(Rule::P10.name())
                    .with("record_retry_rate", v)
                    .threshold(p.retry_rate_threshold),
            );
        }
    }

    // P11: the client's roll-up, on rows that carry client-level inputs.
    let client_level = known(&r.vals, AVAILABLE).is_some() || known(&r.vals, LATENCY).is_some();
    let any_fresh = [AVAILABLE, LATENCY, ERROR_RATE]
        .iter()
        .any(|s| fresh_value(&r.vals, mask, *s).is_some());
    if client_level && any_fresh {
        let agreement = c.confidence;
        let kind = r.rollup.observe(rollup.rank(), t, |streak| {
            Some(status_kind(
                rollup,
                Confidence::Tentative,
                streak,
                &agreement,
            ))
        });
        if let Some(kind) = kind {
            let mut e = Evidence::rule(Rule::P11.name())
                .with("agreeing_polls", f64::from(r.rollup.streak()));
            if let Some(u) = avail
                .zip(total)
                .filter(|(_, t)| *t > 0.0)
                .map(|(a, t)| 1.0 - a / t)
            {
                e = e.with("utilization", u);
            }
            if let Some(v) = known(&r.vals, LATENCY) {
                e = e.with("latency_ms", v);
            }
            if let Some(v) = known(&r.vals, ERROR_RATE) {
                e = e.with("record_error_rate", v);
            }
            sink.emit(kind, e);
        }
    }
    if client_level && r.rollup.streak() > 0 {
        let sign = Sign::from_rank(r.rollup.state()).unwrap_or(Sign::Stable);
        let conf = c.confidence.raise(Confidence::Tentative, r.rollup.streak());
        sink.status(Rule::P11, sign, conf);
    }
    let _ = SEND_RATE; // P7: passthrough; the value stays in the metrics pipeline.
}

fn probe(level: u8) -> SignalKind {
    let sign = if level == 1 {
        probes::Sign::Fail
    } else {
        probes::Sign::Succeed
    };
    SignalKind::Probes(sign, probes::Dimension::Outbound)
}
