//! The life cycle of a rule's condition on one row: onset, persistence, recovery
//! (docs/rules.md, "Conditions"; the wire contract is `kafka_obs_signal::condition`).
//!
//! Rules only say what they see: the signals they emit and, on every evaluation of a row,
//! their current reading. [`settle`] turns that into conditions, after the rules ran:
//!
//! - a reading worse than CONVERGING is a condition that holds; so is a trouble signal (its
//!   default status worse than CONVERGING) from a rule that reported no reading, for that one
//!   evaluation;
//! - a condition that held and holds no more has recovered: the rule's own signal of the
//!   onset's instrument under the same rule id is the recovery, else [`settle`] emits the
//!   instrument's normal sign ([`SignalKind::recovery`]) under that rule id;
//! - the signals of a holding rule are its onset (or its change while it holds).
//!
//! So a recovery always carries its onset's rule id and instrument, and a reader keying
//! readings by (instrument, rule, source) always sees the way back.

use kafka_obs_signal::{
    Evidence, Instrument, Signal, SignalKind, Subject,
    condition::{PHASE, Phase},
    statuses::{Confidence, Sign},
};

use super::packs::RuleIndex;

/// A condition holding on one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    pub rule: RuleIndex,
    /// What its onset said, one kind per instrument: what the recovery answers.
    pub kinds: Vec<SignalKind>,
    /// When it began (ns since the epoch).
    pub since: u64,
}

/// One reading of a rule for a row: its current status.
pub(crate) type Reading = (RuleIndex, Sign, Confidence);

/// True if a reading of this sign is a condition (something is wrong now).
pub(crate) fn is_condition(sign: Sign) -> bool {
    sign > Sign::Converging
}

/// Instruments that measure rather than judge: their signals (a counter's increment, a
/// gauge's move) are never part of a condition.
fn is_measure(kind: &SignalKind) -> bool {
    matches!(kind.instrument(), Instrument::Counters | Instrument::Gauges)
}

/// What a recovery or onset signal is about: the row it concerns.
pub(crate) struct RowSignals<'a> {
    pub subject: &'a Subject,
    pub attributes: &'a [(String, String)],
    pub source_id: &'a str,
    /// When the row's readings were taken.
    pub time: u64,
}

/// Settles the row's conditions after its rules ran: `readings` are the rules' readings of this
/// evaluation (implicit one-evaluation conditions are added to them), `signals` what they
/// emitted (tagged with their phase; engine-made recoveries and onsets are appended), `held`
/// the row's conditions (updated). `names` resolves rule indexes to rule ids.
pub(crate) fn settle(
    held: &mut Vec<Held>,
    readings: &mut Vec<Reading>,
    signals: &mut Vec<Signal>,
    start: usize,
    names: &[String],
    row: &RowSignals<'_>,
) {
    let index_of = |rule: &str| -> Option<RuleIndex> {
        names
            .iter()
            .position(|n| n == rule)
            .and_then(|i| RuleIndex::try_from(i).ok())
    };

    // Trouble signals from rules without a reading: conditions for this evaluation.
    for signal in &signals[start..] {
        let Some(sign) = signal.kind.default_status().filter(|s| is_condition(*s)) else {
            continue;
        };
        let Some(rule) = index_of(&signal.evidence.rule) else {
            continue;
        };
        if !readings.iter().any(|r| r.0 == rule && is_condition(r.1)) {
            let confidence = signal.kind.status().map_or(Confidence::Measured, |s| s.1);
            readings.push((rule, sign, confidence));
        }
    }

    // Recoveries: conditions that held and hold no more.
    let mut i = 0;
    while i < held.len() {
        let rule = held[i].rule;
        if readings.iter().any(|r| r.0 == rule && is_condition(r.1)) {
            i += 1;
            continue;
        }
        let gone = held.swap_remove(i);
        let name = names.get(usize::from(rule)).map_or("", String::as_str);
        let held_seconds = row.time.saturating_sub(gone.since) as f64 / 1e9;
        for kind in &gone.kinds {
            let own = signals[start..].iter_mut().find(|s| {
                s.phase().is_none()
                    && s.evidence.rule == name
                    && s.kind.instrument() == kind.instrument()
            });
            match own {
                Some(signal) => {
                    signal
                        .evidence
                        .values
                        .insert("held_seconds".into(), held_seconds);
                    signal
                        .attributes
                        .insert(PHASE.into(), Phase::Recovery.as_str().into());
                }
                None => {
                    let signal = row_signal(
                        row,
                        kind.recovery(),
                        Evidence::rule(name).with("held_seconds", held_seconds),
                    );
                    signals.push(signal.in_phase(Phase::Recovery));
                }
            }
        }
    }

    // Onsets and changes: the signals of holding rules.
    let mut seen: Vec<RuleIndex> = Vec::new();
    for &(rule, sign, confidence) in readings.iter() {
        if !is_condition(sign) || seen.contains(&rule) {
            continue;
        }
        seen.push(rule);
        let name = names.get(usize::from(rule)).map_or("", String::as_str);
        let pos = match held.iter().position(|h| h.rule == rule) {
            Some(pos) => pos,
            None => {
                held.push(Held {
                    rule,
                    kinds: Vec::new(),
                    since: row.time,
                });
                held.len() - 1
            }
        };
        let h = &mut held[pos];
        let end = signals.len();
        for signal in &mut signals[start..end] {
            if signal.phase().is_some() || signal.evidence.rule != name || is_measure(&signal.kind)
            {
                continue;
            }
            signal
                .attributes
                .insert(PHASE.into(), Phase::Onset.as_str().into());
            match h
                .kinds
                .iter_mut()
                .find(|k| k.instrument() == signal.kind.instrument())
            {
                Some(k) => *k = signal.kind,
                None => h.kinds.push(signal.kind),
            }
        }
        if h.kinds.is_empty() {
            // A condition that began without a word from its rule still gets an onset.
            let kind = SignalKind::Statuses(sign, confidence);
            h.kinds.push(kind);
            signals.push(row_signal(row, kind, Evidence::rule(name)).in_phase(Phase::Onset));
        }
    }
}

