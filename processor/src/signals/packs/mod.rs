//! The built-in rule packs (`kafka-producer`, `kafka-consumer`, `kafka`, `jvm`, `targets`,
//! `container`, `exceptions`, `kafka_admin`)
//! and what every rule shares: the rule ids, which rows of state exist, and the [`Sink`] a
//! rule emits signals and status readings into.
//!
//! Each pack is a folder: its `mod.rs` starts with the pack's **metric-name table**, the only
//! place that knows what the JMX receiver (or an application pushing OTLP) calls each input,
//! so following a rename is a one-line change; its `config.rs` holds the pack's thresholds
//! (`packs: {<pack>: {...}}`) and their check. Rule shapes several packs use are in
//! `shared.rs`. A pack's rules read one *row* of state: the values of one resource's
//! series that share the same data-point attributes (one MBean instance), e.g. every
//! `kafka.producer.*` series of `client-id=order-producer`.

pub mod broker;
pub mod consumer;
pub mod container;
pub mod exceptions;
pub mod jvm;
pub mod kafka_admin;
pub mod producer;
pub(crate) mod shared;
pub mod targets;

use kafka_obs_signal::{Evidence, Signal, SignalKind, Subject, counters, statuses};

use super::config::ConfidenceConfig;

macro_rules! rules {
    ($($id:ident),+ $(,)?) => {
        /// The built-in rules of `docs/rules.md`, by id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Rule { $($id),+ }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$id),+];

            pub const fn name(self) -> &'static str {
                match self { $(Rule::$id => stringify!($id)),+ }
            }
        }
    };
}

rules! {
    P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11,
    C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11,
    J1, J2, J3,
    B1, B2, B3, B4, B5, B6N, B6H, B7,
    T1, T2,
    E1, E2,
    CR1, CR2, CR3, CR4, CR5,
    K1, K2, K3, K4, K5, K6, K7, K8, K9, K10, K11,
}

/// A rule as a number: built-in rules first, then user rules in configuration order.
pub type RuleIndex = u16;

impl Rule {
    pub const fn index(self) -> RuleIndex {
        self as RuleIndex
    }
}

/// The first [`RuleIndex`] of user rules.
pub const FIRST_USER_RULE: RuleIndex = Rule::ALL.len() as RuleIndex;

/// What kind of row a series feeds; part of the row's key, so a producer and a consumer with
/// the same `client-id` never share state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Producer,
    Consumer,
    Partition,
    Heap,
    Gc,
    Broker,
    Isr,
    Request,
    Target,
    Container,
    /// `kafka_admin`: one partition of one consumer group.
    AdminGroupPartition,
    /// `kafka_admin`: one consumer group.
    AdminGroup,
    /// `kafka_admin`: one partition of a topic (replicas, leader).
    AdminPartition,
    /// `kafka_admin`: the cluster (brokers, controller).
    AdminCluster,
    /// `kafka_admin`: one group's members with one client id on one host.
    AdminGroupClient,
    /// `kafka_admin`: one broker's preferred partitions and those it leads.
    AdminBroker,
    User(u16),
    /// One exception type of one service instance (E1).
    Exception,
    /// One service instance's errors (E2).
    ErrorRate,
}

impl Reader {
    /// The tag mixed into the row key.
    pub fn tag(self) -> u64 {
        match self {
            Self::Producer => 1,
            Self::Consumer => 2,
            Self::Partition => 4,
            Self::Heap => 5,
            Self::Gc => 6,
            Self::Broker => 7,
            Self::Isr => 8,
            Self::Request => 9,
            Self::Target => 10,
            Self::Container => 11,
            Self::AdminGroupPartition => 15,
            Self::AdminGroup => 16,
            Self::AdminPartition => 17,
            Self::AdminCluster => 18,
            Self::AdminGroupClient => 19,
            Self::AdminBroker => 20,
            Self::User(i) => 1000 + u64::from(i),
            Self::Exception => 13,
            Self::ErrorRate => 14,
        }
    }
}

