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

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use tonic::codec::CompressionEncoding;

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::{Collector, CollectorOptions, http_get, kafka_obs_bin};

fn root() -> PathBuf {
    kafka_obs_testkit::workspace_root()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Cargo facts the kit must agree with

/// `key = "value"` in the first table named `table` of a Cargo.toml (enough for our manifests).
fn toml_value(text: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == format!("[{table}]") || line == format!("[[{table}]]");
            continue;
        }
        if in_table
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The `members = [...]` list of the workspace.
fn workspace_members() -> Vec<String> {
    let text = read("Cargo.toml");
    let start = text.find("members = [").expect("workspace members");
    let rest = &text[start + "members = [".len()..];
    let end = rest.find(']').expect("end of members");
    rest[..end]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The rust-version of the workspace, and the cli crate's package and binary names.
fn cargo_facts() -> (String, String, String) {
    let ws = read("Cargo.toml");
    let rust = toml_value(&ws, "workspace.package", "rust-version").expect("rust-version");
    let cli = read("cli/Cargo.toml");
    let package = toml_value(&cli, "package", "name").expect("cli package name");
    let bin = toml_value(&cli, "bin", "name").unwrap_or_else(|| package.clone());
    (rust, package, bin)
}

// ------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug, Default)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

/// The Dockerfile as global ARGs and stages (continuation lines joined, comments dropped).
fn parse_dockerfile(text: &str) -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    let mut args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                other => panic!("unexpected FROM {other:?}"),
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction {
                keyword,
                args: rest,
            });
        } else {
            assert_eq!(keyword, "ARG", "only ARG may come before the first FROM");
            let (k, v) = rest.split_once('=').expect("global ARG with a default");
            args.insert(k.to_string(), v.to_string());
        }
    }
    (args, stages)
}

/// `.dockerignore` patterns; only the forms the test can match are allowed.
#[derive(Debug)]
enum Ignore {
    /// A path: it and everything below it.
    Path(String),
    /// `**/*.<ext>`: any file with that extension.
    Extension(String),
}

fn dockerignore() -> Vec<Ignore> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if let Some(ext) = l.strip_prefix("**/*.") {
                assert!(
                    !ext.contains(['*', '?', '/', '[']),
                    "unsupported .dockerignore pattern {l:?}"
                );
                Ignore::Extension(ext.to_string())
            } else {
                assert!(
                    !l.contains(['*', '?', '!', '[']) && !l.starts_with('/'),
                    "unsupported .dockerignore pattern {l:?} (use a plain path or **/*.ext, or teach deploy_kit.rs)"
                );
                Ignore::Path(l.trim_end_matches('/').to_string())
            }
        })
        .collect()
}

fn ignored(patterns: &[Ignore], path: &str) -> bool {
    patterns.iter().any(|p| match p {
        Ignore::Path(p) => path == p || path.starts_with(&format!("{p}/")),
        Ignore::Extension(ext) => path.ends_with(&format!(".{ext}")),
    })
}

/// `["a", "b"]` (exec form).
fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{args:?} is not in exec form (a JSON array): {e}"))
}

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

/// The repository path a builder `install` command copies to `dest`, if any.
fn installed_from(stage: &Stage, dest: &str) -> Option<String> {
    for ins in stage.instructions.iter().filter(|i| i.keyword == "RUN") {
        for command in ins.args.split("&&") {
            let words: Vec<&str> = command.split_whitespace().collect();
            if words.first() != Some(&"install") || words.last() != Some(&dest) {
                continue;
            }
            let mut operands = Vec::new();
            let mut iter = words[1..words.len() - 1].iter();
            while let Some(w) = iter.next() {
                if matches!(*w, "-m" | "-o" | "-g") {
                    iter.next();
                } else if !w.starts_with('-') {
                    operands.push(w.to_string());
                }
            }
            return operands.pop();
        }
    }
    None
}

#[test]
fn dockerfile_builds_the_cli_binary_from_the_context_and_runs_it_unprivileged() {
    let (rust_version, package, bin) = cargo_facts();
    let (args, stages) = parse_dockerfile(&read("Dockerfile"));
    let patterns = dockerignore();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");

    // The builder: the workspace's Rust on Debian bookworm (the runtime's Debian release).
    let builder = &stages[0];
    let image = builder.image.replace(
        "${RUST_VERSION}",
        args.get("RUST_VERSION").expect("ARG RUST_VERSION"),
    );
    assert_eq!(
        image,
        format!("rust:{rust_version}-bookworm"),
        "builder image vs workspace rust-version"
    );
    let builder_name = builder.name.clone().expect("the builder stage is named");

    // Every COPY from the build context exists and is not ignored.
    for ins in builder.instructions.iter().filter(|i| i.keyword == "COPY") {
        let words: Vec<&str> = ins.args.split_whitespace().collect();
        assert!(!words[0].starts_with("--from"), "{ins:?}");
        for src in &words[..words.len() - 1] {
            if *src == "." {
                continue;
            }
            assert!(
                root().join(src).exists(),
                "COPY source {src} does not exist"
            );
            assert!(
                !ignored(&patterns, src),
                "COPY source {src} is in .dockerignore"
            );
        }
    }
    // The build is the cli package, and what it installs comes from the context.
    let runs: Vec<&str> = builder
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect();
    let build = runs
        .iter()
        .find(|r| r.contains("cargo build"))
        .expect("a cargo build");
    assert!(
        build.contains(&format!("-p {package}"))
            && build.contains("--release")
            && build.contains("--locked"),
        "{build}"
    );
    let binary_path = format!("target/release/{bin}");
    assert!(
        build.contains(&binary_path),
        "the build copies {binary_path}: {build}"
    );
    for word in runs.iter().flat_map(|r| r.split_whitespace()) {
        let repo_path = !word.starts_with(['/', '-', '$'])
            && word.contains('/')
            && !word.starts_with("target/")
            && !word.contains("://");
        if repo_path {
            assert!(
                root().join(word).is_file(),
                "RUN uses {word}, which does not exist"
            );
            assert!(
                !ignored(&patterns, word),
                "RUN uses {word}, which .dockerignore leaves out"
            );
        }
    }

    // The runtime: distroless, not root, exec-form entrypoint running the binary.
    let runtime = stages.last().unwrap();
    assert!(
        runtime.image.starts_with("gcr.io/distroless/cc-debian12"),
        "{}",
        runtime.image
    );
    let user = runtime
        .instructions
        .iter()
        .rfind(|i| i.keyword == "USER")
        .expect("USER in the runtime stage");
    for id in user.args.split(':') {
        let id: u32 = id
            .parse()
            .expect("numeric USER (so runAsNonRoot can check it)");
        assert_ne!(id, 0, "the image must not run as root");
    }
    let mut copied = BTreeMap::new();
    for ins in runtime.instructions.iter().filter(|i| i.keyword == "COPY") {
        let words: Vec<&str> = ins.args.split_whitespace().collect();
        let from = words
            .iter()
            .find_map(|w| w.strip_prefix("--from="))
            .expect("runtime COPY --from the builder");
        assert_eq!(from, builder_name);
        let (src, dest) = (words[words.len() - 2], words[words.len() - 1]);
        assert!(
            runs.iter().any(|r| r.contains(src)),
            "COPY --from={from} {src}: the builder never writes it"
        );
        copied.insert(dest.to_string(), src.to_string());
    }
    let entrypoint = json_array(
        &runtime
            .instructions
            .iter()
            .find(|i| i.keyword == "ENTRYPOINT")
            .expect("ENTRYPOINT")
            .args,
    );
    assert_eq!(
        Path::new(&entrypoint[0]).file_name().unwrap().to_str(),
        Some(bin.as_str())
    );
    assert!(
        copied
            .get(&entrypoint[0])
            .is_some_and(|s| s.ends_with(&format!("/{bin}"))),
        "the entrypoint {} is the built binary: {copied:?}",
        entrypoint[0]
    );
    let cmd = json_array(
        &runtime
            .instructions
            .iter()
            .find(|i| i.keyword == "CMD")
            .expect("CMD")
            .args,
    );
    let config_path = cmd
        .iter()
        .skip_while(|a| *a != "--config")
        .nth(1)
        .expect("CMD passes --config");
    let staged = copied
        .get(config_path)
        .unwrap_or_else(|| panic!("{config_path} is not copied into the image"));
    let repo_config = installed_from(builder, staged)
        .unwrap_or_else(|| panic!("the builder does not install {staged}"));

    // The default configuration is valid (given its one required variable) and the image
    // exposes exactly the ports it listens on.
    let out = Command::new(kafka_obs_bin())
        .args(["validate", "--config"])
        .arg(root().join(&repo_config))
        .env("AGGREGATOR_URL", "http://kafka-obs-aggregator:50051")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exposed: BTreeSet<u16> = runtime
        .instructions
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    let env = BTreeMap::from([("AGGREGATOR_URL".to_string(), "http://a:50051".to_string())]);
    assert_eq!(
        exposed,
        listening_ports(&read(&repo_config), &env),
        "EXPOSE vs {repo_config}"
    );
}

