//! The life cycle of a condition, as every component reads it on the wire (docs/rules.md,
//! "Conditions").
//!
//! A *condition* is a rule's judgement that something is wrong with a subject *now* (a
//! producer buffer past 95 %, a rebalance storm). It has an **onset** and, always, a
//! **recovery**, both emitted by the rule engine under the *same rule id* and the *same
//! instrument*: P1's onset is `Queues.OVERFLOW` with rule `P1`, its recovery `Queues.ENQUEUE`
//! with rule `P1`. So any reader that keys readings by (instrument, rule, source), like the
//! central Observers, replaces the onset's reading with the recovery's. Both carry the
//! attribute [`PHASE`].
//!
//! Besides the rules' own signals, the engine states each subject's overall status under the
//! fixed rule id [`STATUS_RULE`] (on its first sight, whenever it changes, and as a heartbeat)
//! with the attribute [`CURRENT`]: the rule ids of every condition holding on that subject,
//! from that source, at that moment. That list is authoritative: a reader drops the source's
//! readings of rules not in it (a recovery that was lost, a source that restarted).

use crate::{
    Signal, SignalKind, agents, breakers, caches, counters, gauges, guards, leases, members,
    messages, outcomes, probes, queues, resources, routers, sensors, services, situations,
    statuses, systems, trends,
};

/// Signal attribute: where in a condition's life the signal stands, [`Phase`].
pub const PHASE: &str = "kafka_obs.condition";

/// Attribute of a [`STATUS_RULE`] signal: the rule ids of the conditions holding on its
/// subject from its source, worst first, comma-separated; empty when all is clear.
pub const CURRENT: &str = "kafka_obs.conditions";

/// The rule id of a subject's overall status (first status, change, heartbeat).
pub const STATUS_RULE: &str = "status";

/// The rule id of a broker's controller flag (Members ELECT × SELF while it is the active
/// controller, RESIGN × SELF while not, on change and every heartbeat). No broker decides that
/// its cluster has no controller; the central hierarchy does, over every live broker
/// (docs/rules.md, B3).
pub const CONTROLLER_RULE: &str = "B3";

/// Where in a condition's life a signal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The condition began, or changed while it holds (a worse sign, a higher confidence).
    Onset,
    /// The condition ended: the same rule and instrument, read as normal again.
    Recovery,
}

impl Phase {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Onset => "onset",
            Self::Recovery => "recovery",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "onset" => Some(Self::Onset),
            "recovery" => Some(Self::Recovery),
            _ => None,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The [`CURRENT`] attribute's value for these rule ids.
pub fn current_list<'a>(rules: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, rule) in rules.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(rule);
    }
    out
}

