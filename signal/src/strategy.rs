//! proptest strategies for arbitrary valid signals, for this crate's property tests and for
//! other crates' (enable the `proptest` feature). They deliberately include awkward text:
//! separators (`/`, `=`, `%`) in subject names, unicode, attribute keys inside the reserved
//! `signal.` namespace, and the extremes of every number.

use proptest::{collection, option, prelude::*, sample};

use crate::{Evidence, Signal, SignalKind, Subject, subject::Segment};

/// Any combination of instrument, sign and dimension the vocabulary allows.
pub fn kind() -> impl Strategy<Value = SignalKind> {
    sample::select(SignalKind::all())
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        sample::select(vec![
            "cluster",
            "service",
            "instance",
            "broker",
            "client",
            "topic",
            "partition",
        ])
        .prop_map(String::from),
        Just(String::new()),
        "[a-z/=%._-]{1,8}",
        ".{1,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9._-]{1,12}", "[/=%a-c]{1,6}", ".{1,8}"]
}

/// Any segment: a known, empty or odd level, and a non-empty value.
pub fn segment() -> impl Strategy<Value = Segment> {
    (level(), value()).prop_filter_map("value is not empty", |(level, value)| {
        Segment::new(level, value).ok()
    })
}

/// Any subject of up to seven segments, including the root.
pub fn subject() -> impl Strategy<Value = Subject> {
    collection::vec((level(), value()), 0..7).prop_filter_map("values are not empty", |pairs| {
        Subject::from_pairs(pairs).ok()
    })
}

/// Any finite number (NaN is "no reading" and never evidence).
pub fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |v| v.is_finite())
}

/// Any evidence.
pub fn evidence() -> impl Strategy<Value = Evidence> {
    (
        collection::btree_map(prop_oneof!["[a-z-]{0,16}", ".{0,6}"], finite(), 0..5),
        option::of(finite()),
        prop_oneof!["[A-Z][0-9]{1,2}", ".{0,10}"],
    )
        .prop_map(|(values, threshold, rule)| Evidence {
            values,
            threshold,
            rule,
        })
}

fn attribute_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z.]{0,12}",
        "signal\\.[a-z._]{0,16}",
        Just("signal.attribute.x".to_string()),
        Just("signal.sign".to_string()),
        ".{0,6}",
    ]
}

/// Any signal at any time.
pub fn signal() -> impl Strategy<Value = Signal> {
    signal_with_time(any::<u64>())
}

/// Any signal whose time fits a signed 64-bit timestamp (the envelope's `timestamp_ns`).
pub fn signal_for_envelope() -> impl Strategy<Value = Signal> {
    signal_with_time(0..=i64::MAX.unsigned_abs())
}

fn signal_with_time(time: impl Strategy<Value = u64>) -> impl Strategy<Value = Signal> {
    (
        subject(),
        kind(),
        evidence(),
        time,
        ".{0,12}",
        any::<u64>(),
        collection::btree_map(attribute_key(), ".{0,8}", 0..5),
    )
        .prop_map(
            |(subject, kind, evidence, time_unix_nano, source_id, sequence, attributes)| Signal {
                subject,
                kind,
                evidence,
                time_unix_nano,
                source_id,
                sequence,
                attributes,
            },
        )
}
