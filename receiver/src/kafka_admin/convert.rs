//! A [`Snapshot`] to OTLP gauges with the names of the shared contract
//! ([`kafka_obs_kafka_client::admin_metrics`]); every point carries the poll time. Each batch
//! also has `kafka_obs.target.up` (1 after a poll that read the metadata, 0 after one that
//! failed), as the `jmx` receiver reports its targets, so a cluster that cannot be read is a
//! fact downstream and not an absence.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use kafka_obs_kafka_client::admin_metrics as m;

use super::poll::Snapshot;
use crate::jmx::TARGET_UP;

/// The instrumentation scope of everything this receiver emits.
pub const SCOPE_NAME: &str = "kafka-obs/receiver/kafka_admin";

/// Who the points are about: the cluster's alias (or, without one, the id its brokers report,
/// else the bootstrap list) and the bootstrap brokers.
pub fn resource(alias: Option<&str>, cluster_id: Option<&str>, brokers: &[String]) -> Resource {
    let list = brokers.join(",");
    let cluster = alias.or(cluster_id).unwrap_or(&list).to_string();
    let mut attributes = vec![
        kv(m::RESOURCE_CLUSTER, text(&cluster)),
        kv(m::RESOURCE_BROKERS, text(&list)),
    ];
    if let Some(id) = cluster_id {
        attributes.push(kv(m::RESOURCE_CLUSTER_ID, text(id)));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// Gauges in the order they are first written.
#[derive(Default)]
struct Gauges {
    order: Vec<&'static str>,
    points: BTreeMap<&'static str, Vec<NumberDataPoint>>,
    now: u64,
}

impl Gauges {
    fn add(
        &mut self,
        name: &'static str,
        attributes: Vec<KeyValue>,
        value: number_data_point::Value,
    ) {
        let points = self.points.entry(name).or_insert_with(|| {
            self.order.push(name);
            Vec::new()
        });
        points.push(NumberDataPoint {
            attributes,
            time_unix_nano: self.now,
            value: Some(value),
            ..Default::default()
        });
    }

    fn int(&mut self, name: &'static str, attributes: Vec<KeyValue>, v: i64) {
        self.add(name, attributes, number_data_point::Value::AsInt(v));
    }

    fn metrics(mut self) -> Vec<Metric> {
        self.order
            .iter()
            .map(|&name| Metric {
                name: name.to_string(),
                unit: unit(name).to_string(),
                data: Some(Data::Gauge(Gauge {
                    data_points: self.points.remove(name).unwrap_or_default(),
                })),
                ..Default::default()
            })
            .collect()
    }
}

fn unit(name: &str) -> &'static str {
    match name {
        m::GROUP_TIME_LAG => "s",
        m::BROKERS => "{brokers}",
        m::TOPIC_PARTITIONS
        | m::GROUP_COMMITTED_PARTITIONS
        | m::GROUP_CLIENT_ASSIGNED_PARTITIONS
        | m::BROKER_PREFERRED_PARTITIONS
        | m::BROKER_PREFERRED_PARTITIONS_LED => "{partitions}",
        m::PARTITION_REPLICAS | m::PARTITION_REPLICAS_IN_SYNC | m::PARTITION_OFFLINE_REPLICAS => {
            "{replicas}"
        }
        m::GROUP_MEMBERS | m::GROUP_CLIENT_MEMBERS => "{members}",
        m::PARTITION_CURRENT_OFFSET
        | m::PARTITION_OLDEST_OFFSET
        | m::GROUP_OFFSET
        | m::GROUP_OFFSET_SUM
        | m::GROUP_LAG
        | m::GROUP_LAG_SUM => "1",
        _ => "",
    }
}

/// Per broker of the metadata: partitions it is the preferred replica of, and how many of
/// those it leads. A rule reads one row at a time, so the per-broker share is summed here, where
/// the whole metadata is at hand.
fn preferred_leaders(g: &mut Gauges, snapshot: &Snapshot) {
    let mut per_broker: BTreeMap<i32, (i64, i64)> =
        snapshot.brokers.iter().map(|b| (b.id, (0, 0))).collect();
    for p in snapshot.topics.iter().flat_map(|t| &t.partitions) {
        if let Some(&preferred) = p.replicas.first() {
            let counts = per_broker.entry(preferred).or_default();
            counts.0 += 1;
            counts.1 += i64::from(p.preferred_leader());
        }
    }
    for (broker, (preferred, led)) in per_broker {
        let attrs = || vec![kv(m::ATTR_BROKER_ID, int(i64::from(broker)))];
        g.int(m::BROKER_PREFERRED_PARTITIONS, attrs(), preferred);
        g.int(m::BROKER_PREFERRED_PARTITIONS_LED, attrs(), led);
    }
}

/// The batch of one successful poll.
pub fn snapshot_to_otlp(
    snapshot: &Snapshot,
    resource: Resource,
    up_endpoint: &str,
) -> ExportMetricsServiceRequest {
    let mut g = Gauges {
        now: snapshot.time_ns,
        ..Default::default()
    };
    g.int(TARGET_UP, vec![kv("endpoint", text(up_endpoint))], 1);
    g.int(m::BROKERS, Vec::new(), snapshot.brokers.len() as i64);
    g.int(m::CONTROLLER, Vec::new(), i64::from(snapshot.controller));
    for t in &snapshot.topics {
        g.int(
            m::TOPIC_PARTITIONS,
            vec![kv(m::ATTR_TOPIC, text(&t.name))],
            t.partitions.len() as i64,
        );
    }
    for t in &snapshot.topics {
        for p in &t.partitions {
            let attrs = || {
                vec![
                    kv(m::ATTR_TOPIC, text(&t.name)),
                    kv(m::ATTR_PARTITION, int(i64::from(p.index))),
                ]
            };
            if let Some(end) = p.end_offset {
                g.int(m::PARTITION_CURRENT_OFFSET, attrs(), end);
            }
            if let Some(oldest) = p.oldest_offset {
                g.int(m::PARTITION_OLDEST_OFFSET, attrs(), oldest);
            }
            g.int(m::PARTITION_REPLICAS, attrs(), p.replicas.len() as i64);
            g.int(m::PARTITION_REPLICAS_IN_SYNC, attrs(), p.isr.len() as i64);
            g.int(
                m::PARTITION_OFFLINE_REPLICAS,
                attrs(),
                p.offline.len() as i64,
            );
            g.int(m::PARTITION_LEADER, attrs(), i64::from(p.leader));
            g.int(
                m::PARTITION_PREFERRED_LEADER,
                attrs(),
                i64::from(p.preferred_leader()),
            );
        }
    }
    preferred_leaders(&mut g, snapshot);
    for group in &snapshot.groups {
        let by_group = || vec![kv(m::ATTR_GROUP, text(&group.id))];
        if group.described {
            g.int(m::GROUP_MEMBERS, by_group(), group.members.len() as i64);
            let mut state = by_group();
            state.push(kv(m::ATTR_STATE, text(&group.state)));
            g.int(m::GROUP_STATE, state, 1);
            let mut clients: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
            for member in &group.members {
                let c = clients
                    .entry((member.client_id.as_str(), member.host.as_str()))
                    .or_default();
                c.0 += 1;
                c.1 += member.assigned as i64;
            }
            for ((client, host), (members, assigned)) in clients {
                let attrs = || {
                    vec![
                        kv(m::ATTR_GROUP, text(&group.id)),
                        kv(m::ATTR_CLIENT_ID, text(client)),
                        kv(m::ATTR_CLIENT_HOST, text(host)),
                    ]
                };
                g.int(m::GROUP_CLIENT_MEMBERS, attrs(), members);
                g.int(m::GROUP_CLIENT_ASSIGNED_PARTITIONS, attrs(), assigned);
            }
        }
        g.int(
            m::GROUP_COMMITTED_PARTITIONS,
            by_group(),
            group.committed.len() as i64,
        );
        let mut sums: BTreeMap<&str, (i64, Option<i64>)> = BTreeMap::new();
        let mut committed: Vec<_> = group.committed.iter().collect();
        committed.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        for c in committed {
            let attrs = || {
                vec![
                    kv(m::ATTR_GROUP, text(&group.id)),
                    kv(m::ATTR_TOPIC, text(&c.topic)),
                    kv(m::ATTR_PARTITION, int(i64::from(c.partition))),
                ]
            };
            g.int(m::GROUP_OFFSET, attrs(), c.offset);
            let sum = sums.entry(c.topic.as_str()).or_default();
            sum.0 += c.offset;
            if let Some(lag) = c.lag {
                g.int(m::GROUP_LAG, attrs(), lag);
                sum.1 = Some(sum.1.unwrap_or(0) + lag);
            }
            if let Some(seconds) = c.time_lag_seconds {
                g.add(
                    m::GROUP_TIME_LAG,
                    attrs(),
                    number_data_point::Value::AsDouble(seconds),
                );
            }
        }
        for (topic, (offsets, lag)) in sums {
            let attrs = || {
                vec![
                    kv(m::ATTR_GROUP, text(&group.id)),
                    kv(m::ATTR_TOPIC, text(topic)),
                ]
            };
            g.int(m::GROUP_OFFSET_SUM, attrs(), offsets);
            if let Some(lag) = lag {
                g.int(m::GROUP_LAG_SUM, attrs(), lag);
            }
        }
    }
    request(resource, g.metrics())
}

/// The batch of a failed poll: only `kafka_obs.target.up` = 0.
pub fn failed_poll(
    resource: Resource,
    up_endpoint: &str,
    now_ns: u64,
) -> ExportMetricsServiceRequest {
    let mut g = Gauges {
        now: now_ns,
        ..Default::default()
    };
    g.int(TARGET_UP, vec![kv("endpoint", text(up_endpoint))], 0);
    request(resource, g.metrics())
}

fn request(resource: Resource, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
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
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_string())
}

fn int(i: i64) -> any_value::Value {
    any_value::Value::IntValue(i)
}
