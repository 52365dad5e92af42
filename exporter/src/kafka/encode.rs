//! Batches as Kafka records: one record per resource (so a source's data is one keyed stream),
//! encoded as `otlp_proto` (an `Export*ServiceRequest` in protobuf) or `otlp_json` (the same
//! request as OTLP/JSON) by `kafka_obs_kafka_client::record`, which is what the `kafka` receiver
//! and OpenTelemetry's kafkareceiver read. A record over the
//! size limit is split in halves until each part fits; a single item that cannot fit is
//! refused with its size.
//!
//! Signal events are keyed by the cluster of their subject by default (`key_by: cluster`), so
//! every signal about one cluster lands on one partition and a central consumer group gives
//! each cluster to exactly one instance; a resource whose signals name several clusters
//! becomes one record per cluster.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use serde::Deserialize;

use kafka_obs_api::Batch;
use kafka_obs_kafka_client::{Encoding, record};
use kafka_obs_signal::Subject;
use kafka_obs_signal::otlp::attr;
use kafka_obs_signal::otlp::logs::is_signal_record;

use crate::resource_split::{attribute_text, per_resource, resource_identity};

/// Bytes a record needs beyond key and value (record header, batch share); kept generous
/// so a record we accept is never refused by the broker for size.
pub const RECORD_OVERHEAD: usize = 128;

/// One record ready to produce, with the part of the batch it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub batch: Batch,
}

/// A single item that cannot fit in one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Oversized {
    pub bytes: usize,
    pub batch: Batch,
}

/// What a record's key is, before `partition_*_by_resource_attributes` (which wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    /// The source (`service.instance.id`), else all resource attributes.
    #[default]
    Source,
    /// Signal events: the `cluster` level of their subject; other records as `source`.
    Cluster,
}

/// How records are keyed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keying {
    /// `partition_*_by_resource_attributes`: the key is every resource attribute.
    pub by_resource_attributes: bool,
    /// `key_by`.
    pub key_by: KeyBy,
}

/// The record key of a resource: its source (`service.instance.id`, the signal source id)
/// when present, else (or with `by_resource_attributes`) all its attributes.
pub fn record_key(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
    keying: &Keying,
) -> String {
    if !keying.by_resource_attributes
        && let Some(source) = resource.and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.instance.id")
                .and_then(|kv| attribute_text(kv.value.as_ref()))
        })
    {
        return source;
    }
    resource_identity(resource, &[])
}

/// The records of `batch`, each at most `max_bytes`, plus the items that cannot fit.
pub fn records(
    batch: Batch,
    encoding: Encoding,
    keying: &Keying,
    max_bytes: usize,
) -> Result<(Vec<Record>, Vec<Oversized>), String> {
    let mut out = Vec::new();
    let mut oversized = Vec::new();
    for part in per_resource(batch) {
        let key = record_key(part.resource.as_ref(), keying);
        let by_cluster = keying.key_by == KeyBy::Cluster && !keying.by_resource_attributes;
        let parts = if by_cluster {
            split_by_cluster(part.batch)
        } else {
            vec![(None, part.batch)]
        };
        for (cluster, batch) in parts {
            let key = cluster.unwrap_or_else(|| key.clone()).into_bytes();
            fit(batch, &key, encoding, max_bytes, &mut out, &mut oversized)?;
        }
    }
    Ok((out, oversized))
}

/// The `cluster` of a signal event's subject, if it is one and has one.
pub fn cluster_of(record: &LogRecord) -> Option<String> {
    if !is_signal_record(record) {
        return None;
    }
    let text = |key: &str| {
        record
            .attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| attribute_text(a.value.as_ref()))
    };
    let subject = Subject::from_paths(&text(attr::SUBJECT_LEVELS)?, &text(attr::SUBJECT)?).ok()?;
    subject.get("cluster").map(str::to_string)
}

