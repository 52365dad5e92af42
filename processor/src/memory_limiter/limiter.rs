//! The checker and the refusing step: a task measures the process's memory (its live heap,
//! `memory.rs`) every
//! `check_interval` and publishes whether it is above the soft limit; the step reads that flag
//! for each batch, so the per-batch cost is one atomic load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use kafka_obs_api::{Batch, ComponentTelemetry, Gauge, RunContext};

use super::memory::process_memory_bytes;
use crate::per_parcel::Step;

const MIB: u64 = 1 << 20;

/// The limits in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub hard: u64,
    pub soft: u64,
}

/// What the checker last saw, shared with the step.
#[derive(Debug, Default)]
struct State {
    refusing: AtomicBool,
    rss: AtomicU64,
}

/// A `memory_limiter` instance: refuses while the checker says memory is above the soft limit.
pub(crate) struct Limiter {
    interval: Duration,
    limits: Limits,
    state: Arc<State>,
    rss_gauge: Gauge,
    id: String,
    /// Stops the checker when the processor ends.
    _checker: Option<DropGuard>,
}

impl Limiter {
    pub(crate) fn new(interval: Duration, limits: Limits, telemetry: ComponentTelemetry) -> Self {
        Self {
            interval,
            limits,
            state: Arc::default(),
            rss_gauge: telemetry.gauge(
                "kafka_obs_processor_memory_limiter_memory_bytes",
                "The memory the memory_limiter last measured: the live heap (RSS where the heap is not counted).",
                &[],
            ),
            id: telemetry.id().to_string(),
            _checker: None,
        }
    }
}

/// One measurement: publishes it and logs when the limiter starts or stops refusing.
fn check(state: &State, limits: Limits, gauge: &Gauge, id: &str) {
    let rss = match process_memory_bytes() {
        Ok(rss) => rss,
        Err(e) => {
            // Keep the last verdict: without a measurement we know no better.
            tracing::warn!(processor = %id, error = %e, "cannot measure this process's memory");
            return;
        }
    };
    state.rss.store(rss, Ordering::Relaxed);
    gauge.set(i64::try_from(rss).unwrap_or(i64::MAX));
    let above = rss >= limits.soft;
    let was = state.refusing.swap(above, Ordering::Relaxed);
    if above && !was {
        tracing::warn!(
            processor = %id,
            rss_mib = rss / MIB,
            soft_limit_mib = limits.soft / MIB,
            hard_limit_mib = limits.hard / MIB,
            hard_limit_reached = rss >= limits.hard,
            "memory usage is above the soft limit; refusing data until it falls"
        );
    } else if !above && was {
        tracing::info!(processor = %id, rss_mib = rss / MIB, soft_limit_mib = limits.soft / MIB, "memory usage is below the soft limit again; accepting data");
    }
}

impl Step for Limiter {
    fn start(&mut self, ctx: &RunContext) {
        let stop = CancellationToken::new();
        let (state, limits, gauge, id) = (
            self.state.clone(),
            self.limits,
            self.rss_gauge.clone(),
            self.id.clone(),
        );
        check(&state, limits, &gauge, &id);
        let interval = self.interval;
        let stopped = stop.clone();
        let shutdown = ctx.shutdown.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    () = shutdown.cancelled() => return,
                    _ = ticker.tick() => check(&state, limits, &gauge, &id),
                }
            }
        });
        self._checker = Some(stop.drop_guard());
    }

    fn step(&mut self, batch: Batch) -> Result<Batch, String> {
        if !self.state.refusing.load(Ordering::Relaxed) {
            return Ok(batch);
        }
        let rss = self.state.rss.load(Ordering::Relaxed);
        Err(format!(
            "memory_limiter {}: the collector uses {} MiB, above its soft limit of {} MiB; retry later",
            self.id,
            rss / MIB,
            self.limits.soft / MIB
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use kafka_obs_api::{BuildContext, ComponentKind, DataKind};

    fn limiter(limits: Limits) -> Limiter {
        let ctx = BuildContext::for_test(
            ComponentKind::Processor,
            "memory_limiter",
            &[DataKind::Logs],
        );
        Limiter::new(Duration::from_millis(10), limits, ctx.telemetry)
    }

    fn gauge_batch(_metrics: usize, _points: usize) -> Batch {
        crate::per_parcel::tests::logs(3)
    }

    #[test]
    fn refuses_above_the_soft_limit_and_passes_below() {
        let rss = process_memory_bytes().unwrap();
        let mut low = limiter(Limits {
            hard: rss / 2,
            soft: rss / 4,
        });
        check(&low.state, low.limits, &low.rss_gauge, "t");
        let reason = low.step(gauge_batch(1, 3)).expect_err("above the limit");
        assert!(
            reason.contains("soft limit") && reason.contains("retry"),
            "{reason}"
        );
        assert!(low.rss_gauge.get() > 0);

        let mut high = limiter(Limits {
            hard: rss * 4,
            soft: rss * 2,
        });
        check(&high.state, high.limits, &high.rss_gauge, "t");
        assert_eq!(high.step(gauge_batch(1, 3)).unwrap(), gauge_batch(1, 3));
    }
}
