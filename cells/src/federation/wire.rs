//! The federation contract: a federated cell travels as a `Statuses` signal, so the signal
//! stream's acks, de-duplication and authentication, the Kafka topic and the parent's
//! observers all carry it unchanged. Its subject is the child's cell path under the child's
//! prefix; its sign and confidence are the child's shown status; its source is the sending
//! hierarchy; its time is the onset of the cell's trouble (so chains order by the child's
//! onset) or the send time. The rest are attributes named here, read by nobody else.

use std::collections::BTreeMap;

use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, situations};

use crate::model::{Situation, Status};

/// The rule id of a federated reading at the parent.
pub const RULE: &str = "federation";
/// The hierarchies the record passed through, comma-separated, the sender last.
pub const ORIGIN: &str = "kafka_obs.federation.origin";
/// The child's situation sign.
pub const SITUATION: &str = "kafka_obs.federation.situation";
/// The child's variability.
pub const VARIABILITY: &str = "kafka_obs.federation.variability";
/// The child's open incident this cell is in: `<origin>#<id>`.
pub const INCIDENT: &str = "kafka_obs.federation.incident";
/// That incident's probable root cause (a path in the child's tree, unprefixed).
pub const ROOT_CAUSE: &str = "kafka_obs.federation.root_cause";
/// That incident's chain as one sentence.
pub const EXPLANATION: &str = "kafka_obs.federation.explanation";
/// The story that incident continues (see [`super::story`]): the parent derives its own
/// incident's id from it.
pub const STORY: &str = "kafka_obs.federation.story";

/// The child's incident a federated cell is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRef {
    /// `<child id>#<child incident id>`: stable across resends and parent restarts.
    pub key: String,
    /// The probable root cause, a path in the child's tree.
    pub root_cause: String,
    /// The chain as one sentence.
    pub explanation: String,
    /// The story key (`<hierarchy>#<id>@<opened ns>` of the incident that began it).
    pub story: String,
}

/// One federated cell, as both ends see it.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord {
    /// The cell's subject under the sender's prefix.
    pub subject: Subject,
    /// The sender's shown status with its confidence.
    pub status: Status,
    /// The sender's situation with its variability.
    pub situation: Situation,
    /// Hierarchy ids the record passed through, the sender last; never empty.
    pub origin: Vec<String>,
    /// The sender's open incident this cell is in.
    pub incident: Option<IncidentRef>,
    /// The evidence of the worst reading behind the status (rule and values).
    pub evidence: Evidence,
    /// Onset of the cell's trouble, or the send time (ns since the epoch).
    pub time_unix_nano: u64,
}

/// Why a signal that says it is a federated cell could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("federated cell {subject}: it is not a Statuses signal")]
    NotAStatus { subject: String },
    #[error("federated cell {subject}: attribute {key} is missing or empty")]
    Missing { subject: String, key: &'static str },
    #[error("federated cell {subject}: attribute {key} has the unknown value {value:?}")]
    Unknown {
        subject: String,
        key: &'static str,
        value: String,
    },
}

/// Whether a signal is a federated cell (rule [`RULE`] with an [`ORIGIN`]).
pub fn is_record(signal: &Signal) -> bool {
    signal.evidence.rule == RULE && signal.attributes.contains_key(ORIGIN)
}

