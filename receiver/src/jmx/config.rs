//! The `jmx` receiver's configuration: OpenTelemetry's jmxreceiver keys plus what it lacks
//! (several endpoints, user rules, a per-poll timeout, a bound on concurrent polls).
//!
//! ```yaml
//! jmx:
//!   endpoint: 127.0.0.1:9999            # or endpoints: [a:9999, service:jmx:rmi:///jndi/rmi://b:9999/jmxrmi]
//!   target_system: jvm,kafka-producer   # jvm, kafka (broker), kafka-producer, kafka-consumer
//!   collection_interval: 10s
//!   initial_delay: 0s
//!   timeout: 5s                         # bound on one poll of one endpoint, connect included
//!   username: monitor                   # password: ${env:JMX_PASSWORD}
//!   tls: {ca_file: ca.pem, verify_hostname: false}
//!   resource_attributes: {service.name: orders}
//!   max_concurrent_polls: 16           # JMX sessions in use at once, all endpoints together
//!   connections_per_target: 3           # parallel sessions per endpoint (a poll's reads are split)
//!   mbean_refresh_interval: 60s         # re-run queryNames for bean patterns this often (0s: every poll)
//!   rules: [...]                        # OpenTelemetry JMX rule YAML, see rules.rs
//! ```
//!
//! The contrib jmxreceiver's keys for its JMX Metric Gatherer subprocess (`jar_path`,
//! `additional_jars`, `otlp`, `log_level`) are accepted and reported as not needed
//! ([`UNNEEDED_KEYS`]), so a config written for the Collector runs; its Java keystores and SASL
//! profiles are refused with what to set instead, since ignoring them would fail to connect
//! for a reason the user could not see.
//!
//! [`RawConfig`] mirrors the YAML; [`JmxReceiverConfig::resolve`] turns it into the validated
//! config (endpoints parsed, presets known, rules compiled), so `build` never sees a bad value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, UnneededKey};
use kafka_obs_jmx::{Credentials, Endpoint, TlsOptions};

use super::presets::{self, TargetSystem};
use super::rules::{self, RawRule, Rule};

pub const DEFAULT_COLLECTION_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_CONCURRENT_POLLS: usize = 16;
/// Parallel JMX sessions per endpoint. JRMP carries one call at a time per connection; the
/// benchmark (BENCHMARKS.md, JMX receiver) measured 1, 2, 3 and 4 on the preset set.
pub const DEFAULT_CONNECTIONS_PER_TARGET: usize = 3;
/// More sessions than this per JVM only add threads on the target.
pub const MAX_CONNECTIONS_PER_TARGET: usize = 8;
/// How long the MBean names a bean pattern matched are reused before `queryNames` runs again
/// (every 6th poll at the default 10 s interval).
pub const DEFAULT_MBEAN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The contrib jmxreceiver's keys that only configure its JMX Metric Gatherer subprocess, and
/// why kafka-obs, which reads JMX in-process, does not need them.
pub const UNNEEDED_KEYS: [(&str, &str); 4] = [
    (
        "jar_path",
        "kafka-obs reads JMX itself, in Rust, without a JVM: there is no JMX Metric Gatherer JAR to run",
    ),
    (
        "additional_jars",
        "there is no JVM and no classpath; the built-in client speaks the standard RMI connector (service:jmx:rmi) that Kafka and most JVMs expose",
    ),
    (
        "otlp",
        "the metrics go straight into this receiver's pipelines; there is no gatherer subprocess sending them back over OTLP",
    ),
    (
        "log_level",
        "there is no gatherer subprocess; this receiver logs at service::telemetry::logs::level",
    ),
];

/// The contrib jmxreceiver's keys with no equivalent here and what to set instead.
const REFUSED_KEYS: [(&str, &str); 8] = [
    ("keystore_path", KEYSTORE),
    ("keystore_password", KEYSTORE),
    ("keystore_type", KEYSTORE),
    ("truststore_path", KEYSTORE),
    ("truststore_password", KEYSTORE),
    ("truststore_type", KEYSTORE),
    (
        "remote_profile",
        "JMXMP/SASL remote profiles are not supported; kafka-obs connects over the standard RMI connector with username/password and optional tls",
    ),
    (
        "jmx_configs",
        "rule files are not read; put the same JMX rule YAML under `rules:` in this receiver",
    ),
];

