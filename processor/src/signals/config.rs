//! The `signals` connector's configuration: YAML shape, defaults, and validation.
//!
//! Parse, then resolve: the serde structs below mirror the YAML (unknown keys are errors, every
//! default is in code), and [`SignalsConfig::parse`] checks ranges and turns user rules into
//! [`UserRule`]s whose signal kinds are already parsed, so the engine never meets an invalid
//! value. Every error names its key path (`packs::kafka-consumer::lag_window`).
//!
//! Built-in packs are enabled by listing them under `packs` (an empty body means all defaults);
//! without a `packs` key every pack is on. See `processor/README.md` for the full reference.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, parse_component_config};
use kafka_obs_signal::{LevelSpec, SignalKind, SubjectBuilder, statuses};

/// The names of the built-in packs, as written under `packs`.
pub const PACK_NAMES: [&str; 5] = [
    "kafka-producer",
    "kafka-consumer",
    "kafka",
    "jvm",
    "targets",
];

/// Parameters of the trend detector (P8, B5, user `trend` rules); see `trend.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendParams {
    /// Consecutive increasing readings that make a sustained rise (3: `50 -> 150 -> 500`).
    pub rising_polls: u16,
    /// Growth factor the rise must already have reached one reading before the latest (2.0).
    pub growth: f64,
    /// Readings the robust (Theil-Sen) slope test looks at; 0 turns that test off (8).
    pub window: u16,
    /// Readings within the dead band that make a rise "settled" (2).
    pub settle_polls: u16,
    /// Relative change treated as flat while settling (0.05).
    pub flat_band: f64,
    /// A reading below this is never part of a rise (0: no floor). Not a key of its own: P8
    /// and B5 set it from `min_latency_ms` (see [`latency_trend`]); user `trend` rules have
    /// none.
    #[serde(skip)]
    pub floor: f64,
}

impl Default for TrendParams {
    fn default() -> Self {
        Self {
            rising_polls: 3,
            growth: 2.0,
            window: 8,
            settle_polls: 2,
            flat_band: 0.05,
            floor: 0.0,
        }
    }
}

/// The default latency floor of P8 and B5, in ms: 1 -> 2 -> 3 ms triples, but is not news.
pub const MIN_LATENCY_MS: f64 = 100.0;

impl TrendParams {
    /// The detector of a latency trend (P8, B5): the defaults with the [`MIN_LATENCY_MS`] floor.
    pub fn latency() -> Self {
        Self {
            floor: MIN_LATENCY_MS,
            ..Self::default()
        }
    }
}

/// `latency_trend` (P8) and `request_latency_trend` (B5) as written: the trend keys plus
/// `min_latency_ms`, the floor below which a latency is never DIVERGING.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLatencyTrend {
    rising_polls: u16,
    growth: f64,
    window: u16,
    settle_polls: u16,
    flat_band: f64,
    min_latency_ms: f64,
}

impl Default for RawLatencyTrend {
    fn default() -> Self {
        let d = TrendParams::latency();
        Self {
            rising_polls: d.rising_polls,
            growth: d.growth,
            window: d.window,
            settle_polls: d.settle_polls,
            flat_band: d.flat_band,
            min_latency_ms: d.floor,
        }
    }
}

/// Reads a [`RawLatencyTrend`] into the detector's parameters, `min_latency_ms` as the floor.
fn latency_trend<'de, D: Deserializer<'de>>(d: D) -> Result<TrendParams, D::Error> {
    let raw = RawLatencyTrend::deserialize(d)?;
    Ok(TrendParams {
        rising_polls: raw.rising_polls,
        growth: raw.growth,
        window: raw.window,
        settle_polls: raw.settle_polls,
        flat_band: raw.flat_band,
        floor: raw.min_latency_ms,
    })
}

impl TrendParams {
    fn check(&self) -> Result<(), ComponentConfigError> {
        if self.rising_polls < 2 {
            return Err(err(
                "rising_polls",
                "must be at least 2 (a rise needs two readings)",
            ));
        }
        if !(self.growth > 1.0 && self.growth.is_finite()) {
            return Err(err("growth", "must be a finite factor above 1.0, e.g. 2.0"));
        }
        if self.window != 0 && self.window < 4 {
            return Err(err("window", "must be 0 (off) or at least 4 readings"));
        }
        if self.window > 64 {
            return Err(err("window", "must be at most 64 readings"));
        }
        if self.settle_polls == 0 {
            return Err(err("settle_polls", "must be at least 1"));
        }
        check_fraction("flat_band", self.flat_band)?;
        check_non_negative("min_latency_ms", self.floor)
    }
}

