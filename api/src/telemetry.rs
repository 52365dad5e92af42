//! Self-telemetry: the collector's own counters and gauges.
//!
//! Values live in atomics so the hot path pays one relaxed add; the registry lock is only taken
//! when a series is created (at build time) or read (a scrape or an OTLP push). Every drop in
//! the system is counted here, never silently discarded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::data::DataKind;
use crate::id::{ComponentId, ComponentKind};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    Counter,
    Gauge,
}

#[derive(Debug, Clone)]
enum Value {
    Counter(Counter),
    Gauge(Gauge),
}

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
    pub value: i64,
}

/// The registry of all self-metrics of one collector process.
#[derive(Clone, Debug, Default)]
pub struct Telemetry {
    families: Arc<Mutex<BTreeMap<&'static str, Family>>>,
}

/// Metric names are `kafka_obs_<role>_<what>`; counters end in `_total` as Prometheus expects.
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

    fn series(
        &self,
        name: &'static str,
        help: &'static str,
        kind: InstrumentKind,
        labels: &[(&str, &str)],
    ) -> Value {
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
        family
            .series
            .entry(key)
            .or_insert_with(|| match kind {
                InstrumentKind::Counter => Value::Counter(Counter::default()),
                InstrumentKind::Gauge => Value::Gauge(Gauge::default()),
            })
            .clone()
    }

    /// The counter `name{labels}`, created on first use and shared afterwards.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Counter {
        match self.series(name, help, InstrumentKind::Counter, labels) {
            Value::Counter(c) => c,
            // The same name registered as a gauge elsewhere: keep it working, unexported.
            Value::Gauge(_) => Counter::default(),
        }
    }

    /// The gauge `name{labels}`, created on first use and shared afterwards.
    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, InstrumentKind::Gauge, labels) {
            Value::Gauge(g) => g,
            Value::Counter(_) => Gauge::default(),
        }
    }

    /// Every series' current value.
    pub fn snapshot(&self) -> Vec<Sample> {
        let families = self.lock();
        let mut out = Vec::new();
        for (name, family) in families.iter() {
            for (labels, value) in &family.series {
                let value = match value {
                    Value::Counter(c) => i64::try_from(c.get()).unwrap_or(i64::MAX),
                    Value::Gauge(g) => g.get(),
                };
                out.push(Sample {
                    name,
                    help: family.help,
                    kind: family.kind,
                    labels: labels.clone(),
                    value,
                });
            }
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
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
                let v = match value {
                    Value::Counter(c) => c.get().to_string(),
                    Value::Gauge(g) => g.get().to_string(),
                };
                let _ = writeln!(out, " {v}");
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

    /// Items a receiver accepted into its pipelines.
    pub fn accepted(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_receiver_accepted_items_total",
            "Items (data points, log records, spans) a receiver accepted into its pipelines.",
            &[("data_type", kind.as_str())],
        )
    }

    /// Items a receiver refused (bad input or a full pipeline); the sender was told.
    pub fn refused(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_receiver_refused_items_total",
            "Items a receiver refused: malformed input or pipelines that could not take them.",
            &[("data_type", kind.as_str())],
        )
    }

    /// Items an exporter delivered.
    pub fn sent(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_exporter_sent_items_total",
            "Items an exporter delivered to its destination.",
            &[("data_type", kind.as_str())],
        )
    }

    /// Items an exporter gave up on after its retries.
    pub fn send_failed(&self, kind: DataKind) -> Counter {
        self.counter(
            "kafka_obs_exporter_send_failed_items_total",
            "Items an exporter could not deliver and gave up on.",
            &[("data_type", kind.as_str())],
        )
    }
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
            .accepted(DataKind::Logs);
        c.add(3);
        t.component(ComponentKind::Receiver, &id)
            .accepted(DataKind::Logs)
            .add(2);
        assert_eq!(c.get(), 5);
        let text = t.render_prometheus();
        assert!(text.contains("# TYPE kafka_obs_receiver_accepted_items_total counter"));
        assert!(
            text.contains(
                "kafka_obs_receiver_accepted_items_total{receiver=\"otlp/a\",data_type=\"logs\"} 5"
            ),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let t = Telemetry::new();
        t.gauge("g", "h", &[("k", "a\"b\\c\nd")]).set(-1);
        assert!(t.render_prometheus().contains(r#"g{k="a\"b\\c\nd"} -1"#));
    }
}
