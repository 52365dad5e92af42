//! One endpoint's life: connect, poll every interval, report health, back off while it is down.
//!
//! Each endpoint gets its own task and its own [`TargetPoller`], which keeps up to
//! `connections_per_target` JMX sessions and the [`NameCache`] of its bean patterns. A semaphore
//! shared by the receiver bounds how many sessions poll at once (`max_concurrent_polls`): a task
//! waits for one permit, takes more if they are free (up to `connections_per_target`), and polls
//! over as many sessions as it holds permits, so parallel reads never exceed the bound. A poll is bounded by `timeout` (connect included) and
//! can never take the task down: every failure becomes `kafka_obs.target.up = 0` in the output,
//! a count in `kafka_obs_jmx_poll_failures_total`, and one log line when the target changes
//! state (not one per poll). While a target is down, connection attempts back off exponentially
//! (every 1, 2, 4, ... intervals, at most once a minute) but `target.up = 0` is still reported
//! every interval, so the signals processor sees a steady heartbeat of the outage.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::join_all;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use kafka_obs_api::{Batch, ComponentTelemetry, Counter, Gauge, Output};
use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, JmxError};

use super::convert::{self, Implausible, SeriesTracker};
use super::scrape::{self, NameCache, Plan, Warnings};

/// Backoff never waits longer than this between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long closing the session on shutdown may take.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Self-metrics of one target.
#[derive(Debug, Clone)]
struct TargetMetrics {
    polls: Counter,
    failures: Counter,
    connects: Counter,
    duration_us: Gauge,
    up: Gauge,
    /// `kafka_obs_jmx_dropped_values_total` by reason.
    dropped: Vec<(Implausible, Counter)>,
}

impl TargetMetrics {
    fn new(telemetry: &ComponentTelemetry, endpoint: &str) -> Self {
        let l = [("endpoint", endpoint)];
        TargetMetrics {
            polls: telemetry.counter(
                "kafka_obs_jmx_polls_total",
                "Polls of a JMX target attempted (skipped backoff intervals excluded).",
                &l,
            ),
            failures: telemetry.counter(
                "kafka_obs_jmx_poll_failures_total",
                "Polls of a JMX target that failed (unreachable, refused, timed out, bad reply).",
                &l,
            ),
            connects: telemetry.counter(
                "kafka_obs_jmx_connects_total",
                "JMX sessions established with a target (first connect and every reconnect).",
                &l,
            ),
            duration_us: telemetry.gauge(
                "kafka_obs_jmx_poll_duration_microseconds",
                "Duration of the last poll of a JMX target, connect included.",
                &l,
            ),
            up: telemetry.gauge(
                "kafka_obs_jmx_target_up",
                "1 if the last poll of a JMX target succeeded, else 0.",
                &l,
            ),
            dropped: Implausible::ALL
                .iter()
                .map(|&why| {
                    (
                        why,
                        telemetry.counter(
                            "kafka_obs_jmx_dropped_values_total",
                            "Values read from a JMX target and not exported because they are implausible (reason: non_finite, out_of_range, negative_counter).",
                            &[("endpoint", endpoint), ("reason", why.label())],
                        ),
                    )
                })
                .collect(),
        }
    }
}

/// What the last poll said about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    Up,
    Down,
}

/// Polls one endpoint and remembers what it needs between polls.
#[derive(Debug)]
pub struct TargetPoller {
    endpoint: Endpoint,
    label: String,
    receiver: String,
    options: ConnectOptions,
    plan: Arc<Plan>,
    timeout: Duration,
    /// Connected sessions (connected lazily, up to `connections`).
    sessions: Vec<JmxClient>,
    connections: usize,
    /// Sum of the sessions' transparent reconnects, already counted.
    client_reconnects: u64,
    names: NameCache,
    tracker: SeriesTracker,
    warnings: Warnings,
    resource: opentelemetry_proto::tonic::resource::v1::Resource,
    metrics: TargetMetrics,
    state: State,
    consecutive_failures: u32,
    /// Intervals still to skip before the next connection attempt.
    skip: u32,
    max_skip: u32,
}

/// How one interval went (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Up {
        mbeans: usize,
        points: usize,
    },
    Down {
        error: String,
    },
    /// Backing off: no attempt this interval (still reported as down).
    Skipped,
}

#[derive(Debug, Clone)]
pub struct TargetSettings {
    pub receiver: String,
    pub options: ConnectOptions,
    pub timeout: Duration,
    pub interval: Duration,
    pub resource_attributes: std::collections::BTreeMap<String, String>,
    /// Sessions per target (at least 1).
    pub connections: usize,
    /// `queryNames` results are reused this long (zero: every poll).
    pub mbean_refresh_interval: Duration,
}

