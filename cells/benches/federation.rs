//! Bench: federation, on one core.
//!
//! ```text
//! cargo bench -p kafka-obs-cells --bench federation
//! # knobs: CHILDREN (20), ROUNDS (20), MINUTES (10)
//! ```
//!
//! One child's region: cluster `prod` with 6 brokers × 20 topics × 6 partitions and 20
//! services × 2 instances × 3 clients × 3 topics (1 080 leaves, 1 235 cells).
//!
//! 1. **A global central taking federated cells.** CHILDREN such children publish every cell
//!    (cut `client`, prefix `region=r<i>`) into one parent: the first round creates the cells,
//!    then ROUNDS full resends update them (a fifth of each child's brokers flipping between
//!    DEGRADED and STABLE between rounds, so roll-ups, situations and incidents move). Timed:
//!    what the parent does per record (decode the record from its signal, the gate, `ingest`,
//!    a `tick` per round). Reference in the same run: the same number of ordinary Statuses
//!    signals on the same subjects into a fresh engine (no decode, no gate).
//! 2. **Bytes on the wire for one story.** One child gets its raw signals for MINUTES minutes
//!    (every leaf's status every 10 s; at minute 3 a broker loses ISR and the producers of its
//!    topics overflow; at minute 6 both recover) and federates every second (full resend every
//!    30 s). Counted: the signal-stream envelopes (protobuf, plus gRPC's 5-byte frame) of
//!    every raw signal, against those of the federated records at cuts `cluster`, `service`
//!    and `client`.

use std::time::Instant;

use kafka_obs_cells::federation::{CellRecord, Cut, Gate, Publisher, PublisherConfig};
use kafka_obs_cells::{Hierarchy, HierarchyConfig};
use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject, proto, queues,
    statuses::{Confidence, Sign},
};
use prost::Message as _;

const NS: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * NS;
/// gRPC's length-prefixed frame per message.
const FRAME: usize = 5;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn subject(text: &str) -> Subject {
    text.parse().expect("a subject")
}

fn broker_leaves() -> Vec<String> {
    let mut out = Vec::new();
    for b in 0..6 {
        for t in 0..20 {
            for p in 0..6 {
                out.push(format!("cluster=prod/broker={b}/topic=t{t}/partition={p}"));
            }
        }
    }
    out
}

fn client_leaves() -> Vec<String> {
    let mut out = Vec::new();
    for s in 0..20 {
        for i in 0..2 {
            for c in 0..3 {
                for t in 0..3 {
                    out.push(format!(
                        "cluster=prod/service=s{s}/instance=i{i}/client=c{c}/topic=t{}",
                        (s + t) % 20
                    ));
                }
            }
        }
    }
    out
}

fn status(path: &str, sign: Sign, t: u64, source: &str) -> Signal {
    Signal::new(
        subject(path),
        SignalKind::Statuses(sign, Confidence::Confirmed),
        Evidence::rule("H"),
        t,
    )
    .from_source(source)
}

fn wire_bytes(signal: &Signal) -> usize {
    proto::to_envelope(signal).map_or(0, |e| e.encoded_len() + FRAME)
}

fn engine() -> Hierarchy {
    Hierarchy::new(HierarchyConfig::default()).expect("default config")
}

fn publisher(id: &str, cut: Cut, region: Option<&str>) -> Publisher {
    Publisher::new(PublisherConfig {
        id: id.into(),
        cut,
        prefix: region
            .map(|r| vec![("region".to_string(), r.to_string())])
            .unwrap_or_default(),
        resend_interval_ns: 30 * NS,
    })
}

