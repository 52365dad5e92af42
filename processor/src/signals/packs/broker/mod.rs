//! Pack `kafka` (the broker): rules B1-B7 on one broker, its request types (`request`) and its
//! ISR operations (`operation`).
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | B1 | under-replicated partitions > 0 | Statuses DEGRADED (CONFIRMED) on the broker; STABLE on the way back |
//! | B2 | offline partitions > 0 | Statuses DEFECTIVE (MEASURED) |
//! | B3 | the broker's active-controller count | Members ELECT × SELF (>= 1) / RESIGN × SELF (0) on change and every heartbeat; the central hierarchy decides the cluster DOWN |
//! | B4 | ISR shrinks count rises | Members EVICT × PEER with the delta |
//! | B5 | request time p99 rising (the trend detector of P8, never below `min_latency_ms`, 100 ms) | Statuses DIVERGING (MEASURED), again when CONFIRMED by agreement; CONVERGING / STABLE after |
//! | B6N | network processor idle < 0.3 | Resources TIMEOUT; GRANT on the way back (at or above 0.315) |
//! | B6H | request handler idle < 0.1 | Resources DENY; GRANT on the way back (at or above 0.105) |
//! | B7 | unclean leader elections count rises | Statuses DEFECTIVE (MEASURED) while it rises |
//!
//! B3 is decided where every broker is seen: a collector next to one broker sees that broker's
//! count only, and a broker that is not the controller reports 0 while the cluster is fine. So
//! each broker states whether it is the controller, and the central hierarchy puts the cluster
//! DOWN when every live broker says it is not (docs/rules.md, B3).
//!
//! B6 of the rule book is two conditions with two rule ids: the network threads and the
//! request handlers are separate pools that saturate for different reasons, and a condition is
//! kept (here and by the central Observers) per rule id, so under one id the recovery of one
//! pool would hide the other that is still saturated.

pub mod config;

use kafka_obs_signal::{
    Evidence, SignalKind, members, resources,
    statuses::{Confidence, Sign},
};

use self::config::BrokerPackConfig;
use super::shared::{StatusRule, latency_trend};
use super::{Common, Input, Reader, Rule, Sink, fresh_value, input};
use crate::signals::state::{CounterState, CounterStep, Tracker, ladder};
use crate::signals::trend::TrendDetector;

const UNDER_REPLICATED: u8 = 0;
const OFFLINE: u8 = 1;
/// Slot of `kafka.controller.active.count` (B3).
const ACTIVE_CONTROLLER: u8 = 2;
const NETWORK_IDLE: u8 = 3;
const HANDLER_IDLE: u8 = 4;
const UNCLEAN: u8 = 5;
const SLOTS: usize = 6;

/// The metric-name table: what the `kafka` preset calls each input.
pub const METRICS: &[Input] = &[
    input(
        "kafka.partition.under_replicated",
        Reader::Broker,
        UNDER_REPLICATED,
    ),
    input("kafka.partition.offline", Reader::Broker, OFFLINE),
    input(
        "kafka.controller.active.count",
        Reader::Broker,
        ACTIVE_CONTROLLER,
    ),
    input(
        "kafka.network.processor.avg.idle.percent",
        Reader::Broker,
        NETWORK_IDLE,
    ),
    input(
        "kafka.request.handler.avg.idle.percent",
        Reader::Broker,
        HANDLER_IDLE,
    ),
    input("kafka.unclean.election.rate", Reader::Broker, UNCLEAN),
    Input {
        metric: "kafka.isr.operation.count",
        reader: Reader::Isr,
        slot: 0,
        only_if: Some(("operation", "shrink")),
    },
    input("kafka.request.time.99p", Reader::Request, 0),
];

/// One broker.
#[derive(Debug, Clone)]
pub struct BrokerRow {
    pub vals: [f64; SLOTS],
    under_replicated: Tracker,
    offline: Tracker,
    network: Tracker,
    handler: Tracker,
    unclean: CounterState,
    unclean_state: Tracker,
    /// B3: 1 while this broker is the controller.
    controller: Tracker,
    /// B3: evaluations since the controller state was last stated.
    controller_quiet: u32,
}

impl Default for BrokerRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; SLOTS],
            under_replicated: Tracker::default(),
            offline: Tracker::default(),
            network: Tracker::default(),
            handler: Tracker::default(),
            unclean: CounterState::default(),
            unclean_state: Tracker::default(),
            controller: Tracker::default(),
            controller_quiet: 0,
        }
    }
}

/// One broker's ISR shrinks.
#[derive(Debug, Clone)]
pub struct IsrRow {
    pub vals: [f64; 1],
    shrinks: CounterState,
}

impl Default for IsrRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN],
            shrinks: CounterState::default(),
        }
    }
}

/// One request type's p99 time.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub vals: [f64; 1],
    trend: TrendDetector,
    state: Tracker,
}

