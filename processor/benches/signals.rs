//! Benchmark of the signals engine, printed as figures (no harness):
//!
//! - data points per second per core through `Engine::evaluate` with every pack on and the
//!   business rules A1-A4, on batches shaped like the JMX presets' output (one request per
//!   service instance and poll: its producer with two topics, its consumer with two topics of
//!   three partitions, its JVM and business MBean, `kafka_obs.target.up`; plus brokers),
//!   with values that move every poll;
//! - beside it, in the same run, bare OTLP protobuf decode + encode of the same requests;
//! - memory per tracked series, from the process's resident set before and after the engine
//!   has seen every series (the workspace forbids `unsafe`, so no counting allocator).
//!
//! `cargo bench -p kafka-obs-processor --bench signals` (env `INSTANCES`, `POLLS`).

use std::time::{Duration, Instant};

use kafka_obs_processor::signals::{Engine, SignalsConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const SECOND: u64 = 1_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// Collects the metrics of one request: name -> points.
struct Builder {
    metrics: Vec<Metric>,
    time: u64,
}

impl Builder {
    fn point(&mut self, name: &str, attrs: &[(&str, &str)], value: f64, sum: bool) {
        let point = NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
            time_unix_nano: self.time,
            start_time_unix_nano: if sum { self.time - 3600 * SECOND } else { 0 },
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let data = if sum {
            Data::Sum(Sum {
                data_points: vec![point],
                aggregation_temporality: 2,
                is_monotonic: true,
            })
        } else {
            Data::Gauge(Gauge {
                data_points: vec![point],
            })
        };
        self.metrics.push(Metric {
            name: name.to_string(),
            unit: "1".to_string(),
            data: Some(data),
            ..Default::default()
        });
    }
}

/// A smooth, moving value: `base` scaled by a wave over polls and series.
fn wave(base: f64, poll: usize, seed: usize) -> f64 {
    let x = (poll as f64 * 0.7 + seed as f64 * 1.3).sin();
    base * (1.0 + 0.3 * x)
}

fn client_request(instance: usize, poll: usize) -> ExportMetricsServiceRequest {
    let mut b = Builder {
        metrics: Vec::with_capacity(110),
        time: 1_700_000_000 * SECOND + poll as u64 * 10 * SECOND,
    };
    let k = poll as f64;
    let producer = format!("producer-{instance}");
    let consumer = format!("consumer-{instance}");
    let pc = [("client-id", producer.as_str())];
    let cc = [("client-id", consumer.as_str())];
    let total = 33_554_432.0;
    for (attr, base) in [
        ("buffer-available-bytes", total * 0.5),
        ("buffer-total-bytes", total),
        ("batch-size-avg", 12000.0),
        ("record-send-rate", 1000.0),
        ("request-latency-avg", 50.0),
        ("record-error-rate", if poll % 17 == 3 { 0.2 } else { 0.0 }),
        ("record-retry-rate", 0.0),
        ("io-wait-time-ns-avg", 2e6),
        ("outgoing-byte-rate", 6e5),
        ("request-rate", 100.0),
        ("response-rate", 100.0),
    ] {
        let v = if attr.ends_with("total-bytes") || base == 0.0 {
            base
        } else {
            wave(base, poll, instance)
        };
        b.point(&format!("kafka.producer.{attr}"), &pc, v, false);
    }
    b.point(
        "kafka.producer.buffer-exhausted-total",
        &pc,
        (k / 5.0).floor(),
        true,
    );
    for topic in ["orders", "payments"] {
        let a = [("client-id", producer.as_str()), ("topic", topic)];
        for attr in [
            "record-send-rate",
            "record-error-rate",
            "record-retry-rate",
            "byte-rate",
            "compression-rate",
        ] {
            b.point(
                &format!("kafka.producer.{attr}"),
                &a,
                wave(10.0, poll, instance),
                false,
            );
        }
    }
    for (name, base) in [
        ("records-lag-max", 100.0),
        ("total.records-consumed-rate", 1000.0),
        ("total.bytes-consumed-rate", 5e5),
        ("total.fetch-size-avg", 1e4),
        ("fetch-rate", 50.0),
        ("fetch-latency-avg", 20.0),
        ("assigned-partitions", 6.0),
        ("commit-latency-avg", 15.0),
        ("commit-rate", 0.2),
        ("rebalance-latency-avg", 300.0),
        ("last-rebalance-seconds-ago", 10.0 * k),
        ("heartbeat-response-time-max", 10.0),
        ("last-poll-seconds-ago", 0.0),
        ("time-between-poll-max", 120.0),
    ] {
        b.point(
            &format!("kafka.consumer.{name}"),
            &cc,
            wave(base, poll, instance),
            false,
        );
    }
    b.point("kafka.consumer.rebalance-total", &cc, 1.0, true);
    b.point("kafka.consumer.failed-rebalance-total", &cc, 0.0, true);
    for topic in ["orders", "payments"] {
        let a = [("client-id", consumer.as_str()), ("topic", topic)];
        for attr in [
            "records-consumed-rate",
            "bytes-consumed-rate",
            "fetch-size-avg",
        ] {
            b.point(
                &format!("kafka.consumer.{attr}"),
                &a,
                wave(500.0, poll, instance),
                false,
            );
        }
        for partition in ["0", "1", "2"] {
            let a = [
                ("client-id", consumer.as_str()),
                ("topic", topic),
                ("partition", partition),
            ];
            let lag = if poll.is_multiple_of(2) { 100.0 } else { 60.0 };
            b.point("kafka.consumer.records-lag", &a, lag, false);
        }
    }
    for (name, v) in [
        ("jvm.memory.heap.used", wave(3e8, poll, instance)),
        ("jvm.memory.heap.max", 1e9),
        ("jvm.memory.heap.committed", 5e8),
        ("jvm.memory.heap.init", 2.5e8),
        ("jvm.memory.nonheap.used", 8e7),
        ("jvm.memory.nonheap.committed", 9e7),
        ("jvm.memory.nonheap.init", 7e6),
        ("jvm.classes.loaded", 9000.0),
        ("jvm.threads.count", 40.0),
        ("jvm.cpu.recent_utilization", wave(0.2, poll, instance)),
        ("jvm.file_descriptor.count", 120.0),
        ("jvm.file_descriptor.limit", 65536.0),
    ] {
        b.point(name, &[], v, false);
    }
    for pool in [
        "G1 Eden Space",
        "G1 Old Gen",
        "G1 Survivor Space",
        "Metaspace",
        "CodeCache",
        "Compressed Class Space",
    ] {
        for attr in ["init", "used", "committed", "max"] {
            b.point(
                &format!("jvm.memory.pool.{attr}"),
                &[("name", pool)],
                wave(1e7, poll, instance),
                false,
            );
        }
    }
    for (gc, per_poll, ms) in [
        ("G1 Young Generation", 3.0, 20.0),
        ("G1 Old Generation", 0.0, 0.0),
    ] {
        b.point(
            "jvm.gc.collections.count",
            &[("name", gc)],
            per_poll * k,
            true,
        );
        b.point("jvm.gc.collections.elapsed", &[("name", gc)], ms * k, true);
    }
    for (name, per_poll) in [
        ("orders-processed-count", 100.0),
        ("order-validation-failures", 0.0),
        ("payment-gateway-calls", 100.0),
        ("payment-gateway-failures", 0.0),
    ] {
        b.point(name, &[], per_poll * k, true);
    }
    b.point(
        "inventory-check-latency",
        &[],
        wave(45.0, poll, instance),
        false,
    );
    let endpoint = format!("10.0.{}.{}:9999", instance / 250, instance % 250);
    b.point(
        "kafka_obs.target.up",
        &[("endpoint", endpoint.as_str())],
        1.0,
        false,
    );
    let service = format!("service-{}", instance % 20);
    let pod = format!("pod-{instance}");
    request(
        &[
            ("kafka.cluster", "prod"),
            ("service.name", &service),
            ("service.instance.id", &pod),
            ("jmx.endpoint", &endpoint),
        ],
        b.metrics,
    )
}

fn broker_request(broker: usize, poll: usize) -> ExportMetricsServiceRequest {
    let mut b = Builder {
        metrics: Vec::with_capacity(80),
        time: 1_700_000_000 * SECOND + poll as u64 * 10 * SECOND,
    };
    let k = poll as f64;
    for (name, v) in [
        ("kafka.partition.under_replicated", 0.0),
        ("kafka.partition.count", 600.0),
        ("kafka.partition.offline", 0.0),
        (
            "kafka.controller.active.count",
            if broker == 0 { 1.0 } else { 0.0 },
        ),
        (
            "kafka.network.processor.avg.idle.percent",
            wave(0.8, poll, broker),
        ),
        (
            "kafka.request.handler.avg.idle.percent",
            wave(0.8, poll, broker),
        ),
    ] {
        b.point(name, &[], v, false);
    }
    for (name, v) in [
        ("kafka.leader.election.rate", 3.0),
        ("kafka.unclean.election.rate", 0.0),
    ] {
        b.point(name, &[], v, true);
    }
    for request in ["Produce", "FetchConsumer", "FetchFollower"] {
        for (attr, m) in [("avg", 1.0), ("50p", 0.6), ("99p", 4.0)] {
            b.point(
                &format!("kafka.request.time.{attr}"),
                &[("request", request)],
                wave(5.0 * m, poll, broker),
                false,
            );
        }
    }
    for op in ["shrink", "expand"] {
        b.point("kafka.isr.operation.count", &[("operation", op)], 2.0, true);
    }
    for topic in 0..20 {
        let t = format!("topic-{topic}");
        for dir in ["in", "out"] {
            b.point(
                "kafka.network.io",
                &[("direction", dir), ("topic", &t)],
                1e6 * k,
                true,
            );
            b.point(
                "kafka.network.io.rate",
                &[("direction", dir), ("topic", &t)],
                wave(1e5, poll, topic),
                false,
            );
        }
        b.point("kafka.message.count", &[("topic", &t)], 1e3 * k, true);
    }
    let id = broker.to_string();
    request(&[("kafka.cluster", "prod"), ("broker.id", &id)], b.metrics)
}

fn request(resource: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn points(r: &ExportMetricsServiceRequest) -> usize {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            _ => 0,
        })
        .sum()
}