/// A one-resource logs batch as one batch per cluster of its signal events (in order of first
/// appearance; records without a cluster form their own group, keyed `None`). Scopes are kept.
fn split_by_cluster(batch: Batch) -> Vec<(Option<String>, Batch)> {
    let Batch::Logs(request) = batch else {
        return vec![(None, batch)];
    };
    let mut clusters: Vec<Option<String>> = Vec::new();
    for record in request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
    {
        let c = cluster_of(record);
        if !clusters.contains(&c) {
            clusters.push(c);
        }
    }
    if clusters.len() <= 1 {
        let key = clusters.pop().flatten();
        return vec![(key, Batch::Logs(request))];
    }
    let mut groups: Vec<(Option<String>, ExportLogsServiceRequest)> = clusters
        .into_iter()
        .map(|c| (c, ExportLogsServiceRequest::default()))
        .collect();
    for rl in request.resource_logs {
        let ResourceLogs {
            resource,
            scope_logs,
            schema_url,
        } = rl;
        for sl in scope_logs {
            let ScopeLogs {
                scope,
                log_records,
                schema_url: scope_schema,
            } = sl;
            for record in log_records {
                let c = cluster_of(&record);
                let Some((_, group)) = groups.iter_mut().find(|(k, _)| *k == c) else {
                    continue;
                };
                if group.resource_logs.is_empty() {
                    group.resource_logs.push(ResourceLogs {
                        resource: resource.clone(),
                        scope_logs: Vec::new(),
                        schema_url: schema_url.clone(),
                    });
                }
                let rl = &mut group.resource_logs[0];
                let same_scope = rl
                    .scope_logs
                    .last()
                    .is_some_and(|s| s.scope == scope && s.schema_url == scope_schema);
                if !same_scope {
                    rl.scope_logs.push(ScopeLogs {
                        scope: scope.clone(),
                        log_records: Vec::new(),
                        schema_url: scope_schema.clone(),
                    });
                }
                if let Some(s) = rl.scope_logs.last_mut() {
                    s.log_records.push(record);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|(c, r)| (c, Batch::Logs(r)))
        .collect()
}

fn fit(
    batch: Batch,
    key: &[u8],
    encoding: Encoding,
    max_bytes: usize,
    out: &mut Vec<Record>,
    oversized: &mut Vec<Oversized>,
) -> Result<(), String> {
    let value = record::encode(&batch, encoding).map_err(|e| e.to_string())?;
    let size = value.len() + key.len() + RECORD_OVERHEAD;
    if size <= max_bytes {
        out.push(Record {
            key: key.to_vec(),
            value,
            batch,
        });
        return Ok(());
    }
    let items = batch.item_count();
    if items <= 1 {
        oversized.push(Oversized { bytes: size, batch });
        return Ok(());
    }
    let mut rest = batch;
    let Some(front) = rest.split_off_front(items / 2) else {
        oversized.push(Oversized {
            bytes: size,
            batch: rest,
        });
        return Ok(());
    };
    fit(front, key, encoding, max_bytes, out, oversized)?;
    fit(rest, key, encoding, max_bytes, out, oversized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        })
    }

    fn batch(sources: &[&str], per: usize, body: usize) -> Batch {
        Batch::Logs(ExportLogsServiceRequest {
            resource_logs: sources
                .iter()
                .map(|src| ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![
                            KeyValue {
                                key: "service.name".into(),
                                value: s("kafka-obs"),
                                ..Default::default()
                            },
                            KeyValue {
                                key: "service.instance.id".into(),
                                value: s(src),
                                ..Default::default()
                            },
                        ],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs {
                        log_records: (0..per)
                            .map(|i| LogRecord {
                                time_unix_nano: i as u64,
                                body: s(&"x".repeat(body)),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        })
    }

    #[test]
    fn one_record_per_source_keyed_by_source() {
        let (recs, over) = records(
            batch(&["a", "b"], 3, 10),
            Encoding::OtlpProto,
            &Keying::default(),
            1 << 20,
        )
        .unwrap();
        assert!(over.is_empty());
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].key, b"a");
        assert_eq!(recs[1].batch.item_count(), 3);
        let keyed = Keying {
            by_resource_attributes: true,
            key_by: KeyBy::Cluster,
        };
        let (recs, _) = records(batch(&["a"], 1, 1), Encoding::OtlpJson, &keyed, 1 << 20).unwrap();
        assert_eq!(recs[0].key, b"service.instance.id=a,service.name=kafka-obs");
        assert!(recs[0].value.starts_with(b"{\"resourceLogs\""));
    }

    #[test]
    fn oversized_records_split_and_single_items_are_refused() {
        let (recs, over) = records(
            batch(&["a"], 100, 100),
            Encoding::OtlpProto,
            &Keying::default(),
            2000,
        )
        .unwrap();
        assert!(over.is_empty());
        assert!(recs.len() > 5);
        assert!(
            recs.iter()
                .all(|r| r.value.len() + r.key.len() + RECORD_OVERHEAD <= 2000)
        );
        assert_eq!(
            recs.iter().map(|r| r.batch.item_count()).sum::<usize>(),
            100
        );
        let (recs, over) = records(
            batch(&["a"], 3, 5000),
            Encoding::OtlpProto,
            &Keying::default(),
            2000,
        )
        .unwrap();
        assert!(recs.is_empty());
        assert_eq!(over.len(), 3);
    }

    #[test]
    fn signal_events_are_keyed_by_their_cluster() {
        use kafka_obs_signal::otlp::ExportResource;
        use kafka_obs_signal::otlp::logs::{from_export_request, to_export_request};
        use kafka_obs_signal::{Evidence, Signal, Subject};
        let signal = |cluster: Option<&str>, seq: u64| {
            let mut pairs = vec![("client", "order-producer")];
            if let Some(c) = cluster {
                pairs.insert(0, ("cluster", c));
            }
            let mut s = Signal::new(
                Subject::from_pairs(pairs).unwrap(),
                "Queues.OVERFLOW".parse().unwrap(),
                Evidence::rule("P1"),
                seq,
            )
            .from_source("pod-a");
            s.sequence = seq;
            s
        };
        // One source, signals about two clusters and one without a cluster, interleaved.
        let signals = [
            signal(Some("east"), 1),
            signal(Some("west"), 2),
            signal(None, 3),
            signal(Some("east"), 4),
        ];
        let batch = Batch::Logs(to_export_request(&signals, &ExportResource::default()));
        let cluster_keyed = Keying {
            by_resource_attributes: false,
            key_by: KeyBy::Cluster,
        };
        let (recs, _) =
            records(batch.clone(), Encoding::OtlpProto, &cluster_keyed, 1 << 20).unwrap();
        let got: Vec<(String, Vec<u64>)> = recs
            .iter()
            .map(|r| {
                let Batch::Logs(req) = &r.batch else {
                    panic!("logs")
                };
                (
                    String::from_utf8(r.key.clone()).unwrap(),
                    from_export_request(req)
                        .unwrap()
                        .iter()
                        .map(|s| s.sequence)
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("east".to_string(), vec![1, 4]),
                ("west".to_string(), vec![2]),
                ("pod-a".to_string(), vec![3]),
            ]
        );
        // By source: one record, as before.
        let (recs, _) = records(batch, Encoding::OtlpProto, &Keying::default(), 1 << 20).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].key, b"pod-a");
    }
}
