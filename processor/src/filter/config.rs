//! The `filter` processor's keys (the Collector's) and their compilation to OTTL conditions.

use serde::Deserialize;

use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, Processor, ProcessorConfig,
    parse_component_config,
};
use kafka_obs_ottl::{Condition, Context, Level};

use super::legacy::{LegacyMatch, RawMatch};
use super::processor::Filter;
use crate::ottl_otlp::ErrorMode;
use crate::per_parcel::PerParcel;

/// The validated configuration of a `filter` processor: compiled conditions per context.
#[derive(Debug, Clone, Default)]
pub struct FilterConfig {
    pub error_mode: ErrorMode,
    pub span: Vec<Condition>,
    pub spanevent: Vec<Condition>,
    pub metric: Vec<Condition>,
    pub datapoint: Vec<Condition>,
    pub log_record: Vec<Condition>,
    /// Metrics kept only when they match (`metrics::include`).
    pub(crate) metrics_include: Option<LegacyMatch>,
    pub(crate) metrics_exclude: Option<LegacyMatch>,
    pub(crate) logs_include: Option<LegacyMatch>,
    pub(crate) logs_exclude: Option<LegacyMatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    error_mode: ErrorMode,
    traces: RawTraces,
    metrics: RawMetrics,
    logs: RawLogs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTraces {
    span: Vec<String>,
    spanevent: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    metric: Vec<String>,
    datapoint: Vec<String>,
    include: Option<RawMatch>,
    exclude: Option<RawMatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLogs {
    log_record: Vec<String>,
    include: Option<RawMatch>,
    exclude: Option<RawMatch>,
}

fn conditions(
    key: &str,
    context: Context,
    texts: &[String],
) -> Result<Vec<Condition>, ComponentConfigError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Condition::compile(text, context).map_err(|e| {
                ComponentConfigError::new(format!("{key}::{i}"), format!("{e} in `{text}`"))
            })
        })
        .collect()
}

fn legacy(
    key: &str,
    raw: Option<RawMatch>,
    record: Level,
) -> Result<Option<LegacyMatch>, ComponentConfigError> {
    raw.map(|r| LegacyMatch::compile(r, record).map_err(|e| e.within(key)))
        .transpose()
}

impl FilterConfig {
    /// Parses the YAML body of a `filter` processor and compiles its conditions.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        Ok(Self {
            error_mode: raw.error_mode,
            span: conditions("traces::span", Context::Span, &raw.traces.span)?,
            spanevent: conditions(
                "traces::spanevent",
                Context::SpanEvent,
                &raw.traces.spanevent,
            )?,
            metric: conditions("metrics::metric", Context::Metric, &raw.metrics.metric)?,
            datapoint: conditions(
                "metrics::datapoint",
                Context::DataPoint,
                &raw.metrics.datapoint,
            )?,
            log_record: conditions("logs::log_record", Context::Log, &raw.logs.log_record)?,
            metrics_include: legacy("metrics::include", raw.metrics.include, Level::Metric)?,
            metrics_exclude: legacy("metrics::exclude", raw.metrics.exclude, Level::Metric)?,
            logs_include: legacy("logs::include", raw.logs.include, Level::Log)?,
            logs_exclude: legacy("logs::exclude", raw.logs.exclude, Level::Log)?,
        })
    }
}

impl ComponentConfig for FilterConfig {}

impl ProcessorConfig for FilterConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        let filter = Filter::new(self.clone(), ctx.id.to_string());
        Ok(Box::new(PerParcel::new(filter)))
    }
}
