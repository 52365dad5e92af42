//! Reading the `--config` files: refuse a file too big to be a configuration, walk each
//! file's YAML once without expanding anything (the line of every key, keys written twice,
//! how far aliases would expand), parse, deep-merge, expand `${env:…}`.
//!
//! The walk comes first so that a file built to exhaust memory (a 50 MB file, a "billion
//! laughs" of nested aliases) is refused before serde builds anything from it. A key written
//! twice is reported at its second line and the last one is kept, so the rest of the file is
//! still checked in the same run.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{
    Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::error::{ConfigError, ConfigErrors, Location};
use crate::expand;

/// A configuration file larger than this is refused before it is parsed (8 MiB: real
/// configurations are a few KiB; parsing 50 MB took seconds and a gigabyte).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// At most this many values may be added by aliases (`*name`) across one file; a few nested
/// aliases can otherwise stand for billions of values.
pub const MAX_ALIAS_VALUES: u64 = 100_000;

/// The merged, env-expanded configuration document, with the location of every key.
#[derive(Debug, Clone)]
pub struct Source {
    pub value: Value,
    /// Key path -> where the file that last defined it writes it.
    locations: HashMap<Vec<String>, Location>,
    /// Mistakes found while reading that do not stop the checks after it (a key written
    /// twice, an unset variable); reported with everything else.
    pub(crate) problems: Vec<ConfigError>,
    /// Key paths whose `${env:…}` could not be expanded: reported once, for the variable.
    unexpanded: Vec<String>,
}

impl Source {
    /// Reads every file in order; later files override earlier ones key by key.
    pub fn read(files: &[PathBuf]) -> Result<Self, ConfigErrors> {
        if files.is_empty() {
            return Err(ConfigError::new(
                "",
                "no configuration given: pass --config FILE (several may be given; they are merged in order)",
            )
            .into());
        }
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for (file_index, path) in files.iter().enumerate() {
            match read_bounded(path) {
                Ok(text) => texts.push((path.clone(), text)),
                Err(message) => {
                    errors.push(ConfigError::new("", message).at(whole_file(file_index, path)))
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors::sorted(errors));
        }
        Self::from_texts(&texts)
    }

    /// Like [`Source::read`] on in-memory documents (`(name, yaml)`).
    pub fn from_texts(texts: &[(PathBuf, String)]) -> Result<Self, ConfigErrors> {
        let mut merged = Value::Mapping(Mapping::new());
        let mut locations = HashMap::new();
        let mut fatal = Vec::new();
        let mut problems = Vec::new();
        for (file_index, (path, text)) in texts.iter().enumerate() {
            match read_document(file_index, path, text, &mut locations, &mut problems) {
                Ok(value) => merge(&mut merged, value),
                Err(e) => fatal.push(e),
            }
        }
        if !fatal.is_empty() {
            fatal.append(&mut problems);
            return Err(ConfigErrors::sorted(fatal));
        }
        let mut source = Self {
            value: merged,
            locations,
            problems: Vec::new(),
            unexpanded: Vec::new(),
        };
        let mut env_errors = Vec::new();
        expand::expand_env(
            &mut source.value,
            &mut Vec::new(),
            &mut env_errors,
            &|name| std::env::var(name).ok(),
        );
        source.unexpanded = env_errors.iter().map(|e| e.path.clone()).collect();
        problems.extend(source.locate_all(env_errors));
        source.problems = problems;
        Ok(source)
    }

    /// `errors` and the mistakes found while reading, less the errors at a key whose variable
    /// was not set: the variable is the mistake, reported once.
    pub(crate) fn with_problems(&self, errors: Vec<ConfigError>) -> Vec<ConfigError> {
        let unset = |path: &str| {
            self.unexpanded.iter().any(|u| {
                path == u
                    || path
                        .strip_prefix(u.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
        };
        let mut all = self.problems.clone();
        all.extend(errors.into_iter().filter(|e| !unset(&e.path)));
        all
    }

    /// Where `path`, or its nearest ancestor that has a place, is written.
    pub fn location(&self, path: &[String]) -> Option<Location> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.locations.get(&path[..n]).cloned())
    }

    /// Fills in the location of each error from its key path.
    pub fn locate_all(&self, errors: Vec<ConfigError>) -> Vec<ConfigError> {
        errors
            .into_iter()
            .map(|mut e| {
                if e.location.is_none() {
                    let keys: Vec<String> = if e.path.is_empty() {
                        Vec::new()
                    } else {
                        e.path.split("::").map(str::to_string).collect()
                    };
                    e.location = self.location(&keys);
                }
                e
            })
            .collect()
    }
}

fn whole_file(file_index: usize, path: &Path) -> Location {
    Location {
        file_index,
        line: 0,
        file: path.display().to_string(),
    }
}

/// The file's text, refused unread past [`MAX_FILE_BYTES`] (also for a pipe, whose size is
/// not known beforehand).
fn read_bounded(path: &Path) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot read config file {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_big(path, size));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(path, bytes.len() as u64));
    }
    String::from_utf8(bytes)
        .map_err(|_| format!("config file {} is not UTF-8 text", path.display()))
}