const KEYSTORE: &str = "Java keystores are not read (there is no JVM); export the certificates as PEM and set tls::ca_file (the agent's CA) and, for client authentication, tls::cert_file and tls::key_file";

/// The validated configuration of one `jmx` receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct JmxReceiverConfig {
    /// At least one, no duplicates.
    pub endpoints: Vec<Endpoint>,
    /// Presets, deduplicated, in a stable order.
    pub target_systems: Vec<TargetSystem>,
    pub collection_interval: Duration,
    pub initial_delay: Duration,
    pub timeout: Duration,
    pub credentials: Option<Credentials>,
    pub tls: Option<TlsSettings>,
    pub resource_attributes: BTreeMap<String, String>,
    pub max_concurrent_polls: usize,
    /// Sessions per endpoint that read MBeans in parallel (each holds a `max_concurrent_polls`
    /// permit while it polls).
    pub connections_per_target: usize,
    /// How long `queryNames` results are reused; zero queries on every poll.
    pub mbean_refresh_interval: Duration,
    /// The user's rules (the presets' are added at build time).
    pub rules: Vec<Rule>,
    /// Connect to the host the JVM advertises in its stubs instead of the configured one.
    pub use_advertised_host: bool,
    /// Send every connection to the configured host and port (SSH tunnels, port-forwards).
    pub pin_to_endpoint: bool,
    /// The contrib jmxreceiver's keys that were set and are not needed here.
    pub unneeded_keys: Vec<UnneededKey>,
}

/// TLS for agents started with `com.sun.management.jmxremote.ssl=true`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Check that the certificate names the host. Java's JMX client does not; `false` verifies
    /// the chain only.
    pub verify_hostname: bool,
    pub server_name_override: Option<String>,
    /// The registry is TLS too (`com.sun.management.jmxremote.registry.ssl=true`).
    pub registry: bool,
}

impl TlsSettings {
    /// The JMX client's options.
    pub fn options(&self) -> TlsOptions {
        let mut o = TlsOptions::default();
        if let Some(ca) = &self.ca_file {
            o = o.with_ca_file(ca);
        }
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            o = o.with_client_cert(cert, key);
        }
        if !self.verify_hostname {
            o = o.without_hostname_verification();
        }
        if let Some(name) = &self.server_name_override {
            o = o.with_server_name(name);
        }
        o
    }
}

impl JmxReceiverConfig {
    /// Every rule the receiver evaluates: the presets' in `target_systems` order, then the user's.
    pub fn all_rules(&self) -> Result<Vec<Rule>, ComponentConfigError> {
        let mut out = Vec::new();
        for s in &self.target_systems {
            out.extend(s.rules()?);
        }
        out.extend(self.rules.iter().cloned());
        Ok(out)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    endpoints: Option<Vec<String>>,
    #[serde(default)]
    target_system: Option<RawList>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    collection_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    initial_delay: Option<Duration>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default, deserialize_with = "kafka_obs_api::config::de::text_map")]
    resource_attributes: BTreeMap<String, String>,
    #[serde(default)]
    max_concurrent_polls: Option<usize>,
    #[serde(default)]
    connections_per_target: Option<usize>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    mbean_refresh_interval: Option<Duration>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    use_advertised_host: bool,
    #[serde(default)]
    pin_to_endpoint: bool,
    // The contrib jmxreceiver's keys: accepted and reported (UNNEEDED_KEYS) ...
    #[serde(default)]
    jar_path: Option<IgnoredAny>,
    #[serde(default)]
    additional_jars: Option<IgnoredAny>,
    #[serde(default)]
    otlp: Option<IgnoredAny>,
    #[serde(default)]
    log_level: Option<IgnoredAny>,
    // ... or refused, saying what to set instead (REFUSED_KEYS).
    #[serde(default)]
    keystore_path: Option<IgnoredAny>,
    #[serde(default)]
    keystore_password: Option<IgnoredAny>,
    #[serde(default)]
    keystore_type: Option<IgnoredAny>,
    #[serde(default)]
    truststore_path: Option<IgnoredAny>,
    #[serde(default)]
    truststore_password: Option<IgnoredAny>,
    #[serde(default)]
    truststore_type: Option<IgnoredAny>,
    #[serde(default)]
    remote_profile: Option<IgnoredAny>,
    #[serde(default)]
    jmx_configs: Option<IgnoredAny>,
}

