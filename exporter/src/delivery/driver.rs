//! The sending queue: reads the exporter's input, keeps batches in memory or on disk, and
//! hands them to `num_consumers` lanes that each deliver one batch at a time with
//! [`deliver`](super::retry::deliver).
//!
//! Lanes are how order is kept without giving up concurrency: a part with a key always goes to
//! lane `key % num_consumers`, so parts with the same key are delivered one after the other
//! (including their retries); keyless parts go to whichever lane is free. A dead destination
//! fills the lanes, then this exporter's own input queue, whose overflow policy (drop, counted,
//! or block) applies; other exporters have their own queues and never wait for this one.
//!
//! With `sending_queue.storage`, the input is written to the storage's [`PersistentQueue`]
//! before anything else happens to it (that is when a batch counts as accepted), and the lanes
//! are fed from the disk; a record is acked once delivered or given up on, so after `kill -9`
//! the next start delivers every record that was not acked (at least once).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentTelemetry, Counter, DataKind, Exporter, Parcel,
    PersistentQueue, PushOutcome, RunContext, RunError, StorageCapability,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::config::DeliverySettings;
use super::retry::{Counters, Finished, Transport, deliver};

/// How often the disk queue's ack position is persisted while running.
const SYNC_EVERY: Duration = Duration::from_millis(200);
/// How long the disk reader sleeps when it found nothing and heard nothing.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// A [`Transport`] with its delivery settings: the whole exporter.
pub struct DeliveryExporter<T: Transport> {
    transport: Arc<T>,
    settings: DeliverySettings,
    disk: Option<Disk>,
    telemetry: ComponentTelemetry,
    id: String,
    /// A task the transport needs beside the lanes (the signal stream's session).
    /// In a mutex only so the exporter is `Sync` (it is taken out once, at start).
    background: std::sync::Mutex<Option<BoxFuture<'static, ()>>>,
    background_stop: CancellationToken,
}

struct Disk {
    queue: Arc<dyn PersistentQueue>,
    blocks_when_full: bool,
}

impl<T: Transport> std::fmt::Debug for DeliveryExporter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryExporter")
            .field("id", &self.id)
            .field("settings", &self.settings)
            .field("disk", &self.disk.is_some())
            .finish()
    }
}

impl<T: Transport> DeliveryExporter<T> {
    /// Opens the disk queue when `sending_queue.storage` names one (the extension must be
    /// listed under `service.extensions`).
    pub fn build(
        transport: T,
        settings: DeliverySettings,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        let id = ctx.id.to_string();
        let disk = match &settings.queue.storage {
            None => None,
            Some(storage_id) => {
                let cap = ctx.host.get::<StorageCapability>(storage_id).ok_or_else(|| {
                    BuildError::Other(format!(
                        "sending_queue::storage: {storage_id} is not a running storage extension; \
                         declare it under extensions and list it in service::extensions"
                    ))
                })?;
                let queue = cap
                    .0
                    .open_queue(&format!("exporter-{id}"), &ctx.telemetry)
                    .map_err(|e| {
                        BuildError::Other(format!(
                            "cannot open the disk queue in {storage_id}: {e}"
                        ))
                    })?;
                Some(Disk {
                    queue,
                    blocks_when_full: cap.0.blocks_when_full(),
                })
            }
        };
        Ok(Self {
            transport: Arc::new(transport),
            settings,
            disk,
            telemetry: ctx.telemetry.clone(),
            id,
            background: std::sync::Mutex::new(None),
            background_stop: CancellationToken::new(),
        })
    }

    /// Runs `task` beside the lanes; `stop` is cancelled once the lanes have finished.
    pub fn with_background(
        mut self,
        task: BoxFuture<'static, ()>,
        stop: CancellationToken,
    ) -> Self {
        self.background = std::sync::Mutex::new(Some(task));
        self.background_stop = stop;
        self
    }

    /// The transport, for tests that drive it directly.
    pub fn transport(&self) -> &Arc<T> {
        &self.transport
    }

    async fn run_inner(
        mut self,
        input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        let background = self
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(tokio::spawn);
        let mut lanes = Lanes::start(&self, &ctx);
        let disk = self.disk.take();
        let queue = disk.as_ref().map(|d| d.queue.clone());
        let result = match disk {
            None => run_in_memory(&self, input, &mut lanes, &ctx).await,
            Some(disk) => run_on_disk(&self, input, &mut lanes, &ctx, disk).await,
        };
        lanes.finish().await;
        if let Some(queue) = queue {
            sync(&queue).await;
            let pending = queue.pending();
            if pending > 0 {
                tracing::info!(exporter = %self.id, pending, "records left in the disk queue for the next start");
            }
        }
        self.background_stop.cancel();
        if let Some(bg) = background {
            let _ = bg.await;
        }
        result
    }
}