/// One input of a pack: metric name, row kind, slot in the row, and an optional attribute
/// that must have a given value.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub metric: &'static str,
    pub reader: Reader,
    pub slot: u8,
    pub only_if: Option<(&'static str, &'static str)>,
}

pub(crate) const fn input(metric: &'static str, reader: Reader, slot: u8) -> Input {
    Input {
        metric,
        reader,
        slot,
        only_if: None,
    }
}

/// Engine-wide knobs every rule uses.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    pub hysteresis: f64,
    pub confidence: ConfidenceConfig,
    /// Evaluations between restatements of a state that is not a condition (B3's controller).
    pub heartbeat_every: u32,
}

/// Where a rule puts what it concluded about one row: signals (emitted at once, in order) and
/// its current status reading (folded into the subject's status). A rule reports its reading on
/// *every* evaluation of the row while its condition holds: the engine ends a condition its
/// rule no longer reports, with a recovery (`signals/condition.rs`).
pub struct Sink<'a> {
    /// When the row's readings were taken (ns since the epoch).
    pub time: u64,
    pub subject: &'a Subject,
    /// Data-point attributes that are not subject levels (a GC's `name`, a request type).
    pub attributes: &'a [(String, String)],
    pub source_id: &'a str,
    pub common: &'a Common,
    pub out: &'a mut Vec<Signal>,
    pub statuses: &'a mut Vec<(RuleIndex, statuses::Sign, statuses::Confidence)>,
}

impl Sink<'_> {
    /// Emits one signal about the row's subject.
    pub fn emit(&mut self, kind: SignalKind, evidence: Evidence) {
        let mut signal = Signal::new(self.subject.clone(), kind, evidence, self.time)
            .from_source(self.source_id);
        for (k, v) in self.attributes {
            signal.attributes.insert(k.clone(), v.clone());
        }
        tracing::debug!(signal = %kind, subject = %signal.subject, rule = %signal.evidence.rule, "signal");
        self.out.push(signal);
    }

    /// Emits Counters RESET for a counter of `rule` that fell from `previous` to `total` (its
    /// source restarted).
    pub fn counter_reset(&mut self, rule: &str, previous: f64, total: f64) {
        self.emit(
            SignalKind::Counters(counters::Sign::Reset),
            Evidence::rule(rule)
                .with("previous", previous)
                .with("total", total),
        );
    }

    /// Records the rule's current status reading for the subject.
    pub fn status(&mut self, rule: Rule, sign: statuses::Sign, confidence: statuses::Confidence) {
        self.status_index(rule.index(), sign, confidence);
    }

    pub fn status_index(
        &mut self,
        rule: RuleIndex,
        sign: statuses::Sign,
        confidence: statuses::Confidence,
    ) {
        self.statuses.push((rule, sign, confidence));
    }

    /// Records the canonical status reading of an instrument state (Probes FAIL -> DEGRADED),
    /// if it has one.
    pub fn reading_of(&mut self, rule: Rule, kind: SignalKind, confidence: statuses::Confidence) {
        if let Some(sign) = kind.default_status() {
            self.status(rule, sign, confidence);
        }
    }
}

/// True if slot `slot` got a reading in this evaluation.
pub(crate) fn fresh(mask: u32, slot: u8) -> bool {
    mask & (1 << slot) != 0
}

/// The slot's value if it got a reading in this evaluation.
pub(crate) fn fresh_value(vals: &[f64], mask: u32, slot: u8) -> Option<f64> {
    fresh(mask, slot).then(|| vals[usize::from(slot)])
}

/// The slot's latest known value (this evaluation's or an earlier one).
pub(crate) fn known(vals: &[f64], slot: u8) -> Option<f64> {
    let v = vals[usize::from(slot)];
    v.is_finite().then_some(v)
}
