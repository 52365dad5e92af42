//! One `StreamSignals` call: read envelopes, hand them to the pipeline in batches, ack each
//! once the pipeline's verdict is in.
//!
//! Per stream a session task reads whatever envelopes are ready (up to `max_batch_size`),
//! decodes them, asks the receiver-wide [`Dedupe`] about each, and sends the new ones as one
//! logs batch with a receipt. Sending waits when the pipeline is full, so a slow pipeline slows
//! the reading and gRPC's flow control slows the sender. The verdict is awaited in its own task
//! (at most [`BATCHES_IN_FLIGHT`] per stream), so the next batch is read meanwhile; the acks go
//! back on the stream's response, in whatever order verdicts come (the protocol allows it).
//! Everyone waiting for a sequence is answered: the stream it came on and any stream a resend
//! of it came on while it was in flight.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, Stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};

use kafka_obs_api::{
    Acceptance, Batch, ComponentTelemetry, Counter, DataKind, Gauge, Output, Parcel, Receipt,
    Transport,
};
use kafka_obs_proto::aggregator::v1::signal_aggregator_server::SignalAggregator;
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};
use kafka_obs_signal::Signal;
use kafka_obs_signal::otlp::ExportResource;
use kafka_obs_signal::otlp::logs::to_export_request;
use kafka_obs_signal::proto::from_envelope;

use super::dedupe::{Admit, Dedupe};

/// How long a batch waits for the pipeline's verdict before its envelopes are acked `RETRY`.
const ACCEPT_WITHIN: Duration = Duration::from_secs(30);
/// Batches of one stream waiting for their verdict at once.
const BATCHES_IN_FLIGHT: usize = 64;
/// Acks buffered per stream before answering waits for the sender to read them.
const ACK_BUFFER: usize = 4096;
/// After a stream's sender stopped sending (or at shutdown), how long the verdicts of what it
/// sent may take before the stream is ended without them (the sender then resends).
const SESSION_DRAIN: Duration = Duration::from_secs(5);
/// How long one ack may wait for room in a stream whose sender does not read its acks.
const ACK_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Who waits for the verdict on a sequence: the ack channel of a stream.
pub(crate) type Waiter = mpsc::Sender<Ack>;

/// The receiver's self-metrics beyond accepted/refused items.
pub(crate) struct Counters {
    duplicates: Counter,
    rejected: Counter,
    broken: Counter,
    streams: Gauge,
    sources: Gauge,
    evicted: Counter,
}

impl Counters {
    pub(crate) fn new(t: &ComponentTelemetry) -> Self {
        Self {
            duplicates: t.counter(
                "kafka_obs_receiver_duplicate_signals_total",
                "Signal envelopes that arrived again (same source and sequence) and were acked without being passed on.",
                &[],
            ),
            rejected: t.counter(
                "kafka_obs_receiver_rejected_envelopes_total",
                "Signal envelopes that did not decode, acked REJECTED.",
                &[],
            ),
            broken: t.counter(
                "kafka_obs_receiver_broken_streams_total",
                "Signal streams that ended with an error (an undecodable frame, a reset).",
                &[],
            ),
            streams: t.gauge(
                "kafka_obs_receiver_signal_streams",
                "Signal streams open now.",
                &[],
            ),
            sources: t.gauge(
                "kafka_obs_receiver_dedupe_sources",
                "Signal sources whose recent sequences the receiver remembers.",
                &[],
            ),
            evicted: t.counter(
                "kafka_obs_receiver_dedupe_evicted_sources_total",
                "Signal sources forgotten because dedupe.max_sources was reached.",
                &[],
            ),
        }
    }
}

/// What every stream of one receiver shares.
pub(crate) struct Shared {
    pub(crate) output: Output,
    pub(crate) dedupe: Mutex<Dedupe<Waiter>>,
    pub(crate) counters: Counters,
    pub(crate) telemetry: ComponentTelemetry,
    pub(crate) id: String,
    pub(crate) shutdown: CancellationToken,
    pub(crate) max_batch: usize,
}

/// The gRPC service.
pub(crate) struct Aggregator(pub(crate) Arc<Shared>);

