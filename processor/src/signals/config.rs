//! The `signals` connector's configuration: YAML shape, defaults, and validation.
//!
//! Parse, then resolve: the serde structs below mirror the YAML (unknown keys are errors, every
//! default is in code), and [`SignalsConfig::parse`] checks ranges and turns user rules into
//! [`UserRule`]s whose signal kinds are already parsed, so the engine never meets an invalid
//! value. Every error names its key path (`packs::kafka-consumer::lag_window`).
//!
//! Built-in packs are enabled by listing them under `packs` (an empty body means all defaults);
//! without a `packs` key every pack is on. Each pack's keys live beside its rules
//! (`packs/<pack>/config.rs`), the user-rule grammar in `user/config.rs`, the trend keys in
//! `trend/config.rs`; this file holds the connector-level keys and the range checks they all
//! use. The full reference is `docs/components/connector-signals.md`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, parse_component_config};
use kafka_obs_signal::{LevelSpec, SubjectBuilder, statuses};

use super::packs::broker::config::BrokerPackConfig;
use super::packs::consumer::config::ConsumerPackConfig;
use super::packs::container::config::ContainerPackConfig;
use super::packs::exceptions::config::ExceptionsPackConfig;
use super::packs::jvm::config::JvmPackConfig;
use super::packs::kafka_admin::config::AdminPackConfig;
use super::packs::producer::config::ProducerPackConfig;
use super::packs::targets::config::TargetsPackConfig;
use super::user::config::{RawRule, UserKind, UserRule, resolve_rule};

/// The names of the built-in packs, as written under `packs`.
pub const PACK_NAMES: [&str; 8] = [
    "kafka-producer",
    "kafka-consumer",
    "kafka",
    "jvm",
    "targets",
    "exceptions",
    "container",
    "kafka_admin",
];

/// Which packs are on, each with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacksConfig {
    #[serde(rename = "kafka-producer", deserialize_with = "enabled")]
    pub producer: Option<ProducerPackConfig>,
    #[serde(rename = "kafka-consumer", deserialize_with = "enabled")]
    pub consumer: Option<ConsumerPackConfig>,
    #[serde(rename = "kafka", deserialize_with = "enabled")]
    pub broker: Option<BrokerPackConfig>,
    #[serde(deserialize_with = "enabled")]
    pub jvm: Option<JvmPackConfig>,
    #[serde(deserialize_with = "enabled")]
    pub targets: Option<TargetsPackConfig>,
    #[serde(deserialize_with = "enabled")]
    pub exceptions: Option<ExceptionsPackConfig>,
    #[serde(deserialize_with = "enabled")]
    pub container: Option<ContainerPackConfig>,
    #[serde(deserialize_with = "enabled")]
    pub kafka_admin: Option<AdminPackConfig>,
}

impl PacksConfig {
    /// Every pack with its defaults.
    pub fn all() -> Self {
        Self {
            producer: Some(ProducerPackConfig::default()),
            consumer: Some(ConsumerPackConfig::default()),
            broker: Some(BrokerPackConfig::default()),
            jvm: Some(JvmPackConfig::default()),
            targets: Some(TargetsPackConfig::default()),
            exceptions: Some(ExceptionsPackConfig::default()),
            container: Some(ContainerPackConfig::default()),
            kafka_admin: Some(AdminPackConfig::default()),
        }
    }

    /// No pack (user rules only).
    pub fn none() -> Self {
        Self::default()
    }

    fn check(&self) -> Result<(), ComponentConfigError> {
        fn within(name: &'static str) -> impl Fn(ComponentConfigError) -> ComponentConfigError {
            move |e| e.within(name).within("packs")
        }
        if let Some(p) = &self.producer {
            p.check().map_err(within("kafka-producer"))?;
        }
        if let Some(p) = &self.consumer {
            p.check().map_err(within("kafka-consumer"))?;
        }
        if let Some(p) = &self.broker {
            p.check().map_err(within("kafka"))?;
        }
        if let Some(p) = &self.jvm {
            p.check().map_err(within("jvm"))?;
        }
        if let Some(p) = &self.targets {
            p.check().map_err(within("targets"))?;
        }
        if let Some(p) = &self.exceptions {
            p.check().map_err(within("exceptions"))?;
        }
        if let Some(p) = &self.container {
            p.check().map_err(within("container"))?;
        }
        if let Some(p) = &self.kafka_admin {
            p.check().map_err(within("kafka_admin"))?;
        }
        Ok(())
    }
}

