//! Running one input and judging it: a panic, an input that takes longer than the time limit,
//! or one that allocates more than the allocation limit is a finding; anything else (accepted
//! or rejected with an error) is fine.
//!
//! A decoder that hangs never returns to be judged, so a [`Watchdog`] thread watches the
//! input in flight and, past the time limit, reports it, hands it to a callback (the runner
//! saves it) and ends the process with a failure.
//!
//! Allocation is counted by `stats_alloc`: the fuzzer's binary and test binary install its
//! counting allocator (only a binary can) and hand it over with [`count_allocations`].

use std::alloc::System;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use stats_alloc::{Region, StatsAlloc};

use crate::targets::Target;

/// When an input counts as a finding.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Longest time one input may take.
    pub time: Duration,
    /// Bytes one input may allocate in all, on top of `alloc_per_byte` per input byte.
    pub alloc: u64,
    pub alloc_per_byte: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            // A debug build is 10-30x slower; the bound is for hangs and quadratic blow-ups,
            // which exceed it by far either way.
            time: if cfg!(debug_assertions) {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(1)
            },
            // The JMX decoders' budgets are 16 MiB each; the OTLP bodies' limits 4 and 20 MiB.
            // Counting every allocation (not the peak), a sound decoder stays well under this.
            alloc: 512 << 20,
            alloc_per_byte: 256,
        }
    }
}

/// What became of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Rejected with the decoder's message.
    Rejected(String),
    /// A finding.
    Finding(Finding),
}

/// Why an input is a finding; the kind names its file in `fuzz/findings/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Panic(String),
    Slow(Duration),
    Alloc(u64),
}

impl Finding {
    /// `crash`, `slow` or `alloc`.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Panic(_) => "crash",
            Finding::Slow(_) => "slow",
            Finding::Alloc(_) => "alloc",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Panic(message) => write!(f, "panicked: {message}"),
            Finding::Slow(took) => write!(f, "took {took:?}"),
            Finding::Alloc(bytes) => write!(f, "allocated {} MiB", bytes >> 20),
        }
    }
}

static COUNTER: OnceLock<&'static StatsAlloc<System>> = OnceLock::new();

/// Makes [`run`] count allocations with `allocator`, the binary's global allocator; returns
/// false if allocations are not seen through it (it is not the global allocator).
pub fn count_allocations(allocator: &'static StatsAlloc<System>) -> bool {
    let _ = COUNTER.set(allocator);
    let region = Region::new(allocator);
    let probe = std::hint::black_box(vec![0u8; 64]);
    drop(probe);
    region.change().bytes_allocated > 0
}

/// Bytes allocated (new and grown) while `f` ran, 0 when not counted.
fn allocated_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let Some(counter) = COUNTER.get() else {
        return (f(), 0);
    };
    let region = Region::new(*counter);
    let out = f();
    let change = region.change();
    let grown = u64::try_from(change.bytes_reallocated.max(0)).unwrap_or(0);
    let bytes = u64::try_from(change.bytes_allocated).unwrap_or(u64::MAX);
    (out, bytes.saturating_add(grown))
}

/// Runs `data` through `target` once and judges it against `bounds`.
pub fn run(target: &Target, data: &[u8], bounds: &Bounds) -> Verdict {
    let started = Instant::now();
    let (outcome, allocated) =
        allocated_during(|| catch_unwind(AssertUnwindSafe(|| (target.decode)(data))));
    let took = started.elapsed();
    let allowed = bounds.alloc.saturating_add(
        bounds
            .alloc_per_byte
            .saturating_mul(u64::try_from(data.len()).unwrap_or(u64::MAX)),
    );
    match outcome {
        Err(panic) => Verdict::Finding(Finding::Panic(panic_message(&*panic))),
        Ok(_) if took > bounds.time => Verdict::Finding(Finding::Slow(took)),
        Ok(_) if allocated > allowed => Verdict::Finding(Finding::Alloc(allocated)),
        Ok(Ok(())) => Verdict::Accepted,
        Ok(Err(message)) => Verdict::Rejected(message),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// The input in flight, as the watchdog sees it.
#[derive(Debug)]
struct InFlight {
    target: &'static str,
    data: Vec<u8>,
    since: Instant,
}

/// Watches the input in flight; one that runs past `limit` is passed to `on_hang`, and the
/// process exits with status 1.
#[derive(Debug, Clone)]
pub struct Watchdog {
    current: Arc<Mutex<Option<InFlight>>>,
}

impl Watchdog {
    pub fn start(
        limit: Duration,
        on_hang: impl Fn(&'static str, &[u8], Duration) + Send + 'static,
    ) -> Self {
        let current: Arc<Mutex<Option<InFlight>>> = Arc::default();
        let watched = Arc::clone(&current);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let guard = watched.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(flight) = guard.as_ref()
                    && flight.since.elapsed() > limit
                {
                    let took = flight.since.elapsed();
                    eprintln!(
                        "FINDING [{}] an input ran for {took:?} without finishing (limit {limit:?})",
                        flight.target
                    );
                    on_hang(flight.target, &flight.data, took);
                    std::process::exit(1);
                }
            }
        });
        Watchdog { current }
    }

    /// Runs `data` through `target` under watch (the input is copied only for the watchdog
    /// to save on a hang).
    pub fn run(&self, target: &'static Target, data: &[u8], bounds: &Bounds) -> Verdict {
        self.set(Some(InFlight {
            target: target.name,
            data: data.to_vec(),
            since: Instant::now(),
        }));
        let verdict = run(target, data, bounds);
        self.set(None);
        verdict
    }

    fn set(&self, flight: Option<InFlight>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = flight;
    }
}
