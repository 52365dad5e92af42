//! The runtime's promises, checked on the real binary: a stalled exporter does not stall its
//! siblings (and its drops are counted, with memory bounded); SIGTERM under load flushes
//! everything accepted and exits 0; the health check tells the truth.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_tests::otlp::{metrics_client, metrics_request, request_ids_in_file};
use kafka_obs_tests::{Collector, CollectorOptions, http_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_exporter_does_not_stall_the_others() {
    let grpc = free_port();
    let out = tempfile::tempdir().unwrap();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  debug:
    verbosity: detailed
  file:
    path: {}/out.jsonl
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug, file]
",
        out.path().display()
    );
    // stdout is a pipe nobody reads: the debug exporter blocks once the pipe buffer is full.
    let collector = Collector::start_with(
        &yaml,
        CollectorOptions {
            stdout_unread_pipe: true,
            ..Default::default()
        },
    );
    let mut client = metrics_client(grpc).await;
    const REQUESTS: u64 = 3000;
    const POINTS: usize = 20;
    let mut peak_rss = 0;
    for req in 0..REQUESTS {
        client
            .export(metrics_request(req, POINTS))
            .await
            .unwrap_or_else(|e| panic!("request {req} refused: {e}\n{}", collector.stderr()));
        if req % 250 == 0 {
            peak_rss = peak_rss.max(collector.rss_kib());
        }
    }
    // The file exporter gets everything although debug is stuck.
    let path = out.path().join("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = Vec::new();
    while Instant::now() < deadline {
        ids = request_ids_in_file(&std::fs::read_to_string(&path).unwrap_or_default());
        if ids.len() as u64 >= REQUESTS * POINTS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        ids.len() as u64,
        REQUESTS * POINTS as u64,
        "file exporter missed data"
    );
    let distinct: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct.len() as u64, REQUESTS);

    let dropped = collector.metric(
        "otelcol_exporter_enqueue_failed_metric_points",
        &["exporter=\"debug\""],
    );
    assert!(
        dropped > 0.0,
        "debug's drops must be counted:\n{}",
        collector.metrics()
    );
    assert_eq!(
        collector.metric(
            "otelcol_exporter_enqueue_failed_metric_points",
            &["exporter=\"file\""]
        ),
        0.0
    );
    assert_eq!(
        collector.metric("otelcol_receiver_accepted_metric_points", &[]),
        (REQUESTS * POINTS as u64) as f64
    );
    let queue = collector.metric("otelcol_exporter_queue_size", &["exporter=\"debug\""]);
    let capacity = collector.metric("otelcol_exporter_queue_capacity", &["exporter=\"debug\""]);
    assert!(
        queue <= capacity && capacity > 0.0,
        "queue {queue} capacity {capacity}"
    );
    // Bounded: 1000 queued batches of 20 points is a few MB; far below this bound.
    peak_rss = peak_rss.max(collector.rss_kib());
    assert!(peak_rss < 200 * 1024, "peak RSS {peak_rss} KiB");
    assert!(
        collector.stderr().contains("queue full"),
        "drops are logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_flushes_everything_accepted() {
    let grpc = free_port();
    let out = tempfile::tempdir().unwrap();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    send_batch_size: 100000
    timeout: 300ms
exporters:
  file:
    path: {}/out.jsonl
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
",
        out.path().display()
    );
    let mut collector = Collector::start(&yaml);
    // A request is answered once its data left the batch processor (300 ms), so the senders
    // run in parallel lanes. At SIGTERM the file exporter's queue must be written out: every
    // request answered OK must be in the file. Requests still waiting are answered "retry".
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut lanes = Vec::new();
    for lane in 0..32u64 {
        let acked = acked.clone();
        lanes.push(tokio::spawn(async move {
            let mut client = metrics_client(grpc).await;
            for i in 0..1_000_000u64 {
                let req = i * 32 + lane;
                match client.export(metrics_request(req, 10)).await {
                    Ok(_) => acked.lock().unwrap().push(req as i64),
                    Err(_) => break,
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < 64 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = tokio::task::spawn_blocking(move || {
        let s = collector.terminate(Duration::from_secs(20));
        (s, collector)
    })
    .await
    .unwrap();
    let (status, collector) = status;
    assert_eq!(status.code(), Some(0), "{}", collector.stderr());
    for l in lanes {
        let _ = tokio::time::timeout(Duration::from_secs(10), l).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 64,
        "the load ran ({} requests acked)\n{}",
        acked.len(),
        collector.stderr()
    );
    let in_file: BTreeSet<i64> = request_ids_in_file(
        &std::fs::read_to_string(out.path().join("out.jsonl")).unwrap_or_default(),
    )
    .into_iter()
    .collect();
    let missing: Vec<_> = acked.iter().filter(|r| !in_file.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "{} acked requests lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn health_check_reports_running_pipelines() {
    let health = free_port();
    let collector = Collector::start(&format!(
        "extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  debug:
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
"
    ));
    let addr = format!("127.0.0.1:{health}").parse().unwrap();
    let (status, body) = http_get(addr, "/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Server available"));
    let text = collector.metrics();
    assert!(
        text.contains("# TYPE otelcol_exporter_queue_capacity gauge"),
        "{text}"
    );
}

#[test]
fn health_check_names_a_component_that_cannot_write() {
    let (health, grpc) = (free_port(), free_port());
    // /dev/full accepts the open and fails every write with ENOSPC: a real disk-full.
    let _collector = Collector::start(&format!(
        "extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  file:
    path: /dev/full
    flush_interval: 100ms
service:
  extensions: [health_check]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
"
    ));
    let addr = format!("127.0.0.1:{health}").parse().unwrap();
    assert_eq!(
        http_get(addr, "/").unwrap().0,
        200,
        "healthy before any write"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = metrics_client(grpc).await;
        client.export(metrics_request(1, 10)).await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = http_get(addr, "/").unwrap();
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("exporter/file") && body.contains("/dev/full"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_and_spans_are_pushed_over_otlp() {
    let mut sink = fake_opentelemetry_collector::FakeCollectorServer::start()
        .await
        .unwrap();
    let grpc = free_port();
    let out = tempfile::tempdir().unwrap();
    let endpoint = sink.endpoint();
    let collector = Collector::start(&format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  file:
    path: {}/out.jsonl
service:
  telemetry:
    resource:
      deployment: test
    metrics:
      readers:
        - periodic:
            interval: 300
            exporter:
              otlp:
                protocol: grpc
                endpoint: {endpoint}
    traces:
      processors:
        - batch:
            exporter:
              otlp:
                protocol: grpc
                endpoint: {endpoint}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
",
        out.path().display()
    ));
    let mut client = metrics_client(grpc).await;
    for req in 0..5 {
        client.export(metrics_request(req, 4)).await.unwrap();
    }
    // Self-metrics arrive as OTLP with the accepted count.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut accepted = None;
    let mut seen = Vec::new();
    while accepted != Some(20) && Instant::now() < deadline {
        for batch in sink.exported_metrics(1, Duration::from_secs(2)).await {
            // The fake server's types are only reachable through their JSON form.
            let metrics = serde_json::to_value(&batch.metrics).unwrap();
            seen.push(metrics.to_string());
            for m in metrics.as_array().into_iter().flatten() {
                if m["name"] == "otelcol_receiver_accepted_metric_points" {
                    let points = &m["data"]["Sum"]["data_points"];
                    accepted = points
                        .as_array()
                        .into_iter()
                        .flatten()
                        // The fake server keeps attribute values in their Debug form.
                        .filter(|p| {
                            p["attributes"]["transport"]
                                .as_str()
                                .is_some_and(|v| v.contains("\"grpc\""))
                        })
                        .find_map(|p| p["value"]["AsInt"].as_i64());
                }
            }
        }
    }
    assert_eq!(
        accepted,
        Some(20),
        "accepted items pushed over OTLP; received:\n{}\ncollector log:\n{}",
        seen.last().map(String::as_str).unwrap_or("nothing"),
        collector.stderr()
    );
    // The collector's own spans: one per batch through the pipeline.
    let spans = sink.exported_spans(5, Duration::from_secs(15)).await;
    assert!(
        spans.iter().any(|s| s.name == "pipeline"
            && s.attributes
                .get("pipeline")
                .is_some_and(|v| v.contains("metrics"))),
        "{spans:?}"
    );
    drop(collector);
}
