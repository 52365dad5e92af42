//! Kafka records as batches, and the in-band control records of the scale-out protocol.
//!
//! A record's value is an OTLP `Export*ServiceRequest`, as protobuf (`otlp_proto`) or OTLP/JSON
//! (`otlp_json`), which is what the `kafka` exporter (and OpenTelemetry's) writes; it is read
//! with the exporter's own format, `kafka_obs_kafka_client::record`. Every
//! resource of a decoded record gets the topic and partition it was read from ([`TOPIC`],
//! [`PARTITION`]), so a consumer downstream knows which partition a cell's data came from;
//! a replayed record's log records get [`REPLAY`] = true. A partition rebalance is announced
//! with one log record per topic whose `event_name` is [`REVOKED`] or [`ASSIGNED`], with the
//! topic and the partitions ([`PARTITION_IDS`], an array of strings). The names are the
//! central side's too: `kafka_obs_signal::intake`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;

use kafka_obs_api::{Batch, DataKind};
use kafka_obs_kafka_client::{Encoding, RecordError};
use kafka_obs_signal::intake::{ASSIGNED, PARTITION, PARTITION_IDS, REPLAY, REVOKED, TOPIC};

fn string(v: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.into())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value,
        ..KeyValue::default()
    }
}

/// Sets `key` on a resource, replacing a value already there.
fn set(resource: &mut Option<Resource>, key: &str, value: &str) {
    let r = resource.get_or_insert_with(Resource::default);
    match r.attributes.iter_mut().find(|a| a.key == key) {
        Some(a) => a.value = string(value),
        None => r.attributes.push(kv(key, string(value))),
    }
}

/// Decodes one record's value as `kind`, labels its resources with where it came from, and
/// marks replayed log records.
pub(crate) fn decode(
    value: &[u8],
    kind: DataKind,
    encoding: Encoding,
    topic: &str,
    partition: i32,
    replay: bool,
) -> Result<Batch, RecordError> {
    let mut batch = kafka_obs_kafka_client::record::decode(value, kind, encoding)?;
    let partition = partition.to_string();
    let label = |resource: &mut Option<Resource>| {
        set(resource, TOPIC, topic);
        set(resource, PARTITION, &partition);
    };
    match &mut batch {
        Batch::Logs(r) => {
            for rl in &mut r.resource_logs {
                label(&mut rl.resource);
                if replay {
                    for record in rl.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
                        record.attributes.retain(|a| a.key != REPLAY);
                        record.attributes.push(kv(
                            REPLAY,
                            Some(AnyValue {
                                value: Some(Value::BoolValue(true)),
                            }),
                        ));
                    }
                }
            }
        }
        Batch::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|m| label(&mut m.resource)),
        Batch::Traces(r) => r
            .resource_spans
            .iter_mut()
            .for_each(|s| label(&mut s.resource)),
    }
    Ok(batch)
}

/// Which way partitions moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Movement {
    Assigned,
    Revoked,
}

/// The control record announcing that `partitions` of `topic` were assigned or revoked.
pub(crate) fn control(
    movement: Movement,
    topic: &str,
    partitions: &[i32],
    group: &str,
    receiver: &str,
) -> Batch {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let (event, verb) = match movement {
        Movement::Assigned => (ASSIGNED, "assigned to"),
        Movement::Revoked => (REVOKED, "revoked from"),
    };
    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
    let record = LogRecord {
        time_unix_nano: now,
        observed_time_unix_nano: now,
        severity_number: SeverityNumber::Info.into(),
        severity_text: "INFO".into(),
        body: string(format!(
            "partitions {} of {topic} {verb} this consumer (group {group})",
            list.join(",")
        )),
        attributes: vec![
            kv(TOPIC, string(topic)),
            kv(
                PARTITION_IDS,
                Some(AnyValue {
                    value: Some(Value::ArrayValue(ArrayValue {
                        values: list
                            .iter()
                            .map(|p| AnyValue {
                                value: Some(Value::StringValue(p.clone())),
                            })
                            .collect(),
                    })),
                }),
            ),
        ],
        event_name: event.to_string(),
        ..LogRecord::default()
    };
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", string("kafka-obs")),
                    kv("messaging.system", string("kafka")),
                    kv("messaging.consumer.group.name", string(group)),
                    kv(TOPIC, string(topic)),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: format!("kafka-obs/receiver/{receiver}"),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..InstrumentationScope::default()
                }),
                log_records: vec![record],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn logs() -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.instance.id", string("pod-a")),
                        kv(PARTITION, string("stale")),
                    ],
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord::default(), LogRecord::default()],
                    ..ScopeLogs::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn resources_learn_their_origin_and_replays_are_marked() {
        let bytes = logs().encode_to_vec();
        let Batch::Logs(live) =
            decode(&bytes, DataKind::Logs, Encoding::OtlpProto, "sig", 3, false).expect("decodes")
        else {
            panic!("logs");
        };
        let res = &live.resource_logs[0]
            .resource
            .as_ref()
            .expect("resource")
            .attributes;
        assert_eq!(attr(res, TOPIC), Some(&Value::StringValue("sig".into())));
        assert_eq!(attr(res, PARTITION), Some(&Value::StringValue("3".into())));
        assert_eq!(
            res.iter().filter(|a| a.key == PARTITION).count(),
            1,
            "replaced"
        );
        let records = &live.resource_logs[0].scope_logs[0].log_records;
        assert!(
            records
                .iter()
                .all(|r| attr(&r.attributes, REPLAY).is_none())
        );

        let Batch::Logs(replayed) =
            decode(&bytes, DataKind::Logs, Encoding::OtlpProto, "sig", 3, true).expect("decodes")
        else {
            panic!("logs");
        };
        let records = &replayed.resource_logs[0].scope_logs[0].log_records;
        assert!(
            records
                .iter()
                .all(|r| attr(&r.attributes, REPLAY) == Some(&Value::BoolValue(true)))
        );
    }

    #[test]
    fn control_records_name_topic_and_partitions() {
        let Batch::Logs(r) = control(Movement::Revoked, "sig", &[0, 3], "central", "kafka") else {
            panic!("logs");
        };
        let record = &r.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.event_name, REVOKED);
        assert_eq!(
            attr(&record.attributes, TOPIC),
            Some(&Value::StringValue("sig".into()))
        );
        let Some(Value::ArrayValue(ids)) = attr(&record.attributes, PARTITION_IDS) else {
            panic!("ids");
        };
        let ids: Vec<_> = ids.values.iter().filter_map(|v| v.value.clone()).collect();
        assert_eq!(
            ids,
            [
                Value::StringValue("0".into()),
                Value::StringValue("3".into())
            ]
        );
    }
}
