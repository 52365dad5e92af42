//! Benchmark of `filter + transform` (and of `resource + attributes + filter + transform`, the
//! issue's chain), printed as figures (no harness): OTLP metric data points
//! per second through the real processor tasks (built from YAML, chained by channels, as the
//! runtime chains them), each request decoded from protobuf before and encoded after, beside
//! the bare pipeline in the same run: the same decode -> channel hop -> encode with no
//! processor. The requests look like a JVM's JMX poll: a quarter of the metrics are
//! `jvm.memory.pool.*` (which the filter drops), one is the business metric the transform renames.
//!
//! `cargo bench -p kafka-obs-processor --bench ottl` (env `REQUESTS`, default 2000).

use std::time::Instant;

use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, DataKind, Output, Parcel, ProcessorConfig, RunContext,
};
use kafka_obs_processor::attributes::AttributesConfig;
use kafka_obs_processor::filter::FilterConfig;
use kafka_obs_processor::resource::ResourceConfig;
use kafka_obs_processor::transform::TransformConfig;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tokio::sync::mpsc;

const FILTER: &str = r#"
error_mode: ignore
metrics:
  metric:
    - 'IsMatch(name, "^jvm\\.memory\\.pool\\.")'
  datapoint:
    - 'attributes["state"] == "idle" and resource.attributes["env"] == "dev"'
"#;

const TRANSFORM: &str = r#"
error_mode: ignore
metric_statements:
  - 'set(metric.name, "shop.orders.placed") where metric.name == "orders_total"'
  - context: datapoint
    statements:
      - set(attributes["kafka.cluster"], resource.attributes["kafka.cluster"])
      - delete_key(attributes, "user.id")
      - set(attributes["host"], ConvertCase(attributes["host"], "lower"))
"#;

const RESOURCE: &str = r#"
attributes:
  - {key: k8s.pod.name, value: orders-0, action: upsert}
  - {key: kafka.cluster, value: eu-1, action: insert}
"#;

const ATTRIBUTES: &str = r#"
actions:
  - {key: user.id, action: hash}
  - {key: region, value: eu, action: insert}
"#;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// One poll of one JVM: 40 metrics of 5 points each (200 points).
fn request(n: u64) -> ExportMetricsServiceRequest {
    let names: Vec<String> = (0..40)
        .map(|i| match i % 4 {
            0 => format!("jvm.memory.pool.m{i}"),
            1 if i == 1 => "orders_total".to_string(),
            1 => format!("kafka.producer.m{i}"),
            2 => format!("kafka.consumer.m{i}"),
            _ => format!("jvm.gc.m{i}"),
        })
        .collect();
    let metrics = names
        .into_iter()
        .map(|name| Metric {
            name,
            data: Some(Data::Gauge(Gauge {
                data_points: (0..5)
                    .map(|p| NumberDataPoint {
                        attributes: vec![
                            kv("host", "Broker-1"),
                            kv("user.id", "u-1"),
                            kv("state", if p == 0 { "idle" } else { "busy" }),
                        ],
                        time_unix_nano: n,
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
                attributes: vec![kv("env", "dev"), kv("kafka.cluster", "eu-1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Spawns the processors of `configs` in a chain; returns its input and its last output.
fn chain(configs: Vec<Box<dyn ProcessorConfig>>) -> (mpsc::Sender<Parcel>, mpsc::Receiver<Parcel>) {
    let (tx, mut rx) = mpsc::channel(64);
    for (i, config) in configs.into_iter().enumerate() {
        let ctx = BuildContext::for_test(
            ComponentKind::Processor,
            &format!("p{i}"),
            &[DataKind::Metrics],
        );
        let processor = config.build(&ctx).expect("builds");
        let (output, next) = Output::for_test("next", 64, true);
        let (run_ctx, _shutdown): (RunContext, _) = ctx.run_for_test();
        tokio::spawn(processor.run(rx, output, run_ctx));
        rx = next;
    }
    (tx, rx)
}

/// Points per second in, and points out, for `encoded` (holding `points_in` points) through
/// `configs`; the clock runs from the first decode to the last encode.
async fn run(
    encoded: &[Vec<u8>],
    points_in: usize,
    configs: Vec<Box<dyn ProcessorConfig>>,
) -> (f64, usize) {
    let (tx, mut rx) = chain(configs);
    let inputs: Vec<Vec<u8>> = encoded.to_vec();
    let start = Instant::now();
    let feeder = tokio::spawn(async move {
        for buf in inputs {
            let req = ExportMetricsServiceRequest::decode(buf.as_slice()).expect("decode");
            if tx.send(Parcel::from(Batch::Metrics(req))).await.is_err() {
                break;
            }
        }
    });
    let mut points_out = 0;
    let mut bytes = 0;
    while let Some(parcel) = rx.recv().await {
        points_out += parcel.batch.item_count();
        if let Batch::Metrics(req) = parcel.accept() {
            bytes += req.encode_to_vec().len();
        }
    }
    let elapsed = start.elapsed();
    feeder.await.expect("feeder");
    std::hint::black_box(bytes);
    (points_in as f64 / elapsed.as_secs_f64(), points_out)
}

fn main() {
    let requests: u64 = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let encoded: Vec<Vec<u8>> = (0..requests).map(|n| request(n).encode_to_vec()).collect();
    let points = requests as usize * 200;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let parse = |yaml: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml).expect("yaml");
    let filter = || -> Box<dyn ProcessorConfig> {
        Box::new(FilterConfig::parse(&parse(FILTER)).expect("filter"))
    };
    let transform = || -> Box<dyn ProcessorConfig> {
        Box::new(TransformConfig::parse(&parse(TRANSFORM)).expect("transform"))
    };
    let resource = || -> Box<dyn ProcessorConfig> {
        Box::new(ResourceConfig::parse(&parse(RESOURCE)).expect("resource"))
    };
    let attributes = || -> Box<dyn ProcessorConfig> {
        Box::new(AttributesConfig::parse(&parse(ATTRIBUTES)).expect("attributes"))
    };
    runtime.block_on(async {
        // Warm-up, then the measured runs, each on the same requests.
        let warm = encoded.len().min(200);
        run(&encoded[..warm], warm * 200, vec![filter(), transform()]).await;
        let (bare, _) = run(&encoded, points, vec![]).await;
        let (ft, out) = run(&encoded, points, vec![filter(), transform()]).await;
        let (all, _) = run(&encoded, points, vec![resource(), attributes(), filter(), transform()]).await;
        println!("OTLP metric points through the processors (one thread, {requests} requests of 200 points):");
        println!("  bare pipeline (decode, channel, encode)   {:>12.0} points/s", bare);
        println!("  filter + transform                        {:>12.0} points/s  ({:.2}x of bare; {out} of {points} points left)", ft, ft / bare);
        println!("  resource + attributes + filter + transform {:>11.0} points/s  ({:.2}x of bare)", all, all / bare);
    });
}
