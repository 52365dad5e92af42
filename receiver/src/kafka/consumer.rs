//! The consumer thread: one librdkafka `BaseConsumer` in a consumer group, polled on its own
//! thread so nothing blocking ever runs on the async runtime.
//!
//! The thread decodes each record and hands it to the receiver's task over a bounded channel;
//! verdicts come back over another (`Settle`), and the thread commits, per partition, the
//! offset after the highest contiguous accepted record ([`Tracker`]). A record that does not
//! decode is counted, logged and settled at once, so one poison record never blocks its
//! partition. When the channel is full (the pipeline is slow, or refusing and the receiver is
//! retrying), the record is held and every assigned partition is paused until there is room;
//! polling goes on meanwhile, so the consumer stays in its group.
//!
//! Rebalances run inside `poll`, on this thread ([`ConsumerContext::pre_rebalance`]):
//!
//! - revoke: records of the revoked partitions still held are dropped (the next owner reads
//!   them), the others get a bounded time for their verdicts, the accepted prefix is committed
//!   synchronously, and a `kafka_obs.partitions_revoked` control record follows the partitions'
//!   last records on the channel;
//! - assign: a `kafka_obs.partitions_assigned` control record goes first; then, to rebuild
//!   state, each partition of the logs topic starts `rebuild.max_records` records (and at most
//!   `rebuild.window` old) before its committed offset, so the records a previous owner
//!   already processed are replayed (marked) before live consumption resumes at the committed
//!   offset. The start offsets are set on the assignment itself, before librdkafka applies it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{Batch, Counter, DataKind, Gauge};
use kafka_obs_kafka_client::Encoding;

use super::config::RebuildSettings;
use super::records::{self, Movement};
use super::tracker::{Tp, Tracker};

/// How long one poll waits for a record.
const POLL: Duration = Duration::from_millis(100);
/// Commits at most this often while records are being accepted.
const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Broker requests made during a rebalance (committed offsets, watermarks, times).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one consumer-error log line per this interval.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a revoke (and a stop) waits for the verdicts of records already handed on.
pub(crate) const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// From the thread to the receiver's task, in poll order.
#[derive(Debug)]
pub(crate) enum Item {
    Record {
        tp: Tp,
        offset: i64,
        kind: DataKind,
        encoding: Encoding,
        batch: Batch,
        /// The raw value, to decode again if the pipeline refuses the batch.
        value: Vec<u8>,
        replay: bool,
    },
    Moved {
        movement: Movement,
        topic: String,
        partitions: Vec<i32>,
    },
}

/// From the receiver's task: what became of a record handed on.
#[derive(Debug)]
pub(crate) enum Settle {
    /// Accepted by the pipeline (or consumed otherwise for good): commit may pass it.
    Done(Tp, i64),
    /// Will get no verdict (shutdown, partition gone): stop waiting, never commit past it.
    Abandoned(Tp, i64),
}

/// What one topic carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicSpec {
    pub(crate) kind: DataKind,
    pub(crate) encoding: Encoding,
}

/// Self-metrics the thread keeps.
#[derive(Debug, Clone)]
pub(crate) struct ThreadCounters {
    pub(crate) records: Counter,
    pub(crate) skipped: Counter,
    pub(crate) replayed: Counter,
    pub(crate) commits: Counter,
    pub(crate) commit_failures: Counter,
    pub(crate) assigned: Counter,
    pub(crate) revoked: Counter,
    pub(crate) paused: Gauge,
    pub(crate) partitions: Gauge,
}

/// Everything the thread needs, fixed at start.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) properties: Vec<(String, String)>,
    pub(crate) topics: HashMap<String, TopicSpec>,
    pub(crate) rebuild: RebuildSettings,
    pub(crate) group: String,
    pub(crate) id: String,
    pub(crate) counters: ThreadCounters,
}

struct State {
    data: mpsc::Sender<Item>,
    settles: mpsc::Receiver<Settle>,
    tracker: Tracker,
    /// Records polled while the channel was full, in order.
    held: VecDeque<Item>,
    paused: bool,
    /// Partitions being replayed: offsets below this are replays.
    replay_until: HashMap<Tp, i64>,
    /// Rebalances now come from closing the consumer: no control records, no rebuild.
    closing: bool,
}

