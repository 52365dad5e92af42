//! Extensions: components outside the pipelines that serve the operator or other components
//! (health checks, disk queues for exporters, authentication for receivers and exporters).

pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;

use kafka_obs_api::ExtensionFactory;

/// Every extension type, one line each.
pub fn factories() -> Vec<Box<dyn ExtensionFactory>> {
    vec![
        Box::new(health_check::Factory),
        Box::new(file_storage::Factory),
        Box::new(bearertokenauth::Factory),
    ]
}
