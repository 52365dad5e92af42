//! The operators a `filelog` receiver runs on each entry, in order, as the Collector's stanza
//! spells them: `regex_parser`, `json_parser`, `severity_parser`, `time_parser`, `move`, `add`,
//! `remove`. The parsers take optional `timestamp` and `severity` blocks. A failing operator
//! follows its `on_error`: `send` (default) passes the entry on as it is, `drop` drops it;
//! the `_quiet` variants log at debug level instead of warn.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use kafka_obs_api::ComponentConfigError;

use super::entry::{Body, Entry, Field};
use super::severity::SeverityMapping;
use super::timestamp::Layout;

/// The `type`s we run; an unknown one is a config error listing these.
pub const SUPPORTED: &[&str] = &[
    "regex_parser",
    "json_parser",
    "severity_parser",
    "time_parser",
    "move",
    "add",
    "remove",
];

#[derive(Debug, Clone)]
pub struct Operator {
    /// `id` or the type, for logs.
    pub name: String,
    kind: Kind,
    on_error: OnError,
}

#[derive(Debug, Clone)]
enum Kind {
    Regex { regex: Regex, parse: ParseTo },
    Json { parse: ParseTo },
    Severity(SeverityStep),
    Time(TimeStep),
    Move { from: Field, to: Field },
    Add { field: Field, value: Value },
    Remove { field: Field },
}

/// What a parser reads, where it writes, and its optional sub-blocks.
#[derive(Debug, Clone)]
struct ParseTo {
    from: Field,
    to: Field,
    timestamp: Option<TimeStep>,
    severity: Option<SeverityStep>,
}

#[derive(Debug, Clone)]
struct TimeStep {
    from: Field,
    layout: Layout,
}

#[derive(Debug, Clone)]
struct SeverityStep {
    from: Field,
    mapping: SeverityMapping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnError {
    Send,
    SendQuiet,
    Drop,
    DropQuiet,
}

/// What became of an entry.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Keep(Entry),
    Dropped,
}