/// The consumer's context: rebalance handling and logging.
pub(crate) struct Ctx {
    spec: Spec,
    state: Mutex<State>,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_logs(&self, topic: &str) -> bool {
        self.spec
            .topics
            .get(topic)
            .is_some_and(|t| t.kind == DataKind::Logs)
    }

    /// Revoked partitions: drop what is held for them, wait for the rest, commit, announce.
    fn revoke(&self, consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) {
        let tps: Vec<Tp> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let mut st = self.lock();
        let mut dropped = 0usize;
        let held = std::mem::take(&mut st.held);
        for item in held {
            match &item {
                Item::Record { tp, offset, .. } if tps.contains(tp) => {
                    st.tracker.abandon(tp, *offset);
                    dropped += 1;
                }
                _ => st.held.push_back(item),
            }
        }
        // While closing, the stop already waited for the verdicts.
        let deadline = Instant::now()
            + if st.closing {
                Duration::ZERO
            } else {
                SETTLE_GRACE
            };
        loop {
            st.apply_settles();
            let waiting = st.tracker.waiting(&tps);
            if waiting == 0 {
                break;
            }
            if Instant::now() >= deadline {
                if st.closing {
                    break;
                }
                tracing::warn!(
                    receiver = %self.spec.id,
                    waiting,
                    "partitions revoked before the pipeline accepted every record; the next owner reads them again"
                );
                break;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(10));
            st = self.lock();
        }
        commit(
            consumer,
            &mut st.tracker,
            Some(&tps),
            CommitMode::Sync,
            &self.spec,
        );
        st.tracker.forget(&tps);
        for tp in &tps {
            st.replay_until.remove(tp);
        }
        self.spec.counters.revoked.add(tps.len() as u64);
        tracing::info!(
            receiver = %self.spec.id,
            partitions = ?tps,
            dropped_held = dropped,
            "partitions revoked"
        );
        if !st.closing {
            for (topic, partitions) in by_topic(&tps) {
                if self.is_logs(&topic) {
                    st.enqueue(
                        consumer,
                        Item::Moved {
                            movement: Movement::Revoked,
                            topic,
                            partitions,
                        },
                        &self.spec,
                    );
                }
            }
        }
    }

    /// Assigned partitions: announce them, then start the logs topic's partitions early
    /// enough to replay what rebuilds state.
    fn assign(&self, consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) {
        let tps: Vec<Tp> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        self.spec.counters.assigned.add(tps.len() as u64);
        let mut st = self.lock();
        if st.closing {
            return;
        }
        for (topic, partitions) in by_topic(&tps) {
            if self.is_logs(&topic) {
                st.enqueue(
                    consumer,
                    Item::Moved {
                        movement: Movement::Assigned,
                        topic,
                        partitions,
                    },
                    &self.spec,
                );
            }
        }
        drop(st);
        let replays = self.plan_rebuild(consumer, tpl);
        let mut st = self.lock();
        for (tp, start, until) in &replays {
            st.replay_until.insert(tp.clone(), *until);
            tracing::info!(
                receiver = %self.spec.id,
                topic = %tp.0,
                partition = tp.1,
                from = start,
                to = until,
                "replaying the partition's recent records to rebuild state"
            );
        }
        tracing::info!(receiver = %self.spec.id, partitions = ?tps, "partitions assigned");
    }

