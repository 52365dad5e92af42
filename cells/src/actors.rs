//! Correlation, incidents and the Actors layer (notifications), as methods of the engine.
//!
//! A cell is *in trouble* while its own status reads WARNING or worse. When its trouble
//! begins, the open incidents of its cluster are searched, oldest first, for a member that is
//! related to it and whose trouble began within `correlation.window` of its own; it joins the
//! first such incident, or opens a new one. Related means, within one cluster:
//!
//! - one is an ancestor of the other (a broker and its partitions; a cluster and anything);
//! - both are under the same service (the service's other instances and clients);
//! - one is on the client side (under a service, instance or client) and the other on the
//!   broker side (under a broker), and a topic the client-side cell uses (its own `topic`
//!   level, or the topics below it) is hosted by that broker (the broker has that topic
//!   below it; a broker that reports no topics at all may host any).
//!
//! An incident stays open while any member is in trouble and closes `incidents.close_after`
//! after the last one recovered, so a member that flaps keeps one incident open rather than
//! opening and closing many. Notifications: one open (when the incident reaches
//! `notify.min_situation`), updates at most every `notify.update_interval` (an escalation
//! goes at once), one close; de-duplicated by root cause within `notify.dedupe_interval` and
//! rate-limited by a token bucket (a close of a notified incident is never refused).

use std::collections::{BTreeMap, HashMap, VecDeque};

use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, actors, situations};

use crate::{
    cell::Membership,
    config::Settings,
    event::{Action, ActionKind, Event, Suppression},
    hash::Fx,
    hierarchy::Hierarchy,
    incident::{Incident, IncidentId, IncidentState, Link},
    intern::Sym,
    model::{CellId, CellKind, Status},
    view::ReadingView,
};

/// At most this many member checks per correlation (a cluster-wide outage must not make each
/// new troubled cell compare itself with every earlier one).
const MAX_CHECKS: usize = 4096;
/// Readings kept as a member's evidence.
const EVIDENCE_PER_LINK: usize = 4;

/// How a cell's own trouble changed with its last update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TroubleChange {
    /// Not in trouble, still not.
    None,
    /// Fell into trouble.
    Began,
    /// Still in trouble; its status may have changed within the same situation.
    Continued,
    /// Still in trouble, at a worse situation.
    Worsened,
    /// Out of trouble (recovered or stale).
    Ended,
}

#[derive(Debug)]
struct Detail {
    path: String,
    name: String,
    kind: CellKind,
    evidence: Vec<ReadingView>,
}

#[derive(Debug)]
struct Member {
    cell: CellId,
    onset: u64,
    peak: Status,
    troubled: bool,
    /// Kept for the first `4 × max_chain` members; later ones are counted only.
    detail: Option<Box<Detail>>,
}

#[derive(Debug)]
struct Open {
    id: IncidentId,
    cluster: String,
    opened: u64,
    updated: u64,
    situation: situations::Sign,
    members: Vec<Member>,
    troubled: usize,
    recovered_since: Option<u64>,
    notified: bool,
    /// An opening notification was due (performed or suppressed).
    attempted: bool,
    last_notify: u64,
    update_pending: bool,
    updates: u32,
}

/// The incidents and the notification state.
#[derive(Debug)]
pub(crate) struct Incidents {
    next_id: IncidentId,
    open: BTreeMap<IncidentId, Open>,
    closed: VecDeque<Incident>,
    recent_roots: HashMap<String, u64, Fx>,
    tokens: f64,
    refilled: u64,
}

impl Incidents {
    pub fn new(settings: &Settings) -> Self {
        Self {
            next_id: 1,
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            recent_roots: HashMap::default(),
            tokens: f64::from(settings.burst),
            refilled: 0,
        }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    pub fn closed(&self) -> impl Iterator<Item = &Incident> {
        self.closed.iter()
    }

    pub fn open_ids(&self) -> impl Iterator<Item = IncidentId> + '_ {
        self.open.keys().copied()
    }
}

/// Where a cell sits: its broker, service and topic ancestors (or itself).
#[derive(Debug, Default, Clone, Copy)]
struct Place {
    broker: Option<u32>,
    service: Option<u32>,
    client_side: bool,
    topic: Option<Sym>,
}

