//! Reading the `--config` files: parse, remember where each key is written, deep-merge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::error::{ConfigError, ConfigErrors};
use crate::expand;

/// The merged, env-expanded configuration document, with the location of every key.
#[derive(Debug, Clone)]
pub struct Source {
    pub value: Value,
    /// Key path -> `file:line` of the file that last defined it.
    locations: HashMap<Vec<String>, String>,
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
        for path in files {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "",
                    format!("cannot read config file {}: {e}", path.display()),
                )
            })?;
            texts.push((path.clone(), text));
        }
        Self::from_texts(&texts)
    }

    /// Like [`Source::read`] on in-memory documents (`(name, yaml)`).
    pub fn from_texts(texts: &[(PathBuf, String)]) -> Result<Self, ConfigErrors> {
        let mut merged = Value::Mapping(Mapping::new());
        let mut locations = HashMap::new();
        for (path, text) in texts {
            let value = parse(path, text)?;
            index_lines(path, text, &mut locations);
            merge(&mut merged, value);
        }
        let mut source = Self {
            value: merged,
            locations,
        };
        let mut errors = Vec::new();
        expand::expand_env(&mut source.value, &mut Vec::new(), &mut errors, &|name| {
            std::env::var(name).ok()
        });
        if errors.is_empty() {
            Ok(source)
        } else {
            Err(source.locate_all(errors))
        }
    }

    /// `file:line` of `path`, or of its nearest ancestor that has one.
    pub fn location(&self, path: &[String]) -> Option<String> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.locations.get(&path[..n]).cloned())
    }

    /// Fills in the location of each error from its key path.
    pub fn locate_all(&self, errors: Vec<ConfigError>) -> ConfigErrors {
        ConfigErrors(
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
                .collect(),
        )
    }
}

fn parse(path: &Path, text: &str) -> Result<Value, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Mapping::new()));
    }
    check_flow_depth(path, text)?;
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let mut err = ConfigError::new("", format!("not valid YAML: {e}"));
        err.location = Some(match e.location() {
            Some(l) => format!("{}:{}", path.display(), l.line()),
            None => path.display().to_string(),
        });
        err
    })?;
    match value {
        Value::Mapping(_) => Ok(value),
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        _ => Err(ConfigError {
            path: String::new(),
            location: Some(path.display().to_string()),
            message: "the top level must be a mapping with receivers, processors, exporters, extensions and service".into(),
        }),
    }
}

/// Deeper `[`/`{` nesting than this is refused before the YAML parser sees it.
const MAX_FLOW_DEPTH: usize = 256;

/// Refuses flow collections (`[ ]`, `{ }`) nested deeper than [`MAX_FLOW_DEPTH`]. The YAML
/// parser's own recursion limit (128) comes only after it has scanned the whole document,
/// and its scan is quadratic in the nesting depth: 45 000 `[` (90 KB) ran for over 30 s in a
/// debug build (found by the fuzzer). Counting is approximate about quoting, which only
/// matters for documents that the parser refuses anyway.
fn check_flow_depth(path: &Path, text: &str) -> Result<(), ConfigError> {
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
                        let mut err = ConfigError::new(
                            "",
                            format!(
                                "not valid YAML: [ ] and {{ }} nested more than {MAX_FLOW_DEPTH} levels deep; no configuration needs that, check for an unbalanced bracket"
                            ),
                        );
                        err.location = Some(format!("{}:{line}", path.display()));
                        return Err(err);
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

enum Frame {
    Map {
        key: Option<String>,
        expecting_key: bool,
    },
    Seq {
        index: usize,
    },
}

/// Walks the YAML events and records the line of every mapping key by its path.
struct LineIndexer<'a> {
    file: String,
    stack: Vec<Frame>,
    path: Vec<String>,
    out: &'a mut HashMap<Vec<String>, String>,
}