impl<T: Transport> Exporter for DeliveryExporter<T> {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).run_inner(input, ctx).boxed()
    }
}

/// A unit of work for a lane: the batch, and its disk index when it came from the disk.
struct Work {
    batch: Batch,
    index: Option<u64>,
}

struct Lanes {
    senders: Vec<mpsc::Sender<Work>>,
    tasks: JoinSet<()>,
    next: usize,
}

fn counters_by_kind(t: &ComponentTelemetry) -> [Counters; 3] {
    [
        Counters::new(t, DataKind::Metrics),
        Counters::new(t, DataKind::Logs),
        Counters::new(t, DataKind::Traces),
    ]
}

fn kind_index(kind: DataKind) -> usize {
    match kind {
        DataKind::Metrics => 0,
        DataKind::Logs => 1,
        DataKind::Traces => 2,
    }
}

impl Lanes {
    fn start<T: Transport>(exp: &DeliveryExporter<T>, ctx: &RunContext) -> Self {
        let n = exp.settings.queue.consumers();
        let mut senders = Vec::with_capacity(n);
        let mut tasks = JoinSet::new();
        let disk = exp.disk.as_ref().map(|d| d.queue.clone());
        for _ in 0..n {
            let (tx, mut rx) = mpsc::channel::<Work>(1);
            senders.push(tx);
            let transport = exp.transport.clone();
            let settings = exp.settings.clone();
            let counters = counters_by_kind(&exp.telemetry);
            let id = exp.id.clone();
            let shutdown = ctx.shutdown.clone();
            let disk = disk.clone();
            tasks.spawn(async move {
                while let Some(work) = rx.recv().await {
                    let kind = work.batch.kind();
                    let c = &counters[kind_index(kind)];
                    let done = deliver(
                        &*transport,
                        work.batch,
                        settings.timeout,
                        &settings.retry,
                        c,
                        &id,
                        &shutdown,
                    )
                    .await;
                    match (done, work.index, &disk) {
                        (Finished::Done, Some(index), Some(q)) => q.ack(index),
                        (Finished::Done, _, _) => {}
                        (Finished::Abandoned { items }, Some(_), Some(_)) => {
                            tracing::warn!(exporter = %id, items, "shutdown deadline passed; the batch stays in the disk queue for the next start");
                        }
                        (Finished::Abandoned { items }, _, _) => {
                            c.failed.add(items);
                            tracing::error!(exporter = %id, items, "shutdown deadline passed before delivery; dropped");
                        }
                    }
                }
            });
        }
        Self {
            senders,
            tasks,
            next: 0,
        }
    }

    /// Hands `work` to its lane, waiting for room. Gives the work back if shutdown fired.
    async fn dispatch(
        &mut self,
        key: Option<u64>,
        work: Work,
        shutdown: &CancellationToken,
    ) -> Result<(), Work> {
        let n = self.senders.len();
        let lane = match key {
            Some(k) => (k % n as u64) as usize,
            None => {
                // Any free lane, starting after the last one used; else wait for the next.
                let mut work = work;
                for i in 0..n {
                    let lane = (self.next + i) % n;
                    match self.senders[lane].try_send(work) {
                        Ok(()) => {
                            self.next = lane + 1;
                            return Ok(());
                        }
                        Err(mpsc::error::TrySendError::Full(w))
                        | Err(mpsc::error::TrySendError::Closed(w)) => work = w,
                    }
                }
                let lane = self.next % n;
                self.next = lane + 1;
                return send_to(&self.senders[lane], work, shutdown).await;
            }
        };
        send_to(&self.senders[lane], work, shutdown).await
    }

