//! What the engine's events become: signal events for the logs output, incident traces,
//! notifications (a log line, a command record, the webhook's queue), and the status gauge;
//! and how they are handed on, each holding a share of the parcel's receipt.

use kafka_obs_api::{Batch, DataKind, Outputs, Parcel, Receipt};
use kafka_obs_cells::{ActionKind, Event, Suppression};
use kafka_obs_signal::otlp::logs;
use kafka_obs_signal::{SignalKind, actors, situations};

use super::MAX_RECOVERED;
use super::engine::Core;
use crate::notify::{Notice, now_unix_nano};
use crate::output;

impl Core {
    /// Turns the engine's pending events into outputs and notifications.
    pub(super) fn handle_events(&mut self, replay: bool) {
        if self.events.is_empty() {
            return;
        }
        self.dirty = true;
        let events = std::mem::take(&mut self.events);
        for event in &events {
            match event {
                Event::StatusChanged { .. } => {
                    if self.settings.status_changes
                        && !replay
                        && let Some(s) = self.h.signal_for(event)
                    {
                        self.logs.push(s);
                    }
                }
                Event::SituationChanged {
                    cell,
                    situation,
                    time_ns,
                    ..
                } => {
                    if situation.sign == situations::Sign::Normal
                        && let Some(subject) = self.h.subject(*cell)
                    {
                        if self.recovered.len() >= MAX_RECOVERED {
                            self.recovered.clear();
                        }
                        self.recovered.insert(subject.qualified(), *time_ns);
                    }
                    if !replay && let Some(s) = self.h.signal_for(event) {
                        self.logs.push(s);
                    }
                }
                Event::StaleChanged { .. } => {}
                Event::CellEvicted { .. } => self.federation.evicted = true,
                Event::IncidentOpened(i) => {
                    self.opened_seen += 1;
                    self.counters.incidents_opened.inc();
                    tracing::debug!(incident = i.id, root_cause = %i.root_cause, "hierarchy: incident opened");
                }
                Event::IncidentUpdated(_) => {}
                Event::IncidentClosed(i) => {
                    self.closed_seen += 1;
                    self.counters.incidents_closed.inc();
                    if self.settings.traces && !replay {
                        let end = i.closed_ns.unwrap_or(i.updated_ns);
                        self.traces.push(output::incident_trace(
                            i,
                            end,
                            &self.recovered,
                            self.source_id(),
                            &self.export,
                        ));
                    }
                    for link in &i.chain {
                        self.recovered.remove(&link.path);
                    }
                }
                Event::Action(action) => {
                    let mut signal = action.signal.clone();
                    if replay {
                        self.counters.replay_suppressed.inc();
                        continue;
                    }
                    match action.suppressed {
                        None => self.counters.performed.inc(),
                        Some(Suppression::Duplicate) => self.counters.duplicate.inc(),
                        Some(Suppression::RateLimited) => self.counters.rate_limited.inc(),
                        Some(Suppression::NotOpened) => self.counters.not_opened.inc(),
                    }
                    if signal.source_id.is_empty() {
                        signal.source_id = self.source_id().to_string();
                    }
                    self.logs.push(signal);
                    if !action.perform() {
                        continue;
                    }
                    let i = &action.incident;
                    let kind = match action.kind {
                        ActionKind::NotifyOpen => "open",
                        ActionKind::NotifyUpdate => "update",
                        ActionKind::NotifyClose => "close",
                    };
                    if self.settings.notify_log {
                        tracing::warn!(
                            action = kind,
                            incident = i.id,
                            cluster = %i.cluster,
                            situation = i.situation.as_str(),
                            root_cause = %i.root_cause,
                            explanation = %i.explanation,
                            "hierarchy: incident {kind}"
                        );
                    }
                    if self.settings.notify_command {
                        let mut command = action.signal.clone();
                        command.kind = SignalKind::Actors(actors::Sign::Command);
                        command.source_id = self.source_id().to_string();
                        command
                            .attributes
                            .insert("command".into(), format!("notify_{kind}"));
                        command
                            .attributes
                            .insert("root_cause".into(), i.root_cause.clone());
                        self.logs.push(command);
                    }
                    if let Some(tx) = &self.notices {
                        let notice = Notice {
                            kind: action.kind,
                            incident: i.clone(),
                            dedupe_key: action.dedupe_key.clone(),
                        };
                        if tx.try_send(notice).is_err() {
                            self.counters.webhook_dropped.inc();
                            tracing::warn!(incident = i.id, key = %action.dedupe_key, "hierarchy: webhook queue full (or stopped); notification dropped");
                        }
                    }
                }
            }
        }
        self.events = events;
        self.events.clear();
    }

    /// Sends what the last parcel or tick produced; each output holds a share of `receipt`.
    pub(super) async fn flush(&mut self, outputs: &Outputs, receipt: &Receipt, id: &str) {
        if !self.logs.is_empty() {
            let signals = std::mem::take(&mut self.logs);
            if let Some(out) = outputs.get(DataKind::Logs) {
                let request = logs::to_export_request(&signals, &self.export);
                if let Err(e) = out
                    .send(Parcel::new(Batch::Logs(request), receipt.clone()))
                    .await
                {
                    tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass events on");
                }
            }
        }
        if !self.traces.is_empty() {
            let traces = std::mem::take(&mut self.traces);
            if let Some(out) = outputs.get(DataKind::Traces) {
                for request in traces {
                    if let Err(e) = out
                        .send(Parcel::new(Batch::Traces(request), receipt.clone()))
                        .await
                    {
                        tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass an incident trace on");
                    }
                }
            }
        }
    }

    pub(super) async fn export_status(&mut self, outputs: &Outputs, id: &str) {
        let Some(out) = outputs.get(DataKind::Metrics) else {
            return;
        };
        let points = output::status_points(&self.h, now_unix_nano());
        if points.is_empty() {
            return;
        }
        for request in output::status_requests(
            points,
            self.settings.status_batch_size,
            self.source_id(),
            &self.export,
        ) {
            if let Err(e) = out
                .send(Parcel::new(Batch::Metrics(request), Receipt::none()))
                .await
            {
                tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass the status gauge on");
                return;
            }
        }
    }
}
