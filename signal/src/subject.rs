//! Subjects: which thing a signal is about, as a hierarchical name of `(level, value)`
//! segments, root first: `cluster=prod / service=order-service / instance=pod-1 /
//! client=order-producer / topic=orders / partition=3`, or `cluster / broker / topic /
//! partition`. The hierarchy decides the cell a signal lands in and what it rolls up into.
//!
//! Two text forms, both parsed by `FromStr`:
//! - the **path** (`Display`): values only, `prod/order-service/pod-1/order-producer/orders`,
//!   for humans and dashboards; parsing it gives segments with an empty (unknown) level;
//! - the **qualified path** (`{:#}` or [`Subject::qualified`]):
//!   `cluster=prod/service=order-service/...`, which parses back to the identical subject.
//!
//! In both, `%`, `/` and `=` inside a level or value are written `%25`, `%2F` and `%3D`, so
//! any value survives the round trip. A value is never empty; a level may be (unknown).

use std::{fmt, str::FromStr};

/// A subject or segment that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// A segment with an empty value (`prod//orders`).
    #[error("subject segment {index} has an empty value; every level needs a name")]
    EmptyValue {
        /// Zero-based position of the segment.
        index: usize,
    },
    /// A `%` not followed by two hex digits, or an escape that is not UTF-8.
    #[error("`{text}` has a bad %-escape; write `%`, `/` and `=` as %25, %2F and %3D")]
    BadEscape {
        /// The offending segment text.
        text: String,
    },
    /// The level and value paths have different numbers of segments.
    #[error("subject has {values} values but {levels} levels")]
    LevelCountMismatch {
        /// Number of levels.
        levels: usize,
        /// Number of values.
        values: usize,
    },
}

/// One level of a subject, e.g. `topic=orders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    level: String,
    value: String,
}

impl Segment {
    /// A segment; `value` must not be empty, `level` may be (unknown level).
    pub fn new(level: impl Into<String>, value: impl Into<String>) -> Result<Self, SubjectError> {
        let value = value.into();
        if value.is_empty() {
            return Err(SubjectError::EmptyValue { index: 0 });
        }
        Ok(Self {
            level: level.into(),
            value,
        })
    }

    /// What kind of node: `cluster`, `client`, `topic`, ... (empty if unknown).
    pub fn level(&self) -> &str {
        &self.level
    }

    /// The node's name at that level.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A hierarchical name, root first. The empty subject is the root of the hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    segments: Vec<Segment>,
}

impl Subject {
    /// The root: no segments.
    pub const fn root() -> Self {
        Self {
            segments: Vec::new(),
        }
    }

    /// A subject from `(level, value)` pairs, root first.
    pub fn from_pairs<L, V>(pairs: impl IntoIterator<Item = (L, V)>) -> Result<Self, SubjectError>
    where
        L: Into<String>,
        V: Into<String>,
    {
        let mut subject = Self::root();
        for (level, value) in pairs {
            subject.push(level, value)?;
        }
        Ok(subject)
    }

    /// Appends a segment below the current leaf.
    pub fn push(
        &mut self,
        level: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), SubjectError> {
        let index = self.segments.len();
        let segment = Segment::new(level, value).map_err(|_| SubjectError::EmptyValue { index })?;
        self.segments.push(segment);
        Ok(())
    }

    /// This subject with one more segment below it.
    pub fn child(
        &self,
        level: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, SubjectError> {
        let mut child = self.clone();
        child.push(level, value)?;
        Ok(child)
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Number of segments (0 for the root).
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The last segment; `None` for the root.
    pub fn leaf(&self) -> Option<&Segment> {
        self.segments.last()
    }

    /// The value at the first segment of `level`, e.g. `get("topic") == Some("orders")`.
    pub fn get(&self, level: &str) -> Option<&str> {
        self.segments
            .iter()
            .find(|s| s.level == level)
            .map(|s| s.value.as_str())
    }

    /// The subject one level up; `None` for the root. The parent of a one-segment subject
    /// is the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.segments.split_last()?;
        Some(Self {
            segments: rest.to_vec(),
        })
    }

    /// The ancestors from the parent up to and including the root.
    pub fn ancestors(&self) -> impl Iterator<Item = Self> + '_ {
        (0..self.segments.len()).rev().map(|len| Self {
            segments: self.segments[..len].to_vec(),
        })
    }

    /// True if `self` is `other` or one of its ancestors.
    pub fn contains(&self, other: &Self) -> bool {
        other.segments.starts_with(&self.segments)
    }

    /// The path of values, e.g. `prod/order-service/pod-1/order-producer/orders` (same as
    /// `Display`).
    pub fn path(&self) -> String {
        join(self.segments.iter().map(|s| s.value.as_str()))
    }

    /// The path of levels, e.g. `cluster/service/instance/client/topic`.
    pub fn levels_path(&self) -> String {
        join(self.segments.iter().map(|s| s.level.as_str()))
    }

