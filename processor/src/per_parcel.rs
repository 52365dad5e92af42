//! The loop of every processor that handles each parcel on its own (`memory_limiter`,
//! `resource`, `attributes`, `filter`, `transform`): read a parcel, let the processor change or refuse its batch, pass
//! it on with its receipt. It owns the counting those processors share with `batch`
//! (the Collector's incoming/outgoing items through `ComponentTelemetry`'s helpers, dropped at
//! the shutdown deadline) plus refusals, so each processor is only its function
//! `batch -> batch`. The receipt always travels on: these processors hold nothing, so they
//! never need to answer early. Items a step removes on purpose (`filter`) are counted as
//! filtered, and a batch left empty settles its receipt as accepted: the pipeline chose to drop
//! it, so the sender must not resend it.

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use kafka_obs_api::{
    Batch, ComponentTelemetry, Counter, DataKind, Output, Parcel, Processor, RunContext, RunError,
    SendError,
};

/// What a per-parcel processor does with one batch.
pub(crate) trait Step: Send + 'static {
    /// Called once when the processor starts running (a place to start a background checker
    /// that must end with the processor).
    fn start(&mut self, _ctx: &RunContext) {}

    /// The batch to pass on, or why it is refused (its sender hears a retryable error).
    fn step(&mut self, batch: Batch) -> Result<Batch, String>;
}

/// Self-metrics of one processor instance for one signal.
#[derive(Debug, Clone)]
struct Counters {
    incoming: Counter,
    outgoing: Counter,
    refused: Counter,
    dropped: Counter,
    filtered: Counter,
}

impl Counters {
    fn new(telemetry: &ComponentTelemetry, kind: DataKind) -> Self {
        Self {
            incoming: telemetry.incoming_items(kind),
            outgoing: telemetry.outgoing_items(kind),
            refused: telemetry.processor_refused_items(kind),
            dropped: telemetry.processor_dropped_items(kind),
            filtered: telemetry.processor_filtered_items(kind),
        }
    }
}

/// A processor made of a [`Step`].
pub(crate) struct PerParcel<S> {
    step: S,
}

impl<S: Step> PerParcel<S> {
    pub(crate) fn new(step: S) -> Self {
        Self { step }
    }

    async fn process(
        mut self,
        mut input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        let id = ctx.telemetry.id().to_string();
        self.step.start(&ctx);
        let mut by_kind: [Option<Counters>; 3] = [None, None, None];
        let mut counters = |kind: DataKind| {
            let slot = DataKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            by_kind[slot]
                .get_or_insert_with(|| Counters::new(&ctx.telemetry, kind))
                .clone()
        };
        loop {
            let parcel = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break,
                parcel = input.recv() => match parcel {
                    Some(p) => p,
                    None => return Ok(()),
                },
            };
            let Parcel { batch, receipt } = parcel;
            let kind = batch.kind();
            let c = counters(kind);
            let received = batch.item_count();
            c.incoming.add(received as u64);
            let batch = match self.step.step(batch) {
                Ok(batch) => batch,
                Err(reason) => {
                    c.refused.add(received as u64);
                    receipt.refuse(reason);
                    continue;
                }
            };
            let items = batch.item_count();
            c.filtered.add(received.saturating_sub(items) as u64);
            if items == 0 && received > 0 {
                receipt.accept();
                continue;
            }
            tokio::select! {
                result = output.send(Parcel::new(batch, receipt)) => {
                    c.outgoing.add(items as u64);
                    if let Err(e @ SendError::Closed { .. }) = result {
                        tracing::warn!(processor = %id, data_type = %kind, items, error = %e, "next stage is closed");
                    }
                }
                () = ctx.shutdown.cancelled() => {
                    c.dropped.add(items as u64);
                    tracing::warn!(processor = %id, data_type = %kind, items, "shutdown deadline passed while the next stage was full; dropped a batch");
                    break;
                }
            }
        }
        // The drain deadline passed: what still waits in front of us is lost with us.
        input.close();
        while let Ok(parcel) = input.try_recv() {
            let c = counters(parcel.batch.kind());
            let items = parcel.batch.item_count() as u64;
            c.incoming.add(items);
            c.dropped.add(items);
        }
        Ok(())
    }
}

impl<S: Step> Processor for PerParcel<S> {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).process(input, output, ctx).boxed()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use kafka_obs_api::{BuildContext, ComponentKind, Receipt};

    use super::*;

    /// A batch of `n` log records.
    pub(crate) fn logs(n: usize) -> Batch {
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    /// Refuses batches of an odd number of items, passes the others with one record fewer.
    struct OddRefuser;

    impl Step for OddRefuser {
        fn step(&mut self, batch: Batch) -> Result<Batch, String> {
            let n = batch.item_count();
            if n % 2 == 1 {
                return Err(format!("{n} is odd"));
            }
            Ok(logs(n - 1))
        }
    }

    #[tokio::test]
    async fn passes_receipts_on_refuses_with_the_reason_and_counts() {
        let ctx = BuildContext::for_test(ComponentKind::Processor, "test", &[DataKind::Logs]);
        let (run_ctx, _stop) = ctx.run_for_test();
        let (tx, rx) = mpsc::channel(4);
        let (output, mut next) = Output::for_test("next", 4, true);
        let task = tokio::spawn(Box::new(PerParcel::new(OddRefuser)).run(rx, output, run_ctx));

        let (even, even_acceptance) = Receipt::new();
        let (odd, odd_acceptance) = Receipt::new();
        tx.send(Parcel::new(logs(4), even)).await.unwrap();
        tx.send(Parcel::new(logs(3), odd)).await.unwrap();
        drop(tx);

        let passed = next.recv().await.expect("the even batch");
        assert_eq!(passed.batch.item_count(), 3);
        let refused = odd_acceptance.wait_for(Duration::from_secs(5)).await;
        assert_eq!(refused.expect_err("refused").0, "3 is odd");
        // The receipt travelled with the batch: settled downstream, heard upstream.
        passed.receipt.accept();
        even_acceptance
            .wait_for(Duration::from_secs(5))
            .await
            .unwrap();
        task.await.unwrap().unwrap();

        let value = |name: &str| {
            ctx.telemetry
                .registry()
                .snapshot()
                .into_iter()
                .filter(|s| s.name == name)
                .map(|s| s.value.as_i64())
                .sum::<i64>()
        };
        assert_eq!(
            value(kafka_obs_api::telemetry::otelcol::PROCESSOR_INCOMING_ITEMS),
            7
        );
        assert_eq!(
            value(kafka_obs_api::telemetry::otelcol::PROCESSOR_OUTGOING_ITEMS),
            3
        );
        assert_eq!(value("kafka_obs_processor_refused_items_total"), 3);
    }
}
