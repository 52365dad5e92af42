//! A sender hears "accepted" only for data that is safe, and no later than that.
//!
//! - With a persistent exporter queue, every request the OTLP receiver answered OK survives a
//!   `kill -9` and is delivered after restart; the answer waits for the batch processor to hand
//!   the data to the disk queue.
//! - With only in-memory queues downstream, the batch processor's buffer is as safe as they
//!   are, so the answer comes as soon as the batch processor took the data, whatever its
//!   `timeout` (12 s here, longer than the client's 10 s deadline).
//!
//! The backend is a second kafka-obs (`otlp` receiver -> `file` exporter), so both ends are the
//! real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_tests::Collector;
use kafka_obs_tests::otlp::{metrics_client, metrics_request, request_ids_in_file};

fn backend_yaml(grpc: u16, file: &std::path::Path) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  file:
    path: {}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
",
        file.display()
    )
}

/// `otlp -> batch (timeout) -> otlp` to the backend; with `disk_queue`, the exporter's
/// sending queue is persistent (a `file_storage` in that directory).
fn forwarder_yaml(
    grpc: u16,
    batch_timeout: &str,
    backend: u16,
    disk_queue: Option<&std::path::Path>,
) -> String {
    let (queue, extension) = match disk_queue {
        Some(dir) => (
            "    sending_queue:\n      storage: file_storage\n".to_string(),
            format!(
                "extensions:\n  file_storage:\n    directory: {}\nservice:\n  extensions: [file_storage]\n",
                dir.display()
            ),
        ),
        None => (String::new(), "service:\n".to_string()),
    };
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    timeout: {batch_timeout}
    send_batch_size: 100000
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
{queue}{extension}  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
"
    )
}

fn collector_yaml(grpc: u16, backend: u16, dir: &std::path::Path) -> String {
    forwarder_yaml(grpc, "1s", backend, Some(dir))
}

/// The request ids the backend wrote so far.
fn delivered(file: &std::path::Path) -> BTreeSet<i64> {
    request_ids_in_file(&std::fs::read_to_string(file).unwrap_or_default())
        .into_iter()
        .collect()
}

/// Waits up to `limit` until the backend wrote every id in `want`; returns what is missing.
async fn missing_after(file: &std::path::Path, want: &BTreeSet<i64>, limit: Duration) -> Vec<i64> {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<i64> = want.difference(&delivered(file)).copied().collect();
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_disk_queue_downstream_the_answer_waits_for_the_batch() {
    let (grpc, backend_grpc) = (free_port(), free_port());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("backend.jsonl");
    let queue_dir = work.path().join("queue");
    std::fs::create_dir_all(&queue_dir).unwrap();
    let backend = Collector::start(&backend_yaml(backend_grpc, &out));
    let collector = Collector::start(&forwarder_yaml(grpc, "6s", backend_grpc, Some(&queue_dir)));

    let mut client = metrics_client(grpc).await;
    let answer = tokio::spawn(async move { client.export(metrics_request(7, 5)).await });
    // The batch holds the data for 6 s before it goes to the disk queue: no answer before.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !answer.is_finished(),
        "answered while the data was only in the batch processor, before the disk queue had it"
    );
    let answer = tokio::time::timeout(Duration::from_secs(20), answer)
        .await
        .expect("an answer once the batch reached the disk queue")
        .unwrap();
    assert!(answer.is_ok(), "{answer:?}\n{}", collector.stderr());
    let missing = missing_after(&out, &BTreeSet::from([7]), Duration::from_secs(20)).await;
    assert!(missing.is_empty(), "not delivered\n{}", backend.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_memory_queues_only_the_answer_does_not_wait_for_a_12s_batch() {
    let (grpc, backend_grpc) = (free_port(), free_port());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("backend.jsonl");
    let backend = Collector::start(&backend_yaml(backend_grpc, &out));
    let mut collector = Collector::start(&forwarder_yaml(grpc, "12s", backend_grpc, None));

    // One export in flight, as the OpenTelemetry SDKs send; the client gives up after 10 s,
    // before the batch's 12 s, so an answer that waited for the batch would fail here.
    let mut client = metrics_client(grpc).await;
    let started = Instant::now();
    let mut answered = BTreeSet::new();
    for req in 0..50u64 {
        let reply = client.export(metrics_request(req, 5)).await;
        assert!(
            reply.is_ok(),
            "export {req} after {} answered: {reply:?}\n{}",
            answered.len(),
            collector.stderr()
        );
        answered.insert(req as i64);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(12),
        "50 answers took {took:?}: they waited for the batch timeout"
    );
    assert!(
        delivered(&out).is_empty(),
        "the batch sent before its timeout or size, so the answers prove nothing"
    );
    // A clean stop flushes the batch: everything answered arrives.
    let status = collector.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{}", collector.stderr());
    let missing = missing_after(&out, &answered, Duration::from_secs(20)).await;
    assert!(
        missing.is_empty(),
        "{} of 50 answered requests never arrived\n{}",
        missing.len(),
        backend.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_answered_ok_survives_kill_9() {
    let (grpc, backend_grpc) = (free_port(), free_port());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("backend.jsonl");
    let queue_dir = work.path().join("queue");
    std::fs::create_dir_all(&queue_dir).unwrap();

    // First without a backend: everything accepted stays on disk, retrying.
    let collector = Collector::start(&collector_yaml(grpc, backend_grpc, &queue_dir));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut senders = Vec::new();
    for lane in 0..8u64 {
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            let mut client = metrics_client(grpc).await;
            for i in 0..1000u64 {
                let req = lane * 1000 + i;
                // Answers come after the batch processor's second; the kill cuts this short.
                match client.export(metrics_request(req, 5)).await {
                    Ok(_) => {
                        acked.lock().unwrap().insert(req as i64);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Let some requests be answered and others sit in the batch processor, then kill.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 16 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = std::process::Command::new("kill")
        .args(["-9", &collector.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    drop(collector);
    for s in senders {
        let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
    }
    let acked: BTreeSet<i64> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 16,
        "the collector answered only {} requests before the kill",
        acked.len()
    );

    // Restart with the backend up: every answered request must arrive.
    let backend = Collector::start(&backend_yaml(backend_grpc, &out));
    let collector = Collector::start(&collector_yaml(grpc, backend_grpc, &queue_dir));
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut missing: Vec<i64>;
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let delivered: BTreeSet<i64> = request_ids_in_file(&text).into_iter().collect();
        missing = acked.difference(&delivered).copied().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        missing.is_empty(),
        "{} of {} requests answered OK were lost across kill -9 (first: {:?})\n{}\n{}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)],
        collector.stderr(),
        backend.stderr()
    );
}
