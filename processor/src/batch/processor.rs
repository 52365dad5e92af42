//! The running `batch` processor: one task owning its buffer. Batches are joined into the
//! buffer, sent when the size or the timer says so (split by the max size), flushed when the
//! input closes, and counted as dropped once the shutdown deadline passed.
//!
//! Receipts: when every exporter downstream keeps data in memory ([`SafeWhen::Taken`]), the
//! buffer is as safe as their queues, so each receipt is accepted as its batch is taken and the
//! sender hears back at once, whatever the `timeout` (the Collector answers the same way).
//! When an exporter downstream promises the disk ([`SafeWhen::OnDisk`]), the receipts of the
//! joined batches are merged and travel with what is sent (each part of a split carrying a
//! share of every buffered receipt), and they are refused if the shutdown deadline drops them.

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;

use kafka_obs_api::{
    Batch, ComponentTelemetry, Counter, DataKind, Output, Parcel, Processor, Receipt, RunContext,
    RunError, SafeWhen, SendError,
};

use super::config::BatchConfig;

/// Self-metrics of one `batch` instance, per signal (created on first use of a signal).
#[derive(Debug)]
struct Counters {
    telemetry: ComponentTelemetry,
    by_kind: [Option<(Counter, Counter, Counter)>; 3],
}

impl Counters {
    /// `(incoming, outgoing, dropped)` for `kind`.
    fn get(&mut self, kind: DataKind) -> &(Counter, Counter, Counter) {
        let slot = match kind {
            DataKind::Metrics => 0,
            DataKind::Logs => 1,
            DataKind::Traces => 2,
        };
        let telemetry = &self.telemetry;
        self.by_kind[slot].get_or_insert_with(|| {
            (
                telemetry.incoming_items(kind),
                telemetry.outgoing_items(kind),
                telemetry.processor_dropped_items(kind),
            )
        })
    }
}

/// A running `batch` processor's state: the buffer and when it must be sent.
#[derive(Debug)]
pub struct BatchProcessor {
    config: BatchConfig,
    counters: Counters,
    /// Whether receipts are accepted on taking a batch or passed on with it.
    safe_when: SafeWhen,
    pending: Option<Batch>,
    /// The receipts of every batch joined into `pending` (none when they were accepted).
    pending_receipt: Receipt,
    pending_items: usize,
    /// When the oldest buffered item has waited `timeout`.
    deadline: Option<Instant>,
    id: String,
}

impl BatchProcessor {
    pub(super) fn new(
        config: BatchConfig,
        telemetry: ComponentTelemetry,
        safe_when: SafeWhen,
    ) -> Self {
        Self {
            config,
            safe_when,
            id: telemetry.id().to_string(),
            counters: Counters {
                telemetry,
                by_kind: [None, None, None],
            },
            pending: None,
            pending_receipt: Receipt::none(),
            pending_items: 0,
            deadline: None,
        }
    }