// Raw shapes, one per type; `type`, `id` and `on_error` are read by each so deny_unknown_fields
// catches a misspelled key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParser {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    parse_from: Option<String>,
    #[serde(default)]
    parse_to: Option<String>,
    #[serde(default)]
    timestamp: Option<RawTime>,
    #[serde(default)]
    severity: Option<RawSeverity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    #[serde(default, rename = "type")]
    _type: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    #[serde(default)]
    parse_from: Option<String>,
    #[serde(default)]
    layout_type: Option<String>,
    layout: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeverity {
    #[serde(default, rename = "type")]
    _type: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    #[serde(default)]
    parse_from: Option<String>,
    #[serde(default)]
    mapping: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMove {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdd {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    field: String,
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemove {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    on_error: Option<String>,
    field: String,
}

fn read<T: for<'de> Deserialize<'de>>(
    raw: &serde_yaml_ng::Value,
) -> Result<T, ComponentConfigError> {
    serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let path = e.path().to_string().replace('.', "::");
        let path = if path == "::" { String::new() } else { path };
        ComponentConfigError::new(path, e.into_inner().to_string())
    })
}

fn field(key: &str, text: Option<&str>, default: Field) -> Result<Field, ComponentConfigError> {
    text.map(Field::parse)
        .transpose()
        .map(|f| f.unwrap_or(default))
        .map_err(|m| ComponentConfigError::new(key, m))
}

fn on_error(text: Option<&str>) -> Result<OnError, ComponentConfigError> {
    match text.unwrap_or("send") {
        "send" => Ok(OnError::Send),
        "send_quiet" => Ok(OnError::SendQuiet),
        "drop" => Ok(OnError::Drop),
        "drop_quiet" => Ok(OnError::DropQuiet),
        other => Err(ComponentConfigError::new(
            "on_error",
            format!("`{other}` is not supported; use send, send_quiet, drop or drop_quiet"),
        )),
    }
}

fn time_step(raw: &RawTime) -> Result<TimeStep, ComponentConfigError> {
    Ok(TimeStep {
        from: field("parse_from", raw.parse_from.as_deref(), Field::body())?,
        layout: Layout::compile(raw.layout_type.as_deref(), &raw.layout).map_err(|m| {
            let key = if m.starts_with("layout_type") {
                "layout_type"
            } else {
                "layout"
            };
            ComponentConfigError::new(key, m)
        })?,
    })
}

fn severity_step(raw: &RawSeverity) -> Result<SeverityStep, ComponentConfigError> {
    Ok(SeverityStep {
        from: field("parse_from", raw.parse_from.as_deref(), Field::body())?,
        mapping: SeverityMapping::compile(raw.mapping.as_ref())
            .map_err(|m| ComponentConfigError::new("mapping", m))?,
    })
}

fn parse_to(raw: &RawParser) -> Result<ParseTo, ComponentConfigError> {
    Ok(ParseTo {
        from: field("parse_from", raw.parse_from.as_deref(), Field::body())?,
        to: field("parse_to", raw.parse_to.as_deref(), Field::attributes())?,
        timestamp: raw
            .timestamp
            .as_ref()
            .map(|t| time_step(t).map_err(|e| e.within("timestamp")))
            .transpose()?,
        severity: raw
            .severity
            .as_ref()
            .map(|s| severity_step(s).map_err(|e| e.within("severity")))
            .transpose()?,
    })
}

impl Operator {
    /// Reads one item of `operators` (errors relative to the item).
    pub fn parse(raw: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let type_name = raw
            .get("type")
            .and_then(serde_yaml_ng::Value::as_str)
            .ok_or_else(|| {
                ComponentConfigError::new(
                    "type",
                    format!(
                        "every operator needs a `type`; supported: {}",
                        SUPPORTED.join(", ")
                    ),
                )
            })?;
        let (id, on_error_text, kind) = match type_name {
            "regex_parser" => {
                let r: RawParser = read(raw)?;
                let text = r.regex.as_deref().ok_or_else(|| {
                    ComponentConfigError::new(
                        "regex",
                        "is required: a pattern with named captures, e.g. '^(?P<level>\\w+) (?P<msg>.*)$'",
                    )
                })?;
                let regex = Regex::new(text).map_err(|e| {
                    ComponentConfigError::new(
                        "regex",
                        format!("`{text}` is not a regular expression: {e}"),
                    )
                })?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(ComponentConfigError::new(
                        "regex",
                        "has no named capture; name what it extracts with (?P<name>...)",
                    ));
                }
                (
                    r.id.clone(),
                    r.on_error.clone(),
                    Kind::Regex {
                        regex,
                        parse: parse_to(&r)?,
                    },
                )
            }
            "json_parser" => {
                let r: RawParser = read(raw)?;
                if r.regex.is_some() {
                    return Err(ComponentConfigError::new("regex", "is a regex_parser key"));
                }
                (
                    r.id.clone(),
                    r.on_error.clone(),
                    Kind::Json {
                        parse: parse_to(&r)?,
                    },
                )
            }
            "severity_parser" => {
                let r: RawSeverity = read(raw)?;
                (
                    r.id.clone(),
                    r.on_error.clone(),
                    Kind::Severity(severity_step(&r)?),
                )
            }
            "time_parser" => {
                let r: RawTime = read(raw)?;
                (r.id.clone(), r.on_error.clone(), Kind::Time(time_step(&r)?))
            }
            "move" => {
                let r: RawMove = read(raw)?;
                let kind = Kind::Move {
                    from: field("from", Some(&r.from), Field::body())?,
                    to: field("to", Some(&r.to), Field::body())?,
                };
                (r.id, r.on_error, kind)
            }
            "add" => {
                let r: RawAdd = read(raw)?;
                let kind = Kind::Add {
                    field: field("field", Some(&r.field), Field::body())?,
                    value: r.value,
                };
                (r.id, r.on_error, kind)
            }
            "remove" => {
                let r: RawRemove = read(raw)?;
                let kind = Kind::Remove {
                    field: field("field", Some(&r.field), Field::body())?,
                };
                (r.id, r.on_error, kind)
            }
            other => {
                return Err(ComponentConfigError::new(
                    "type",
                    format!(
                        "operator type `{other}` is not supported; supported: {}",
                        SUPPORTED.join(", ")
                    ),
                ));
            }
        };
        Ok(Self {
            name: id.unwrap_or_else(|| type_name.to_string()),
            kind,
            on_error: on_error(on_error_text.as_deref())?,
        })
    }

    /// Runs this operator on `entry`.
    pub fn apply(&self, mut entry: Entry) -> Outcome {
        match self.kind.apply(&mut entry) {
            Ok(()) => Outcome::Keep(entry),
            Err(reason) => {
                match self.on_error {
                    OnError::Send | OnError::Drop => {
                        tracing::warn!(operator = %self.name, reason = %reason, "operator failed on an entry")
                    }
                    OnError::SendQuiet | OnError::DropQuiet => {
                        tracing::debug!(operator = %self.name, reason = %reason, "operator failed on an entry")
                    }
                }
                match self.on_error {
                    OnError::Send | OnError::SendQuiet => Outcome::Keep(entry),
                    OnError::Drop | OnError::DropQuiet => Outcome::Dropped,
                }
            }
        }
    }
}

/// Runs `operators` in order; `None` when one dropped the entry.
pub fn run_all(operators: &[Operator], entry: Entry) -> Option<Entry> {
    let mut entry = entry;
    for op in operators {
        match op.apply(entry) {
            Outcome::Keep(e) => entry = e,
            Outcome::Dropped => return None,
        }
    }
    Some(entry)
}

fn text_at<'a>(entry: &'a Entry, from: &Field) -> Result<&'a str, String> {
    match entry.get(from) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("the field to parse is not text: {other}")),
        None if matches!(entry.body, Body::Bytes(_)) => {
            Err("the body is bytes (encoding: nop); parsers need text".into())
        }
        None => Err("the field to parse is missing".into()),
    }
}

