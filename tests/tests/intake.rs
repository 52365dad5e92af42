//! The central side's intake end to end, with the real binary (issue #6, parts 1 and 7):
//!
//! - the signal stream: a sidecar's `signals` exporter -> a central `signals` receiver ->
//!   file; the central is stopped (SIGTERM, and separately `kill -9`) and restarted in the
//!   middle of the stream: every signal arrives, none twice after a graceful restart, and
//!   after a crash only the unacked window may come twice;
//! - the Kafka path: a sidecar's `kafka` exporter -> tansu -> a central `kafka` receiver ->
//!   file, in `otlp_proto` and `otlp_json`: counts exact, a restart of the receiving collector
//!   loses nothing and reprocesses nothing after a graceful stop, a poison record is skipped
//!   and counted;
//! - both transports at once from a sidecar reading the scenario JVM (jmx -> signals ->
//!   signals exporter and kafka exporter): the central gets each signal once per transport;
//! - scale-out: two central instances (kafka receiver -> hierarchy connector) in one group on
//!   a 4-partition topic: each cluster's cells live on exactly one instance; one is stopped,
//!   the other takes its partitions over, rebuilds from the topic and the incident stays open.
//!
//! Every network peer is on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_signal::intake::TOPIC;
use kafka_obs_signal::{Evidence, Signal, SignalKind, statuses};
use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::scenario::{Role, ScenarioJvm};
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::{Collector, CollectorOptions, SignalSender, complete_lines, http_get};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

