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
//! the life cycle ([`Held`]): the signals a rule emits while its condition holds are its onset
//! (attribute `kafka_obs.condition=onset`); when it stops holding, the rule's own signal of the
//! same instrument under the same rule id is the recovery, and where the rule emitted none the
//! engine emits the instrument's normal sign (`SignalKind::recovery`) itself, with
//! `held_seconds`. A signal that reads as trouble from a rule that reported no reading (an
//! event: a buffer exhaustion, an unclean election) is a condition for that one evaluation.
//!
//! [`Engine::sweep`] (also run from `evaluate` every few seconds of `now`) marks subjects
//! without data for `stale_after` as stale (T2: one Probes DISCONNECT, then no points and no
//! heartbeats; never DOWN), fires user `absence` rules, and forgets series silent for
//! `series_ttl`. `max_series` bounds the number of rows; series beyond it are counted and
//! ignored.

use std::collections::HashMap;

use kafka_obs_signal::{
    Attributes, Evidence, Signal, SignalKind, Subject, SubjectBuilder, condition,
    otlp::status,
    probes,
    statuses::{Confidence, Sign},
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, metric::Data, number_data_point};

use super::condition::{Held, RowSignals, is_condition, settle};
use super::config::SignalsConfig;
use super::packs::consumer::lag::Rates;
use super::packs::{
    Common, FIRST_USER_RULE, Input, Reader, Rule, RuleIndex, Sink, broker, consumer, jvm, producer,
    targets,
};
use super::state::{IdBuild, IdMap, fmix, hash_attrs, hash_str, row_key};
use super::user;
use super::user::config::UserKind;

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
}

#[derive(Debug, Clone, Copy)]
struct Route {
    reader: Reader,
    slot: u8,
    only_if: Option<(&'static str, &'static str)>,
}

#[derive(Debug)]
enum RowState {
    Producer(Box<producer::Row>),
    Consumer(Box<consumer::ClientRow>),
    Partition(Box<consumer::PartitionRow>),
    Heap(Box<jvm::HeapRow>),
    Gc(Box<jvm::GcRow>),
    Broker(Box<broker::BrokerRow>),
    Isr(Box<broker::IsrRow>),
    Request(Box<broker::RequestRow>),
    Target(Box<targets::TargetRow>),
    User(u16, Box<user::UserRow>),
}

impl RowState {
    fn vals_mut(&mut self) -> &mut [f64] {
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
            Self::User(_, r) => &mut r.vals,
        }
    }
}

/// The state of one series group; see the module documentation.
#[derive(Debug)]
struct Row {
    subject: u64,
    last_seen: u64,
    /// The latest sample time among this evaluation's readings.
    time: u64,
    epoch: u32,
    /// Slots that got a reading in this evaluation.
    fresh: u32,
    /// Slots that ever got a reading.
    seen: u32,
    evaluations: u8,
    /// Point attributes that are not subject levels, carried on its signals.
    attributes: Vec<(String, String)>,
    /// Its rules' conditions that hold.
    held: Vec<Held>,
    state: RowState,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Contribution {
    row: u64,
    rule: RuleIndex,
    sign: Sign,
    confidence: Confidence,
}

#[derive(Debug)]
struct SubjectState {
    subject: Subject,
    /// The current readings of its rows (each row's replaced on its every evaluation).
    contributions: Vec<Contribution>,
    /// Evaluations since its status was last said.
    quiet: u32,
    last_seen: u64,
    epoch: u32,
    announced: bool,
    /// The status and conditions last stated.
    stated: Option<Sign>,
    stated_rules: Vec<RuleIndex>,
    stale: bool,
    rows: u32,
}

impl SubjectState {
    fn new(subject: Subject) -> Self {
        Self {
            subject,
            contributions: Vec::new(),
            quiet: 0,
            last_seen: 0,
            epoch: 0,
            announced: false,
            stated: None,
            stated_rules: Vec::new(),
            stale: false,
            rows: 0,
        }
    }

    /// Replaces the row's readings with this evaluation's: what a rule no longer reports no
    /// longer counts.
    fn replace(&mut self, row: u64, readings: &[(RuleIndex, Sign, Confidence)]) {
        self.contributions.retain(|c| c.row != row);
        for &(rule, sign, confidence) in readings {
            match self
                .contributions
                .iter_mut()
                .find(|c| c.row == row && c.rule == rule)
            {
                Some(c) if (sign, confidence) > (c.sign, c.confidence) => {
                    c.sign = sign;
                    c.confidence = confidence;
                }
                Some(_) => {}
                None => self.contributions.push(Contribution {
                    row,
                    rule,
                    sign,
                    confidence,
                }),
            }
        }
    }

