//! Pack `jvm`: rules J1-J3 on one JVM (its heap) and each of its garbage collectors (`name`).
//!
//! | rule | reads | emits |
//! |---|---|---|
//! | J1 | heap used / max >= 0.75 / 0.85 / 0.95 | Statuses DIVERGING / DEGRADED / DEFECTIVE (MEASURED); STABLE on the way back; the values stay in the metrics pipeline as gauges |
//! | J2 | a collector's collection count rises | Counters INCREMENT with the per-poll delta; a fall is Counters RESET |
//! | J3 | collection time grew by more than 10 % of the wall time since the previous poll | Statuses DEGRADED (MEASURED) ("a long pause"); STABLE when it stops |

pub mod config;

use kafka_obs_signal::{
    Evidence, SignalKind, counters,
    statuses::{Confidence, Sign},
};

use self::config::JvmPackConfig;
use super::shared::StatusRule;
use super::{Common, Input, Reader, Rule, Sink, fresh_value, input, known};
use crate::signals::state::{CounterState, CounterStep, Tracker, ladder, status_kind};

const USED: u8 = 0;
const MAX: u8 = 1;
const COUNT: u8 = 0;
const ELAPSED: u8 = 1;

/// The metric-name table: what the `jvm` preset calls each input.
pub const METRICS: &[Input] = &[
    input("jvm.memory.heap.used", Reader::Heap, USED),
    input("jvm.memory.heap.max", Reader::Heap, MAX),
    input("jvm.gc.collections.count", Reader::Gc, COUNT),
    input("jvm.gc.collections.elapsed", Reader::Gc, ELAPSED),
];

/// One JVM's heap.
#[derive(Debug, Clone)]
pub struct HeapRow {
    pub vals: [f64; 2],
    heap: Tracker,
}

impl Default for HeapRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            heap: Tracker::default(),
        }
    }
}

/// One garbage collector.
#[derive(Debug, Clone)]
pub struct GcRow {
    pub vals: [f64; 2],
    count: CounterState,
    elapsed: CounterState,
    previous_time: Option<u64>,
    pause: Tracker,
}

impl Default for GcRow {
    fn default() -> Self {
        Self {
            vals: [f64::NAN; 2],
            count: CounterState::default(),
            elapsed: CounterState::default(),
            previous_time: None,
            pause: Tracker::default(),
        }
    }
}

fn heap_sign(level: u8) -> Sign {
    match level {
        3 => Sign::Defective,
        2 => Sign::Degraded,
        1 => Sign::Diverging,
        _ => Sign::Stable,
    }
}

/// J1.
pub fn evaluate_heap(
    r: &mut HeapRow,
    mask: u32,
    p: &JvmPackConfig,
    c: &Common,
    sink: &mut Sink<'_>,
) {
    let used = fresh_value(&r.vals, mask, USED);
    if let (Some(used), Some(max)) = (used, known(&r.vals, MAX))
        && max > 0.0
    {
        let ratio = used / max;
        let thresholds = [p.heap_diverging, p.heap_degraded, p.heap_defective];
        let level = ladder(
            ratio,
            &thresholds,
            r.heap.state(),
            c.hysteresis,
            true,
            false,
        );
        let sign = heap_sign(level);
        let agreement = c.confidence;
        if let Some(kind) = r.heap.observe(level, sink.time, |streak| {
            Some(status_kind(sign, Confidence::Measured, streak, &agreement))
        }) {
            let mut e = Evidence::rule(Rule::J1.name())
                .with("heap_ratio", ratio)
                .with("used_bytes", used)
                .with("max_bytes", max);
            if level > 0 {
                e = e.threshold(thresholds[usize::from(level) - 1]);
            }
            sink.emit(kind, e);
        }
    }
    if r.heap.streak() > 0 {
        let conf = c.confidence.raise(Confidence::Measured, r.heap.streak());
        sink.status(Rule::J1, heap_sign(r.heap.state()), conf);
    }
}

const J3: StatusRule = StatusRule::new(Rule::J3, Sign::Degraded, Confidence::Measured);

/// J2 and J3.
pub fn evaluate_gc(r: &mut GcRow, mask: u32, p: &JvmPackConfig, c: &Common, sink: &mut Sink<'_>) {
    if let Some(v) = fresh_value(&r.vals, mask, COUNT) {
        match r.count.observe(v) {
            CounterStep::Increase(delta) => sink.emit(
                SignalKind::Counters(counters::Sign::Increment),
                Evidence::rule(Rule::J2.name())
                    .with("delta", delta)
                    .with("total", v),
            ),
            CounterStep::Reset { previous } => sink.counter_reset(Rule::J2.name(), previous, v),
            CounterStep::First | CounterStep::Same => {}
        }
    }
    if let Some(v) = fresh_value(&r.vals, mask, ELAPSED) {
        let previous_time = r.previous_time.replace(sink.time);
        let step = r.elapsed.observe(v);
        let grew = match step {
            CounterStep::Increase(d) => Some(d),
            CounterStep::Same => Some(0.0),
            CounterStep::First => None,
            CounterStep::Reset { previous } => {
                sink.counter_reset(Rule::J3.name(), previous, v);
                None
            }
        };
        let wall_ms = previous_time.map(|prev| sink.time.saturating_sub(prev) as f64 / 1e6);
        if let (Some(grew_ms), Some(wall_ms)) = (grew, wall_ms)
            && wall_ms > 0.0
        {
            let fraction = grew_ms / wall_ms;
            let before = r.pause.state();
            J3.threshold(
                &mut r.pause,
                ("gc_time_fraction", fraction),
                p.gc_pause_fraction,
                c,
                sink,
            );
            if r.pause.state() != before
                && let Some(last) = sink.out.last_mut()
            {
                last.evidence.values.insert("gc_time_ms".into(), grew_ms);
                last.evidence.values.insert("wall_time_ms".into(), wall_ms);
            }
        }
    }
    J3.reading(&r.pause, c, sink);
}
