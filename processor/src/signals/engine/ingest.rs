//! Pass 1 of an evaluation: the dispatch table (metric name -> the rows that read it) and
//! storing each data point of a read metric in its row, creating the row (and its subject) on
//! first sight. The hot path: one hash lookup per metric, no allocation per point once a row
//! exists.

use std::collections::HashMap;

use kafka_obs_signal::Attributes;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, number_data_point};

use super::Engine;
use super::rows::{Row, RowState};
use super::subjects::{SubjectState, subject_id};
use crate::signals::config::SignalsConfig;
use crate::signals::packs::{
    Input, Reader, broker, consumer, container, jvm, kafka_admin, producer, targets,
};
use crate::signals::state::{IdBuild, hash_attrs, row_key};
use crate::signals::user;
use crate::signals::user::config::UserKind;

#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub(super) reader: Reader,
    pub(super) slot: u8,
    pub(super) only_if: Option<(&'static str, &'static str)>,
}

/// The dispatch table: metric name -> the rows (and slots) that read it, from the enabled
/// packs' metric-name tables and the user rules.
pub(super) fn dispatch_table(config: &SignalsConfig) -> HashMap<String, Vec<Route>, IdBuild> {
    let mut dispatch: HashMap<String, Vec<Route>, IdBuild> = HashMap::default();
    let mut add = |metric: &str, route: Route| {
        dispatch.entry(metric.to_string()).or_default().push(route);
    };
    let packs = config.packs;
    let tables: [(&[Input], bool); 7] = [
        (producer::METRICS, packs.producer.is_some()),
        (consumer::METRICS, packs.consumer.is_some()),
        (broker::METRICS, packs.broker.is_some()),
        (jvm::METRICS, packs.jvm.is_some()),
        (targets::METRICS, packs.targets.is_some()),
        (container::METRICS, packs.container.is_some()),
        (kafka_admin::METRICS, packs.kafka_admin.is_some()),
    ];
    for (table, on) in tables {
        for input in table.iter().filter(|_| on) {
            add(
                input.metric,
                Route {
                    reader: input.reader,
                    slot: input.slot,
                    only_if: input.only_if,
                },
            );
        }
    }
    for (i, rule) in config.rules.iter().enumerate() {
        let reader = Reader::User(i as u16);
        add(
            &rule.metric,
            Route {
                reader,
                slot: user::METRIC,
                only_if: None,
            },
        );
        if let UserKind::Ratio { denominator, .. } = &rule.kind {
            add(
                denominator,
                Route {
                    reader,
                    slot: user::DENOMINATOR,
                    only_if: None,
                },
            );
        }
    }
    dispatch
}

