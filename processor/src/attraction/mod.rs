//! The attribute action engine the `resource` and `attributes` processors share (the
//! Collector's `attraction` package): a list of `actions`, each checked and compiled once at
//! build (regexes included), then applied in order to one attribute list at a time.
//!
//! Actions and their meaning are the Collector's: `insert` (only when the key is absent),
//! `update` (only when present), `upsert` (both), each taking `value` or `from_attribute`;
//! `delete` and `hash` on `key` and/or every key matching `pattern`; `extract` (the regex
//! `pattern`'s named groups from the string value of `key` become attributes); `convert`
//! (`converted_type: int|double|string`). `hash` writes the lowercase hex SHA-256 of the value's
//! bytes, as the Collector does since 2023 (SHA-1 before): a string's UTF-8, an int's or
//! double's 8 little-endian bytes, a bool as one byte 1/0; lists and maps are left alone.
//!
//! `from_context` (values from the request's client metadata) is refused at validation: our
//! parcels do not carry the sender's metadata.

mod value;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use kafka_obs_api::ComponentConfigError;

pub(crate) use self::value::{as_text, from_yaml};

/// One action as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub value: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub from_attribute: Option<String>,
    #[serde(default)]
    pub from_context: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub converted_type: Option<String>,
}

/// Where `insert`, `update` and `upsert` take the new value from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Value(AnyValue),
    FromAttribute(String),
}

/// The type `convert` turns a value into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvertTo {
    Int,
    Double,
    String,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete,
    Hash,
    /// Each named group that matched becomes an attribute.
    Extract(Regex),
    Convert(ConvertTo),
}

/// One compiled action.
#[derive(Debug, Clone)]
struct Action {
    /// Empty only for `delete`/`hash` by `pattern` alone.
    key: Option<String>,
    /// `delete`/`hash`: the keys to act on besides `key`.
    key_pattern: Option<Regex>,
    op: Op,
}

/// A compiled, validated list of actions, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    actions: Vec<Action>,
}

/// The action names the Collector accepts, for errors.
const ACTION_NAMES: &str = "insert, update, upsert, delete, hash, extract, convert";

fn err(index: usize, key: &str, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(key, message).within(&index.to_string())
}

fn compile(index: usize, key: &str, pattern: &str) -> Result<Regex, ComponentConfigError> {
    Regex::new(pattern).map_err(|e| {
        err(
            index,
            key,
            format!("{pattern:?} is not a valid regular expression: {e}"),
        )
    })
}

impl Actions {
    /// Checks and compiles `raw`; error paths are `<index>::<key>` (the caller adds `actions`).
    pub fn compile(raw: &[RawAction]) -> Result<Self, ComponentConfigError> {
        let actions = raw
            .iter()
            .enumerate()
            .map(|(i, a)| Self::compile_one(i, a))
            .collect::<Result<_, _>>()?;
        Ok(Self { actions })
    }

