//! The hierarchy's configuration: plain serde structs with defaults in code, and
//! [`HierarchyConfig::validate`], which turns them into the resolved settings the engine runs
//! on (durations as nanoseconds, the sign -> status table) or says which key is wrong.
//!
//! Every struct denies unknown fields and has a `Default`, so a component can embed
//! `HierarchyConfig` in its YAML as is (every key optional). Durations are written as the
//! Collector writes them: `30s`, `250ms`, `1m30s`, `2h`.

use std::{collections::BTreeMap, time::Duration};

use kafka_obs_signal::{
    Instrument, ScorecardParams, Signal, SignalKind, condition::Phase, statuses,
};
use serde::Deserialize;

/// A configuration value the engine cannot run with. `key` is the path below the hierarchy's
/// own config (`damping::clear_after`), for the component to prefix with its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The offending key, `::`-separated.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Everything the engine can be told. See the crate documentation for the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HierarchyConfig {
    /// A cell with no news (no signal on it or below it) for this long is *stale*: shown with
    /// a stale flag and left out of its parent's roll-up. Default 3m (the sidecar repeats a
    /// subject's status at least every minute).
    #[serde(with = "duration")]
    pub stale_after: Duration,
    /// A stale cell is forgotten (evicted) after this long without news. Default 1h.
    #[serde(with = "duration")]
    pub forget_after: Duration,
    /// At most this many cells (the root included). A new cell beyond it first evicts the
    /// longest-stale cell; when no cell is stale the signal is refused and counted.
    /// Default 1 000 000.
    pub max_cells: usize,
    /// At most this many latest readings per cell (one per instrument, rule and source); a new
    /// key beyond it replaces the oldest reading (counted). Default 16.
    pub max_readings_per_cell: usize,
    /// Entries kept in each cell's history ring (status and situation changes). Default 32.
    pub history_len: usize,
    /// The `source_id` of the signals the engine itself produces (statuses, situations,
    /// actors). Default `kafka-obs-central`.
    pub source_id: String,
    /// Damping of shown statuses.
    pub damping: DampingConfig,
    /// Observers (ORIENT): signs -> statuses.
    pub observer: ObserverConfig,
    /// Reporters (DECIDE): statuses -> situations.
    pub reporter: ReporterConfig,
    /// Correlation of troubled cells into incidents.
    pub correlation: CorrelationConfig,
    /// Incident life cycle.
    pub incidents: IncidentConfig,
    /// Actors (ACT): notifications.
    pub notify: NotifyConfig,
    /// B3, "no active controller", is decided here for the whole cluster from the brokers'
    /// own controller flags (Members ELECT / RESIGN SELF under rule B3): a cluster cell reads
    /// DOWN once no live broker under it has reported an active controller for this long
    /// (while at least one live broker reports a flag). Brokers are polled at different
    /// moments and an election takes a poll interval to be seen, so this should span a poll
    /// interval or two. Default 30s; `0s` decides at once.
    #[serde(with = "duration")]
    pub controller_grace: Duration,
}

impl Default for HierarchyConfig {
    fn default() -> Self {
        Self {
            stale_after: Duration::from_secs(180),
            forget_after: Duration::from_secs(3600),
            max_cells: 1_000_000,
            max_readings_per_cell: 16,
            history_len: 32,
            source_id: "kafka-obs-central".to_string(),
            damping: DampingConfig::default(),
            observer: ObserverConfig::default(),
            reporter: ReporterConfig::default(),
            correlation: CorrelationConfig::default(),
            incidents: IncidentConfig::default(),
            notify: NotifyConfig::default(),
            controller_grace: Duration::from_secs(30),
        }
    }
}

/// Damping: a cell's *shown* status follows its rolled-up status at once when that gets worse
/// (after `raise_after`, default 0s), but only gets better once the better status has held
/// for `clear_after` (default 1m). One child flapping therefore does not make its parent flap;
/// the flapping shows as the variability (VOLATILE) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DampingConfig {
    /// How long a worse status must hold before it is shown. Default 0s.
    #[serde(with = "duration")]
    pub raise_after: Duration,
    /// How long a better status must hold before it is shown. Default 1m.
    #[serde(with = "duration")]
    pub clear_after: Duration,
}

