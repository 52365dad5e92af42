//! Receipts: how a receiver learns that the pipeline accepted what it handed in.
//!
//! A receiver that can tell its sender "not taken, send again" (an OTLP response, a stream ack,
//! a Kafka offset commit) must answer only once the data is safe downstream: in an exporter's
//! queue, on disk when that queue is persistent, or consumed by a sink. A [`Parcel`] carries a
//! [`Receipt`] beside its batch; every stage passes the receipt on with what it derived from the
//! batch, and the place where the data becomes safe settles it. The sender waits on the
//! matching [`Acceptance`].
//!
//! A receipt is shared: clones go to every branch of a fan-out, a batch processor merges the
//! receipts of the batches it joins, and a split hands each part a clone. The sender hears
//! `Ok` once every holder accepted, and the first refusal otherwise. A holder dropped without
//! settling counts as a refusal: forgetting a receipt makes the sender resend (a duplicate at
//! worst) rather than report data as safe that was lost.
//!
//! A stage that holds data in memory for a while (the batch processor) settles receipts when it
//! takes the data unless an exporter downstream promises the disk: see [`SafeWhen`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::data::Batch;

/// When data a stage holds in memory counts as safe, decided by the runtime from the pipeline
/// graph and handed to each processor in its `BuildContext`.
///
/// Data in a batch processor's buffer is exactly as safe as data in an exporter's in-memory
/// queue (both are lost with the process, both are flushed on a clean stop), so when every
/// exporter the data reaches holds it in memory, the answer need not wait for the batch to
/// leave: the stage settles receipts when it takes the data ([`SafeWhen::Taken`]). When some
/// exporter downstream (through connectors, which pass receipts on) writes to a persistent
/// queue, the sender was promised the disk, so the stage passes receipts on
/// ([`SafeWhen::OnDisk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SafeWhen {
    /// Every exporter downstream keeps data in memory: settle receipts on taking the data.
    Taken,
    /// An exporter downstream settles receipts once the data is on disk: pass them on. The
    /// default, so a stage built without knowledge of the graph keeps the stronger promise.
    #[default]
    OnDisk,
}

/// Why the pipeline did not accept a batch; the sender should send it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

struct Shared {
    /// The first refusal, if any.
    refusal: Mutex<Option<String>>,
    done: Mutex<Option<oneshot::Sender<Result<(), Refused>>>>,
}

impl Drop for Shared {
    /// The last holder is gone: tell the sender.
    fn drop(&mut self) {
        let refusal = self.refusal.get_mut().ok().and_then(|r| r.take());
        if let Some(tx) = self.done.get_mut().ok().and_then(|d| d.take()) {
            let _ = tx.send(match refusal {
                None => Ok(()),
                Some(reason) => Err(Refused(reason)),
            });
        }
    }
}

/// A share in the acceptance of one or more batches. Settle it with [`accept`](Self::accept)
/// or [`refuse`](Self::refuse); dropping it unsettled refuses.
#[derive(Default)]
pub struct Receipt {
    shares: Vec<Arc<Shared>>,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("shares", &self.shares.len())
            .finish()
    }
}

impl Clone for Receipt {
    fn clone(&self) -> Self {
        Self {
            shares: self.shares.clone(),
        }
    }
}

impl Receipt {
    /// A receipt nobody waits for (data from a source that cannot resend, like a JMX poll).
    pub fn none() -> Self {
        Self::default()
    }

