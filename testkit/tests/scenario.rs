//! The scenario JVM against a real JDK: the stdin protocol, exact trajectories while paused,
//! and (when the test peers are installed) the same values read by the independent jmxquery jar.

use std::time::Duration;

use kafka_obs_testkit::peers;
use kafka_obs_testkit::scenario::names::{self, DEFAULT_CONSUMER, DEFAULT_PRODUCER};
use kafka_obs_testkit::scenario::{Role, ScenarioJvm, Tick};

fn producer() -> String {
    names::producer_metrics(DEFAULT_PRODUCER)
}

fn coordinator() -> String {
    names::consumer_coordinator(DEFAULT_CONSUMER)
}

fn fetch() -> String {
    names::consumer_fetch(DEFAULT_CONSUMER)
}

/// Steps one tick and reads `attr` of `bean`.
fn step(s: &ScenarioJvm, bean: &str, attr: &str) -> f64 {
    s.tick().expect("tick");
    s.get_f64(bean, attr).expect("get")
}

#[test]
fn commands_are_acknowledged_and_errors_reported() {
    // A one-minute tick: resume below must not let a wall-clock tick slip in.
    let s = ScenarioJvm::builder()
        .paused()
        .tick(Duration::from_secs(60))
        .start()
        .expect("scenario starts");
    assert!(
        s.ready_line().contains(&format!("port={}", s.jmx_port())),
        "{}",
        s.ready_line()
    );
    assert!(s.ready_line().contains("paused=true"));
    assert!(
        s.status()
            .expect("status")
            .starts_with("tick=0 phase=normal k=0 paused=true")
    );

    s.pause().expect("pause");
    s.resume().expect("resume");
    s.pause().expect("pause again");
    s.phase("lag-spike").expect("phase");
    assert_eq!(
        s.tick().expect("tick"),
        Tick {
            n: 1,
            phase: "lag-spike".into(),
            k: 0
        }
    );

    let err = s.command("launch rockets").expect_err("unknown command");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("unknown command 'launch'"),
        "{err}"
    );
    let err = s.phase("no-such-phase").expect_err("unknown phase");
    assert!(err.to_string().contains("known phases"), "{err}");
    let err = s
        .get(&producer(), "no-such-attribute")
        .expect_err("unknown attribute");
    assert!(err.to_string().contains("no attribute"), "{err}");
    let err = s.unregister("nothing.here:*").expect_err("no match");
    assert!(
        err.to_string().contains("no scenario MBean matches"),
        "{err}"
    );

    // The program keeps serving after errors.
    assert_eq!(s.get_f64(&fetch(), "records-lag-max").expect("get"), 1000.0);
    s.quit().expect("quit");
}

