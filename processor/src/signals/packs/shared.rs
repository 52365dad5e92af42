//! Rule shapes more than one pack uses: a status rule whose reading is one bad sign or
//! STABLE ([`StatusRule`]: B1, B2, B7, C6, C10, J3), a reading against one threshold with
//! hysteresis ([`above`]), and a latency trend as a condition ([`latency_trend`]: P8, B5).

use kafka_obs_signal::{
    Evidence, SignalKind,
    statuses::{Confidence, Sign},
};

use super::{Common, Rule, Sink};
use crate::signals::state::{Tracker, ladder, status_kind};
use crate::signals::trend::config::TrendConfig;
use crate::signals::trend::{Trend, TrendDetector};

/// The level of a reading against one threshold: 1 above it, 0 once back at or below it less
/// the engine's hysteresis.
pub(crate) fn above(value: f64, threshold: f64, tracker: &Tracker, c: &Common) -> u8 {
    ladder(
        value,
        &[threshold],
        tracker.state(),
        c.hysteresis,
        false,
        false,
    )
}

/// A rule whose reading is `bad` (from confidence `base`, raised by agreeing polls) while its
/// condition holds and STABLE on the way back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusRule {
    pub rule: Rule,
    pub bad: Sign,
    pub base: Confidence,
}

impl StatusRule {
    pub(crate) const fn new(rule: Rule, bad: Sign, base: Confidence) -> Self {
        Self { rule, bad, base }
    }

    fn sign(&self, level: u8) -> Sign {
        if level >= 1 { self.bad } else { Sign::Stable }
    }

    /// Feeds this evaluation's level (0 or 1); on a change emits the verdict with the rule's
    /// evidence as `evidence` completes it (built only then).
    pub(crate) fn step(
        &self,
        tracker: &mut Tracker,
        level: u8,
        evidence: impl FnOnce(Evidence) -> Evidence,
        c: &Common,
        sink: &mut Sink<'_>,
    ) {
        let agreement = c.confidence;
        let sign = self.sign(level);
        if let Some(kind) = tracker.observe(level.min(1), sink.time, |streak| {
            Some(status_kind(sign, self.base, streak, &agreement))
        }) {
            sink.emit(kind, evidence(Evidence::rule(self.rule.name())));
        }
    }

    /// [`step`](Self::step) for `value` (evidence key `name`) against `threshold`.
    pub(crate) fn threshold(
        &self,
        tracker: &mut Tracker,
        (name, value): (&str, f64),
        threshold: f64,
        c: &Common,
        sink: &mut Sink<'_>,
    ) {
        let level = above(value, threshold, tracker, c);
        self.step(
            tracker,
            level,
            |e| e.with(name, value).threshold(threshold),
            c,
            sink,
        );
    }

    /// The rule's current reading, for the subject's status (none before its first verdict).
    pub(crate) fn reading(&self, tracker: &Tracker, c: &Common, sink: &mut Sink<'_>) {
        if tracker.streak() > 0 {
            sink.status(
                self.rule,
                self.sign(tracker.state()),
                c.confidence.raise(self.base, tracker.streak()),
            );
        }
    }
}

/// P8 and B5: a latency trend as a condition. Feeds `value` (when this evaluation has one) to
/// the detector; emits the verdict when it changes, and DIVERGING once more when agreeing
/// evaluations raise it from MEASURED to CONFIRMED (the condition changed while it holds);
/// reports the current reading on every evaluation. Returns the current status.
pub(crate) fn latency_trend(
    detector: &mut TrendDetector,
    state: &mut Tracker,
    value: Option<f64>,
    params: &TrendConfig,
    (rule, value_key): (Rule, &str),
    c: &Common,
    sink: &mut Sink<'_>,
) -> Sign {
    let agreement = c.confidence;
    if let Some(v) = value {
        let (level, sign) = trend_sign(detector.observe(v, params));
        let step = state.advance(level, sink.time);
        let confidence = agreement.raise(Confidence::Measured, step.streak);
        let confirmed = level == 2
            && !step.changed
            && confidence == Confidence::Confirmed
            && agreement.raise(Confidence::Measured, step.streak - 1) != Confidence::Confirmed;
        if step.changed || confirmed {
            let e = detector.evidence();
            let mut evidence = Evidence::rule(rule.name())
                .with(value_key, v)
                .with("base_ms", e.base)
                .with("growth", e.growth)
                .threshold(params.growth);
            if params.floor > 0.0 {
                evidence = evidence.with("min_latency_ms", params.floor);
            }
            if confirmed {
                evidence = evidence.with("agreeing_evaluations", f64::from(step.streak));
            }
            sink.emit(SignalKind::Statuses(sign, confidence), evidence);
        }
    }
    let (_, sign) = trend_sign(trend_of(state.state()));
    if state.streak() > 0 {
        sink.status(
            rule,
            sign,
            agreement.raise(Confidence::Measured, state.streak()),
        );
    }
    sign
}

/// The trend a [`trend_sign`] tracker state stands for.
fn trend_of(level: u8) -> Trend {
    match level {
        2 => Trend::Diverging,
        1 => Trend::Converging,
        _ => Trend::Stable,
    }
}

/// The tracker state (0 STABLE, 1 CONVERGING, 2 DIVERGING) and status of a trend.
fn trend_sign(trend: Trend) -> (u8, Sign) {
    match trend {
        Trend::Stable => (0, Sign::Stable),
        Trend::Converging => (1, Sign::Converging),
        Trend::Diverging => (2, Sign::Diverging),
    }
}
