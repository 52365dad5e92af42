//! Pass 2 of an evaluation: a row's state (one pack's or user rule's view of one series
//! group) and running its rules once per evaluation, then settling its conditions.

use kafka_obs_signal::Signal;

use super::Engine;
use crate::signals::condition::{Held, RowSignals, settle};
use crate::signals::packs::consumer::lag::Rates;
use crate::signals::packs::{
    FIRST_USER_RULE, Reader, Sink, broker, consumer, container, exceptions, jvm, kafka_admin,
    producer, targets,
};
use crate::signals::user;

#[derive(Debug)]
pub(super) enum RowState {
    Producer(Box<producer::Row>),
    Consumer(Box<consumer::ClientRow>),
    Partition(Box<consumer::PartitionRow>),
    Heap(Box<jvm::HeapRow>),
    Gc(Box<jvm::GcRow>),
    Broker(Box<broker::BrokerRow>),
    Isr(Box<broker::IsrRow>),
    Request(Box<broker::RequestRow>),
    Target(Box<targets::TargetRow>),
    Container(Box<container::ContainerRow>),
    AdminGroupPartition(Box<kafka_admin::GroupPartitionRow>),
    AdminGroup(Box<kafka_admin::GroupRow>),
    AdminPartition(Box<kafka_admin::TopicPartitionRow>),
    AdminCluster(Box<kafka_admin::ClusterRow>),
    AdminGroupClient(Box<kafka_admin::GroupClientRow>),
    AdminBroker(Box<kafka_admin::BrokerRow>),
    User(u16, Box<user::UserRow>),
    Exception(Box<exceptions::BurstRow>),
    ErrorRate(Box<exceptions::RateRow>),
}

impl RowState {
    pub(super) fn vals_mut(&mut self) -> &mut [f64] {
        match self {
            Self::Producer(r) => &mut r.vals,
            Self::Consumer(r) => &mut r.vals,
            Self::Partition(r) => &mut r.vals,
            Self::Heap(r) => &mut r.vals,
            Self::Gc(r) => &mut r.vals,
            Self::Broker(r) => &mut r.vals,
            Self::Isr(r) => &mut r.vals,
            Self::Request(r) => &mut r.vals,
            Self::Target(r) => &mut r.vals,
            Self::Container(r) => &mut r.vals,
            Self::AdminGroupPartition(r) => &mut r.vals,
            Self::AdminGroup(r) => &mut r.vals,
            Self::AdminPartition(r) => &mut r.vals,
            Self::AdminCluster(r) => &mut r.vals,
            Self::AdminGroupClient(r) => &mut r.vals,
            Self::AdminBroker(r) => &mut r.vals,
            Self::User(_, r) => &mut r.vals,
            // Log rows are fed records, not metric values (`engine/logs.rs`).
            Self::Exception(_) | Self::ErrorRate(_) => &mut [],
        }
    }
}

/// The state of one series group; see the module documentation.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) subject: u64,
    pub(super) last_seen: u64,
    /// The latest sample time among this evaluation's readings.
    pub(super) time: u64,
    pub(super) epoch: u32,
    /// Slots that got a reading in this evaluation.
    pub(super) fresh: u32,
    /// Slots that ever got a reading.
    pub(super) seen: u32,
    pub(super) evaluations: u8,
    /// Point attributes that are not subject levels, carried on its signals.
    pub(super) attributes: Vec<(String, String)>,
    /// Its rules' conditions that hold.
    pub(super) held: Vec<Held>,
    pub(super) state: RowState,
}

impl Row {
    /// A row of `subject` not yet fed (`last_seen`: when it was made).
    pub(super) fn new(
        subject: u64,
        attributes: Vec<(String, String)>,
        state: RowState,
        last_seen: u64,
    ) -> Self {
        Self {
            subject,
            last_seen,
            time: last_seen,
            epoch: 0,
            fresh: 0,
            seen: 0,
            evaluations: 0,
            attributes,
            held: Vec::new(),
            state,
        }
    }
}

/// A rule input that is useless without another one of the same row: after three
/// evaluations without it, one warning (older Kafka clients lack some attributes).
struct Companion {
    reader: Reader,
    slot: u8,
    needs: u8,
    metric: &'static str,
    rules: &'static str,
}

const COMPANIONS: &[Companion] = &[
    Companion {
        reader: Reader::Producer,
        slot: 0,
        needs: 1,
        metric: "kafka.producer.buffer-total-bytes",
        rules: "P1-P3",
    },
    Companion {
        reader: Reader::Heap,
        slot: 0,
        needs: 1,
        metric: "jvm.memory.heap.max",
        rules: "J1",
    },
];