type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl SignalAggregator for Aggregator {
    type StreamSignalsStream = AckStream;

    async fn stream_signals(
        &self,
        request: Request<Streaming<SignalEnvelope>>,
    ) -> Result<Response<AckStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel::<Ack>(ACK_BUFFER);
        let done = CancellationToken::new();
        tokio::spawn(session(self.0.clone(), inbound, tx, done.clone(), peer));
        // Acks until the session says the stream is over (pending acks go out first).
        let acks = futures::stream::unfold((rx, done), |(mut rx, done)| async move {
            tokio::select! {
                biased;
                ack = rx.recv() => ack.map(|a| (Ok(a), (rx, done))),
                () = done.cancelled() => None,
            }
        });
        Ok(Response::new(Box::pin(acks)))
    }
}

fn ack(source_id: &str, sequence: u64, status: AckStatus, message: String) -> Ack {
    Ack {
        source_id: source_id.to_string(),
        sequence,
        status: status.into(),
        message,
        cumulative: false,
    }
}

/// Sends an ack, waiting a bounded time for room; a gone or stuck stream loses it (its sender
/// resends the envelope, which is then answered from the dedupe state).
async fn answer(waiter: &Waiter, a: Ack) {
    match waiter.try_send(a) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(a)) => {
            let _ = tokio::time::timeout(ACK_SEND_TIMEOUT, waiter.send(a)).await;
        }
    }
}

/// One stream, from its first envelope to its end.
async fn session(
    shared: Arc<Shared>,
    mut inbound: Streaming<SignalEnvelope>,
    acks: Waiter,
    done: CancellationToken,
    peer: Option<std::net::SocketAddr>,
) {
    shared.counters.streams.add(1);
    tracing::debug!(receiver = %shared.id, ?peer, "signal stream opened");
    let verdicts = TaskTracker::new();
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut ended = false;
    while !ended {
        let first = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            m = inbound.message() => m,
        };
        let mut envelopes = Vec::new();
        match first {
            Ok(Some(e)) => envelopes.push(e),
            Ok(None) => break,
            Err(status) => {
                broken(&shared, &status, peer);
                break;
            }
        }
        // Whatever else is ready joins the batch.
        while envelopes.len() < shared.max_batch {
            match inbound.message().now_or_never() {
                None => break,
                Some(Ok(Some(e))) => envelopes.push(e),
                Some(Ok(None)) => {
                    ended = true;
                    break;
                }
                Some(Err(status)) => {
                    broken(&shared, &status, peer);
                    ended = true;
                    break;
                }
            }
        }
        let permit = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            p = in_flight.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if let Some((keys, batch)) = admit(&shared, envelopes, &acks).await {
            let (receipt, acceptance) = Receipt::new();
            // Waits while the pipeline is full: backpressure onto the stream. A closed
            // pipeline refuses the receipt, which the verdict reports.
            let _ = shared.output.send(Parcel::new(batch, receipt)).await;
            verdicts.spawn(verdict(shared.clone(), keys, acceptance, permit));
        }
    }
    // Let what this stream sent get its verdict and acks, for a while; then end the stream.
    verdicts.close();
    if tokio::time::timeout(SESSION_DRAIN, verdicts.wait())
        .await
        .is_err()
    {
        tracing::info!(
            receiver = %shared.id,
            ?peer,
            "ending a signal stream before every verdict arrived; its sender resends the rest"
        );
    }
    done.cancel();
    shared.counters.streams.add(-1);
    tracing::debug!(receiver = %shared.id, ?peer, "signal stream closed");
}

fn broken(shared: &Shared, status: &Status, peer: Option<std::net::SocketAddr>) {
    shared.counters.broken.inc();
    tracing::warn!(
        receiver = %shared.id,
        ?peer,
        code = ?status.code(),
        error = %status.message(),
        "signal stream broke; its sender reconnects and resends what was not acked"
    );
}

