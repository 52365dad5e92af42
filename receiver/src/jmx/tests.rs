//! Receiver-level tests that need no JVM: the factory, the run loop's health reporting for
//! targets that are not JMX agents (nothing listening, a TCP server that is not JMX), backoff,
//! and a prompt stop on shutdown. Tests against real JVMs are in `receiver/tests/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{Batch, BuildContext, ComponentKind, DataKind, Parcel, Telemetry};

use super::*;

struct Harness {
    rx: mpsc::Receiver<Parcel>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

fn start(yaml: &str) -> Harness {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    let config = JmxReceiverConfig::parse(&value).expect("valid config");
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "jmx/test", &[DataKind::Metrics]);
    let receiver = config.build(&ctx).expect("builds");
    let (outputs, mut rx) = Outputs::for_test(&[DataKind::Metrics], 16, false);
    let rx = rx.remove(&DataKind::Metrics).expect("metrics");
    let (run_ctx, shutdown) = ctx.run_for_test();
    let task = tokio::spawn(receiver.run(outputs, run_ctx));
    Harness {
        rx,
        telemetry: ctx.telemetry.registry().clone(),
        shutdown,
        task,
    }
}

impl Harness {
    async fn next(&mut self) -> Batch {
        tokio::time::timeout(Duration::from_secs(20), async {
            self.rx.recv().await.map(|p| p.batch)
        })
        .await
        .expect("a batch within 20s")
        .expect("channel open")
    }

    fn metric(&self, name: &str) -> i64 {
        self.telemetry
            .snapshot()
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value.as_i64())
            .sum()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("receiver stops promptly after shutdown")
            .expect("no panic");
        assert!(result.is_ok(), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "stopped in {:?}",
            started.elapsed()
        );
    }
}

/// `kafka_obs.target.up` of a batch, with its endpoint attribute.
fn target_up(batch: &Batch) -> (String, i64) {
    let Batch::Metrics(req) = batch else {
        panic!("metrics")
    };
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if m.name == TARGET_UP
                    && let Some(Data::Gauge(g)) = &m.data
                {
                    let p = &g.data_points[0];
                    let endpoint = p
                        .attributes
                        .iter()
                        .find(|kv| kv.key == "endpoint")
                        .and_then(|kv| kv.value.as_ref())
                        .and_then(|v| match &v.value {
                            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(i)) => i,
                        _ => -1,
                    };
                    return (endpoint, value);
                }
            }
        }
    }
    panic!("no {TARGET_UP} in {batch:?}")
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[test]
fn the_factory_produces_metrics_only() {
    let jmx = FACTORY;
    assert_eq!(jmx.meta().type_name, "jmx");
    assert_eq!(jmx.meta().kinds, &[DataKind::Metrics]);
    let ok: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        "{endpoint: '127.0.0.1:9999', target_system: 'jvm,kafka-producer'}",
    )
    .expect("yaml");
    assert!(jmx.validate(&ok).is_ok());
    let e = jmx
        .validate(&serde_yaml_ng::Value::Null)
        .expect_err("no endpoint");
    assert_eq!(e.path, "endpoint");
}

#[test]
fn build_fails_on_unreadable_tls_files() {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        "{endpoint: 'h:1', target_system: jvm, tls: {ca_file: /nonexistent/ca.pem}}",
    )
    .expect("yaml");
    let config = JmxReceiverConfig::parse(&value).expect("valid config");
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "jmx/tls", &[DataKind::Metrics]);
    let e = config.build(&ctx).err().expect("unreadable CA file");
    let text = e.to_string();
    assert!(text.contains("receivers::jmx/tls::tls"), "{text}");
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}

#[tokio::test]
async fn unreachable_target_reports_down_every_interval_and_backs_off() {
    let port = closed_port();
    let mut h = start(&format!(
        "{{endpoint: '127.0.0.1:{port}', target_system: jvm, collection_interval: 100ms, timeout: 1s}}"
    ));
    for _ in 0..6 {
        let b = h.next().await;
        assert_eq!(target_up(&b), (format!("127.0.0.1:{port}"), 0));
        assert_eq!(b.item_count(), 1, "only target.up while down");
    }
    let polls = h.metric("kafka_obs_jmx_polls_total");
    let failures = h.metric("kafka_obs_jmx_poll_failures_total");
    assert_eq!(polls, failures);
    // Six intervals, attempts after 1, 2, 4 intervals: 3 attempts (4 if the 7th tick started).
    assert!(
        (3..=4).contains(&failures),
        "backoff: {failures} attempts in 6 intervals"
    );
    assert_eq!(h.metric("kafka_obs_jmx_target_up"), 0);
    // The target.up points count as accepted, under the Collector's name and labels (the
    // count follows each send, so the last one received may not be in yet).
    let accepted = h.metric("otelcol_receiver_accepted_metric_points");
    assert!(accepted >= 5, "accepted {accepted}");
    let text = h.telemetry.render_prometheus();
    assert!(
        text.contains(
            "otelcol_receiver_accepted_metric_points{receiver=\"jmx/test\",transport=\"jmx\"}"
        ),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn non_jmx_server_is_a_clear_failure_not_a_crash() {
    // A TCP server that answers with an HTTP response, whatever it is sent.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let mut h = start(&format!(
        "{{endpoints: ['127.0.0.1:{port}', '127.0.0.1:{}'], target_system: jvm, collection_interval: 200ms, timeout: 1s}}",
        closed_port()
    ));
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        let (endpoint, up) = target_up(&h.next().await);
        assert_eq!(up, 0);
        seen.insert(endpoint, up);
    }
    assert!(seen.contains_key(&format!("127.0.0.1:{port}")));
    h.stop().await;
}

#[tokio::test]
async fn a_silent_server_is_bounded_by_the_timeout() {
    // Accepts and never answers: the poll must give up after `timeout`.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let mut h = start(&format!(
        "{{endpoint: '127.0.0.1:{port}', target_system: jvm, collection_interval: 100ms, timeout: 300ms}}"
    ));
    let started = std::time::Instant::now();
    let (_, up) = target_up(&h.next().await);
    assert_eq!(up, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_during_initial_delay_is_prompt() {
    let h = start(&format!(
        "{{endpoint: '127.0.0.1:{}', target_system: jvm, initial_delay: 1h}}",
        closed_port()
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.stop().await;
}
