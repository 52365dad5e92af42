//! What the connector reads: signal events (log records from the `otlp`, `signals` or
//! `kafka` receivers), the scale-out protocol's control records, and the `kafka_obs.status`
//! gauge as Statuses signals.
//!
//! Scale-out (see `docs/components/connector-hierarchy.md`): records from the `kafka`
//! receiver carry the topic and partition they were read from as resource attributes
//! [`TOPIC`] and [`PARTITION`]; the receiver announces a rebalance in-band with a log record
//! whose `event_name` is [`REVOKED`] or [`ASSIGNED`] and whose attributes name the topic and
//! the partitions ([`PARTITION_IDS`], an array of strings). A record with [`REPLAY`] = true
//! is being replayed to rebuild state after a takeover.

use kafka_obs_signal::intake::{ASSIGNED, PARTITION, PARTITION_IDS, REPLAY, REVOKED, TOPIC};
use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject,
    otlp::{logs, status},
    statuses,
};
use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest},
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::{metric::Data, number_data_point},
};

/// A topic partition, as the kafka receiver names it.
pub type Origin = (String, String);

/// One thing read from a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A signal to ingest.
    Signal {
        signal: Signal,
        /// Replayed after a takeover: ingest at its own time, notify nobody.
        replay: bool,
        /// The topic partition it was read from (kafka receiver only).
        origin: Option<Origin>,
    },
    /// Partitions taken away: forget what came from them.
    Revoked {
        topic: String,
        partitions: Vec<String>,
    },
    /// Partitions given: their history follows as replayed records.
    Assigned {
        topic: String,
        partitions: Vec<String>,
    },
    /// A record that claims to be a signal or a control record but does not decode.
    Bad(String),
}

