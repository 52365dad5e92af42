//! The `hierarchy` connector as the runtime runs it: parcels in, outputs and receipts out,
//! the query API and a webhook on loopback. Engine time is the wall clock, so the test uses
//! short intervals (close_after 1s, no damping) and real sleeps of a few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_obs_api::{Batch, Parcel, Receipt};
use kafka_obs_signal::intake::{PARTITION, PARTITION_IDS, REPLAY, REVOKED, TOPIC};
use kafka_obs_signal::otlp::{ExportResource, logs};
use kafka_obs_signal::{Evidence, Signal, SignalKind, probes, queues, statuses};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

mod common;
use common::{Running, start};

const BROKER: &str = "cluster=prod/broker=2";
const PRODUCER: &str = "cluster=prod/service=order-service/instance=pod-1/client=order-producer";
const SERVICE: &str = "cluster=prod/service=order-service/instance=pod-1";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn signal(path: &str, kind: SignalKind, rule: &str, t: u64) -> Signal {
    Signal::new(
        path.parse().unwrap(),
        kind,
        Evidence::rule(rule).with("value", 1.0),
        t,
    )
    .from_source("test")
}

fn logs_of(signals: &[Signal]) -> ExportLogsServiceRequest {
    logs::to_export_request(signals, &ExportResource::default())
}

/// Records every POST body a webhook receives.
async fn webhook_server() -> (u16, Arc<Mutex<Vec<Json>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts = Arc::new(Mutex::new(Vec::new()));
    let seen = posts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            seen.lock()
                                .unwrap()
                                .push(serde_json::from_str(&body[..len]).unwrap());
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                            buf.clear();
                        }
                    }
                }
            });
        }
    });
    (port, posts)
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn send(r: &Running, request: ExportLogsServiceRequest) {
    let (receipt, acceptance) = Receipt::new();
    r.tx.send(Parcel::new(Batch::Logs(request), receipt))
        .await
        .unwrap();
    acceptance
        .wait_for(Duration::from_secs(5))
        .await
        .expect("the connector settles the receipt once ingested");
}

