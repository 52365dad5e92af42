//! Pack `exceptions`: rules E1-E2 on application logs (the connector's logs input: filelog
//! lines, an SDK's OTLP logs). Rows are per service instance (resource `service.name`,
//! `service.instance.id`, `host.name`), E1's also per exception type.
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | E1 | `burst_count` (5) errors of one exception type within `burst_window` (60s) | Services FAIL × CALLEE (Probes FAIL × INBOUND when the failing call was a health check), with `exception.type` and the latest `exception.message` (cut to `message_max_chars`); Services SUCCESS × CALLEE (Probes SUCCEED) once at most half as many fall in the window |
//! | E2 | errors per minute of the instance (all types), per `rate_interval`, over a learned EWMA baseline: above `rate_factor` (3) × baseline and `rate_min_per_minute` (6) | Statuses DIVERGING (MEASURED); STABLE once at or below `rate_recover_factor` (1.5) × baseline (or half the minimum) |
//!
//! Which record is an error and which type it has: `record.rs`. Time is the connector's: an
//! error counts when it arrives, so a burst ends even when the application goes quiet (the
//! connector evaluates these rows every second until their windows are empty). E2 learns its
//! baseline only while it does not diverge, so an outage is not learned as normal.

pub mod config;
pub mod record;

use std::borrow::Cow;
use std::collections::VecDeque;

use kafka_obs_signal::{
    Evidence, SignalKind, probes, services,
    statuses::{Confidence, Sign},
};

use self::config::ExceptionsPackConfig;
use super::{Common, Rule, Sink};
use crate::signals::state::Tracker;

/// The row attribute (and signal attribute) naming the exception type.
pub const TYPE_KEY: &str = "exception.type";
/// The signal attribute carrying the latest message.
pub const MESSAGE_KEY: &str = "exception.message";
/// The type of the shared row of an instance's types beyond `max_types_per_instance`.
pub const OTHER_TYPE: &str = "(other)";
/// Resource attributes that identify a service instance.
pub const INSTANCE_KEYS: &[&str] = &[
    "service.namespace",
    "service.name",
    "service.instance.id",
    "host.name",
    "kafka.cluster",
];

const NANOS_PER_SECOND: f64 = 1e9;

/// E1's state for one exception type of one instance.
#[derive(Debug, Clone, Default)]
pub struct BurstRow {
    /// The instance row group it belongs to (for the per-instance type bound).
    pub instance: u64,
    /// Errors of health-check calls (Probes) rather than service calls (Services).
    pub probe: bool,
    /// Arrival times of the latest errors, at most `burst_count`.
    times: VecDeque<u64>,
    message: Option<String>,
    burst: Tracker,
}

impl BurstRow {
    pub fn new(instance: u64, probe: bool) -> Self {
        Self {
            instance,
            probe,
            ..Self::default()
        }
    }

    /// One error at `now`.
    pub fn record(&mut self, now: u64, message: Option<Cow<'_, str>>, p: &ExceptionsPackConfig) {
        self.times.push_back(now);
        while self.times.len() > p.burst_count as usize {
            self.times.pop_front();
        }
        if let Some(m) = message {
            let m = record::truncate(m, p.message_max_chars as usize);
            self.message = Some(m.into_owned());
        }
    }

    /// True while the row has something to evaluate without new errors: errors still in the
    /// window, or a burst to end.
    pub fn due(&self, now: u64, p: &ExceptionsPackConfig) -> bool {
        self.holds() || self.count(now, p) > 0
    }

    /// True while E1's condition holds on this row.
    pub fn holds(&self) -> bool {
        self.burst.state() == 1
    }

    fn count(&self, now: u64, p: &ExceptionsPackConfig) -> usize {
        let window = p.burst_window.as_nanos() as u64;
        self.times
            .iter()
            .filter(|&&t| t.saturating_add(window) > now)
            .count()
    }

    fn kinds(&self) -> (SignalKind, SignalKind) {
        if self.probe {
            (
                SignalKind::Probes(probes::Sign::Fail, probes::Dimension::Inbound),
                SignalKind::Probes(probes::Sign::Succeed, probes::Dimension::Inbound),
            )
        } else {
            (
                SignalKind::Services(services::Sign::Fail, services::Dimension::Callee),
                SignalKind::Services(services::Sign::Success, services::Dimension::Callee),
            )
        }
    }
}