/// `target_system: jvm,kafka` as OpenTelemetry writes it, or a YAML list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawList {
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    /// Default true; `false` verifies the chain only (what Java's JMX client does).
    #[serde(default)]
    verify_hostname: Option<bool>,
    #[serde(default)]
    insecure_skip_verify: bool,
    #[serde(default)]
    server_name_override: Option<String>,
    #[serde(default)]
    registry: bool,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

impl RawConfig {
    /// The contrib-only keys that were set: `(unneeded, refused)`, in the tables' order.
    fn contrib_keys(&self) -> (Vec<UnneededKey>, Option<(&'static str, &'static str)>) {
        let unneeded = [
            self.jar_path.is_some(),
            self.additional_jars.is_some(),
            self.otlp.is_some(),
            self.log_level.is_some(),
        ];
        let refused = [
            self.keystore_path.is_some(),
            self.keystore_password.is_some(),
            self.keystore_type.is_some(),
            self.truststore_path.is_some(),
            self.truststore_password.is_some(),
            self.truststore_type.is_some(),
            self.remote_profile.is_some(),
            self.jmx_configs.is_some(),
        ];
        let unneeded = UNNEEDED_KEYS
            .iter()
            .zip(unneeded)
            .filter(|(_, set)| *set)
            .map(|(&(path, why), _)| UnneededKey {
                path: path.to_owned(),
                why,
            })
            .collect();
        let refused = REFUSED_KEYS
            .iter()
            .zip(refused)
            .find(|(_, set)| *set)
            .map(|(&entry, _)| entry);
        (unneeded, refused)
    }

    pub(crate) fn resolve(self) -> Result<JmxReceiverConfig, ComponentConfigError> {
        let (unneeded_keys, refused) = self.contrib_keys();
        if let Some((key, what_instead)) = refused {
            return Err(err(key, what_instead));
        }
        let endpoints = resolve_endpoints(self.endpoint, self.endpoints)?;
        let target_systems = resolve_target_systems(self.target_system)?;
        let rules = rules::compile(&self.rules, "rules")?;
        if target_systems.is_empty() && rules.is_empty() {
            return Err(err(
                "target_system",
                format!(
                    "nothing to collect: set target_system (one or more of {}) or rules",
                    presets::known_names()
                ),
            ));
        }
        let collection_interval = self
            .collection_interval
            .unwrap_or(DEFAULT_COLLECTION_INTERVAL);
        if collection_interval.is_zero() {
            return Err(err(
                "collection_interval",
                "must be greater than 0 (e.g. 10s)",
            ));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(err("timeout", "must be greater than 0 (e.g. 5s)"));
        }
        let credentials = match (self.username, self.password) {
            (None, None) => None,
            (Some(u), _) if u.is_empty() => {
                return Err(err(
                    "username",
                    "is empty; remove it for agents without authentication",
                ));
            }
            (Some(u), Some(p)) => Some(Credentials::new(u, p)),
            (Some(_), None) => {
                return Err(err(
                    "password",
                    "missing: set it next to username (e.g. password: ${env:JMX_PASSWORD})",
                ));
            }
            (None, Some(_)) => {
                return Err(err("username", "missing: a password needs a username"));
            }
        };
        let tls = self.tls.map(RawTls::resolve).transpose()?;
        let max_concurrent_polls = self
            .max_concurrent_polls
            .unwrap_or(DEFAULT_MAX_CONCURRENT_POLLS);
        if max_concurrent_polls == 0 {
            return Err(err("max_concurrent_polls", "must be at least 1"));
        }
        let connections_per_target = self
            .connections_per_target
            .unwrap_or(DEFAULT_CONNECTIONS_PER_TARGET);
        if !(1..=MAX_CONNECTIONS_PER_TARGET).contains(&connections_per_target) {
            return Err(err(
                "connections_per_target",
                format!("must be between 1 and {MAX_CONNECTIONS_PER_TARGET}"),
            ));
        }
        for key in self.resource_attributes.keys() {
            if key.trim().is_empty() {
                return Err(err("resource_attributes", "an attribute key is empty"));
            }
        }
        let config = JmxReceiverConfig {
            endpoints,
            target_systems,
            collection_interval,
            initial_delay: self.initial_delay.unwrap_or(Duration::ZERO),
            timeout,
            credentials,
            tls,
            resource_attributes: self.resource_attributes,
            max_concurrent_polls,
            connections_per_target,
            mbean_refresh_interval: self
                .mbean_refresh_interval
                .unwrap_or(DEFAULT_MBEAN_REFRESH_INTERVAL),
            rules,
            use_advertised_host: self.use_advertised_host,
            pin_to_endpoint: self.pin_to_endpoint,
            unneeded_keys,
        };
        // One metric name, one type and unit, across presets and rules.
        let mut labelled: Vec<(String, Rule)> = Vec::new();
        for s in &config.target_systems {
            for r in s.rules()? {
                labelled.push((format!("target_system::{s}"), r));
            }
        }
        for (i, r) in config.rules.iter().enumerate() {
            labelled.push((format!("rules::{i}"), r.clone()));
        }
        let refs: Vec<(String, &Rule)> = labelled.iter().map(|(p, r)| (p.clone(), r)).collect();
        rules::check_consistent(&refs)?;
        Ok(config)
    }
}

