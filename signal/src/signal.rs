//! The [`Signal`]: one thing witnessed or judged about one subject, with the evidence that
//! lets a human check it. `subject × instrument × sign [× dimension] + evidence`, plus when,
//! from whom, and in which position of its source's stream.

use std::collections::BTreeMap;

use crate::{
    kind::{Severity, SignalKind},
    languages::statuses,
    subject::Subject,
};

/// The numbers and the rule that produced a signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Named values the rule looked at, e.g. `utilization = 0.97`. Keep them finite: NaN
    /// means "no reading" and never produces a signal.
    pub values: BTreeMap<String, f64>,
    /// The threshold the rule compared against, if any.
    pub threshold: Option<f64>,
    /// The rule's id, e.g. `P1`, or a user rule's name.
    pub rule: String,
}

impl Evidence {
    /// Evidence from rule `rule`, with no values yet.
    pub fn rule(rule: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            ..Self::default()
        }
    }

    /// Adds (or replaces) a named value.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Sets the threshold.
    #[must_use]
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

/// One signal. Every field is public and every combination of values is valid: the types of
/// [`SignalKind`] and [`Subject`] already rule out what the vocabulary forbids.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Which thing it is about.
    pub subject: Subject,
    /// Instrument, sign and dimension: what was witnessed or judged.
    pub kind: SignalKind,
    /// The numbers and rule behind it.
    pub evidence: Evidence,
    /// When, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Who emitted it (the collector or sidecar instance), e.g. `order-service-pod-abc123`.
    pub source_id: String,
    /// Position in the source's stream; set by whoever ships it, 0 until then.
    pub sequence: u64,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Signal {
    /// A signal with no source, sequence 0 and no attributes.
    pub fn new(
        subject: Subject,
        kind: SignalKind,
        evidence: Evidence,
        time_unix_nano: u64,
    ) -> Self {
        Self {
            subject,
            kind,
            evidence,
            time_unix_nano,
            source_id: String::new(),
            sequence: 0,
            attributes: BTreeMap::new(),
        }
    }

    /// Sets the source id.
    #[must_use]
    pub fn from_source(mut self, source_id: impl Into<String>) -> Self {
        self.source_id = source_id.into();
        self
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The status and confidence, if this is a Statuses signal.
    pub fn status(&self) -> Option<(statuses::Sign, statuses::Confidence)> {
        self.kind.status()
    }

    /// How loudly to log it; see [`SignalKind::severity`].
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}
