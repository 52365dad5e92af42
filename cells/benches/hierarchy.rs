//! Bench: the cell hierarchy on one core.
//!
//! ```text
//! cargo bench -p kafka-obs-cells --bench hierarchy
//! # knobs: CLUSTERS (3; 33 652 cells each), SIGNALS (2000000), SICK_PER_MILLE (5)
//! ```
//!
//! The tree: per cluster 12 brokers × 50 topics × 40 partitions and 40 services × 5
//! instances × 4 clients × 10 topics, so three clusters make 100 957 cells (96 000 leaves).
//! Every leaf gets a Statuses signal first (building the tree), then SIGNALS signals go to
//! random leaves: healthy leaves send STABLE heartbeats, `SICK_PER_MILLE` of the leaves flap
//! between DEGRADED and STABLE on every signal (roll-up changes up to the cluster, incidents,
//! correlation). Signals arrive in batches of 10 000 freshly built ones (as a receiver hands
//! over what it decoded; building them is not timed), `tick` runs after each batch, engine time
//! moves 50 µs per signal.
//!
//! Figures, each beside a reference measured in the same run:
//! - signals/s into the hierarchy (with roll-up, Reporters, Actors, ticks) vs the same
//!   signals into a plain `HashMap<String, Status>` latest-value map (no tree, no roll-up);
//! - p50/p99/p99.9 of one `ingest` call, which is the time from a signal's arrival to its
//!   parent's (and every ancestor's) updated status, for all signals and for the flips only;
//! - bytes per cell (net heap bytes from a counting global allocator, everything the engine
//!   holds: cells, readings, interned names, indexes) vs bytes per entry of the reference map.

use std::{alloc::System, collections::HashMap, fmt::Write as _, hint::black_box, time::Instant};

use kafka_obs_cells::{Hierarchy, HierarchyConfig, Status};
use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject,
    statuses::{Confidence, Sign},
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NS: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * NS;
/// Signals per batch (and per `tick`).
const BATCH: usize = 10_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn net_bytes(region: &Region<'_, System>) -> i64 {
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64 + c.bytes_reallocated as i64
}

fn leaves(clusters: usize) -> Vec<Subject> {
    let mut out = Vec::new();
    for c in 0..clusters {
        let cluster = format!("prod-{c}");
        for b in 0..12 {
            for t in 0..50 {
                for p in 0..40 {
                    out.push(Subject::from_pairs([
                        ("cluster", cluster.clone()),
                        ("broker", b.to_string()),
                        ("topic", format!("topic-{t}")),
                        ("partition", p.to_string()),
                    ]));
                }
            }
        }
        for s in 0..40 {
            for i in 0..5 {
                for k in 0..4 {
                    for t in 0..10 {
                        out.push(Subject::from_pairs([
                            ("cluster", cluster.clone()),
                            ("service", format!("service-{s}")),
                            ("instance", format!("pod-{i}")),
                            ("client", format!("client-{k}")),
                            ("topic", format!("topic-{}", (s + t) % 50)),
                        ]));
                    }
                }
            }
        }
    }
    out.into_iter().filter_map(Result::ok).collect()
}

fn status_signal(subject: &Subject, sign: Sign, confidence: Confidence) -> Signal {
    Signal::new(
        subject.clone(),
        SignalKind::Statuses(sign, confidence),
        Evidence::rule("C4").with("lag", 12.0),
        T0,
    )
    .from_source("sidecar")
}

/// xorshift64*: deterministic, so both runs see the same sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The workload: which leaf and whether the signal is DEGRADED.
fn workload(n: usize, leaves: usize, sick_per_mille: usize, seed: u64) -> Vec<(u32, bool)> {
    let mut rng = Rng(seed);
    let mut state = vec![false; leaves];
    (0..n)
        .map(|_| {
            let leaf = (rng.next() % leaves as u64) as usize;
            // Leaf i is sick when i * 1000 / leaves falls in the first SICK_PER_MILLE per mille
            // of each thousand (spread over the whole tree).
            let sick = (leaf * 7919) % 1000 < sick_per_mille;
            if sick {
                state[leaf] = !state[leaf];
            }
            (leaf as u32, sick && state[leaf])
        })
        .collect()
}

