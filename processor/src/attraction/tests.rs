//! The action engine against the Collector's documented examples (attributes and resource
//! processor READMEs): the same input gives the same output. Hash values were computed
//! independently (Python's hashlib on the same bytes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn s(v: &str) -> AnyValue {
    string_value(v.to_string())
}

fn i(v: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    }
}

fn d(v: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(v)),
    }
}

fn b(v: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(v)),
    }
}

fn attrs(pairs: &[(&str, AnyValue)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: (*k).to_string(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect()
}

fn actions(yaml: &str) -> Result<Actions, ComponentConfigError> {
    let raw: Vec<RawAction> = serde_yaml_ng::from_str(yaml).expect("test yaml");
    Actions::compile(&raw)
}

fn sorted(mut v: Vec<KeyValue>) -> Vec<KeyValue> {
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

fn check(yaml: &str, input: &[(&str, AnyValue)], want: &[(&str, AnyValue)]) {
    let mut got = attrs(input);
    actions(yaml).unwrap().apply(&mut got);
    assert_eq!(sorted(got), sorted(attrs(want)), "actions:\n{yaml}");
}

/// The attributes processor README's main example, action by action.
const README_EXAMPLE: &str = r"
- key: db.table
  action: delete
- key: redacted_span
  value: true
  action: upsert
- key: copy_key
  from_attribute: key_original
  action: update
- key: account_id
  value: 2245
  action: insert
- key: account_password
  action: delete
- key: account_email
  action: hash
- key: http.status_code
  action: convert
  converted_type: int
";

#[test]
fn readme_example_on_a_span_with_every_key() {
    check(
        README_EXAMPLE,
        &[
            ("db.table", s("orders")),
            ("redacted_span", b(false)),
            ("copy_key", s("old")),
            ("key_original", s("original")),
            ("account_id", i(1)),
            ("account_password", s("hunter2")),
            ("account_email", s("user@example.com")),
            ("http.status_code", s("200")),
        ],
        &[
            ("redacted_span", b(true)),
            ("copy_key", s("original")),
            ("key_original", s("original")),
            // insert leaves an existing key alone
            ("account_id", i(1)),
            (
                "account_email",
                s("b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"),
            ),
            ("http.status_code", i(200)),
        ],
    );
}

#[test]
fn readme_example_on_a_span_with_no_keys() {
    // update needs the key, hash and convert need the value; upsert and insert add.
    check(
        README_EXAMPLE,
        &[("other", s("x"))],
        &[
            ("other", s("x")),
            ("redacted_span", b(true)),
            ("account_id", i(2245)),
        ],
    );
}

#[test]
fn hash_uses_the_collectors_bytes_for_each_type() {
    let yaml = "- {action: hash, pattern: '.*'}";
    check(
        yaml,
        &[("int", i(2245)), ("double", d(1.5)), ("bool", b(true))],
        &[
            (
                "int",
                s("91df0e58e24451873e480a434ac913ec45d00603e21470511a89c1e850e58c87"),
            ),
            (
                "double",
                s("e163f8cb0f7067a7fc78ca859a77f849aea3214f38fb75b884e4a16be725c905"),
            ),
            (
                "bool",
                s("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a"),
            ),
        ],
    );
}

#[test]
fn extract_readme_example_splits_a_url() {
    let yaml = r#"
- key: http.url
  pattern: ^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)(\?|\&)(?P<http_query_params>.*)
  action: extract
"#;
    check(
        yaml,
        &[(
            "http.url",
            s("http://example.com/path?queryParam1=value1,queryParam2=value2"),
        )],
        &[
            (
                "http.url",
                s("http://example.com/path?queryParam1=value1,queryParam2=value2"),
            ),
            ("http_protocol", s("http")),
            ("http_domain", s("example.com")),
            ("http_path", s("path")),
            (
                "http_query_params",
                s("queryParam1=value1,queryParam2=value2"),
            ),
        ],
    );
    // No match, or not a string: nothing changes.
    check(yaml, &[("http.url", s("nope"))], &[("http.url", s("nope"))]);
    check(yaml, &[("http.url", i(3))], &[("http.url", i(3))]);
}

#[test]
fn delete_and_hash_by_pattern() {
    check(
        "- {action: delete, pattern: '^sensitive_.*'}",
        &[
            ("sensitive_token", s("a")),
            ("sensitive_pin", i(1234)),
            ("kept", s("b")),
        ],
        &[("kept", s("b"))],
    );
    // key and pattern together act on both.
    check(
        "- {action: delete, key: exact, pattern: '^tmp\\.'}",
        &[("exact", s("1")), ("tmp.a", s("2")), ("tmpx", s("3"))],
        &[("tmpx", s("3"))],
    );
}

#[test]
fn convert_follows_the_collector() {
    let to = |t: &str| format!("- {{key: v, action: convert, converted_type: {t}}}");
    check(&to("int"), &[("v", s("42"))], &[("v", i(42))]);
    check(&to("int"), &[("v", s("4x2"))], &[("v", s("4x2"))]);
    check(&to("int"), &[("v", d(3.9))], &[("v", i(3))]);
    check(&to("int"), &[("v", b(true))], &[("v", i(1))]);
    check(&to("double"), &[("v", s("2.5"))], &[("v", d(2.5))]);
    check(&to("double"), &[("v", i(2))], &[("v", d(2.0))]);
    check(&to("string"), &[("v", i(7))], &[("v", s("7"))]);
    check(&to("string"), &[("v", d(0.25))], &[("v", s("0.25"))]);
    check(&to("string"), &[("v", b(false))], &[("v", s("false"))]);
}

#[test]
fn resource_readme_example() {
    let yaml = r#"
- key: cloud.availability_zone
  value: "zone-1"
  action: upsert
- key: k8s.cluster.name
  from_attribute: k8s-cluster
  action: insert
- key: redundant-attribute
  action: delete
"#;
    check(
        yaml,
        &[
            ("cloud.availability_zone", s("zone-0")),
            ("k8s-cluster", s("prod-eu")),
            ("redundant-attribute", s("x")),
        ],
        &[
            ("cloud.availability_zone", s("zone-1")),
            ("k8s-cluster", s("prod-eu")),
            ("k8s.cluster.name", s("prod-eu")),
        ],
    );
    // from_attribute naming an absent key inserts nothing.
    check(yaml, &[], &[("cloud.availability_zone", s("zone-1"))]);
}

#[test]
fn yaml_values_keep_their_type() {
    check(
        "- {key: l, action: insert, value: [1, two]}\n- {key: f, action: insert, value: 0.5}",
        &[],
        &[
            (
                "l",
                AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![i(1), s("two")],
                    })),
                },
            ),
            ("f", d(0.5)),
        ],
    );
}

