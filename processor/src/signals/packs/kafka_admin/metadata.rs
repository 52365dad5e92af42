//! Rules K4-K6 on a partition's replicas and leader, K8-K9 on the cluster's brokers and
//! controller, K11 on a broker's preferred leaderships, from the cluster metadata the
//! `kafka_admin` receiver reads each poll.

use kafka_obs_signal::{
    Evidence, SignalKind, members,
    statuses::{Confidence, Sign},
};

use super::config::AdminPackConfig;
use crate::signals::packs::shared::{StatusRule, above};
use crate::signals::packs::{Common, Rule, Sink, fresh_value, known};
use crate::signals::state::Tracker;

pub(super) const REPLICAS: u8 = 0;
pub(super) const IN_SYNC: u8 = 1;
pub(super) const LEADER: u8 = 2;
pub(super) const OFFLINE: u8 = 3;

pub(super) const PREFERRED: u8 = 0;
pub(super) const PREFERRED_LED: u8 = 1;

pub(super) const BROKERS: u8 = 0;
pub(super) const CONTROLLER: u8 = 1;

/// One partition of a topic (K4-K6).
#[derive(Debug, Clone)]
pub struct TopicPartitionRow {
    pub vals: [f64; 4],
    under_replicated: Tracker,
    offline: Tracker,
    leaderless: Tracker,
}

impl Default for TopicPartitionRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 4],
            under_replicated: Tracker::default(),
            offline: Tracker::default(),
            leaderless: Tracker::default(),
        }
    }
}

const K4: StatusRule = StatusRule::new(Rule::K4, Sign::Degraded, Confidence::Measured);
const K5: StatusRule = StatusRule::new(Rule::K5, Sign::Defective, Confidence::Measured);
const K6: StatusRule = StatusRule::new(Rule::K6, Sign::Down, Confidence::Measured);

/// K4-K6.
pub fn evaluate_partition(r: &mut TopicPartitionRow, mask: u32, c: &Common, sink: &mut Sink<'_>) {
    let fresh_isr = fresh_value(&r.vals, mask, REPLICAS).is_some()
        || fresh_value(&r.vals, mask, IN_SYNC).is_some();
    if let (true, Some(replicas), Some(in_sync)) =
        (fresh_isr, known(&r.vals, REPLICAS), known(&r.vals, IN_SYNC))
    {
        K4.step(
            &mut r.under_replicated,
            u8::from(in_sync < replicas),
            |e| {
                e.with("replicas", replicas)
                    .with("replicas_in_sync", in_sync)
            },
            c,
            sink,
        );
    }
    K4.reading(&r.under_replicated, c, sink);
    if let Some(offline) = fresh_value(&r.vals, mask, OFFLINE) {
        K5.step(
            &mut r.offline,
            u8::from(offline > 0.0),
            |e| e.with("offline_replicas", offline),
            c,
            sink,
        );
    }
    K5.reading(&r.offline, c, sink);
    if let Some(leader) = fresh_value(&r.vals, mask, LEADER) {
        K6.step(
            &mut r.leaderless,
            u8::from(leader < 0.0),
            |e| e.with("leader", leader),
            c,
            sink,
        );
    }
    K6.reading(&r.leaderless, c, sink);
}

/// The cluster: its broker count (K8) and controller (K9).
#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub vals: [f64; 2],
    /// The broker count the cluster is expected to have: the highest seen, until a smaller
    /// count lasts `broker_left_hold`.
    expected: Option<f64>,
    brokers: Tracker,
    /// When the count fell below the expected one.
    below_since: u64,
    controller: Option<f64>,
    /// Polls left in K9's ERRATIC after a controller change.
    churn: u16,
    controller_state: Tracker,
}

impl Default for ClusterRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            expected: None,
            brokers: Tracker::default(),
            below_since: 0,
            controller: None,
            churn: 0,
            controller_state: Tracker::default(),
        }
    }
}

const CONTROLLER_CHANGED: u8 = 1;
const NO_CONTROLLER: u8 = 2;