impl Engine {
    pub(super) fn ingest(
        &mut self,
        routes: &[Route],
        resource: &[KeyValue],
        resource_hash: u64,
        point: &NumberDataPoint,
        now: u64,
    ) {
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => f64::NAN,
        };
        self.stats.points += 1;
        if !value.is_finite() {
            self.stats.no_reading += 1;
        }
        let time = if point.time_unix_nano > 0 {
            point.time_unix_nano
        } else {
            now
        };
        let attrs_hash = hash_attrs(&point.attributes);
        for route in routes {
            if let Some((key, want)) = route.only_if
                && point.attributes.attribute(key).as_deref() != Some(want)
            {
                continue;
            }
            if let Reader::User(i) = route.reader {
                let Some(rule) = self.config.rules.get(usize::from(i)) else {
                    continue;
                };
                if !rule
                    .matches
                    .iter()
                    .all(|(k, v)| point.attributes.attribute(k).as_deref() == Some(v.as_str()))
                {
                    continue;
                }
            }
            let key = row_key(resource_hash, attrs_hash, route.reader.tag());
            if !self.rows.contains_key(&key)
                && !self.create_row(key, route.reader, resource, resource_hash, point)
            {
                continue;
            }
            let Some(row) = self.rows.get_mut(&key) else {
                continue;
            };
            if row.epoch != self.epoch {
                row.epoch = self.epoch;
                row.fresh = 0;
                row.time = time;
                self.touched_rows.push(key);
            } else {
                row.time = row.time.max(time);
            }
            row.last_seen = now;
            if value.is_finite() {
                let slot = route.slot;
                if let Some(v) = row.state.vals_mut().get_mut(usize::from(slot)) {
                    *v = value;
                    row.fresh |= 1 << slot;
                    row.seen |= 1 << slot;
                }
            }
        }
    }

    pub(super) fn create_row(
        &mut self,
        key: u64,
        reader: Reader,
        resource: &[KeyValue],
        resource_hash: u64,
        point: &NumberDataPoint,
    ) -> bool {
        if self.rows.len() >= self.config.max_series {
            self.stats.refused_series += 1;
            let max = self.config.max_series;
            self.warn_once(63, || {
                tracing::warn!(
                    max_series = max,
                    "signals: series limit reached; new series are ignored (counted)"
                );
            });
            return false;
        }
        let mut subject = self.builder.build(resource, &point.attributes);
        if reader == Reader::Target && subject.is_root() {
            let name = targets::TARGET_KEYS.iter().find_map(|k| {
                point
                    .attributes
                    .attribute(k)
                    .or_else(|| resource.attribute(k))
                    .map(|v| v.into_owned())
            });
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                let _ = subject.push("target", name);
            }
        }
        if reader == Reader::AdminGroupClient && subject.get(kafka_admin::CLIENT_LEVEL).is_none() {
            // A member's client id is the `client` level, as on the sidecars' client cells.
            let Some(client) = kafka_admin::client_id(&point.attributes) else {
                return false;
            };
            let _ = subject.push(kafka_admin::CLIENT_LEVEL, client);
        }
        let sid = subject_id(&subject);
        let state = match reader {
            Reader::Producer => RowState::Producer(Box::default()),
            Reader::Consumer => RowState::Consumer(Box::default()),
            Reader::Partition => RowState::Partition(Box::new(consumer::PartitionRow::new(
                resource_hash,
                &point.attributes,
            ))),
            Reader::Heap => RowState::Heap(Box::default()),
            Reader::Gc => RowState::Gc(Box::default()),
            Reader::Broker => RowState::Broker(Box::default()),
            Reader::Isr => RowState::Isr(Box::default()),
            Reader::Request => RowState::Request(Box::default()),
            Reader::Target => RowState::Target(Box::default()),
            Reader::Container => RowState::Container(Box::default()),
            Reader::AdminGroupPartition => RowState::AdminGroupPartition(Box::new(
                kafka_admin::GroupPartitionRow::new(resource_hash, &point.attributes),
            )),
            Reader::AdminGroup => RowState::AdminGroup(Box::default()),
            Reader::AdminPartition => RowState::AdminPartition(Box::default()),
            Reader::AdminCluster => RowState::AdminCluster(Box::default()),
            Reader::AdminGroupClient => RowState::AdminGroupClient(Box::default()),
            Reader::AdminBroker => RowState::AdminBroker(Box::default()),
            Reader::User(i) => RowState::User(i, Box::default()),
            // No metric feeds log rows; they are made by `logs.rs`.
            Reader::Exception | Reader::ErrorRate => return false,
        };
        let attributes = point
            .attributes
            .iter()
            .filter(|kv| !self.level_keys.contains(&kv.key))
            .filter_map(|kv| {
                let v = point.attributes.attribute(&kv.key)?;
                Some((kv.key.clone(), v.into_owned()))
            })
            .collect();
        self.subjects
            .entry(sid)
            .or_insert_with(|| SubjectState::new(subject))
            .rows += 1;
        self.rows.insert(key, Row::new(sid, attributes, state, 0));
        true
    }
}
