//! One poll of a cluster, as the AdminClient would read it, into a [`Snapshot`]:
//!
//! 1. Metadata from a bootstrap broker: brokers, controller, cluster id, topics, partitions,
//!    leader, replicas, ISR, offline replicas.
//! 2. ListOffsets (earliest, latest) to each partition's leader.
//! 3. ListGroups to every broker: each lists the groups it coordinates, so the coordinator of
//!    every group is known without FindCoordinator.
//! 4. DescribeGroups (state, members, assignments) and OffsetFetch (every committed offset of
//!    the group; one request for all groups from OffsetFetch v8) to each coordinator.
//!
//! Only a failed Metadata fails the poll (there is nothing to report without it). Any other
//! failed request, broker error or reply that does not decode leaves out what it would have
//! told and is returned in [`Polled::failures`] to be counted and logged; the poll goes on.
//! A connection that failed is dropped and dialled afresh by the next poll. Brokers are asked
//! one after another; each request is bounded by `timeout`.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    BrokerId, ConsumerProtocolAssignment, DescribeGroupsRequest, GroupId, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetFetchRequest, TopicName,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    offset_fetch_request::OffsetFetchRequestGroup,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::config::NameFilter;
use super::connection::{AdminError, Connection, Dialer};
use super::time_lag::TimeLagTables;

/// The versions asked for: the flexible versions (Kafka 2.5 and later) up to the newest whose
/// fields this module reads; `reply_shape` knows each reply's shape at exactly these.
const METADATA_VERSION: (i16, i16) = (9, 12);
const LIST_OFFSETS_VERSION: (i16, i16) = (6, 7);
const LIST_GROUPS_VERSION: (i16, i16) = (3, 4);
const DESCRIBE_GROUPS_VERSION: (i16, i16) = (5, 5);
const OFFSET_FETCH_VERSION: (i16, i16) = (6, 8);
/// OffsetFetch asks for several groups at once from this version on.
const OFFSET_FETCH_BATCH: i16 = 8;
/// ListOffsets timestamps meaning "log start" and "log end".
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// A broker in the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub id: i32,
    pub address: String,
}

/// One partition as the metadata and ListOffsets describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub index: i32,
    /// Broker id; -1 when the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
    pub oldest_offset: Option<i64>,
    pub end_offset: Option<i64>,
}

impl Partition {
    /// The leader is the preferred replica (the first of the replica list).
    pub fn preferred_leader(&self) -> bool {
        self.leader >= 0 && self.replicas.first() == Some(&self.leader)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    pub partitions: Vec<Partition>,
}

/// A member of a group, as DescribeGroups gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub client_id: String,
    pub host: String,
    /// Partitions assigned to the member (consumer groups only).
    pub assigned: usize,
}

/// A committed offset of a group, with the lag it implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// End offset minus committed offset, at least 0; `None` without an end offset.
    pub lag: Option<i64>,
    pub time_lag_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<Member>,
    pub committed: Vec<Committed>,
    /// The DescribeGroups answer arrived (members and state are known).
    pub described: bool,
}

/// What one poll read.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub time_ns: u64,
    pub cluster_id: Option<String>,
    /// Broker id; -1 when none was reported.
    pub controller: i32,
    pub brokers: Vec<Broker>,
    pub topics: Vec<Topic>,
    pub groups: Vec<Group>,
}

/// A snapshot and what went wrong on the way without failing the poll.
#[derive(Debug)]
pub struct Polled {
    pub snapshot: Snapshot,
    pub failures: Vec<AdminError>,
}

/// Polls one cluster and keeps what it needs between polls: connections, time-lag tables.
#[derive(Debug)]
pub struct ClusterPoller {
    dialer: Dialer,
    bootstrap: Vec<String>,
    groups: NameFilter,
    topics: NameFilter,
    bootstrap_conn: Option<Connection>,
    conns: HashMap<i32, Connection>,
    tables: TimeLagTables,
}

