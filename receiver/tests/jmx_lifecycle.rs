//! The `jmx` receiver against real JVMs over time: password auth, an agent that drops idle
//! sessions, a JVM restart on the same port (counters reset, visible as a new start time), and
//! the receiver carrying on through all of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use kafka_obs_receiver::jmx::PollOutcome;
use kafka_obs_testkit::java::{JvmBuilder, compile, write_jmx_auth_files};
use kafka_obs_testkit::scenario::ScenarioJvm;

use common::{Running, find, points, up};

#[tokio::test]
async fn password_auth_right_wrong_and_missing_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (password, access) = write_jmx_auth_files(dir.path(), &[("monitor", "s3cret")]).unwrap();
    let scenario = ScenarioJvm::builder()
        .paused()
        .jvm(move |b| b.auth(password, access))
        .start()
        .expect("scenario with auth");
    scenario.tick().unwrap();
    let port = scenario.jmx_port();
    let yaml = |creds: &str| {
        format!(
            "{{endpoint: '127.0.0.1:{port}', target_system: kafka-producer, timeout: 10s{creds}}}"
        )
    };

    let mut ok = common::poller(&common::config(&yaml(
        ", username: monitor, password: s3cret",
    )));
    let (batch, outcome) = ok.poll().await;
    assert!(
        matches!(outcome, PollOutcome::Up { points, .. } if points > 10),
        "{outcome:?}"
    );
    assert_eq!(up(&batch), 1.0);
    let ps = points(&batch);
    let avail = find(
        &ps,
        "kafka.producer.buffer-available-bytes",
        &[("client-id", "order-producer")],
    )
    .expect("producer metric");
    assert_eq!(avail.value, 16_777_216.0);

    let mut wrong = common::poller(&common::config(&yaml(
        ", username: monitor, password: nope",
    )));
    let (batch, outcome) = wrong.poll().await;
    assert_eq!(up(&batch), 0.0);
    let PollOutcome::Down { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(error.contains("rejected the credentials"), "{error}");
    assert!(error.contains("Authentication failed"), "{error}");

    let mut missing = common::poller(&common::config(&yaml("")));
    let (_, outcome) = missing.poll().await;
    let PollOutcome::Down { error } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(error.contains("Credentials required"), "{error}");
}

#[tokio::test]
async fn idle_drop_resumes_without_a_gap() {
    // The jmx crate's test target runs a connector of its own that drops sessions idle for
    // 500 ms (the built-in agent ignores the idle-timeout property). Polling every 1 s, every
    // poll finds its session gone and must reconnect inside that same poll.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jmx/tests/java");
    let classes = compile(&src).expect("javac JmxTestTarget");
    let port = kafka_obs_testkit::net::free_port();
    let jvm = JvmBuilder::new(&classes, "JmxTestTarget")
        .args(["--connector".to_owned(), port.to_string(), "500".to_owned()])
        .spawn()
        .expect("start JVM");
    jvm.wait_for_line(|l| l == "READY", Duration::from_secs(30))
        .expect("READY");
    let mut r = Running::start(&format!(
        "{{endpoint: '127.0.0.1:{port}', collection_interval: 1s, timeout: 5s, rules: [{{bean: 'kafka.obs.test:type=Values', mapping: {{IntValue: {{metric: test.int}}}}}}]}}"
    ));
    let mut times = Vec::new();
    for _ in 0..5 {
        let b = r.next(Duration::from_secs(10)).await;
        assert_eq!(up(&b), 1.0, "every poll succeeds across idle drops");
        let ps = points(&b);
        let p = find(&ps, "test.int", &[]).expect("test.int");
        assert_eq!(p.value, 42.0);
        times.push(p.time_ns);
    }
    for w in times.windows(2) {
        let gap = Duration::from_nanos(w[1] - w[0]);
        assert!(
            gap < Duration::from_millis(1500),
            "gap of {gap:?} between polls"
        );
    }
    assert!(
        r.self_metric("kafka_obs_jmx_connects_total") >= 3,
        "sessions were re-established: {}",
        r.self_metric("kafka_obs_jmx_connects_total")
    );
    assert_eq!(r.self_metric("kafka_obs_jmx_poll_failures_total"), 0);
    r.stop().await;
}

