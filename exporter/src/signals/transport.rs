//! The `signals` exporter's [`Transport`]: turns a logs batch into envelopes (skipping and
//! counting records that are not signal events), hands them to the session within the window
//! of `max_in_flight`, and waits for each one's answer. Its parts are keyed by resource, so
//! one source's envelopes keep their order on one lane.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use kafka_obs_api::{Batch, ComponentTelemetry, Counter, DataKind};
use kafka_obs_proto::aggregator::v1::SignalEnvelope;
use kafka_obs_signal::otlp::logs::{from_log_record, is_signal_record};
use kafka_obs_signal::proto::to_envelope;

use crate::delivery::{DeliveryError, Outcome, Transport, skipped_counter};
use crate::resource_split::{key_of, per_resource, resource_identity};

/// How the aggregator answered one envelope.
#[derive(Debug)]
pub(super) enum Answer {
    Accepted,
    Rejected(String),
}

pub(super) struct Submit {
    pub(super) envelope: SignalEnvelope,
    pub(super) done: oneshot::Sender<Answer>,
    pub(super) permit: OwnedSemaphorePermit,
}

/// Hands envelopes to the session and waits for their acks.
pub struct SignalsTransport {
    submit: mpsc::Sender<Submit>,
    window: Arc<Semaphore>,
    not_signal: Counter,
    undecodable: Counter,
    id: String,
}

/// The envelopes of a logs batch; records that are not signals are counted and skipped.
fn envelopes(
    batch: &Batch,
    not_signal: &Counter,
    undecodable: &Counter,
    id: &str,
) -> Vec<SignalEnvelope> {
    let Batch::Logs(req) = batch else {
        not_signal.add(batch.item_count() as u64);
        return Vec::new();
    };
    let mut out = Vec::new();
    for record in req
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
    {
        if !is_signal_record(record) {
            not_signal.inc();
            continue;
        }
        match from_log_record(record)
            .map_err(|e| e.to_string())
            .and_then(|s| to_envelope(&s).map_err(|e| e.to_string()))
        {
            Ok(e) => out.push(e),
            Err(error) => {
                undecodable.inc();
                tracing::warn!(exporter = id, %error, "signal event does not decode; skipped");
            }
        }
    }
    out
}

impl SignalsTransport {
    /// A transport handing envelopes to the session behind `submit`.
    pub(super) fn new(
        submit: mpsc::Sender<Submit>,
        max_in_flight: usize,
        telemetry: &ComponentTelemetry,
        id: &str,
    ) -> Self {
        Self {
            submit,
            window: Arc::new(Semaphore::new(max_in_flight)),
            not_signal: skipped_counter(telemetry, DataKind::Logs, "not_a_signal"),
            undecodable: skipped_counter(telemetry, DataKind::Logs, "undecodable"),
            id: id.to_string(),
        }
    }

    async fn stream(&self, batch: &Batch) -> Result<Outcome, DeliveryError> {
        let envelopes = envelopes(batch, &self.not_signal, &self.undecodable, &self.id);
        let mut waiting = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let permit = self
                .window
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| DeliveryError::retryable("the signal stream is closing"))?;
            let (done, answer) = oneshot::channel();
            self.submit
                .send(Submit {
                    envelope,
                    done,
                    permit,
                })
                .await
                .map_err(|_| DeliveryError::retryable("the signal stream session ended"))?;
            waiting.push(answer);
        }
        let mut outcome = Outcome::default();
        let mut reasons = Vec::new();
        for answer in waiting {
            match answer.await {
                Ok(Answer::Accepted) => outcome.delivered += 1,
                Ok(Answer::Rejected(reason)) => {
                    outcome.rejected += 1;
                    if reasons.len() < 3 {
                        reasons.push(reason);
                    }
                }
                Err(_) => {
                    return Err(DeliveryError::retryable(
                        "the signal stream session dropped an envelope before its ack",
                    ));
                }
            }
        }
        if !reasons.is_empty() {
            outcome.reason = Some(reasons.join("; "));
        }
        Ok(outcome)
    }
}

impl Transport for SignalsTransport {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        self.stream(batch).boxed()
    }

    /// One part per resource (a signal source), keyed by the resource, so each source's
    /// envelopes stay in sequence order.
    fn keyed(&self, batch: Batch) -> Vec<(Option<u64>, Batch)> {
        per_resource(batch)
            .into_iter()
            .map(|p| {
                (
                    Some(key_of(&resource_identity(p.resource.as_ref(), &[]))),
                    p.batch,
                )
            })
            .collect()
    }
}
