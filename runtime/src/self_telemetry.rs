//! The collector's own metrics leave the process two ways: a Prometheus scrape endpoint
//! (`service.telemetry.metrics.address`) and, when configured, a periodic OTLP/gRPC push.
//!
//! Both read the same registry snapshot, so a number seen in Prometheus and in an OTLP backend
//! is the same number. The push builds OTLP directly from the snapshot: the registry already
//! holds exactly the series we want, and a second metrics SDK in between would only copy them.
//! Either way out registers the process metrics (`otelcol_process_*`) first, so they exist
//! whenever something can read them.
//!
//! Types on the push follow the Collector's: counters are cumulative monotonic sums (integer,
//! or double for CPU seconds and uptime), gauges are gauges; names keep the Collector's
//! spelling (ours lose the `_total` that only Prometheus wants).

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use futures::future::BoxFuture;
use kafka_obs_api::telemetry::{InstrumentKind, Number, Sample, otelcol};
use kafka_obs_api::{Listeners, RunError, Telemetry};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio_util::sync::CancellationToken;

/// Binds `address` now (so a taken port fails the start), from `listeners` so a reload keeps
/// the socket, and returns the serving task.
pub fn serve_prometheus(
    listeners: &Listeners,
    address: &str,
    telemetry: Telemetry,
    stop: CancellationToken,
) -> Result<(SocketAddr, BoxFuture<'static, Result<(), RunError>>), String> {
    crate::process_metrics::register(&telemetry);
    let listener = address
        .to_socket_addrs()
        .and_then(|mut addrs| addrs.next().ok_or_else(|| ErrorKind::NotFound.into()))
        .and_then(|addr| listeners.open(addr))
        .map_err(|e| format!("cannot listen on {address} for self-metrics: {e}; set service.telemetry.metrics.address to a free port"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let t = telemetry.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    t.render_prometheus(),
                )
            }
        }),
    );
    let fut = async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        Ok(())
    };
    Ok((local, Box::pin(fut)))
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// The UCUM unit of a self-metric: the Collector's where it names one, else the unit its name
/// ends in. Counts get none: unit `1` would make a Prometheus translation name every gauge
/// `<name>_ratio`, and then the pushed series would not match the scraped ones the dashboard
/// and alerts use.
fn unit_of(name: &str) -> &'static str {
    if let Some(unit) = otelcol::unit(name) {
        unit
    } else if name.ends_with("_bytes") {
        "By"
    } else if name.ends_with("_microseconds") {
        "us"
    } else if name.ends_with("_seconds") {
        "s"
    } else {
        ""
    }
}

