//! What each hostile reply of issue #14 costs the client: starts the test kit's hostile agent
//! in one mode, connects, makes the call that mode poisons, and prints the time, the outcome
//! and the process's peak RSS during the call above what it was before it (sampled every
//! millisecond; the agent's payloads are built before).
//!
//! `cargo run --release -p kafka-obs-jmx --example hostile_cost -- <Mode>` with one of
//! ManyKeys, SharedName, WideClass, SelfComposite, NullArray, WideObjects. Run each mode in its
//! own process (the peak is per process).

use std::time::{Duration, Instant};

use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, ObjectName};
use kafka_obs_testkit::hostile_jmx::{HostileJmx, Mode};

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "ManyKeys".into());
    let mode = match name.as_str() {
        "ManyKeys" => Mode::ManyKeys,
        "SharedName" => Mode::SharedName,
        "WideClass" => Mode::WideClass,
        "SelfComposite" => Mode::SelfComposite,
        "NullArray" => Mode::NullArray,
        "WideObjects" => Mode::WideObjects,
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    };
    let server = match HostileJmx::start(Mode::Good) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the hostile agent: {e}");
            std::process::exit(1);
        }
    };
    server.prepare(mode);
    let options = ConnectOptions::default()
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(600))
        .with_reconnect(false);
    let mut client =
        match JmxClient::connect(Endpoint::new("127.0.0.1", server.port()), options).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("connect: {e}");
                std::process::exit(1);
            }
        };
    server.set_mode(mode);
    let before = vm_rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(vm_rss_kib(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let started = Instant::now();
    let outcome = match mode {
        Mode::ManyKeys | Mode::SharedName => {
            let pattern =
                ObjectName::parse("hostile:type=Test,*").unwrap_or_else(|_| ObjectName::wildcard());
            client
                .query_names(&pattern)
                .await
                .map(|n| format!("{} names", n.len()))
        }
        _ => {
            let name = ObjectName::parse("hostile:type=Test,name=a")
                .unwrap_or_else(|_| ObjectName::wildcard());
            client
                .get_attributes(&name, &["Value"])
                .await
                .map(|v| format!("{} attributes", v.len()))
        }
    };
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let peak = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    let outcome = match outcome {
        Ok(s) => s,
        Err(e) => {
            let text = e.to_string();
            format!("error: {}", text.chars().take(140).collect::<String>())
        }
    };
    println!("{name}: {took:?}, peak RSS +{} MiB, {outcome}", peak / 1024);
}
