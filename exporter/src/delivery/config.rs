//! The delivery keys every network exporter shares, with OpenTelemetry exporterhelper's names
//! and defaults: `timeout`, `retry_on_failure`, `sending_queue`.
//!
//! Raw serde structs (`deny_unknown_fields`, defaults in code) are resolved into
//! [`DeliverySettings`], which cannot hold an invalid value. Exporters embed the three raw
//! keys in their own raw config (no `flatten`, so unknown keys stay errors) and call
//! [`resolve`].

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    ComponentConfigError, ComponentId, OverflowPolicy, QueueSettings, SendingQueue,
};

/// `retry_on_failure` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetry {
    pub enabled: bool,
    #[serde(deserialize_with = "de::duration")]
    pub initial_interval: Duration,
    pub multiplier: f64,
    pub randomization_factor: f64,
    #[serde(deserialize_with = "de::duration")]
    pub max_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub max_elapsed_time: Duration,
}

impl Default for RawRetry {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

/// `sending_queue` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQueue {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    pub block_on_overflow: bool,
    pub storage: Option<String>,
}

impl Default for RawQueue {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            block_on_overflow: false,
            storage: None,
        }
    }
}

/// Jittered exponential backoff, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySettings {
    pub enabled: bool,
    pub initial_interval: Duration,
    pub multiplier: f64,
    /// In `[0, 1)`: each wait is the interval times a factor drawn from `1 ± this`.
    pub randomization_factor: f64,
    pub max_interval: Duration,
    /// `None`: retry forever (`max_elapsed_time: 0`).
    pub max_elapsed_time: Option<Duration>,
}

impl Default for RetrySettings {
    fn default() -> Self {
        resolve_retry(&RawRetry::default()).unwrap_or(Self {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Some(Duration::from_secs(300)),
        })
    }
}

/// The sending queue, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub enabled: bool,
    /// Concurrent senders (lanes); at least 1.
    pub num_consumers: usize,
    /// Batches the in-memory queue holds.
    pub queue_size: usize,
    pub block_on_overflow: bool,
    /// A storage extension for a queue on disk.
    pub storage: Option<ComponentId>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            block_on_overflow: false,
            storage: None,
        }
    }
}

/// Batches the in-memory queue holds in front of a disk queue: only a hand-over to the
/// writer, since a batch counts as accepted once it is on disk.
pub const DISK_FRONT_QUEUE: usize = 64;

impl QueueConfig {
    /// True with `storage`: a batch is accepted once it is on disk, so the exporter settles
    /// receipts itself (see `driver::run_on_disk`).
    pub fn is_persistent(&self) -> bool {
        self.enabled && self.storage.is_some()
    }

    /// What the runtime and validation need to know of it.
    pub fn sending_queue(&self) -> SendingQueue {
        SendingQueue {
            queue: self.runtime_queue(),
            persistent: self.is_persistent(),
            storage: self.storage.clone(),
        }
    }

    /// The runtime's input queue for this exporter.
    pub fn runtime_queue(&self) -> QueueSettings {
        if !self.enabled {
            // No queue: the pipeline waits for each batch to be taken, as the Collector does.
            return QueueSettings {
                capacity: 1,
                policy: OverflowPolicy::Block,
            };
        }
        if self.storage.is_some() {
            // The pipeline waits for the disk write (milliseconds), never for the destination:
            // nothing is dropped before it is on disk, and a full disk applies `on_full`.
            return QueueSettings {
                capacity: DISK_FRONT_QUEUE,
                policy: OverflowPolicy::Block,
            };
        }
        QueueSettings {
            capacity: self.queue_size,
            policy: if self.block_on_overflow {
                OverflowPolicy::Block
            } else {
                OverflowPolicy::Drop
            },
        }
    }

    /// Concurrent senders (1 when the queue is disabled).
    pub fn consumers(&self) -> usize {
        if self.enabled { self.num_consumers } else { 1 }
    }
}

/// Everything the delivery layer needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Per attempt.
    pub timeout: Duration,
    pub retry: RetrySettings,
    pub queue: QueueConfig,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            retry: RetrySettings::default(),
            queue: QueueConfig::default(),
        }
    }
}

