//! Benchmark of the `resource` and `attributes` processors, printed as figures (no harness):
//! OTLP metric data points per second through decode -> `resource` -> `attributes`, beside the
//! bare path (decode only) in the same run, on the same requests. One thread (= per core).
//!
//! The requests look like a sidecar's JMX poll: one resource of five attributes, 100 metrics of
//! 10 points with three attributes each. The processors do what the examples do: `resource`
//! upserts `kafka.cluster` and inserts `k8s.pod.name`; `attributes` (included on `kafka.*`
//! metric names by regexp) hashes `user.id`, converts `partition` to int and deletes keys by
//! pattern.
//!
//! `cargo bench -p kafka-obs-processor --bench attributes` (env `REQUESTS`, default 2000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kafka_obs_api::Batch;
use kafka_obs_processor::attributes::AttributesConfig;
use kafka_obs_processor::resource::ResourceConfig;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const METRICS: usize = 100;
const POINTS_EACH: usize = 10;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

fn request(n: usize) -> Vec<u8> {
    let metrics = (0..METRICS)
        .map(|m| Metric {
            name: if m % 4 == 0 {
                format!("jvm.memory.pool.used.{m}")
            } else {
                format!("kafka.producer.record-send-rate.{m}")
            },
            data: Some(Data::Gauge(Gauge {
                data_points: (0..POINTS_EACH)
                    .map(|p| NumberDataPoint {
                        attributes: vec![
                            kv("client-id", &format!("client-{n}")),
                            kv("partition", &p.to_string()),
                            kv("user.id", &format!("user-{}", (n + p) % 97)),
                        ],
                        time_unix_nano: 1_700_000_000_000_000_000 + n as u64,
                        value: Some(number_data_point::Value::AsDouble(p as f64)),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "orders"),
                    kv("service.instance.id", &format!("orders-{}", n % 8)),
                    kv("host.name", "node-1"),
                    kv("process.pid", "4242"),
                    kv("tmp.debug", "x"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).expect("bench yaml")
}

fn decode(bytes: &[u8]) -> Batch {
    Batch::Metrics(ExportMetricsServiceRequest::decode(bytes).expect("bench request"))
}

/// Runs `f` over every request, twice, and keeps the faster pass (the machine is shared).
fn best_of_two(requests: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> usize) -> (Duration, usize) {
    (0..2)
        .map(|_| {
            let start = Instant::now();
            let points: usize = requests.iter().map(|r| f(r)).sum();
            (start.elapsed(), points)
        })
        .min_by_key(|(d, _)| *d)
        .expect("two passes")
}

fn main() {
    let n: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let requests: Vec<Vec<u8>> = (0..n).map(request).collect();
    let resource = ResourceConfig::parse(&yaml(
        "attributes:
  - {key: kafka.cluster, value: orders-prod, action: upsert}
  - {key: k8s.pod.name, value: orders-7f9c, action: insert}
  - {key: tmp.debug, action: delete}",
    ))
    .expect("resource config");
    let attributes = AttributesConfig::parse(&yaml(
        r#"include: {match_type: regexp, metric_names: ['^kafka\.']}
actions:
  - {key: user.id, action: hash}
  - {key: partition, action: convert, converted_type: int}
  - {action: delete, pattern: '^tmp\.'}"#,
    ))
    .expect("attributes config");

    let bare = best_of_two(&requests, |bytes| black_box(decode(bytes)).item_count());
    let with_resource = best_of_two(&requests, |bytes| {
        let mut batch = decode(bytes);
        resource.apply(&mut batch);
        black_box(batch).item_count()
    });
    let with_both = best_of_two(&requests, |bytes| {
        let mut batch = decode(bytes);
        resource.apply(&mut batch);
        attributes.apply(&mut batch);
        black_box(batch).item_count()
    });

    let rate = |(d, points): (Duration, usize)| points as f64 / d.as_secs_f64();
    let points = bare.1;
    println!(
        "{n} requests x {} points ({points} points), best of two passes, one thread",
        METRICS * POINTS_EACH
    );
    println!("{:<42} {:>14} {:>12}", "path", "points/s", "ns/point");
    for (name, run) in [
        ("bare: OTLP decode", bare),
        ("decode + resource", with_resource),
        ("decode + resource + attributes", with_both),
    ] {
        println!(
            "{name:<42} {:>14.0} {:>12.1}",
            rate(run),
            run.0.as_nanos() as f64 / run.1 as f64
        );
    }
    let extra = (with_both.0.as_nanos() as f64 - bare.0.as_nanos() as f64) / points as f64;
    println!("processors' own cost: {extra:.1} ns/point");
}
