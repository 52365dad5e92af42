//! Processor `memory_limiter`: refuses data while the process uses too much memory, as the
//! Collector's memorylimiterprocessor, so receivers answer "retry later" (OTLP gRPC
//! `UNAVAILABLE`, HTTP 503) instead of the process growing until it is killed.
//!
//! Every `check_interval` a checker reads the process's live heap (bytes allocated and not
//! freed, counted by the binary's allocator: `kafka_obs_api::heap`; RSS where it is not
//! counted). Above the soft limit (`limit - spike`) every
//! batch is refused: its receipt is refused with a retryable reason and counted; below it data
//! passes untouched. Above the hard limit the Collector also forces a garbage collection; Rust
//! frees memory when it is dropped, so there is nothing to force and the hard limit only logs.
//!
//! `config.rs` holds the keys and their check, `memory.rs` reads the process's and the
//! machine's (or cgroup's) memory, `limiter.rs` the checker and the refusing step.

mod config;
mod limiter;
mod memory;

use kafka_obs_api::{DataKind, FactoryMeta, ProcessorFactory, Stability};

pub use self::config::{Limit, MemoryLimiterConfig};
pub use self::memory::{process_memory_bytes, process_rss_bytes, total_memory_bytes};

/// Makes `memory_limiter` processors.
pub static FACTORY: ProcessorFactory = ProcessorFactory::new(
    FactoryMeta {
        type_name: "memory_limiter",
        aliases: &[],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Refuses data (retryable) while the process's memory is above its limit (check_interval, limit_mib, spike_limit_mib, limit_percentage)",
    },
    |config| Ok(Box::new(MemoryLimiterConfig::parse(config)?)),
);
