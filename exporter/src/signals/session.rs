//! The `signals` exporter's session: the one task that owns the `StreamSignals` stream and
//! the window of unacked envelopes. It connects (taking submissions meanwhile), sends, matches
//! acks to their waiters, and when the stream breaks reconnects with backoff and resends, per
//! source in sequence order, whatever is unacked and still awaited. It remembers what was
//! accepted, so an attempt the retry layer sends again is not stored twice by an aggregator
//! whose duplicate detection restarted empty.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::Endpoint;

use kafka_obs_api::{AuthCapability, ComponentTelemetry, Counter};
use kafka_obs_net::tls::client::grpc_connector;
use kafka_obs_proto::aggregator::v1::signal_aggregator_client::SignalAggregatorClient;
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};

use super::transport::{Answer, Submit};

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const RETRY_ACK_DELAY: Duration = Duration::from_secs(1);
/// After a stream ended, how long acks still buffered on it are read before resending.
const ACK_DRAIN: Duration = Duration::from_millis(500);
/// Sources whose accepted sequences are remembered at most (a sidecar has one or a few).
const MAX_REMEMBERED_SOURCES: usize = 1024;

struct Entry {
    envelope: SignalEnvelope,
    waiters: Vec<oneshot::Sender<Answer>>,
    /// Holds one slot of the window until the entry is answered or forgotten.
    _permit: OwnedSemaphorePermit,
    /// Sent on the current stream (false: to send, or to resend after a RETRY ack).
    sent: bool,
}

impl Entry {
    fn live(&self) -> bool {
        self.waiters.iter().any(|w| !w.is_closed())
    }
}

/// How to open the stream.
pub(super) struct Dial {
    pub(super) endpoint: Endpoint,
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) server_name: Option<rustls::pki_types::ServerName<'static>>,
    pub(super) headers: MetadataMap,
    pub(super) auth: Option<AuthCapability>,
    pub(super) gzip: bool,
}

/// Accepted sequences per source as merged ranges (a source numbers consecutively, so this
/// is usually one range), the last `window` below each source's highest.
struct Accepted {
    sources: BTreeMap<String, BTreeMap<u64, u64>>,
    window: u64,
}

impl Accepted {
    fn new(window: u64) -> Self {
        Self {
            sources: BTreeMap::new(),
            window,
        }
    }

    fn contains(&self, source: &str, seq: u64) -> bool {
        self.sources.get(source).is_some_and(|ranges| {
            ranges
                .range(..=seq)
                .next_back()
                .is_some_and(|(_, end)| *end >= seq)
        })
    }

    fn insert(&mut self, source: &str, seq: u64) {
        if self.contains(source, seq) {
            return;
        }
        if !self.sources.contains_key(source) && self.sources.len() >= MAX_REMEMBERED_SOURCES {
            self.sources.pop_first();
        }
        let window = self.window;
        let ranges = self.sources.entry(source.to_string()).or_default();
        let (mut start, mut end) = (seq, seq);
        if let Some((&s, &e)) = ranges.range(..seq).next_back()
            && e.checked_add(1) == Some(seq)
        {
            ranges.remove(&s);
            start = s;
        }
        if let Some(next) = seq.checked_add(1)
            && let Some(e) = ranges.remove(&next)
        {
            end = e;
        }
        ranges.insert(start, end);
        let high = ranges.last_key_value().map_or(end, |(_, e)| *e);
        let low = high.saturating_sub(window);
        while let Some((&s, &e)) = ranges.first_key_value() {
            if s >= low {
                break;
            }
            ranges.remove(&s);
            if e >= low {
                ranges.insert(low, e);
                break;
            }
        }
    }
}

/// Owns the stream: connects, sends, matches acks to waiters, reconnects and resends.
pub(super) struct Session {
    dial: Arc<Dial>,
    submit: mpsc::Receiver<Submit>,
    /// Unacked envelopes by source, then sequence.
    pending: BTreeMap<String, BTreeMap<u64, Entry>>,
    /// Recently accepted sequences per source (start -> end ranges), so an attempt the
    /// retry layer sends again after a timeout does not resend what the aggregator already
    /// accepted: after an aggregator restart its duplicate detection is empty, and the
    /// resend would be stored twice.
    accepted: Accepted,
    id: String,
    reconnects: Counter,
    resent: Counter,
    in_flight: kafka_obs_api::Gauge,
}

type AckStream = tonic::Streaming<Ack>;