impl TargetPoller {
    pub fn new(
        endpoint: Endpoint,
        plan: Arc<Plan>,
        settings: &TargetSettings,
        telemetry: &ComponentTelemetry,
    ) -> Self {
        let label = endpoint.to_string();
        let interval = settings.interval.max(Duration::from_millis(1));
        let max_skip = (MAX_BACKOFF.as_secs_f64() / interval.as_secs_f64()).floor() as u32;
        TargetPoller {
            resource: convert::target_resource(&settings.resource_attributes, &label),
            metrics: TargetMetrics::new(telemetry, &label),
            endpoint,
            label,
            receiver: settings.receiver.clone(),
            options: settings.options.clone(),
            plan,
            timeout: settings.timeout,
            sessions: Vec::new(),
            connections: settings.connections.max(1),
            client_reconnects: 0,
            names: NameCache::new(settings.mbean_refresh_interval),
            tracker: SeriesTracker::default(),
            warnings: Warnings::default(),
            state: State::Unknown,
            consecutive_failures: 0,
            skip: 0,
            max_skip: max_skip.saturating_sub(1),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.label
    }

    /// Drops the cached `queryNames` answers, so the next poll queries every pattern (what a
    /// scheduled refresh does; the benchmark uses it to reproduce the refresh rate of a real
    /// interval in a tight loop).
    pub fn forget_names(&mut self) {
        self.names.clear();
    }

    /// Sessions this poller uses when it may use them all.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// One interval's work over all `connections` sessions: poll (or skip while backing off)
    /// and build the batch to send.
    pub async fn poll(&mut self) -> (Batch, PollOutcome) {
        self.poll_with(self.connections).await
    }

    /// [`poll`](Self::poll) over at most `sessions` sessions (the permits the task holds).
    pub async fn poll_with(&mut self, sessions: usize) -> (Batch, PollOutcome) {
        let now_ns = unix_nanos();
        if self.skip > 0 {
            self.skip -= 1;
            debug!(receiver = %self.receiver, endpoint = %self.label, remaining = self.skip, "JMX target down; backing off");
            self.metrics.up.set(0);
            let batch = convert::to_batch(
                &self.plan,
                None,
                &mut self.tracker,
                now_ns,
                &self.resource,
                &self.label,
            );
            return (batch, PollOutcome::Skipped);
        }
        self.metrics.polls.inc();
        let had_sessions = self.sessions.len();
        let started = Instant::now();
        let want = sessions.clamp(1, self.connections);
        let result = tokio::time::timeout(
            self.timeout,
            poll_target(
                &mut self.sessions,
                want,
                &self.endpoint,
                &self.options,
                &self.plan,
                &mut self.names,
                &mut self.warnings,
                &self.label,
                started,
            ),
        )
        .await;
        self.metrics
            .duration_us
            .set(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX));
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(PollError::Timeout(self.timeout)),
        };
        self.count_connects(had_sessions);
        match result {
            Ok(scrape) => {
                self.tracker.begin(scrape.jvm_start_ms, now_ns);
                let batch = convert::to_batch(
                    &self.plan,
                    Some(&scrape.readings),
                    &mut self.tracker,
                    now_ns,
                    &self.resource,
                    &self.label,
                );
                self.tracker.end(now_ns);
                self.count_dropped();
                let points = scrape.readings.len();
                self.mark_up(scrape.mbeans, points);
                (
                    batch,
                    PollOutcome::Up {
                        mbeans: scrape.mbeans,
                        points,
                    },
                )
            }
            Err(e) => {
                // The connections' state is unknown after any failure: start afresh next time,
                // names included (the JVM may have restarted with other MBeans).
                self.sessions.clear();
                self.client_reconnects = 0;
                self.names.clear();
                let error = e.to_string();
                self.mark_down(&error);
                let batch = convert::to_batch(
                    &self.plan,
                    None,
                    &mut self.tracker,
                    now_ns,
                    &self.resource,
                    &self.label,
                );
                (batch, PollOutcome::Down { error })
            }
        }
    }

    /// Adds the values the last batch dropped as implausible to the self-metrics.
    fn count_dropped(&mut self) {
        let dropped = self.tracker.take_dropped();
        let mut total = 0;
        for (why, counter) in &self.metrics.dropped {
            let n = dropped.get(*why);
            if n > 0 {
                counter.add(n);
                total += n;
            }
        }
        if total > 0 {
            debug!(receiver = %self.receiver, endpoint = %self.label,
                non_finite = dropped.non_finite, out_of_range = dropped.out_of_range,
                negative_counter = dropped.negative_counter, "implausible JMX values dropped");
        }
    }

    /// Counts sessions: fresh connects, and the clients' own transparent reconnects.
    fn count_connects(&mut self, had_sessions: usize) {
        let fresh = self.sessions.len().saturating_sub(had_sessions) as u64;
        if fresh > 0 {
            self.metrics.connects.add(fresh);
        }
        let reconnects: u64 = self.sessions.iter().map(|c| c.stats().reconnects).sum();
        let new = reconnects.saturating_sub(self.client_reconnects);
        if new > 0 {
            self.metrics.connects.add(new);
            debug!(receiver = %self.receiver, endpoint = %self.label, reconnects = new, "JMX session re-established");
        }
        self.client_reconnects = reconnects;
    }

    fn mark_up(&mut self, mbeans: usize, points: usize) {
        self.metrics.up.set(1);
        match self.state {
            State::Unknown => {
                info!(receiver = %self.receiver, endpoint = %self.label, mbeans, points, "polling JMX target");
            }
            State::Down => {
                info!(receiver = %self.receiver, endpoint = %self.label, mbeans, points,
                    failed_intervals = self.consecutive_failures, "JMX target is reachable again");
            }
            State::Up => {
                debug!(receiver = %self.receiver, endpoint = %self.label, mbeans, points, "polled JMX target");
            }
        }
        self.state = State::Up;
        self.consecutive_failures = 0;
        self.skip = 0;
    }

    fn mark_down(&mut self, error: &str) {
        self.metrics.up.set(0);
        self.metrics.failures.inc();
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        // Skip 0, 1, 3, 7, ... intervals: attempts after 1, 2, 4, 8, ... intervals.
        let exp = self.consecutive_failures.saturating_sub(1).min(16);
        self.skip = ((1u32 << exp) - 1).min(self.max_skip);
        if self.state != State::Down {
            warn!(receiver = %self.receiver, endpoint = %self.label, error,
                "JMX target unreachable; reporting kafka_obs.target.up=0 and retrying with backoff (logged again when it recovers)");
        } else {
            debug!(receiver = %self.receiver, endpoint = %self.label, error,
                failures = self.consecutive_failures, next_attempt_in_intervals = self.skip + 1, "JMX target still unreachable");
        }
        self.state = State::Down;
    }

    /// Closes the JMX sessions politely (together, bounded).
    pub async fn close(self) {
        let label = &self.label;
        let closing = self.sessions.into_iter().map(|client| async move {
            match tokio::time::timeout(CLOSE_GRACE, client.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    debug!(endpoint = %label, error = %e, "closing a JMX session failed")
                }
                Err(_) => debug!(endpoint = %label, "closing a JMX session timed out"),
            }
        });
        join_all(closing).await;
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("{0}")]
    Connect(#[source] JmxError),
    #[error("{0}")]
    Poll(#[source] JmxError),
    #[error(
        "the poll did not finish within {0:?} (the `timeout` setting); the JVM may be stalled (long GC?) or the network slow"
    )]
    Timeout(Duration),
}

