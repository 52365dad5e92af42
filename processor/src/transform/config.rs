//! The `transform` processor's keys (the Collector's) and their compilation to OTTL.

use serde::Deserialize;

use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, DataKind, Processor,
    ProcessorConfig, parse_component_config,
};
use kafka_obs_ottl::{Condition, Context, Statement};

use super::processor::Transform;
use crate::ottl_otlp::ErrorMode;
use crate::per_parcel::PerParcel;

/// Statements that run on every record of one context, where one of `conditions` holds
/// (or always, when there are none).
#[derive(Debug, Clone)]
pub struct StatementGroup {
    pub context: Context,
    pub conditions: Vec<Condition>,
    pub statements: Vec<Statement>,
    pub error_mode: ErrorMode,
}

/// The validated configuration of a `transform` processor.
#[derive(Debug, Clone, Default)]
pub struct TransformConfig {
    pub error_mode: ErrorMode,
    pub trace_statements: Vec<StatementGroup>,
    pub metric_statements: Vec<StatementGroup>,
    pub log_statements: Vec<StatementGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    error_mode: ErrorMode,
    trace_statements: Vec<RawGroup>,
    metric_statements: Vec<RawGroup>,
    log_statements: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawGroup {
    /// The newer form: a statement whose paths name its context.
    Inferred(String),
    Grouped(RawGrouped),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrouped {
    context: String,
    #[serde(default)]
    conditions: Vec<String>,
    statements: Vec<String>,
    error_mode: Option<ErrorMode>,
}

/// The contexts each signal's statements may use.
pub(super) fn contexts(kind: DataKind) -> &'static [Context] {
    match kind {
        DataKind::Traces => &[
            Context::Resource,
            Context::Scope,
            Context::Span,
            Context::SpanEvent,
        ],
        DataKind::Metrics => &[
            Context::Resource,
            Context::Scope,
            Context::Metric,
            Context::DataPoint,
        ],
        DataKind::Logs => &[Context::Resource, Context::Scope, Context::Log],
    }
}

fn compile_groups(
    key: &str,
    kind: DataKind,
    raw: Vec<RawGroup>,
    default_mode: ErrorMode,
) -> Result<Vec<StatementGroup>, ComponentConfigError> {
    let allowed = contexts(kind);
    let mut out = Vec::with_capacity(raw.len());
    for (i, group) in raw.into_iter().enumerate() {
        let at = |rest: String| format!("{key}::{i}{rest}");
        match group {
            RawGroup::Inferred(text) => {
                let statement = Statement::compile_inferred(&text, allowed).map_err(|e| {
                    ComponentConfigError::new(at(String::new()), format!("{e} in `{text}`"))
                })?;
                out.push(StatementGroup {
                    context: statement.context(),
                    conditions: Vec::new(),
                    statements: vec![statement],
                    error_mode: default_mode,
                });
            }
            RawGroup::Grouped(g) => {
                let context = Context::from_name(&g.context)
                    .filter(|c| allowed.contains(c))
                    .ok_or_else(|| {
                        let names: Vec<&str> = allowed.iter().map(|c| c.name()).collect();
                        ComponentConfigError::new(
                            at("::context".into()),
                            format!(
                                "`{}` is not a context of {key}; use one of {}",
                                g.context,
                                names.join(", ")
                            ),
                        )
                    })?;
                let conditions = g
                    .conditions
                    .iter()
                    .enumerate()
                    .map(|(j, text)| {
                        Condition::compile(text, context).map_err(|e| {
                            ComponentConfigError::new(
                                at(format!("::conditions::{j}")),
                                format!("{e} in `{text}`"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let statements = g
                    .statements
                    .iter()
                    .enumerate()
                    .map(|(j, text)| {
                        Statement::compile(text, context).map_err(|e| {
                            ComponentConfigError::new(
                                at(format!("::statements::{j}")),
                                format!("{e} in `{text}`"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                out.push(StatementGroup {
                    context,
                    conditions,
                    statements,
                    error_mode: g.error_mode.unwrap_or(default_mode),
                });
            }
        }
    }
    Ok(out)
}

impl TransformConfig {
    /// Parses the YAML body of a `transform` processor and compiles its statements.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let mode = raw.error_mode;
        Ok(Self {
            error_mode: mode,
            trace_statements: compile_groups(
                "trace_statements",
                DataKind::Traces,
                raw.trace_statements,
                mode,
            )?,
            metric_statements: compile_groups(
                "metric_statements",
                DataKind::Metrics,
                raw.metric_statements,
                mode,
            )?,
            log_statements: compile_groups(
                "log_statements",
                DataKind::Logs,
                raw.log_statements,
                mode,
            )?,
        })
    }

    pub(super) fn groups(&self, kind: DataKind) -> &[StatementGroup] {
        match kind {
            DataKind::Traces => &self.trace_statements,
            DataKind::Metrics => &self.metric_statements,
            DataKind::Logs => &self.log_statements,
        }
    }
}

impl ComponentConfig for TransformConfig {}

impl ProcessorConfig for TransformConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        let transform = Transform::new(self.clone(), ctx.id.to_string());
        Ok(Box::new(PerParcel::new(transform)))
    }
}