/// A key present with an empty body (`jvm:`) enables the pack with its defaults.
fn enabled<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// `confidence:`: how agreement across polls raises a verdict's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfidenceConfig {
    /// Consecutive polls with the same verdict from which it is at least MEASURED (2).
    pub measured_after: u16,
    /// Consecutive polls with the same verdict from which it is CONFIRMED (3).
    pub confirmed_after: u16,
}

impl Default for ConfidenceConfig {
    fn default() -> Self {
        Self {
            measured_after: 2,
            confirmed_after: 3,
        }
    }
}

impl ConfidenceConfig {
    /// The confidence a verdict with base confidence `base` has after `streak` agreeing
    /// polls: agreement only ever raises the base.
    pub fn raise(&self, base: statuses::Confidence, streak: u16) -> statuses::Confidence {
        let agreed = if streak >= self.confirmed_after {
            statuses::Confidence::Confirmed
        } else if streak >= self.measured_after {
            statuses::Confidence::Measured
        } else {
            statuses::Confidence::Tentative
        };
        base.max(agreed)
    }
}

/// `subject:`: the subject key set (see `kafka_obs_signal::SubjectBuilder`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSubject {
    levels: Option<Vec<LevelSpec>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    packs: Option<PacksConfig>,
    rules: Vec<RawRule>,
    heartbeat_every: u32,
    hysteresis: f64,
    confidence: ConfidenceConfig,
    #[serde(deserialize_with = "de::duration")]
    stale_after: Duration,
    #[serde(deserialize_with = "de::duration")]
    series_ttl: Duration,
    max_series: usize,
    subject: RawSubject,
    source_id: Option<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        let d = SignalsConfig::default();
        Self {
            packs: None,
            rules: Vec::new(),
            heartbeat_every: d.heartbeat_every,
            hysteresis: d.hysteresis,
            confidence: d.confidence,
            stale_after: d.stale_after,
            series_ttl: d.series_ttl,
            max_series: d.max_series,
            subject: RawSubject::default(),
            source_id: None,
        }
    }
}

/// The validated configuration of the `signals` connector.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalsConfig {
    pub packs: PacksConfig,
    pub rules: Vec<UserRule>,
    /// Re-emit each subject's status every this many evaluations without a change (6).
    pub heartbeat_every: u32,
    /// Hysteresis band as a fraction of each threshold (0.05): a state entered above `t` is
    /// left only at or below `t - 0.05 |t|` (below-threshold rules mirror it).
    pub hysteresis: f64,
    pub confidence: ConfidenceConfig,
    /// A subject with no data for this long is stale: no heartbeats, no status points (30s).
    pub stale_after: Duration,
    /// A series with no data for this long is forgotten (10m).
    pub series_ttl: Duration,
    /// Most series tracked at once; beyond it new series are ignored and counted (1 000 000).
    pub max_series: usize,
    pub subjects: SubjectBuilder,
    /// `service.instance.id` of emitted signals; defaults to `$HOSTNAME` (or empty).
    pub source_id: String,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            packs: PacksConfig::all(),
            rules: Vec::new(),
            heartbeat_every: 6,
            hysteresis: 0.05,
            confidence: ConfidenceConfig::default(),
            stale_after: Duration::from_secs(30),
            series_ttl: Duration::from_secs(600),
            max_series: 1_000_000,
            subjects: SubjectBuilder::default(),
            source_id: String::new(),
        }
    }
}

