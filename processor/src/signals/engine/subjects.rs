//! Pass 3 of an evaluation: each subject's current readings, its `kafka_obs.status` point, and
//! the Statuses signal that states its status and conditions (first seen, on change, and as a
//! heartbeat).

use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject, condition,
    otlp::status,
    statuses::{Confidence, Sign},
};

use super::{Engine, Evaluation};
use crate::signals::condition::is_condition;
use crate::signals::packs::RuleIndex;
use crate::signals::state::{fmix, hash_str};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Contribution {
    pub(super) row: u64,
    pub(super) rule: RuleIndex,
    pub(super) sign: Sign,
    pub(super) confidence: Confidence,
}

#[derive(Debug)]
pub(super) struct SubjectState {
    pub(super) subject: Subject,
    /// The current readings of its rows (each row's replaced on its every evaluation).
    pub(super) contributions: Vec<Contribution>,
    /// Evaluations since its status was last said.
    pub(super) quiet: u32,
    pub(super) last_seen: u64,
    pub(super) epoch: u32,
    pub(super) announced: bool,
    /// The status and conditions last stated.
    pub(super) stated: Option<Sign>,
    pub(super) stated_rules: Vec<RuleIndex>,
    pub(super) stale: bool,
    pub(super) rows: u32,
    /// Of its rows, log rows: quiet logs are health, not silence, so a subject with only
    /// these never goes stale.
    pub(super) log_rows: u32,
}

impl SubjectState {
    pub(super) fn new(subject: Subject) -> Self {
        Self {
            subject,
            contributions: Vec::new(),
            quiet: 0,
            last_seen: 0,
            epoch: 0,
            announced: false,
            stated: None,
            stated_rules: Vec::new(),
            stale: false,
            rows: 0,
            log_rows: 0,
        }
    }

    /// Replaces the row's readings with this evaluation's: what a rule no longer reports no
    /// longer counts.
    pub(super) fn replace(&mut self, row: u64, readings: &[(RuleIndex, Sign, Confidence)]) {
        self.contributions.retain(|c| c.row != row);
        for &(rule, sign, confidence) in readings {
            match self
                .contributions
                .iter_mut()
                .find(|c| c.row == row && c.rule == rule)
            {
                Some(c) if (sign, confidence) > (c.sign, c.confidence) => {
                    c.sign = sign;
                    c.confidence = confidence;
                }
                Some(_) => {}
                None => self.contributions.push(Contribution {
                    row,
                    rule,
                    sign,
                    confidence,
                }),
            }
        }
    }

    /// The worst reading (ties: the higher confidence, then the first recorded).
    pub(super) fn worst(&self) -> Option<Contribution> {
        let mut best: Option<Contribution> = None;
        for c in &self.contributions {
            if best.is_none_or(|b| (c.sign, c.confidence) > (b.sign, b.confidence)) {
                best = Some(*c);
            }
        }
        best
    }

    /// The rules whose conditions hold, worst first (each once).
    pub(super) fn conditions(&self, into: &mut Vec<RuleIndex>) {
        into.clear();
        if !self.contributions.iter().any(|c| is_condition(c.sign)) {
            // The common case, a healthy subject: nothing to sort, nothing allocated.
            return;
        }
        let mut held: Vec<&Contribution> = self
            .contributions
            .iter()
            .filter(|c| is_condition(c.sign))
            .collect();
        // By severity, then rule: a confidence that rises does not reorder the list.
        held.sort_by(|a, b| (b.sign, a.rule).cmp(&(a.sign, b.rule)));
        for c in held {
            if !into.contains(&c.rule) {
                into.push(c.rule);
            }
        }
    }
}

impl Engine {
    pub(super) fn conclude_subjects(&mut self, now: u64, out: &mut Evaluation) {
        for sid in &self.touched_subjects {
            let Some(s) = self.subjects.get_mut(sid) else {
                continue;
            };
            let worst = s.worst();
            if worst.is_none() && s.stated.is_none() {
                // Nothing any rule reads as a status (counters only): nothing to state.
                continue;
            }
            s.conditions(&mut self.conditions);
            let (sign, confidence) = worst.map_or((Sign::Stable, Confidence::Measured), |w| {
                (w.sign, w.confidence)
            });
            let name = |rule: RuleIndex| {
                self.rule_names
                    .get(usize::from(rule))
                    .map_or("", String::as_str)
            };
            if s.stale {
                s.stale = false;
                s.announced = false;
            }
            let leading = self.conditions.first().map_or("", |r| name(*r));
            out.status_points.push(status::status_data_point(
                &s.subject, sign, confidence, leading, now,
            ));
            s.quiet += 1;
            let reason = if !s.announced {
                "first-status"
            } else if s.stated != Some(sign) || s.stated_rules != self.conditions {
                "change"
            } else if s.quiet >= self.config.heartbeat_every {
                "heartbeat"
            } else {
                continue;
            };
            s.announced = true;
            s.stated = Some(sign);
            s.stated_rules.clone_from(&self.conditions);
            let polls = s.quiet;
            s.quiet = 0;
            let current = condition::current_list(self.conditions.iter().map(|r| name(*r)));
            let signal = Signal::new(
                s.subject.clone(),
                SignalKind::Statuses(sign, confidence),
                Evidence::rule(condition::STATUS_RULE).with("quiet_evaluations", f64::from(polls)),
                now,
            )
            .from_source(self.config.source_id.as_str())
            .with_attribute("reason", reason)
            .with_attribute(condition::CURRENT, current);
            out.signals.push(signal);
        }
    }
}

/// The identity of a subject: a hash of its levels and values.
pub(super) fn subject_id(subject: &Subject) -> u64 {
    subject
        .segments()
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, s| {
            fmix(h ^ hash_str(s.level()).rotate_left(17) ^ hash_str(s.value()))
        })
}
