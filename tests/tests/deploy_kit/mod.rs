//! The deployment kit, checked without Docker or a cluster:
//!
//! - `Dockerfile` and `.dockerignore`: the builder's Rust is the workspace's, everything the
//!   build copies exists and is in the build context, the binary and package names are the cli
//!   crate's, the runtime stage is distroless and not root, and it exposes exactly the ports of
//!   the configuration it runs by default.
//! - `deploy/kubernetes/`: every manifest parses with a known apiVersion/kind, the kustomization
//!   lists them all, selectors, volumes, probes and ports fit together; each kafka-obs
//!   container's ConfigMap is an example verbatim (`examples/sidecar.yaml`,
//!   `examples/aggregator.yaml`) and passes `kafka-obs validate` with the env its Deployment
//!   gives it; its container ports are exactly the config's listeners, none bound to loopback;
//!   probes reach the health check; token files come from Secret volumes; Services target
//!   container ports, and the sidecar's AGGREGATOR_URL leads through the aggregator's Service
//!   to the central config's `signals` receiver.
//! - `deploy/grafana/kafka-obs.json`: the end-to-end test runs the kit as the manifests wire
//!   it: a JVM started with the sidecar Deployment's `JAVA_TOOL_OPTIONS`; the sidecar
//!   (ConfigMap config, Deployment env) streaming signals to the central aggregator (its
//!   ConfigMap and env); `examples/broker.yaml` writing signals to a tansu topic the central
//!   reads; an Alertmanager stand-in that must get the incident a pinned consumer lag opens.
//!   It records what they send to an OTLP server in this process and scrapes their
//!   self-metrics, translates the OTLP names as OpenTelemetry's Prometheus translation does,
//!   and requires every metric, label matcher, grouping label and legend label of every panel
//!   and template query to be among them.
//!
//! One file per subject: `image.rs` (Dockerfile, .dockerignore), `manifests.rs` (Kubernetes),
//! `dashboard.rs` (the dashboard's shape and the query check), `run.rs` (the kit run end to
//! end). The formats' readers (Cargo.toml, Dockerfile, PromQL, the OTLP -> Prometheus names)
//! are in the test kit, `kafka_obs_tests::{cargo_toml, dockerfile, promql, prometheus}`, with
//! their own unit tests. Helpers shared by several subjects (reading the repository, the
//! listeners of a config) are here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use kafka_obs_tests::kafka_obs_bin;

fn root() -> PathBuf {
    kafka_obs_testkit::workspace_root()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// Configurations: env expansion and what they listen on

/// A config parsed, then expanded as kafka-obs would (comments are gone before expansion).
fn parse_expanded(config_text: &str, env: &BTreeMap<String, String>) -> Yaml {
    let plain =
        serde_yaml_ng::to_string(&serde_yaml_ng::from_str::<Yaml>(config_text).unwrap()).unwrap();
    serde_yaml_ng::from_str(&expand_env(&plain, env)).unwrap()
}

/// Expands `${env:NAME:-default}` to its default and `${env:NAME}` from `env`.
fn expand_env(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after.find('}').expect("closing brace");
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (reference, None),
        };
        let value = env
            .get(name)
            .map(String::as_str)
            .or(default)
            .unwrap_or_else(|| panic!("${{env:{name}}} has no value and no default"));
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {address:?}"))
}

fn yaml_get<'a>(v: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn yaml_str<'a>(v: &'a Yaml, path: &[&str]) -> Option<&'a str> {
    yaml_get(v, path).and_then(Yaml::as_str)
}

/// One address a kafka-obs configuration listens on: the config key that sets it, the host it
/// binds and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listener {
    key: String,
    host: String,
    port: u16,
}

impl Listener {
    fn new(key: String, address: &str) -> Self {
        let (host, _) = address
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{key}: no port in {address:?}"));
        Listener {
            key,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: port_of(address),
        }
    }

    /// Reachable from outside the container (not bound to loopback).
    fn is_public(&self) -> bool {
        !matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "::1")
    }
}

/// The component type of an id (`signals/in` -> `signals`).
fn type_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// What a kafka-obs configuration listens on, after env expansion: enabled extensions with an
/// `endpoint`, the `otlp` receivers' protocols, `signals` receivers, the `hierarchy`
/// connectors' API and the self-metrics, each with its default when the key is absent.
/// Receivers and connectors count when a pipeline uses them (the others are never started).
fn listeners(config_text: &str, env: &BTreeMap<String, String>) -> Vec<Listener> {
    let config = parse_expanded(config_text, env);
    let mut out = Vec::new();
    let strings = |v: Option<&Yaml>| -> Vec<String> {
        v.and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Yaml::as_str)
            .map(str::to_string)
            .collect()
    };
    let enabled = strings(yaml_get(&config, &["service", "extensions"]));
    let mut used = BTreeSet::new();
    if let Some(pipelines) = yaml_get(&config, &["service", "pipelines"]).and_then(Yaml::as_mapping)
    {
        for body in pipelines.values() {
            used.extend(strings(body.get("receivers")));
            used.extend(strings(body.get("exporters")));
        }
    }
    if let Some(extensions) = config.get("extensions").and_then(Yaml::as_mapping) {
        for (id, body) in extensions {
            let id = id.as_str().unwrap();
            if enabled.iter().any(|e| e == id)
                && let Some(e) = yaml_str(body, &["endpoint"])
            {
                out.push(Listener::new(format!("extensions::{id}::endpoint"), e));
            }
        }
    }
    if let Some(receivers) = config.get("receivers").and_then(Yaml::as_mapping) {
        for (id, body) in receivers {
            let id = id.as_str().unwrap();
            if !used.contains(id) {
                continue;
            }
            match type_of(id) {
                "otlp" => {
                    for (protocol, default) in
                        [("grpc", "127.0.0.1:4317"), ("http", "127.0.0.1:4318")]
                    {
                        if let Some(p) = yaml_get(body, &["protocols", protocol]) {
                            out.push(Listener::new(
                                format!("receivers::{id}::protocols::{protocol}::endpoint"),
                                yaml_str(p, &["endpoint"]).unwrap_or(default),
                            ));
                        }
                    }
                }
                "signals" => out.push(Listener::new(
                    format!("receivers::{id}::endpoint"),
                    yaml_str(body, &["endpoint"]).unwrap_or("127.0.0.1:50051"),
                )),
                _ => {}
            }
        }
    }
    if let Some(connectors) = config.get("connectors").and_then(Yaml::as_mapping) {
        for (id, body) in connectors {
            let id = id.as_str().unwrap();
            if used.contains(id)
                && type_of(id) == "hierarchy"
                && yaml_get(body, &["api", "enabled"]) != Some(&Yaml::Bool(false))
            {
                out.push(Listener::new(
                    format!("connectors::{id}::api::endpoint"),
                    yaml_str(body, &["api", "endpoint"]).unwrap_or("127.0.0.1:8080"),
                ));
            }
        }
    }
    if yaml_str(&config, &["service", "telemetry", "metrics", "level"]) != Some("none") {
        out.push(Listener::new(
            "service::telemetry::metrics::address".into(),
            yaml_str(&config, &["service", "telemetry", "metrics", "address"])
                .unwrap_or("127.0.0.1:8888"),
        ));
    }
    out
}

/// The ports of [`listeners`].
fn listening_ports(config_text: &str, env: &BTreeMap<String, String>) -> BTreeSet<u16> {
    listeners(config_text, env).iter().map(|l| l.port).collect()
}

mod dashboard;
mod image;
mod manifests;
mod run;
