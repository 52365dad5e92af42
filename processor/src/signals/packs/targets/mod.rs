//! Pack `targets`: the scrape targets themselves.
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | T1 | `kafka_obs.target.up` == 0 (the JMX receiver's 0/1 per endpoint) | Probes FAIL × OUTBOUND each failed poll; Statuses DOWN (CONFIRMED) once it failed 3 polls in a row; Probes CONNECT × OUTBOUND (and STABLE if it was DOWN) on recovery |
//! | T2 | a subject with no data for `stale_after` (an MBean that disappeared: the client closed) | Probes DISCONNECT × OUTBOUND with `reason=stale`, once; the subject then has no status points and no heartbeats until data returns. Never DOWN. |
//!
//! T2 is the engine's sweep (`engine/sweep.rs`); this file holds T1.

pub mod config;

use kafka_obs_signal::{
    Evidence, SignalKind, probes,
    statuses::{Confidence, Sign},
};

use self::config::TargetsPackConfig;
use super::{Input, Reader, Rule, Sink, fresh_value, input};
use crate::signals::state::Tracker;

/// The metric-name table.
pub const METRICS: &[Input] = &[input("kafka_obs.target.up", Reader::Target, 0)];

/// Attribute keys that name a target when the subject levels give nothing.
pub const TARGET_KEYS: &[&str] = &["endpoint", "target", "server.address", "jmx.endpoint"];

/// One scrape target.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub vals: [f64; 1],
    failures: u16,
    down: Tracker,
}

impl Default for TargetRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN],
            failures: 0,
            down: Tracker::default(),
        }
    }
}

const OUTBOUND: probes::Dimension = probes::Dimension::Outbound;

/// T1.
pub fn evaluate(r: &mut TargetRow, mask: u32, p: &TargetsPackConfig, sink: &mut Sink<'_>) {
    if let Some(up) = fresh_value(&r.vals, mask, 0) {
        if up <= 0.0 {
            r.failures = r.failures.saturating_add(1);
            sink.emit(
                SignalKind::Probes(probes::Sign::Fail, OUTBOUND),
                Evidence::rule(Rule::T1.name())
                    .with("failed_polls", f64::from(r.failures))
                    .threshold(f64::from(p.down_after_failures)),
            );
            if r.failures >= p.down_after_failures
                && let Some(kind) = r.down.observe(1, sink.time, |_| {
                    Some(SignalKind::Statuses(Sign::Down, Confidence::Confirmed))
                })
            {
                sink.emit(
                    kind,
                    Evidence::rule(Rule::T1.name())
                        .with("failed_polls", f64::from(r.failures))
                        .threshold(f64::from(p.down_after_failures)),
                );
            }
        } else {
            if r.failures > 0 {
                sink.emit(
                    SignalKind::Probes(probes::Sign::Connect, OUTBOUND),
                    Evidence::rule(Rule::T1.name()).with("failed_polls", f64::from(r.failures)),
                );
            }
            r.failures = 0;
            if let Some(kind) = r.down.observe(0, sink.time, |_| {
                Some(SignalKind::Statuses(Sign::Stable, Confidence::Measured))
            }) {
                sink.emit(
                    kind,
                    Evidence::rule(Rule::T1.name()).with("failed_polls", 0.0),
                );
            }
        }
    }
    let sign = if r.down.state() == 1 {
        Sign::Down
    } else if r.failures > 0 {
        Sign::Degraded
    } else {
        Sign::Stable
    };
    if !r.vals[0].is_nan() {
        sink.status(Rule::T1, sign, Confidence::Confirmed);
    }
}
