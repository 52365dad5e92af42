//! Conformance with the Collector's transformprocessor README and OTTL function docs: their
//! documented statements on our own inputs, and the outputs the docs describe.

use kafka_obs_api::Batch;
use kafka_obs_ottl::Value;

use super::config::TransformConfig;
use super::processor::Transform;
use crate::ottl_otlp::test_data::*;
use crate::ottl_otlp::to_value;

fn transform(yaml: &str) -> Transform {
    let value = serde_yaml_ng::from_str(yaml).expect("test yaml");
    let config = TransformConfig::parse(&value).unwrap_or_else(|e| panic!("{e}"));
    Transform::new(config, "transform".into())
}

#[test]
fn the_readme_trace_example() {
    let t = transform(
        r#"
error_mode: ignore
trace_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
      - replace_pattern(attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
      - limit(attributes, 100, [])
      - truncate_all(attributes, 4096)
  - context: span
    statements:
      - set(status.code, 1) where attributes["http.path"] == "/health"
      - set(name, attributes["http.route"])
      - limit(attributes, 2, ["http.route"])
      - truncate_all(attributes, 8)
"#,
    );
    let mut batch = Batch::Traces(traces(
        &[
            ("service.name", "shop"),
            ("host.arch", "amd64"),
            (
                "process.command_line",
                "java -jar app.jar password=secret -Xmx1g",
            ),
        ],
        vec![
            span_named(
                "GET",
                &[
                    ("http.path", "/health"),
                    ("http.route", "/health"),
                    ("a", "0123456789"),
                    ("b", "x"),
                ],
                &[],
            ),
            span_named("POST", &[("http.route", "/orders")], &[]),
        ],
    ));
    t.edit(&mut batch).expect("transformed");
    let Batch::Traces(req) = &batch else {
        unreachable!()
    };
    let res = &req.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    assert_eq!(attr(res, "host.arch"), None, "keep_keys dropped it");
    assert_eq!(
        attr(res, "process.command_line"),
        Some("java -jar app.jar password=***-Xmx1g")
    );
    let out = spans(req);
    assert_eq!(out[0].name, "/health");
    assert_eq!(out[0].status.as_ref().map(|s| s.code), Some(1));
    assert_eq!(
        out[0].attributes.len(),
        2,
        "limit keeps 2, the priority key first"
    );
    assert_eq!(attr(&out[0].attributes, "http.route"), Some("/health"));
    assert_eq!(attr(&out[0].attributes, "http.path"), Some("/health"));
    assert_eq!(out[1].name, "/orders");
    assert_eq!(out[1].status, None, "the where clause did not hold");
}

#[test]
fn the_readme_log_example() {
    let t = transform(
        r#"
log_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name"])
  - context: log
    statements:
      - set(severity_text, "FAIL") where body == "request failed"
      - replace_all_patterns(attributes, "value", "/account/\\d{4}", "/account/{accountId}")
      - set(body, attributes["http.route"])
"#,
    );
    let mut batch = Batch::Logs(logs(
        &[("service.name", "shop"), ("pid", "42")],
        vec![
            log(
                "request failed",
                17,
                &[
                    ("http.route", "/account/1234/orders"),
                    ("user", "/account/9876"),
                ],
            ),
            log("fine", 9, &[]),
        ],
    ));
    t.edit(&mut batch).expect("transformed");
    let Batch::Logs(req) = &batch else {
        unreachable!()
    };
    let res = &req.resource_logs[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    assert_eq!(res.len(), 1);
    let out = log_records(req);
    assert_eq!(out[0].severity_text, "FAIL");
    assert_eq!(
        attr(&out[0].attributes, "user"),
        Some("/account/{accountId}")
    );
    assert_eq!(
        to_value(out[0].body.as_ref()),
        Value::Str("/account/{accountId}/orders".into())
    );
    assert_eq!(out[1].severity_text, "");
    assert_eq!(
        to_value(out[1].body.as_ref()),
        Value::Str("fine".into()),
        "setting nil changes nothing"
    );
}

#[test]
fn renaming_a_business_metric_in_the_flat_form() {
    let t = transform(
        r#"
metric_statements:
  - 'set(metric.name, "shop.orders.placed") where metric.name == "orders_total"'
  - 'set(datapoint.attributes["kafka.cluster"], resource.attributes["cluster"])'
"#,
    );
    let mut batch = Batch::Metrics(metrics(
        &[("cluster", "eu-1")],
        vec![
            gauge("orders_total", &[(&[], 3.0)]),
            gauge("jvm.threads.count", &[(&[], 9.0)]),
        ],
    ));
    t.edit(&mut batch).expect("transformed");
    let Batch::Metrics(req) = &batch else {
        unreachable!()
    };
    assert_eq!(
        metric_names(req),
        ["shop.orders.placed", "jvm.threads.count"]
    );
    let m = &req.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) = &m.data else {
        panic!("gauge")
    };
    assert_eq!(
        attr(&g.data_points[0].attributes, "kafka.cluster"),
        Some("eu-1")
    );
}

#[test]
fn function_doc_examples() {
    let t = transform(
        r#"
log_statements:
  - context: log
    statements:
      - delete_key(attributes, "http.request.header.authorization")
      - delete_matching_keys(attributes, "(?i).*password.*")
      - replace_pattern(attributes["message"], "^kube_([0-9A-Za-z]+_)", "k8s.$1.")
      - 'set(attributes["joined"], Concat([attributes["http.method"], attributes["http.path"]], ": "))'
      - set(attributes["parts"], Split("A|B|C", "|"))
      - set(attributes["snake"], ConvertCase("upperCaseName", "snake"))
      - set(attributes["sub"], Substring("abcdef", 1, 3))
      - set(attributes["len"], Len("abc"))
      - set(attributes["int"], Int("42"))
      - set(attributes["double"], Double("1.5"))
      - 'merge_maps(attributes, {"region": "eu", "http.method": "PUT"}, "insert")'
"#,
    );
    let mut batch = Batch::Logs(logs(
        &[],
        vec![log(
            "x",
            9,
            &[
                ("http.request.header.authorization", "Bearer t"),
                ("db.PASSWORD", "p"),
                ("message", "kube_pod_name"),
                ("http.method", "GET"),
                ("http.path", "/orders"),
            ],
        )],
    ));
    t.edit(&mut batch).expect("transformed");
    let Batch::Logs(req) = &batch else {
        unreachable!()
    };
    let a = &log_records(req)[0].attributes;
    let get = |k: &str| {
        to_value(
            a.iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref()),
        )
    };
    assert_eq!(get("http.request.header.authorization"), Value::Nil);
    assert_eq!(get("db.PASSWORD"), Value::Nil);
    assert_eq!(get("message"), Value::Str("k8s.pod_.name".into()));
    assert_eq!(get("joined"), Value::Str("GET: /orders".into()));
    assert_eq!(
        get("parts"),
        Value::List(vec![
            Value::Str("A".into()),
            Value::Str("B".into()),
            Value::Str("C".into())
        ])
    );
    assert_eq!(get("snake"), Value::Str("upper_case_name".into()));
    assert_eq!(get("sub"), Value::Str("bcd".into()));
    assert_eq!(get("len"), Value::Int(3));
    assert_eq!(get("int"), Value::Int(42));
    assert_eq!(get("double"), Value::Double(1.5));
    assert_eq!(get("region"), Value::Str("eu".into()));
    assert_eq!(
        get("http.method"),
        Value::Str("GET".into()),
        "insert keeps what is there"
    );
}

