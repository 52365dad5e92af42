//! Bad configurations: each must fail `validate` (and a real run) with a non-zero exit code
//! and a message that names the key path, and where it can, the line. Every mistake of a
//! file is reported in one run, in the order written; durations are held against the real
//! Collector's parser (otelcol-contrib); `print-config` hides secrets.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

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
            &["processors::batch::timeout", "200s or 200ms"],
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

/// Runs `kafka-obs <args> --config <dir>/config.yaml` on `yaml`.
fn run_on(yaml: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    Command::new(kafka_obs_bin())
        .args(args)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap()
}

/// `kafka-obs validate` on `yaml`, which must refuse it (exit code 1): its report.
fn refused(yaml: &str) -> String {
    let out = validate(yaml);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// The `  - ` lines of a `validate` report, each as (path, line number).
fn reported(stderr: &str) -> Vec<(String, usize)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .map(|l| {
            let path = l.split(": ").next().unwrap_or_default().to_string();
            let line = l
                .rsplit_once("config.yaml:")
                .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
                .unwrap_or(0);
            (path, line)
        })
        .collect()
}

/// Ten independent mistakes, one per kind the issue lists: a type error near the top, two
/// durations Go refuses, a list for a number, a processor of an unknown type that a pipeline
/// also names, an unknown enum value, a map where a name is wanted (serde's "Value::Tagged
/// enum"), a key written twice, an undefined exporter, a bare number for a duration.
const TEN_MISTAKES: &str = "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
        max_recv_msg_size_mib: lots
  jmx:
    endpoint: 127.0.0.1:9999
    target_system: jvm
    collection_interval: 10 seconds
processors:
  batch:
    timeout: 1d
    send_batch_size: [100]
  groupbyattrs:
exporters:
  debug:
    verbosity: loud
  otlp:
    endpoint: 127.0.0.1:4317
    compression: {gzip: true}
    timeout: 5s
    timeout: 6s
service:
  pipelines:
    metrics:
      receivers: [otlp, jmx]
      processors: [batch, groupbyattrs]
      exporters: [debug, otlp, nowhere]
  shutdown_timeout: 10
";

#[test]
fn a_file_with_ten_mistakes_gets_ten_messages_in_written_order() {
    let stderr = refused(TEN_MISTAKES);
    assert!(
        stderr.starts_with("invalid configuration (10 errors):"),
        "{stderr}"
    );
    assert_eq!(
        reported(&stderr),
        [
            ("receivers::otlp::protocols::grpc::max_recv_msg_size_mib", 6),
            ("receivers::jmx::collection_interval", 10),
            ("processors::batch::timeout", 13),
            ("processors::batch::send_batch_size", 14),
            ("processors::groupbyattrs", 15),
            ("exporters::debug::verbosity", 18),
            ("exporters::otlp::compression", 21),
            ("exporters::otlp::timeout", 23),
            ("service::pipelines::metrics::exporters", 29),
            ("service::shutdown_timeout", 30),
        ]
        .map(|(p, l)| (p.to_string(), l)),
        "{stderr}"
    );
    for plain in [
        "unknown processor type `groupbyattrs`; known processor types: batch, memory_limiter,",
        "unknown unit \" seconds\"",
        "there is no day unit: write 24h",
        "`timeout` is written twice in the same mapping (first at line 22)",
        "exporter `nowhere` is not defined",
        "a duration needs a unit",
    ] {
        assert!(stderr.contains(plain), "lacks {plain:?}:\n{stderr}");
    }
    // No serde internals, and no "not defined" for the processor that is defined.
    for internal in [
        "Value::",
        "u32",
        "u64",
        "untagged",
        "processor `groupbyattrs` is not",
    ] {
        assert!(!stderr.contains(internal), "says {internal:?}:\n{stderr}");
    }
}

/// A section of the wrong shape at the top (a list where a map is wanted) is one error; the
/// sections below it are still checked, and pipelines naming its receivers are not blamed.
#[test]
fn a_type_error_near_the_top_does_not_hide_the_rest() {
    let yaml = "receivers: [otlp]\nexporters:\n  debug:\n    verbosity: loud\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n  telemetry:\n    logs:\n      level: loud\n";
    let stderr = refused(yaml);
    assert_eq!(
        reported(&stderr),
        [
            ("receivers", 1),
            ("exporters::debug::verbosity", 4),
            ("service::telemetry::logs::level", 12),
        ]
        .map(|(p, l)| (p.to_string(), l)),
        "{stderr}"
    );
}