/// Decodes the envelopes and sorts them: undecodable ones are acked `REJECTED`, resends of
/// accepted ones `ACCEPTED`, resends of ones in flight wait; the new ones come back as one
/// logs batch with their `(source, sequence)` keys.
async fn admit(
    shared: &Shared,
    envelopes: Vec<SignalEnvelope>,
    acks: &Waiter,
) -> Option<(Vec<(String, u64)>, Batch)> {
    let mut now: Vec<Ack> = Vec::new();
    let mut decoded: Vec<Signal> = Vec::with_capacity(envelopes.len());
    for envelope in &envelopes {
        match from_envelope(envelope) {
            Ok(signal) => decoded.push(signal),
            Err(error) => {
                shared.counters.rejected.inc();
                shared
                    .telemetry
                    .failed(DataKind::Logs, Transport::Grpc)
                    .inc();
                tracing::warn!(
                    receiver = %shared.id,
                    source = %envelope.source_id,
                    sequence = envelope.sequence,
                    signal_type = %envelope.signal_type,
                    %error,
                    "rejected a signal envelope that does not decode"
                );
                now.push(ack(
                    &envelope.source_id,
                    envelope.sequence,
                    AckStatus::Rejected,
                    format!("the envelope does not decode: {error}"),
                ));
            }
        }
    }
    let mut fresh = Vec::with_capacity(decoded.len());
    let mut keys = Vec::with_capacity(decoded.len());
    let mut duplicates = 0u64;
    {
        let mut dedupe = shared.dedupe.lock().unwrap_or_else(|e| e.into_inner());
        for signal in decoded {
            match dedupe.admit(&signal.source_id, signal.sequence, acks.clone()) {
                Admit::New => {
                    keys.push((signal.source_id.clone(), signal.sequence));
                    fresh.push(signal);
                }
                Admit::Accepted => {
                    duplicates += 1;
                    now.push(ack(
                        &signal.source_id,
                        signal.sequence,
                        AckStatus::Accepted,
                        String::new(),
                    ));
                }
                Admit::Joined => duplicates += 1,
            }
        }
        shared.counters.sources.set(dedupe.sources() as i64);
        let evicted = dedupe.evicted;
        let counted = shared.counters.evicted.get();
        if evicted > counted {
            shared.counters.evicted.add(evicted - counted);
        }
    }
    if duplicates > 0 {
        shared.counters.duplicates.add(duplicates);
        tracing::debug!(receiver = %shared.id, duplicates, "resent signal envelopes recognised");
    }
    for a in now {
        answer(acks, a).await;
    }
    tracing::trace!(
        receiver = %shared.id,
        envelopes = envelopes.len(),
        fresh = fresh.len(),
        duplicates,
        "signal envelopes read"
    );
    if fresh.is_empty() {
        return None;
    }
    let request = to_export_request(&fresh, &ExportResource::default());
    Some((keys, Batch::Logs(request)))
}

/// Waits for the pipeline's verdict on one batch and answers everyone waiting for its
/// sequences.
async fn verdict(
    shared: Arc<Shared>,
    keys: Vec<(String, u64)>,
    acceptance: Acceptance,
    _permit: OwnedSemaphorePermit,
) {
    let result = acceptance.wait_for(ACCEPT_WITHIN).await;
    let items = keys.len() as u64;
    let (status, message) = match &result {
        Ok(()) => {
            shared
                .telemetry
                .accepted(DataKind::Logs, Transport::Grpc)
                .add(items);
            (AckStatus::Accepted, String::new())
        }
        Err(refused) => {
            shared
                .telemetry
                .refused(DataKind::Logs, Transport::Grpc)
                .add(items);
            tracing::warn!(
                receiver = %shared.id,
                items,
                error = %refused,
                "pipeline did not accept signals; asked their senders to resend"
            );
            (AckStatus::Retry, refused.to_string())
        }
    };
    let answers: Vec<(Waiter, Ack)> = {
        let mut dedupe = shared.dedupe.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .flat_map(|(source, seq)| {
                dedupe
                    .settle(source, *seq, result.is_ok())
                    .into_iter()
                    .map(|w| (w, ack(source, *seq, status, message.clone())))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for (waiter, a) in answers {
        answer(&waiter, a).await;
    }
}
