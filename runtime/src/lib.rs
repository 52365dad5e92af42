//! The pipeline runtime: turns a validated config into running tasks and stops them in order.
//!
//! Build first, run second: every component is built (ports bound, files opened) before any
//! task starts, so a failure leaves nothing half-started. Then tasks start from the back of the
//! graph to the front (extensions, exporters, connectors, processors, receivers), and stop from
//! the front to the back: receivers are cancelled, which closes the pipelines' inputs, which
//! lets processors drain, which closes the exporters' queues, which lets exporters flush within
//! the deadline. Every queue is bounded; exporter queues drop (counted) rather than stall.
//! A reload ([`ReloadableService::reload`]) is that stop followed by a new build, on listening
//! sockets that stay open in between.

mod graph;
mod process_metrics;
mod reload;
mod self_telemetry;

pub use graph::{Service, ShutdownReport, StartError};
pub use reload::{AfterReload, ReloadOutcome, ReloadableService};
pub use self_telemetry::serve_prometheus;
