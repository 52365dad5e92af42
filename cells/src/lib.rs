//! The cell hierarchy of the central aggregator: signals in, a tree of cells with rolled-up
//! statuses, situations, incidents with root-cause chains, and notification actions out.
//! Pure and I/O-free: no clock (time is passed in as nanoseconds), no tasks, no network;
//! deterministic for a given sequence of calls. A component wraps it with the I/O (webhooks,
//! Kafka command records, OTLP output, the HTTP API and web view).
//!
//! # The model (the seed's Central platform, OODA layered)
//!
//! - **Cells** are created from signal subjects, one per prefix: `cluster -> broker -> topic
//!   -> partition` and `cluster -> service -> instance -> client -> topic` (any level names
//!   work; the kind is read from the level). The empty subject is the root.
//! - **Observers (ORIENT)**: each cell keeps the latest reading per (instrument, rule,
//!   source), with its time, status, confidence and evidence. A Statuses signal reads as
//!   itself with its own confidence; any other sign reads as the status of `docs/vocabulary.md`'s
//!   default table (Queues OVERFLOW -> DEGRADED, Probes FAIL -> DEGRADED, ...; configurable),
//!   with the confidence of the cell's decayed-vote [`kafka_obs_signal::Scorecard`]. Readings
//!   fade after `observer.reading_ttl`. A cell's *own* status is the worst live reading.
//! - **Conditions clear** (`kafka_obs_signal::condition`): a condition's recovery comes under
//!   its onset's rule and instrument, so it replaces the onset's reading (a recovery whose
//!   sign reads as nothing reads STABLE). A status signal (rule `status`) listing the
//!   subject's current conditions drops its source's readings of every rule it does not
//!   name: a lost recovery or a restarted sidecar does not keep a cell red.
//! - **B3 for the cluster**: brokers state their own controller flag (Members ELECT / RESIGN
//!   SELF, rule [`CONTROLLER_RULE`]); a cluster whose live brokers have reported no active
//!   controller for `controller_grace` gets a DOWN reading from source [`DERIVED_SOURCE`],
//!   replaced by its recovery when one reports it is the controller (`controller.rs`).
//! - **Roll-up**: a cell's rolled status is the worst (by [`Status`]'s order: severity, then
//!   confidence, so confidence is carried up, not dropped) of its own status and its *live*
//!   children's rolled statuses. Each cell counts its children's contributions per status
//!   bucket, so an update is O(1) per level, the result does not depend on arrival order, a
//!   late healthy sibling cannot hide a sick one, and the walk up stops where nothing
//!   changes. A cell with no news (on it or below it) for `stale_after` is *stale*: still
//!   shown, flagged, and left out of its parent's roll-up, so a vanished partition does not
//!   keep its cluster red. Stale cells are forgotten after `forget_after`, or earlier, oldest
//!   first, when `max_cells` is reached.
//! - **Damping**: the *shown* status follows the roll-up at once when it gets worse and only
//!   after `damping.clear_after` when it gets better, so a parent does not flap with one
//!   child's noise.
//! - **Reporters (DECIDE)**: the shown status reads as a situation (NORMAL / WARNING /
//!   CRITICAL); the variability (CONSTANT / VARIABLE / VOLATILE) counts the changes of the
//!   undamped roll-up's situation within `reporter.variability_window`, so flapping is itself
//!   reported: a flapping child makes its parent VOLATILE while the parent's situation holds.
//! - **Correlation**: when a cell's own situation turns WARNING or worse, the engine looks at
//!   the troubled cells related to it in the same cluster (the client's topics and the
//!   brokers hosting them, a broker's partitions, a service's other clients and instances,
//!   ancestors and descendants) whose trouble began within `correlation.window`. If one of
//!   them is in an open incident the cell joins it, otherwise a new incident opens. The
//!   incident's chain orders its members by onset (the signals' own timestamps): the first
//!   link is the probable root cause.
//! - **Actors (ACT)**: an incident's opening, escalation and close become [`Action`]s
//!   (notify open / update / close) carrying the incident, its chain and evidence, each also
//!   an Actors signal (REPORT, EXPLAIN, AFFIRM; DENY when suppressed). Notifications are
//!   de-duplicated by root cause, rate-limited by a token bucket, and an incident closes only
//!   after all its members stayed out of trouble for `incidents.close_after`: one open and one
//!   close per incident, however much a member flaps.
//!
//! # Using it
//!
//! ```
//! use kafka_obs_cells::{Event, Hierarchy, HierarchyConfig};
//! use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, statuses};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cells = Hierarchy::new(HierarchyConfig::default())?;
//! let broker: Subject = "cluster=prod/broker=2".parse()?;
//! let signal = Signal::new(
//!     broker.clone(),
//!     SignalKind::Statuses(statuses::Sign::Degraded, statuses::Confidence::Confirmed),
//!     Evidence::rule("B1").with("under_replicated", 2.0),
//!     1_000,
//! );
//! let events = cells.ingest(&signal, 1_000);
//! assert!(events.iter().any(|e| matches!(e, Event::IncidentOpened(_))));
//! let cluster = cells.lookup(&"cluster=prod".parse()?).and_then(|id| cells.view(id));
//! assert_eq!(cluster.and_then(|c| c.status).map(|s| s.sign), Some(statuses::Sign::Degraded));
//! let later = cells.tick(1_000 + 3_600_000_000_000);
//! assert!(later.iter().any(|e| matches!(e, Event::StaleChanged { stale: true, .. })));
//! # Ok(())
//! # }
//! ```
//!
//! The component calls [`Hierarchy::ingest`] for every signal and [`Hierarchy::tick`]
//! regularly, performs the actions, exports [`Hierarchy::signal_for`] of the events, and
//! serves the snapshot queries ([`Hierarchy::tree`], [`Hierarchy::detail`],
//! [`Hierarchy::incidents`]) as JSON. For scale-out it owns the clusters whose
//! [`cluster_key`] hashes to it and calls [`Hierarchy::drop_cluster`] when one moves away.

mod actors;
mod cell;
mod config;
mod controller;
mod event;
pub mod federation;
mod hash;
mod hierarchy;
mod incident;
mod intern;
mod model;
mod query;
mod slab;
mod view;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

pub use config::{
    ConfigError, CorrelationConfig, DampingConfig, HierarchyConfig, IncidentConfig, NotifyConfig,
    ObserverConfig, RateLimitConfig, ReporterConfig, ScorecardConfig, duration,
};
pub use controller::{CONTROLLER_RULE, DERIVED_SOURCE};
pub use event::{Action, ActionKind, Event, Suppression};
pub use hierarchy::{DropReport, Hierarchy, Ingested, Stats};
pub use incident::{Incident, IncidentId, IncidentState, IncidentsView, Link};
pub use model::{CellId, CellKind, Situation, Status, cluster_key};
pub use view::{CellDetail, CellNode, CellView, EvidenceView, HistoryEntry, ReadingView};
