//! Processor `resource`: applies the Collector's attribute actions to the resource of every
//! resource block (metrics, logs, traces), as the Collector's resourceprocessor.
//!
//! The one key is `attributes`, a list of actions (see [`crate::attraction`]), checked and
//! compiled once at build. Nothing is matched or filtered: every resource gets the actions.

mod config;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::ResourceConfig;

/// Makes `resource` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "resource",
        aliases: &[],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Inserts, updates, deletes, hashes, extracts or converts resource attributes",
    },
    |config| Ok(Box::new(ResourceConfig::parse(config)?)),
);