impl ClusterPoller {
    pub fn new(
        dialer: Dialer,
        bootstrap: Vec<String>,
        groups: NameFilter,
        topics: NameFilter,
        time_lag_samples: usize,
    ) -> Self {
        Self {
            dialer,
            bootstrap,
            groups,
            topics,
            bootstrap_conn: None,
            conns: HashMap::new(),
            tables: TimeLagTables::new(time_lag_samples),
        }
    }

    /// Time-lag samples held (bounded by partitions × `time_lag.max_samples`).
    pub fn time_lag_samples(&self) -> usize {
        self.tables.samples()
    }

    /// One poll at `now_ns` (Unix nanoseconds, the points' timestamp).
    pub async fn poll(&mut self, now_ns: u64) -> Result<Polled, AdminError> {
        let mut failures = Vec::new();
        let (mut snapshot, addresses) = self.metadata(now_ns).await?;
        self.offsets(&mut snapshot.topics, &addresses, &mut failures)
            .await;
        for topic in &snapshot.topics {
            for p in &topic.partitions {
                if let Some(end) = p.end_offset {
                    self.tables.record(&topic.name, p.index, end, now_ns);
                }
            }
        }
        let present: HashMap<&str, Vec<i32>> = snapshot
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.partitions.iter().map(|p| p.index).collect(),
                )
            })
            .collect();
        self.tables
            .retain(|t, p| present.get(t).is_some_and(|ps| ps.contains(&p)));
        snapshot.groups = self.groups(&addresses, &mut failures).await;
        self.lag(&mut snapshot);
        // Connections to brokers that left the metadata are closed.
        self.conns.retain(|id, _| addresses.contains_key(id));
        Ok(Polled { snapshot, failures })
    }

    /// Metadata from the first bootstrap broker that answers.
    async fn metadata(
        &mut self,
        now_ns: u64,
    ) -> Result<(Snapshot, HashMap<i32, String>), AdminError> {
        let mut last_error = None;
        if self.bootstrap_conn.is_none() {
            for broker in &self.bootstrap {
                match self.dialer.connect(broker).await {
                    Ok(c) => {
                        self.bootstrap_conn = Some(c);
                        break;
                    }
                    Err(e) => last_error = Some(e),
                }
            }
        }
        let Some(conn) = self.bootstrap_conn.as_mut() else {
            return Err(last_error.unwrap_or_else(|| AdminError::Connect {
                broker: self.bootstrap.join(","),
                reason: "no broker to connect to".into(),
            }));
        };
        let mut request = MetadataRequest::default();
        // Null: every topic.
        request.topics = None;
        let reply = match conn.send(&request, METADATA_VERSION).await {
            Ok((reply, _)) => reply,
            Err(e) => {
                self.bootstrap_conn = None;
                return Err(e);
            }
        };
        let brokers: Vec<Broker> = reply
            .brokers
            .iter()
            .map(|b| Broker {
                id: b.node_id.0,
                address: format!("{}:{}", b.host.as_str(), b.port),
            })
            .collect();
        let addresses = brokers.iter().map(|b| (b.id, b.address.clone())).collect();
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
        let mut topics: Vec<Topic> = reply
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.as_str().to_string();
                self.topics.allows(&name).then_some((name, t))
            })
            .map(|(name, t)| {
                let mut partitions: Vec<Partition> = t
                    .partitions
                    .iter()
                    .map(|p| Partition {
                        index: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: ids(&p.replica_nodes),
                        isr: ids(&p.isr_nodes),
                        offline: ids(&p.offline_replicas),
                        oldest_offset: None,
                        end_offset: None,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.index);
                Topic { name, partitions }
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((
            Snapshot {
                time_ns: now_ns,
                cluster_id: reply.cluster_id.map(|c| c.as_str().to_string()),
                controller: reply.controller_id.0,
                brokers,
                topics,
                groups: Vec::new(),
            },
            addresses,
        ))
    }

    /// Log start and end offsets, asked of each partition's leader.
    async fn offsets(
        &mut self,
        topics: &mut [Topic],
        addresses: &HashMap<i32, String>,
        failures: &mut Vec<AdminError>,
    ) {
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for t in topics.iter() {
            for p in t.partitions.iter().filter(|p| p.leader >= 0) {
                by_leader
                    .entry(p.leader)
                    .or_default()
                    .entry(t.name.clone())
                    .or_default()
                    .push(p.index);
            }
        }
        let mut found: HashMap<(String, i32), (Option<i64>, Option<i64>)> = HashMap::new();
        for (leader, wanted) in by_leader {
            let Some(address) = addresses.get(&leader) else {
                continue;
            };
            for (timestamp, earliest) in [(EARLIEST, true), (LATEST, false)] {
                let request = list_offsets(&wanted, timestamp);
                let reply = match connection(&mut self.conns, &self.dialer, leader, address).await {
                    Ok(conn) => conn.send(&request, LIST_OFFSETS_VERSION).await,
                    Err(e) => Err(e),
                };
                let reply = match reply {
                    Ok((reply, _)) => reply,
                    Err(e) => {
                        self.conns.remove(&leader);
                        failures.push(e);
                        break;
                    }
                };
                for t in reply.topics {
                    for p in t.partitions.into_iter().filter(|p| p.error_code == 0) {
                        let slot = found
                            .entry((t.name.0.as_str().to_string(), p.partition_index))
                            .or_default();
                        if earliest {
                            slot.0 = Some(p.offset);
                        } else {
                            slot.1 = Some(p.offset);
                        }
                    }
                }
            }
        }
        for t in topics.iter_mut() {
            for p in &mut t.partitions {
                if let Some(&(oldest, end)) = found.get(&(t.name.clone(), p.index)) {
                    p.oldest_offset = oldest;
                    p.end_offset = end;
                }
            }
        }
    }

    /// Groups listed by every broker, described and with their committed offsets.
    async fn groups(
        &mut self,
        addresses: &HashMap<i32, String>,
        failures: &mut Vec<AdminError>,
    ) -> Vec<Group> {
        let mut groups = Vec::new();
        let mut ids: Vec<&i32> = addresses.keys().collect();
        ids.sort();
        for &id in ids {
            let address = &addresses[&id];
            match self.coordinator_groups(id, address, failures).await {
                Ok(mut found) => groups.append(&mut found),
                Err(e) => {
                    self.conns.remove(&id);
                    failures.push(e);
                }
            }
        }
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        groups.dedup_by(|a, b| a.id == b.id);
        groups
    }

    /// The groups one broker coordinates. A failed ListGroups fails them all; a failed
    /// DescribeGroups or OffsetFetch leaves out only what it would have told.
    async fn coordinator_groups(
        &mut self,
        id: i32,
        address: &str,
        failures: &mut Vec<AdminError>,
    ) -> Result<Vec<Group>, AdminError> {
        let conn = connection(&mut self.conns, &self.dialer, id, address).await?;
        let (listed, _) = conn
            .send(&ListGroupsRequest::default(), LIST_GROUPS_VERSION)
            .await?;
        if listed.error_code != 0 {
            return Err(AdminError::Broker {
                broker: address.to_string(),
                api: "ListGroups",
                code: listed.error_code,
            });
        }
        let mut groups: Vec<Group> = listed
            .groups
            .iter()
            .map(|g| g.group_id.0.as_str().to_string())
            .filter(|g| self.groups.allows(g))
            .map(|g| Group {
                id: g,
                state: String::new(),
                protocol_type: String::new(),
                members: Vec::new(),
                committed: Vec::new(),
                described: false,
            })
            .collect();
        if groups.is_empty() {
            return Ok(groups);
        }
        if let Err(e) = describe(conn, &mut groups, failures).await {
            failures.push(e);
        }
        if let Err(e) = committed_offsets(conn, &mut groups, &self.topics, failures).await {
            failures.push(e);
        }
        Ok(groups)
    }

    /// Lag and time lag of every committed offset, from this poll's end offsets.
    fn lag(&self, snapshot: &mut Snapshot) {
        let ends: HashMap<(&str, i32), i64> = snapshot
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter_map(move |p| Some(((t.name.as_str(), p.index), p.end_offset?)))
            })
            .collect();
        let now = snapshot.time_ns;
        for g in &mut snapshot.groups {
            for c in &mut g.committed {
                let Some(&end) = ends.get(&(c.topic.as_str(), c.partition)) else {
                    continue;
                };
                c.lag = Some((end - c.offset).max(0));
                c.time_lag_seconds = self
                    .tables
                    .lag_seconds(&c.topic, c.partition, c.offset, now);
            }
        }
    }
}

