//! Against a real JVM with a plain JMX agent: every value shape decodes to what the Java side
//! set, patterns select the right MBeans, the JVM's own MBeans read correctly, and server-side
//! exceptions come back typed.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::time::Instant;

use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, JmxError, ObjectName, Value};

fn on(s: &str) -> ObjectName {
    ObjectName::parse(s).unwrap()
}

const ALL_VALUES: &[&str] = &[
    "LongValue",
    "IntValue",
    "DoubleValue",
    "FloatValue",
    "BoolValue",
    "StringValue",
    "NanValue",
    "NullValue",
    "ShortValue",
    "LongArray",
    "DoubleArray",
    "StringArray",
    "IntegerArray",
    "EnumValue",
    "CompositeValue",
    "TabularValue",
];

#[tokio::test]
async fn reads_every_value_shape_and_queries_patterns() {
    let jvm = common::start(common::target());
    // The service URL form works as well as host:port.
    let endpoint = Endpoint::parse(&jvm.jmx_url()).unwrap();
    let mut client = JmxClient::connect(endpoint, common::options())
        .await
        .unwrap();

    // --- all values in one batched call ---------------------------------------------------
    let values: BTreeMap<String, Value> = client
        .get_attributes(&on("kafka.obs.test:type=Values"), ALL_VALUES)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(values.len(), ALL_VALUES.len(), "{values:#?}");
    assert_eq!(values["LongValue"], Value::Long(1234567890123));
    assert_eq!(values["IntValue"], Value::Int(42));
    assert_eq!(values["DoubleValue"], Value::Double(3.25));
    assert_eq!(values["FloatValue"], Value::Float(1.5));
    assert_eq!(values["BoolValue"], Value::Boolean(true));
    assert_eq!(
        values["StringValue"],
        Value::String("héllo wörld ☃ 𝄞".into())
    );
    assert!(matches!(values["NanValue"], Value::Double(d) if d.is_nan()));
    assert_eq!(values["NullValue"], Value::Null);
    assert_eq!(values["ShortValue"], Value::Int(-7));
    assert_eq!(
        values["LongArray"],
        Value::Array(vec![Value::Long(1), Value::Long(2), Value::Long(3)].into())
    );
    assert_eq!(
        values["DoubleArray"],
        Value::Array(vec![Value::Double(0.5), Value::Double(-1.0)].into())
    );
    assert_eq!(
        values["StringArray"],
        Value::Array(vec![Value::String("a".into()), Value::String("b".into())].into())
    );
    assert_eq!(
        values["IntegerArray"],
        Value::Array(vec![Value::Int(7), Value::Int(8)].into())
    );
    assert_eq!(values["EnumValue"], Value::String("SECONDS".into()));

    let composite = &values["CompositeValue"];
    assert_eq!(composite.get("count"), Some(&Value::Long(5)));
    assert_eq!(composite.get("ratio"), Some(&Value::Double(0.5)));
    assert_eq!(composite.get("name"), Some(&Value::String("c1".into())));
    assert_eq!(composite.get("nested.depth"), Some(&Value::Int(9)));
    assert_eq!(
        composite.flatten_numeric("CompositeValue"),
        vec![
            ("CompositeValue.count".to_owned(), 5.0),
            ("CompositeValue.nested.depth".to_owned(), 9.0),
            ("CompositeValue.ratio".to_owned(), 0.5),
        ]
    );

    let Value::Tabular(rows) = &values["TabularValue"] else {
        panic!("not tabular: {:?}", values["TabularValue"]);
    };
    let mut rows: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, vec![("a".to_owned(), 1), ("b".to_owned(), 2)]);

    // --- single attribute and fresh reads ---------------------------------------------------
    let name = on("kafka.obs.test:type=Values");
    let first = client.get_attribute(&name, "Reads").await.unwrap();
    let second = client.get_attribute(&name, "Reads").await.unwrap();
    assert_eq!(second.as_i64(), first.as_i64().map(|n| n + 1));

    // --- missing attributes are left out of a batch, like Java ------------------------------
    let partial = client
        .get_attributes(&name, &["IntValue", "NoSuchAttribute", "Boom"])
        .await
        .unwrap();
    assert_eq!(partial, vec![("IntValue".to_owned(), Value::Int(42))]);

    // --- typed remote errors -----------------------------------------------------------------
    let err = client
        .get_attributes(&on("kafka.obs.test:type=Missing"), &["X"])
        .await
        .unwrap_err();
    assert!(matches!(err, JmxError::InstanceNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("kafka.obs.test:type=Missing"),
        "{err}"
    );
    let err = client
        .get_attribute(&name, "NoSuchAttribute")
        .await
        .unwrap_err();
    assert!(matches!(err, JmxError::AttributeNotFound { .. }), "{err}");
    let err = client.get_attribute(&name, "Boom").await.unwrap_err();
    let remote = err.remote().expect("remote exception");
    assert_eq!(remote.class, "javax.management.MBeanException", "{err}");
    assert!(remote.is("java.lang.IllegalStateException"), "{err}");
    assert!(err.to_string().contains("boom on purpose"), "{err}");
    // The session survives remote exceptions.
    assert_eq!(client.stats().reconnects, 0);

    // --- queryNames with patterns -----------------------------------------------------------
    let mut names: Vec<String> = client
        .query_names(&on("kafka.producer:type=producer-metrics,client-id=*"))
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kafka.producer:type=producer-metrics,client-id=p1",
            "kafka.producer:type=producer-metrics,client-id=p2"
        ]
    );
    let all_producer = client.query_names(&on("kafka.producer:*")).await.unwrap();
    assert_eq!(all_producer.len(), 3);
    let topic = all_producer
        .iter()
        .find(|n| n.get("topic").is_some())
        .unwrap();
    assert_eq!(
        topic
            .properties()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["type", "client-id", "topic"],
        "key order as registered"
    );
    let bulk = client
        .query_names(&on("kafka.obs.bulk:type=Bulk,*"))
        .await
        .unwrap();
    assert_eq!(bulk.len(), 300, "a reply spanning several reads");
    let everything = client.query_names(&ObjectName::wildcard()).await.unwrap();
    assert!(everything.len() > 300);
    // Local matching agrees with the server's.
    let pattern = on("kafka.producer:client-id=p1,*");
    let local: Vec<_> = everything.iter().filter(|n| pattern.matches(n)).collect();
    assert_eq!(local.len(), 2);
    assert!(
        client
            .query_names(&on("no.such.domain:*"))
            .await
            .unwrap()
            .is_empty()
    );

    // --- the JVM's own MBeans --------------------------------------------------------------
    let memory = client
        .get_attribute(&on("java.lang:type=Memory"), "HeapMemoryUsage")
        .await
        .unwrap();
    let used = memory.get("used").and_then(Value::as_i64).unwrap();
    let committed = memory.get("committed").and_then(Value::as_i64).unwrap();
    assert!(used > 0 && used <= committed, "{memory:?}");
    let series: Vec<String> = memory
        .flatten_numeric("HeapMemoryUsage")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        series,
        [
            "HeapMemoryUsage.committed",
            "HeapMemoryUsage.init",
            "HeapMemoryUsage.max",
            "HeapMemoryUsage.used"
        ]
    );
    let gcs = client
        .query_names(&on("java.lang:type=GarbageCollector,*"))
        .await
        .unwrap();
    assert!(!gcs.is_empty());
    for gc in &gcs {
        let attrs = client
            .get_attributes(gc, &["CollectionCount", "CollectionTime", "Name"])
            .await
            .unwrap();
        assert_eq!(attrs.len(), 3, "{gc}: {attrs:?}");
        assert!(matches!(attrs[0].1, Value::Long(n) if n >= 0));
        assert_eq!(attrs[2].1.as_str(), gc.get_unquoted("name").as_deref());
    }

    // --- poll latency of 10 attributes (printed, not asserted) ------------------------------
    let ten = &ALL_VALUES[..10];
    for _ in 0..20 {
        client.get_attributes(&name, ten).await.unwrap();
    }
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        client.get_attributes(&name, ten).await.unwrap();
    }
    let per_poll = started.elapsed() / rounds;
    eprintln!(
        "poll latency, 10 attributes in one getAttributes: {per_poll:?} (mean of {rounds}, debug build)"
    );

    client.close().await.unwrap();
}

