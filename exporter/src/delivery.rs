//! The delivery layer every network exporter shares, written once: per-attempt `timeout`,
//! `retry_on_failure` (jittered exponential backoff, only for retryable errors) and
//! `sending_queue` (bounded, `num_consumers` lanes, in memory or on disk through a storage
//! extension), with every retry, refusal and drop counted in self-metrics.
//!
//! An exporter implements [`Transport`] (send one batch once, say whether a failure is
//! retryable) and wraps it in a [`DeliveryExporter`]; nothing else about queues or retries
//! lives in the exporters.

mod config;
mod driver;
mod retry;

pub use config::{
    DEFAULT_TIMEOUT, DISK_FRONT_QUEUE, DeliverySettings, QueueConfig, RawQueue, RawRetry,
    RetrySettings, resolve,
};
pub use driver::{DeliveryExporter, decode_record, encode_record, skipped_counter};
pub use retry::{Backoff, Counters, DeliveryError, Finished, Outcome, Transport, deliver};

#[cfg(test)]
pub(crate) mod testutil;