impl SignalsConfig {
    /// Parses and checks the YAML body of a `signals` connector.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let packs = raw.packs.unwrap_or_else(PacksConfig::all);
        packs.check()?;
        if raw.heartbeat_every == 0 {
            return Err(err(
                "heartbeat_every",
                "must be at least 1 (1 = every evaluation)",
            ));
        }
        check_fraction("hysteresis", raw.hysteresis)?;
        let c = raw.confidence;
        if c.measured_after == 0 || c.confirmed_after < c.measured_after {
            return Err(err(
                "confidence",
                "needs 1 <= measured_after <= confirmed_after",
            ));
        }
        if raw.stale_after.is_zero() {
            return Err(err("stale_after", "must be above zero, e.g. 30s"));
        }
        if raw.series_ttl < raw.stale_after {
            return Err(err("series_ttl", "must be at least stale_after"));
        }
        if raw.max_series == 0 {
            return Err(err("max_series", "must be at least 1"));
        }
        let subjects = match raw.subject.levels {
            None => SubjectBuilder::default(),
            Some(levels) => {
                SubjectBuilder::new(levels).map_err(|e| err("subject::levels", e.to_string()))?
            }
        };
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let parsed = resolve_rule(rule, raw.hysteresis)
                .map_err(|e| e.within(&i.to_string()).within("rules"))?;
            if rules.iter().any(|r: &UserRule| r.name == parsed.name) {
                return Err(err(
                    format!("rules::{i}::name"),
                    format!(
                        "`{}` is used by another rule; names must be unique",
                        parsed.name
                    ),
                ));
            }
            rules.push(parsed);
        }
        for (i, rule) in rules.iter().enumerate() {
            if let UserKind::Absence { after, .. } = &rule.kind
                && *after >= raw.series_ttl
            {
                return Err(err(
                    format!("rules::{i}::absence::after"),
                    "must be below series_ttl (a series is forgotten after series_ttl)",
                ));
            }
        }
        if rules.len() > 4096 {
            return Err(err("rules", "at most 4096 user rules"));
        }
        Ok(Self {
            packs,
            rules,
            heartbeat_every: raw.heartbeat_every,
            hysteresis: raw.hysteresis,
            confidence: raw.confidence,
            stale_after: raw.stale_after,
            series_ttl: raw.series_ttl,
            max_series: raw.max_series,
            subjects,
            source_id: raw
                .source_id
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_default(),
        })
    }
}

pub(crate) fn err(path: impl Into<String>, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

pub(crate) fn check_fraction(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(err(
            key,
            format!("{v} is not a fraction between 0 and 1 (e.g. 0.8 for 80 %)"),
        ))
    }
}

pub(crate) fn check_non_negative(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(err(key, format!("{v} must be a finite number >= 0")))
    }
}

