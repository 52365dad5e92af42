//! Processor `attributes`: applies the Collector's attribute actions to the attributes of
//! spans, log records and metric data points, as the Collector's attributesprocessor,
//! optionally only to those an `include` rule selects and an `exclude` rule does not.
//!
//! `config.rs` holds the keys and their check, `match_rules.rs` the include/exclude rules,
//! `processor.rs` the walk over a batch. The actions themselves are [`crate::attraction`],
//! shared with `resource`.

mod config;
mod match_rules;
mod processor;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::AttributesConfig;

/// Makes `attributes` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "attributes",
        aliases: &[],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Inserts, updates, deletes, hashes, extracts or converts span, log and data point attributes",
    },
    |config| Ok(Box::new(AttributesConfig::parse(config)?)),
);
