//! Receiver `kafka_admin`: the broker-side view of a Kafka cluster, read over the Kafka
//! protocol as an AdminClient reads it (metadata, log offsets, consumer groups, committed
//! offsets), emitted as OTLP gauges with OpenTelemetry `kafkametrics` names, plus time lag.
//!
//! Modules, in data-flow order: [`config`] (keys, validated), `connection` (one broker:
//! TCP/TLS, ApiVersions, SASL PLAIN, framing under a timeout), `reply_shape` (each reply's
//! wire shape, walked before decoding so no array count outgrows its bytes), `poll` (one poll into a
//! [`Snapshot`]), `time_lag` (the offset-to-time tables kept across polls), `convert`
//! (snapshot to OTLP). The metric names are the shared contract in
//! [`kafka_obs_kafka_client::admin_metrics`], which the `kafka_admin` rule pack reads.
//!
//! The client is the pure-Rust `kafka-protocol` crate over tokio, not librdkafka: librdkafka's
//! admin API as `rdkafka` 0.39 wraps it has no ListConsumerGroupOffsets for arbitrary groups
//! (a consumer per group would be needed), no controller id and one watermark call per
//! partition; the protocol messages give all of it in a few batched requests (see
//! ARCHITECTURE.md).
//!
//! `build` reads the TLS files and connects to nothing (a cluster that is down at start-up is
//! a failed poll, not a failed start). `run` polls every `collection_interval` until shutdown.

pub mod config;
mod connection;
mod convert;
mod poll;
mod reply_shape;
mod time_lag;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, info, warn};

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfig, ComponentConfigError, ComponentTelemetry,
    Counter, DataKind, FactoryMeta, Gauge, Outputs, Receiver, ReceiverConfig, ReceiverFactory,
    RunContext, RunError, Stability, Transport, parse_component_config,
};

pub use config::KafkaAdminConfig;
pub use connection::{AdminError, Dialer, MAX_REPLY_BYTES, decode_response, encode_request};
pub use convert::{SCOPE_NAME, failed_poll, resource, snapshot_to_otlp};
pub use poll::{
    Broker, ClusterPoller, Committed, Group, Member, Partition, Polled, Snapshot, Topic,
    assigned_partitions,
};
pub use time_lag::{Samples, TimeLagTables};

/// Makes `kafka_admin` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "kafka_admin",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics],
        description: "Broker-side view over the Kafka protocol: metadata, ISR, log offsets, consumer groups, committed offsets, lag and time lag (kafkametrics names)",
    },
    |config| Ok(Box::new(KafkaAdminConfig::parse(config)?)),
);

impl KafkaAdminConfig {
    /// Parses and checks the YAML body of a `kafka_admin` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// How this receiver dials brokers. Reads the TLS files.
    pub fn dialer(&self) -> Result<Dialer, ComponentConfigError> {
        let tls = match &self.tls {
            None => None,
            Some(t) => Some(
                t.client_config(&[])
                    .map_err(|e| e.to_config_error().within("auth"))?,
            ),
        };
        Ok(Dialer {
            client_id: StrBytes::from_string(self.client_id.clone()),
            timeout: self.timeout,
            tls,
            sasl: self.sasl.clone(),
        })
    }

    /// A poller of the configured cluster.
    pub fn poller(&self, dialer: Dialer) -> ClusterPoller {
        ClusterPoller::new(
            dialer,
            self.brokers.clone(),
            self.groups.clone(),
            self.topics.clone(),
            self.time_lag_samples,
        )
    }
}

impl ComponentConfig for KafkaAdminConfig {}

impl ReceiverConfig for KafkaAdminConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let dialer = self
            .dialer()
            .map_err(|e| BuildError::Other(format!("receivers::{}::{e}", ctx.id)))?;
        Ok(Box::new(KafkaAdminReceiver {
            config: self.clone(),
            dialer,
        }))
    }
}

/// A built `kafka_admin` receiver, not yet polling.
#[derive(Debug)]
pub struct KafkaAdminReceiver {
    config: KafkaAdminConfig,
    dialer: Dialer,
}

/// The receiver's own facts.
struct SelfMetrics {
    polls: Counter,
    poll_failures: Counter,
    duration_us: Gauge,
    time_lag_samples: Gauge,
    telemetry: ComponentTelemetry,
}