fn resolve_endpoints(
    one: Option<String>,
    many: Option<Vec<String>>,
) -> Result<Vec<Endpoint>, ComponentConfigError> {
    let written: Vec<(String, String)> = match (one, many) {
        (Some(_), Some(_)) => {
            return Err(err(
                "endpoints",
                "set either endpoint or endpoints, not both",
            ));
        }
        (Some(e), None) => vec![("endpoint".to_owned(), e)],
        (None, Some(list)) if !list.is_empty() => list
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("endpoints::{i}"), e))
            .collect(),
        (None, Some(_)) => return Err(err("endpoints", "must list at least one endpoint")),
        (None, None) => {
            return Err(err(
                "endpoint",
                "missing: set the JMX agent's host:port (or service:jmx:rmi:///jndi/rmi://host:port/jmxrmi)",
            ));
        }
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(written.len());
    for (path, text) in written {
        let endpoint = Endpoint::parse(&text).map_err(|e| err(&path, e.to_string()))?;
        if !seen.insert(endpoint.to_string()) {
            return Err(err(path, format!("{endpoint} is listed twice")));
        }
        out.push(endpoint);
    }
    Ok(out)
}

fn resolve_target_systems(raw: Option<RawList>) -> Result<Vec<TargetSystem>, ComponentConfigError> {
    let names: Vec<(String, String)> = match raw {
        None => Vec::new(),
        Some(RawList::Text(t)) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| ("target_system".to_owned(), s.to_owned()))
            .collect(),
        Some(RawList::List(l)) => l
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("target_system::{i}"), s.trim().to_owned()))
            .collect(),
    };
    let mut out = BTreeSet::new();
    for (path, name) in names {
        let system = TargetSystem::from_name(&name).ok_or_else(|| {
            err(
                path,
                format!(
                    "unknown target system `{name}`; known: {}",
                    presets::known_names()
                ),
            )
        })?;
        out.insert(system);
    }
    Ok(out.into_iter().collect())
}