/// Shared libraries gcr.io/distroless/cc-debian12 ships (glibc, libgcc, libstdc++, OpenSSL 3).
const DISTROLESS_CC_LIBS: &[&str] = &[
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libgomp.so.1",
    "libssl.so.3",
    "libcrypto.so.3",
];

#[test]
fn the_runtime_image_has_every_library_the_binary_links() {
    let Ok(out) = Command::new("ldd").arg(kafka_obs_bin()).output() else {
        panic!("ldd is needed to check the binary's shared libraries");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, stages) = parse_dockerfile(&read("Dockerfile"));
    let builder_env: Vec<&str> = stages[0]
        .instructions
        .iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| i.args.split_whitespace())
        .collect();
    // Libraries the Dockerfile's builder links statically instead.
    let static_in_image: Vec<&str> = [("LIBZ_SYS_STATIC=1", "libz.so.1")]
        .into_iter()
        .filter(|(setting, _)| builder_env.contains(setting))
        .map(|(_, lib)| lib)
        .collect();
    let linked: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|l| l.rsplit('/').next().unwrap().to_string())
        .collect();
    assert!(linked.iter().any(|l| l == "libc.so.6"), "{linked:?}");
    let missing: Vec<&String> = linked
        .iter()
        .filter(|l| {
            !DISTROLESS_CC_LIBS.contains(&l.as_str()) && !static_in_image.contains(&l.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the binary links {missing:?}, which gcr.io/distroless/cc-debian12 does not have: link them statically in the Dockerfile's builder or pick another runtime image"
    );
}

#[test]
fn dockerignore_keeps_every_workspace_member_in_the_build_context() {
    let patterns = dockerignore();
    let members = workspace_members();
    assert!(members.contains(&"cli".to_string()), "{members:?}");
    for path in ["Cargo.toml", "Cargo.lock"]
        .into_iter()
        .map(String::from)
        .chain(members.iter().map(|m| format!("{m}/Cargo.toml")))
    {
        assert!(!ignored(&patterns, &path), "{path} is in .dockerignore");
    }
    // Every file git tracks inside a member (sources, build scripts, protos, presets).
    let out = Command::new("git")
        .args(["ls-files"])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    assert!(out.status.success());
    let tracked = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for path in tracked.lines() {
        if members.iter().any(|m| path.starts_with(&format!("{m}/"))) {
            checked += 1;
            assert!(
                !ignored(&patterns, path),
                "{path} (a workspace file) is in .dockerignore"
            );
        }
    }
    assert!(
        checked > 50,
        "only {checked} tracked files in workspace members?"
    );
    assert!(
        ignored(&patterns, "target/release/kafka-obs"),
        "target/ must stay out"
    );
}

// ------------------------------------------------------------------------------------------
// Kubernetes manifests

const KNOWN_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
];

/// Every document of every manifest in deploy/kubernetes/, by file name.
fn manifests() -> BTreeMap<String, Vec<Yaml>> {
    let dir = root().join("deploy/kubernetes");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut docs = Vec::new();
        let mut current = String::new();
        for line in text.lines().chain(std::iter::once("---")) {
            if line.trim_end() == "---" {
                let doc: Yaml = serde_yaml_ng::from_str(&current)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if !doc.is_null() {
                    docs.push(doc);
                }
                current.clear();
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        out.insert(
            path.file_name().unwrap().to_str().unwrap().to_string(),
            docs,
        );
    }
    out
}

fn kind(doc: &Yaml) -> (&str, &str) {
    (
        yaml_str(doc, &["apiVersion"]).expect("apiVersion"),
        yaml_str(doc, &["kind"]).expect("kind"),
    )
}

fn find<'a>(all: &'a BTreeMap<String, Vec<Yaml>>, k: &str, name: &str) -> Option<&'a Yaml> {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == k && yaml_str(d, &["metadata", "name"]) == Some(name))
}

fn seq<'a>(v: &'a Yaml, path: &[&str]) -> Vec<&'a Yaml> {
    yaml_get(v, path)
        .and_then(Yaml::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// The kafka-obs container (its image is kafka-obs) of a Deployment.
fn kafka_obs_container(deployment: &Yaml) -> &Yaml {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .find(|c| yaml_str(c, &["image"]).is_some_and(|i| i.starts_with("kafka-obs")))
        .expect("a kafka-obs container")
}

/// Whether the Deployment's pod runs an application next to kafka-obs (the sidecar model).
fn has_application(deployment: &Yaml) -> bool {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .any(|c| {
            !yaml_str(c, &["image"])
                .unwrap_or("")
                .starts_with("kafka-obs")
        })
}

/// The Deployment whose pod runs an application with the kafka-obs sidecar.
fn sidecar_deployment(all: &BTreeMap<String, Vec<Yaml>>) -> &Yaml {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && has_application(d))
        .expect("the sidecar Deployment")
}

/// The Deployment that runs kafka-obs alone (the central aggregator).
fn central_deployment(all: &BTreeMap<String, Vec<Yaml>>) -> &Yaml {
    all.values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && !has_application(d))
        .expect("the central Deployment")
}

/// A pod name as a Deployment's ReplicaSet would make it.
fn pod_name(deployment: &Yaml) -> String {
    format!(
        "{}-5d9c7-x2x4q",
        yaml_str(deployment, &["metadata", "name"]).unwrap()
    )
}

