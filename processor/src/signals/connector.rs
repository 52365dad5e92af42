//! Connector `signals`: the engine as a pipeline component.
//!
//! In the Collector's model a component that turns one signal type into another is a
//! connector: it is an exporter at the end of a metrics pipeline (and of a logs pipeline:
//! application logs for the `exceptions` pack) and a receiver at the start of the pipelines it
//! feeds. Routes:
//!
//! - metrics or logs -> logs: the signals, as OpenTelemetry events
//!   (`kafka_obs_signal::otlp::logs`);
//! - metrics or logs -> metrics: the `kafka_obs.status` gauge, one point per subject
//!   (`kafka_obs_signal::otlp::status`).
//!
//! ```yaml
//! connectors:
//!   signals:
//! service:
//!   pipelines:
//!     metrics:        {receivers: [jmx], exporters: [signals, otlp]}  # raw metrics go on to otlp
//!     logs/app:       {receivers: [filelog, otlp], exporters: [signals]}  # exceptions pack
//!     logs/signals:   {receivers: [signals], exporters: [file]}
//!     metrics/status: {receivers: [signals], exporters: [otlp]}
//! ```
//!
//! One task owns the engine: no locks. Besides each incoming batch, a timer runs the engine's
//! sweep every second so a target that stops sending still goes stale, and evaluates the log
//! rows that are due, so an error burst ends when the application goes quiet. The task ends when its
//! input closes (after the metrics pipelines drained) or at the shutdown deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfig, Connector, ConnectorConfig, ConnectorFactory,
    Counter, DataKind, FactoryMeta, Gauge, Outputs, Parcel, Receipt, RunContext, RunError,
    Stability,
};
use kafka_obs_signal::otlp::{ExportResource, logs, status};

use super::config::SignalsConfig;
use super::engine::{Engine, Evaluation};

/// Makes `signals` connectors.
pub static FACTORY: ConnectorFactory = ConnectorFactory::new(
    FactoryMeta {
        type_name: "signals",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics, DataKind::Logs],
        description: "Turns Kafka, JVM and application metrics and application logs into semantic signals (logs) and a status gauge (metrics)",
    },
    |config| Ok(Box::new(SignalsConfig::parse(config)?)),
)
.joining(ROUTES);

static ROUTES: &[(DataKind, DataKind)] = &[
    (DataKind::Metrics, DataKind::Logs),
    (DataKind::Metrics, DataKind::Metrics),
    (DataKind::Logs, DataKind::Logs),
    (DataKind::Logs, DataKind::Metrics),
];

impl ComponentConfig for SignalsConfig {}

impl ConnectorConfig for SignalsConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Connector>, BuildError> {
        let t = &ctx.telemetry;
        Ok(Box::new(SignalsConnector {
            engine: Engine::new(self.clone()),
            resource: ExportResource::default(),
            // Starts at the wall clock, so a restarted sidecar numbers above everything it
            // sent before and an aggregator's (source, sequence) dedupe never mistakes a new
            // signal for a resend.
            next_sequence: now_unix_nano().max(1),
            counters: Counters {
                points: t.counter(
                    "kafka_obs_signals_data_points_total",
                    "Data points of metrics the signal rules read.",
                    &[],
                ),
                signals: t.counter(
                    "kafka_obs_signals_emitted_total",
                    "Signals the signals connector emitted.",
                    &[],
                ),
                refused: t.counter(
                    "kafka_obs_signals_refused_series_total",
                    "New series the signals connector ignored because max_series was reached.",
                    &[],
                ),
                series: t.gauge(
                    "kafka_obs_signals_series",
                    "Series the signals connector keeps state for.",
                    &[],
                ),
                log_records: t.counter(
                    "kafka_obs_signals_log_records_total",
                    "Log records the exceptions pack read.",
                    &[],
                ),
                error_records: t.counter(
                    "kafka_obs_signals_error_records_total",
                    "Log records the exceptions pack counted as errors.",
                    &[],
                ),
                folded_types: t.counter(
                    "kafka_obs_signals_folded_exception_types_total",
                    "Errors counted under exception.type=(other) because their instance had max_types_per_instance types.",
                    &[],
                ),
                subjects: t.gauge(
                    "kafka_obs_signals_subjects",
                    "Subjects the signals connector keeps a status for.",
                    &[],
                ),
            },
        }))
    }
}

#[derive(Debug)]
struct Counters {
    points: Counter,
    signals: Counter,
    refused: Counter,
    log_records: Counter,
    error_records: Counter,
    folded_types: Counter,
    series: Gauge,
    subjects: Gauge,
}

