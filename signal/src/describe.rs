//! The short human sentence for a signal, used as the body of its OTLP log record and in
//! file or console output, e.g.
//! `order-producer (topic orders): queue full, enqueue refused (Queues OVERFLOW, rule P1,
//! utilization 97%, threshold 95%)`.
//!
//! The sentence is derived from the signal alone and is never parsed back: the structured
//! attributes carry the data. Numbers are written as [`Rounded`] writes them (`33.3`, not
//! `33.333333333333336`). Evidence values named `utilization` or ending in `ratio` are shown
//! as percentages, and so is the threshold when there is such a value.

use std::fmt::Write as _;

use crate::{
    instruments::{probes, queues, services},
    kind::{Instrument, SignalKind},
    languages::{situations, statuses, systems},
    signal::{Rounded, Signal},
};

impl Signal {
    /// The short human sentence; see the module documentation.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        self.write_who(&mut out);
        out.push_str(": ");
        out.push_str(&phrase(&self.kind));
        let _ = write!(out, " ({} {}", self.kind.instrument(), self.kind.sign_str());
        if let Some(dimension) = self.kind.dimension_str() {
            let _ = write!(out, " × {dimension}");
        }
        if !self.evidence.rule.is_empty() {
            let _ = write!(out, ", rule {}", self.evidence.rule);
        }
        for (name, value) in &self.evidence.values {
            let _ = write!(out, ", {name} {}", number(*value, is_ratio(name)));
        }
        if let Some(threshold) = self.evidence.threshold {
            // A rule that looked at a ratio compared it with its threshold.
            let percent = self.evidence.values.keys().any(|name| is_ratio(name));
            let _ = write!(out, ", threshold {}", number(threshold, percent));
        }
        out.push(')');
        out
    }

    /// The subject's most specific named thing (client, broker, instance, ...) followed by
    /// the topic and partition it concerns, or `everything` for the root.
    fn write_who(&self, out: &mut String) {
        let segments = self.subject.segments();
        let split = segments
            .iter()
            .rposition(|s| !matches!(s.level(), "topic" | "partition"))
            .map_or(0, |i| i + 1);
        let (owner, scope) = segments.split_at(split);
        match owner.last() {
            Some(segment) => out.push_str(segment.value()),
            None if scope.is_empty() => out.push_str("everything"),
            None => {}
        }
        if !scope.is_empty() {
            if !owner.is_empty() {
                out.push_str(" (");
            }
            for (i, segment) in scope.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{} {}", segment.level(), segment.value());
            }
            if !owner.is_empty() {
                out.push(')');
            }
        }
    }
}

fn is_ratio(name: &str) -> bool {
    name.contains("utilization") || name.ends_with("ratio")
}

fn number(value: f64, as_percent: bool) -> String {
    if as_percent {
        format!("{}%", Rounded(value * 100.0))
    } else {
        Rounded(value).to_string()
    }
}

/// A few words saying what the sign means.
fn phrase(kind: &SignalKind) -> String {
    let fixed = match *kind {
        SignalKind::Queues(queues::Sign::Overflow) => "queue full, enqueue refused",
        SignalKind::Queues(queues::Sign::Underflow) => "dequeue on an empty queue",
        SignalKind::Queues(queues::Sign::Enqueue) => "queue accepting items",
        SignalKind::Queues(queues::Sign::Dequeue) => "items taken from the queue",
        SignalKind::Probes(probes::Sign::Fail, _) => "requests failing",
        SignalKind::Probes(probes::Sign::Succeed, _) => "requests succeeding",
        SignalKind::Services(services::Sign::Success, _) => "calls succeeding",
        SignalKind::Services(services::Sign::Fail, _) => "calls failing",
        SignalKind::Services(services::Sign::Retry, _) => "calls being retried",
        SignalKind::Services(services::Sign::Expire, _) => "calls timing out",
        SignalKind::Statuses(sign, confidence) => {
            return format!(
                "{} ({})",
                status_phrase(sign),
                confidence.as_str().to_lowercase()
            );
        }
        SignalKind::Systems(sign, dimension) => {
            let what = match sign {
                systems::Sign::Normal => "within",
                systems::Sign::Limit => "approaching",
                systems::Sign::Alarm => "past",
                systems::Sign::Fault => "failing at",
            };
            return format!("{what} its {} limit", dimension.as_str().to_lowercase());
        }
        SignalKind::Situations(sign, _) => match sign {
            situations::Sign::Normal => "nothing to do",
            situations::Sign::Warning => "needs a look",
            situations::Sign::Critical => "needs action now",
        },
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    format!(
        "{} {}",
        noun(kind.instrument()),
        kind.sign_str().to_lowercase().replace('_', "-")
    )
}

fn status_phrase(sign: statuses::Sign) -> &'static str {
    match sign {
        statuses::Sign::Stable => "stable, within expectations",
        statuses::Sign::Converging => "converging, settling after a disturbance",
        statuses::Sign::Diverging => "diverging, moving away from normal",
        statuses::Sign::Erratic => "erratic, flipping unpredictably",
        statuses::Sign::Degraded => "degraded, partly working",
        statuses::Sign::Defective => "defective, mostly failing",
        statuses::Sign::Down => "down, not working",
    }
}

fn noun(instrument: Instrument) -> &'static str {
    match instrument {
        Instrument::Queues => "queue",
        Instrument::Counters => "counter",
        Instrument::Gauges => "gauge",
        Instrument::Sensors => "reading",
        Instrument::Probes => "probe",
        Instrument::Services => "service",
        Instrument::Resources => "resource",
        Instrument::Messages => "message",
        Instrument::Members => "member",
        Instrument::Guards => "access",
        Instrument::Caches => "cache",
        Instrument::Routers => "packet",
        Instrument::Breakers => "breaker",
        Instrument::Leases => "lease",
        Instrument::Statuses => "status",
        Instrument::Systems => "system",
        Instrument::Trends => "trend",
        Instrument::Situations => "situation",
        Instrument::Outcomes => "outcome",
        Instrument::Actors => "act",
        Instrument::Agents => "promise",
    }
}

#[cfg(test)]
mod tests {
    use crate::{Evidence, Signal, SignalKind, Subject, instruments::queues};

    #[test]
    fn buffer_overflow_reads_like_a_sentence() {
        let subject = Subject::from_pairs([
            ("cluster", "prod"),
            ("client", "order-producer"),
            ("topic", "orders"),
        ])
        .expect("valid");
        let signal = Signal::new(
            subject,
            SignalKind::Queues(queues::Sign::Overflow),
            Evidence::rule("P1")
                .with("utilization", 0.97)
                .threshold(0.95),
            0,
        );
        assert_eq!(
            signal.describe(),
            "order-producer (topic orders): queue full, enqueue refused \
             (Queues OVERFLOW, rule P1, utilization 97%, threshold 95%)"
        );
    }

    #[test]
    fn statuses_name_their_confidence() {
        let signal = Signal::new(
            Subject::from_pairs([("client", "order-consumer")]).expect("valid"),
            "Statuses.DEGRADED.CONFIRMED".parse().expect("valid kind"),
            Evidence::rule("C1")
                .with("records-lag-max", 12000.0)
                .threshold(10000.0),
            0,
        );
        assert_eq!(
            signal.describe(),
            "order-consumer: degraded, partly working (confirmed) (Statuses DEGRADED × \
             CONFIRMED, rule C1, records-lag-max 12000, threshold 10000)"
        );
    }
}
