//! Checkpoints (fingerprint, offset per file) kept through a storage extension, so a restarted
//! receiver neither loses nor re-reads lines.
//!
//! The storage contract is a durable queue (`api::storage`), so the checkpoint store is a
//! queue whose newest record is the current state: each save pushes the whole state and acks
//! the one before, and opening reads every record left unacked and keeps the newest. A save
//! happens only after the pipeline accepted the entries up to those offsets.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use kafka_obs_api::{ComponentTelemetry, PersistentQueue, PushOutcome, Storage, StorageError};

/// Where one file stands: the first bytes that identify it and the offset read up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub fingerprint: Vec<u8>,
    pub offset: u64,
}

/// The receiver's checkpoints in a storage.
#[derive(Debug)]
pub struct CheckpointStore {
    queue: Arc<dyn PersistentQueue>,
    /// The record holding the state saved last (acked when the next one is stored).
    last: Option<u64>,
    /// Push key: increases with every save.
    sequence: u64,
}

impl CheckpointStore {
    /// Opens the receiver's queue and reads the newest state saved (blocking I/O).
    pub fn open(
        storage: &dyn Storage,
        receiver_id: &str,
        telemetry: &ComponentTelemetry,
    ) -> Result<(Self, Vec<Checkpoint>), StorageError> {
        let name = format!("filelog_checkpoints_{}", receiver_id.replace('/', "_"));
        let queue = storage.open_queue(&name, telemetry)?;
        let mut newest: Option<(u64, u64, Vec<Checkpoint>)> = None;
        while let Some(record) = queue.pop()? {
            match serde_json::from_slice::<Vec<Checkpoint>>(&record.payload) {
                Ok(state) => {
                    if let Some((index, _, _)) = &newest {
                        queue.ack(*index);
                    }
                    newest = Some((record.index, record.key, state));
                }
                Err(e) => {
                    tracing::warn!(receiver = receiver_id, error = %e, "skipping an unreadable checkpoint record");
                    queue.ack(record.index);
                }
            }
        }
        let (last, sequence, state) = match newest {
            Some((index, key, state)) => (Some(index), key, state),
            None => (None, 0, Vec::new()),
        };
        Ok((
            Self {
                queue,
                last,
                sequence,
            },
            state,
        ))
    }

    /// Stores `state` durably, then forgets the previous one (blocking I/O).
    pub fn save(&mut self, state: &[Checkpoint]) -> Result<(), StorageError> {
        let payload = serde_json::to_vec(state).map_err(|e| StorageError::Other(e.to_string()))?;
        self.sequence += 1;
        match self.queue.push(self.sequence, &payload)? {
            PushOutcome::Stored | PushOutcome::StoredAfterEvicting { .. } => {}
            PushOutcome::Full => {
                return Err(StorageError::Other(
                    "the storage is full; raise its max_size".into(),
                ));
            }
        }
        // The new record's index is the next one popped; take it so it can be acked later.
        let stored = self.queue.pop()?;
        if let Some(previous) = self.last.take() {
            self.queue.ack(previous);
        }
        self.last = stored.map(|r| r.index);
        self.queue.sync()
    }
}
