//! The structure-aware Java serialization generators against the JMX client's decoding: every
//! shape (deep nesting, back-references to huge objects, huge declared arrays, wide classes,
//! self-containing CompositeData and TabularData, names with many keys) is well-formed enough
//! to get past the first checks, and the decoder answers each within its bounds: an error or a
//! value, never a hang, a panic or memory beyond the budget.

use std::collections::BTreeMap;

use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use kafka_obs_fuzz::check::{self, Bounds, Verdict};
use kafka_obs_fuzz::generate::javaser::SHAPES;
use kafka_obs_fuzz::run::outcome_class;
use kafka_obs_fuzz::targets;

/// Instances drawn per shape (sizes vary from tiny to the shape's maximum).
const PER_SHAPE: usize = 12;

#[test]
fn expensive_streams_stay_within_the_decoders_budgets() {
    let _turn = crate::exclusive();
    let reply = targets::find("jmx_reply").unwrap();
    let bounds = Bounds::default();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[14; 32]),
    );
    let mut outcomes: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (shape, generate) in SHAPES {
        let mut largest = 0;
        for _ in 0..PER_SHAPE {
            let data = generate(&mut runner);
            largest = largest.max(data.len());
            let outcome = match check::run(reply, &data, &bounds) {
                Verdict::Finding(finding) => panic!(
                    "{shape}: a {} byte reply is a finding: {finding}",
                    data.len()
                ),
                Verdict::Accepted => "accepted".to_string(),
                Verdict::Rejected(message) => outcome_class(&message),
            };
            // Well-formed: the decoder got past the stream grammar every time.
            assert!(
                !outcome.contains("unknown or misplaced tag")
                    && !outcome.contains("not a Java serialization stream"),
                "{shape}: the generator wrote a malformed stream: {outcome}"
            );
            *outcomes
                .entry(shape)
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
        eprintln!(
            "{shape}: largest {largest} bytes, outcomes {:?}",
            outcomes.get(shape)
        );
    }
    assert_eq!(outcomes.len(), SHAPES.len());
}

#[test]
fn the_stream_target_takes_the_same_shapes_without_the_return_byte() {
    let _turn = crate::exclusive();
    let stream = targets::find("jmx_stream").unwrap();
    let bounds = Bounds::default();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[15; 32]),
    );
    for _ in 0..24 {
        let data = kafka_obs_fuzz::generate::javaser::stream(&mut runner);
        assert_eq!(data.get(..2), Some(&[0xAC, 0xED][..]));
        let verdict = check::run(stream, &data, &bounds);
        assert!(!matches!(verdict, Verdict::Finding(_)), "{verdict:?}");
    }
}