/// The registry as one OTLP request (counters as cumulative monotonic sums).
pub fn snapshot_to_otlp(
    samples: &[Sample],
    resource: &[(String, String)],
    start_ns: u64,
) -> ExportMetricsServiceRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut metrics: Vec<Metric> = Vec::new();
    for s in samples {
        let point = NumberDataPoint {
            attributes: s.labels.iter().map(|(k, v)| kv(k, v)).collect(),
            start_time_unix_nano: start_ns,
            time_unix_nano: now,
            value: Some(match s.value {
                Number::Int(v) => number_data_point::Value::AsInt(v),
                Number::Double(v) => number_data_point::Value::AsDouble(v),
            }),
            ..Default::default()
        };
        let name = s.name.strip_suffix("_total").unwrap_or(s.name);
        let existing = metrics.iter_mut().find(|m| m.name == name);
        let metric = match existing {
            Some(m) => m,
            None => {
                metrics.push(Metric {
                    name: name.to_string(),
                    description: s.help.to_string(),
                    unit: unit_of(name).into(),
                    data: Some(match s.kind {
                        InstrumentKind::Counter => Data::Sum(Sum {
                            data_points: Vec::new(),
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        }),
                        InstrumentKind::Gauge => Data::Gauge(Gauge {
                            data_points: Vec::new(),
                        }),
                    }),
                    ..Default::default()
                });
                let Some(m) = metrics.last_mut() else {
                    continue;
                };
                m
            }
        };
        match &mut metric.data {
            Some(Data::Sum(sum)) => sum.data_points.push(point),
            Some(Data::Gauge(g)) => g.data_points.push(point),
            _ => {}
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "kafka-obs".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Pushes the registry to `endpoint` every `interval`, and once more when stopped.
pub fn push_otlp(
    endpoint: String,
    interval: Duration,
    telemetry: Telemetry,
    resource: Vec<(String, String)>,
    stop: CancellationToken,
) -> BoxFuture<'static, Result<(), RunError>> {
    crate::process_metrics::register(&telemetry);
    Box::pin(async move {
        let start_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .map_err(|e| RunError::Other(format!("self-telemetry endpoint {endpoint}: {e}")))?
            .timeout(Duration::from_secs(5))
            .connect_lazy();
        let mut client = MetricsServiceClient::new(channel);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            let last = tokio::select! {
                _ = ticker.tick() => false,
                _ = stop.cancelled() => true,
            };
            let req = snapshot_to_otlp(&telemetry.snapshot(), &resource, start_ns);
            if let Err(e) = client.export(req).await {
                tracing::warn!(endpoint = %endpoint, error = %e.message(), "could not push self-metrics");
            }
            if last {
                return Ok(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_monotonic_sums_gauges_gauges_and_readings_doubles() {
        let telemetry = Telemetry::default();
        telemetry
            .counter("otelcol_exporter_sent_spans", "h", &[("exporter", "otlp")])
            .add(4);
        telemetry
            .counter("kafka_obs_jmx_polls_total", "h", &[])
            .add(1);
        telemetry
            .double_counter(otelcol::PROCESS_CPU_SECONDS, "h", &[])
            .set(1.25);
        telemetry
            .gauge(otelcol::EXPORTER_QUEUE_SIZE, "h", &[])
            .set(3);
        let req = snapshot_to_otlp(&telemetry.snapshot(), &[], 7);
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let find = |name: &str| {
            metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} pushed: {metrics:?}"))
        };
        let sum = |name: &str| match &find(name).data {
            Some(Data::Sum(s)) => {
                assert!(s.is_monotonic, "{name}");
                assert_eq!(
                    s.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                assert_eq!(s.data_points[0].start_time_unix_nano, 7);
                s.data_points[0].value
            }
            other => panic!("{name} is not a sum: {other:?}"),
        };
        assert_eq!(
            sum("otelcol_exporter_sent_spans"),
            Some(number_data_point::Value::AsInt(4))
        );
        assert_eq!(
            sum("kafka_obs_jmx_polls"),
            Some(number_data_point::Value::AsInt(1)),
            "ours lose the Prometheus-only _total"
        );
        assert_eq!(
            sum(otelcol::PROCESS_CPU_SECONDS),
            Some(number_data_point::Value::AsDouble(1.25))
        );
        assert_eq!(find(otelcol::PROCESS_CPU_SECONDS).unit, "s");
        match &find(otelcol::EXPORTER_QUEUE_SIZE).data {
            Some(Data::Gauge(g)) => assert_eq!(
                g.data_points[0].value,
                Some(number_data_point::Value::AsInt(3))
            ),
            other => panic!("queue size is not a gauge: {other:?}"),
        }
    }

    #[test]
    fn units_come_from_the_name_and_counts_have_none() {
        let telemetry = Telemetry::default();
        telemetry
            .counter("kafka_obs_storage_damaged_bytes_total", "h", &[])
            .add(3);
        telemetry
            .gauge("otelcol_exporter_queue_size", "h", &[])
            .set(2);
        telemetry
            .gauge("kafka_obs_jmx_poll_duration_microseconds", "h", &[])
            .set(7);
        let req = snapshot_to_otlp(&telemetry.snapshot(), &[], 0);
        let units: Vec<(String, String)> = req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| (m.name.clone(), m.unit.clone()))
            .collect();
        let unit = |name: &str| {
            units
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, u)| u.as_str())
        };
        assert_eq!(
            unit("kafka_obs_storage_damaged_bytes"),
            Some("By"),
            "{units:?}"
        );
        assert_eq!(unit("otelcol_exporter_queue_size"), Some(""), "{units:?}");
        assert_eq!(
            unit("kafka_obs_jmx_poll_duration_microseconds"),
            Some("us"),
            "{units:?}"
        );
    }
}
