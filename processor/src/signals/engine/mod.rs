//! The signal engine: OTLP metrics in, [`Signal`]s and status gauge points out. Pure: no
//! I/O, no clock (the caller passes `now`), no tasks; the connector wraps it.
//!
//! One [`Engine::evaluate`] call handles one `ExportMetricsServiceRequest` in three passes:
//!
//! 1. **Ingest.** Each metric name is looked up once in the dispatch table built from the
//!    enabled packs' metric-name tables and the user rules; metrics nobody reads are skipped
//!    without touching their points. Each point of a read metric is stored in its *row* (the
//!    state of one resource's series with the same attributes, read by one pack or rule),
//!    created on first sight with its subject from the `SubjectBuilder`. NaN and infinities
//!    are "no reading": the row counts as seen, the value is not stored.
//! 2. **Evaluate.** Every row that got data runs its rules once, with all of this request's
//!    readings in place (so `available / total` uses both), emitting signals on change of
//!    state and recording each rule's current reading for the row's subject. Then the row's
//!    **conditions** are settled (see below).
//! 3. **Subjects.** Each subject that got data gets one `kafka_obs.status` point: the worst
//!    status over its rows' *current* readings (ties to the higher confidence; STABLE when
//!    none). Its status is stated as a Statuses signal under rule id `status`, with the list of
//!    current conditions (`kafka_obs_signal::condition`), when first seen, whenever the status
//!    or that list changes, and as a heartbeat every `heartbeat_every` (6) evaluations.
//!
//! **Conditions** (docs/rules.md, "Conditions"). A rule reports its reading for a row on every
//! evaluation of that row; a reading worse than CONVERGING is a condition that *holds*. A row's
//! readings are replaced as a whole on each evaluation, so a rule that stops reporting a
//! condition has ended it: no rule can leave a status behind. The engine, not the rule, keeps
//! the life cycle (`Held`, `signals/condition.rs`): the signals a rule emits while its
//! condition holds are its onset (attribute `kafka_obs.condition=onset`); when it stops
//! holding, the rule's own signal of the same instrument under the same rule id is the recovery, and where the rule emitted none the
//! engine emits the instrument's normal sign (`SignalKind::recovery`) itself, with
//! `held_seconds`. A signal that reads as trouble from a rule that reported no reading (an
//! event: a buffer exhaustion, an unclean election) is a condition for that one evaluation.
//!
//! [`Engine::sweep`] (also run from `evaluate` every few seconds of `now`) marks subjects
//! without data for `stale_after` as stale (T2: one Probes DISCONNECT, then no points and no
//! heartbeats; never DOWN), fires user `absence` rules, and forgets series silent for
//! `series_ttl`. `max_series` bounds the number of rows; series beyond it are counted and
//! ignored.
//!
//! Layout: this file holds the [`Engine`] and [`Engine::evaluate`], which runs the passes;
//! `ingest.rs` the dispatch table and pass 1, `logs.rs` the log intake (the exceptions pack:
//! [`Engine::evaluate_logs`], [`Engine::tick_logs`]), `rows.rs` the row state and pass 2,
//! `subjects.rs` pass 3, `sweep.rs` the sweep.

mod ingest;
mod logs;
mod rows;
mod subjects;
mod sweep;

use std::collections::HashMap;

use kafka_obs_signal::{
    Signal, SubjectBuilder,
    statuses::{Confidence, Sign},
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, metric::Data};

use self::ingest::Route;
use self::rows::Row;
use self::subjects::SubjectState;
use super::config::SignalsConfig;
use super::packs::{Common, Rule, RuleIndex};
use super::state::{IdBuild, IdMap, hash_attrs};

/// What one evaluation produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Evaluation {
    /// Signals in the order they were concluded.
    pub signals: Vec<Signal>,
    /// One `kafka_obs.status` point per subject that got data (see
    /// `kafka_obs_signal::otlp::status`).
    pub status_points: Vec<NumberDataPoint>,
}

impl Evaluation {
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty() && self.status_points.is_empty()
    }
}

/// Running totals, for self-metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Data points of metrics some rule reads.
    pub points: u64,
    /// Of those, NaN or infinite ("no reading").
    pub no_reading: u64,
    /// New series ignored because `max_series` rows existed.
    pub refused_series: u64,
    /// Series forgotten after `series_ttl`.
    pub evicted_series: u64,
    /// Signals emitted.
    pub signals: u64,
    /// Log records read (the exceptions pack).
    pub log_records: u64,
    /// Of those, errors.
    pub error_records: u64,
    /// Errors whose type went to an instance's `(other)` row (`max_types_per_instance`).
    pub folded_types: u64,
}

