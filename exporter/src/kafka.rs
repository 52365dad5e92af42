//! Exporter `kafka`: the seed's "Option 2, Kafka monitoring Kafka". Batches become records
//! on a topic per signal (logs, which carry the signal events, default to
//! `__kafka-obs-signals`), encoded `otlp_proto` or `otlp_json` as OpenTelemetry's
//! kafkareceiver reads them, one record per resource keyed by its source so a source's records
//! land on one partition in order. The Collector's kafkaexporter keys mean what they mean there:
//! a top-level `topic`/`encoding` fills in every signal without its own, `protocol_version` is
//! librdkafka's fallback (docs/components/exporter-kafka.md has the whole mapping).
//!
//! The client is `rdkafka` (librdkafka, built from source without cmake), with
//! `required_acks: all` and idempotence on by default: librdkafka's own retries then keep
//! order and never duplicate within a partition. A batch is split between the sending queue's
//! lanes by record key (every source of one lane goes in one attempt, so a source stays on one
//! lane and in order); an attempt enqueues all its records at once and then awaits their
//! delivery reports together, so librdkafka packs them into a few produce requests instead of
//! one round trip per source. Records that failed for a transient reason are retried by the
//! shared retry layer (only those), a record that is too large or refused for good is dropped
//! and counted, never retried. The producer is created on the first send, inside the runtime,
//! so `build` starts no librdkafka threads.

mod encode;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfigError, DataKind, Exporter, ExporterFactory,
    FactoryMeta, Stability, parse_component_config,
};
use kafka_obs_api::{NetworkExporterConfig, SendingQueue};

pub use encode::{KeyBy, Keying, RECORD_OVERHEAD, Record, cluster_of, record_key, records};
use kafka_obs_kafka_client::{
    self as client, Auth, DEFAULT_BROKER, DEFAULT_CLIENT_ID, Encoding, check_brokers, check_topic,
    default_topic,
};

use crate::delivery::{
    self, DEFAULT_TIMEOUT, DeliveryError, DeliveryExporter, DeliverySettings, Outcome, RawQueue,
    RawRetry, Transport,
};
use crate::resource_split::{key_of, per_resource};

/// Makes `kafka` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "kafka",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Produces OTLP (protobuf or JSON) to Kafka topics, keyed by source, acks=all + idempotence",
    },
    |config| Ok(Box::new(KafkaExporterConfig::parse(config)?)),
);

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSignal {
    topic: Option<String>,
    encoding: Option<Encoding>,
    /// `source` or `cluster` (logs only); default `cluster` for logs, `source` otherwise.
    key_by: Option<KeyBy>,
}

/// `required_acks`: `all` (or -1), 1 or 0, as a number or a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawAcks {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProducer {
    max_message_bytes: usize,
    required_acks: RawAcks,
    compression: String,
    flush_max_messages: usize,
    #[serde(deserialize_with = "de::duration")]
    linger: Duration,
}

impl Default for RawProducer {
    fn default() -> Self {
        Self {
            max_message_bytes: 1_000_000,
            required_acks: RawAcks::Text("all".into()),
            compression: "none".into(),
            flush_max_messages: 0,
            linger: Duration::from_millis(5),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    brokers: Vec<String>,
    client_id: String,
    /// The Collector's `protocol_version` (librdkafka's fallback; it negotiates otherwise).
    protocol_version: Option<String>,
    /// The Collector's older top-level keys: every signal without its own `topic`/`encoding`.
    topic: Option<String>,
    encoding: Option<Encoding>,
    logs: RawSignal,
    metrics: RawSignal,
    traces: RawSignal,
    partition_logs_by_resource_attributes: bool,
    partition_metrics_by_resource_attributes: bool,
    partition_traces_by_resource_attributes: bool,
    producer: RawProducer,
    auth: Auth,
    #[serde(deserialize_with = "de::duration")]
    timeout: Duration,
    retry_on_failure: RawRetry,
    sending_queue: RawQueue,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            brokers: vec![DEFAULT_BROKER.into()],
            client_id: DEFAULT_CLIENT_ID.into(),
            protocol_version: None,
            topic: None,
            encoding: None,
            logs: RawSignal::default(),
            metrics: RawSignal::default(),
            traces: RawSignal::default(),
            partition_logs_by_resource_attributes: false,
            partition_metrics_by_resource_attributes: false,
            partition_traces_by_resource_attributes: false,
            producer: RawProducer::default(),
            auth: Auth::default(),
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RawRetry::default(),
            sending_queue: RawQueue::default(),
        }
    }
}