impl Default for DampingConfig {
    fn default() -> Self {
        Self {
            raise_after: Duration::ZERO,
            clear_after: Duration::from_secs(60),
        }
    }
}

/// Observers (ORIENT): which status each sign reads as, and how long a reading counts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObserverConfig {
    /// A reading counts for this long after it arrived unless a newer reading with the same
    /// instrument, rule and source replaces it. Default 5m. The sidecar repeats statuses
    /// (heartbeat), but instrument signs such as Queues OVERFLOW are sent once on entering a
    /// state, so they must fade.
    #[serde(with = "duration")]
    pub reading_ttl: Duration,
    /// Overrides of the default sign -> status readings of `docs/vocabulary.md`, e.g.
    /// `Queues.ENQUEUE: STABLE`, `Probes.FAIL.INBOUND: DEFECTIVE`, `Services.RETRY.CALLER:
    /// DIVERGING`, `Resources.DENY: none` (no reading). `Instrument.SIGN` applies to every
    /// dimension; `Instrument.SIGN.DIMENSION` to one and wins over the former. Statuses
    /// signals are verdicts already and cannot be overridden.
    pub readings: BTreeMap<String, String>,
    /// The confidence scorecard for readings derived from instrument signs (a Statuses signal
    /// carries its own confidence).
    pub scorecard: ScorecardConfig,
}

impl Default for ObserverConfig {
    fn default() -> Self {
        Self {
            reading_ttl: Duration::from_secs(300),
            readings: BTreeMap::new(),
            scorecard: ScorecardConfig::default(),
        }
    }
}

/// The scorecard of `docs/vocabulary.md` (see `kafka_obs_signal::Scorecard`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScorecardConfig {
    /// Factor every bucket is multiplied by on each reading. Default 0.95.
    pub decay: f64,
    /// Amount added to the voted bucket. Default 0.05.
    pub weight: f64,
    /// Total evidence below which the leader is TENTATIVE. Default 0.25.
    pub min_evidence: f64,
    /// Leader's share from which it is MEASURED. Default 0.5.
    pub measured_share: f64,
    /// Leader's share from which it is CONFIRMED. Default 0.8.
    pub confirmed_share: f64,
}

impl Default for ScorecardConfig {
    fn default() -> Self {
        let p = ScorecardParams::default();
        Self {
            decay: p.decay,
            weight: p.weight,
            min_evidence: p.min_evidence,
            measured_share: p.measured_share,
            confirmed_share: p.confirmed_share,
        }
    }
}

impl From<ScorecardConfig> for ScorecardParams {
    fn from(c: ScorecardConfig) -> Self {
        Self {
            decay: c.decay,
            weight: c.weight,
            min_evidence: c.min_evidence,
            measured_share: c.measured_share,
            confirmed_share: c.confirmed_share,
        }
    }
}

/// Reporters (DECIDE): status -> situation, and variability from the transition rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReporterConfig {
    /// Read a CONFIRMED DEGRADED as CRITICAL (the optional escalation of `docs/vocabulary.md`).
    /// Default false.
    pub escalate_confirmed_degraded: bool,
    /// Situation changes are counted over this window for the variability. Default 10m.
    #[serde(with = "duration")]
    pub variability_window: Duration,
    /// This many changes within the window make a cell VARIABLE. Default 2.
    pub variable_at: u32,
    /// This many make it VOLATILE. Default 4; at most 16.
    pub volatile_at: u32,
}

impl Default for ReporterConfig {
    fn default() -> Self {
        Self {
            escalate_confirmed_degraded: false,
            variability_window: Duration::from_secs(600),
            variable_at: 2,
            volatile_at: 4,
        }
    }
}

