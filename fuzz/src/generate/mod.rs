//! Structure-aware generators: inputs that get past a decoder's first checks because they are
//! valid, or nearly so, and are built to reach its expensive and rarely taken paths. Random
//! bytes almost never form a Java serialization stream with back-references or a protobuf
//! message nested a hundred levels deep; these do, with sizes and shapes drawn at random.
//!
//! Every random choice comes from proptest: its strategies for values, its RNG for sizes.

pub mod config;
pub mod javaser;
pub mod otlp;
pub mod signal;

use proptest::prelude::RngExt;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// One value of `strategy`.
pub fn draw<S: Strategy>(runner: &mut TestRunner, strategy: S) -> S::Value {
    // Only filtered strategies can fail to produce a value; none here filters.
    strategy
        .new_tree(runner)
        .map(|tree| tree.current())
        .expect("an unfiltered strategy always yields a value")
}

/// A size in `0..=max`, small far more often than large (half the draws stay under 16), so
/// both the common and the extreme shapes come up.
pub fn size(runner: &mut TestRunner, max: usize) -> usize {
    let rng = runner.rng();
    let bits = usize::BITS - max.leading_zeros();
    let cap = match rng.random_range(0..=bits) {
        b if b >= usize::BITS => max,
        b => (1usize << b).min(max),
    };
    rng.random_range(0..=cap)
}

/// One of `choices`, uniformly.
pub fn pick<T: Copy>(runner: &mut TestRunner, choices: &[T]) -> T {
    let i = runner.rng().random_range(0..choices.len());
    choices[i]
}
