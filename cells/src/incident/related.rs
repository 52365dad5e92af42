//! Which troubled cells belong to one incident. Related means, within one cluster:
//!
//! - one is an ancestor of the other (a broker and its partitions; a cluster and anything);
//! - both are under the same service (the service's other instances and clients);
//! - one is on the client side (under a service, instance or client) and the other on the
//!   broker side (under a broker), and a topic the client-side cell uses (its own `topic`
//!   level, or the topics below it) is hosted by that broker (the broker has that topic
//!   below it; a broker that reports no topics at all may host any).

use crate::{hierarchy::Hierarchy, intern::Sym, model::CellKind};

/// Where a cell sits: its broker, service and topic ancestors (or itself).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Place {
    broker: Option<u32>,
    service: Option<u32>,
    client_side: bool,
    topic: Option<Sym>,
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
                CellKind::Instance | CellKind::Client => place.client_side = true,
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
        let ((client, client_place), broker_place) = match (pa.broker, pb.broker) {
            (None, Some(_)) if pa.client_side => ((a, pa), pb),
            (Some(_), None) if pb.client_side => ((b, pb), pa),
            _ => return false,
        };
        let topics = self.topics_of(client, client_place);
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
