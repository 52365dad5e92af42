//! Configuration errors: what is wrong, at which key path, where in which file, what to do.

use std::fmt;

/// Where a key is written: the file (and its place among the `--config` files) and the line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Position of the file among the `--config` files, so errors sort file by file.
    pub file_index: usize,
    /// 1-based; 0 when the error concerns the file as a whole.
    pub line: usize,
    pub file: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path with `::` separators, e.g. `service::pipelines::metrics::receivers`.
    pub path: String,
    /// Where the key (or its nearest parent) is written, when known.
    pub location: Option<Location>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            location: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(loc) = &self.location {
            write!(f, " (at {loc})")?;
        }
        Ok(())
    }
}

/// Every problem found; loading reports them all at once rather than one per run, in the
/// order they are written (file by file, line by line; errors without a place first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// `errors` sorted by where they are written; the same error found twice is said once.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        // A stable sort keeps the order of discovery among errors on one line.
        errors.sort_by(|a, b| a.location.cmp(&b.location));
        errors.dedup();
        Self(errors)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} error{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}