/// `packs: {kafka-producer: {...}}`: thresholds of P1-P11.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerPack {
    /// P1: buffer utilization above which the queue OVERFLOWs (0.95).
    pub buffer_overflow_utilization: f64,
    /// P2: buffer utilization above which the buffer is under pressure, Systems LIMIT (0.80).
    pub buffer_pressure_utilization: f64,
    /// P6: relative change of batch-size-avg that is reported (0.01).
    pub batch_size_dead_band: f64,
    /// P8: the request-latency-avg trend detector, with its `min_latency_ms` floor (100).
    #[serde(deserialize_with = "latency_trend")]
    pub latency_trend: TrendParams,
    /// P9: record-error-rate above which sends FAIL (0).
    pub error_rate_threshold: f64,
    /// P10: record-retry-rate above which sends RETRY (0).
    pub retry_rate_threshold: f64,
}

impl Default for ProducerPack {
    fn default() -> Self {
        Self {
            buffer_overflow_utilization: 0.95,
            buffer_pressure_utilization: 0.80,
            batch_size_dead_band: 0.01,
            latency_trend: TrendParams::latency(),
            error_rate_threshold: 0.0,
            retry_rate_threshold: 0.0,
        }
    }
}

impl ProducerPack {
    fn check(&self) -> Result<(), ComponentConfigError> {
        check_fraction(
            "buffer_overflow_utilization",
            self.buffer_overflow_utilization,
        )?;
        check_fraction(
            "buffer_pressure_utilization",
            self.buffer_pressure_utilization,
        )?;
        if self.buffer_pressure_utilization >= self.buffer_overflow_utilization {
            return Err(err(
                "buffer_pressure_utilization",
                "must be below buffer_overflow_utilization (pressure comes before overflow)",
            ));
        }
        check_fraction("batch_size_dead_band", self.batch_size_dead_band)?;
        self.latency_trend
            .check()
            .map_err(|e| e.within("latency_trend"))?;
        check_non_negative("error_rate_threshold", self.error_rate_threshold)?;
        check_non_negative("retry_rate_threshold", self.retry_rate_threshold)
    }
}

/// `packs: {kafka-consumer: {...}}`: thresholds of C1-C11.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerPack {
    /// C1: records-lag-max above which the consumer is DEGRADED and its queue OVERFLOWs (10000).
    pub lag_overflow: f64,
    /// C2: growth factor over the previous poll's lag that is DIVERGING (2.0).
    pub lag_growth_factor: f64,
    /// C2: lag at or below which growth is not news (100).
    pub lag_floor: f64,
    /// C4: per-partition lag readings in Burrow's window (10).
    pub lag_window: u16,
    /// C4: consecutive non-decreasing readings (with a net rise) that are DIVERGING (3).
    pub lag_min_rising: u16,
    /// C4: consecutive readings without progress while behind that are a STALL (3).
    pub stall_polls: u16,
    /// C6: fetch-latency-avg in ms above which fetching is DEGRADED (500).
    pub fetch_latency_degraded_ms: f64,
    /// C8: commit-latency-avg in ms within which a commit is a SUCCESS (1000).
    pub commit_latency_sla_ms: f64,
    /// C9: two or more rebalances within this of each other are a storm, which ends once this
    /// long passes without another (60s).
    #[serde(deserialize_with = "de::duration")]
    pub rebalance_storm_interval: Duration,
    /// C10: rebalance-latency-avg in ms above which rebalancing is DEGRADED (5000).
    pub rebalance_latency_degraded_ms: f64,
    /// C11: the consumers' max.poll.interval.ms (300s).
    #[serde(deserialize_with = "de::duration")]
    pub max_poll_interval: Duration,
    /// C11: share of max_poll_interval since the last poll that is DEGRADED (0.8).
    pub poll_interval_warning: f64,
}

impl Default for ConsumerPack {
    fn default() -> Self {
        Self {
            lag_overflow: 10_000.0,
            lag_growth_factor: 2.0,
            lag_floor: 100.0,
            lag_window: 10,
            lag_min_rising: 3,
            stall_polls: 3,
            fetch_latency_degraded_ms: 500.0,
            commit_latency_sla_ms: 1000.0,
            rebalance_storm_interval: Duration::from_secs(60),
            rebalance_latency_degraded_ms: 5000.0,
            max_poll_interval: Duration::from_secs(300),
            poll_interval_warning: 0.8,
        }
    }
}

