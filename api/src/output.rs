//! Where a component sends what it produced: a fan-out over bounded queues.
//!
//! Each route is one bounded channel with a named overflow policy. `Block` routes apply
//! backpressure (pipeline inputs: a receiver slows down rather than losing data); `Drop` routes
//! never wait (exporter queues: a slow or dead exporter must not stall its siblings) and count
//! every item they drop. Data moves by value: all routes but the last get a clone.

use tokio::sync::mpsc;

use crate::data::Batch;
use crate::telemetry::Counter;

/// What a full queue does with one more batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Wait for room: backpressure to the sender.
    Block,
    /// Drop the new batch and count its items.
    Drop,
}

/// One destination of an [`Output`].
#[derive(Debug, Clone)]
pub struct Route {
    pub target: String,
    pub tx: mpsc::Sender<Batch>,
    pub policy: OverflowPolicy,
    /// Items dropped on this route because its queue was full.
    pub dropped: Counter,
}

/// Why a batch did not reach every route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the pipeline is shutting down; {items} items were not accepted")]
    Closed { items: usize },
    #[error("{items} items dropped because the queue of {target} was full")]
    Dropped { target: String, items: usize },
}

/// A component's fan-out to the next stage(s).
#[derive(Debug, Clone, Default)]
pub struct Output {
    routes: Vec<Route>,
}

impl Output {
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Sends `batch` to every route. Returns the first failure after trying all routes; a batch
    /// dropped on one route still reaches the others.
    pub async fn send(&self, batch: Batch) -> Result<(), SendError> {
        let items = batch.item_count();
        let mut result = Ok(());
        let last = self.routes.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, route) in self.routes.iter().enumerate() {
            let b = if i == last {
                batch.take()
            } else {
                batch.clone()
            };
            let Some(b) = b else { break };
            let outcome = match route.policy {
                OverflowPolicy::Block => route
                    .tx
                    .send(b)
                    .await
                    .map_err(|_| SendError::Closed { items }),
                OverflowPolicy::Drop => match route.tx.try_send(b) {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        route.dropped.add(items as u64);
                        tracing::warn!(
                            target_queue = %route.target,
                            items,
                            "queue full: dropped a batch (counted in kafka_obs_*_dropped_items_total)"
                        );
                        Err(SendError::Dropped {
                            target: route.target.clone(),
                            items,
                        })
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed { items }),
                },
            };
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::gauge_batch;

    #[tokio::test]
    async fn drop_route_never_blocks_the_others() {
        let (full_tx, _full_rx) = mpsc::channel(1);
        let (ok_tx, mut ok_rx) = mpsc::channel(16);
        let dropped = Counter::default();
        let out = Output::new(vec![
            Route {
                target: "stalled".into(),
                tx: full_tx,
                policy: OverflowPolicy::Drop,
                dropped: dropped.clone(),
            },
            Route {
                target: "live".into(),
                tx: ok_tx,
                policy: OverflowPolicy::Block,
                dropped: Counter::default(),
            },
        ]);
        for _ in 0..5 {
            let _ = out.send(gauge_batch(1, 2)).await;
        }
        let mut got = 0;
        while ok_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 5, "the live route received everything");
        assert_eq!(
            dropped.get(),
            4 * 2,
            "4 batches of 2 items dropped on the stalled route"
        );
    }

    #[tokio::test]
    async fn closed_route_reports_closed() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let out = Output::new(vec![Route {
            target: "gone".into(),
            tx,
            policy: OverflowPolicy::Block,
            dropped: Counter::default(),
        }]);
        assert_eq!(
            out.send(gauge_batch(1, 3)).await,
            Err(SendError::Closed { items: 3 })
        );
    }
}
