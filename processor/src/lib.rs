//! Processors: what happens to data between receivers and exporters.
//!
//! Each processor lives in its own module and is listed once in [`factories`].

use kafka_obs_api::ProcessorFactory;

pub mod batch;

/// Every processor type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ProcessorFactory>> {
    vec![Box::new(batch::BatchProcessorFactory)]
}
