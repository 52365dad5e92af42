//! The `kafka` receiver against a real Kafka-protocol broker (`tansu`, in memory, on
//! 127.0.0.1), with its pipeline a channel whose receipts the test settles: offsets are
//! committed only after acceptance, a poison record is skipped and committed past, a refused
//! batch comes again, a restart reads only what was not accepted, and a new assignment replays
//! the partition's recent history, marked, after its control record.
//!
//! Records are counted as consumed; tansu's high watermarks count batches, not records, so no
//! test relies on them (see the shared test-peers notes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::telemetry::Telemetry;
use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, DataKind, Outputs, Parcel, ReceiverConfig, RunError,
};
use kafka_obs_signal::intake::{ASSIGNED, PARTITION, REPLAY, TOPIC};
use kafka_obs_testkit::tansu::Tansu;

use super::KafkaReceiverConfig;

/// A broker for one test, with the helpers these tests need.
struct Broker(Tansu);

impl Broker {
    fn start() -> Broker {
        Broker(Tansu::start().expect("tansu"))
    }

    fn brokers(&self) -> String {
        self.0.brokers()
    }

    fn create_topic(&self, topic: &str, partitions: u32) {
        self.0.create_topic(topic, partitions).expect("topic");
    }

    /// Produces `(partition, value)` records in order and waits until all are delivered.
    fn produce(&self, topic: &str, records: &[(i32, Vec<u8>)]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("linger.ms", "0")
            .create()
            .unwrap();
        for (p, value) in records {
            producer
                .send(
                    BaseRecord::to(topic)
                        .partition(*p)
                        .key("k")
                        .payload(value.as_slice()),
                )
                .map_err(|(e, _)| e)
                .unwrap();
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(10)).unwrap();
    }

    /// The group's committed offset per partition (None: nothing committed).
    fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(5))
            .unwrap();
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// One OTLP logs request with one record whose body is `n`.
fn record(n: u64) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.instance.id",
                    Value::StringValue("pod-a".into()),
                )],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: n,
                    body: Some(AnyValue {
                        value: Some(Value::IntValue(n as i64)),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// What the test saw of one parcel.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Record {
        n: i64,
        partition: String,
        replay: bool,
    },
    Control {
        event: String,
    },
}

fn seen(batch: &Batch) -> Vec<Seen> {
    let Batch::Logs(r) = batch else {
        panic!("logs only");
    };
    let mut out = Vec::new();
    for rl in &r.resource_logs {
        let res = &rl.resource.as_ref().unwrap().attributes;
        let text = |attrs: &[KeyValue], k: &str| {
            attrs.iter().find(|a| a.key == k).and_then(|a| {
                match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                }
            })
        };
        for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            if !record.event_name.is_empty() {
                out.push(Seen::Control {
                    event: record.event_name.clone(),
                });
                continue;
            }
            assert_eq!(text(res, TOPIC).as_deref(), Some("sig"));
            let Some(Value::IntValue(n)) = record.body.as_ref().and_then(|b| b.value.clone())
            else {
                panic!("body");
            };
            out.push(Seen::Record {
                n,
                partition: text(res, PARTITION).unwrap(),
                replay: record.attributes.iter().any(|a| {
                    a.key == REPLAY
                        && a.value.as_ref().and_then(|v| v.value.clone())
                            == Some(Value::BoolValue(true))
                }),
            });
        }
    }
    out
}

struct Harness {
    rx: mpsc::Receiver<Parcel>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

fn start(brokers: &str, extra: &str) -> Harness {
    let yaml = format!(
        "brokers: ['{brokers}']
topic: sig
group_id: g
initial_offset: earliest
session_timeout: 6s
heartbeat_interval: 1s
{extra}"
    );
    let config = KafkaReceiverConfig::parse(&serde_yaml_ng::from_str(&yaml).unwrap()).unwrap();
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "kafka/test", &[DataKind::Logs]);
    let receiver = config.build(&ctx).unwrap();
    let (outputs, mut rx) = Outputs::for_test(&[DataKind::Logs], 16, true);
    let rx = rx.remove(&DataKind::Logs).unwrap();
    let (run_ctx, shutdown) = ctx.run_for_test();
    let task = tokio::spawn(receiver.run(outputs, run_ctx));
    Harness {
        rx,
        telemetry: ctx.telemetry.registry().clone(),
        shutdown,
        task,
    }
}