/// Correlation: which troubled cells belong to one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// A cell whose trouble began within this time of a related cell's (by the signals' own
    /// timestamps) joins that cell's incident. Default 10m.
    #[serde(with = "duration")]
    pub window: Duration,
    /// At most this many links in an explanation chain; later members are counted but not
    /// listed. Default 16.
    pub max_chain: usize,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            max_chain: 16,
        }
    }
}

/// Incident life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// An incident closes once every member has been out of trouble (or stale) for this long.
    /// Default 5m.
    #[serde(with = "duration")]
    pub close_after: Duration,
    /// Closed incidents kept for queries (oldest dropped first). Default 1000.
    pub max_closed: usize,
    /// Open incidents at most; a new one beyond it is counted and not opened. Default 10 000.
    pub max_open: usize,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            close_after: Duration::from_secs(300),
            max_closed: 1000,
            max_open: 10_000,
        }
    }
}

/// Actors (ACT): when to notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Incidents below this situation (`WARNING` or `CRITICAL`) are not notified until they
    /// escalate. Default `WARNING`.
    #[serde(with = "situation")]
    pub min_situation: kafka_obs_signal::situations::Sign,
    /// An incident with the same root-cause cell as one notified within this interval is not
    /// notified again (neither its opening nor its closing). Default 30m.
    #[serde(with = "duration")]
    pub dedupe_interval: Duration,
    /// Updates of one incident (escalation, a longer chain) are sent at most this often.
    /// Default 5m.
    #[serde(with = "duration")]
    pub update_interval: Duration,
    /// Global rate limit on notifications.
    pub rate_limit: RateLimitConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            min_situation: kafka_obs_signal::situations::Sign::Warning,
            dedupe_interval: Duration::from_secs(1800),
            update_interval: Duration::from_secs(300),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

/// A token bucket: `burst` notifications at once, refilled at `burst` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Bucket size. Default 20.
    pub burst: u32,
    /// Time to refill the whole bucket. Default 1m.
    #[serde(with = "duration")]
    pub per: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst: 20,
            per: Duration::from_secs(60),
        }
    }
}

/// The validated configuration, in the units the engine uses.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub stale_after: u64,
    pub forget_after: u64,
    pub max_cells: usize,
    pub max_readings: usize,
    pub history_len: usize,
    pub source_id: String,
    pub raise_after: u64,
    pub clear_after: u64,
    pub reading_ttl: u64,
    pub readings: Readings,
    pub scorecard: ScorecardParams,
    pub escalate_confirmed_degraded: bool,
    pub variability_window: u64,
    pub variable_at: u32,
    pub volatile_at: u32,
    pub window: u64,
    pub max_chain: usize,
    pub close_after: u64,
    pub max_closed: usize,
    pub max_open: usize,
    pub min_situation: kafka_obs_signal::situations::Sign,
    pub dedupe_interval: u64,
    pub update_interval: u64,
    pub burst: u32,
    pub refill_per: u64,
    pub controller_grace: u64,
}

/// The Observers' sign -> status table: the defaults of `docs/vocabulary.md` with the overrides
/// applied, precomputed for every kind the vocabulary allows.
#[derive(Debug, Clone)]
pub(crate) struct Readings {
    table: std::collections::HashMap<SignalKind, Option<statuses::Sign>, crate::hash::Fx>,
    /// The kinds `observer.readings` names (their reading is the user's, even `none`).
    overridden: std::collections::HashSet<SignalKind, crate::hash::Fx>,
}

impl Readings {
    /// The status a sign reads as; Statuses signals read as themselves.
    pub fn status_of(&self, kind: &SignalKind) -> Option<statuses::Sign> {
        match kind.status() {
            Some((sign, _)) => Some(sign),
            None => self.table.get(kind).copied().flatten(),
        }
    }