impl ConsumerPack {
    fn check(&self) -> Result<(), ComponentConfigError> {
        check_positive("lag_overflow", self.lag_overflow)?;
        if !(self.lag_growth_factor > 1.0 && self.lag_growth_factor.is_finite()) {
            return Err(err(
                "lag_growth_factor",
                "must be a finite factor above 1.0",
            ));
        }
        check_non_negative("lag_floor", self.lag_floor)?;
        if !(3..=64).contains(&self.lag_window) {
            return Err(err("lag_window", "must be between 3 and 64 readings"));
        }
        if self.lag_min_rising < 2 || self.lag_min_rising > self.lag_window {
            return Err(err(
                "lag_min_rising",
                "must be at least 2 and at most lag_window",
            ));
        }
        if self.stall_polls < 2 || self.stall_polls > self.lag_window {
            return Err(err(
                "stall_polls",
                "must be at least 2 and at most lag_window",
            ));
        }
        check_positive("fetch_latency_degraded_ms", self.fetch_latency_degraded_ms)?;
        check_positive("commit_latency_sla_ms", self.commit_latency_sla_ms)?;
        if self.rebalance_storm_interval.is_zero() {
            return Err(err(
                "rebalance_storm_interval",
                "must be above zero, e.g. 60s",
            ));
        }
        check_positive(
            "rebalance_latency_degraded_ms",
            self.rebalance_latency_degraded_ms,
        )?;
        if self.max_poll_interval.is_zero() {
            return Err(err("max_poll_interval", "must be above zero, e.g. 300s"));
        }
        check_fraction("poll_interval_warning", self.poll_interval_warning)
    }
}

/// `packs: {jvm: {...}}`: thresholds of J1-J3.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JvmPack {
    /// J1: heap used/max from which the JVM is DIVERGING (0.75).
    pub heap_diverging: f64,
    /// J1: ... DEGRADED (0.85).
    pub heap_degraded: f64,
    /// J1: ... DEFECTIVE (0.95).
    pub heap_defective: f64,
    /// J3: share of the wall time between two polls spent collecting that is a long pause
    /// (0.10: 1 s per 10 s poll).
    pub gc_pause_fraction: f64,
}

impl Default for JvmPack {
    fn default() -> Self {
        Self {
            heap_diverging: 0.75,
            heap_degraded: 0.85,
            heap_defective: 0.95,
            gc_pause_fraction: 0.10,
        }
    }
}

impl JvmPack {
    fn check(&self) -> Result<(), ComponentConfigError> {
        check_fraction("heap_diverging", self.heap_diverging)?;
        check_fraction("heap_degraded", self.heap_degraded)?;
        check_fraction("heap_defective", self.heap_defective)?;
        if !(self.heap_diverging < self.heap_degraded && self.heap_degraded < self.heap_defective) {
            return Err(err(
                "heap_degraded",
                "heap thresholds must rise: heap_diverging < heap_degraded < heap_defective",
            ));
        }
        check_fraction("gc_pause_fraction", self.gc_pause_fraction)
    }
}

/// `packs: {kafka: {...}}`: thresholds of the broker rules B1-B7.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerPack {
    /// B1: under-replicated partitions above which the broker is DEGRADED (0).
    pub under_replicated_threshold: f64,
    /// B2: offline partitions above which the broker is DEFECTIVE (0).
    pub offline_threshold: f64,
    /// B5: the request-time p99 trend detector, with its `min_latency_ms` floor (100).
    #[serde(deserialize_with = "latency_trend")]
    pub request_latency_trend: TrendParams,
    /// B6N: NetworkProcessorAvgIdlePercent below which the network threads TIMEOUT (0.3).
    pub network_idle_min: f64,
    /// B6H: RequestHandlerAvgIdlePercent below which the handler pool DENYs (0.1).
    pub request_handler_idle_min: f64,
}

impl Default for BrokerPack {
    fn default() -> Self {
        Self {
            under_replicated_threshold: 0.0,
            offline_threshold: 0.0,
            request_latency_trend: TrendParams::latency(),
            network_idle_min: 0.3,
            request_handler_idle_min: 0.1,
        }
    }
}

impl BrokerPack {
    fn check(&self) -> Result<(), ComponentConfigError> {
        check_non_negative(
            "under_replicated_threshold",
            self.under_replicated_threshold,
        )?;
        check_non_negative("offline_threshold", self.offline_threshold)?;
        self.request_latency_trend
            .check()
            .map_err(|e| e.within("request_latency_trend"))?;
        check_fraction("network_idle_min", self.network_idle_min)?;
        check_fraction("request_handler_idle_min", self.request_handler_idle_min)
    }
}

/// `packs: {targets: {...}}`: T1 and T2.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsPack {
    /// T1: consecutive failed polls after which the target is DOWN (3).
    pub down_after_failures: u16,
    /// T2: emit a signal when a subject goes stale (true).
    pub report_stale: bool,
}