/// A container's env as the kubelet would set it (plus HOSTNAME = the pod name).
fn container_env(deployment: &Yaml, container: &Yaml) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("HOSTNAME".to_string(), pod_name(deployment))]);
    for e in seq(container, &["env"]) {
        let name = yaml_str(e, &["name"]).unwrap().to_string();
        let value = if let Some(v) = yaml_str(e, &["value"]) {
            v.to_string()
        } else {
            let field = yaml_str(e, &["valueFrom", "fieldRef", "fieldPath"])
                .unwrap_or_else(|| panic!("env {name}: only value and fieldRef are supported"));
            if let Some(label) = field
                .strip_prefix("metadata.labels['")
                .and_then(|l| l.strip_suffix("']"))
            {
                yaml_str(
                    deployment,
                    &["spec", "template", "metadata", "labels", label],
                )
                .unwrap_or_else(|| panic!("env {name}: the pod has no label {label}"))
                .to_string()
            } else if field == "metadata.name" {
                pod_name(deployment)
            } else {
                panic!("env {name}: fieldRef {field} not handled here")
            }
        };
        env.insert(name, value);
    }
    env
}

/// Which example each kafka-obs ConfigMap holds, verbatim.
const CONFIG_MAPS: &[(&str, &str)] = &[
    ("kafka-obs-sidecar", "examples/sidecar.yaml"),
    ("kafka-obs-central", "examples/aggregator.yaml"),
];

/// The kafka-obs config a container runs: the image's --config path in its mounted ConfigMap,
/// with the ConfigMap's name.
fn mounted_config<'a>(
    all: &'a BTreeMap<String, Vec<Yaml>>,
    deployment: &Yaml,
    container: &Yaml,
) -> (&'a str, &'a str) {
    let config_path = Path::new("/etc/kafka-obs/config.yaml");
    let args: Vec<&str> = seq(container, &["args"])
        .into_iter()
        .chain(seq(container, &["command"]))
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        args.is_empty(),
        "the kafka-obs container runs the image's default command (--config {}): {args:?}",
        config_path.display()
    );
    for mount in seq(container, &["volumeMounts"]) {
        let mount_path = yaml_str(mount, &["mountPath"]).unwrap();
        let Ok(key) = config_path.strip_prefix(mount_path) else {
            continue;
        };
        let volume = yaml_str(mount, &["name"]).unwrap();
        let volume = seq(deployment, &["spec", "template", "spec", "volumes"])
            .into_iter()
            .find(|v| yaml_str(v, &["name"]) == Some(volume))
            .unwrap();
        let map_name = yaml_str(volume, &["configMap", "name"]).expect("a configMap volume");
        let map = find(all, "ConfigMap", map_name)
            .unwrap_or_else(|| panic!("ConfigMap {map_name} is not in deploy/kubernetes/"));
        let config = yaml_str(map, &["data", key.to_str().unwrap()])
            .unwrap_or_else(|| panic!("ConfigMap {map_name} has no key {}", key.display()));
        let map_name = yaml_str(map, &["metadata", "name"]).unwrap();
        return (map_name, config);
    }
    panic!("nothing is mounted at {}", config_path.display())
}

/// A container's ports by name.
fn container_ports(container: &Yaml) -> BTreeMap<String, u16> {
    seq(container, &["ports"])
        .into_iter()
        .map(|p| {
            (
                yaml_str(p, &["name"])
                    .expect("named container ports")
                    .to_string(),
                yaml_get(p, &["containerPort"])
                    .and_then(Yaml::as_u64)
                    .unwrap() as u16,
            )
        })
        .collect()
}

/// A port given by name or number, as a container port number.
fn resolve_port(port: &Yaml, ports: &BTreeMap<String, u16>) -> Option<u16> {
    match port {
        Yaml::String(n) => ports.get(n.as_str()).copied(),
        other => other
            .as_u64()
            .map(|p| p as u16)
            .filter(|p| ports.values().any(|v| v == p)),
    }
}

/// Whether a selector's labels are all on the Deployment's pods.
fn selects(selector: &Yaml, deployment: &Yaml) -> bool {
    selector.as_mapping().is_some_and(|m| {
        !m.is_empty()
            && m.iter().all(|(k, v)| {
                yaml_get(
                    deployment,
                    &[
                        "spec",
                        "template",
                        "metadata",
                        "labels",
                        k.as_str().unwrap(),
                    ],
                ) == Some(v)
            })
    })
}

/// The Deployment a Service selects and the Service port `port` leads to: (deployment, the
/// container port it targets).
fn service_target<'a>(
    all: &'a BTreeMap<String, Vec<Yaml>>,
    service: &Yaml,
    port: u16,
) -> Option<(&'a Yaml, u16)> {
    let selector = yaml_get(service, &["spec", "selector"])?;
    let deployment = all
        .values()
        .flatten()
        .find(|d| kind(d).1 == "Deployment" && selects(selector, d))?;
    let p = seq(service, &["spec", "ports"])
        .into_iter()
        .find(|p| yaml_get(p, &["port"]).and_then(Yaml::as_u64) == Some(u64::from(port)))?;
    let target = yaml_get(p, &["targetPort"]).or_else(|| yaml_get(p, &["port"]))?;
    let ports = container_ports(kafka_obs_container(deployment));
    Some((deployment, resolve_port(target, &ports)?))
}

