//! Conformance with the Collector's filterprocessor README: its documented configs, our own
//! inputs, and the records the README says survive.

use kafka_obs_api::Batch;

use super::config::FilterConfig;
use super::processor::Filter;
use crate::ottl_otlp::test_data::*;

fn filter(yaml: &str) -> Filter {
    let value = serde_yaml_ng::from_str(yaml).expect("test yaml");
    let config = FilterConfig::parse(&value).unwrap_or_else(|e| panic!("{e}"));
    Filter::new(config, "filter".into())
}

#[test]
fn ottl_span_and_spanevent_conditions_drop_what_matches() {
    let f = filter(
        r#"
error_mode: ignore
traces:
  span:
    - 'attributes["container.name"] == "app_container_1"'
    - 'resource.attributes["host.name"] == "localhost"'
    - 'name == "app_3"'
  spanevent:
    - 'attributes["grpc"] == true'
    - 'IsMatch(name, ".*grpc.*")'
"#,
    );
    let mut batch = Batch::Traces(traces(
        &[("host.name", "web-1")],
        vec![
            span_named("app_1", &[("container.name", "app_container_1")], &[]),
            span_named(
                "app_2",
                &[("container.name", "app_container_2")],
                &["grpc.call", "db.query"],
            ),
            span_named("app_3", &[], &[]),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    let Batch::Traces(req) = &batch else {
        unreachable!()
    };
    let left = spans(req);
    assert_eq!(
        left.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["app_2"]
    );
    let events: Vec<&str> = left[0].events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["db.query"]);

    // The whole resource matches: nothing is left, and the empty containers are gone.
    let mut batch = Batch::Traces(traces(
        &[("host.name", "localhost")],
        vec![span_named("x", &[], &[])],
    ));
    f.edit(&mut batch).expect("filtered");
    assert!(batch.is_empty());
    let Batch::Traces(req) = &batch else {
        unreachable!()
    };
    assert!(
        req.resource_spans.is_empty(),
        "emptied resources are removed"
    );
}

#[test]
fn ottl_metric_and_datapoint_conditions() {
    let f = filter(
        r#"
metrics:
  metric:
    - 'name == "my.metric" and resource.attributes["my_label"] == "abc123"'
    - 'type == METRIC_DATA_TYPE_HISTOGRAM'
  datapoint:
    - 'metric.type == METRIC_DATA_TYPE_SUMMARY'
    - 'attributes["pool"] == "Metaspace"'
"#,
    );
    let mut batch = Batch::Metrics(metrics(
        &[("my_label", "abc123")],
        vec![
            gauge("my.metric", &[(&[], 1.0)]),
            gauge(
                "jvm.memory.used",
                &[
                    (&[("pool", "Metaspace")], 1.0),
                    (&[("pool", "G1 Eden")], 2.0),
                ],
            ),
            summary("rpc.duration"),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    assert_eq!(
        batch.item_count(),
        1,
        "one point of jvm.memory.used survives"
    );
    let Batch::Metrics(req) = &batch else {
        unreachable!()
    };
    assert_eq!(
        metric_names(req),
        ["jvm.memory.used"],
        "a metric whose points all went is removed"
    );
}

#[test]
fn the_readme_drops_jvm_memory_pool_metrics() {
    let f = filter(
        r#"
metrics:
  metric:
    - 'IsMatch(name, "^jvm\\.memory\\.pool\\.")'
"#,
    );
    let mut batch = Batch::Metrics(metrics(
        &[],
        vec![
            gauge("jvm.memory.pool.used", &[(&[], 1.0)]),
            gauge("jvm.memory.heap.used", &[(&[], 1.0)]),
            gauge("jvm.memory.pool.max", &[(&[], 1.0)]),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    let Batch::Metrics(req) = &batch else {
        unreachable!()
    };
    assert_eq!(metric_names(req), ["jvm.memory.heap.used"]);
}

#[test]
fn ottl_log_conditions() {
    let f = filter(
        r#"
logs:
  log_record:
    - 'IsMatch(body, ".*password.*")'
    - 'severity_number < SEVERITY_NUMBER_WARN'
"#,
    );
    let mut batch = Batch::Logs(logs(
        &[],
        vec![
            log("password=hunter2", 17, &[]),
            log("debugging", 5, &[]),
            log("disk almost full", 13, &[]),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    let Batch::Logs(req) = &batch else {
        unreachable!()
    };
    let bodies: Vec<_> = log_records(req)
        .iter()
        .map(|l| crate::ottl_otlp::to_value(l.body.as_ref()))
        .collect();
    assert_eq!(
        bodies,
        [kafka_obs_ottl::Value::Str("disk almost full".into())]
    );
}

#[test]
fn legacy_metric_include_regexp_and_exclude_strict() {
    let f = filter(
        r#"
metrics:
  include:
    match_type: regexp
    metric_names: ['prefix/.*', 'prefix_.*']
    resource_attributes:
      - key: container.name
        value: app_container_1
  exclude:
    match_type: strict
    metric_names: [prefix_hello]
"#,
    );
    let mut batch = Batch::Metrics(metrics(
        &[("container.name", "app_container_1")],
        vec![
            gauge("prefix/a", &[(&[], 1.0)]),
            gauge("prefix_hello", &[(&[], 1.0)]),
            gauge("other", &[(&[], 1.0)]),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    let Batch::Metrics(req) = &batch else {
        unreachable!()
    };
    assert_eq!(metric_names(req), ["prefix/a"]);

    let mut other_container = Batch::Metrics(metrics(
        &[("container.name", "app_container_2")],
        vec![gauge("prefix/a", &[(&[], 1.0)])],
    ));
    f.edit(&mut other_container).expect("filtered");
    assert!(
        other_container.is_empty(),
        "include needs every property to match"
    );
}

#[test]
fn legacy_log_include_by_severity_and_exclude_by_attributes() {
    let f = filter(
        r#"
logs:
  include:
    severity_number:
      min: INFO
      match_undefined: true
  exclude:
    match_type: regexp
    record_attributes:
      - key: http.route
        value: '^/health'
"#,
    );
    let mut batch = Batch::Logs(logs(
        &[],
        vec![
            log("debug", 5, &[]),
            log("no severity", 0, &[]),
            log("info", 9, &[]),
            log("health", 9, &[("http.route", "/healthz")]),
        ],
    ));
    f.edit(&mut batch).expect("filtered");
    let Batch::Logs(req) = &batch else {
        unreachable!()
    };
    let bodies: Vec<String> = log_records(req)
        .iter()
        .map(|l| crate::ottl_otlp::to_value(l.body.as_ref()).to_string())
        .collect();
    assert_eq!(bodies, ["no severity", "info"]);
}

#[test]
fn error_mode_decides_what_a_failing_condition_does() {
    // `body > 1` compares a string with an int: false, not an error, in OTTL. A condition
    // that needs a bool but gets a string is an error.
    let yaml = |mode: &str| {
        format!("error_mode: {mode}\nlogs:\n  log_record:\n    - 'attributes[\"flag\"]'\n")
    };
    let batch = || Batch::Logs(logs(&[], vec![log("a", 9, &[("flag", "yes")])]));
    let mut b = batch();
    let e = filter(&yaml("propagate"))
        .edit(&mut b)
        .expect_err("propagate");
    assert!(e.contains("needs a bool"), "{e}");
    let mut b = batch();
    filter(&yaml("ignore")).edit(&mut b).expect("ignore");
    assert_eq!(b.item_count(), 1, "a failing condition does not drop");
    let mut b = batch();
    filter(&yaml("silent")).edit(&mut b).expect("silent");
    assert_eq!(b.item_count(), 1);
}

#[test]
fn config_errors_name_the_condition_and_column() {
    let parse = |yaml: &str| FilterConfig::parse(&serde_yaml_ng::from_str(yaml).expect("yaml"));
    let e = parse("metrics:\n  metric:\n    - 'name == \"a\"'\n    - 'Nope(name)'\n")
        .expect_err("unknown converter");
    assert_eq!(e.path, "metrics::metric::1");
    assert!(
        e.message.contains("column 1") && e.message.contains("unknown converter `Nope`"),
        "{e}"
    );
    let e = parse("logs:\n  log_record:\n    - 'metric.name == \"x\"'\n").expect_err("unreachable");
    assert!(e.message.contains("cannot reach"), "{e}");
    let e = parse("logs:\n  include:\n    match_type: regexp\n    bodies: ['(']\n")
        .expect_err("bad regex");
    assert_eq!(e.path, "logs::include::bodies::0");
    let e = parse("error_mode: loud\n").expect_err("bad mode");
    assert_eq!(e.path, "error_mode");
    let e = parse("metrics:\n  metrics: []\n").expect_err("typo");
    assert!(e.message.contains("unknown field"), "{e}");
}

mod receipts {
    use kafka_obs_api::{
        BuildContext, ComponentKind, DataKind, Output, Parcel, ProcessorConfig, Receipt,
    };
    use tokio::sync::mpsc;

    use super::*;

    /// A filtered-out parcel's receipt is accepted (not refused) and counted as filtered; a
    /// parcel with survivors goes on with its receipt; a propagated error refuses.
    #[tokio::test]
    async fn dropped_data_settles_as_accepted_and_counts_as_filtered() {
        tokio::time::timeout(std::time::Duration::from_secs(10), settle())
            .await
            .expect("the processor answers every parcel");
    }

    async fn settle() {
        // The second condition fails (needs a bool) only on records carrying `flag`.
        let yaml = "logs:\n  log_record:\n    - 'severity_number < 9'\n    - 'attributes[\"flag\"] != nil and attributes[\"flag\"]'\n";
        let config =
            FilterConfig::parse(&serde_yaml_ng::from_str(yaml).expect("yaml")).expect("valid");
        let ctx = BuildContext::for_test(ComponentKind::Processor, "filter", &[DataKind::Logs]);
        let telemetry = ctx.telemetry.clone();
        let processor = config.build(&ctx).expect("builds");
        let (output, mut out) = Output::for_test("next", 4, true);
        let (run_ctx, _shutdown) = ctx.run_for_test();
        let (tx, input) = mpsc::channel(4);
        let task = tokio::spawn(processor.run(input, output, run_ctx));

        let (all_dropped, all_dropped_acc) = Receipt::new();
        let b = Batch::Logs(logs(&[], vec![log("a", 5, &[]), log("b", 1, &[])]));
        tx.send(Parcel::new(b, all_dropped)).await.expect("open");
        assert_eq!(
            all_dropped_acc.wait().await,
            Ok(()),
            "filtered data is accepted"
        );

        let (kept, kept_acc) = Receipt::new();
        let b = Batch::Logs(logs(&[], vec![log("a", 5, &[]), log("c", 9, &[])]));
        tx.send(Parcel::new(b, kept)).await.expect("open");
        let parcel = out.recv().await.expect("survivors go on");
        assert_eq!(parcel.batch.item_count(), 1);
        parcel.accept();
        assert_eq!(kept_acc.wait().await, Ok(()));

        let (failing, failing_acc) = Receipt::new();
        let b = Batch::Logs(logs(&[], vec![log("d", 9, &[("flag", "not a bool")])]));
        tx.send(Parcel::new(b, failing)).await.expect("open");
        let refused = failing_acc
            .wait()
            .await
            .expect_err("error_mode propagate refuses");
        assert!(refused.0.contains("needs a bool"), "{refused}");

        drop(tx);
        task.await.expect("joins").expect("ends cleanly");
        let logs = kafka_obs_api::DataKind::Logs;
        assert_eq!(telemetry.incoming_items(logs).get(), 5);
        assert_eq!(telemetry.processor_filtered_items(logs).get(), 3);
        assert_eq!(telemetry.outgoing_items(logs).get(), 1);
        assert_eq!(telemetry.processor_refused_items(logs).get(), 1);
    }
}
