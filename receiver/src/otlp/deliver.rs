//! Handing one decoded request to the pipelines, shared by the gRPC and HTTP transports.
//!
//! The answer to the sender depends only on what the pipeline did with the batch, so both
//! transports map the same [`Delivery`] onto their own status codes: accepted (OK), partially
//! refused (OK with `partial_success`), or not taken at all (`UNAVAILABLE` / 503, retryable).
//!
//! The answer waits for the pipeline's receipt: "accepted" means every exporter has the items
//! in its queue, or on disk when the queue is persistent, so a sender never hears OK for data a
//! `kill -9` could still lose.

use std::time::Duration;

use kafka_obs_api::{
    Batch, ComponentTelemetry, DataKind, Output, Parcel, Receipt, Refused, SendError, Transport,
};
use tokio_util::sync::CancellationToken;

/// How long a request waits for the pipeline to accept its items before the sender is asked to
/// retry (a stuck pipeline must not hold connections forever).
const ACCEPT_WITHIN: Duration = Duration::from_secs(30);

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
    /// Fires when the receiver stops: requests still waiting for acceptance are answered
    /// "retry" then, because the stages that would accept them drain only after the
    /// receivers have stopped.
    pub(crate) shutdown: CancellationToken,
}

impl Sink {
    pub(crate) async fn deliver(&self, batch: Batch, transport: Transport) -> Delivery {
        let items = batch.item_count();
        if items == 0 {
            // Nothing to carry; an empty request is a success for the sender.
            return Delivery::Accepted;
        }
        let (receipt, acceptance) = Receipt::new();
        match self.output.send(Parcel::new(batch, receipt)).await {
            Ok(()) => match tokio::select! {
                verdict = acceptance.wait_for(ACCEPT_WITHIN) => verdict,
                () = self.shutdown.cancelled() => Err(Refused("the collector is shutting down".into())),
            } {
                Ok(()) => {
                    self.telemetry
                        .accepted(self.kind, transport)
                        .add(items as u64);
                    Delivery::Accepted
                }
                Err(refused) => {
                    self.telemetry
                        .refused(self.kind, transport)
                        .add(items as u64);
                    tracing::warn!(
                        receiver = %self.id,
                        transport = transport.as_str(),
                        data_type = %self.kind,
                        items,
                        error = %refused,
                        "pipeline did not accept a request; asked the sender to retry"
                    );
                    Delivery::Unavailable {
                        message: refused.to_string(),
                    }
                }
            },
            Err(e @ SendError::Dropped { .. }) => {
                let rejected = match &e {
                    SendError::Dropped { items, .. } => *items,
                    SendError::Closed { items } => *items,
                };
                self.telemetry
                    .refused(self.kind, transport)
                    .add(rejected as u64);
                tracing::warn!(
                    receiver = %self.id,
                    transport = transport.as_str(),
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
                self.telemetry
                    .refused(self.kind, transport)
                    .add(items as u64);
                tracing::warn!(
                    receiver = %self.id,
                    transport = transport.as_str(),
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
    /// too large, wrong content type) as one failed item: the receiver, not the pipeline,
    /// could not take it, which the Collector counts as `failed`, not `refused`.
    pub(crate) fn refuse_request(&self, transport: Transport, status: u16, reason: &str) {
        self.telemetry.failed(self.kind, transport).inc();
        tracing::warn!(
            receiver = %self.id,
            transport = transport.as_str(),
            data_type = %self.kind,
            status,
            reason,
            "refused a request"
        );
    }
}