/// The connection to broker `id`, dialled if there is none.
async fn connection<'a>(
    conns: &'a mut HashMap<i32, Connection>,
    dialer: &Dialer,
    id: i32,
    address: &str,
) -> Result<&'a mut Connection, AdminError> {
    match conns.entry(id) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(e) => {
            Ok(e.insert(dialer.connect(address).await?))
        }
    }
}

fn list_offsets(wanted: &BTreeMap<String, Vec<i32>>, timestamp: i64) -> ListOffsetsRequest {
    let mut request = ListOffsetsRequest::default();
    request.replica_id = BrokerId(-1);
    request.isolation_level = 0;
    request.topics = wanted
        .iter()
        .map(|(name, partitions)| {
            let mut topic = ListOffsetsTopic::default();
            topic.name = TopicName(StrBytes::from_string(name.clone()));
            topic.partitions = partitions
                .iter()
                .map(|&index| {
                    let mut p = ListOffsetsPartition::default();
                    p.partition_index = index;
                    p.current_leader_epoch = -1;
                    p.timestamp = timestamp;
                    p
                })
                .collect();
            topic
        })
        .collect();
    request
}

/// DescribeGroups for all of `groups` on their coordinator.
async fn describe(
    conn: &mut Connection,
    groups: &mut [Group],
    failures: &mut Vec<AdminError>,
) -> Result<(), AdminError> {
    let mut request = DescribeGroupsRequest::default();
    request.groups = groups
        .iter()
        .map(|g| GroupId(StrBytes::from_string(g.id.clone())))
        .collect();
    let (reply, _) = conn.send(&request, DESCRIBE_GROUPS_VERSION).await?;
    let mut described: HashMap<String, _> = reply
        .groups
        .into_iter()
        .map(|g| (g.group_id.0.as_str().to_string(), g))
        .collect();
    for g in groups.iter_mut() {
        let Some(d) = described.remove(&g.id) else {
            continue;
        };
        if d.error_code != 0 {
            failures.push(AdminError::Broker {
                broker: conn.broker().to_string(),
                api: "DescribeGroups",
                code: d.error_code,
            });
            continue;
        }
        g.state = d.group_state.as_str().to_string();
        g.protocol_type = d.protocol_type.as_str().to_string();
        g.described = true;
        let consumer = g.protocol_type == "consumer";
        g.members = d
            .members
            .into_iter()
            .map(|m| {
                let assigned = if consumer && !m.member_assignment.is_empty() {
                    match assigned_partitions(m.member_assignment) {
                        Ok(n) => n,
                        Err(reason) => {
                            failures.push(AdminError::BadReply {
                                broker: conn.broker().to_string(),
                                api: "DescribeGroups",
                                reason: format!(
                                    "group {:?}: member assignment does not decode: {reason}",
                                    g.id
                                ),
                            });
                            0
                        }
                    }
                } else {
                    0
                };
                Member {
                    client_id: m.client_id.as_str().to_string(),
                    host: m.client_host.as_str().to_string(),
                    assigned,
                }
            })
            .collect();
    }
    Ok(())
}