impl Harness {
    /// Parcels until `want` records (not control records) arrived; control records are kept
    /// in the result and accepted.
    async fn records(&mut self, want: usize, timeout: Duration) -> Vec<(Seen, Option<Parcel>)> {
        let mut out = Vec::new();
        let mut records = 0;
        let deadline = Instant::now() + timeout;
        while records < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some(parcel)) = tokio::time::timeout(left, self.rx.recv()).await else {
                panic!("only {records} of {want} records within {timeout:?}: {out:?}");
            };
            let items = seen(&parcel.batch);
            let is_record = items.iter().any(|s| matches!(s, Seen::Record { .. }));
            records += items
                .iter()
                .filter(|s| matches!(s, Seen::Record { .. }))
                .count();
            let parcel = if is_record {
                Some(parcel)
            } else {
                parcel.accept();
                None
            };
            let mut items = items.into_iter();
            let first = items.next().unwrap();
            out.push((first, parcel));
            out.extend(items.map(|s| (s, None)));
        }
        out
    }

    async fn nothing_within(&mut self, d: Duration) {
        if let Ok(Some(p)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected: {:?}", seen(&p.batch));
        }
    }

    fn metric(&self, name: &str) -> i64 {
        self.telemetry
            .snapshot()
            .into_iter()
            .filter(|s| s.name == name)
            .map(|s| s.value.as_i64())
            .sum()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops in time")
            .expect("no panic")
            .expect("clean stop");
    }
}

fn numbers(seen: &[(Seen, Option<Parcel>)]) -> Vec<i64> {
    seen.iter()
        .filter_map(|(s, _)| match s {
            Seen::Record {
                n, replay: false, ..
            } => Some(*n),
            _ => None,
        })
        .collect()
}