#[test]
fn paused_timeline_plays_exact_trajectories() {
    let s = ScenarioJvm::builder()
        .paused()
        .role(Role::Both)
        .timeline("normal:2t,buffer-pressure:3t,buffer-overflow:2t,latency-divergence:5t,lag-spike:10t,rebalance-storm:4t,recovery")
        .start()
        .expect("scenario starts");
    let p = producer();

    // Before the first sample: NaN averages, the whole buffer free, no rebalance yet.
    assert!(s.get_f64(&p, "batch-size-avg").expect("get").is_nan());
    assert!(
        s.get_f64(&fetch(), "records-lag-max")
            .expect("get")
            .is_nan()
    );
    assert_eq!(
        s.get_f64(&p, "buffer-available-bytes").expect("get"),
        33_554_432.0
    );
    assert_eq!(
        s.get_f64(&coordinator(), "last-rebalance-seconds-ago")
            .expect("get"),
        -1.0
    );

    // normal: utilization 0.5, one initial rebalance (the join).
    assert_eq!(step(&s, &p, "buffer-available-bytes"), 16_777_216.0);
    assert_eq!(
        s.get_f64(&coordinator(), "rebalance-total").expect("get"),
        1.0
    );
    assert_eq!(step(&s, &p, "request-latency-avg"), 50.0);

    // buffer-pressure: utilization 0.70, then 0.85 held.
    let avail: Vec<f64> = (0..3)
        .map(|_| step(&s, &p, "buffer-available-bytes"))
        .collect();
    assert_eq!(avail, [10_066_330.0, 5_033_165.0, 5_033_165.0]);
    assert_eq!(s.get_f64(&p, "buffer-exhausted-total").expect("get"), 0.0);

    // buffer-overflow: utilization 0.97 and two exhaustions per tick.
    assert_eq!(step(&s, &p, "buffer-exhausted-total"), 2.0);
    assert_eq!(
        s.get_f64(&p, "buffer-available-bytes").expect("get"),
        1_006_633.0
    );
    assert_eq!(step(&s, &p, "buffer-exhausted-total"), 4.0);

    // latency-divergence: 75 -> 100 -> 150 -> 300 -> 500.
    let latency: Vec<f64> = (0..5)
        .map(|_| step(&s, &p, "request-latency-avg"))
        .collect();
    assert_eq!(latency, [75.0, 100.0, 150.0, 300.0, 500.0]);
    let p99 = s
        .get_f64(&names::request_total_time("Produce"), "99thPercentile")
        .expect("broker p99");
    assert_eq!(p99, 200.0);

    // lag-spike: 1000 -> 2500 -> 12000 -> 12000 -> falling -> back to the normal pattern.
    let lag: Vec<f64> = (0..10)
        .map(|_| step(&s, &fetch(), "records-lag-max"))
        .collect();
    assert_eq!(
        lag,
        [
            1000.0, 2500.0, 12000.0, 12000.0, 9000.0, 6000.0, 3000.0, 1500.0, 800.0, 60.0
        ]
    );
    let partition2 = names::consumer_fetch_partition(DEFAULT_CONSUMER, "orders", 2);
    assert_eq!(s.get_f64(&partition2, "records-lag").expect("get"), 30.0);

    // rebalance-storm: a rebalance every third tick, partitions revoked while it happens.
    let c = coordinator();
    let mut seen = Vec::new();
    for _ in 0..4 {
        s.tick().expect("tick");
        seen.push((
            s.get_f64(&c, "rebalance-total").expect("get"),
            s.get_f64(&c, "assigned-partitions").expect("get"),
            s.get_f64(&c, "last-rebalance-seconds-ago").expect("get"),
        ));
    }
    assert_eq!(
        seen,
        [
            (2.0, 0.0, 0.0),
            (2.0, 6.0, 1.0),
            (2.0, 6.0, 2.0),
            (3.0, 0.0, 0.0)
        ]
    );
    assert_eq!(s.get_f64(&c, "rebalance-latency-avg").expect("get"), 6000.0);
    assert_eq!(s.get_f64(&c, "failed-rebalance-total").expect("get"), 1.0);

    // recovery: linear back to normal over five ticks.
    let rebalance_latency: Vec<f64> = (0..6)
        .map(|_| step(&s, &c, "rebalance-latency-avg"))
        .collect();
    assert_eq!(
        rebalance_latency,
        [4860.0, 3720.0, 2580.0, 1440.0, 300.0, 300.0]
    );
}

#[test]
fn set_pins_values_until_unset() {
    let s = ScenarioJvm::builder()
        .paused()
        .start()
        .expect("scenario starts");
    let p = producer();
    s.set(&p, "buffer-available-bytes", 1234.5).expect("set");
    s.tick().expect("tick");
    assert_eq!(
        s.get_f64(&p, "buffer-available-bytes").expect("get"),
        1234.5
    );
    s.set(&p, "request-latency-avg", "NaN").expect("set NaN");
    assert!(s.get_f64(&p, "request-latency-avg").expect("get").is_nan());
    s.unset(&p, "buffer-available-bytes").expect("unset");
    s.tick().expect("tick");
    assert_eq!(
        s.get_f64(&p, "buffer-available-bytes").expect("get"),
        16_777_216.0
    );
    assert!(s.get_f64(&p, "request-latency-avg").expect("get").is_nan());
    s.unset_all().expect("unset all");
    s.tick().expect("tick");
    assert_eq!(s.get_f64(&p, "request-latency-avg").expect("get"), 50.0);

    // Long-typed business counter keeps its type; a new MBean is created on demand.
    s.set(names::BUSINESS, "orders-processed-count", 7)
        .expect("set long");
    assert_eq!(
        s.get(names::BUSINESS, "orders-processed-count")
            .expect("get"),
        "7"
    );
    s.set("com.example.extra:type=Custom", "widgets", "long:42")
        .expect("new MBean");
    assert!(
        s.list()
            .expect("list")
            .contains(&"com.example.extra:type=Custom".to_owned())
    );
    assert_eq!(
        s.get("com.example.extra:type=Custom", "widgets")
            .expect("get"),
        "42"
    );
}

