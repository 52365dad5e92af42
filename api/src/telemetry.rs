//! Self-telemetry: the collector's own counters and gauges.
//!
//! Values live in atomics so the hot path pays one relaxed add; the registry lock is only taken
//! when a series is created (at build time) or read (a scrape or an OTLP push). Every drop in
//! the system is counted here, never silently discarded.
//!
//! Facts the OpenTelemetry Collector also counts carry its names ([`otelcol`]); the rest are
//! `kafka_obs_*`. Readings taken from outside the process' own counters (CPU time, memory) are
//! refreshed by hooks ([`Telemetry::on_read`]) each time the registry is read.

pub mod otelcol;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::data::DataKind;
use crate::id::{ComponentId, ComponentKind};
use otelcol::{PerSignal, Transport};

/// A monotonically increasing count.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue sizes, target up/down).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A floating-point reading taken elsewhere and stored here (CPU seconds, uptime): the
/// Collector exposes those as fractional counters, so they cannot be integers.
#[derive(Clone, Debug, Default)]
pub struct Double(Arc<AtomicU64>);

impl Double {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    Counter,
    Gauge,
}

#[derive(Debug, Clone)]
enum Value {
    Counter(Counter),
    Gauge(Gauge),
    Double(Double),
}

impl Value {
    fn number(&self) -> Number {
        match self {
            Value::Counter(c) => Number::Int(i64::try_from(c.get()).unwrap_or(i64::MAX)),
            Value::Gauge(g) => Number::Int(g.get()),
            Value::Double(d) => Number::Double(d.get()),
        }
    }
}

/// A series' value: integer for counts, double for readings like CPU seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Double(f64),
}

impl Number {
    /// The value as a float, whichever it is.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(v) => v as f64,
            Number::Double(v) => v,
        }
    }

    /// The value as an integer (a double is truncated).
    pub fn as_i64(self) -> i64 {
        match self {
            Number::Int(v) => v,
            Number::Double(v) => v as i64,
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(v) => write!(f, "{v}"),
            Number::Double(v) => write!(f, "{v}"),
        }
    }
}

/// Refreshes readings kept outside the registry just before it is read.
pub type ReadHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: InstrumentKind,
    series: BTreeMap<Vec<(String, String)>, Value>,
}

/// One reading of one series, for exporters of self-telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: InstrumentKind,
    pub labels: Vec<(String, String)>,
    pub value: Number,
}

/// The registry of all self-metrics of one collector process.
#[derive(Clone, Default)]
pub struct Telemetry {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
    hooks: Arc<Mutex<BTreeMap<&'static str, ReadHook>>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("families", &self.families)
            .finish_non_exhaustive()
    }
}

/// Our own metric names are `kafka_obs_<role>_<what>`; counters end in `_total` as Prometheus
/// expects. The Collector's names ([`otelcol`]) keep the Collector's spelling.
pub const PREFIX: &str = "kafka_obs_";

impl Telemetry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, Family>> {
        // A panic while holding this lock cannot leave the map inconsistent (inserts are
        // single operations), so a poisoned lock is still safe to use.
        self.families.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `hook` before every read of the registry (a scrape, a push, a snapshot). One hook
    /// per `key`: registering the same key again keeps the first, so whoever reads the
    /// registry may register what it needs without knowing who else did.
    pub fn on_read(&self, key: &'static str, hook: ReadHook) {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.entry(key).or_insert(hook);
    }

    fn run_hooks(&self) {
        // Cloned out so a hook may create series (which takes the families lock) freely.
        let hooks: Vec<ReadHook> = self
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for hook in hooks {
            hook();
        }
    }

    fn series(
        &self,
        name: &'static str,
        help: &'static str,
        kind: InstrumentKind,
        double: bool,
        labels: &[(&str, &str)],
    ) -> Value {
        self.series_new(name, help, kind, double, labels).0
    }

    /// The series and whether this call created it.
    fn series_new(
        &self,
        name: &'static str,
        help: &'static str,
        kind: InstrumentKind,
        double: bool,
        labels: &[(&str, &str)],
    ) -> (Value, bool) {
        let key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let mut families = self.lock();
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        let mut created = false;
        let value = family
            .series
            .entry(key)
            .or_insert_with(|| {
                created = true;
                match (kind, double) {
                    (_, true) => Value::Double(Double::default()),
                    (InstrumentKind::Counter, false) => Value::Counter(Counter::default()),
                    (InstrumentKind::Gauge, false) => Value::Gauge(Gauge::default()),
                }
            })
            .clone();
        (value, created)
    }