#[test]
fn kubernetes_manifests_fit_together_and_every_config_validates() {
    let all = manifests();
    let mut deployments = 0;
    for (file, docs) in &all {
        assert!(!docs.is_empty(), "{file} is empty");
        for doc in docs {
            let (api, k) = kind(doc);
            assert!(KNOWN_KINDS.contains(&(api, k)), "{file}: unknown {api} {k}");
            if k != "Kustomization" {
                assert!(
                    yaml_str(doc, &["metadata", "name"]).is_some(),
                    "{file}: {k} without a name"
                );
            }
        }
    }
    // The kustomization lists exactly the other manifests.
    let kustomization = all
        .values()
        .flatten()
        .find(|d| kind(d).1 == "Kustomization")
        .expect("kustomization.yaml");
    let listed: BTreeSet<String> = seq(kustomization, &["resources"])
        .into_iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let files: BTreeSet<String> = all
        .keys()
        .filter(|f| *f != "kustomization.yaml")
        .cloned()
        .collect();
    assert_eq!(
        listed, files,
        "kustomization.yaml resources vs deploy/kubernetes/*.yaml"
    );
    // Every ConfigMap is an example, verbatim.
    for map in all.values().flatten().filter(|d| kind(d).1 == "ConfigMap") {
        let name = yaml_str(map, &["metadata", "name"]).unwrap();
        assert!(
            CONFIG_MAPS.iter().any(|(n, _)| *n == name),
            "ConfigMap {name}: add it to CONFIG_MAPS with the example it holds"
        );
    }

    for deployment in all.values().flatten().filter(|d| kind(d).1 == "Deployment") {
        deployments += 1;
        let name = yaml_str(deployment, &["metadata", "name"]).unwrap();
        let selector =
            yaml_get(deployment, &["spec", "selector", "matchLabels"]).expect("matchLabels");
        assert!(
            selects(selector, deployment),
            "{name}: the selector must match the pod labels"
        );
        let volumes: BTreeSet<&str> = seq(deployment, &["spec", "template", "spec", "volumes"])
            .into_iter()
            .map(|v| yaml_str(v, &["name"]).unwrap())
            .collect();
        for container in seq(deployment, &["spec", "template", "spec", "containers"]) {
            let cname = yaml_str(container, &["name"]).expect("container name");
            assert!(yaml_str(container, &["image"]).is_some(), "{cname}: image");
            for m in seq(container, &["volumeMounts"]) {
                let v = yaml_str(m, &["name"]).unwrap();
                assert!(
                    volumes.contains(v),
                    "{cname} mounts {v}, which is not a volume"
                );
            }
            let ports = container_ports(container);
            for probe in ["livenessProbe", "readinessProbe"] {
                if let Some(port) = yaml_get(container, &[probe, "httpGet", "port"]) {
                    assert!(
                        resolve_port(port, &ports).is_some(),
                        "{cname}: {probe} port {port:?} is not a container port"
                    );
                }
            }
        }

        // The kafka-obs container: its config is an example, verbatim, and validates with
        // the env the Deployment gives it.
        let kafka_obs = kafka_obs_container(deployment);
        let env = container_env(deployment, kafka_obs);
        let (map_name, config) = mounted_config(&all, deployment, kafka_obs);
        let example = CONFIG_MAPS
            .iter()
            .find(|(n, _)| *n == map_name)
            .map(|(_, e)| *e)
            .unwrap();
        assert_eq!(
            config,
            read(example),
            "ConfigMap {map_name} config.yaml must be {example} verbatim (copy it over)"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(kafka_obs_bin())
            .args(["validate", "--config"])
            .arg(&path)
            .env_clear()
            .envs(&env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {example} with the Deployment's env:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Container ports are the config's listeners, and each listens beyond loopback (the
        // kubelet probes, Prometheus scrapes, Services forward to the pod's address).
        let ports = container_ports(kafka_obs);
        let declared: BTreeSet<u16> = ports.values().copied().collect();
        let listening = listeners(config, &env);
        assert_eq!(
            declared,
            listening.iter().map(|l| l.port).collect(),
            "{name}: container ports vs the listeners of {example}: {listening:?}"
        );
        for l in &listening {
            assert!(
                l.is_public(),
                "{name}: {example} binds {} to {}, which is not reachable from outside the container",
                l.key,
                l.host
            );
        }
        // Probes go to the health check's port and path.
        let parsed = parse_expanded(config, &env);
        let health_path = yaml_str(&parsed, &["extensions", "health_check", "path"]).unwrap_or("/");
        let health_port = listening
            .iter()
            .find(|l| l.key == "extensions::health_check::endpoint")
            .unwrap_or_else(|| panic!("{name}: {example} has no health_check endpoint"))
            .port;
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(
                yaml_str(kafka_obs, &[probe, "httpGet", "path"]),
                Some(health_path),
                "{name}: {probe} path"
            );
            assert_eq!(
                yaml_get(kafka_obs, &[probe, "httpGet", "port"])
                    .and_then(|p| resolve_port(p, &ports)),
                Some(health_port),
                "{name}: {probe} port"
            );
        }
        // A pod-scraping Prometheus is sent to the self-metrics port.
        if let Some(port) = yaml_str(
            deployment,
            &[
                "spec",
                "template",
                "metadata",
                "annotations",
                "prometheus.io/port",
            ],
        ) {
            let metrics = listening
                .iter()
                .find(|l| l.key == "service::telemetry::metrics::address")
                .unwrap();
            assert_eq!(port, metrics.port.to_string(), "{name}: prometheus.io/port");
        }
        // A read-only root file system needs a disk queue on a writable volume.
        let file_storage = seq(&parsed, &["service", "extensions"])
            .into_iter()
            .any(|e| e.as_str().is_some_and(|e| type_of(e) == "file_storage"));
        if file_storage
            && yaml_get(kafka_obs, &["securityContext", "readOnlyRootFilesystem"])
                == Some(&Yaml::Bool(true))
        {
            let queue = yaml_str(&parsed, &["extensions", "file_storage", "directory"])
                .unwrap_or("/var/lib/kafka-obs/file_storage");
            assert!(
                seq(kafka_obs, &["volumeMounts"]).into_iter().any(|m| {
                    queue.starts_with(yaml_str(m, &["mountPath"]).unwrap())
                        && yaml_get(m, &["readOnly"]) != Some(&Yaml::Bool(true))
                }),
                "{name}: the disk queue {queue} is not on a writable volume"
            );
        }
        // A token file the config reads comes from a Secret volume with that key.
        for (id, ext) in parsed
            .get("extensions")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flatten()
        {
            let Some(file) = yaml_str(ext, &["filename"]) else {
                continue;
            };
            let id = id.as_str().unwrap();
            let file = Path::new(file);
            let (mount, volume) = seq(kafka_obs, &["volumeMounts"])
                .into_iter()
                .find_map(|m| {
                    let mount = Path::new(yaml_str(m, &["mountPath"]).unwrap());
                    file.starts_with(mount).then(|| {
                        (
                            mount,
                            seq(deployment, &["spec", "template", "spec", "volumes"])
                                .into_iter()
                                .find(|v| yaml_str(v, &["name"]) == yaml_str(m, &["name"]))
                                .unwrap(),
                        )
                    })
                })
                .unwrap_or_else(|| {
                    panic!("{name}: extensions::{id}::filename {file:?} is on no volume")
                });
            let secret = yaml_get(volume, &["secret"])
                .unwrap_or_else(|| panic!("{name}: {file:?} should come from a Secret volume"));
            let relative = file.strip_prefix(mount).unwrap().to_str().unwrap();
            let items = seq(secret, &["items"]);
            assert!(
                items.is_empty()
                    || items
                        .iter()
                        .any(|i| yaml_str(i, &["path"]) == Some(relative)),
                "{name}: the Secret volume has no item with path {relative}"
            );
        }
        // The image's user (Dockerfile USER) is the one the pod asks for.
        if let Some(uid) =
            yaml_get(kafka_obs, &["securityContext", "runAsUser"]).and_then(Yaml::as_u64)
        {
            let (_, stages) = parse_dockerfile(&read("Dockerfile"));
            let user = stages
                .last()
                .unwrap()
                .instructions
                .iter()
                .rfind(|i| i.keyword == "USER")
                .unwrap()
                .args
                .clone();
            assert_eq!(user.split(':').next(), Some(uid.to_string().as_str()));
        }
        if has_application(deployment) {
            // The app's JMX port is the one the sidecar reads.
            let options = java_tool_options(deployment);
            let jmx_port = options
                .split_whitespace()
                .find_map(|o| o.strip_prefix("-Dcom.sun.management.jmxremote.port="))
                .expect("jmxremote.port in JAVA_TOOL_OPTIONS");
            assert_eq!(
                env.get("JMX_URL").map(|u| port_of(u).to_string()),
                Some(jmx_port.to_string())
            );
        }
        // A hierarchy fed by a gRPC stream or OTLP runs as one replica: a sidecar's stream
        // lands on one replica, so several would each see part of a cluster. Scale-out is the
        // kafka receiver's consumer group (see the manifest's comment).
        let streamed = listening.iter().any(|l| {
            l.key.starts_with("receivers::signals") || l.key.starts_with("receivers::otlp")
        });
        let hierarchy = listening
            .iter()
            .any(|l| l.key.starts_with("connectors::hierarchy"));
        if hierarchy && streamed {
            assert_eq!(
                yaml_get(deployment, &["spec", "replicas"]).and_then(Yaml::as_u64),
                Some(1),
                "{name}: replicas"
            );
        }
    }
    assert!(deployments >= 2, "the sidecar and central Deployments");

    // Every Service selects a Deployment's pods and targets its container ports.
    for service in all.values().flatten().filter(|d| kind(d).1 == "Service") {
        let name = yaml_str(service, &["metadata", "name"]).unwrap();
        for p in seq(service, &["spec", "ports"]) {
            let port = yaml_get(p, &["port"]).and_then(Yaml::as_u64).unwrap() as u16;
            assert!(
                service_target(&all, service, port).is_some(),
                "Service {name} port {port}: no Deployment's pods behind it with that target port"
            );
        }
    }

    // The sidecar's AGGREGATOR_URL is a Service of the kit leading to the central config's
    // `signals` receiver.
    let sidecar = sidecar_deployment(&all);
    let env = container_env(sidecar, kafka_obs_container(sidecar));
    let url = &env["AGGREGATOR_URL"];
    let authority = url.split_once("://").map_or(url.as_str(), |(_, a)| a);
    let (host, port) = authority.trim_end_matches('/').rsplit_once(':').unwrap();
    let service = find(&all, "Service", host)
        .unwrap_or_else(|| panic!("AGGREGATOR_URL {url}: no Service {host} in deploy/kubernetes/"));
    let (central, target) = service_target(&all, service, port.parse().unwrap())
        .unwrap_or_else(|| panic!("AGGREGATOR_URL {url}: Service {host} has no port {port}"));
    let central_container = kafka_obs_container(central);
    let central_env = container_env(central, central_container);
    let (_, central_config) = mounted_config(&all, central, central_container);
    let listener = listeners(central_config, &central_env)
        .into_iter()
        .find(|l| l.port == target)
        .unwrap();
    assert!(
        listener.key.starts_with("receivers::signals"),
        "AGGREGATOR_URL {url} leads to {}, not to a signals receiver",
        listener.key
    );
}

/// The JAVA_TOOL_OPTIONS of the application container (the one that is not kafka-obs).
fn java_tool_options(deployment: &Yaml) -> String {
    seq(deployment, &["spec", "template", "spec", "containers"])
        .into_iter()
        .filter(|c| {
            !yaml_str(c, &["image"])
                .unwrap_or("")
                .starts_with("kafka-obs")
        })
        .flat_map(|c| seq(c, &["env"]))
        .find(|e| yaml_str(e, &["name"]) == Some("JAVA_TOOL_OPTIONS"))
        .and_then(|e| yaml_str(e, &["value"]))
        .expect("the application container sets JAVA_TOOL_OPTIONS")
        .to_string()
}

// ------------------------------------------------------------------------------------------
// OpenTelemetry -> Prometheus names (the specification's translation, with suffixes)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    MonotonicSum,
    NonMonotonicSum,
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Prometheus name of an OTLP metric: the name split into `[a-zA-Z0-9:]` tokens, the unit
/// (`By` -> `bytes`, `ms` -> `milliseconds`, `X/s` -> `X_per_second`, `{annotations}` dropped)
/// appended unless a token already says it, `_total` for monotonic sums, `_ratio` for unit `1`
/// gauges.
fn prometheus_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut words = tokens(name);
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        tokens(unit_word(main)).join("_")
    };
    let per = per
        .filter(|p| !p.is_empty() && !p.contains(['{', '}']))
        .map(|p| format!("per_{}", tokens(per_unit_word(p)).join("_")))
        .unwrap_or_default();
    if !main.is_empty() && !words.contains(&main) {
        words.push(main);
    }
    if !per.is_empty() {
        words.push(per);
    }
    if kind == Kind::MonotonicSum {
        words.retain(|w| w != "total");
        words.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        words.retain(|w| w != "ratio");
        words.push("ratio".into());
    }
    words.join("_")
}

