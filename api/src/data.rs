//! The data that flows through pipelines: OTLP export requests, one per batch.
//!
//! A `Batch` holds exactly one signal type, so a pipeline of one kind carries one variant.
//! Counting is in *items* (metric data points, log records, spans), the unit every self-metric
//! and every batch size uses, as in the Collector.

use std::fmt;
use std::str::FromStr;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// The three OTLP signals a pipeline can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataKind {
    Metrics,
    Logs,
    Traces,
}

impl DataKind {
    pub const ALL: [DataKind; 3] = [DataKind::Metrics, DataKind::Logs, DataKind::Traces];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Logs => "logs",
            Self::Traces => "traces",
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "metrics" => Ok(Self::Metrics),
            "logs" => Ok(Self::Logs),
            "traces" => Ok(Self::Traces),
            _ => Err(()),
        }
    }
}

/// One unit of work moving between components.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    Traces(ExportTraceServiceRequest),
}

impl Batch {
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Metrics(_) => DataKind::Metrics,
            Self::Logs(_) => DataKind::Logs,
            Self::Traces(_) => DataKind::Traces,
        }
    }

    /// An empty batch of the given kind.
    pub fn empty(kind: DataKind) -> Self {
        match kind {
            DataKind::Metrics => Self::Metrics(ExportMetricsServiceRequest::default()),
            DataKind::Logs => Self::Logs(ExportLogsServiceRequest::default()),
            DataKind::Traces => Self::Traces(ExportTraceServiceRequest::default()),
        }
    }

    /// Metric data points, log records or spans in this batch.
    pub fn item_count(&self) -> usize {
        match self {
            Self::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| data_point_count(m.data.as_ref()))
                .sum(),
            Self::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
            Self::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// Appends `other`'s resources to this batch. Returns `other` back when the kinds differ.
    pub fn append(&mut self, other: Batch) -> Result<(), Batch> {
        match (self, other) {
            (Self::Metrics(a), Self::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
            (Self::Logs(a), Self::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (Self::Traces(a), Self::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// Splits off the first `max_items` items (at whole-resource/scope/record granularity for
    /// logs and traces, and at data-point granularity for metrics), leaving the rest in `self`.
    /// Returns `None` when the batch already has at most `max_items`.
    pub fn split_off_front(&mut self, max_items: usize) -> Option<Batch> {
        if max_items == 0 || self.item_count() <= max_items {
            return None;
        }
        let front = match self {
            Self::Metrics(r) => Self::Metrics(ExportMetricsServiceRequest {
                resource_metrics: split::metrics(&mut r.resource_metrics, max_items),
            }),
            Self::Logs(r) => Self::Logs(ExportLogsServiceRequest {
                resource_logs: split::logs(&mut r.resource_logs, max_items),
            }),
            Self::Traces(r) => Self::Traces(ExportTraceServiceRequest {
                resource_spans: split::traces(&mut r.resource_spans, max_items),
            }),
        };
        Some(front)
    }
}

pub(crate) fn data_point_count(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Splitting keeps each item's resource and scope: a moved item is placed under a copy of the
/// resource and scope it came from, so nothing loses its identity.
mod split {
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Metric, ResourceMetrics, ScopeMetrics, metric::Data,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    use super::data_point_count;

    /// Takes up to `n` items from the front of `items`, returning them and the count taken.
    fn take_front<T>(items: &mut Vec<T>, n: usize) -> Vec<T> {
        let n = n.min(items.len());
        let rest = items.split_off(n);
        std::mem::replace(items, rest)
    }

    pub fn logs(resources: &mut Vec<ResourceLogs>, mut budget: usize) -> Vec<ResourceLogs> {
        let mut out = Vec::new();
        while budget > 0 && !resources.is_empty() {
            let rl = &mut resources[0];
            let mut taken = ResourceLogs {
                resource: rl.resource.clone(),
                scope_logs: Vec::new(),
                schema_url: rl.schema_url.clone(),
            };
            while budget > 0 && !rl.scope_logs.is_empty() {
                let sl = &mut rl.scope_logs[0];
                let records = take_front(&mut sl.log_records, budget);
                budget -= records.len();
                taken.scope_logs.push(ScopeLogs {
                    scope: sl.scope.clone(),
                    log_records: records,
                    schema_url: sl.schema_url.clone(),
                });
                if sl.log_records.is_empty() {
                    rl.scope_logs.remove(0);
                }
            }
            out.push(taken);
            if rl.scope_logs.is_empty() {
                resources.remove(0);
            }
        }
        out
    }

    pub fn traces(resources: &mut Vec<ResourceSpans>, mut budget: usize) -> Vec<ResourceSpans> {
        let mut out = Vec::new();
        while budget > 0 && !resources.is_empty() {
            let rs = &mut resources[0];
            let mut taken = ResourceSpans {
                resource: rs.resource.clone(),
                scope_spans: Vec::new(),
                schema_url: rs.schema_url.clone(),
            };
            while budget > 0 && !rs.scope_spans.is_empty() {
                let ss = &mut rs.scope_spans[0];
                let spans = take_front(&mut ss.spans, budget);
                budget -= spans.len();
                taken.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans,
                    schema_url: ss.schema_url.clone(),
                });
                if ss.spans.is_empty() {
                    rs.scope_spans.remove(0);
                }
            }
            out.push(taken);
            if rs.scope_spans.is_empty() {
                resources.remove(0);
            }
        }
        out
    }

    /// Moves up to `budget` data points of `metric` into a copy of it carrying those points.
    fn take_points(metric: &mut Metric, budget: usize) -> Metric {
        let mut taken = Metric {
            name: metric.name.clone(),
            description: metric.description.clone(),
            unit: metric.unit.clone(),
            metadata: metric.metadata.clone(),
            data: None,
        };
        taken.data = match &mut metric.data {
            Some(Data::Gauge(g)) => {
                let mut c = g.clone();
                c.data_points = take_front(&mut g.data_points, budget);
                Some(Data::Gauge(c))
            }
            Some(Data::Sum(s)) => {
                let mut c = s.clone();
                c.data_points = take_front(&mut s.data_points, budget);
                Some(Data::Sum(c))
            }
            Some(Data::Histogram(h)) => {
                let mut c = h.clone();
                c.data_points = take_front(&mut h.data_points, budget);
                Some(Data::Histogram(c))
            }
            Some(Data::ExponentialHistogram(h)) => {
                let mut c = h.clone();
                c.data_points = take_front(&mut h.data_points, budget);
                Some(Data::ExponentialHistogram(c))
            }
            Some(Data::Summary(s)) => {
                let mut c = s.clone();
                c.data_points = take_front(&mut s.data_points, budget);
                Some(Data::Summary(c))
            }
            None => None,
        };
        taken
    }

    pub fn metrics(
        resources: &mut Vec<ResourceMetrics>,
        mut budget: usize,
    ) -> Vec<ResourceMetrics> {
        let mut out = Vec::new();
        while budget > 0 && !resources.is_empty() {
            let rm = &mut resources[0];
            let mut taken = ResourceMetrics {
                resource: rm.resource.clone(),
                scope_metrics: Vec::new(),
                schema_url: rm.schema_url.clone(),
            };
            while budget > 0 && !rm.scope_metrics.is_empty() {
                let sm = &mut rm.scope_metrics[0];
                let mut scope = ScopeMetrics {
                    scope: sm.scope.clone(),
                    metrics: Vec::new(),
                    schema_url: sm.schema_url.clone(),
                };
                while budget > 0 && !sm.metrics.is_empty() {
                    let m = &mut sm.metrics[0];
                    let points = data_point_count(m.data.as_ref());
                    if points <= budget {
                        budget -= points;
                        scope.metrics.push(sm.metrics.remove(0));
                    } else {
                        let part = take_points(m, budget);
                        budget = 0;
                        scope.metrics.push(part);
                    }
                }
                taken.scope_metrics.push(scope);
                if sm.metrics.is_empty() {
                    rm.scope_metrics.remove(0);
                }
            }
            out.push(taken);
            if rm.scope_metrics.is_empty() {
                resources.remove(0);
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn resource(name: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(name.into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    pub fn gauge_batch(metrics: usize, points_each: usize) -> Batch {
        let metrics = (0..metrics)
            .map(|m| Metric {
                name: format!("m{m}"),
                data: Some(Data::Gauge(Gauge {
                    data_points: (0..points_each)
                        .map(|p| NumberDataPoint {
                            time_unix_nano: p as u64,
                            value: Some(number_data_point::Value::AsDouble(p as f64)),
                            ..Default::default()
                        })
                        .collect(),
                })),
                ..Default::default()
            })
            .collect();
        Batch::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("svc"),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    fn log_batch(n: usize) -> Batch {
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("svc"),
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n)
                        .map(|i| LogRecord {
                            time_unix_nano: i as u64,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }

    #[test]
    fn counts_data_points_not_metrics() {
        assert_eq!(gauge_batch(3, 4).item_count(), 12);
        assert_eq!(log_batch(5).item_count(), 5);
    }

    #[test]
    fn split_keeps_every_item_once_and_in_order() {
        let mut b = gauge_batch(3, 4);
        let mut parts = Vec::new();
        while let Some(front) = b.split_off_front(5) {
            assert_eq!(front.item_count(), 5);
            parts.push(front);
        }
        parts.push(b);
        let sizes: Vec<_> = parts.iter().map(Batch::item_count).collect();
        assert_eq!(sizes, vec![5, 5, 2]);
        let mut merged = Batch::empty(DataKind::Metrics);
        let mut seen = Vec::new();
        for p in parts {
            if let Batch::Metrics(r) = &p {
                for rm in &r.resource_metrics {
                    assert_eq!(rm.resource, resource("svc"), "resource kept on every part");
                    for sm in &rm.scope_metrics {
                        for m in &sm.metrics {
                            if let Some(Data::Gauge(g)) = &m.data {
                                for dp in &g.data_points {
                                    seen.push((m.name.clone(), dp.time_unix_nano));
                                }
                            }
                        }
                    }
                }
            }
            merged.append(p).unwrap();
        }
        let expected: Vec<_> = (0..3)
            .flat_map(|m| (0..4).map(move |p| (format!("m{m}"), p as u64)))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(merged.item_count(), 12);
    }

    #[test]
    fn split_logs() {
        let mut b = log_batch(7);
        let front = b.split_off_front(3).unwrap();
        assert_eq!((front.item_count(), b.item_count()), (3, 4));
        assert!(b.split_off_front(4).is_none());
    }

    #[test]
    fn append_refuses_other_kinds() {
        let mut b = log_batch(1);
        assert!(b.append(gauge_batch(1, 1)).is_err());
    }
}