impl Hierarchy {
    /// Runs the Actors layer for a change of a cell's own trouble.
    pub(crate) fn on_trouble(
        &mut self,
        idx: u32,
        change: TroubleChange,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        match change {
            TroubleChange::None => {}
            TroubleChange::Began => self.trouble_began(idx, now, out),
            TroubleChange::Continued | TroubleChange::Worsened => {
                self.trouble_continued(idx, now, out)
            }
            TroubleChange::Ended => self.trouble_ended(idx, now),
        }
    }

    /// The open incident and member index of a cell, if it has one.
    fn membership(&self, idx: u32) -> Option<(IncidentId, usize)> {
        let m = self.cells[idx as usize].membership?;
        let inc = self.incidents.open.get(&m.incident)?;
        let member = inc.members.get(m.member as usize)?;
        (member.cell == self.cell_id(idx)).then_some((m.incident, m.member as usize))
    }

    fn trouble_began(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        if let Some((id, pos)) = self.membership(idx) {
            // Back in trouble within its still-open incident: no new incident.
            if let Some(inc) = self.incidents.open.get_mut(&id) {
                let member = &mut inc.members[pos];
                if !member.troubled {
                    member.troubled = true;
                    inc.troubled += 1;
                }
                inc.recovered_since = None;
            }
            self.trouble_continued(idx, now, out);
            return;
        }
        self.cells[idx as usize].membership = None;
        let Some(onset) = self.cells[idx as usize].trouble_since else {
            return;
        };
        let cluster = self.cluster_of(idx).to_string();
        let window = self.settings.window;
        let mut found = None;
        let mut checks = 0;
        'incidents: for (id, inc) in &self.incidents.open {
            if inc.cluster != cluster {
                continue;
            }
            for m in &inc.members {
                if checks >= MAX_CHECKS {
                    break 'incidents;
                }
                checks += 1;
                if m.onset.abs_diff(onset) > window {
                    continue;
                }
                let Some(other) = self.slot(m.cell) else {
                    continue;
                };
                if other != idx && self.related(idx, other) {
                    found = Some(*id);
                    break 'incidents;
                }
            }
        }
        match found {
            Some(id) => self.join(id, idx, now, out),
            None => self.open_incident(idx, cluster, now, out),
        }
    }

    fn trouble_continued(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let Some((id, pos)) = self.membership(idx) else {
            return;
        };
        let Some(own) = self.cells[idx as usize].own else {
            return;
        };
        let peak = self
            .incidents
            .open
            .get(&id)
            .map(|inc| inc.members[pos].peak);
        if peak.is_none_or(|p| own <= p) {
            return;
        }
        let evidence = self.trouble_evidence(idx);
        let escalate = self.settings.escalate_confirmed_degraded;
        let Some(inc) = self.incidents.open.get_mut(&id) else {
            return;
        };
        let member = &mut inc.members[pos];
        member.peak = own;
        if let Some(detail) = member.detail.as_mut() {
            detail.evidence = evidence;
        }
        inc.updated = now;
        let situation = own.situation(escalate);
        let escalated = situation > inc.situation;
        if escalated {
            inc.situation = situation;
        }
        let snapshot = self.open_snapshot(id);
        if let Some(snapshot) = snapshot {
            out.push(Event::IncidentUpdated(Box::new(snapshot)));
        }
        if escalated {
            self.notify_update(id, true, now, out);
        }
    }

    fn trouble_ended(&mut self, idx: u32, now: u64) {
        let Some((id, pos)) = self.membership(idx) else {
            return;
        };
        if let Some(inc) = self.incidents.open.get_mut(&id) {
            let member = &mut inc.members[pos];
            if member.troubled {
                member.troubled = false;
                inc.troubled -= 1;
                if inc.troubled == 0 {
                    inc.recovered_since = Some(now);
                }
            }
        }
    }

    fn new_member(&self, idx: u32, detailed: bool) -> Member {
        let c = &self.cells[idx as usize];
        let peak = c.own.unwrap_or(Status::new(
            kafka_obs_signal::statuses::Sign::Stable,
            kafka_obs_signal::statuses::Confidence::Tentative,
        ));
        let detail = detailed.then(|| {
            let subject = self.subject_of(idx);
            Box::new(Detail {
                path: subject.qualified(),
                name: short_name(&subject),
                kind: c.kind,
                evidence: self.trouble_evidence(idx),
            })
        });
        Member {
            cell: self.cell_id(idx),
            onset: c.trouble_since.unwrap_or(self.now),
            peak,
            troubled: true,
            detail,
        }
    }

    fn open_incident(&mut self, idx: u32, cluster: String, now: u64, out: &mut Vec<Event>) {
        if self.incidents.open.len() >= self.settings.max_open {
            self.stats.incidents_refused += 1;
            return;
        }
        let id = self.incidents.next_id;
        self.incidents.next_id += 1;
        let member = self.new_member(idx, true);
        let situation = member
            .peak
            .situation(self.settings.escalate_confirmed_degraded);
        self.incidents.open.insert(
            id,
            Open {
                id,
                cluster,
                opened: now,
                updated: now,
                situation,
                members: vec![member],
                troubled: 1,
                recovered_since: None,
                notified: false,
                attempted: false,
                last_notify: 0,
                update_pending: false,
                updates: 0,
            },
        );
        self.cells[idx as usize].membership = Some(Membership {
            incident: id,
            member: 0,
        });
        self.stats.incidents_opened += 1;
        if let Some(snapshot) = self.open_snapshot(id) {
            out.push(Event::IncidentOpened(Box::new(snapshot)));
        }
        self.notify_open(id, now, out);
    }

    fn join(&mut self, id: IncidentId, idx: u32, now: u64, out: &mut Vec<Event>) {
        let detail_cap = 4 * self.settings.max_chain;
        let detailed = self
            .incidents
            .open
            .get(&id)
            .is_some_and(|inc| inc.members.len() < detail_cap);
        let member = self.new_member(idx, detailed);
        let situation = member
            .peak
            .situation(self.settings.escalate_confirmed_degraded);
        let Some(inc) = self.incidents.open.get_mut(&id) else {
            return;
        };
        let pos = inc.members.len() as u32;
        inc.members.push(member);
        inc.troubled += 1;
        inc.recovered_since = None;
        inc.updated = now;
        let escalated = situation > inc.situation;
        if escalated {
            inc.situation = situation;
        }
        self.cells[idx as usize].membership = Some(Membership {
            incident: id,
            member: pos,
        });
        if let Some(snapshot) = self.open_snapshot(id) {
            out.push(Event::IncidentUpdated(Box::new(snapshot)));
        }
        self.notify_update(id, escalated, now, out);
    }

    // ---- relations ------------------------------------------------------------------------

    fn place(&self, idx: u32) -> Place {
        let mut place = Place::default();
        let mut cur = idx;
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            match c.kind {
                CellKind::Broker => place.broker = Some(cur),
                CellKind::Service => {
                    place.service = Some(cur);
                    place.client_side = true;
                }
                CellKind::Instance | CellKind::Client => place.client_side = true,
                CellKind::Topic => place.topic = Some(c.value),
                _ => {}
            }
            cur = c.parent;
        }
        place
    }

    /// `a` is a proper ancestor of `b`, the root excluded.
    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        if a == 0 {
            return false;
        }
        let depth = self.cells[a as usize].depth;
        let mut cur = b;
        while cur != 0 && cur != u32::MAX && self.cells[cur as usize].depth > depth {
            cur = self.cells[cur as usize].parent;
        }
        cur == a && a != b
    }

    /// Whether two cells of one cluster are related; see the module documentation.
    pub(crate) fn related(&self, a: u32, b: u32) -> bool {
        if self.is_ancestor(a, b) || self.is_ancestor(b, a) {
            return true;
        }
        let (pa, pb) = (self.place(a), self.place(b));
        if pa.service.is_some() && pa.service == pb.service {
            return true;
        }
        let ((client, client_place), broker_place) = match (pa.broker, pb.broker) {
            (None, Some(_)) if pa.client_side => ((a, pa), pb),
            (Some(_), None) if pb.client_side => ((b, pb), pa),
            _ => return false,
        };
        let topics = self.topics_of(client, client_place);
        if topics.is_empty() {
            return false;
        }
        match (broker_place.topic, broker_place.broker) {
            (Some(topic), _) => topics.contains(&topic),
            (None, Some(broker)) => {
                let topic_level = self.levels.topic;
                let reports_topics = self.cells[broker as usize]
                    .children
                    .iter()
                    .any(|&c| self.cells[c as usize].level == topic_level);
                !reports_topics
                    || topics
                        .iter()
                        .any(|t| self.index.contains_key(&(broker, topic_level, *t)))
            }
            (None, None) => false,
        }
    }

    /// The topics a client-side cell uses: its own, or those below it (at most 64).
    fn topics_of(&self, idx: u32, place: Place) -> Vec<Sym> {
        if let Some(topic) = place.topic {
            return vec![topic];
        }
        let mut topics = Vec::new();
        let mut level = vec![idx];
        for _ in 0..3 {
            let mut next = Vec::new();
            for &cell in &level {
                for &child in &self.cells[cell as usize].children {
                    let c = &self.cells[child as usize];
                    if c.kind == CellKind::Topic {
                        if !topics.contains(&c.value) {
                            topics.push(c.value);
                        }
                    } else {
                        next.push(child);
                    }
                }
            }
            if topics.len() >= 64 || next.is_empty() {
                break;
            }
            level = next;
        }
        topics.truncate(64);
        topics
    }

    /// The readings that put a cell in trouble, worst first.
    fn trouble_evidence(&self, idx: u32) -> Vec<ReadingView> {
        let c = &self.cells[idx as usize];
        let escalate = self.settings.escalate_confirmed_degraded;
        let mut troubled: Vec<_> = c
            .readings
            .iter()
            .filter(|r| r.live(self.now, self.settings.reading_ttl))
            .filter(|r| {
                r.status
                    .is_some_and(|s| s.situation(escalate) > situations::Sign::Normal)
            })
            .collect();
        troubled.sort_by(|x, y| y.status.cmp(&x.status).then(y.received.cmp(&x.received)));
        troubled
            .into_iter()
            .take(EVIDENCE_PER_LINK)
            .map(|r| self.reading_view(r))
            .collect()
    }

    // ---- notifications --------------------------------------------------------------------

    fn take_token(&mut self, now: u64) -> bool {
        let s = &self.settings;
        let burst = f64::from(s.burst);
        let elapsed = now.saturating_sub(self.incidents.refilled) as f64;
        self.incidents.tokens =
            (self.incidents.tokens + elapsed * burst / s.refill_per as f64).min(burst);
        self.incidents.refilled = now;
        if self.incidents.tokens >= 1.0 {
            self.incidents.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn notify_open(&mut self, id: IncidentId, now: u64, out: &mut Vec<Event>) {
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
            .incidents
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
            self.incidents
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
    fn notify_update(&mut self, id: IncidentId, escalated: bool, now: u64, out: &mut Vec<Event>) {
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

    fn send_update(&mut self, id: IncidentId, act: actors::Sign, now: u64, out: &mut Vec<Event>) {
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

    /// Closes recovered incidents, sends held-back updates, forgets old root causes.
    pub(crate) fn incidents_tick(&mut self, now: u64, out: &mut Vec<Event>) {
        let close_after = self.settings.close_after;
        let interval = self.settings.update_interval;
        let mut closing = Vec::new();
        let mut flushing = Vec::new();
        for (id, inc) in &self.incidents.open {
            match inc.recovered_since {
                Some(t) if inc.troubled == 0 && t.saturating_add(close_after) <= now => {
                    closing.push(*id);
                }
                _ if inc.update_pending
                    && inc.notified
                    && inc.last_notify.saturating_add(interval) <= now =>
                {
                    flushing.push(*id);
                }
                _ => {}
            }
        }
        for id in flushing {
            if self.take_token(now) {
                self.send_update(id, actors::Sign::Explain, now, out);
            }
        }
        for id in closing {
            self.close(id, now, out);
        }
        let dedupe = self.settings.dedupe_interval;
        if !self.incidents.recent_roots.is_empty() {
            self.incidents
                .recent_roots
                .retain(|_, t| now < t.saturating_add(dedupe));
        }
    }

    fn close(&mut self, id: IncidentId, now: u64, out: &mut Vec<Event>) {
        let Some(inc) = self.incidents.open.remove(&id) else {
            return;
        };
        for m in &inc.members {
            if let Some(idx) = self.slot(m.cell) {
                let c = &mut self.cells[idx as usize];
                if c.membership.is_some_and(|x| x.incident == id) {
                    c.membership = None;
                }
            }
        }
        let snapshot = self.snapshot(&inc, IncidentState::Closed, Some(now));
        self.stats.incidents_closed += 1;
        out.push(Event::IncidentClosed(Box::new(snapshot.clone())));
        // A notified opening is always closed (never refused; it uses a token if there is
        // one); a suppressed one is closed as suppressed too; one never due, not at all.
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
                format!("incident-{id}-close"),
                snapshot.clone(),
                now,
            );
            out.push(action);
        }
        self.incidents.closed.push_front(snapshot);
        self.incidents.closed.truncate(self.settings.max_closed);
    }

    /// Discards a cluster's open incidents without notifications; returns how many.
    pub(crate) fn discard_incidents(&mut self, cluster: &str) -> usize {
        let ids: Vec<IncidentId> = self
            .incidents
            .open
            .values()
            .filter(|inc| inc.cluster == cluster)
            .map(|inc| inc.id)
            .collect();
        for id in &ids {
            if let Some(inc) = self.incidents.open.remove(id) {
                for m in &inc.members {
                    if let Some(idx) = self.slot(m.cell) {
                        self.cells[idx as usize].membership = None;
                    }
                }
            }
        }
        ids.len()
    }

    fn action(
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

    // ---- snapshots ------------------------------------------------------------------------

    /// Snapshot of an open incident by id.
    pub(crate) fn open_snapshot(&self, id: IncidentId) -> Option<Incident> {
        let inc = self.incidents.open.get(&id)?;
        Some(self.snapshot(inc, IncidentState::Open, None))
    }

    fn snapshot(&self, inc: &Open, state: IncidentState, closed: Option<u64>) -> Incident {
        let mut listed: Vec<(&Member, &Detail)> = inc
            .members
            .iter()
            .filter_map(|m| m.detail.as_deref().map(|d| (m, d)))
            .collect();
        listed.sort_by(|a, b| a.0.onset.cmp(&b.0.onset).then(a.1.path.cmp(&b.1.path)));
        listed.truncate(self.settings.max_chain);
        let chain: Vec<Link> = listed
            .iter()
            .map(|(m, d)| Link {
                path: d.path.clone(),
                name: d.name.clone(),
                kind: d.kind,
                onset_unix_nano: m.onset,
                peak: m.peak,
                status: self
                    .slot(m.cell)
                    .and_then(|idx| self.cells[idx as usize].own),
                recovered: !m.troubled,
                evidence: d.evidence.clone(),
            })
            .collect();
        let explanation = chain
            .iter()
            .map(describe_link)
            .collect::<Vec<_>>()
            .join(" -> ");
        Incident {
            id: inc.id,
            cluster: inc.cluster.clone(),
            state,
            situation: inc.situation,
            opened_ns: inc.opened,
            updated_ns: closed.unwrap_or(inc.updated),
            closed_ns: closed,
            root_cause: chain.first().map(|l| l.path.clone()).unwrap_or_default(),
            unlisted: inc.members.len() - chain.len(),
            chain,
            explanation,
            notified: inc.notified,
        }
    }
}

/// The path without its cluster segment: `broker=2`, `service=order-service/instance=pod-1`.
fn short_name(subject: &Subject) -> String {
    let segs = subject.segments();
    let start = segs
        .iter()
        .position(|s| s.level() == "cluster")
        .map_or(0, |i| i + 1);
    if start >= segs.len() {
        return subject.qualified();
    }
    Subject::from_pairs(segs[start..].iter().map(|s| (s.level(), s.value())))
        .map(|s| s.qualified())
        .unwrap_or_else(|_| subject.qualified())
}

/// `broker=2 DEGRADED (B1 under_replicated=2) at 2024-01-01T00:00:00.000Z`.
fn describe_link(link: &Link) -> String {
    let at = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(link.onset_unix_nano),
    );
    let mut text = format!("{} {}", link.name, link.peak.sign);
    if let Some(reading) = link.evidence.first() {
        text.push_str(" (");
        text.push_str(&reading.signal);
        if !reading.evidence.rule.is_empty() {
            text.push(' ');
            text.push_str(&reading.evidence.rule);
        }
        for (name, value) in reading.evidence.values.iter().take(3) {
            text.push_str(&format!(" {name}={}", kafka_obs_signal::Rounded(*value)));
        }
        text.push(')');
    }
    text.push_str(&format!(" at {at}"));
    text
}
