//! The sweep, run from `evaluate` every few seconds of `now`: staleness (T2), user `absence`
//! rules, and forgetting series silent for `series_ttl`.

use kafka_obs_signal::{Evidence, Signal, SignalKind, probes};

use super::rows::RowState;
use super::{Engine, Evaluation};
use crate::signals::condition::{RowSignals, settle};
use crate::signals::packs::{FIRST_USER_RULE, Rule, Sink};
use crate::signals::user;
use crate::signals::user::config::UserKind;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

impl Engine {
    pub(super) fn sweep_interval(&self) -> u64 {
        let stale = self.config.stale_after.as_nanos() as u64;
        (stale / 4).clamp(NANOS_PER_SECOND / 10, 5 * NANOS_PER_SECOND)
    }

    /// Staleness (T2), absence rules, and forgetting silent series; see the module docs.
    pub fn sweep(&mut self, now: u64) -> Evaluation {
        self.last_sweep = now;
        let mut out = Evaluation::default();
        let stale_after = self.config.stale_after.as_nanos() as u64;
        let ttl = self.config.series_ttl.as_nanos() as u64;
        let report_stale = self.config.packs.targets.is_some_and(|t| t.report_stale);

        // Absence rules.
        for row in self.rows.values_mut() {
            let RowState::User(i, r) = &mut row.state else {
                continue;
            };
            let Some(rule) = self.config.rules.get(usize::from(*i)) else {
                continue;
            };
            if !matches!(rule.kind, UserKind::Absence { .. }) {
                continue;
            }
            let Some(subject) = self.subjects.get(&row.subject) else {
                continue;
            };
            self.readings.clear();
            let start = out.signals.len();
            let mut sink = Sink {
                time: now,
                subject: &subject.subject,
                attributes: &row.attributes,
                source_id: &self.config.source_id,
                common: &self.common,
                out: &mut out.signals,
                statuses: &mut self.readings,
            };
            user::check_absence(r, FIRST_USER_RULE + *i, rule, row.last_seen, now, &mut sink);
            settle(
                &mut row.held,
                &mut self.readings,
                &mut out.signals,
                start,
                &self.rule_names,
                &RowSignals {
                    subject: &subject.subject,
                    attributes: &row.attributes,
                    source_id: &self.config.source_id,
                    time: now,
                },
            );
        }

        // Stale subjects (T2).
        for s in self.subjects.values_mut() {
            if s.stale
                || s.last_seen == 0
                || s.rows == s.log_rows
                || now.saturating_sub(s.last_seen) < stale_after
            {
                continue;
            }
            s.stale = true;
            if report_stale && s.announced {
                let silent = now.saturating_sub(s.last_seen) as f64 / 1e9;
                out.signals.push(
                    Signal::new(
                        s.subject.clone(),
                        SignalKind::Probes(probes::Sign::Disconnect, probes::Dimension::Outbound),
                        Evidence::rule(Rule::T2.name())
                            .with("silent_seconds", silent)
                            .threshold(self.config.stale_after.as_secs_f64()),
                        now,
                    )
                    .from_source(self.config.source_id.as_str())
                    .with_attribute("reason", "stale"),
                );
            }
        }

        // Forget silent series.
        let before = self.rows.len();
        let subjects = &mut self.subjects;
        let instance_types = &mut self.instance_types;
        self.rows.retain(|key, row| {
            let keep = now.saturating_sub(row.last_seen) < ttl;
            if !keep && let Some(s) = subjects.get_mut(&row.subject) {
                s.rows = s.rows.saturating_sub(1);
                s.contributions.retain(|c| c.row != *key);
                if matches!(row.state, RowState::Exception(_) | RowState::ErrorRate(_)) {
                    s.log_rows = s.log_rows.saturating_sub(1);
                }
            }
            if !keep
                && let RowState::Exception(r) = &row.state
                && let Some(n) = instance_types.get_mut(&r.instance)
            {
                *n = n.saturating_sub(1);
            }
            keep
        });
        instance_types.retain(|_, n| *n > 0);
        let rows = &self.rows;
        self.log_rows.retain(|k| rows.contains_key(k));
        self.stats.evicted_series += (before - self.rows.len()) as u64;
        self.subjects.retain(|_, s| s.rows > 0);
        self.stats.signals += out.signals.len() as u64;
        out
    }
}