/// The engine; see the module documentation.
#[derive(Debug)]
pub struct Engine {
    config: SignalsConfig,
    common: Common,
    builder: SubjectBuilder,
    /// Subject-level keys: point attributes with these keys are not copied onto signals.
    level_keys: Vec<String>,
    rule_names: Vec<String>,
    dispatch: HashMap<String, Vec<Route>, IdBuild>,
    rows: IdMap<Row>,
    /// The keys of log rows (`logs.rs`), evaluated as time passes.
    log_rows: Vec<u64>,
    /// Exception-type rows per service instance, for `max_types_per_instance`.
    instance_types: IdMap<u32>,
    subjects: IdMap<SubjectState>,
    epoch: u32,
    touched_rows: Vec<u64>,
    touched_subjects: Vec<u64>,
    readings: Vec<(RuleIndex, Sign, Confidence)>,
    /// Scratch: a subject's current conditions.
    conditions: Vec<RuleIndex>,
    last_sweep: u64,
    warned: u64,
    stats: EngineStats,
}

impl Engine {
    /// An engine for a validated configuration.
    pub fn new(config: SignalsConfig) -> Self {
        let dispatch = ingest::dispatch_table(&config);
        let mut rule_names: Vec<String> = Rule::ALL.iter().map(|r| r.name().to_string()).collect();
        rule_names.extend(config.rules.iter().map(|r| r.name.clone()));
        let builder = config.subjects.clone();
        let level_keys = builder
            .levels()
            .iter()
            .flat_map(|l| l.mbean_keys.iter().cloned())
            .collect();
        Self {
            common: Common {
                hysteresis: config.hysteresis,
                confidence: config.confidence,
                heartbeat_every: config.heartbeat_every,
            },
            builder,
            level_keys,
            rule_names,
            dispatch,
            rows: IdMap::default(),
            log_rows: Vec::new(),
            instance_types: IdMap::default(),
            subjects: IdMap::default(),
            epoch: 0,
            touched_rows: Vec::new(),
            touched_subjects: Vec::new(),
            readings: Vec::new(),
            conditions: Vec::new(),
            last_sweep: 0,
            warned: 0,
            stats: EngineStats::default(),
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SignalsConfig {
        &self.config
    }

    /// Series (rows of state) currently tracked.
    pub fn series(&self) -> usize {
        self.rows.len()
    }

    /// Subjects currently tracked.
    pub fn subjects(&self) -> usize {
        self.subjects.len()
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// True if some enabled rule reads metric `name`.
    pub fn reads(&self, name: &str) -> bool {
        self.dispatch.contains_key(name)
    }

    /// Evaluates one request at `now` (ns since the epoch); see the module documentation.
    pub fn evaluate(&mut self, request: &ExportMetricsServiceRequest, now: u64) -> Evaluation {
        self.begin_evaluation();
        let dispatch = std::mem::take(&mut self.dispatch);
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let resource_hash = hash_attrs(resource);
            for metric in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                let Some(routes) = dispatch.get(metric.name.as_str()) else {
                    continue;
                };
                let points = match &metric.data {
                    Some(Data::Gauge(g)) => &g.data_points,
                    Some(Data::Sum(s)) => &s.data_points,
                    _ => {
                        self.warn_once(62, || {
                            tracing::warn!(
                                metric = %metric.name,
                                "signals: rules read gauges and sums; this histogram or summary is ignored"
                            );
                        });
                        continue;
                    }
                };
                for point in points {
                    self.ingest(routes, resource, resource_hash, point, now);
                }
            }
        }
        self.dispatch = dispatch;

        let mut out = Evaluation::default();
        let touched = std::mem::take(&mut self.touched_rows);
        for &key in &touched {
            self.evaluate_row(key, now, &mut out.signals);
        }
        self.touched_rows = touched;
        self.conclude_subjects(now, &mut out);
        if now >= self.last_sweep.saturating_add(self.sweep_interval()) {
            let swept = self.sweep(now);
            out.signals.extend(swept.signals);
        }
        self.stats.signals += out.signals.len() as u64;
        out
    }

    /// A new evaluation: rows and subjects it touches are marked with a new epoch.
    fn begin_evaluation(&mut self) {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.touched_rows.clear();
        self.touched_subjects.clear();
    }

    fn warn_once(&mut self, bit: u32, warn: impl FnOnce()) {
        if self.warned & (1 << bit) == 0 {
            self.warned |= 1 << bit;
            warn();
        }
    }
}