    /// The status a signal reads as: its sign's, except that a condition's recovery whose
    /// sign reads as no status by default (`Queues.ENQUEUE`, `Members.ELECT.SELF`) reads as
    /// STABLE. The sender says the condition ended, which is news about the subject's health,
    /// not the absence of it; an explicit `observer.readings` entry for the sign still wins.
    pub fn status_of_signal(&self, signal: &Signal) -> Option<statuses::Sign> {
        let status = self.status_of(&signal.kind);
        if status.is_none()
            && signal.phase() == Some(Phase::Recovery)
            && !self.overridden.contains(&signal.kind)
        {
            return Some(statuses::Sign::Stable);
        }
        status
    }
}

pub(crate) const MAX_VOLATILE_AT: u32 = 16;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl HierarchyConfig {
    /// Checks every value and resolves the configuration; pure.
    pub(crate) fn validate(&self) -> Result<Settings, ConfigError> {
        if self.stale_after.is_zero() {
            return Err(err("stale_after", "must be above zero, e.g. 3m"));
        }
        if self.forget_after < self.stale_after {
            return Err(err(
                "forget_after",
                "must be at least stale_after (a cell is forgotten only after it went stale)",
            ));
        }
        if self.max_cells < 2 {
            return Err(err(
                "max_cells",
                "must be at least 2 (the root and one cell)",
            ));
        }
        if self.max_readings_per_cell == 0 || self.max_readings_per_cell > 255 {
            return Err(err("max_readings_per_cell", "must be between 1 and 255"));
        }
        if self.history_len == 0 || self.history_len > 4096 {
            return Err(err("history_len", "must be between 1 and 4096"));
        }
        if self.observer.reading_ttl.is_zero() {
            return Err(err("observer::reading_ttl", "must be above zero, e.g. 5m"));
        }
        let s = self.observer.scorecard;
        let fraction = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        for (key, value) in [
            ("decay", s.decay),
            ("weight", s.weight),
            ("min_evidence", s.min_evidence),
            ("measured_share", s.measured_share),
            ("confirmed_share", s.confirmed_share),
        ] {
            if !fraction(value) {
                return Err(err(
                    format!("observer::scorecard::{key}"),
                    format!("{value} is not a number in (0, 1]"),
                ));
            }
        }
        if s.measured_share > s.confirmed_share {
            return Err(err(
                "observer::scorecard::measured_share",
                "must not be above confirmed_share",
            ));
        }
        let r = self.reporter;
        if r.variability_window.is_zero() {
            return Err(err(
                "reporter::variability_window",
                "must be above zero, e.g. 10m",
            ));
        }
        if r.variable_at == 0 || r.variable_at > r.volatile_at {
            return Err(err(
                "reporter::variable_at",
                "must be at least 1 and at most volatile_at",
            ));
        }
        if r.volatile_at > MAX_VOLATILE_AT {
            return Err(err(
                "reporter::volatile_at",
                format!("must be at most {MAX_VOLATILE_AT}"),
            ));
        }
        if self.correlation.max_chain == 0 {
            return Err(err("correlation::max_chain", "must be at least 1"));
        }
        if self.incidents.max_open == 0 {
            return Err(err("incidents::max_open", "must be at least 1"));
        }
        if self.notify.min_situation == kafka_obs_signal::situations::Sign::Normal {
            return Err(err(
                "notify::min_situation",
                "must be WARNING or CRITICAL (a NORMAL cell is not an incident)",
            ));
        }
        if self.notify.rate_limit.burst == 0 {
            return Err(err("notify::rate_limit::burst", "must be at least 1"));
        }
        if self.notify.rate_limit.per.is_zero() {
            return Err(err(
                "notify::rate_limit::per",
                "must be above zero, e.g. 1m",
            ));
        }
        Ok(Settings {
            stale_after: nanos(self.stale_after),
            forget_after: nanos(self.forget_after),
            max_cells: self.max_cells,
            max_readings: self.max_readings_per_cell,
            history_len: self.history_len,
            source_id: self.source_id.clone(),
            raise_after: nanos(self.damping.raise_after),
            clear_after: nanos(self.damping.clear_after),
            reading_ttl: nanos(self.observer.reading_ttl),
            readings: readings_table(&self.observer.readings)?,
            scorecard: s.into(),
            escalate_confirmed_degraded: r.escalate_confirmed_degraded,
            variability_window: nanos(r.variability_window),
            variable_at: r.variable_at,
            volatile_at: r.volatile_at,
            window: nanos(self.correlation.window),
            max_chain: self.correlation.max_chain,
            close_after: nanos(self.incidents.close_after),
            max_closed: self.incidents.max_closed,
            max_open: self.incidents.max_open,
            min_situation: self.notify.min_situation,
            dedupe_interval: nanos(self.notify.dedupe_interval),
            update_interval: nanos(self.notify.update_interval),
            burst: self.notify.rate_limit.burst,
            refill_per: nanos(self.notify.rate_limit.per),
            controller_grace: nanos(self.controller_grace),
        })
    }
}

