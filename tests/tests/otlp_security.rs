//! TLS and bearer-token authentication end to end on the real binary: the OpenTelemetry Python
//! SDK sends over gRPC and HTTP into our `otlp` receiver (TLS, mutual TLS, `bearertokenauth`),
//! and our `otlp_http` exporter forwards to an independent Python receiver that requires its own
//! token. Accepted requests arrive with the exporter's header; refused ones (wrong or missing
//! token, plaintext to a TLS port, no client certificate) fail at the SDK, are counted in the
//! receiver's self-metrics, and the collector keeps serving. Validation refuses an
//! `auth.authenticator` that is undefined, not enabled, or not an authenticator.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use kafka_obs_testkit::certs::TestPki;
use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::otlp_peer::{PyOtlpReceiver, ReceiverOptions};
use kafka_obs_testkit::peers;
use kafka_obs_tests::Collector;
use serde_json::Value;

struct Ports {
    grpc_tls: u16,
    http_tls: u16,
    grpc_mtls: u16,
    http_mtls: u16,
}

fn config(pki: &TestPki, p: &Ports, out_port: u16) -> String {
    let (cert, key, ca) = (
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca.display(),
    );
    format!(
        "extensions:
  bearertokenauth/in:
    tokens: [t-current, t-previous]
  bearertokenauth/out:
    token: out-token
receivers:
  otlp/tls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gt}
        tls: {{cert_file: {cert}, key_file: {key}}}
        auth: {{authenticator: bearertokenauth/in}}
      http:
        endpoint: 127.0.0.1:{ht}
        tls: {{cert_file: {cert}, key_file: {key}}}
        auth: {{authenticator: bearertokenauth/in}}
  otlp/mtls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gm}
        tls: {{cert_file: {cert}, key_file: {key}, client_ca_file: {ca}}}
      http:
        endpoint: 127.0.0.1:{hm}
        tls: {{cert_file: {cert}, key_file: {key}, client_ca_file: {ca}}}
exporters:
  otlp_http/out:
    endpoint: http://127.0.0.1:{out_port}
    auth: {{authenticator: bearertokenauth/out}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s}}
service:
  extensions: [bearertokenauth/in, bearertokenauth/out]
  pipelines:
    traces:
      receivers: [otlp/tls, otlp/mtls]
      exporters: [otlp_http/out]
    logs:
      receivers: [otlp/tls, otlp/mtls]
      exporters: [otlp_http/out]
",
        gt = p.grpc_tls,
        ht = p.http_tls,
        gm = p.grpc_mtls,
        hm = p.http_mtls,
    )
}

/// One run of the Python SDK sender (a span and five log records, each its own export);
/// returns its verdict per signal.
fn sdk_send(protocol: &str, endpoint: &str, first: i64, args: &[&str]) -> Value {
    sdk_run(protocol, endpoint, first, 5, args)
}

/// A run expected to be refused: one span, one log record, a short deadline (the SDK retries
/// a connection that fails until then).
fn sdk_refused(protocol: &str, endpoint: &str, first: i64, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--timeout", "1"]);
    let v = sdk_run(protocol, endpoint, first, 1, &args);
    assert!(
        v["traces"] == "FAILURE" && v["logs"] == "FAILURE",
        "{protocol} {args:?}: {v}"
    );
    v
}

fn sdk_run(protocol: &str, endpoint: &str, first: i64, count: usize, args: &[&str]) -> Value {
    let script = kafka_obs_testkit::workspace_root().join("tests/python/send_otlp_secure.py");
    let out = Command::new(peers::python().expect("python peers"))
        .arg(script)
        .args(["--protocol", protocol, "--endpoint", endpoint, "--run"])
        .arg(format!("run-{first}"))
        .args(["--first", &first.to_string(), "--count", &count.to_string()])
        .args(args)
        .output()
        .expect("run the Python SDK sender");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sender failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("sender output {stdout:?}: {e}"));
    v["stderr"] = Value::String(String::from_utf8_lossy(&out.stderr).into_owned());
    v
}

