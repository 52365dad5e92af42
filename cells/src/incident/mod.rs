//! Incidents: the public snapshot types, the open incidents' state, and their life cycle as
//! methods of the engine (a cell's trouble opens, joins, continues or ends its incident;
//! recovered incidents close). `related.rs` decides which troubled cells belong together,
//! `chain.rs` orders the members into the explanation chain; notifications are `actors.rs`.
//!
//! An incident groups cells whose *own* trouble (own readings at WARNING or worse) began
//! within `correlation.window` of a related cell's. Its chain is its members ordered by when
//! their trouble began (the signals' own timestamps), so the first link is the root cause:
//! `broker-2 DEGRADED at t0 -> order-producer DEGRADED at t1 -> order-service DEGRADED at t2`.
//!
//! When a cell's trouble begins, the open incidents of its cluster are searched, oldest
//! first, for a member that is related to it and whose trouble began within
//! `correlation.window` of its own; it joins the first such incident, or opens a new one.
//! An incident stays open while any member is in trouble and closes `incidents.close_after`
//! after the last one recovered, so a member that flaps keeps one incident open rather than
//! opening and closing many.

use std::collections::{BTreeMap, VecDeque};

use kafka_obs_signal::{actors, situations};
use serde::Serialize;

use crate::{
    cell::Membership,
    event::Event,
    federation::story,
    hierarchy::Hierarchy,
    model::{CellId, CellKind, Status, serialize_situation_sign},
    view::ReadingView,
};

mod chain;
mod related;

use chain::short_name;

/// An incident's number: counted from 1 within one engine's life, or, for an incident that
/// opened on a federated cell, derived from the child's story (`federation::story`).
pub type IncidentId = u64;

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Some member is in trouble, or recovered less than `incidents.close_after` ago.
    Open,
    /// Over.
    Closed,
}

/// One link of an explanation chain: a member cell and the trouble it had.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// The cell's qualified path, `cluster=prod/broker=2`.
    pub path: String,
    /// A short name for sentences: the cell's last segment, `broker=2`.
    pub name: String,
    /// What the cell stands for.
    pub kind: CellKind,
    /// When its trouble began, by the signal's timestamp (ns since the epoch).
    pub onset_unix_nano: u64,
    /// The worst own status it had while in the incident.
    pub peak: Status,
    /// Its own status now (`None`: no live reading, or the cell is gone).
    pub status: Option<Status>,
    /// Whether it is out of trouble now (recovered, stale or evicted).
    pub recovered: bool,
    /// The readings that put it in trouble, worst first (at most four), as they were at the
    /// onset and at the peak.
    pub evidence: Vec<ReadingView>,
}

/// An incident as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Its number.
    pub id: IncidentId,
    /// The cluster all its cells are in (`""` if none).
    pub cluster: String,
    /// Open or closed.
    pub state: IncidentState,
    /// The worst situation any member reached (WARNING or CRITICAL).
    #[serde(serialize_with = "serialize_situation_sign")]
    pub situation: situations::Sign,
    /// Engine time it opened, last changed, and closed (ns).
    pub opened_ns: u64,
    /// Engine time of the last change (ns).
    pub updated_ns: u64,
    /// Engine time it closed (ns).
    pub closed_ns: Option<u64>,
    /// The path of the first link: the earliest trouble, the probable root cause.
    pub root_cause: String,
    /// The members ordered by onset (at most `correlation.max_chain`).
    pub chain: Vec<Link>,
    /// Members beyond `correlation.max_chain`, counted and not listed.
    pub unlisted: usize,
    /// The chain as one sentence, e.g. `broker=2 DEGRADED (B1 under_replicated=2) at
    /// 2024-01-01T00:00:00Z -> client=order-producer DEGRADED (P1 utilization=0.97) at ...`.
    pub explanation: String,
    /// Whether its opening was notified (so its close will be too).
    pub notified: bool,
    /// The federated child's story it opened from (its id derives from it); `None` for an
    /// incident opened from this hierarchy's own cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub story: Option<String>,
}

/// The incidents for a query: open ones, and the most recent closed ones (newest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentsView {
    /// Open incidents, oldest first.
    pub open: Vec<Incident>,
    /// Closed incidents, newest first (at most `incidents.max_closed`).
    pub closed: Vec<Incident>,
}

/// At most this many member checks per correlation (a cluster-wide outage must not make each
/// new troubled cell compare itself with every earlier one).
const MAX_CHECKS: usize = 4096;

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
pub(crate) struct Detail {
    path: String,
    name: String,
    kind: CellKind,
    evidence: Vec<ReadingView>,
}

#[derive(Debug)]
pub(crate) struct Member {
    cell: CellId,
    onset: u64,
    peak: Status,
    troubled: bool,
    /// Kept for the first `4 × max_chain` members; later ones are counted only.
    detail: Option<Box<Detail>>,
}

#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) id: IncidentId,
    pub(crate) story: Option<Box<str>>,
    cluster: String,
    opened: u64,
    updated: u64,
    pub(crate) situation: situations::Sign,
    members: Vec<Member>,
    troubled: usize,
    recovered_since: Option<u64>,
    pub(crate) notified: bool,
    /// An opening notification was due (performed or suppressed).
    pub(crate) attempted: bool,
    pub(crate) last_notify: u64,
    pub(crate) update_pending: bool,
    pub(crate) updates: u32,
}

/// The open incidents and the most recent closed ones.
#[derive(Debug)]
pub(crate) struct Incidents {
    next_id: IncidentId,
    pub(crate) open: BTreeMap<IncidentId, Open>,
    closed: VecDeque<Incident>,
}

impl Incidents {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            open: BTreeMap::new(),
            closed: VecDeque::new(),
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
        // A federated cell of a story whose incident is open here belongs to it: the child
        // already grouped them.
        let story = self.arriving_story.take();
        let mut found = story
            .as_deref()
            .map(story::incident_id)
            .filter(|id| self.incidents.open.contains_key(id));
        let mut checks = 0;
        'incidents: for (id, inc) in &self.incidents.open {
            if found.is_some() || inc.cluster != cluster {
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
            None => self.open_incident(idx, cluster, story, now, out),
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

    fn open_incident(
        &mut self,
        idx: u32,
        cluster: String,
        story: Option<String>,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        if self.incidents.open.len() >= self.settings.max_open {
            self.stats.incidents_refused += 1;
            return;
        }
        let id = match story.as_deref().map(story::incident_id) {
            Some(id) => id,
            None => {
                self.incidents.next_id += 1;
                self.incidents.next_id - 1
            }
        };
        let member = self.new_member(idx, true);
        let situation = member
            .peak
            .situation(self.settings.escalate_confirmed_degraded);
        self.incidents.open.insert(
            id,
            Open {
                id,
                story: story.map(String::into_boxed_str),
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
        self.forget_roots(now);
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
        self.notify_close(&inc, &snapshot, now, out);
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
}