impl SelfMetrics {
    fn new(telemetry: &ComponentTelemetry) -> Self {
        Self {
            polls: telemetry.counter(
                "kafka_obs_kafka_admin_polls_total",
                "Polls of the Kafka cluster attempted.",
                &[],
            ),
            poll_failures: telemetry.counter(
                "kafka_obs_kafka_admin_poll_failures_total",
                "Polls that read nothing because no broker answered Metadata (down, refused, timed out, bad reply).",
                &[],
            ),
            duration_us: telemetry.gauge(
                "kafka_obs_kafka_admin_poll_duration_microseconds",
                "Duration of the last poll of the Kafka cluster.",
                &[],
            ),
            time_lag_samples: telemetry.gauge(
                "kafka_obs_kafka_admin_time_lag_samples",
                "(end offset, time) samples held for time lag, over all partitions.",
                &[],
            ),
            telemetry: telemetry.clone(),
        }
    }

    /// `kafka_obs_kafka_admin_request_failures_total{api, reason}`: requests that failed or
    /// whose reply was rejected.
    fn request_failed(&self, e: &AdminError) {
        let (api, reason) = (api_of(e), e.reason());
        self.telemetry
            .counter(
                "kafka_obs_kafka_admin_request_failures_total",
                "Requests to a broker that failed or whose reply was rejected, by API and reason (connect, timeout, io, bad_reply, broker_error, unsupported, auth).",
                &[("api", api), ("reason", reason)],
            )
            .inc();
    }
}

fn api_of(e: &AdminError) -> &'static str {
    match e {
        AdminError::Timeout { api, .. }
        | AdminError::Io { api, .. }
        | AdminError::BadReply { api, .. }
        | AdminError::Broker { api, .. }
        | AdminError::Unsupported { api, .. } => api,
        AdminError::Connect { .. } | AdminError::Auth { .. } => "connect",
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Receiver for KafkaAdminReceiver {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        async move {
            let Some(output) = outputs.get(DataKind::Metrics).cloned() else {
                warn!(receiver = %ctx.id, "kafka_admin receiver is in no metrics pipeline; nothing to do");
                ctx.shutdown.cancelled().await;
                return Ok(());
            };
            let config = self.config;
            let metrics = SelfMetrics::new(&ctx.telemetry);
            let accepted = ctx.telemetry.accepted(DataKind::Metrics, Transport::Kafka);
            let refused = ctx.telemetry.refused(DataKind::Metrics, Transport::Kafka);
            let mut poller = config.poller(self.dialer);
            let endpoint = config.brokers.join(",");
            // The id the brokers last reported, for the resource of a failed poll.
            let mut cluster_id: Option<String> = None;
            info!(
                receiver = %ctx.id,
                brokers = %endpoint,
                interval_ms = config.collection_interval.as_millis() as u64,
                "kafka_admin receiver started"
            );
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.initial_delay) => {}
            }
            let mut ticker = tokio::time::interval(config.collection_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut was_up = None;
            loop {
                tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let started = Instant::now();
                metrics.polls.inc();
                let polled = tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    r = poller.poll(now_ns()) => r,
                };
                metrics
                    .duration_us
                    .set(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX));
                let batch = match polled {
                    Ok(Polled { snapshot, failures }) => {
                        for e in &failures {
                            metrics.request_failed(e);
                            warn!(receiver = %ctx.id, error = %e, "part of the poll left out");
                        }
                        if was_up != Some(true) {
                            info!(receiver = %ctx.id, brokers = snapshot.brokers.len(), topics = snapshot.topics.len(), groups = snapshot.groups.len(), "kafka cluster readable");
                        }
                        was_up = Some(true);
                        cluster_id.clone_from(&snapshot.cluster_id);
                        let resource = resource(
                            config.cluster_alias.as_deref(),
                            snapshot.cluster_id.as_deref(),
                            &config.brokers,
                        );
                        snapshot_to_otlp(&snapshot, resource, &endpoint)
                    }
                    Err(e) => {
                        metrics.poll_failures.inc();
                        metrics.request_failed(&e);
                        if was_up != Some(false) {
                            warn!(receiver = %ctx.id, error = %e, "kafka cluster poll failed; retrying every interval");
                        } else {
                            debug!(receiver = %ctx.id, error = %e, "kafka cluster poll failed again");
                        }
                        was_up = Some(false);
                        let resource = resource(
                            config.cluster_alias.as_deref(),
                            cluster_id.as_deref(),
                            &config.brokers,
                        );
                        failed_poll(resource, &endpoint, now_ns())
                    }
                };
                metrics.time_lag_samples.set(poller.time_lag_samples() as i64);
                let batch = Batch::Metrics(batch);
                let items = batch.item_count() as u64;
                tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    r = output.send(batch) => match r {
                        Ok(()) => accepted.add(items),
                        Err(e) => {
                            refused.add(items);
                            debug!(receiver = %ctx.id, error = %e, "poll result not accepted by the pipeline");
                        }
                    }
                }
            }
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