fn resolve_retry(r: &RawRetry) -> Result<RetrySettings, ComponentConfigError> {
    let err = |key: &str, msg: &str| ComponentConfigError::new(key, msg).within("retry_on_failure");
    if r.enabled {
        if r.initial_interval.is_zero() {
            return Err(err(
                "initial_interval",
                "must be greater than 0, such as 5s",
            ));
        }
        if !(r.multiplier.is_finite() && r.multiplier >= 1.0) {
            return Err(err(
                "multiplier",
                "must be a number of at least 1, such as 1.5",
            ));
        }
        if !(r.randomization_factor.is_finite() && (0.0..1.0).contains(&r.randomization_factor)) {
            return Err(err(
                "randomization_factor",
                "must be at least 0 and below 1, such as 0.5",
            ));
        }
        if r.max_interval < r.initial_interval {
            return Err(err(
                "max_interval",
                "must be at least initial_interval (the waits only grow)",
            ));
        }
    }
    Ok(RetrySettings {
        enabled: r.enabled,
        initial_interval: r.initial_interval,
        multiplier: r.multiplier,
        randomization_factor: r.randomization_factor,
        max_interval: r.max_interval,
        max_elapsed_time: (!r.max_elapsed_time.is_zero()).then_some(r.max_elapsed_time),
    })
}

/// Resolves the three delivery keys; errors name the key path inside the exporter.
pub fn resolve(
    timeout: Duration,
    retry: &RawRetry,
    queue: &RawQueue,
) -> Result<DeliverySettings, ComponentConfigError> {
    if timeout.is_zero() {
        return Err(ComponentConfigError::new(
            "timeout",
            "must be greater than 0, such as 5s",
        ));
    }
    let retry = resolve_retry(retry)?;
    let qerr = |key: &str, msg: String| ComponentConfigError::new(key, msg).within("sending_queue");
    if queue.enabled {
        if queue.num_consumers == 0 {
            return Err(qerr("num_consumers", "must be at least 1".into()));
        }
        if queue.queue_size == 0 {
            return Err(qerr("queue_size", "must be at least 1".into()));
        }
    }
    let storage = match &queue.storage {
        None => None,
        Some(s) => Some(s.parse::<ComponentId>().map_err(|_| {
            qerr(
                "storage",
                format!("{s:?} is not a component id; name an extension such as file_storage"),
            )
        })?),
    };
    if storage.is_some() && !queue.enabled {
        return Err(qerr(
            "storage",
            "needs the queue enabled (sending_queue::enabled: true)".into(),
        ));
    }
    Ok(DeliverySettings {
        timeout,
        retry,
        queue: QueueConfig {
            enabled: queue.enabled,
            num_consumers: queue.num_consumers.max(1),
            queue_size: queue.queue_size.max(1),
            block_on_overflow: queue.block_on_overflow,
            storage,
        },
    })
}

/// The default per-attempt timeout, for raw configs' `Default`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_exporterhelpers() {
        let d = resolve(DEFAULT_TIMEOUT, &RawRetry::default(), &RawQueue::default()).unwrap();
        assert_eq!(d, DeliverySettings::default());
        assert_eq!(d.retry.max_elapsed_time, Some(Duration::from_secs(300)));
        assert_eq!(
            d.queue.runtime_queue(),
            QueueSettings {
                capacity: 1000,
                policy: OverflowPolicy::Drop
            }
        );
    }

    #[test]
    fn zero_elapsed_means_forever_and_bad_values_name_their_key() {
        let r = RawRetry {
            max_elapsed_time: Duration::ZERO,
            ..RawRetry::default()
        };
        let d = resolve(DEFAULT_TIMEOUT, &r, &RawQueue::default()).unwrap();
        assert_eq!(d.retry.max_elapsed_time, None);
        let r = RawRetry {
            multiplier: 0.5,
            ..RawRetry::default()
        };
        let e = resolve(DEFAULT_TIMEOUT, &r, &RawQueue::default()).unwrap_err();
        assert_eq!(e.path, "retry_on_failure::multiplier");
        let q = RawQueue {
            num_consumers: 0,
            ..RawQueue::default()
        };
        let e = resolve(DEFAULT_TIMEOUT, &RawRetry::default(), &q).unwrap_err();
        assert_eq!(e.path, "sending_queue::num_consumers");
    }

    #[test]
    fn disk_queue_keeps_a_small_front_and_disabled_queue_blocks() {
        let q = RawQueue {
            storage: Some("file_storage".into()),
            ..RawQueue::default()
        };
        let d = resolve(DEFAULT_TIMEOUT, &RawRetry::default(), &q).unwrap();
        assert_eq!(
            d.queue.runtime_queue(),
            QueueSettings {
                capacity: DISK_FRONT_QUEUE,
                policy: OverflowPolicy::Block
            }
        );
        let q = RawQueue {
            enabled: false,
            ..RawQueue::default()
        };
        let d = resolve(DEFAULT_TIMEOUT, &RawRetry::default(), &q).unwrap();
        assert_eq!(d.queue.runtime_queue().policy, OverflowPolicy::Block);
        assert_eq!(d.queue.consumers(), 1);
    }
}
