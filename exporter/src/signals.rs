//! Exporter `signals`: the seed's "Option 1, gRPC streaming". Signal events from the logs
//! pipeline (`kafka_obs_signal::otlp::logs`) become `SignalEnvelope`s on one long-lived
//! `SignalAggregator.StreamSignals` stream; the aggregator acks them (per envelope or
//! cumulatively per source).
//!
//! Delivery is at least once. A background session owns the stream and a window of unacked
//! envelopes (`max_in_flight`, by `(source_id, sequence)`); when the stream breaks it
//! reconnects with backoff and resends, in sequence order per source, every unacked envelope
//! whose sender is still waiting. An attempt that is not fully acked within `timeout` fails as
//! retryable and the shared retry layer sends it again, so the aggregator must dedupe by
//! source and sequence (the proto says so). `REJECTED` acks are permanent (logged, counted);
//! `RETRY` acks are resent after a second. Records that are not signal events are skipped and
//! counted. A dead aggregator fills the window, then the lanes, then this exporter's own queue,
//! whose policy applies; other exporters never wait for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Endpoint;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    AuthCapability, Batch, BuildContext, BuildError, ComponentConfigError, ComponentId, Counter,
    DataKind, Exporter, ExporterConfig, ExporterFactory, ExtensionRef, FactoryMeta, QueueSettings,
    RawAuthSettings, Stability, parse_component_config,
};
use kafka_obs_proto::aggregator::v1::signal_aggregator_client::SignalAggregatorClient;
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};
use kafka_obs_signal::otlp::logs::{from_log_record, is_signal_record};
use kafka_obs_signal::proto::to_envelope;

use crate::delivery::{
    self, DEFAULT_TIMEOUT, DeliveryError, DeliveryExporter, DeliverySettings, Outcome, RawQueue,
    RawRetry, Transport, skipped_counter,
};
use crate::otlp::Compression;
use crate::resource_split::{key_of, per_resource, resource_identity};
use crate::tls::TlsConfig;

static META: FactoryMeta = FactoryMeta {
    type_name: "signals",
    aliases: &[],
    stability: Stability::Alpha,
    kinds: &[DataKind::Logs],
    description: "Streams signal events to a SignalAggregator over gRPC (acks, resend after reconnect)",
};

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const RETRY_ACK_DELAY: Duration = Duration::from_secs(1);
/// After a stream ended, how long acks still buffered on it are read before resending.
const ACK_DRAIN: Duration = Duration::from_millis(500);
/// Sources whose accepted sequences are remembered at most (a sidecar has one or a few).
const MAX_REMEMBERED_SOURCES: usize = 1024;

/// Makes `signals` exporters.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalsExporterFactory;

impl ExporterFactory for SignalsExporterFactory {
    fn meta(&self) -> &FactoryMeta {
        &META
    }

    fn validate(
        &self,
        config: &serde_yaml_ng::Value,
    ) -> Result<Box<dyn ExporterConfig>, ComponentConfigError> {
        Ok(Box::new(SignalsConfig::parse(config)?))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    endpoint: Option<String>,
    tls: TlsConfig,
    #[serde(deserialize_with = "kafka_obs_api::config::de::text_map")]
    headers: BTreeMap<String, String>,
    auth: Option<RawAuthSettings>,
    compression: Compression,
    max_in_flight: usize,
    #[serde(deserialize_with = "de::duration")]
    timeout: Duration,
    retry_on_failure: RawRetry,
    sending_queue: RawQueue,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            tls: TlsConfig::default(),
            headers: BTreeMap::new(),
            auth: None,
            compression: Compression::Gzip,
            max_in_flight: 1000,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RawRetry::default(),
            sending_queue: RawQueue::default(),
        }
    }
}

/// The validated configuration of a `signals` exporter.
#[derive(Debug, Clone)]
pub struct SignalsConfig {
    pub uri: String,
    pub tls: TlsConfig,
    pub headers: MetadataMap,
    /// `auth::authenticator`: the extension whose headers open every stream.
    pub auth: Option<ComponentId>,
    pub compression: Compression,
    /// Envelopes sent and not yet acked, at most.
    pub max_in_flight: usize,
    pub delivery: DeliverySettings,
}

