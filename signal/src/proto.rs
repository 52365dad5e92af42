//! Signals as kafka-obs's own protobuf messages (`kafka-obs-proto`), for the seed's gRPC
//! signal stream and the Kafka topic:
//!
//! - the full `kafka_obs.signal.v1.Signal` ([`to_proto`], [`from_proto`], [`encode`],
//!   [`decode`]), lossless both ways;
//! - the seed's envelope `kafka_obs.aggregator.v1.SignalEnvelope` ([`to_envelope`],
//!   [`from_envelope`]): `signal_type` like `Queues.OVERFLOW`, `context` with the subject's
//!   levels (`cluster`, `client`, `topic`, `partition`, ...) plus `subject`, `rule` and
//!   `dimension`, and `payload` = the encoded full message, which is authoritative. Reading an
//!   envelope back checks that its `source_id`, `sequence`, `timestamp_ns` and `signal_type`
//!   agree with the payload.

use std::collections::{BTreeMap, btree_map::Entry};

use kafka_obs_proto::{aggregator::v1::SignalEnvelope, signal::v1 as wire};
use prost::Message as _;

use crate::{
    error::{DecodeError, EncodeError},
    kind::{Instrument, SignalKind},
    signal::{Evidence, Signal},
    subject::Subject,
};

/// Envelope context keys that are not subject levels.
pub mod context {
    /// The subject's path.
    pub const SUBJECT: &str = "subject";
    /// The rule id.
    pub const RULE: &str = "rule";
    /// The dimension, when the instrument has one.
    pub const DIMENSION: &str = "dimension";
}

/// The full protobuf message.
pub fn to_proto(signal: &Signal) -> wire::Signal {
    wire::Signal {
        subject: signal
            .subject
            .segments()
            .iter()
            .map(|s| wire::SubjectSegment {
                level: s.level().to_string(),
                value: s.value().to_string(),
            })
            .collect(),
        instrument: signal.kind.instrument().as_str().to_string(),
        sign: signal.kind.sign_str().to_string(),
        dimension: signal.kind.dimension_str().unwrap_or_default().to_string(),
        evidence: signal
            .evidence
            .values
            .iter()
            .map(|(name, value)| wire::EvidenceValue {
                name: name.clone(),
                value: *value,
            })
            .collect(),
        threshold: signal.evidence.threshold,
        rule: signal.evidence.rule.clone(),
        time_unix_nano: signal.time_unix_nano,
        source_id: signal.source_id.clone(),
        sequence: signal.sequence,
        attributes: signal.attributes.clone(),
    }
}