/// The story of the child's incident a federated cell is in, if the signal is one that has
/// it; the engine reads it on ingest without decoding the whole record.
pub fn story_of(signal: &Signal) -> Option<&str> {
    if signal.evidence.rule != RULE {
        return None;
    }
    signal
        .attributes
        .get(STORY)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

impl CellRecord {
    /// The record as the signal that carries it; its source is the sender, the origin's last.
    pub fn to_signal(&self) -> Signal {
        let mut attributes = BTreeMap::new();
        attributes.insert(ORIGIN.to_string(), self.origin.join(","));
        attributes.insert(
            SITUATION.to_string(),
            self.situation.sign.as_str().to_string(),
        );
        attributes.insert(
            VARIABILITY.to_string(),
            self.situation.variability.as_str().to_string(),
        );
        if let Some(incident) = &self.incident {
            attributes.insert(INCIDENT.to_string(), incident.key.clone());
            attributes.insert(ROOT_CAUSE.to_string(), incident.root_cause.clone());
            attributes.insert(EXPLANATION.to_string(), incident.explanation.clone());
            attributes.insert(STORY.to_string(), incident.story.clone());
        }
        let mut evidence = self.evidence.clone();
        evidence.rule = RULE.to_string();
        let mut signal = Signal::new(
            self.subject.clone(),
            SignalKind::Statuses(self.status.sign, self.status.confidence),
            evidence,
            self.time_unix_nano,
        );
        signal.source_id = self.origin.last().cloned().unwrap_or_default();
        signal.attributes = attributes;
        signal
    }

    /// Reads a federated cell back; `Ok(None)` for a signal that is not one.
    pub fn from_signal(signal: &Signal) -> Result<Option<Self>, WireError> {
        if !is_record(signal) {
            return Ok(None);
        }
        let subject = || signal.subject.qualified();
        let SignalKind::Statuses(status_sign, confidence) = signal.kind else {
            return Err(WireError::NotAStatus { subject: subject() });
        };
        let text = |key: &'static str| -> Result<&str, WireError> {
            match signal.attributes.get(key) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(WireError::Missing {
                    subject: subject(),
                    key,
                }),
            }
        };
        let origin: Vec<String> = text(ORIGIN)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let situation_text = text(SITUATION)?;
        let sign = situations::Sign::parse(situation_text).ok_or_else(|| WireError::Unknown {
            subject: subject(),
            key: SITUATION,
            value: situation_text.to_string(),
        })?;
        let variability_text = text(VARIABILITY)?;
        let variability =
            situations::Variability::parse(variability_text).ok_or_else(|| WireError::Unknown {
                subject: subject(),
                key: VARIABILITY,
                value: variability_text.to_string(),
            })?;
        let incident = match signal.attributes.get(INCIDENT) {
            Some(key) if !key.is_empty() => Some(IncidentRef {
                key: key.clone(),
                root_cause: signal
                    .attributes
                    .get(ROOT_CAUSE)
                    .cloned()
                    .unwrap_or_default(),
                explanation: signal
                    .attributes
                    .get(EXPLANATION)
                    .cloned()
                    .unwrap_or_default(),
                // A sender without stories: its incident key is the best stable name.
                story: story_of(signal).unwrap_or(key).to_string(),
            }),
            _ => None,
        };
        Ok(Some(Self {
            subject: signal.subject.clone(),
            status: Status::new(status_sign, confidence),
            situation: Situation { sign, variability },
            origin,
            incident,
            evidence: signal.evidence.clone(),
            time_unix_nano: signal.time_unix_nano,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_signal::statuses;

    fn record() -> CellRecord {
        CellRecord {
            subject: "region=eu-1/cluster=prod".parse().expect("subject"),
            status: Status::new(statuses::Sign::Degraded, statuses::Confidence::Measured),
            situation: Situation {
                sign: situations::Sign::Warning,
                variability: situations::Variability::Variable,
            },
            origin: vec!["sidecar-a".into(), "central-eu".into()],
            incident: Some(IncidentRef {
                key: "central-eu#3".into(),
                root_cause: "cluster=prod/broker=2".into(),
                explanation: "broker=2 DEGRADED".into(),
                story: "sidecar-a#1@7".into(),
            }),
            evidence: Evidence::rule("B1").with("under_replicated", 2.0),
            time_unix_nano: 42,
        }
    }

    #[test]
    fn a_record_survives_its_signal() {
        let r = record();
        let signal = r.to_signal();
        assert_eq!(signal.source_id, "central-eu");
        assert_eq!(signal.evidence.rule, RULE);
        let back = CellRecord::from_signal(&signal)
            .expect("decodes")
            .expect("a record");
        let mut expected = r;
        expected.evidence.rule = RULE.into();
        assert_eq!(back, expected);
    }

    #[test]
    fn an_ordinary_signal_is_not_a_record() {
        let mut signal = record().to_signal();
        signal.attributes.remove(ORIGIN);
        assert_eq!(CellRecord::from_signal(&signal), Ok(None));
    }

    #[test]
    fn a_record_with_a_bad_attribute_is_refused_by_name() {
        let mut signal = record().to_signal();
        signal.attributes.insert(SITUATION.into(), "FINE".into());
        let err = CellRecord::from_signal(&signal).expect_err("refused");
        assert!(err.to_string().contains(SITUATION), "{err}");
        let mut signal = record().to_signal();
        signal.attributes.insert(ORIGIN.into(), String::new());
        assert!(matches!(
            CellRecord::from_signal(&signal),
            Err(WireError::Missing { key: ORIGIN, .. })
        ));
        let mut signal = record().to_signal();
        signal.kind =
            SignalKind::Situations(situations::Sign::Warning, situations::Variability::Constant);
        assert!(matches!(
            CellRecord::from_signal(&signal),
            Err(WireError::NotAStatus { .. })
        ));
    }
}