/// Partitions in a consumer-protocol assignment (a version, then the body at that version;
/// a newer version than we know is read as the newest we know, as Kafka's clients do).
pub fn assigned_partitions(mut bytes: Bytes) -> Result<usize, String> {
    if bytes.remaining() < 2 {
        return Err("shorter than its version".into());
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(format!("version {version}"));
    }
    super::reply_shape::check(&bytes, &super::reply_shape::consumer_assignment())?;
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version.min(3))
        .map_err(|e| e.to_string())?;
    Ok(assignment
        .assigned_partitions
        .iter()
        .map(|t| t.partitions.len())
        .sum())
}

/// Every committed offset of `groups` on their coordinator: one OffsetFetch for all from v8,
/// else one per group.
async fn committed_offsets(
    conn: &mut Connection,
    groups: &mut [Group],
    topics: &NameFilter,
    failures: &mut Vec<AdminError>,
) -> Result<(), AdminError> {
    let version = conn.version::<OffsetFetchRequest>(OFFSET_FETCH_VERSION);
    let broker = conn.broker().to_string();
    let broker_error = |code| AdminError::Broker {
        broker: broker.clone(),
        api: "OffsetFetch",
        code,
    };
    if version.is_some_and(|v| v >= OFFSET_FETCH_BATCH) {
        let mut request = OffsetFetchRequest::default();
        request.groups = groups
            .iter()
            .map(|g| {
                let mut r = OffsetFetchRequestGroup::default();
                r.group_id = GroupId(StrBytes::from_string(g.id.clone()));
                r.member_epoch = -1;
                // Null: every partition the group committed (the default is an empty list).
                r.topics = None;
                r
            })
            .collect();
        let (reply, _) = conn.send(&request, OFFSET_FETCH_VERSION).await?;
        let mut by_id: HashMap<String, _> = reply
            .groups
            .into_iter()
            .map(|g| (g.group_id.0.as_str().to_string(), g))
            .collect();
        for g in groups.iter_mut() {
            let Some(r) = by_id.remove(&g.id) else {
                continue;
            };
            if r.error_code != 0 {
                failures.push(broker_error(r.error_code));
                continue;
            }
            for t in r.topics {
                let topic = t.name.0.as_str();
                if !topics.allows(topic) {
                    continue;
                }
                for p in t.partitions {
                    push_committed(
                        g,
                        topic,
                        p.partition_index,
                        p.committed_offset,
                        p.error_code,
                    );
                }
            }
        }
        return Ok(());
    }
    for g in groups.iter_mut() {
        let mut request = OffsetFetchRequest::default();
        request.group_id = GroupId(StrBytes::from_string(g.id.clone()));
        // Null topics (v2+) means every partition the group committed.
        request.topics = None;
        let (reply, _) = match conn
            .send(&request, (OFFSET_FETCH_VERSION.0, OFFSET_FETCH_BATCH - 1))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if reply.error_code != 0 {
            failures.push(broker_error(reply.error_code));
            continue;
        }
        for t in reply.topics {
            let topic = t.name.0.as_str();
            if !topics.allows(topic) {
                continue;
            }
            for p in t.partitions {
                push_committed(
                    g,
                    topic,
                    p.partition_index,
                    p.committed_offset,
                    p.error_code,
                );
            }
        }
    }
    Ok(())
}

fn push_committed(g: &mut Group, topic: &str, partition: i32, offset: i64, error_code: i16) {
    // -1: no commit for this partition.
    if error_code != 0 || offset < 0 {
        return;
    }
    g.committed.push(Committed {
        topic: topic.to_string(),
        partition,
        offset,
        lag: None,
        time_lag_seconds: None,
    });
}
