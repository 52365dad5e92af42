//! The `cgroup` receiver on this machine: its own cgroup (v1 or v2, whichever the host runs)
//! read through `/`, checked against `/proc/self`; and a real child process the test kills
//! and starts again, seen as one restart.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_obs_api::{BuildContext, ComponentKind, DataKind, Outputs, ReceiverConfig};
use kafka_obs_receiver::cgroup::{CgroupReceiverConfig, Scraper, convert};
use kafka_obs_testkit::process::ChildGuard;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::common::{Point, points};

fn config(yaml: &str) -> CgroupReceiverConfig {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    CgroupReceiverConfig::parse(&value).expect("valid cgroup config")
}

fn value(points: &[Point], metric: &str) -> Option<f64> {
    points.iter().find(|p| p.metric == metric).map(|p| p.value)
}

/// This process's CPU time so far (utime + stime, in seconds at USER_HZ = 100).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12th and 13th after `)`.
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// `RssAnon` of this process in bytes: memory charged to its cgroup for sure.
fn own_anon_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon");
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kib * 1024.0
}

#[test]
fn own_cgroup_values_are_plausible_and_agree_with_proc_self() {
    let c = config("root_path: /");
    let mut scraper = Scraper::new(&c, Resource::default());
    let first = scraper.poll();
    let cpu_before = own_cpu_seconds();
    // Burn 200 ms of CPU in this process (however long the shared machine takes to give it,
    // within 20 s): the cgroup must count at least that.
    let start = Instant::now();
    let mut x = 1u64;
    while own_cpu_seconds() - cpu_before < 0.2 && start.elapsed() < Duration::from_secs(20) {
        for _ in 0..100_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }
    std::hint::black_box(x);
    let anon = own_anon_bytes();
    let second = scraper.poll();
    let own = own_cpu_seconds() - cpu_before;
    let (a, b) = (points(&first.batch), points(&second.batch));
    let layout = format!("{:?}", second.layout);

    let cpu = |p: &[Point]| {
        value(p, convert::CPU_TIME)
            .unwrap_or_else(|| panic!("no CPU time from {layout}: {:?}", second.cgroup))
    };
    let grew = cpu(&b) - cpu(&a);
    // One clock tick of slack on our own reading.
    assert!(
        grew + 0.011 >= own,
        "cgroup CPU grew {grew} s, this process alone used {own} s ({layout})"
    );
    assert!(own >= 0.2, "the loop used {own} s of CPU");
    assert!(
        cpu(&b) >= own_cpu_seconds() - 0.011,
        "the cgroup has used less CPU than this process"
    );

    let usage =
        value(&b, convert::MEMORY_USAGE).unwrap_or_else(|| panic!("no memory usage from {layout}"));
    assert!(
        usage >= anon,
        "cgroup memory {usage} below this process's anonymous memory {anon}"
    );
    let ws = value(&b, convert::MEMORY_WORKING_SET).expect("working set");
    assert!(ws <= usage && ws > 0.0, "working set {ws}, usage {usage}");
    match value(&b, convert::MEMORY_LIMIT) {
        Some(limit) => {
            assert!(limit >= ws, "limit {limit} below the working set {ws}");
            let util = value(&b, convert::MEMORY_LIMIT_UTILIZATION).expect("ratio with a limit");
            assert!((util - ws / limit).abs() < 1e-9 && util <= 1.0);
        }
        None => assert_eq!(value(&b, convert::MEMORY_LIMIT_UTILIZATION), None),
    }
    // Counters never go back between two polls.
    for name in [
        convert::THROTTLING_PERIODS,
        convert::THROTTLED_PERIODS,
        convert::OOM_KILLS,
    ] {
        if let (Some(x), Some(y)) = (value(&a, name), value(&b, name)) {
            assert!(y >= x, "{name} went from {x} to {y}");
        }
    }
    for p in &b {
        assert!(p.value.is_finite() && p.value >= 0.0, "{p:?}");
        assert!(p.time_ns > 0, "{p:?}");
    }
}

/// The soft open-files limit a child gets, asked of the shell rather than `/proc`.
fn shell_open_files_limit() -> Option<f64> {
    let out = Command::new("sh").args(["-c", "ulimit -n"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn sleeper() -> ChildGuard {
    ChildGuard::spawn(
        Command::new("sleep")
            .arg("30.7071")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("spawn sleep")
}

#[tokio::test]
async fn a_child_restarted_by_the_test_is_one_restart_and_a_gone_one_is_not_visible() {
    let mut child = sleeper();
    let c = config(
        r#"
collection_interval: 100ms
process: {command_line: '^sleep 30\.7071$'}
resource_attributes: {service.name: orders, service.instance.id: orders-0}
"#,
    );
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "cgroup/test", &[DataKind::Metrics]);
    let receiver = c.build(&ctx).expect("builds");
    let (outputs, mut rx) = Outputs::for_test(&[DataKind::Metrics], 256, false);
    let mut rx = rx.remove(&DataKind::Metrics).expect("metrics");
    let (run_ctx, shutdown) = ctx.run_for_test();
    let registry = ctx.telemetry.registry().clone();
    let task = tokio::spawn(receiver.run(outputs, run_ctx));
    let visible = || {
        registry
            .snapshot()
            .iter()
            .filter(|s| s.name == "kafka_obs_cgroup_process_visible")
            .map(|s| s.value.as_i64())
            .sum::<i64>()
    };
    let mut until = async |what: &str, f: &dyn Fn(&[Point]) -> bool| -> Vec<Point> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let parcel = tokio::time::timeout(left, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no poll with {what} in 10 s"))
                .expect("receiver running");
            let p = points(&parcel.batch);
            if f(&p) {
                return p;
            }
        }
    };

    let p = until("the child seen", &|p| value(p, convert::RESTARTS).is_some()).await;
    assert_eq!(value(&p, convert::RESTARTS), Some(0.0));
    let fds = value(&p, convert::OPEN_FDS).expect("fds of the child");
    assert!(fds >= 3.0, "sleep holds stdin, stdout and stderr: {fds}");
    assert_eq!(value(&p, convert::FD_LIMIT), shell_open_files_limit());
    assert_eq!(visible(), 1);

    child.kill().expect("kill");
    let p = until("the child gone", &|p| value(p, convert::OPEN_FDS).is_none()).await;
    assert_eq!(
        value(&p, convert::RESTARTS),
        Some(0.0),
        "gone is not a restart"
    );
    assert_eq!(visible(), 0);
    // The cgroup values keep coming while the process is away.
    assert!(value(&p, convert::CPU_TIME).is_some());

    let _again = sleeper();
    let p = until("the restart", &|p| value(p, convert::OPEN_FDS).is_some()).await;
    assert_eq!(value(&p, convert::RESTARTS), Some(1.0));
    assert_eq!(visible(), 1);
    let p = until("a steady poll", &|_| true).await;
    assert_eq!(value(&p, convert::RESTARTS), Some(1.0), "counted once");

    shutdown.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops promptly")
        .expect("no panic");
    assert!(r.is_ok(), "{r:?}");
}
