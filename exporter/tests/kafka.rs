//! `kafka` against the `tansu` broker (in-memory, started here on 127.0.0.1): 10 000 signals
//! exported and read back with an rdkafka `BaseConsumer` decoding `otlp_proto` and
//! `otlp_json`; one source's records stay in order; a record over `max_message_bytes` is split
//! or dropped and counted; a broker restart mid-stream still delivers what came after.
//! Records are counted as consumed (tansu's high watermarks count batches, not records).

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use common::*;
use kafka_obs_api::{Batch, Host};
use kafka_obs_exporter::kafka::KafkaExporterConfig;
use kafka_obs_otlp_json::from_json_line;
use kafka_obs_signal::otlp::logs::from_export_request;
use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::tansu::Tansu;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

/// Reads `topic` from the beginning until `want` signals were decoded or `timeout` passed.
/// Returns (record key, source, sequence) in consumption order, per partition in order.
fn read_signals(
    brokers: &str,
    topic: &str,
    json: bool,
    want: usize,
    timeout: Duration,
) -> Vec<(String, String, u64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", free_port()))
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let end = Instant::now() + timeout;
    while out.len() < want && Instant::now() < end {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let Ok(msg) = msg else { continue };
        let key = String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned();
        let payload = msg.payload().unwrap_or_default();
        let request = if json {
            match from_json_line(std::str::from_utf8(payload).expect("utf-8 json"), 1)
                .expect("otlp_json record")
            {
                Batch::Logs(r) => r,
                other => panic!("not logs: {other:?}"),
            }
        } else {
            ExportLogsServiceRequest::decode(payload).expect("otlp_proto record")
        };
        for s in from_export_request(&request).expect("signals decode") {
            out.push((key.clone(), s.source_id.clone(), s.sequence));
        }
    }
    out
}