    /// The counter `name{labels}`, created on first use and shared afterwards.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Counter {
        match self.series(name, help, InstrumentKind::Counter, false, labels) {
            Value::Counter(c) => c,
            // The same name registered as another type elsewhere: keep it working, unexported.
            _ => Counter::default(),
        }
    }

    /// The gauge `name{labels}`, created on first use and shared afterwards.
    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, InstrumentKind::Gauge, false, labels) {
            Value::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// A cumulative reading in fractional units (CPU seconds, uptime): a counter whose value is
    /// set from the source that counts it, not added to.
    pub fn double_counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Double {
        match self.series(name, help, InstrumentKind::Counter, true, labels) {
            Value::Double(d) => d,
            _ => Double::default(),
        }
    }

    /// Items dropped because `exporter`'s queue was full (the Collector's `enqueue_failed`).
    pub fn exporter_enqueue_failed(&self, exporter: &str, kind: DataKind) -> Counter {
        per_signal(
            self,
            &otelcol::EXPORTER_ENQUEUE_FAILED,
            kind,
            &[("exporter", exporter)],
        )
    }

    /// `(size, capacity)` gauges of `exporter`'s sending queue, in batches.
    pub fn exporter_queue(&self, exporter: &str) -> (Gauge, Gauge) {
        let labels = [("exporter", exporter)];
        (
            self.gauge(
                otelcol::EXPORTER_QUEUE_SIZE,
                otelcol::EXPORTER_QUEUE_SIZE_HELP,
                &labels,
            ),
            self.gauge(
                otelcol::EXPORTER_QUEUE_CAPACITY,
                otelcol::EXPORTER_QUEUE_CAPACITY_HELP,
                &labels,
            ),
        )
    }

    /// Every series' current value.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.run_hooks();
        let families = self.lock();
        let mut out = Vec::new();
        for (name, family) in families.iter() {
            for (labels, value) in &family.series {
                out.push(Sample {
                    name,
                    help: family.help,
                    kind: family.kind,
                    labels: labels.clone(),
                    value: value.number(),
                });
            }
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        self.run_hooks();
        let families = self.lock();
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.kind {
                InstrumentKind::Counter => "counter",
                InstrumentKind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &family.series {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", value.number());
            }
        }
        out
    }

    /// A handle that labels every series with one component's id.
    pub fn component(&self, kind: ComponentKind, id: &ComponentId) -> ComponentTelemetry {
        ComponentTelemetry {
            telemetry: self.clone(),
            kind,
            id: id.to_string(),
        }
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Self-metrics of one component: every series carries `<role>="<id>"`.
#[derive(Clone, Debug)]
pub struct ComponentTelemetry {
    telemetry: Telemetry,
    kind: ComponentKind,
    id: String,
}

impl ComponentTelemetry {
    pub fn registry(&self) -> &Telemetry {
        &self.telemetry
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    fn labels<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut labels = vec![(self.kind.as_str(), self.id.as_str())];
        labels.extend_from_slice(extra);
        labels
    }

    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        extra: &[(&str, &str)],
    ) -> Counter {
        self.telemetry.counter(name, help, &self.labels(extra))
    }

    pub fn gauge(&self, name: &'static str, help: &'static str, extra: &[(&str, &str)]) -> Gauge {
        self.telemetry.gauge(name, help, &self.labels(extra))
    }

    fn per_signal(&self, names: &PerSignal, kind: DataKind, extra: &[(&str, &str)]) -> Counter {
        per_signal(&self.telemetry, names, kind, &self.labels(extra))
    }

    /// One of a set of outcomes that the Collector reports together: the first time any of
    /// them is counted for these labels, the others appear too (at zero), as they do on the
    /// Collector's endpoint, so a query over `refused` finds a series before the first refusal.
    fn outcome(
        &self,
        wanted: &PerSignal,
        siblings: &[&PerSignal],
        kind: DataKind,
        extra: &[(&str, &str)],
    ) -> Counter {
        let labels = self.labels(extra);
        let (value, created) = self.telemetry.series_new(
            wanted.name(kind),
            wanted.help,
            InstrumentKind::Counter,
            false,
            &labels,
        );
        if created {
            for sibling in siblings {
                per_signal(&self.telemetry, sibling, kind, &labels);
            }
        }
        match value {
            Value::Counter(c) => c,
            _ => Counter::default(),
        }
    }

    fn receiver_outcome(
        &self,
        wanted: &PerSignal,
        kind: DataKind,
        transport: Transport,
    ) -> Counter {
        self.outcome(
            wanted,
            &[
                &otelcol::RECEIVER_ACCEPTED,
                &otelcol::RECEIVER_REFUSED,
                &otelcol::RECEIVER_FAILED,
            ],
            kind,
            &[("transport", transport.as_str())],
        )
    }

    /// Items a receiver pushed into its pipelines and they accepted.
    pub fn accepted(&self, kind: DataKind, transport: Transport) -> Counter {
        self.receiver_outcome(&otelcol::RECEIVER_ACCEPTED, kind, transport)
    }

    /// Items the pipelines did not take (full, shutting down); the sender was told to retry.
    pub fn refused(&self, kind: DataKind, transport: Transport) -> Counter {
        self.receiver_outcome(&otelcol::RECEIVER_REFUSED, kind, transport)
    }

    /// Items a receiver could not process itself: bad input it rejected.
    pub fn failed(&self, kind: DataKind, transport: Transport) -> Counter {
        self.receiver_outcome(&otelcol::RECEIVER_FAILED, kind, transport)
    }

    /// Items an exporter delivered.
    pub fn sent(&self, kind: DataKind) -> Counter {
        self.outcome(
            &otelcol::EXPORTER_SENT,
            &[&otelcol::EXPORTER_SEND_FAILED],
            kind,
            &[],
        )
    }

    /// Items an exporter gave up on after its retries.
    pub fn send_failed(&self, kind: DataKind) -> Counter {
        self.outcome(
            &otelcol::EXPORTER_SEND_FAILED,
            &[&otelcol::EXPORTER_SENT],
            kind,
            &[],
        )
    }

    /// Items an exporter's own sending queue had no room for.
    pub fn enqueue_failed(&self, kind: DataKind) -> Counter {
        self.per_signal(&otelcol::EXPORTER_ENQUEUE_FAILED, kind, &[])
    }

    /// Items passed to a processor.
    pub fn incoming_items(&self, kind: DataKind) -> Counter {
        self.counter(
            otelcol::PROCESSOR_INCOMING_ITEMS,
            otelcol::PROCESSOR_INCOMING_HELP,
            &[(otelcol::SIGNAL_LABEL, kind.as_str())],
        )
    }

    /// Items a processor passed on.
    pub fn outgoing_items(&self, kind: DataKind) -> Counter {
        self.counter(
            otelcol::PROCESSOR_OUTGOING_ITEMS,
            otelcol::PROCESSOR_OUTGOING_HELP,
            &[(otelcol::SIGNAL_LABEL, kind.as_str())],
        )
    }

    /// Items a processor refused; their senders were asked to retry (the Collector counts
    /// these only as the receiver's refused items, so the name is ours).
    pub fn processor_refused_items(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_processor_refused_items_total",
            "Items a processor refused; their senders were asked to retry.",
            &[("data_type", kind.as_str())],
        )
    }

    /// Items a processor removed on purpose (`filter`): accepted, not refused. The Collector's
    /// filter processor counts these per signal under its own names; ours is one family.
    pub fn processor_filtered_items(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_processor_filtered_items_total",
            "Items a processor removed on purpose (filter); accepted, not refused.",
            &[("data_type", kind.as_str())],
        )
    }

    /// Items a processor still held when the shutdown deadline passed.
    pub fn processor_dropped_items(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_processor_dropped_items_total",
            "Items a processor still held when the shutdown deadline passed.",
            &[("data_type", kind.as_str())],
        )
    }
}

