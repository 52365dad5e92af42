//! Pack `container` (CR1-CR5), table-driven: each poll's points and the signals its rules
//! must say, onset and recovery under the same rule id; and the same rules read from the
//! names a kubeletstats / k8scluster collector sends.

use crate::common::{Harness, P, p};

const CGROUP: &str = "packs: {container: }";

fn table(yaml: &str, rules: &[&str], polls: &[(Vec<P>, &[&str])]) -> Harness {
    let mut h = Harness::new(yaml);
    for (i, (points, want)) in polls.iter().enumerate() {
        let got: Vec<String> = h
            .said(points)
            .into_iter()
            .filter(|s| rules.iter().any(|r| s.ends_with(&format!("@{r}"))))
            .collect();
        assert_eq!(got, *want, "poll {i}");
    }
    h
}

/// The cgroup receiver's memory points at a working set of `ratio` of a 1000-byte limit.
fn memory(ratio: f64) -> Vec<P> {
    vec![
        p("container.memory.working_set", &[], ratio * 1000.0),
        p("container.memory.usage.limit", &[], 1000.0),
        p("k8s.container.memory_limit_utilization", &[], ratio),
    ]
}

#[test]
fn cr1_memory_near_the_limit_climbs_a_ladder_and_comes_back_past_the_band() {
    table(
        CGROUP,
        &["CR1"],
        &[
            (memory(0.50), &[]),
            (memory(0.82), &["Statuses.DIVERGING.MEASURED@CR1"]),
            (memory(0.92), &["Statuses.DEGRADED.MEASURED@CR1"]),
            (memory(0.92), &[]),
            (memory(0.86), &[]), // above 0.90 - 5 %: still DEGRADED
            (memory(0.85), &["Statuses.DIVERGING.MEASURED@CR1"]),
            (memory(0.77), &[]), // above 0.80 - 5 %: still DIVERGING
            (memory(0.70), &["Statuses.STABLE.MEASURED@CR1"]),
            (memory(0.70), &[]),
        ],
    );
}

#[test]
fn cr1_without_the_ratio_divides_the_working_set_by_the_limit() {
    let ws = |bytes: f64| {
        vec![
            p("container.memory.working_set", &[], bytes),
            p("container.memory.usage.limit", &[], 1000.0),
        ]
    };
    let mut h = table(
        CGROUP,
        &["CR1"],
        &[
            (ws(100.0), &[]),
            (ws(950.0), &["Statuses.DEGRADED.MEASURED@CR1"]),
            (ws(100.0), &["Statuses.STABLE.MEASURED@CR1"]),
        ],
    );
    // No limit (the metric absent): nothing to compare with, no verdict.
    let e = h.poll(&[p("container.memory.working_set", &[], 5e9)]);
    assert!(
        e.signals.iter().all(|s| s.evidence.rule != "CR1"),
        "{:?}",
        e.signals
    );
}

#[test]
fn cr1_onset_carries_its_evidence() {
    let mut h = Harness::new(CGROUP);
    h.poll(&memory(0.5));
    let e = h.poll(&memory(0.93));
    let s = e
        .signals
        .iter()
        .find(|s| s.evidence.rule == "CR1")
        .expect("CR1 onset");
    let v = &s.evidence.values;
    assert_eq!(v.get("memory_limit_utilization").copied(), Some(0.93));
    assert_eq!(v.get("working_set_bytes").copied(), Some(930.0));
    assert_eq!(v.get("limit_bytes").copied(), Some(1000.0));
    assert_eq!(s.subject.to_string(), "prod/order-service/pod-1");
}

/// Cumulative CFS periods and throttled periods.
fn cpu(periods: f64, throttled: f64) -> Vec<P> {
    vec![
        p("container.cpu.throttling_data.periods", &[], periods),
        p(
            "container.cpu.throttling_data.throttled_periods",
            &[],
            throttled,
        ),
    ]
}

#[test]
fn cr2_cpu_throttled_is_the_share_over_the_window_and_clears_when_it_falls() {
    table(
        "packs: {container: {throttle_window: 3}}",
        &["CR2"],
        &[
            (cpu(0.0, 0.0), &[]),
            (cpu(100.0, 10.0), &[]),                                 // 10 %
            (cpu(200.0, 60.0), &["Statuses.DEGRADED.MEASURED@CR2"]), // 60/200 = 30 %
            (cpu(300.0, 110.0), &[]),                                // (110-10)/200 = 50 %
            (cpu(400.0, 115.0), &[]), // (115-60)/200 = 27.5 %: still above 25 - 5 %
            (cpu(500.0, 115.0), &["Statuses.STABLE.MEASURED@CR2"]), // 5/200 = 2.5 %
            (cpu(600.0, 115.0), &[]),
            // The cgroup was recreated (counters fell): the window starts again, no verdict
            // from a negative difference.
            (cpu(10.0, 9.0), &[]),
            (cpu(20.0, 19.0), &["Statuses.DEGRADED.MEASURED@CR2"]),
        ],
    );
}