impl Default for TargetsPack {
    fn default() -> Self {
        Self {
            down_after_failures: 3,
            report_stale: true,
        }
    }
}

impl TargetsPack {
    fn check(&self) -> Result<(), ComponentConfigError> {
        if self.down_after_failures == 0 {
            return Err(err("down_after_failures", "must be at least 1"));
        }
        Ok(())
    }
}

/// Which packs are on, each with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Packs {
    #[serde(rename = "kafka-producer", deserialize_with = "enabled")]
    pub producer: Option<ProducerPack>,
    #[serde(rename = "kafka-consumer", deserialize_with = "enabled")]
    pub consumer: Option<ConsumerPack>,
    #[serde(rename = "kafka", deserialize_with = "enabled")]
    pub broker: Option<BrokerPack>,
    #[serde(deserialize_with = "enabled")]
    pub jvm: Option<JvmPack>,
    #[serde(deserialize_with = "enabled")]
    pub targets: Option<TargetsPack>,
}

impl Packs {
    /// Every pack with its defaults.
    pub fn all() -> Self {
        Self {
            producer: Some(ProducerPack::default()),
            consumer: Some(ConsumerPack::default()),
            broker: Some(BrokerPack::default()),
            jvm: Some(JvmPack::default()),
            targets: Some(TargetsPack::default()),
        }
    }

    /// No pack (user rules only).
    pub fn none() -> Self {
        Self::default()
    }

    fn check(&self) -> Result<(), ComponentConfigError> {
        fn within(name: &'static str) -> impl Fn(ComponentConfigError) -> ComponentConfigError {
            move |e| e.within(name).within("packs")
        }
        if let Some(p) = &self.producer {
            p.check().map_err(within("kafka-producer"))?;
        }
        if let Some(p) = &self.consumer {
            p.check().map_err(within("kafka-consumer"))?;
        }
        if let Some(p) = &self.broker {
            p.check().map_err(within("kafka"))?;
        }
        if let Some(p) = &self.jvm {
            p.check().map_err(within("jvm"))?;
        }
        if let Some(p) = &self.targets {
            p.check().map_err(within("targets"))?;
        }
        Ok(())
    }
}

/// A key present with an empty body (`jvm:`) enables the pack with its defaults.
fn enabled<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// `confidence:`: how agreement across polls raises a verdict's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfidenceParams {
    /// Consecutive polls with the same verdict from which it is at least MEASURED (2).
    pub measured_after: u16,
    /// Consecutive polls with the same verdict from which it is CONFIRMED (3).
    pub confirmed_after: u16,
}

impl Default for ConfidenceParams {
    fn default() -> Self {
        Self {
            measured_after: 2,
            confirmed_after: 3,
        }
    }
}

impl ConfidenceParams {
    /// The confidence a verdict with base confidence `base` has after `streak` agreeing
    /// polls: agreement only ever raises the base.
    pub fn raise(&self, base: statuses::Confidence, streak: u16) -> statuses::Confidence {
        let agreed = if streak >= self.confirmed_after {
            statuses::Confidence::Confirmed
        } else if streak >= self.measured_after {
            statuses::Confidence::Measured
        } else {
            statuses::Confidence::Tentative
        };
        base.max(agreed)
    }
}

/// `subject:`: the subject key set (see `kafka_obs_signal::SubjectBuilder`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSubject {
    levels: Option<Vec<LevelSpec>>,
}

