//! `filter` and `transform` through the real binary: the OpenTelemetry Python SDK sends
//! metrics, logs and spans over OTLP/gRPC to our `otlp` receiver; `filter` drops the JVM's
//! memory pool metrics, debug logs and health-check spans; `transform` renames a business
//! metric and edits attributes; our `otlp` exporter sends the rest to a real OTLP/gRPC server
//! (fake-opentelemetry-collector), where the result is checked record by record. The second
//! test runs `examples/pipeline-all-processors.yaml` (memory_limiter, resource, attributes,
//! filter, transform, batch) the same way.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers;
use kafka_obs_tests::{Collector, CollectorOptions};

/// The sender: the SDK's own exporters, flushed and shut down before it exits.
const SENDER: &str = r#"
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry._logs import SeverityNumber, LogRecord
from opentelemetry.metrics import Observation
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

endpoint = sys.argv[1]
resource = Resource.create({"service.name": "orders", "k8s.pod.name": "orders-0"})
kw = dict(endpoint=endpoint, insecure=True)

reader = PeriodicExportingMetricReader(OTLPMetricExporter(**kw), export_interval_millis=3_600_000)
meters = MeterProvider(resource=resource, metric_readers=[reader])
meter = meters.get_meter("jvm")
for name in ["jvm.memory.pool.used", "jvm.memory.pool.max", "jvm.memory.heap.used"]:
    meter.create_observable_gauge(name, callbacks=[lambda _o, n=name: [Observation(len(n), {"pool": "G1 Eden"})]])
orders = meter.create_counter("orders_total")
orders.add(5, {"region": "eu"})
orders.add(2, {"region": "us"})
meters.force_flush()
meters.shutdown()

logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(**kw)))
logger = logs.get_logger("app")
for body, sev in [("cache miss", SeverityNumber.DEBUG), ("order placed", SeverityNumber.INFO),
                  ("login password=hunter2", SeverityNumber.WARN), ("payment failed", SeverityNumber.ERROR)]:
    logger.emit(LogRecord(body=body, severity_number=sev, severity_text=sev.name, attributes={"user.id": "u-42"}))
logs.shutdown()

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(**kw)))
tracer = tracer_provider.get_tracer("app")
with tracer.start_as_current_span("GET /health", attributes={"http.route": "/health"}):
    pass
with tracer.start_as_current_span("POST /orders", attributes={"http.route": "/orders", "db.password": "x"}):
    pass
tracer_provider.shutdown()
"#;

fn config(grpc: u16, sink: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  filter:
    error_mode: ignore
    metrics:
      metric:
        - 'IsMatch(name, "^jvm\\.memory\\.pool\\.")'
    logs:
      log_record:
        - 'severity_number < SEVERITY_NUMBER_INFO'
    traces:
      span:
        - 'attributes["http.route"] == "/health"'
  transform:
    error_mode: ignore
    metric_statements:
      - 'set(metric.name, "shop.orders.placed") where metric.name == "orders_total"'
      - context: datapoint
        statements:
          - set(attributes["kafka.cluster"], "eu-1")
    log_statements:
      - context: log
        statements:
          - replace_pattern(body, "password=\\S+", "password=***")
          - set(attributes["level"], ConvertCase(severity_text, "lower"))
    trace_statements:
      - context: span
        statements:
          - delete_matching_keys(attributes, ".*password.*")
          - set(attributes["pod"], resource.attributes["k8s.pod.name"])
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
    compression: none
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [filter, transform]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [filter, transform]
      exporters: [otlp]
    traces:
      receivers: [otlp]
      processors: [filter, transform]
      exporters: [otlp]
"#
    )
}

/// The string inside the fake server's rendering of an attribute value
/// (`Some(AnyValue { value: Some(StringValue("x")) })` -> `x`).
fn text(rendered: &str) -> &str {
    rendered
        .split_once("StringValue(\"")
        .and_then(|(_, rest)| rest.split_once("\")"))
        .map_or(rendered, |(inner, _)| inner)
}