/// Where and how one signal is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalTarget {
    pub topic: String,
    pub encoding: Encoding,
    pub keying: Keying,
}

/// The validated configuration of a `kafka` exporter.
#[derive(Debug, Clone)]
pub struct KafkaExporterConfig {
    /// metrics, logs, traces.
    pub targets: [SignalTarget; 3],
    pub max_message_bytes: usize,
    /// librdkafka properties (bootstrap servers, acks, idempotence, compression, auth).
    pub properties: Vec<(String, String)>,
    pub delivery: DeliverySettings,
}

/// One signal's target: its own `topic`/`encoding`, else the top-level ones (as in the
/// Collector), else the defaults.
fn target(
    raw: &RawSignal,
    shared: &RawConfig,
    kind: DataKind,
    by_attrs: bool,
) -> Result<SignalTarget, ComponentConfigError> {
    let key = kind.as_str();
    let topic = match (&raw.topic, &shared.topic) {
        (Some(own), _) => {
            check_topic(own, "topic").map_err(|e| e.within(key))?;
            own.clone()
        }
        (None, Some(top)) => {
            check_topic(top, "topic")?;
            top.clone()
        }
        (None, None) => default_topic(kind).to_string(),
    };
    let key_by = match (raw.key_by, key) {
        (Some(KeyBy::Cluster), "logs") | (None, "logs") => KeyBy::Cluster,
        (Some(KeyBy::Cluster), _) => {
            return Err(ComponentConfigError::new(
                "key_by",
                "only logs carry signal events with a cluster; use `source` here",
            )
            .within(key));
        }
        (Some(KeyBy::Source), _) | (None, _) => KeyBy::Source,
    };
    Ok(SignalTarget {
        topic,
        encoding: raw.encoding.or(shared.encoding).unwrap_or_default(),
        keying: Keying {
            by_resource_attributes: by_attrs,
            key_by,
        },
    })
}