    async fn finish(mut self) {
        self.senders.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn send_to(
    tx: &mpsc::Sender<Work>,
    work: Work,
    shutdown: &CancellationToken,
) -> Result<(), Work> {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => Err(work),
        permit = tx.reserve() => match permit {
            Ok(p) => { p.send(work); Ok(()) }
            Err(_) => Err(work),
        }
    }
}

async fn run_in_memory<T: Transport>(
    exp: &DeliveryExporter<T>,
    mut input: mpsc::Receiver<Parcel>,
    lanes: &mut Lanes,
    ctx: &RunContext,
) -> Result<(), RunError> {
    let counters = counters_by_kind(&exp.telemetry);
    loop {
        let batch = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break,
            b = input.recv() => b.map(Parcel::accept),
        };
        let Some(batch) = batch else {
            return Ok(());
        };
        for (key, part) in exp.transport.keyed(batch) {
            let work = Work {
                batch: part,
                index: None,
            };
            if let Err(w) = lanes.dispatch(key, work, &ctx.shutdown).await {
                abandon(&counters, &w.batch, &exp.id);
            }
        }
    }
    // Deadline passed: count what is still queued.
    input.close();
    while let Ok(batch) = input.try_recv().map(Parcel::accept) {
        abandon(&counters, &batch, &exp.id);
    }
    Ok(())
}

fn abandon(counters: &[Counters; 3], batch: &Batch, id: &str) {
    let items = batch.item_count() as u64;
    counters[kind_index(batch.kind())].failed.add(items);
    tracing::error!(exporter = %id, items, "shutdown deadline passed before delivery; dropped");
}

async fn run_on_disk<T: Transport>(
    exp: &DeliveryExporter<T>,
    mut input: mpsc::Receiver<Parcel>,
    lanes: &mut Lanes,
    ctx: &RunContext,
    disk: Disk,
) -> Result<(), RunError> {
    let queue = disk.queue.clone();
    let wake = Arc::new(Notify::new());
    let input_done = CancellationToken::new();

    // Writer: input -> disk. A batch is accepted once `push` returned.
    let writer = {
        let queue = queue.clone();
        let wake = wake.clone();
        let input_done = input_done.clone();
        let transport = exp.transport.clone();
        let telemetry = exp.telemetry.clone();
        let shutdown = ctx.shutdown.clone();
        let id = exp.id.clone();
        let blocks = disk.blocks_when_full;
        tokio::spawn(async move {
            let full = [DataKind::Metrics, DataKind::Logs, DataKind::Traces]
                .map(|k| telemetry.enqueue_failed(k));
            let persisted = [DataKind::Metrics, DataKind::Logs, DataKind::Traces].map(|k| {
                telemetry.counter(
                    "kafka_obs_exporter_persisted_items_total",
                    "Items written to an exporter's disk queue (accepted).",
                    &[("data_type", k.as_str())],
                )
            });
            loop {
                let batch = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    b = input.recv() => b,
                };
                let Some(Parcel { batch, receipt }) = batch else {
                    break;
                };
                // The sender hears "accepted" only once every part is on disk.
                let mut refusal = None;
                for (key, part) in transport.keyed(batch) {
                    let k = kind_index(part.kind());
                    let items = part.item_count() as u64;
                    let payload = encode_record(&part, key.is_some());
                    let stored = push(&queue, key.unwrap_or(0), payload, blocks, &shutdown).await;
                    match stored {
                        Ok(true) => {
                            persisted[k].add(items);
                            wake.notify_one();
                        }
                        Ok(false) => {
                            full[k].add(items);
                            tracing::error!(exporter = %id, items, "disk queue full (file_storage max_size); batch dropped");
                            refusal.get_or_insert_with(|| {
                                format!("the disk queue of exporter {id} is full")
                            });
                        }
                        Err(e) => {
                            full[k].add(items);
                            tracing::error!(exporter = %id, items, error = %e, "cannot write to the disk queue; batch dropped");
                            refusal.get_or_insert_with(|| {
                                format!("exporter {id} cannot write its disk queue: {e}")
                            });
                        }
                    }
                }
                match refusal {
                    None => receipt.accept(),
                    Some(reason) => receipt.refuse(reason),
                }
            }
            // Deadline passed (or input closed): what is still queued in memory was never
            // accepted onto the disk.
            input.close();
            while let Ok(batch) = input.try_recv().map(Parcel::accept) {
                telemetry
                    .send_failed(batch.kind())
                    .add(batch.item_count() as u64);
            }
            input_done.cancel();
            wake.notify_one();
        })
    };

    // Reader: disk -> lanes, until the input closed and the disk is drained, or the deadline.
    let damaged = exp.telemetry.counter(
        "kafka_obs_exporter_queue_undecodable_records_total",
        "Disk queue records whose CRC was right but whose content is not a batch; skipped.",
        &[],
    );
    let mut last_sync = tokio::time::Instant::now();
    loop {
        if last_sync.elapsed() >= SYNC_EVERY {
            sync(&queue).await;
            last_sync = tokio::time::Instant::now();
        }
        if ctx.shutdown.is_cancelled() {
            break;
        }
        // Read before popping: a None after the writer finished means drained.
        let writer_finished = input_done.is_cancelled();
        let q = queue.clone();
        let popped = tokio::task::spawn_blocking(move || q.pop())
            .await
            .map_err(|e| RunError::Other(format!("disk queue reader panicked: {e}")))?;
        match popped {
            Ok(Some(rec)) => match decode_record(&rec.payload) {
                Some((batch, keyed)) => {
                    let key = keyed.then_some(rec.key);
                    let work = Work {
                        batch,
                        index: Some(rec.index),
                    };
                    if lanes.dispatch(key, work, &ctx.shutdown).await.is_err() {
                        break;
                    }
                }
                None => {
                    damaged.inc();
                    tracing::error!(exporter = %exp.id, index = rec.index, "disk queue record is not a batch; skipped");
                    queue.ack(rec.index);
                }
            },
            Ok(None) => {
                if writer_finished {
                    break;
                }
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = ctx.shutdown.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::error!(exporter = %exp.id, error = %e, "cannot read the disk queue; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = ctx.shutdown.cancelled() => {}
                }
            }
        }
    }
    let _ = writer.await;
    Ok(())
}

