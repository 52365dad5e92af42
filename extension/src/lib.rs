//! Extensions: components outside the pipelines that serve the operator or other components
//! (health checks, disk queues for exporters, authentication for receivers and exporters).
//! Each module offers its `FACTORY`; the binary lists them.

pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;