/// One band of a `threshold` or `ratio` rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    /// Lower bound (exclusive); absent only on the first band.
    #[serde(default)]
    above: Option<f64>,
    emit: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    bands: Vec<RawBand>,
    #[serde(default)]
    hysteresis: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawRatioOf {
    #[default]
    Value,
    Increase,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRatio {
    denominator: String,
    #[serde(default)]
    of: RawRatioOf,
    #[serde(default)]
    each_increase: Option<String>,
    bands: Vec<RawBand>,
    #[serde(default)]
    hysteresis: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncrease {
    emit: String,
    #[serde(default = "one")]
    min: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrend {
    #[serde(default = "default_trend_emit")]
    emit: String,
    #[serde(default)]
    detector: TrendParams,
}

fn default_trend_emit() -> String {
    "Statuses.DIVERGING.MEASURED".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorm {
    #[serde(default = "default_storm_emit")]
    emit: String,
    events: u32,
    #[serde(deserialize_with = "de::duration")]
    within: Duration,
}

fn default_storm_emit() -> String {
    "Statuses.ERRATIC.CONFIRMED".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbsence {
    #[serde(deserialize_with = "de::duration")]
    after: Duration,
    emit: String,
    #[serde(default)]
    recover: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    metric: String,
    #[serde(
        default,
        rename = "match",
        deserialize_with = "kafka_obs_api::config::de::text_map"
    )]
    matches: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    threshold: Option<RawThreshold>,
    #[serde(default)]
    ratio: Option<RawRatio>,
    #[serde(default)]
    increase: Option<RawIncrease>,
    #[serde(default)]
    trend: Option<RawTrend>,
    #[serde(default)]
    storm: Option<RawStorm>,
    #[serde(default)]
    absence: Option<RawAbsence>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    packs: Option<Packs>,
    rules: Vec<RawRule>,
    heartbeat_every: u32,
    hysteresis: f64,
    confidence: ConfidenceParams,
    #[serde(deserialize_with = "de::duration")]
    stale_after: Duration,
    #[serde(deserialize_with = "de::duration")]
    series_ttl: Duration,
    max_series: usize,
    subject: RawSubject,
    source_id: Option<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        let d = SignalsConfig::default();
        Self {
            packs: None,
            rules: Vec::new(),
            heartbeat_every: d.heartbeat_every,
            hysteresis: d.hysteresis,
            confidence: d.confidence,
            stale_after: d.stale_after,
            series_ttl: d.series_ttl,
            max_series: d.max_series,
            subject: RawSubject::default(),
            source_id: None,
        }
    }
}

/// A band of a threshold or ratio rule: values above `above` (exclusive) emit `emit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// `None` for the first band (everything up to the next band's bound).
    pub above: Option<f64>,
    pub emit: SignalKind,
}

/// What a user rule watches for.
#[derive(Debug, Clone, PartialEq)]
pub enum UserKind {
    /// The value's band; the first band is the normal one.
    Threshold { bands: Vec<Band>, hysteresis: f64 },
    /// `metric / denominator` of the same series (of their values, or of their increases
    /// since the previous poll), by band.
    Ratio {
        denominator: String,
        of_increase: bool,
        /// Emitted for every poll in which the denominator rose (`of: increase` only).
        each_increase: Option<SignalKind>,
        bands: Vec<Band>,
        hysteresis: f64,
    },
    /// Each poll in which a counter rose by at least `min`.
    Increase { emit: SignalKind, min: f64 },
    /// A sustained rise (the trend detector).
    Trend {
        emit: SignalKind,
        detector: TrendParams,
    },
    /// At least `events` counter increments within `within`.
    Storm {
        emit: SignalKind,
        events: u32,
        within: Duration,
    },
    /// No data point for `after`; `recover` when it comes back.
    Absence {
        after: Duration,
        emit: SignalKind,
        recover: Option<SignalKind>,
    },
}

/// A validated user rule.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRule {
    /// The rule id in evidence.
    pub name: String,
    /// The metric it reads (exact name, from JMX or OTLP alike).
    pub metric: String,
    /// Data-point attributes that must have these values.
    pub matches: Vec<(String, String)>,
    pub kind: UserKind,
}

/// The validated configuration of the `signals` connector.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalsConfig {
    pub packs: Packs,
    pub rules: Vec<UserRule>,
    /// Re-emit each subject's status every this many evaluations without a change (6).
    pub heartbeat_every: u32,
    /// Hysteresis band as a fraction of each threshold (0.05): a state entered above `t` is
    /// left only at or below `t - 0.05 |t|` (below-threshold rules mirror it).
    pub hysteresis: f64,
    pub confidence: ConfidenceParams,
    /// A subject with no data for this long is stale: no heartbeats, no status points (30s).
    pub stale_after: Duration,
    /// A series with no data for this long is forgotten (10m).
    pub series_ttl: Duration,
    /// Most series tracked at once; beyond it new series are ignored and counted (1 000 000).
    pub max_series: usize,
    pub subjects: SubjectBuilder,
    /// `service.instance.id` of emitted signals; defaults to `$HOSTNAME` (or empty).
    pub source_id: String,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            packs: Packs::all(),
            rules: Vec::new(),
            heartbeat_every: 6,
            hysteresis: 0.05,
            confidence: ConfidenceParams::default(),
            stale_after: Duration::from_secs(30),
            series_ttl: Duration::from_secs(600),
            max_series: 1_000_000,
            subjects: SubjectBuilder::default(),
            source_id: String::new(),
        }
    }
}

