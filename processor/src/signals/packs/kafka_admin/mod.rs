//! Pack `kafka_admin`: the broker's view of consumer groups and partitions, from the
//! `kafka_admin` receiver (cluster metadata, log offsets, committed offsets, time lag).
//!
//! | rule | row | reads | emits |
//! |---|---|---|---|
//! | K1 | group × topic × partition | committed offset, lag, the group's members: Burrow's window (`burrow.rs`) | Statuses STABLE (OK) / DIVERGING (WARN) / ERRATIC (REWIND) / DEGRADED (STALL) / DEFECTIVE (ERR) / DOWN (STOP), MEASURED, CONFIRMED with agreeing polls; attribute `burrow.status` |
//! | K2 | group × topic × partition | time lag > `time_lag_threshold` (60 s) | Statuses DEGRADED (MEASURED); STABLE on the way back |
//! | K3 | group × topic × partition | time lag growing by >= `time_lag_growth` (0.5) s per s over the window | Statuses DIVERGING (MEASURED); STABLE on the way back |
//! | K4 | topic × partition | in-sync replicas < replicas | Statuses DEGRADED (MEASURED) |
//! | K5 | topic × partition | offline replicas > 0 | Statuses DEFECTIVE (MEASURED) |
//! | K6 | topic × partition | no leader (leader < 0) | Statuses DOWN (MEASURED) |
//! | K7 | group | members fell to 0 / rose from 0 | Members LEAVE / JOIN × PEER (events) |
//! | K8 | cluster | broker count below the highest seen | Members LEAVE × PEER + a DEGRADED reading; JOIN × PEER when back or after `broker_left_hold` |
//! | K9 | cluster | controller id changed / none | Statuses ERRATIC for a window of polls / DOWN; STABLE after |
//! | K10 | group × client id × host | the group's members with that client id (`clients.rs`) | Members JOIN / LEAVE × PEER; a STABLE reading while a member, so the `group / client` cell lists it |
//! | K11 | broker | share of its preferred partitions another replica leads > `leader_imbalance` (0.1) | Statuses DIVERGING (MEASURED); STABLE on the way back |
//!
//! A group's status is its worst partition's: the subject of a group's partition is
//! `cluster / group / topic / partition` and the hierarchy rolls the partitions up into the
//! group. The metric-name table below is the receiver's contract (`kafkametrics` names where
//! the Collector has them).

pub mod burrow;
mod clients;
pub mod config;
mod metadata;

use std::collections::VecDeque;

use kafka_obs_signal::{
    Evidence, SignalKind, members,
    statuses::{Confidence, Sign},
};
use opentelemetry_proto::tonic::common::v1::KeyValue;

use self::burrow::{Burrow, Poll, Window};
use self::config::AdminPackConfig;
use super::shared::{StatusRule, above};
use super::{Common, Input, Reader, Rule, Sink, fresh_value, input, known};
use crate::signals::state::{Tracker, hash_attrs_subset, row_key};

pub use self::clients::{CLIENT_LEVEL, GroupClientRow, client_id, evaluate_group_client};
pub use self::metadata::{
    BrokerRow, ClusterRow, TopicPartitionRow, evaluate_broker, evaluate_cluster, evaluate_partition,
};

/// The metric names of the `kafka_admin` receiver: its contract, shared with it.
pub use kafka_obs_kafka_client::admin_metrics as names;

const OFFSET: u8 = 0;
const LAG: u8 = 1;
const TIME_LAG: u8 = 2;
const MEMBERS: u8 = 0;
/// On the group's row: partitions with a committed offset (K1's ERR for the whole group).
const COMMITTED_PARTITIONS: u8 = 1;