fn ok(v: &Value) -> bool {
    v["traces"] == "SUCCESS" && v["logs"] == "SUCCESS"
}

/// The seqs (span and log records) of one run that reached the downstream receiver.
fn arrived(py: &PyOtlpReceiver, first: i64) -> (Vec<i64>, Vec<i64>) {
    let keep = |v: Vec<i64>| -> Vec<i64> {
        let mut v: Vec<i64> = v
            .into_iter()
            .filter(|s| (first..first + 5).contains(s))
            .collect();
        v.sort();
        v
    };
    (
        keep(py.seqs("http", "traces")),
        keep(py.seqs("http", "logs")),
    )
}

fn wait_arrived(py: &PyOtlpReceiver, first: i64) -> bool {
    py.wait_for(Duration::from_secs(15), |_| {
        arrived(py, first) == (vec![first], (first..first + 5).collect())
    })
}

#[test]
fn python_sdk_over_tls_and_bearer_token_into_our_receiver_and_out_with_our_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let downstream = PyOtlpReceiver::start(&ReceiverOptions {
        token: Some("out-token".into()),
        ..ReceiverOptions::default()
    })
    .expect("the Python OTLP receiver");
    let ports = Ports {
        grpc_tls: free_port(),
        http_tls: free_port(),
        grpc_mtls: free_port(),
        http_mtls: free_port(),
    };
    let collector = Collector::start(&config(&pki, &ports, downstream.http_port));
    let ca = pki.ca.display().to_string();
    let grpc_tls = format!("https://127.0.0.1:{}", ports.grpc_tls);
    let http_tls = format!("https://127.0.0.1:{}", ports.http_tls);

    // Accepted: TLS verified with our CA, a token from the accepted list, gRPC and HTTP.
    let mut first = 100;
    for (protocol, endpoint, token) in [
        ("grpc", &grpc_tls, "t-current"),
        ("http", &http_tls, "t-previous"),
    ] {
        let v = sdk_send(protocol, endpoint, first, &["--ca", &ca, "--token", token]);
        assert!(
            ok(&v),
            "{protocol} with {token}: {v}\n{}",
            collector.stderr()
        );
        assert!(
            wait_arrived(&downstream, first),
            "{protocol}: run {first} downstream: {:?}\n{}",
            arrived(&downstream, first),
            collector.stderr()
        );
        first += 100;
    }
    // Every request our exporter sent carried its own token, and the downstream refused none.
    let accepted = downstream.accepted("http");
    assert!(!accepted.is_empty());
    assert!(accepted.iter().all(|l| l["auth"] == "Bearer out-token"));
    assert!(downstream.refused("http").is_empty());

    // Refused by the authenticator: a wrong token, no token. Counted per transport.
    let unauthenticated = |transport: &str| {
        collector.metric(
            "kafka_obs_receiver_unauthenticated_requests_total",
            &[
                "receiver=\"otlp/tls\"",
                &format!("transport=\"{transport}\""),
            ],
        )
    };
    assert_eq!(unauthenticated("grpc") + unauthenticated("http"), 0.0);
    for (protocol, endpoint, args) in [
        ("grpc", &grpc_tls, vec!["--ca", &ca, "--token", "t-wrong"]),
        ("grpc", &grpc_tls, vec!["--ca", &ca]),
        ("http", &http_tls, vec!["--ca", &ca, "--token", "t-wrong"]),
        ("http", &http_tls, vec!["--ca", &ca]),
    ] {
        let v = sdk_refused(protocol, endpoint, first, &args);
        let said = v["stderr"].as_str().unwrap_or_default();
        let status = if protocol == "grpc" {
            "UNAUTHENTICATED"
        } else {
            "401"
        };
        assert!(said.contains(status), "{protocol}: the SDK saw {said}");
        assert_eq!(arrived(&downstream, first), (vec![], vec![]));
        first += 100;
    }
    // One span export and one log export per run, each refused once (not retried).
    assert_eq!(unauthenticated("grpc"), 4.0, "{}", collector.metrics());
    assert_eq!(unauthenticated("http"), 4.0, "{}", collector.metrics());
    assert!(
        collector
            .stderr()
            .contains("refused an unauthenticated request")
    );
    assert!(
        !collector.stderr().contains("t-wrong"),
        "tokens are never logged"
    );

    // Plaintext to a TLS port: the handshake fails, is counted, nothing is decoded.
    let handshakes = |receiver: &str, transport: &str| {
        collector.metric(
            "kafka_obs_receiver_tls_handshake_failed_total",
            &[
                &format!("receiver=\"{receiver}\""),
                &format!("transport=\"{transport}\""),
            ],
        )
    };
    sdk_refused(
        "grpc",
        &format!("http://127.0.0.1:{}", ports.grpc_tls),
        first,
        &["--plaintext", "--token", "t-current"],
    );
    assert!(
        handshakes("otlp/tls", "grpc") > 0.0,
        "{}",
        collector.metrics()
    );
    first += 100;

    // Mutual TLS: with our client certificate accepted, without it refused at the handshake.
    let (cert, key) = (
        pki.client_cert.display().to_string(),
        pki.client_key.display().to_string(),
    );
    for (protocol, port) in [("grpc", ports.grpc_mtls), ("http", ports.http_mtls)] {
        let endpoint = format!("https://127.0.0.1:{port}");
        let v = sdk_send(
            protocol,
            &endpoint,
            first,
            &["--ca", &ca, "--client-cert", &cert, "--client-key", &key],
        );
        assert!(ok(&v), "{protocol} mTLS: {v}\n{}", collector.stderr());
        assert!(
            wait_arrived(&downstream, first),
            "{protocol} mTLS downstream"
        );
        first += 100;
        let before = handshakes("otlp/mtls", protocol);
        sdk_refused(protocol, &endpoint, first, &["--ca", &ca]);
        assert_eq!(arrived(&downstream, first), (vec![], vec![]));
        assert!(
            handshakes("otlp/mtls", protocol) > before,
            "{protocol}: {}",
            collector.metrics()
        );
        first += 100;
    }

    // After all that, the receiver still serves.
    let v = sdk_send(
        "http",
        &http_tls,
        first,
        &["--ca", &ca, "--token", "t-current"],
    );
    assert!(ok(&v), "{v}");
    assert!(wait_arrived(&downstream, first));
    assert!(downstream.refused("http").is_empty());
}

