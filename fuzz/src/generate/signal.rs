//! Signal envelopes as a sidecar sends them on the signal stream: every kind the vocabulary
//! has, subjects of random depth and names, evidence with non-finite and extreme numbers, many
//! attributes; and, some of the time, an envelope whose fields disagree with its payload (a
//! confused or hostile sender).

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use prost::Message;

use kafka_obs_signal::proto::to_envelope;
use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject};

use super::{draw, size};

/// Envelope and vocabulary words the mutator splices in.
pub static DICTIONARY: &[&[u8]] = &[
    b"cluster",
    b"client",
    b"topic",
    b"partition",
    b"subject",
    b"rule",
    b"dimension",
    b"Queues.OVERFLOW",
    b"Probes.FAIL",
    b"Statuses.DEGRADED",
    b"\x0a\x00",
    b"\x12\xff\xff\xff\xff\x0f",
];

const LEVELS: &[&str] = &[
    "cluster",
    "broker",
    "client",
    "group",
    "topic",
    "partition",
    "",
];

/// One encoded `SignalEnvelope`.
pub fn envelope(runner: &mut TestRunner) -> Vec<u8> {
    let kinds = SignalKind::all();
    let kind = kinds
        .get(runner.rng().random_range(0..kinds.len().max(1)))
        .cloned();
    let Some(kind) = kind else {
        return Vec::new();
    };
    let depth = size(runner, 64);
    let pairs: Vec<(String, String)> = (0..depth)
        .map(|i| {
            let level = LEVELS[i % LEVELS.len()].to_string();
            (level, draw(runner, "[a-z0-9.\\-/]{1,16}"))
        })
        .collect();
    let subject = Subject::from_pairs(pairs).unwrap_or_default();
    let mut evidence = Evidence::rule(draw(runner, "[A-Z][0-9]{0,3}"));
    for i in 0..size(runner, 200) {
        let value = draw(
            runner,
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::MAX),
                -1e6f64..1e6
            ],
        );
        evidence = evidence.with(format!("e{i}"), value);
    }
    let time = draw(
        runner,
        prop_oneof![
            Just(u64::MAX),
            Just(0u64),
            1_600_000_000_000_000_000u64..1_900_000_000_000_000_000
        ],
    );
    let mut signal =
        Signal::new(subject, kind, evidence, time).from_source(draw(runner, ".{0,40}"));
    signal.sequence = draw(runner, any::<u64>());
    for i in 0..size(runner, 1_000) {
        signal = signal.with_attribute(format!("a{i}"), "v".repeat(size(runner, 1_000)));
    }
    let Ok(mut envelope) = to_envelope(&signal) else {
        // A time past 2262 has no envelope; the payload alone still makes a message.
        return kafka_obs_signal::proto::encode(&signal);
    };
    match runner.rng().random_range(0..6) {
        0 => envelope.sequence = envelope.sequence.wrapping_add(1),
        1 => envelope.signal_type = draw(runner, "[A-Za-z]{0,12}\\.[A-Z_]{0,12}"),
        2 => envelope.timestamp_ns = -1,
        3 => envelope
            .payload
            .truncate(size(runner, envelope.payload.len())),
        _ => {}
    }
    envelope.encode_to_vec()
}
