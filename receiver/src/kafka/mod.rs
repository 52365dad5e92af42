//! Receiver `kafka`: the central side of the seed's "Option 2, Kafka monitoring Kafka" — a
//! consumer group on the signals topic (and optionally metrics and traces topics), reading
//! what the `kafka` exporter (or OpenTelemetry's) wrote, in `otlp_proto` or `otlp_json`.
//!
//! At least once: a record's offset is committed only after the pipeline accepted its batch
//! (its [`Receipt`] settled), per partition up to the highest contiguous accepted record, so
//! a restart re-reads only the uncommitted tail. A batch the pipeline refuses is sent again
//! with backoff while the partition's later records wait behind the in-flight bound, which
//! fills the hand-over channel and pauses the partitions (the consumer keeps polling, so it
//! stays in its group). A record that does not decode is counted, logged and committed past.
//!
//! Scale-out: several instances with one `group_id` share the topic's partitions; records are
//! keyed (by the exporter) so one cluster's signals live on one partition and therefore on one
//! instance. Each record's resources carry the topic and partition they came from; a rebalance
//! is announced in-band with `kafka_obs.partitions_revoked` / `kafka_obs.partitions_assigned`
//! control records, and a newly assigned partition first replays its recent history (records
//! marked `kafka_obs.replay = true`) so a consumer such as the `hierarchy` connector rebuilds
//! its state from the topic before live records continue. See docs/components/receiver-kafka.md.
//!
//! The librdkafka consumer lives on its own thread ([`consumer`]); this task moves its records
//! into the pipelines and reports verdicts back. `build` checks the configuration against the
//! pipelines and spawns nothing; `run` creates the consumer.

mod config;
mod consumer;
mod records;
mod tracker;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use kafka_obs_api::{
    Acceptance, BuildContext, BuildError, ComponentConfig, ComponentConfigError,
    ComponentTelemetry, Counter, DataKind, FactoryMeta, Output, Outputs, Parcel, Receipt, Receiver,
    ReceiverConfig, ReceiverFactory, RunContext, RunError, Stability, Transport,
    parse_component_config,
};

pub use config::{InitialOffset, KafkaReceiverConfig, RebuildSettings, TopicSettings};
use kafka_obs_kafka_client::Encoding;

use consumer::{Item, Settle, Spec, ThreadCounters, TopicSpec};
use records::Movement;
use tracker::Tp;

/// Records decoded and waiting to be handed to the pipeline.
const HANDOVER: usize = 64;
/// How long a record waits for the pipeline's verdict before it counts as refused.
const ACCEPT_WITHIN: Duration = Duration::from_secs(30);
/// Backoff between sends of a refused batch.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Makes `kafka` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "kafka",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Logs, DataKind::Metrics, DataKind::Traces],
        description: "Consumer group on the signals topic (otlp_proto/otlp_json): commits after the pipeline accepted, pauses under backpressure, rebuilds state on assignment",
    },
    |config| Ok(Box::new(KafkaReceiverConfig::parse(config)?)),
);

impl KafkaReceiverConfig {
    /// Parses and checks the YAML body of a `kafka` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// The receiver for the signals the pipelines that list it carry (`kinds`).
    pub fn receiver(
        &self,
        kinds: &[DataKind],
        telemetry: &ComponentTelemetry,
        id: &str,
    ) -> KafkaReceiver {
        let t = telemetry;
        let skipped = |reason: &str| {
            t.counter(
                "kafka_obs_receiver_kafka_skipped_records_total",
                "Kafka records skipped and committed past: undecodable, or without items.",
                &[("reason", reason)],
            )
        };
        let counters = ThreadCounters {
            records: t.counter(
                "kafka_obs_receiver_kafka_records_total",
                "Kafka records read live (not replayed).",
                &[],
            ),
            skipped: skipped("undecodable_or_empty"),
            replayed: t.counter(
                "kafka_obs_receiver_kafka_replayed_records_total",
                "Kafka records replayed to rebuild state after a partition assignment.",
                &[],
            ),
            commits: t.counter(
                "kafka_obs_receiver_kafka_commits_total",
                "Offset commits of accepted records.",
                &[],
            ),
            commit_failures: t.counter(
                "kafka_obs_receiver_kafka_commit_failures_total",
                "Offset commits the group coordinator refused (tried again later).",
                &[],
            ),
            assigned: t.counter(
                "kafka_obs_receiver_kafka_partitions_assigned_total",
                "Partitions assigned to this consumer, over all rebalances.",
                &[],
            ),
            revoked: t.counter(
                "kafka_obs_receiver_kafka_partitions_revoked_total",
                "Partitions revoked from this consumer, over all rebalances.",
                &[],
            ),
            paused: t.gauge(
                "kafka_obs_receiver_kafka_paused",
                "1 while consumption is paused because the pipeline is not taking records.",
                &[],
            ),
            partitions: t.gauge(
                "kafka_obs_receiver_kafka_assigned_partitions",
                "Partitions assigned to this consumer now.",
                &[],
            ),
        };
        let topics = kinds
            .iter()
            .flat_map(|&kind| {
                let s = self.topic(kind);
                s.topics.iter().map(move |topic| {
                    (
                        topic.clone(),
                        TopicSpec {
                            kind,
                            encoding: s.encoding,
                        },
                    )
                })
            })
            .collect();
        KafkaReceiver {
            spec: Spec {
                properties: self.properties.clone(),
                topics,
                rebuild: self.rebuild,
                group: self.group_id.clone(),
                id: id.to_string(),
                counters,
            },
            max_in_flight: self.max_in_flight,
            refusals: t.counter(
                "kafka_obs_receiver_kafka_refused_batches_total",
                "Batches the pipeline refused; sent again with backoff.",
                &[],
            ),
            telemetry: telemetry.clone(),
        }
    }
}