fn too_big(path: &Path, size: u64) -> String {
    format!(
        "config file {} is {:.1} MiB, over the {} MiB a configuration may have; it was not parsed (is it the right file?)",
        path.display(),
        size as f64 / f64::from(1 << 20),
        MAX_FILE_BYTES >> 20
    )
}

/// One file: size, walk (lines, keys written twice, alias budget), parse, top-level shape.
fn read_document(
    file_index: usize,
    path: &Path,
    text: &str,
    locations: &mut HashMap<Vec<String>, Location>,
    problems: &mut Vec<ConfigError>,
) -> Result<Value, ConfigError> {
    let file = whole_file(file_index, path);
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::new("", too_big(path, text.len() as u64)).at(file));
    }
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Mapping::new()));
    }
    check_flow_depth(&file, text)?;
    let walk = walk(file_index, path, text, locations)?;
    problems.extend(walk.duplicates);
    if walk.alias_values > MAX_ALIAS_VALUES {
        return Err(ConfigError::new(
            "",
            format!(
                "its aliases (*name) would expand to more than {MAX_ALIAS_VALUES} values; a configuration does not need that many, so the file was not expanded"
            ),
        )
        .at(file));
    }
    let value = serde_yaml_ng::from_str::<LastKeyWins>(text)
        .map(|v| v.0)
        .map_err(|e| {
            let at = Location {
                line: e.location().map_or(0, |l| l.line()),
                ..file.clone()
            };
            ConfigError::new("", format!("not valid YAML: {e}")).at(at)
        })?;
    match value {
        Value::Mapping(_) => Ok(value),
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        _ => Err(ConfigError::new(
            "",
            "the top level must be a mapping with receivers, processors, exporters, extensions and service",
        )
        .at(file)),
    }
}

/// Deeper `[`/`{` nesting than this is refused before the YAML parser sees it.
const MAX_FLOW_DEPTH: usize = 256;

/// Refuses flow collections (`[ ]`, `{ }`) nested deeper than [`MAX_FLOW_DEPTH`]. The YAML
/// parser's own recursion limit (128) comes only after it has scanned the whole document,
/// and its scan is quadratic in the nesting depth: 45 000 `[` (90 KB) ran for over 30 s in a
/// debug build (found by the fuzzer). Counting is approximate about quoting, which only
/// matters for documents that the parser refuses anyway.
fn check_flow_depth(file: &Location, text: &str) -> Result<(), ConfigError> {
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    // Quotes and comments start only at the start of a token.
    let mut token_start = true;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
        }
        if comment {
            continue;
        }
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' if token_start => quote = Some(c),
                '#' if token_start => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(ConfigError::new(
                            "",
                            format!(
                                "not valid YAML: [ ] and {{ }} nested more than {MAX_FLOW_DEPTH} levels deep; no configuration needs that, check for an unbalanced bracket"
                            ),
                        )
                        .at(Location { line, ..file.clone() }));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        token_start = c.is_whitespace() || matches!(c, ':' | ',' | '[' | '{' | '-' | '?');
    }
    Ok(())
}

/// Deep merge as the Collector does: mappings merge key by key, anything else is replaced.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A YAML value read as `serde_yaml_ng::Value` reads it (the same scalar types and tags), except
/// that a key written twice keeps its last value instead of failing the whole file: the walk
/// has already reported it at its line.
struct LastKeyWins(Value);