async fn wait_for<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signals_in(rx: &mut mpsc::Receiver<Parcel>) -> Vec<Signal> {
    let mut out = Vec::new();
    while let Ok(p) = rx.try_recv() {
        if let Batch::Logs(r) = p.batch {
            out.extend(logs::from_export_request(&r).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_123_chain_webhook_trace_and_api() {
    let (hook, posts) = webhook_server().await;
    let port = free_port();
    let mut r = start(&format!(
        "
damping: {{clear_after: 0s}}
incidents: {{close_after: 1s}}
notify:
  update_interval: 1h
  command: true
  webhook: {{endpoint: 'http://127.0.0.1:{hook}/api/v2/alerts', retry_interval: 50ms}}
tick_interval: 50ms
export: {{status_interval: 200ms}}
api: {{endpoint: '127.0.0.1:{port}', publish_interval: 50ms}}
"
    ));
    // The healthy picture first: broker 2 hosts `orders`, which the producer writes.
    let stable = SignalKind::Statuses(statuses::Sign::Stable, statuses::Confidence::Confirmed);
    send(
        &r,
        logs_of(&[
            signal(
                &format!("{BROKER}/topic=orders/partition=0"),
                stable,
                "H",
                now(),
            ),
            signal(&format!("{PRODUCER}/topic=orders"), stable, "H", now()),
        ]),
    )
    .await;
    let t0 = now();
    let degraded = SignalKind::Statuses(statuses::Sign::Degraded, statuses::Confidence::Confirmed);
    send(&r, logs_of(&[signal(BROKER, degraded, "B1", t0)])).await;
    send(
        &r,
        logs_of(&[signal(
            PRODUCER,
            SignalKind::Queues(queues::Sign::Overflow),
            "P1",
            t0 + 1_000_000,
        )]),
    )
    .await;
    send(
        &r,
        logs_of(&[signal(
            SERVICE,
            SignalKind::Probes(probes::Sign::Fail, probes::Dimension::Outbound),
            "A2",
            t0 + 2_000_000,
        )]),
    )
    .await;

    // The API: one open incident whose chain is broker, producer, service.
    let incidents: Json = wait_for("an open incident with three links", async || {
        let (status, body) = get(port, "/api/v1/incidents").await;
        assert_eq!(status, 200, "{body}");
        let v: Json = serde_json::from_str(&body).unwrap();
        (v["open"][0]["chain"].as_array().map(Vec::len) == Some(3)).then_some(v)
    })
    .await;
    let chain: Vec<&str> = incidents["open"][0]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(chain, [BROKER, PRODUCER, SERVICE]);
    let (status, body) = get(port, &format!("/api/v1/cell?subject={PRODUCER}")).await;
    assert_eq!(status, 200);
    let cell: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(cell["status"]["status"], "DEGRADED");
    assert_eq!(cell["readings"][0]["signal"], "Queues.OVERFLOW");
    assert_eq!(cell["readings"][0]["evidence"]["rule"], "P1");
    let (status, _) = get(port, "/api/v1/cell?subject=cluster=nowhere").await;
    assert_eq!(status, 404);
    let (status, body) = get(port, "/api/v1/tree?subject=cluster=prod&depth=1").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("broker=2") && !body.contains("client=order-producer"));
    let (status, _) = get(port, "/api/v1/tree?depth=99").await;
    assert_eq!(status, 400);
    let (status, _) = get(port, "/api/v1/tree?subject=not-a-path&depth=99").await;
    assert_eq!(status, 400);
    let (status, body) = get(port, &format!("/api/v1/history?subject={PRODUCER}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with('[') && body.contains("DEGRADED"), "{body}");
    let (status, _) = get(port, "/api/v1/history?subject=cluster=nowhere").await;
    assert_eq!(status, 404);
    let (status, body) = get(port, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("cell hierarchy"));
    let (status, body) = get(port, "/api/v1/health").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""));

    // Recovery: all three heal; close_after later the incident closes.
    let t1 = now();
    send(
        &r,
        logs_of(&[
            signal(BROKER, stable, "B1", t1),
            signal(
                PRODUCER,
                SignalKind::Queues(queues::Sign::Enqueue),
                "P1",
                t1,
            ),
            signal(
                SERVICE,
                SignalKind::Probes(probes::Sign::Succeed, probes::Dimension::Outbound),
                "A2",
                t1,
            ),
        ]),
    )
    .await;
    let closed: Json = wait_for("the incident to close", async || {
        let (_, body) = get(port, "/api/v1/incidents").await;
        let v: Json = serde_json::from_str(&body).unwrap();
        (v["open"].as_array().map(Vec::len) == Some(0)
            && v["closed"].as_array().map(Vec::len) == Some(1))
        .then_some(v)
    })
    .await;
    assert_eq!(closed["closed"][0]["state"], "closed");

    // Webhook: exactly one open and one close, Alertmanager-shaped, same labels.
    let alerts = wait_for("two webhook posts", async || {
        let p = posts.lock().unwrap().clone();
        (p.len() >= 2).then_some(p)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(posts.lock().unwrap().len(), 2, "one open and one close");
    let (open, close) = (&alerts[0][0], &alerts[1][0]);
    assert_eq!(open["labels"], close["labels"]);
    assert_eq!(open["labels"]["alertname"], "KafkaObsIncident");
    assert_eq!(open["labels"]["root_cause"], BROKER);
    assert!(open.get("endsAt").is_none());
    assert!(close["endsAt"].is_string());
    assert_eq!(open["annotations"]["action"], "open");
    assert_eq!(close["annotations"]["action"], "close");
    assert!(
        open["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{port}/"))
    );

    // Logs: situations and the Actors signals (REPORT, AFFIRM) with COMMANDs.
    let out = signals_in(&mut r.logs);
    let acts: Vec<String> = out
        .iter()
        .filter(|s| matches!(s.kind, SignalKind::Actors(_)))
        .map(|s| s.kind.to_string())
        .collect();
    assert_eq!(
        acts,
        [
            "Actors.REPORT",
            "Actors.COMMAND",
            "Actors.AFFIRM",
            "Actors.COMMAND"
        ]
    );
    assert!(
        out.iter()
            .any(|s| s.kind.to_string().starts_with("Situations.WARNING")
                && s.subject.qualified() == BROKER)
    );

    // Traces: one trace, root + three children in causal order.
    let parcel = wait_for("an incident trace", async || r.traces.try_recv().ok()).await;
    let Batch::Traces(trace) = parcel.batch else {
        panic!("not traces")
    };
    let spans = &trace.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 4);
    assert_eq!(spans[0].name, "kafka_obs.incident");
    assert!(
        spans[1..]
            .iter()
            .all(|s| s.parent_span_id == spans[0].span_id)
    );
    assert!(spans[1..].iter().all(|s| s.trace_id == spans[0].trace_id));
    let starts: Vec<u64> = spans[1..].iter().map(|s| s.start_time_unix_nano).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert!(
        spans
            .iter()
            .all(|s| s.end_time_unix_nano >= s.start_time_unix_nano)
    );

    // Metrics: the status gauge with a point per live cell.
    let parcel = wait_for("a status gauge", async || r.metrics.try_recv().ok()).await;
    let Batch::Metrics(m) = parcel.batch else {
        panic!("not metrics")
    };
    assert_eq!(
        m.resource_metrics[0].scope_metrics[0].metrics[0].name,
        "kafka_obs.status"
    );

    let text = r.telemetry.render_prometheus();
    assert!(
        text.contains("kafka_obs_hierarchy_webhook_sent_total{connector=\"hierarchy\"} 2"),
        "{text}"
    );
    drop(r.tx);
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .expect("stops when its input closes")
        .unwrap();
}

fn with_origin(mut request: ExportLogsServiceRequest, partition: &str) -> ExportLogsServiceRequest {
    for rl in &mut request.resource_logs {
        if let Some(res) = rl.resource.as_mut() {
            res.attributes
                .push(kv(TOPIC, Value::StringValue("__kafka-obs-signals".into())));
            res.attributes
                .push(kv(PARTITION, Value::StringValue(partition.into())));
        }
    }
    request
}

fn control(event: &str, partitions: &[&str]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    event_name: event.into(),
                    attributes: vec![
                        kv(TOPIC, Value::StringValue("__kafka-obs-signals".into())),
                        kv(
                            PARTITION_IDS,
                            Value::ArrayValue(ArrayValue {
                                values: partitions
                                    .iter()
                                    .map(|p| AnyValue {
                                        value: Some(Value::StringValue((*p).into())),
                                    })
                                    .collect(),
                            }),
                        ),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_notifies_nobody_and_revocation_drops_the_cluster() {
    let (hook, posts) = webhook_server().await;
    let port = free_port();
    let mut r = start(&format!(
        "
notify:
  webhook: {{endpoint: 'http://127.0.0.1:{hook}/'}}
tick_interval: 50ms
api: {{endpoint: '127.0.0.1:{port}', publish_interval: 50ms}}
"
    ));
    let t = now() - 5_000_000_000;
    let degraded = SignalKind::Statuses(statuses::Sign::Degraded, statuses::Confidence::Confirmed);
    // Replayed after a takeover: the incident is rebuilt silently.
    let mut replayed = with_origin(logs_of(&[signal(BROKER, degraded, "B1", t)]), "1");
    replayed.resource_logs[0].scope_logs[0].log_records[0]
        .attributes
        .push(kv(REPLAY, Value::BoolValue(true)));
    send(&r, replayed).await;
    // Another cluster, live, from partition 0.
    send(
        &r,
        with_origin(
            logs_of(&[signal("cluster=test/broker=1", degraded, "B1", now())]),
            "0",
        ),
    )
    .await;
    wait_for("two open incidents", async || {
        let (_, body) = get(port, "/api/v1/incidents").await;
        let v: Json = serde_json::from_str(&body).unwrap();
        (v["open"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    let posted = wait_for("the live incident's post", async || {
        let p = posts.lock().unwrap().clone();
        (!p.is_empty()).then_some(p)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(posts.lock().unwrap().len(), 1, "{posted:?}");
    assert_eq!(posted[0][0]["labels"]["cluster"], "test");
    let acts: Vec<String> = signals_in(&mut r.logs)
        .iter()
        .filter(|s| matches!(s.kind, SignalKind::Actors(_)))
        .map(|s| s.subject.qualified())
        .collect();
    assert_eq!(
        acts,
        ["cluster=test/broker=1"],
        "nothing exported for the replay"
    );

    // Partition 1 revoked: cluster prod goes, cluster test stays.
    send(&r, control(REVOKED, &["1"])).await;
    wait_for("cluster prod dropped", async || {
        let (status, _) = get(port, "/api/v1/cell?subject=cluster=prod").await;
        (status == 404).then_some(())
    })
    .await;
    let (status, _) = get(port, "/api/v1/cell?subject=cluster=test").await;
    assert_eq!(status, 200);
    let text = r.telemetry.render_prometheus();
    assert!(
        text.contains("kafka_obs_hierarchy_dropped_clusters_total{connector=\"hierarchy\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kafka_obs_hierarchy_replayed_signals_total{connector=\"hierarchy\"} 1"),
        "{text}"
    );
    drop(r.tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), r.task).await;
}

/// A hierarchy of ~20 000 cells: the status gauge leaves in requests of at most
/// `export.status_batch_size` points (default 4096), each well under the 4 MiB an OTLP/gRPC
/// receiver takes, and together they cover every live cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_hierarchy_s_status_gauge_is_split_under_the_grpc_limit() {
    let mut r =
        start("source_id: central-1\nexport: {status_interval: 500ms}\napi: {enabled: false}\n");
    let stable = SignalKind::Statuses(statuses::Sign::Stable, statuses::Confidence::Measured);
    let mut leaves = Vec::new();
    for t in 0..40 {
        for p in 0..500 {
            leaves.push(format!(
                "cluster=prod/broker={}/topic=t-{t}/partition={p}",
                t % 6
            ));
        }
    }
    for chunk in leaves.chunks(2000) {
        let batch: Vec<Signal> = chunk
            .iter()
            .map(|path| signal(path, stable, "H", now()))
            .collect();
        send(&r, logs_of(&batch)).await;
    }

    let mut subjects = std::collections::HashSet::new();
    let mut sizes = Vec::new();
    wait_for("a status gauge covering every leaf", async || {
        while let Ok(parcel) = r.metrics.try_recv() {
            let Batch::Metrics(m) = parcel.batch else {
                continue;
            };
            let points = match &m.resource_metrics[0].scope_metrics[0].metrics[0].data {
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) => {
                    &g.data_points
                }
                other => panic!("not a gauge: {other:?}"),
            };
            sizes.push((points.len(), prost::Message::encoded_len(&m)));
            for point in points {
                let subject = point.attributes.iter().find(|a| a.key == "subject");
                if let Some(Value::StringValue(s)) = subject
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| v.value.clone())
                {
                    subjects.insert(s);
                }
            }
        }
        // Leaves and the broker, topic and cluster cells above them.
        (subjects.len() > leaves.len()).then_some(())
    })
    .await;
    assert!(sizes.iter().all(|(n, _)| *n <= 4096), "{sizes:?}");
    assert!(
        sizes.iter().any(|(n, _)| *n == 4096),
        "split at 4096: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|(_, bytes)| *bytes < 4 * 1024 * 1024),
        "{sizes:?}"
    );
    drop(r.tx);
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .expect("stops when its input closes")
        .unwrap();
}
