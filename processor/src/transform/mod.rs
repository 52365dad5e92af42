//! Processor `transform`: changes telemetry with OTTL statements, as the Collector's
//! transformprocessor. `trace_statements`, `metric_statements` and `log_statements` each take
//! groups (`- context: datapoint` with `statements:` and optional `conditions:`) or plain
//! statement strings whose context is inferred from their path prefixes (`log.body`).
//!
//! Statements are compiled once when the config is parsed (`config.rs`); `processor.rs` runs
//! them on every record of their context in each batch, under `error_mode`.

mod config;
mod processor;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::{StatementGroup, TransformConfig};

/// Makes `transform` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "transform",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Changes telemetry with OTTL statements (trace_statements, metric_statements, log_statements, error_mode)",
    },
    |config| Ok(Box::new(TransformConfig::parse(config)?)),
);

#[cfg(test)]
mod conformance;
