//! Pack `container`: rules CR1-CR5 on one container's resources (one row per resource: the
//! `cgroup` receiver's, or a kubeletstats / docker_stats / k8scluster collector's over OTLP).
//! Its signals are about the resource's subject, the service instance
//! (`service.name`/`service.instance.id`), so they land on the instance's cell.
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | CR1 | working set / memory limit >= 0.80 / 0.90 | Statuses DIVERGING / DEGRADED (MEASURED); STABLE on the way back |
//! | CR2 | throttled CFS periods / periods over the last 6 readings > 0.25 | Statuses DEGRADED (MEASURED); STABLE when the share falls |
//! | CR3 | the OOM-kill counter rises | Counters INCREMENT (delta) + Resources DENY; Resources GRANT at the next reading without a kill |
//! | CR4 | the restart counter rises | Statuses DEGRADED (MEASURED) with `restarts`; STABLE at the next reading without a restart |
//! | CR5 | open file descriptors / their limit > 0.90 | Statuses DIVERGING (MEASURED); STABLE on the way back |

pub mod config;

use kafka_obs_signal::{
    Evidence, SignalKind, counters, resources,
    statuses::{Confidence, Sign},
};

use self::config::{ContainerPackConfig, MAX_THROTTLE_WINDOW};
use super::shared::StatusRule;
use super::{Common, Input, Reader, Rule, Sink, fresh, fresh_value, input, known};
use crate::signals::state::{CounterState, CounterStep, Tracker, ladder, status_kind};

const UTILIZATION: u8 = 0;
const WORKING_SET: u8 = 1;
const LIMIT: u8 = 2;
const PERIODS: u8 = 3;
const THROTTLED: u8 = 4;
const OOM_KILLS: u8 = 5;
const RESTARTS: u8 = 6;
const OPEN_FDS: u8 = 7;
const FD_LIMIT: u8 = 8;
const SLOTS: usize = 9;

/// The metric-name table: the `cgroup` receiver's names, and the spellings of the Collector's
/// kubeletstats (memory), docker_stats (throttling, limit, restarts) and k8scluster
/// (restarts) receivers for the same inputs.
pub const METRICS: &[Input] = &[
    // CR1: kubeletstats and the cgroup receiver both emit the ratio ...
    input(
        "k8s.container.memory_limit_utilization",
        Reader::Container,
        UTILIZATION,
    ),
    // ... else it is working set / limit.
    input(
        "container.memory.working_set",
        Reader::Container,
        WORKING_SET,
    ),
    input("container.memory.usage.limit", Reader::Container, LIMIT),
    // CR2: the cgroup receiver and docker_stats.
    input(
        "container.cpu.throttling_data.periods",
        Reader::Container,
        PERIODS,
    ),
    input(
        "container.cpu.throttling_data.throttled_periods",
        Reader::Container,
        THROTTLED,
    ),
    // CR3: the cgroup receiver.
    input("container.memory.oom_kills", Reader::Container, OOM_KILLS),
    // CR4: the cgroup receiver and docker_stats; k8scluster's restart count.
    input("container.restarts", Reader::Container, RESTARTS),
    input("k8s.container.restarts", Reader::Container, RESTARTS),
    // CR5: hostmetrics' process scraper name; the limit is the cgroup receiver's.
    input("process.open_file_descriptors", Reader::Container, OPEN_FDS),
    input(
        "process.open_file_descriptors.limit",
        Reader::Container,
        FD_LIMIT,
    ),
];

/// One container.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub vals: [f64; SLOTS],
    memory: Tracker,
    /// CR2's readings of (periods, throttled periods), oldest first.
    periods: Vec<(f64, f64)>,
    throttle: Tracker,
    oom: CounterState,
    restarts: CounterState,
    restart: Tracker,
    fds: Tracker,
}

impl Default for ContainerRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; SLOTS],
            memory: Tracker::default(),
            periods: Vec::new(),
            throttle: Tracker::default(),
            oom: CounterState::default(),
            restarts: CounterState::default(),
            restart: Tracker::default(),
            fds: Tracker::default(),
        }
    }
}

const CR2: StatusRule = StatusRule::new(Rule::CR2, Sign::Degraded, Confidence::Measured);
const CR4: StatusRule = StatusRule::new(Rule::CR4, Sign::Degraded, Confidence::Measured);
const CR5: StatusRule = StatusRule::new(Rule::CR5, Sign::Diverging, Confidence::Measured);

/// CR1-CR5 on one evaluation of the row.
pub fn evaluate(
    r: &mut ContainerRow,
    mask: u32,
    p: &ContainerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    memory(r, mask, p, c, sink);
    throttling(r, mask, p, c, sink);
    oom_kills(r, mask, sink);
    restarts(r, mask, c, sink);
    fds(r, mask, p, c, sink);
}

fn memory_sign(level: u8) -> Sign {
    match level {
        2 => Sign::Degraded,
        1 => Sign::Diverging,
        _ => Sign::Stable,
    }
}