#[test]
fn cr3_an_oom_kill_is_a_denied_resource_granted_again_at_the_next_poll() {
    let oom = |n: f64| vec![p("container.memory.oom_kills", &[], n)];
    table(
        CGROUP,
        &["CR3"],
        &[
            (oom(3.0), &[]),
            (oom(3.0), &[]),
            (oom(5.0), &["Counters.INCREMENT@CR3", "Resources.DENY@CR3"]),
            (oom(5.0), &["Resources.GRANT@CR3"]),
            (oom(5.0), &[]),
            (oom(6.0), &["Counters.INCREMENT@CR3", "Resources.DENY@CR3"]),
            (oom(7.0), &["Counters.INCREMENT@CR3", "Resources.DENY@CR3"]),
            (oom(7.0), &["Resources.GRANT@CR3"]),
            (oom(0.0), &["Counters.RESET@CR3"]),
        ],
    );
}

#[test]
fn cr4_a_restart_is_a_one_poll_condition_from_either_spelling() {
    for name in ["container.restarts", "k8s.container.restarts"] {
        let restarts = |n: f64| vec![p(name, &[], n)];
        table(
            CGROUP,
            &["CR4"],
            &[
                (restarts(0.0), &[]),
                (restarts(0.0), &[]),
                (restarts(1.0), &["Statuses.DEGRADED.MEASURED@CR4"]),
                (restarts(1.0), &["Statuses.STABLE.MEASURED@CR4"]),
                (restarts(1.0), &[]),
                (restarts(3.0), &["Statuses.DEGRADED.MEASURED@CR4"]),
                (restarts(3.0), &["Statuses.STABLE.MEASURED@CR4"]),
            ],
        );
    }
}

#[test]
fn cr5_file_descriptors_near_the_limit() {
    let fds = |open: f64| {
        vec![
            p("process.open_file_descriptors", &[], open),
            p("process.open_file_descriptors.limit", &[], 1000.0),
        ]
    };
    table(
        CGROUP,
        &["CR5"],
        &[
            (fds(100.0), &[]),
            (fds(950.0), &["Statuses.DIVERGING.MEASURED@CR5"]),
            (fds(870.0), &[]), // above 0.90 - 5 %
            (fds(800.0), &["Statuses.STABLE.MEASURED@CR5"]),
        ],
    );
}

#[test]
fn conditions_recover_with_the_onsets_rule_and_condition_attribute() {
    let mut h = Harness::new(CGROUP);
    h.poll(&memory(0.5));
    let onset = h.poll(&memory(0.95));
    let recovery = h.poll(&memory(0.2));
    let phase = |e: &kafka_obs_processor::signals::Evaluation| {
        e.signals
            .iter()
            .filter(|s| s.evidence.rule == "CR1")
            .map(|s| {
                s.attributes
                    .get("kafka_obs.condition")
                    .cloned()
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(phase(&onset), ["onset"]);
    assert_eq!(phase(&recovery), ["recovery"]);
}

#[test]
fn thresholds_are_checked_with_their_key_path() {
    let parse = |y: &str| {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(y).expect("yaml");
        kafka_obs_processor::signals::SignalsConfig::parse(&v)
    };
    let e = parse("packs: {container: {memory_diverging: 0.95}}").expect_err("order");
    assert_eq!(e.path, "packs::container::memory_degraded");
    let e = parse("packs: {container: {throttle_window: 1}}").expect_err("window");
    assert_eq!(e.path, "packs::container::throttle_window");
    let e = parse("packs: {container: {fd_utilization: 2}}").expect_err("fraction");
    assert_eq!(e.path, "packs::container::fd_utilization");
    let e = parse("packs: {container: {oom: 1}}").expect_err("unknown");
    assert!(e.message.contains("unknown field"), "{e}");
    let c = parse("packs: {container: }").expect("defaults");
    assert!(c.packs.container.is_some() && c.packs.jvm.is_none());
}

/// Regression (the demo's memory-pressure episode): `container:` with an empty body, written
/// as a block like the demo's config, turns the pack on with its defaults (it read as off, so
/// nothing was said); CR1 then holds beside CPU counters before and after CR2's default
/// six-reading window fills.
#[test]
fn cr1_at_the_default_config_after_cpu_readings() {
    let poll = |i: f64, ratio: f64| {
        let mut points = cpu(100.0 * i, 0.0);
        points.extend(memory(ratio));
        points
    };
    for quiet in [1, 3, 8] {
        let mut h = Harness::new("packs:\n  container:\n");
        for i in 0..quiet {
            let said = h.said(&poll(f64::from(i), 0.5));
            assert!(said.is_empty(), "quiet poll {i}: {said:?}");
        }
        let q = f64::from(quiet);
        assert_eq!(
            h.said(&poll(q, 0.94)),
            ["Statuses.DEGRADED.MEASURED@CR1"],
            "after {quiet} quiet polls"
        );
        assert_eq!(h.said(&poll(q + 1.0, 0.94)), Vec::<String>::new());
        assert_eq!(
            h.said(&poll(q + 2.0, 0.5)),
            ["Statuses.STABLE.MEASURED@CR1"],
            "recovery after {quiet} quiet polls"
        );
    }
}
