//! Benchmark of the `kafka_admin` receiver: one poll of a cluster of 10 000 partitions and 500
//! consumer groups, printed for BENCHMARKS.md (not a test).
//!
//! The cluster is real: a tansu broker (in memory) with 100 topics of 100 partitions, one
//! record in every tenth partition, and 500 groups with 20 committed offsets each (10 000
//! committed offsets), made by confluent-kafka's AdminClient. tansu holds that easily, so no
//! recorded replies are needed.
//!
//! Per poll it prints, side by side in the same run:
//! - ours: `ClusterPoller::poll` (every request, decode, lag and time lag) and the conversion
//!   to OTLP, time and memory: bytes allocated during the poll, heap held at its end (snapshot
//!   and OTLP batch alive), heap kept between polls (time-lag tables, connections), and the
//!   process's peak RSS growth;
//! - reference: confluent-kafka's AdminClient (librdkafka) reading the same facts the way its
//!   API allows: list_topics, list_offsets earliest and latest for every partition,
//!   list_consumer_groups, describe_consumer_groups, list_consumer_group_offsets (one group per
//!   request, librdkafka's limit), timed in its own process, with that process's peak RSS growth.
//!
//! Run: `KAFKA_OBS_VENV=<peers venv> cargo bench -p kafka-obs-receiver --no-default-features
//! --bench kafka_admin_poll` (the receiver needs no librdkafka)
//! (`ADMIN_BENCH_POLLS`, default 5; `ADMIN_BENCH_TOPICS` × `ADMIN_BENCH_PARTITIONS`, default
//! 100 × 100; `ADMIN_BENCH_GROUPS`, default 500).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_receiver::kafka_admin::{KafkaAdminConfig, resource, snapshot_to_otlp};
use kafka_obs_testkit::peers::python;
use kafka_obs_testkit::tansu::Tansu;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Makes the cluster: topics, a record in every tenth partition, groups with commits.
const SETUP: &str = r#"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition, Producer
b, T, P, G = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = AdminClient({'bootstrap.servers': b})
for f in a.create_topics([NewTopic('t%03d' % i, P, 1) for i in range(T)], request_timeout=60).values():
    f.result()
p = Producer({'bootstrap.servers': b, 'linger.ms': 0})
for i in range(T):
    for j in range(0, P, 10):
        p.produce('t%03d' % i, b'x', partition=j)
    p.flush(30)
for g in range(G):
    tps = [TopicPartition('t%03d' % (g % T), (g * 7 + k) % P, 1) for k in range(20)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions('grp%04d' % g, tps)])['grp%04d' % g].result()
"#;

/// The reference: the same reads through librdkafka's AdminClient, timed per poll.
const REFERENCE: &str = r#"
import sys, time, resource
from confluent_kafka.admin import AdminClient, OffsetSpec
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
b, polls = sys.argv[1], int(sys.argv[2])
a = AdminClient({'bootstrap.servers': b})
def rss_peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def poll():
    md = a.list_topics(timeout=30)
    tps = [TopicPartition(t, p) for t, tm in md.topics.items() for p in tm.partitions]
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        res = a.list_offsets({tp: spec for tp in tps}, request_timeout=30)
        for f in res.values():
            f.result()
    groups = [g.group_id for g in a.list_consumer_groups(request_timeout=30).result().valid]
    for f in a.describe_consumer_groups(groups, request_timeout=30).values():
        f.result()
    n = 0
    for g in groups:
        r = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=30)
        n += len(r[g].result().topic_partitions)
    return len(tps), len(groups), n
poll()
base = rss_peak_kib()
for i in range(polls):
    t = time.perf_counter()
    parts, groups, committed = poll()
    print('%f %d %d %d' % (time.perf_counter() - t, parts, groups, committed), flush=True)
print('rss %d' % (rss_peak_kib() - base), flush=True)
"#;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Heap growth over the region. stats_alloc already books a realloc's growth (shrink) in
/// `bytes_allocated` (`bytes_deallocated`); `bytes_reallocated` is the same change again.
fn net_bytes(region: &Region<'_, System>) -> i64 {
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64
}

