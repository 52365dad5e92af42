//! What [`crate::Hierarchy::ingest`] and [`crate::Hierarchy::tick`] report: status and
//! situation changes, staleness, incidents, and the Actors layer's actions.
//!
//! Status and situation events carry the cell's [`CellId`] only (no text), so the hot path does
//! not allocate for them; resolve it with [`crate::Hierarchy::subject`] or turn the event into
//! a signal with [`crate::Hierarchy::signal_for`]. Incident events and actions are rare and
//! carry full snapshots, since the cells they name may be gone by the time they are handled.

use kafka_obs_signal::{Signal, actors};
use serde::Serialize;

use crate::{
    incident::Incident,
    model::{CellId, Situation, Status, serialize_actor_sign},
};

/// One thing that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A cell's shown status (the damped roll-up) or its confidence changed.
    StatusChanged {
        /// The cell.
        cell: CellId,
        /// Before (`None`: no status yet).
        previous: Option<Status>,
        /// After (`None`: no live reading left on or below the cell).
        status: Option<Status>,
        /// Engine time (ns).
        time_ns: u64,
    },
    /// A cell's situation or variability changed.
    SituationChanged {
        /// The cell.
        cell: CellId,
        /// Before.
        previous: Situation,
        /// After.
        situation: Situation,
        /// Engine time (ns).
        time_ns: u64,
    },
    /// A cell went stale (no news for `stale_after`) or came back.
    StaleChanged {
        /// The cell.
        cell: CellId,
        /// True when it went stale.
        stale: bool,
        /// Engine time (ns).
        time_ns: u64,
    },
    /// A cell was forgotten: stale for `forget_after`, evicted for room under `max_cells`, or
    /// dropped with its cluster. Its id is now invalid.
    CellEvicted {
        /// The former id.
        cell: CellId,
        /// Its qualified path.
        path: String,
        /// Engine time (ns).
        time_ns: u64,
    },
    /// A new incident: a cell fell into trouble with no related trouble already open.
    IncidentOpened(Box<Incident>),
    /// An open incident changed: a related cell joined (the chain grew), or its situation
    /// escalated.
    IncidentUpdated(Box<Incident>),
    /// Every member of the incident has been out of trouble for `incidents.close_after`.
    IncidentClosed(Box<Incident>),
    /// Something the Actors layer decided; see [`Action`].
    Action(Box<Action>),
}

/// What an action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Tell people an incident is open (speech act REPORT).
    NotifyOpen,
    /// Tell people an open incident escalated or its explanation grew (REPORT on escalation,
    /// EXPLAIN when only the chain grew). At most once per `notify.update_interval`.
    NotifyUpdate,
    /// Tell people the incident is over (AFFIRM).
    NotifyClose,
}

/// Why an action is not to be performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// The same root cause was notified within `notify.dedupe_interval`.
    Duplicate,
    /// The global rate limit (`notify.rate_limit`) was exhausted.
    RateLimited,
    /// A close of an incident whose opening was never notified.
    NotOpened,
}

/// An action of the Actors layer: a notification to send (or a record of one not sent), with
/// the incident, its explanation chain and evidence attached.
///
/// Perform it when `suppressed` is `None`; either way, record `signal`, the action itself as an
/// Actors signal (REPORT, EXPLAIN, AFFIRM; DENY when suppressed), about the incident's
/// root-cause cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// What to do.
    pub kind: ActionKind,
    /// The speech act it is: REPORT, EXPLAIN, AFFIRM, or DENY when suppressed.
    #[serde(serialize_with = "serialize_actor_sign")]
    pub act: actors::Sign,
    /// Why not, if it is not to be performed.
    pub suppressed: Option<Suppression>,
    /// Stable key for the receiving side's own de-duplication: `incident-<id>-<kind>[-<n>]`.
    pub dedupe_key: String,
    /// Engine time (ns).
    pub time_ns: u64,
    /// The incident as it is now: chain, explanation, evidence.
    pub incident: Incident,
    /// This action as an Actors signal.
    #[serde(skip)]
    pub signal: Signal,
}

impl Action {
    /// True when the action should be carried out (not suppressed).
    pub fn perform(&self) -> bool {
        self.suppressed.is_none()
    }
}
