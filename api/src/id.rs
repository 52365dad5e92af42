//! Component and pipeline identifiers in the Collector's `type[/name]` form.

use std::fmt;
use std::str::FromStr;

use crate::data::DataKind;

/// The role a component plays; it decides which section of the config defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    Receiver,
    Processor,
    Exporter,
    Connector,
    Extension,
}

impl ComponentKind {
    /// The config section that holds components of this kind (`receivers`, ...).
    pub fn section(self) -> &'static str {
        match self {
            Self::Receiver => "receivers",
            Self::Processor => "processors",
            Self::Exporter => "exporters",
            Self::Connector => "connectors",
            Self::Extension => "extensions",
        }
    }

    /// The singular word, used as a label key in self-metrics (`receiver="otlp"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receiver => "receiver",
            Self::Processor => "processor",
            Self::Exporter => "exporter",
            Self::Connector => "connector",
            Self::Extension => "extension",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `type[/name]`: several components of one type are told apart by their name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

/// Why a `type[/name]` string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {input:?}: {reason}")]
pub struct IdError {
    pub input: String,
    pub reason: &'static str,
}

fn valid_type(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ComponentId {
    pub fn new(type_name: impl Into<String>, name: Option<String>) -> Self {
        Self {
            type_name: type_name.into(),
            name,
        }
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The same id with another type (used to resolve an alias such as `otlphttp`).
    pub fn with_type(&self, type_name: &str) -> Self {
        Self::new(type_name, self.name.clone())
    }
}

impl FromStr for ComponentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| IdError {
            input: s.to_string(),
            reason,
        };
        let (type_name, name) = match s.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (s, None),
        };
        if !valid_type(type_name) {
            return Err(err(
                "the type must be non-empty letters, digits, '_' or '-' (e.g. `otlp` or `otlp/central`)",
            ));
        }
        if let Some(n) = name
            && (n.is_empty() || n.contains('/') || n.chars().any(char::is_whitespace))
        {
            return Err(err(
                "the name after '/' must be non-empty, without '/' or spaces",
            ));
        }
        Ok(Self::new(type_name, name.map(str::to_string)))
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.type_name, n),
            None => f.write_str(&self.type_name),
        }
    }
}

/// `signal[/name]` under `service.pipelines`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub kind: DataKind,
    pub name: Option<String>,
}

impl FromStr for PipelineId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id: ComponentId = s.parse()?;
        let kind = id.type_name().parse().map_err(|_| IdError {
            input: s.to_string(),
            reason: "a pipeline is named after its signal: `metrics`, `logs` or `traces`, optionally followed by `/name`",
        })?;
        Ok(Self {
            kind,
            name: id.name().map(str::to_string),
        })
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.kind, n),
            None => write!(f, "{}", self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_name() {
        let id: ComponentId = "otlp/central".parse().unwrap();
        assert_eq!(id.type_name(), "otlp");
        assert_eq!(id.name(), Some("central"));
        assert_eq!(id.to_string(), "otlp/central");
        let id: ComponentId = "batch".parse().unwrap();
        assert_eq!(id.name(), None);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in ["", "/x", "otlp/", "a b", "otlp/a/b", "ot lp"] {
            assert!(bad.parse::<ComponentId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pipeline_ids_name_a_signal() {
        let p: PipelineId = "metrics/jmx".parse().unwrap();
        assert_eq!(p.kind, DataKind::Metrics);
        assert_eq!(p.to_string(), "metrics/jmx");
        assert!("profiles".parse::<PipelineId>().is_err());
    }
}