#[test]
fn validation_names_the_auth_key_of_a_missing_disabled_or_wrong_extension() {
    let body = |ext: &str, enabled: &str| {
        format!(
            "extensions:
  bearertokenauth:
    token: x
  file_storage:
    directory: /tmp/kafka-obs-validate
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
        auth: {{authenticator: {ext}}}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:1
    auth: {{authenticator: {ext}}}
service:
  extensions: [{enabled}]
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp_http]
"
        )
    };
    for (ext, enabled, message) in [
        (
            "bearertokenauth/nope",
            "bearertokenauth",
            "extension `bearertokenauth/nope` is not defined",
        ),
        (
            "bearertokenauth",
            "file_storage",
            "extension `bearertokenauth` is defined but not enabled; add it to service::extensions",
        ),
        (
            "file_storage",
            "file_storage",
            "extension `file_storage` is not an authenticator (extensions that are: bearertokenauth)",
        ),
    ] {
        let out = kafka_obs_tests::validate(&body(ext, enabled));
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{ext}: {text}");
        for path in [
            "receivers::otlp::protocols::http::auth::authenticator",
            "exporters::otlp_http::auth::authenticator",
        ] {
            assert!(text.contains(path), "{ext}: {path} missing in\n{text}");
        }
        assert!(
            text.contains(message),
            "{ext}: {message:?} missing in\n{text}"
        );
    }
    let out = kafka_obs_tests::validate(&body("bearertokenauth", "bearertokenauth"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
