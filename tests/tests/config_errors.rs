//! Bad configurations: each must fail `validate` (and a real run) with a non-zero exit code
//! and a message that names the key path, and where it can, the line.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use kafka_obs_tests::{kafka_obs_bin, validate, validate_with_env};

const OK_PIPELINE: &str = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  debug:
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug]
";

struct Case {
    name: &'static str,
    yaml: String,
    /// Every string must appear in stderr.
    expect: Vec<&'static str>,
}

fn case(name: &'static str, yaml: &str, expect: &[&'static str]) -> Case {
    Case {
        name,
        yaml: yaml.to_string(),
        expect: expect.to_vec(),
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "pipeline names an undefined receiver",
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp/missing]\n      exporters: [debug]\n",
            &[
                "service::pipelines::metrics::receivers",
                "otlp/missing",
                "is not defined",
                ":10)",
            ],
        ),
        case(
            "pipeline names an undefined exporter",
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [file]\n",
            &[
                "service::pipelines::logs::exporters",
                "exporter `file` is not defined",
                "add it under `exporters:`",
            ],
        ),
        case(
            "pipeline names an undefined processor",
            &format!("{OK_PIPELINE}      processors: [batch]\n"),
            &[
                "service::pipelines::metrics::processors",
                "processor `batch` is not defined",
            ],
        ),
        case(
            "unknown receiver type",
            "receivers:\n  kafkaa:\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [kafkaa]\n      exporters: [debug]\n",
            &[
                "receivers::kafkaa",
                "unknown receiver type `kafkaa`",
                "known receiver types:",
                "otlp",
            ],
        ),
        case(
            "unknown exporter type lists the known ones",
            "exporters:\n  prometheus:\n",
            &[
                "exporters::prometheus",
                "known exporter types:",
                "debug",
                "file",
            ],
        ),
        case(
            "pipeline without receivers",
            "exporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      exporters: [debug]\n",
            &[
                "service::pipelines::logs::receivers",
                "at least one receiver",
            ],
        ),
        case(
            "pipeline without exporters",
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n",
            &[
                "service::pipelines::traces::exporters",
                "at least one exporter",
            ],
        ),
        case(
            "no pipeline at all",
            "exporters:\n  debug:\n",
            &["service::pipelines", "no pipeline is defined"],
        ),
        case(
            "a pipeline named after no signal",
            &OK_PIPELINE.replace("    metrics:", "    profiles:"),
            &[
                "service::pipelines::profiles",
                "`metrics`, `logs` or `traces`",
            ],
        ),
        case(
            "duplicate listen address",
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:14317\n      http:\n        endpoint: 127.0.0.1:14317\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n",
            &[
                "receivers::otlp::protocols::http::endpoint",
                "already used by receivers::otlp::protocols::grpc::endpoint",
            ],
        ),
        case(
            "a listener on the self-metrics address",
            &format!(
                "{OK_PIPELINE}  extensions: [health_check]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:13133\nextensions:\n  health_check:\n"
            ),
            &[
                "service::telemetry::metrics::address",
                "already used by extensions::health_check::endpoint",
            ],
        ),
        case(
            "misspelt top-level key",
            &format!("recievers:\n  otlp:\n{OK_PIPELINE}"),
            &["recievers", "unknown field `recievers`"],
        ),
        case(
            "unknown key inside a component",
            &OK_PIPELINE.replace("  debug:\n", "  debug:\n    verbose: true\n"),
            &[
                "exporters::debug::verbose",
                "unknown field `verbose`",
                ":9)",
            ],
        ),
        case(
            "a duration without a unit",
            &format!(
                "{OK_PIPELINE}      processors: [batch]\nprocessors:\n  batch:\n    timeout: 200\n"
            ),
            &["processors::batch::timeout", "10s"],
        ),
        case(
            "an unset environment variable",
            &OK_PIPELINE.replace(
                "  debug:\n",
                "  debug:\n  file:\n    path: ${env:KAFKA_OBS_TEST_SURELY_UNSET}\n",
            ),
            &[
                "exporters::file::path",
                "KAFKA_OBS_TEST_SURELY_UNSET is not set",
                "${env:KAFKA_OBS_TEST_SURELY_UNSET:-value}",
            ],
        ),
        case(
            "file exporter without a path",
            &OK_PIPELINE.replace("  debug:\n", "  debug:\n  file:\n"),
            &["exporters::file", "path"],
        ),
        case(
            "invalid YAML",
            "receivers:\n  otlp: [\n",
            &["not valid YAML", "config.yaml:"],
        ),
        case(
            "an extension the service names but nobody defines",
            &format!("{OK_PIPELINE}  extensions: [health_check/x]\n"),
            &[
                "service::extensions::0",
                "extension `health_check/x` is not defined",
            ],
        ),
        case(
            "an unknown log level",
            &format!("{OK_PIPELINE}  telemetry:\n    logs:\n      level: loud\n"),
            &["service::telemetry::logs::level", "loud", "info"],
        ),
        case(
            "a malformed component id",
            &OK_PIPELINE.replace("  debug:\n", "  debug/:\n"),
            &["exporters::debug/", "the name after '/'"],
        ),
        case(
            "batch max size below batch size",
            &format!(
                "{OK_PIPELINE}      processors: [batch]\nprocessors:\n  batch:\n    send_batch_size: 100\n    send_batch_max_size: 10\n"
            ),
            &["processors::batch::send_batch_max_size"],
        ),
        case(
            "a receiver with no protocol enabled",
            &OK_PIPELINE.replace(
                "    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n",
                "    protocols: {}\n",
            ),
            &["receivers::otlp::protocols"],
        ),
        case(
            "a receiver in a pipeline of a signal it cannot produce",
            "receivers:\n  jmx:\n    endpoint: 127.0.0.1:9999\n    target_system: jvm\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [jmx]\n      exporters: [debug]\n",
            &[
                "service::pipelines::logs::receivers",
                "receiver `jmx` cannot produce logs; it produces metrics",
            ],
        ),
        case(
            "a connector used on one side only",
            "receivers:\n  jmx:\n    endpoint: 127.0.0.1:9999\n    target_system: jvm\nconnectors:\n  signals:\nservice:\n  pipelines:\n    metrics:\n      receivers: [jmx]\n      exporters: [signals]\n",
            &[
                "connectors::signals",
                "as an exporter in one pipeline and as a receiver in another",
            ],
        ),
        case(
            "an unknown JMX preset",
            "receivers:\n  jmx:\n    endpoint: 127.0.0.1:9999\n    target_system: jvm,kafka-streams\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [jmx]\n      exporters: [debug]\n",
            &["receivers::jmx::target_system", "kafka-streams"],
        ),
        case(
            "an alias defined twice",
            "exporters:\n  debug:\n  file:\n    path: /tmp/x\n  file/a:\n    path: /tmp/y\nreceivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n  otlp_grpc:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n",
            &["receivers::otlp_grpc", "same component as `otlp`"],
        ),
    ]
}

