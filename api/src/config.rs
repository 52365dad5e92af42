//! Turning one component's YAML into its typed config, with errors that name the key path.
//!
//! Each component declares a serde struct with `deny_unknown_fields` and defaults in code;
//! `parse_component_config` deserializes it and reports the path inside the component
//! (`protocols::grpc::endpoint`). The config crate prefixes the component's own path and adds
//! the line number.
//!
//! Serde stops at the first error; a user fixing a file wants them all. So after an error the
//! offending key is taken out of a working copy and the body is read again, until it reads
//! or an error cannot be taken out (see [`parse_component_config`]). Serde's messages are put
//! in plain words ([`plain_words`]): a user never sees `u16` or `Value::Tagged`.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

/// An error in one component's configuration. `path` is relative to the component's body,
/// with `::` between keys (empty when it concerns the component as a whole). `also` holds the
/// further errors found in the same body, each with its own path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ComponentConfigError {
    pub path: String,
    pub message: String,
    pub also: Vec<ComponentConfigError>,
}

impl ComponentConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            also: Vec::new(),
        }
    }

    /// This error, seen from one level up (`key::<path>`), the further ones too.
    pub fn within(mut self, key: &str) -> Self {
        self.path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{key}::{}", self.path)
        };
        self.also = self.also.into_iter().map(|e| e.within(key)).collect();
        self
    }

    /// This error and the further ones, each on its own (`also` left empty).
    pub fn into_all(mut self) -> Vec<ComponentConfigError> {
        let also = std::mem::take(&mut self.also);
        std::iter::once(self)
            .chain(also.into_iter().flat_map(Self::into_all))
            .collect()
    }

    /// The first of `errors` carrying the rest; `None` when there are none.
    pub fn from_all(errors: Vec<ComponentConfigError>) -> Option<Self> {
        let mut all = errors.into_iter().flat_map(Self::into_all);
        let mut first = all.next()?;
        first.also = all.collect();
        Some(first)
    }
}

/// At most this many errors are collected from one body; past that the first ones are enough.
const MAX_ERRORS_PER_BODY: usize = 64;

/// Deserializes a component's config body. A missing or empty body (`debug:`) means "all
/// defaults", as in the Collector.
///
/// Every independent mistake is reported: after an error at `a::b`, `b` is removed from a
/// working copy of the body and the body is read again. A key removed that way and then
/// missing is not reported again, and an error that cannot be removed (a list item, the
/// body as a whole) ends the search. Only the errors are taken from these re-reads; the
/// config is returned only when the body as written reads cleanly.
pub fn parse_component_config<T: DeserializeOwned + Default>(
    value: &Value,
) -> Result<T, ComponentConfigError> {
    if value.is_null() {
        return Ok(T::default());
    }
    // The common case, a body that reads, costs one copy; the re-reads only follow an error.
    let first = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    let mut errors: Vec<ComponentConfigError> = Vec::new();
    let mut removed: Vec<Vec<String>> = Vec::new();
    let mut work = value.clone();
    let mut next = Some(first);
    loop {
        let outcome = match next.take() {
            Some(e) => Err(e),
            None => serde_path_to_error::deserialize::<_, T>(work.clone()),
        };
        let e = match outcome {
            Ok(config) if errors.is_empty() => return Ok(config),
            Ok(_) => break,
            Err(e) => e,
        };
        let shown_path = display_path(e.path());
        let keys = error_keys(e.path());
        let message = e.into_inner().to_string();
        let at: Vec<String> = if shown_path.is_empty() {
            Vec::new()
        } else {
            shown_path.split("::").map(str::to_string).collect()
        };
        if let Some(field) = missing_field(&message) {
            let mut full = at.clone();
            full.push(field.to_string());
            if removed.contains(&full) {
                break; // we took it out ourselves; its own error is already reported
            }
        } else if removed
            .iter()
            .any(|r| r.len() > at.len() && r.starts_with(&at))
        {
            // About a map we took a key out of: it may be our doing, not the user's.
            break;
        }
        let Some(keys) = keys else {
            errors.push(ComponentConfigError::new(shown_path, plain_words(&message)));
            break;
        };
        errors.push(ComponentConfigError::new(
            keys.join("::"),
            plain_words(&message),
        ));
        if errors.len() >= MAX_ERRORS_PER_BODY || !remove_key(&mut work, &keys) {
            break;
        }
        removed.push(keys);
    }
    Err(ComponentConfigError::from_all(errors)
        .unwrap_or_else(|| ComponentConfigError::new("", "invalid configuration")))
}