impl ComponentConfig for KafkaReceiverConfig {}

impl ReceiverConfig for KafkaReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        if ctx.kinds.is_empty() {
            return Err(BuildError::Other(format!(
                "receiver {} is in no pipeline; list it under a logs, metrics or traces pipeline",
                ctx.id
            )));
        }
        self.check_topics(&ctx.kinds)
            .map_err(|e| BuildError::Other(e.to_string()))?;
        Ok(Box::new(self.receiver(
            &ctx.kinds,
            &ctx.telemetry,
            &ctx.id.to_string(),
        )))
    }
}

/// A built `kafka` receiver: configuration checked, no consumer yet.
#[derive(Debug)]
pub struct KafkaReceiver {
    spec: Spec,
    max_in_flight: usize,
    refusals: Counter,
    telemetry: ComponentTelemetry,
}

/// What the verdict tasks share.
struct Shared {
    settles: mpsc::Sender<Settle>,
    /// Partitions assigned now, as the control items in the record stream say.
    owned: Mutex<HashSet<Tp>>,
    shutdown: CancellationToken,
    refusals: Counter,
    telemetry: ComponentTelemetry,
    id: String,
}

impl Shared {
    fn owns(&self, tp: &Tp) -> bool {
        self.owned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(tp)
    }
}

impl KafkaReceiver {
    async fn serve(self, outputs: Outputs, ctx: RunContext) -> Result<(), RunError> {
        let id = self.spec.id.clone();
        let group = self.spec.group.clone();
        let outputs: HashMap<DataKind, Output> = outputs
            .kinds()
            .filter_map(|k| outputs.get(k).map(|o| (k, o.clone())))
            .collect();
        let topics: Vec<String> = self.spec.topics.keys().cloned().collect();
        let (data_tx, mut data_rx) = mpsc::channel::<Item>(HANDOVER);
        let (settle_tx, settle_rx) = mpsc::channel::<Settle>(self.max_in_flight + HANDOVER);
        let stop = CancellationToken::new();
        // Creating the consumer starts librdkafka's threads and may resolve names: not on a
        // runtime worker.
        let spec = self.spec;
        let consumer =
            tokio::task::spawn_blocking(move || consumer::create(spec, data_tx, settle_rx))
                .await
                .map_err(|e| RunError::Other(format!("receiver {id}: {e}")))?
                .map_err(|e| {
                    RunError::Other(format!(
                        "receiver {id}: cannot create the Kafka consumer: {e}"
                    ))
                })?;
        let thread_stop = stop.clone();
        let (joined_tx, joined_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("kafka-{id}"))
            .spawn(move || {
                consumer::run(consumer, thread_stop);
                let _ = joined_tx.send(());
            })
            .map_err(RunError::Io)?;
        tracing::info!(receiver = %id, group = %group, ?topics, "Kafka receiver consuming");

        let shared = Arc::new(Shared {
            settles: settle_tx,
            owned: Mutex::new(HashSet::new()),
            shutdown: ctx.shutdown.clone(),
            refusals: self.refusals,
            telemetry: self.telemetry.clone(),
            id: id.clone(),
        });
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let verdicts = TaskTracker::new();
        loop {
            let permit = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let item = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break,
                item = data_rx.recv() => item,
            };
            let Some(item) = item else {
                // The thread ended on its own: the consumer could not go on.
                stop.cancel();
                let _ = joined_rx.await;
                return Err(RunError::Other(format!(
                    "receiver {id}: the Kafka consumer stopped"
                )));
            };
            match item {
                Item::Moved {
                    movement,
                    topic,
                    partitions,
                } => {
                    {
                        let mut owned = shared.owned.lock().unwrap_or_else(|e| e.into_inner());
                        for p in &partitions {
                            let tp = (topic.clone(), *p);
                            match movement {
                                Movement::Assigned => owned.insert(tp),
                                Movement::Revoked => owned.remove(&tp),
                            };
                        }
                    }
                    if let Some(out) = outputs.get(&DataKind::Logs) {
                        let batch = records::control(movement, &topic, &partitions, &group, &id);
                        let _ = out.send(Parcel::unreceipted(batch)).await;
                    }
                }
                Item::Record {
                    tp,
                    offset,
                    kind,
                    encoding,
                    batch,
                    value,
                    replay,
                } => {
                    let Some(out) = outputs.get(&kind).cloned() else {
                        let _ = shared.settles.send(Settle::Done(tp, offset)).await;
                        continue;
                    };
                    if replay {
                        // Rebuilding state: nothing to commit, nobody to answer.
                        let _ = out.send(Parcel::unreceipted(batch)).await;
                        continue;
                    }
                    let items = batch.item_count();
                    let (receipt, acceptance) = Receipt::new();
                    let _ = out.send(Parcel::new(batch, receipt)).await;
                    verdicts.spawn(verdict(
                        shared.clone(),
                        Pending {
                            tp,
                            offset,
                            kind,
                            encoding,
                            value,
                            items,
                        },
                        out,
                        acceptance,
                        permit,
                    ));
                }
            }
        }
        // Shutdown: records still in the hand-over channel get no verdict.
        data_rx.close();
        while let Some(item) = data_rx.recv().await {
            if let Item::Record {
                tp,
                offset,
                replay: false,
                ..
            } = item
            {
                let _ = shared.settles.send(Settle::Abandoned(tp, offset)).await;
            }
        }
        // The thread waits (bounded) for the verdicts of what is in the pipeline, commits
        // and leaves the group.
        stop.cancel();
        verdicts.close();
        let _ = tokio::time::timeout(consumer::SETTLE_GRACE * 3, joined_rx).await;
        tracing::info!(receiver = %id, "Kafka receiver stopped");
        Ok(())
    }
}

