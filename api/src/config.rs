//! Turning one component's YAML into its typed config, with errors that name the key path.
//!
//! Each component declares a serde struct with `deny_unknown_fields` and defaults in code;
//! `parse_component_config` deserializes it and reports the path inside the component
//! (`protocols::grpc::endpoint`). The config crate prefixes the component's own path and adds
//! the line number.

use serde::de::DeserializeOwned;

/// An error in one component's configuration. `path` is relative to the component's body,
/// with `::` between keys (empty when it concerns the component as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ComponentConfigError {
    pub path: String,
    pub message: String,
}

impl ComponentConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// This error, seen from one level up (`key::<path>`).
    pub fn within(mut self, key: &str) -> Self {
        self.path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{key}::{}", self.path)
        };
        self
    }
}

/// Deserializes a component's config body. A missing or empty body (`debug:`) means "all
/// defaults", as in the Collector.
pub fn parse_component_config<T: DeserializeOwned + Default>(
    value: &serde_yaml_ng::Value,
) -> Result<T, ComponentConfigError> {
    if value.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                // List items read `rules::0`, the same form the config crate uses for lines.
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Unknown => None,
                other => Some(other.to_string()),
            })
            .collect::<Vec<_>>()
            .join("::");
        ComponentConfigError::new(path, e.into_inner().to_string())
    })
}

/// Serde helpers for the value shapes configs share.
pub mod de {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    /// A map of text values (attributes, headers, matches) that also takes YAML numbers and
    /// booleans as their text, so `broker.id: 1` and `broker.id: ${env:BROKER_ID}` (which takes
    /// the variable's YAML type) both mean "1". A number is read as YAML reads it first:
    /// `1.10` is "1.1" and `0x1F` is "31"; quote it to keep it as written.
    pub fn text_map<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
        use serde_yaml_ng::Value;
        let raw = std::collections::BTreeMap::<String, Value>::deserialize(d)?;
        raw.into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        let shape = match other {
                            Value::Null => "nothing",
                            Value::Sequence(_) => "a list",
                            Value::Mapping(_) => "a map",
                            _ => "a tagged value",
                        };
                        return Err(D::Error::custom(format!(
                            "`{key}` is {shape}; give it a text, number or boolean value"
                        )));
                    }
                };
                Ok((key, text))
            })
            .collect()
    }

    /// A duration with units, as the Collector writes them: `10s`, `250ms`, `1m30s`, `1h`.
    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let raw = RawDuration::deserialize(d)?;
        raw.parse().map_err(D::Error::custom)
    }

    /// An optional duration (absent or null is `None`).
    pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let raw = Option::<RawDuration>::deserialize(d)?;
        raw.map(|r| r.parse().map_err(D::Error::custom)).transpose()
    }

    /// A bare number is accepted by serde so the error can say which unit was probably meant.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum RawDuration {
        Text(String),
        Number(f64),
    }

    impl RawDuration {
        fn parse(self) -> Result<Duration, String> {
            match self {
                Self::Text(s) => parse_duration(&s),
                Self::Number(0.0) => Ok(Duration::ZERO),
                Self::Number(n) => Err(format!(
                    "invalid duration {n}: a duration needs a unit, such as {n}ms or {n}s (also 10s, 1m30s, 2h)"
                )),
            }
        }
    }

    pub fn parse_duration(s: &str) -> Result<Duration, String> {
        let t = s.trim();
        if t == "0" {
            return Ok(Duration::ZERO);
        }
        humantime::parse_duration(t).map_err(|_| {
            format!("invalid duration {s:?}: write a number with a unit, such as 10s, 250ms, 1m30s or 2h")
        })
    }

    /// A byte size: a plain number of bytes or a number with a unit (`64MiB`, `512KiB`, `1GB`).
    pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(n),
            Raw::S(s) => parse_byte_size(&s).map_err(D::Error::custom),
        }
    }

    pub fn parse_byte_size(s: &str) -> Result<u64, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let err = || {
            format!(
                "invalid size {s:?}: write bytes or a number with a unit, such as 512KiB, 64MiB or 1GB"
            )
        };
        let n: f64 = num.parse().map_err(|_| err())?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(err()),
        };
        Ok((n * mult as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::time::Duration;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        #[serde(deserialize_with = "de::duration")]
        timeout: Duration,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        inner: Inner,
        size: u32,
    }

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Attrs {
        #[serde(deserialize_with = "de::text_map")]
        attributes: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn text_maps_take_numbers_and_booleans_as_their_text() {
        let c: Attrs = parse_component_config(&yaml(
            "attributes: {broker.id: 1, ratio: 0.5, on: true, name: orders}",
        ))
        .unwrap();
        let got: Vec<(&str, &str)> = c
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("broker.id", "1"),
                ("name", "orders"),
                ("on", "true"),
                ("ratio", "0.5")
            ]
        );
        let e = parse_component_config::<Attrs>(&yaml("attributes: {a: [1]}")).unwrap_err();
        assert_eq!(e.path, "attributes");
        assert!(e.message.contains("`a` is a list"), "{e}");
        let e = parse_component_config::<Attrs>(&yaml("attributes: {a: }")).unwrap_err();
        assert!(e.message.contains("`a` is nothing"), "{e}");
    }

    #[test]
    fn null_body_means_defaults() {
        let c: Cfg = parse_component_config(&serde_yaml_ng::Value::Null).unwrap();
        assert_eq!(c, Cfg::default());
    }

    #[test]
    fn errors_name_the_nested_path() {
        let e = parse_component_config::<Cfg>(&yaml("inner: {timeout: fast}")).unwrap_err();
        assert_eq!(e.path, "inner::timeout");
        assert!(e.message.contains("10s"), "{}", e.message);
        let e = parse_component_config::<Cfg>(&yaml("inner: {tmeout: 1s}")).unwrap_err();
        assert!(
            e.message.contains("unknown field `tmeout`"),
            "{}",
            e.message
        );
        assert_eq!(e.within("otlp").path, "otlp::inner::tmeout");
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Listed {
        items: Vec<Inner>,
    }

    #[test]
    fn list_items_are_plain_indexes() {
        let e = parse_component_config::<Listed>(&yaml("items: [{timeout: 1s}, {timeout: x}]"))
            .unwrap_err();
        assert_eq!(e.path, "items::1::timeout");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(de::parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(de::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(de::parse_duration("10").is_err());
        assert_eq!(de::parse_byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(de::parse_byte_size("1000"), Ok(1000));
        assert!(de::parse_byte_size("12 parsecs").is_err());
    }
}
