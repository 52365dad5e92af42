//! User rules: signals from any metric, whether a JMX rule produced it or the application
//! pushed it over OTLP. A rule matches by metric name (and optionally data-point attribute
//! values) and keeps its state per series, like the packs.
//!
//! | kind | emits |
//! |---|---|
//! | `threshold` | the band the value is in, on change (the first band is normal: silent at the start); hysteresis on the way down |
//! | `ratio` | the same bands on `metric / denominator` of one series, of the values or of their per-poll increases; `each_increase` is also emitted for every poll in which the denominator rose |
//! | `increase` | `emit` for every poll in which the counter rose by at least `min`, with the delta; a fall is Counters RESET |
//! | `trend` | `emit` when the trend detector sees a sustained rise; Statuses CONVERGING / STABLE afterwards when `emit` is a status |
//! | `storm` | `emit` once when at least `events` increments happen within `within`; STABLE after, when `emit` is a status |
//! | `absence` | `emit` once when the series sent nothing for `after`; `recover` when it is back |
//!
//! A Statuses kind written in a rule is its base confidence; agreeing polls raise it, as for
//! the packs. Every rule's current state also counts towards its subject's status (through the
//! kind's canonical status reading, e.g. Probes FAIL -> DEGRADED).

pub mod config;

use std::collections::VecDeque;

use kafka_obs_signal::{Evidence, SignalKind, statuses};

use self::config::{Band, UserKind, UserRule};
use super::config::ConfidenceConfig;
use super::packs::{Common, RuleIndex, Sink, fresh_value, known};
use super::state::{CounterState, CounterStep, Tracker, ladder};
use super::trend::{Trend, TrendDetector};

/// Slot of the rule's metric.
pub const METRIC: u8 = 0;
/// Slot of a ratio's denominator.
pub const DENOMINATOR: u8 = 1;

/// One rule's state on one series.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub vals: [f64; 2],
    tracker: Tracker,
    numerator: CounterState,
    denominator: CounterState,
    trend: Option<TrendDetector>,
    events: VecDeque<(u64, f64)>,
}

impl Default for UserRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            tracker: Tracker::default(),
            numerator: CounterState::default(),
            denominator: CounterState::default(),
            trend: None,
            events: VecDeque::new(),
        }
    }
}

/// A Statuses kind raised by agreement; other kinds as they are.
fn raised(kind: SignalKind, streak: u16, agreement: &ConfidenceConfig) -> SignalKind {
    match kind {
        SignalKind::Statuses(sign, base) => {
            SignalKind::Statuses(sign, agreement.raise(base, streak))
        }
        other => other,
    }
}

fn band_level(value: f64, bands: &[Band], previous: u8, hysteresis: f64) -> u8 {
    let thresholds: Vec<f64> = bands.iter().filter_map(|b| b.above).collect();
    ladder(value, &thresholds, previous, hysteresis, false, false)
}

