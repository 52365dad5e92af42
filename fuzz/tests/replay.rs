//! Every committed corpus input and every finding, through its target: none may panic, run
//! past the time bound or allocate past the allocation bound. A finding saved by the fuzzer
//! and committed with its fix stays here as a regression test.

use std::time::Duration;

use kafka_obs_fuzz::check::{Bounds, Verdict, Watchdog};
use kafka_obs_fuzz::corpus;
use kafka_obs_fuzz::targets::TARGETS;

#[test]
fn every_corpus_input_and_finding_replays_cleanly() {
    let _turn = crate::exclusive();
    let bounds = Bounds::default();
    // A hang fails the test binary instead of blocking it forever.
    let watchdog = Watchdog::start(Duration::from_secs(120), |target, data, took| {
        eprintln!(
            "{target}: input {} hung for {took:?}",
            corpus::name_of(data)
        );
    });
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in TARGETS {
        let mut inputs = corpus::seeds(target).unwrap();
        assert!(
            !inputs.is_empty(),
            "{}: no committed corpus in {}",
            target.name,
            corpus::corpus_dir(target).display()
        );
        inputs.extend(corpus::read_dir(&corpus::findings_dir(target)).unwrap());
        for (path, data) in inputs {
            replayed += 1;
            if let Verdict::Finding(finding) = watchdog.run(target, &data, &bounds) {
                failures.push(format!("{}: {} {finding}", target.name, path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_seeds_that_reach_past_the_first_check() {
    // A corpus of inputs that all fail the same way would leave the mutator at the door: each
    // target's seeds must include an accepted input.
    let _turn = crate::exclusive();
    let bounds = Bounds::default();
    for target in TARGETS {
        let accepted = corpus::seeds(target)
            .unwrap()
            .iter()
            .filter(|(_, data)| {
                kafka_obs_fuzz::check::run(target, data, &bounds) == Verdict::Accepted
            })
            .count();
        assert!(accepted > 0, "{}: no seed is accepted", target.name);
    }
}