/// A running `signals` connector.
#[derive(Debug)]
pub struct SignalsConnector {
    engine: Engine,
    resource: ExportResource,
    /// The sequence the next emitted signal gets: per source (this connector's
    /// `source_id`), increasing by one per signal, what the signal stream's acks and the
    /// aggregator's duplicate detection refer to.
    next_sequence: u64,
    counters: Counters,
}

fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl SignalsConnector {
    /// Sends what an evaluation produced; each output carries a share of `receipt` (the
    /// input's), so the input's sender hears back once the derived data is safe too.
    async fn deliver(
        &mut self,
        mut evaluation: Evaluation,
        receipt: &Receipt,
        outputs: &Outputs,
        id: &str,
    ) {
        for signal in &mut evaluation.signals {
            signal.sequence = self.next_sequence;
            self.next_sequence = self.next_sequence.wrapping_add(1);
        }
        let source = self.engine.config().source_id.as_str();
        if let Some(out) = outputs.get(DataKind::Logs)
            && !evaluation.signals.is_empty()
        {
            let request = logs::to_export_request(&evaluation.signals, &self.resource);
            if let Err(e) = out
                .send(Parcel::new(Batch::Logs(request), receipt.clone()))
                .await
            {
                tracing::warn!(connector = %id, error = %e, "signals: could not pass signals on");
            }
        }
        if let Some(out) = outputs.get(DataKind::Metrics)
            && !evaluation.status_points.is_empty()
        {
            let metric = status::status_gauge(evaluation.status_points);
            let request = status::to_metrics_request(metric, source, &self.resource);
            if let Err(e) = out
                .send(Parcel::new(Batch::Metrics(request), receipt.clone()))
                .await
            {
                tracing::warn!(connector = %id, error = %e, "signals: could not pass the status gauge on");
            }
        }
    }

    fn account(&self, before: super::engine::EngineStats) {
        let after = self.engine.stats();
        self.counters.points.add(after.points - before.points);
        self.counters.signals.add(after.signals - before.signals);
        self.counters
            .refused
            .add(after.refused_series - before.refused_series);
        self.counters
            .log_records
            .add(after.log_records - before.log_records);
        self.counters
            .error_records
            .add(after.error_records - before.error_records);
        self.counters
            .folded_types
            .add(after.folded_types - before.folded_types);
        self.counters.series.set(self.engine.series() as i64);
        self.counters.subjects.set(self.engine.subjects() as i64);
    }
}