    /// The worst reading (ties: the higher confidence, then the first recorded).
    fn worst(&self) -> Option<Contribution> {
        let mut best: Option<Contribution> = None;
        for c in &self.contributions {
            if best.is_none_or(|b| (c.sign, c.confidence) > (b.sign, b.confidence)) {
                best = Some(*c);
            }
        }
        best
    }

    /// The rules whose conditions hold, worst first (each once).
    fn conditions(&self, into: &mut Vec<RuleIndex>) {
        into.clear();
        let mut held: Vec<&Contribution> = self
            .contributions
            .iter()
            .filter(|c| is_condition(c.sign))
            .collect();
        // By severity, then rule: a confidence that rises does not reorder the list.
        held.sort_by(|a, b| (b.sign, a.rule).cmp(&(a.sign, b.rule)));
        for c in held {
            if !into.contains(&c.rule) {
                into.push(c.rule);
            }
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

const NANOS_PER_SECOND: u64 = 1_000_000_000;

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
        let mut dispatch: HashMap<String, Vec<Route>, IdBuild> = HashMap::default();
        let mut add = |metric: &str, route: Route| {
            dispatch.entry(metric.to_string()).or_default().push(route);
        };
        let packs = config.packs;
        let tables: [(&[Input], bool); 5] = [
            (producer::METRICS, packs.producer.is_some()),
            (consumer::METRICS, packs.consumer.is_some()),
            (broker::METRICS, packs.broker.is_some()),
            (jvm::METRICS, packs.jvm.is_some()),
            (targets::METRICS, packs.targets.is_some()),
        ];
        for (table, on) in tables {
            for input in table.iter().filter(|_| on) {
                add(
                    input.metric,
                    Route {
                        reader: input.reader,
                        slot: input.slot,
                        only_if: input.only_if,
                    },
                );
            }
        }
        for (i, rule) in config.rules.iter().enumerate() {
            let reader = Reader::User(i as u16);
            add(
                &rule.metric,
                Route {
                    reader,
                    slot: user::METRIC,
                    only_if: None,
                },
            );
            if let UserKind::Ratio { denominator, .. } = &rule.kind {
                add(
                    denominator,
                    Route {
                        reader,
                        slot: user::DENOMINATOR,
                        only_if: None,
                    },
                );
            }
        }
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
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.touched_rows.clear();
        self.touched_subjects.clear();
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

    fn sweep_interval(&self) -> u64 {
        let stale = self.config.stale_after.as_nanos() as u64;
        (stale / 4).clamp(NANOS_PER_SECOND / 10, 5 * NANOS_PER_SECOND)
    }

    fn warn_once(&mut self, bit: u32, warn: impl FnOnce()) {
        if self.warned & (1 << bit) == 0 {
            self.warned |= 1 << bit;
            warn();
        }
    }

    fn ingest(
        &mut self,
        routes: &[Route],
        resource: &[KeyValue],
        resource_hash: u64,
        point: &NumberDataPoint,
        now: u64,
    ) {
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => f64::NAN,
        };
        self.stats.points += 1;
        if !value.is_finite() {
            self.stats.no_reading += 1;
        }
        let time = if point.time_unix_nano > 0 {
            point.time_unix_nano
        } else {
            now
        };
        let attrs_hash = hash_attrs(&point.attributes);
        for route in routes {
            if let Some((key, want)) = route.only_if
                && point.attributes.attribute(key).as_deref() != Some(want)
            {
                continue;
            }
            if let Reader::User(i) = route.reader {
                let Some(rule) = self.config.rules.get(usize::from(i)) else {
                    continue;
                };
                if !rule
                    .matches
                    .iter()
                    .all(|(k, v)| point.attributes.attribute(k).as_deref() == Some(v.as_str()))
                {
                    continue;
                }
            }
            let key = row_key(resource_hash, attrs_hash, route.reader.tag());
            if !self.rows.contains_key(&key)
                && !self.create_row(key, route.reader, resource, resource_hash, point)
            {
                continue;
            }
            let Some(row) = self.rows.get_mut(&key) else {
                continue;
            };
            if row.epoch != self.epoch {
                row.epoch = self.epoch;
                row.fresh = 0;
                row.time = time;
                self.touched_rows.push(key);
            } else {
                row.time = row.time.max(time);
            }
            row.last_seen = now;
            if value.is_finite() {
                let slot = route.slot;
                if let Some(v) = row.state.vals_mut().get_mut(usize::from(slot)) {
                    *v = value;
                    row.fresh |= 1 << slot;
                    row.seen |= 1 << slot;
                }
            }
        }
    }

    fn create_row(
        &mut self,
        key: u64,
        reader: Reader,
        resource: &[KeyValue],
        resource_hash: u64,
        point: &NumberDataPoint,
    ) -> bool {
        if self.rows.len() >= self.config.max_series {
            self.stats.refused_series += 1;
            let max = self.config.max_series;
            self.warn_once(63, || {
                tracing::warn!(
                    max_series = max,
                    "signals: series limit reached; new series are ignored (counted)"
                );
            });
            return false;
        }
        let mut subject = self.builder.build(resource, &point.attributes);
        if reader == Reader::Target && subject.is_root() {
            let name = targets::TARGET_KEYS.iter().find_map(|k| {
                point
                    .attributes
                    .attribute(k)
                    .or_else(|| resource.attribute(k))
                    .map(|v| v.into_owned())
            });
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                let _ = subject.push("target", name);
            }
        }
        let sid = subject_id(&subject);
        let state = match reader {
            Reader::Producer => RowState::Producer(Box::default()),
            Reader::Consumer => RowState::Consumer(Box::default()),
            Reader::Partition => RowState::Partition(Box::new(consumer::PartitionRow::new(
                resource_hash,
                &point.attributes,
            ))),
            Reader::Heap => RowState::Heap(Box::default()),
            Reader::Gc => RowState::Gc(Box::default()),
            Reader::Broker => RowState::Broker(Box::default()),
            Reader::Isr => RowState::Isr(Box::default()),
            Reader::Request => RowState::Request(Box::default()),
            Reader::Target => RowState::Target(Box::default()),
            Reader::User(i) => RowState::User(i, Box::default()),
        };
        let attributes = point
            .attributes
            .iter()
            .filter(|kv| !self.level_keys.contains(&kv.key))
            .filter_map(|kv| {
                let v = point.attributes.attribute(&kv.key)?;
                Some((kv.key.clone(), v.into_owned()))
            })
            .collect();
        self.subjects
            .entry(sid)
            .or_insert_with(|| SubjectState::new(subject))
            .rows += 1;
        self.rows.insert(
            key,
            Row {
                subject: sid,
                last_seen: 0,
                time: 0,
                epoch: 0,
                fresh: 0,
                seen: 0,
                evaluations: 0,
                attributes,
                held: Vec::new(),
                state,
            },
        );
        true
    }