impl<'de> Deserialize<'de> for LastKeyWins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LastKeyWinsVisitor).map(LastKeyWins)
    }
}

struct LastKeyWinsVisitor;

impl<'de> Visitor<'de> for LastKeyWinsVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Number(i.into()))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Number(u.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Number(f.into()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(LastKeyWins(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Mapping::new();
        while let Some((LastKeyWins(k), LastKeyWins(v))) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Value::Mapping(out))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // serde_yaml_ng hands a tagged value (`!name value`) over as an enum.
        let (tag, contents): (String, _) = data.variant()?;
        let LastKeyWins(value) = contents.newtype_variant()?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

enum Frame {
    Map {
        key: Option<String>,
        expecting_key: bool,
        /// Keys seen in this mapping, with their line, to report one written twice.
        seen: HashMap<String, usize>,
        anchor: usize,
        values: u64,
    },
    Seq {
        index: usize,
        anchor: usize,
        values: u64,
    },
}

impl Frame {
    fn values(&mut self) -> &mut u64 {
        match self {
            Frame::Map { values, .. } | Frame::Seq { values, .. } => values,
        }
    }
}

/// What one walk over a file's events found.
struct Walk {
    duplicates: Vec<ConfigError>,
    /// Values that aliases stand for, counted as if expanded.
    alias_values: u64,
}

/// Walks the YAML events, recording the line of every mapping key by its path, each key
/// written twice in one mapping, and how many values the aliases stand for.
struct Walker<'a> {
    file_index: usize,
    file: String,
    stack: Vec<Frame>,
    path: Vec<String>,
    out: &'a mut HashMap<Vec<String>, Location>,
    duplicates: Vec<ConfigError>,
    /// Anchor id -> how many values the anchored node holds (itself included).
    anchored: HashMap<usize, u64>,
    alias_values: u64,
}

impl Walker<'_> {
    fn at(&self, line: usize) -> Location {
        Location {
            file_index: self.file_index,
            line,
            file: self.file.clone(),
        }
    }

    /// The path segment the next value will live under, if any.
    fn child_segment(&self) -> Option<String> {
        match self.stack.last() {
            Some(Frame::Map { key, .. }) => key.clone(),
            Some(Frame::Seq { index, .. }) => Some(index.to_string()),
            None => None,
        }
    }

    /// A value (scalar or a whole container) holding `values` values is complete.
    fn value_done(&mut self, values: u64) {
        if let Some(frame) = self.stack.last_mut() {
            let total = frame.values();
            *total = total.saturating_add(values);
            match frame {
                Frame::Map {
                    expecting_key, key, ..
                } => {
                    *expecting_key = true;
                    *key = None;
                }
                Frame::Seq { index, .. } => *index += 1,
            }
        }
    }

    fn open(&mut self, frame: Frame) {
        if let Some(seg) = self.child_segment() {
            self.path.push(seg);
        }
        self.stack.push(frame);
    }

    fn close(&mut self) {
        let (anchor, values) = match self.stack.pop() {
            Some(Frame::Map { anchor, values, .. } | Frame::Seq { anchor, values, .. }) => {
                (anchor, values.saturating_add(1))
            }
            None => return,
        };
        if anchor != 0 {
            self.anchored.insert(anchor, values);
        }
        if !self.stack.is_empty() {
            self.path.pop();
        }
        self.value_done(values);
    }

    /// A scalar: a mapping's key, or a value (one value; remembered when anchored).
    fn scalar(&mut self, text: &str, anchor: usize, line: usize) {
        if self.key(text, line) {
            return;
        }
        self.item(line);
        if anchor != 0 {
            self.anchored.insert(anchor, 1);
        }
        self.value_done(1);
    }

    /// A sequence's item starts at `line`: remembered under its index, so an error about the
    /// n-th item (an OTTL statement, a pipeline's receiver) points at that item's own line.
    fn item(&mut self, line: usize) {
        if let Some(Frame::Seq { index, .. }) = self.stack.last() {
            let mut path = self.path.clone();
            path.push(index.to_string());
            let location = self.at(line);
            self.out.insert(path, location);
        }
    }

    /// Records `text` as the next key when the current mapping expects one (false otherwise).
    fn key(&mut self, text: &str, line: usize) -> bool {
        let Some(Frame::Map {
            expecting_key,
            key,
            seen,
            values,
            ..
        }) = self.stack.last_mut()
        else {
            return false;
        };
        if !*expecting_key {
            return false;
        }
        *expecting_key = false;
        *values = values.saturating_add(1);
        *key = Some(text.to_string());
        let mut path = self.path.clone();
        path.push(text.to_string());
        if let Some(first) = seen.insert(text.to_string(), line) {
            let message = format!(
                "`{text}` is written twice in the same mapping (first at line {first}); keep one (the last one would win)"
            );
            let error = ConfigError::new(path.join("::"), message).at(self.at(line));
            self.duplicates.push(error);
        }
        let location = self.at(line);
        self.out.insert(path, location);
        true
    }
}

impl MarkedEventReceiver for Walker<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, _, anchor, _) => self.scalar(&text, anchor, mark.line()),
            Event::Alias(anchor) => {
                let values = self.anchored.get(&anchor).copied().unwrap_or(1);
                self.alias_values = self.alias_values.saturating_add(values);
                if !self.key(&format!("*{anchor}"), mark.line()) {
                    self.value_done(values);
                }
            }
            Event::MappingStart(anchor, _) => {
                self.item(mark.line());
                self.open(Frame::Map {
                    key: None,
                    expecting_key: true,
                    seen: HashMap::new(),
                    anchor,
                    values: 0,
                })
            }
            Event::SequenceStart(anchor, _) => {
                self.item(mark.line());
                self.open(Frame::Seq {
                    index: 0,
                    anchor,
                    values: 0,
                })
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            _ => {}
        }
    }
}