impl Dial {
    async fn connect(&self) -> Result<(mpsc::Sender<SignalEnvelope>, AckStream), tonic::Status> {
        let channel = match &self.tls {
            None => self.endpoint.connect().await,
            Some(tls) => {
                self.endpoint
                    .connect_with_connector(grpc_connector(tls, self.server_name.as_ref()))
                    .await
            }
        }
        .map_err(|e| tonic::Status::unavailable(format!("connect: {e}")))?;
        let mut client = SignalAggregatorClient::new(channel);
        if self.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let (tx, mut rx) = mpsc::channel::<SignalEnvelope>(1024);
        let outbound = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut req = tonic::Request::new(outbound);
        *req.metadata_mut() = self.headers.clone();
        crate::auth::add_grpc(self.auth.as_ref(), req.metadata_mut())
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let acks = client.stream_signals(req).await?.into_inner();
        Ok((tx, acks))
    }
}

impl Session {
    /// A session that dials with `dial` and takes envelopes from `submit`.
    pub(super) fn new(
        dial: Dial,
        submit: mpsc::Receiver<Submit>,
        max_in_flight: usize,
        telemetry: &ComponentTelemetry,
        id: &str,
    ) -> Self {
        Self {
            dial: Arc::new(dial),
            submit,
            pending: BTreeMap::new(),
            accepted: Accepted::new((max_in_flight as u64).saturating_mul(4).max(4096)),
            id: id.to_string(),
            reconnects: telemetry.counter(
                "kafka_obs_exporter_stream_reconnects_total",
                "Times a streaming exporter re-opened its stream after it broke.",
                &[],
            ),
            resent: telemetry.counter(
                "kafka_obs_exporter_stream_resent_total",
                "Unacked envelopes sent again on a new stream.",
                &[],
            ),
            in_flight: telemetry.gauge(
                "kafka_obs_exporter_stream_in_flight",
                "Envelopes sent and not yet acked.",
                &[],
            ),
        }
    }

    fn add(&mut self, s: Submit) {
        if self
            .accepted
            .contains(&s.envelope.source_id, s.envelope.sequence)
        {
            // A retried attempt: this one was accepted before the attempt timed out.
            let _ = s.done.send(Answer::Accepted);
            return;
        }
        let source = self
            .pending
            .entry(s.envelope.source_id.clone())
            .or_default();
        match source.get_mut(&s.envelope.sequence) {
            // A retry of an envelope still pending: one more waiter, same slot.
            Some(entry) => entry.waiters.push(s.done),
            None => {
                source.insert(
                    s.envelope.sequence,
                    Entry {
                        envelope: s.envelope,
                        waiters: vec![s.done],
                        _permit: s.permit,
                        sent: false,
                    },
                );
            }
        }
    }

    fn answer(&mut self, ack: &Ack) {
        let Some(source) = self.pending.get_mut(&ack.source_id) else {
            return;
        };
        let status = ack.status();
        let done: Vec<u64> = match status {
            AckStatus::Accepted if ack.cumulative => {
                source.range(..=ack.sequence).map(|(s, _)| *s).collect()
            }
            AckStatus::Accepted | AckStatus::Rejected => vec![ack.sequence],
            AckStatus::Retry => {
                if let Some(e) = source.get_mut(&ack.sequence) {
                    e.sent = false;
                }
                tracing::debug!(exporter = %self.id, source = %ack.source_id, sequence = ack.sequence, message = %ack.message, "aggregator asked to resend later");
                return;
            }
            AckStatus::Unspecified => return,
        };
        let mut accepted = Vec::new();
        for seq in done {
            if let Some(entry) = source.remove(&seq) {
                if status != AckStatus::Rejected {
                    accepted.push(seq);
                }
                for w in entry.waiters {
                    let _ = w.send(if status == AckStatus::Rejected {
                        Answer::Rejected(format!(
                            "aggregator rejected {}#{seq}: {}",
                            ack.source_id, ack.message
                        ))
                    } else {
                        Answer::Accepted
                    });
                }
            }
        }
        if source.is_empty() {
            self.pending.remove(&ack.source_id);
        }
        for seq in accepted {
            self.accepted.insert(&ack.source_id, seq);
        }
    }

    /// Drops entries nobody waits for any more (their attempt timed out; the retry layer
    /// sends them again if it still wants them), freeing their window slots.
    fn forget_abandoned(&mut self) {
        for source in self.pending.values_mut() {
            source.retain(|_, e| e.live());
        }
        self.pending.retain(|_, s| !s.is_empty());
    }

