//! Processors: what happens to data between receivers and exporters; and the `signals`
//! connector, which turns metrics into semantic signals.
//!
//! Each processor lives in its own module and is listed once in [`factories`]; each connector
//! once in [`connectors`].

use kafka_obs_api::{ConnectorFactory, ProcessorFactory};

pub mod batch;
pub mod signals;

/// Every processor type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ProcessorFactory>> {
    vec![Box::new(batch::BatchProcessorFactory)]
}

/// Every connector type this crate provides, one line each.
pub fn connectors() -> Vec<Box<dyn ConnectorFactory>> {
    vec![Box::new(signals::SignalsConnectorFactory)]
}
