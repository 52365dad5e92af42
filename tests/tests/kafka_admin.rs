//! The `kafka_admin` receiver on the real binary against the tansu broker, with real
//! confluent-kafka producers, consumer groups and AdminClient from the peers venv: what the
//! receiver reports must match what another client reads from the same cluster.
//!
//! tansu counts a record *batch* as one record in its high watermark (docs/test-peers.md), so
//! the producer here flushes after every record (one record per batch): then the broker's end
//! offsets are right, and the test checks them against both confluent-kafka's
//! `get_watermark_offsets` and the number of records it actually produced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers::python;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
// The shared contract the receiver writes and the rule pack reads.
use kafka_obs_kafka_client::admin_metrics as m;
use kafka_obs_tests::{Collector, complete_lines};
use serde_json::{Value, json};

/// A confluent-kafka peer driven line by line: one JSON command in, one JSON answer out.
const PEER: &str = r#"
import json, sys, time
from confluent_kafka import Producer, Consumer, TopicPartition, ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

brokers = sys.argv[1]
admin = AdminClient({'bootstrap.servers': brokers})
producer = Producer({'bootstrap.servers': brokers, 'linger.ms': 0})
consumers = {}
pending = {}

def consumer_for(group, topic):
    c = Consumer({'bootstrap.servers': brokers, 'group.id': group, 'client.id': group + '-client',
                  'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
                  'session.timeout.ms': 6000, 'heartbeat.interval.ms': 1000})
    c.subscribe([topic])
    deadline = time.time() + 30
    while not c.assignment() and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            pending[group] = pending.get(group, 0) + 1
    return c

def facts(group, topics):
    md = admin.list_topics(timeout=10)
    out = {'brokers': len(md.brokers), 'topics': {}, 'watermarks': {}, 'committed': {}, 'members': None}
    probe = Consumer({'bootstrap.servers': brokers, 'group.id': 'probe-unused'})
    for t in topics:
        tm = md.topics[t]
        out['topics'][t] = {str(p.id): {'leader': p.leader, 'replicas': len(p.replicas), 'isr': len(p.isrs)}
                            for p in tm.partitions.values()}
        for p in tm.partitions:
            lo, hi = probe.get_watermark_offsets(TopicPartition(t, p), timeout=10)
            out['watermarks'][t + '/' + str(p)] = [lo, hi]
    probe.close()
    # Per broker, over every topic: partitions it is the preferred (first) replica of, and
    # of those the ones it leads.
    out['preferred'] = {str(b): [0, 0] for b in md.brokers}
    for tm in md.topics.values():
        for p in tm.partitions.values():
            if p.replicas:
                row = out['preferred'].setdefault(str(p.replicas[0]), [0, 0])
                row[0] += 1
                row[1] += int(p.leader == p.replicas[0])
    if group:
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
        out['committed'] = {tp.topic + '/' + str(tp.partition): tp.offset for tp in res.topic_partitions if tp.offset >= 0}
        d = admin.describe_consumer_groups([group])[group].result()
        out['members'] = len(d.members)
        out['live_members'] = sum(1 for c in [consumers.get(group)] if c is not None and c.assignment() and c.memberid())
        out['state'] = str(d.state)
    return out

for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd['op']
    answer = {'ok': True}
    if op == 'produce':
        for i in range(cmd['n']):
            producer.produce(cmd['topic'], value=b'r%d' % i, partition=cmd['partition'])
            producer.flush(10)
    elif op == 'join':
        consumers[cmd['group']] = consumer_for(cmd['group'], cmd['topic'])
        answer['assigned'] = len(consumers[cmd['group']].assignment())
    elif op == 'consume':
        c = consumers[cmd['group']]
        got, deadline = pending.pop(cmd['group'], 0), time.time() + 30
        while got < cmd['n'] and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        answer['consumed'] = got
    elif op == 'close':
        consumers.pop(cmd['group']).close()
    elif op == 'delete':
        admin.delete_consumer_groups([cmd['group']])[cmd['group']].result()
    elif op == 'facts':
        answer = facts(cmd.get('group'), cmd['topics'])
    print(json.dumps(answer), flush=True)
"#;