impl SignalKind {
    /// The sign that ends a condition this kind began: the same instrument and dimension, read
    /// as normal (`Queues.OVERFLOW` -> `Queues.ENQUEUE`, `Probes.FAIL.OUTBOUND` ->
    /// `Probes.SUCCEED.OUTBOUND`, `Statuses.DEGRADED.MEASURED` -> `Statuses.STABLE.MEASURED`).
    /// Acts (Actors) have no recovery and map to themselves.
    pub const fn recovery(&self) -> SignalKind {
        match *self {
            Self::Queues(_) => Self::Queues(queues::Sign::Enqueue),
            Self::Counters(_) => Self::Counters(counters::Sign::Increment),
            Self::Gauges(gauges::Sign::Underflow) => Self::Gauges(gauges::Sign::Increment),
            Self::Gauges(_) => Self::Gauges(gauges::Sign::Decrement),
            Self::Sensors(_, d) => Self::Sensors(sensors::Sign::Nominal, d),
            Self::Probes(probes::Sign::Disconnect, d) => Self::Probes(probes::Sign::Connect, d),
            Self::Probes(_, d) => Self::Probes(probes::Sign::Succeed, d),
            Self::Services(_, d) => Self::Services(services::Sign::Success, d),
            Self::Resources(_) => Self::Resources(resources::Sign::Grant),
            Self::Messages(_, d) => Self::Messages(messages::Sign::Ack, d),
            Self::Members(members::Sign::Suspect, d) => Self::Members(members::Sign::Refute, d),
            Self::Members(members::Sign::Resign, d) => Self::Members(members::Sign::Elect, d),
            Self::Members(_, d) => Self::Members(members::Sign::Join, d),
            Self::Guards(_, d) => Self::Guards(guards::Sign::Grant, d),
            Self::Caches(_) => Self::Caches(caches::Sign::Hit),
            Self::Routers(_) => Self::Routers(routers::Sign::Receive),
            Self::Breakers(_) => Self::Breakers(breakers::Sign::Close),
            Self::Leases(_, d) => Self::Leases(leases::Sign::Grant, d),
            Self::Statuses(_, c) => Self::Statuses(statuses::Sign::Stable, c),
            Self::Systems(_, d) => Self::Systems(systems::Sign::Normal, d),
            Self::Trends(_) => Self::Trends(trends::Sign::Stable),
            Self::Situations(_, v) => Self::Situations(situations::Sign::Normal, v),
            Self::Outcomes(_) => Self::Outcomes(outcomes::Sign::Success),
            Self::Actors(a) => Self::Actors(a),
            Self::Agents(_, d) => Self::Agents(agents::Sign::Fulfill, d),
        }
    }
}

impl Signal {
    /// Where in a condition's life this signal stands, if it says.
    pub fn phase(&self) -> Option<Phase> {
        self.attributes.get(PHASE).and_then(|p| Phase::parse(p))
    }

    /// Marks the signal's place in a condition's life.
    #[must_use]
    pub fn in_phase(self, phase: Phase) -> Self {
        self.with_attribute(PHASE, phase.as_str())
    }

    /// For a [`STATUS_RULE`] signal that lists them, the rule ids of the conditions holding on
    /// its subject from its source.
    pub fn current_conditions(&self) -> Option<impl Iterator<Item = &str>> {
        if self.evidence.rule != STATUS_RULE {
            return None;
        }
        let list = self.attributes.get(CURRENT)?;
        Some(list.split(',').map(str::trim).filter(|r| !r.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Evidence, Subject};

    #[test]
    fn every_kind_recovers_to_a_sign_that_reads_normal() {
        for kind in SignalKind::all() {
            let back = kind.recovery();
            assert_eq!(back.instrument(), kind.instrument(), "{kind}");
            assert_eq!(
                back.dimension_str().is_some(),
                kind.dimension_str().is_some()
            );
            if let Some(status) = back.default_status() {
                assert!(
                    status <= statuses::Sign::Converging,
                    "{kind} recovers to {back}, which reads {status}"
                );
            }
            assert_eq!(back.recovery(), back.recovery().recovery(), "{kind}");
        }
    }

    #[test]
    fn the_current_list_round_trips_and_only_status_signals_carry_it() {
        let subject: Subject = "cluster=c/client=p".parse().unwrap_or_default();
        let kind = SignalKind::Statuses(statuses::Sign::Degraded, statuses::Confidence::Measured);
        let status = Signal::new(subject.clone(), kind, Evidence::rule(STATUS_RULE), 1)
            .with_attribute(CURRENT, current_list(["P1", "C9"]));
        let rules: Vec<&str> = status.current_conditions().into_iter().flatten().collect();
        assert_eq!(rules, ["P1", "C9"]);
        let clear = Signal::new(subject.clone(), kind, Evidence::rule(STATUS_RULE), 1)
            .with_attribute(CURRENT, current_list([]));
        assert_eq!(clear.current_conditions().map(|c| c.count()), Some(0));
        let rule = Signal::new(subject, kind, Evidence::rule("P1"), 1)
            .with_attribute(CURRENT, "P1")
            .in_phase(Phase::Onset);
        assert!(rule.current_conditions().is_none());
        assert_eq!(rule.phase(), Some(Phase::Onset));
    }
}