fn label_name(attribute: &str) -> String {
    tokens(&attribute.replace(':', "_")).join("_")
}

#[test]
fn prometheus_names_follow_the_specification() {
    let cases = [
        (
            "http.server.duration",
            "s",
            Kind::Gauge,
            "http_server_duration_seconds",
        ),
        (
            "requests.count",
            "1",
            Kind::MonotonicSum,
            "requests_count_total",
        ),
        ("memory.usage", "By", Kind::Gauge, "memory_usage_bytes"),
        (
            "kafka_obs.status",
            "1",
            Kind::Gauge,
            "kafka_obs_status_ratio",
        ),
        (
            "kafka.producer.buffer-available-bytes",
            "By",
            Kind::Gauge,
            "kafka_producer_buffer_available_bytes",
        ),
        (
            "kafka.producer.record-send-rate",
            "{record}/s",
            Kind::Gauge,
            "kafka_producer_record_send_rate_per_second",
        ),
        (
            "kafka.producer.outgoing-byte-rate",
            "By/s",
            Kind::Gauge,
            "kafka_producer_outgoing_byte_rate_bytes_per_second",
        ),
        (
            "kafka.consumer.rebalance-total",
            "{rebalance}",
            Kind::MonotonicSum,
            "kafka_consumer_rebalance_total",
        ),
        (
            "kafka.consumer.last-poll-seconds-ago",
            "s",
            Kind::Gauge,
            "kafka_consumer_last_poll_seconds_ago",
        ),
        (
            "kafka.network.io",
            "By",
            Kind::MonotonicSum,
            "kafka_network_io_bytes_total",
        ),
        (
            "jvm.gc.collections.elapsed",
            "ms",
            Kind::MonotonicSum,
            "jvm_gc_collections_elapsed_milliseconds_total",
        ),
        ("queue.size", "{batch}", Kind::NonMonotonicSum, "queue_size"),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(
            prometheus_name(name, unit, kind),
            want,
            "{name} [{unit}] {kind:?}"
        );
    }
    assert_eq!(label_name("client-id"), "client_id");
    assert_eq!(label_name("subject.cluster"), "subject_cluster");
}

// ------------------------------------------------------------------------------------------
// PromQL, as much as the dashboard's queries need

#[derive(Debug, Default, PartialEq)]
struct Query {
    /// Metric selectors with the label names their matchers use.
    selectors: Vec<(String, Vec<String>)>,
    /// Labels of `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`.
    grouping: Vec<String>,
}

const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn parse_promql(expr: &str) -> Query {
    let chars: Vec<char> = expr.chars().collect();
    let mut q = Query::default();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let ident = |i: usize| {
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == ':')
        {
            j += 1;
        }
        (chars[i..j].iter().collect::<String>(), j)
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '$' {
            // A Grafana variable: $name, ${name}, $__rate_interval.
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                i = ident(i).1;
            }
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let (word, end) = ident(i);
            let next = skip_ws(end);
            i = end;
            if GROUPING.contains(&word.as_str()) {
                if chars.get(next) == Some(&'(') {
                    let close = chars[next..].iter().position(|c| *c == ')').unwrap() + next;
                    let list: String = chars[next + 1..close].iter().collect();
                    q.grouping.extend(
                        list.split(',')
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                    i = close + 1;
                }
            } else if KEYWORDS.contains(&word.as_str()) || chars.get(next) == Some(&'(') {
                // An operator keyword, or a function / aggregation call.
            } else if matches!(
                word.as_str(),
                "sum"
                    | "min"
                    | "max"
                    | "avg"
                    | "count"
                    | "group"
                    | "stddev"
                    | "stdvar"
                    | "topk"
                    | "bottomk"
                    | "quantile"
                    | "count_values"
            ) {
                // An aggregation followed by `by (...)` before its argument.
            } else {
                let mut labels = Vec::new();
                if chars.get(next) == Some(&'{') {
                    let close = chars[next..].iter().position(|c| *c == '}').unwrap() + next;
                    let body: String = chars[next + 1..close].iter().collect();
                    let mut rest = body.as_str();
                    while let Some(pos) = rest.find(['=', '!']) {
                        let name = rest[..pos].trim().trim_start_matches(',').trim();
                        labels.push(name.to_string());
                        // Skip the operator and the quoted value.
                        let after = &rest[pos..];
                        let open = after.find('"').unwrap();
                        let close_q = after[open + 1..].find('"').unwrap() + open + 1;
                        rest = &after[close_q + 1..];
                    }
                    i = close + 1;
                }
                q.selectors.push((word, labels));
            }
        } else {
            i += 1;
        }
    }
    q
}