/// This thread's CPU time in ns (`/proc/thread-self/schedstat`, first field): on a shared
/// machine, wall time includes the time other processes had the core.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let clusters = knob("CLUSTERS", 3);
    let n = knob("SIGNALS", 2_000_000);
    let sick_per_mille = knob("SICK_PER_MILLE", 5);

    let leaves = leaves(clusters);
    let stable: Vec<Signal> = leaves
        .iter()
        .map(|s| status_signal(s, Sign::Stable, Confidence::Confirmed))
        .collect();
    let degraded: Vec<Signal> = leaves
        .iter()
        .map(|s| status_signal(s, Sign::Degraded, Confidence::Measured))
        .collect();
    let work = workload(n, leaves.len(), sick_per_mille, 0x9e37_79b9_7f4a_7c15);
    let flips = work.iter().filter(|w| w.1).count();

    // ---- build: memory per cell ----
    let region = Region::new(GLOBAL);
    let mut h = match Hierarchy::new(HierarchyConfig::default()) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    let mut events = Vec::new();
    let started = Instant::now();
    for s in &stable {
        h.ingest_into(s, T0, &mut events);
        events.clear();
    }
    let build = started.elapsed();
    let engine_bytes = net_bytes(&region);
    let cells = h.len();

    let region = Region::new(GLOBAL);
    let mut reference: HashMap<String, Status> = HashMap::new();
    for s in &stable {
        if let Some((sign, confidence)) = s.status() {
            reference.insert(s.subject.qualified(), Status::new(sign, confidence));
        }
    }
    let reference_bytes = net_bytes(&region);

    // ---- steady state: throughput ----
    // Signals are ingested in batches of BATCH freshly built signals, as a receiver hands
    // over what it just decoded (so they are in cache as in production); building and
    // dropping a batch is outside the timed part, for both the engine and the reference.
    let batch_of = |work: &[(u32, bool)]| -> Vec<Signal> {
        work.iter()
            .map(|&(leaf, sick)| {
                if sick {
                    degraded[leaf as usize].clone()
                } else {
                    stable[leaf as usize].clone()
                }
            })
            .collect()
    };
    let mut now = T0;
    let mut n_events = 0u64;
    let mut engine_secs = 0.0;
    let mut reference_secs = 0.0;
    let mut engine_cpu = 0u64;
    let mut reference_cpu = 0u64;
    let mut key = String::new();
    for chunk in work.chunks(BATCH) {
        let batch = batch_of(chunk);
        let cpu = cpu_ns();
        let started = Instant::now();
        for signal in &batch {
            now += 50_000;
            h.ingest_into(signal, now, &mut events);
            n_events += events.len() as u64;
            events.clear();
        }
        h.tick_into(now, &mut events);
        n_events += events.len() as u64;
        events.clear();
        engine_secs += started.elapsed().as_secs_f64();
        engine_cpu += cpu_ns() - cpu;

        let cpu = cpu_ns();
        let started = Instant::now();
        for signal in &batch {
            let Some((sign, confidence)) = signal.status() else {
                continue;
            };
            key.clear();
            let _ = write!(key, "{:#}", signal.subject);
            let status = Status::new(sign, confidence);
            match reference.get_mut(key.as_str()) {
                Some(v) => *v = status,
                None => {
                    reference.insert(key.clone(), status);
                }
            }
        }
        reference_secs += started.elapsed().as_secs_f64();
        reference_cpu += cpu_ns() - cpu;
        drop(batch);
    }
    let engine_rate = n as f64 / engine_secs;
    let reference_rate = n as f64 / reference_secs;
    let engine_cpu_rate = n as f64 * 1e9 / engine_cpu.max(1) as f64;
    let reference_cpu_rate = n as f64 * 1e9 / reference_cpu.max(1) as f64;
    black_box(&reference);

    // ---- latency of one ingest (arrival -> parent's status updated) ----
    let lat_work = workload(n / 2, leaves.len(), sick_per_mille, 0x1234_5678_9abc_def1);
    let mut all = Vec::with_capacity(lat_work.len());
    let mut flip_lat = Vec::new();
    for chunk in lat_work.chunks(BATCH) {
        let batch = batch_of(chunk);
        for (signal, &(leaf, _)) in batch.iter().zip(chunk) {
            now += 50_000;
            let t = Instant::now();
            h.ingest_into(signal, now, &mut events);
            let ns = t.elapsed().as_nanos() as u64;
            all.push(ns);
            if (leaf as usize * 7919) % 1000 < sick_per_mille {
                flip_lat.push(ns);
            }
            events.clear();
        }
        h.tick_into(now, &mut events);
        events.clear();
    }
    all.sort_unstable();
    flip_lat.sort_unstable();

    let stats = h.stats();
    println!(
        "cell hierarchy bench: {clusters} clusters, {cells} cells, {} leaves",
        leaves.len()
    );
    println!(
        "workload: {n} signals, {flips} DEGRADED flips ({sick_per_mille} per mille of leaves flap), {n_events} events, {} incidents opened",
        stats.incidents_opened
    );
    println!();
    println!("| figure | hierarchy | reference: HashMap<String, Status> |");
    println!("|---|---|---|");
    println!(
        "| build: first signal per leaf | {:.0} signals/s ({cells} cells) | – |",
        stable.len() as f64 / build.as_secs_f64()
    );
    println!(
        "| steady state, per CPU-second of one core | **{:.0} signals/s** | {:.0} signals/s |",
        engine_cpu_rate, reference_cpu_rate
    );
    println!(
        "| steady state, per wall-clock second | {:.0} signals/s | {:.0} signals/s |",
        engine_rate, reference_rate
    );
    println!(
        "| ingest -> parent updated, p50 / p99 / p99.9 (all) | {} / **{}** / {} ns | – |",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 0.999)
    );
    println!(
        "| same, signals of flapping leaves only ({}) | {} / {} / {} ns | – |",
        flip_lat.len(),
        percentile(&flip_lat, 0.5),
        percentile(&flip_lat, 0.99),
        percentile(&flip_lat, 0.999)
    );
    println!(
        "| heap bytes per cell (all engine state) | **{:.0}** | {:.0} per entry ({} entries) |",
        engine_bytes as f64 / cells as f64,
        reference_bytes as f64 / stable.len() as f64,
        stable.len()
    );
    println!(
        "| of which cell slots, readings and rings | {:.0} | – |",
        h.cell_state_bytes() as f64 / cells as f64
    );
    println!(
        "| ratio hierarchy / reference (CPU time per signal) | {:.2} | 1 |",
        reference_cpu_rate / engine_cpu_rate
    );
}