impl RawTls {
    fn resolve(self) -> Result<TlsSettings, ComponentConfigError> {
        if self.insecure_skip_verify {
            return Err(err(
                "tls::insecure_skip_verify",
                "the JMX client always verifies the certificate chain; set ca_file to the agent's CA (or its self-signed certificate) and verify_hostname: false to skip only the host name check, as Java's JMX client does",
            ));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err(err("tls::key_file", "missing: cert_file needs key_file"));
            }
            (None, Some(_)) => {
                return Err(err("tls::cert_file", "missing: key_file needs cert_file"));
            }
            _ => {}
        }
        Ok(TlsSettings {
            ca_file: self.ca_file,
            cert_file: self.cert_file,
            key_file: self.key_file,
            verify_hostname: self.verify_hostname.unwrap_or(true),
            server_name_override: self.server_name_override,
            registry: self.registry,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jmx::rules::{AttrSource, MetricDef, MetricKind};
    use kafka_obs_jmx::ObjectName;

    fn parse(yaml: &str) -> Result<JmxReceiverConfig, ComponentConfigError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        crate::jmx::JmxReceiverConfig::parse(&value)
    }

    fn testdata() -> serde_yaml_ng::Mapping {
        let text = include_str!("../../testdata/jmx.yaml");
        serde_yaml_ng::from_str(text).expect("testdata/jmx.yaml is YAML")
    }

    fn entry(name: &str) -> Result<JmxReceiverConfig, ComponentConfigError> {
        let map = testdata();
        let value = map
            .get(name)
            .unwrap_or_else(|| panic!("testdata/jmx.yaml has no {name}"));
        crate::jmx::JmxReceiverConfig::parse(value)
    }

    fn minimal() -> JmxReceiverConfig {
        JmxReceiverConfig {
            endpoints: vec![Endpoint::new("127.0.0.1", 9999)],
            target_systems: vec![TargetSystem::Jvm],
            collection_interval: DEFAULT_COLLECTION_INTERVAL,
            initial_delay: Duration::ZERO,
            timeout: DEFAULT_TIMEOUT,
            credentials: None,
            tls: None,
            resource_attributes: BTreeMap::new(),
            max_concurrent_polls: DEFAULT_MAX_CONCURRENT_POLLS,
            connections_per_target: DEFAULT_CONNECTIONS_PER_TARGET,
            mbean_refresh_interval: DEFAULT_MBEAN_REFRESH_INTERVAL,
            rules: Vec::new(),
            use_advertised_host: false,
            pin_to_endpoint: false,
            unneeded_keys: Vec::new(),
        }
    }

    #[test]
    fn testdata_minimal_takes_every_default() {
        assert_eq!(entry("jmx").expect("valid"), minimal());
    }

    #[test]
    fn testdata_full_resolves_to_the_typed_config() {
        let expected = JmxReceiverConfig {
            endpoints: vec![
                Endpoint::new("broker-1", 9999),
                Endpoint {
                    host: "broker-2".into(),
                    port: 9998,
                    binding: "jmxrmi".into(),
                },
            ],
            target_systems: vec![
                TargetSystem::Jvm,
                TargetSystem::Kafka,
                TargetSystem::KafkaConsumer,
                TargetSystem::KafkaProducer,
            ],
            collection_interval: Duration::from_secs(30),
            initial_delay: Duration::from_secs(2),
            timeout: Duration::from_millis(1500),
            credentials: Some(Credentials::new("monitor", "s3cret")),
            tls: Some(TlsSettings {
                ca_file: Some("/etc/kafka-obs/ca.pem".into()),
                cert_file: Some("/etc/kafka-obs/client.pem".into()),
                key_file: Some("/etc/kafka-obs/client.key".into()),
                verify_hostname: false,
                server_name_override: None,
                registry: true,
            }),
            resource_attributes: BTreeMap::from([
                ("deployment.environment".into(), "prod".into()),
                ("service.name".into(), "orders".into()),
            ]),
            max_concurrent_polls: 4,
            connections_per_target: 3,
            mbean_refresh_interval: Duration::ZERO,
            rules: vec![Rule {
                beans: vec![ObjectName::parse("com.example.orders:type=OrderMetrics").unwrap()],
                metrics: vec![MetricDef {
                    name: "orders.processed".into(),
                    attribute: "orders-processed-count".into(),
                    item: None,
                    kind: MetricKind::Counter,
                    unit: "{order}".into(),
                    description: "Orders processed".into(),
                    attributes: vec![("service".into(), AttrSource::Const("orders".into()))],
                    scale: None,
                    drop_negative: false,
                }],
            }],
            use_advertised_host: false,
            pin_to_endpoint: true,
            unneeded_keys: Vec::new(),
        };
        assert_eq!(entry("jmx/full").expect("valid"), expected);
    }

    #[test]
    fn testdata_rules_only_and_service_url() {
        let c = entry("jmx/rules_only").expect("valid");
        assert!(c.target_systems.is_empty());
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.endpoints, vec![Endpoint::new("10.0.0.5", 1099)]);
    }

    #[test]
    fn testdata_contrib_runs_and_says_which_keys_it_does_not_need() {
        let c = entry("jmx/contrib").expect("valid");
        assert_eq!(c.endpoints, vec![Endpoint::new("kafka-1", 9999)]);
        assert_eq!(
            c.target_systems,
            vec![TargetSystem::Jvm, TargetSystem::Kafka]
        );
        assert_eq!(c.collection_interval, Duration::from_secs(60));
        assert_eq!(c.credentials, Some(Credentials::new("monitor", "s3cret")));
        assert_eq!(c.resource_attributes["service.name"], "kafka-1");
        let paths: Vec<&str> = c.unneeded_keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(paths, ["jar_path", "additional_jars", "otlp", "log_level"]);
        assert!(c.unneeded_keys[0].why.contains("without a JVM"));
    }