fn poll_requests(
    instances: usize,
    brokers: usize,
    poll: usize,
) -> Vec<ExportMetricsServiceRequest> {
    let mut out: Vec<_> = (0..instances).map(|i| client_request(i, poll)).collect();
    out.extend((0..brokers).map(|b| broker_request(b, poll)));
    out
}

fn config() -> SignalsConfig {
    let text = include_str!("../../examples/signals-business-rules.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("example parses");
    let mut config = SignalsConfig::parse(&doc["connectors"]["signals"]).expect("valid");
    config.packs = kafka_obs_processor::signals::config::PacksConfig::all();
    config.series_ttl = Duration::from_secs(3600);
    config.stale_after = Duration::from_secs(600);
    config
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let instances = env("INSTANCES", 200);
    let brokers = env("BROKERS", 6);
    let polls = env("POLLS", 24);

    // Memory first, while the heap is fresh: many instances, one poll at a time.
    let mem_instances = env("MEM_INSTANCES", 4000);
    let before = rss_kib();
    let mut engine = Engine::new(config());
    let mut read_series = 0usize;
    for p in 0..3 {
        for i in 0..mem_instances {
            let r = client_request(i, p);
            if p == 0 {
                read_series += r.resource_metrics[0].scope_metrics[0]
                    .metrics
                    .iter()
                    .filter(|m| engine.reads(&m.name))
                    .count();
            }
            let _ = engine.evaluate(&r, 1_700_000_000 * SECOND + p as u64 * 10 * SECOND);
        }
    }
    let after = rss_kib();
    let rows = engine.series();
    drop(engine);
    let grown = (after.saturating_sub(before)) as f64 * 1024.0;
    println!(
        "memory ({mem_instances} instances, resident set growth {:.1} MiB)",
        grown / 1048576.0
    );
    println!("  metric series read by rules: {read_series}");
    println!("  rows of state:               {rows}");
    println!(
        "  bytes per metric series:     {:.0}",
        grown / read_series as f64
    );
    println!("  bytes per row:               {:.0}", grown / rows as f64);

    // Throughput: the same requests through the engine and through decode + encode.
    let all: Vec<Vec<ExportMetricsServiceRequest>> = (0..polls)
        .map(|p| poll_requests(instances, brokers, p))
        .collect();
    let total_points: usize = all.iter().flatten().map(points).sum();
    let encoded: Vec<Vec<u8>> = all.iter().flatten().map(|r| r.encode_to_vec()).collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();

    let mut engine = Engine::new(config());
    let mut signals = 0usize;
    let first = Instant::now();
    for r in &all[0] {
        signals += engine.evaluate(r, 1_700_000_000 * SECOND).signals.len();
    }
    let cold = first.elapsed();
    let cold_points: usize = all[0].iter().map(points).sum();
    let start = Instant::now();
    for (p, poll) in all.iter().enumerate().skip(1) {
        let now = 1_700_000_000 * SECOND + p as u64 * 10 * SECOND;
        for r in poll {
            signals += engine.evaluate(r, now).signals.len();
        }
    }
    let warm = start.elapsed();
    let warm_points = total_points - cold_points;

    let codec_start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..2 {
        for b in &encoded {
            let r = ExportMetricsServiceRequest::decode(b.as_slice()).expect("decodes");
            let mut out = Vec::with_capacity(b.len());
            r.encode(&mut out).expect("encodes");
            sink += out.len();
        }
    }
    let codec = codec_start.elapsed() / 2;
    assert_eq!(sink, 2 * bytes);

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "signals engine benchmark ({instances} instances + {brokers} brokers, {polls} polls of 10 s)"
    );
    println!("  points per poll:          {}", cold_points);
    println!(
        "  points in total:          {total_points} ({:.1} MB of OTLP protobuf)",
        bytes as f64 / 1e6
    );
    println!("  series tracked (rows):    {}", engine.series());
    println!("  subjects:                 {}", engine.subjects());
    println!("  signals emitted:          {signals}");
    println!(
        "  engine, first poll:       {:>12.0} points/s (creates every series)",
        rate(cold_points, cold)
    );
    println!(
        "  engine, steady state:     {:>12.0} points/s",
        rate(warm_points, warm)
    );
    println!(
        "  OTLP decode+encode:       {:>12.0} points/s",
        rate(total_points, codec)
    );
    println!(
        "  engine / (decode+encode): {:.2} of the codec's time per point",
        (warm.as_secs_f64() / warm_points as f64) / (codec.as_secs_f64() / total_points as f64)
    );
}