// ---- helpers -------------------------------------------------------------------------------

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Polls `probe` every 100 ms for at most `limit`.
fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kill -9`, then waits until the process is gone (or a zombie: its sockets are closed).
fn kill_hard(c: &Collector) {
    let pid = c.pid();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the killed process to end", Duration::from_secs(10), || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        matches!(state, None | Some("Z") | Some("X")).then_some(())
    });
}

/// A signal event about `subject` from `source` with sequence `seq`.
fn signal(subject: &str, source: &str, seq: u64, sign: statuses::Sign) -> Signal {
    let mut s = Signal::new(
        subject.parse().unwrap(),
        SignalKind::Statuses(sign, statuses::Confidence::Confirmed),
        Evidence::rule("T1").with("value", seq as f64),
        now_ns(),
    )
    .from_source(source);
    s.sequence = seq;
    s
}

/// One signal record read back from a file exporter's output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Got {
    source: String,
    seq: u64,
    /// The topic its resource says it was read from ([`TOPIC`]), if any.
    topic: Option<String>,
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The signal events in a file exporter's output (complete lines only).
fn signals_in(file: &Path) -> Vec<Got> {
    let mut out = Vec::new();
    for line in complete_lines(file) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            let topic = rl["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == TOPIC)
                .and_then(|a| a["value"]["stringValue"].as_str())
                .map(str::to_string);
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    if r["eventName"] != "kafka_obs.signal" {
                        continue;
                    }
                    let attr = |key: &str| {
                        r["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|a| a["key"] == key)
                            .map(|a| a["value"].clone())
                    };
                    let source = attr("signal.source_id")
                        .and_then(|v| v["stringValue"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    let seq = attr("signal.sequence")
                        .and_then(|v| num(&v["intValue"]))
                        .unwrap_or(0);
                    out.push(Got {
                        source,
                        seq,
                        topic: topic.clone(),
                    });
                }
            }
        }
    }
    out
}

/// `(source, seq)` -> times seen, over several files.
fn tally(files: &[PathBuf]) -> BTreeMap<(String, u64), usize> {
    let mut seen = BTreeMap::new();
    for f in files {
        for g in signals_in(f) {
            *seen.entry((g.source, g.seq)).or_insert(0) += 1;
        }
    }
    seen
}

fn duplicates(seen: &BTreeMap<(String, u64), usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

// ---- (a) the signal stream: sidecar -> central, central restarted mid-stream ---------------

const SOURCES: [&str; 3] = ["pod-a", "pod-b", "pod-c"];
const PER_SOURCE: u64 = 600;
const PER_REQUEST: u64 = 20;

/// The central collector: `signals` receiver -> `otlp` exporter whose queue is on disk
/// (`file_storage` in `data`), so "accepted", and therefore acked, means "survives kill -9".
fn central_stream(port: u16, data: &Path, sink: u16) -> Collector {
    let c = Collector::start(&format!(
        r#"
extensions:
  file_storage:
    directory: {}
    fsync: never
receivers:
  signals/in:
    endpoint: 127.0.0.1:{port}
exporters:
  otlp/sink:
    endpoint: http://127.0.0.1:{sink}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
    sending_queue:
      storage: file_storage
service:
  extensions: [file_storage]
  pipelines:
    logs:
      receivers: [signals/in]
      exporters: [otlp/sink]
"#,
        data.display()
    ));
    wait_for_port(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(10),
    )
    .expect("the signals receiver listens");
    c
}

/// Streams `SOURCES x PER_SOURCE` signals through a sidecar to a central collector that is
/// stopped a third of the way in (SIGTERM, or `kill -9` with `crash`) and started again on
/// the same port and data directory. Returns what reached the sink behind the central.
fn stream_with_a_central_restart(crash: bool) -> (BTreeMap<(String, u64), usize>, Collector) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sink.jsonl");
    let sink_port = free_port();
    let _sink = Collector::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{sink_port}
exporters:
  file/out:
    path: {}
    flush_interval: 100ms
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file/out]
"#,
        out.display()
    ));
    let data = dir.path().join("central-data");
    let central_port = free_port();
    let mut central = central_stream(central_port, &data, sink_port);
    let sidecar_otlp = free_port();
    let sidecar = Collector::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{sidecar_otlp}
exporters:
  signals:
    endpoint: http://127.0.0.1:{central_port}
    timeout: 3s
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 120s}}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [signals]
"#
    ));
    let sender = SignalSender::new(sidecar_otlp);
    let requests = PER_SOURCE / PER_REQUEST;
    for round in 0..requests {
        let signals: Vec<Signal> = SOURCES
            .iter()
            .flat_map(|src| {
                (round * PER_REQUEST..(round + 1) * PER_REQUEST).map(move |seq| {
                    signal(
                        &format!("cluster=prod/service={src}"),
                        src,
                        1_000 + seq,
                        statuses::Sign::Stable,
                    )
                })
            })
            .collect();
        sender.send(&signals);
        if round == requests / 3 {
            if crash {
                kill_hard(&central);
            } else {
                let status = central.terminate(Duration::from_secs(20));
                assert!(status.success(), "central exits cleanly: {status:?}");
            }
            std::thread::sleep(Duration::from_millis(300));
            central = central_stream(central_port, &data, sink_port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let want = SOURCES.len() * PER_SOURCE as usize;
    let files = [out];
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally(&files).len() < want {
        if Instant::now() > deadline {
            let seen = tally(&files);
            let missing: Vec<_> = SOURCES
                .iter()
                .flat_map(|src| (0..PER_SOURCE).map(move |q| (src.to_string(), 1_000 + q)))
                .filter(|k| !seen.contains_key(k))
                .collect();
            panic!(
                "{} of {want} signals behind the central after 60 s; missing {:?}...\n---- sidecar\n{}\n---- central\n{}",
                seen.len(),
                &missing[..missing.len().min(10)],
                sidecar.stderr(),
                central.stderr(),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing more trickles in.
    std::thread::sleep(Duration::from_millis(1500));
    let seen = tally(&files);
    assert_eq!(seen.len(), want, "only the signals sent");
    assert_eq!(
        sidecar.metric("otelcol_exporter_send_failed_log_records", &[]),
        0.0,
        "the sidecar gave nothing up"
    );
    assert!(
        sidecar.metric("kafka_obs_exporter_stream_reconnects_total", &[]) >= 1.0,
        "the sidecar reconnected"
    );
    for (key, n) in seen.iter().filter(|(_, n)| **n > 1).take(5) {
        eprintln!("duplicate {key:?} x{n}");
    }
    drop(sidecar);
    (seen, central)
}

#[test]
fn signal_stream_survives_a_graceful_central_restart_without_duplicates() {
    let (seen, central) = stream_with_a_central_restart(false);
    assert_eq!(
        duplicates(&seen),
        0,
        "a graceful stop acks what it accepted, so nothing is resent and stored twice"
    );
    assert_eq!(
        central.metric("otelcol_receiver_refused_log_records", &[]),
        0.0
    );
}

#[test]
fn signal_stream_survives_a_central_crash_at_least_once() {
    let (seen, _central) = stream_with_a_central_restart(true);
    // Everything acked was on the central's disk queue, so nothing is lost. A crash loses
    // the acks of what was accepted but not yet acked: those (at most the sender's window,
    // max_in_flight = 1000) may be stored twice.
    let dups = duplicates(&seen);
    eprintln!("duplicates after kill -9 of the central: {dups}");
    assert!(
        dups <= 1000,
        "{dups} duplicates, more than the sender's window"
    );
}

// ---- (b) the Kafka path: kafka exporter -> tansu -> kafka receiver --------------------------

fn central_kafka(brokers: &str, topic: &str, encoding: &str, out: &Path) -> Collector {
    Collector::start(&format!(
        r#"
receivers:
  kafka:
    brokers: [{brokers}]
    topic: {topic}
    encoding: {encoding}
    group_id: central-{topic}
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
    rebuild: {{max_records: 0}}
exporters:
  file/out:
    path: {}
service:
  pipelines:
    logs:
      receivers: [kafka]
      exporters: [file/out]
"#,
        out.display()
    ))
}

fn wait_assigned(c: &Collector, partitions: f64) {
    wait_until("the consumer's partitions", Duration::from_secs(30), || {
        (c.metric("kafka_obs_receiver_kafka_assigned_partitions", &[]) == partitions).then_some(())
    });
}

#[test]
fn kafka_path_in_both_encodings_exact_counts_restart_and_poison() {
    let tansu = Tansu::start().expect("tansu");
    tansu.create_topic("sig-proto", 3).unwrap();
    tansu.create_topic("sig-json", 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sidecar_otlp = free_port();
    let brokers = tansu.brokers();
    let sidecar = Collector::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{sidecar_otlp}
exporters:
  kafka/proto:
    brokers: [{brokers}]
    logs: {{topic: sig-proto, encoding: otlp_proto}}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
  kafka/json:
    brokers: [{brokers}]
    logs: {{topic: sig-json, encoding: otlp_json}}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [kafka/proto, kafka/json]
"#
    ));
    let sender = SignalSender::new(sidecar_otlp);
    let send_range = |range: std::ops::Range<u64>| {
        for chunk in range.collect::<Vec<_>>().chunks(50) {
            let signals: Vec<Signal> = chunk
                .iter()
                .map(|seq| {
                    let cluster = ["east", "west", "north"][(*seq % 3) as usize];
                    signal(
                        &format!("cluster={cluster}/service=orders"),
                        "pod-k",
                        *seq,
                        statuses::Sign::Stable,
                    )
                })
                .collect();
            sender.send(&signals);
        }
    };
    let outs: Vec<(&str, &str, PathBuf, PathBuf)> = vec![
        (
            "sig-proto",
            "otlp_proto",
            dir.path().join("proto1.jsonl"),
            dir.path().join("proto2.jsonl"),
        ),
        (
            "sig-json",
            "otlp_json",
            dir.path().join("json1.jsonl"),
            dir.path().join("json2.jsonl"),
        ),
    ];
    let mut centrals: Vec<Collector> = outs
        .iter()
        .map(|(topic, enc, first, _)| central_kafka(&brokers, topic, enc, first))
        .collect();
    for c in &centrals {
        wait_assigned(c, 3.0);
    }
    send_range(0..1500);
    for ((_, _, first, _), c) in outs.iter().zip(&centrals) {
        wait_until("1500 signals", Duration::from_secs(60), || {
            (tally(std::slice::from_ref(first)).len() == 1500).then_some(())
        });
        let seen = tally(std::slice::from_ref(first));
        assert_eq!(duplicates(&seen), 0);
        assert!(
            signals_in(first).iter().all(|g| g.topic.is_some()),
            "every resource says where it came from"
        );
        assert_eq!(
            c.metric("otelcol_receiver_accepted_log_records", &[]),
            1500.0
        );
    }

    // A poison record in each topic, then more signals: skipped, counted, the rest flows.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for (topic, ..) in &outs {
        producer
            .send(
                BaseRecord::to(topic)
                    .key("east")
                    .payload(&b"\xff\xfe not an OTLP request"[..]),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    send_range(1500..2000);
    for ((_, _, first, _), c) in outs.iter().zip(&centrals) {
        wait_until("2000 signals", Duration::from_secs(60), || {
            (tally(std::slice::from_ref(first)).len() == 2000).then_some(())
        });
        assert_eq!(
            c.metric("kafka_obs_receiver_kafka_skipped_records_total", &[]),
            1.0,
            "the poison record"
        );
    }

    // Stop the receiving collectors gracefully mid-stream and start them again: nothing lost,
    // nothing read twice (the stop commits what was accepted).
    for c in &mut centrals {
        let status = c.terminate(Duration::from_secs(30));
        assert!(status.success(), "{status:?}");
    }
    send_range(2000..2600);
    let mut centrals: Vec<Collector> = outs
        .iter()
        .map(|(topic, enc, _, second)| central_kafka(&brokers, topic, enc, second))
        .collect();
    send_range(2600..3000);
    for (topic, _, first, second) in &outs {
        let files = [first.clone(), second.clone()];
        wait_until("3000 signals", Duration::from_secs(60), || {
            (tally(&files).len() == 3000).then_some(())
        });
        std::thread::sleep(Duration::from_millis(1500));
        let seen = tally(&files);
        assert_eq!(seen.len(), 3000, "{topic}: every signal");
        assert_eq!(
            duplicates(&seen),
            0,
            "{topic}: nothing reprocessed after a graceful stop"
        );
        assert!(
            tally(std::slice::from_ref(second))
                .keys()
                .all(|(_, seq)| *seq >= 2000),
            "{topic}: the restarted receiver read only what came after the commit"
        );
    }
    for c in &mut centrals {
        assert!(c.terminate(Duration::from_secs(30)).success());
    }
    drop(sidecar);
}

// ---- both transports from a sidecar reading the scenario JVM ---------------------------------

#[test]
fn scenario_jvm_sidecar_to_central_over_both_transports() {
    let tansu = Tansu::start().expect("tansu");
    tansu.create_topic("__kafka-obs-signals", 3).unwrap();
    let brokers = tansu.brokers();
    let scenario = ScenarioJvm::builder()
        .role(Role::Client)
        .timeline("normal:2t,buffer-pressure:3t,buffer-overflow:3t,lag-spike:6t,recovery:3t")
        .looped()
        .tick(Duration::from_millis(400))
        .start()
        .expect("scenario JVM");
    let dir = tempfile::tempdir().unwrap();
    let (stream_out, kafka_out, side_out) = (
        dir.path().join("stream.jsonl"),
        dir.path().join("kafka.jsonl"),
        dir.path().join("sidecar.jsonl"),
    );
    let central_port = free_port();
    let central = Collector::start(&format!(
        r#"
receivers:
  signals/in:
    endpoint: 127.0.0.1:{central_port}
  kafka:
    brokers: [{brokers}]
    group_id: central
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
exporters:
  file/stream:
    path: {}
  file/kafka:
    path: {}
service:
  pipelines:
    logs/stream:
      receivers: [signals/in]
      exporters: [file/stream]
    logs/kafka:
      receivers: [kafka]
      exporters: [file/kafka]
"#,
        stream_out.display(),
        kafka_out.display()
    ));
    wait_assigned(&central, 3.0);
    let mut sidecar = Collector::start_with(
        &format!(
            r#"
receivers:
  jmx:
    endpoint: ${{env:JMX_ENDPOINT}}
    target_system: kafka-producer,kafka-consumer
    collection_interval: 400ms
    resource_attributes:
      service.name: order-service
      kafka.cluster: e2e
connectors:
  signals/rules:
    source_id: order-service-pod-1
    heartbeat_every: 3
    packs:
      kafka-producer:
      kafka-consumer:
exporters:
  signals:
    endpoint: http://127.0.0.1:{central_port}
  kafka:
    brokers: [{brokers}]
  file/side:
    path: {}
service:
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [signals/rules]
    logs/signals:
      receivers: [signals/rules]
      exporters: [signals, kafka, file/side]
"#,
            side_out.display()
        ),
        CollectorOptions {
            env: vec![(
                "JMX_ENDPOINT".into(),
                format!("127.0.0.1:{}", scenario.jmx_port()),
            )],
            ..Default::default()
        },
    );
    wait_until("40 signals at the sidecar", Duration::from_secs(60), || {
        (signals_in(&side_out).len() >= 40).then_some(())
    });
    // A graceful stop flushes the sidecar's exporters.
    let status = sidecar.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let sent: BTreeSet<(String, u64)> = signals_in(&side_out)
        .into_iter()
        .map(|g| (g.source, g.seq))
        .collect();
    assert!(
        sent.iter().all(|(src, _)| src == "order-service-pod-1"),
        "{sent:?}"
    );
    assert_eq!(
        sent.iter().map(|(_, s)| *s).collect::<BTreeSet<_>>().len(),
        sent.len(),
        "distinct sequences per source"
    );
    for (name, out) in [("stream", &stream_out), ("kafka", &kafka_out)] {
        let got = wait_until(
            &format!("every signal over the {name} transport"),
            Duration::from_secs(30),
            || {
                let seen = tally(std::slice::from_ref(out));
                (seen.len() >= sent.len()).then_some(seen)
            },
        );
        let keys: BTreeSet<(String, u64)> = got.keys().cloned().collect();
        assert_eq!(keys, sent, "{name}: the same signals");
        assert_eq!(duplicates(&got), 0, "{name}: each once");
    }
    assert!(
        signals_in(&kafka_out)
            .iter()
            .all(|g| g.topic.as_deref() == Some("__kafka-obs-signals"))
    );
    drop(central);
    drop(scenario);
}

// ---- (c) scale-out: two central instances in one group --------------------------------------

struct Instance {
    collector: Collector,
    api: SocketAddr,
}

fn central_instance(brokers: &str) -> Instance {
    let api_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let collector = Collector::start(&format!(
        r#"
receivers:
  kafka:
    brokers: [{brokers}]
    group_id: central
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
    rebuild: {{max_records: 1000}}
connectors:
  hierarchy:
    tick_interval: 100ms
    api: {{endpoint: '127.0.0.1:{api_port}', publish_interval: 100ms}}
exporters:
  file/out:
    path: {}
service:
  pipelines:
    logs/in:
      receivers: [kafka]
      exporters: [hierarchy]
    logs/out:
      receivers: [hierarchy]
      exporters: [file/out]
"#,
        out.display()
    ));
    std::mem::forget(dir); // the file exporter writes there until the collector stops
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();
    wait_for_port(api, Duration::from_secs(10)).expect("the API listens");
    Instance { collector, api }
}

impl Instance {
    fn get(&self, path: &str) -> Option<Value> {
        let (status, body) = http_get(self.api, path).ok()?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// The clusters in this instance's tree.
    fn clusters(&self) -> BTreeSet<String> {
        let Some(tree) = self.get("/api/v1/tree?depth=1") else {
            return BTreeSet::new();
        };
        tree["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["level"] == "cluster")
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The clusters of this instance's open incidents.
    fn open_incident_clusters(&self) -> BTreeSet<String> {
        let Some(incidents) = self.get("/api/v1/incidents") else {
            return BTreeSet::new();
        };
        incidents["open"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["cluster"].as_str().map(str::to_string))
            .collect()
    }

    fn partitions(&self) -> f64 {
        self.collector
            .metric("kafka_obs_receiver_kafka_assigned_partitions", &[])
    }
}

#[test]
fn two_central_instances_split_clusters_and_one_takes_over_when_the_other_stops() {
    let started = Instant::now();
    let tansu = Tansu::start().expect("tansu");
    tansu.create_topic("__kafka-obs-signals", 4).unwrap();
    let brokers = tansu.brokers();
    let a = central_instance(&brokers);
    wait_until("instance A owns the topic", Duration::from_secs(30), || {
        (a.partitions() == 4.0).then_some(())
    });
    let b = central_instance(&brokers);
    wait_until(
        "the partitions split 2 + 2",
        Duration::from_secs(40),
        || (a.partitions() == 2.0 && b.partitions() == 2.0).then_some(()),
    );

    // A sidecar's kafka exporter keys signal events by cluster.
    let sidecar_otlp = free_port();
    let sidecar = Collector::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{sidecar_otlp}
exporters:
  kafka:
    brokers: [{brokers}]
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [kafka]
"#
    ));
    let clusters: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    let sender = SignalSender::new(sidecar_otlp);
    let mut seq = 1;
    let mut signals = Vec::new();
    for c in &clusters {
        for (path, sign) in [
            (format!("cluster={c}/broker=1"), statuses::Sign::Degraded),
            (format!("cluster={c}/broker=2"), statuses::Sign::Stable),
        ] {
            signals.push(signal(&path, "broker-collector", seq, sign));
            seq += 1;
        }
    }
    sender.send(&signals);
    let all: BTreeSet<String> = clusters.iter().cloned().collect();

    // Each cluster on exactly one instance, its incident open there.
    let (on_a, on_b) = wait_until(
        "every cluster on one instance, with its incident",
        Duration::from_secs(30),
        || {
            let (ca, cb) = (a.clusters(), b.clusters());
            let complete = ca.union(&cb).cloned().collect::<BTreeSet<_>>() == all;
            let incidents_open =
                a.open_incident_clusters() == ca && b.open_incident_clusters() == cb;
            (complete && incidents_open).then_some((ca, cb))
        },
    );
    assert!(
        on_a.is_disjoint(&on_b),
        "a cluster on both instances: A {on_a:?}, B {on_b:?}"
    );
    eprintln!("clusters on A: {on_a:?}, on B: {on_b:?}");

    // Stop the instance with more clusters; the other takes over and rebuilds from the topic.
    let (mut leaving, staying, moved) = if on_a.len() >= on_b.len() {
        (a, b, on_a)
    } else {
        (b, a, on_b)
    };
    let performed_before = staying.collector.metric(
        "kafka_obs_hierarchy_notifications_total",
        &["outcome=\"performed\""],
    );
    let status = leaving.collector.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    wait_until(
        "the survivor serves every cluster with its incident open",
        Duration::from_secs(40),
        || {
            (staying.partitions() == 4.0
                && staying.clusters() == all
                && staying.open_incident_clusters() == all)
                .then_some(())
        },
    );
    assert!(
        staying
            .collector
            .metric("kafka_obs_hierarchy_replayed_signals_total", &[])
            >= (moved.len() * 2) as f64,
        "the moved clusters were rebuilt from the topic"
    );
    assert_eq!(
        staying.collector.metric(
            "kafka_obs_hierarchy_notifications_total",
            &["outcome=\"performed\""]
        ),
        performed_before,
        "the taken-over incidents are not notified again"
    );
    drop(sidecar);
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}

// ---- the signal stream over TLS with a bearer token -----------------------------------------

#[test]
fn signal_stream_over_tls_with_a_bearer_token_refuses_a_wrong_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kafka_obs_testkit::certs::TestPki::generate(dir.path()).unwrap();
    let out = dir.path().join("central.jsonl");
    let port = free_port();
    let central = Collector::start(&format!(
        r#"
extensions:
  bearertokenauth/sidecars:
    tokens: [t-good]
receivers:
  signals/in:
    endpoint: 127.0.0.1:{port}
    tls: {{cert_file: {}, key_file: {}}}
    auth: {{authenticator: bearertokenauth/sidecars}}
exporters:
  file/out:
    path: {}
    flush_interval: 100ms
service:
  extensions: [bearertokenauth/sidecars]
  pipelines:
    logs:
      receivers: [signals/in]
      exporters: [file/out]
"#,
        pki.server_cert.display(),
        pki.server_key.display(),
        out.display()
    ));
    wait_for_port(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(10),
    )
    .unwrap();
    let sidecar = |token: &str| {
        let otlp = free_port();
        let c = Collector::start(&format!(
            r#"
extensions:
  bearertokenauth/central:
    token: {token}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp}
exporters:
  signals:
    endpoint: https://127.0.0.1:{port}
    tls: {{ca_file: {}}}
    auth: {{authenticator: bearertokenauth/central}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
service:
  extensions: [bearertokenauth/central]
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [signals]
"#,
            pki.ca.display()
        ));
        (c, SignalSender::new(otlp))
    };
    let (_good, good_sender) = sidecar("t-good");
    let (_bad, bad_sender) = sidecar("t-bad");
    bad_sender.send(&[signal(
        "cluster=prod/service=x",
        "pod-bad",
        1,
        statuses::Sign::Stable,
    )]);
    good_sender.send(
        &(1..=50)
            .map(|q| {
                signal(
                    "cluster=prod/service=y",
                    "pod-good",
                    q,
                    statuses::Sign::Stable,
                )
            })
            .collect::<Vec<_>>(),
    );
    let seen = wait_until(
        "the good sidecar's 50 signals",
        Duration::from_secs(30),
        || {
            let seen = tally(std::slice::from_ref(&out));
            (seen.len() >= 50).then_some(seen)
        },
    );
    wait_until("the wrong token refused", Duration::from_secs(30), || {
        (central.metric(
            "kafka_obs_receiver_unauthenticated_requests_total",
            &["receiver=\"signals/in\""],
        ) >= 1.0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let seen_now = tally(std::slice::from_ref(&out));
    assert_eq!(
        seen_now.len(),
        50,
        "only the good sidecar's signals: {seen:?}"
    );
    assert!(seen_now.keys().all(|(src, _)| src == "pod-good"));
}
