//! Readings to OTLP: one `ResourceMetrics` per target and poll, plus the cumulative-sum
//! bookkeeping that makes counter resets visible.
//!
//! Gauges are plain. Sums (`counter`, `updowncounter`) are cumulative and need a start time per
//! series: for series present on the first poll of a JVM it is the JVM's start time (they may
//! have counted since then); for series that appear later it is the previous poll's time (they
//! began in between). A value lower than the last one is a reset (a client re-created, a JVM
//! restarted between two polls): the raw value is reported with a new start time, the previous
//! poll's, so downstream sees a reset and never a negative jump. When the JVM's `StartTime`
//! changes every series starts over from the new start time. Series not seen in a successful
//! poll (the MBean went away) are forgotten; their data points simply stop.
//!
//! Values are checked for plausibility before they are exported (a hostile or broken agent can
//! send anything): NaN and infinities (Kafka's "no sample yet"), magnitudes of 2^63 or more
//! (`Long.MIN_VALUE`/`MAX_VALUE` sentinels, `1e308`) and negative counter values are not data
//! points. They are dropped and counted by reason ([`DroppedValues`], exported per target as
//! `kafka_obs_jmx_dropped_values_total`); for a cumulative series the dropped value is a reset
//! point: the next value starts a new cumulative run at that poll's time.
//!
//! Every batch also carries `kafka_obs.target.up` (gauge 0/1, attribute `endpoint`), the
//! reachability the signals processor turns into T1.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use kafka_obs_api::Batch;

use super::rules::MetricKind;
use super::scrape::{Number, Plan, Reading};

/// The reachability metric in every batch.
pub const TARGET_UP: &str = "kafka_obs.target.up";
/// The instrumentation scope of everything this receiver emits.
pub const SCOPE_NAME: &str = "kafka-obs/receiver/jmx";

type SeriesKey = (String, Vec<(String, String)>);

#[derive(Debug, Clone, Copy)]
struct Series {
    start_ns: u64,
    last: f64,
    last_ns: u64,
    generation: u64,
}

/// The largest magnitude a plausible value has: 2^63 (nothing a JVM counts in bytes, events or
/// nanoseconds reaches it; `Long.MIN_VALUE`/`MAX_VALUE` are "unset" sentinels).
pub const MAX_PLAUSIBLE: f64 = 9_223_372_036_854_775_808.0;

/// Why a value was not exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implausible {
    /// NaN or an infinity.
    NonFinite,
    /// A magnitude of [`MAX_PLAUSIBLE`] or more.
    OutOfRange,
    /// A negative value of a monotonic counter.
    NegativeCounter,
}

impl Implausible {
    pub const ALL: [Implausible; 3] = [
        Implausible::NonFinite,
        Implausible::OutOfRange,
        Implausible::NegativeCounter,
    ];

    /// The `reason` label of `kafka_obs_jmx_dropped_values_total`.
    pub fn label(self) -> &'static str {
        match self {
            Implausible::NonFinite => "non_finite",
            Implausible::OutOfRange => "out_of_range",
            Implausible::NegativeCounter => "negative_counter",
        }
    }

    /// What is wrong with `value` of a metric of `kind`, if anything.
    pub fn of(value: f64, kind: MetricKind) -> Option<Implausible> {
        if !value.is_finite() {
            Some(Implausible::NonFinite)
        } else if value.abs() >= MAX_PLAUSIBLE {
            Some(Implausible::OutOfRange)
        } else if kind == MetricKind::Counter && value < 0.0 {
            Some(Implausible::NegativeCounter)
        } else {
            None
        }
    }
}

/// Values dropped as implausible since the last [`SeriesTracker::take_dropped`], by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedValues {
    pub non_finite: u64,
    pub out_of_range: u64,
    pub negative_counter: u64,
}

impl DroppedValues {
    fn add(&mut self, why: Implausible) {
        match why {
            Implausible::NonFinite => self.non_finite += 1,
            Implausible::OutOfRange => self.out_of_range += 1,
            Implausible::NegativeCounter => self.negative_counter += 1,
        }
    }