/// The metric-name table.
pub const METRICS: &[Input] = &[
    input(names::GROUP_OFFSET, Reader::AdminGroupPartition, OFFSET),
    input(names::GROUP_LAG, Reader::AdminGroupPartition, LAG),
    input(names::GROUP_TIME_LAG, Reader::AdminGroupPartition, TIME_LAG),
    input(names::GROUP_MEMBERS, Reader::AdminGroup, MEMBERS),
    input(
        names::GROUP_COMMITTED_PARTITIONS,
        Reader::AdminGroup,
        COMMITTED_PARTITIONS,
    ),
    input(
        names::PARTITION_REPLICAS,
        Reader::AdminPartition,
        metadata::REPLICAS,
    ),
    input(
        names::PARTITION_REPLICAS_IN_SYNC,
        Reader::AdminPartition,
        metadata::IN_SYNC,
    ),
    input(
        names::PARTITION_LEADER,
        Reader::AdminPartition,
        metadata::LEADER,
    ),
    input(
        names::PARTITION_OFFLINE_REPLICAS,
        Reader::AdminPartition,
        metadata::OFFLINE,
    ),
    input(
        names::GROUP_CLIENT_MEMBERS,
        Reader::AdminGroupClient,
        clients::MEMBERS,
    ),
    input(
        names::GROUP_CLIENT_ASSIGNED_PARTITIONS,
        Reader::AdminGroupClient,
        clients::ASSIGNED,
    ),
    input(
        names::BROKER_PREFERRED_PARTITIONS,
        Reader::AdminBroker,
        metadata::PREFERRED,
    ),
    input(
        names::BROKER_PREFERRED_PARTITIONS_LED,
        Reader::AdminBroker,
        metadata::PREFERRED_LED,
    ),
    input(names::BROKERS, Reader::AdminCluster, metadata::BROKERS),
    input(
        names::CONTROLLER,
        Reader::AdminCluster,
        metadata::CONTROLLER,
    ),
];

/// One group's member count (K7) and committed partitions (K1's ERR for the group).
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub vals: [f64; 2],
    previous: Option<f64>,
    /// Polls in a row with members and no committed offset at all.
    no_commit: u16,
    err: Tracker,
}

impl Default for GroupRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            previous: None,
            no_commit: 0,
            err: Tracker::default(),
        }
    }
}

impl GroupRow {
    /// The latest member count.
    pub fn members(&self) -> Option<f64> {
        known(&self.vals, MEMBERS)
    }
}

/// One partition of one group (K1-K3).
#[derive(Debug, Clone)]
pub struct GroupPartitionRow {
    pub vals: [f64; 3],
    window: Window,
    burrow: Tracker,
    time_lag: Tracker,
    trend: Tracker,
    /// (time, time lag) of the last `window` polls, for K3.
    time_lags: VecDeque<(u64, f64)>,
    /// Row key of the group's member count.
    group: u64,
}

impl GroupPartitionRow {
    /// The row of the partition whose point has `attributes`, under the resource `resource`.
    pub fn new(resource: u64, attributes: &[KeyValue]) -> Self {
        Self {
            vals: [f64::NAN; 3],
            window: Window::default(),
            burrow: Tracker::default(),
            time_lag: Tracker::default(),
            trend: Tracker::default(),
            time_lags: VecDeque::new(),
            group: row_key(
                resource,
                hash_attrs_subset(attributes, &[names::ATTR_GROUP]),
                Reader::AdminGroup.tag(),
            ),
        }
    }

    /// The row key of its group's member count.
    pub fn group_row(&self) -> u64 {
        self.group
    }
}

/// The tracker level of each Burrow status, back to the status.
const BURROW_LEVELS: [Burrow; 6] = [
    Burrow::Ok,
    Burrow::Warn,
    Burrow::Rewind,
    Burrow::Stall,
    Burrow::Err,
    Burrow::Stop,
];

const K2: StatusRule = StatusRule::new(Rule::K2, Sign::Degraded, Confidence::Measured);
const K3: StatusRule = StatusRule::new(Rule::K3, Sign::Diverging, Confidence::Measured);

const NANOS: f64 = 1e9;