impl KafkaExporterConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        check_brokers(&raw.brokers)?;
        let targets = [
            target(
                &raw.metrics,
                &raw,
                DataKind::Metrics,
                raw.partition_metrics_by_resource_attributes,
            )?,
            target(
                &raw.logs,
                &raw,
                DataKind::Logs,
                raw.partition_logs_by_resource_attributes,
            )?,
            target(
                &raw.traces,
                &raw,
                DataKind::Traces,
                raw.partition_traces_by_resource_attributes,
            )?,
        ];
        let p = &raw.producer;
        let perr = |k: &str, m: String| ComponentConfigError::new(k, m).within("producer");
        if p.max_message_bytes < 1024 {
            return Err(perr(
                "max_message_bytes",
                "must be at least 1024 (the broker's default is 1000000)".into(),
            ));
        }
        let acks = match &p.required_acks {
            RawAcks::Number(-1) => "all",
            RawAcks::Number(0) => "0",
            RawAcks::Number(1) => "1",
            RawAcks::Text(t) if t == "all" || t == "-1" => "all",
            RawAcks::Text(t) if t == "1" => "1",
            RawAcks::Text(t) if t == "0" => "0",
            other => {
                return Err(perr(
                    "required_acks",
                    format!("{other:?} is not one of all (-1), 1, 0"),
                ));
            }
        };
        let compression = p.compression.as_str();
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&compression) {
            return Err(perr(
                "compression",
                format!("{compression:?} is not one of none, gzip, snappy, lz4, zstd"),
            ));
        }
        let delivery = delivery::resolve(raw.timeout, &raw.retry_on_failure, &raw.sending_queue)?;
        let mut props: Vec<(String, String)> = vec![
            ("bootstrap.servers".into(), raw.brokers.join(",")),
            ("client.id".into(), raw.client_id.clone()),
            ("acks".into(), acks.into()),
            // Idempotence keeps order and prevents duplicates across librdkafka's own
            // retries; it requires acks=all.
            ("enable.idempotence".into(), (acks == "all").to_string()),
            ("compression.type".into(), compression.into()),
            (
                "message.max.bytes".into(),
                (p.max_message_bytes + RECORD_OVERHEAD).to_string(),
            ),
            // librdkafka gives up on a record just before our attempt ends, so its report
            // arrives (and a stuck producer can be replaced) and a retry never races an old
            // copy still queued inside the client.
            (
                "message.timeout.ms".into(),
                (delivery.timeout.as_millis() * 9 / 10).max(1).to_string(),
            ),
            ("linger.ms".into(), p.linger.as_millis().to_string()),
        ];
        if p.flush_max_messages > 0 {
            props.push((
                "batch.num.messages".into(),
                p.flush_max_messages.to_string(),
            ));
        }
        if let Some(version) = &raw.protocol_version {
            props.extend(client::protocol_version_properties(version)?);
        }
        client::auth::properties(&raw.auth, &mut props)?;
        Ok(Self {
            targets,
            max_message_bytes: p.max_message_bytes,
            properties: props,
            delivery,
        })
    }

    /// The transport alone (no producer yet), for tests and benchmarks.
    pub fn transport(&self) -> KafkaTransport {
        KafkaTransport {
            properties: self.properties.clone(),
            producer: Mutex::new(None),
            events: ClientEvents::default(),
            targets: self.targets.clone(),
            max_message_bytes: self.max_message_bytes,
            lanes: self.delivery.queue.consumers().max(1) as u64,
        }
    }
}

impl NetworkExporterConfig for KafkaExporterConfig {
    fn sending_queue(&self) -> SendingQueue {
        self.delivery.queue.sending_queue()
    }

    fn build_exporter(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(DeliveryExporter::build(
            self.transport(),
            self.delivery.clone(),
            ctx,
        )?))
    }
}

/// What librdkafka says about its connections. A TLS handshake or SASL failure never reaches
/// a delivery report (those only say that a record timed out); it comes through the client
/// context. This one logs it through `tracing` and keeps the last one, so a failed attempt can
/// say why ("SSL handshake failed: ... certificate verify failed").
#[derive(Clone, Default)]
pub struct ClientEvents {
    last_error: Arc<Mutex<Option<String>>>,
}

impl ClientEvents {
    /// The last client error since the last delivered record, if any.
    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn clear(&self) {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    fn remember(&self, reason: &str, generic: bool) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        // "1/1 brokers are down" follows the error that says why; keep the why.
        if !(generic && last.is_some()) {
            *last = Some(reason.to_string());
        }
    }
}

impl ClientContext for ClientEvents {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // A broken connection (a TLS server that refused our missing client certificate
        // after the handshake, say) is only a FAIL log line, never an error callback.
        if facility == "FAIL" {
            self.remember(message, false);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, message)
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, message),
            RDKafkaLogLevel::Notice => tracing::info!(target: "librdkafka", facility, message),
            RDKafkaLogLevel::Info => tracing::debug!(target: "librdkafka", facility, message),
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, message),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, "Kafka client error");
        let generic = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        self.remember(reason, generic);
    }
}

/// Produces the records of one batch and waits for their delivery reports.
pub struct KafkaTransport {
    properties: Vec<(String, String)>,
    /// Created on first use; replaced after a fatal error (an idempotent producer cannot
    /// continue after one, e.g. when a restarted broker forgot its producer id).
    producer: Mutex<Option<Arc<FutureProducer<ClientEvents>>>>,
    events: ClientEvents,
    targets: [SignalTarget; 3],
    max_message_bytes: usize,
    /// The sending queue's lanes (`num_consumers`): a batch becomes at most this many parts.
    lanes: u64,
}

