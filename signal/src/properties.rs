//! Property tests of the crate's invariants: every wire format round-trips every valid
//! signal exactly, subjects survive their text form, decoders never panic on garbage, and
//! the severity order is a total order consistent with the enums.

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    logs::v1::LogRecord,
};
use proptest::{collection, prelude::*, sample};

use crate::{
    Instrument, Signal, SignalKind, Subject,
    otlp::{
        EVENT_NAME, ExportResource,
        logs::{from_export_request, from_log_record, to_export_request, to_log_record},
    },
    proto, situations, statuses, strategy,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn otlp_log_record_round_trip_is_identity(signal in strategy::signal()) {
        prop_assert_eq!(from_log_record(&to_log_record(&signal)), Ok(signal));
    }

    #[test]
    fn otlp_export_request_round_trip_is_identity(
        signals in collection::vec(strategy::signal(), 0..8)
    ) {
        // Signals are grouped by source (in order of first appearance), each source's
        // signals keeping their order.
        let request = to_export_request(&signals, &ExportResource::default());
        let mut sources: Vec<&str> = Vec::new();
        for signal in &signals {
            if !sources.contains(&signal.source_id.as_str()) {
                sources.push(&signal.source_id);
            }
        }
        let grouped: Vec<Signal> = sources
            .iter()
            .flat_map(|source| signals.iter().filter(move |s| s.source_id == *source))
            .cloned()
            .collect();
        prop_assert_eq!(request.resource_logs.len(), sources.len());
        prop_assert_eq!(from_export_request(&request), Ok(grouped));
    }

    #[test]
    fn otlp_json_round_trip_is_identity(signal in strategy::signal()) {
        // The OTLP/JSON encoding (OTLP/HTTP JSON, the Kafka exporter's otlp_json) keeps
        // every field too.
        let request = to_export_request([&signal], &ExportResource::default());
        let json = serde_json::to_string(&request);
        prop_assert!(json.is_ok());
        let back = serde_json::from_str(&json.unwrap_or_default());
        prop_assert!(back.is_ok(), "{:?}", back.err());
        if let Ok(back) = back {
            prop_assert_eq!(from_export_request(&back), Ok(vec![signal]));
        }
    }

    #[test]
    fn protobuf_round_trip_is_identity(signal in strategy::signal()) {
        prop_assert_eq!(proto::from_proto(proto::to_proto(&signal)), Ok(signal.clone()));
        prop_assert_eq!(proto::decode(&proto::encode(&signal)), Ok(signal));
    }

    #[test]
    fn envelope_round_trip_is_identity(signal in strategy::signal_for_envelope()) {
        let envelope = proto::to_envelope(&signal);
        prop_assert!(envelope.is_ok());
        if let Ok(envelope) = envelope {
            prop_assert_eq!(&envelope.signal_type, &signal.kind.signal_type());
            prop_assert_eq!(proto::from_envelope(&envelope), Ok(signal));
        }
    }

    #[test]
    fn subject_qualified_text_round_trips(subject in strategy::subject()) {
        prop_assert_eq!(format!("{subject:#}").parse::<Subject>(), Ok(subject.clone()));
        prop_assert_eq!(
            Subject::from_paths(&subject.levels_path(), &subject.path()),
            Ok(subject.clone())
        );
        let plain = subject.to_string().parse::<Subject>();
        prop_assert_eq!(plain.map(|s| s.path()), Ok(subject.path()));
    }

    #[test]
    fn parent_is_one_level_up(subject in strategy::subject()) {
        match subject.parent() {
            None => prop_assert!(subject.is_root()),
            Some(parent) => {
                prop_assert_eq!(parent.depth() + 1, subject.depth());
                prop_assert!(parent.contains(&subject));
                prop_assert_eq!(parent.segments(), &subject.segments()[..parent.depth()]);
            }
        }
    }

    #[test]
    fn kind_text_round_trips_in_any_case(kind in strategy::kind(), lower in any::<bool>()) {
        let text = kind.to_string();
        let text = if lower { text.to_lowercase() } else { text };
        prop_assert_eq!(text.parse::<SignalKind>(), Ok(kind));
    }

    #[test]
    fn decoding_garbage_never_panics(
        attributes in collection::vec((garbage_key(), garbage_value()), 0..12),
        time in any::<u64>(),
        bytes in collection::vec(any::<u8>(), 0..64),
    ) {
        let record = LogRecord {
            event_name: EVENT_NAME.to_string(),
            time_unix_nano: time,
            attributes: attributes
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value: value.map(|v| AnyValue { value: Some(v) }),
                    ..KeyValue::default()
                })
                .collect(),
            ..LogRecord::default()
        };
        let _ = from_log_record(&record);
        let _ = proto::decode(&bytes);
    }

    #[test]
    fn severity_order_matches_rank_and_situation(
        a in sample::select(statuses::Sign::ALL),
        b in sample::select(statuses::Sign::ALL),
    ) {
        prop_assert_eq!(a.cmp(&b), a.rank().cmp(&b.rank()));
        prop_assert_eq!(statuses::Sign::from_rank(a.rank()), Some(a));
        prop_assert_eq!(statuses::worst([a, b]), Some(a.max(b)));
        if a <= b {
            prop_assert!(a.situation() <= b.situation());
        }
    }
}

fn garbage_key() -> impl Strategy<Value = String> {
    prop_oneof![
        sample::select(vec![
            "signal.instrument",
            "signal.sign",
            "signal.dimension",
            "signal.subject",
            "signal.subject_levels",
            "signal.rule",
            "signal.threshold",
            "signal.source_id",
            "signal.sequence",
            "signal.evidence.x",
            "signal.attribute.y",
        ])
        .prop_map(String::from),
        ".{0,10}",
    ]
}

fn garbage_value() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        prop_oneof![
            sample::select(Instrument::NAMES).prop_map(String::from),
            Just("OVERFLOW".to_string()),
            Just("OUTBOUND".to_string()),
            ".{0,10}",
        ]
        .prop_map(Value::StringValue),
        any::<i64>().prop_map(Value::IntValue),
        any::<f64>().prop_map(Value::DoubleValue),
        any::<bool>().prop_map(Value::BoolValue),
        collection::vec(any::<u8>(), 0..4).prop_map(Value::BytesValue),
    ])
}

#[test]
fn severity_order_is_the_documented_one() {
    use statuses::Sign::*;
    let mut all = statuses::Sign::ALL.to_vec();
    all.sort();
    all.reverse();
    assert_eq!(
        all,
        vec![
            Down, Defective, Degraded, Erratic, Diverging, Converging, Stable
        ]
    );
}

#[test]
fn default_situation_readings() {
    use situations::Sign::{Critical, Normal, Warning};
    use statuses::{Confidence, Sign::*};
    let readings: Vec<_> = statuses::Sign::ALL
        .iter()
        .map(|s| (s.as_str(), s.situation()))
        .collect();
    assert_eq!(
        readings,
        vec![
            ("STABLE", Normal),
            ("CONVERGING", Normal),
            ("DIVERGING", Warning),
            ("ERRATIC", Warning),
            ("DEGRADED", Warning),
            ("DEFECTIVE", Critical),
            ("DOWN", Critical),
        ]
    );
    assert_eq!(
        Degraded.situation_with(Confidence::Confirmed, true),
        Critical
    );
    assert_eq!(Degraded.situation_with(Confidence::Measured, true), Warning);
    assert_eq!(
        Degraded.situation_with(Confidence::Confirmed, false),
        Warning
    );
}
