//! The fuzzing loop for one target, for a time budget: each round either mutates an input of
//! the pool or draws a fresh one from the target's structure-aware generator, runs it under
//! the watchdog and judges it.
//!
//! Without coverage feedback the pool grows by outcome instead: an input whose rejection
//! message (digits and quoted parts blanked) was never seen before reached a check no earlier
//! input reached, so it joins the pool and mutations start from it. With `grow_corpus` it is
//! also saved to the committed corpus.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::RngExt;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::check::{Bounds, Finding, Verdict, Watchdog};
use crate::corpus;
use crate::mutate::{self, Context};
use crate::targets::Target;

/// How one target is fuzzed.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub bounds: Bounds,
    /// Longest mutated input (generated ones may be longer).
    pub max_len: usize,
    /// Share of rounds that draw from the generator instead of mutating.
    pub generated: f64,
    /// Save inputs that reach a new outcome to `fuzz/corpus/<target>/`.
    pub grow_corpus: bool,
    pub seed: u64,
}

/// Inputs up to this size are saved when the corpus grows (it is committed).
const MAX_SAVED: usize = 16 * 1024;
/// Inputs up to this size join the pool.
const MAX_POOLED: usize = 256 * 1024;
/// A target stops after this many findings (the first ones are what a fix needs).
const MAX_FINDINGS: usize = 10;

/// What one target's run did.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: u64,
    pub generated: u64,
    pub accepted: u64,
    pub outcomes: usize,
    pub pool: usize,
    pub saved: usize,
    pub findings: Vec<(Finding, PathBuf)>,
    pub elapsed: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{} runs in {secs:.1} s ({:.0}/s; {} generated, {} accepted), {} distinct outcomes, \
             pool {}, {} saved to the corpus, {} findings",
            self.runs,
            self.runs as f64 / secs.max(0.001),
            self.generated,
            self.accepted,
            self.outcomes,
            self.pool,
            self.saved,
            self.findings.len()
        )
    }
}

/// Fuzzes `target` for `options.duration`.
pub fn fuzz(target: &'static Target, options: &Options, watchdog: &Watchdog) -> io::Result<Report> {
    let started = Instant::now();
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&options.seed.to_le_bytes());
    seed[8..8 + target.name.len().min(24)]
        .copy_from_slice(&target.name.as_bytes()[..target.name.len().min(24)]);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let mut report = Report::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pool: Vec<Vec<u8>> = Vec::new();

    let mut judge =
        |data: Vec<u8>, report: &mut Report, pool: &mut Vec<Vec<u8>>| -> io::Result<()> {
            report.runs += 1;
            let outcome = match watchdog.run(target, &data, &options.bounds) {
                Verdict::Finding(finding) => {
                    let path = corpus::save(
                        &corpus::findings_dir(target),
                        &format!("{}-", finding.kind()),
                        &data,
                    )?;
                    eprintln!(
                        "FINDING [{}] {finding}: saved {}",
                        target.name,
                        path.display()
                    );
                    report.findings.push((finding, path));
                    return Ok(());
                }
                Verdict::Accepted => {
                    report.accepted += 1;
                    "accepted".to_string()
                }
                Verdict::Rejected(message) => outcome_class(&message),
            };
            // An outcome is claimed only by an input small enough to keep (and to save, when
            // growing the corpus), so a smaller input with the same outcome can still claim it.
            let keep = if options.grow_corpus {
                MAX_SAVED
            } else {
                MAX_POOLED
            };
            if data.len() <= keep && seen.insert(outcome) {
                if options.grow_corpus {
                    corpus::save(&corpus::corpus_dir(target), "", &data)?;
                    report.saved += 1;
                }
                pool.push(data);
            }
            Ok(())
        };

    // The seeds first: each is an input too (and the pool starts from them).
    for (_, data) in corpus::seeds(target)? {
        judge(data, &mut report, &mut pool)?;
    }
    // Seeds that share an outcome stay in the pool as mutation bases all the same.
    while started.elapsed() < options.duration && report.findings.len() < MAX_FINDINGS {
        let generate = pool.is_empty() || runner.rng().random_bool(options.generated);
        let data = if generate {
            report.generated += 1;
            (target.generate)(&mut runner)
        } else {
            let rng = runner.rng();
            let base = &pool[rng.random_range(0..pool.len())];
            let other = &pool[rng.random_range(0..pool.len())];
            let cx = Context {
                other,
                dictionary: target.dictionary,
                max_len: options.max_len.max(base.len()),
            };
            mutate::mutate(rng, base, cx)
        };
        judge(data, &mut report, &mut pool)?;
    }
    report.outcomes = seen.len();
    report.pool = pool.len();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A rejection message with what varies from input to input blanked: words holding a digit
/// (offsets, sizes, hex tags), and anything in quotes or backticks (input fragments the message
/// repeats).
pub fn outcome_class(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(160));
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(|c| c.is_ascii_digit()) {
            out.push('N');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in message.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => {}
            None if c.is_alphanumeric() || c == '_' => word.push(c),
            None => {
                flush(&mut word, &mut out);
                // A single quote opens a quote only at the start of a word ('x', not can't).
                let word_start = out.is_empty() || out.ends_with(|p: char| !p.is_alphanumeric());
                if matches!(c, '"' | '`') || (c == '\'' && word_start) {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
        if out.len() >= 160 {
            break;
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::outcome_class;

    #[test]
    fn outcome_classes_ignore_offsets_and_quoted_input() {
        assert_eq!(
            outcome_class("unknown tag 0x7f at offset 1234"),
            outcome_class("unknown tag 0x3e at offset 9")
        );
        assert_eq!(
            outcome_class("unknown key `abc` at line 3"),
            outcome_class("unknown key `zzzz` at line 40")
        );
        assert_eq!(
            outcome_class(r#"invalid MBean name "a\"b:c": key "k0" appears twice"#),
            outcome_class(r#"invalid MBean name "x\"\"y": key "k1" appears twice"#)
        );
        assert_ne!(
            outcome_class("stream ended early"),
            outcome_class("bad header")
        );
    }
}
