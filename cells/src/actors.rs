//! The Actors layer (ACT): notifications of incidents, as methods of the engine.
//!
//! One open (when the incident reaches `notify.min_situation`), updates at most every
//! `notify.update_interval` (an escalation goes at once), one close; de-duplicated by root
//! cause within `notify.dedupe_interval` and rate-limited by a token bucket (a close of a
//! notified incident is never refused). Each decision is an [`Action`] event that carries the
//! incident and its Actors signal (REPORT, EXPLAIN, AFFIRM; DENY when suppressed).

use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, actors};

use std::collections::HashMap;

use crate::{
    config::Settings,
    event::{Action, ActionKind, Event, Suppression},
    hash::Fx,
    hierarchy::Hierarchy,
    incident::{Incident, IncidentId, Open},
};

/// What the notifications remember across incidents: recently notified root causes (for
/// de-duplication) and the rate limit's token bucket.
#[derive(Debug)]
pub(crate) struct Notifications {
    recent_roots: HashMap<String, u64, Fx>,
    tokens: f64,
    refilled: u64,
}

impl Notifications {
    pub fn new(settings: &Settings) -> Self {
        Self {
            recent_roots: HashMap::default(),
            tokens: f64::from(settings.burst),
            refilled: 0,
        }
    }
}

impl Hierarchy {
    pub(crate) fn take_token(&mut self, now: u64) -> bool {
        let s = &self.settings;
        let burst = f64::from(s.burst);
        let elapsed = now.saturating_sub(self.notifications.refilled) as f64;
        self.notifications.tokens =
            (self.notifications.tokens + elapsed * burst / s.refill_per as f64).min(burst);
        self.notifications.refilled = now;
        if self.notifications.tokens >= 1.0 {
            self.notifications.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn notify_open(&mut self, id: IncidentId, now: u64, out: &mut Vec<Event>) {
        let min = self.settings.min_situation;
        match self.incidents.open.get_mut(&id) {
            Some(inc) if !inc.notified && inc.situation >= min => inc.attempted = true,
            _ => return,
        }
        let Some(snapshot) = self.open_snapshot(id) else {
            return;
        };
        let dedupe = self.settings.dedupe_interval;
        let duplicate = self
            .notifications
            .recent_roots
            .get(&snapshot.root_cause)
            .is_some_and(|&t| now < t.saturating_add(dedupe));
        let suppressed = if duplicate {
            self.stats.suppressed_duplicate += 1;
            Some(Suppression::Duplicate)
        } else if !self.take_token(now) {
            self.stats.suppressed_rate_limited += 1;
            Some(Suppression::RateLimited)
        } else {
            None
        };
        if suppressed.is_none() {
            self.stats.notifications += 1;
            self.notifications
                .recent_roots
                .insert(snapshot.root_cause.clone(), now);
            if let Some(inc) = self.incidents.open.get_mut(&id) {
                inc.notified = true;
                inc.last_notify = now;
            }
        }
        let action = self.action(
            ActionKind::NotifyOpen,
            actors::Sign::Report,
            suppressed,
            format!("incident-{id}-open"),
            snapshot,
            now,
        );
        out.push(action);
    }

    /// The incident changed (a member joined, or it escalated): send an update now, later, or
    /// (if its opening was never notified and it now qualifies) the opening.
    pub(crate) fn notify_update(
        &mut self,
        id: IncidentId,
        escalated: bool,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        let interval = self.settings.update_interval;
        let Some(inc) = self.incidents.open.get(&id) else {
            return;
        };
        if !inc.notified {
            if escalated {
                self.notify_open(id, now, out);
            }
            return;
        }
        let too_soon = !escalated && now < inc.last_notify.saturating_add(interval);
        if too_soon || !self.take_token(now) {
            if let Some(inc) = self.incidents.open.get_mut(&id)
                && !inc.update_pending
            {
                inc.update_pending = true;
                self.stats.deferred_updates += 1;
            }
            return;
        }
        self.send_update(
            id,
            if escalated {
                actors::Sign::Report
            } else {
                actors::Sign::Explain
            },
            now,
            out,
        );
    }

    pub(crate) fn send_update(
        &mut self,
        id: IncidentId,
        act: actors::Sign,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        let Some(inc) = self.incidents.open.get_mut(&id) else {
            return;
        };
        inc.updates += 1;
        inc.update_pending = false;
        inc.last_notify = now;
        let n = inc.updates;
        let Some(snapshot) = self.open_snapshot(id) else {
            return;
        };
        self.stats.notifications += 1;
        let action = self.action(
            ActionKind::NotifyUpdate,
            act,
            None,
            format!("incident-{id}-update-{n}"),
            snapshot,
            now,
        );
        out.push(action);
    }

    /// The close of an incident: a notified opening is always closed (never refused; it uses
    /// a token if there is one); a suppressed one is closed as suppressed too; one never due,
    /// not at all.
    pub(crate) fn notify_close(
        &mut self,
        inc: &Open,
        snapshot: &Incident,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        let close = if inc.notified {
            self.take_token(now);
            self.stats.notifications += 1;
            Some(None)
        } else if inc.attempted {
            Some(Some(Suppression::NotOpened))
        } else {
            None
        };
        if let Some(suppressed) = close {
            let action = self.action(
                ActionKind::NotifyClose,
                actors::Sign::Affirm,
                suppressed,
                format!("incident-{}-close", inc.id),
                snapshot.clone(),
                now,
            );
            out.push(action);
        }
    }

    /// Forgets the root causes notified longer than `notify.dedupe_interval` ago.
    pub(crate) fn forget_roots(&mut self, now: u64) {
        let dedupe = self.settings.dedupe_interval;
        if !self.notifications.recent_roots.is_empty() {
            self.notifications
                .recent_roots
                .retain(|_, t| now < t.saturating_add(dedupe));
        }
    }

    pub(crate) fn action(
        &self,
        kind: ActionKind,
        act: actors::Sign,
        suppressed: Option<Suppression>,
        dedupe_key: String,
        incident: Incident,
        now: u64,
    ) -> Event {
        let act = if suppressed.is_some() {
            actors::Sign::Deny
        } else {
            act
        };
        let kind_name = match kind {
            ActionKind::NotifyOpen => "notify_open",
            ActionKind::NotifyUpdate => "notify_update",
            ActionKind::NotifyClose => "notify_close",
        };
        let subject: Subject = incident.root_cause.parse().unwrap_or_default();
        let mut signal = Signal::new(
            subject,
            SignalKind::Actors(act),
            Evidence::rule("cells.actors")
                .with("incident", incident.id as f64)
                .with("members", (incident.chain.len() + incident.unlisted) as f64),
            now,
        )
        .from_source(self.settings.source_id.as_str())
        .with_attribute("incident.id", incident.id.to_string())
        .with_attribute("incident.situation", incident.situation.as_str())
        .with_attribute("action", kind_name)
        .with_attribute("dedupe_key", dedupe_key.as_str())
        .with_attribute("explanation", incident.explanation.as_str());
        if let Some(reason) = suppressed {
            let reason = match reason {
                Suppression::Duplicate => "duplicate",
                Suppression::RateLimited => "rate_limited",
                Suppression::NotOpened => "not_opened",
            };
            signal = signal.with_attribute("suppressed", reason);
        }
        Event::Action(Box::new(Action {
            kind,
            act,
            suppressed,
            dedupe_key,
            time_ns: now,
            incident,
            signal,
        }))
    }
}