struct Peer {
    guard: ChildGuard,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Peer {
    fn start(brokers: &str) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("peer.py");
        std::fs::write(&script, PEER).unwrap();
        let mut cmd = Command::new(python().expect("peers venv (KAFKA_OBS_VENV)"));
        cmd.arg(&script)
            .arg(brokers)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn(&mut cmd).unwrap();
        let stdin = guard.child_mut().stdin.take().unwrap();
        let stdout = BufReader::new(guard.child_mut().stdout.take().unwrap());
        Peer {
            guard,
            stdin,
            stdout,
            _dir: dir,
        }
    }

    fn ask(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(
            !line.is_empty(),
            "the confluent-kafka peer stopped on {cmd} (running: {})",
            self.guard.is_running()
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

/// One poll's points: metric -> (attributes `k=v` joined by `,`) -> value.
type Poll = BTreeMap<String, BTreeMap<String, f64>>;

fn parse_poll(line: &str) -> Option<(u64, Poll)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let mut out = Poll::new();
    let mut time = 0;
    for rm in v["resourceMetrics"].as_array()? {
        for sm in rm["scopeMetrics"].as_array()? {
            for m in sm["metrics"].as_array()? {
                let name = m["name"].as_str()?.to_string();
                for dp in m["gauge"]["dataPoints"].as_array()? {
                    time = dp["timeUnixNano"].as_str()?.parse().ok()?;
                    let attrs: Vec<String> = dp["attributes"]
                        .as_array()?
                        .iter()
                        .map(|a| {
                            let val = &a["value"];
                            let text = val["stringValue"]
                                .as_str()
                                .map(str::to_string)
                                .or_else(|| val["intValue"].as_str().map(str::to_string))
                                .unwrap_or_default();
                            format!("{}={text}", a["key"].as_str().unwrap_or_default())
                        })
                        .collect();
                    let value = dp["asInt"]
                        .as_str()
                        .and_then(|s| s.parse::<f64>().ok())
                        .or_else(|| dp["asDouble"].as_f64())?;
                    out.entry(name.clone())
                        .or_default()
                        .insert(attrs.join(","), value);
                }
            }
        }
    }
    Some((time, out))
}

/// A collector running only a `kafka_admin` receiver into a file.
struct AdminCollector {
    collector: Collector,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl AdminCollector {
    fn start(brokers: &str, extra: &str) -> AdminCollector {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("admin.jsonl");
        let collector = Collector::start(&format!(
            r#"
receivers:
  kafka_admin:
    brokers: [{brokers}]
    collection_interval: 500ms
    timeout: 2s
    cluster_alias: test-cluster
{extra}
exporters:
  file:
    path: {}
service:
  pipelines:
    metrics:
      receivers: [kafka_admin]
      exporters: [file]
"#,
            out.display()
        ));
        AdminCollector {
            collector,
            out,
            _dir: dir,
        }
    }

    /// The newest poll (time, points).
    fn last(&self) -> Option<(u64, Poll)> {
        complete_lines(&self.out)
            .iter()
            .rev()
            .find_map(|l| parse_poll(l))
    }

    /// Waits for a poll that satisfies `check` (polls newer than `after` ns only).
    fn wait_for(&self, what: &str, after: u64, check: impl Fn(&Poll) -> bool) -> (u64, Poll) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some((t, p)) = self.last()
                && t > after
                && check(&p)
            {
                return (t, p);
            }
            assert!(
                Instant::now() < deadline,
                "no poll with {what} in 40 s; last: {:#?}\n{}",
                self.last(),
                self.collector.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn get(p: &Poll, name: &str, attrs: &str) -> Option<f64> {
    p.get(name)?.get(attrs).copied()
}

#[test]
fn counts_offsets_lag_and_members_match_confluent_kafka() {
    let tansu = Tansu::start().expect("tansu");
    tansu.create_topic("orders", 3).unwrap();
    tansu.create_topic("payments", 2).unwrap();
    let brokers = tansu.brokers();
    let mut peer = Peer::start(&brokers);
    let produced = [
        ("orders", 0, 7),
        ("orders", 1, 4),
        ("orders", 2, 9),
        ("payments", 0, 3),
    ];
    for (topic, partition, n) in produced {
        peer.ask(json!({"op": "produce", "topic": topic, "partition": partition, "n": n}));
    }
    let joined = peer.ask(json!({"op": "join", "group": "billing", "topic": "orders"}));
    assert_eq!(joined["assigned"], 3, "{joined}");
    let consumed = peer.ask(json!({"op": "consume", "group": "billing", "n": 11}));
    assert_eq!(consumed["consumed"], 11, "{consumed}");
    let facts =
        peer.ask(json!({"op": "facts", "group": "billing", "topics": ["orders", "payments"]}));

    let admin = AdminCollector::start(&brokers, "");
    let (_, poll) = admin.wait_for("billing's commits and one member", 0, |p| {
        get(p, m::GROUP_MEMBERS, "group=billing") == Some(1.0)
            && get(p, m::GROUP_COMMITTED_PARTITIONS, "group=billing")
                == Some(facts["committed"].as_object().unwrap().len() as f64)
    });

    // Metadata: brokers, topics, partitions, replicas, ISR, leader.
    assert_eq!(get(&poll, m::BROKERS, ""), facts["brokers"].as_f64());
    for (topic, partitions) in facts["topics"].as_object().unwrap() {
        let partitions = partitions.as_object().unwrap();
        assert_eq!(
            get(&poll, m::TOPIC_PARTITIONS, &format!("topic={topic}")),
            Some(partitions.len() as f64),
            "{topic}"
        );
        for (p, f) in partitions {
            let at = format!("topic={topic},partition={p}");
            assert_eq!(
                get(&poll, m::PARTITION_REPLICAS, &at),
                f["replicas"].as_f64(),
                "{at}"
            );
            assert_eq!(
                get(&poll, m::PARTITION_REPLICAS_IN_SYNC, &at),
                f["isr"].as_f64(),
                "{at}"
            );
            assert_eq!(
                get(&poll, m::PARTITION_LEADER, &at),
                f["leader"].as_f64(),
                "{at}"
            );
        }
    }
    // Preferred leaderships per broker (K11's input), as confluent-kafka's metadata has them.
    let preferred = facts["preferred"].as_object().unwrap();
    assert!(!preferred.is_empty(), "{facts}");
    for (broker, counts) in preferred {
        let at = format!("broker.id={broker}");
        assert_eq!(
            get(&poll, m::BROKER_PREFERRED_PARTITIONS, &at),
            counts[0].as_f64(),
            "{at}"
        );
        assert_eq!(
            get(&poll, m::BROKER_PREFERRED_PARTITIONS_LED, &at),
            counts[1].as_f64(),
            "{at}"
        );
    }
    // End and start offsets: confluent-kafka's watermarks, and the records produced.
    for (tp, w) in facts["watermarks"].as_object().unwrap() {
        let (topic, p) = tp.split_once('/').unwrap();
        let at = format!("topic={topic},partition={p}");
        assert_eq!(
            get(&poll, m::PARTITION_OLDEST_OFFSET, &at),
            w[0].as_f64(),
            "{at}"
        );
        assert_eq!(
            get(&poll, m::PARTITION_CURRENT_OFFSET, &at),
            w[1].as_f64(),
            "{at}"
        );
        let sent = produced
            .iter()
            .find(|(t, q, _)| *t == topic && q.to_string() == p)
            .map_or(0, |(_, _, n)| *n);
        assert_eq!(
            get(&poll, m::PARTITION_CURRENT_OFFSET, &at),
            Some(f64::from(sent)),
            "{at}"
        );
    }
    // Committed offsets and lag per partition, as the AdminClient reads them.
    let mut lag_sum = 0.0;
    let mut offset_sum = 0.0;
    for (tp, committed) in facts["committed"].as_object().unwrap() {
        let (topic, p) = tp.split_once('/').unwrap();
        let at = format!("group=billing,topic={topic},partition={p}");
        let committed = committed.as_f64().unwrap();
        let end = facts["watermarks"][tp][1].as_f64().unwrap();
        assert_eq!(get(&poll, m::GROUP_OFFSET, &at), Some(committed), "{at}");
        assert_eq!(get(&poll, m::GROUP_LAG, &at), Some(end - committed), "{at}");
        assert!(get(&poll, m::GROUP_TIME_LAG, &at).is_some(), "{at}");
        lag_sum += end - committed;
        offset_sum += committed;
    }
    assert_eq!(
        offset_sum, 11.0,
        "the group committed what it consumed: {facts}"
    );
    assert_eq!(
        get(&poll, m::GROUP_LAG_SUM, "group=billing,topic=orders"),
        Some(lag_sum)
    );
    assert_eq!(
        get(&poll, m::GROUP_OFFSET_SUM, "group=billing,topic=orders"),
        Some(offset_sum)
    );
    // Members: the consumers of the group that hold an assignment and a member id, as they
    // report themselves. (confluent-kafka 2.16's describe_consumer_groups lists no member of a
    // Stable group on tansu 0.6, which also announces ConsumerGroupDescribe; its member count
    // is not a reference here.) Per client id and host the members add up to the same count.
    assert_eq!(facts["live_members"], 1, "{facts}");
    let by_client: f64 = poll
        .get(m::GROUP_CLIENT_MEMBERS)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("group=billing,"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(by_client, 1.0, "{:?}", poll.get(m::GROUP_CLIENT_MEMBERS));
    assert!(
        poll.get(m::GROUP_STATE)
            .is_some_and(|s| s.keys().any(|k| k.starts_with("group=billing,state="))),
        "{poll:?}"
    );
    assert_eq!(
        get(&poll, "kafka_obs.target.up", &format!("endpoint={brokers}")),
        Some(1.0)
    );

    // The member leaves: the group is still there, empty, with its commits.
    peer.ask(json!({"op": "close", "group": "billing"}));
    let (t, _) = admin.wait_for("billing without members", 0, |p| {
        get(p, m::GROUP_MEMBERS, "group=billing") == Some(0.0)
            && get(p, m::GROUP_OFFSET_SUM, "group=billing,topic=orders") == Some(offset_sum)
    });
    // Deleted: the group's points stop.
    peer.ask(json!({"op": "delete", "group": "billing"}));
    admin.wait_for("no billing group", t, |p| {
        p.values()
            .all(|points| points.keys().all(|k| !k.starts_with("group=billing")))
    });
}

#[test]
fn time_lag_grows_by_the_wall_time_while_a_consumer_stands_still() {
    let tansu = Tansu::start().expect("tansu");
    tansu.create_topic("events", 1).unwrap();
    let brokers = tansu.brokers();
    let mut peer = Peer::start(&brokers);
    peer.ask(json!({"op": "produce", "topic": "events", "partition": 0, "n": 5}));
    peer.ask(json!({"op": "join", "group": "slow", "topic": "events"}));
    let consumed = peer.ask(json!({"op": "consume", "group": "slow", "n": 5}));
    assert_eq!(consumed["consumed"], 5);
    let admin = AdminCollector::start(&brokers, "");
    let at = "group=slow,topic=events,partition=0";
    admin.wait_for("the group caught up", 0, |p| {
        get(p, m::GROUP_LAG, at) == Some(0.0)
    });
    // The producer goes on; the consumer stays in the group and stops consuming.
    peer.ask(json!({"op": "produce", "topic": "events", "partition": 0, "n": 3}));
    let (t1, p1) = admin.wait_for("lag 3", 0, |p| get(p, m::GROUP_LAG, at) == Some(3.0));
    std::thread::sleep(Duration::from_secs(4));
    let (t2, p2) = admin.wait_for("a later poll", t1 + 3_000_000_000, |p| {
        get(p, m::GROUP_LAG, at) == Some(3.0)
    });
    let (l1, l2) = (
        get(&p1, m::GROUP_TIME_LAG, at).unwrap(),
        get(&p2, m::GROUP_TIME_LAG, at).unwrap(),
    );
    let wall = (t2 - t1) as f64 / 1e9;
    assert!(
        ((l2 - l1) - wall).abs() < 0.01,
        "time lag went {l1} -> {l2} over {wall} s of polls"
    );
    assert!(l1 >= 0.0 && l2 > 3.0, "{l1} {l2}");
    // The consumer catches up: time lag back to 0.
    let consumed = peer.ask(json!({"op": "consume", "group": "slow", "n": 3}));
    assert_eq!(consumed["consumed"], 3);
    admin.wait_for("time lag back to 0", t2, |p| {
        get(p, m::GROUP_LAG, at) == Some(0.0) && get(p, m::GROUP_TIME_LAG, at) == Some(0.0)
    });
}

#[test]
fn a_broker_down_is_counted_and_polling_recovers_when_it_is_back() {
    let port = free_port();
    let mut tansu = Tansu::start_on(port).expect("tansu");
    tansu.create_topic("orders", 2).unwrap();
    let brokers = tansu.brokers();
    let admin = AdminCollector::start(&brokers, "");
    let up = format!("endpoint={brokers}");
    admin.wait_for("up", 0, |p| get(p, "kafka_obs.target.up", &up) == Some(1.0));
    let failures = || {
        admin
            .collector
            .metric("kafka_obs_kafka_admin_poll_failures_total", &[])
    };
    assert_eq!(failures(), 0.0);
    tansu.stop();
    let (t, _) = admin.wait_for("down", 0, |p| {
        get(p, "kafka_obs.target.up", &up) == Some(0.0)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while failures() < 3.0 {
        assert!(Instant::now() < deadline, "poll failures not counted");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = admin.collector.metrics();
    assert!(
        kafka_obs_tests::metric_value(
            &text,
            "kafka_obs_kafka_admin_request_failures_total",
            &["reason=\"connect\""]
        ) >= 2.0,
        "{text}"
    );
    let tansu = Tansu::start_on(port).expect("tansu again");
    tansu.create_topic("after", 1).unwrap();
    admin.wait_for("up again with the new broker's topic", t, |p| {
        get(p, "kafka_obs.target.up", &up) == Some(1.0)
            && get(p, m::TOPIC_PARTITIONS, "topic=after") == Some(1.0)
    });
    let settled = failures();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(failures(), settled, "polls fail after the broker came back");
}

#[test]
fn a_broker_that_answers_garbage_is_rejected_counted_and_the_process_keeps_running() {
    // Accepts connections and answers every request with a frame that is not a Kafka reply.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut buf = [0u8; 512];
                    let _ = std::io::Read::read(&mut s, &mut buf);
                    let _ = s.write_all(&[0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0, 1]);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let admin = AdminCollector::start(&addr.to_string(), "");
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.collector.metric(
        "kafka_obs_kafka_admin_request_failures_total",
        &["reason=\"bad_reply\""],
    ) < 3.0
    {
        assert!(
            Instant::now() < deadline,
            "bad replies not counted:\n{}",
            admin.collector.metrics()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = format!("endpoint={addr}");
    admin.wait_for("down", 0, |p| {
        get(p, "kafka_obs.target.up", &up) == Some(0.0)
    });
    assert!(
        admin.collector.stderr().contains("rejected"),
        "{}",
        admin.collector.stderr()
    );
    // Still serving its self-metrics: the process runs on.
    assert!(
        admin
            .collector
            .metric("kafka_obs_kafka_admin_polls_total", &[])
            >= 3.0
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
}

/// SASL PLAIN against a tansu with `--authentication`: it knows no user (it cannot hold one
/// before authentication is on) and closes the connection at our PLAIN handshake; the failed
/// login is counted on the SaslHandshake API, logged, reported as down, and the receiver polls
/// on.
#[test]
fn a_refused_sasl_login_is_counted_and_logged() {
    let port = free_port();
    let _tansu = Tansu::start_with(port, port, &["--authentication"]).expect("tansu");
    let brokers = format!("127.0.0.1:{port}");
    let admin = AdminCollector::start(
        &brokers,
        "    auth:\n      sasl: {mechanism: PLAIN, username: obs, password: s3cret}",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.collector.metric(
        "kafka_obs_kafka_admin_request_failures_total",
        &["api=\"SaslHandshake\""],
    ) < 2.0
    {
        assert!(
            Instant::now() < deadline,
            "no auth failure counted:\n{}\n{}",
            admin.collector.metrics(),
            admin.collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = admin.collector.stderr();
    assert!(log.contains("SaslHandshake to 127.0.0.1"), "{log}");
    let up = format!("endpoint={brokers}");
    admin.wait_for("down", 0, |p| {
        get(p, "kafka_obs.target.up", &up) == Some(0.0)
    });
}