    /// Adds a batch to the buffer. Returns a batch of another kind that was buffered (and must be
    /// sent first) in the unusual case of one processor seeing two signals.
    fn absorb(&mut self, parcel: Parcel) -> Option<Parcel> {
        let Parcel { batch, receipt } = parcel;
        let items = batch.item_count();
        self.counters.get(batch.kind()).0.add(items as u64);
        // Safe once taken: the sender hears back now, not when the batch leaves.
        let receipt = if items == 0 || self.safe_when == SafeWhen::Taken {
            receipt.accept();
            Receipt::none()
        } else {
            receipt
        };
        if items == 0 {
            return None;
        }
        let mut evicted = None;
        let batch = match &mut self.pending {
            Some(pending) => pending.append(batch).err(),
            None => Some(batch),
        };
        if let Some(batch) = batch {
            let old_receipt = std::mem::take(&mut self.pending_receipt);
            evicted = self
                .pending
                .replace(batch)
                .map(|old| Parcel::new(old, old_receipt));
            self.pending_items = 0;
            self.deadline = None;
        }
        self.pending_receipt.merge(receipt);
        self.pending_items += items;
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.config.timeout);
        }
        evicted
    }

    /// Takes the next outgoing batch from the front of the buffer, at most the max size.
    /// A part split off the front carries a share of every buffered receipt: its senders hear
    /// back once all parts holding their data were accepted.
    fn take_chunk(&mut self) -> Option<Parcel> {
        let pending = self.pending.as_mut()?;
        let chunk = match self
            .config
            .send_batch_max_size
            .and_then(|max| pending.split_off_front(max))
        {
            Some(front) => Parcel::new(front, self.pending_receipt.clone()),
            None => {
                self.deadline = None;
                let rest = self.pending.take()?;
                Parcel::new(rest, std::mem::take(&mut self.pending_receipt))
            }
        };
        self.pending_items = self.pending_items.saturating_sub(chunk.batch.item_count());
        if self.pending.is_none() {
            self.pending_items = 0;
        }
        Some(chunk)
    }

    /// Whether the buffer holds enough to send without waiting for the timer.
    fn size_reached(&self) -> bool {
        self.pending.is_some()
            && (self.config.timeout.is_zero()
                || (self.config.send_batch_size > 0
                    && self.pending_items >= self.config.send_batch_size))
    }

    /// Sends one batch; `false` if the shutdown deadline passed while waiting for room.
    async fn emit(&mut self, parcel: Parcel, output: &Output, ctx: &RunContext) -> bool {
        let items = parcel.batch.item_count();
        let kind = parcel.batch.kind();
        tokio::select! {
            result = output.send(parcel) => {
                self.counters.get(kind).1.add(items as u64);
                if let Err(e @ SendError::Closed { .. }) = result {
                    tracing::warn!(processor = %self.id, data_type = %kind, items, error = %e, "next stage is closed");
                }
                true
            }
            () = ctx.shutdown.cancelled() => {
                self.counters.get(kind).2.add(items as u64);
                tracing::warn!(
                    processor = %self.id,
                    data_type = %kind,
                    items,
                    "shutdown deadline passed while the next stage was full; dropped a batch"
                );
                false
            }
        }
    }

    /// Sends while the size trigger holds; `false` on abandon.
    async fn send_ready(&mut self, output: &Output, ctx: &RunContext) -> bool {
        while self.size_reached() {
            let Some(chunk) = self.take_chunk() else {
                break;
            };
            if !self.emit(chunk, output, ctx).await {
                return false;
            }
        }
        true
    }

    /// Sends everything buffered; `false` on abandon.
    async fn flush(&mut self, output: &Output, ctx: &RunContext) -> bool {
        while let Some(chunk) = self.take_chunk() {
            if !self.emit(chunk, output, ctx).await {
                return false;
            }
        }
        true
    }

    fn abandon(&mut self) {
        std::mem::take(&mut self.pending_receipt)
            .refuse("shutdown deadline passed in the batch processor");
        if let Some(pending) = self.pending.take() {
            let kind = pending.kind();
            self.counters.get(kind).2.add(self.pending_items as u64);
            tracing::warn!(
                processor = %self.id,
                data_type = %kind,
                items = self.pending_items,
                "shutdown deadline passed; dropped the items still buffered"
            );
        }
        self.pending_items = 0;
        self.deadline = None;
    }

    async fn process(
        mut self,
        mut input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        loop {
            let deadline = self.deadline;
            let timer = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => futures::future::pending().await,
                }
            };
            let keep_going = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => false,
                () = timer => self.flush(&output, &ctx).await,
                message = input.recv() => match message {
                    Some(batch) => {
                        let mut ok = true;
                        if let Some(other) = self.absorb(batch) {
                            ok = self.emit(other, &output, &ctx).await;
                        }
                        ok && self.send_ready(&output, &ctx).await
                    }
                    None => {
                        let flushed = self.flush(&output, &ctx).await;
                        if flushed {
                            tracing::debug!(processor = %self.id, "input closed; flushed and stopped");
                            return Ok(());
                        }
                        false
                    }
                },
            };
            if !keep_going {
                self.abandon();
                // What is still queued in front of us reached this processor and is lost
                // with it: count it as received and dropped.
                input.close();
                while let Ok(parcel) = input.try_recv() {
                    let items = parcel.batch.item_count() as u64;
                    let (incoming, _, dropped) = self.counters.get(parcel.batch.kind());
                    incoming.add(items);
                    dropped.add(items);
                }
                return Ok(());
            }
        }
    }
}

impl Processor for BatchProcessor {
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
mod tests {
    use std::time::Duration;

    use super::*;

    use kafka_obs_api::{BuildContext, ComponentConfigError, ComponentKind, ProcessorConfig};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric,
    };
    use tokio_util::sync::CancellationToken;

    fn parse(yaml: &str) -> Result<BatchConfig, ComponentConfigError> {
        BatchConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
    }