#[allow(clippy::too_many_arguments)]
async fn poll_target(
    sessions: &mut Vec<JmxClient>,
    want: usize,
    endpoint: &Endpoint,
    options: &ConnectOptions,
    plan: &Plan,
    names: &mut NameCache,
    warnings: &mut Warnings,
    label: &str,
    now: Instant,
) -> Result<scrape::Scrape, PollError> {
    if sessions.len() < want {
        // Connect the missing sessions together. The first one must succeed (else the target
        // is down); an extra one that fails is tried again next poll.
        let missing = want - sessions.len();
        let attempts = (0..missing).map(|_| JmxClient::connect(endpoint.clone(), options.clone()));
        let mut first_error = None;
        for result in join_all(attempts).await {
            match result {
                Ok(c) => sessions.push(c),
                Err(e) => {
                    debug!(endpoint = %label, error = %e, "JMX session could not be opened");
                    first_error.get_or_insert(e);
                }
            }
        }
        if sessions.is_empty() {
            return Err(PollError::Connect(first_error.unwrap_or(JmxError::Closed)));
        }
    }
    let use_now = want.min(sessions.len());
    let Some(active) = sessions.get_mut(..use_now) else {
        return Err(PollError::Poll(JmxError::Closed));
    };
    scrape::scrape(active, plan, names, warnings, label, now)
        .await
        .map_err(PollError::Poll)
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What a target task needs besides its poller.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub output: Output,
    pub semaphore: Arc<Semaphore>,
    pub shutdown: CancellationToken,
    pub interval: Duration,
    pub initial_delay: Duration,
    pub accepted: Counter,
    pub refused: Counter,
}

/// Polls one target every interval until shutdown.
pub async fn run_target(mut poller: TargetPoller, ctx: TaskContext) {
    tokio::select! {
        _ = ctx.shutdown.cancelled() => return,
        _ = tokio::time::sleep(ctx.initial_delay) => {}
    }
    let mut ticker = tokio::time::interval(ctx.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let permit = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            p = ctx.semaphore.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { break };
        // More sessions only with permits that are free now: never wait for them.
        let extra = (1..poller.connections()).rev().find_map(|n| {
            let n = u32::try_from(n).ok()?;
            ctx.semaphore.clone().try_acquire_many_owned(n).ok()
        });
        let sessions = 1 + extra.as_ref().map_or(0, |p| p.num_permits());
        let (batch, _outcome) = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            r = poller.poll_with(sessions) => r,
        };
        drop(extra);
        drop(permit);
        let items = batch.item_count() as u64;
        tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            r = ctx.output.send(batch) => match r {
                Ok(()) => ctx.accepted.add(items),
                Err(e) => {
                    ctx.refused.add(items);
                    debug!(endpoint = %poller.endpoint(), error = %e, "poll result not accepted by the pipeline");
                }
            }
        }
    }
    let endpoint = poller.endpoint().to_owned();
    poller.close().await;
    debug!(endpoint, "JMX target task stopped");
}