use opentelemetry_proto::tonic::common::v1::ArrayValue;

#[test]
fn errors_name_the_action_and_the_key() {
    let e = |yaml: &str| actions(yaml).expect_err(yaml);
    let x = e("- {key: a}");
    assert_eq!(x.path, "0::action");
    let x = e("- {key: a, action: upsert, value: 1}\n- {key: b, action: replace, value: 1}");
    assert_eq!(x.path, "1::action");
    assert!(x.message.contains("insert, update, upsert"), "{x}");
    assert_eq!(e("- {action: insert, value: 1}").path, "0::key");
    assert_eq!(e("- {key: a, action: insert}").path, "0::value");
    assert_eq!(
        e("- {key: a, action: insert, value: 1, from_attribute: b}").path,
        "0::value"
    );
    assert_eq!(e("- {action: delete}").path, "0::key");
    assert_eq!(e("- {key: a, action: hash, value: 1}").path, "0::value");
    assert_eq!(
        e("- {key: a, action: delete, pattern: '('}").path,
        "0::pattern"
    );
    let x = e("- {key: a, action: extract, pattern: '(.*)'}");
    assert_eq!(x.path, "0::pattern");
    assert!(x.message.contains("named group"), "{x}");
    assert_eq!(e("- {key: a, action: extract}").path, "0::pattern");
    assert_eq!(
        e("- {key: a, action: convert, converted_type: bool}").path,
        "0::converted_type"
    );
    assert_eq!(e("- {key: a, action: convert}").path, "0::converted_type");
    let x = e("- {key: a, action: insert, from_context: metadata.x}");
    assert_eq!(x.path, "0::from_context");
}
