//! kafka-obs configuration: OpenTelemetry-Collector-shaped YAML in, a validated config out.
//!
//! Loading goes in fixed steps so each error can say where it comes from: read and parse every
//! `--config` file (remembering the line of every key), deep-merge them in order, expand
//! `${env:VAR}` references, check the top-level shape (unknown keys are errors), hand each
//! component's body to its factory's `validate`, then check the service graph. Every error
//! names the key path (`exporters::kafka/eu::brokers`) and, where known, the file and line.
//! Nothing downstream ever sees an unvalidated value. Every mistake in a file is reported in
//! one run, sorted by where it is written. `redact` hides secrets from `print-config`.

mod error;
mod expand;
mod model;
mod redact;
mod resolve;
mod source;

pub use error::{ConfigError, ConfigErrors, Location};
pub use model::{
    LogEncoding, LogSettings, MetricsSettings, OtlpPushSettings, TelemetrySettings, TracesSettings,
};
pub use redact::{REDACTED, is_secret_key, redact};
pub use resolve::{Config, LeftOut, Pipeline, Registry};
pub use source::{MAX_ALIAS_VALUES, MAX_FILE_BYTES, Source};

/// Reads, merges, expands and validates `files` against the known component types.
pub fn load(files: &[std::path::PathBuf], registry: &Registry) -> Result<Config, ConfigErrors> {
    let source = Source::read(files)?;
    resolve::resolve(&source, registry)
}

/// Like [`load`] on in-memory documents (`(name, yaml)`), as the fuzzer feeds them.
pub fn load_texts(
    texts: &[(std::path::PathBuf, String)],
    registry: &Registry,
) -> Result<Config, ConfigErrors> {
    let source = Source::from_texts(texts)?;
    resolve::resolve(&source, registry)
}