#[test]
fn promql_subset_parses_the_dashboard_shapes() {
    let q = parse_promql(
        r#"sum by (instance, direction) (rate(kafka_network_io_bytes_total{topic="", job=~"$service"}[$__rate_interval])) / 1000 or vector(0)"#,
    );
    assert_eq!(
        q,
        Query {
            selectors: vec![(
                "kafka_network_io_bytes_total".into(),
                vec!["topic".into(), "job".into()]
            )],
            grouping: vec!["instance".into(), "direction".into()],
        }
    );
    let q = parse_promql("1 - (a_bytes{job=~\"x\"} / b_bytes)");
    assert_eq!(q.selectors.len(), 2);
}

/// `{{label}}` references in a legend.
fn legend_labels(legend: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = legend;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").unwrap() + start;
        out.push(rest[start + 2..end].trim().to_string());
        rest = &rest[end + 2..];
    }
    out
}

// ------------------------------------------------------------------------------------------
// What the kit emits, recorded by an OTLP server in this process

#[derive(Clone, Default)]
struct Recorder {
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl MetricsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn string_value(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Prometheus name -> label names, from the recorded OTLP: point attributes, plus `job`
/// (service.namespace/service.name) and `instance` (service.instance.id) from the resource.
fn prometheus_series(
    requests: &[ExportMetricsServiceRequest],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource: BTreeMap<String, String> = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .filter_map(|a| Some((a.key.clone(), string_value(a.value.as_ref())?)))
            .collect();
        let mut base = BTreeSet::new();
        if resource.contains_key("service.name") {
            base.insert("job".to_string());
        }
        if resource.contains_key("service.instance.id") {
            base.insert("instance".to_string());
        }
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let (kind, points) = match &m.data {
                Some(Data::Gauge(g)) => (Kind::Gauge, &g.data_points),
                Some(Data::Sum(s)) if s.is_monotonic => (Kind::MonotonicSum, &s.data_points),
                Some(Data::Sum(s)) => (Kind::NonMonotonicSum, &s.data_points),
                other => panic!("{}: translation of {other:?} not covered here", m.name),
            };
            let labels = out
                .entry(prometheus_name(&m.name, &m.unit, kind))
                .or_default();
            labels.extend(base.iter().cloned());
            for p in points {
                labels.extend(p.attributes.iter().map(|a| label_name(&a.key)));
            }
        }
    }
    out
}

/// Self-metric name -> label names from a Prometheus scrape (plus the scraper's job, instance).
fn scraped_series(text: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let entry = out.entry(name.to_string()).or_default();
        entry.insert("job".into());
        entry.insert("instance".into());
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            entry.insert(
                pair.split('=')
                    .next()
                    .unwrap()
                    .trim_start_matches(',')
                    .to_string(),
            );
        }
    }
}

/// Checks one query against what was emitted; returns the problems found.
fn check_query(
    where_: &str,
    expr: &str,
    legend: Option<&str>,
    emitted: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let q = parse_promql(expr);
    if q.selectors.is_empty() {
        problems.push(format!("{where_}: no metric in {expr:?}"));
    }
    let mut available = BTreeSet::new();
    for (metric, matchers) in &q.selectors {
        let Some(labels) = emitted.get(metric) else {
            let stem: String = metric.split('_').take(2).collect::<Vec<_>>().join("_");
            let near: Vec<&String> = emitted.keys().filter(|k| k.starts_with(&stem)).collect();
            problems.push(format!(
                "{where_}: {metric} is not emitted (emitted with that prefix: {near:?})"
            ));
            continue;
        };
        for m in matchers {
            if !labels.contains(m) {
                problems.push(format!(
                    "{where_}: {metric} has no label {m} (labels: {labels:?})"
                ));
            }
        }
        available.extend(labels.iter().cloned());
    }
    for g in &q.grouping {
        if !available.contains(g) {
            problems.push(format!(
                "{where_}: grouping label {g} is on none of its metrics"
            ));
        }
    }
    let result_labels: BTreeSet<String> = if q.grouping.is_empty() {
        available
    } else {
        q.grouping.iter().cloned().collect()
    };
    for l in legend.map(legend_labels).unwrap_or_default() {
        if !result_labels.contains(&l) {
            problems.push(format!(
                "{where_}: legend label {l} is not in the result ({result_labels:?})"
            ));
        }
    }
    problems
}

#[test]
fn check_query_reports_unknown_metrics_labels_and_legends() {
    let emitted = BTreeMap::from([(
        "kafka_consumer_records_lag_max".to_string(),
        BTreeSet::from([
            "job".to_string(),
            "instance".to_string(),
            "client_id".to_string(),
        ]),
    )]);
    let ok = check_query(
        "t",
        r#"max by (job) (kafka_consumer_records_lag_max{client_id!=""})"#,
        Some("{{job}}"),
        &emitted,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let bad = check_query(
        "t",
        r#"sum by (topic) (kafka_consumer_records_lag_max{partition="0"}) + kafka_consumer_lag"#,
        Some("{{client_id}}"),
        &emitted,
    );
    assert_eq!(bad.len(), 4, "{bad:#?}");
}

fn dashboard() -> Json {
    serde_json::from_str(&read("deploy/grafana/kafka-obs.json")).expect("valid JSON")
}

#[test]
fn dashboard_is_well_formed() {
    let d = dashboard();
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "a Prometheus data source variable"
    );
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{}",
            p["title"]
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{}",
                p["title"]
            );
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries} queries");
}

/// Every PromQL query of the dashboard: (where, expr, legend).
fn dashboard_queries(d: &Json) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!(
                    "panel {:?} ref {}",
                    p["title"].as_str().unwrap_or(""),
                    t["refId"]
                ),
                t["expr"].as_str().unwrap().to_string(),
                t["legendFormat"]
                    .as_str()
                    .filter(|l| *l != "__auto")
                    .map(String::from),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| {
                panic!("variable {}: only label_values(selector, label)", v["name"])
            });
        let (selector, label) = inner.rsplit_once(',').unwrap();
        // The label a variable lists must be on its metric: check it as a legend label.
        out.push((
            format!("variable {}", v["name"]),
            selector.trim().to_string(),
            Some(format!("{{{{{}}}}}", label.trim())),
        ));
    }
    out
}

/// Polls `f` every 200 ms until it is true or `timeout` passes.
async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    f()
}

/// An Alertmanager stand-in: answers every POST with 200 and keeps the JSON bodies.
#[derive(Clone, Default)]
struct Alertmanager {
    posts: Arc<Mutex<Vec<Json>>>,
}

impl Alertmanager {
    /// Serves on `listener` until the task is aborted.
    async fn serve(self, listener: tokio::net::TcpListener) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let posts = self.posts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = match tokio::time::timeout(
                        Duration::from_secs(30),
                        stream.read(&mut chunk),
                    )
                    .await
                    {
                        Ok(Ok(n)) if n > 0 => n,
                        _ => return,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[end + 4..end + 4 + len]) {
                        posts.lock().unwrap().push(v);
                    }
                    buf.drain(..end + 4 + len);
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    }

    /// The alerts posted so far (each POST is an array of alerts).
    fn alerts(&self) -> Vec<Json> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// The config with every listener moved to a free loopback port (a shared test machine) and