#[test]
fn every_bad_config_is_rejected_with_its_key_path() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 15);
    for c in &all {
        let out = validate(&c.yaml);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "[{}] exit code {:?}, want 1; stderr:\n{stderr}",
                c.name,
                out.status.code()
            ));
            continue;
        }
        for want in &c.expect {
            if !stderr.contains(want) {
                failures.push(format!("[{}] stderr lacks {want:?}:\n{stderr}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_bad_config_starts_nothing() {
    // A valid health_check next to an invalid pipeline: the run must fail before binding.
    let port = kafka_obs_testkit::net::free_port();
    let yaml = format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{port}\nreceivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  debug:\nservice:\n  extensions: [health_check]\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [nowhere]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(kafka_obs_bin())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("service::pipelines::metrics::exporters"),
        "{stderr}"
    );
    assert!(
        stderr.lines().count() <= 3,
        "one short paragraph, got:\n{stderr}"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the health port was left bound"
    );
}

#[test]
fn no_config_and_missing_file_are_clear_errors() {
    let out = Command::new(kafka_obs_bin())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
    let out = Command::new(kafka_obs_bin())
        .args(["validate", "--config", "/nonexistent/kafka-obs.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read config file /nonexistent/kafka-obs.yaml")
    );
}

#[test]
fn several_files_merge_and_env_expands() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(
        &a,
        OK_PIPELINE.replace("  debug:\n", "  debug:\n    verbosity: basic\n"),
    )
    .unwrap();
    std::fs::write(
        &b,
        "exporters:\n  debug:\n    verbosity: ${env:KOBS_VERBOSITY:-detailed}\n",
    )
    .unwrap();
    let out = Command::new(kafka_obs_bin())
        .arg("print-config")
        .arg("--config")
        .arg(&a)
        .arg("--config")
        .arg(&b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["exporters"]["debug"]["verbosity"],
        serde_yaml_ng::Value::from("detailed")
    );
    assert_eq!(
        printed["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        serde_yaml_ng::Value::from("127.0.0.1:0")
    );
}

#[test]
fn components_lists_types_signals_and_stability() {
    let out = Command::new(kafka_obs_bin())
        .arg("components")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "otlp",
        "otlp_grpc",
        "batch",
        "debug",
        "file",
        "health_check",
        "metrics,logs,traces",
    ] {
        assert!(
            text.contains(want),
            "components output lacks {want}:\n{text}"
        );
    }
    let out = Command::new(kafka_obs_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kafka-obs "));
}

/// A whole `${env:...}` value takes the variable's YAML type, as in the Collector; text maps
/// (resource attributes, headers, rule matches) take a number or boolean as its text, so a
/// numeric broker id from the environment is the attribute "1", not a type error.
#[test]
fn a_numeric_env_value_is_text_where_text_is_wanted() {
    let out = validate_with_env(
        "receivers:\n  jmx:\n    endpoint: 127.0.0.1:1\n    target_system: kafka\n    resource_attributes:\n      broker.id: ${env:KOBS_BROKER_ID}\n      kafka.cluster: prod\nexporters:\n  otlp:\n    endpoint: 127.0.0.1:4317\n    headers:\n      x-tenant: ${env:KOBS_TENANT}\nservice:\n  pipelines:\n    metrics:\n      receivers: [jmx]\n      exporters: [otlp]\n",
        &[("KOBS_BROKER_ID", "1"), ("KOBS_TENANT", "42")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A list where text is wanted is still refused, at its key.
    let out = validate_with_env(
        "receivers:\n  jmx:\n    endpoint: 127.0.0.1:1\n    target_system: kafka\n    resource_attributes:\n      broker.id: [1]\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [jmx]\n      exporters: [debug]\n",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("receivers::jmx::resource_attributes: `broker.id` is a list"),
        "{stderr}"
    );
}