/// K8, K9.
pub fn evaluate_cluster(
    r: &mut ClusterRow,
    mask: u32,
    p: &AdminPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let t = sink.time;
    if let Some(count) = fresh_value(&r.vals, mask, BROKERS) {
        let hold = u64::try_from(p.broker_left_hold.as_nanos()).unwrap_or(u64::MAX);
        let expected = r.expected.get_or_insert(count);
        let mut accepted = false;
        if count >= *expected {
            *expected = count;
        } else if r.brokers.state() == 1 && t.saturating_sub(r.below_since) >= hold {
            // Smaller for long enough: the cluster's new size (a decommissioned broker).
            *expected = count;
            accepted = true;
        }
        let expected = r.expected.unwrap_or(count);
        let level = u8::from(count < expected);
        let step = r.brokers.advance(level, t);
        if step.changed {
            r.below_since = t;
            let sign = if level == 1 {
                members::Sign::Leave
            } else {
                members::Sign::Join
            };
            let mut e = Evidence::rule(Rule::K8.name())
                .with("brokers", count)
                .with("expected_brokers", expected);
            if accepted {
                e = e.with("accepted_after_seconds", p.broker_left_hold.as_secs_f64());
            }
            sink.emit(SignalKind::Members(sign, members::Dimension::Peer), e);
        }
    }
    if r.brokers.state() == 1 {
        sink.status(
            Rule::K8,
            Sign::Degraded,
            c.confidence.raise(Confidence::Measured, r.brokers.streak()),
        );
    }

    if let Some(id) = fresh_value(&r.vals, mask, CONTROLLER) {
        let before = r.controller.replace(id);
        if id < 0.0 {
            r.churn = 0;
        } else if before.is_some_and(|b| b >= 0.0 && b != id) {
            r.churn = p.window;
        } else {
            r.churn = r.churn.saturating_sub(1);
        }
        let level = if id < 0.0 {
            NO_CONTROLLER
        } else if r.churn > 0 {
            CONTROLLER_CHANGED
        } else {
            0
        };
        let sign = controller_sign(level);
        let agreement = c.confidence;
        if let Some(kind) = r.controller_state.observe(level, t, |streak| {
            Some(SignalKind::Statuses(
                sign,
                agreement.raise(Confidence::Measured, streak),
            ))
        }) {
            let mut e = Evidence::rule(Rule::K9.name()).with("controller", id);
            if let Some(b) = before {
                e = e.with("previous_controller", b);
            }
            sink.emit(kind, e);
        }
    }
    if r.controller_state.streak() > 0 {
        sink.status(
            Rule::K9,
            controller_sign(r.controller_state.state()),
            c.confidence
                .raise(Confidence::Measured, r.controller_state.streak()),
        );
    }
}

fn controller_sign(level: u8) -> Sign {
    match level {
        NO_CONTROLLER => Sign::Down,
        CONTROLLER_CHANGED => Sign::Erratic,
        _ => Sign::Stable,
    }
}

/// One broker's preferred partitions and those it leads (K11).
#[derive(Debug, Clone)]
pub struct BrokerRow {
    pub vals: [f64; 2],
    imbalance: Tracker,
}

impl Default for BrokerRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            imbalance: Tracker::default(),
        }
    }
}

const K11: StatusRule = StatusRule::new(Rule::K11, Sign::Diverging, Confidence::Measured);

/// K11: the share of the partitions a broker is the preferred replica of that another replica
/// leads, against `leader_imbalance` (Kafka's `leader.imbalance.per.broker.percentage`).
pub fn evaluate_broker(
    r: &mut BrokerRow,
    mask: u32,
    p: &AdminPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let fresh = fresh_value(&r.vals, mask, PREFERRED).is_some()
        || fresh_value(&r.vals, mask, PREFERRED_LED).is_some();
    if let (true, Some(preferred), Some(led)) = (
        fresh,
        known(&r.vals, PREFERRED),
        known(&r.vals, PREFERRED_LED),
    ) {
        let not_led = (preferred - led).max(0.0);
        // A broker preferred for nothing has nothing to lead: balanced.
        let share = if preferred > 0.0 {
            not_led / preferred
        } else {
            0.0
        };
        let level = above(share, p.leader_imbalance, &r.imbalance, c);
        K11.step(
            &mut r.imbalance,
            level,
            |e| {
                e.with("imbalance", share)
                    .with("preferred_partitions", preferred)
                    .with("preferred_partitions_not_led", not_led)
                    .threshold(p.leader_imbalance)
            },
            c,
            sink,
        );
    }
    K11.reading(&r.imbalance, c, sink);
}