    /// For each logs partition with a committed offset: where to start so that up to
    /// `max_records` (within `window`) records before it are replayed. Sets the start on the
    /// assignment list itself and returns `(partition, start, committed)`.
    fn plan_rebuild(
        &self,
        consumer: &BaseConsumer<Ctx>,
        tpl: &TopicPartitionList,
    ) -> Vec<(Tp, i64, i64)> {
        let rebuild = self.spec.rebuild;
        if rebuild.max_records == 0 {
            return Vec::new();
        }
        let mut logs_tpl = TopicPartitionList::new();
        for e in tpl.elements() {
            if self.is_logs(e.topic()) {
                logs_tpl.add_partition(e.topic(), e.partition());
            }
        }
        if logs_tpl.count() == 0 {
            return Vec::new();
        }
        let committed = match consumer.committed_offsets(logs_tpl.clone(), REQUEST_TIMEOUT) {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(receiver = %self.spec.id, %error, "cannot read the committed offsets; no state rebuild for this assignment");
                return Vec::new();
            }
        };
        // Optionally the first offset inside the window, per partition.
        let by_time: HashMap<Tp, i64> = match rebuild.window {
            None => HashMap::new(),
            Some(window) => {
                let since = now_millis()
                    .saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
                let mut times = TopicPartitionList::new();
                for e in logs_tpl.elements() {
                    let _ =
                        times.add_partition_offset(e.topic(), e.partition(), Offset::Offset(since));
                }
                match consumer.offsets_for_times(times, REQUEST_TIMEOUT) {
                    Ok(found) => found
                        .elements()
                        .iter()
                        .filter_map(|e| match e.offset() {
                            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                            // Nothing that recent: replay nothing.
                            Offset::End => Some(((e.topic().to_string(), e.partition()), i64::MAX)),
                            _ => None,
                        })
                        .collect(),
                    Err(error) => {
                        tracing::debug!(receiver = %self.spec.id, %error, "offsets_for_times failed; the window is applied by record timestamp only");
                        HashMap::new()
                    }
                }
            }
        };
        let mut out = Vec::new();
        for e in committed.elements() {
            let Offset::Offset(until) = e.offset() else {
                continue; // nothing committed yet: nothing to rebuild from
            };
            let tp: Tp = (e.topic().to_string(), e.partition());
            let low = consumer
                .fetch_watermarks(&tp.0, tp.1, REQUEST_TIMEOUT)
                .map(|(low, _)| low)
                .unwrap_or(0);
            let by_count =
                until.saturating_sub(i64::try_from(rebuild.max_records).unwrap_or(i64::MAX));
            let mut start = by_count.max(low).max(0);
            if let Some(t) = by_time.get(&tp) {
                start = start.max(*t);
            }
            if start >= until {
                continue;
            }
            let set = tpl
                .elements()
                .into_iter()
                .find(|x| x.topic() == tp.0 && x.partition() == tp.1)
                .map(|mut x| x.set_offset(Offset::Offset(start)));
            if matches!(set, Some(Ok(()))) {
                out.push((tp, start, until));
            }
        }
        out
    }
}

fn by_topic(tps: &[Tp]) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for (topic, p) in tps {
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(*p),
            None => out.push((topic.clone(), vec![*p])),
        }
    }
    for (_, ps) in &mut out {
        ps.sort_unstable();
    }
    out
}

impl State {
    fn apply_settles(&mut self) {
        while let Ok(s) = self.settles.try_recv() {
            match s {
                Settle::Done(tp, o) => self.tracker.settle(&tp, o),
                Settle::Abandoned(tp, o) => self.tracker.abandon(&tp, o),
            }
        }
    }

    /// Hands an item on, or holds it (and pauses) while the channel is full.
    fn enqueue(&mut self, consumer: &BaseConsumer<Ctx>, item: Item, spec: &Spec) {
        if self.held.is_empty() {
            match self.data.try_send(item) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(item)) => self.held.push_back(item),
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        } else {
            self.held.push_back(item);
        }
        if !self.paused {
            self.paused = true;
            spec.counters.paused.set(1);
            pause(consumer, spec);
        }
    }

    /// Hands on what was held, and resumes once all of it went.
    fn flush_held(&mut self, consumer: &BaseConsumer<Ctx>, spec: &Spec) {
        while let Some(item) = self.held.pop_front() {
            match self.data.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    self.held.push_front(item);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.held.clear();
                    return;
                }
            }
        }
        if self.paused {
            self.paused = false;
            spec.counters.paused.set(0);
            match consumer.assignment() {
                Ok(a) => {
                    if let Err(error) = consumer.resume(&a) {
                        tracing::warn!(receiver = %spec.id, %error, "cannot resume the partitions");
                    }
                }
                Err(error) => {
                    tracing::warn!(receiver = %spec.id, %error, "cannot read the assignment")
                }
            }
            tracing::debug!(receiver = %spec.id, "pipeline has room again; partitions resumed");
        }
    }
}