/// A key written twice is reported at its own (second) line, even at the top level, and the
/// rest of the file is still checked.
#[test]
fn a_duplicate_key_is_reported_at_its_second_line() {
    let yaml = format!("{OK_PIPELINE}exporters:\n  debug:\n    verbosity: loud\n");
    let stderr = refused(&yaml);
    assert_eq!(
        reported(&stderr),
        [("exporters", 14), ("exporters::debug::verbosity", 16)].map(|(p, l)| (p.to_string(), l)),
        "{stderr}"
    );
    assert!(stderr.contains("first at line 7"), "{stderr}");
}

/// The `signals` connector as receiver and exporter of one pipeline, and a longer loop
/// through two pipelines: both are refused by `validate`, naming the loop.
#[test]
fn connector_cycles_are_refused_naming_the_cycle() {
    let own = "receivers:\n  jmx:\n    endpoint: 127.0.0.1:9999\n    target_system: jvm\nconnectors:\n  signals:\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics/a:\n      receivers: [jmx, signals]\n      exporters: [signals, debug]\n";
    let stderr = refused(own);
    assert!(
        stderr.contains("pipelines: metrics/a -> signals -> metrics/a"),
        "{stderr}"
    );
    assert_eq!(
        reported(&stderr),
        [("service::pipelines::metrics/a".to_string(), 11)]
    );

    let across = "receivers:\n  jmx:\n    endpoint: 127.0.0.1:9999\n    target_system: jvm\nconnectors:\n  signals/one:\n  signals/two:\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics/a:\n      receivers: [jmx, signals/two]\n      exporters: [signals/one]\n    metrics/b:\n      receivers: [signals/one]\n      exporters: [signals/two, debug]\n";
    let stderr = refused(across);
    assert!(
        stderr.contains(
            "pipelines: metrics/a -> signals/one -> metrics/b -> signals/two -> metrics/a"
        ),
        "{stderr}"
    );
}

/// A file over 8 MiB is refused unread (a 50 MB one used to take seconds and a gigabyte), and
/// so is a "billion laughs" of nested aliases, before it expands.
#[test]
fn oversized_files_and_alias_bombs_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let line = format!("# {}\n", "x".repeat(1000));
    std::fs::write(&big, line.repeat(50 * 1024)).unwrap();
    let out = Command::new(kafka_obs_bin())
        .args(["validate", "--config"])
        .arg(&big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is 49.0 MiB, over the 8 MiB a configuration may have"),
        "{stderr}"
    );

    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let stderr = refused(&bomb);
    assert!(
        stderr.contains("aliases (*name) would expand to more than 100000 values"),
        "{stderr}"
    );
}

/// A listen address whose host does not resolve is named as a DNS failure at start, not
/// given the "port in use" hint.
#[test]
fn a_dns_failure_is_named_as_such() {
    let yaml = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: no-such-host.invalid:4317\nexporters:\n  debug:\nservice:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let out = run_on(yaml, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr
            .contains("cannot listen on no-such-host.invalid:4317: its host name does not resolve"),
        "{stderr}"
    );
    assert!(!stderr.contains("another process"), "{stderr}");
}

const SECRETS: &str = "extensions:
  bearertokenauth:
    token: s3cr3t-token
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  otlp:
    endpoint: https://127.0.0.1:4317
    headers:
      authorization: Bearer s3cr3t-bearer
      x-api-key: s3cr3t-xapikey
      api-key: s3cr3t-apikey
      x-tenant: acme
  otlp_http:
    endpoint: http://user:s3cr3t-urlpass@127.0.0.1:4318
service:
  extensions: [bearertokenauth]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp, otlp_http]
";