impl Connector for SignalsConnector {
    fn run(
        mut self: Box<Self>,
        mut input: mpsc::Receiver<Parcel>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        async move {
            let id = ctx.id.to_string();
            let mut sweep = tokio::time::interval(Duration::from_secs(1));
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let before = self.engine.stats();
                let (evaluation, receipt) = tokio::select! {
                    parcel = input.recv() => match parcel {
                        Some(Parcel { batch: Batch::Metrics(request), receipt }) => {
                            (self.engine.evaluate(&request, now_unix_nano()), receipt)
                        }
                        Some(Parcel { batch: Batch::Logs(request), receipt }) => {
                            (self.engine.evaluate_logs(&request, now_unix_nano()), receipt)
                        }
                        Some(other) => {
                            tracing::debug!(connector = %id, data_type = %other.batch.kind(), "signals: only metrics and logs are read");
                            other.receipt.accept();
                            continue;
                        }
                        None => break,
                    },
                    _ = sweep.tick() => {
                        let now = now_unix_nano();
                        let mut evaluation = self.engine.tick_logs(now);
                        evaluation.signals.extend(self.engine.sweep(now).signals);
                        (evaluation, Receipt::none())
                    }
                    () = ctx.shutdown.cancelled() => break,
                };
                self.account(before);
                if !evaluation.is_empty() {
                    tracing::debug!(
                        connector = %id,
                        signals = evaluation.signals.len(),
                        status_points = evaluation.status_points.len(),
                        series = self.engine.series(),
                        "signals: evaluated"
                    );
                    self.deliver(evaluation, &receipt, &outputs, &id).await;
                }
                // The input is consumed (its state is in the engine); derived data holds shares.
                receipt.accept();
            }
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {

    use kafka_obs_api::ComponentKind;
    use kafka_obs_signal::condition;
    use kafka_obs_signal::otlp::logs::from_export_request;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        number_data_point,
    };

    use super::*;

    fn lag_request(lag: f64) -> ExportMetricsServiceRequest {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: vec![kv("service.name", "inventory")],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "kafka.consumer.records-lag-max".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![kv("client-id", "inventory-consumer")],
                                value: Some(number_data_point::Value::AsDouble(lag)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[tokio::test]
    async fn metrics_in_signals_and_status_gauge_out() {
        let factory = FACTORY;
        assert_eq!(factory.meta().type_name, "signals");
        assert_eq!(factory.routes().len(), 4);
        let config = factory
            .validate(&serde_yaml_ng::from_str("packs: {kafka-consumer: }").expect("yaml"))
            .expect("valid");
        let ctx = BuildContext::for_test(ComponentKind::Connector, "signals", &[DataKind::Metrics]);
        let connector = config.build(&ctx).expect("builds");
        let (outputs, mut rx_of) =
            Outputs::for_test(&[DataKind::Logs, DataKind::Metrics], 16, false);
        let mut logs_rx = rx_of.remove(&DataKind::Logs).expect("logs");
        let mut metrics_rx = rx_of.remove(&DataKind::Metrics).expect("metrics");
        let (tx, rx) = mpsc::channel(4);
        let (run_ctx, _) = ctx.run_for_test();
        let run = connector.run(rx, outputs, run_ctx);
        let task = tokio::spawn(run);
        tx.send(Batch::Metrics(lag_request(12_000.0)).into())
            .await
            .expect("sent");
        drop(tx);
        task.await.expect("joins").expect("runs");

        let mut signals = Vec::new();
        while let Ok(parcel) = logs_rx.try_recv() {
            let batch = parcel.batch;
            let Batch::Logs(request) = batch else {
                panic!("logs route got {:?}", batch.kind());
            };
            signals.extend(from_export_request(&request).expect("decodes"));
        }
        let kinds: Vec<String> = signals.iter().map(|s| s.kind.to_string()).collect();
        // C1's onset, then the subject's first status with its conditions.
        assert_eq!(
            kinds,
            [
                "Queues.OVERFLOW",
                "Statuses.DEGRADED.CONFIRMED",
                "Statuses.DEGRADED.CONFIRMED"
            ]
        );
        assert_eq!(signals[2].evidence.rule, condition::STATUS_RULE);
        assert_eq!(
            signals[2]
                .attributes
                .get(condition::CURRENT)
                .map(String::as_str),
            Some("C1")
        );
        // One source, numbered consecutively from a start above any earlier run's.
        assert!(
            signals[0].sequence > 1_600_000_000_000_000_000,
            "{signals:?}"
        );
        assert_eq!(signals[1].sequence, signals[0].sequence + 1);
        assert_eq!(
            signals[0].subject.qualified(),
            "service=inventory/client=inventory-consumer"
        );
        let Ok(Parcel {
            batch: Batch::Metrics(status),
            ..
        }) = metrics_rx.try_recv()
        else {
            panic!("no status gauge");
        };
        let metric = &status.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "kafka_obs.status");
        let samples = ctx.telemetry.registry().render_prometheus();
        assert!(
            samples.contains("kafka_obs_signals_emitted_total{connector=\"signals\"} 3"),
            "{samples}"
        );
    }

    #[tokio::test]
    async fn logs_in_exception_burst_signals_out() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

        let config = FACTORY
            .validate(
                &serde_yaml_ng::from_str("packs: {exceptions: {burst_count: 3}}").expect("yaml"),
            )
            .expect("valid");
        let ctx = BuildContext::for_test(ComponentKind::Connector, "signals", &[DataKind::Logs]);
        let connector = config.build(&ctx).expect("builds");
        let (outputs, mut rx_of) = Outputs::for_test(&[DataKind::Logs], 16, false);
        let mut logs_rx = rx_of.remove(&DataKind::Logs).expect("logs");
        let (tx, rx) = mpsc::channel(4);
        let (run_ctx, _) = ctx.run_for_test();
        let task = tokio::spawn(connector.run(rx, outputs, run_ctx));
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let record = LogRecord {
            severity_number: 17,
            attributes: vec![kv("exception.type", "OrderValidationException")],
            ..Default::default()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                    attributes: vec![kv("service.name", "orders")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record; 3],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        tx.send(Batch::Logs(request).into()).await.expect("sent");
        drop(tx);
        task.await.expect("joins").expect("runs");
        let mut signals = Vec::new();
        while let Ok(parcel) = logs_rx.try_recv() {
            let Batch::Logs(request) = parcel.batch else {
                panic!("not logs");
            };
            signals.extend(from_export_request(&request).expect("decodes"));
        }
        let burst = signals
            .iter()
            .find(|s| s.evidence.rule == "E1")
            .expect("an E1 signal");
        assert_eq!(burst.kind.to_string(), "Services.FAIL.CALLEE");
        assert_eq!(burst.subject.qualified(), "service=orders");
        assert_eq!(
            burst.attributes.get("exception.type").map(String::as_str),
            Some("OrderValidationException")
        );
        let samples = ctx.telemetry.registry().render_prometheus();
        assert!(
            samples.contains("kafka_obs_signals_error_records_total{connector=\"signals\"} 3"),
            "{samples}"
        );
    }
}