    fn count(&self) -> usize {
        self.pending.values().map(BTreeMap::len).sum()
    }

    /// Sends every entry not sent on this stream, per source in sequence order.
    async fn flush(&mut self, out: &mpsc::Sender<SignalEnvelope>, resend: bool) -> bool {
        for source in self.pending.values_mut() {
            for entry in source.values_mut() {
                if entry.sent {
                    continue;
                }
                if out.send(entry.envelope.clone()).await.is_err() {
                    return false;
                }
                if resend {
                    self.resent.inc();
                }
                entry.sent = true;
            }
        }
        true
    }

    pub(super) async fn run(mut self, stop: CancellationToken) {
        let mut backoff = RECONNECT_MIN;
        let mut first = true;
        let mut retry_tick = tokio::time::interval(RETRY_ACK_DELAY);
        loop {
            // Connect, still taking submissions meanwhile (bounded by the window).
            let stream = {
                let dial = self.dial.clone();
                let connecting = async move { dial.connect().await };
                tokio::pin!(connecting);
                let mut queued = Vec::new();
                let r = loop {
                    tokio::select! {
                        r = &mut connecting => break Some(r),
                        s = self.submit.recv() => match s {
                            Some(s) => queued.push(s),
                            None => break None,
                        },
                        () = stop.cancelled() => break None,
                    }
                };
                for s in queued {
                    self.add(s);
                }
                r
            };
            let Some(stream) = stream else { return };
            let (out, mut acks) = match stream {
                Ok(s) => s,
                Err(status) => {
                    tracing::warn!(exporter = %self.id, endpoint = %self.dial.endpoint.uri(), error = %status.message(), retry_in = ?backoff, "signal aggregator unreachable; will reconnect");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    continue;
                }
            };
            if !first {
                self.reconnects.inc();
                tracing::info!(exporter = %self.id, unacked = self.count(), "signal stream re-opened; resending unacked envelopes");
            }
            first = false;
            backoff = RECONNECT_MIN;
            self.forget_abandoned();
            for e in self.pending.values_mut().flat_map(BTreeMap::values_mut) {
                e.sent = false;
            }
            if !self.flush(&out, true).await {
                continue;
            }
            loop {
                self.in_flight.set(self.count() as i64);
                tokio::select! {
                    s = self.submit.recv() => {
                        let Some(s) = s else { return };
                        self.add(s);
                        if !self.flush(&out, false).await { break; }
                    }
                    ack = acks.message() => match ack {
                        Ok(Some(ack)) => self.answer(&ack),
                        Ok(None) => {
                            tracing::warn!(exporter = %self.id, "signal aggregator closed the stream; reconnecting");
                            break;
                        }
                        Err(status) => {
                            tracing::warn!(exporter = %self.id, code = ?status.code(), error = %status.message(), "signal stream broke; reconnecting");
                            break;
                        }
                    },
                    _ = retry_tick.tick() => {
                        self.forget_abandoned();
                        if !self.flush(&out, true).await { break; }
                    }
                    () = stop.cancelled() => return,
                }
            }
            // The stream may have ended on our side first (a send failed because the
            // aggregator finished the call): acks it sent before that are still buffered.
            // Read them, so what was accepted is not resent (and stored twice by an
            // aggregator whose duplicate detection restarted empty).
            let drain = tokio::time::sleep(ACK_DRAIN);
            tokio::pin!(drain);
            loop {
                tokio::select! {
                    ack = acks.message() => match ack {
                        Ok(Some(ack)) => self.answer(&ack),
                        Ok(None) | Err(_) => break,
                    },
                    () = &mut drain => break,
                    () = stop.cancelled() => return,
                }
            }
            for e in self.pending.values_mut().flat_map(BTreeMap::values_mut) {
                e.sent = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sequences_are_remembered_as_ranges_within_a_window() {
        let mut a = Accepted::new(10);
        for seq in [3, 1, 2, 5] {
            a.insert("pod", seq);
        }
        assert!(a.contains("pod", 1) && a.contains("pod", 3) && a.contains("pod", 5));
        assert!(!a.contains("pod", 4), "a gap stays open");
        assert!(!a.contains("other", 1));
        a.insert("pod", 4);
        assert_eq!(a.sources["pod"].len(), 1, "one range 1..=5");
        a.insert("pod", 30);
        assert!(
            !a.contains("pod", 5),
            "more than the window below the highest"
        );
        assert!(a.contains("pod", 30));
    }
}