/// K1-K3 on one partition of a group; `members` is the group's member count, when known.
pub fn evaluate_group_partition(
    r: &mut GroupPartitionRow,
    mask: u32,
    members: Option<f64>,
    p: &AdminPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let t = sink.time;
    if let Some(offset) = fresh_value(&r.vals, mask, OFFSET) {
        let lag = fresh_value(&r.vals, mask, LAG).unwrap_or(0.0);
        let v = r.window.observe(
            Poll {
                time: t,
                offset: Some(offset),
                lag,
                members,
            },
            p.window,
            p.no_commit_polls(),
        );
        let sign = v.status.sign();
        let agreement = c.confidence;
        if let Some(kind) = r.burrow.observe(v.status.level(), t, |streak| {
            Some(SignalKind::Statuses(
                sign,
                agreement.raise(Confidence::Measured, streak),
            ))
        }) {
            let mut e = Evidence::rule(Rule::K1.name())
                .with("lag", lag)
                .with("window_polls", f64::from(v.window_polls));
            if offset >= 0.0 {
                e = e
                    .with("committed_offset", offset)
                    .with("seconds_since_commit", v.since_commit_seconds);
            } else {
                e = e.with("polls_without_commit", f64::from(v.no_commit_polls));
            }
            if let Some(m) = members {
                e = e.with("members", m);
            }
            if let Some(records) = v.rewound {
                e = e.with("rewound_records", records);
            }
            if let Some(tl) = known(&r.vals, TIME_LAG) {
                e = e.with("time_lag_seconds", tl);
            }
            sink.emit(kind, e);
            if let Some(signal) = sink.out.last_mut() {
                signal
                    .attributes
                    .insert("burrow.status".into(), v.status.name().into());
            }
        }
    }
    if r.burrow.streak() > 0 {
        let status = BURROW_LEVELS[usize::from(r.burrow.state()).min(BURROW_LEVELS.len() - 1)];
        sink.status(
            Rule::K1,
            status.sign(),
            c.confidence.raise(Confidence::Measured, r.burrow.streak()),
        );
    }

    if let Some(tl) = fresh_value(&r.vals, mask, TIME_LAG) {
        K2.threshold(
            &mut r.time_lag,
            ("time_lag_seconds", tl),
            p.time_lag_threshold,
            c,
            sink,
        );
        r.time_lags.push_back((t, tl));
        if r.time_lags.len() > usize::from(p.window) {
            r.time_lags.pop_front();
        }
        if let (Some(&(t0, first)), Some(&(t1, last)), true) = (
            r.time_lags.front(),
            r.time_lags.back(),
            r.time_lags.len() >= usize::from(p.window),
        ) {
            let span = t1.saturating_sub(t0) as f64 / NANOS;
            if span > 0.0 {
                let growth = (last - first) / span;
                let level = if last > 0.0 {
                    above(growth, p.time_lag_growth, &r.trend, c)
                } else {
                    0
                };
                K3.step(
                    &mut r.trend,
                    level,
                    |e| {
                        e.with("growth_per_second", growth)
                            .with("time_lag_seconds", last)
                            .with("window_seconds", span)
                            .threshold(p.time_lag_growth)
                    },
                    c,
                    sink,
                );
            }
        }
    }
    K2.reading(&r.time_lag, c, sink);
    K3.reading(&r.trend, c, sink);
}

/// K7 on one group, and K1's ERR for a group with members that has committed nothing (the
/// receiver reports no offset for a partition without a commit, so no partition row shows it).
pub fn evaluate_group(
    r: &mut GroupRow,
    mask: u32,
    p: &AdminPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    if let Some(committed) = fresh_value(&r.vals, mask, COMMITTED_PARTITIONS) {
        let members = known(&r.vals, MEMBERS).unwrap_or(0.0);
        r.no_commit = if members > 0.0 && committed <= 0.0 {
            r.no_commit.saturating_add(1)
        } else {
            0
        };
        let level = u8::from(r.no_commit >= p.no_commit_polls());
        let agreement = c.confidence;
        let sign = if level == 1 { Burrow::Err } else { Burrow::Ok };
        if let Some(kind) = r.err.observe(level, sink.time, |streak| {
            Some(SignalKind::Statuses(
                sign.sign(),
                agreement.raise(Confidence::Measured, streak),
            ))
        }) {
            sink.emit(
                kind,
                Evidence::rule(Rule::K1.name())
                    .with("members", members)
                    .with("committed_partitions", committed)
                    .with("polls_without_commit", f64::from(r.no_commit)),
            );
            if let Some(signal) = sink.out.last_mut() {
                signal
                    .attributes
                    .insert("burrow.status".into(), sign.name().into());
            }
        }
    }
    if r.err.streak() > 0 {
        let sign = if r.err.state() == 1 {
            Burrow::Err
        } else {
            Burrow::Ok
        };
        sink.status(
            Rule::K1,
            sign.sign(),
            c.confidence.raise(Confidence::Measured, r.err.streak()),
        );
    }

    let Some(now) = fresh_value(&r.vals, mask, MEMBERS) else {
        return;
    };
    let before = r.previous.replace(now);
    let sign = match before {
        Some(b) if b > 0.0 && now <= 0.0 => members::Sign::Leave,
        Some(b) if b <= 0.0 && now > 0.0 => members::Sign::Join,
        _ => return,
    };
    sink.emit(
        SignalKind::Members(sign, members::Dimension::Peer),
        Evidence::rule(Rule::K7.name())
            .with("members", now)
            .with("members_before", before.unwrap_or(0.0)),
    );
}