    /// The qualified path, e.g. `cluster=prod/service=order-service`, which parses back to
    /// this exact subject (same as `{:#}`).
    pub fn qualified(&self) -> String {
        format!("{self:#}")
    }

    /// Rebuilds a subject from [`Subject::levels_path`] and [`Subject::path`].
    pub fn from_paths(levels: &str, values: &str) -> Result<Self, SubjectError> {
        if values.is_empty() {
            return if levels.is_empty() {
                Ok(Self::root())
            } else {
                Err(SubjectError::LevelCountMismatch {
                    levels: levels.split('/').count(),
                    values: 0,
                })
            };
        }
        let values: Vec<&str> = values.split('/').collect();
        // A one-segment subject with an unknown level has an empty levels path.
        let levels: Vec<&str> = if levels.is_empty() && values.len() == 1 {
            vec![""]
        } else {
            levels.split('/').collect()
        };
        if levels.len() != values.len() {
            return Err(SubjectError::LevelCountMismatch {
                levels: levels.len(),
                values: values.len(),
            });
        }
        let mut subject = Self::root();
        for (level, value) in levels.into_iter().zip(values) {
            subject.push(unescape(level)?, unescape(value)?)?;
        }
        Ok(subject)
    }
}

impl fmt::Display for Subject {
    /// The path of values; with `{:#}`, the qualified path `level=value/...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            if f.alternate() && !segment.level.is_empty() {
                write!(f, "{}=", Escaped(&segment.level))?;
            }
            write!(f, "{}", Escaped(&segment.value))?;
        }
        Ok(())
    }
}

impl FromStr for Subject {
    type Err = SubjectError;

    /// Parses a path or a qualified path; segments without `=` get an empty level.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut subject = Self::root();
        if text.is_empty() {
            return Ok(subject);
        }
        for part in text.split('/') {
            // `=` inside a level or value is escaped, so the first `=` is the separator.
            let (level, value) = part.split_once('=').unwrap_or(("", part));
            subject.push(unescape(level)?, unescape(value)?)?;
        }
        Ok(subject)
    }
}

struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['%', '/', '=']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'%' => "%25",
                b'/' => "%2F",
                _ => "%3D",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&Escaped(part).to_string());
    }
    out
}

fn unescape(text: &str) -> Result<String, SubjectError> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let bad = || SubjectError::BadEscape {
        text: text.to_string(),
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or_else(bad)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer() -> Subject {
        Subject::from_pairs([
            ("cluster", "prod"),
            ("service", "order-service"),
            ("instance", "pod-1"),
            ("client", "order-producer"),
            ("topic", "orders"),
        ])
        .expect("valid subject")
    }

    #[test]
    fn displays_as_a_path_of_values() {
        assert_eq!(
            producer().to_string(),
            "prod/order-service/pod-1/order-producer/orders"
        );
        assert_eq!(
            producer().qualified(),
            "cluster=prod/service=order-service/instance=pod-1/client=order-producer/topic=orders"
        );
    }

    #[test]
    fn both_forms_parse_back() {
        let subject = producer();
        assert_eq!(subject.qualified().parse::<Subject>(), Ok(subject.clone()));
        let plain: Subject = subject.to_string().parse().expect("parses");
        assert_eq!(plain.path(), subject.path());
        assert!(plain.segments().iter().all(|s| s.level().is_empty()));
        assert_eq!(
            Subject::from_paths(&subject.levels_path(), &subject.path()),
            Ok(subject)
        );
    }

    #[test]
    fn separators_inside_values_are_escaped() {
        let subject = Subject::from_pairs([("client", "a/b=c%d"), ("topic", "x")]).expect("valid");
        assert_eq!(subject.to_string(), "a%2Fb%3Dc%25d/x");
        assert_eq!(subject.qualified().parse::<Subject>(), Ok(subject));
    }

    #[test]
    fn parent_walks_up_to_the_root() {
        let subject = producer();
        let parent = subject.parent().expect("has a parent");
        assert_eq!(
            parent.to_string(),
            "prod/order-service/pod-1/order-producer"
        );
        assert!(parent.contains(&subject));
        assert_eq!(subject.ancestors().count(), 5);
        assert_eq!(subject.ancestors().last(), Some(Subject::root()));
        assert_eq!(Subject::root().parent(), None);
        assert_eq!(subject.get("topic"), Some("orders"));
    }

    #[test]
    fn rejects_empty_values_and_bad_escapes() {
        assert_eq!(
            "prod//orders".parse::<Subject>(),
            Err(SubjectError::EmptyValue { index: 1 })
        );
        assert!(matches!(
            "prod/%zz".parse::<Subject>(),
            Err(SubjectError::BadEscape { .. })
        ));
        assert!(matches!(
            "prod/%ff".parse::<Subject>(),
            Err(SubjectError::BadEscape { .. })
        ));
        assert!(matches!(
            Subject::from_paths("a/b", "x"),
            Err(SubjectError::LevelCountMismatch { .. })
        ));
        assert_eq!("".parse::<Subject>(), Ok(Subject::root()));
    }
}