#[test]
fn client_closed_and_unregister_remove_mbeans() {
    let s = ScenarioJvm::builder()
        .paused()
        .timeline("buffer-overflow:2t,client-closed:1t,normal")
        .start()
        .expect("scenario starts");
    let p = producer();
    s.ticks(2).expect("ticks");
    assert_eq!(s.get_f64(&p, "buffer-exhausted-total").expect("get"), 4.0);

    let lines = s.command("tick").expect("tick into client-closed");
    assert!(
        lines.iter().any(|l| l == &format!("UNREGISTERED {p}")),
        "{lines:?}"
    );
    let listed = s.list().expect("list");
    assert!(
        !listed.iter().any(|n| n.starts_with("kafka.producer:")),
        "{listed:?}"
    );
    assert!(listed.contains(&names::consumer_coordinator(DEFAULT_CONSUMER)));

    // Back to normal: a new producer instance, counters from zero.
    let lines = s.command("tick").expect("tick into normal");
    assert!(
        lines.iter().any(|l| l == &format!("REGISTERED {p}")),
        "{lines:?}"
    );
    assert_eq!(s.get_f64(&p, "buffer-exhausted-total").expect("get"), 0.0);

    s.unregister("kafka.consumer:*").expect("unregister");
    s.tick().expect("tick");
    assert!(
        !s.list()
            .expect("list")
            .iter()
            .any(|n| n.starts_with("kafka.consumer:"))
    );
    s.register("kafka.consumer:*").expect("register");
    assert!(s.list().expect("list").contains(&fetch()));
}

#[test]
fn timeline_plays_by_itself_when_not_paused() {
    let s = ScenarioJvm::builder()
        .tick(Duration::from_millis(100))
        .timeline("normal:2t,error-burst:3t,recovery")
        .start()
        .expect("scenario starts");
    s.wait_for_phase("error-burst", Duration::from_secs(10))
        .expect("error-burst starts");
    s.wait_for_phase("recovery", Duration::from_secs(10))
        .expect("recovery starts");
    s.pause().expect("pause");
    let failures = s
        .get_f64(names::BUSINESS, "order-validation-failures")
        .expect("get");
    assert_eq!(failures, 9.0, "three error-burst ticks at +3 each");
    assert!(s.status().expect("status").contains("phase=recovery"));
}