/// E1 at `sink.time`.
pub fn evaluate_burst(r: &mut BurstRow, p: &ExceptionsPackConfig, c: &Common, sink: &mut Sink<'_>) {
    let now = sink.time;
    let count = r.count(now, p);
    let onset_at = p.burst_count as usize;
    let recover_at = onset_at / 2;
    let level = match r.burst.state() {
        0 if count >= onset_at => 1,
        1 if count > recover_at => 1,
        _ => 0,
    };
    let (fail, success) = r.kinds();
    let step = r.burst.advance(level, now);
    let window = p.burst_window.as_secs_f64();
    if step.changed {
        let evidence = Evidence::rule(Rule::E1.name())
            .with("errors_in_window", count as f64)
            .with("window_seconds", window);
        if level == 1 {
            sink.emit(fail, evidence.threshold(onset_at as f64));
            if let (Some(m), Some(signal)) = (&r.message, sink.out.last_mut()) {
                signal.attributes.insert(MESSAGE_KEY.into(), m.clone());
            }
        } else {
            sink.emit(success, evidence.threshold(recover_at as f64));
        }
    }
    if level == 1 {
        let confidence = c.confidence.raise(Confidence::Measured, step.streak);
        sink.reading_of(Rule::E1, fail, confidence);
    }
}

/// E2's state for one instance: the open interval and the learned baseline.
#[derive(Debug, Clone, Default)]
pub struct RateRow {
    /// Start of the open interval (none before the first error).
    start: Option<u64>,
    /// Errors in the open interval.
    count: u64,
    /// Errors per minute, learned (EWMA).
    baseline: Option<f64>,
    learned: u32,
    diverging: Tracker,
}

impl RateRow {
    /// One error at `now`.
    pub fn record(&mut self, now: u64) {
        self.start.get_or_insert(now);
        self.count += 1;
    }

    /// True once the open interval is over.
    pub fn due(&self, now: u64, p: &ExceptionsPackConfig) -> bool {
        self.start
            .is_some_and(|s| now >= s.saturating_add(p.rate_interval.as_nanos() as u64))
    }

    /// True while E2's condition holds on this row.
    pub fn holds(&self) -> bool {
        self.diverging.state() == 1
    }

    fn learn(&mut self, rate: f64, p: &ExceptionsPackConfig) {
        self.baseline = Some(match self.baseline {
            None => rate,
            Some(b) => b + p.rate_alpha * (rate - b),
        });
        self.learned = self.learned.saturating_add(1);
    }
}

/// E2 at `sink.time`: judges the interval that ended, if one did (one per evaluation; the
/// connector evaluates every second, so a late interval is caught up at once).
pub fn evaluate_rate(r: &mut RateRow, p: &ExceptionsPackConfig, c: &Common, sink: &mut Sink<'_>) {
    if r.due(sink.time, p) {
        let interval = p.rate_interval.as_nanos() as u64;
        let rate = r.count as f64 * 60.0 / (interval as f64 / NANOS_PER_SECOND);
        r.count = 0;
        r.start = r.start.map(|s| s.saturating_add(interval));
        match r.baseline.filter(|_| r.learned >= p.rate_warmup) {
            None => r.learn(rate, p),
            Some(baseline) => judge_rate(r, rate, baseline, p, sink),
        }
    }
    if r.diverging.state() == 1 {
        let confidence = c
            .confidence
            .raise(Confidence::Measured, r.diverging.streak());
        sink.status(Rule::E2, Sign::Diverging, confidence);
    }
}

