//! The fuzz crate's one integration-test binary (issue #12): replays of the committed corpus
//! and findings, the Java serialization generators against the JMX decoder's budgets, and the
//! judge itself.

#![allow(clippy::unwrap_used)]

use std::sync::{Mutex, MutexGuard};

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

// Counts allocations, as in the fuzzer's binary.
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

mod expensive_java;
mod judge;
mod replay;

/// Allocation is counted process-wide: tests that judge inputs take turns so one test's
/// allocations are not charged to another's input.
fn exclusive() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    let guard = TURN.lock().unwrap_or_else(|e| e.into_inner());
    assert!(kafka_obs_fuzz::check::count_allocations(GLOBAL));
    guard
}
