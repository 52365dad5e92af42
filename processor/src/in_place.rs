//! The task of a processor that changes each batch on its own, with no buffer (`filter`,
//! `transform`): count what comes in and goes out, settle receipts, apply `error_mode`.
//!
//! Data the edit removed is counted as filtered and its receipt still settles as accepted:
//! dropping it was the pipeline's decision, not a failure the sender should retry. An edit
//! that fails under `error_mode: propagate` refuses the batch, which the sender may resend.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::mpsc;

use kafka_obs_api::{
    Batch, ComponentTelemetry, Counter, DataKind, Output, Parcel, Processor, RunContext, RunError,
    SendError,
};

/// What a statement or condition failing on one record does (the Collector's `error_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// The whole batch is refused and the error returned to the sender.
    #[default]
    Propagate,
    /// The error is logged and processing goes on with the next statement or record.
    Ignore,
    /// As `ignore`, without the log line.
    Silent,
}

/// An edit of one batch in place. `Err` is a failure under `error_mode: propagate`.
pub(crate) trait Edit: Send + 'static {
    fn edit(&mut self, batch: &mut Batch) -> Result<(), String>;
}

/// Self-metrics of one processor, per signal; the names are those `batch` uses, plus the
/// items a filter removed (the Collector's `otelcol_processor_filter_*.filtered`).
#[derive(Debug)]
struct Counters {
    telemetry: ComponentTelemetry,
    by_kind: [Option<[Counter; 4]>; 3],
}

impl Counters {
    /// `[incoming, outgoing, dropped, filtered]` for `kind`.
    fn get(&mut self, kind: DataKind) -> &[Counter; 4] {
        let slot = match kind {
            DataKind::Metrics => 0,
            DataKind::Logs => 1,
            DataKind::Traces => 2,
        };
        let t = &self.telemetry;
        self.by_kind[slot].get_or_insert_with(|| {
            let labels = [("data_type", kind.as_str())];
            [
                t.counter(
                    "kafka_obs_processor_incoming_items_total",
                    "Items (data points, log records, spans) a processor received.",
                    &labels,
                ),
                t.counter(
                    "kafka_obs_processor_outgoing_items_total",
                    "Items a processor passed on to the next stage.",
                    &labels,
                ),
                t.counter(
                    "kafka_obs_processor_dropped_items_total",
                    "Items a processor refused (an error under error_mode: propagate) or held when the shutdown deadline passed.",
                    &labels,
                ),
                t.counter(
                    "kafka_obs_processor_filtered_items_total",
                    "Items a processor removed on purpose (filter conditions); accepted, not refused.",
                    &labels,
                ),
            ]
        })
    }
}

/// A running `filter` or `transform`.
pub(crate) struct InPlace<E> {
    edit: E,
    counters: Counters,
    id: String,
}

impl<E: Edit> InPlace<E> {
    pub(crate) fn new(edit: E, telemetry: ComponentTelemetry) -> Self {
        Self {
            edit,
            id: telemetry.id().to_string(),
            counters: Counters {
                telemetry,
                by_kind: [None, None, None],
            },
        }
    }

    async fn process(
        mut self,
        mut input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        loop {
            let parcel = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => None,
                p = input.recv() => p,
            };
            let Some(Parcel { mut batch, receipt }) = parcel else {
                // Input closed (drained) or shutdown deadline: what is still queued is lost.
                input.close();
                while let Ok(parcel) = input.try_recv() {
                    let items = parcel.batch.item_count() as u64;
                    let [incoming, _, dropped, _] = self.counters.get(parcel.batch.kind());
                    incoming.add(items);
                    dropped.add(items);
                }
                return Ok(());
            };
            let kind = batch.kind();
            let before = batch.item_count();
            self.counters.get(kind)[0].add(before as u64);
            if let Err(reason) = self.edit.edit(&mut batch) {
                self.counters.get(kind)[2].add(before as u64);
                tracing::warn!(processor = %self.id, data_type = %kind, items = before, error = %reason, "refused a batch (error_mode: propagate)");
                receipt.refuse(format!("processor {}: {reason}", self.id));
                continue;
            }
            let after = batch.item_count();
            self.counters.get(kind)[3].add(before.saturating_sub(after) as u64);
            if batch.is_empty() {
                receipt.accept();
                continue;
            }
            tokio::select! {
                result = output.send(Parcel::new(batch, receipt)) => {
                    self.counters.get(kind)[1].add(after as u64);
                    if let Err(e @ SendError::Closed { .. }) = result {
                        tracing::warn!(processor = %self.id, data_type = %kind, items = after, error = %e, "next stage is closed");
                    }
                }
                () = ctx.shutdown.cancelled() => {
                    self.counters.get(kind)[2].add(after as u64);
                    tracing::warn!(processor = %self.id, data_type = %kind, items = after, "shutdown deadline passed while the next stage was full; dropped a batch");
                }
            }
        }
    }
}

impl<E: Edit> Processor for InPlace<E> {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).process(input, output, ctx).boxed()
    }
}

/// Runs `f` under `mode`: `Err` only when the mode is `propagate`; otherwise the error is
/// logged (`ignore`) or not (`silent`) and `fallback` is the answer.
pub(crate) fn under<T>(
    mode: ErrorMode,
    id: &str,
    result: Result<T, kafka_obs_ottl::EvalError>,
    fallback: T,
) -> Result<T, String> {
    match (result, mode) {
        (Ok(v), _) => Ok(v),
        (Err(e), ErrorMode::Propagate) => Err(e.0),
        (Err(e), ErrorMode::Ignore) => {
            tracing::warn!(processor = %id, error = %e, "an OTTL statement or condition failed; going on (error_mode: ignore)");
            Ok(fallback)
        }
        (Err(_), ErrorMode::Silent) => Ok(fallback),
    }
}
