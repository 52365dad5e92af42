//! The `filelog` receiver's configuration, in the Collector's spellings and defaults.
//!
//! ```yaml
//! include: [/var/log/app/*.log]      # required
//! exclude: [/var/log/app/debug.log]
//! start_at: end                      # or beginning
//! poll_interval: 200ms
//! include_file_name: true            # attribute log.file.name
//! include_file_path: false           # attribute log.file.path
//! encoding: utf-8                    # or nop (bodies stay bytes)
//! multiline: {line_start_pattern: '^\d{4}-'}
//! max_log_size: 1MiB
//! fingerprint_size: 1kb
//! force_flush_period: 500ms
//! storage: file_storage              # checkpoints survive a restart
//! operators: [{type: regex_parser, regex: '^(?P<sev>\w+) (?P<msg>.*)$'}]
//! ```
//!
//! Raw serde shapes mirror the YAML; [`FilelogReceiverConfig`] holds compiled globs, regexes
//! and operators, so nothing invalid reaches `build`.

use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, ComponentId};

use super::operators::Operator;

/// The Collector's `poll_interval` default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The Collector's `max_log_size` default (1 MiB).
pub const DEFAULT_MAX_LOG_SIZE: u64 = 1 << 20;
/// The Collector's `fingerprint_size` default (`1kb`, 1000 bytes).
pub const DEFAULT_FINGERPRINT_SIZE: u64 = 1000;
/// The Collector's `force_flush_period` default: an unterminated last entry goes out after this.
pub const DEFAULT_FORCE_FLUSH_PERIOD: Duration = Duration::from_millis(500);
/// The Collector's `max_batch_size` for its log emitter.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    start_at: Option<String>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    poll_interval: Option<Duration>,
    #[serde(default = "yes")]
    include_file_name: bool,
    #[serde(default)]
    include_file_path: bool,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    multiline: Option<RawMultiline>,
    #[serde(default, deserialize_with = "opt_byte_size")]
    max_log_size: Option<u64>,
    #[serde(default, deserialize_with = "opt_byte_size")]
    fingerprint_size: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    force_flush_period: Option<Duration>,
    #[serde(default)]
    max_batch_size: Option<usize>,
    #[serde(default)]
    storage: Option<String>,
    #[serde(default)]
    operators: Vec<serde_yaml_ng::Value>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            start_at: None,
            poll_interval: None,
            include_file_name: true,
            include_file_path: false,
            encoding: None,
            multiline: None,
            max_log_size: None,
            fingerprint_size: None,
            force_flush_period: None,
            max_batch_size: None,
            storage: None,
            operators: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// A size as the Collector's stanza reads it: its README writes `1kb`, `1mib`, so units match
/// regardless of case (`kb` = 1000, `kib` = 1024), besides our usual `64KiB`.
fn opt_byte_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::N(n) => return Ok(Some(n)),
        Raw::S(s) => s,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c.is_whitespace()))
        .unwrap_or(text.len());
    let unit = match text[split..].to_ascii_lowercase().as_str() {
        "kb" => "KB".to_string(),
        "mb" => "MB".to_string(),
        "gb" => "GB".to_string(),
        "kib" => "KiB".to_string(),
        "mib" => "MiB".to_string(),
        "gib" => "GiB".to_string(),
        "b" => "B".to_string(),
        _ => text[split..].to_string(),
    };
    de::parse_byte_size(&format!("{}{unit}", text[..split].trim()))
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMultiline {
    #[serde(default)]
    line_start_pattern: Option<String>,
    #[serde(default)]
    line_end_pattern: Option<String>,
}

/// Where a receiver starts in files it finds at its first poll (later files: the beginning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
}

/// How bytes become a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Text; an entry that is not valid UTF-8 is dropped and counted.
    Utf8,
    /// No decoding: the body is the entry's bytes.
    Nop,
}

/// Where one entry ends and the next begins.
#[derive(Debug, Clone)]
pub enum Multiline {
    /// Every line is an entry.
    Lines,
    /// A line matching this pattern starts a new entry; other lines continue the current one.
    LineStart(Regex),
    /// A line matching this pattern ends the current entry.
    LineEnd(Regex),
}