impl SignalsConfig {
    /// Parses and checks the YAML body of a `signals` connector.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let packs = raw.packs.unwrap_or_else(Packs::all);
        packs.check()?;
        if raw.heartbeat_every == 0 {
            return Err(err(
                "heartbeat_every",
                "must be at least 1 (1 = every evaluation)",
            ));
        }
        check_fraction("hysteresis", raw.hysteresis)?;
        let c = raw.confidence;
        if c.measured_after == 0 || c.confirmed_after < c.measured_after {
            return Err(err(
                "confidence",
                "needs 1 <= measured_after <= confirmed_after",
            ));
        }
        if raw.stale_after.is_zero() {
            return Err(err("stale_after", "must be above zero, e.g. 30s"));
        }
        if raw.series_ttl < raw.stale_after {
            return Err(err("series_ttl", "must be at least stale_after"));
        }
        if raw.max_series == 0 {
            return Err(err("max_series", "must be at least 1"));
        }
        let subjects = match raw.subject.levels {
            None => SubjectBuilder::default(),
            Some(levels) => {
                SubjectBuilder::new(levels).map_err(|e| err("subject::levels", e.to_string()))?
            }
        };
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let parsed = resolve_rule(rule, raw.hysteresis)
                .map_err(|e| e.within(&i.to_string()).within("rules"))?;
            if rules.iter().any(|r: &UserRule| r.name == parsed.name) {
                return Err(err(
                    format!("rules::{i}::name"),
                    format!(
                        "`{}` is used by another rule; names must be unique",
                        parsed.name
                    ),
                ));
            }
            rules.push(parsed);
        }
        for (i, rule) in rules.iter().enumerate() {
            if let UserKind::Absence { after, .. } = &rule.kind
                && *after >= raw.series_ttl
            {
                return Err(err(
                    format!("rules::{i}::absence::after"),
                    "must be below series_ttl (a series is forgotten after series_ttl)",
                ));
            }
        }
        if rules.len() > 4096 {
            return Err(err("rules", "at most 4096 user rules"));
        }
        Ok(Self {
            packs,
            rules,
            heartbeat_every: raw.heartbeat_every,
            hysteresis: raw.hysteresis,
            confidence: raw.confidence,
            stale_after: raw.stale_after,
            series_ttl: raw.series_ttl,
            max_series: raw.max_series,
            subjects,
            source_id: raw
                .source_id
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_default(),
        })
    }
}

fn resolve_rule(raw: RawRule, default_hysteresis: f64) -> Result<UserRule, ComponentConfigError> {
    if raw.name.trim().is_empty() {
        return Err(err("name", "must not be empty"));
    }
    if raw.metric.trim().is_empty() {
        return Err(err("metric", "must not be empty"));
    }
    let given = [
        raw.threshold.is_some(),
        raw.ratio.is_some(),
        raw.increase.is_some(),
        raw.trend.is_some(),
        raw.storm.is_some(),
        raw.absence.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(err(
            "",
            "a rule needs exactly one of: threshold, ratio, increase, trend, storm, absence",
        ));
    }
    let kind = if let Some(t) = raw.threshold {
        let hysteresis = t.hysteresis.unwrap_or(default_hysteresis);
        check_fraction("threshold::hysteresis", hysteresis)?;
        UserKind::Threshold {
            bands: bands(t.bands).map_err(|e| e.within("threshold"))?,
            hysteresis,
        }
    } else if let Some(r) = raw.ratio {
        let hysteresis = r.hysteresis.unwrap_or(default_hysteresis);
        check_fraction("ratio::hysteresis", hysteresis)?;
        if r.denominator.trim().is_empty() {
            return Err(err("ratio::denominator", "must name a metric"));
        }
        if r.denominator == raw.metric {
            return Err(err("ratio::denominator", "must differ from metric"));
        }
        if r.each_increase.is_some() && r.of != RawRatioOf::Increase {
            return Err(err("ratio::each_increase", "needs `of: increase`"));
        }
        UserKind::Ratio {
            denominator: r.denominator,
            of_increase: r.of == RawRatioOf::Increase,
            each_increase: r
                .each_increase
                .as_deref()
                .map(|k| kind(k).map_err(|e| ComponentConfigError::new("each_increase", e.message)))
                .transpose()
                .map_err(|e| e.within("ratio"))?,
            bands: bands(r.bands).map_err(|e| e.within("ratio"))?,
            hysteresis,
        }
    } else if let Some(i) = raw.increase {
        check_positive("increase::min", i.min)?;
        UserKind::Increase {
            emit: kind(&i.emit).map_err(|e| e.within("increase"))?,
            min: i.min,
        }
    } else if let Some(t) = raw.trend {
        t.detector
            .check()
            .map_err(|e| e.within("detector").within("trend"))?;
        UserKind::Trend {
            emit: kind(&t.emit).map_err(|e| e.within("trend"))?,
            detector: t.detector,
        }
    } else if let Some(s) = raw.storm {
        if !(2..=1024).contains(&s.events) {
            return Err(err("storm::events", "must be between 2 and 1024"));
        }
        if s.within.is_zero() {
            return Err(err("storm::within", "must be above zero, e.g. 60s"));
        }
        UserKind::Storm {
            emit: kind(&s.emit).map_err(|e| e.within("storm"))?,
            events: s.events,
            within: s.within,
        }
    } else if let Some(a) = raw.absence {
        if a.after.is_zero() {
            return Err(err("absence::after", "must be above zero, e.g. 60s"));
        }
        UserKind::Absence {
            after: a.after,
            emit: kind(&a.emit).map_err(|e| e.within("absence"))?,
            recover: a
                .recover
                .as_deref()
                .map(|r| kind(r).map_err(|e| ComponentConfigError::new("recover", e.message)))
                .transpose()
                .map_err(|e| e.within("absence"))?,
        }
    } else {
        return Err(err("", "no rule kind given"));
    };
    Ok(UserRule {
        name: raw.name,
        metric: raw.metric,
        matches: raw.matches.into_iter().collect(),
        kind,
    })
}

