//! Handing one decoded request to the pipelines, shared by the gRPC and HTTP transports.
//!
//! The answer to the sender depends only on what the pipeline did with the batch, so both
//! transports map the same [`Delivery`] onto their own status codes: accepted (OK), partially
//! refused (OK with `partial_success`), or not taken at all (`UNAVAILABLE` / 503, retryable).

use kafka_obs_api::{Batch, ComponentTelemetry, DataKind, Output, SendError};

/// What became of one request's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    Accepted,
    /// Some pipelines did not take the items; the sender is told how many and why.
    Partial {
        rejected: usize,
        message: String,
    },
    /// Nothing was taken (the pipeline is shutting down); the sender should retry later.
    Unavailable {
        message: String,
    },
}

/// Where the items of one signal go, and where they are counted.
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    pub(crate) kind: DataKind,
    pub(crate) output: Output,
    pub(crate) telemetry: ComponentTelemetry,
    pub(crate) id: String,
}

impl Sink {
    pub(crate) async fn deliver(&self, batch: Batch, transport: &'static str) -> Delivery {
        let items = batch.item_count();
        if items == 0 {
            // Nothing to carry; an empty request is a success for the sender.
            return Delivery::Accepted;
        }
        match self.output.send(batch).await {
            Ok(()) => {
                self.telemetry.accepted(self.kind).add(items as u64);
                Delivery::Accepted
            }
            Err(e @ SendError::Dropped { .. }) => {
                let rejected = match &e {
                    SendError::Dropped { items, .. } => *items,
                    SendError::Closed { items } => *items,
                };
                self.telemetry.refused(self.kind).add(rejected as u64);
                tracing::warn!(
                    receiver = %self.id,
                    transport,
                    data_type = %self.kind,
                    rejected,
                    error = %e,
                    "pipeline refused part of a request; told the sender through partial_success"
                );
                Delivery::Partial {
                    rejected,
                    message: e.to_string(),
                }
            }
            Err(e @ SendError::Closed { .. }) => {
                self.telemetry.refused(self.kind).add(items as u64);
                tracing::warn!(
                    receiver = %self.id,
                    transport,
                    data_type = %self.kind,
                    items,
                    error = %e,
                    "pipeline cannot take data; asked the sender to retry"
                );
                Delivery::Unavailable {
                    message: e.to_string(),
                }
            }
        }
    }

    /// Counts a request that was refused before its items could be counted (undecodable,
    /// too large, wrong content type) as one refused item.
    pub(crate) fn refuse_request(&self, transport: &'static str, status: u16, reason: &str) {
        self.telemetry.refused(self.kind).inc();
        tracing::warn!(
            receiver = %self.id,
            transport,
            data_type = %self.kind,
            status,
            reason,
            "refused a request"
        );
    }
}
