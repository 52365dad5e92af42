//! Losing the session: the server drops an idle connection
//! (`jmx.remote.x.server.connection.timeout`), or the JVM restarts on the same port. In both
//! cases the next call reconnects by itself and succeeds.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use kafka_obs_jmx::{JmxError, ObjectName, Value};

fn values() -> ObjectName {
    ObjectName::parse("kafka.obs.test:type=Values").unwrap()
}

#[tokio::test]
async fn idle_drop_reconnects_transparently() {
    // The built-in agent ignores -Djmx.remote.x.server.connection.timeout, so the target starts
    // a connector server of its own with a 500 ms idle timeout.
    let port = kafka_obs_testkit::net::free_port();
    let _jvm = common::start(common::target().args([
        "--connector".to_owned(),
        port.to_string(),
        "500".to_owned(),
    ]));
    let endpoint = kafka_obs_jmx::Endpoint::new("127.0.0.1", port);
    let mut client = kafka_obs_jmx::JmxClient::connect(endpoint.clone(), common::options())
        .await
        .unwrap();
    assert_eq!(
        client.get_attribute(&values(), "IntValue").await.unwrap(),
        Value::Int(42)
    );
    // Well past the server's idle timeout (6x, so a loaded machine's slow timer thread still
    // gets there): it has closed our RMIConnection.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        client.get_attribute(&values(), "IntValue").await.unwrap(),
        Value::Int(42)
    );
    assert_eq!(client.stats().reconnects, 1, "{:?}", client.stats());

    // Without reconnection the caller sees why.
    let mut strict =
        kafka_obs_jmx::JmxClient::connect(endpoint, common::options().with_reconnect(false))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let err = strict
        .get_attribute(&values(), "IntValue")
        .await
        .unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(
        matches!(
            err,
            JmxError::NoSuchObject { .. } | JmxError::ConnectionClosed { .. } | JmxError::Io { .. }
        ),
        "{err:?}"
    );
    eprintln!("idle drop seen as: {err}");
    // The next call (a fresh session) works again.
    assert_eq!(
        strict.get_attribute(&values(), "IntValue").await.unwrap(),
        Value::Int(42)
    );
    // Closing a session the server already dropped is not an error.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    strict.close().await.unwrap();
}

#[tokio::test]
async fn jvm_restart_on_the_same_port_reconnects() {
    let mut jvm = common::start(common::target());
    let port = jvm.jmx_port();
    let first = common::instance_id(&jvm);
    let mut client = common::connect(&jvm).await;
    let reads_before = client.get_attribute(&values(), "Reads").await.unwrap();
    assert_eq!(reads_before, Value::Long(1));
    client.get_attribute(&values(), "Reads").await.unwrap();

    jvm.kill().unwrap();
    drop(jvm);
    // While the JVM is down: a clear connection error, and no panic.
    let err = client.get_attribute(&values(), "Reads").await.unwrap_err();
    assert!(matches!(err, JmxError::ConnectionRefused { .. }), "{err:?}");

    let jvm = common::start(common::target().jmx_port(port));
    assert_ne!(common::instance_id(&jvm), first);
    // The counter restarted with the JVM: we read the new one, through a new session.
    assert_eq!(
        client.get_attribute(&values(), "Reads").await.unwrap(),
        Value::Long(1)
    );
    assert!(client.stats().reconnects >= 1, "{:?}", client.stats());
    client.close().await.unwrap();
}