fn value_of<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::BoolValue(b)) => *b,
        Some(Value::StringValue(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn partition_ids(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::ArrayValue(list) => list
            .values
            .iter()
            .map(|AnyValue { value }| text(value.as_ref()))
            .collect(),
        Value::StringValue(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Value::IntValue(i) => Some(vec![i.to_string()]),
        _ => None,
    }
}

/// Reads every signal and control record of a logs request, in order. Records that are
/// neither (other applications' logs) are skipped.
pub fn read_logs(request: &ExportLogsServiceRequest, out: &mut Vec<Item>) {
    for resource_logs in &request.resource_logs {
        let resource = resource_logs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let origin = match (
            text(value_of(resource, TOPIC)),
            text(value_of(resource, PARTITION)),
        ) {
            (Some(topic), Some(partition)) => Some((topic, partition)),
            _ => None,
        };
        for record in resource_logs.scope_logs.iter().flat_map(|s| &s.log_records) {
            match record.event_name.as_str() {
                logs_name if logs_name == kafka_obs_signal::otlp::EVENT_NAME => {
                    match logs::from_log_record(record) {
                        Ok(signal) => out.push(Item::Signal {
                            signal,
                            replay: truthy(value_of(&record.attributes, REPLAY)),
                            origin: origin.clone(),
                        }),
                        Err(e) => out.push(Item::Bad(e.to_string())),
                    }
                }
                REVOKED | ASSIGNED => {
                    let topic = text(value_of(&record.attributes, TOPIC))
                        .or_else(|| text(value_of(resource, TOPIC)));
                    let partitions = partition_ids(value_of(&record.attributes, PARTITION_IDS));
                    match (topic, partitions) {
                        (Some(topic), Some(partitions)) => {
                            out.push(if record.event_name == REVOKED {
                                Item::Revoked { topic, partitions }
                            } else {
                                Item::Assigned { topic, partitions }
                            });
                        }
                        _ => out.push(Item::Bad(format!(
                            "{} record without {TOPIC} (string) and {PARTITION_IDS} (array of strings)",
                            record.event_name
                        ))),
                    }
                }
                _ => {}
            }
        }
    }
}

/// Reads the `kafka_obs.status` gauge of a metrics request as Statuses signals (one per
/// point), so a sidecar that sends only its status gauge still feeds the tree. Other metrics
/// are skipped.
pub fn read_status_gauge(request: &ExportMetricsServiceRequest, out: &mut Vec<Item>) {
    for resource_metrics in &request.resource_metrics {
        let resource = resource_metrics
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let source = text(value_of(resource, "service.instance.id")).unwrap_or_default();
        for metric in resource_metrics
            .scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == status::STATUS_METRIC)
        {
            let Some(Data::Gauge(gauge)) = &metric.data else {
                out.push(Item::Bad(format!("{} is not a gauge", metric.name)));
                continue;
            };
            for point in &gauge.data_points {
                match status_point(
                    &point.attributes,
                    point.value.as_ref(),
                    point.time_unix_nano,
                ) {
                    Ok(signal) => out.push(Item::Signal {
                        signal: signal.from_source(source.clone()),
                        replay: false,
                        origin: None,
                    }),
                    Err(e) => out.push(Item::Bad(e)),
                }
            }
        }
    }
}

fn status_point(
    attributes: &[KeyValue],
    value: Option<&number_data_point::Value>,
    time: u64,
) -> Result<Signal, String> {
    let mut pairs = Vec::new();
    for kv in attributes {
        if let Some(level) = kv.key.strip_prefix(status::attr::SUBJECT_LEVEL_PREFIX) {
            let v = text(kv.value.as_ref().and_then(|v| v.value.as_ref()))
                .ok_or_else(|| format!("{}: not a string", kv.key))?;
            pairs.push((level.to_string(), v));
        }
    }
    let subject = Subject::from_pairs(pairs).map_err(|e| e.to_string())?;
    let sign: statuses::Sign = match text(value_of(attributes, status::attr::STATUS)) {
        Some(name) => name.parse().map_err(|e| format!("{e}"))?,
        None => {
            let rank = match value {
                Some(number_data_point::Value::AsInt(i)) => u8::try_from(*i).ok(),
                Some(number_data_point::Value::AsDouble(d)) if d.is_finite() && *d >= 0.0 => {
                    u8::try_from(d.round() as i64).ok()
                }
                _ => None,
            };
            rank.and_then(statuses::Sign::from_rank)
                .ok_or("a status point without a status attribute or a rank 0-6")?
        }
    };
    let confidence: statuses::Confidence =
        match text(value_of(attributes, status::attr::CONFIDENCE)) {
            Some(name) => name.parse().map_err(|e| format!("{e}"))?,
            None => statuses::Confidence::Tentative,
        };
    let rule = text(value_of(attributes, status::attr::RULE)).unwrap_or_else(|| "status".into());
    Ok(Signal::new(
        subject,
        SignalKind::Statuses(sign, confidence),
        Evidence::rule(rule),
        time,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kafka_obs_signal::otlp::ExportResource;
    use opentelemetry_proto::tonic::{
        common::v1::ArrayValue,
        logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
        resource::v1::Resource,
    };

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn degraded() -> Signal {
        Signal::new(
            "cluster=prod/broker=2".parse().unwrap(),
            SignalKind::Statuses(statuses::Sign::Degraded, statuses::Confidence::Confirmed),
            Evidence::rule("B1").with("under_replicated", 2.0),
            77,
        )
        .from_source("b2")
    }

    #[test]
    fn signals_with_origin_and_replay_and_control_records() {
        let mut request = logs::to_export_request([&degraded()], &ExportResource::default());
        let rl = &mut request.resource_logs[0];
        if let Some(r) = rl.resource.as_mut() {
            r.attributes
                .push(kv(TOPIC, Value::StringValue("__kafka-obs-signals".into())));
            r.attributes
                .push(kv(PARTITION, Value::StringValue("2".into())));
        }
        let mut replayed = rl.scope_logs[0].log_records[0].clone();
        replayed.attributes.push(kv(REPLAY, Value::BoolValue(true)));
        rl.scope_logs[0].log_records.push(replayed);
        let mut broken = rl.scope_logs[0].log_records[0].clone();
        broken.attributes.retain(|a| a.key != "signal.sign");
        rl.scope_logs[0].log_records.push(broken);
        rl.scope_logs[0].log_records.push(LogRecord {
            event_name: "something.else".into(),
            ..Default::default()
        });
        request.resource_logs.push(ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        event_name: REVOKED.into(),
                        attributes: vec![
                            kv(TOPIC, Value::StringValue("t".into())),
                            kv(
                                PARTITION_IDS,
                                Value::ArrayValue(ArrayValue {
                                    values: vec![
                                        AnyValue {
                                            value: Some(Value::StringValue("0".into())),
                                        },
                                        AnyValue {
                                            value: Some(Value::StringValue("2".into())),
                                        },
                                    ],
                                }),
                            ),
                        ],
                        ..Default::default()
                    },
                    LogRecord {
                        event_name: ASSIGNED.into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut items = Vec::new();
        read_logs(&request, &mut items);
        assert_eq!(items.len(), 5, "{items:?}");
        let origin = Some(("__kafka-obs-signals".to_string(), "2".to_string()));
        assert_eq!(
            items[0],
            Item::Signal {
                signal: degraded(),
                replay: false,
                origin: origin.clone()
            }
        );
        assert!(matches!(&items[1], Item::Signal { replay: true, origin: o, .. } if *o == origin));
        assert!(matches!(&items[2], Item::Bad(m) if m.contains("signal.sign")));
        assert_eq!(
            items[3],
            Item::Revoked {
                topic: "t".into(),
                partitions: vec!["0".into(), "2".into()]
            }
        );
        assert!(matches!(&items[4], Item::Bad(m) if m.contains(PARTITION_IDS)));
    }

    #[test]
    fn the_status_gauge_reads_as_statuses_signals() {
        let s = degraded();
        let metric = status::status_gauge_from_signals([&s]).unwrap();
        let request = status::to_metrics_request(metric, "b2", &ExportResource::default());
        let mut items = Vec::new();
        read_status_gauge(&request, &mut items);
        let [Item::Signal { signal, .. }] = items.as_slice() else {
            panic!("{items:?}");
        };
        assert_eq!(signal.subject, s.subject);
        assert_eq!(signal.kind, s.kind);
        assert_eq!(signal.evidence.rule, "B1");
        assert_eq!(signal.source_id, "b2");
        assert_eq!(signal.time_unix_nano, 77);
    }
}