pub(crate) fn check_positive(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(err(key, format!("{v} must be a finite number > 0")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).expect("yaml")
    }

    #[test]
    fn empty_body_enables_every_pack_with_defaults() {
        let c = SignalsConfig::parse(&serde_yaml_ng::Value::Null).expect("valid");
        assert_eq!(c.packs, PacksConfig::all());
        assert_eq!(c.heartbeat_every, 6);
    }

    #[test]
    fn listing_packs_enables_only_those_and_overrides_thresholds() {
        let c = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {buffer_overflow_utilization: 0.9}, jvm: }",
        ))
        .expect("valid");
        assert_eq!(
            c.packs.producer.map(|p| p.buffer_overflow_utilization),
            Some(0.9)
        );
        assert_eq!(c.packs.jvm, Some(JvmPackConfig::default()));
        assert!(c.packs.consumer.is_none() && c.packs.broker.is_none());
    }

    #[test]
    fn every_pack_listed_with_an_empty_body_is_on_with_its_defaults() {
        // A pack field without `enabled` reads `name:` as off (the container pack did).
        let listed: Vec<String> = PACK_NAMES.iter().map(|n| format!("{n}: ")).collect();
        let c = SignalsConfig::parse(&yaml(&format!("packs: {{{}}}", listed.join(", "))))
            .expect("valid");
        assert_eq!(c.packs, PacksConfig::all());
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = SignalsConfig::parse(&yaml("packs: {kafka-consumer: {lag_windw: 3}}"))
            .expect_err("unknown key");
        assert!(e.message.contains("unknown field `lag_windw`"), "{e}");
        assert_eq!(e.path, "packs::kafka-consumer::lag_windw");
        let e = SignalsConfig::parse(&yaml("packs: {kafka-consumer: {lag_window: 1}}"))
            .expect_err("range");
        assert_eq!(e.path, "packs::kafka-consumer::lag_window");
        let e = SignalsConfig::parse(&yaml("packs: {kafka-producr: {}}")).expect_err("pack");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, increase: {emit: Queues.FAIL}}]",
        ))
        .expect_err("kind");
        assert_eq!(e.path, "rules::0::increase::emit");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, increase: {emit: Counters.INCREMENT}, trend: {}}]",
        ))
        .expect_err("two kinds");
        assert!(e.message.contains("exactly one"), "{e}");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, threshold: {bands: [{emit: Probes.SUCCEED.OUTBOUND}, {above: 5, emit: Probes.FAIL.OUTBOUND}, {above: 1, emit: Probes.FAIL.OUTBOUND}]}}]",
        ))
        .expect_err("order");
        assert_eq!(e.path, "rules::0::threshold::bands::2::above");
    }

    #[test]
    fn pack_thresholds_must_be_consistent() {
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {buffer_pressure_utilization: 0.96}}",
        ))
        .expect_err("pressure above overflow");
        assert_eq!(e.path, "packs::kafka-producer::buffer_pressure_utilization");
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka: {request_latency_trend: {growth: 1}}}",
        ))
        .expect_err("growth");
        assert_eq!(e.path, "packs::kafka::request_latency_trend::growth");
    }

    #[test]
    fn latency_trends_have_a_floor_that_user_trend_rules_do_not() {
        let c = SignalsConfig::parse(&serde_yaml_ng::Value::Null).expect("defaults");
        let floor = |c: &SignalsConfig| {
            (
                c.packs.producer.map(|p| p.latency_trend.floor),
                c.packs.broker.map(|p| p.request_latency_trend.floor),
            )
        };
        assert_eq!(floor(&c), (Some(100.0), Some(100.0)));
        let c = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {latency_trend: {min_latency_ms: 50, rising_polls: 4}}, kafka: {request_latency_trend: {growth: 3}}}",
        ))
        .expect("valid");
        assert_eq!(floor(&c), (Some(50.0), Some(100.0)));
        assert_eq!(
            c.packs.producer.map(|p| p.latency_trend.rising_polls),
            Some(4)
        );
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka: {request_latency_trend: {min_latency_ms: -1}}}",
        ))
        .expect_err("negative");
        assert_eq!(
            e.path,
            "packs::kafka::request_latency_trend::min_latency_ms"
        );
        for key in ["min_latency_ms", "floor"] {
            let e = SignalsConfig::parse(&yaml(&format!(
                "rules: [{{name: t, metric: m, trend: {{detector: {{{key}: 5}}}}}}]"
            )))
            .expect_err("not a user rule key");
            assert!(e.message.contains("unknown field"), "{e}");
        }
        let c =
            SignalsConfig::parse(&yaml("rules: [{name: t, metric: m, trend: {}}]")).expect("valid");
        assert!(matches!(
            c.rules[0].kind,
            UserKind::Trend { detector, .. } if detector.floor == 0.0
        ));
    }

    #[test]
    fn testdata_loads_to_the_expected_values() {
        let all: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/signals.yaml")).expect("yaml");
        let defaults = SignalsConfig::parse(&all["signals"]).expect("defaults");
        let expected = SignalsConfig {
            source_id: defaults.source_id.clone(),
            ..SignalsConfig::default()
        };
        assert_eq!(defaults, expected);

        let c = SignalsConfig::parse(&all["signals/custom"]).expect("custom");
        let producer = c.packs.producer.expect("producer on");
        assert_eq!(producer.buffer_overflow_utilization, 0.9);
        assert_eq!(producer.latency_trend.rising_polls, 4);
        assert_eq!(producer.latency_trend.window, 0);
        assert_eq!(producer.latency_trend.floor, 20.0);
        assert_eq!(producer.error_rate_threshold, 0.0);
        let consumer = c.packs.consumer.expect("consumer on");
        assert_eq!(consumer.lag_overflow, 50_000.0);
        assert_eq!(consumer.max_poll_interval, Duration::from_secs(600));
        assert_eq!(consumer.lag_window, 10);
        assert!(c.packs.broker.is_none() && c.packs.jvm.is_none() && c.packs.targets.is_none());
        assert_eq!(c.heartbeat_every, 12);
        assert_eq!(c.confidence.confirmed_after, 5);
        assert_eq!(c.stale_after, Duration::from_secs(60));
        assert_eq!(c.max_series, 50_000);
        assert_eq!(c.source_id, "sidecar-7");
        assert_eq!(c.subjects.levels().len(), 4);
        let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "latency-band",
                "failure-share",
                "processed",
                "depth-trend",
                "restarts",
                "heartbeat"
            ]
        );
        assert_eq!(
            c.rules[0].matches,
            [("route".to_string(), "/pay".to_string())]
        );
        assert!(matches!(
            &c.rules[1].kind,
            UserKind::Ratio {
                of_increase: true,
                each_increase: Some(_),
                ..
            }
        ));
        assert!(matches!(
            &c.rules[4].kind,
            UserKind::Storm { events: 3, .. }
        ));
    }
}