async fn wait_committed(tansu: &Broker, want: &[Option<i64>]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = tansu.committed("g", "sig", want.len() as i32);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "committed {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_after_acceptance_skips_poison_and_resumes_after_restart() {
    let tansu = Broker::start();
    tansu.create_topic("sig", 2);
    // Partition 0: 0..10 with a poison record after 4; partition 1: 100..110.
    let mut input: Vec<(i32, Vec<u8>)> = Vec::new();
    for n in 0..10 {
        input.push((0, record(n)));
        if n == 4 {
            input.push((0, b"\xff\xff not OTLP".to_vec()));
        }
    }
    for n in 100..110 {
        input.push((1, record(n)));
    }
    tansu.produce("sig", &input);

    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 0}");
    let got = h.records(20, Duration::from_secs(30)).await;
    assert!(
        matches!(&got[0].0, Seen::Control { event } if event == ASSIGNED),
        "the assignment is announced first: {:?}",
        got[0].0
    );
    let mut ns = numbers(&got);
    ns.sort_unstable();
    assert_eq!(ns, (0..10).chain(100..110).collect::<Vec<i64>>());
    // Nothing accepted yet: nothing committed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(tansu.committed("g", "sig", 2), vec![None, None]);

    // Accept partition 0 up to n=6 (offsets 0..=7 with the poison at 5) and all of
    // partition 1 except its first record.
    let mut later = Vec::new();
    for (s, parcel) in got {
        let (Seen::Record { n, .. }, Some(parcel)) = (s, parcel) else {
            continue;
        };
        if n <= 6 || n > 100 {
            parcel.accept();
        } else {
            later.push((n, parcel));
        }
    }
    wait_committed(&tansu, &[Some(8), None]).await;
    assert_eq!(
        h.metric("kafka_obs_receiver_kafka_skipped_records_total"),
        1,
        "the poison record"
    );
    // Refuse n=7: it comes again (with backoff) and is then accepted.
    let at = later.iter().position(|(n, _)| *n == 7).unwrap();
    let (_, p7) = later.remove(at);
    p7.receipt.refuse("exporter queue closed");
    let again = h.records(1, Duration::from_secs(10)).await;
    assert_eq!(numbers(&again), [7]);
    for (_, p) in again {
        p.unwrap().accept();
    }
    wait_committed(&tansu, &[Some(9), None]).await;
    assert_eq!(
        h.metric("kafka_obs_receiver_kafka_refused_batches_total"),
        1
    );

    // Stop with 8, 9 and 100 unaccepted; a restart reads exactly those again.
    drop(later);
    h.stop().await;
    assert_eq!(tansu.committed("g", "sig", 2), vec![Some(9), None]);
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 0}");
    let got = h.records(12, Duration::from_secs(30)).await;
    let mut ns = numbers(&got);
    ns.sort_unstable();
    assert_eq!(ns, [8, 9, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    for (_, p) in got {
        if let Some(p) = p {
            p.accept();
        }
    }
    wait_committed(&tansu, &[Some(11), Some(10)]).await;
    h.nothing_within(Duration::from_millis(500)).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_replays_recent_history_marked_then_goes_live() {
    let tansu = Broker::start();
    tansu.create_topic("sig", 1);
    tansu.produce("sig", &(0..20).map(|n| (0, record(n))).collect::<Vec<_>>());
    // A first consumer processes everything.
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 0}");
    for (_, p) in h.records(20, Duration::from_secs(30)).await {
        if let Some(p) = p {
            p.accept();
        }
    }
    wait_committed(&tansu, &[Some(20)]).await;
    h.stop().await;

    // The next owner replays the last 5 (marked), then reads new records live.
    tansu.produce("sig", &(20..23).map(|n| (0, record(n))).collect::<Vec<_>>());
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 5}");
    let got = h.records(8, Duration::from_secs(30)).await;
    let order: Vec<String> = got
        .iter()
        .map(|(s, _)| match s {
            Seen::Control { event } => event.clone(),
            Seen::Record {
                n,
                replay,
                partition,
            } => {
                assert_eq!(partition, "0");
                format!("{n}{}", if *replay { "r" } else { "" })
            }
        })
        .collect();
    assert_eq!(
        order,
        [
            ASSIGNED, "15r", "16r", "17r", "18r", "19r", "20", "21", "22"
        ],
    );
    assert_eq!(
        h.metric("kafka_obs_receiver_kafka_replayed_records_total"),
        5
    );
    for (_, p) in got {
        if let Some(p) = p {
            p.accept();
        }
    }
    wait_committed(&tansu, &[Some(23)]).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_pipeline_pauses_consumption_and_loses_nothing() {
    let tansu = Broker::start();
    tansu.create_topic("sig", 2);
    tansu.produce(
        "sig",
        &(0..600)
            .map(|n| ((n % 2) as i32, record(n)))
            .collect::<Vec<_>>(),
    );
    let mut h = start(
        &tansu.brokers(),
        "rebuild: {max_records: 0}\nmax_in_flight: 32",
    );
    // Nobody reads the pipeline: the channel (16), the in-flight bound and the hand-over
    // fill, and the consumer pauses its partitions.
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.metric("kafka_obs_receiver_kafka_paused") != 1 {
        assert!(Instant::now() < deadline, "never paused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read_while_paused = h.metric("kafka_obs_receiver_kafka_records_total");
    assert!(read_while_paused < 600, "paused before reading everything");
    // Drain, accepting as we go: everything arrives once, consumption resumes, all is
    // committed.
    let mut ns = Vec::new();
    while ns.len() < 600 {
        let got = h.records(1, Duration::from_secs(30)).await;
        ns.extend(numbers(&got));
        for (_, p) in got {
            if let Some(p) = p {
                p.accept();
            }
        }
    }
    ns.sort_unstable();
    assert_eq!(ns, (0..600).collect::<Vec<i64>>());
    wait_committed(&tansu, &[Some(300), Some(300)]).await;
    assert_eq!(h.metric("kafka_obs_receiver_kafka_paused"), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebuild_window_limits_the_replay_by_time() {
    let tansu = Broker::start();
    tansu.create_topic("sig", 1);
    tansu.produce("sig", &(0..10).map(|n| (0, record(n))).collect::<Vec<_>>());
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 0}");
    for (_, p) in h.records(10, Duration::from_secs(30)).await {
        if let Some(p) = p {
            p.accept();
        }
    }
    wait_committed(&tansu, &[Some(10)]).await;
    h.stop().await;

    // Within an hour: all ten come back, marked, before the live one.
    tansu.produce("sig", &[(0, record(10))]);
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 100, window: 1h}");
    let got = h.records(11, Duration::from_secs(30)).await;
    let replayed = got
        .iter()
        .filter(|(s, _)| matches!(s, Seen::Record { replay: true, .. }))
        .count();
    assert_eq!(replayed, 10);
    assert_eq!(numbers(&got), [10]);
    for (_, p) in got {
        if let Some(p) = p {
            p.accept();
        }
    }
    wait_committed(&tansu, &[Some(11)]).await;
    h.stop().await;

    // Within a second (everything is older by now): nothing is replayed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tansu.produce("sig", &[(0, record(11))]);
    let mut h = start(&tansu.brokers(), "rebuild: {max_records: 100, window: 1s}");
    let got = h.records(1, Duration::from_secs(30)).await;
    assert_eq!(numbers(&got), [11]);
    assert!(
        got.iter()
            .all(|(s, _)| !matches!(s, Seen::Record { replay: true, .. })),
        "{got:?}"
    );
    assert_eq!(
        h.metric("kafka_obs_receiver_kafka_replayed_records_total"),
        0
    );
    for (_, p) in got {
        if let Some(p) = p {
            p.accept();
        }
    }
    h.stop().await;
}
