//! One batch, delivered: the per-attempt timeout and the jittered exponential backoff around a
//! [`Transport`], retrying only what the transport calls retryable.
//!
//! This is the tower "timeout + retry" stack written as one small loop, because the policy
//! needs things a generic retry layer does not have: the part of a batch still to send after a
//! partial failure, the server's throttle hint, the shutdown deadline, and counters labelled
//! with the exporter.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{Batch, ComponentTelemetry, Counter, DataKind};

use super::config::RetrySettings;

/// What one attempt achieved when it did not fail as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Items the destination accepted.
    pub delivered: u64,
    /// Items the destination refused for good (partial success, an oversized record); they are
    /// counted as failed and never retried.
    pub rejected: u64,
    /// Why, when `rejected > 0`.
    pub reason: Option<String>,
}

impl Outcome {
    pub fn all(items: u64) -> Self {
        Self {
            delivered: items,
            ..Self::default()
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// Worth another try (the destination is down, overloaded, timed out).
    #[error("{reason}")]
    Retryable {
        reason: String,
        /// The part of the batch still to send (the rest was delivered); `None`: all of it.
        remaining: Option<Batch>,
        /// What the part that did arrive achieved.
        partial: Outcome,
        /// The destination asked to wait this long.
        throttle: Option<Duration>,
    },
    /// Will never succeed (bad request, unauthorized, too large): logged, counted, dropped.
    #[error("{reason}")]
    Permanent { reason: String },
}

impl DeliveryError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable {
            reason: reason.into(),
            remaining: None,
            partial: Outcome::default(),
            throttle: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
        }
    }
}

/// A destination: sends one batch once. Everything else (timeouts, retries, queues,
/// counting) is the delivery layer's job.
pub trait Transport: Send + Sync + 'static {
    /// One attempt. The future may be dropped when the attempt times out.
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>>;

    /// The bytes every attempt at `batch` sends, made once before the first attempt so a
    /// retry repeats only the network, not the encoding and compression; `None` when this
    /// transport sends from the batch itself (then every attempt calls [`Transport::send`]).
    fn encode(&self, _batch: &Batch) -> Option<Result<Bytes, DeliveryError>> {
        None
    }

    /// One attempt at `batch` with the bytes [`Transport::encode`] made for it.
    fn send_encoded<'a>(
        &'a self,
        batch: &'a Batch,
        _encoded: &'a Bytes,
    ) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        self.send(batch)
    }

    /// Splits a batch into parts that must stay in order among themselves, each with its key
    /// (`Some`: every part with the same key is delivered in order; `None`: any order).
    fn keyed(&self, batch: Batch) -> Vec<(Option<u64>, Batch)> {
        vec![(None, batch)]
    }
}

/// The counters the delivery layer keeps for one exporter and one signal.
#[derive(Debug, Clone)]
pub struct Counters {
    pub sent: Counter,
    pub failed: Counter,
    pub retries: Counter,
    pub rejected: Counter,
}

impl Counters {
    pub fn new(telemetry: &ComponentTelemetry, kind: DataKind) -> Self {
        Self {
            sent: telemetry.sent(kind),
            failed: telemetry.send_failed(kind),
            retries: telemetry.counter(
                "kafka_obs_exporter_retries_total",
                "Attempts an exporter repeated after a retryable failure.",
                &[("data_type", kind.as_str())],
            ),
            rejected: telemetry.counter(
                "kafka_obs_exporter_rejected_items_total",
                "Items the destination refused for good (partial success, permanent errors, oversized records); also counted in send_failed.",
                &[("data_type", kind.as_str())],
            ),
        }
    }
}

/// How the delivery of one batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Delivered or given up on (both counted): done with it.
    Done,
    /// The shutdown deadline passed with items still undelivered (not counted here: a disk
    /// queue keeps them, an in-memory queue counts them as failed).
    Abandoned { items: u64 },
}

/// The backoff schedule: each wait is the current interval times a factor in
/// `1 ± randomization_factor`; the interval grows by `multiplier` up to `max_interval`.
#[derive(Debug, Clone)]
pub struct Backoff {
    settings: RetrySettings,
    interval: Duration,
    started: Instant,
}

impl Backoff {
    pub fn new(settings: &RetrySettings) -> Self {
        Self {
            settings: settings.clone(),
            interval: settings.initial_interval,
            started: Instant::now(),
        }
    }

    /// The next wait, or `None` when `max_elapsed_time` would be exceeded.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let s = &self.settings;
        let r = s.randomization_factor;
        let factor = 1.0 - r + 2.0 * r * fastrand::f64();
        let wait = self.interval.mul_f64(factor.max(0.0));
        self.interval = self.interval.mul_f64(s.multiplier).min(s.max_interval);
        match s.max_elapsed_time {
            Some(max) if self.started.elapsed() + wait > max => None,
            _ => Some(wait),
        }
    }
}