fn readings_table(overrides: &BTreeMap<String, String>) -> Result<Readings, ConfigError> {
    let mut table = std::collections::HashMap::default();
    let mut overridden = std::collections::HashSet::default();
    for kind in SignalKind::all() {
        table.insert(kind, kind.default_status());
    }
    // Two passes: `Instrument.SIGN` first, then the more specific `Instrument.SIGN.DIM`.
    let mut specific = Vec::new();
    for (key, value) in overrides {
        let path = format!("observer::readings::{key}");
        let status = if value.trim().eq_ignore_ascii_case("none") {
            None
        } else {
            Some(
                value
                    .parse::<statuses::Sign>()
                    .map_err(|e| err(&path, format!("{e}, or `none` for no reading")))?,
            )
        };
        let mut parts = key.split('.');
        let (Some(instrument), Some(sign), dimension, None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err(
                &path,
                "write `Instrument.SIGN` or `Instrument.SIGN.DIMENSION`, e.g. Queues.OVERFLOW",
            ));
        };
        let instrument: Instrument = instrument
            .parse()
            .map_err(|e: kafka_obs_signal::UnknownName| err(&path, e.to_string()))?;
        if instrument == Instrument::Statuses {
            return Err(err(
                &path,
                "Statuses signals are verdicts already and read as themselves",
            ));
        }
        let matching: Vec<SignalKind> = match dimension {
            Some(d) => vec![
                SignalKind::from_parts(instrument, sign, Some(d))
                    .map_err(|e| err(&path, e.to_string()))?,
            ],
            None => {
                let dims = instrument.dimension_names();
                if dims.is_empty() {
                    vec![
                        SignalKind::from_parts(instrument, sign, None)
                            .map_err(|e| err(&path, e.to_string()))?,
                    ]
                } else {
                    dims.iter()
                        .map(|d| SignalKind::from_parts(instrument, sign, Some(d)))
                        .collect::<Result<_, _>>()
                        .map_err(|e| err(&path, e.to_string()))?
                }
            }
        };
        overridden.extend(matching.iter().copied());
        if dimension.is_some() {
            specific.push((matching, status));
        } else {
            for kind in matching {
                table.insert(kind, status);
            }
        }
    }
    for (kinds, status) in specific {
        for kind in kinds {
            table.insert(kind, status);
        }
    }
    Ok(Readings { table, overridden })
}

/// Serde helper (`#[serde(with = "duration")]`, also for `central`): durations are read by
/// the one parser every config shares, Go's `time.ParseDuration` rules as the Collector
/// reads them (`30s`, `1m30s`, `1.5h`; `0` alone needs no unit).
pub mod duration {
    pub use kafka_obs_api::config::de::duration as deserialize;
}

