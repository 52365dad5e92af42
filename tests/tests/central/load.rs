//! The central under load, short (issue #14): the real binary on `examples/aggregator.yaml`
//! (see `kafka_obs_tests::load`) with 100 signal streams, 10 OTLP senders, 20 web-view
//! clients that never read and malformed and oversized requests, for 20 s. Asserts
//! correctness, not speed: every signal acked or answered OK is in the engine, bad input was
//! refused and counted, every never-reading client was dropped and counted while a reading
//! one kept its stream, and the central's RSS stayed under a generous bound (a debug build:
//! about 40-60 MiB here; the bound leaves room for a slower, busier machine).
//! The full-scale run is `benches/central_load.rs`; its figures are in BENCHMARKS.md.

use kafka_obs_tests::load::{LoadPlan, run};

use super::*;

#[test]
fn the_central_holds_under_load_with_slow_clients_and_bad_input() {
    let plan = LoadPlan {
        streams: 100,
        otlp_senders: 10,
        sse_clients: 20,
        duration: Duration::from_secs(20),
        bad_every: 10,
        // The example's 10 s would leave little of a 20 s run for the buffers to fill; long
        // instance names make the snapshots big enough (~1 MiB) to fill them in time.
        write_timeout: Some(Duration::from_secs(2)),
        name_padding: 1000,
        rss_bound_mib: 256,
        ..LoadPlan::default()
    };
    let report = run(&plan);
    println!("{}", report.table());
    let problems = report.problems();
    assert!(
        problems.is_empty(),
        "checks that failed:\n{}\n\n{}",
        problems.join("\n"),
        report.table()
    );
    // The checks above compare counts; these make sure there was something to count.
    assert!(report.acked_accepted >= 1000, "{}", report.table());
    assert!(report.bad_sent >= 100 && report.junk_http_sent > 0);
}