impl Engine {
    pub(super) fn evaluate_row(&mut self, key: u64, now: u64, out: &mut Vec<Signal>) {
        let rates = match self.rows.get(&key).map(|r| &r.state) {
            Some(RowState::Partition(p)) => {
                p.rates(|k| match self.rows.get(&k).map(|r| &r.state) {
                    Some(RowState::Consumer(c)) => Some(&**c),
                    _ => None,
                })
            }
            _ => Rates::default(),
        };
        // A group's partition reads its group's member count (A1's ERR).
        let members = match self.rows.get(&key).map(|r| &r.state) {
            Some(RowState::AdminGroupPartition(p)) => match self.rows.get(&p.group_row()) {
                Some(Row {
                    state: RowState::AdminGroup(g),
                    ..
                }) => g.members(),
                _ => None,
            },
            _ => None,
        };
        let Some(row) = self.rows.get_mut(&key) else {
            return;
        };
        let Some(subject) = self.subjects.get_mut(&row.subject) else {
            return;
        };
        row.evaluations = row.evaluations.saturating_add(1);
        if row.evaluations == 3 {
            for (i, c) in COMPANIONS.iter().enumerate() {
                let reader_matches = std::mem::discriminant(&c.reader)
                    == std::mem::discriminant(&reader_of(&row.state));
                let bit = 1u64 << i;
                if reader_matches
                    && row.seen & (1 << c.slot) != 0
                    && row.seen & (1 << c.needs) == 0
                    && self.warned & bit == 0
                {
                    self.warned |= bit;
                    tracing::warn!(
                        missing = c.metric,
                        rules = c.rules,
                        subject = %subject.subject,
                        "signals: an input these rules need never arrived (an older Kafka client?); the rules are skipped"
                    );
                }
            }
        }
        self.readings.clear();
        let packs = &self.config.packs;
        let start = out.len();
        let mut sink = Sink {
            time: row.time,
            subject: &subject.subject,
            attributes: &row.attributes,
            source_id: &self.config.source_id,
            common: &self.common,
            out,
            statuses: &mut self.readings,
        };
        let mask = row.fresh;
        match &mut row.state {
            RowState::Producer(r) => {
                if let Some(p) = &packs.producer {
                    producer::evaluate(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Consumer(r) => {
                if let Some(p) = &packs.consumer {
                    consumer::evaluate(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Partition(r) => {
                if let Some(p) = &packs.consumer {
                    consumer::evaluate_partition(r, mask, rates, p, &mut sink);
                }
            }
            RowState::Heap(r) => {
                if let Some(p) = &packs.jvm {
                    jvm::evaluate_heap(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Gc(r) => {
                if let Some(p) = &packs.jvm {
                    jvm::evaluate_gc(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Broker(r) => {
                if let Some(p) = &packs.broker {
                    broker::evaluate(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Isr(r) => broker::evaluate_isr(r, mask, &mut sink),
            RowState::Request(r) => {
                if let Some(p) = &packs.broker {
                    broker::evaluate_request(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::Target(r) => {
                if let Some(p) = &packs.targets {
                    targets::evaluate(r, mask, p, &mut sink);
                }
            }
            RowState::Container(r) => {
                if let Some(p) = &packs.container {
                    container::evaluate(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::AdminGroupPartition(r) => {
                if let Some(p) = &packs.kafka_admin {
                    kafka_admin::evaluate_group_partition(
                        r,
                        mask,
                        members,
                        p,
                        &self.common,
                        &mut sink,
                    );
                }
            }
            RowState::AdminGroup(r) => {
                if let Some(p) = &packs.kafka_admin {
                    kafka_admin::evaluate_group(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::AdminPartition(r) => {
                kafka_admin::evaluate_partition(r, mask, &self.common, &mut sink);
            }
            RowState::AdminCluster(r) => {
                if let Some(p) = &packs.kafka_admin {
                    kafka_admin::evaluate_cluster(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::AdminGroupClient(r) => {
                kafka_admin::evaluate_group_client(r, mask, &mut sink);
            }
            RowState::AdminBroker(r) => {
                if let Some(p) = &packs.kafka_admin {
                    kafka_admin::evaluate_broker(r, mask, p, &self.common, &mut sink);
                }
            }
            RowState::User(i, r) => {
                if let Some(rule) = self.config.rules.get(usize::from(*i)) {
                    user::evaluate(r, mask, FIRST_USER_RULE + *i, rule, &self.common, &mut sink);
                }
            }
            RowState::Exception(r) => {
                if let Some(p) = &packs.exceptions {
                    exceptions::evaluate_burst(r, p, &self.common, &mut sink);
                }
            }
            RowState::ErrorRate(r) => {
                if let Some(p) = &packs.exceptions {
                    exceptions::evaluate_rate(r, p, &self.common, &mut sink);
                }
            }
        }
        let time = row.time;
        settle(
            &mut row.held,
            &mut self.readings,
            out,
            start,
            &self.rule_names,
            &RowSignals {
                subject: &subject.subject,
                attributes: &row.attributes,
                source_id: &self.config.source_id,
                time,
            },
        );
        subject.replace(key, &self.readings);
        subject.last_seen = now;
        if subject.epoch != self.epoch {
            subject.epoch = self.epoch;
            self.touched_subjects.push(row.subject);
        }
    }
}

pub(super) fn reader_of(state: &RowState) -> Reader {
    match state {
        RowState::Producer(_) => Reader::Producer,
        RowState::Consumer(_) => Reader::Consumer,
        RowState::Partition(_) => Reader::Partition,
        RowState::Heap(_) => Reader::Heap,
        RowState::Gc(_) => Reader::Gc,
        RowState::Broker(_) => Reader::Broker,
        RowState::Isr(_) => Reader::Isr,
        RowState::Request(_) => Reader::Request,
        RowState::Target(_) => Reader::Target,
        RowState::Container(_) => Reader::Container,
        RowState::AdminGroupPartition(_) => Reader::AdminGroupPartition,
        RowState::AdminGroup(_) => Reader::AdminGroup,
        RowState::AdminPartition(_) => Reader::AdminPartition,
        RowState::AdminCluster(_) => Reader::AdminCluster,
        RowState::AdminGroupClient(_) => Reader::AdminGroupClient,
        RowState::AdminBroker(_) => Reader::AdminBroker,
        RowState::User(i, _) => Reader::User(*i),
        RowState::Exception(_) => Reader::Exception,
        RowState::ErrorRate(_) => Reader::ErrorRate,
    }
}