    fn evaluate_row(&mut self, key: u64, now: u64, out: &mut Vec<Signal>) {
        let rates = match self.rows.get(&key).map(|r| &r.state) {
            Some(RowState::Partition(p)) => {
                p.rates(|k| match self.rows.get(&k).map(|r| &r.state) {
                    Some(RowState::Consumer(c)) => Some(&**c),
                    _ => None,
                })
            }
            _ => Rates::default(),
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
            RowState::User(i, r) => {
                if let Some(rule) = self.config.rules.get(usize::from(*i)) {
                    user::evaluate(r, mask, FIRST_USER_RULE + *i, rule, &self.common, &mut sink);
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

    fn conclude_subjects(&mut self, now: u64, out: &mut Evaluation) {
        for sid in &self.touched_subjects {
            let Some(s) = self.subjects.get_mut(sid) else {
                continue;
            };
            let worst = s.worst();
            if worst.is_none() && s.stated.is_none() {
                // Nothing any rule reads as a status (counters only): nothing to state.
                continue;
            }
            s.conditions(&mut self.conditions);
            let (sign, confidence) = worst.map_or((Sign::Stable, Confidence::Measured), |w| {
                (w.sign, w.confidence)
            });
            let name = |rule: RuleIndex| {
                self.rule_names
                    .get(usize::from(rule))
                    .map_or("", String::as_str)
            };
            if s.stale {
                s.stale = false;
                s.announced = false;
            }
            let leading = self.conditions.first().map_or("", |r| name(*r));
            out.status_points.push(status::status_data_point(
                &s.subject, sign, confidence, leading, now,
            ));
            s.quiet += 1;
            let reason = if !s.announced {
                "first-status"
            } else if s.stated != Some(sign) || s.stated_rules != self.conditions {
                "change"
            } else if s.quiet >= self.config.heartbeat_every {
                "heartbeat"
            } else {
                continue;
            };
            s.announced = true;
            s.stated = Some(sign);
            s.stated_rules.clone_from(&self.conditions);
            let polls = s.quiet;
            s.quiet = 0;
            let current = condition::current_list(self.conditions.iter().map(|r| name(*r)));
            let signal = Signal::new(
                s.subject.clone(),
                SignalKind::Statuses(sign, confidence),
                Evidence::rule(condition::STATUS_RULE).with("quiet_evaluations", f64::from(polls)),
                now,
            )
            .from_source(self.config.source_id.as_str())
            .with_attribute("reason", reason)
            .with_attribute(condition::CURRENT, current);
            out.signals.push(signal);
        }
    }

    /// Staleness (T2), absence rules, and forgetting silent series; see the module docs.
    pub fn sweep(&mut self, now: u64) -> Evaluation {
        self.last_sweep = now;
        let mut out = Evaluation::default();
        let stale_after = self.config.stale_after.as_nanos() as u64;
        let ttl = self.config.series_ttl.as_nanos() as u64;
        let report_stale = self.config.packs.targets.is_some_and(|t| t.report_stale);

        // Absence rules.
        for row in self.rows.values_mut() {
            let RowState::User(i, r) = &mut row.state else {
                continue;
            };
            let Some(rule) = self.config.rules.get(usize::from(*i)) else {
                continue;
            };
            if !matches!(rule.kind, UserKind::Absence { .. }) {
                continue;
            }
            let Some(subject) = self.subjects.get(&row.subject) else {
                continue;
            };
            self.readings.clear();
            let start = out.signals.len();
            let mut sink = Sink {
                time: now,
                subject: &subject.subject,
                attributes: &row.attributes,
                source_id: &self.config.source_id,
                common: &self.common,
                out: &mut out.signals,
                statuses: &mut self.readings,
            };
            user::check_absence(r, FIRST_USER_RULE + *i, rule, row.last_seen, now, &mut sink);
            settle(
                &mut row.held,
                &mut self.readings,
                &mut out.signals,
                start,
                &self.rule_names,
                &RowSignals {
                    subject: &subject.subject,
                    attributes: &row.attributes,
                    source_id: &self.config.source_id,
                    time: now,
                },
            );
        }

        // Stale subjects (T2).
        for s in self.subjects.values_mut() {
            if s.stale || s.last_seen == 0 || now.saturating_sub(s.last_seen) < stale_after {
                continue;
            }
            s.stale = true;
            if report_stale && s.announced {
                let silent = now.saturating_sub(s.last_seen) as f64 / 1e9;
                out.signals.push(
                    Signal::new(
                        s.subject.clone(),
                        SignalKind::Probes(probes::Sign::Disconnect, probes::Dimension::Outbound),
                        Evidence::rule(Rule::T2.name())
                            .with("silent_seconds", silent)
                            .threshold(self.config.stale_after.as_secs_f64()),
                        now,
                    )
                    .from_source(self.config.source_id.as_str())
                    .with_attribute("reason", "stale"),
                );
            }
        }

        // Forget silent series.
        let before = self.rows.len();
        let subjects = &mut self.subjects;
        self.rows.retain(|key, row| {
            let keep = now.saturating_sub(row.last_seen) < ttl;
            if !keep && let Some(s) = subjects.get_mut(&row.subject) {
                s.rows = s.rows.saturating_sub(1);
                s.contributions.retain(|c| c.row != *key);
            }
            keep
        });
        self.stats.evicted_series += (before - self.rows.len()) as u64;
        self.subjects.retain(|_, s| s.rows > 0);
        self.stats.signals += out.signals.len() as u64;
        out
    }
}

fn reader_of(state: &RowState) -> Reader {
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
        RowState::User(i, _) => Reader::User(*i),
    }
}

/// The identity of a subject: a hash of its levels and values.
fn subject_id(subject: &Subject) -> u64 {
    subject
        .segments()
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, s| {
            fmix(h ^ hash_str(s.level()).rotate_left(17) ^ hash_str(s.value()))
        })
}
