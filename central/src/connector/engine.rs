//! The engine's task state: the engine and what the task keeps beside it, the intake of a
//! parcel's signals and control records (revocations drop clusters), and the answers to the
//! API's questions.

use std::collections::{BTreeSet, HashMap};

use kafka_obs_cells::{Event, Hierarchy, Ingested, cluster_key};
use kafka_obs_signal::Signal;
use kafka_obs_signal::otlp::ExportResource;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::mpsc;

use super::counters::Counters;
use super::federation::Federation;
use crate::api::{Answer, Ask, Health, Question, Snapshot};
use crate::config::HierarchyConnectorConfig;
use crate::input::{Item, Origin};
use crate::notify::{Notice, now_unix_nano};

/// The engine and what the task keeps beside it.
pub(super) struct Core {
    pub(super) h: Hierarchy,
    pub(super) settings: HierarchyConnectorConfig,
    pub(super) export: ExportResource,
    pub(super) counters: Counters,
    /// Federation, both sides.
    pub(super) federation: Federation,
    /// Which clusters came from which topic partition (scale-out).
    pub(super) origins: HashMap<Origin, BTreeSet<String>>,
    /// When a cell's situation last went back to NORMAL, by path (ends incident spans).
    pub(super) recovered: HashMap<String, u64>,
    pub(super) notices: Option<mpsc::Sender<Notice>>,
    /// Outputs of the parcel (or tick) being handled.
    pub(super) logs: Vec<Signal>,
    pub(super) traces: Vec<ExportTraceServiceRequest>,
    pub(super) events: Vec<Event>,
    pub(super) items: Vec<Item>,
    pub(super) dirty: bool,
    pub(super) version: u64,
    pub(super) last_signal: Option<u64>,
    pub(super) bad_records: u64,
    pub(super) dropped_clusters: u64,
    pub(super) opened_seen: u64,
    pub(super) closed_seen: u64,
}

impl Core {
    /// A fresh state around a new engine.
    pub(super) fn new(
        h: Hierarchy,
        settings: HierarchyConnectorConfig,
        counters: Counters,
    ) -> Self {
        Self {
            h,
            federation: Federation::new(&settings),
            settings,
            export: ExportResource::default(),
            counters,
            origins: HashMap::new(),
            recovered: HashMap::new(),
            notices: None,
            logs: Vec::new(),
            traces: Vec::new(),
            events: Vec::new(),
            items: Vec::new(),
            dirty: true,
            version: 0,
            last_signal: None,
            bad_records: 0,
            dropped_clusters: 0,
            opened_seen: 0,
            closed_seen: 0,
        }
    }

    pub(super) fn source_id(&self) -> &str {
        &self.settings.engine.source_id
    }

    /// Ingests what was read from one parcel.
    pub(super) fn ingest_items(&mut self) {
        let items = std::mem::take(&mut self.items);
        for item in &items {
            match item {
                Item::Signal {
                    signal,
                    replay,
                    origin,
                } => {
                    let arrival = now_unix_nano();
                    let now = if *replay && signal.time_unix_nano != 0 {
                        self.counters.replayed.inc();
                        signal.time_unix_nano
                    } else {
                        arrival
                    };
                    self.last_signal = Some(arrival);
                    if let Some(origin) = origin {
                        let cluster = cluster_key(&signal.subject);
                        let set = self.origins.entry(origin.clone()).or_default();
                        if !set.contains(cluster) {
                            set.insert(cluster.to_string());
                        }
                    }
                    if !self.admit_federated(signal, arrival) {
                        continue;
                    }
                    match self.h.ingest_into(signal, now, &mut self.events) {
                        Ingested::Applied => self.counters.applied.inc(),
                        Ingested::NoReading => self.counters.no_reading.inc(),
                        Ingested::Refused => self.counters.refused.inc(),
                    }
                    self.handle_events(*replay);
                }
                Item::Revoked { topic, partitions } => self.revoke(topic, partitions),
                Item::Assigned { topic, partitions } => {
                    tracing::info!(topic = %topic, partitions = ?partitions, "hierarchy: partitions assigned; their history is replayed");
                }
                Item::Bad(reason) => {
                    self.counters.bad_records.inc();
                    self.bad_records += 1;
                    tracing::warn!(reason = %reason, "hierarchy: skipped a record that does not decode");
                }
            }
        }
        self.items = items;
        self.items.clear();
    }

    pub(super) fn revoke(&mut self, topic: &str, partitions: &[String]) {
        let mut clusters = BTreeSet::new();
        for p in partitions {
            self.counters.revoked_partitions.inc();
            if let Some(set) = self.origins.remove(&(topic.to_string(), p.clone())) {
                clusters.extend(set);
            }
        }
        for cluster in clusters {
            let report = self.h.drop_cluster(&cluster);
            self.counters.dropped_clusters.inc();
            self.counters.dropped_cells.add(report.cells as u64);
            self.dropped_clusters += 1;
            self.dirty = true;
            tracing::info!(
                topic = %topic,
                cluster = %cluster,
                cells = report.cells,
                incidents = report.incidents,
                "hierarchy: partitions revoked; dropped the cluster (its new owner rebuilds it)"
            );
        }
        // Another partition may still feed a dropped cluster; it starts over from there.
        for set in self.origins.values_mut() {
            set.retain(|c| self.h.lookup(&cluster_subject(c)).is_some() || c.is_empty());
        }
    }

    pub(super) fn answer(&self, ask: Ask) {
        let answer = match ask.query {
            Question::Tree { subject, depth } => Answer::Tree(self.h.tree(&subject, depth)),
            Question::Cell(subject) => Answer::Cell(self.h.detail(&subject).map(Box::new)),
            Question::History(subject) => Answer::History(self.h.history(&subject)),
            Question::Incidents => Answer::Incidents(self.h.incidents()),
            Question::Federation => Answer::Federation(
                self.federation
                    .gate
                    .cells()
                    .map(|(path, cell)| (path.clone(), cell.clone()))
                    .collect(),
            ),
            Question::Incident(id) => Answer::Incident(self.h.incident(id).map(Box::new)),
            Question::Health => Answer::Health(Health {
                status: "ok",
                stats: self.h.stats(),
                last_signal_unix_nano: self.last_signal,
                bad_records: self.bad_records,
                dropped_clusters: self.dropped_clusters,
            }),
        };
        // The asker may have given up (timeout); nothing to do then.
        let _ = ask.reply.send(answer);
    }

    pub(super) fn snapshot(&mut self, depth: usize) -> Snapshot {
        self.version += 1;
        Snapshot::new(
            self.version,
            now_unix_nano(),
            self.h.tree(&kafka_obs_signal::Subject::root(), depth),
            self.h.incidents(),
            self.h.stats(),
        )
    }
}

fn cluster_subject(cluster: &str) -> kafka_obs_signal::Subject {
    kafka_obs_signal::Subject::from_pairs([("cluster", cluster)]).unwrap_or_default()
}