fn row_signal(row: &RowSignals<'_>, kind: SignalKind, evidence: Evidence) -> Signal {
    let mut signal =
        Signal::new(row.subject.clone(), kind, evidence, row.time).from_source(row.source_id);
    for (k, v) in row.attributes {
        signal.attributes.insert(k.clone(), v.clone());
    }
    signal
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_signal::{queues, systems};

    fn names() -> Vec<String> {
        ["P1", "P2", "P5"].iter().map(|s| s.to_string()).collect()
    }

    fn row(subject: &Subject, time: u64) -> RowSignals<'_> {
        RowSignals {
            subject,
            attributes: &[],
            source_id: "s",
            time,
        }
    }

    fn signal(kind: SignalKind, rule: &str) -> Signal {
        Signal::new(Subject::root(), kind, Evidence::rule(rule), 0)
    }

    const OVERFLOW: SignalKind = SignalKind::Queues(queues::Sign::Overflow);
    const LIMIT: SignalKind = SignalKind::Systems(
        systems::Sign::Limit,
        kafka_obs_signal::systems::Dimension::Space,
    );

    #[test]
    fn a_condition_that_stops_holding_recovers_under_its_rule_and_instrument() {
        let subject = Subject::root();
        let mut held = Vec::new();
        let mut out = vec![signal(OVERFLOW, "P1")];
        let mut readings = vec![(0, Sign::Degraded, Confidence::Measured)];
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 1_000_000_000),
        );
        assert_eq!(out[0].phase(), Some(Phase::Onset));
        assert_eq!(held.len(), 1);

        // Still holding: nothing new.
        let mut out = Vec::new();
        let mut readings = vec![(0, Sign::Degraded, Confidence::Confirmed)];
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 2_000_000_000),
        );
        assert!(out.is_empty());

        // P1 no longer holds, P2 does: P1's recovery is made, P2's onset tagged.
        let mut out = vec![signal(LIMIT, "P2")];
        let mut readings = vec![(1, Sign::Diverging, Confidence::Measured)];
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 4_000_000_000),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].phase(), Some(Phase::Onset));
        let back = &out[1];
        assert_eq!(back.kind, SignalKind::Queues(queues::Sign::Enqueue));
        assert_eq!(back.evidence.rule, "P1");
        assert_eq!(back.phase(), Some(Phase::Recovery));
        assert_eq!(back.evidence.get("held_seconds"), Some(3.0));

        // Nothing holds: P2 recovers through the rule's own signal of the same instrument.
        let normal = SignalKind::Systems(systems::Sign::Normal, systems::Dimension::Space);
        let mut out = vec![signal(normal, "P2")];
        let mut readings = Vec::new();
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 5_000_000_000),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].phase(), Some(Phase::Recovery));
        assert!(held.is_empty());
    }

    #[test]
    fn a_trouble_event_without_a_reading_holds_for_one_evaluation() {
        let subject = Subject::root();
        let mut held = Vec::new();
        let mut out = vec![signal(OVERFLOW, "P5")];
        let mut readings = Vec::new();
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 1),
        );
        assert_eq!(readings, [(2, Sign::Degraded, Confidence::Measured)]);
        assert_eq!(out[0].phase(), Some(Phase::Onset));
        let mut out = Vec::new();
        let mut readings = Vec::new();
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 2),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, SignalKind::Queues(queues::Sign::Enqueue));
        assert_eq!(out[0].evidence.rule, "P5");
    }

    #[test]
    fn a_silent_onset_is_announced() {
        let subject = Subject::root();
        let mut held = Vec::new();
        let mut out = Vec::new();
        let mut readings = vec![(0, Sign::Erratic, Confidence::Confirmed)];
        settle(
            &mut held,
            &mut readings,
            &mut out,
            0,
            &names(),
            &row(&subject, 1),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].kind,
            SignalKind::Statuses(Sign::Erratic, Confidence::Confirmed)
        );
        let mut out = Vec::new();
        settle(
            &mut held,
            &mut Vec::new(),
            &mut out,
            0,
            &names(),
            &row(&subject, 2),
        );
        assert_eq!(
            out[0].kind,
            SignalKind::Statuses(Sign::Stable, Confidence::Confirmed)
        );
        assert_eq!(out[0].evidence.rule, "P1");
    }
}
