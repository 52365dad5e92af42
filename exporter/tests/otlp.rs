//! `otlp` and `otlp_http` against real OTLP servers: `fake-opentelemetry-collector` (tonic),
//! a recording tonic server that accepts gzip and scripts outages, and a Python receiver on
//! the official `opentelemetry-proto` package. Every record must arrive with its attributes,
//! gzip on and off, protobuf and JSON; outages are retried and counted; partial success is
//! counted, not retried.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use kafka_obs_api::Host;
use kafka_obs_exporter::otlp::OtlpExporterConfig;
use kafka_obs_exporter::otlp::OtlpHttpExporterConfig;

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).unwrap()
}

const FAST_RETRY: &str = "retry_on_failure:
  initial_interval: 20ms
  max_interval: 100ms
  max_elapsed_time: 20s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_without_gzip_to_fake_collector_keeps_every_attribute() {
    let mut server = fake_opentelemetry_collector::FakeCollectorServer::start()
        .await
        .unwrap();
    let config = OtlpExporterConfig::parse(&yaml(&format!(
        "endpoint: {}\ncompression: none",
        server.endpoint()
    )))
    .unwrap();
    let running = Running::start(&config, "otlp", Host::default());
    running.tx.send(logs("src-a", 0, 30)).await.unwrap();
    running.tx.send(metrics("src-a", 0, 5)).await.unwrap();
    running.tx.send(traces("src-a", 0, 20)).await.unwrap();

    let got_logs = server.exported_logs(30, Duration::from_secs(20)).await;
    let got_metrics = server.exported_metrics(1, Duration::from_secs(20)).await;
    let got_spans = server.exported_spans(20, Duration::from_secs(20)).await;
    let t = running.finish(Duration::from_secs(5)).await;

    assert_eq!(got_logs.len(), 30);
    let seqs: BTreeSet<String> = got_logs
        .iter()
        .map(|l| {
            // The fake collector flattens values with `Debug`.
            assert!(
                l.attributes["kind"].contains("StringValue(\"log\")"),
                "{l:?}"
            );
            l.attributes["seq"].clone()
        })
        .collect();
    assert_eq!(seqs.len(), 30);
    assert_eq!(got_spans.len(), 20);
    assert!(got_spans.iter().all(|s| s.attributes.contains_key("seq")));
    // Each point's attributes, flattened by the fake collector to a map.
    let text = serde_json::to_string(&got_metrics).unwrap();
    assert_eq!(text.matches("orders").count(), 5, "{text}");
    assert_eq!(
        all_signals(&t, "otelcol_exporter_sent"),
        55,
        "{}",
        t.render_prometheus()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_with_gzip_headers_outage_and_partial_success() {
    let (rec, addr, _server) = recording_server(0).await;
    rec.control.fail_next.store(3, Ordering::SeqCst);
    let config = OtlpExporterConfig::parse(&yaml(&format!(
        "endpoint: {addr}\ntls: {{insecure: true}}\nheaders: {{x-tenant: acme}}\n{FAST_RETRY}"
    )))
    .unwrap();
    let running = Running::start(&config, "otlp/gz", Host::default());
    for i in 0..20 {
        running.tx.send(logs("src-a", i * 50, 50)).await.unwrap();
        running.tx.send(metrics("src-b", i * 10, 10)).await.unwrap();
        running.tx.send(traces("src-c", i * 5, 5)).await.unwrap();
    }
    let t = running.finish(Duration::from_secs(30)).await;
    let log_seqs: BTreeSet<i64> = rec.log_seqs().into_iter().collect();
    assert_eq!(log_seqs, (0..1000).collect());
    let points: BTreeSet<i64> = rec.metric_seqs().into_iter().collect();
    assert_eq!(points, (0..200).collect());
    let spans: BTreeSet<i64> = rec.span_seqs().into_iter().collect();
    assert_eq!(spans, (0..100).collect());
    {
        let seen = rec.seen.lock().unwrap();
        assert!(
            seen.encodings.iter().all(|e| e.as_deref() == Some("gzip")),
            "{:?}",
            seen.encodings
        );
        assert!(
            seen.headers
                .iter()
                .all(|h| h.get("x-tenant").map(String::as_str) == Some("acme"))
        );
    }
    assert!(counter(&t, "kafka_obs_exporter_retries_total", &[]) >= 3);
    assert_eq!(all_signals(&t, "otelcol_exporter_send_failed"), 0);

    // Partial success: counted as rejected and failed, not retried.
    rec.control.reject_logs.store(2, Ordering::SeqCst);
    let before = rec.seen.lock().unwrap().logs.len();
    let running = Running::start(&config, "otlp/gz", Host::default());
    running.tx.send(logs("src-a", 5000, 10)).await.unwrap();
    let t = running.finish(Duration::from_secs(10)).await;
    assert_eq!(
        rec.seen.lock().unwrap().logs.len(),
        before + 1,
        "not retried"
    );
    assert_eq!(
        counter(&t, "kafka_obs_exporter_rejected_items_total", &[]),
        2
    );
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_permanent_refusal_is_not_retried() {
    let (rec, addr, _server) = recording_server(0).await;
    rec.control.invalid_next.store(1, Ordering::SeqCst);
    let config =
        OtlpExporterConfig::parse(&yaml(&format!("endpoint: http://{addr}\n{FAST_RETRY}")))
            .unwrap();
    let running = Running::start(&config, "otlp/bad", Host::default());
    running.tx.send(logs("a", 0, 3)).await.unwrap();
    let t = running.finish(Duration::from_secs(10)).await;
    assert_eq!(rec.control.refused.load(Ordering::SeqCst), 1, "tried once");
    assert_eq!(counter(&t, "kafka_obs_exporter_retries_total", &[]), 0);
    assert_eq!(all_signals(&t, "otelcol_exporter_send_failed"), 3);
    assert_eq!(
        counter(&t, "kafka_obs_exporter_rejected_items_total", &[]),
        3
    );
}

async fn http_round_trip(encoding: &str, compression: &str, fail_first: usize) {
    let py = PyReceiver::start(fail_first);
    let config = OtlpHttpExporterConfig::parse(&yaml(&format!(
        "endpoint: http://127.0.0.1:{}\nencoding: {encoding}\ncompression: {compression}\nheaders: {{Authorization: Bearer t0k}}\n{FAST_RETRY}",
        py.port
    )))
    .unwrap();
    let running = Running::start(&config, "otlp_http", Host::default());
    for i in 0..10 {
        running.tx.send(logs("a", i * 20, 20)).await.unwrap();
        running.tx.send(metrics("b", i * 4, 4)).await.unwrap();
        running.tx.send(traces("c", i * 3, 3)).await.unwrap();
    }
    let t = running.finish(Duration::from_secs(30)).await;
    // The receiver prints before it answers; its stdout is read by a thread: let it catch up.
    eventually(Duration::from_secs(10), || {
        py.lines.lock().unwrap().len() >= 30
    })
    .await;
    let logs: BTreeSet<i64> = py.seqs("/v1/logs").into_iter().collect();
    assert_eq!(logs, (0..200).collect(), "{encoding} {compression}");
    let points: BTreeSet<i64> = py.seqs("/v1/metrics").into_iter().collect();
    assert_eq!(points, (0..40).collect());
    let spans: BTreeSet<i64> = py.seqs("/v1/traces").into_iter().collect();
    assert_eq!(spans, (0..30).collect());
    let lines = py.lines.lock().unwrap().clone();
    let want_ctype = if encoding == "json" {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    for l in &lines {
        assert_eq!(l["ctype"], want_ctype);
        assert_eq!(l["gzip"], compression == "gzip");
        assert_eq!(l["auth"], "Bearer t0k");
    }
    // The resource and the string attribute survive the trip (read by the official decoder).
    let log_line = lines.iter().find(|l| l["path"] == "/v1/logs").unwrap();
    let rl = &log_line["first"]["resourceLogs"][0];
    assert_eq!(rl["resource"]["attributes"][1]["value"]["stringValue"], "a");
    assert_eq!(
        rl["scopeLogs"][0]["logRecords"][0]["attributes"][1]["value"]["stringValue"],
        "log"
    );
    assert_eq!(
        counter(&t, "kafka_obs_exporter_retries_total", &[]) as usize,
        fail_first
    );
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 270);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_gzip_with_retries() {
    http_round_trip("proto", "gzip", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_plain() {
    http_round_trip("proto", "none", 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_gzip_and_plain() {
    http_round_trip("json", "gzip", 0).await;
    http_round_trip("json", "none", 1).await;
}