fn bands(raw: Vec<RawBand>) -> Result<Vec<Band>, ComponentConfigError> {
    if raw.is_empty() {
        return Err(err("bands", "needs at least one band"));
    }
    let mut out: Vec<Band> = Vec::with_capacity(raw.len());
    for (i, b) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("bands::{i}{key}");
        match (i, b.above) {
            (0, Some(_)) => {
                return Err(err(
                    at("::above"),
                    "the first band is the normal one and has no `above`",
                ));
            }
            (0, None) => {}
            (_, None) => return Err(err(at(""), "every band after the first needs `above`")),
            (_, Some(a)) if !a.is_finite() => return Err(err(at("::above"), "must be finite")),
            (_, Some(a)) => {
                if let Some(prev) = out.last().and_then(|p| p.above)
                    && a <= prev
                {
                    return Err(err(
                        at("::above"),
                        "bands must be in rising order of `above`",
                    ));
                }
            }
        }
        let emit = kind(&b.emit).map_err(|e| ComponentConfigError::new(at("::emit"), e.message))?;
        out.push(Band {
            above: b.above,
            emit,
        });
    }
    Ok(out)
}

fn kind(text: &str) -> Result<SignalKind, ComponentConfigError> {
    text.parse::<SignalKind>()
        .map_err(|e| err("emit", e.to_string()))
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

fn check_fraction(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(err(
            key,
            format!("{v} is not a fraction between 0 and 1 (e.g. 0.8 for 80 %)"),
        ))
    }
}

fn check_non_negative(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(err(key, format!("{v} must be a finite number >= 0")))
    }
}

