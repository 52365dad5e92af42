//! Federation: one hierarchy forwards the state of its cells at a level cut to a parent
//! hierarchy, which keeps them as leaves (the child's status and confidence, not
//! recomputed). Pure, like the engine: the component wraps it with the transport.
//!
//! - [`wire`]: the contract both ends read, a federated cell as a `Statuses` signal with rule
//!   [`wire::RULE`] and its facts (origin path, situation with variability, the child's
//!   incident with its chain) as attributes. One place, imported by publisher and gate.
//! - [`publish`]: the child side. Which cells cross the cut, under which prefix, and when:
//!   a delta when a cell's federated state changes, everything every `resend_interval`.
//! - [`gate`]: the parent side. Refuses records that come back round a cycle and bounds the
//!   cells each child may create; remembers where each federated cell came from so a
//!   hierarchy that federates further up extends the origin path.
//! - [`story`]: incident ids a parent derives from the child's incident, stable across
//!   restarts and resends.

pub mod gate;
pub mod publish;
pub mod story;
pub mod wire;

pub use gate::{Federated, FederatedIncident, Gate, Refusal};
pub use publish::{Cut, Publisher, PublisherConfig};
pub use wire::{CellRecord, IncidentRef, WireError};
