//! The filter processor's older `include`/`exclude` blocks: `match_type: strict|regexp` over
//! metric names, resource and record attributes, severity texts and numbers, and log bodies.
//! A block matches a record when every property it sets matches (a list matches when any of
//! its entries does). They read the record through the same OTTL paths the conditions use.

use regex::Regex;
use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_ottl::{Field, Key, Level, Path, Record, Value, enum_value};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MatchType {
    #[default]
    Strict,
    Regexp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttribute {
    key: String,
    value: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeverity {
    min: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    match_undefined: bool,
}

/// `include:` / `exclude:` as written, for metrics and logs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    match_type: MatchType,
    #[serde(default)]
    metric_names: Vec<String>,
    #[serde(default)]
    resource_attributes: Vec<RawAttribute>,
    #[serde(default)]
    record_attributes: Vec<RawAttribute>,
    #[serde(default)]
    severity_texts: Vec<String>,
    severity_number: Option<RawSeverity>,
    #[serde(default)]
    bodies: Vec<String>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Strict(Value),
    Regexp(Regex),
}

impl Pattern {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Pattern::Strict(want) => want == v,
            Pattern::Regexp(re) => match v {
                Value::Str(s) => re.is_match(s),
                Value::Nil => false,
                other => re.is_match(&other.to_string()),
            },
        }
    }
}

/// A compiled `include` or `exclude` block.
#[derive(Debug, Clone)]
pub(crate) struct LegacyMatch {
    /// `(path, pattern)`: all must match; a `None` pattern only needs the key present.
    properties: Vec<Property>,
    severity_min: Option<(i64, bool)>,
}

#[derive(Debug, Clone)]
enum Property {
    /// Any of the patterns matches the value at the path.
    AnyOf(Path, Vec<Pattern>),
    /// The attribute is present (no `value:` given).
    Present(Path),
}

fn path(level: Level, field: Field, key: Option<&str>) -> Path {
    Path {
        level,
        field,
        keys: key
            .map(|k| vec![Key::Str(k.to_string())])
            .unwrap_or_default(),
    }
}

fn yaml_value(v: &serde_yaml_ng::Value) -> Value {
    match v {
        serde_yaml_ng::Value::Bool(b) => Value::Bool(*b),
        serde_yaml_ng::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Double))
            .unwrap_or_default(),
        serde_yaml_ng::Value::String(s) => Value::Str(s.clone()),
        _ => Value::Nil,
    }
}

impl LegacyMatch {
    /// Compiles a block; `record` is the level of the records it filters.
    pub(super) fn compile(raw: RawMatch, record: Level) -> Result<Self, ComponentConfigError> {
        let regexp = raw.match_type == MatchType::Regexp;
        let pattern = |what: String, text: Value| -> Result<Pattern, ComponentConfigError> {
            match (regexp, text) {
                (true, Value::Str(s)) => Regex::new(&s).map(Pattern::Regexp).map_err(|e| {
                    ComponentConfigError::new(what, format!("`{s}` is not a valid regex: {e}"))
                }),
                (true, other) => Ok(Pattern::Strict(other)),
                (false, v) => Ok(Pattern::Strict(v)),
            }
        };
        let mut properties = Vec::new();
        let texts = |key: &str, level: Level, field: Field, list: Vec<String>| {
            list.into_iter()
                .enumerate()
                .map(|(i, s)| pattern(format!("{key}::{i}"), Value::Str(s)))
                .collect::<Result<Vec<_>, _>>()
                .map(|ps| Property::AnyOf(path(level, field, None), ps))
        };
        if !raw.metric_names.is_empty() {
            properties.push(texts(
                "metric_names",
                Level::Metric,
                Field::Name,
                raw.metric_names,
            )?);
        }
        if !raw.severity_texts.is_empty() {
            properties.push(texts(
                "severity_texts",
                record,
                Field::SeverityText,
                raw.severity_texts,
            )?);
        }
        if !raw.bodies.is_empty() {
            properties.push(texts("bodies", record, Field::Body, raw.bodies)?);
        }
        for (key, level, attrs) in [
            (
                "resource_attributes",
                Level::Resource,
                raw.resource_attributes,
            ),
            ("record_attributes", record, raw.record_attributes),
        ] {
            for (i, a) in attrs.into_iter().enumerate() {
                let p = path(level, Field::Attributes, Some(&a.key));
                properties.push(match a.value {
                    None => Property::Present(p),
                    Some(v) => Property::AnyOf(
                        p,
                        vec![pattern(format!("{key}::{i}::value"), yaml_value(&v))?],
                    ),
                });
            }
        }
        let severity_min = raw
            .severity_number
            .map(|s| {
                let min = match s.min.as_ref().map(yaml_value) {
                    Some(Value::Int(i)) => Some(i),
                    Some(Value::Str(name)) => {
                        enum_value(&format!("SEVERITY_NUMBER_{}", name.to_uppercase()))
                    }
                    _ => None,
                };
                min.map(|m| (m, s.match_undefined)).ok_or_else(|| {
                    ComponentConfigError::new(
                        "severity_number::min",
                        "needs a severity such as INFO, WARN2 or a number from 1 to 24",
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            properties,
            severity_min,
        })
    }

    pub(crate) fn matches(&self, r: &dyn Record) -> bool {
        let properties = self.properties.iter().all(|p| match p {
            Property::AnyOf(path, patterns) => {
                let v = r.get(path);
                patterns.iter().any(|p| p.matches(&v))
            }
            Property::Present(path) => r.get(path) != Value::Nil,
        });
        properties
            && self.severity_min.is_none_or(|(min, match_undefined)| {
                match r.get(&path(Level::Log, Field::SeverityNumber, None)) {
                    Value::Int(0) => match_undefined,
                    Value::Int(n) => n >= min,
                    _ => match_undefined,
                }
            })
    }
}
