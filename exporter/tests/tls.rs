//! `otlp` (gRPC) and `otlp_http` over real TLS: the server is an independent Python receiver
//! (grpcio's `ssl_server_credentials`, `http.server` + `ssl`) with a CA and certificates made
//! fresh for each test. Trusting the CA delivers every record; trusting nothing suitable fails
//! with an error that names the certificate problem, counted as failed, and nothing panics;
//! `insecure_skip_verify` encrypts without checking; a server that requires a client
//! certificate gets ours (`cert_file`/`key_file`) and refuses an exporter without one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::*;
use kafka_obs_api::{ExporterConfig, Host};
use kafka_obs_exporter::delivery::Transport;
use kafka_obs_exporter::otlp::OtlpExporterConfig;
use kafka_obs_exporter::otlp::OtlpHttpExporterConfig;
use kafka_obs_testkit::certs::TestPki;
use kafka_obs_testkit::otlp_peer::{PyOtlpReceiver, ReceiverOptions};

fn yaml(s: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(s).unwrap()
}

const NO_RETRY: &str = "retry_on_failure: {enabled: false}\ntimeout: 5s";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Grpc,
    Http,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Grpc => "grpc",
            Proto::Http => "http",
        }
    }

    /// The exporter's config: `tls` as given, the receiver's port on 127.0.0.1.
    fn config(self, py: &PyOtlpReceiver, tls: &str) -> Box<dyn ExporterConfig> {
        match self {
            Proto::Grpc => Box::new(
                OtlpExporterConfig::parse(&yaml(&format!(
                    "endpoint: https://127.0.0.1:{}\ntls: {tls}\n{NO_RETRY}",
                    py.grpc_port
                )))
                .unwrap(),
            ),
            Proto::Http => Box::new(
                OtlpHttpExporterConfig::parse(&yaml(&format!(
                    "endpoint: https://127.0.0.1:{}\ntls: {tls}\n{NO_RETRY}",
                    py.http_port
                )))
                .unwrap(),
            ),
        }
    }

    /// One attempt straight through the transport: the error a log line would carry.
    async fn attempt(self, py: &PyOtlpReceiver, tls: &str) -> Result<(), String> {
        let batch = logs("probe", 9000, 1);
        let r = match self {
            Proto::Grpc => {
                let c = OtlpExporterConfig::parse(&yaml(&format!(
                    "endpoint: https://127.0.0.1:{}\ntls: {tls}",
                    py.grpc_port
                )))
                .unwrap();
                c.transport().unwrap().send(&batch).await
            }
            Proto::Http => {
                let c = OtlpHttpExporterConfig::parse(&yaml(&format!(
                    "endpoint: https://127.0.0.1:{}\ntls: {tls}",
                    py.http_port
                )))
                .unwrap();
                c.transport().unwrap().send(&batch).await
            }
        };
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}

fn start(options: ReceiverOptions) -> PyOtlpReceiver {
    PyOtlpReceiver::start(&options).expect("the Python OTLP receiver (peers venv)")
}

fn tls_options(pki: &TestPki) -> ReceiverOptions {
    ReceiverOptions {
        tls: Some((pki.server_cert.clone(), pki.server_key.clone())),
        ..ReceiverOptions::default()
    }
}

/// Sends 3 batches of each signal through a running exporter; returns its telemetry.
async fn run(proto: Proto, py: &PyOtlpReceiver, tls: &str) -> kafka_obs_api::Telemetry {
    let config = proto.config(py, tls);
    let running = Running::start(config.as_ref(), "otlp/tls", Host::default());
    for i in 0..3 {
        running.tx.send(logs("a", i * 10, 10)).await.unwrap();
        running.tx.send(metrics("b", i * 4, 4)).await.unwrap();
        running.tx.send(traces("c", i * 2, 2)).await.unwrap();
    }
    running.finish(Duration::from_secs(20)).await
}

async fn assert_all_arrived(proto: Proto, py: &PyOtlpReceiver, t: &kafka_obs_api::Telemetry) {
    let transport = proto.name();
    let complete = |py: &PyOtlpReceiver| {
        py.seqs(transport, "logs").len() == 30
            && py.seqs(transport, "metrics").len() == 12
            && py.seqs(transport, "traces").len() == 6
    };
    eventually(Duration::from_secs(10), || complete(py)).await;
    let mut got = py.seqs(transport, "logs");
    got.sort();
    assert_eq!(
        got,
        (0..30).collect::<Vec<_>>(),
        "{transport}: every log record once"
    );
    let mut got = py.seqs(transport, "metrics");
    got.sort();
    assert_eq!(got, (0..12).collect::<Vec<_>>());
    let mut got = py.seqs(transport, "traces");
    got.sort();
    assert_eq!(got, (0..6).collect::<Vec<_>>());
    assert_eq!(all_signals(t, "otelcol_exporter_sent"), 48);
    assert_eq!(all_signals(t, "otelcol_exporter_send_failed"), 0);
}