/// The path as shown: map keys and list indexes (`rules::0`), `::`-separated.
fn display_path(path: &serde_path_to_error::Path) -> String {
    path.iter()
        .filter_map(|seg| match seg {
            // List items read `rules::0`, the same form the config crate uses for lines.
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Unknown => None,
            other => Some(other.to_string()),
        })
        .collect::<Vec<_>>()
        .join("::")
}

/// The path as keys that can be removed from the body: map keys, then list indexes only
/// above the last key. `None` when it ends in a list item or an enum (nothing to remove
/// without shifting what follows) or is empty.
fn error_keys(path: &serde_path_to_error::Path) -> Option<Vec<String>> {
    use serde_path_to_error::Segment;
    let mut keys = Vec::new();
    for seg in path.iter() {
        match seg {
            Segment::Map { key } => keys.push(key.clone()),
            Segment::Seq { index } => keys.push(index.to_string()),
            Segment::Enum { .. } | Segment::Unknown => return None,
        }
    }
    match path.iter().next_back() {
        Some(Segment::Map { .. }) => Some(keys),
        _ => None,
    }
}

/// Removes the key at `keys` (map keys; list indexes on the way); false when it is not there.
fn remove_key(value: &mut Value, keys: &[String]) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut at = value;
    for k in parents {
        at = match at {
            Value::Mapping(m) => match m.get_mut(k.as_str()) {
                Some(v) => v,
                None => return false,
            },
            Value::Sequence(s) => match k.parse::<usize>().ok().and_then(|i| s.get_mut(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match at {
        // `shift_remove` keeps the order of what follows, so errors stay in written order.
        Value::Mapping(m) => m.shift_remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// The field of serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Serde's wording, with the Rust type names and serde internals replaced by what a user
/// writes in YAML. Messages that carry none pass unchanged.
pub fn plain_words(message: &str) -> String {
    const TYPES: [(&str, &str); 14] = [
        (
            "a Value::Tagged enum",
            "one of its allowed names, written as plain text",
        ),
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a sequence", "a list"),
        ("a boolean", "true or false"),
    ];
    let mut out = message.to_string();
    // "…, expected <what>": only the part after "expected" names a Rust type.
    if let Some(at) = out.rfind("expected ") {
        let (head, tail) = out.split_at(at + "expected ".len());
        let mut tail = tail.to_string();
        if tail.starts_with("struct ") {
            tail = "a map of settings".to_string();
        } else if let Some((_, plain)) = TYPES.iter().find(|(rust, _)| tail == *rust) {
            tail = plain.to_string();
        }
        out = format!("{head}{tail}");
    }
    if out.starts_with("data did not match any variant of untagged enum ") {
        out = "this value has none of the accepted forms; see the component's page for what the key takes".into();
    }
    out = out
        .replace("invalid type: sequence", "invalid type: a list")
        .replace("invalid type: map", "invalid type: a map")
        .replace("invalid type: unit value", "invalid type: an empty value")
        .replace("invalid type: string ", "invalid type: the text ")
        .replace("invalid type: integer ", "invalid type: the number ")
        .replace("invalid type: floating point ", "invalid type: the number ")
        .replace("invalid value: integer ", "invalid value: ")
        .replace("invalid type: boolean ", "invalid type: the boolean ");
    out
}

/// Serde helpers for the value shapes configs share.
pub mod de {
    use std::fmt;
    use std::time::Duration;

    use serde::Deserialize;
    use serde::de::{Deserializer, Error, Visitor};

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

    /// A duration as the Collector reads it (see [`parse_duration`]). A YAML number is only
    /// accepted as `0`: Go's decoder would read `10` as ten nanoseconds, which nobody means.
    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    /// An optional duration (absent or null is `None`).
    pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct Optional;
        impl<'de> Visitor<'de> for Optional {
            type Value = Option<Duration>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTING)
            }
            fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                duration(d).map(Some)
            }
        }
        d.deserialize_option(Optional)
    }

    const EXPECTING: &str = "a duration with a unit, such as 10s, 250ms or 1m30s";

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(EXPECTING)
        }

        fn visit_str<E: Error>(self, s: &str) -> Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }

        fn visit_u64<E: Error>(self, n: u64) -> Result<Duration, E> {
            bare_number(n == 0, &n.to_string())
        }

        fn visit_i64<E: Error>(self, n: i64) -> Result<Duration, E> {
            bare_number(n == 0, &n.to_string())
        }

        fn visit_f64<E: Error>(self, n: f64) -> Result<Duration, E> {
            bare_number(n == 0.0, &n.to_string())
        }
    }

    fn bare_number<E: Error>(zero: bool, n: &str) -> Result<Duration, E> {
        if zero {
            return Ok(Duration::ZERO);
        }
        Err(E::custom(format!(
            "invalid duration {n}: a duration needs a unit, such as {n}s or {n}ms (also 1m30s, 2h)"
        )))
    }

    /// A duration exactly as Go's `time.ParseDuration` (the Collector's parser) reads it, for
    /// the keys where a negative value means nothing (all of ours): `-0s` is zero, any other
    /// negative value is refused.
    pub fn parse_duration(s: &str) -> Result<Duration, String> {
        let nanos = parse_go_duration(s)?;
        u64::try_from(nanos).map(Duration::from_nanos).map_err(|_| {
            format!(
                "invalid duration {s:?}: a negative duration means nothing here; write 0s or more"
            )
        })
    }

    /// Go's `time.ParseDuration`, to signed nanoseconds within Go's range (±2^63-1 ns, about
    /// 292 years): an optional sign, then `0` alone or one or more decimal numbers (`10`,
    /// `1.5`, `.5`, `5.`) each followed by a unit: `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`,
    /// `h`. No spaces, no days. A fraction finer than the unit's nanoseconds is cut off, as in
    /// Go (`1.0000000001s` is 1s). Written from Go's documented grammar; the integration test
    /// `config_errors::durations_agree_with_the_collectors_parser` holds the two side by side.
    pub fn parse_go_duration(text: &str) -> Result<i64, String> {
        // Go keeps its sums in a uint64 and allows up to 2^63 (for the negative end).
        const LIMIT: u64 = 1 << 63;
        let invalid = |why: &str| format!("invalid duration {text:?}: {why}");
        let help = "write a number with a unit, such as 10s, 250ms, 1m30s or 1.5h";
        let too_long = || invalid("longer than the longest duration Go allows (about 292 years)");
        let (negative, mut s) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if s == "0" {
            return Ok(0);
        }
        if s.is_empty() {
            return Err(invalid(help));
        }
        let mut total: u64 = 0;
        while !s.is_empty() {
            if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
                return Err(invalid(help));
            }
            // The whole part: any digits; more than Go's range is an error.
            let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut whole: u64 = 0;
            for c in s[..int_len].bytes() {
                if whole > LIMIT / 10 {
                    return Err(too_long());
                }
                whole = whole * 10 + u64::from(c - b'0');
                if whole > LIMIT {
                    return Err(too_long());
                }
            }
            s = &s[int_len..];
            // The fraction: digits past what fits are read and ignored.
            let (mut fraction, mut scale, mut frac_len) = (0u64, 1.0f64, 0usize);
            if let Some(rest) = s.strip_prefix('.') {
                frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
                let mut full = false;
                for c in rest[..frac_len].bytes() {
                    if full || fraction > (LIMIT - 1) / 10 {
                        full = true;
                        continue;
                    }
                    let next = fraction * 10 + u64::from(c - b'0');
                    if next > LIMIT {
                        full = true;
                        continue;
                    }
                    fraction = next;
                    scale *= 10.0;
                }
                s = &rest[frac_len..];
            }
            if int_len == 0 && frac_len == 0 {
                return Err(invalid(help)); // "." or ".s"
            }
            let unit_len = s
                .bytes()
                .take_while(|c| *c != b'.' && !c.is_ascii_digit())
                .count();
            let (unit, rest) = s.split_at(unit_len);
            s = rest;
            let unit_nanos: u64 = match unit {
                "ns" => 1,
                "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => {
                    return Err(invalid(&format!(
                        "a number needs a unit; {help} (only 0 may go without)"
                    )));
                }
                other => {
                    let days = if matches!(other, "d" | "day" | "days") {
                        " (there is no day unit: write 24h)"
                    } else {
                        ""
                    };
                    return Err(invalid(&format!(
                        "unknown unit {other:?}{days}; the units are ns, us (or µs), ms, s, m and h, written right after the number, as in 10s, 1m30s or 1.5h"
                    )));
                }
            };
            if whole > LIMIT / unit_nanos {
                return Err(too_long());
            }
            let mut value = whole * unit_nanos;
            if fraction > 0 {
                // As Go does it: in floating point, truncated to whole nanoseconds.
                value += (fraction as f64 * (unit_nanos as f64 / scale)) as u64;
                if value > LIMIT {
                    return Err(too_long());
                }
            }
            total = match total.checked_add(value) {
                Some(t) if t <= LIMIT => t,
                _ => return Err(too_long()),
            };
        }
        if negative {
            // -2^63 is Go's smallest duration.
            Ok(0i64.wrapping_sub_unsigned(total))
        } else {
            i64::try_from(total).map_err(|_| too_long())
        }
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
    fn sizes() {
        assert_eq!(de::parse_byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(de::parse_byte_size("1000"), Ok(1000));
        assert!(de::parse_byte_size("12 parsecs").is_err());
    }

    /// Values worked out from Go's rules: units, sequences, decimals, signs, truncation of
    /// what is finer than a nanosecond, and the ±2^63 ns range.
    #[test]
    fn durations_read_as_go_reads_them() {
        let go = de::parse_go_duration;
        for (text, nanos) in [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("0s", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0s", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.00s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{b5}s", 12_000),
            ("12\u{3bc}s", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("2562047h47m16.854775807s", i64::MAX),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0.830103483285477580700h", 2_988_372_539_827),
            ("1.0000000001s", 1_000_000_000),
        ] {
            assert_eq!(go(text), Ok(nanos), "{text}");
        }
        for text in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "10 seconds",
            " 10s",
            "10s ",
            "1s2",
            "00",
            "1e3s",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "-9223372036854775809ns",
            "2562047h47m16.854775808s",
            "9223372036854775807ns1ns",
        ] {
            assert!(go(text).is_err(), "{text:?} must be refused");
        }
    }

    #[test]
    fn duration_errors_say_what_to_write() {
        let e = de::parse_duration("1d").unwrap_err();
        assert!(e.contains("unknown unit \"d\"") && e.contains("24h"), "{e}");
        let e = de::parse_duration("10 seconds").unwrap_err();
        assert!(e.contains("unknown unit \" seconds\""), "{e}");
        let e = de::parse_duration("10").unwrap_err();
        assert!(e.contains("needs a unit"), "{e}");
        let e = de::parse_duration("-1s").unwrap_err();
        assert!(e.contains("negative"), "{e}");
        assert_eq!(de::parse_duration("-0s"), Ok(Duration::ZERO));
        assert_eq!(de::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn durations_from_yaml_numbers_and_shapes() {
        let e = parse_component_config::<Cfg>(&yaml("inner: {timeout: 200}")).unwrap_err();
        assert!(e.message.contains("200s or 200ms"), "{e}");
        let c: Cfg = parse_component_config(&yaml("inner: {timeout: 0}")).unwrap();
        assert_eq!(c.inner.timeout, Duration::ZERO);
        let e = parse_component_config::<Cfg>(&yaml("inner: {timeout: [1s]}")).unwrap_err();
        assert_eq!(
            e.message,
            "invalid type: a list, expected a duration with a unit, such as 10s, 250ms or 1m30s"
        );
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    enum Compression {
        #[default]
        #[serde(rename = "gzip")]
        Gzip,
        #[serde(rename = "none")]
        Nothing,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Many {
        port: u16,
        compression: Compression,
        inner: Inner,
        enabled: bool,
        name: String,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Required {
        endpoint: u16,
        #[serde(default)]
        other: u16,
    }

    #[test]
    fn every_mistake_in_a_body_is_reported_in_order() {
        let e = parse_component_config::<Many>(&yaml(
            "port: http\ncompression: {zstd: 1}\ninner: {timeout: 10 seconds, extra: 1}\nenabled: yes please\nnmae: x\n",
        ))
        .unwrap_err();
        let all: Vec<(String, String)> = e
            .into_all()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect();
        let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "port",
                "compression",
                "inner::timeout",
                "inner::extra",
                "enabled",
                "nmae"
            ],
            "{all:#?}"
        );
        assert_eq!(
            all[0].1,
            "invalid type: the text \"http\", expected a whole number from 0 to 65535"
        );
        assert_eq!(
            all[1].1,
            "invalid type: a map, expected one of its allowed names, written as plain text"
        );
        assert!(all[3].1.starts_with("unknown field `extra`"), "{all:?}");
        assert_eq!(
            all[4].1,
            "invalid type: the text \"yes please\", expected true or false"
        );
        for (_, m) in &all {
            assert!(!m.contains("Value::") && !m.contains("u16"), "{m}");
        }
    }

    #[test]
    fn a_removed_required_key_is_not_reported_twice() {
        let e = parse_component_config::<Required>(&yaml("endpoint: x\nother: y\n")).unwrap_err();
        let paths: Vec<String> = e.into_all().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["endpoint", "other"], "no `missing field endpoint`");
        let e = parse_component_config::<Required>(&yaml("other: 1\n")).unwrap_err();
        assert_eq!(e.message, "missing field `endpoint`");
        let e = parse_component_config::<Required>(&yaml("endpoint: 70000\n")).unwrap_err();
        assert_eq!(
            e.message,
            "invalid value: `70000`, expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn within_prefixes_every_error() {
        let e = parse_component_config::<Many>(&yaml("port: x\nname: [1]\n"))
            .unwrap_err()
            .within("otlp");
        let paths: Vec<String> = e.into_all().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["otlp::port", "otlp::name"]);
    }
}