fn exporter_config(brokers: &str, extra: &str) -> KafkaExporterConfig {
    KafkaExporterConfig::parse(
        &serde_yaml_ng::from_str(&format!(
            "brokers: [{brokers}]
timeout: 5s
retry_on_failure: {{initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 120s}}
{extra}"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// `cluster_key`: the key every record has (signals keyed by their cluster, the default);
/// `None`: each record is keyed by its signal source (`key_by: source`).
fn assert_complete_and_ordered(
    got: &[(String, String, u64)],
    sources: usize,
    per: u64,
    cluster_key: Option<&str>,
) {
    let mut by_source: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (key, src, seq) in got {
        match cluster_key {
            Some(cluster) => assert_eq!(key, cluster, "record key is the signal's cluster"),
            None => assert_eq!(key, src, "record key is the signal source"),
        }
        by_source.entry(src).or_default().push(*seq);
    }
    assert_eq!(by_source.len(), sources);
    for (src, seqs) in &by_source {
        let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
        assert_eq!(distinct, (0..per).collect(), "{src}: every signal");
        let mut first = BTreeSet::new();
        let firsts: Vec<u64> = seqs.iter().copied().filter(|s| first.insert(*s)).collect();
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "{src}: out of order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_signals_in_proto_and_json_read_back_in_order() {
    let tansu = Tansu::start().expect("start tansu");
    tansu
        .create_topic("__kafka-obs-signals", 3)
        .expect("create the topic");
    tansu
        .create_topic("signals-json", 3)
        .expect("create the topic");
    const SOURCES: usize = 20;
    const PER: u64 = 500;
    for (json, extra) in [
        // Keyed by source here (all signals are about one cluster, which the default
        // `key_by: cluster` would put on one partition).
        (
            false,
            "logs: {key_by: source}\nproducer: {compression: lz4}",
        ),
        (
            true,
            "logs: {topic: signals-json, encoding: otlp_json, key_by: source}\nproducer: {compression: gzip}",
        ),
    ] {
        let cfg = exporter_config(&tansu.brokers(), extra);
        let running = Running::start(&cfg, "kafka", Host::default());
        // Batches mix sources, as a batch processor would.
        for round in 0..(PER / 25) {
            let mut batch = signal_batch("src-00", round * 25, 25, 0);
            for s in 1..SOURCES {
                batch
                    .append(signal_batch(&format!("src-{s:02}"), round * 25, 25, 1))
                    .unwrap();
            }
            running.tx.send(batch).await.unwrap();
        }
        let t = running.finish(Duration::from_secs(60)).await;
        assert_eq!(
            all_signals(&t, "otelcol_exporter_sent"),
            SOURCES as u64 * PER + (SOURCES as u64 - 1) * (PER / 25),
            "signals plus the plain records travel (Kafka carries whole OTLP requests)"
        );
        let topic = if json {
            "signals-json"
        } else {
            "__kafka-obs-signals"
        };
        let want = SOURCES * PER as usize;
        let brokers = tansu.brokers();
        let got = tokio::task::spawn_blocking(move || {
            read_signals(&brokers, topic, json, want, Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert_eq!(got.len(), want, "json={json}");
        assert_complete_and_ordered(&got, SOURCES, PER, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batches_split_and_an_oversized_record_is_dropped_and_counted() {
    let tansu = Tansu::start().expect("start tansu");
    tansu
        .create_topic("__kafka-obs-signals", 3)
        .expect("create the topic");
    let cfg = exporter_config(&tansu.brokers(), "producer: {max_message_bytes: 4096}");
    let running = Running::start(&cfg, "kafka", Host::default());
    // 200 signals of one source: far more than 4 KiB in one request, so it is split.
    running
        .tx
        .send(signal_batch("big", 0, 200, 0))
        .await
        .unwrap();
    // One record whose body alone is over the limit.
    let mut huge = logs("huge", 0, 1);
    if let Batch::Logs(r) = &mut huge {
        r.resource_logs[0].scope_logs[0].log_records[0].body =
            Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(s(&"x".repeat(10_000))),
            });
    }
    running.tx.send(huge).await.unwrap();
    let t = running.finish(Duration::from_secs(30)).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 200);
    assert_eq!(
        counter(&t, "kafka_obs_exporter_rejected_items_total", &[]),
        1
    );
    assert_eq!(
        counter(&t, "kafka_obs_exporter_retries_total", &[]),
        0,
        "never retried"
    );
    let brokers = tansu.brokers();
    let got = tokio::task::spawn_blocking(move || {
        read_signals(
            &brokers,
            "__kafka-obs-signals",
            false,
            200,
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    assert_complete_and_ordered(&got, 1, 200, Some("prod"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_still_delivers() {
    let port = free_port();
    let mut tansu = Tansu::start_on(port).expect("start tansu");
    tansu
        .create_topic("__kafka-obs-signals", 3)
        .expect("create the topic");
    // Defaults: acks=all with idempotence. The restarted in-memory broker has forgotten the
    // producer id, so the exporter must start a new producer to get going again.
    let cfg = exporter_config(&tansu.brokers(), "");
    let running = Running::start(&cfg, "kafka", Host::default());
    for round in 0..10 {
        running
            .tx
            .send(signal_batch("a", round * 10, 10, 0))
            .await
            .unwrap();
    }
    assert!(
        eventually(Duration::from_secs(30), || running
            .all_signals("otelcol_exporter_sent")
            == 100)
        .await
    );
    // The broker goes away (tansu keeps data in memory: what it had is gone with it).
    tansu.stop();
    for round in 10..30 {
        running
            .tx
            .send(signal_batch("a", round * 10, 10, 0))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tansu = Tansu::start_on(port).expect("start tansu");
    tansu
        .create_topic("__kafka-obs-signals", 3)
        .expect("create the topic");
    let t = running.finish(Duration::from_secs(90)).await;
    assert_eq!(
        all_signals(&t, "otelcol_exporter_send_failed"),
        0,
        "{}",
        t.render_prometheus()
    );
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 300);
    assert!(counter(&t, "kafka_obs_exporter_retries_total", &[]) >= 1);
    let brokers = tansu.brokers();
    let got = tokio::task::spawn_blocking(move || {
        read_signals(
            &brokers,
            "__kafka-obs-signals",
            false,
            200,
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    let seqs: BTreeSet<u64> = got.iter().map(|(_, _, s)| *s).collect();
    assert_eq!(
        seqs,
        (100..300).collect(),
        "everything sent after the restart arrived"
    );
}
