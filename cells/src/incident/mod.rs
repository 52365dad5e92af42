//! Incidents and their explanation chains (the public snapshot types).
//!
//! An incident groups cells whose *own* trouble (own readings at WARNING or worse) began
//! within `correlation.window` of a related cell's. Its chain is its members ordered by when
//! their trouble began (the signals' own timestamps), so the first link is the root cause:
//! `broker-2 DEGRADED at t0 -> order-producer DEGRADED at t1 -> order-service DEGRADED at t2`.

use serde::Serialize;

use crate::{
    model::{CellKind, Status, serialize_situation_sign},
    view::ReadingView,
};
use kafka_obs_signal::situations;

/// An incident's number, unique within one engine's life.
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
}

/// The incidents for a query: open ones, and the most recent closed ones (newest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentsView {
    /// Open incidents, oldest first.
    pub open: Vec<Incident>,
    /// Closed incidents, newest first (at most `incidents.max_closed`).
    pub closed: Vec<Incident>,
}
