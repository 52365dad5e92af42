//! End to end with the real binary: scenario JVM -> `jmx` receiver (every client preset, the
//! JVM preset and the business rules, from `examples/jmx-to-file.yaml`) -> `file` exporter.
//! The scenario is paused and stepped; after each step the first poll that started later must
//! show exactly the scenario's documented values (scenario/README.md), read back from the
//! OTLP/JSON file by walking the JSON as the OTLP spec lays it out.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_testkit::scenario::{Role, ScenarioJvm};
use kafka_obs_tests::{Collector, CollectorOptions};
use serde_json::Value;

/// One data point read back from the file.
#[derive(Debug, Clone)]
struct Point {
    metric: String,
    unit: String,
    kind: &'static str,
    attributes: BTreeMap<String, String>,
    value: f64,
    start_ns: u64,
}

/// One poll (one JSON line): when it was taken and its points.
#[derive(Debug, Clone)]
struct Poll {
    time_ns: u64,
    points: Vec<Point>,
}

impl Poll {
    fn get(&self, metric: &str, attrs: &[(&str, &str)]) -> Option<&Point> {
        self.points.iter().find(|p| {
            p.metric == metric
                && attrs
                    .iter()
                    .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
        })
    }

    fn value(&self, metric: &str, attrs: &[(&str, &str)]) -> f64 {
        self.get(metric, attrs)
            .unwrap_or_else(|| panic!("no {metric} {attrs:?} in the poll at {}", self.time_ns))
            .value
    }
}

fn num(v: &Value) -> Option<f64> {
    // OTLP JSON writes int64 as strings.
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn parse_line(line: &str) -> Option<Poll> {
    let v: Value = serde_json::from_str(line).ok()?;
    let mut points = Vec::new();
    let mut time_ns = 0;
    for rm in v["resourceMetrics"].as_array()? {
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            for m in sm["metrics"].as_array().into_iter().flatten() {
                let (kind, data) = if m["gauge"].is_object() {
                    ("gauge", &m["gauge"])
                } else if m["sum"]["isMonotonic"] == true {
                    ("counter", &m["sum"])
                } else {
                    ("updowncounter", &m["sum"])
                };
                for dp in data["dataPoints"].as_array().into_iter().flatten() {
                    let attributes = dp["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            (
                                a["key"].as_str().unwrap_or_default().to_owned(),
                                a["value"]["stringValue"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned(),
                            )
                        })
                        .collect();
                    let value = num(&dp["asDouble"]).or_else(|| num(&dp["asInt"]))?;
                    let name = m["name"].as_str().unwrap_or_default().to_owned();
                    if name == "kafka_obs.target.up" {
                        time_ns = num(&dp["timeUnixNano"])? as u64;
                    }
                    points.push(Point {
                        metric: name,
                        unit: m["unit"].as_str().unwrap_or_default().to_owned(),
                        kind,
                        attributes,
                        value,
                        start_ns: num(&dp["startTimeUnixNano"]).unwrap_or(0.0) as u64,
                    });
                }
            }
        }
    }
    Some(Poll { time_ns, points })
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The first poll that started after `after_ns` (waits for the file to have it).
fn first_poll_after(file: &Path, after_ns: u64, collector: &Collector) -> Poll {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        // Only complete lines: the writer may be mid-line.
        let complete = text.rsplit_once('\n').map(|(done, _)| done).unwrap_or("");
        if let Some(p) = complete
            .lines()
            .filter_map(parse_line)
            .find(|p| p.time_ns > after_ns)
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "no poll after {after_ns} in 20 s; kafka-obs log:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn config(out: &Path) -> String {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/jmx-to-file.yaml"),
    )
    .expect("examples/jmx-to-file.yaml");
    // Faster polls and flushes than a real sidecar, so the test takes seconds.
    let config = example
        .replace("collection_interval: 10s", "collection_interval: 300ms")
        .replace(
            "    path: ${env:OUTPUT_FILE:-./kafka-obs-metrics.jsonl}",
            &format!("    path: {}\n    flush_interval: 100ms", out.display()),
        );
    assert!(
        config.contains("300ms") && config.contains("flush_interval"),
        "example changed shape"
    );
    config
}