fn judge_rate(
    r: &mut RateRow,
    rate: f64,
    baseline: f64,
    p: &ExceptionsPackConfig,
    sink: &mut Sink<'_>,
) {
    let onset_line = (p.rate_factor * baseline).max(p.rate_min_per_minute);
    let recover_line = (p.rate_recover_factor * baseline).max(p.rate_min_per_minute / 2.0);
    let level = match r.diverging.state() {
        0 if rate >= onset_line => 1,
        1 if rate > recover_line => 1,
        _ => 0,
    };
    let step = r.diverging.advance(level, sink.time);
    if level == 0 {
        r.learn(rate, p);
    }
    if step.changed {
        let (sign, line) = if level == 1 {
            (Sign::Diverging, onset_line)
        } else {
            (Sign::Stable, recover_line)
        };
        sink.emit(
            SignalKind::Statuses(sign, Confidence::Measured),
            Evidence::rule(Rule::E2.name())
                .with("errors_per_minute", rate)
                .with("baseline_per_minute", baseline)
                .threshold(line),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_obs_signal::{Signal, Subject};

    use super::*;
    use crate::signals::config::ConfidenceConfig;
    use crate::signals::packs::RuleIndex;

    const S: u64 = 1_000_000_000;

    fn common() -> Common {
        Common {
            hysteresis: 0.05,
            confidence: ConfidenceConfig::default(),
            heartbeat_every: 6,
        }
    }

    struct Run {
        subject: Subject,
        attributes: Vec<(String, String)>,
        out: Vec<Signal>,
        statuses: Vec<(RuleIndex, Sign, Confidence)>,
    }

    impl Run {
        fn new() -> Self {
            Self {
                subject: Subject::root(),
                attributes: vec![(TYPE_KEY.into(), "OrderValidationException".into())],
                out: Vec::new(),
                statuses: Vec::new(),
            }
        }

        /// Runs `rule` once at `time` with this run's subject and outputs.
        fn step(&mut self, time: u64, rule: impl FnOnce(&Common, &mut Sink<'_>)) {
            self.statuses.clear();
            let c = common();
            let mut sink = Sink {
                time,
                subject: &self.subject,
                attributes: &self.attributes,
                source_id: "s",
                common: &c,
                out: &mut self.out,
                statuses: &mut self.statuses,
            };
            rule(&c, &mut sink);
        }

        fn burst(&mut self, r: &mut BurstRow, p: &ExceptionsPackConfig, time: u64) {
            self.step(time, |c, sink| evaluate_burst(r, p, c, sink));
        }

        fn rate(&mut self, r: &mut RateRow, p: &ExceptionsPackConfig, time: u64) {
            self.step(time, |c, sink| evaluate_rate(r, p, c, sink));
        }

        fn kinds(&mut self) -> Vec<String> {
            self.out.drain(..).map(|s| s.kind.to_string()).collect()
        }
    }

    fn burst_config() -> ExceptionsPackConfig {
        ExceptionsPackConfig {
            burst_count: 4,
            burst_window: Duration::from_secs(10),
            ..ExceptionsPackConfig::default()
        }
    }

    #[test]
    fn a_burst_fails_the_service_and_ends_when_the_window_empties() {
        let p = burst_config();
        let mut r = BurstRow::new(1, false);
        let mut run = Run::new();
        for i in 0..3 {
            r.record(100 * S + i * S, Some("order 7 invalid".into()), &p);
            run.burst(&mut r, &p, 100 * S + i * S);
        }
        assert!(run.kinds().is_empty(), "three of four is no burst");
        r.record(103 * S, Some("x".repeat(300).into()), &p);
        run.burst(&mut r, &p, 103 * S);
        let onset = run.out[0].clone();
        assert_eq!(run.kinds(), ["Services.FAIL.CALLEE"]);
        assert_eq!(onset.evidence.rule, "E1");
        assert_eq!(onset.evidence.get("errors_in_window"), Some(4.0));
        assert_eq!(onset.attributes[TYPE_KEY], "OrderValidationException");
        assert_eq!(onset.attributes[MESSAGE_KEY].chars().count(), 201);
        assert_eq!(
            run.statuses,
            [(Rule::E1.index(), Sign::Degraded, Confidence::Measured)]
        );

        // Still three in the window at 110.5 s (the first fell out): the burst holds.
        assert!(r.due(110 * S + S / 2, &p));
        run.burst(&mut r, &p, 110 * S + S / 2);
        assert!(run.kinds().is_empty());
        assert_eq!(run.statuses.len(), 1);
        // Two left at 111.5 s: half of four, the burst is over.
        run.burst(&mut r, &p, 111 * S + S / 2);
        let back = run.out[0].clone();
        assert_eq!(run.kinds(), ["Services.SUCCESS.CALLEE"]);
        assert_eq!(back.evidence.get("errors_in_window"), Some(2.0));
        assert!(run.statuses.is_empty());
        assert!(r.due(112 * S, &p), "errors still in the window");
        assert!(!r.due(114 * S, &p), "nothing left to evaluate");
    }

    #[test]
    fn a_failed_health_check_is_a_probe_failure() {
        let p = burst_config();
        let mut r = BurstRow::new(1, true);
        let mut run = Run::new();
        for i in 0..4 {
            r.record(i * S, None, &p);
        }
        run.burst(&mut r, &p, 4 * S);
        assert_eq!(run.kinds(), ["Probes.FAIL.INBOUND"]);
        run.burst(&mut r, &p, 20 * S);
        assert_eq!(run.kinds(), ["Probes.SUCCEED.INBOUND"]);
    }

    fn rate_config() -> ExceptionsPackConfig {
        ExceptionsPackConfig {
            rate_interval: Duration::from_secs(1),
            rate_warmup: 3,
            rate_min_per_minute: 60.0,
            ..ExceptionsPackConfig::default()
        }
    }

    /// Feeds `errors` in the interval starting at `t` seconds and evaluates at its end.
    fn interval(run: &mut Run, r: &mut RateRow, p: &ExceptionsPackConfig, t: u64, errors: u64) {
        for _ in 0..errors {
            r.record(t * S);
        }
        run.rate(r, p, (t + 1) * S);
    }

    #[test]
    fn a_rate_over_its_baseline_diverges_and_recovers_near_it() {
        let p = rate_config();
        let mut r = RateRow::default();
        let mut run = Run::new();
        // Baseline: 2 errors a second (120/min), learned over the warm-up and beyond.
        for t in 0..6 {
            interval(&mut run, &mut r, &p, t, 2);
        }
        assert!(run.kinds().is_empty());
        // 5/s is 2.5x: below the 3x line.
        interval(&mut run, &mut r, &p, 6, 5);
        assert!(run.kinds().is_empty());
        // 10/s (600/min) is 5x: DIVERGING.
        interval(&mut run, &mut r, &p, 7, 10);
        let onset = run.out[0].clone();
        assert_eq!(run.kinds(), ["Statuses.DIVERGING.MEASURED"]);
        assert_eq!(onset.evidence.get("errors_per_minute"), Some(600.0));
        let baseline = onset.evidence.get("baseline_per_minute").expect("baseline");
        assert!((120.0..=170.0).contains(&baseline), "{baseline}");
        assert_eq!(run.statuses[0].1, Sign::Diverging);
        // Still 4/s (240/min) is above 1.5x: holds, and the outage is not learned.
        interval(&mut run, &mut r, &p, 8, 4);
        assert!(run.kinds().is_empty());
        assert_eq!(run.statuses[0].1, Sign::Diverging);
        // Back to 2/s: STABLE under E2.
        interval(&mut run, &mut r, &p, 9, 2);
        let back = run.out[0].clone();
        assert_eq!(run.kinds(), ["Statuses.STABLE.MEASURED"]);
        assert_eq!(back.evidence.rule, "E2");
        assert_eq!(back.evidence.get("baseline_per_minute"), Some(baseline));
        assert!(run.statuses.is_empty());
    }

    #[test]
    fn a_quiet_instance_needs_the_minimum_rate_and_recovers_under_half_of_it() {
        let p = ExceptionsPackConfig {
            rate_min_per_minute: 120.0,
            ..rate_config()
        };
        let mut r = RateRow::default();
        let mut run = Run::new();
        interval(&mut run, &mut r, &p, 0, 1);
        for t in 1..6 {
            interval(&mut run, &mut r, &p, t, 0);
        }
        // The baseline is near 0: one error a second (60/min) is many times it, but under
        // the 120/min minimum.
        interval(&mut run, &mut r, &p, 6, 1);
        assert!(run.kinds().is_empty());
        interval(&mut run, &mut r, &p, 7, 3);
        assert_eq!(run.kinds(), ["Statuses.DIVERGING.MEASURED"]);
        // 2/s (120/min) is above half the minimum: holds; 1/s (60/min) is at it: recovers.
        interval(&mut run, &mut r, &p, 8, 2);
        assert!(run.kinds().is_empty());
        interval(&mut run, &mut r, &p, 9, 1);
        assert_eq!(run.kinds(), ["Statuses.STABLE.MEASURED"]);
    }
}
