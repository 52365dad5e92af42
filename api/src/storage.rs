//! The storage capability: what a storage extension (`file_storage`) offers exporters that
//! want a queue on disk (`sending_queue.storage: file_storage`).
//!
//! The contract is queue-shaped rather than key-value, because the one user is the exporters'
//! persistent sending queue and the guarantees it needs (append durably, read in append order,
//! acknowledge out of order, recover past damage) are cheapest to provide inside the storage.
//! Calls block on file I/O: callers run them on a blocking thread (`spawn_blocking`).

use std::fmt::Debug;
use std::sync::Arc;

use crate::telemetry::ComponentTelemetry;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("storage I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// What happened to one pushed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Written (and synced as the storage's fsync policy says): it will be delivered.
    Stored,
    /// Written after the oldest `evicted` records were discarded to make room
    /// (`on_full: drop_oldest`).
    StoredAfterEvicting { evicted: u64 },
    /// Not written: the cap is reached (`on_full: drop_newest`, or nothing could be evicted).
    Full,
}

/// One record read from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    /// Position in the queue; pass it to [`PersistentQueue::ack`] once done with the record.
    pub index: u64,
    /// The ordering key given at push time.
    pub key: u64,
    pub payload: Vec<u8>,
}

/// One named, durable FIFO queue inside a storage.
pub trait PersistentQueue: Send + Sync + Debug {
    /// Appends a record. Returns once it is durable per the storage's policy.
    fn push(&self, key: u64, payload: &[u8]) -> Result<PushOutcome, StorageError>;
    /// The next record not yet handed out since open, skipping (and reporting) damaged ones.
    fn pop(&self) -> Result<Option<QueuedRecord>, StorageError>;
    /// `index` is done (delivered or given up on); it will not be handed out after a restart.
    /// Acks may come in any order.
    fn ack(&self, index: u64);
    /// Records pushed and not yet acked.
    fn pending(&self) -> u64;
    /// Blocks until the storage said `push` would stop being `Full` or `timeout` passes
    /// (`on_full: block`). Returns true when there is room.
    fn wait_for_room(&self, timeout: std::time::Duration) -> bool;
    /// Persists the ack position (also done periodically by the storage itself).
    fn sync(&self) -> Result<(), StorageError>;
}

/// A storage extension's capability: opens named queues.
pub trait Storage: Send + Sync + Debug {
    /// Opens (creating, or recovering after a crash) the queue `name`. `telemetry` labels the
    /// queue's own counters (evictions, damaged records) with the component that uses it.
    fn open_queue(
        &self,
        name: &str,
        telemetry: &ComponentTelemetry,
    ) -> Result<Arc<dyn PersistentQueue>, StorageError>;
    /// `true` when a full queue should block the writer rather than drop (`on_full: block`).
    fn blocks_when_full(&self) -> bool;
}

/// What a storage extension puts into the [`crate::Host`]; look it up with
/// `host.get::<StorageCapability>(&id)`.
#[derive(Debug, Clone)]
pub struct StorageCapability(pub Arc<dyn Storage>);