#[test]
fn error_mode_propagate_refuses_and_ignore_goes_on() {
    // Setting severity_number to a string fails on every record.
    let yaml = |mode: &str| {
        format!(
            "error_mode: {mode}\nlog_statements:\n  - context: log\n    statements:\n      - set(severity_number, \"high\")\n      - set(severity_text, \"seen\")\n"
        )
    };
    let batch = || Batch::Logs(logs(&[], vec![log("a", 9, &[])]));
    let mut b = batch();
    let e = transform(&yaml("propagate"))
        .edit(&mut b)
        .expect_err("propagate");
    assert!(e.contains("severity_number must be an int"), "{e}");
    let mut b = batch();
    transform(&yaml("ignore")).edit(&mut b).expect("ignore");
    let Batch::Logs(req) = &b else { unreachable!() };
    assert_eq!(
        log_records(req)[0].severity_text,
        "seen",
        "the next statement still ran"
    );
}

#[test]
fn config_errors_name_the_statement_and_column() {
    let parse = |yaml: &str| TransformConfig::parse(&serde_yaml_ng::from_str(yaml).expect("yaml"));
    let e = parse("log_statements:\n  - context: log\n    statements:\n      - set(body, \"a\")\n      - set(body, Frob(body))\n")
        .expect_err("unknown converter");
    assert_eq!(e.path, "log_statements::0::statements::1");
    assert!(
        e.message.contains("column 11") && e.message.contains("`Frob`"),
        "{e}"
    );
    let e = parse("metric_statements:\n  - context: log\n    statements: []\n")
        .expect_err("wrong context");
    assert_eq!(e.path, "metric_statements::0::context");
    let e = parse("trace_statements:\n  - 'set(attributes[\"a\"], 1)'\n").expect_err("no prefix");
    assert!(e.message.contains("cannot infer the context"), "{e}");
    let e = parse(
        "log_statements:\n  - context: log\n    statements:\n      - convert_sum_to_gauge()\n",
    )
    .expect_err("unsupported");
    assert!(
        e.message.contains("unknown editor `convert_sum_to_gauge`"),
        "{e}"
    );
}
