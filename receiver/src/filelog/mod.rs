//! Receiver `filelog`: tails files into OTLP logs, as the Collector's filelog receiver does.
//!
//! A loop on one task: every `poll_interval` a blocking step ([`tail::Tracker::poll`]) finds
//! the files the patterns match, reads what is new, splits it into entries (lines or
//! multi-line), runs the `operators` and builds one OTLP logs request. The request goes to the
//! pipelines through the OTLP receiver's delivery helper and waits for its receipt; only
//! then are the new offsets saved to the `storage` extension, so a restart resumes after the
//! last accepted entry (no loss, no repeat). A request the pipeline does not take is offered
//! again until it is, or until shutdown (then its entries are read again after a restart).

mod checkpoint;
mod config;
mod entry;
mod operators;
mod record;
mod severity;
mod split;
mod tail;
mod timestamp;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{
    Batch, BuildContext, BuildError, Capability, ComponentConfig, ComponentConfigError,
    ComponentTelemetry, Counter, DataKind, ExtensionRef, FactoryMeta, Gauge, Outputs, Receiver,
    ReceiverConfig, ReceiverFactory, RunContext, RunError, Stability, StorageCapability, Transport,
    parse_component_config,
};

use crate::otlp::deliver::{Delivery, Sink};
use checkpoint::{Checkpoint, CheckpointStore};
pub use config::{Encoding, FilelogReceiverConfig, Multiline, StartAt};
pub use operators::SUPPORTED as SUPPORTED_OPERATORS;
use tail::{DropReason, Tracker};

/// After shutdown, how long a request already handed to the pipeline may wait for its
/// receipt: long enough for a queue to take it, short enough not to hold a stalled shutdown.
const SETTLE_GRACE: Duration = Duration::from_secs(2);
/// Pause before offering a refused request again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Makes `filelog` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "filelog",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Logs],
        description: "Tails files into OTLP logs: globs, rotation by fingerprint, multi-line, regex/json parsing, checkpoints in a storage",
    },
    |config| Ok(Box::new(FilelogReceiverConfig::parse(config)?)),
);

impl FilelogReceiverConfig {
    /// Parses and checks the YAML body of a `filelog` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// Runs the operators on one entry (for tests and benches of the parsing alone).
    #[doc(hidden)]
    pub fn parse_line(
        &self,
        line: &str,
    ) -> Option<opentelemetry_proto::tonic::logs::v1::LogRecord> {
        let entry = operators::run_all(&self.operators, entry::Entry::text(line.to_string()))?;
        Some(record::log_record(entry, 0).1)
    }
}

impl ComponentConfig for FilelogReceiverConfig {
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        self.storage
            .iter()
            .map(|id| ExtensionRef::new("storage", id.clone(), Capability::Storage))
            .collect()
    }
}

impl ReceiverConfig for FilelogReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        let (store, resume) = match &self.storage {
            None => (None, Vec::new()),
            Some(storage_id) => {
                let cap = ctx
                    .host
                    .get::<StorageCapability>(storage_id)
                    .ok_or_else(|| {
                        BuildError::Other(format!(
                            "storage: {storage_id} is not a running storage extension; \
                         declare it under extensions and list it in service::extensions"
                        ))
                    })?;
                let (store, resume) =
                    CheckpointStore::open(cap.0.as_ref(), &ctx.id.to_string(), &ctx.telemetry)
                        .map_err(|e| {
                            BuildError::Other(format!(
                                "cannot read the checkpoints in {storage_id}: {e}"
                            ))
                        })?;
                (Some(store), resume)
            }
        };
        Ok(Box::new(FilelogReceiver {
            config: Arc::new(self.clone()),
            tracker: Tracker::new(resume),
            store,
            counters: Counters::new(&ctx.telemetry),
            telemetry: ctx.telemetry.clone(),
            id: ctx.id.to_string(),
        }))
    }
}

/// Our own counts (the accepted/refused ones are the Collector's, counted by the sink).
#[derive(Debug, Clone)]
struct Counters {
    files_open: Gauge,
    oversized: Counter,
    encoding: Counter,
    operator: Counter,
}

impl Counters {
    fn new(t: &ComponentTelemetry) -> Self {
        const DROPPED: &str = "kafka_obs_filelog_dropped_entries";
        const DROPPED_HELP: &str = "Entries read from files and not sent, by reason: oversized (above max_log_size), encoding (not valid UTF-8), operator (an operator with on_error: drop failed)";
        Self {
            files_open: t.gauge(
                "kafka_obs_filelog_files_open",
                "Files the filelog receiver holds open",
                &[],
            ),
            oversized: t.counter(
                DROPPED,
                DROPPED_HELP,
                &[("reason", DropReason::Oversized.as_str())],
            ),
            encoding: t.counter(
                DROPPED,
                DROPPED_HELP,
                &[("reason", DropReason::Encoding.as_str())],
            ),
            operator: t.counter(DROPPED, DROPPED_HELP, &[("reason", "operator")]),
        }
    }
}