fn walk(
    file_index: usize,
    path: &Path,
    text: &str,
    out: &mut HashMap<Vec<String>, Location>,
) -> Result<Walk, ConfigError> {
    let mut walker = Walker {
        file_index,
        file: path.display().to_string(),
        stack: Vec::new(),
        path: Vec::new(),
        out,
        duplicates: Vec::new(),
        anchored: HashMap::new(),
        alias_values: 0,
    };
    if let Err(e) = Parser::new_from_str(text).load(&mut walker, false) {
        let at = walker.at(e.marker().line());
        return Err(ConfigError::new("", format!("not valid YAML: {}", e.info())).at(at));
    }
    Ok(Walk {
        duplicates: walker.duplicates,
        alias_values: walker.alias_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(docs: &[&str]) -> Source {
        let texts: Vec<_> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (PathBuf::from(format!("f{i}.yaml")), d.to_string()))
            .collect();
        Source::from_texts(&texts).unwrap()
    }

    fn keys(p: &str) -> Vec<String> {
        p.split("::").map(str::to_string).collect()
    }

    fn at(s: &Source, p: &str) -> Option<String> {
        s.location(&keys(p)).map(|l| l.to_string())
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_the_parser_scans_it() {
        // The fuzzer's input (fuzz/findings/config/) nested 45 000 levels; the parser's scan
        // of it is quadratic.
        let read = |text: String| Source::from_texts(&[(PathBuf::from("c.yaml"), text)]);
        let deep = format!("a: 1\ndeep: {}{}\n", "[".repeat(45_000), "]".repeat(45_000));
        let errors = read(deep).expect_err("refused").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0]
                .location
                .as_ref()
                .map(|l| l.to_string())
                .as_deref(),
            Some("c.yaml:2")
        );
        assert!(
            errors[0].message.contains("nested more than 256 levels"),
            "{}",
            errors[0].message
        );
        // Brackets in quotes and comments do not count; real nesting within the limit parses.
        let quoted = format!(
            "a: \"{0}\"\nb: '{0}'\n# {0}\nc: [[{{x: [1]}}]]\nd: it's [ok]\n",
            "[".repeat(300)
        );
        assert!(read(quoted).is_ok());
    }

    #[test]
    fn remembers_the_line_of_every_list_item() {
        let s = src(&[
            "p:\n  statements:\n    - set(a, 1)\n    - bad(x)\n  groups:\n    - context: log\n      statements: [x]\n",
        ]);
        assert_eq!(at(&s, "p::statements::1").as_deref(), Some("f0.yaml:4"));
        assert_eq!(at(&s, "p::groups::0").as_deref(), Some("f0.yaml:6"));
        assert_eq!(
            at(&s, "p::groups::0::statements::0").as_deref(),
            Some("f0.yaml:7")
        );
    }

    #[test]
    fn remembers_the_line_of_every_key() {
        let s = src(&[
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: x\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters:\n        - debug\n",
        ]);
        assert_eq!(
            at(&s, "receivers::otlp::protocols::grpc::endpoint").as_deref(),
            Some("f0.yaml:5")
        );
        assert_eq!(
            at(&s, "service::pipelines::metrics::exporters").as_deref(),
            Some("f0.yaml:10")
        );
        // A list item has its own line; unknown deeper keys fall back to the nearest parent.
        assert_eq!(
            at(&s, "service::pipelines::metrics::exporters::0").as_deref(),
            Some("f0.yaml:11")
        );
        assert_eq!(
            at(&s, "receivers::otlp::protocols::grpc::nope").as_deref(),
            Some("f0.yaml:4")
        );
    }

    #[test]
    fn later_files_override_key_by_key() {
        let s = src(&[
            "exporters:\n  debug:\n    verbosity: basic\n  file:\n    path: a\n",
            "exporters:\n  debug:\n    verbosity: detailed\n",
        ]);
        let v: Value = serde_yaml_ng::from_str(
            "exporters:\n  debug:\n    verbosity: detailed\n  file:\n    path: a\n",
        )
        .unwrap();
        assert_eq!(s.value, v);
        assert_eq!(
            at(&s, "exporters::debug::verbosity").as_deref(),
            Some("f1.yaml:3")
        );
        assert_eq!(
            at(&s, "exporters::file::path").as_deref(),
            Some("f0.yaml:5")
        );
    }

    #[test]
    fn yaml_errors_carry_the_line() {
        let e = Source::from_texts(&[("bad.yaml".into(), "a:\n  b: [1,\n".into())]).unwrap_err();
        let at = e.0[0].location.as_ref().map(|l| l.to_string());
        assert!(at.unwrap_or_default().starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn a_key_written_twice_is_reported_at_its_second_line_and_the_rest_still_reads() {
        let s = src(&[
            "exporters:\n  debug:\n    verbosity: basic\n    verbosity: detailed\nexporters:\n  file:\n    path: x\n",
        ]);
        let found: Vec<(String, String)> = s
            .problems
            .iter()
            .map(|e| {
                (
                    e.path.clone(),
                    e.location
                        .as_ref()
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "exporters::debug::verbosity".to_string(),
                    "f0.yaml:4".to_string()
                ),
                ("exporters".to_string(), "f0.yaml:5".to_string()),
            ]
        );
        assert!(
            s.problems[0].message.contains("first at line 3"),
            "{:?}",
            s.problems
        );
        // The last one wins, as the message says.
        assert_eq!(s.value["exporters"]["file"]["path"], Value::from("x"));
    }

    #[test]
    fn values_read_as_serde_yaml_reads_them() {
        let doc = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: text\ng: '1'\nh: [1, x, {i: 0x1F}]\nj: !custom {k: v}\nl: &anchor {m: 1}\nn: *anchor\no: 18446744073709551615\np: .inf\n";
        let ours = serde_yaml_ng::from_str::<LastKeyWins>(doc).unwrap().0;
        let theirs: Value = serde_yaml_ng::from_str(doc).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn alias_bombs_are_refused_before_they_expand() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = Source::from_texts(&[("bomb.yaml".into(), doc)]).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(e.0[0].message.contains("aliases"), "{e}");
        // A few aliases, as configs use them, are fine.
        let s = src(&["base: &b {endpoint: x}\nexporters:\n  otlp: *b\n  otlp/2: *b\n"]);
        assert_eq!(s.value["exporters"]["otlp/2"]["endpoint"], Value::from("x"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_unparsed() {
        let big = format!("# {}\n", "x".repeat(MAX_FILE_BYTES as usize));
        let e = Source::from_texts(&[("big.yaml".into(), big)]).unwrap_err();
        assert!(e.0[0].message.contains("over the 8 MiB"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = Source::read(&[path]).unwrap_err();
        assert!(e.0[0].message.contains("8.0 MiB, over the 8 MiB"), "{e}");
    }
}