impl Default for RequestRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN],
            trend: TrendDetector::default(),
            state: Tracker::default(),
        }
    }
}

const B1: StatusRule = StatusRule::new(Rule::B1, Sign::Degraded, Confidence::Confirmed);
const B2: StatusRule = StatusRule::new(Rule::B2, Sign::Defective, Confidence::Measured);
const B7: StatusRule = StatusRule::new(Rule::B7, Sign::Defective, Confidence::Measured);

/// B1, B2, B3, B6, B7.
pub fn evaluate(
    r: &mut BrokerRow,
    mask: u32,
    p: &BrokerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let t = sink.time;
    if let Some(v) = fresh_value(&r.vals, mask, ACTIVE_CONTROLLER) {
        let state = u8::from(v >= 1.0);
        let step = r.controller.advance(state, t);
        r.controller_quiet += 1;
        if step.changed || r.controller_quiet >= c.heartbeat_every.max(1) {
            r.controller_quiet = 0;
            let sign = if state == 1 {
                members::Sign::Elect
            } else {
                members::Sign::Resign
            };
            sink.emit(
                SignalKind::Members(sign, members::Dimension::Own),
                Evidence::rule(Rule::B3.name()).with("active_controller_count", v),
            );
        }
    }
    if let Some(v) = fresh_value(&r.vals, mask, UNDER_REPLICATED) {
        B1.threshold(
            &mut r.under_replicated,
            ("under_replicated_partitions", v),
            p.under_replicated_threshold,
            c,
            sink,
        );
    }
    B1.reading(&r.under_replicated, c, sink);

    if let Some(v) = fresh_value(&r.vals, mask, OFFLINE) {
        B2.threshold(
            &mut r.offline,
            ("offline_partitions", v),
            p.offline_threshold,
            c,
            sink,
        );
    }
    B2.reading(&r.offline, c, sink);

    // B6N, B6H: each pool's idle share is its own condition, with its own state.
    for (rule, slot, tracker, min, bad, name) in [
        (
            Rule::B6N,
            NETWORK_IDLE,
            &mut r.network,
            p.network_idle_min,
            resources::Sign::Timeout,
            "network_idle",
        ),
        (
            Rule::B6H,
            HANDLER_IDLE,
            &mut r.handler,
            p.request_handler_idle_min,
            resources::Sign::Deny,
            "request_handler_idle",
        ),
    ] {
        if let Some(v) = fresh_value(&r.vals, mask, slot) {
            let level = ladder(v, &[min], tracker.state(), c.hysteresis, false, true);
            let kind = SignalKind::Resources(if level == 1 {
                bad
            } else {
                resources::Sign::Grant
            });
            if let Some(kind) = tracker.observe(level, t, |_| Some(kind)) {
                sink.emit(
                    kind,
                    Evidence::rule(rule.name()).with(name, v).threshold(min),
                );
            }
        }
        if tracker.streak() > 0 {
            let kind = SignalKind::Resources(if tracker.state() == 1 {
                bad
            } else {
                resources::Sign::Grant
            });
            sink.reading_of(rule, kind, Confidence::Measured);
        }
    }

    if let Some(v) = fresh_value(&r.vals, mask, UNCLEAN) {
        let (level, delta) = match r.unclean.observe(v) {
            CounterStep::Increase(d) => (1, d),
            CounterStep::Reset { previous } => {
                sink.counter_reset(Rule::B7.name(), previous, v);
                (0, 0.0)
            }
            CounterStep::First | CounterStep::Same => (0, 0.0),
        };
        B7.step(
            &mut r.unclean_state,
            level,
            |e| e.with("unclean_elections", delta).with("total", v),
            c,
            sink,
        );
    }
    B7.reading(&r.unclean_state, c, sink);
}

/// B4.
pub fn evaluate_isr(r: &mut IsrRow, mask: u32, sink: &mut Sink<'_>) {
    let Some(v) = fresh_value(&r.vals, mask, 0) else {
        return;
    };
    match r.shrinks.observe(v) {
        CounterStep::Increase(delta) => sink.emit(
            SignalKind::Members(members::Sign::Evict, members::Dimension::Peer),
            Evidence::rule(Rule::B4.name())
                .with("isr_shrinks", delta)
                .with("total", v),
        ),
        CounterStep::Reset { previous } => sink.counter_reset(Rule::B4.name(), previous, v),
        CounterStep::First | CounterStep::Same => {}
    }
}

/// B5.
pub fn evaluate_request(
    r: &mut RequestRow,
    mask: u32,
    p: &BrokerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let value = fresh_value(&r.vals, mask, 0);
    latency_trend(
        &mut r.trend,
        &mut r.state,
        value,
        &p.request_latency_trend,
        (Rule::B5, "p99_ms"),
        c,
        sink,
    );
}