/// A built `filelog` receiver: checkpoints read, nothing open yet.
#[derive(Debug)]
pub struct FilelogReceiver {
    config: Arc<FilelogReceiverConfig>,
    tracker: Tracker,
    store: Option<CheckpointStore>,
    counters: Counters,
    telemetry: ComponentTelemetry,
    id: String,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One blocking step: read, split, parse, build the request.
fn read_step(
    mut tracker: Tracker,
    config: &FilelogReceiverConfig,
    counters: &Counters,
) -> (Tracker, Option<Batch>, bool) {
    let polled = tracker.poll(config);
    if !polled.dropped.is_empty() {
        tracing::warn!(
            dropped = polled.dropped.len(),
            reasons = ?polled.dropped.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            max_log_size = config.max_log_size,
            "dropped file entries (longer than max_log_size, or not UTF-8 with encoding: utf-8); see kafka_obs_filelog_dropped_entries"
        );
    }
    for reason in &polled.dropped {
        match reason {
            DropReason::Oversized => counters.oversized.inc(),
            DropReason::Encoding => counters.encoding.inc(),
        }
    }
    counters.files_open.set(tracker.open_files() as i64);
    let read = polled.entries.len();
    let entries: Vec<_> = polled
        .entries
        .into_iter()
        .filter_map(|e| operators::run_all(&config.operators, e))
        .collect();
    counters.operator.add((read - entries.len()) as u64);
    let batch =
        (!entries.is_empty()).then(|| Batch::Logs(record::logs_request(entries, now_nanos())));
    (tracker, batch, polled.more)
}

impl FilelogReceiver {
    async fn serve(self, outputs: Outputs, ctx: RunContext) -> Result<(), RunError> {
        let Some(output) = outputs.get(DataKind::Logs).cloned() else {
            return Ok(());
        };
        let FilelogReceiver {
            config,
            tracker,
            mut store,
            counters,
            telemetry,
            id,
        } = self;
        // Receipts of a request in flight at shutdown get SETTLE_GRACE, then count as refused.
        let settle = CancellationToken::new();
        let settle_guard = settle.clone().drop_guard();
        let shutdown = ctx.shutdown.clone();
        tokio::spawn({
            let settle = settle.clone();
            async move {
                tokio::select! {
                    () = shutdown.cancelled() => tokio::time::sleep(SETTLE_GRACE).await,
                    () = settle.cancelled() => {}
                }
                settle.cancel();
            }
        });
        let sink = Sink {
            kind: DataKind::Logs,
            output,
            telemetry,
            id: id.clone(),
            shutdown: settle,
        };
        tracing::info!(receiver = %id, include = ?config.include_patterns, "filelog receiver started");
        let mut tracker = Some(tracker);
        let mut saved: Vec<Checkpoint> = Vec::new();
        while !ctx.shutdown.is_cancelled() {
            let Some(t) = tracker.take() else { break };
            let step_config = config.clone();
            let step_counters = counters.clone();
            let (t, batch, more) =
                tokio::task::spawn_blocking(move || read_step(t, &step_config, &step_counters))
                    .await
                    .map_err(|e| RunError::Other(format!("filelog read step failed: {e}")))?;
            if let Some(batch) = batch
                && !offer(&sink, batch, &ctx.shutdown).await
            {
                // Not accepted before shutdown: leave the checkpoint where it was.
                break;
            }
            let state = t.checkpoints();
            if state != saved
                && let Some(mut s) = store.take()
            {
                let to_save = state.clone();
                let (s, result) = tokio::task::spawn_blocking(move || {
                    let result = s.save(&to_save);
                    (s, result)
                })
                .await
                .map_err(|e| RunError::Other(format!("filelog checkpoint step failed: {e}")))?;
                match result {
                    Ok(()) => saved = state,
                    Err(e) => {
                        tracing::warn!(receiver = %id, error = %e, "cannot save file checkpoints")
                    }
                }
                store = Some(s);
            }
            tracker = Some(t);
            if !more {
                tokio::select! {
                    () = tokio::time::sleep(config.poll_interval) => {}
                    () = ctx.shutdown.cancelled() => {}
                }
            }
        }
        drop(settle_guard);
        tracing::info!(receiver = %id, "filelog receiver stopped");
        Ok(())
    }
}

/// Hands `batch` to the pipeline until it is taken; false when shutdown came first.
async fn offer(sink: &Sink, batch: Batch, shutdown: &CancellationToken) -> bool {
    loop {
        match sink.deliver(batch.clone(), Transport::File).await {
            // A partial refusal was counted and logged by the sink; offering the batch again
            // would repeat it to the pipelines that took it.
            Delivery::Accepted | Delivery::Partial { .. } => return true,
            Delivery::Unavailable { .. } if shutdown.is_cancelled() => return false,
            Delivery::Unavailable { .. } => {
                tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                    () = shutdown.cancelled() => return false,
                }
            }
        }
    }
}

impl Receiver for FilelogReceiver {
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
