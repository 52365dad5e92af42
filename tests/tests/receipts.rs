//! A sender hears "accepted" only for data that is safe: with a persistent exporter queue, every
//! request the OTLP receiver answered OK survives a `kill -9` and is delivered after restart.
//!
//! The collector under test holds data in a batch processor for a second before it reaches the
//! disk queue, so a receiver that answered as soon as the data entered the pipeline would lose
//! what was in the batch processor at the kill. The backend is a second kafka-obs
//! (`otlp` receiver -> `file` exporter), so both ends are the real binary.

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

fn collector_yaml(grpc: u16, backend: u16, dir: &std::path::Path) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    timeout: 1s
    send_batch_size: 100000
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
    sending_queue:
      storage: file_storage
extensions:
  file_storage:
    directory: {}
service:
  extensions: [file_storage]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp]
",
        dir.display()
    )
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
