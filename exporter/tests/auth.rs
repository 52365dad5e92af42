//! `auth: {authenticator: bearertokenauth}` on the `otlp` and `otlp_http` exporters against an
//! independent Python receiver that requires `Authorization: Bearer <token>`: the extension is
//! built from its YAML as the runtime would, its capability put in the host, and every request
//! carries the header. A wrong token is refused by the server (UNAUTHENTICATED / 401), which is
//! permanent: counted as failed, not retried. A missing authenticator fails the build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kafka_obs_api::{ExporterConfig, Host, Telemetry};
use kafka_obs_exporter::otlp::OtlpExporterConfig;
use kafka_obs_exporter::otlp::OtlpHttpExporterConfig;
use kafka_obs_testkit::otlp_peer::{PyOtlpReceiver, ReceiverOptions};

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).unwrap()
}

fn receiver() -> PyOtlpReceiver {
    PyOtlpReceiver::start(&ReceiverOptions {
        token: Some("s3cret".into()),
        ..ReceiverOptions::default()
    })
    .expect("the Python OTLP receiver (peers venv)")
}

const AUTH: &str = "auth: {authenticator: bearertokenauth}\nretry_on_failure: {initial_interval: 20ms, max_elapsed_time: 5s}";

fn grpc(py: &PyOtlpReceiver) -> Arc<dyn ExporterConfig> {
    Arc::new(
        OtlpExporterConfig::parse(&yaml(&format!(
            "endpoint: http://127.0.0.1:{}\n{AUTH}",
            py.grpc_port
        )))
        .unwrap(),
    )
}

fn http(py: &PyOtlpReceiver) -> Arc<dyn ExporterConfig> {
    Arc::new(
        OtlpHttpExporterConfig::parse(&yaml(&format!(
            "endpoint: http://127.0.0.1:{}\n{AUTH}",
            py.http_port
        )))
        .unwrap(),
    )
}

async fn send_all(config: &dyn ExporterConfig, host: Host) -> Telemetry {
    let running = Running::start(config, "otlp/auth", host);
    for i in 0..4 {
        running.tx.send(logs("a", i * 5, 5)).await.unwrap();
        running.tx.send(metrics("b", i * 2, 2)).await.unwrap();
        running.tx.send(traces("c", i, 1)).await.unwrap();
    }
    running.finish(Duration::from_secs(20)).await
}

async fn the_token_goes_on_every_request(transport: &str) {
    let py = receiver();
    let config = if transport == "grpc" {
        grpc(&py)
    } else {
        http(&py)
    };
    let t = send_all(config.as_ref(), host_with_token("token: s3cret")).await;
    // The peer records a request after answering it: wait for its log to hold every request
    // (the exporter counted 32 items sent), not only every log item.
    eventually(Duration::from_secs(10), || {
        py.seqs(transport, "logs").len() == 20 && py.accepted(transport).len() >= 12
    })
    .await;
    let accepted = py.accepted(transport);
    assert_eq!(accepted.len(), 12, "{accepted:?}");
    assert!(accepted.iter().all(|l| l["auth"] == "Bearer s3cret"));
    assert!(py.refused(transport).is_empty());
    let mut got = py.seqs(transport, "logs");
    got.sort();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 32);

    // The server refuses a wrong token for good: counted, not retried.
    let t = send_all(config.as_ref(), host_with_token("token: wrong")).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 0);
    assert_eq!(all_signals(&t, "otelcol_exporter_send_failed"), 32);
    assert_eq!(counter(&t, "kafka_obs_exporter_retries_total", &[]), 0);
    eventually(Duration::from_secs(5), || py.refused(transport).len() == 12).await;
    let refused = py.refused(transport);
    assert_eq!(refused.len(), 12, "one attempt per batch: {refused:?}");
    assert!(refused.iter().all(|l| l["auth"] == "Bearer wrong"));
    assert_eq!(py.accepted(transport).len(), 12, "nothing more arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_sends_the_bearer_token_on_every_request() {
    the_token_goes_on_every_request("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sends_the_bearer_token_on_every_request() {
    the_token_goes_on_every_request("http").await;
}

#[test]
fn an_authenticator_the_host_lacks_fails_the_build_naming_the_key() {
    let config = OtlpHttpExporterConfig::parse(&yaml(
        "endpoint: http://127.0.0.1:1\nauth: {authenticator: bearertokenauth/absent}",
    ))
    .unwrap();
    let (ctx, _) = build_ctx("otlp_http", Host::default());
    let e = config.build(&ctx).err().expect("build fails").to_string();
    assert!(
        e.contains(
            "auth::authenticator: bearertokenauth/absent is not a running authenticator extension"
        ),
        "{e}"
    );
}