/// Reads the full protobuf message back, checking the vocabulary and the subject.
pub fn from_proto(message: wire::Signal) -> Result<Signal, DecodeError> {
    let instrument: Instrument = message.instrument.parse()?;
    let kind = SignalKind::from_parts(instrument, &message.sign, Some(&message.dimension))?;
    let subject = Subject::from_pairs(message.subject.into_iter().map(|s| (s.level, s.value)))?;
    let mut values = BTreeMap::new();
    for wire::EvidenceValue { name, value } in message.evidence {
        match values.entry(name) {
            Entry::Occupied(slot) => {
                return Err(DecodeError::Duplicate(format!("evidence {}", slot.key())));
            }
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    Ok(Signal {
        subject,
        kind,
        evidence: Evidence {
            values,
            threshold: message.threshold,
            rule: message.rule,
        },
        time_unix_nano: message.time_unix_nano,
        source_id: message.source_id,
        sequence: message.sequence,
        attributes: message.attributes,
    })
}

/// The protobuf encoding of the full message (deterministic: maps are ordered).
pub fn encode(signal: &Signal) -> Vec<u8> {
    to_proto(signal).encode_to_vec()
}

/// Decodes bytes made by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Signal, DecodeError> {
    from_proto(wire::Signal::decode(bytes)?)
}

/// The seed's envelope around the encoded signal. Fails only for times after 2262, which do
/// not fit the envelope's signed `timestamp_ns`.
pub fn to_envelope(signal: &Signal) -> Result<SignalEnvelope, EncodeError> {
    let timestamp_ns = i64::try_from(signal.time_unix_nano)
        .map_err(|_| EncodeError::TimeOutOfRange(signal.time_unix_nano))?;
    let mut context = BTreeMap::new();
    for segment in signal.subject.segments() {
        let level = segment.level();
        if !level.is_empty()
            && ![context::SUBJECT, context::RULE, context::DIMENSION].contains(&level)
        {
            context
                .entry(level.to_string())
                .or_insert_with(|| segment.value().to_string());
        }
    }
    context.insert(context::SUBJECT.to_string(), signal.subject.path());
    if !signal.evidence.rule.is_empty() {
        context.insert(context::RULE.to_string(), signal.evidence.rule.clone());
    }
    if let Some(dimension) = signal.kind.dimension_str() {
        context.insert(context::DIMENSION.to_string(), dimension.to_string());
    }
    Ok(SignalEnvelope {
        source_id: signal.source_id.clone(),
        signal_type: signal.kind.signal_type(),
        timestamp_ns,
        context,
        payload: encode(signal),
        sequence: signal.sequence,
    })
}

/// Reads the signal out of an envelope: the payload, checked against the envelope's fields.
pub fn from_envelope(envelope: &SignalEnvelope) -> Result<Signal, DecodeError> {
    let signal = decode(&envelope.payload)?;
    let mismatch = |field, envelope: String, payload: String| {
        Err(DecodeError::EnvelopeMismatch {
            field,
            envelope,
            payload,
        })
    };
    if envelope.source_id != signal.source_id {
        return mismatch("source_id", envelope.source_id.clone(), signal.source_id);
    }
    if envelope.sequence != signal.sequence {
        return mismatch(
            "sequence",
            envelope.sequence.to_string(),
            signal.sequence.to_string(),
        );
    }
    if u64::try_from(envelope.timestamp_ns).ok() != Some(signal.time_unix_nano) {
        return mismatch(
            "timestamp_ns",
            envelope.timestamp_ns.to_string(),
            signal.time_unix_nano.to_string(),
        );
    }
    // Accept any spelling the vocabulary accepts (`Queue.OVERFLOW` from a seed-era sender).
    let same_type = envelope
        .signal_type
        .split_once('.')
        .and_then(|(instrument, sign)| {
            let instrument: Instrument = instrument.parse().ok()?;
            let dimension = signal.kind.dimension_str();
            SignalKind::from_parts(instrument, sign, dimension).ok()
        })
        == Some(signal.kind);
    if !same_type {
        return mismatch(
            "signal_type",
            envelope.signal_type.clone(),
            signal.kind.signal_type(),
        );
    }
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Signal {
        Signal::new(
            Subject::from_pairs([
                ("cluster", "prod"),
                ("client", "order-producer"),
                ("topic", "orders"),
                ("partition", "3"),
            ])
            .expect("valid"),
            "Probes.FAIL.OUTBOUND".parse().expect("valid"),
            Evidence::rule("P9")
                .with("record-error-rate", 0.2)
                .threshold(0.0),
            1_700_000_000_000_000_000,
        )
        .from_source("order-service-pod-abc123")
    }

    #[test]
    fn envelope_has_the_seed_fields() -> Result<(), Box<dyn std::error::Error>> {
        let mut signal = fail();
        signal.sequence = 42;
        let envelope = to_envelope(&signal)?;
        assert_eq!(envelope.source_id, "order-service-pod-abc123");
        assert_eq!(envelope.signal_type, "Probes.FAIL");
        assert_eq!(envelope.timestamp_ns, 1_700_000_000_000_000_000);
        assert_eq!(envelope.sequence, 42);
        let context: Vec<(&str, &str)> = envelope
            .context
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            context,
            vec![
                ("client", "order-producer"),
                ("cluster", "prod"),
                ("dimension", "OUTBOUND"),
                ("partition", "3"),
                ("rule", "P9"),
                ("subject", "prod/order-producer/orders/3"),
                ("topic", "orders"),
            ]
        );
        assert_eq!(from_envelope(&envelope)?, signal);
        Ok(())
    }

    #[test]
    fn envelope_disagreeing_with_its_payload_is_an_error() -> Result<(), EncodeError> {
        let good = to_envelope(&fail())?;
        let mut bad = good.clone();
        bad.sequence = 9;
        assert!(matches!(
            from_envelope(&bad),
            Err(DecodeError::EnvelopeMismatch {
                field: "sequence",
                ..
            })
        ));
        let mut bad = good.clone();
        bad.signal_type = "Queues.OVERFLOW".into();
        assert!(matches!(
            from_envelope(&bad),
            Err(DecodeError::EnvelopeMismatch {
                field: "signal_type",
                ..
            })
        ));
        let mut seed_spelling = good.clone();
        seed_spelling.signal_type = "Probe.FAILURE".into();
        assert_eq!(from_envelope(&seed_spelling), Ok(fail()));
        let mut garbage = good;
        garbage.payload = vec![0xff, 0xff, 0xff];
        assert!(matches!(
            from_envelope(&garbage),
            Err(DecodeError::Protobuf(_))
        ));
        Ok(())
    }

    #[test]
    fn invalid_messages_are_errors() {
        let mut message = to_proto(&fail());
        message.dimension.clear();
        assert!(matches!(
            from_proto(message),
            Err(DecodeError::Vocabulary(_))
        ));
        let mut message = to_proto(&fail());
        message.subject[1].value.clear();
        assert!(matches!(from_proto(message), Err(DecodeError::Subject(_))));
        let mut message = to_proto(&fail());
        message.evidence.push(message.evidence[0].clone());
        assert!(matches!(
            from_proto(message),
            Err(DecodeError::Duplicate(_))
        ));
    }

    #[test]
    fn times_after_2262_do_not_fit_the_envelope() {
        let mut signal = fail();
        signal.time_unix_nano = u64::MAX;
        assert_eq!(
            to_envelope(&signal),
            Err(EncodeError::TimeOutOfRange(u64::MAX))
        );
    }
}