fn target_index(kind: DataKind) -> usize {
    match kind {
        DataKind::Metrics => 0,
        DataKind::Logs => 1,
        DataKind::Traces => 2,
    }
}

/// Errors that no retry can fix.
fn is_permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::SaslAuthenticationFailed
        )
    )
}

impl KafkaTransport {
    fn producer(&self) -> Result<Arc<FutureProducer<ClientEvents>>, DeliveryError> {
        let mut slot = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let mut cc = ClientConfig::new();
        for (k, v) in &self.properties {
            cc.set(k, v);
        }
        // Down to the FAIL lines that say why a connection closed (see `ClientEvents`).
        cc.set_log_level(RDKafkaLogLevel::Info);
        let p: Arc<FutureProducer<ClientEvents>> =
            Arc::new(cc.create_with_context(self.events.clone()).map_err(|e| {
                DeliveryError::permanent(format!("cannot create the Kafka producer: {e}"))
            })?);
        *slot = Some(p.clone());
        Ok(p)
    }

    /// Drops a producer that hit a fatal error or timed out a whole attempt, so the next
    /// attempt starts a fresh one. An idempotent producer cannot continue after a fatal
    /// error, and one whose broker lost its state (a restarted in-memory broker, a new
    /// cluster behind the same address) can wait on its old producer id forever.
    fn reset_if_stuck(&self, producer: &Arc<FutureProducer<ClientEvents>>, timed_out: bool) {
        let client: &Client<_> = producer.client();
        let fatal = client.fatal_error();
        if fatal.is_none() && !timed_out {
            return;
        }
        match &fatal {
            Some((code, reason)) => {
                tracing::warn!(?code, %reason, "Kafka producer hit a fatal error; starting a new one");
            }
            None => tracing::warn!("Kafka records timed out; starting a new producer"),
        }
        let old = {
            let mut slot = self.producer.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_some_and(|p| Arc::ptr_eq(p, producer)) {
                slot.take()
            } else {
                None
            }
        };
        // Destroying a client may wait on its threads: not on a runtime worker.
        if let Some(old) = old {
            tokio::task::spawn_blocking(move || drop(old));
        }
    }

    /// Waits until everything produced so far is delivered (benchmarks, shutdown).
    pub fn flush(&self, timeout: Duration) {
        let p = self
            .producer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(p) = p {
            let _ = p.flush(timeout);
        }
    }

    async fn produce(&self, batch: &Batch) -> Result<Outcome, DeliveryError> {
        let producer = self.producer()?;
        let target = &self.targets[target_index(batch.kind())];
        let (recs, oversized) = records(
            batch.clone(),
            target.encoding,
            &target.keying,
            self.max_message_bytes,
        )
        .map_err(DeliveryError::permanent)?;
        let mut outcome = Outcome::default();
        for o in &oversized {
            let items = o.batch.item_count() as u64;
            outcome.rejected += items;
            outcome.reason = Some(format!(
                "a single item needs a {}-byte record, over producer::max_message_bytes ({}); dropped",
                o.bytes, self.max_message_bytes
            ));
        }
        // Enqueue every record in order first (librdkafka keeps that order per partition),
        // then wait for the delivery reports.
        let mut waiting = Vec::with_capacity(recs.len());
        for rec in recs {
            let fut = loop {
                let r = FutureRecord::to(&target.topic)
                    .key(&rec.key)
                    .payload(&rec.value);
                match producer.send_result(r) {
                    Ok(f) => break Ok(f),
                    Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => break Err(e),
                }
            };
            waiting.push((rec.batch, fut));
        }
        let mut failed: Option<Batch> = None;
        let mut last_error = String::new();
        let mut timed_out = false;
        let reports =
            futures::future::join_all(waiting.into_iter().map(|(part, fut)| async move {
                let result = match fut {
                    Ok(f) => match f.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(e),
                        Err(_) => Err(KafkaError::Canceled),
                    },
                    Err(e) => Err(e),
                };
                (part, result)
            }))
            .await;
        for (part, result) in reports {
            let items = part.item_count() as u64;
            match result {
                Ok(()) => outcome.delivered += items,
                Err(e) if is_permanent(&e) => {
                    outcome.rejected += items;
                    outcome.reason = Some(format!("topic {}: {e}", target.topic));
                }
                Err(e) => {
                    timed_out |= e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageTimedOut);
                    last_error = format!("topic {}: {e}", target.topic);
                    match &mut failed {
                        None => failed = Some(part),
                        Some(f) => {
                            let _ = f.append(part);
                        }
                    }
                }
            }
        }
        if failed.is_some() {
            self.reset_if_stuck(&producer, timed_out);
            if let Some(cause) = self.events.last_error() {
                last_error = format!("{last_error} (last client error: {cause})");
            }
        } else if outcome.delivered > 0 {
            self.events.clear();
        }
        match failed {
            None => Ok(outcome),
            Some(rest) => Err(DeliveryError::Retryable {
                reason: last_error,
                remaining: Some(rest),
                partial: outcome,
                throttle: None,
            }),
        }
    }
}