#[test]
fn scenario_timeline_through_jmx_to_file() {
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Client)
        .start()
        .expect("scenario JVM");
    scenario.tick().expect("tick"); // normal, k = 0
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("metrics.jsonl");
    let mut collector = Collector::start_with(
        &config(&out),
        CollectorOptions {
            env: vec![(
                "JMX_ENDPOINT".into(),
                format!("127.0.0.1:{}", scenario.jmx_port()),
            )],
            ..Default::default()
        },
    );
    let producer = [("client-id", "order-producer")];
    let consumer = [("client-id", "inventory-consumer")];

    // Step 1: normal values, names, attributes, units and types.
    let p = first_poll_after(&out, now_ns(), &collector);
    assert_eq!(p.value("kafka_obs.target.up", &[]), 1.0);
    assert_eq!(
        p.value("kafka.producer.buffer-available-bytes", &producer),
        16_777_216.0
    );
    assert_eq!(
        p.value("kafka.producer.buffer-total-bytes", &producer),
        33_554_432.0
    );
    assert_eq!(
        p.value("kafka.producer.request-latency-avg", &producer),
        50.0
    );
    assert_eq!(
        p.value(
            "kafka.producer.record-send-rate",
            &[("client-id", "order-producer"), ("topic", "orders")]
        ),
        500.0
    );
    assert_eq!(p.value("kafka.consumer.records-lag-max", &consumer), 100.0);
    assert_eq!(
        p.value(
            "kafka.consumer.records-lag",
            &[
                ("client-id", "inventory-consumer"),
                ("topic", "payments"),
                ("partition", "1")
            ]
        ),
        75.0
    );
    assert_eq!(
        p.value("kafka.consumer.assigned-partitions", &consumer),
        6.0
    );
    assert_eq!(p.value("orders.processed", &[]), 100.0);
    assert_eq!(p.value("orders.inventory.check.latency", &[]), 45.0);
    let rebalances = p
        .get("kafka.consumer.rebalance-total", &consumer)
        .expect("rebalance-total");
    assert_eq!(
        (rebalances.kind, rebalances.value, rebalances.unit.as_str()),
        ("counter", 1.0, "{rebalance}")
    );
    let heap = p.get("jvm.memory.heap.used", &[]).expect("heap used");
    assert_eq!((heap.kind, heap.unit.as_str()), ("gauge", "By"));
    assert!(heap.value > 0.0);
    let gc = p
        .points
        .iter()
        .find(|x| x.metric == "jvm.gc.collections.count")
        .expect("GC count");
    assert_eq!(gc.kind, "counter");
    assert!(gc.attributes.contains_key("name"), "{gc:?}");
    // NaN before a first sample (commit-latency-avg stays defined in normal) is never written.
    assert!(p.points.iter().all(|x| x.value.is_finite()));

    // Step 2: buffer overflow.
    scenario.phase("buffer-overflow").expect("phase");
    scenario.tick().expect("tick");
    let p = first_poll_after(&out, now_ns(), &collector);
    assert_eq!(
        p.value("kafka.producer.buffer-available-bytes", &producer),
        1_006_633.0
    );
    let exhausted = p
        .get("kafka.producer.buffer-exhausted-total", &producer)
        .expect("exhausted");
    assert_eq!((exhausted.kind, exhausted.value), ("counter", 2.0));
    let first_start = exhausted.start_ns;

    // Step 3: request latency diverging, 75 -> 100 -> 150.
    scenario.phase("latency-divergence").expect("phase");
    for want in [75.0, 100.0, 150.0] {
        scenario.tick().expect("tick");
        let p = first_poll_after(&out, now_ns(), &collector);
        assert_eq!(
            p.value("kafka.producer.request-latency-avg", &producer),
            want
        );
    }

    // Step 4: the producer closes; its series stop, the consumer's go on.
    scenario.phase("client-closed").expect("phase");
    scenario.tick().expect("tick");
    let p = first_poll_after(&out, now_ns(), &collector);
    assert!(
        p.points
            .iter()
            .all(|x| !x.metric.starts_with("kafka.producer.")),
        "producer series stopped"
    );
    assert_eq!(
        p.value("kafka.consumer.assigned-partitions", &consumer),
        6.0
    );
    assert_eq!(p.value("kafka_obs.target.up", &[]), 1.0);

    // Step 5: a new producer: its counter starts from 0 with a later start time (a reset).
    scenario.phase("normal").expect("phase");
    scenario.tick().expect("tick");
    let p = first_poll_after(&out, now_ns(), &collector);
    let exhausted = p
        .get("kafka.producer.buffer-exhausted-total", &producer)
        .expect("exhausted again");
    assert_eq!(exhausted.value, 0.0);
    assert!(
        exhausted.start_ns > first_start,
        "new start time after the producer came back"
    );

    assert!(collector.metric("kafka_obs_jmx_polls_total", &[]) >= 7.0);
    assert_eq!(
        collector.metric("kafka_obs_jmx_poll_failures_total", &[]),
        0.0
    );
    assert_eq!(
        collector.metric("kafka_obs_jmx_target_up", &["receiver=\"jmx\""]),
        1.0
    );
    let status = collector.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", collector.stderr());
}

