//! `kafka` with `auth.tls` and `auth.sasl` against real peers. The `tansu` broker here has no
//! working TLS listener (its `--cert` and `--key` flags cannot be given together), so TLS is
//! terminated in front of it by a proxy, as stunnel or a load balancer would: the broker
//! advertises the proxy's address, so every connection librdkafka makes goes through TLS.
//! Trusting the CA delivers every record (read back over TLS); a CA that did not sign the
//! certificate fails naming the problem, counted; `insecure_skip_verify` connects anyway; a
//! proxy that requires a client certificate gets ours. SASL/SCRAM: tansu with
//! `--authentication` runs the SCRAM exchange with our credentials and refuses the unknown user
//! (it cannot hold users before authentication is on, so no run succeeds), which the failure
//! reason names.

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use common::*;
use kafka_obs_api::Host;
use kafka_obs_exporter::delivery::Transport;
use kafka_obs_exporter::kafka::KafkaExporterConfig;
use kafka_obs_kafka_client::SIGNALS_TOPIC;
use kafka_obs_testkit::certs::TestPki;
use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::peers::python;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

/// The TLS-terminating proxy (`testkit/python/tls_proxy.py`) on `port`, in front of `target`.
/// Returns the proxy and the lines it printed (one per connection).
fn proxy(
    pki: &TestPki,
    port: u16,
    target: u16,
    client_ca: bool,
) -> (ChildGuard, Arc<Mutex<Vec<String>>>) {
    let script = kafka_obs_testkit::workspace_root().join("testkit/python/tls_proxy.py");
    let mut cmd = Command::new(python().expect("peers venv"));
    cmd.arg(script)
        .args(["--port", &port.to_string(), "--target", &target.to_string()])
        .arg("--cert")
        .arg(&pki.server_cert)
        .arg("--key")
        .arg(&pki.server_key);
    if client_ca {
        cmd.arg("--client-ca").arg(&pki.ca);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn(&mut cmd).expect("start the TLS proxy");
    let mut stdout = BufReader::new(guard.child_mut().stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"port\""), "proxy did not start: {first:?}");
    // Keep reading: the proxy writes a line per connection and must never block on it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (guard, seen)
}

/// A broker behind a TLS proxy; the topic exists.
struct Setup {
    pki: TestPki,
    proxy_port: u16,
    _dir: tempfile::TempDir,
    /// What the proxy printed: `{"accepted": true, "client_cn": ...}` or `{"refused": ...}`.
    connections: Arc<Mutex<Vec<String>>>,
    _broker: Tansu,
    _proxy: ChildGuard,
}

fn setup(client_ca: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path()).unwrap();
    let (broker_port, proxy_port) = (free_port(), free_port());
    // tansu on a plaintext port, advertising the proxy to clients.
    let broker = Tansu::start_with(broker_port, proxy_port, &[]).expect("start tansu");
    broker
        .create_topic(SIGNALS_TOPIC, 1)
        .expect("create the topic");
    let (proxy, connections) = proxy(&pki, proxy_port, broker_port, client_ca);
    Setup {
        pki,
        proxy_port,
        connections,
        _dir: dir,
        _broker: broker,
        _proxy: proxy,
    }
}