    /// A new receipt and the acceptance its sender waits on.
    pub fn new() -> (Self, Acceptance) {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            refusal: Mutex::new(None),
            done: Mutex::new(Some(tx)),
        });
        (
            Self {
                shares: vec![shared],
            },
            Acceptance { rx },
        )
    }

    /// True when nobody waits on this receipt.
    pub fn is_none(&self) -> bool {
        self.shares.is_empty()
    }

    /// Takes over `other`'s shares (a batch joined into another).
    pub fn merge(&mut self, mut other: Receipt) {
        self.shares.append(&mut other.shares);
    }

    /// This holder is done and the data is safe here.
    pub fn accept(mut self) {
        self.shares.clear();
    }

    /// This holder could not take the data; the sender hears `reason` (the first one wins).
    pub fn refuse(mut self, reason: impl Into<String>) {
        self.mark_refused(reason.into());
        self.shares.clear();
    }

    fn mark_refused(&self, reason: String) {
        for s in &self.shares {
            if let Ok(mut r) = s.refusal.lock() {
                r.get_or_insert_with(|| reason.clone());
            }
        }
    }
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if !self.shares.is_empty() {
            self.mark_refused("dropped inside the pipeline before it was accepted".into());
        }
    }
}

/// What a sender waits on: resolves once every holder of the receipt settled.
#[derive(Debug)]
pub struct Acceptance {
    rx: oneshot::Receiver<Result<(), Refused>>,
}

impl Acceptance {
    /// Waits for the verdict.
    pub async fn wait(self) -> Result<(), Refused> {
        self.rx
            .await
            .unwrap_or_else(|_| Err(Refused("the pipeline stopped".into())))
    }

    /// Waits for the verdict at most `limit`; a late verdict counts as a refusal.
    pub async fn wait_for(self, limit: Duration) -> Result<(), Refused> {
        match tokio::time::timeout(limit, self.wait()).await {
            Ok(verdict) => verdict,
            Err(_) => Err(Refused(format!(
                "the pipeline did not accept the data within {limit:?}"
            ))),
        }
    }
}

/// A batch on its way through a pipeline, with the receipt its sender waits on.
#[derive(Debug)]
pub struct Parcel {
    pub batch: Batch,
    pub receipt: Receipt,
}

impl Parcel {
    pub fn new(batch: Batch, receipt: Receipt) -> Self {
        Self { batch, receipt }
    }

    /// A batch nobody waits for.
    pub fn unreceipted(batch: Batch) -> Self {
        Self {
            batch,
            receipt: Receipt::none(),
        }
    }

    /// Settles the receipt as accepted and hands back the batch.
    pub fn accept(self) -> Batch {
        self.receipt.accept();
        self.batch
    }
}

impl From<Batch> for Parcel {
    fn from(batch: Batch) -> Self {
        Self::unreceipted(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::gauge_batch;

    #[tokio::test]
    async fn accepted_once_every_clone_accepts() {
        let (r, acc) = Receipt::new();
        let a = r.clone();
        let b = r.clone();
        r.accept();
        a.accept();
        let mut acc = Box::pin(acc.wait());
        assert!(
            futures::poll!(&mut acc).is_pending(),
            "one holder is still open"
        );
        b.accept();
        assert_eq!(acc.await, Ok(()));
    }

    #[tokio::test]
    async fn first_refusal_wins() {
        let (r, acc) = Receipt::new();
        let a = r.clone();
        a.refuse("queue of otlp full");
        r.refuse("later");
        assert_eq!(acc.wait().await, Err(Refused("queue of otlp full".into())));
    }

    #[tokio::test]
    async fn a_forgotten_receipt_refuses() {
        let (r, acc) = Receipt::new();
        drop(Parcel::new(gauge_batch(1, 1), r));
        assert!(acc.wait().await.is_err());
    }

    #[tokio::test]
    async fn merged_receipts_settle_every_sender() {
        let (r1, acc1) = Receipt::new();
        let (r2, acc2) = Receipt::new();
        let mut joined = Receipt::none();
        joined.merge(r1);
        joined.merge(r2);
        joined.accept();
        assert_eq!(acc1.wait().await, Ok(()));
        assert_eq!(acc2.wait().await, Ok(()));
    }

    #[tokio::test]
    async fn none_is_free_and_silent() {
        let r = Receipt::none();
        assert!(r.is_none());
        drop(r);
    }
}