/// A record handed to the pipeline, and what is needed to send it again.
struct Pending {
    tp: Tp,
    offset: i64,
    kind: DataKind,
    encoding: Encoding,
    value: Vec<u8>,
    items: usize,
}

/// Waits for the verdict on one record; sends it again (with backoff) while it is refused and
/// its partition is still ours; reports the outcome to the consumer thread.
async fn verdict(
    shared: Arc<Shared>,
    record: Pending,
    out: Output,
    mut acceptance: Acceptance,
    _permit: OwnedSemaphorePermit,
) {
    let mut backoff = RETRY_MIN;
    loop {
        match acceptance.wait_for(ACCEPT_WITHIN).await {
            Ok(()) => {
                shared
                    .telemetry
                    .accepted(record.kind, Transport::Kafka)
                    .add(record.items as u64);
                let _ = shared
                    .settles
                    .send(Settle::Done(record.tp, record.offset))
                    .await;
                return;
            }
            Err(refused) => {
                shared.refusals.inc();
                shared
                    .telemetry
                    .refused(record.kind, Transport::Kafka)
                    .add(record.items as u64);
                if shared.shutdown.is_cancelled() || !shared.owns(&record.tp) {
                    let _ = shared
                        .settles
                        .send(Settle::Abandoned(record.tp, record.offset))
                        .await;
                    return;
                }
                tracing::warn!(
                    receiver = %shared.id,
                    topic = %record.tp.0,
                    partition = record.tp.1,
                    offset = record.offset,
                    error = %refused,
                    retry_in = ?backoff,
                    "pipeline refused a Kafka record; sending it again"
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.shutdown.cancelled() => {
                        let _ = shared.settles.send(Settle::Abandoned(record.tp, record.offset)).await;
                        return;
                    }
                }
                backoff = (backoff * 2).min(RETRY_MAX);
                // Decoded before, so it decodes again.
                let Ok(batch) = records::decode(
                    &record.value,
                    record.kind,
                    record.encoding,
                    &record.tp.0,
                    record.tp.1,
                    false,
                ) else {
                    let _ = shared
                        .settles
                        .send(Settle::Abandoned(record.tp, record.offset))
                        .await;
                    return;
                };
                let (receipt, next) = Receipt::new();
                let _ = out.send(Parcel::new(batch, receipt)).await;
                acceptance = next;
            }
        }
    }
}

impl Receiver for KafkaReceiver {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).serve(outputs, ctx).boxed()
    }
}

#[cfg(test)]
mod tests;