impl Kind {
    fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        match self {
            Self::Regex { regex, parse } => {
                let text = text_at(entry, &parse.from)?;
                let caps = regex
                    .captures(text)
                    .ok_or_else(|| format!("regex pattern does not match `{}`", preview(text)))?;
                let mut parsed = Map::new();
                for name in regex.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        parsed.insert(name.to_string(), Value::String(m.as_str().to_string()));
                    }
                }
                parse.finish(entry, parsed)
            }
            Self::Json { parse } => {
                let text = text_at(entry, &parse.from)?;
                let parsed = match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(m)) => m,
                    Ok(_) => return Err("JSON is not an object".into()),
                    Err(e) => return Err(format!("not JSON ({e}): `{}`", preview(text))),
                };
                parse.finish(entry, parsed)
            }
            Self::Severity(step) => step.apply(entry),
            Self::Time(step) => step.apply(entry),
            Self::Move { from, to } => {
                let value = entry.remove(from).ok_or("the field to move is missing")?;
                entry.set(to, value);
                Ok(())
            }
            Self::Add { field, value } => {
                entry.set(field, value.clone());
                Ok(())
            }
            Self::Remove { field } => {
                entry
                    .remove(field)
                    .ok_or("the field to remove is missing")?;
                Ok(())
            }
        }
    }
}

impl ParseTo {
    fn finish(&self, entry: &mut Entry, parsed: Map<String, Value>) -> Result<(), String> {
        entry.set(&self.to, Value::Object(parsed));
        if let Some(t) = &self.timestamp {
            t.apply(entry)?;
        }
        if let Some(s) = &self.severity {
            s.apply(entry)?;
        }
        Ok(())
    }
}

impl TimeStep {
    fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = entry
            .get(&self.from)
            .ok_or("the timestamp field is missing")?;
        entry.timestamp = Some(self.layout.parse(value)?);
        Ok(())
    }
}

impl SeverityStep {
    fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = entry
            .get(&self.from)
            .ok_or("the severity field is missing")?;
        let (number, text) = self
            .mapping
            .map(value)
            .ok_or_else(|| format!("severity {value} is in no mapping"))?;
        entry.severity = Some((number, text));
        Ok(())
    }
}

/// The first characters of a failing value, for a log line that stays short.
fn preview(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(yaml: &str) -> Result<Operator, ComponentConfigError> {
        Operator::parse(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn unknown_type_lists_the_supported_ones() {
        let e = op("{type: csv_parser}").unwrap_err();
        assert_eq!(e.path, "type");
        assert!(
            e.message.contains("csv_parser") && e.message.contains("regex_parser, json_parser")
        );
        let e = op("{type: regex_parser, regex: '(?P<a>x)', parse_form: body}").unwrap_err();
        assert!(e.message.contains("parse_form"), "{e}");
        let e = op("{type: regex_parser, regex: '(x)'}").unwrap_err();
        assert!(e.message.contains("named capture"), "{e}");
        let e = op("{type: json_parser, timestamp: {parse_from: attributes.t, layout_type: epoch, layout: hours}}")
            .unwrap_err();
        assert_eq!(e.path, "timestamp::layout");
    }

    #[test]
    fn regex_parser_with_timestamp_and_severity() {
        let o = op(
            r"{type: regex_parser, regex: '^(?P<time>\S+ \S+) (?P<sev>\w+) (?P<msg>.*)$',
            timestamp: {parse_from: attributes.time, layout: '%Y-%m-%d %H:%M:%S.%L'},
            severity: {parse_from: attributes.sev}}",
        )
        .unwrap();
        let Outcome::Keep(e) = o.apply(Entry::text("2025-12-08 01:34:56.123 WARN disk low".into()))
        else {
            panic!("dropped")
        };
        assert_eq!(e.attributes["msg"], "disk low");
        assert_eq!(e.timestamp, Some(1_765_157_696_123_000_000));
        assert_eq!(e.severity, Some((13, "WARN".into())));
        // No match: sent on unchanged (on_error: send).
        let Outcome::Keep(e) = o.apply(Entry::text("garbage".into())) else {
            panic!()
        };
        assert!(e.attributes.is_empty());
    }

    #[test]
    fn json_parser_drop_on_error_and_field_ops() {
        let o = op("{type: json_parser, on_error: drop, severity: {parse_from: attributes.level, mapping: {error: E}}}").unwrap();
        let Outcome::Keep(e) = o.apply(Entry::text(r#"{"level":"E","n":3}"#.into())) else {
            panic!()
        };
        assert_eq!(e.severity, Some((17, "E".into())));
        assert_eq!(e.attributes["n"], 3);
        assert_eq!(o.apply(Entry::text("{oops".into())), Outcome::Dropped);
        let ops = vec![
            op("{type: move, from: attributes.n, to: attributes.count}").unwrap(),
            op("{type: add, field: resource.service, value: orders}").unwrap(),
            op("{type: remove, field: attributes.level}").unwrap(),
        ];
        let e = run_all(&ops, e).unwrap();
        assert_eq!(e.attributes.get("count"), Some(&Value::from(3)));
        assert!(!e.attributes.contains_key("level") && !e.attributes.contains_key("n"));
        assert_eq!(e.resource["service"], "orders");
    }
}