impl LineIndexer<'_> {
    /// The path segment the next value will live under, if any.
    fn child_segment(&self) -> Option<String> {
        match self.stack.last() {
            Some(Frame::Map { key, .. }) => key.clone(),
            Some(Frame::Seq { index }) => Some(index.to_string()),
            None => None,
        }
    }

    /// A value (scalar or a whole container) in the current frame is complete.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { expecting_key, key }) => {
                *expecting_key = true;
                *key = None;
            }
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }

    fn open(&mut self, frame: Frame) {
        if let Some(seg) = self.child_segment() {
            self.path.push(seg);
        }
        self.stack.push(frame);
    }

    fn close(&mut self) {
        self.stack.pop();
        if !self.stack.is_empty() {
            self.path.pop();
        }
        self.value_done();
    }
}

impl MarkedEventReceiver for LineIndexer<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { expecting_key, key }) = self.stack.last_mut()
                    && *expecting_key
                {
                    *expecting_key = false;
                    let mut p = self.path.clone();
                    p.push(text.clone());
                    self.out.insert(p, format!("{}:{}", self.file, mark.line()));
                    *key = Some(text);
                    return;
                }
                self.value_done();
            }
            Event::Alias(_) => self.value_done(),
            Event::MappingStart(..) => self.open(Frame::Map {
                key: None,
                expecting_key: true,
            }),
            Event::SequenceStart(..) => self.open(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            _ => {}
        }
    }
}

fn index_lines(path: &Path, text: &str, out: &mut HashMap<Vec<String>, String>) {
    let mut indexer = LineIndexer {
        file: path.display().to_string(),
        stack: Vec::new(),
        path: Vec::new(),
        out,
    };
    // The document already parsed with serde; a scanner disagreement only costs line numbers.
    let _ = Parser::new_from_str(text).load(&mut indexer, false);
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

    #[test]
    fn deep_flow_nesting_is_refused_before_the_parser_scans_it() {
        // The fuzzer's input (fuzz/findings/config/) nested 45 000 levels; the parser's scan
        // of it is quadratic.
        let deep = format!("a: 1\ndeep: {}{}\n", "[".repeat(45_000), "]".repeat(45_000));
        let err = parse(Path::new("c.yaml"), &deep).unwrap_err();
        assert_eq!(err.location.as_deref(), Some("c.yaml:2"));
        assert!(
            err.message.contains("nested more than 256 levels"),
            "{}",
            err.message
        );
        // Brackets in quotes and comments do not count; real nesting within the limit parses.
        let quoted = format!(
            "a: \"{0}\"\nb: '{0}'\n# {0}\nc: [[{{x: [1]}}]]\nd: it's [ok]\n",
            "[".repeat(300)
        );
        assert!(parse(Path::new("c.yaml"), &quoted).is_ok());
    }

    #[test]
    fn remembers_the_line_of_every_key() {
        let s = src(&[
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: x\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters:\n        - debug\n",
        ]);
        assert_eq!(
            s.location(&keys("receivers::otlp::protocols::grpc::endpoint"))
                .as_deref(),
            Some("f0.yaml:5")
        );
        assert_eq!(
            s.location(&keys("service::pipelines::metrics::exporters"))
                .as_deref(),
            Some("f0.yaml:10")
        );
        // Unknown deeper keys fall back to the nearest known parent.
        assert_eq!(
            s.location(&keys("service::pipelines::metrics::exporters::0"))
                .as_deref(),
            Some("f0.yaml:10")
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
            s.location(&keys("exporters::debug::verbosity")).as_deref(),
            Some("f1.yaml:3")
        );
        assert_eq!(
            s.location(&keys("exporters::file::path")).as_deref(),
            Some("f0.yaml:5")
        );
    }

    #[test]
    fn yaml_errors_carry_the_line() {
        let e = Source::from_texts(&[("bad.yaml".into(), "a:\n  b: [1,\n".into())]).unwrap_err();
        assert!(
            e.0[0]
                .location
                .as_deref()
                .unwrap_or("")
                .starts_with("bad.yaml:"),
            "{e}"
        );
    }
}
