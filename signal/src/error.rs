//! Errors of putting signals on the wire and reading them back. Decoding never panics: a
//! malformed record, message or envelope is a [`DecodeError`] that says what was wrong.

use crate::{kind::VocabError, subject::SubjectError};

/// A log record, protobuf message or envelope that is not a valid signal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The log record's `event_name` is not the signal event.
    #[error("log record is not a signal: event_name is `{event_name}`, expected `{expected}`")]
    NotASignal {
        /// What the record had.
        event_name: String,
        /// What a signal has.
        expected: &'static str,
    },
    /// A required attribute or field is missing.
    #[error("signal has no `{0}`")]
    Missing(&'static str),
    /// The same attribute (or evidence name) appears twice.
    #[error("signal has `{0}` more than once")]
    Duplicate(String),
    /// An attribute has the wrong type or an unusable value.
    #[error("signal attribute `{key}` must be {expected}")]
    WrongType {
        /// The attribute key.
        key: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// Instrument, sign or dimension not valid together.
    #[error("signal has an invalid instrument, sign or dimension: {0}")]
    Vocabulary(#[from] VocabError),
    /// The subject does not parse.
    #[error("signal has an invalid subject: {0}")]
    Subject(#[from] SubjectError),
    /// The protobuf bytes do not decode.
    #[error("signal payload is not a kafka_obs.signal.v1.Signal: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// An envelope field disagrees with its payload.
    #[error("envelope `{field}` is `{envelope}` but its payload says `{payload}`")]
    EnvelopeMismatch {
        /// The field.
        field: &'static str,
        /// The envelope's value.
        envelope: String,
        /// The payload's value.
        payload: String,
    },
}

impl From<crate::names::UnknownName> for DecodeError {
    fn from(unknown: crate::names::UnknownName) -> Self {
        Self::Vocabulary(VocabError::Unknown(unknown))
    }
}

/// A signal that cannot be put into a given wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The seed's envelope has a signed 64-bit timestamp; this time does not fit in it.
    #[error(
        "signal time {0} ns is after 2262-04-11 and does not fit the envelope's int64 timestamp_ns"
    )]
    TimeOutOfRange(u64),
}