/// CR1: the working set against the limit, as a two-step ladder with hysteresis.
fn memory(
    r: &mut ContainerRow,
    mask: u32,
    p: &ContainerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    // The limit of this same reading: a limit lifted since is no limit.
    let limit = fresh_value(&r.vals, mask, LIMIT).filter(|l| *l > 0.0);
    let ratio = fresh_value(&r.vals, mask, UTILIZATION).or_else(|| {
        let ws = fresh_value(&r.vals, mask, WORKING_SET)?;
        Some(ws / limit?)
    });
    if let Some(ratio) = ratio.filter(|v| v.is_finite()) {
        let thresholds = [p.memory_diverging, p.memory_degraded];
        let level = ladder(
            ratio,
            &thresholds,
            r.memory.state(),
            c.hysteresis,
            true,
            false,
        );
        let sign = memory_sign(level);
        let agreement = c.confidence;
        if let Some(kind) = r.memory.observe(level, sink.time, |streak| {
            Some(status_kind(sign, Confidence::Measured, streak, &agreement))
        }) {
            let mut e = Evidence::rule(Rule::CR1.name()).with("memory_limit_utilization", ratio);
            if let Some(ws) = fresh_value(&r.vals, mask, WORKING_SET) {
                e = e.with("working_set_bytes", ws);
            }
            if let Some(limit) = limit {
                e = e.with("limit_bytes", limit);
            }
            if level > 0 {
                e = e.threshold(thresholds[usize::from(level) - 1]);
            }
            sink.emit(kind, e);
        }
    }
    if r.memory.streak() > 0 {
        let conf = c.confidence.raise(Confidence::Measured, r.memory.streak());
        sink.status(Rule::CR1, memory_sign(r.memory.state()), conf);
    }
}

/// CR2: the throttled share of CFS periods between the oldest and newest reading of the
/// window. Counters that fall (the cgroup was recreated) start the window again.
fn throttling(
    r: &mut ContainerRow,
    mask: u32,
    p: &ContainerPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    if fresh(mask, THROTTLED)
        && let (Some(periods), Some(throttled)) =
            (known(&r.vals, PERIODS), known(&r.vals, THROTTLED))
    {
        if r.periods
            .last()
            .is_some_and(|(lp, lt)| periods < *lp || throttled < *lt)
        {
            r.periods.clear();
        }
        let window = usize::from(p.throttle_window.min(MAX_THROTTLE_WINDOW));
        if r.periods.len() >= window {
            r.periods.remove(0);
        }
        r.periods.push((periods, throttled));
        if let (Some(first), Some(last)) = (r.periods.first(), r.periods.last())
            && r.periods.len() >= 2
        {
            let elapsed = last.0 - first.0;
            let share = if elapsed > 0.0 {
                (last.1 - first.1) / elapsed
            } else {
                0.0
            };
            let before = r.throttle.state();
            CR2.threshold(
                &mut r.throttle,
                ("throttled_share", share),
                p.throttled_share,
                c,
                sink,
            );
            if r.throttle.state() != before
                && let Some(signal) = sink.out.last_mut()
            {
                signal.evidence.values.insert("periods".into(), elapsed);
                signal
                    .evidence
                    .values
                    .insert("throttled_periods".into(), last.1 - first.1);
            }
        }
    }
    CR2.reading(&r.throttle, c, sink);
}

/// CR3: each rise of the OOM-kill counter is a witnessed kill and a denied allocation (a
/// condition for that one evaluation: the engine answers it with Resources GRANT).
fn oom_kills(r: &mut ContainerRow, mask: u32, sink: &mut Sink<'_>) {
    let Some(v) = fresh_value(&r.vals, mask, OOM_KILLS) else {
        return;
    };
    match r.oom.observe(v) {
        CounterStep::Increase(delta) => {
            sink.emit(
                SignalKind::Counters(counters::Sign::Increment),
                Evidence::rule(Rule::CR3.name())
                    .with("delta", delta)
                    .with("total", v),
            );
            sink.emit(
                SignalKind::Resources(resources::Sign::Deny),
                Evidence::rule(Rule::CR3.name()).with("oom_kills", delta),
            );
        }
        CounterStep::Reset { previous } => sink.counter_reset(Rule::CR3.name(), previous, v),
        CounterStep::First | CounterStep::Same => {}
    }
}

/// CR4: a rise of the restart counter is a restart, a condition for that one evaluation.
fn restarts(r: &mut ContainerRow, mask: u32, c: &Common, sink: &mut Sink<'_>) {
    if let Some(v) = fresh_value(&r.vals, mask, RESTARTS) {
        let level = match r.restarts.observe(v) {
            CounterStep::Increase(delta) => Some((1, delta)),
            CounterStep::Same => Some((0, 0.0)),
            CounterStep::First => None,
            CounterStep::Reset { previous } => {
                // The counter's source restarted (our receiver), not the container.
                sink.counter_reset(Rule::CR4.name(), previous, v);
                Some((0, 0.0))
            }
        };
        if let Some((level, delta)) = level {
            CR4.step(
                &mut r.restart,
                level,
                |e| e.with("restarts", delta).with("total", v),
                c,
                sink,
            );
        }
    }
    CR4.reading(&r.restart, c, sink);
}

/// CR5: open file descriptors against the soft limit.
fn fds(r: &mut ContainerRow, mask: u32, p: &ContainerPackConfig, c: &Common, sink: &mut Sink<'_>) {
    if let (Some(open), Some(limit)) = (
        fresh_value(&r.vals, mask, OPEN_FDS),
        known(&r.vals, FD_LIMIT).filter(|l| *l > 0.0),
    ) {
        let ratio = open / limit;
        let before = r.fds.state();
        CR5.threshold(
            &mut r.fds,
            ("fd_utilization", ratio),
            p.fd_utilization,
            c,
            sink,
        );
        if r.fds.state() != before
            && let Some(signal) = sink.out.last_mut()
        {
            signal.evidence.values.insert("open_fds".into(), open);
            signal.evidence.values.insert("fd_limit".into(), limit);
        }
    }
    CR5.reading(&r.fds, c, sink);
}