/// Peak resident set size of this process so far (VmHWM), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let polls = knob("ADMIN_BENCH_POLLS", 5);
    let topics = knob("ADMIN_BENCH_TOPICS", 100);
    let partitions = knob("ADMIN_BENCH_PARTITIONS", 100);
    let groups = knob("ADMIN_BENCH_GROUPS", 500);
    let tansu = Tansu::start().expect("tansu (KAFKA_OBS_VENV)");
    let brokers = tansu.brokers();
    let started = Instant::now();
    let status = Command::new(python().expect("peers venv"))
        .args(["-c", SETUP, &brokers])
        .args([topics, partitions, groups].map(|n| n.to_string()))
        .status()
        .expect("setup");
    assert!(status.success(), "cluster setup failed");
    println!(
        "cluster on tansu: {topics} topics x {partitions} partitions, {groups} groups x 20 commits (made in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let config = KafkaAdminConfig::parse(
        &serde_yaml_ng::from_str(&format!(
            "{{brokers: ['{brokers}'], timeout: 30s, cluster_alias: bench}}"
        ))
        .unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut poller = config.poller(config.dialer().unwrap());
    let res = resource(Some("bench"), None, &config.brokers);

    // Warm-up: connections, ApiVersions, the first time-lag samples.
    let first = rt.block_on(poller.poll(now_ns())).expect("first poll");
    let counts = (
        first
            .snapshot
            .topics
            .iter()
            .map(|t| t.partitions.len())
            .sum::<usize>(),
        first.snapshot.groups.len(),
        first
            .snapshot
            .groups
            .iter()
            .map(|g| g.committed.len())
            .sum::<usize>(),
    );
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    drop(first);
    let rss_base = peak_rss_kib();
    let kept = Region::new(GLOBAL);
    let mut ours = Vec::new();
    for _ in 0..polls {
        std::thread::sleep(Duration::from_millis(200));
        let region = Region::new(GLOBAL);
        let t = Instant::now();
        let polled = rt.block_on(poller.poll(now_ns())).expect("poll");
        let poll_time = t.elapsed();
        let t = Instant::now();
        let batch = snapshot_to_otlp(&polled.snapshot, res.clone(), &brokers);
        let convert_time = t.elapsed();
        let held = net_bytes(&region);
        let allocated = region.change().bytes_allocated as i64;
        let points: usize = batch.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| match &m.data {
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) => {
                    g.data_points.len()
                }
                _ => 0,
            })
            .sum();
        drop(batch);
        drop(polled);
        ours.push((
            poll_time,
            convert_time,
            allocated,
            held,
            points,
            net_bytes(&kept),
        ));
    }
    let kept_between = net_bytes(&kept);
    let rss_growth = peak_rss_kib().saturating_sub(rss_base);

    let reference = Command::new(python().expect("peers venv"))
        .args(["-c", REFERENCE, &brokers, &polls.to_string()])
        .output()
        .expect("reference");
    assert!(
        reference.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let text = String::from_utf8_lossy(&reference.stdout);
    let mut theirs = Vec::new();
    let mut their_rss = 0u64;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["rss", kib] => their_rss = kib.parse().unwrap_or(0),
            [secs, parts, groups, committed] => theirs.push((
                secs.parse::<f64>().unwrap_or(f64::NAN),
                parts.to_string(),
                groups.to_string(),
                committed.to_string(),
            )),
            _ => {}
        }
    }

    println!(
        "read per poll: {} partitions, {} groups, {} committed offsets",
        counts.0, counts.1, counts.2
    );
    println!(
        "{:<5} {:>10} {:>11} {:>10} {:>9} {:>10} {:>8} | {:>13}",
        "poll",
        "ours ms",
        "to OTLP ms",
        "alloc MiB",
        "held MiB",
        "kept MiB",
        "points",
        "confluent ms"
    );
    for (i, (poll, convert, allocated, held, points, kept)) in ours.iter().enumerate() {
        let reference = theirs.get(i).map_or(f64::NAN, |t| t.0 * 1000.0);
        println!(
            "{:<5} {:>10.1} {:>11.1} {:>10.1} {:>9.1} {:>10.2} {:>8} | {:>13.1}",
            i + 1,
            poll.as_secs_f64() * 1000.0,
            convert.as_secs_f64() * 1000.0,
            mib(*allocated),
            mib(*held),
            mib(*kept),
            points,
            reference
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "median: ours {:.1} ms (+ {:.1} ms to OTLP), confluent-kafka AdminClient {:.1} ms",
        median(ours.iter().map(|o| o.0.as_secs_f64() * 1000.0).collect()),
        median(ours.iter().map(|o| o.1.as_secs_f64() * 1000.0).collect()),
        median(theirs.iter().map(|t| t.0 * 1000.0).collect())
    );
    if let Some(t) = theirs.first() {
        println!(
            "reference read: {} partitions, {} groups, {} committed offsets",
            t.1, t.2, t.3
        );
    }
    println!(
        "heap kept between polls (time-lag tables, connections): {:.2} MiB; peak RSS growth over the timed polls: ours {} KiB, reference {} KiB",
        mib(kept_between),
        rss_growth,
        their_rss
    );
}