/// `changes` applied, env expanded as kafka-obs would; the new addresses by listener key.
fn on_loopback(
    config_text: &str,
    env: &BTreeMap<String, String>,
    changes: &[(&str, &str)],
) -> (String, BTreeMap<String, String>) {
    let mut config = parse_expanded(config_text, env);
    let mut moved = BTreeMap::new();
    let set = |config: &mut Yaml, key: &str, value: &str| {
        let path: Vec<&str> = key.split("::").collect();
        let mut node = config;
        for k in &path {
            let map = node
                .as_mapping_mut()
                .unwrap_or_else(|| panic!("{key}: not a mapping above {k}"));
            node = map
                .entry(Yaml::String(k.to_string()))
                .or_insert(Yaml::Mapping(Default::default()));
        }
        *node = Yaml::String(value.to_string());
    };
    for l in listeners(config_text, env) {
        if l.key == "service::telemetry::metrics::address" {
            continue; // Collector::start_with picks the self-metrics address
        }
        let address = format!("127.0.0.1:{}", free_port());
        set(&mut config, &l.key, &address);
        moved.insert(l.key, address);
    }
    for (key, value) in changes {
        set(&mut config, key, value);
    }
    (serde_yaml_ng::to_string(&config).unwrap(), moved)
}

/// The address of the first listener whose key starts with `prefix`.
fn moved_to<'a>(moved: &'a BTreeMap<String, String>, prefix: &str) -> &'a str {
    moved
        .iter()
        .find(|(k, _)| k.starts_with(prefix))
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("no listener {prefix}* in {moved:?}"))
}

/// Resource attributes and data point attributes of every `kafka_obs.status` point recorded.
fn status_points(
    requests: &[ExportMetricsServiceRequest],
) -> Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let strings = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        kvs.iter()
            .filter_map(|a| Some((a.key.clone(), string_value(a.value.as_ref())?)))
            .collect::<BTreeMap<_, _>>()
    };
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource = strings(rm.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if let (true, Some(Data::Gauge(g))) = (m.name == "kafka_obs.status", &m.data) {
                for p in &g.data_points {
                    out.push((resource.clone(), strings(&p.attributes)));
                }
            }
        }
    }
    out
}

