//! The OpenTelemetry Collector's internal-telemetry names, for the facts both collectors count.
//!
//! An otelcol dashboard or alert reads `otelcol_receiver_accepted_log_records{receiver,transport}`,
//! not our own names, so where the Collector has a metric for a fact we serve its name, its
//! labels and its type, and nothing else for that fact (one name per fact). What the Collector
//! has no word for (JMX polls, signals, the hierarchy, storage) stays `kafka_obs_*`.
//!
//! The names are those of the Collector's default Prometheus endpoint (`:8888/metrics`) in the
//! version below, read from a running otelcol-contrib: counters carry no `_total` suffix and
//! no unit suffix there (its default reader sets `without_type_suffix` and `without_units`),
//! and the per-signal counters put the signal in the name (`_metric_points`, `_log_records`,
//! `_spans`) rather than in a label.

use crate::data::DataKind;

/// The Collector release whose default Prometheus exposition these names match.
pub const COLLECTOR_VERSION: &str = "0.135.0";

/// How data reached a receiver: the `transport` label of the receiver counters. The Collector
/// uses `grpc` and `http` for OTLP and `kafka` for its Kafka receiver; `jmx` is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Grpc,
    Http,
    Kafka,
    Jmx,
    /// Receivers that read local files on a timer (hostmetrics-like scrapers): the Collector
    /// leaves their `transport` label empty.
    Scraper,
    /// Files read by the `filelog` receiver: the Collector leaves the label empty for its
    /// filelog receiver (otelcol-contrib 0.135 serves `transport=""`), and so do we.
    File,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
            Self::Kafka => "kafka",
            Self::Jmx => "jmx",
            Self::Scraper | Self::File => "",
        }
    }
}

/// One per-signal counter: its three names and its help text.
pub(crate) struct PerSignal {
    metrics: &'static str,
    logs: &'static str,
    traces: &'static str,
    pub(crate) help: &'static str,
}

impl PerSignal {
    pub(crate) fn name(&self, kind: DataKind) -> &'static str {
        match kind {
            DataKind::Metrics => self.metrics,
            DataKind::Logs => self.logs,
            DataKind::Traces => self.traces,
        }
    }
}

pub(crate) const RECEIVER_ACCEPTED: PerSignal = PerSignal {
    metrics: "otelcol_receiver_accepted_metric_points",
    logs: "otelcol_receiver_accepted_log_records",
    traces: "otelcol_receiver_accepted_spans",
    help: "Items (data points, log records, spans) a receiver pushed into its pipelines and they accepted.",
};

pub(crate) const RECEIVER_REFUSED: PerSignal = PerSignal {
    metrics: "otelcol_receiver_refused_metric_points",
    logs: "otelcol_receiver_refused_log_records",
    traces: "otelcol_receiver_refused_spans",
    help: "Items a receiver could not push into its pipelines (full, shutting down, not accepted in time); the sender was told to retry.",
};

pub(crate) const RECEIVER_FAILED: PerSignal = PerSignal {
    metrics: "otelcol_receiver_failed_metric_points",
    logs: "otelcol_receiver_failed_log_records",
    traces: "otelcol_receiver_failed_spans",
    help: "Items a receiver could not process itself (undecodable, oversized or otherwise bad input); a request whose items could not be counted counts as one.",
};

pub(crate) const EXPORTER_SENT: PerSignal = PerSignal {
    metrics: "otelcol_exporter_sent_metric_points",
    logs: "otelcol_exporter_sent_log_records",
    traces: "otelcol_exporter_sent_spans",
    help: "Items an exporter delivered to its destination.",
};

pub(crate) const EXPORTER_SEND_FAILED: PerSignal = PerSignal {
    metrics: "otelcol_exporter_send_failed_metric_points",
    logs: "otelcol_exporter_send_failed_log_records",
    traces: "otelcol_exporter_send_failed_spans",
    help: "Items an exporter could not deliver and gave up on.",
};

pub(crate) const EXPORTER_ENQUEUE_FAILED: PerSignal = PerSignal {
    metrics: "otelcol_exporter_enqueue_failed_metric_points",
    logs: "otelcol_exporter_enqueue_failed_log_records",
    traces: "otelcol_exporter_enqueue_failed_spans",
    help: "Items dropped because an exporter's sending queue was full.",
};

pub const PROCESSOR_INCOMING_ITEMS: &str = "otelcol_processor_incoming_items";
pub(crate) const PROCESSOR_INCOMING_HELP: &str = "Items passed to a processor.";
pub const PROCESSOR_OUTGOING_ITEMS: &str = "otelcol_processor_outgoing_items";
pub(crate) const PROCESSOR_OUTGOING_HELP: &str = "Items a processor passed on to the next stage.";
/// The processor counters' signal label (the Collector's `otel.signal`, as Prometheus spells it).
pub const SIGNAL_LABEL: &str = "otel_signal";

pub const EXPORTER_QUEUE_SIZE: &str = "otelcol_exporter_queue_size";
pub(crate) const EXPORTER_QUEUE_SIZE_HELP: &str = "Batches waiting in an exporter's sending queue.";
pub const EXPORTER_QUEUE_CAPACITY: &str = "otelcol_exporter_queue_capacity";
pub(crate) const EXPORTER_QUEUE_CAPACITY_HELP: &str =
    "Batches an exporter's sending queue holds at most.";

/// Process metrics, read from the kernel when the registry is read.
pub const PROCESS_UPTIME: &str = "otelcol_process_uptime";
pub const PROCESS_CPU_SECONDS: &str = "otelcol_process_cpu_seconds";
pub const PROCESS_MEMORY_RSS: &str = "otelcol_process_memory_rss";
pub const PROCESS_HEAP_ALLOC_BYTES: &str = "otelcol_process_runtime_heap_alloc_bytes";
pub const PROCESS_TOTAL_SYS_MEMORY_BYTES: &str = "otelcol_process_runtime_total_sys_memory_bytes";

/// The UCUM unit the Collector gives a metric in its OTLP push, for names whose unit the name
/// does not spell (`_bytes`, `_seconds` are read from the name).
pub fn unit(name: &str) -> Option<&'static str> {
    match name {
        PROCESS_UPTIME | PROCESS_CPU_SECONDS => Some("s"),
        PROCESS_MEMORY_RSS => Some("By"),
        _ => None,
    }
}