    #[test]
    fn target_system_accepts_a_list_and_dedups() {
        let c = parse("endpoint: h:1\ntarget_system: [jvm, jvm, kafka-producer]").unwrap();
        assert_eq!(
            c.target_systems,
            vec![TargetSystem::Jvm, TargetSystem::KafkaProducer]
        );
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases: &[(&str, &str, &str)] = &[
            ("target_system: jvm", "endpoint", "missing"),
            (
                "endpoint: 'h:1'\nendpoints: ['h:2']\ntarget_system: jvm",
                "endpoints",
                "not both",
            ),
            (
                "endpoints: ['h:1', 'nope']\ntarget_system: jvm",
                "endpoints::1",
                "invalid JMX endpoint",
            ),
            (
                "endpoints: ['h:1', 'h:1']\ntarget_system: jvm",
                "endpoints::1",
                "listed twice",
            ),
            ("endpoint: 'h:1'", "target_system", "nothing to collect"),
            (
                "endpoint: 'h:1'\ntarget_system: jvm,kafka-broker",
                "target_system",
                "unknown target system `kafka-broker`; known: jvm, kafka, kafka-consumer, kafka-producer",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: [jvm, x]",
                "target_system::1",
                "unknown target system",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ncollection_interval: 0s",
                "collection_interval",
                "greater than 0",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ncollection_interval: 10",
                "collection_interval",
                "unit",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ntimeout: 0s",
                "timeout",
                "greater than 0",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nusername: u",
                "password",
                "missing",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\npassword: p",
                "username",
                "missing",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nmax_concurrent_polls: 0",
                "max_concurrent_polls",
                "at least 1",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nconnections_per_target: 0",
                "connections_per_target",
                "between 1 and 8",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nmbean_refresh_interval: soon",
                "mbean_refresh_interval",
                "",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nkeystore_path: /ks.jks",
                "keystore_path",
                "tls::cert_file",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ntruststore_path: /ts.jks",
                "truststore_path",
                "tls::ca_file",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nremote_profile: TLS SASL/PLAIN",
                "remote_profile",
                "not supported",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\njmx_configs: /rules.yaml",
                "jmx_configs",
                "rules:",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ntls: {insecure_skip_verify: true}",
                "tls::insecure_skip_verify",
                "verify_hostname: false",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ntls: {cert_file: a}",
                "tls::key_file",
                "missing",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ntls: {ca: a}",
                "tls::ca",
                "unknown field `ca`",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\ncolection_interval: 1s",
                "colection_interval",
                "unknown field `colection_interval`",
            ),
            (
                "endpoint: 'h:1'\nrules: [{bean: 'x', mapping: {A: }}]",
                "rules::0::bean",
                "invalid MBean name",
            ),
            (
                "endpoint: 'h:1'\nrules: [{bean: 'a:b=c', mapping: {A: {metirc: m}}}]",
                "rules::0::mapping::A::metirc",
                "unknown field `metirc`",
            ),
            (
                "endpoint: 'h:1'\ntarget_system: jvm\nrules: [{bean: 'a:b=c', mapping: {A: {metric: jvm.threads.count, type: counter}}}]",
                "rules::0",
                "one metric name must keep one type",
            ),
        ];
        for (yaml, path, text) in cases {
            let e = parse(yaml).expect_err(yaml);
            assert_eq!(&e.path, path, "{yaml}: {e}");
            assert!(e.message.contains(text), "{yaml}: {e}");
        }
    }

    #[test]
    fn tls_settings_map_onto_the_client_options() {
        let t = TlsSettings {
            ca_file: Some("ca.pem".into()),
            verify_hostname: false,
            server_name_override: Some("jmx.internal".into()),
            ..Default::default()
        };
        let o = t.options();
        assert_eq!(o.ca_file, Some(PathBuf::from("ca.pem")));
        assert!(!o.verify_hostname);
        assert_eq!(o.server_name.as_deref(), Some("jmx.internal"));
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let c =
            parse("endpoint: 'h:1'\ntarget_system: jvm\nusername: u\npassword: hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