fn exporter(brokers: &str, auth: &str) -> KafkaExporterConfig {
    KafkaExporterConfig::parse(
        &serde_yaml_ng::from_str(&format!(
            "brokers: [{brokers}]\ntimeout: 5s\nretry_on_failure: {{enabled: false}}\nauth: {auth}"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// Reads the signals topic over TLS from the start until `want` log records were seen.
fn read_seqs(s: &Setup, want: usize) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{}", s.proxy_port))
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", s.pki.ca.display().to_string())
        .set(
            "ssl.certificate.location",
            s.pki.client_cert.display().to_string(),
        )
        .set("ssl.key.location", s.pki.client_key.display().to_string())
        .set("group.id", format!("reader-{}", free_port()))
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(SIGNALS_TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while out.len() < want && Instant::now() < end {
        let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let req = ExportLogsServiceRequest::decode(msg.payload().unwrap_or_default())
            .expect("otlp_proto record");
        out.extend(
            req.resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .filter_map(|r| seq_of(&r.attributes)),
        );
    }
    out
}

/// Exports 5 batches of 20 log records; returns the exporter's telemetry.
async fn export(config: &KafkaExporterConfig) -> kafka_obs_api::Telemetry {
    let running = Running::start(config, "kafka/tls", Host::default());
    for i in 0..5 {
        running.tx.send(logs("src-a", i * 20, 20)).await.unwrap();
    }
    running.finish(Duration::from_secs(40)).await
}

/// One attempt straight through the transport: the reason a log line would carry.
async fn attempt(config: &KafkaExporterConfig) -> Result<(), String> {
    let transport = config.transport();
    let r = transport.send(&logs("probe", 9000, 1)).await;
    tokio::task::spawn_blocking(move || drop(transport))
        .await
        .unwrap();
    r.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_ca_delivers_every_record_and_a_wrong_ca_is_named() {
    let s = setup(false);
    let brokers = format!("127.0.0.1:{}", s.proxy_port);
    let good = exporter(
        &brokers,
        &format!("{{tls: {{ca_file: {}}}}}", s.pki.ca.display()),
    );
    let t = export(&good).await;
    assert_eq!(
        all_signals(&t, "otelcol_exporter_sent"),
        100,
        "{}",
        t.render_prometheus()
    );
    let seqs: BTreeSet<i64> = read_seqs(&s, 100).into_iter().collect();
    assert_eq!(seqs, (0..100).collect());

    // A CA that did not sign the proxy's certificate: nothing is delivered, and the reason
    // carries librdkafka's certificate error rather than only "Message timed out".
    let wrong = exporter(
        &brokers,
        &format!("{{tls: {{ca_file: {}}}}}", s.pki.other_ca.display()),
    );
    let error = attempt(&wrong).await.expect_err("the handshake fails");
    eprintln!("wrong CA: {error}");
    assert!(error.contains("certificate verify failed"), "{error}");
    let t = export(&wrong).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 0);
    assert_eq!(all_signals(&t, "otelcol_exporter_send_failed"), 100);

    // insecure_skip_verify: encrypted, not verified, delivered.
    let skip = exporter(
        &brokers,
        &format!(
            "{{tls: {{ca_file: {}, insecure_skip_verify: true}}}}",
            s.pki.other_ca.display()
        ),
    );
    let t = export(&skip).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_sends_our_client_certificate() {
    let s = setup(true);
    let brokers = format!("127.0.0.1:{}", s.proxy_port);
    let with_cert = exporter(
        &brokers,
        &format!(
            "{{tls: {{ca_file: {}, cert_file: {}, key_file: {}}}}}",
            s.pki.ca.display(),
            s.pki.client_cert.display(),
            s.pki.client_key.display()
        ),
    );
    let t = export(&with_cert).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 100);
    let seqs: BTreeSet<i64> = read_seqs(&s, 100).into_iter().collect();
    assert_eq!(seqs.len(), 100);
    assert!(
        s.connections
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"client_cn\": \"kafka-obs-client\"")),
        "the proxy saw our client certificate: {:?}",
        s.connections.lock().unwrap()
    );

    let without = exporter(
        &brokers,
        &format!("{{tls: {{ca_file: {}}}}}", s.pki.ca.display()),
    );
    let error = attempt(&without)
        .await
        .expect_err("the proxy requires a client certificate");
    eprintln!("no client certificate: {error}");
    // With TLS 1.3 the server checks the client certificate after the client has finished
    // its handshake, so all the client can know is that the server closed the connection:
    // with a TLS alert ("SSL connection closed by peer") or, when the proxy's close races the
    // alert (seen under load), as a reset.
    assert!(
        error.contains("SSL connection closed by peer")
            || error.contains("connection reset by peer"),
        "{error}"
    );
    let connections = s.connections.lock().unwrap().clone();
    assert!(
        connections.iter().all(|l| l.contains("kafka-obs-client")),
        "only connections with our certificate got through: {connections:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_credentials_reach_the_broker_and_its_refusal_is_named() {
    let port = free_port();
    let _broker = Tansu::start_with(port, port, &["--authentication"]).expect("start tansu");
    let config = exporter(
        &format!("127.0.0.1:{port}"),
        "{sasl: {mechanism: SCRAM-SHA-512, username: obs, password: s3cret}}",
    );
    let error = attempt(&config).await.expect_err("tansu knows no user");
    eprintln!("SASL: {error}");
    assert!(error.contains("SASL"), "{error}");
    assert!(
        error.contains("unknown-user") || error.contains("Authentication"),
        "{error}"
    );
    assert!(
        !error.contains("s3cret"),
        "the password is never in a reason"
    );
}