    fn compile_one(i: usize, raw: &RawAction) -> Result<Action, ComponentConfigError> {
        let Some(name) = raw.action.as_deref() else {
            return Err(err(
                i,
                "action",
                format!("missing; set one of {ACTION_NAMES}"),
            ));
        };
        if raw.from_context.is_some() {
            return Err(err(
                i,
                "from_context",
                "not supported: kafka-obs does not carry the sender's client metadata with the data; \
                 use `value` or `from_attribute`",
            ));
        }
        let key = raw.key.clone().filter(|k| !k.is_empty());
        let needs_key = |what: &str| {
            key.clone().ok_or_else(|| {
                err(
                    i,
                    "key",
                    format!("`{name}` needs the `key` {what}; set `key`"),
                )
            })
        };
        let no_extra = |fields: &[(&str, bool)]| -> Result<(), ComponentConfigError> {
            for (field, set) in fields {
                if *set {
                    return Err(err(
                        i,
                        field,
                        format!("`{name}` does not use `{field}`; remove it"),
                    ));
                }
            }
            Ok(())
        };
        let value_set = raw.value.is_some();
        let from_set = raw.from_attribute.is_some();
        let pattern_set = raw.pattern.is_some();
        let convert_set = raw.converted_type.is_some();
        let op = match name {
            "insert" | "update" | "upsert" => {
                needs_key("to write")?;
                no_extra(&[("pattern", pattern_set), ("converted_type", convert_set)])?;
                let source = match (&raw.value, &raw.from_attribute) {
                    (Some(v), None) => Source::Value(from_yaml(v).map_err(|m| err(i, "value", m))?),
                    (None, Some(from)) => Source::FromAttribute(from.clone()),
                    _ => {
                        return Err(err(
                            i,
                            "value",
                            format!("`{name}` needs exactly one of `value` or `from_attribute`"),
                        ));
                    }
                };
                match name {
                    "insert" => Op::Insert(source),
                    "update" => Op::Update(source),
                    _ => Op::Upsert(source),
                }
            }
            "delete" | "hash" => {
                no_extra(&[
                    ("value", value_set),
                    ("from_attribute", from_set),
                    ("converted_type", convert_set),
                ])?;
                if key.is_none() && !pattern_set {
                    return Err(err(
                        i,
                        "key",
                        format!("`{name}` needs `key`, `pattern` or both"),
                    ));
                }
                if name == "delete" {
                    Op::Delete
                } else {
                    Op::Hash
                }
            }
            "extract" => {
                needs_key("whose string value the pattern reads")?;
                no_extra(&[
                    ("value", value_set),
                    ("from_attribute", from_set),
                    ("converted_type", convert_set),
                ])?;
                let Some(pattern) = raw.pattern.as_deref() else {
                    return Err(err(
                        i,
                        "pattern",
                        "`extract` needs a `pattern` with named groups, like '^/api/(?P<version>v\\d+)/'",
                    ));
                };
                let regex = compile(i, "pattern", pattern)?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(err(
                        i,
                        "pattern",
                        format!(
                            "{pattern:?} has no named group (?P<name>...); each named group becomes an attribute"
                        ),
                    ));
                }
                Op::Extract(regex)
            }
            "convert" => {
                needs_key("to convert")?;
                no_extra(&[
                    ("value", value_set),
                    ("from_attribute", from_set),
                    ("pattern", pattern_set),
                ])?;
                let to = match raw.converted_type.as_deref() {
                    Some("int") => ConvertTo::Int,
                    Some("double") => ConvertTo::Double,
                    Some("string") => ConvertTo::String,
                    Some(other) => {
                        return Err(err(
                            i,
                            "converted_type",
                            format!("{other:?} is not a type; use int, double or string"),
                        ));
                    }
                    None => {
                        return Err(err(
                            i,
                            "converted_type",
                            "`convert` needs `converted_type`: int, double or string",
                        ));
                    }
                };
                Op::Convert(to)
            }
            other => {
                return Err(err(
                    i,
                    "action",
                    format!("{other:?} is not an action; use one of {ACTION_NAMES}"),
                ));
            }
        };
        let key_pattern = match (&op, raw.pattern.as_deref()) {
            (Op::Delete | Op::Hash, Some(p)) => Some(compile(i, "pattern", p)?),
            _ => None,
        };
        Ok(Action {
            key,
            key_pattern,
            op,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Applies every action, in order, to one attribute list.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>) {
        for action in &self.actions {
            action.apply(attrs);
        }
    }
}

fn position(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match position(attrs, key) {
        Some(i) => attrs[i].value = Some(value),
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: Some(value),
            ..Default::default()
        }),
    }
}

