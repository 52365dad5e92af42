//! `kafka-obs-fuzz`: fuzzes every target (or those named) for a time budget each and exits
//! non-zero if any input crashed a decoder, hung it or made it allocate absurdly; such inputs
//! are saved in `fuzz/findings/<target>/`. See docs/fuzzing.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

use kafka_obs_fuzz::check::{self, Bounds, Verdict, Watchdog};
use kafka_obs_fuzz::corpus;
use kafka_obs_fuzz::run::{self, Options};
use kafka_obs_fuzz::targets::{self, TARGETS, Target};

// Counts allocations, so an input that allocates absurdly is a finding.
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

#[derive(Debug, Parser)]
#[command(about = "Fuzz kafka-obs's decoders (stable toolchain, no cargo-fuzz needed)")]
struct Args {
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Fuzz only this target (repeatable); `--list` names them.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Seed of the random choices (default: from the clock; printed, to repeat a run).
    #[arg(long)]
    seed: Option<u64>,
    /// Save inputs that reach a new outcome to fuzz/corpus/<target>/.
    #[arg(long)]
    grow_corpus: bool,
    /// Longest mutated input, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_len: usize,
    /// Time one input may take before it is a finding, in milliseconds (default: 1000, and
    /// 10000 in a debug build).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Run these files through the (single) `--target` and print the verdicts.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for t in TARGETS {
            println!("{:<16} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let chosen: Vec<&'static Target> = if args.targets.is_empty() {
        TARGETS.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &args.targets {
            match targets::find(name) {
                Some(t) => chosen.push(t),
                None => {
                    eprintln!("unknown target {name:?}; `--list` shows the targets");
                    return ExitCode::from(2);
                }
            }
        }
        chosen
    };
    let mut bounds = Bounds::default();
    if let Some(ms) = args.timeout_ms {
        bounds.time = Duration::from_millis(ms);
    }
    if !check::count_allocations(GLOBAL) {
        eprintln!("warning: the counting allocator is not installed; allocation is not checked");
    }
    // Panics are findings, reported once by the runner, not by the default hook's backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let watchdog = Watchdog::start(bounds.time * 3, |target, data, _| {
        if let Some(t) = targets::find(target) {
            match corpus::save(&corpus::findings_dir(t), "slow-", data) {
                Ok(path) => eprintln!("saved {}", path.display()),
                Err(e) => eprintln!("cannot save the hanging input: {e}"),
            }
        }
    });

    if !args.replay.is_empty() {
        let [target] = chosen.as_slice() else {
            eprintln!("--replay needs exactly one --target");
            return ExitCode::from(2);
        };
        return replay(target, &args.replay, &bounds, &watchdog);
    }

    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    println!(
        "fuzzing {} target(s) for {} s each (seed {seed}, time limit {:?} per input)",
        chosen.len(),
        args.seconds,
        bounds.time
    );
    let options = Options {
        duration: Duration::from_secs(args.seconds),
        bounds,
        max_len: args.max_len,
        generated: 0.1,
        grow_corpus: args.grow_corpus,
        seed,
    };
    let mut findings = 0;
    for target in chosen {
        match run::fuzz(target, &options, &watchdog) {
            Ok(report) => {
                println!("{:<16} {report}", target.name);
                findings += report.findings.len();
            }
            Err(e) => {
                eprintln!("{}: cannot read or write the corpus: {e}", target.name);
                return ExitCode::from(2);
            }
        }
    }
    if findings > 0 {
        eprintln!(
            "{findings} finding(s) saved under fuzz/findings/; replay one with \
             `cargo run -p kafka-obs-fuzz -- --target T --replay FILE`"
        );
        ExitCode::FAILURE
    } else {
        println!("no findings");
        ExitCode::SUCCESS
    }
}

fn replay(
    target: &'static Target,
    files: &[PathBuf],
    bounds: &Bounds,
    watchdog: &Watchdog,
) -> ExitCode {
    let mut failed = false;
    for file in files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let verdict = watchdog.run(target, &data, bounds);
        failed |= matches!(verdict, Verdict::Finding(_));
        println!("{}: {verdict:?}", file.display());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
