//! Processor `batch`: groups items into larger batches, as the Collector's batchprocessor.
//!
//! Keys and defaults are the Collector's: `send_batch_size` (8192 items) triggers a send,
//! `timeout` (200ms) bounds how long an item waits, and `send_batch_max_size` (0 = no limit)
//! caps what one outgoing batch may hold. With `timeout: 0s` nothing waits: each incoming batch
//! is forwarded at once, only split by the max size. Items are data points, log records or spans,
//! so a batch of 8192 metrics items is 8192 points whatever the number of metrics.
//!
//! The processor is one task owning its buffer: no locks, no shared batches. When its input
//! closes it flushes everything and returns; when `ctx.shutdown` fires (the drain deadline
//! passed) it counts what it still holds as dropped and returns.
//!
//! `config.rs` holds the keys and their check, `processor.rs` the running processor: its
//! buffer, the receipts of what it joined, and its task.

mod config;
mod processor;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::{BatchConfig, DEFAULT_SEND_BATCH_SIZE, DEFAULT_TIMEOUT};
pub use self::processor::BatchProcessor;

/// Makes `batch` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "batch",
        aliases: &[],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Groups items into batches by size and time (send_batch_size, timeout, send_batch_max_size)",
    },
    |config| Ok(Box::new(BatchConfig::parse(config)?)),
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_factory_is_batch() {
        assert_eq!(super::FACTORY.meta().type_name, "batch");
    }
}