/// Nothing arrives, every item is counted as failed, and the error names the problem.
async fn assert_refused(proto: Proto, py: &PyOtlpReceiver, tls: &str, problem: &[&str]) -> String {
    let error = proto
        .attempt(py, tls)
        .await
        .expect_err("the handshake must fail");
    assert!(
        problem.iter().any(|p| error.contains(p)),
        "{}: {error:?} should name the certificate problem ({problem:?})",
        proto.name()
    );
    let t = run(proto, py, tls).await;
    assert_eq!(
        all_signals(&t, "otelcol_exporter_send_failed"),
        48,
        "{}",
        t.render_prometheus()
    );
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 0);
    assert!(py.accepted(proto.name()).is_empty());
    error
}

async fn verified_with_the_ca(proto: Proto) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let py = start(tls_options(&pki));
    let t = run(proto, &py, &format!("{{ca_file: {}}}", pki.ca.display())).await;
    assert_all_arrived(proto, &py, &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_trusting_the_ca_delivers_every_record() {
    verified_with_the_ca(Proto::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_trusting_the_ca_delivers_every_record() {
    verified_with_the_ca(Proto::Http).await;
}

async fn unknown_issuer_is_refused_and_named(proto: Proto) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let py = start(tls_options(&pki));
    // The system roots, then a CA that did not sign the server's certificate.
    let e = assert_refused(proto, &py, "{}", &["UnknownIssuer"]).await;
    eprintln!("{}: system roots: {e}", proto.name());
    let e = assert_refused(
        proto,
        &py,
        &format!("{{ca_file: {}}}", pki.other_ca.display()),
        &["UnknownIssuer"],
    )
    .await;
    eprintln!("{}: unrelated CA: {e}", proto.name());
    // The right CA, but the certificate is checked against another name.
    let e = assert_refused(
        proto,
        &py,
        &format!(
            "{{ca_file: {}, server_name_override: collector.example.com}}",
            pki.ca.display()
        ),
        &["not valid for name"],
    )
    .await;
    eprintln!("{}: wrong name: {e}", proto.name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_without_a_trusted_ca_fails_naming_the_certificate_problem() {
    unknown_issuer_is_refused_and_named(Proto::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_without_a_trusted_ca_fails_naming_the_certificate_problem() {
    unknown_issuer_is_refused_and_named(Proto::Http).await;
}

async fn skip_verify_works(proto: Proto) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let py = start(tls_options(&pki));
    let t = run(proto, &py, "{insecure_skip_verify: true}").await;
    assert_all_arrived(proto, &py, &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_insecure_skip_verify_encrypts_without_checking() {
    skip_verify_works(Proto::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_insecure_skip_verify_encrypts_without_checking() {
    skip_verify_works(Proto::Http).await;
}

async fn mutual_tls(proto: Proto) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let py = start(ReceiverOptions {
        client_ca: Some(pki.ca.clone()),
        ..tls_options(&pki)
    });
    let with_cert = format!(
        "{{ca_file: {}, cert_file: {}, key_file: {}}}",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let t = run(proto, &py, &with_cert).await;
    assert_all_arrived(proto, &py, &t).await;
    assert!(
        py.accepted(proto.name())
            .iter()
            .all(|l| l["client_cn"] == "kafka-obs-client"),
        "the server saw our client certificate: {:?}",
        py.accepted(proto.name()).first()
    );

    // Without a client certificate the server ends the handshake; nothing more arrives.
    let before = py.accepted(proto.name()).len();
    let error = proto
        .attempt(&py, &format!("{{ca_file: {}}}", pki.ca.display()))
        .await
        .expect_err("a server requiring a client certificate refuses us");
    eprintln!("{}: no client certificate: {error}", proto.name());
    assert_eq!(py.accepted(proto.name()).len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_mutual_tls_sends_the_client_certificate() {
    mutual_tls(Proto::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mutual_tls_sends_the_client_certificate() {
    mutual_tls(Proto::Http).await;
}