/// Delivers `batch` through `transport` with the timeout and retry policy. Everything is
/// counted here: delivered items in `sent`, refused or given-up items in `failed` (with a log
/// line naming the exporter and the reason), every repeated attempt in `retries`.
pub async fn deliver<T: Transport + ?Sized>(
    transport: &T,
    batch: Batch,
    timeout: Duration,
    retry: &RetrySettings,
    counters: &Counters,
    exporter: &str,
    shutdown: &CancellationToken,
) -> Finished {
    let mut batch = batch;
    let mut backoff = Backoff::new(retry);
    // Encoded once per (remaining) batch; every attempt at it sends these bytes.
    let mut encoded: Option<Bytes> = None;
    loop {
        let items = batch.item_count() as u64;
        if items == 0 {
            return Finished::Done;
        }
        if encoded.is_none() {
            match transport.encode(&batch) {
                Some(Ok(bytes)) => encoded = Some(bytes),
                Some(Err(e)) => {
                    let reason = e.to_string();
                    counters.failed.add(items);
                    counters.rejected.add(items);
                    tracing::error!(exporter, items, %reason, "cannot encode the batch; dropped (not retried)");
                    return Finished::Done;
                }
                None => {}
            }
        }
        let send = match &encoded {
            Some(bytes) => transport.send_encoded(&batch, bytes),
            None => transport.send(&batch),
        };
        let attempt = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Finished::Abandoned { items },
            r = tokio::time::timeout(timeout, send) => r,
        };
        let (reason, throttle) = match attempt {
            Ok(Ok(outcome)) => {
                account(&outcome, counters, exporter);
                return Finished::Done;
            }
            Ok(Err(DeliveryError::Permanent { reason })) => {
                counters.failed.add(items);
                counters.rejected.add(items);
                tracing::error!(exporter, items, %reason, "destination refused the batch for good; dropped (not retried)");
                return Finished::Done;
            }
            Ok(Err(DeliveryError::Retryable {
                reason,
                remaining,
                partial,
                throttle,
            })) => {
                account(&partial, counters, exporter);
                if let Some(rest) = remaining {
                    batch = rest;
                    encoded = None;
                }
                (reason, throttle)
            }
            Err(_) => (
                format!("attempt timed out after {timeout:?} (timeout)"),
                None,
            ),
        };
        let items = batch.item_count() as u64;
        let wait = if retry.enabled {
            backoff
                .next_wait()
                .map(|w| throttle.map_or(w, |t| t.max(w)))
        } else {
            None
        };
        let Some(wait) = wait else {
            counters.failed.add(items);
            tracing::error!(
                exporter,
                items,
                %reason,
                retry_enabled = retry.enabled,
                "giving up on the batch after retries (retry_on_failure::max_elapsed_time); dropped"
            );
            return Finished::Done;
        };
        counters.retries.inc();
        tracing::warn!(exporter, items, %reason, wait = ?wait, "export failed; will retry");
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Finished::Abandoned { items },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn account(outcome: &Outcome, counters: &Counters, exporter: &str) {
    counters.sent.add(outcome.delivered);
    if outcome.rejected > 0 {
        counters.failed.add(outcome.rejected);
        counters.rejected.add(outcome.rejected);
        tracing::warn!(
            exporter,
            rejected = outcome.rejected,
            reason = outcome.reason.as_deref().unwrap_or("not given"),
            "destination rejected part of the batch (partial success); not retried"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testutil::{Script, log_batch, telemetry};
    use std::sync::Arc;

    fn fast() -> RetrySettings {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_millis(10),
            multiplier: 2.0,
            randomization_factor: 0.5,
            max_interval: Duration::from_millis(40),
            max_elapsed_time: Some(Duration::from_secs(5)),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let s = fast();
        let mut b = Backoff::new(&s);
        let waits: Vec<_> = (0..6).map(|_| b.next_wait().unwrap()).collect();
        assert!(waits[0] >= Duration::from_millis(5) && waits[0] <= Duration::from_millis(15));
        for w in &waits[3..] {
            assert!(
                *w >= Duration::from_millis(20) && *w <= Duration::from_millis(60),
                "{w:?}"
            );
        }
    }

    /// Encodes a batch as its item count and records what each attempt sent.
    struct Encoding {
        script: Script,
        encoded: std::sync::Mutex<Vec<usize>>,
        sent: std::sync::Mutex<Vec<Bytes>>,
    }

    impl Transport for Encoding {
        fn send<'a>(&'a self, _: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
            panic!("an encoding transport is only called with its bytes")
        }

        fn encode(&self, batch: &Batch) -> Option<Result<Bytes, DeliveryError>> {
            let n = batch.item_count();
            self.encoded.lock().unwrap().push(n);
            Some(Ok(Bytes::from(n.to_string())))
        }

        fn send_encoded<'a>(
            &'a self,
            batch: &'a Batch,
            encoded: &'a Bytes,
        ) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
            self.sent.lock().unwrap().push(encoded.clone());
            self.script.send(batch)
        }
    }

    #[tokio::test]
    async fn a_batch_is_encoded_once_and_its_bytes_retried() {
        let (t, counters) = telemetry();
        let transport = Encoding {
            script: Script::new(vec![
                Err(DeliveryError::retryable("down")),
                // 2 of 5 arrived: the other 3 are a new batch, encoded anew.
                Err(DeliveryError::Retryable {
                    reason: "partly".into(),
                    remaining: Some(log_batch(3)),
                    partial: Outcome::all(2),
                    throttle: None,
                }),
                Err(DeliveryError::retryable("down again")),
            ]),
            encoded: Default::default(),
            sent: Default::default(),
        };
        let done = deliver(
            &transport,
            log_batch(5),
            Duration::from_secs(1),
            &fast(),
            &counters,
            "x",
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(done, Finished::Done);
        assert_eq!(*transport.encoded.lock().unwrap(), vec![5, 3]);
        let sent = transport.sent.lock().unwrap().clone();
        assert_eq!(
            sent,
            [&b"5"[..], b"5", b"3", b"3"]
                .map(Bytes::from_static)
                .to_vec()
        );
        // The retries of one batch share its buffer rather than copies of it.
        assert_eq!(sent[0].as_ptr(), sent[1].as_ptr());
        assert_eq!(counters.sent.get(), 5);
        assert_eq!(counters.retries.get(), 3);
        drop(t);
    }

    #[tokio::test]
    async fn retryable_errors_are_retried_and_counted() {
        let (t, counters) = telemetry();
        let script = Arc::new(Script::new(vec![
            Err(DeliveryError::retryable("down")),
            Err(DeliveryError::retryable("still down")),
        ]));
        let done = deliver(
            &*script,
            log_batch(3),
            Duration::from_secs(1),
            &fast(),
            &counters,
            "x",
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(done, Finished::Done);
        assert_eq!(script.calls(), 3);
        assert_eq!(counters.retries.get(), 2);
        assert_eq!(counters.sent.get(), 3);
        assert_eq!(counters.failed.get(), 0);
        drop(t);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (_t, counters) = telemetry();
        let script = Arc::new(Script::new(vec![Err(DeliveryError::permanent("bad"))]));
        deliver(
            &*script,
            log_batch(4),
            Duration::from_secs(1),
            &fast(),
            &counters,
            "x",
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(script.calls(), 1);
        assert_eq!((counters.failed.get(), counters.rejected.get()), (4, 4));
    }

    #[tokio::test]
    async fn gives_up_after_max_elapsed_time() {
        let (_t, counters) = telemetry();
        let script = Arc::new(Script::always(|| Err(DeliveryError::retryable("down"))));
        let mut s = fast();
        s.max_elapsed_time = Some(Duration::from_millis(100));
        deliver(
            &*script,
            log_batch(2),
            Duration::from_secs(1),
            &s,
            &counters,
            "x",
            &CancellationToken::new(),
        )
        .await;
        assert!(script.calls() >= 2);
        assert_eq!(counters.failed.get(), 2);
    }

    #[tokio::test]
    async fn remaining_part_is_what_gets_retried() {
        let (_t, counters) = telemetry();
        let script = Arc::new(Script::new(vec![Err(DeliveryError::Retryable {
            reason: "half".into(),
            remaining: Some(log_batch(2)),
            partial: Outcome::all(3),
            throttle: None,
        })]));
        deliver(
            &*script,
            log_batch(5),
            Duration::from_secs(1),
            &fast(),
            &counters,
            "x",
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(script.sizes(), vec![5, 2]);
        assert_eq!(counters.sent.get(), 5);
    }

    #[tokio::test]
    async fn shutdown_abandons_a_retrying_batch() {
        let (_t, counters) = telemetry();
        let script = Arc::new(Script::always(|| Err(DeliveryError::retryable("down"))));
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            s2.cancel();
        });
        let mut s = fast();
        s.max_elapsed_time = None;
        let r = deliver(
            &*script,
            log_batch(2),
            Duration::from_secs(1),
            &s,
            &counters,
            "x",
            &stop,
        )
        .await;
        assert_eq!(r, Finished::Abandoned { items: 2 });
    }
}
