//! Rule K10 on a consumer group's member clients, from the receiver's
//! `kafka.consumer_group.client.members` (per `group`, `client.id`, `client.host`). Its row's
//! subject is `cluster / group / client`: the member list the hierarchy uses to join the
//! group's cells with the sidecars' client cells of the same client id (`cells`'
//! `incident/related.rs`), so a group's partition chains with its own members only.

use kafka_obs_signal::{
    Attributes, Evidence, SignalKind, members,
    statuses::{Confidence, Sign},
};
use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::names;
use crate::signals::packs::{Rule, Sink, fresh_value, known};

pub(super) const MEMBERS: u8 = 0;
pub(super) const ASSIGNED: u8 = 1;

/// The subject level a member's `client.id` becomes: the level the sidecars' client cells
/// carry their `client-id` in.
pub const CLIENT_LEVEL: &str = "client";

/// The client id of a member row's point, for its subject's `client` level.
pub fn client_id(attributes: &[KeyValue]) -> Option<String> {
    attributes
        .attribute(names::ATTR_CLIENT_ID)
        .map(|v| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The members of one group with one client id on one host.
#[derive(Debug, Clone)]
pub struct GroupClientRow {
    pub vals: [f64; 2],
    /// The client is a member now (its last count was above 0).
    member: bool,
}

impl Default for GroupClientRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            member: false,
        }
    }
}

/// K10: Members JOIN × PEER when the client id becomes a member of the group, LEAVE when its
/// count falls to 0; a STABLE reading while it is a member, so its `group / client` subject is
/// stated (and heartbeated) and the hierarchy keeps the member list. A member that leaves the
/// group drops out of the receiver's reply: its series stop and the subject goes stale (T2).
pub fn evaluate_group_client(r: &mut GroupClientRow, mask: u32, sink: &mut Sink<'_>) {
    if let Some(count) = fresh_value(&r.vals, mask, MEMBERS) {
        let now = count > 0.0;
        if now != r.member {
            r.member = now;
            let sign = if now {
                members::Sign::Join
            } else {
                members::Sign::Leave
            };
            let mut e = Evidence::rule(Rule::K10.name()).with("members", count);
            if let Some(assigned) = known(&r.vals, ASSIGNED) {
                e = e.with("assigned_partitions", assigned);
            }
            sink.emit(SignalKind::Members(sign, members::Dimension::Peer), e);
        }
    }
    if r.member {
        sink.status(Rule::K10, Sign::Stable, Confidence::Measured);
    }
}
