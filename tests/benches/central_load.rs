//! The central under load (issue #14): the real binary on `examples/aggregator.yaml`, fed by
//! many signal streams and OTLP senders, with web-view clients that never read and bad
//! requests mixed in; prints the figures and every check that failed (see `src/load.rs`).
//!
//! ```text
//! cargo build --release -p kafka-obs --no-default-features
//! KAFKA_OBS_BIN=target/release/kafka-obs cargo bench -p kafka-obs-tests --bench central_load -- \
//!   --streams 1000 --otlp-senders 50 --sse-clients 100 --seconds 600
//! ```
//! Other flags: `--stream-rate` (signals/s per stream, 1), `--otlp-rate` (requests/s per
//! sender, 1), `--otlp-batch` (signals per request, 20), `--bad-every` (every n-th envelope
//! malformed, 100), `--rss-bound-mib` (512), `--write-timeout-ms` (the central's
//! `api.write_timeout`; default: the example's, i.e. 10 s), `--name-padding` (characters
//! added to every instance name, 0).

use std::time::Duration;

use kafka_obs_tests::args::Args;
use kafka_obs_tests::load::{LoadPlan, run};

fn main() {
    let args = Args::from_env();
    let d = LoadPlan::default();
    let plan = LoadPlan {
        streams: args.get("streams", d.streams),
        otlp_senders: args.get("otlp-senders", d.otlp_senders),
        sse_clients: args.get("sse-clients", d.sse_clients),
        duration: Duration::from_secs(args.get("seconds", d.duration.as_secs())),
        stream_rate: args.get("stream-rate", d.stream_rate),
        otlp_rate: args.get("otlp-rate", d.otlp_rate),
        otlp_batch: args.get("otlp-batch", d.otlp_batch),
        bad_every: args.get("bad-every", d.bad_every),
        sample_every: d.sample_every,
        rss_bound_mib: args.get("rss-bound-mib", d.rss_bound_mib),
        name_padding: args.get("name-padding", d.name_padding),
        write_timeout: match args.get("write-timeout-ms", 0u64) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    };
    eprintln!("central load: {plan:?}");
    let report = run(&plan);
    println!("{}", report.table());
    let problems = report.problems();
    if problems.is_empty() {
        println!("every check held");
    } else {
        println!("checks that failed:");
        for p in &problems {
            println!("- {p}");
        }
        std::process::exit(1);
    }
}