/// Hostile agents (issue #14): replies that are well-formed Java serialization built to be
/// expensive. For each kind the real binary, polling a hostile agent of the test kit, must stay
/// responsive (polls end within the timeout, `/metrics` answers), stay within 64 MB of RSS above
/// its baseline, report the target down with a reason that says what was wrong, and recover when
/// the agent behaves again; implausible values are dropped and counted, not exported; SIGTERM in
/// the middle of a hostile poll exits within a second.
mod hostile {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use kafka_obs_testkit::hostile_jmx::{HostileJmx, Mode};
    use kafka_obs_tests::{Collector, http_get};

    /// The documented bound: RSS above the baseline while hostile replies are decoded.
    const RSS_BOUND_KIB: u64 = 64 * 1024;
    /// The receiver's poll timeout in the config below.
    const POLL_TIMEOUT: Duration = Duration::from_secs(2);

    fn config(port: u16, out: &Path) -> String {
        format!(
            r#"
receivers:
  jmx:
    endpoint: 127.0.0.1:{port}
    collection_interval: 300ms
    timeout: 2s
    mbean_refresh_interval: 0s
    rules:
      - bean: hostile:type=Test,name=*
        mapping:
          Value: {{metric: hostile.value}}
          Count: {{metric: hostile.count, type: counter}}
exporters:
  file:
    path: {out}
    flush_interval: 100ms
service:
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [file]
"#,
            out = out.display()
        )
    }

    struct Watch {
        max_rss_kib: u64,
        max_scrape: Duration,
        max_poll: Duration,
    }

