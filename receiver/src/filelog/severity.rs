//! Severity mapping as the Collector's stanza does it: the default mapping (`trace` .. `fatal4`
//! and common words such as `warning`, `err`, `critical`) plus the user's `mapping`, whose keys
//! are severity names and whose values are a word, a number, a list of them, or a
//! `{min, max}` range of numbers (HTTP status codes). Words match regardless of case.

use std::collections::HashMap;

use serde_json::Value;

/// The OTLP SeverityNumber of each stanza severity name.
const LEVELS: &[(&str, i32)] = &[
    ("trace", 1),
    ("trace2", 2),
    ("trace3", 3),
    ("trace4", 4),
    ("debug", 5),
    ("debug2", 6),
    ("debug3", 7),
    ("debug4", 8),
    ("info", 9),
    ("info2", 10),
    ("info3", 11),
    ("info4", 12),
    ("warn", 13),
    ("warn2", 14),
    ("warn3", 15),
    ("warn4", 16),
    ("error", 17),
    ("error2", 18),
    ("error3", 19),
    ("error4", 20),
    ("fatal", 21),
    ("fatal2", 22),
    ("fatal3", 23),
    ("fatal4", 24),
];

/// Words the default mapping knows beyond the level names themselves.
const DEFAULT_ALIASES: &[(&str, i32)] = &[
    ("warning", 13),
    ("err", 17),
    ("critical", 21),
    ("crit", 21),
    ("emergency", 21),
    ("panic", 21),
    ("information", 9),
    ("notice", 10),
    ("dbg", 5),
    ("fine", 5),
    ("finest", 1),
    ("severe", 17),
];

/// A compiled mapping from values to SeverityNumbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityMapping {
    words: HashMap<String, i32>,
    ranges: Vec<(i64, i64, i32)>,
}

impl SeverityMapping {
    /// The default mapping with `custom` (the YAML `mapping`) on top.
    pub fn compile(custom: Option<&serde_yaml_ng::Value>) -> Result<Self, String> {
        let mut words: HashMap<String, i32> = LEVELS
            .iter()
            .chain(DEFAULT_ALIASES)
            .map(|(w, n)| (w.to_string(), *n))
            .collect();
        let mut ranges = Vec::new();
        let Some(custom) = custom else {
            return Ok(Self { words, ranges });
        };
        let map = custom
            .as_mapping()
            .ok_or("mapping must be a map from severity names to values")?;
        for (name, values) in map {
            let name = name.as_str().unwrap_or_default().to_ascii_lowercase();
            let number = LEVELS
                .iter()
                .find(|(level, _)| *level == name)
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    format!(
                        "`{name}` is not a severity; use one of {}",
                        LEVELS
                            .iter()
                            .map(|(l, _)| *l)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            let items = match values {
                serde_yaml_ng::Value::Sequence(items) => items.clone(),
                single => vec![single.clone()],
            };
            for item in items {
                match &item {
                    serde_yaml_ng::Value::String(s) => {
                        words.insert(s.to_ascii_lowercase(), number);
                    }
                    serde_yaml_ng::Value::Number(n) => {
                        words.insert(n.to_string(), number);
                    }
                    serde_yaml_ng::Value::Mapping(m) => {
                        let bound = |key: &str| {
                            m.get(key)
                                .and_then(serde_yaml_ng::Value::as_i64)
                                .ok_or_else(|| {
                                    format!("`{name}`: a range needs numbers `min` and `max`")
                                })
                        };
                        ranges.push((bound("min")?, bound("max")?, number));
                    }
                    _ => {
                        return Err(format!(
                            "`{name}`: give a word, a number, a list of them or {{min, max}}"
                        ));
                    }
                }
            }
        }
        Ok(Self { words, ranges })
    }

    /// The SeverityNumber and the text as written, or `None` when the value maps to nothing.
    pub fn map(&self, value: &Value) -> Option<(i32, String)> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if let Some(n) = self.words.get(&text.to_ascii_lowercase()) {
            return Some((*n, text));
        }
        let number = text.trim().parse::<i64>().ok()?;
        self.ranges
            .iter()
            .find(|(min, max, _)| (*min..=*max).contains(&number))
            .map(|(_, _, n)| (*n, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_custom_words_and_ranges() {
        let custom: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("{error: [E, {min: 500, max: 599}], warn: W, info2: 200}")
                .unwrap();
        let m = SeverityMapping::compile(Some(&custom)).unwrap();
        assert_eq!(m.map(&Value::from("ERROR")), Some((17, "ERROR".into())));
        assert_eq!(m.map(&Value::from("Warning")), Some((13, "Warning".into())));
        assert_eq!(m.map(&Value::from("e")), Some((17, "e".into())));
        assert_eq!(m.map(&Value::from(503)), Some((17, "503".into())));
        assert_eq!(m.map(&Value::from(200)), Some((10, "200".into())));
        assert_eq!(m.map(&Value::from("chatty")), None);
        let bad: serde_yaml_ng::Value = serde_yaml_ng::from_str("{severe: E}").unwrap();
        assert!(
            SeverityMapping::compile(Some(&bad))
                .unwrap_err()
                .contains("fatal4")
        );
    }
}