/// `print-config` shows `[REDACTED]` for every secret and everything else as written;
/// `--unredacted` shows the secrets.
#[test]
fn print_config_redacts_secrets_unless_asked_not_to() {
    let out = run_on(SECRETS, &["print-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("s3cr3t"), "a secret leaked:\n{stdout}");
    let printed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout).unwrap();
    let headers = &printed["exporters"]["otlp"]["headers"];
    for h in ["authorization", "x-api-key", "api-key"] {
        assert_eq!(headers[h], serde_yaml_ng::Value::from("[REDACTED]"), "{h}");
    }
    assert_eq!(headers["x-tenant"], serde_yaml_ng::Value::from("acme"));
    assert_eq!(
        printed["extensions"]["bearertokenauth"]["token"],
        serde_yaml_ng::Value::from("[REDACTED]")
    );
    assert_eq!(
        printed["exporters"]["otlp_http"]["endpoint"],
        serde_yaml_ng::Value::from("http://user:[REDACTED]@127.0.0.1:4318")
    );
    assert_eq!(
        printed["exporters"]["otlp"]["endpoint"],
        serde_yaml_ng::Value::from("https://127.0.0.1:4317")
    );

    let out = run_on(SECRETS, &["print-config", "--unredacted"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for secret in [
        "s3cr3t-token",
        "Bearer s3cr3t-bearer",
        "s3cr3t-xapikey",
        "s3cr3t-apikey",
        "s3cr3t-urlpass",
    ] {
        assert!(stdout.contains(secret), "{secret} missing:\n{stdout}");
    }
}

/// The Kafka exporter's SASL password is hidden (the `kafka` exporter is in the default
/// build), and so is a PEM private key whatever key holds it.
#[test]
fn print_config_redacts_sasl_passwords_and_private_keys() {
    let yaml = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  kafka:\n    brokers: [127.0.0.1:9092]\n    auth:\n      sasl: {username: svc, password: hunter2, mechanism: PLAIN}\n  otlp:\n    endpoint: https://127.0.0.1:4317\n    headers:\n      x-signing: \"-----BEGIN PRIVATE KEY----- MIIsecret -----END PRIVATE KEY-----\"\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [kafka, otlp]\n";
    let out = run_on(yaml, &["print-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("MIIsecret"),
        "{stdout}"
    );
    assert!(stdout.contains("username: svc"), "{stdout}");
    assert!(stdout.contains("x-signing: '[REDACTED]'"), "{stdout}");
}

/// Go's `time.ParseDuration` is the Collector's parser; otelcol-contrib (the real Go binary)
/// decides each value, and `kafka-obs validate` must decide the same. One of ours per value,
/// each a `batch` processor's `timeout`; a negative value parses in Go (then the batch
/// processor refuses it) and is refused as negative here.
#[test]
fn durations_agree_with_the_collectors_parser() {
    let otelcol = kafka_obs_testkit::peers::otelcol_bin().unwrap();
    let values = [
        "1h30m",
        "1.5s",
        "10 seconds",
        "1d",
        "0",
        "00",
        "+2s",
        "-1s",
        ".5s",
        "5.s",
        ".",
        "1\u{b5}s",
        "1\u{3bc}s",
        "1us",
        "",
        "1s2",
        "1e3s",
        "10S",
        "1h 30m",
        "3ms4us5ns",
        "1.5.5s",
        "9223372036854775807ns",
        "9223372036854775808ns",
        "2562047h47m16.854775807s",
        "2562047h47m16.854775808s",
        "1.0000000001s",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut ours = String::from(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\nprocessors:\n",
    );
    for (i, v) in values.iter().enumerate() {
        ours.push_str(&format!("  batch/{i}:\n    timeout: \"{v}\"\n"));
    }
    let out = validate(&ours);
    let our_report = String::from_utf8_lossy(&out.stderr).to_string();
    let mut disagreements = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let ours_line = our_report
            .lines()
            .find(|l| l.starts_with(&format!("  - processors::batch/{i}::timeout:")));
        let we_parse = ours_line.is_none_or(|l| l.contains("negative"));
        let go_parses = collector_parses(&otelcol, dir.path(), v);
        if we_parse != go_parses {
            disagreements.push(format!(
                "{v:?}: otelcol parses: {go_parses}, kafka-obs parses: {we_parse} ({ours_line:?})"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Whether otelcol-contrib's `validate` gets past parsing `timeout: <value>` (Go's parse
/// errors start with "time: ").
fn collector_parses(otelcol: &Path, dir: &Path, value: &str) -> bool {
    let config = dir.join("otelcol.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  filelog:\n    include: [{}/none.log]\nprocessors:\n  batch:\n    timeout: \"{value}\"\nexporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:1\nservice:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    logs:\n      receivers: [filelog]\n      processors: [batch]\n      exporters: [otlphttp]\n",
            dir.display()
        ),
    )
    .unwrap();
    let out = Command::new(otelcol)
        .arg("validate")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("timeout"),
        "otelcol failed for another reason on {value:?}:\n{stderr}"
    );
    !stderr.contains("time: ")
}