/// Part 1: a parent taking every cell of CHILDREN children, ROUNDS times.
fn parent_throughput() {
    let children = knob("CHILDREN", 20);
    let rounds = knob("ROUNDS", 20);
    let leaves: Vec<String> = broker_leaves().into_iter().chain(client_leaves()).collect();
    let mut kids: Vec<(Hierarchy, Publisher)> = (0..children)
        .map(|i| {
            let mut h = engine();
            for leaf in &leaves {
                h.ingest(&status(leaf, Sign::Stable, T0, "sidecar"), T0);
            }
            (
                h,
                publisher(
                    &format!("central-r{i}"),
                    Cut::Client,
                    Some(&format!("r{i}")),
                ),
            )
        })
        .collect();
    let mut parent = engine();
    let mut gate = Gate::new("central-global", 1_000_000);
    let mut reference = engine();
    let (mut fed_ns, mut ref_ns) = (0u128, 0u128);
    let (mut created, mut updates, mut first) = (0usize, 0usize, 0u128);
    for round in 0..=rounds {
        let t = T0 + (round as u64 + 1) * 31 * NS;
        // Between rounds a fifth of each child's brokers flip (not timed).
        let sick = if round % 2 == 1 {
            Sign::Degraded
        } else {
            Sign::Stable
        };
        let mut batch: Vec<Signal> = Vec::new();
        for (h, p) in &mut kids {
            if round > 0 {
                h.ingest(&status("cluster=prod/broker=1", sick, t, "broker-1"), t);
                h.tick(t);
            }
            batch.extend(
                p.round(h, None, t)
                    .records
                    .iter()
                    .map(CellRecord::to_signal),
            );
        }
        let started = Instant::now();
        for signal in &batch {
            if let Ok(Some(record)) = CellRecord::from_signal(signal)
                && gate.admit(record, t).is_ok()
            {
                std::hint::black_box(parent.ingest(signal, t));
            }
        }
        std::hint::black_box(parent.tick(t));
        let took = started.elapsed().as_nanos();
        // Reference: the same subjects as ordinary signals into an engine of its own.
        let plain: Vec<Signal> = batch
            .iter()
            .map(|s| {
                let mut plain = s.clone();
                plain.attributes.clear();
                plain.evidence = Evidence::rule("H");
                plain
            })
            .collect();
        let started = Instant::now();
        for signal in &plain {
            std::hint::black_box(reference.ingest(signal, t));
        }
        std::hint::black_box(reference.tick(t));
        let ref_took = started.elapsed().as_nanos();
        if round == 0 {
            created = batch.len();
            first = took;
        } else {
            updates += batch.len();
            fed_ns += took;
            ref_ns += ref_took;
        }
    }
    let per_s = |n: usize, ns: u128| (n as f64 / (ns.max(1) as f64 / 1e9)).round();
    println!(
        "## parent: {children} children, {} cells in the parent",
        parent.len()
    );
    println!(
        "| figure | federated cells (decode, gate, ingest) | reference: plain signals into an engine |"
    );
    println!("|---|---|---|");
    println!(
        "| first round: cells created per second | {} ({created} records) | - |",
        per_s(created, first)
    );
    println!(
        "| resends: updates per second | {} | {} |",
        per_s(updates, fed_ns),
        per_s(updates, ref_ns)
    );
    println!(
        "| time per update, federated / reference | {:.2} | 1 |",
        fed_ns as f64 / ref_ns.max(1) as f64
    );
    println!(
        "| incidents opened in the parent | {} | - |",
        parent.stats().incidents_opened
    );
}

/// Part 2: bytes on the wire for one story, raw signals against federated records.
fn story_bytes() {
    let minutes = knob("MINUTES", 10) as u64;
    let brokers = broker_leaves();
    let clients = client_leaves();
    let cuts = [
        ("cluster", Cut::Cluster),
        ("service", Cut::Service),
        ("client", Cut::Client),
    ];
    let mut child = engine();
    let mut pubs: Vec<(&str, Publisher, usize, usize)> = cuts
        .iter()
        .map(|(name, cut)| (*name, publisher("central-eu", *cut, Some("eu-1")), 0, 0))
        .collect();
    let (mut raw_bytes, mut raw_count) = (0usize, 0usize);
    let end = minutes * 60;
    for second in 0..=end {
        let t = T0 + second * NS;
        let sick = (180..360).contains(&second);
        let mut raw = Vec::new();
        if second % 10 == 0 {
            for (i, leaf) in brokers.iter().chain(clients.iter()).enumerate() {
                let ill = sick
                    && (leaf.starts_with("cluster=prod/broker=2/")
                        || (leaf.contains("/client=") && leaf.ends_with("/topic=t3")));
                let sign = if ill { Sign::Degraded } else { Sign::Stable };
                raw.push(status(leaf, sign, t, &format!("source-{}", i % 50)));
            }
        }
        if second == 180 {
            raw.push(
                Signal::new(
                    subject("cluster=prod/service=s3/instance=i0/client=c0"),
                    SignalKind::Queues(queues::Sign::Overflow),
                    Evidence::rule("P1").with("utilization", 0.97),
                    t,
                )
                .from_source("source-3"),
            );
        }
        for (i, s) in raw.iter_mut().enumerate() {
            s.sequence = t + i as u64;
            raw_bytes += wire_bytes(s);
            raw_count += 1;
            child.ingest(s, t);
        }
        child.tick(t);
        for (_, p, bytes, count) in &mut pubs {
            for record in p.round(&child, None, t).records {
                let mut s = record.to_signal();
                s.sequence = t;
                *bytes += wire_bytes(&s);
                *count += 1;
            }
        }
    }
    println!();
    println!(
        "## one story: {minutes} min, {} leaves ({} cells in the child)",
        brokers.len() + clients.len(),
        child.len()
    );
    println!("| what goes up | messages | bytes | share of raw |");
    println!("|---|---|---|---|");
    println!("| reference: every raw signal (signal stream) | {raw_count} | {raw_bytes} | 100% |");
    for (name, _, bytes, count) in &pubs {
        println!(
            "| federated cells, cut `{name}` | {count} | {bytes} | {:.2}% |",
            *bytes as f64 * 100.0 / raw_bytes.max(1) as f64
        );
    }
}

fn main() {
    parent_throughput();
    story_bytes();
}