#[tokio::test]
async fn connects_through_a_port_forward_when_pinned() {
    // A TCP proxy stands in for `kubectl port-forward`: the stubs name the JVM's own port, so
    // only `pin_to_endpoint` keeps every connection on the forwarded one.
    let jvm = common::start(common::target());
    let proxy = common::RecordingProxy::start(jvm.jmx_port()).await;
    let options = common::options().with_pinned_endpoint(true);
    let mut client = JmxClient::connect(Endpoint::new("127.0.0.1", proxy.port), options)
        .await
        .unwrap();
    let v = client
        .get_attribute(&on("kafka.obs.test:type=Values"), "IntValue")
        .await
        .unwrap();
    assert_eq!(v, Value::Int(42));
    client.close().await.unwrap();
    let recorded = proxy.recorded.lock().unwrap();
    assert_eq!(
        recorded.len(),
        1,
        "registry and connection share the forwarded connection"
    );
}

#[tokio::test]
async fn default_options_are_usable_and_connect_to_the_configured_host() {
    // The stub advertises 127.0.0.1; connecting as "localhost" must keep using "localhost".
    let jvm = common::start(common::target());
    let mut client = JmxClient::connect(
        Endpoint::new("localhost", jvm.jmx_port()),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    let names = client.query_names(&on("kafka.obs.test:*")).await.unwrap();
    assert_eq!(names.len(), 1);
    client.close().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_advertised_host_does_not_matter_by_default() {
    // The classic container failure: the JVM advertises a name the client cannot reach. The
    // client keeps to the configured host (and never even resolves the advertised one).
    let jvm = common::start(
        common::target().sys_prop("java.rmi.server.hostname", "jvm-inside-a-container.invalid"),
    );
    let mut client = common::connect(&jvm).await;
    assert_eq!(
        client
            .get_attribute(&on("kafka.obs.test:type=Values"), "IntValue")
            .await
            .unwrap(),
        Value::Int(42)
    );
    client.close().await.unwrap();
}