impl SignalsConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let endpoint = raw.endpoint.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
            ComponentConfigError::new(
                "endpoint",
                "required: the SignalAggregator's gRPC address, such as aggregator.example.com:50051",
            )
        })?;
        raw.tls.validate()?;
        let e = endpoint.trim();
        // `grpc://` is how the seed writes AGGREGATOR_URL: plaintext gRPC, like `http://`.
        let (plain, rest) = match (
            e.strip_prefix("http://")
                .or_else(|| e.strip_prefix("grpc://")),
            e.strip_prefix("https://")
                .or_else(|| e.strip_prefix("grpcs://")),
        ) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => (raw.tls.insecure, e),
        };
        if !rest.contains(':') || rest.trim_end_matches('/').contains('/') {
            return Err(ComponentConfigError::new(
                "endpoint",
                format!("{endpoint:?} is not host:port, such as aggregator.example.com:50051"),
            ));
        }
        let uri = format!(
            "{}://{}",
            if plain || raw.tls.insecure {
                "http"
            } else {
                "https"
            },
            rest.trim_end_matches('/')
        );
        if raw.max_in_flight == 0 {
            return Err(ComponentConfigError::new(
                "max_in_flight",
                "must be at least 1",
            ));
        }
        let mut headers = MetadataMap::new();
        for (k, v) in &raw.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid gRPC header name")
                    .within("headers")
            })?;
            let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid header value").within("headers")
            })?;
            headers.insert(key, value);
        }
        let delivery = delivery::resolve(raw.timeout, &raw.retry_on_failure, &raw.sending_queue)?;
        Ok(Self {
            uri,
            tls: raw.tls,
            headers,
            auth: crate::auth::parse(raw.auth.as_ref())?,
            compression: raw.compression,
            max_in_flight: raw.max_in_flight,
            delivery,
        })
    }

    /// The transport and the session future it needs running beside it.
    pub fn transport(
        &self,
        telemetry: &kafka_obs_api::ComponentTelemetry,
        id: &str,
        stop: CancellationToken,
    ) -> Result<(SignalsTransport, BoxFuture<'static, ()>), BuildError> {
        self.transport_with_auth(telemetry, id, stop, None)
    }

    /// [`SignalsConfig::transport`] with an authenticator whose headers open every stream.
    pub fn transport_with_auth(
        &self,
        telemetry: &kafka_obs_api::ComponentTelemetry,
        id: &str,
        stop: CancellationToken,
        auth: Option<AuthCapability>,
    ) -> Result<(SignalsTransport, BoxFuture<'static, ()>), BuildError> {
        let endpoint = Endpoint::from_shared(self.uri.clone())
            .map_err(|e| BuildError::Other(format!("endpoint {}: {e}", self.uri)))?
            .connect_timeout(self.delivery.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        let tls = if self.uri.starts_with("https://") {
            Some(
                self.tls
                    .client_config(&[])
                    .map_err(|e| BuildError::Other(e.to_string()))?,
            )
        } else {
            None
        };
        let (submit_tx, submit_rx) = mpsc::channel(self.max_in_flight.min(4096));
        let session = Session {
            dial: Arc::new(Dial {
                endpoint,
                tls,
                server_name: self
                    .tls
                    .server_name()
                    .map_err(|e| BuildError::Other(e.to_string()))?,
                headers: self.headers.clone(),
                auth,
                gzip: self.compression == Compression::Gzip,
            }),
            submit: submit_rx,
            pending: BTreeMap::new(),
            accepted: Accepted::new((self.max_in_flight as u64).saturating_mul(4).max(4096)),
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
        };
        let transport = SignalsTransport {
            submit: submit_tx,
            window: Arc::new(Semaphore::new(self.max_in_flight)),
            not_signal: skipped_counter(telemetry, DataKind::Logs, "not_a_signal"),
            undecodable: skipped_counter(telemetry, DataKind::Logs, "undecodable"),
            id: id.to_string(),
        };
        Ok((transport, session.run(stop).boxed()))
    }
}

impl ExporterConfig for SignalsConfig {
    fn queue(&self) -> QueueSettings {
        self.delivery.queue.runtime_queue()
    }

    fn settles_receipts(&self) -> bool {
        self.delivery.queue.is_persistent()
    }

    fn extension_refs(&self) -> Vec<ExtensionRef> {
        crate::auth::extension_refs(self.auth.as_ref(), &self.delivery)
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        let stop = CancellationToken::new();
        let auth = crate::auth::client(self.auth.as_ref(), ctx)?;
        let (transport, session) =
            self.transport_with_auth(&ctx.telemetry, &ctx.id.to_string(), stop.clone(), auth)?;
        Ok(Box::new(
            DeliveryExporter::build(transport, self.delivery.clone(), ctx)?
                .with_background(session, stop),
        ))
    }
}

/// How the aggregator answered one envelope.
#[derive(Debug)]
enum Answer {
    Accepted,
    Rejected(String),
}

struct Submit {
    envelope: SignalEnvelope,
    done: oneshot::Sender<Answer>,
    permit: OwnedSemaphorePermit,
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
struct Dial {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    server_name: Option<rustls::pki_types::ServerName<'static>>,
    headers: MetadataMap,
    auth: Option<AuthCapability>,
    gzip: bool,
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
struct Session {
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
                let builder = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_only();
                let builder = match &self.server_name {
                    Some(n) => builder.with_server_name_resolver(
                        hyper_rustls::FixedServerNameResolver::new(n.clone()),
                    ),
                    None => builder,
                };
                self.endpoint
                    .connect_with_connector(builder.enable_http2().build())
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

    async fn run(mut self, stop: CancellationToken) {
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

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let c = SignalsConfig::parse(&yaml(include_str!("../testdata/signals.yaml"))).unwrap();
        assert_eq!(c.uri, "http://127.0.0.1:50051");
        assert_eq!(c.max_in_flight, 500);
        assert_eq!(c.compression, Compression::None);
        let d = SignalsConfig::parse(&yaml("endpoint: agg:50051")).unwrap();
        assert_eq!(d.uri, "https://agg:50051");
        assert_eq!(d.max_in_flight, 1000);
        let seed = SignalsConfig::parse(&yaml("endpoint: grpc://central:50051")).unwrap();
        assert_eq!(
            seed.uri, "http://central:50051",
            "the seed's AGGREGATOR_URL form"
        );
        assert_eq!(d.delivery, DeliverySettings::default());
        assert_eq!(
            SignalsConfig::parse(&yaml("max_in_flight: 5"))
                .unwrap_err()
                .path,
            "endpoint"
        );
    }

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