mod situation {
    use kafka_obs_signal::situations::Sign;
    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sign, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| D::Error::custom(format!("{e}; write WARNING or CRITICAL")))
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use kafka_obs_signal::{probes, queues, resources};

    #[test]
    fn defaults_validate() {
        let settings = HierarchyConfig::default().validate();
        assert!(settings.is_ok(), "{settings:?}");
        assert_eq!(
            HierarchyConfig::default().controller_grace,
            Duration::from_secs(30)
        );
        let zero: HierarchyConfig =
            serde_yaml_ng::from_str("controller_grace: 0s").expect("parses");
        assert!(zero.validate().is_ok(), "no grace: decide at once");
    }

    #[test]
    fn yaml_with_every_section_parses() {
        let yaml = "
stale_after: 2m
forget_after: 30m
max_cells: 5000
damping: {raise_after: 0s, clear_after: 45s}
observer:
  reading_ttl: 4m
  readings: {Queues.ENQUEUE: STABLE, Probes.FAIL.INBOUND: DEFECTIVE, Resources.DENY: none}
  scorecard: {decay: 0.9}
reporter: {escalate_confirmed_degraded: true, variable_at: 3, volatile_at: 6}
correlation: {window: 5m}
incidents: {close_after: 2m}
notify: {min_situation: CRITICAL, rate_limit: {burst: 5, per: 1m}}
controller_grace: 45s
";
        let config: HierarchyConfig = serde_yaml_ng::from_str(yaml).expect("parses");
        assert_eq!(config.stale_after, Duration::from_secs(120));
        assert_eq!(config.damping.clear_after, Duration::from_secs(45));
        assert_eq!(config.controller_grace, Duration::from_secs(45));
        let settings = config.validate().expect("valid");
        assert_eq!(settings.controller_grace, 45_000_000_000);
        let r = &settings.readings;
        assert_eq!(
            r.status_of(&SignalKind::Queues(queues::Sign::Enqueue)),
            Some(statuses::Sign::Stable)
        );
        assert_eq!(
            r.status_of(&SignalKind::Probes(
                probes::Sign::Fail,
                probes::Dimension::Inbound
            )),
            Some(statuses::Sign::Defective)
        );
        assert_eq!(
            r.status_of(&SignalKind::Probes(
                probes::Sign::Fail,
                probes::Dimension::Outbound
            )),
            Some(statuses::Sign::Degraded)
        );
        assert_eq!(
            r.status_of(&SignalKind::Resources(resources::Sign::Deny)),
            None
        );
        assert_eq!(
            settings.min_situation,
            kafka_obs_signal::situations::Sign::Critical
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let unknown = serde_yaml_ng::from_str::<HierarchyConfig>("damping: {clear: 1s}");
        assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `clear`")));
        let bare = serde_yaml_ng::from_str::<HierarchyConfig>("stale_after: 30");
        assert!(bare.is_err_and(|e| e.to_string().contains("needs a unit")));

        let mut config = HierarchyConfig::default();
        config
            .observer
            .readings
            .insert("Queues.FAIL".into(), "DEGRADED".into());
        let e = config.validate().err().map(|e| e.key);
        assert_eq!(e.as_deref(), Some("observer::readings::Queues.FAIL"));

        let mut config = HierarchyConfig::default();
        config
            .observer
            .readings
            .insert("Statuses.DOWN".into(), "STABLE".into());
        assert!(config.validate().is_err());

        let mut config = HierarchyConfig::default();
        config
            .observer
            .readings
            .insert("Queues.OVERFLOW".into(), "BAD".into());
        let e = config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`none`"), "{e}");

        let mut config = HierarchyConfig::default();
        config.reporter.volatile_at = 17;
        config.reporter.variable_at = 2;
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("reporter::volatile_at")
        );

        let mut config = HierarchyConfig::default();
        config.forget_after = Duration::from_secs(1);
        assert_eq!(
            config.validate().err().map(|e| e.key).as_deref(),
            Some("forget_after")
        );
        let config: Result<HierarchyConfig, _> =
            serde_yaml_ng::from_str("notify: {min_situation: NORMAL}");
        assert!(config.expect("parses").validate().is_err());
    }
}
