//! Round trips through a running `otlp` receiver with real clients: the generated tonic
//! clients for gRPC and a hyper HTTP/1 client for OTLP/HTTP.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;

use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, ComponentTelemetry, Counter, DataKind, Output,
    OverflowPolicy, Parcel, Receiver, Route, RunError, Transport,
};

use super::OtlpReceiverConfig;

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![attr("service.name", "orders")],
        ..Default::default()
    })
}

fn metrics(points: usize) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                metrics: vec![Metric {
                    name: "kafka.consumer.records-lag-max".into(),
                    unit: "{record}".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..points)
                            .map(|i| NumberDataPoint {
                                attributes: vec![attr("client-id", "c1")],
                                time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                                value: Some(number_data_point::Value::AsInt(i as i64 * 10)),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(records: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: (0..records)
                    .map(|i| LogRecord {
                        time_unix_nano: i as u64,
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("line {i}"))),
                        }),
                        trace_id: vec![7; 16],
                        span_id: vec![3; 8],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces(spans: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![i as u8; 8],
                        name: format!("span {i}"),
                        kind: 2,
                        start_time_unix_nano: 1,
                        end_time_unix_nano: 2,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

struct Harness {
    grpc: SocketAddr,
    http: SocketAddr,
    rx: BTreeMap<DataKind, mpsc::Receiver<Parcel>>,
    telemetry: ComponentTelemetry,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

const BOTH_ON_PORT_ZERO: &str =
    "protocols: {grpc: {endpoint: '127.0.0.1:0'}, http: {endpoint: '127.0.0.1:0'}}";

/// Starts a receiver whose pipelines are plain bounded channels, one per kind in `kinds`.
fn start(yaml: &str, kinds: &[DataKind], policy: OverflowPolicy, capacity: usize) -> Harness {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
    let config = OtlpReceiverConfig::parse(&value).expect("valid config");
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "otlp/test", kinds);
    let telemetry = ctx.telemetry.clone();
    let receiver = config.bind(&ctx).expect("binds");
    let grpc = receiver.grpc_addr().expect("grpc bound");
    let http = receiver.http_addr().expect("http bound");
    let mut by_kind = BTreeMap::new();
    let mut rx = BTreeMap::new();
    for &kind in kinds {
        let (tx, r) = mpsc::channel(capacity);
        by_kind.insert(
            kind,
            Output::new(vec![Route {
                target: format!("{kind} pipeline"),
                tx,
                policy,
                passes_receipt: false,
                dropped: Counter::default(),
            }]),
        );
        rx.insert(kind, r);
    }
    let (run_ctx, shutdown) = ctx.run_for_test();
    let task = tokio::spawn(Box::new(receiver).run(kafka_obs_api::Outputs::new(by_kind), run_ctx));
    Harness {
        grpc,
        http,
        rx,
        telemetry,
        shutdown,
        task,
    }
}

impl Harness {
    async fn next(&mut self, kind: DataKind) -> Batch {
        let rx = self.rx.get_mut(&kind).expect("kind has a pipeline");
        tokio::time::timeout(Duration::from_secs(10), async {
            rx.recv().await.map(|p| p.batch)
        })
        .await
        .expect("a batch within 10s")
        .expect("channel open")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("receiver stops within 10s after shutdown")
            .expect("task did not panic");
        assert!(result.is_ok(), "{result:?}");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` and returns status, headers and body.
async fn post(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let mut req =
        http::Request::post(format!("http://{addr}{path}")).header("content-type", content_type);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .expect("valid request");
    let resp = client.request(req).await.expect("HTTP round trip");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn grpc_round_trip_all_signals_with_and_without_gzip() {
    let mut h = start(BOTH_ON_PORT_ZERO, &DataKind::ALL, OverflowPolicy::Block, 8);
    let url = format!("http://{}", h.grpc);

    let mut client = MetricsServiceClient::connect(url.clone())
        .await
        .expect("connects");
    let resp = client
        .export(metrics(3))
        .await
        .expect("export")
        .into_inner();
    assert_eq!(resp.partial_success, None);
    assert_eq!(h.next(DataKind::Metrics).await, Batch::Metrics(metrics(3)));

    let mut client = LogsServiceClient::connect(url.clone())
        .await
        .expect("connects")
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    client.export(logs(4)).await.expect("gzip export");
    assert_eq!(h.next(DataKind::Logs).await, Batch::Logs(logs(4)));

    let mut client = TraceServiceClient::connect(url).await.expect("connects");
    client.export(traces(2)).await.expect("export");
    assert_eq!(h.next(DataKind::Traces).await, Batch::Traces(traces(2)));

    let accepted = |kind| h.telemetry.accepted(kind, Transport::Grpc).get();
    assert_eq!(accepted(DataKind::Metrics), 3);
    assert_eq!(accepted(DataKind::Logs), 4);
    assert_eq!(accepted(DataKind::Traces), 2);
    h.stop().await;
}

#[tokio::test]
async fn grpc_signal_without_pipeline_is_unimplemented_and_oversized_is_refused() {
    let yaml = "protocols: {grpc: {endpoint: '127.0.0.1:0', max_recv_msg_size_mib: 1}, http: {endpoint: '127.0.0.1:0'}}";
    let mut h = start(yaml, &[DataKind::Metrics], OverflowPolicy::Block, 8);
    let url = format!("http://{}", h.grpc);
    let mut logs_client = LogsServiceClient::connect(url.clone())
        .await
        .expect("connects");
    let status = logs_client
        .export(logs(1))
        .await
        .expect_err("no logs pipeline");
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    let mut client = MetricsServiceClient::connect(url).await.expect("connects");
    let big = metrics(30_000); // ~2 MiB encoded, above the 1 MiB limit
    assert!(big.encoded_len() > 1 << 20);
    let status = client.export(big).await.expect_err("too large");
    // tonic says OUT_OF_RANGE where grpc-go says RESOURCE_EXHAUSTED; both are final.
    assert!(
        matches!(
            status.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{status:?}"
    );
    client
        .export(metrics(1))
        .await
        .expect("small one still goes through");
    assert_eq!(h.next(DataKind::Metrics).await.item_count(), 1);
    h.stop().await;
}

#[tokio::test]
async fn http_protobuf_json_and_gzip_round_trips() {
    let mut h = start(BOTH_ON_PORT_ZERO, &DataKind::ALL, OverflowPolicy::Block, 8);
    let client = http_client();

    let (status, headers, body) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        metrics(2).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(
        ExportMetricsServiceResponse::decode(body.as_slice()).expect("a protobuf response"),
        ExportMetricsServiceResponse::default()
    );
    assert_eq!(h.next(DataKind::Metrics).await, Batch::Metrics(metrics(2)));

    let json = serde_json::to_vec(&logs(3)).expect("serializable");
    let (status, headers, body) = post(
        &client,
        h.http,
        "/v1/logs",
        "application/json",
        None,
        json.clone(),
    )
    .await;
    assert_eq!(
        (status, &headers["content-type"]),
        (200, &"application/json".parse().expect("hv"))
    );
    assert_eq!(body, b"{}");
    assert_eq!(h.next(DataKind::Logs).await, Batch::Logs(logs(3)));

    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/logs",
        "application/json",
        Some("gzip"),
        gzip(&json),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h.next(DataKind::Logs).await, Batch::Logs(logs(3)));

    let gz = gzip(&traces(5).encode_to_vec());
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        gz,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h.next(DataKind::Traces).await, Batch::Traces(traces(5)));

    assert_eq!(
        h.telemetry.accepted(DataKind::Logs, Transport::Http).get(),
        6
    );
    assert_eq!(
        h.telemetry.refused(DataKind::Logs, Transport::Http).get(),
        0
    );
    h.stop().await;
}

#[tokio::test]
async fn http_refusals_say_why_and_are_counted() {
    let yaml = "protocols: {grpc: {endpoint: '127.0.0.1:0'}, http: {endpoint: '127.0.0.1:0', max_request_body_size: 64KiB}}";
    let mut h = start(
        yaml,
        &[DataKind::Metrics, DataKind::Logs],
        OverflowPolicy::Block,
        8,
    );
    let client = http_client();
    // Bad requests are the receiver's own failures, not refusals by the pipeline.
    let failed = h.telemetry.failed(DataKind::Metrics, Transport::Http);

    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "text/plain",
        None,
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 415);

    let (status, headers, body) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        vec![0xff; 16],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(!body.is_empty(), "a google.rpc.Status body");

    let (status, _, body) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/json",
        None,
        b"{\"resourceMetrics\": 5}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let status_json: serde_json::Value = serde_json::from_slice(&body).expect("JSON status");
    assert_eq!(status_json["code"], 3);
    assert!(
        status_json["message"]
            .as_str()
            .unwrap_or("")
            .contains("JSON"),
        "{status_json}"
    );

    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        Some("br"),
        vec![],
    )
    .await;
    assert_eq!(status, 400);

    let big = metrics(2_000).encode_to_vec();
    assert!(big.len() > 64 << 10);
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        big.clone(),
    )
    .await;
    assert_eq!(status, 413);
    // Small on the wire, too large once decompressed.
    let gz = gzip(&big);
    assert!(gz.len() < 64 << 10);
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        Some("gzip"),
        gz,
    )
    .await;
    assert_eq!(status, 413);

    assert_eq!(failed.get(), 7, "every refused request is counted");
    let t = &h.telemetry;
    let others = [
        t.refused(DataKind::Metrics, Transport::Http),
        t.accepted(DataKind::Metrics, Transport::Http),
    ]
    .map(|c| c.get());
    assert_eq!(others, [0, 0], "refused by the pipeline, accepted");

    let (status, _, body) = post(
        &client,
        h.http,
        "/v1/traces",
        "application/json",
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404, "no traces pipeline");
    assert!(String::from_utf8_lossy(&body).contains("traces"));
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/other",
        "application/json",
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404);

    // The receiver still works after all that.
    let (status, _, _) = post(
        &client,
        h.http,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        metrics(1).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h.next(DataKind::Metrics).await.item_count(), 1);
    h.stop().await;
}

#[tokio::test]
async fn full_drop_queue_is_a_partial_success_and_closed_pipeline_a_503() {
    let mut h = start(
        BOTH_ON_PORT_ZERO,
        &[DataKind::Metrics, DataKind::Logs],
        OverflowPolicy::Drop,
        1,
    );
    let client = http_client();
    let send = |n| {
        post(
            &client,
            h.http,
            "/v1/metrics",
            "application/json",
            None,
            serde_json::to_vec(&metrics(n)).expect("json"),
        )
    };
    assert_eq!(send(2).await.0, 200, "fills the one slot");
    let (status, _, body) = send(3).await;
    assert_eq!(status, 200);
    let resp: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(resp["partialSuccess"]["rejectedDataPoints"], "3", "{resp}");
    assert!(
        resp["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("full"),
        "{resp}"
    );

    let mut grpc = MetricsServiceClient::connect(format!("http://{}", h.grpc))
        .await
        .expect("connects");
    let resp = grpc
        .export(metrics(4))
        .await
        .expect("partial success is OK")
        .into_inner();
    assert_eq!(
        resp.partial_success.map(|p| p.rejected_data_points),
        Some(4)
    );
    let t = &h.telemetry;
    let counts = [
        t.accepted(DataKind::Metrics, Transport::Http),
        t.refused(DataKind::Metrics, Transport::Http),
        t.refused(DataKind::Metrics, Transport::Grpc),
    ]
    .map(|c| c.get());
    assert_eq!(
        counts,
        [2, 3, 4],
        "accepted, refused over HTTP, refused over gRPC"
    );
    assert_eq!(h.next(DataKind::Metrics).await.item_count(), 2);

    // A pipeline that no longer takes data: retryable refusal.
    drop(h.rx.remove(&DataKind::Logs));
    let (status, headers, _) = post(
        &client,
        h.http,
        "/v1/logs",
        "application/x-protobuf",
        None,
        logs(1).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "5");
    let mut grpc = LogsServiceClient::connect(format!("http://{}", h.grpc))
        .await
        .expect("connects");
    assert_eq!(
        grpc.export(logs(1)).await.expect_err("closed").code(),
        tonic::Code::Unavailable
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let h = start(
        BOTH_ON_PORT_ZERO,
        &[DataKind::Metrics],
        OverflowPolicy::Block,
        8,
    );
    let (grpc, http) = (h.grpc, h.http);
    h.stop().await;
    assert!(
        tokio::net::TcpStream::connect(grpc).await.is_err(),
        "gRPC port closed"
    );
    assert!(
        tokio::net::TcpStream::connect(http).await.is_err(),
        "HTTP port closed"
    );
}

#[test]
fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("addr");
    let yaml = format!("protocols: {{http: {{endpoint: '{addr}'}}}}");
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    let config = OtlpReceiverConfig::parse(&value).expect("valid");
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "otlp", &[DataKind::Logs]);
    let err = config.bind(&ctx).expect_err("port taken");
    assert!(
        matches!(&err, kafka_obs_api::BuildError::Bind { address, .. } if *address == addr.to_string()),
        "{err}"
    );
    assert_eq!(
        kafka_obs_api::ComponentConfig::listen_addresses(&config),
        vec![("protocols::http::endpoint".to_string(), addr.to_string())]
    );
}

#[test]
fn the_factory_answers_to_otlp_and_its_alias() {
    let meta = super::FACTORY.meta();
    assert!(
        meta.answers_to("otlp") && meta.answers_to("otlp_grpc"),
        "{meta:?}"
    );
}
