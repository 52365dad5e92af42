//! Processor `filter`: drops telemetry that matches OTTL conditions, as the Collector's
//! filterprocessor. `traces: {span, spanevent}`, `metrics: {metric, datapoint}` and
//! `logs: {log_record}` each take a list of conditions; a record any of them matches is
//! dropped. The older `include`/`exclude` blocks (`match_type: strict|regexp`) work for metrics
//! and logs. Dropped items are counted as filtered and their receipts settle as accepted.
//!
//! `config.rs` holds the keys and compiles them, `legacy.rs` the `include`/`exclude` matching,
//! `processor.rs` the walk that drops what matched.

mod config;
mod legacy;
mod processor;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::FilterConfig;

/// Makes `filter` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "filter",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Drops telemetry matching OTTL conditions or include/exclude rules (error_mode)",
    },
    |config| Ok(Box::new(FilterConfig::parse(config)?)),
);

#[cfg(test)]
mod conformance;