#[test]
fn timeline_file_is_read() {
    let dir = std::env::temp_dir().join(format!("kafka-obs-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("timeline.txt");
    std::fs::write(
        &file,
        "# a producer in trouble\nnormal 1t\nbuffer-pressure 2t   # ramp\n\nbuffer-overflow\n",
    )
    .expect("write");
    let s = ScenarioJvm::builder()
        .paused()
        .timeline_file(&file)
        .start()
        .expect("scenario starts");
    let phases: Vec<String> = s
        .ticks(4)
        .expect("ticks")
        .into_iter()
        .map(|t| t.phase)
        .collect();
    assert_eq!(
        phases,
        [
            "normal",
            "buffer-pressure",
            "buffer-pressure",
            "buffer-overflow"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_fail_the_start_with_the_reason() {
    let err = ScenarioJvm::builder()
        .timeline("normal:5t,warp-drive:3t")
        .start()
        .expect_err("unknown phase");
    assert!(
        err.to_string().contains("unknown phase 'warp-drive'"),
        "{err}"
    );
}

#[test]
fn jmxquery_reads_what_the_scenario_says() {
    if peers::jmxquery_jar().is_err() {
        eprintln!("skipped: jmxquery jar not installed (run ./scripts/test.sh)");
        return;
    }
    let s = ScenarioJvm::builder()
        .paused()
        .role(Role::Both)
        .timeline("buffer-pressure")
        .start()
        .expect("scenario starts");

    // Before the first sample the average is NaN, on the wire too.
    let rows = peers::jmxquery_rows(
        &s.jmx_url(),
        "kafka.producer:type=producer-metrics,*/batch-size-avg",
        None,
    )
    .expect("jmxquery");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].as_f64().is_some_and(f64::is_nan), "{rows:?}");

    s.ticks(2).expect("ticks");
    let queries = [
        (producer(), "buffer-available-bytes", "Double"),
        (producer(), "batch-size-avg", "Double"),
        (coordinator(), "rebalance-total", "Double"),
        (names::BUSINESS.to_owned(), "orders-processed-count", "Long"),
        (names::UNDER_REPLICATED.to_owned(), "Value", "Integer"),
        (names::ISR_SHRINKS.to_owned(), "Count", "Long"),
        (
            names::broker_topic_metrics("BytesInPerSec"),
            "OneMinuteRate",
            "Double",
        ),
    ];
    let query: Vec<String> = queries
        .iter()
        .map(|(bean, attr, _)| format!("{bean}/{attr}"))
        .collect();
    let rows = peers::jmxquery_rows(&s.jmx_url(), &query.join(";"), None).expect("jmxquery");
    for (bean, attr, java_type) in &queries {
        let row = rows
            .iter()
            .find(|r| &r.mbean == bean && r.attribute == *attr)
            .unwrap_or_else(|| panic!("jmxquery has no {bean}/{attr}: {rows:?}"));
        assert_eq!(&row.attribute_type, java_type, "{row:?}");
        let expected = s.get_f64(bean, attr).expect("get");
        assert_eq!(row.as_f64(), Some(expected), "{bean}/{attr}");
    }
    let avail = rows
        .iter()
        .find(|r| r.attribute == "buffer-available-bytes")
        .and_then(|r| r.as_f64());
    assert_eq!(avail, Some(5_033_165.0));

    // `gc` runs real collections: the JVM's own GC MBeans count them.
    let count = |s: &ScenarioJvm| -> f64 {
        peers::jmxquery_rows(
            &s.jmx_url(),
            "java.lang:type=GarbageCollector,*/CollectionCount",
            None,
        )
        .expect("jmxquery")
        .iter()
        .filter_map(|r| r.as_f64())
        .sum()
    };
    let before = count(&s);
    let line = s.gc(3).expect("gc");
    assert!(line.starts_with("GC collections=+"), "{line}");
    assert!(count(&s) >= before + 3.0);
}

#[test]
fn gc_pressure_really_collects() {
    let s = ScenarioJvm::builder()
        .paused()
        .timeline("gc-pressure")
        .start()
        .expect("scenario starts");
    let lines = s.command("tick").expect("tick");
    let gc = lines
        .iter()
        .find(|l| l.starts_with("GC tick=1 "))
        .unwrap_or_else(|| panic!("no GC line: {lines:?}"));
    let collections: u64 = gc
        .split_whitespace()
        .find_map(|w| w.strip_prefix("collections=+"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unparsable: {gc}"));
    assert!(collections >= 1, "{gc}");
}

#[test]
fn dump_prints_the_trajectory_without_jmx() {
    let classes = kafka_obs_testkit::java::compile(&kafka_obs_testkit::scenario::scenario_dir())
        .expect("javac");
    let output = std::process::Command::new(kafka_obs_testkit::java::java_bin())
        .arg("-cp")
        .arg(&classes)
        .args([
            "ScenarioMain",
            "--dump",
            "3",
            "--timeline",
            "normal:1t,lag-spike",
        ])
        .output()
        .expect("java runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let column = rows[0]
        .iter()
        .position(|h| *h == "lagmax")
        .expect("lagmax column");
    let lag: Vec<&str> = rows[1..].iter().map(|r| r[column]).collect();
    assert_eq!(lag, ["NaN", "100", "1000", "2500"]);
}
