//! Running `filter`: walks each context that has conditions and drops the records that match.

use kafka_obs_api::Batch;
use kafka_obs_ottl::{Condition, Context, Record};

use super::config::FilterConfig;
use super::legacy::LegacyMatch;
use crate::ottl_otlp::{ErrorMode, under, walk_logs, walk_metrics, walk_traces};
use crate::per_parcel::Step;

#[derive(Debug)]
pub(crate) struct Filter {
    config: FilterConfig,
    id: String,
}

impl Filter {
    pub(super) fn new(config: FilterConfig, id: String) -> Self {
        Self { config, id }
    }
}

/// What decides whether one record goes.
struct Drop<'c> {
    include: Option<&'c LegacyMatch>,
    exclude: Option<&'c LegacyMatch>,
    conditions: &'c [Condition],
}

impl Drop<'_> {
    fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none() && self.conditions.is_empty()
    }

    /// Whether `record` is dropped; a failing condition counts as not matching unless the
    /// mode propagates, which fills `failed`.
    fn drops(
        &self,
        mode: ErrorMode,
        id: &str,
        record: &dyn Record,
        failed: &mut Option<String>,
    ) -> bool {
        if self.include.is_some_and(|m| !m.matches(record))
            || self.exclude.is_some_and(|m| m.matches(record))
        {
            return true;
        }
        for c in self.conditions {
            match under(mode, id, c.matches(record), false) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                    return false;
                }
            }
        }
        false
    }
}

impl Step for Filter {
    fn step(&mut self, mut batch: Batch) -> Result<Batch, String> {
        self.edit(&mut batch)
            .map_err(|e| format!("processor {}: {e}", self.id))?;
        Ok(batch)
    }
}

impl Filter {
    /// Drops what matches, in place; `Err` is a condition that failed under `propagate`.
    pub(super) fn edit(&self, batch: &mut Batch) -> Result<(), String> {
        let c = &self.config;
        let passes: Vec<(Context, Drop<'_>)> = match batch {
            Batch::Metrics(_) => vec![
                (
                    Context::Metric,
                    Drop {
                        include: c.metrics_include.as_ref(),
                        exclude: c.metrics_exclude.as_ref(),
                        conditions: &c.metric,
                    },
                ),
                (
                    Context::DataPoint,
                    Drop {
                        include: None,
                        exclude: None,
                        conditions: &c.datapoint,
                    },
                ),
            ],
            Batch::Logs(_) => vec![(
                Context::Log,
                Drop {
                    include: c.logs_include.as_ref(),
                    exclude: c.logs_exclude.as_ref(),
                    conditions: &c.log_record,
                },
            )],
            Batch::Traces(_) => vec![
                (
                    Context::Span,
                    Drop {
                        include: None,
                        exclude: None,
                        conditions: &c.span,
                    },
                ),
                (
                    Context::SpanEvent,
                    Drop {
                        include: None,
                        exclude: None,
                        conditions: &c.spanevent,
                    },
                ),
            ],
        };
        let mut failed = None;
        for (context, drop) in passes.iter().filter(|(_, d)| !d.is_empty()) {
            let mut visit =
                |r: &mut dyn Record| !drop.drops(c.error_mode, &self.id, r, &mut failed);
            match batch {
                Batch::Logs(req) => walk_logs(req, *context, &mut visit),
                Batch::Metrics(req) => walk_metrics(req, *context, &mut visit),
                Batch::Traces(req) => walk_traces(req, *context, &mut visit),
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }
}
