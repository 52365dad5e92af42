//! The `include` / `exclude` rules of the `attributes` processor (the Collector's
//! `filterconfig.MatchProperties`): which spans, log records and data points the actions apply
//! to. Every property that is set must match (and); within one list, any entry may (or).
//! `match_type: strict` compares whole values, `regexp` finds a regex match (unanchored, as
//! Go's `regexp.MatchString`). Regexes compile once, at build.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use regex::Regex;
use serde::Deserialize;

use kafka_obs_api::{ComponentConfigError, DataKind};

use crate::attraction::{as_text, from_yaml};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    match_type: Option<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    span_names: Vec<String>,
    #[serde(default)]
    log_bodies: Vec<String>,
    #[serde(default)]
    metric_names: Vec<String>,
    #[serde(default)]
    attributes: Vec<RawAttribute>,
    #[serde(default)]
    resources: Vec<RawAttribute>,
    #[serde(default)]
    libraries: Vec<RawLibrary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribute {
    key: String,
    #[serde(default)]
    value: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLibrary {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

/// Texts to compare with, strictly or by regex.
#[derive(Debug, Clone)]
enum Texts {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl Texts {
    fn matches(&self, text: &str) -> bool {
        match self {
            Self::Strict(all) => all.iter().any(|s| s == text),
            Self::Regexp(all) => all.iter().any(|r| r.is_match(text)),
        }
    }
}

#[derive(Debug, Clone)]
enum ValueRule {
    /// The key must be there, whatever its value.
    Present,
    Equals(AnyValue),
    Matches(Regex),
}

#[derive(Debug, Clone)]
struct AttributeRule {
    key: String,
    value: ValueRule,
}

impl AttributeRule {
    fn matches(&self, attrs: &[KeyValue]) -> bool {
        let Some(found) = attrs.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        match &self.value {
            ValueRule::Present => true,
            ValueRule::Equals(want) => found.value.as_ref() == Some(want),
            ValueRule::Matches(r) => found
                .value
                .as_ref()
                .is_some_and(|v| r.is_match(&as_text(v))),
        }
    }
}

#[derive(Debug, Clone)]
struct LibraryRule {
    name: Texts,
    version: Option<Texts>,
}

/// One compiled `include` or `exclude`.
#[derive(Debug, Clone)]
pub(super) struct MatchProperties {
    services: Option<Texts>,
    span_names: Option<Texts>,
    log_bodies: Option<Texts>,
    metric_names: Option<Texts>,
    attributes: Vec<AttributeRule>,
    resources: Vec<AttributeRule>,
    libraries: Vec<LibraryRule>,
}

/// What the rules look at in one span, log record or data point.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item<'a> {
    pub resource: &'a [KeyValue],
    pub scope: Option<&'a InstrumentationScope>,
    /// The span's or metric's name.
    pub name: Option<&'a str>,
    pub body: Option<&'a AnyValue>,
    pub attributes: &'a [KeyValue],
}

impl MatchProperties {
    /// Checks and compiles one rule; error paths are relative to it.
    pub(super) fn compile(raw: &RawMatch) -> Result<Self, ComponentConfigError> {
        let regexp = match raw.match_type.as_deref() {
            Some("strict") => false,
            Some("regexp") => true,
            Some(other) => {
                return Err(ComponentConfigError::new(
                    "match_type",
                    format!("{other:?} is not a match type; use strict or regexp"),
                ));
            }
            None => {
                return Err(ComponentConfigError::new(
                    "match_type",
                    "missing; set strict or regexp",
                ));
            }
        };
        let regex = |path: String, pattern: &str| {
            Regex::new(pattern).map_err(|e| {
                ComponentConfigError::new(
                    path,
                    format!("{pattern:?} is not a valid regular expression: {e}"),
                )
            })
        };
        let texts = |key: &str, list: &[String]| -> Result<Option<Texts>, ComponentConfigError> {
            if list.is_empty() {
                return Ok(None);
            }
            Ok(Some(if regexp {
                Texts::Regexp(
                    list.iter()
                        .enumerate()
                        .map(|(i, p)| regex(format!("{key}::{i}"), p))
                        .collect::<Result<_, _>>()?,
                )
            } else {
                Texts::Strict(list.to_vec())
            }))
        };
        let attribute_rules = |key: &str, list: &[RawAttribute]| {
            list.iter()
                .enumerate()
                .map(|(i, a)| {
                    let value = match &a.value {
                        None => ValueRule::Present,
                        Some(v) if regexp => match v {
                            serde_yaml_ng::Value::String(p) => {
                                ValueRule::Matches(regex(format!("{key}::{i}::value"), p)?)
                            }
                            _ => {
                                return Err(ComponentConfigError::new(
                                    format!("{key}::{i}::value"),
                                    "with match_type regexp the value must be a string (a regex)",
                                ));
                            }
                        },
                        Some(v) => ValueRule::Equals(from_yaml(v).map_err(|m| {
                            ComponentConfigError::new(format!("{key}::{i}::value"), m)
                        })?),
                    };
                    Ok(AttributeRule {
                        key: a.key.clone(),
                        value,
                    })
                })
                .collect::<Result<Vec<_>, ComponentConfigError>>()
        };
        let libraries = raw
            .libraries
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(LibraryRule {
                    name: texts(
                        &format!("libraries::{i}::name"),
                        std::slice::from_ref(&l.name),
                    )?
                    .unwrap_or(Texts::Strict(Vec::new())),
                    version: match &l.version {
                        Some(v) => {
                            texts(&format!("libraries::{i}::version"), std::slice::from_ref(v))?
                        }
                        None => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, ComponentConfigError>>()?;
        let props = Self {
            services: texts("services", &raw.services)?,
            span_names: texts("span_names", &raw.span_names)?,
            log_bodies: texts("log_bodies", &raw.log_bodies)?,
            metric_names: texts("metric_names", &raw.metric_names)?,
            attributes: attribute_rules("attributes", &raw.attributes)?,
            resources: attribute_rules("resources", &raw.resources)?,
            libraries,
        };
        if props.services.is_none()
            && props.span_names.is_none()
            && props.log_bodies.is_none()
            && props.metric_names.is_none()
            && props.attributes.is_empty()
            && props.resources.is_empty()
            && props.libraries.is_empty()
        {
            return Err(ComponentConfigError::new(
                "",
                "matches nothing: set at least one of services, span_names, log_bodies, metric_names, attributes, resources, libraries",
            ));
        }
        Ok(props)
    }

    /// The property this rule sets that a signal does not have (as the Collector refuses
    /// `span_names` on logs), for the build-time check.
    pub(super) fn foreign_property(&self, kind: DataKind) -> Option<&'static str> {
        let set = [
            ("services", self.services.is_some(), DataKind::Traces),
            ("span_names", self.span_names.is_some(), DataKind::Traces),
            ("log_bodies", self.log_bodies.is_some(), DataKind::Logs),
            (
                "metric_names",
                self.metric_names.is_some(),
                DataKind::Metrics,
            ),
        ];
        set.into_iter()
            .find(|(_, on, only)| *on && *only != kind)
            .map(|(name, _, _)| name)
    }

    pub(super) fn matches(&self, item: &Item<'_>) -> bool {
        let text_ok = |rule: &Option<Texts>, text: Option<&str>| match rule {
            None => true,
            Some(t) => text.is_some_and(|s| t.matches(s)),
        };
        let service = item
            .resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(as_text);
        let body = item.body.map(as_text);
        text_ok(&self.services, service.as_deref())
            && text_ok(&self.span_names, item.name)
            && text_ok(&self.metric_names, item.name)
            && text_ok(&self.log_bodies, body.as_deref())
            && self.attributes.iter().all(|r| r.matches(item.attributes))
            && self.resources.iter().all(|r| r.matches(item.resource))
            && (self.libraries.is_empty()
                || self.libraries.iter().any(|l| {
                    let (name, version) = item
                        .scope
                        .map(|s| (s.name.as_str(), s.version.as_str()))
                        .unwrap_or_default();
                    l.name.matches(name) && l.version.as_ref().is_none_or(|v| v.matches(version))
                }))
    }
}