    pub fn get(&self, why: Implausible) -> u64 {
        match why {
            Implausible::NonFinite => self.non_finite,
            Implausible::OutOfRange => self.out_of_range,
            Implausible::NegativeCounter => self.negative_counter,
        }
    }
}

/// Start times and last values of one target's cumulative series.
#[derive(Debug, Default)]
pub struct SeriesTracker {
    dropped: DroppedValues,
    series: HashMap<SeriesKey, Series>,
    jvm_start_ms: Option<i64>,
    /// Time of the last successful poll of this JVM (none: the next poll is its first).
    last_ok_ns: Option<u64>,
    generation: u64,
    /// Start time for series first seen in the current poll.
    new_series_start_ns: u64,
}

impl SeriesTracker {
    /// Starts a successful poll taken at `now_ns`.
    pub fn begin(&mut self, jvm_start_ms: Option<i64>, now_ns: u64) {
        self.generation += 1;
        if let (Some(old), Some(new)) = (self.jvm_start_ms, jvm_start_ms)
            && old != new
        {
            // Another JVM answers on this endpoint: everything counted from zero again.
            self.series.clear();
            self.last_ok_ns = None;
        }
        if jvm_start_ms.is_some() {
            self.jvm_start_ms = jvm_start_ms;
        }
        let jvm_start_ns = jvm_start_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| ms.saturating_mul(1_000_000))
            .filter(|&ns| ns > 0 && ns <= now_ns);
        self.new_series_start_ns = match self.last_ok_ns {
            Some(prev) => prev,
            None => jvm_start_ns.unwrap_or(now_ns),
        };
    }

    /// Records a cumulative value; returns the series' start time.
    fn observe(&mut self, key: SeriesKey, value: f64, now_ns: u64) -> u64 {
        let generation = self.generation;
        let fresh_start = self.new_series_start_ns;
        let s = self.series.entry(key).or_insert(Series {
            start_ns: fresh_start,
            last: value,
            last_ns: now_ns,
            generation,
        });
        if value < s.last {
            s.start_ns = s.last_ns;
        }
        s.last = value;
        s.last_ns = now_ns;
        s.generation = generation;
        s.start_ns
    }

    /// A cumulative series had an implausible value at `now_ns`: it restarts there (the next
    /// value is reported with that start time).
    fn reset(&mut self, key: SeriesKey, now_ns: u64) {
        let generation = self.generation;
        self.series.insert(
            key,
            Series {
                start_ns: now_ns,
                last: 0.0,
                last_ns: now_ns,
                generation,
            },
        );
    }

    /// Values dropped as implausible since the last call.
    pub fn take_dropped(&mut self) -> DroppedValues {
        std::mem::take(&mut self.dropped)
    }

    /// Ends a successful poll: forgets series that were not seen.
    pub fn end(&mut self, now_ns: u64) {
        let generation = self.generation;
        self.series.retain(|_, s| s.generation == generation);
        self.last_ok_ns = Some(now_ns);
    }

    /// Number of cumulative series tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.series.len()
    }
}

pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// The resource of one target: the configured attributes, `jmx.endpoint`, and
/// `service.instance.id` (the endpoint, unless configured) so several targets stay apart.
pub fn target_resource(
    configured: &std::collections::BTreeMap<String, String>,
    endpoint: &str,
) -> Resource {
    let mut attributes: Vec<KeyValue> = configured.iter().map(|(k, v)| string_kv(k, v)).collect();
    if !configured.contains_key("service.instance.id") {
        attributes.push(string_kv("service.instance.id", endpoint));
    }
    if !configured.contains_key("jmx.endpoint") {
        attributes.push(string_kv("jmx.endpoint", endpoint));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// Builds the metrics of one poll. `readings` is `None` when the poll failed (then only
/// `target.up = 0` is reported).
pub fn to_batch(
    plan: &Plan,
    readings: Option<&[Reading]>,
    tracker: &mut SeriesTracker,
    now_ns: u64,
    resource: &Resource,
    endpoint: &str,
) -> Batch {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashSet<SeriesKey> = HashSet::new();
    for r in readings.unwrap_or_default() {
        let Some(def) = plan.metric(r.rule, r.metric) else {
            continue;
        };
        let key: SeriesKey = (def.name.clone(), r.attributes.clone());
        if !seen.insert(key.clone()) {
            // Two rules produced the same series: the first one wins.
            continue;
        }
        if let Some(why) = Implausible::of(r.value.as_f64(), def.kind) {
            tracker.dropped.add(why);
            if def.kind.is_sum() {
                tracker.reset(key, now_ns);
            }
            continue;
        }
        let start = if def.kind.is_sum() {
            tracker.observe(key, r.value.as_f64(), now_ns)
        } else {
            0
        };
        let point = NumberDataPoint {
            attributes: r.attributes.iter().map(|(k, v)| string_kv(k, v)).collect(),
            start_time_unix_nano: start,
            time_unix_nano: now_ns,
            value: Some(match r.value {
                Number::Int(i) => number_data_point::Value::AsInt(i),
                Number::Double(d) => number_data_point::Value::AsDouble(d),
            }),
            ..Default::default()
        };
        let i = *index.entry(def.name.as_str()).or_insert_with(|| {
            metrics.push(empty_metric(
                &def.name,
                &def.description,
                &def.unit,
                def.kind,
            ));
            metrics.len() - 1
        });
        push_point(&mut metrics[i], point);
    }
    let mut up = empty_metric(
        TARGET_UP,
        "Whether the last poll of the JMX target succeeded (1) or not (0)",
        "1",
        MetricKind::Gauge,
    );
    push_point(
        &mut up,
        NumberDataPoint {
            attributes: vec![string_kv("endpoint", endpoint)],
            time_unix_nano: now_ns,
            value: Some(number_data_point::Value::AsInt(i64::from(
                readings.is_some(),
            ))),
            ..Default::default()
        },
    );
    metrics.push(up);
    Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn empty_metric(name: &str, description: &str, unit: &str, kind: MetricKind) -> Metric {
    let data = match kind {
        MetricKind::Gauge => Data::Gauge(Gauge {
            data_points: Vec::new(),
        }),
        MetricKind::Counter | MetricKind::UpDownCounter => Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: kind == MetricKind::Counter,
        }),
    };
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn push_point(metric: &mut Metric, point: NumberDataPoint) {
    match &mut metric.data {
        Some(Data::Gauge(g)) => g.data_points.push(point),
        Some(Data::Sum(s)) => s.data_points.push(point),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jmx::scrape::tests::plan;
    use std::collections::BTreeMap;

    const PLAN: &str = r#"
rules:
  - bean: kafka.producer:type=producer-metrics,client-id=*
    metricAttribute: {client-id: param(client-id)}
    prefix: kafka.producer.
    mapping:
      buffer-available-bytes: {unit: By, desc: free}
      buffer-exhausted-total: {type: counter, unit: "{event}"}
  - bean: java.lang:type=Threading
    mapping:
      ThreadCount: {metric: jvm.threads.count, type: updowncounter, unit: "1"}
"#;

    fn reading(metric: usize, rule: usize, client: Option<&str>, value: Number) -> Reading {
        Reading {
            rule,
            metric,
            attributes: client
                .map(|c| vec![("client-id".to_owned(), c.to_owned())])
                .unwrap_or_default(),
            value,
        }
    }

    fn metrics(batch: &Batch) -> (Resource, Vec<Metric>) {
        let Batch::Metrics(req) = batch else {
            panic!("metrics batch")
        };
        let rm = &req.resource_metrics[0];
        let sm = &rm.scope_metrics[0];
        assert_eq!(sm.scope.as_ref().map(|s| s.name.as_str()), Some(SCOPE_NAME));
        (rm.resource.clone().unwrap_or_default(), sm.metrics.clone())
    }

    fn find<'a>(ms: &'a [Metric], name: &str) -> &'a Metric {
        ms.iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    fn sum_point(m: &Metric) -> (bool, &NumberDataPoint) {
        match &m.data {
            Some(Data::Sum(s)) => {
                assert_eq!(
                    s.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                (s.is_monotonic, &s.data_points[0])
            }
            other => panic!("{} is not a sum: {other:?}", m.name),
        }
    }

    #[test]
    fn preset_readings_become_typed_otlp_metrics() {
        let plan = plan(PLAN);
        // Rule 0 metrics are sorted by attribute name: buffer-available-bytes, buffer-exhausted-total.
        let readings = vec![
            reading(0, 0, Some("p1"), Number::Double(16_777_216.0)),
            reading(1, 0, Some("p1"), Number::Double(2.0)),
            reading(0, 1, None, Number::Int(23)),
        ];
        let mut tracker = SeriesTracker::default();
        let now = 1_700_000_100_000_000_000;
        tracker.begin(Some(1_700_000_000_000), now);
        let configured = BTreeMap::from([("service.name".to_owned(), "orders".to_owned())]);
        let resource = target_resource(&configured, "127.0.0.1:9999");
        let batch = to_batch(
            &plan,
            Some(&readings),
            &mut tracker,
            now,
            &resource,
            "127.0.0.1:9999",
        );
        tracker.end(now);
        assert_eq!(batch.item_count(), 4);
        let (res, ms) = metrics(&batch);
        assert_eq!(
            res.attributes,
            vec![
                string_kv("service.name", "orders"),
                string_kv("service.instance.id", "127.0.0.1:9999"),
                string_kv("jmx.endpoint", "127.0.0.1:9999"),
            ]
        );
        let avail = find(&ms, "kafka.producer.buffer-available-bytes");
        assert_eq!(
            (avail.unit.as_str(), avail.description.as_str()),
            ("By", "free")
        );
        let Some(Data::Gauge(g)) = &avail.data else {
            panic!("gauge")
        };
        assert_eq!(
            g.data_points[0].attributes,
            vec![string_kv("client-id", "p1")]
        );
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsDouble(16_777_216.0))
        );
        assert_eq!(g.data_points[0].time_unix_nano, now);
        let (monotonic, p) = sum_point(find(&ms, "kafka.producer.buffer-exhausted-total"));
        assert!(monotonic);
        assert_eq!(
            p.start_time_unix_nano, 1_700_000_000_000_000_000,
            "the JVM's start"
        );
        let (monotonic, p) = sum_point(find(&ms, "jvm.threads.count"));
        assert!(!monotonic);
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(23)));
        let up = find(&ms, TARGET_UP);
        let Some(Data::Gauge(g)) = &up.data else {
            panic!("gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(1))
        );
        assert_eq!(
            g.data_points[0].attributes,
            vec![string_kv("endpoint", "127.0.0.1:9999")]
        );
    }

    #[test]
    fn failed_poll_reports_only_target_down() {
        let plan = plan(PLAN);
        let mut tracker = SeriesTracker::default();
        let batch = to_batch(&plan, None, &mut tracker, 5, &Resource::default(), "h:1");
        let (_, ms) = metrics(&batch);
        assert_eq!(ms.len(), 1);
        let Some(Data::Gauge(g)) = &ms[0].data else {
            panic!("gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(number_data_point::Value::AsInt(0))
        );
    }

    /// Polls the counter at the given times; returns each poll's start time.
    fn starts(
        tracker: &mut SeriesTracker,
        jvm: i64,
        polls: &[(u64, Option<f64>)],
    ) -> Vec<Option<u64>> {
        let plan = plan(PLAN);
        polls
            .iter()
            .map(|&(now, value)| {
                tracker.begin(Some(jvm), now);
                let readings: Vec<Reading> = value
                    .map(|v| reading(1, 0, Some("p1"), Number::Double(v)))
                    .into_iter()
                    .collect();
                let batch = to_batch(
                    &plan,
                    Some(&readings),
                    tracker,
                    now,
                    &Resource::default(),
                    "h:1",
                );
                tracker.end(now);
                let (_, ms) = metrics(&batch);
                ms.iter()
                    .find(|m| m.name == "kafka.producer.buffer-exhausted-total")
                    .map(|m| sum_point(m).1.start_time_unix_nano)
            })
            .collect()
    }

    #[test]
    fn counter_resets_get_a_new_start_time() {
        let mut t = SeriesTracker::default();
        let jvm_ns = 1_000_000_000; // JVM start 1000 ms
        let got = starts(
            &mut t,
            1000,
            &[
                (2_000_000_000, Some(5.0)),
                (3_000_000_000, Some(7.0)),
                (4_000_000_000, Some(1.0)), // reset: starts at the previous poll
                (5_000_000_000, Some(2.0)),
                (6_000_000_000, None),      // MBean gone: series forgotten
                (7_000_000_000, Some(0.0)), // back as a new series since the last poll
            ],
        );
        assert_eq!(
            got,
            vec![
                Some(jvm_ns),
                Some(jvm_ns),
                Some(3_000_000_000),
                Some(3_000_000_000),
                None,
                Some(6_000_000_000),
            ]
        );
    }

    #[test]
    fn implausible_values_are_dropped_counted_and_reset_counters() {
        let plan = plan(PLAN);
        let mut t = SeriesTracker::default();
        let poll = |t: &mut SeriesTracker, now: u64, gauge: Number, counter: Number| {
            t.begin(Some(1000), now);
            let readings = vec![
                reading(0, 0, Some("p1"), gauge),
                reading(1, 0, Some("p1"), counter),
            ];
            let batch = to_batch(&plan, Some(&readings), t, now, &Resource::default(), "h:1");
            t.end(now);
            let (_, ms) = metrics(&batch);
            let gauge = ms
                .iter()
                .find(|m| m.name == "kafka.producer.buffer-available-bytes")
                .is_some();
            let counter = ms
                .iter()
                .find(|m| m.name == "kafka.producer.buffer-exhausted-total")
                .map(|m| {
                    let p = sum_point(m).1;
                    (p.value, p.start_time_unix_nano)
                });
            (gauge, counter)
        };
        let (g, c) = poll(&mut t, 2_000_000_000, Number::Int(5), Number::Int(10));
        assert!(g);
        assert_eq!(
            c,
            Some((Some(number_data_point::Value::AsInt(10)), 1_000_000_000))
        );
        // A max of 1e308 and a counter of i64::MIN: neither is exported.
        let (g, c) = poll(
            &mut t,
            3_000_000_000,
            Number::Double(1e308),
            Number::Int(i64::MIN),
        );
        assert!(!g);
        assert_eq!(c, None);
        assert_eq!(
            t.take_dropped(),
            DroppedValues {
                out_of_range: 2,
                ..Default::default()
            }
        );
        // The counter's next value starts a new run at the reset point.
        let (_, c) = poll(&mut t, 4_000_000_000, Number::Int(5), Number::Int(12));
        assert_eq!(
            c,
            Some((Some(number_data_point::Value::AsInt(12)), 3_000_000_000))
        );
        // Negative counter values and NaN are dropped too; a jump back is a reset point.
        let (g, c) = poll(
            &mut t,
            5_000_000_000,
            Number::Double(f64::NAN),
            Number::Int(-3),
        );
        assert!(!g);
        assert_eq!(c, None);
        let (_, c) = poll(&mut t, 6_000_000_000, Number::Int(5), Number::Int(20));
        assert_eq!(c.map(|c| c.1), Some(5_000_000_000));
        let (_, c) = poll(&mut t, 7_000_000_000, Number::Int(5), Number::Int(2));
        assert_eq!(
            c,
            Some((Some(number_data_point::Value::AsInt(2)), 6_000_000_000))
        );
        assert_eq!(
            t.take_dropped(),
            DroppedValues {
                non_finite: 1,
                negative_counter: 1,
                ..Default::default()
            }
        );
        assert_eq!(t.take_dropped(), DroppedValues::default());
    }

    #[test]
    fn jvm_restart_restarts_every_series_at_the_new_start() {
        let mut t = SeriesTracker::default();
        starts(&mut t, 1000, &[(2_000_000_000, Some(50.0))]);
        // A new JVM started at 9 s; its counter happens to be higher already.
        let got = starts(&mut t, 9000, &[(10_000_000_000, Some(60.0))]);
        assert_eq!(got, vec![Some(9_000_000_000)]);
        assert_eq!(t.len(), 1);
    }
}
