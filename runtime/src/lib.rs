//! The pipeline runtime: turns a validated config into running tasks and stops them in order.
//!
//! Build first, run second: every component is built (ports bound, files opened) before any
//! task starts, so a failure leaves nothing half-started. Then tasks start from the back of the
//! graph to the front (extensions, exporters, connectors, processors, receivers), and stop from
//! the front to the back: receivers are cancelled, which closes the pipelines' inputs, which
//! lets processors drain, which closes the exporters' queues, which lets exporters flush within
//! the deadline. Every queue is bounded; exporter queues drop (counted) rather than stall.

mod graph;
mod process_metrics;
mod self_telemetry;

pub use graph::{Service, ShutdownReport, StartError};
pub use self_telemetry::serve_prometheus;
