//! Which troubled cells belong to one incident. Related means, within one cluster:
//!
//! - one is an ancestor of the other (a broker and its partitions; a cluster and anything);
//! - both are under the same service (the service's other instances and clients);
//! - one is on the client side (under a service, instance or client) and the other on the
//!   broker side (under a broker), and a topic the client-side cell uses (its own `topic`
//!   level, or the topics below it) is hosted by that broker (the broker has that topic
//!   below it; a broker that reports no topics at all may host any);
//! - the broker's view of consumers (the `kafka_admin` pack): a consumer group's cell or one
//!   below it (`group=billing/topic=orders/partition=0`) and a client-side cell that uses one of
//!   the group's topics, when the group lists its members' client ids (`group=billing/client=`
//!   cells) only a client among them; a group's cell and a broker hosting one of its topics,
//!   as for a client; a cluster-level partition (`topic=orders/partition=0`, its replicas and
//!   leader) and any cell using or hosting its topic.

use crate::{hierarchy::Hierarchy, intern::Sym, model::CellKind};

/// Where a cell sits: its broker, service, group, client and topic ancestors (or itself).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Place {
    broker: Option<u32>,
    service: Option<u32>,
    group: Option<u32>,
    client: Option<Sym>,
    client_side: bool,
    topic: Option<Sym>,
}

/// Which view of the cluster a cell belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Under a broker.
    Broker,
    /// Under a service, instance or client: what the sidecars see.
    Client,
    /// Under a consumer group: the broker's view of a consumer.
    Group,
    /// A topic or partition of the cluster itself (`cluster/topic/partition`).
    Topic,
    /// The cluster or root.
    None,
}

impl Place {
    fn side(&self) -> Side {
        if self.broker.is_some() {
            Side::Broker
        } else if self.client_side {
            Side::Client
        } else if self.group.is_some() {
            Side::Group
        } else if self.topic.is_some() {
            Side::Topic
        } else {
            Side::None
        }
    }
}

impl Hierarchy {
    pub(super) fn place(&self, idx: u32) -> Place {
        let mut place = Place::default();
        let mut cur = idx;
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            match c.kind {
                CellKind::Broker => place.broker = Some(cur),
                CellKind::Service => {
                    place.service = Some(cur);
                    place.client_side = true;
                }
                CellKind::Instance => place.client_side = true,
                CellKind::Client => {
                    place.client = Some(c.value);
                    if place.group.is_none() {
                        place.client_side = true;
                    }
                }
                CellKind::Group => {
                    place.group = Some(cur);
                    // A member's client cell under its group is the group's side.
                    place.client_side = false;
                }
                CellKind::Topic => place.topic = Some(c.value),
                _ => {}
            }
            cur = c.parent;
        }
        place
    }

    /// `a` is a proper ancestor of `b`, the root excluded.
    pub(super) fn is_ancestor(&self, a: u32, b: u32) -> bool {
        if a == 0 {
            return false;
        }
        let depth = self.cells[a as usize].depth;
        let mut cur = b;
        while cur != 0 && cur != u32::MAX && self.cells[cur as usize].depth > depth {
            cur = self.cells[cur as usize].parent;
        }
        cur == a && a != b
    }

    /// Whether two cells of one cluster are related; see the module documentation.
    pub(crate) fn related(&self, a: u32, b: u32) -> bool {
        if self.is_ancestor(a, b) || self.is_ancestor(b, a) {
            return true;
        }
        let (pa, pb) = (self.place(a), self.place(b));
        if pa.service.is_some() && pa.service == pb.service {
            return true;
        }
        // Order the pair so the first side is the lower in `Side` order.
        let ((x, px), (y, py)) = if (pa.side() as u8) <= (pb.side() as u8) {
            ((a, pa), (b, pb))
        } else {
            ((b, pb), (a, pa))
        };
        match (px.side(), py.side()) {
            (Side::Broker, Side::Client | Side::Group) => {
                let topics = self.topics_of(y, py);
                self.hosts(px, &topics)
            }
            (Side::Broker, Side::Topic) => py.topic.is_some_and(|t| self.hosts(px, &[t])),
            (Side::Client, Side::Group) => {
                self.is_member(px, py) && {
                    let used = self.topics_of(x, px);
                    let consumed = self.group_topics(y, py);
                    used.iter().any(|t| consumed.contains(t))
                }
            }
            (Side::Client | Side::Group, Side::Topic) => {
                let topics = if px.side() == Side::Group {
                    self.group_topics(x, px)
                } else {
                    self.topics_of(x, px)
                };
                py.topic.is_some_and(|t| topics.contains(&t))
            }
            _ => false,
        }
    }

    /// Whether the broker of `broker_place` hosts one of `topics` (its own topic, or a topic
    /// below it; a broker that reports no topics may host any).
    fn hosts(&self, broker_place: Place, topics: &[Sym]) -> bool {
        if topics.is_empty() {
            return false;
        }
        match (broker_place.topic, broker_place.broker) {
            (Some(topic), _) => topics.contains(&topic),
            (None, Some(broker)) => {
                let topic_level = self.levels.topic;
                let reports_topics = self.cells[broker as usize]
                    .children
                    .iter()
                    .any(|&c| self.cells[c as usize].level == topic_level);
                !reports_topics
                    || topics
                        .iter()
                        .any(|t| self.index.contains_key(&(broker, topic_level, *t)))
            }
            (None, None) => false,
        }
    }

    /// The topics a group consumes: the cell's own topic, else those below the group's cell.
    fn group_topics(&self, idx: u32, place: Place) -> Vec<Sym> {
        match (place.topic, place.group) {
            (Some(topic), _) => vec![topic],
            (None, Some(group)) => self.topics_of(group, Place::default()),
            (None, None) => self.topics_of(idx, place),
        }
    }

    /// Whether the client-side cell's client is a member of the group, when the group lists
    /// its members (client cells below the group's cell); any client when it does not, or
    /// when the client-side cell is above any client (a service, an instance).
    fn is_member(&self, client_place: Place, group_place: Place) -> bool {
        let Some(group) = group_place.group else {
            return false;
        };
        let client_level = self.levels.client;
        let listed = self.cells[group as usize]
            .children
            .iter()
            .any(|&c| self.cells[c as usize].level == client_level);
        match client_place.client {
            Some(client) if listed => self.index.contains_key(&(group, client_level, client)),
            _ => true,
        }
    }

    /// The topics a client-side cell uses: its own, or those below it (at most 64).
    pub(super) fn topics_of(&self, idx: u32, place: Place) -> Vec<Sym> {
        if let Some(topic) = place.topic {
            return vec![topic];
        }
        let mut topics = Vec::new();
        let mut level = vec![idx];
        for _ in 0..3 {
            let mut next = Vec::new();
            for &cell in &level {
                for &child in &self.cells[cell as usize].children {
                    let c = &self.cells[child as usize];
                    if c.kind == CellKind::Topic {
                        if !topics.contains(&c.value) {
                            topics.push(c.value);
                        }
                    } else {
                        next.push(child);
                    }
                }
            }
            if topics.len() >= 64 || next.is_empty() {
                break;
            }
            level = next;
        }
        topics.truncate(64);
        topics
    }
}