/// Evaluates one user rule on one series after this evaluation's readings (`mask`).
pub fn evaluate(
    r: &mut UserRow,
    mask: u32,
    index: RuleIndex,
    rule: &UserRule,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let t = sink.time;
    let agreement = c.confidence;
    let name = rule.name.as_str();
    match &rule.kind {
        UserKind::Threshold { bands, hysteresis } => {
            if let Some(v) = fresh_value(&r.vals, mask, METRIC) {
                let level = band_level(v, bands, r.tracker.state(), *hysteresis);
                emit_band(
                    r,
                    level,
                    bands,
                    Evidence::rule(name).with("value", v),
                    &agreement,
                    sink,
                );
            }
            band_reading(r, index, bands, &agreement, sink);
        }
        UserKind::Ratio {
            of_increase,
            bands,
            hysteresis,
            ..
        } => {
            let num = fresh_value(&r.vals, mask, METRIC);
            let den = fresh_value(&r.vals, mask, DENOMINATOR);
            let ratio = if *of_increase {
                let dn = num.map(|v| r.numerator.observe(v));
                let dd = den.map(|v| r.denominator.observe(v));
                if let Some(CounterStep::Increase(d)) = dd
                    && let Some(each) = ratio_each(rule)
                {
                    sink.emit(each, Evidence::rule(name).with("delta", d));
                }
                match (dn, dd) {
                    (Some(n), Some(CounterStep::Increase(d))) => {
                        let n = match n {
                            CounterStep::Increase(n) => Some(n),
                            CounterStep::Same => Some(0.0),
                            _ => None,
                        };
                        n.map(|n| (n / d, n, d))
                    }
                    _ => None,
                }
            } else {
                match (
                    num.or_else(|| den.and(known(&r.vals, METRIC))),
                    known(&r.vals, DENOMINATOR),
                ) {
                    (Some(n), Some(d)) if d != 0.0 && (num.is_some() || den.is_some()) => {
                        Some((n / d, n, d))
                    }
                    _ => None,
                }
            };
            if let Some((ratio, n, d)) = ratio {
                let level = band_level(ratio, bands, r.tracker.state(), *hysteresis);
                let e = Evidence::rule(name)
                    .with("ratio", ratio)
                    .with("numerator", n)
                    .with("denominator", d);
                emit_band(r, level, bands, e, &agreement, sink);
            }
            band_reading(r, index, bands, &agreement, sink);
        }
        UserKind::Increase { emit, min } => {
            if let Some(v) = fresh_value(&r.vals, mask, METRIC) {
                let step = r.numerator.observe(v);
                let hit = matches!(step, CounterStep::Increase(d) if d >= *min);
                match step {
                    CounterStep::Increase(d) if d >= *min => {
                        sink.emit(
                            *emit,
                            Evidence::rule(name)
                                .with("delta", d)
                                .with("total", v)
                                .threshold(*min),
                        );
                    }
                    CounterStep::Reset { previous } => sink.counter_reset(name, previous, v),
                    _ => {}
                }
                if !matches!(step, CounterStep::First) {
                    r.tracker.advance(u8::from(hit), t);
                }
            }
            // An increase holds its condition until a poll without one.
            if r.tracker.state() == 1
                && let Some(status) = emit.default_status()
            {
                sink.status_index(index, status, statuses::Confidence::Measured);
            }
        }
        UserKind::Trend { emit, detector } => {
            if let Some(v) = fresh_value(&r.vals, mask, METRIC) {
                let trend = r.trend.get_or_insert_with(TrendDetector::default);
                let state = trend.observe(v, detector);
                let evidence = trend.evidence();
                let (level, kind) = match state {
                    Trend::Diverging => (2, Some(*emit)),
                    Trend::Converging => (
                        1,
                        emit.status().map(|_| {
                            SignalKind::Statuses(
                                statuses::Sign::Converging,
                                statuses::Confidence::Measured,
                            )
                        }),
                    ),
                    Trend::Stable => (
                        0,
                        emit.status().map(|_| {
                            SignalKind::Statuses(
                                statuses::Sign::Stable,
                                statuses::Confidence::Measured,
                            )
                        }),
                    ),
                };
                if let Some(kind) = r
                    .tracker
                    .observe(level, t, |s| kind.map(|k| raised(k, s, &agreement)))
                {
                    sink.emit(
                        kind,
                        Evidence::rule(name)
                            .with("value", v)
                            .with("base", evidence.base)
                            .with("growth", evidence.growth)
                            .threshold(detector.growth),
                    );
                }
            }
            if r.tracker.streak() > 0 {
                let sign = match r.tracker.state() {
                    2 => emit.default_status(),
                    1 => emit.status().map(|_| statuses::Sign::Converging),
                    _ => emit.status().map(|_| statuses::Sign::Stable),
                };
                let base = emit
                    .status()
                    .map_or(statuses::Confidence::Measured, |s| s.1);
                if let Some(sign) = sign {
                    sink.status_index(index, sign, agreement.raise(base, r.tracker.streak()));
                }
            }
        }
        UserKind::Storm {
            emit,
            events,
            within,
        } => {
            if let Some(v) = fresh_value(&r.vals, mask, METRIC) {
                match r.numerator.observe(v) {
                    CounterStep::Increase(d) => r.events.push_back((t, d)),
                    CounterStep::Reset { previous } => {
                        r.events.clear();
                        sink.counter_reset(name, previous, v);
                    }
                    _ => {}
                }
                let horizon = t.saturating_sub(within.as_nanos() as u64);
                while r.events.front().is_some_and(|(at, _)| *at < horizon) {
                    r.events.pop_front();
                }
                while r.events.len() > *events as usize {
                    r.events.pop_front();
                }
                let count: f64 = r.events.iter().map(|(_, d)| d).sum();
                let level = u8::from(count >= f64::from(*events));
                let kind = if level == 1 {
                    Some(*emit)
                } else {
                    emit.status().map(|_| {
                        SignalKind::Statuses(statuses::Sign::Stable, statuses::Confidence::Measured)
                    })
                };
                if let Some(kind) = r
                    .tracker
                    .observe(level, t, |s| kind.map(|k| raised(k, s, &agreement)))
                {
                    let span = r
                        .events
                        .front()
                        .map_or(0.0, |(at, _)| t.saturating_sub(*at) as f64 / 1e9);
                    sink.emit(
                        kind,
                        Evidence::rule(name)
                            .with("events", count)
                            .with("span_seconds", span)
                            .threshold(f64::from(*events)),
                    );
                }
            }
            if r.tracker.state() == 1
                && let Some(status) = emit.default_status()
            {
                sink.status_index(index, status, statuses::Confidence::Measured);
            }
        }
        UserKind::Absence { recover, .. } => {
            if fresh_value(&r.vals, mask, METRIC).is_some() && r.tracker.state() == 1 {
                let kind = *recover;
                if let Some(kind) = r.tracker.observe(0, t, |_| kind) {
                    sink.emit(kind, Evidence::rule(name).with("absent", 0.0));
                }
            }
        }
    }
}