async fn sync(queue: &Arc<dyn PersistentQueue>) {
    let q = queue.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || q.sync()).await {
        tracing::warn!(error = %e, "cannot persist the disk queue position; a restart may resend more");
    }
}

/// Pushes one record, waiting for room when the storage blocks on full. Ok(false): dropped.
async fn push(
    queue: &Arc<dyn PersistentQueue>,
    key: u64,
    payload: Vec<u8>,
    blocks: bool,
    shutdown: &CancellationToken,
) -> Result<bool, kafka_obs_api::StorageError> {
    let payload = Arc::new(payload);
    loop {
        let q = queue.clone();
        let p = payload.clone();
        let outcome = tokio::task::spawn_blocking(move || q.push(key, &p))
            .await
            .map_err(|e| kafka_obs_api::StorageError::Other(format!("writer panicked: {e}")))??;
        match outcome {
            PushOutcome::Stored | PushOutcome::StoredAfterEvicting { .. } => return Ok(true),
            PushOutcome::Full if !blocks => return Ok(false),
            PushOutcome::Full => {
                if shutdown.is_cancelled() {
                    return Ok(false);
                }
                let q = queue.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    q.wait_for_room(Duration::from_millis(500))
                })
                .await;
            }
        }
    }
}

const RECORD_VERSION: u8 = 1;

/// `[version][kind][keyed]` then the protobuf request.
pub fn encode_record(batch: &Batch, keyed: bool) -> Vec<u8> {
    let (kind, body) = match batch {
        Batch::Metrics(r) => (0u8, r.encode_to_vec()),
        Batch::Logs(r) => (1u8, r.encode_to_vec()),
        Batch::Traces(r) => (2u8, r.encode_to_vec()),
    };
    let mut out = Vec::with_capacity(body.len() + 3);
    out.extend_from_slice(&[RECORD_VERSION, kind, u8::from(keyed)]);
    out.extend_from_slice(&body);
    out
}

/// Reads a record made by [`encode_record`]; `None` when it is not one.
pub fn decode_record(bytes: &[u8]) -> Option<(Batch, bool)> {
    let (head, body) = bytes.split_at_checked(3)?;
    if head[0] != RECORD_VERSION {
        return None;
    }
    let batch = match head[1] {
        0 => Batch::Metrics(ExportMetricsServiceRequest::decode(body).ok()?),
        1 => Batch::Logs(ExportLogsServiceRequest::decode(body).ok()?),
        2 => Batch::Traces(ExportTraceServiceRequest::decode(body).ok()?),
        _ => return None,
    };
    Some((batch, head[2] == 1))
}

/// A counter of items by kind, for exporters that count their own skips.
pub fn skipped_counter(t: &ComponentTelemetry, kind: DataKind, reason: &str) -> Counter {
    t.counter(
        "kafka_obs_exporter_skipped_items_total",
        "Items an exporter does not send by design (not a signal, undecodable), by reason.",
        &[("data_type", kind.as_str()), ("reason", reason)],
    )
}