    /// Scrapes `/metrics` every 100 ms until `done(metrics text)` or `limit`, recording the
    /// slowest scrape, the longest poll the collector reports and the highest RSS.
    fn watch(collector: &Collector, limit: Duration, done: impl Fn(&str) -> bool) -> Watch {
        let deadline = Instant::now() + limit;
        let mut w = Watch {
            max_rss_kib: 0,
            max_scrape: Duration::ZERO,
            max_poll: Duration::ZERO,
        };
        loop {
            w.max_rss_kib = w.max_rss_kib.max(collector.rss_kib());
            let started = Instant::now();
            let (status, text) =
                http_get(collector.metrics_addr, "/metrics").expect("/metrics answers");
            w.max_scrape = w.max_scrape.max(started.elapsed());
            assert_eq!(status, 200);
            let poll_us = kafka_obs_tests::metric_value(
                &text,
                "kafka_obs_jmx_poll_duration_microseconds",
                &[],
            );
            w.max_poll = w.max_poll.max(Duration::from_micros(poll_us as u64));
            if done(&text) {
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "not reached in {limit:?}; kafka-obs log:\n{}",
                collector.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn up(text: &str) -> f64 {
        kafka_obs_tests::metric_value(text, "kafka_obs_jmx_target_up", &[])
    }

    #[test]
    fn hostile_agents_cannot_hang_or_grow_the_collector() {
        let server = HostileJmx::start(Mode::Good).expect("hostile JMX server");
        let cases: [(Mode, &[&str]); 6] = [
            (Mode::ManyKeys, &["implausible reply: an MBean name of"]),
            (Mode::SharedName, &["implausible reply: an MBean name of"]),
            (Mode::WideClass, &["decoding needs more than"]),
            (Mode::SelfComposite, &["contains itself"]),
            (
                Mode::NullArray,
                &["decoding needs more than", "exceeds the limit"],
            ),
            (
                Mode::WideObjects,
                &["decoding needs more than", "exceeds the limit"],
            ),
        ];
        for (mode, _) in &cases {
            server.prepare(*mode);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("metrics.jsonl");
        let mut collector = Collector::start(&config(server.port(), &out));

        let w = watch(&collector, Duration::from_secs(20), |t| up(t) == 1.0);
        // Let the allocator settle on a few good polls before taking the baseline.
        std::thread::sleep(Duration::from_secs(1));
        let baseline = collector.rss_kib().max(w.max_rss_kib);
        eprintln!("baseline RSS {baseline} KiB");

        for (mode, reasons) in cases {
            server.set_mode(mode);
            let hostile = watch(&collector, Duration::from_secs(20), |t| up(t) == 0.0);
            // The warning of this outage names what was wrong.
            let log = collector.stderr();
            let line = log
                .lines()
                .rev()
                .find(|l| l.contains("JMX target unreachable"))
                .unwrap_or_default();
            assert!(
                reasons.iter().any(|r| line.contains(r)),
                "{mode:?}: the down reason should say one of {reasons:?}: {line}"
            );
            server.set_mode(Mode::Good);
            let recovered = watch(&collector, Duration::from_secs(20), |t| up(t) == 1.0);
            let rss = hostile.max_rss_kib.max(recovered.max_rss_kib);
            eprintln!(
                "{mode:?}: peak RSS {rss} KiB (+{} KiB), slowest /metrics {:?}, longest poll {:?}",
                rss.saturating_sub(baseline),
                hostile.max_scrape.max(recovered.max_scrape),
                hostile.max_poll.max(recovered.max_poll),
            );
            assert!(
                rss <= baseline + RSS_BOUND_KIB,
                "{mode:?}: RSS {rss} KiB is more than 64 MB above the baseline {baseline} KiB"
            );
            assert!(
                hostile.max_poll <= POLL_TIMEOUT + Duration::from_millis(500),
                "{mode:?}: a poll took {:?} (timeout {POLL_TIMEOUT:?})",
                hostile.max_poll
            );
            assert!(
                hostile.max_scrape < Duration::from_secs(2),
                "{mode:?}: /metrics took {:?}",
                hostile.max_scrape
            );
        }

        // Absurd values: the target stays up, the values are dropped and counted, not exported.
        server.set_mode(Mode::AbsurdValues);
        watch(&collector, Duration::from_secs(20), |t| {
            kafka_obs_tests::metric_value(
                t,
                "kafka_obs_jmx_dropped_values_total",
                &["reason=\"out_of_range\""],
            ) >= 4.0
        });
        let text = collector.metrics();
        assert_eq!(up(&text), 1.0);
        let lines = kafka_obs_tests::complete_lines(&out);
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("1e308") && !l.contains("-9223372036854775808")),
            "an absurd value was exported"
        );
        assert!(
            lines.iter().any(|l| l.contains("hostile.count")),
            "the good polls were exported"
        );

        // SIGTERM while a hostile reply is being read and decoded.
        server.set_mode(Mode::WideObjects);
        std::thread::sleep(Duration::from_millis(700));
        let started = Instant::now();
        let status = collector.terminate(Duration::from_secs(10));
        let took = started.elapsed();
        assert!(status.success(), "{status}: {}", collector.stderr());
        assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    }
}