impl Action {
    fn apply(&self, attrs: &mut Vec<KeyValue>) {
        let key = self.key.as_deref().unwrap_or_default();
        match &self.op {
            Op::Insert(source) => {
                if position(attrs, key).is_none()
                    && let Some(v) = resolve(source, attrs)
                {
                    set(attrs, key, v);
                }
            }
            Op::Update(source) => {
                if let Some(i) = position(attrs, key)
                    && let Some(v) = resolve(source, attrs)
                {
                    attrs[i].value = Some(v);
                }
            }
            Op::Upsert(source) => {
                if let Some(v) = resolve(source, attrs) {
                    set(attrs, key, v);
                }
            }
            Op::Delete => attrs.retain(|kv| !self.selects(&kv.key)),
            Op::Hash => {
                for kv in attrs.iter_mut().filter(|kv| self.selects(&kv.key)) {
                    if let Some(hashed) = kv.value.as_ref().and_then(sha256_hex) {
                        kv.value = Some(string_value(hashed));
                    }
                }
            }
            Op::Extract(regex) => {
                let Some(text) = position(attrs, key).and_then(|i| {
                    match attrs[i].value.as_ref()?.value.as_ref()? {
                        any_value::Value::StringValue(s) => Some(s.clone()),
                        _ => None,
                    }
                }) else {
                    return;
                };
                let Some(caps) = regex.captures(&text) else {
                    return;
                };
                for name in regex.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        set(attrs, name, string_value(m.as_str().to_string()));
                    }
                }
            }
            Op::Convert(to) => {
                if let Some(i) = position(attrs, key)
                    && let Some(converted) = attrs[i].value.as_ref().and_then(|v| convert(v, *to))
                {
                    attrs[i].value = Some(converted);
                }
            }
        }
    }

    /// `delete`/`hash`: whether `name` is the action's key or matches its pattern.
    fn selects(&self, name: &str) -> bool {
        self.key.as_deref() == Some(name)
            || self.key_pattern.as_ref().is_some_and(|p| p.is_match(name))
    }
}

fn resolve(source: &Source, attrs: &[KeyValue]) -> Option<AnyValue> {
    match source {
        Source::Value(v) => Some(v.clone()),
        Source::FromAttribute(from) => attrs[position(attrs, from)?].value.clone(),
    }
}

fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// The Collector's `hash`: SHA-256 of the value's bytes, lowercase hex; `None` for lists,
/// maps, bytes and empty values, which stay as they are.
fn sha256_hex(value: &AnyValue) -> Option<String> {
    let mut hasher = Sha256::new();
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => hasher.update(s.as_bytes()),
        any_value::Value::BoolValue(b) => hasher.update([u8::from(*b)]),
        any_value::Value::IntValue(n) => hasher.update(n.to_le_bytes()),
        any_value::Value::DoubleValue(d) => hasher.update(d.to_bits().to_le_bytes()),
        _ => return None,
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The Collector's `convert`: a value that does not parse stays as it is.
fn convert(value: &AnyValue, to: ConvertTo) -> Option<AnyValue> {
    use any_value::Value as V;
    let v = value.value.as_ref()?;
    let out = match (to, v) {
        (ConvertTo::Int, V::IntValue(_))
        | (ConvertTo::Double, V::DoubleValue(_))
        | (ConvertTo::String, V::StringValue(_)) => return None,
        (ConvertTo::Int, V::StringValue(s)) => V::IntValue(s.trim().parse().ok()?),
        (ConvertTo::Int, V::DoubleValue(d)) => V::IntValue(d.trunc() as i64),
        (ConvertTo::Int, V::BoolValue(b)) => V::IntValue(i64::from(*b)),
        (ConvertTo::Double, V::StringValue(s)) => V::DoubleValue(s.trim().parse().ok()?),
        (ConvertTo::Double, V::IntValue(n)) => V::DoubleValue(*n as f64),
        (ConvertTo::Double, V::BoolValue(b)) => V::DoubleValue(if *b { 1.0 } else { 0.0 }),
        (ConvertTo::String, other) => V::StringValue(as_text(&AnyValue {
            value: Some(other.clone()),
        })),
        _ => return None,
    };
    Some(AnyValue { value: Some(out) })
}

#[cfg(test)]
mod tests;
