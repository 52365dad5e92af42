//! Bench: signals through the `hierarchy` connector as the runtime runs it, beside the bare
//! engine fed the same requests in the same run.
//!
//! ```text
//! cargo bench -p kafka-obs-central --bench connector
//! # knobs: LEAVES (20000), ROUNDS (20), PER_REQUEST (1000), SICK_PER_MILLE (5)
//! ```
//!
//! The workload is what sidecars send: OTLP log requests of `PER_REQUEST` Statuses signals, one
//! per leaf (broker partitions and client topics of 3 clusters), `ROUNDS` times over. Healthy
//! leaves repeat STABLE; `SICK_PER_MILLE` of them alternate DEGRADED and STABLE each round,
//! which moves roll-ups, situations and incidents and makes the connector emit outputs. The
//! requests are encoded before timing starts.
//!
//! - **reference**: decode each request (`logs::from_export_request`) and ingest its signals
//!   into a bare `Hierarchy` on this thread: the least any intake path has to do.
//! - **connector**: each request as a `Parcel` into the connector's input channel, its receipt
//!   awaited (settled after ingest, as an OTLP receiver waits), outputs drained by a task.
//!   Figures: signals/s of wall time, signals per CPU-second of the whole process (both cores),
//!   and p50/p99 of one request's time from send to accepted receipt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use kafka_obs_api::{Batch, Parcel, Receipt};
use kafka_obs_cells::{Hierarchy, HierarchyConfig};
use kafka_obs_signal::otlp::{ExportResource, logs};
use kafka_obs_signal::{Evidence, Signal, SignalKind, statuses};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use tokio::sync::mpsc;

const NS: u64 = 1_000_000_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of this process, in seconds (clock ticks of 10 ms on Linux).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

fn leaves(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let cluster = i % 3;
            let k = i / 3;
            if k % 2 == 0 {
                format!(
                    "cluster=prod-{cluster}/broker={}/topic=t-{}/partition={}",
                    k % 12,
                    (k / 12) % 50,
                    k / 600
                )
            } else {
                format!(
                    "cluster=prod-{cluster}/service=s-{}/instance=pod-{}/client=c-{}/topic=t-{}",
                    k % 40,
                    (k / 40) % 5,
                    (k / 200) % 4,
                    k / 800
                )
            }
        })
        .collect()
}

fn requests(
    leaves: &[String],
    rounds: usize,
    per_request: usize,
    sick: usize,
) -> Vec<ExportLogsServiceRequest> {
    let t0 = 1_700_000_000 * NS;
    let mut out = Vec::new();
    for round in 0..rounds {
        let signals: Vec<Signal> = leaves
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let flapping = i * 1000 / leaves.len().max(1) < sick;
                let sign = if flapping && round % 2 == 1 {
                    statuses::Sign::Degraded
                } else {
                    statuses::Sign::Stable
                };
                let t = t0 + (round * leaves.len() + i) as u64 * 1000;
                Signal::new(
                    path.parse().expect("a valid subject"),
                    SignalKind::Statuses(sign, statuses::Confidence::Measured),
                    Evidence::rule("C1").with("value", 1.0),
                    t,
                )
                .from_source("bench")
            })
            .collect();
        for chunk in signals.chunks(per_request) {
            out.push(logs::to_export_request(chunk, &ExportResource::default()));
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Decode + ingest into a bare engine, dropping each request after it as the connector does;
/// returns (signals, seconds).
fn reference(requests: Vec<ExportLogsServiceRequest>) -> (usize, f64) {
    let mut h = Hierarchy::new(HierarchyConfig::default()).expect("default config");
    let mut events = Vec::new();
    let mut n = 0;
    let start = Instant::now();
    for request in requests {
        let signals = logs::from_export_request(&request).expect("decodes");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        for signal in &signals {
            h.ingest_into(signal, now, &mut events);
            events.clear();
        }
        n += signals.len();
    }
    (n, start.elapsed().as_secs_f64())
}

async fn drain(mut rx: mpsc::Receiver<Parcel>) -> usize {
    let mut n = 0;
    while let Some(parcel) = rx.recv().await {
        parcel.receipt.accept();
        n += 1;
    }
    n
}

/// Through the connector; returns (signals, seconds, per-request latencies, outputs).
async fn through_connector(
    requests: Vec<ExportLogsServiceRequest>,
) -> (usize, f64, Vec<Duration>, usize) {
    let running = common::start("source_id: bench\napi: {enabled: false}\n");
    let drains = [
        tokio::spawn(drain(running.logs)),
        tokio::spawn(drain(running.metrics)),
        tokio::spawn(drain(running.traces)),
    ];
    let tx = running.tx;
    let task = running.task;

    let signals: usize = requests
        .iter()
        .map(|r| {
            r.resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum::<usize>()
        })
        .sum();
    // Up to 8 requests in flight, as several receivers' connections would have.
    let (done_tx, mut done_rx) = mpsc::channel::<Duration>(1024);
    let start = Instant::now();
    let sender = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let done_tx = done_tx;
            let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
            for request in requests {
                let permit = in_flight.clone().acquire_owned().await.unwrap();
                let (receipt, acceptance) = Receipt::new();
                let sent = Instant::now();
                tx.send(Parcel::new(Batch::Logs(request), receipt))
                    .await
                    .unwrap();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    acceptance
                        .wait_for(Duration::from_secs(60))
                        .await
                        .expect("accepted");
                    let _ = done.send(sent.elapsed()).await;
                    drop(permit);
                });
            }
        })
    };
    drop(tx);
    // Ends when the sender and every request's waiter are done.
    let mut latencies = Vec::new();
    while let Some(d) = done_rx.recv().await {
        latencies.push(d);
    }
    sender.await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    task.await.unwrap();
    let mut outputs = 0;
    for d in drains {
        outputs += d.await.unwrap();
    }
    latencies.sort();
    (signals, elapsed, latencies, outputs)
}

fn main() {
    let leaf_count = knob("LEAVES", 20_000);
    let rounds = knob("ROUNDS", 20);
    let per_request = knob("PER_REQUEST", 1000);
    let sick = knob("SICK_PER_MILLE", 5);
    let leaves = leaves(leaf_count);
    let requests = requests(&leaves, rounds, per_request, sick);
    println!(
        "{} leaves x {rounds} rounds = {} signals in {} requests of {per_request}; {sick} per mille flapping",
        leaves.len(),
        leaves.len() * rounds,
        requests.len()
    );

    let (n, secs) = reference(requests.clone());
    println!(
        "reference (decode + bare engine, one thread): {n} signals in {secs:.2} s = {:.0} signals/s",
        n as f64 / secs
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = process_cpu_seconds();
    let (n, secs, latencies, outputs) = runtime.block_on(through_connector(requests));
    let cpu = process_cpu_seconds() - cpu_before;
    println!(
        "connector (parcels in, receipts awaited, outputs drained; 2 workers): {n} signals in {secs:.2} s = {:.0} signals/s wall, {:.0} signals per CPU-second ({cpu:.2} CPU-s); {outputs} output batches",
        n as f64 / secs,
        n as f64 / cpu.max(0.01)
    );
    println!(
        "  one request of {per_request} signals, send to accepted: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        latencies.len()
    );
}