/// Runs the Python sender against our receiver on `grpc`.
async fn send(grpc: u16, collector: &Collector) {
    let python = peers::python().expect("python peers");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SENDER)
            .arg(format!("http://127.0.0.1:{grpc}"))
            .output()
            .expect("run the Python sender")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Failed to export"),
        "sender failed:\n{stderr}\n{}",
        collector.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_transform_between_a_real_sdk_and_a_real_otlp_server() {
    let mut sink = fake_opentelemetry_collector::FakeCollectorServer::start()
        .await
        .unwrap();
    let grpc = free_port();
    let collector = Collector::start(&config(grpc, &sink.endpoint()));

    send(grpc, &collector).await;

    let wait = Duration::from_secs(15);
    // The SDK exports twice (flush, then shutdown): wait until our exporter sent both.
    let mut exports = sink.exported_metrics(2, wait).await;
    exports.extend(sink.exported_metrics(1, Duration::from_millis(300)).await);
    let metrics: Vec<_> = exports.into_iter().flat_map(|m| m.metrics).collect();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"shop.orders.placed"), "renamed: {names:?}");
    assert!(names.contains(&"jvm.memory.heap.used"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("jvm.memory.pool.") || *n == "orders_total"),
        "filtered and renamed away: {names:?}"
    );
    let orders = metrics
        .iter()
        .find(|m| m.name == "shop.orders.placed")
        .unwrap();
    let json = serde_json::to_value(orders).unwrap().to_string();
    // The fake server renders attribute values as their Debug form.
    assert_eq!(
        json.matches(r#""kafka.cluster":"Some(AnyValue { value: Some(StringValue(\"eu-1\")) })""#)
            .count(),
        2,
        "{json}"
    );

    let logs = sink.exported_logs(3, wait).await;
    let bodies: Vec<&str> = logs.iter().filter_map(|l| l.body.as_deref()).collect();
    assert_eq!(bodies.len(), 3, "the debug log was dropped: {bodies:?}");
    assert!(
        !bodies.iter().any(|b| b.contains("cache miss")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("password=***") && !b.contains("hunter2")),
        "{bodies:?}"
    );
    assert!(
        logs.iter()
            .all(|l| l.attributes.get("level").map(|v| text(v))
                == Some(l.severity_text.to_lowercase().as_str())),
        "{logs:?}"
    );

    let spans = sink.exported_spans(1, wait).await;
    assert_eq!(spans.len(), 1, "the health check was dropped: {spans:?}");
    assert_eq!(spans[0].name, "POST /orders");
    assert!(
        !spans[0].attributes.contains_key("db.password"),
        "{:?}",
        spans[0].attributes
    );
    assert_eq!(
        spans[0].attributes.get("pod").map(|v| text(v)),
        Some("orders-0")
    );

    // Dropped data is counted as filtered, not refused.
    let filtered = |kind: &str| {
        collector.metric(
            "kafka_obs_processor_filtered_items_total",
            &[&format!("data_type=\"{kind}\"")],
        )
    };
    // The SDK collects its observable gauges on flush and again on shutdown, so the pool
    // points come once per collection: what was accepted and not exported was filtered.
    let accepted = collector.metric("otelcol_receiver_accepted_metric_points", &[]);
    let exported: usize = metrics
        .iter()
        .map(|m| {
            let json = serde_json::to_value(m).unwrap().to_string();
            json.matches("\"time_unix_nano\"").count()
        })
        .sum();
    assert!(
        filtered("metrics") >= 2.0 && filtered("metrics") % 2.0 == 0.0,
        "two jvm.memory.pool points per collection"
    );
    assert_eq!(accepted - exported as f64, filtered("metrics"));
    assert_eq!(filtered("logs"), 1.0);
    assert_eq!(filtered("traces"), 1.0);
    let refused: f64 = ["metric_points", "log_records", "spans"]
        .iter()
        .map(|s| collector.metric(&format!("otelcol_receiver_refused_{s}"), &[]))
        .sum();
    assert_eq!(refused, 0.0, "nothing was refused to the SDK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_processors_example_runs_between_a_real_sdk_and_a_real_otlp_server() {
    let mut sink = fake_opentelemetry_collector::FakeCollectorServer::start()
        .await
        .unwrap();
    let grpc = free_port();
    let example = kafka_obs_testkit::workspace_root().join("examples/pipeline-all-processors.yaml");
    let yaml = std::fs::read_to_string(example).unwrap();
    let collector = Collector::start_with(
        &yaml,
        CollectorOptions {
            env: vec![
                ("OTLP_GRPC_ENDPOINT".into(), format!("127.0.0.1:{grpc}")),
                ("BACKEND".into(), sink.endpoint()),
                // The fake server takes no gzip; real backends get the Collector's default.
                ("OTLP_COMPRESSION".into(), "none".into()),
            ],
            ..Default::default()
        },
    );
    send(grpc, &collector).await;

    let wait = Duration::from_secs(15);
    let names: Vec<String> = sink
        .exported_metrics(1, wait)
        .await
        .into_iter()
        .flat_map(|m| m.metrics)
        .map(|m| m.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "shop.orders.placed"),
        "{names:?}\n{}",
        collector.stderr()
    );
    assert!(
        !names.iter().any(|n| n.starts_with("jvm.memory.pool.")),
        "{names:?}"
    );

    let logs = sink.exported_logs(3, wait).await;
    assert_eq!(logs.len(), 3, "the debug log was filtered: {logs:?}");
    for log in &logs {
        let user = log.attributes.get("user.id").map_or("", |v| text(v));
        assert!(
            user != "u-42" && user.len() == 64,
            "attributes hashed user.id: {user:?}"
        );
        assert!(
            !log.body.as_deref().unwrap_or("").contains("hunter2"),
            "{log:?}"
        );
    }
    let spans = sink.exported_spans(1, wait).await;
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["POST /orders"]
    );
    assert_eq!(
        collector.metric("kafka_obs_processor_refused_items_total", &[]),
        0.0,
        "memory_limiter let everything in"
    );
}