fn per_signal(
    telemetry: &Telemetry,
    names: &PerSignal,
    kind: DataKind,
    labels: &[(&str, &str)],
) -> Counter {
    telemetry.counter(names.name(kind), names.help, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_shared_and_rendered() {
        let t = Telemetry::new();
        let id: ComponentId = "otlp/a".parse().unwrap();
        let c = t
            .component(ComponentKind::Receiver, &id)
            .accepted(DataKind::Logs, Transport::Grpc);
        c.add(3);
        t.component(ComponentKind::Receiver, &id)
            .accepted(DataKind::Logs, Transport::Grpc)
            .add(2);
        assert_eq!(c.get(), 5);
        let text = t.render_prometheus();
        assert!(text.contains("# TYPE otelcol_receiver_accepted_log_records counter"));
        assert!(
            text.contains(
                "otelcol_receiver_accepted_log_records{receiver=\"otlp/a\",transport=\"grpc\"} 5"
            ),
            "{text}"
        );
        // Its sibling outcomes exist from the first count on, at zero.
        for sibling in ["refused", "failed"] {
            assert!(
                text.contains(&format!(
                    "otelcol_receiver_{sibling}_log_records{{receiver=\"otlp/a\",transport=\"grpc\"}} 0"
                )),
                "{text}"
            );
        }
        assert!(!text.contains("metric_points"), "only the signal counted");
    }

    #[test]
    fn doubles_render_as_fractions_and_hooks_refresh_them_on_read() {
        let t = Telemetry::new();
        let reads = Arc::new(AtomicU64::new(0));
        let uptime = t.double_counter("up", "h", &[]);
        let r = reads.clone();
        t.on_read(
            "clock",
            Arc::new(move || {
                let n = r.fetch_add(1, Ordering::Relaxed) + 1;
                uptime.set(n as f64 + 0.5);
            }),
        );
        // The same key again is ignored: one refresh per read.
        t.on_read(
            "clock",
            Arc::new(|| panic!("a second hook for one key ran")),
        );
        assert!(t.render_prometheus().contains("up 1.5\n"));
        let sample = t.snapshot().into_iter().find(|s| s.name == "up");
        assert_eq!(sample.map(|s| s.value), Some(Number::Double(2.5)));
        assert!(
            t.render_prometheus()
                .contains("# TYPE up counter\nup 3.5\n")
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let t = Telemetry::new();
        t.gauge("g", "h", &[("k", "a\"b\\c\nd")]).set(-1);
        assert!(t.render_prometheus().contains(r#"g{k="a\"b\\c\nd"} -1"#));
    }
}