    /// `n` log records stamped `first..first+n`, so order and completeness can be checked.
    fn logs(first: u64, n: u64) -> Batch {
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: (first..first + n)
                        .map(|t| LogRecord {
                            time_unix_nano: t,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn stamps(batch: &Batch) -> Vec<u64> {
        match batch {
            Batch::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
                .map(|l| l.time_unix_nano)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The next stage, accepting what it receives.
    struct Out(mpsc::Receiver<Parcel>);

    impl Out {
        async fn recv(&mut self) -> Option<Batch> {
            self.0.recv().await.map(Parcel::accept)
        }

        fn try_recv(&mut self) -> Result<Batch, mpsc::error::TryRecvError> {
            self.0.try_recv().map(Parcel::accept)
        }
    }

    struct Harness {
        tx: mpsc::Sender<Batch>,
        out: Out,
        shutdown: CancellationToken,
        telemetry: ComponentTelemetry,
        task: tokio::task::JoinHandle<Result<(), RunError>>,
    }

    /// The processor of `yaml`, running on `input`; what it sends goes to the returned
    /// receiver (room for `out_capacity` parcels).
    fn spawn(yaml: &str, input: mpsc::Receiver<Parcel>, out_capacity: usize) -> Running {
        spawn_in(yaml, SafeWhen::OnDisk, input, out_capacity)
    }

    /// [`spawn`] in a pipeline whose data is safe `safe_when`.
    fn spawn_in(
        yaml: &str,
        safe_when: SafeWhen,
        input: mpsc::Receiver<Parcel>,
        out_capacity: usize,
    ) -> Running {
        let config = parse(yaml).expect("valid");
        let ctx = BuildContext::for_test(ComponentKind::Processor, "batch", &[DataKind::Logs])
            .with_safe_when(safe_when);
        let telemetry = ctx.telemetry.clone();
        let processor = config.build(&ctx).expect("builds");
        let (output, out) = Output::for_test("next", out_capacity, true);
        let (run_ctx, shutdown) = ctx.run_for_test();
        let task = tokio::spawn(processor.run(input, output, run_ctx));
        Running {
            out,
            shutdown,
            telemetry,
            task,
        }
    }

    struct Running {
        out: mpsc::Receiver<Parcel>,
        shutdown: CancellationToken,
        telemetry: ComponentTelemetry,
        task: tokio::task::JoinHandle<Result<(), RunError>>,
    }

    fn start(yaml: &str, out_capacity: usize) -> Harness {
        // The tests speak in batches; adapters wrap them into parcels and accept what comes out.
        let (tx, mut batches_in) = mpsc::channel::<Batch>(1);
        let (parcels_tx, input) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(b) = batches_in.recv().await {
                if parcels_tx.send(Parcel::from(b)).await.is_err() {
                    break;
                }
            }
        });
        let running = spawn(yaml, input, out_capacity);
        Harness {
            tx,
            out: Out(running.out),
            shutdown: running.shutdown,
            telemetry: running.telemetry,
            task: running.task,
        }
    }

    /// Every series of `name` (these tests send logs only), whatever its labels.
    fn counter(telemetry: &ComponentTelemetry, name: &'static str) -> u64 {
        telemetry
            .registry()
            .snapshot()
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value.as_i64() as u64)
            .sum()
    }

    #[tokio::test(start_paused = true)]
    async fn sends_when_the_size_is_reached_and_keeps_the_rest() {
        let mut h = start("send_batch_size: 10\ntimeout: 1h", 16);
        h.tx.send(logs(0, 6)).await.expect("open");
        h.tx.send(logs(6, 6)).await.expect("open");
        let first = h.out.recv().await.expect("a batch");
        assert_eq!(
            stamps(&first),
            (0..12).collect::<Vec<_>>(),
            "no max size: all pending goes"
        );
        h.tx.send(logs(12, 3)).await.expect("open");
        tokio::task::yield_now().await;
        assert!(h.out.try_recv().is_err(), "3 < 10 waits for the timer");
        drop(h.tx);
        let rest = h.out.recv().await.expect("flushed on close");
        assert_eq!(stamps(&rest), vec![12, 13, 14]);
        assert!(
            h.out.recv().await.is_none(),
            "processor returned and dropped its output"
        );
        assert!(h.task.await.expect("no panic").is_ok());
        assert_eq!(
            counter(&h.telemetry, "otelcol_processor_incoming_items"),
            15
        );
        assert_eq!(
            counter(&h.telemetry, "otelcol_processor_outgoing_items"),
            15
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_sends_what_is_buffered() {
        let mut h = start("send_batch_size: 100\ntimeout: 200ms", 16);
        let t0 = Instant::now();
        h.tx.send(logs(0, 2)).await.expect("open");
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.tx.send(logs(2, 2)).await.expect("open");
        let batch = h.out.recv().await.expect("sent by the timer");
        assert_eq!(stamps(&batch), vec![0, 1, 2, 3]);
        let waited = Instant::now() - t0;
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_millis(260),
            "{waited:?}"
        );
        // The timer only runs while something is buffered.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(h.out.try_recv().is_err());
        h.tx.send(logs(4, 1)).await.expect("open");
        let t1 = Instant::now();
        assert_eq!(stamps(&h.out.recv().await.expect("timer")), vec![4]);
        assert!(Instant::now() - t1 >= Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn max_size_splits_and_keeps_order() {
        let mut h = start(
            "send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 1h",
            16,
        );
        h.tx.send(logs(0, 25)).await.expect("open");
        let a = h.out.recv().await.expect("chunk");
        let b = h.out.recv().await.expect("chunk");
        assert_eq!((a.item_count(), b.item_count()), (10, 10));
        tokio::task::yield_now().await;
        assert!(
            h.out.try_recv().is_err(),
            "5 left wait for more or the timer"
        );
        drop(h.tx);
        let c = h.out.recv().await.expect("flush");
        let all: Vec<u64> = [a, b, c].iter().flat_map(stamps).collect();
        assert_eq!(all, (0..25).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_timeout_forwards_at_once_split_by_max() {
        let mut h = start(
            "timeout: 0s\nsend_batch_max_size: 8192\nsend_batch_size: 4",
            16,
        );
        h.tx.send(logs(0, 3)).await.expect("open");
        assert_eq!(h.out.recv().await.expect("immediate").item_count(), 3);
        let mut h2 = start(
            "timeout: 0s\nsend_batch_size: 2\nsend_batch_max_size: 2",
            16,
        );
        h2.tx.send(logs(0, 5)).await.expect("open");
        let sizes = [
            h2.out.recv().await.expect("a").item_count(),
            h2.out.recv().await.expect("b").item_count(),
            h2.out.recv().await.expect("c").item_count(),
        ];
        assert_eq!(sizes, [2, 2, 1]);
        drop(h.tx);
        drop(h2.tx);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_deadline_drops_and_counts_what_is_held() {
        // The next stage holds one batch and nobody reads it.
        let h = start("send_batch_size: 1\ntimeout: 1h", 1);
        for i in 0..3 {
            h.tx.send(logs(i * 10, 10)).await.expect("open");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        h.shutdown.cancel();
        assert!(h.task.await.expect("no panic").is_ok());
        let incoming = counter(&h.telemetry, "otelcol_processor_incoming_items");
        let outgoing = counter(&h.telemetry, "otelcol_processor_outgoing_items");
        let dropped = counter(&h.telemetry, "kafka_obs_processor_dropped_items_total");
        assert_eq!(outgoing, 10, "one batch fit in the next stage");
        assert_eq!(incoming, 30);
        assert_eq!(
            outgoing + dropped,
            30,
            "every item is either sent or counted as dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_are_split_by_data_points() {
        let batch = Batch::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "m".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint::default(); 7],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
        let mut h = start(
            "send_batch_size: 3\nsend_batch_max_size: 3\ntimeout: 1h",
            16,
        );
        h.tx.send(batch).await.expect("open");
        drop(h.tx);
        let mut sizes = Vec::new();
        while let Some(b) = h.out.recv().await {
            sizes.push(b.item_count());
        }
        assert_eq!(sizes, vec![3, 3, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn safe_once_taken_answers_before_the_batch_leaves() {
        let (tx, input) = mpsc::channel(4);
        let mut out = spawn_in(
            "send_batch_size: 10\ntimeout: 1h",
            SafeWhen::Taken,
            input,
            4,
        )
        .out;
        let (r1, first) = Receipt::new();
        let (r2, second) = Receipt::new();
        tx.send(Parcel::new(logs(0, 4), r1)).await.expect("open");
        tx.send(Parcel::new(logs(4, 3), r2)).await.expect("open");
        // Virtual time: a receipt still held would time out here instead of hanging the test.
        let limit = Duration::from_secs(1);
        assert_eq!(first.wait_for(limit).await, Ok(()), "accepted on taking");
        assert_eq!(second.wait_for(limit).await, Ok(()), "accepted on taking");
        assert!(out.try_recv().is_err(), "7 < 10 items: still buffered");
        drop(tx);
        let flushed = out.recv().await.expect("flushed on close");
        assert_eq!(stamps(&flushed.batch), (0..7).collect::<Vec<_>>());
        assert!(
            flushed.receipt.is_none(),
            "nothing left to settle downstream"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn senders_hear_back_once_the_joined_batch_is_accepted() {
        let (tx, input) = mpsc::channel(4);
        let mut out = spawn("send_batch_size: 10\ntimeout: 1h", input, 4).out;
        let (r1, first) = Receipt::new();
        let (r2, second) = Receipt::new();
        tx.send(Parcel::new(logs(0, 4), r1)).await.expect("open");
        tx.send(Parcel::new(logs(4, 6), r2)).await.expect("open");
        let joined = out.recv().await.expect("one batch of 10");
        assert_eq!(joined.batch.item_count(), 10);
        let mut first = Box::pin(first.wait());
        assert!(
            futures::poll!(&mut first).is_pending(),
            "not accepted before the next stage accepts"
        );
        joined.receipt.refuse("exporter queue full");
        assert!(first.await.is_err());
        assert!(second.wait().await.is_err(), "both senders must resend");
    }
}