fn check_positive(key: &str, v: f64) -> Result<(), ComponentConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(err(key, format!("{v} must be a finite number > 0")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).expect("yaml")
    }

    #[test]
    fn empty_body_enables_every_pack_with_defaults() {
        let c = SignalsConfig::parse(&serde_yaml_ng::Value::Null).expect("valid");
        assert_eq!(c.packs, Packs::all());
        assert_eq!(c.heartbeat_every, 6);
    }

    #[test]
    fn listing_packs_enables_only_those_and_overrides_thresholds() {
        let c = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {buffer_overflow_utilization: 0.9}, jvm: }",
        ))
        .expect("valid");
        assert_eq!(
            c.packs.producer.map(|p| p.buffer_overflow_utilization),
            Some(0.9)
        );
        assert_eq!(c.packs.jvm, Some(JvmPack::default()));
        assert!(c.packs.consumer.is_none() && c.packs.broker.is_none());
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = SignalsConfig::parse(&yaml("packs: {kafka-consumer: {lag_windw: 3}}"))
            .expect_err("unknown key");
        assert!(e.message.contains("unknown field `lag_windw`"), "{e}");
        assert_eq!(e.path, "packs::kafka-consumer::lag_windw");
        let e = SignalsConfig::parse(&yaml("packs: {kafka-consumer: {lag_window: 1}}"))
            .expect_err("range");
        assert_eq!(e.path, "packs::kafka-consumer::lag_window");
        let e = SignalsConfig::parse(&yaml("packs: {kafka-producr: {}}")).expect_err("pack");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, increase: {emit: Queues.FAIL}}]",
        ))
        .expect_err("kind");
        assert_eq!(e.path, "rules::0::increase::emit");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, increase: {emit: Counters.INCREMENT}, trend: {}}]",
        ))
        .expect_err("two kinds");
        assert!(e.message.contains("exactly one"), "{e}");
        let e = SignalsConfig::parse(&yaml(
            "rules: [{name: a, metric: m, threshold: {bands: [{emit: Probes.SUCCEED.OUTBOUND}, {above: 5, emit: Probes.FAIL.OUTBOUND}, {above: 1, emit: Probes.FAIL.OUTBOUND}]}}]",
        ))
        .expect_err("order");
        assert_eq!(e.path, "rules::0::threshold::bands::2::above");
    }

    #[test]
    fn pack_thresholds_must_be_consistent() {
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {buffer_pressure_utilization: 0.96}}",
        ))
        .expect_err("pressure above overflow");
        assert_eq!(e.path, "packs::kafka-producer::buffer_pressure_utilization");
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka: {request_latency_trend: {growth: 1}}}",
        ))
        .expect_err("growth");
        assert_eq!(e.path, "packs::kafka::request_latency_trend::growth");
    }

    #[test]
    fn latency_trends_have_a_floor_that_user_trend_rules_do_not() {
        let c = SignalsConfig::parse(&serde_yaml_ng::Value::Null).expect("defaults");
        let floor = |c: &SignalsConfig| {
            (
                c.packs.producer.map(|p| p.latency_trend.floor),
                c.packs.broker.map(|p| p.request_latency_trend.floor),
            )
        };
        assert_eq!(floor(&c), (Some(100.0), Some(100.0)));
        let c = SignalsConfig::parse(&yaml(
            "packs: {kafka-producer: {latency_trend: {min_latency_ms: 50, rising_polls: 4}}, kafka: {request_latency_trend: {growth: 3}}}",
        ))
        .expect("valid");
        assert_eq!(floor(&c), (Some(50.0), Some(100.0)));
        assert_eq!(
            c.packs.producer.map(|p| p.latency_trend.rising_polls),
            Some(4)
        );
        let e = SignalsConfig::parse(&yaml(
            "packs: {kafka: {request_latency_trend: {min_latency_ms: -1}}}",
        ))
        .expect_err("negative");
        assert_eq!(
            e.path,
            "packs::kafka::request_latency_trend::min_latency_ms"
        );
        for key in ["min_latency_ms", "floor"] {
            let e = SignalsConfig::parse(&yaml(&format!(
                "rules: [{{name: t, metric: m, trend: {{detector: {{{key}: 5}}}}}}]"
            )))
            .expect_err("not a user rule key");
            assert!(e.message.contains("unknown field"), "{e}");
        }
        let c =
            SignalsConfig::parse(&yaml("rules: [{name: t, metric: m, trend: {}}]")).expect("valid");
        assert!(matches!(
            c.rules[0].kind,
            UserKind::Trend { detector, .. } if detector.floor == 0.0
        ));
    }

    #[test]
    fn testdata_loads_to_the_expected_values() {
        let all: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/signals.yaml")).expect("yaml");
        let defaults = SignalsConfig::parse(&all["signals"]).expect("defaults");
        let expected = SignalsConfig {
            source_id: defaults.source_id.clone(),
            ..SignalsConfig::default()
        };
        assert_eq!(defaults, expected);

        let c = SignalsConfig::parse(&all["signals/custom"]).expect("custom");
        let producer = c.packs.producer.expect("producer on");
        assert_eq!(producer.buffer_overflow_utilization, 0.9);
        assert_eq!(producer.latency_trend.rising_polls, 4);
        assert_eq!(producer.latency_trend.window, 0);
        assert_eq!(producer.latency_trend.floor, 20.0);
        assert_eq!(producer.error_rate_threshold, 0.0);
        let consumer = c.packs.consumer.expect("consumer on");
        assert_eq!(consumer.lag_overflow, 50_000.0);
        assert_eq!(consumer.max_poll_interval, Duration::from_secs(600));
        assert_eq!(consumer.lag_window, 10);
        assert!(c.packs.broker.is_none() && c.packs.jvm.is_none() && c.packs.targets.is_none());
        assert_eq!(c.heartbeat_every, 12);
        assert_eq!(c.confidence.confirmed_after, 5);
        assert_eq!(c.stale_after, Duration::from_secs(60));
        assert_eq!(c.max_series, 50_000);
        assert_eq!(c.source_id, "sidecar-7");
        assert_eq!(c.subjects.levels().len(), 4);
        let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "latency-band",
                "failure-share",
                "processed",
                "depth-trend",
                "restarts",
                "heartbeat"
            ]
        );
        assert_eq!(
            c.rules[0].matches,
            [("route".to_string(), "/pay".to_string())]
        );
        assert!(matches!(
            &c.rules[1].kind,
            UserKind::Ratio {
                of_increase: true,
                each_increase: Some(_),
                ..
            }
        ));
        assert!(matches!(
            &c.rules[4].kind,
            UserKind::Storm { events: 3, .. }
        ));
    }
}