/// Absence rules: called by the engine's sweep for a series silent since `last_seen`.
pub fn check_absence(
    r: &mut UserRow,
    index: RuleIndex,
    rule: &UserRule,
    last_seen: u64,
    now: u64,
    sink: &mut Sink<'_>,
) {
    let UserKind::Absence { after, emit, .. } = &rule.kind else {
        return;
    };
    let silent = now.saturating_sub(last_seen);
    if silent >= after.as_nanos() as u64 && r.tracker.state() == 0 {
        let kind = *emit;
        if let Some(kind) = r.tracker.observe(1, now, |_| Some(kind)) {
            sink.emit(
                kind,
                Evidence::rule(rule.name.as_str())
                    .with("silent_seconds", silent as f64 / 1e9)
                    .threshold(after.as_secs_f64()),
            );
        }
    }
    if r.tracker.state() == 1 {
        // Absent: the condition holds until data returns.
        let status = emit.default_status().unwrap_or(statuses::Sign::Degraded);
        sink.status_index(index, status, statuses::Confidence::Measured);
    }
}

fn ratio_each(rule: &UserRule) -> Option<SignalKind> {
    match &rule.kind {
        UserKind::Ratio { each_increase, .. } => *each_increase,
        _ => None,
    }
}

fn emit_band(
    r: &mut UserRow,
    level: u8,
    bands: &[Band],
    evidence: Evidence,
    agreement: &ConfidenceConfig,
    sink: &mut Sink<'_>,
) {
    let band = bands[usize::from(level).min(bands.len() - 1)];
    if let Some(kind) = r
        .tracker
        .observe(level, sink.time, |s| Some(raised(band.emit, s, agreement)))
    {
        let evidence = match band.above.or_else(|| bands.get(1).and_then(|b| b.above)) {
            Some(t) => evidence.threshold(t),
            None => evidence,
        };
        sink.emit(kind, evidence);
    }
}

fn band_reading(
    r: &UserRow,
    index: RuleIndex,
    bands: &[Band],
    agreement: &ConfidenceConfig,
    sink: &mut Sink<'_>,
) {
    if r.tracker.streak() == 0 {
        return;
    }
    let band = bands[usize::from(r.tracker.state()).min(bands.len() - 1)];
    let kind = raised(band.emit, r.tracker.streak(), agreement);
    if let Some(status) = kind.default_status() {
        let confidence = kind
            .status()
            .map_or(statuses::Confidence::Measured, |(_, c)| c);
        sink.status_index(index, status, confidence);
    }
}
