//! One poll's readings as OTLP metrics, named as OpenTelemetry names them: the container
//! semantic conventions (`container.cpu.time`, `container.memory.usage`), kubeletstats
//! (`container.memory.working_set`, `k8s.container.memory_limit_utilization`), docker_stats
//! (`container.cpu.throttling_data.*`, `container.memory.usage.limit`, `container.restarts`)
//! and hostmetrics' process scraper (`process.open_file_descriptors`). The names are the
//! contract with the `container` rule pack, which reads them from its metric-name table.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::files::CgroupReading;
use super::process::ProcessReading;

/// The instrumentation scope of the receiver's metrics.
pub const SCOPE_NAME: &str = "kafka-obs/receiver/cgroup";

pub const CPU_TIME: &str = "container.cpu.time";
pub const THROTTLING_PERIODS: &str = "container.cpu.throttling_data.periods";
pub const THROTTLED_PERIODS: &str = "container.cpu.throttling_data.throttled_periods";
pub const THROTTLED_TIME: &str = "container.cpu.throttling_data.throttled_time";
pub const MEMORY_USAGE: &str = "container.memory.usage";
pub const MEMORY_WORKING_SET: &str = "container.memory.working_set";
pub const MEMORY_LIMIT: &str = "container.memory.usage.limit";
pub const MEMORY_LIMIT_UTILIZATION: &str = "k8s.container.memory_limit_utilization";
pub const OOM_KILLS: &str = "container.memory.oom_kills";
pub const RESTARTS: &str = "container.restarts";
pub const OPEN_FDS: &str = "process.open_file_descriptors";
pub const FD_LIMIT: &str = "process.open_file_descriptors.limit";

/// What the watched process contributes to a poll.
#[derive(Debug, Clone, Copy)]
pub struct ProcessPart<'a> {
    pub reading: &'a ProcessReading,
    /// Restarts counted so far, once the process has been seen.
    pub restarts: Option<u64>,
}

/// Builds the metrics of one poll.
#[derive(Debug)]
struct Builder {
    start_ns: u64,
    now_ns: u64,
    metrics: Vec<Metric>,
}

impl Builder {
    fn point(&self, value: number_data_point::Value, cumulative: bool) -> NumberDataPoint {
        NumberDataPoint {
            start_time_unix_nano: if cumulative { self.start_ns } else { 0 },
            time_unix_nano: self.now_ns,
            value: Some(value),
            ..Default::default()
        }
    }

    fn push(&mut self, name: &str, description: &str, unit: &str, data: Data) {
        self.metrics.push(Metric {
            name: name.to_owned(),
            description: description.to_owned(),
            unit: unit.to_owned(),
            data: Some(data),
            ..Default::default()
        });
    }

    fn gauge(
        &mut self,
        name: &str,
        description: &str,
        unit: &str,
        value: number_data_point::Value,
    ) {
        let point = self.point(value, false);
        self.push(
            name,
            description,
            unit,
            Data::Gauge(Gauge {
                data_points: vec![point],
            }),
        );
    }

    fn counter(
        &mut self,
        name: &str,
        description: &str,
        unit: &str,
        value: number_data_point::Value,
    ) {
        let point = self.point(value, true);
        self.push(
            name,
            description,
            unit,
            Data::Sum(Sum {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        );
    }
}

fn int(v: u64) -> number_data_point::Value {
    number_data_point::Value::AsInt(i64::try_from(v).unwrap_or(i64::MAX))
}

fn double(v: f64) -> number_data_point::Value {
    number_data_point::Value::AsDouble(v)
}

/// The OTLP request for one poll: the cgroup's values, then the process's.
pub fn to_request(
    cgroup: &CgroupReading,
    process: Option<ProcessPart<'_>>,
    resource: &Resource,
    start_ns: u64,
    now_ns: u64,
) -> ExportMetricsServiceRequest {
    let mut b = Builder {
        start_ns,
        now_ns,
        metrics: Vec::new(),
    };
    if let Some(ns) = cgroup.cpu_time_ns {
        b.counter(
            CPU_TIME,
            "Total CPU time consumed by the container's processes.",
            "s",
            double(ns as f64 / 1e9),
        );
    }
    if let Some(v) = cgroup.periods {
        b.counter(
            THROTTLING_PERIODS,
            "CFS enforcement periods elapsed.",
            "{periods}",
            int(v),
        );
    }
    if let Some(v) = cgroup.throttled_periods {
        b.counter(
            THROTTLED_PERIODS,
            "CFS periods in which the container was throttled (used up its CPU quota).",
            "{periods}",
            int(v),
        );
    }
    if let Some(v) = cgroup.throttled_ns {
        b.counter(
            THROTTLED_TIME,
            "Time the container's processes were throttled.",
            "ns",
            int(v),
        );
    }
    if let Some(v) = cgroup.memory_usage {
        b.gauge(
            MEMORY_USAGE,
            "Memory charged to the container, page cache included.",
            "By",
            int(v),
        );
    }
    if let Some(v) = cgroup.working_set() {
        b.gauge(
            MEMORY_WORKING_SET,
            "Memory usage less inactive page cache: what the OOM killer weighs.",
            "By",
            int(v),
        );
    }
    if let Some(v) = cgroup.memory_limit {
        b.gauge(
            MEMORY_LIMIT,
            "The container's memory limit (absent when it has none).",
            "By",
            int(v),
        );
    }
    if let Some(v) = cgroup.limit_utilization() {
        b.gauge(
            MEMORY_LIMIT_UTILIZATION,
            "Working set as a share of the memory limit.",
            "1",
            double(v),
        );
    }
    if let Some(v) = cgroup.oom_kills {
        b.counter(
            OOM_KILLS,
            "Processes of the container killed by the OOM killer.",
            "{kills}",
            int(v),
        );
    }
    if let Some(p) = process {
        if let Some(v) = p.restarts {
            b.counter(
                RESTARTS,
                "Restarts of the watched process seen (its start time changed).",
                "{restarts}",
                int(v),
            );
        }
        if let Some(v) = p.reading.open_fds {
            b.gauge(
                OPEN_FDS,
                "File descriptors the watched process holds open.",
                "{count}",
                int(v),
            );
        }
        if let Some(v) = p.reading.fd_limit {
            b.gauge(
                FD_LIMIT,
                "The watched process's soft limit of open files (absent when unlimited).",
                "{count}",
                int(v),
            );
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics: b.metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