/// The validated configuration of one `filelog` receiver.
#[derive(Debug, Clone)]
pub struct FilelogReceiverConfig {
    /// The include patterns as written (the directories to walk come from them).
    pub include_patterns: Vec<String>,
    pub include: GlobSet,
    pub exclude: GlobSet,
    pub start_at: StartAt,
    pub poll_interval: Duration,
    pub include_file_name: bool,
    pub include_file_path: bool,
    pub encoding: Encoding,
    pub multiline: Multiline,
    pub max_log_size: usize,
    pub fingerprint_size: usize,
    pub force_flush_period: Duration,
    pub max_batch_size: usize,
    pub storage: Option<ComponentId>,
    pub operators: Vec<Operator>,
}

fn glob_set(key: &str, patterns: &[String]) -> Result<GlobSet, ComponentConfigError> {
    let mut set = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = Glob::new(p).map_err(|e| {
            ComponentConfigError::new(
                format!("{key}::{i}"),
                format!("`{p}` is not a glob pattern ({e}); write e.g. /var/log/app/*.log"),
            )
        })?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| ComponentConfigError::new(key, e.to_string()))
}

fn pattern(key: &str, text: &str) -> Result<Regex, ComponentConfigError> {
    Regex::new(text).map_err(|e| {
        ComponentConfigError::new(key, format!("`{text}` is not a regular expression: {e}"))
    })
}

