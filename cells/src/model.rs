//! The small value types the engine speaks in: a cell's id and kind, a [`Status`] (status with
//! confidence, ordered for roll-ups) and a [`Situation`] (situation with variability).
//! They serialize as the vocabulary's canonical names (`"DEGRADED"`, `"MEASURED"`).

use std::fmt;

use kafka_obs_signal::{Subject, situations, statuses};
use serde::{Serialize, Serializer, ser::SerializeStruct};

/// A cell's handle: its slot and the slot's generation, so a handle to an evicted cell never
/// reaches the cell that reuses the slot. Serializes as one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl CellId {
    /// The root cell (the empty subject), which always exists.
    pub const ROOT: Self = Self {
        index: 0,
        generation: 0,
    };

    /// The id as one number (generation in the high 32 bits).
    pub const fn as_u64(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }
}

impl Serialize for CellId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.as_u64())
    }
}

/// What a cell stands for, from its subject level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// The root of the tree (the empty subject).
    Root,
    /// `cluster=`
    Cluster,
    /// `broker=`
    Broker,
    /// `topic=`
    Topic,
    /// `partition=`
    Partition,
    /// `service=`
    Service,
    /// `instance=`
    Instance,
    /// `client=`
    Client,
    /// `group=` (a consumer group)
    Group,
    /// Any other level (`target=`, user-defined levels, unknown levels).
    Other,
}

impl CellKind {
    /// The kind of a cell at subject level `level`.
    pub fn of_level(level: &str) -> Self {
        match level {
            "cluster" => Self::Cluster,
            "broker" => Self::Broker,
            "topic" => Self::Topic,
            "partition" => Self::Partition,
            "service" => Self::Service,
            "instance" => Self::Instance,
            "client" => Self::Client,
            "group" => Self::Group,
            _ => Self::Other,
        }
    }
}

/// A status with its confidence. `Ord` is the roll-up order: by severity first (`DOWN >
/// DEFECTIVE > ... > STABLE`), then by confidence, so the worst of several readings is their
/// `max()` and, of two equally bad ones, the surer one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status {
    /// The status sign.
    pub sign: statuses::Sign,
    /// How sure.
    pub confidence: statuses::Confidence,
}

impl Status {
    /// A status.
    pub const fn new(sign: statuses::Sign, confidence: statuses::Confidence) -> Self {
        Self { sign, confidence }
    }

    /// Index 0..21 in roll-up order (see `Ord`).
    pub(crate) const fn bucket(self) -> usize {
        self.sign.rank() as usize * 3 + self.confidence as usize
    }

    /// The inverse of [`Status::bucket`].
    pub(crate) fn from_bucket(bucket: usize) -> Option<Self> {
        let sign = statuses::Sign::ALL.get(bucket / 3)?;
        let confidence = statuses::Confidence::ALL.get(bucket % 3)?;
        Some(Self::new(*sign, *confidence))
    }

    /// The situation this status reads as (`docs/vocabulary.md`'s default reading, with the optional
    /// escalation of a CONFIRMED DEGRADED).
    pub const fn situation(self, escalate_confirmed_degraded: bool) -> situations::Sign {
        self.sign
            .situation_with(self.confidence, escalate_confirmed_degraded)
    }
}

/// Number of [`Status`] buckets (7 signs × 3 confidences).
pub(crate) const BUCKETS: usize = 21;

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.sign, self.confidence)
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Status", 3)?;
        st.serialize_field("status", self.sign.as_str())?;
        st.serialize_field("confidence", self.confidence.as_str())?;
        st.serialize_field("rank", &self.sign.rank())?;
        st.end()
    }
}

/// A situation with its variability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Situation {
    /// NORMAL, WARNING or CRITICAL.
    pub sign: situations::Sign,
    /// CONSTANT, VARIABLE or VOLATILE: how often the cell's situation changed recently.
    pub variability: situations::Variability,
}

impl Situation {
    /// NORMAL and CONSTANT: a cell with nothing to say.
    pub const NORMAL: Self = Self {
        sign: situations::Sign::Normal,
        variability: situations::Variability::Constant,
    };
}

impl Default for Situation {
    fn default() -> Self {
        Self::NORMAL
    }
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.sign, self.variability)
    }
}

impl Serialize for Situation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Situation", 2)?;
        st.serialize_field("situation", self.sign.as_str())?;
        st.serialize_field("variability", self.variability.as_str())?;
        st.end()
    }
}

/// The scale-out partitioning key of a subject: the value of its first `cluster` level, or
/// `""` for subjects outside any cluster. Every cell a subject creates, and every cell
/// correlation may relate it to, has the same key, so one aggregator per key sees all it
/// needs.
pub fn cluster_key(subject: &Subject) -> &str {
    subject.get("cluster").unwrap_or("")
}

pub(crate) fn serialize_situation_sign<S: Serializer>(
    sign: &situations::Sign,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(sign.as_str())
}

pub(crate) fn serialize_actor_sign<S: Serializer>(
    sign: &kafka_obs_signal::actors::Sign,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(sign.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use statuses::{Confidence, Sign};

    #[test]
    fn buckets_follow_the_roll_up_order() {
        let mut all = Vec::new();
        for &sign in Sign::ALL {
            for &confidence in Confidence::ALL {
                all.push(Status::new(sign, confidence));
            }
        }
        assert_eq!(all.len(), BUCKETS);
        for pair in all.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].bucket() < pair[1].bucket());
        }
        for s in all {
            assert_eq!(Status::from_bucket(s.bucket()), Some(s));
        }
        assert_eq!(Status::from_bucket(BUCKETS), None);
    }

    #[test]
    fn serializes_with_canonical_names() {
        let status = Status::new(Sign::Degraded, Confidence::Measured);
        let json = serde_json::to_string(&status).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"status":"DEGRADED","confidence":"MEASURED","rank":4}"#
        );
        let json = serde_json::to_string(&Situation::NORMAL).unwrap_or_default();
        assert_eq!(json, r#"{"situation":"NORMAL","variability":"CONSTANT"}"#);
    }

    #[test]
    fn cluster_key_is_the_cluster_value() {
        let s: Subject = "cluster=prod/broker=2".parse().unwrap_or_default();
        assert_eq!(cluster_key(&s), "prod");
        assert_eq!(cluster_key(&Subject::root()), "");
    }
}