#[tokio::test]
async fn jvm_restart_reconnects_and_counters_reset() {
    let port = kafka_obs_testkit::net::free_port();
    let start = || {
        ScenarioJvm::builder()
            .paused()
            .jvm(move |b| b.jmx_port(port))
            .start()
            .expect("scenario on a fixed port")
    };
    let first = start();
    first.ticks(3).unwrap(); // orders-processed-count = 300
    let mut r = Running::start(&format!(
        "endpoint: '127.0.0.1:{port}'\ntarget_system: jvm,kafka-producer,kafka-consumer\ncollection_interval: 300ms\ntimeout: 5s\nrules:{}",
        common::BUSINESS_RULES
    ));
    let before = r
        .until(Duration::from_secs(20), |b| {
            up(b) == 1.0 && find(&points(b), "orders.processed", &[]).is_some()
        })
        .await;
    let ps = points(&before);
    let processed = find(&ps, "orders.processed", &[]).unwrap().clone();
    assert_eq!((processed.value, processed.kind), (300.0, "counter"));

    drop(first); // killed
    r.until(Duration::from_secs(20), |b| up(b) == 0.0).await;
    assert!(
        r.is_running(),
        "the receiver keeps running while the JVM is gone"
    );

    let second = start();
    second.tick().unwrap(); // orders-processed-count = 100
    let after = r
        .until(Duration::from_secs(60), |b| {
            up(b) == 1.0 && find(&points(b), "orders.processed", &[]).is_some()
        })
        .await;
    let ps = points(&after);
    let again = find(&ps, "orders.processed", &[]).unwrap();
    assert_eq!(again.value, 100.0, "raw value after the restart");
    assert!(
        again.start_ns > processed.start_ns,
        "a reset: the start time moved from {} to {}",
        processed.start_ns,
        again.start_ns
    );
    assert!(again.start_ns <= again.time_ns);
    let gc = find(&ps, "jvm.gc.collections.count", &[]).expect("GC counts after the restart");
    assert_eq!(
        gc.start_ns, again.start_ns,
        "every series restarts with the new JVM"
    );
    assert!(r.self_metric("kafka_obs_jmx_poll_failures_total") >= 1);
    r.stop().await;
}

/// Poll start time of a batch (the time of its `kafka_obs.target.up` point).
fn poll_time(batch: &kafka_obs_api::Batch) -> u64 {
    points(batch)
        .into_iter()
        .find(|p| p.metric == "kafka_obs.target.up")
        .map(|p| p.time_ns)
        .expect("target.up")
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test]
async fn a_new_client_appears_within_the_refresh_period_and_a_closed_one_stops_at_once() {
    let scenario = ScenarioJvm::builder()
        .paused()
        .producers(&["order-producer", "late-producer"])
        .start()
        .expect("scenario JVM");
    scenario.tick().unwrap();
    let late = "kafka.producer:client-id=late-producer,*";
    scenario.unregister(late).unwrap();
    let refresh = Duration::from_secs(2);
    let mut r = Running::start(&format!(
        "{{endpoint: '127.0.0.1:{}', target_system: kafka-producer, collection_interval: 200ms, timeout: 5s, mbean_refresh_interval: 2s, connections_per_target: 2}}",
        scenario.jmx_port()
    ));
    let has = |b: &kafka_obs_api::Batch, id: &str| {
        find(
            &points(b),
            "kafka.producer.buffer-total-bytes",
            &[("client-id", id)],
        )
        .is_some()
    };
    let first = r
        .until(Duration::from_secs(20), |b| {
            up(b) == 1.0 && has(b, "order-producer")
        })
        .await;
    assert!(!has(&first, "late-producer"));

    // A client that registers after the names were cached shows within the refresh period (the
    // deadline adds an interval and some slack for this shared machine).
    scenario.register(late).unwrap();
    let b = r
        .until(refresh + Duration::from_secs(2), |b| {
            has(b, "late-producer")
        })
        .await;
    assert_eq!(up(&b), 1.0);
    let ps = points(&b);
    let topic = find(
        &ps,
        "kafka.producer.record-send-rate",
        &[("client-id", "late-producer"), ("topic", "orders")],
    );
    assert!(topic.is_some(), "its per-topic MBeans too");

    // A client that closes stops at the first poll that starts after it is gone.
    scenario
        .unregister("kafka.producer:client-id=order-producer,*")
        .unwrap();
    let gone_at = now_ns();
    let b = r
        .until(Duration::from_secs(5), |b| poll_time(b) > gone_at)
        .await;
    assert!(!has(&b, "order-producer"), "closed client stopped at once");
    assert!(has(&b, "late-producer"));
    assert_eq!(r.self_metric("kafka_obs_jmx_poll_failures_total"), 0);
    r.stop().await;
}