impl RawConfig {
    pub(super) fn resolve(self) -> Result<FilelogReceiverConfig, ComponentConfigError> {
        if self.include.is_empty() {
            return Err(ComponentConfigError::new(
                "include",
                "must list at least one file pattern, e.g. include: [/var/log/app/*.log]",
            ));
        }
        let start_at = match self.start_at.as_deref() {
            None | Some("end") => StartAt::End,
            Some("beginning") => StartAt::Beginning,
            Some(other) => {
                return Err(ComponentConfigError::new(
                    "start_at",
                    format!("`{other}` is not supported; use `end` (default) or `beginning`"),
                ));
            }
        };
        let encoding = match self
            .encoding
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("utf-8") | Some("utf8") => Encoding::Utf8,
            Some("nop") => Encoding::Nop,
            Some(other) => {
                return Err(ComponentConfigError::new(
                    "encoding",
                    format!("`{other}` is not supported; use `utf-8` (default) or `nop`"),
                ));
            }
        };
        let multiline = match self.multiline {
            None => Multiline::Lines,
            Some(RawMultiline {
                line_start_pattern: Some(start),
                line_end_pattern: None,
            }) => Multiline::LineStart(pattern("multiline::line_start_pattern", &start)?),
            Some(RawMultiline {
                line_start_pattern: None,
                line_end_pattern: Some(end),
            }) => Multiline::LineEnd(pattern("multiline::line_end_pattern", &end)?),
            Some(_) => {
                return Err(ComponentConfigError::new(
                    "multiline",
                    "set exactly one of `line_start_pattern` and `line_end_pattern`",
                ));
            }
        };
        let poll_interval = self.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL);
        if poll_interval.is_zero() {
            return Err(ComponentConfigError::new(
                "poll_interval",
                "must be positive, e.g. 200ms",
            ));
        }
        let max_log_size = self.max_log_size.unwrap_or(DEFAULT_MAX_LOG_SIZE);
        if max_log_size == 0 {
            return Err(ComponentConfigError::new(
                "max_log_size",
                "must be positive, e.g. 1MiB",
            ));
        }
        let fingerprint_size = self.fingerprint_size.unwrap_or(DEFAULT_FINGERPRINT_SIZE);
        if !(16..=1 << 20).contains(&fingerprint_size) {
            return Err(ComponentConfigError::new(
                "fingerprint_size",
                "must be between 16 bytes and 1MiB (default 1kb)",
            ));
        }
        let max_batch_size = self.max_batch_size.unwrap_or(DEFAULT_MAX_BATCH_SIZE);
        if max_batch_size == 0 {
            return Err(ComponentConfigError::new(
                "max_batch_size",
                "must be positive (default 100)",
            ));
        }
        let storage = self
            .storage
            .map(|s| {
                s.parse::<ComponentId>().map_err(|e| {
                    ComponentConfigError::new(
                        "storage",
                        format!("`{s}` is not a component id ({e}); name a storage extension such as file_storage"),
                    )
                })
            })
            .transpose()?;
        let operators = self
            .operators
            .iter()
            .enumerate()
            .map(|(i, raw)| Operator::parse(raw).map_err(|e| e.within(&i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.within("operators"))?;
        Ok(FilelogReceiverConfig {
            include: glob_set("include", &self.include)?,
            exclude: glob_set("exclude", &self.exclude)?,
            include_patterns: self.include,
            start_at,
            poll_interval,
            include_file_name: self.include_file_name,
            include_file_path: self.include_file_path,
            encoding,
            multiline,
            max_log_size: usize::try_from(max_log_size).unwrap_or(usize::MAX),
            fingerprint_size: usize::try_from(fingerprint_size).unwrap_or(usize::MAX),
            force_flush_period: self
                .force_flush_period
                .unwrap_or(DEFAULT_FORCE_FLUSH_PERIOD),
            max_batch_size,
            storage,
            operators,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> serde_yaml_ng::Value {
        let all: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/filelog.yaml"))
                .expect("testdata/filelog.yaml is YAML");
        all.get(name)
            .cloned()
            .unwrap_or_else(|| panic!("testdata/filelog.yaml has no {name}"))
    }

    fn parse(value: &serde_yaml_ng::Value) -> Result<FilelogReceiverConfig, ComponentConfigError> {
        FilelogReceiverConfig::parse(value)
    }

    fn error(yaml: &str) -> ComponentConfigError {
        parse(&serde_yaml_ng::from_str(yaml).unwrap()).unwrap_err()
    }

    #[test]
    fn defaults_are_the_collectors() {
        let c = parse(&testdata("filelog")).unwrap();
        assert_eq!(c.start_at, StartAt::End);
        assert_eq!(c.poll_interval, Duration::from_millis(200));
        assert!(c.include_file_name && !c.include_file_path);
        assert_eq!(c.encoding, Encoding::Utf8);
        assert!(matches!(c.multiline, Multiline::Lines));
        assert_eq!(c.max_log_size, 1 << 20);
        assert_eq!(c.fingerprint_size, 1000);
        assert_eq!(c.force_flush_period, Duration::from_millis(500));
        assert_eq!(c.max_batch_size, 100);
        assert!(c.storage.is_none() && c.operators.is_empty());
        assert!(c.include.is_match("/var/log/app/x.log") && !c.include.is_match("/var/log/x.log"));
    }

    #[test]
    fn every_key_set() {
        let c = parse(&testdata("filelog/full")).unwrap();
        assert_eq!(c.start_at, StartAt::Beginning);
        assert_eq!(c.poll_interval, Duration::from_secs(1));
        assert!(!c.include_file_name && c.include_file_path);
        assert_eq!(c.encoding, Encoding::Nop);
        assert!(matches!(&c.multiline, Multiline::LineEnd(re) if re.as_str() == ";$"));
        assert_eq!(c.max_log_size, 64 << 10);
        assert_eq!(c.fingerprint_size, 2000);
        assert_eq!(c.force_flush_period, Duration::from_secs(2));
        assert_eq!(c.max_batch_size, 500);
        assert_eq!(c.storage.unwrap().to_string(), "file_storage/logs");
        assert_eq!(c.operators.len(), 2);
        assert_eq!(c.operators[0].name, "parse");
        assert!(c.exclude.is_match("/var/log/app/gc.log"));
        assert!(c.include.is_match("/var/log/other/a/b/c.txt"));
    }

    #[test]
    fn mistakes_name_their_key() {
        assert_eq!(error("{exclude: [a]}").path, "include");
        assert_eq!(error("{include: [a], start_at: middle}").path, "start_at");
        let e = error("{include: [a], encoding: utf-16le}");
        assert!(e.path == "encoding" && e.message.contains("nop"), "{e}");
        assert_eq!(
            error("{include: [a], multiline: {line_start_pattern: a, line_end_pattern: b}}").path,
            "multiline"
        );
        assert_eq!(
            error("{include: [a], multiline: {line_start_pattern: '('}}").path,
            "multiline::line_start_pattern"
        );
        assert_eq!(error("{include: ['a[']}").path, "include::0");
        assert_eq!(
            error("{include: [a], fingerprint_size: 2}").path,
            "fingerprint_size"
        );
        assert_eq!(
            error("{include: [a], operators: [{type: tee}]}").path,
            "operators::0::type"
        );
        assert!(
            error("{include: [a], polling: 1s}")
                .message
                .contains("polling")
        );
    }
}