/// The whole kit at once, as the manifests wire it: a JVM started with the sidecar
/// Deployment's `JAVA_TOOL_OPTIONS`; the sidecar (its ConfigMap config, its Deployment's env)
/// streaming signals to the central aggregator (the central ConfigMap config and Deployment
/// env) and sending OTLP to a recorder in this process; `examples/broker.yaml` against the
/// same JVM's broker MBeans, writing signals to a real Kafka-protocol broker (tansu); the
/// central posting incidents to an Alertmanager stand-in and exporting to the recorder. A
/// consumer lag pinned high makes a cell WARNING, so an incident opens and is notified.
/// Then every dashboard query must name only metrics and labels found in what was recorded
/// (translated as OpenTelemetry's Prometheus translation does) or scraped from the three
/// processes' self-metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_use_only_what_the_kit_emits() {
    let all = manifests();
    let deployment = sidecar_deployment(&all);
    let central_deployment = central_deployment(&all);

    // The application JVM, started with the Deployment's JAVA_TOOL_OPTIONS (and no JMX flags of
    // our own): the scenario JVM plays a Kafka client and a broker.
    let jmx_port = free_port();
    let options = java_tool_options(deployment).replace("=9999", &format!("={jmx_port}"));
    let classes =
        kafka_obs_testkit::java::compile(&kafka_obs_testkit::scenario::scenario_dir()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let jvm_log = work.path().join("jvm.log");
    let mut java = Command::new(kafka_obs_testkit::java::java_bin());
    java.args(["-Xmx64m", "-cp"])
        .arg(&classes)
        .args(["ScenarioMain", "--role", "both", "--tick", "1s"])
        .env("JAVA_TOOL_OPTIONS", &options)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&jvm_log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(work.path().join("jvm.err")).unwrap(),
        ));
    let mut jvm = ChildGuard::spawn(&mut java).unwrap();
    wait_for_port(
        format!("127.0.0.1:{jmx_port}").parse().unwrap(),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| {
        panic!(
            "JVM with {options:?}: {e}\n{}",
            std::fs::read_to_string(work.path().join("jvm.err")).unwrap_or_default()
        )
    });
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(
            &jvm_log
        )
        .is_ok_and(|t| t.contains("READY")))
        .await,
        "scenario JVM not ready"
    );

    // An OpenTelemetry Collector stand-in that records whole requests.
    let recorder = Recorder::default();
    let otlp_port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", otlp_port))
        .await
        .unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                LogsServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                TraceServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let otlp_endpoint = format!("http://127.0.0.1:{otlp_port}");

    // The Kafka cluster being watched (brokers write signals to its topic, the central reads
    // them and writes commands) and Alertmanager.
    let tansu = tokio::task::block_in_place(Tansu::start).expect("tansu");
    for (topic, partitions) in [("__kafka-obs-signals", 3), ("kafka-obs-commands", 1)] {
        tokio::task::block_in_place(|| tansu.create_topic(topic, partitions)).unwrap();
    }
    let alertmanager = Alertmanager::default();
    let am_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let am_port = am_listener.local_addr().unwrap().port();
    let am_server = tokio::spawn(alertmanager.clone().serve(am_listener));

    // The central aggregator: its ConfigMap's config with its Deployment's env; listeners move
    // to free loopback ports, and the status gauge is exported every second instead of 30 s.
    let central_container = kafka_obs_container(central_deployment);
    let mut central_env = container_env(central_deployment, central_container);
    let token = "kit-test-token-0123456789";
    let token_file = work.path().join("api-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    central_env.insert("API_TOKEN_FILE".into(), token_file.display().to_string());
    for (name, value) in [
        ("OTLP_ENDPOINT", otlp_endpoint.clone()),
        (
            "ALERTMANAGER_URL",
            format!("http://127.0.0.1:{am_port}/api/v2/alerts"),
        ),
        ("KAFKA_BROKERS", tansu.brokers()),
    ] {
        assert!(
            central_env.contains_key(name),
            "the central Deployment sets {name}"
        );
        central_env.insert(name.into(), value);
    }
    let (_, central_config) = mounted_config(&all, central_deployment, central_container);
    let hierarchy_id = parse_expanded(central_config, &central_env)
        .get("connectors")
        .and_then(Yaml::as_mapping)
        .and_then(|c| {
            c.keys()
                .filter_map(Yaml::as_str)
                .find(|id| type_of(id) == "hierarchy")
                .map(str::to_string)
        })
        .expect("a hierarchy connector in the central config");
    let status_interval = format!("connectors::{hierarchy_id}::export::status_interval");
    let (central_config, central_addresses) = on_loopback(
        central_config,
        &central_env,
        &[(status_interval.as_str(), "1s")],
    );
    let central = tokio::task::block_in_place(|| {
        Collector::start_with(
            &central_config,
            CollectorOptions {
                env: central_env.clone().into_iter().collect(),
                ..Default::default()
            },
        )
    });

    // The sidecar: the ConfigMap's config with the Deployment's env; the JVM, the recorder
    // and the central's signals receiver at the addresses they have here.
    let sidecar_container = kafka_obs_container(deployment);
    let mut env = container_env(deployment, sidecar_container);
    env.insert(
        "JMX_URL".into(),
        env["JMX_URL"].replace("9999", &jmx_port.to_string()),
    );
    env.insert("OTLP_ENDPOINT".into(), otlp_endpoint.clone());
    env.insert(
        "AGGREGATOR_URL".into(),
        format!(
            "http://{}",
            moved_to(&central_addresses, "receivers::signals")
        ),
    );
    env.insert("COLLECTION_INTERVAL".into(), "1s".into());
    env.insert(
        "QUEUE_DIR".into(),
        work.path().join("sidecar-queue").display().to_string(),
    );
    let (_, config) = mounted_config(&all, deployment, sidecar_container);
    let (config, sidecar_addresses) = on_loopback(config, &env, &[]);
    let health = moved_to(&sidecar_addresses, "extensions::health_check").to_string();
    let sidecar = tokio::task::block_in_place(|| {
        Collector::start_with(
            &config,
            CollectorOptions {
                env: env.into_iter().collect(),
                ..Default::default()
            },
        )
    });

    // The broker kit against the same JVM's broker MBeans, writing signals to the topic.
    let broker_env = BTreeMap::from([
        ("BROKER_JMX".to_string(), format!("127.0.0.1:{jmx_port}")),
        ("OTLP_ENDPOINT".to_string(), otlp_endpoint.clone()),
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("COLLECTION_INTERVAL".to_string(), "1s".to_string()),
        (
            "QUEUE_DIR".to_string(),
            work.path().join("broker-queue").display().to_string(),
        ),
        ("HOSTNAME".to_string(), "kafka-1".to_string()),
    ]);
    let (broker_config, _) = on_loopback(&read("examples/broker.yaml"), &broker_env, &[]);
    let broker = tokio::task::block_in_place(|| {
        Collector::start_with(
            &broker_config,
            CollectorOptions {
                env: broker_env.into_iter().collect(),
                ..Default::default()
            },
        )
    });

    // Both poll a few times; the status gauge and raw metrics of both reach the server.
    let polled =
        |c: &Collector| tokio::task::block_in_place(|| c.metric("kafka_obs_jmx_polls_total", &[]));
    let ok = {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let services: BTreeSet<String> = recorder
                .metrics
                .lock()
                .unwrap()
                .iter()
                .flat_map(|r| &r.resource_metrics)
                .flat_map(|rm| rm.resource.iter().flat_map(|r| &r.attributes))
                .filter(|a| a.key == "service.name")
                .filter_map(|a| string_value(a.value.as_ref()))
                .collect();
            let done = polled(&sidecar) >= 4.0
                && polled(&broker) >= 4.0
                && ["order-service", "kafka-broker", "kafka-obs"]
                    .iter()
                    .all(|s| services.contains(*s));
            if done || Instant::now() > end {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    assert!(
        ok,
        "the kit did not deliver in 60 s\n--- sidecar ---\n{}\n--- broker ---\n{}",
        sidecar.stderr(),
        broker.stderr()
    );

    // The sidecar reads the JVM and its liveness/readiness path answers.
    assert_eq!(
        tokio::task::block_in_place(|| sidecar.metric("kafka_obs_jmx_target_up", &[])),
        1.0
    );
    let (status, body) =
        tokio::task::block_in_place(|| http_get(health.parse().unwrap(), "/")).unwrap();
    assert_eq!(status, 200, "{body}");
    // Signals travel as OTLP log events too.
    let signal_events = recorder
        .logs
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .filter(|r| r.event_name == "kafka_obs.signal")
        .count();
    assert!(signal_events > 0, "no signal events over OTLP");

    // Trouble: the consumer's lag pinned far above the C1 threshold (10 000). The sidecar's
    // signals reach the central over the stream; the consumer's cell turns WARNING, an
    // incident opens and Alertmanager hears of it.
    let pin = format!(
        "set {} records-lag-max 50000\n",
        kafka_obs_testkit::scenario::names::consumer_fetch(
            kafka_obs_testkit::scenario::names::DEFAULT_CONSUMER
        )
    );
    {
        use std::io::Write;
        let stdin = jvm.child_mut().stdin.as_mut().unwrap();
        stdin.write_all(pin.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    // The central's signal receivers: the stream the sidecar's AGGREGATOR_URL names, and the
    // topic the broker kit writes to when the central reads it.
    let intake: Vec<String> = parse_expanded(&central_config, &central_env)
        .get("receivers")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(id, _)| id.as_str())
        .filter(|id| matches!(type_of(id), "signals" | "kafka"))
        .map(str::to_string)
        .collect();
    assert!(
        intake.iter().any(|id| type_of(id) == "signals"),
        "the central config has a signals receiver"
    );
    let took_signals = |metrics: &str, id: &str| {
        kafka_obs_tests::metric_value(
            metrics,
            "kafka_obs_receiver_accepted_items_total",
            &[&format!("receiver=\"{id}\""), "data_type=\"logs\""],
        ) > 0.0
    };
    let notified = {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let warning = status_points(&recorder.metrics.lock().unwrap())
                .iter()
                .any(|(_, p)| {
                    p.get("rule").map(String::as_str) == Some("cells.rollup")
                        && p.get("situation").map(String::as_str) == Some("WARNING")
                });
            let alerted = alertmanager
                .alerts()
                .iter()
                .any(|a| a["annotations"]["action"] == "open");
            let metrics = tokio::task::block_in_place(|| central.metrics());
            let value = |name: &str| kafka_obs_tests::metric_value(&metrics, name, &[]);
            let done = warning
                && alerted
                && value("kafka_obs_hierarchy_incidents_open") >= 1.0
                && value("kafka_obs_hierarchy_webhook_sent_total") >= 1.0
                && intake.iter().all(|id| took_signals(&metrics, id));
            if done || Instant::now() > end {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    assert!(
        notified,
        "no incident notified, or a receiver of {intake:?} idle, in 60 s; alerts {:?}\n--- central ---\n{}\n{}\n--- sidecar ---\n{}\n--- broker ---\n{}",
        alertmanager.alerts(),
        tokio::task::block_in_place(|| central.metrics()),
        central.stderr(),
        sidecar.stderr(),
        broker.stderr()
    );
    // The API answers with the token from the file the Deployment mounts, and only with it.
    let api: std::net::SocketAddr = moved_to(&central_addresses, "connectors::hierarchy")
        .parse()
        .unwrap();
    let (status, body) = tokio::task::block_in_place(|| {
        http_get(api, &format!("/api/v1/health?access_token={token}"))
    })
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _) = tokio::task::block_in_place(|| http_get(api, "/api/v1/health")).unwrap();
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut emitted = prometheus_series(&recorder.metrics.lock().unwrap());
    for c in [&sidecar, &broker, &central] {
        scraped_series(&tokio::task::block_in_place(|| c.metrics()), &mut emitted);
    }
    server.abort();
    am_server.abort();
    drop(sidecar);
    drop(broker);
    drop(central);
    drop(tansu);

    let mut problems = Vec::new();
    let queries = dashboard_queries(&dashboard());
    for (where_, expr, legend) in &queries {
        problems.extend(check_query(where_, expr, legend.as_deref(), &emitted));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in deploy/grafana/kafka-obs.json:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(queries.len() >= 20);
}
