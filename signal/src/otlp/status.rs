//! Statuses as an OTLP gauge, so dashboards can chart every subject's health over time.
//!
//! Metric `kafka_obs.status` (unit `1`), one data point per subject, whose value is the
//! status's severity rank:
//!
//! | value | status |
//! |---|---|
//! | 0 | STABLE |
//! | 1 | CONVERGING |
//! | 2 | DIVERGING |
//! | 3 | ERRATIC |
//! | 4 | DEGRADED |
//! | 5 | DEFECTIVE |
//! | 6 | DOWN |
//!
//! so "worse" is "higher" and `max by (cluster)` is the roll-up. Attributes: `subject` (the
//! path), `status` (the name), `confidence` (TENTATIVE / MEASURED / CONFIRMED), `rule`, and
//! `subject.<level>` for each segment (`subject.client = order-producer`, `subject.topic =
//! orders`) for filtering and grouping.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::KeyValue,
    metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        number_data_point,
    },
};

use super::{ExportResource, kv, scope, string};
use crate::{languages::statuses, signal::Signal, subject::Subject};

/// The gauge's name.
pub const STATUS_METRIC: &str = "kafka_obs.status";

/// Data-point attribute keys of the status gauge.
pub mod attr {
    /// The subject's path (string).
    pub const SUBJECT: &str = "subject";
    /// Prefix of one attribute per subject segment: `subject.client`, `subject.topic`, ...
    pub const SUBJECT_LEVEL_PREFIX: &str = "subject.";
    /// The status name: `DEGRADED` (string).
    pub const STATUS: &str = "status";
    /// The confidence: `CONFIRMED` (string).
    pub const CONFIDENCE: &str = "confidence";
    /// The rule that produced the status (string).
    pub const RULE: &str = "rule";
}

/// One point of the gauge: `subject` is in `status` with `confidence`, per `rule`, at
/// `time_unix_nano`. Its value is `status.rank()`.
pub fn status_data_point(
    subject: &Subject,
    status: statuses::Sign,
    confidence: statuses::Confidence,
    rule: &str,
    time_unix_nano: u64,
) -> NumberDataPoint {
    let mut attributes: Vec<KeyValue> = Vec::with_capacity(4 + subject.depth());
    attributes.push(kv(attr::SUBJECT, string(subject.path())));
    attributes.push(kv(attr::STATUS, string(status.as_str())));
    attributes.push(kv(attr::CONFIDENCE, string(confidence.as_str())));
    attributes.push(kv(attr::RULE, string(rule)));
    for segment in subject.segments() {
        if !segment.level().is_empty() {
            attributes.push(kv(
                format!("{}{}", attr::SUBJECT_LEVEL_PREFIX, segment.level()),
                string(segment.value()),
            ));
        }
    }
    NumberDataPoint {
        attributes,
        time_unix_nano,
        value: Some(number_data_point::Value::AsInt(i64::from(status.rank()))),
        ..NumberDataPoint::default()
    }
}

/// The `kafka_obs.status` gauge holding `points`.
pub fn status_gauge(points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: STATUS_METRIC.to_string(),
        description: "Status of each subject as its severity rank: 0 STABLE, 1 CONVERGING, \
                      2 DIVERGING, 3 ERRATIC, 4 DEGRADED, 5 DEFECTIVE, 6 DOWN"
            .to_string(),
        unit: "1".to_string(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Metric::default()
    }
}

/// The gauge for the latest Statuses signal of each subject among `signals` (the latest by
/// time; on a tie, the later in the iteration). `None` if there is no Statuses signal.
/// Points are ordered by subject.
pub fn status_gauge_from_signals<'a>(
    signals: impl IntoIterator<Item = &'a Signal>,
) -> Option<Metric> {
    let mut latest: BTreeMap<&Subject, &Signal> = BTreeMap::new();
    for signal in signals {
        if signal.status().is_none() {
            continue;
        }
        let entry = latest.entry(&signal.subject).or_insert(signal);
        if signal.time_unix_nano >= entry.time_unix_nano {
            *entry = signal;
        }
    }
    if latest.is_empty() {
        return None;
    }
    let points = latest
        .values()
        .filter_map(|signal| {
            let (status, confidence) = signal.status()?;
            Some(status_data_point(
                &signal.subject,
                status,
                confidence,
                &signal.evidence.rule,
                signal.time_unix_nano,
            ))
        })
        .collect();
    Some(status_gauge(points))
}

/// A metrics request carrying `metric` under the resource of [`ExportResource`] (with
/// `service.instance.id = source_id` when it is not empty) and the `kafka-obs-signal` scope.
pub fn to_metrics_request(
    metric: Metric,
    source_id: &str,
    resource: &ExportResource,
) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.resource(source_id)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![metric],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Evidence, SignalKind, languages::statuses::Confidence};

    fn status(client: &str, sign: statuses::Sign, time: u64) -> Signal {
        Signal::new(
            Subject::from_pairs([("cluster", "prod"), ("client", client)]).expect("valid"),
            SignalKind::Statuses(sign, Confidence::Confirmed),
            Evidence::rule("C1"),
            time,
        )
    }

    #[test]
    fn one_point_per_subject_with_the_latest_status_as_its_rank() {
        let signals = [
            status("a", statuses::Sign::Degraded, 10),
            status("b", statuses::Sign::Stable, 10),
            status("a", statuses::Sign::Down, 20),
            status("a", statuses::Sign::Erratic, 15),
            Signal::new(
                Subject::root(),
                "Queues.OVERFLOW".parse().expect("valid"),
                Evidence::default(),
                30,
            ),
        ];
        let metric = status_gauge_from_signals(&signals).expect("has statuses");
        assert_eq!(metric.name, "kafka_obs.status");
        let Some(Data::Gauge(gauge)) = metric.data else {
            panic!("not a gauge");
        };
        let values: Vec<_> = gauge.data_points.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            vec![
                Some(number_data_point::Value::AsInt(6)),
                Some(number_data_point::Value::AsInt(0))
            ]
        );
        let point = &gauge.data_points[0];
        for (key, value) in [
            ("subject", "prod/a"),
            ("status", "DOWN"),
            ("confidence", "CONFIRMED"),
            ("rule", "C1"),
            ("subject.client", "a"),
            ("subject.cluster", "prod"),
        ] {
            assert!(point.attributes.contains(&kv(key, string(value))), "{key}");
        }
        assert_eq!(point.time_unix_nano, 20);
        assert!(status_gauge_from_signals(&signals[4..]).is_none());
    }

    #[test]
    fn ranks_follow_the_severity_order() {
        for (rank, sign) in statuses::Sign::ALL.iter().enumerate() {
            assert_eq!(usize::from(sign.rank()), rank);
        }
    }
}
