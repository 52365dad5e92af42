//! Polls one MBean's attributes repeatedly and prints the latency of each batched
//! `getAttributes` round trip: a quick benchmark of the client against a live agent.
//!
//! ```text
//! cargo run --release -p kafka-obs-jmx --example jmx_poll -- 127.0.0.1:9999 \
//!     java.lang:type=Memory HeapMemoryUsage NonHeapMemoryUsage ObjectPendingFinalizationCount
//! ```
//! Options via environment: `JMX_USER`/`JMX_PASSWORD`, `POLLS` (default 1000).

use std::time::{Duration, Instant};

use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, ObjectName};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: jmx_poll ENDPOINT MBEAN ATTRIBUTE...";
    let endpoint = Endpoint::parse(&args.next().ok_or(usage)?)?;
    let mbean = ObjectName::parse(&args.next().ok_or(usage)?)?;
    let attributes: Vec<String> = args.collect();
    if attributes.is_empty() {
        return Err(usage.into());
    }
    let polls: u32 = std::env::var("POLLS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1000)
        .max(1);
    let mut options = ConnectOptions::default();
    if let (Ok(user), Ok(password)) = (std::env::var("JMX_USER"), std::env::var("JMX_PASSWORD")) {
        options = options.with_credentials(user, password);
    }

    let started = Instant::now();
    let mut client = JmxClient::connect(endpoint, options).await?;
    println!("connect: {:?}", started.elapsed());
    let first = client.get_attributes(&mbean, &attributes).await?;
    for (name, value) in &first {
        println!("{name} = {value:?}");
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(polls as usize);
    for _ in 0..polls {
        let t = Instant::now();
        let values = client.get_attributes(&mbean, &attributes).await?;
        samples.push(t.elapsed());
        std::hint::black_box(values);
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    let mean = samples.iter().sum::<Duration>() / polls.max(1);
    println!(
        "{polls} polls of {} attributes: mean {mean:?}, p50 {:?}, p99 {:?}, max {:?}",
        attributes.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    client.close().await?;
    Ok(())
}
