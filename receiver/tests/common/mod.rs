//! Shared helpers for the `jmx` receiver's integration tests: run the receiver (or one target's
//! poller) against real JVMs, and read the OTLP it produced as flat data points.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::{
    Batch, BuildContext, ComponentId, ComponentKind, DataKind, Outputs, Parcel, ReceiverConfig,
    RunError, Telemetry,
};
use kafka_obs_jmx::Endpoint;
use kafka_obs_receiver::jmx::{JmxReceiverConfig, TargetPoller};

/// The business rules for the scenario's `com.example.orders:type=OrderMetrics` (A1-A4).
pub const BUSINESS_RULES: &str = r#"
  - bean: com.example.orders:type=OrderMetrics
    prefix: orders.
    mapping:
      orders-processed-count: {metric: processed, type: counter, unit: "{order}", desc: Orders processed}
      order-validation-failures: {metric: validation.failures, type: counter, unit: "{order}", desc: Orders that failed validation}
      inventory-check-latency: {metric: inventory.check.latency, unit: ms, desc: Latency of the inventory check}
      payment-gateway-calls: {metric: payment.gateway.calls, type: counter, unit: "{call}", desc: Calls to the payment gateway}
      payment-gateway-failures: {metric: payment.gateway.failures, type: counter, unit: "{call}", desc: Failed calls to the payment gateway}
"#;

pub fn config(yaml: &str) -> JmxReceiverConfig {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    JmxReceiverConfig::parse(&value).expect("valid jmx config")
}

/// One data point, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: String,
    pub unit: String,
    /// `gauge`, `counter` (monotonic sum) or `updowncounter`.
    pub kind: &'static str,
    pub attributes: BTreeMap<String, String>,
    pub value: f64,
    pub is_int: bool,
    pub start_ns: u64,
    pub time_ns: u64,
}

pub fn points(batch: &Batch) -> Vec<Point> {
    let Batch::Metrics(req) = batch else {
        panic!("not a metrics batch")
    };
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let (kind, dps) = match &m.data {
                    Some(Data::Gauge(g)) => ("gauge", &g.data_points),
                    Some(Data::Sum(s)) if s.is_monotonic => ("counter", &s.data_points),
                    Some(Data::Sum(s)) => ("updowncounter", &s.data_points),
                    other => panic!("unexpected data {other:?}"),
                };
                for dp in dps {
                    let attributes = dp
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(any_value::Value::StringValue(s)) => s.clone(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), v)
                        })
                        .collect();
                    let (value, is_int) = match dp.value {
                        Some(number_data_point::Value::AsInt(i)) => (i as f64, true),
                        Some(number_data_point::Value::AsDouble(d)) => (d, false),
                        None => panic!("point without value"),
                    };
                    out.push(Point {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        kind,
                        attributes,
                        value,
                        is_int,
                        start_ns: dp.start_time_unix_nano,
                        time_ns: dp.time_unix_nano,
                    });
                }
            }
        }
    }
    out
}

/// The value of `kafka_obs.target.up` in a batch.
pub fn up(batch: &Batch) -> f64 {
    points(batch)
        .into_iter()
        .find(|p| p.metric == "kafka_obs.target.up")
        .map(|p| p.value)
        .expect("every batch carries kafka_obs.target.up")
}

/// The first point of `metric` whose attributes include all of `attrs`.
pub fn find<'a>(points: &'a [Point], metric: &str, attrs: &[(&str, &str)]) -> Option<&'a Point> {
    points.iter().find(|p| {
        p.metric == metric
            && attrs
                .iter()
                .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
    })
}

/// One target's poller, to poll at chosen moments (the receiver's own poll code).
pub fn poller(config: &JmxReceiverConfig) -> TargetPoller {
    let plan = Arc::new(config.plan().expect("plan"));
    let id: ComponentId = "jmx/test".parse().unwrap();
    let telemetry = Telemetry::new().component(ComponentKind::Receiver, &id);
    let settings = config.target_settings(&id.to_string());
    TargetPoller::new(config.endpoints[0].clone(), plan, &settings, &telemetry)
}

pub fn endpoint(port: u16) -> Endpoint {
    Endpoint::new("127.0.0.1", port)
}

/// A running receiver whose metrics pipeline is a channel.
pub struct Running {
    pub rx: mpsc::Receiver<Parcel>,
    pub telemetry: Telemetry,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl Running {
    pub fn start(yaml: &str) -> Running {
        let config = config(yaml);
        let ctx = BuildContext::for_test(ComponentKind::Receiver, "jmx/test", &[DataKind::Metrics]);
        let receiver = config.build(&ctx).expect("builds");
        let (outputs, mut rx) = Outputs::for_test(&[DataKind::Metrics], 256, false);
        let rx = rx.remove(&DataKind::Metrics).expect("metrics");
        let (run_ctx, shutdown) = ctx.run_for_test();
        let task = tokio::spawn(receiver.run(outputs, run_ctx));
        Running {
            rx,
            telemetry: ctx.telemetry.registry().clone(),
            shutdown,
            task,
        }
    }

    pub async fn next(&mut self, within: Duration) -> Batch {
        tokio::time::timeout(within, async { self.rx.recv().await.map(|p| p.batch) })
            .await
            .expect("a batch in time")
            .expect("receiver running")
    }

    /// Receives batches until one satisfies `f` (panics after `within`).
    pub async fn until(&mut self, within: Duration, mut f: impl FnMut(&Batch) -> bool) -> Batch {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let b = tokio::time::timeout(left, async { self.rx.recv().await.map(|p| p.batch) })
                .await
                .expect("the expected batch in time")
                .expect("receiver running");
            if f(&b) {
                return b;
            }
        }
    }

    /// Drops what is queued so far.
    pub fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    pub fn self_metric(&self, name: &str) -> i64 {
        self.telemetry
            .snapshot()
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value.as_i64())
            .sum()
    }

    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("stops promptly")
            .expect("no panic");
        assert!(r.is_ok(), "{r:?}");
    }
}
