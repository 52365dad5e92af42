//! Where a component sends what it produced: a fan-out over bounded queues.
//!
//! Each route is one bounded channel with a named overflow policy. `Block` routes apply
//! backpressure (pipeline inputs: a receiver slows down rather than losing data); `Drop` routes
//! never wait (exporter queues: a slow or dead exporter must not stall its siblings) and count
//! every item they drop. Data moves by value: all routes but the last get a clone.
//!
//! Each route gets a share of the parcel's [`Receipt`]. A route into a stage that passes data on
//! (a processor, a connector) or into an exporter that settles receipts itself (a persistent
//! queue) hands its share over; a route into an ordinary exporter queue accepts its share as
//! soon as the batch is in the queue, as the Collector does, so a slow exporter never delays
//! the answer to a sender. A batch dropped by a `Drop` route is counted and accounted for; a
//! closed route refuses its share.

use tokio::sync::mpsc;

use crate::receipt::Parcel;
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
    pub tx: mpsc::Sender<Parcel>,
    pub policy: OverflowPolicy,
    /// Hand the receipt on with the batch (true), or accept it once the batch is queued.
    pub passes_receipt: bool,
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

    /// Sends a parcel (or a bare batch nobody waits for) to every route. Returns the first
    /// failure after trying all routes; a batch dropped on one route still reaches the others.
    pub async fn send(&self, parcel: impl Into<Parcel>) -> Result<(), SendError> {
        let Parcel { batch, receipt } = parcel.into();
        let items = batch.item_count();
        let mut result = Ok(());
        let last = self.routes.len().saturating_sub(1);
        let mut batch = Some(batch);
        let mut receipt = Some(receipt);
        for (i, route) in self.routes.iter().enumerate() {
            let (b, r) = if i == last {
                (batch.take(), receipt.take())
            } else {
                (batch.clone(), receipt.clone())
            };
            let (Some(b), Some(r)) = (b, r) else { break };
            // A route that does not pass the receipt on accepts it once the batch is queued.
            let (parcel, kept) = if route.passes_receipt {
                (Parcel::new(b, r), None)
            } else {
                (Parcel::unreceipted(b), Some(r))
            };
            let outcome = match route.policy {
                OverflowPolicy::Block => route
                    .tx
                    .send(parcel)
                    .await
                    .map_err(|_| SendError::Closed { items }),
                OverflowPolicy::Drop => match route.tx.try_send(parcel) {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        route.dropped.add(items as u64);
                        tracing::warn!(
                            target_queue = %route.target,
                            items,
                            "queue full: dropped a batch (counted in otelcol_exporter_enqueue_failed_*)"
                        );
                        Err(SendError::Dropped {
                            target: route.target.clone(),
                            items,
                        })
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed { items }),
                },
            };
            match (&outcome, kept) {
                // A drop under the configured `Drop` policy is the user's choice, counted above:
                // the data is accounted for, and refusing would make senders resend what the
                // healthy routes already have.
                (Ok(()) | Err(SendError::Dropped { .. }), Some(r)) => r.accept(),
                (Err(e), Some(r)) => r.refuse(e.to_string()),
                // A refused parcel that carried the receipt dropped it unsettled: a refusal.
                (_, None) => {}
            }
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
                passes_receipt: false,
                dropped: dropped.clone(),
            },
            Route {
                target: "live".into(),
                tx: ok_tx,
                policy: OverflowPolicy::Block,
                passes_receipt: false,
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
            passes_receipt: false,
            dropped: Counter::default(),
        }]);
        assert_eq!(
            out.send(gauge_batch(1, 3)).await,
            Err(SendError::Closed { items: 3 })
        );
    }

    #[tokio::test]
    async fn queued_or_dropped_by_policy_means_accepted_and_closed_means_refused() {
        let (ok_tx, _ok_rx) = mpsc::channel(4);
        let (full_tx, _full_rx) = mpsc::channel(1);
        let route = |target: &str, tx, passes_receipt| Route {
            target: target.into(),
            tx,
            policy: OverflowPolicy::Drop,
            passes_receipt,
            dropped: Counter::default(),
        };
        let out = Output::new(vec![route("ok", ok_tx.clone(), false)]);
        let (r, acc) = crate::Receipt::new();
        out.send(Parcel::new(gauge_batch(1, 1), r))
            .await
            .expect("queued");
        assert_eq!(acc.wait().await, Ok(()), "accepted once queued");

        let both = Output::new(vec![
            route("ok", ok_tx.clone(), false),
            route("full", full_tx, false),
        ]);
        let _ = both.send(gauge_batch(1, 1)).await;
        let (r, acc) = crate::Receipt::new();
        assert!(both.send(Parcel::new(gauge_batch(1, 1), r)).await.is_err());
        assert_eq!(acc.wait().await, Ok(()), "a counted drop is accounted for");

        let (gone_tx, gone_rx) = mpsc::channel(1);
        drop(gone_rx);
        let closed = Output::new(vec![
            route("ok", ok_tx, false),
            route("gone", gone_tx, false),
        ]);
        let (r, acc) = crate::Receipt::new();
        assert!(
            closed
                .send(Parcel::new(gauge_batch(1, 1), r))
                .await
                .is_err()
        );
        let refused = acc.wait().await.expect_err("one route was closed");
        assert!(refused.0.contains("shutting down"), "{refused}");
    }

    #[tokio::test]
    async fn a_passing_route_hands_the_receipt_on() {
        let (tx, mut rx) = mpsc::channel(4);
        let out = Output::new(vec![Route {
            target: "processor".into(),
            tx,
            policy: OverflowPolicy::Block,
            passes_receipt: true,
            dropped: Counter::default(),
        }]);
        let (r, acc) = crate::Receipt::new();
        out.send(Parcel::new(gauge_batch(1, 1), r))
            .await
            .expect("sent");
        let parcel = rx.recv().await.expect("a parcel");
        let mut acc = Box::pin(acc.wait());
        assert!(futures::poll!(&mut acc).is_pending(), "the stage holds it");
        parcel.accept();
        assert_eq!(acc.await, Ok(()));
    }
}
