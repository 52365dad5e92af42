//! Read-only snapshots for a JSON API and the web view: owned, `Serialize`, detached from the
//! engine's state (so a caller can hold them while the engine moves on).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{CellId, CellKind, Situation, Status};

/// One cell as the tree view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellView {
    /// The cell's handle (valid until the cell is evicted).
    pub id: CellId,
    /// The qualified path, `cluster=prod/broker=2` (parses back to the subject); `""` for
    /// the root.
    pub path: String,
    /// The level name, `broker` (`""` for the root or an unknown level).
    pub level: String,
    /// The name at that level, `2`.
    pub name: String,
    /// What the cell stands for.
    pub kind: CellKind,
    /// The scale-out key: the cluster the cell belongs to (`""` if none).
    pub cluster: String,
    /// The worst of the cell's own live readings; `None` without any.
    pub own: Option<Status>,
    /// The roll-up: the worst of `own` and the live children's roll-ups, undamped.
    pub rolled: Option<Status>,
    /// The damped roll-up, what the cell shows and its situation is read from.
    pub status: Option<Status>,
    /// Situation (from `status`) with variability (from recent changes of the roll-up's
    /// situation).
    pub situation: Situation,
    /// No news for `stale_after`: shown, but left out of the parent's roll-up.
    pub stale: bool,
    /// Engine time of the last signal on this cell or below it (ns).
    pub last_update_ns: u64,
    /// Number of child cells (stale ones included).
    pub children: usize,
    /// The open incident this cell is a member of, if any.
    pub incident: Option<u64>,
}

/// A cell with its children, down to a depth limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellNode {
    /// The cell.
    #[serde(flatten)]
    pub cell: CellView,
    /// Its children, ordered by path; empty below the depth limit (see `cell.children` for
    /// how many there are).
    pub nodes: Vec<CellNode>,
}

/// The numbers and rule behind a reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceView {
    /// The rule id, e.g. `B1`.
    pub rule: String,
    /// Named values (at most eight are kept per reading).
    pub values: BTreeMap<String, f64>,
    /// The threshold, if any.
    pub threshold: Option<f64>,
}

/// One latest reading of a cell: the newest signal of one (instrument, rule, source).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingView {
    /// `Queues.OVERFLOW`, `Statuses.DEGRADED.CONFIRMED`, ...
    pub signal: String,
    /// The instrument.
    pub instrument: String,
    /// The rule that produced it.
    pub rule: String,
    /// The sidecar or collector that sent it.
    pub source: String,
    /// The status it reads as, with confidence; `None` for signs without a reading.
    pub status: Option<Status>,
    /// The signal's own timestamp (ns since the epoch, the sender's clock).
    pub time_unix_nano: u64,
    /// Engine time when it arrived (ns).
    pub received_ns: u64,
    /// Past `observer.reading_ttl`: shown, but no longer counted.
    pub expired: bool,
    /// The evidence.
    pub evidence: EvidenceView,
}

/// One entry of a cell's history ring: the cell's shown status or situation changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Engine time (ns).
    pub time_ns: u64,
    /// The shown status afterwards.
    pub status: Option<Status>,
    /// The situation afterwards.
    pub situation: Situation,
    /// Whether the cell was stale afterwards.
    pub stale: bool,
}

/// Everything about one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellDetail {
    /// The tree view of the cell.
    #[serde(flatten)]
    pub cell: CellView,
    /// The latest readings, newest first.
    pub readings: Vec<ReadingView>,
    /// When the cell's own trouble (own situation WARNING or worse) began, by the signal's
    /// timestamp; `None` when not in trouble.
    pub trouble_since_unix_nano: Option<u64>,
    /// The history ring, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The children's paths, ordered.
    pub children: Vec<String>,
}
