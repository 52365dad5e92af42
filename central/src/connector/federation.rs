//! Federation in the connector's task: the parent side admits federated cells through the
//! gate before the engine sees them; the child side gathers what is due every
//! `federate.interval` and sends it to the one logs pipeline named by `federate.pipeline`,
//! numbered like the `signals` connector numbers its signals (from its start time, so a
//! restarted hierarchy never reuses a sequence the parent's de-duplication remembers).

use std::collections::BTreeMap;

use kafka_obs_api::{Batch, DataKind, Output, Outputs, Parcel, Receipt};
use kafka_obs_cells::federation::{CellRecord, Gate, Publisher, wire};
use kafka_obs_signal::otlp::logs;
use kafka_obs_signal::{Signal, Subject};

use super::engine::Core;
use crate::config::HierarchyConnectorConfig;
use crate::notify::now_unix_nano;

/// The connector's federation state, both sides.
pub(super) struct Federation {
    pub(super) gate: Gate,
    publisher: Option<Publisher>,
    next_sequence: u64,
    /// Cells were evicted since the gate was last swept.
    pub(super) evicted: bool,
}

impl Federation {
    pub(super) fn new(settings: &HierarchyConnectorConfig) -> Self {
        Self {
            gate: Gate::new(
                settings.engine.source_id.clone(),
                settings.federation.max_cells_per_child,
            ),
            publisher: settings
                .federate
                .as_ref()
                .map(|f| Publisher::new(f.publisher.clone())),
            next_sequence: now_unix_nano().max(1),
            evicted: false,
        }
    }
}

/// Splits the connector's outputs: the routes into `pipeline` carry the federated cells and
/// nothing else; every other route keeps the connector's own logs. `None` for the
/// federation output when no such pipeline lists the connector.
pub(super) fn split_outputs(
    outputs: &Outputs,
    pipeline: Option<&str>,
) -> (Outputs, Option<Output>) {
    let Some(pipeline) = pipeline else {
        return (outputs.clone(), None);
    };
    let target = format!("pipeline/{pipeline}");
    let mut by_kind = BTreeMap::new();
    let mut federation = None;
    for kind in outputs.kinds() {
        let Some(output) = outputs.get(kind) else {
            continue;
        };
        if kind == DataKind::Logs {
            let (fed, own): (Vec<_>, Vec<_>) = output
                .routes()
                .iter()
                .cloned()
                .partition(|r| r.target == target);
            if !fed.is_empty() {
                federation = Some(Output::new(fed));
            }
            // No route left for the connector's own logs: none at all, so nothing is sent
            // (and no receipt waits) for a route that does not exist.
            if !own.is_empty() {
                by_kind.insert(kind, Output::new(own));
            }
        } else {
            by_kind.insert(kind, output.clone());
        }
    }
    (Outputs::new(by_kind), federation)
}

impl Core {
    /// Whether `signal` may enter the engine: anything but a federated cell does; a
    /// federated cell does when it decodes and the gate admits it (refusals counted, logged).
    pub(super) fn admit_federated(&mut self, signal: &Signal, now: u64) -> bool {
        if !wire::is_record(signal) {
            return true;
        }
        match CellRecord::from_signal(signal) {
            Ok(Some(record)) => match self.federation.gate.admit(record, now) {
                Ok(()) => {
                    self.counters.federated_in.inc();
                    true
                }
                Err(refusal) => {
                    self.counters.federation_refused(refusal).inc();
                    tracing::warn!(
                        subject = %signal.subject.qualified(),
                        source = %signal.source_id,
                        origin = signal.attributes.get(wire::ORIGIN).map_or("", String::as_str),
                        reason = refusal.as_str(),
                        "hierarchy: refused a federated cell"
                    );
                    false
                }
            },
            Ok(None) => true,
            Err(e) => {
                self.counters.bad_records.inc();
                self.bad_records += 1;
                tracing::warn!(error = %e, source = %signal.source_id, "hierarchy: skipped a federated cell that does not decode");
                false
            }
        }
    }

    /// Forgets gate entries of cells the engine evicted, so they stop counting against their
    /// child's bound.
    pub(super) fn sweep_gate(&mut self) {
        if !std::mem::take(&mut self.federation.evicted) {
            return;
        }
        let h = &self.h;
        self.federation.gate.retain(|path| {
            path.parse::<Subject>()
                .ok()
                .and_then(|s| h.lookup(&s))
                .is_some()
        });
    }

    /// Sends what is due to the federation pipeline.
    pub(super) async fn federate(&mut self, output: &Output, id: &str) {
        let Some(publisher) = self.federation.publisher.as_mut() else {
            return;
        };
        let round = publisher.round(&self.h, Some(&self.federation.gate), now_unix_nano());
        if round.full {
            self.counters.federation_resends.inc();
        }
        if round.unfit > 0 {
            tracing::warn!(connector = %id, cells = round.unfit, "hierarchy: cells too deep for the federation prefix, not sent");
        }
        if round.records.is_empty() {
            return;
        }
        let signals: Vec<Signal> = round
            .records
            .iter()
            .map(|r| {
                let mut s = r.to_signal();
                s.sequence = self.federation.next_sequence;
                self.federation.next_sequence = self.federation.next_sequence.wrapping_add(1);
                s
            })
            .collect();
        self.counters.federated_out.add(signals.len() as u64);
        let request = logs::to_export_request(&signals, &self.export);
        // Nobody waits: a record lost on the way is sent again by the next full resend.
        if let Err(e) = output
            .send(Parcel::new(Batch::Logs(request), Receipt::none()))
            .await
        {
            tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass federated cells on");
        }
    }
}
