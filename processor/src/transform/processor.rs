//! Running `transform`: each group's statements on every record of its context, in order.

use kafka_obs_api::Batch;
use kafka_obs_ottl::Record;

use super::config::{StatementGroup, TransformConfig};
use crate::ottl_otlp::{under, walk_logs, walk_metrics, walk_traces};
use crate::per_parcel::Step;

#[derive(Debug)]
pub(crate) struct Transform {
    config: TransformConfig,
    id: String,
}

impl Transform {
    pub(super) fn new(config: TransformConfig, id: String) -> Self {
        Self { config, id }
    }
}

/// Runs `group` on one record; the first propagated error lands in `failed`.
fn run_group(
    group: &StatementGroup,
    id: &str,
    record: &mut dyn Record,
    failed: &mut Option<String>,
) {
    if failed.is_some() {
        return;
    }
    if !group.conditions.is_empty() {
        let mut any = false;
        for c in &group.conditions {
            match under(group.error_mode, id, c.matches(record), false) {
                Ok(true) => {
                    any = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    *failed = Some(e);
                    return;
                }
            }
        }
        if !any {
            return;
        }
    }
    for statement in &group.statements {
        if let Err(e) = under(group.error_mode, id, statement.execute(record), false) {
            *failed = Some(e);
            return;
        }
    }
}

impl Step for Transform {
    fn step(&mut self, mut batch: Batch) -> Result<Batch, String> {
        self.edit(&mut batch)
            .map_err(|e| format!("processor {}: {e}", self.id))?;
        Ok(batch)
    }
}

impl Transform {
    /// Runs every group in order, in place; `Err` is a statement that failed under `propagate`.
    pub(super) fn edit(&self, batch: &mut Batch) -> Result<(), String> {
        let mut failed = None;
        for group in self.config.groups(batch.kind()) {
            let mut visit = |r: &mut dyn Record| {
                run_group(group, &self.id, r, &mut failed);
                true
            };
            match batch {
                Batch::Logs(req) => walk_logs(req, group.context, &mut visit),
                Batch::Metrics(req) => walk_metrics(req, group.context, &mut visit),
                Batch::Traces(req) => walk_traces(req, group.context, &mut visit),
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }
}
