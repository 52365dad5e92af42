//! User rules' configuration (`rules: [...]`): the YAML shape of a rule, the validated
//! [`UserRule`] the engine runs, and `resolve_rule`, which turns one into the other with
//! every signal kind already parsed.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;
use kafka_obs_signal::SignalKind;

use crate::signals::config::{check_fraction, check_positive, err};
use crate::signals::trend::config::TrendConfig;

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
    detector: TrendConfig,
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
pub(crate) struct RawRule {
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
        detector: TrendConfig,
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

pub(crate) fn resolve_rule(
    raw: RawRule,
    default_hysteresis: f64,
) -> Result<UserRule, ComponentConfigError> {
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
            each_increase: optional_kind(r.each_increase.as_deref(), "each_increase")
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
            recover: optional_kind(a.recover.as_deref(), "recover")
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

/// An optional signal kind written under `key` (`recover`, `each_increase`).
fn optional_kind(
    text: Option<&str>,
    key: &str,
) -> Result<Option<SignalKind>, ComponentConfigError> {
    text.map(|k| kind(k).map_err(|e| ComponentConfigError::new(key, e.message)))
        .transpose()
}

fn kind(text: &str) -> Result<SignalKind, ComponentConfigError> {
    text.parse::<SignalKind>()
        .map_err(|e| err("emit", e.to_string()))
}