impl Transport for KafkaTransport {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        self.produce(batch).boxed()
    }

    /// One part per lane: the resources whose record key falls on that lane, in their order.
    /// A source always maps to the same lane, so its records stay in order (retries included),
    /// and one attempt carries every source of its lane instead of one attempt per source.
    fn keyed(&self, batch: Batch) -> Vec<(Option<u64>, Batch)> {
        let keying = &self.targets[target_index(batch.kind())].keying;
        let mut lanes: Vec<(u64, Batch)> = Vec::new();
        for part in per_resource(batch) {
            let lane = key_of(&record_key(part.resource.as_ref(), keying)) % self.lanes;
            match lanes.iter_mut().find(|(l, _)| *l == lane) {
                Some((_, merged)) => {
                    // Both parts come from one batch, so they are of one kind.
                    let _ = merged.append(part.batch);
                }
                None => lanes.push((lane, part.batch)),
            }
        }
        lanes
            .into_iter()
            .map(|(lane, batch)| (Some(lane), batch))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    fn prop<'a>(c: &'a KafkaExporterConfig, k: &str) -> Option<&'a str> {
        c.properties
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn defaults_are_safe_and_familiar() {
        let c = KafkaExporterConfig::parse(&serde_yaml_ng::Value::Null).unwrap();
        assert_eq!(c.targets[1].topic, client::SIGNALS_TOPIC);
        assert_eq!(c.targets[0].topic, "otlp_metrics");
        assert_eq!(c.targets[2].topic, "otlp_spans");
        assert_eq!(c.targets[1].encoding, Encoding::OtlpProto);
        assert_eq!(c.targets[1].keying.key_by, KeyBy::Cluster);
        assert_eq!(c.targets[0].keying.key_by, KeyBy::Source);
        assert_eq!(prop(&c, "acks"), Some("all"));
        assert_eq!(prop(&c, "enable.idempotence"), Some("true"));
        assert_eq!(prop(&c, "security.protocol"), Some("plaintext"));
        assert_eq!(c.max_message_bytes, 1_000_000);
        assert_eq!(c.delivery, DeliverySettings::default());
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let c = KafkaExporterConfig::parse(&yaml(include_str!("../testdata/kafka.yaml"))).unwrap();
        assert_eq!(prop(&c, "bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(prop(&c, "client.id"), Some("sidecar-1"));
        assert_eq!(prop(&c, "acks"), Some("1"));
        assert_eq!(prop(&c, "enable.idempotence"), Some("false"));
        assert_eq!(prop(&c, "compression.type"), Some("zstd"));
        assert_eq!(prop(&c, "batch.num.messages"), Some("500"));
        assert_eq!(prop(&c, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(prop(&c, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(prop(&c, "ssl.ca.location"), Some("/etc/kafka/ca.pem"));
        assert_eq!(c.targets[1].encoding, Encoding::OtlpJson);
        assert_eq!(c.targets[1].topic, "signals-json");
        assert!(c.targets[0].keying.by_resource_attributes);
        assert_eq!(c.max_message_bytes, 500_000);
    }

    #[test]
    fn tls_and_sasl_pass_through_to_librdkafka() {
        let c = KafkaExporterConfig::parse(&yaml(
            "auth: {tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, insecure_skip_verify: true}}",
        ))
        .unwrap();
        assert_eq!(prop(&c, "security.protocol"), Some("ssl"));
        assert_eq!(prop(&c, "ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(prop(&c, "ssl.certificate.location"), Some("/c.pem"));
        assert_eq!(prop(&c, "ssl.key.location"), Some("/k.pem"));
        assert_eq!(
            prop(&c, "enable.ssl.certificate.verification"),
            Some("false")
        );
        let c = KafkaExporterConfig::parse(&yaml(
            "auth: {sasl: {mechanism: SCRAM-SHA-256, username: u, password: p}}",
        ))
        .unwrap();
        assert_eq!(prop(&c, "security.protocol"), Some("sasl_plaintext"));
        assert_eq!(prop(&c, "sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(prop(&c, "sasl.username"), Some("u"));
        assert_eq!(prop(&c, "sasl.password"), Some("p"));
        assert_eq!(prop(&c, "ssl.ca.location"), None);
        // `insecure: true` under tls means no TLS at all.
        let c =
            KafkaExporterConfig::parse(&yaml("auth: {tls: {insecure: true, ca_file: /ca.pem}}"))
                .unwrap();
        assert_eq!(prop(&c, "security.protocol"), Some("plaintext"));
        let e = KafkaExporterConfig::parse(&yaml("auth: {tls: {cert_file: /c.pem}}")).unwrap_err();
        assert_eq!(e.path, "auth::tls::cert_file");
    }

    #[test]
    fn client_events_keep_the_reason_not_the_generic_follow_up() {
        let events = ClientEvents::default();
        events.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: unknown-user",
        );
        events.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            events.last_error().as_deref(),
            Some("SASL authentication error: unknown-user")
        );
        events.log(
            RDKafkaLogLevel::Info,
            "FAIL",
            "Disconnected: SSL connection closed by peer",
        );
        assert_eq!(
            events.last_error().as_deref(),
            Some("Disconnected: SSL connection closed by peer")
        );
        events.clear();
        events.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(events.last_error().as_deref(), Some("1/1 brokers are down"));
    }

    #[test]
    fn errors_name_their_key() {
        let e = KafkaExporterConfig::parse(&yaml("brokers: []")).unwrap_err();
        assert_eq!(e.path, "brokers");
        let e = KafkaExporterConfig::parse(&yaml("logs: {topic: 'bad topic'}")).unwrap_err();
        assert_eq!(e.path, "logs::topic");
        let e = KafkaExporterConfig::parse(&yaml("producer: {required_acks: 2}")).unwrap_err();
        assert_eq!(e.path, "producer::required_acks");
        let e = KafkaExporterConfig::parse(&yaml("producer: {compression: brotli}")).unwrap_err();
        assert_eq!(e.path, "producer::compression");
        let e = KafkaExporterConfig::parse(&yaml("auth: {sasl: {mechanism: PLAIN}}")).unwrap_err();
        assert_eq!(e.path, "auth::sasl::username");
        let e = KafkaExporterConfig::parse(&yaml("logs: {encoding: avro}")).unwrap_err();
        assert_eq!(e.path, "logs::encoding");
        let e = KafkaExporterConfig::parse(&yaml("metrics: {key_by: cluster}")).unwrap_err();
        assert_eq!(e.path, "metrics::key_by");
        let c = KafkaExporterConfig::parse(&yaml("logs: {key_by: source}")).unwrap();
        assert_eq!(c.targets[1].keying.key_by, KeyBy::Source);
        let e = KafkaExporterConfig::parse(&yaml("topic: 'a b'")).unwrap_err();
        assert_eq!(e.path, "topic");
        let e = KafkaExporterConfig::parse(&yaml("encoding: zipkin_json")).unwrap_err();
        assert_eq!(e.path, "encoding");
        assert!(e.message.contains("does not support"), "{e}");
        let e = KafkaExporterConfig::parse(&yaml("protocol_version: latest")).unwrap_err();
        assert_eq!(e.path, "protocol_version");
    }

    #[test]
    fn the_collectors_top_level_keys_fill_in_every_signal_without_its_own() {
        let c = KafkaExporterConfig::parse(&yaml(
            "protocol_version: 2.1.0\ntopic: all-otlp\nencoding: otlp_json\nmetrics: {topic: m, encoding: otlp_proto}",
        ))
        .unwrap();
        let [metrics, logs, traces] = &c.targets;
        assert_eq!(
            (metrics.topic.as_str(), metrics.encoding),
            ("m", Encoding::OtlpProto)
        );
        assert_eq!(
            (logs.topic.as_str(), logs.encoding),
            ("all-otlp", Encoding::OtlpJson)
        );
        assert_eq!(
            (traces.topic.as_str(), traces.encoding),
            ("all-otlp", Encoding::OtlpJson)
        );
        assert_eq!(prop(&c, "broker.version.fallback"), Some("2.1.0"));
        assert_eq!(prop(&c, "api.version.request"), None);
    }

    /// Logs with one resource per source (in this order), `per` records each.
    fn sources_batch(sources: &[&str], per: usize) -> Batch {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        let text = |v: &str| {
            Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            })
        };
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: sources
                .iter()
                .map(|src| ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![KeyValue {
                            key: "service.instance.id".into(),
                            value: text(src),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: (0..per)
                            .map(|i| LogRecord {
                                time_unix_nano: i as u64,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        })
    }

    fn sources_of(batch: &Batch) -> Vec<String> {
        per_resource(batch.clone())
            .iter()
            .map(|p| record_key(p.resource.as_ref(), &Keying::default()))
            .collect()
    }

    #[test]
    fn a_batch_becomes_one_part_per_lane_and_a_source_keeps_its_lane() {
        let c = KafkaExporterConfig::parse(&yaml("sending_queue: {num_consumers: 3}")).unwrap();
        let t = c.transport();
        let names: Vec<String> = (0..40).map(|i| format!("pod-{i}")).collect();
        let sources: Vec<&str> = names.iter().map(String::as_str).collect();
        let parts = t.keyed(sources_batch(&sources, 2));
        assert!(parts.len() <= 3, "{} parts for 3 lanes", parts.len());
        let lanes: Vec<u64> = parts.iter().map(|(k, _)| k.unwrap()).collect();
        let mut distinct = lanes.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), lanes.len(), "one part per lane: {lanes:?}");
        assert_eq!(
            parts.iter().map(|(_, b)| b.item_count()).sum::<usize>(),
            80,
            "no item lost or doubled"
        );
        // Every source is in exactly one part, its lane is the same in a later batch, and the
        // sources within a part keep the batch's order.
        let lane_of = |src: &str, parts: &[(Option<u64>, Batch)]| {
            let hits: Vec<u64> = parts
                .iter()
                .filter(|(_, b)| sources_of(b).iter().any(|s| s == src))
                .map(|(k, _)| k.unwrap())
                .collect();
            assert_eq!(hits.len(), 1, "{src} in {hits:?}");
            hits[0]
        };
        let later = t.keyed(sources_batch(&["pod-7", "pod-1", "pod-30"], 1));
        for src in ["pod-7", "pod-1", "pod-30"] {
            assert_eq!(lane_of(src, &parts), lane_of(src, &later));
        }
        for (_, b) in &parts {
            let order = sources_of(b);
            let mut by_batch = order.clone();
            by_batch.sort_by_key(|s| sources.iter().position(|x| x == s));
            assert_eq!(order, by_batch);
        }
    }
}