fn pause(consumer: &BaseConsumer<Ctx>, spec: &Spec) {
    match consumer.assignment() {
        Ok(a) => {
            if let Err(error) = consumer.pause(&a) {
                tracing::warn!(receiver = %spec.id, %error, "cannot pause the partitions");
            } else {
                tracing::debug!(receiver = %spec.id, partitions = a.count(), "pipeline full; partitions paused");
            }
        }
        Err(error) => tracing::warn!(receiver = %spec.id, %error, "cannot read the assignment"),
    }
}

/// Commits what the tracker allows (for `only`, or all partitions).
fn commit(
    consumer: &BaseConsumer<Ctx>,
    tracker: &mut Tracker,
    only: Option<&[Tp]>,
    mode: CommitMode,
    spec: &Spec,
) {
    let offsets = tracker.to_commit(only);
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, p), at) in &offsets {
        let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(*at));
    }
    match consumer.commit(&tpl, mode) {
        Ok(()) => {
            tracker.committed(&offsets);
            spec.counters.commits.inc();
        }
        Err(error) => {
            spec.counters.commit_failures.inc();
            tracing::warn!(receiver = %spec.id, %error, "offset commit failed; will try again");
        }
    }
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let id = &self.spec.id;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(receiver = %id, fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(receiver = %id, fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Notice => tracing::info!(receiver = %id, fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Info => tracing::debug!(receiver = %id, fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Debug => tracing::debug!(receiver = %id, fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(receiver = %self.spec.id, %error, reason, "Kafka client error");
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.revoke(consumer, tpl),
            Rebalance::Assign(tpl) => self.assign(consumer, tpl),
            Rebalance::Error(error) => {
                tracing::warn!(receiver = %self.spec.id, %error, "consumer group rebalance failed");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.spec.counters.partitions.set(tpl.count() as i64);
            // A new assignment starts unpaused; keep it paused while records are held.
            let st = self.lock();
            if st.paused {
                pause(consumer, &self.spec);
            }
        } else if let Rebalance::Revoke(_) = rebalance {
            self.spec.counters.partitions.set(0);
        }
    }
}

/// Creates the consumer (librdkafka starts its threads here, in `run`) and subscribes.
pub(crate) fn create(
    spec: Spec,
    data: mpsc::Sender<Item>,
    settles: mpsc::Receiver<Settle>,
) -> Result<BaseConsumer<Ctx>, KafkaError> {
    let mut cc = ClientConfig::new();
    for (k, v) in &spec.properties {
        cc.set(k, v);
    }
    let mut topics: Vec<String> = spec.topics.keys().cloned().collect();
    topics.sort();
    let ctx = Ctx {
        spec,
        state: Mutex::new(State {
            data,
            settles,
            tracker: Tracker::default(),
            held: VecDeque::new(),
            paused: false,
            replay_until: HashMap::new(),
            closing: false,
        }),
    };
    let consumer: BaseConsumer<Ctx> = cc.create_with_context(ctx)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    Ok(consumer)
}

/// The poll loop, until `stop`; then a bounded wait for verdicts, a final commit, and the
/// consumer leaves its group.
pub(crate) fn run(consumer: BaseConsumer<Ctx>, stop: CancellationToken) {
    let ctx = consumer.context().clone();
    let spec = &ctx.spec;
    let mut last_commit = Instant::now();
    // Consumer errors repeat while their cause lasts (a missing topic, a broker down): log the
    // first, then at most one line per interval with how many there were.
    let mut errors_since_log = 0u64;
    let mut last_error_log: Option<Instant> = None;
    while !stop.is_cancelled() {
        {
            let mut st = ctx.lock();
            st.apply_settles();
            st.flush_held(&consumer, spec);
            if last_commit.elapsed() >= COMMIT_EVERY {
                commit(&consumer, &mut st.tracker, None, CommitMode::Sync, spec);
                last_commit = Instant::now();
            }
        }
        // Never hold the state lock here: rebalances run inside poll and take it.
        match consumer.poll(POLL) {
            None => {}
            Some(Err(error)) => {
                errors_since_log += 1;
                if last_error_log.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
                    tracing::warn!(
                        receiver = %spec.id,
                        %error,
                        errors = errors_since_log,
                        "Kafka consumer error"
                    );
                    errors_since_log = 0;
                    last_error_log = Some(Instant::now());
                }
                std::thread::sleep(POLL);
            }
            Some(Ok(message)) => {
                let topic = message.topic().to_string();
                let partition = message.partition();
                let offset = message.offset();
                let tp: Tp = (topic.clone(), partition);
                let Some(topic_spec) = spec.topics.get(&topic).copied() else {
                    continue;
                };
                let mut st = ctx.lock();
                let replay = match st.replay_until.get(&tp) {
                    Some(until) if offset < *until => true,
                    Some(_) => {
                        st.replay_until.remove(&tp);
                        false
                    }
                    None => false,
                };
                if replay
                    && let (Some(window), Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t)) =
                        (spec.rebuild.window, message.timestamp())
                    && now_millis().saturating_sub(t)
                        > i64::try_from(window.as_millis()).unwrap_or(i64::MAX)
                {
                    continue; // older than the rebuild window
                }
                let value = message.payload().unwrap_or_default().to_vec();
                let decoded = records::decode(
                    &value,
                    topic_spec.kind,
                    topic_spec.encoding,
                    &topic,
                    partition,
                    replay,
                );
                match decoded {
                    Ok(batch) if batch.item_count() > 0 => {
                        if replay {
                            spec.counters.replayed.inc();
                        } else {
                            spec.counters.records.inc();
                            st.tracker.polled(&tp, offset);
                        }
                        st.enqueue(
                            &consumer,
                            Item::Record {
                                tp,
                                offset,
                                kind: topic_spec.kind,
                                encoding: topic_spec.encoding,
                                batch,
                                value,
                                replay,
                            },
                            spec,
                        );
                    }
                    other => {
                        spec.counters.skipped.inc();
                        match other {
                            Err(error) => tracing::warn!(
                                receiver = %spec.id,
                                topic = %tp.0,
                                partition = tp.1,
                                offset,
                                bytes = value.len(),
                                %error,
                                "skipped a record that does not decode"
                            ),
                            Ok(_) => tracing::debug!(
                                receiver = %spec.id,
                                topic = %tp.0,
                                partition = tp.1,
                                offset,
                                "skipped a record without items"
                            ),
                        }
                        if !replay {
                            // Settled at once: one bad record never blocks its partition.
                            st.tracker.polled(&tp, offset);
                            st.tracker.settle(&tp, offset);
                        }
                    }
                }
            }
        }
    }
    // Stopping: held records will not be handed on; wait a while for the verdicts of what
    // was, commit, and leave the group.
    {
        let mut st = ctx.lock();
        let held = std::mem::take(&mut st.held);
        for item in held {
            if let Item::Record {
                tp,
                offset,
                replay: false,
                ..
            } = item
            {
                st.tracker.abandon(&tp, offset);
            }
        }
        let deadline = Instant::now() + SETTLE_GRACE;
        loop {
            st.apply_settles();
            if st.tracker.waiting_all() == 0 || Instant::now() >= deadline {
                break;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(10));
            st = ctx.lock();
        }
        let waiting = st.tracker.waiting_all();
        if waiting > 0 {
            tracing::info!(receiver = %spec.id, waiting, "stopping before every verdict arrived; those records are read again after a restart");
        }
        commit(&consumer, &mut st.tracker, None, CommitMode::Sync, spec);
        st.closing = true;
    }
    // Dropping the consumer leaves the group (its revoke runs with `closing` set).
    drop(consumer);
    tracing::info!(receiver = %spec.id, "Kafka consumer closed");
}
