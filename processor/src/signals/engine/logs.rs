//! The engine's log intake: OTLP log records (a filelog receiver's lines, an SDK's logs) into
//! the exceptions pack's rows, and the evaluation of those rows as time passes.
//!
//! Each error record (`packs/exceptions/record.rs`) feeds two rows of its service instance
//! (the resource's `INSTANCE_KEYS`): the instance's error rate (E2) and, when it names an
//! exception type, that type's burst row (E1). An instance tracks at most
//! `max_types_per_instance` types; the rest share the row of type `(other)`, counted. Unlike
//! metric rows, log rows must be evaluated without new input (a burst ends by silence), so
//! [`Engine::evaluate_logs`] also evaluates every log row that is due, and the connector
//! calls it with no records once a second ([`Engine::tick_logs`]).

use kafka_obs_signal::{Subject, SubjectBuilder};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::rows::{Row, RowState};
use super::subjects::{SubjectState, subject_id};
use super::{Engine, Evaluation};
use crate::signals::packs::Reader;
use crate::signals::packs::exceptions::{
    BurstRow, INSTANCE_KEYS, OTHER_TYPE, TYPE_KEY, config::ExceptionsPackConfig, record,
};
use crate::signals::state::{hash_attrs_subset, hash_str, row_key};

/// The OpenTelemetry SDKs' `service.name` when an application sets none.
const UNKNOWN_SERVICE: &str = "unknown_service";

impl Engine {
    /// Reads one request's log records at `now` (ns since the epoch) and evaluates the log rows
    /// that got errors or are due; see the module documentation.
    pub fn evaluate_logs(&mut self, request: &ExportLogsServiceRequest, now: u64) -> Evaluation {
        self.begin_evaluation();
        let Some(p) = self.config.packs.exceptions else {
            self.warn_once(61, || {
                tracing::warn!(
                    "signals: logs arrive but the exceptions pack is off (packs: {{exceptions:}}); they are ignored"
                );
            });
            return Evaluation::default();
        };
        for rl in &request.resource_logs {
            let resource: &[KeyValue] = rl.resource.as_ref().map_or(&[], |r| &r.attributes);
            let instance = hash_attrs_subset(resource, INSTANCE_KEYS);
            for log in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                self.stats.log_records += 1;
                let Some(error) = record::read(log) else {
                    continue;
                };
                self.stats.error_records += 1;
                self.record_error(&p, resource, instance, error, now);
            }
        }
        self.evaluate_log_rows(now)
    }

    /// Evaluates the log rows that are due at `now` (bursts to end, intervals to judge).
    pub fn tick_logs(&mut self, now: u64) -> Evaluation {
        self.begin_evaluation();
        self.evaluate_log_rows(now)
    }

    fn record_error(
        &mut self,
        p: &ExceptionsPackConfig,
        resource: &[KeyValue],
        instance: u64,
        error: record::ErrorRecord<'_>,
        now: u64,
    ) {
        let rate_key = row_key(instance, 0, Reader::ErrorRate.tag());
        if self.log_row(rate_key, resource, Vec::new(), now, || {
            RowState::ErrorRate(Box::default())
        }) && let Some(Row {
            state: RowState::ErrorRate(r),
            ..
        }) = self.rows.get_mut(&rate_key)
        {
            r.record(now);
        }
        let Some(mut kind) = error.exception_type else {
            return;
        };
        let type_key = |t: &str| {
            row_key(
                instance,
                hash_str(t) ^ u64::from(error.probe),
                Reader::Exception.tag(),
            )
        };
        let mut key = type_key(&kind);
        if !self.rows.contains_key(&key) {
            let types = self.instance_types.get(&instance).copied().unwrap_or(0);
            if types >= p.max_types_per_instance {
                self.stats.folded_types += 1;
                kind = OTHER_TYPE.into();
                key = type_key(&kind);
            }
        }
        let attributes = vec![(TYPE_KEY.to_string(), kind.into_owned())];
        let probe = error.probe;
        let made = self.log_row(key, resource, attributes, now, || {
            RowState::Exception(Box::new(BurstRow::new(instance, probe)))
        });
        if made
            && let Some(Row {
                state: RowState::Exception(r),
                ..
            }) = self.rows.get_mut(&key)
        {
            r.record(now, error.message, p);
        }
    }

    /// Makes sure log row `key` exists (false if `max_series` refused it) and marks it for
    /// this evaluation.
    fn log_row(
        &mut self,
        key: u64,
        resource: &[KeyValue],
        attributes: Vec<(String, String)>,
        now: u64,
        state: impl FnOnce() -> RowState,
    ) -> bool {
        if !self.rows.contains_key(&key) {
            if self.rows.len() >= self.config.max_series {
                self.stats.refused_series += 1;
                return false;
            }
            let subject = instance_subject(&self.builder, resource);
            let sid = subject_id(&subject);
            let state = state();
            if let RowState::Exception(r) = &state {
                *self.instance_types.entry(r.instance).or_insert(0) += 1;
            }
            let s = self
                .subjects
                .entry(sid)
                .or_insert_with(|| SubjectState::new(subject));
            s.rows += 1;
            s.log_rows += 1;
            self.rows.insert(key, Row::new(sid, attributes, state, now));
            self.log_rows.push(key);
        }
        if let Some(row) = self.rows.get_mut(&key) {
            row.last_seen = now;
            if row.epoch != self.epoch {
                row.epoch = self.epoch;
                self.touched_rows.push(key);
            }
        }
        true
    }

    fn evaluate_log_rows(&mut self, now: u64) -> Evaluation {
        let mut out = Evaluation::default();
        let Some(p) = self.config.packs.exceptions else {
            return out;
        };
        for &key in &self.log_rows {
            let Some(row) = self.rows.get_mut(&key) else {
                continue;
            };
            let (due, holds) = match &row.state {
                RowState::Exception(r) => (r.due(now, &p), r.holds()),
                RowState::ErrorRate(r) => (r.due(now, &p), r.holds()),
                _ => (false, false),
            };
            if holds {
                // A condition is never forgotten (`series_ttl`) before its recovery.
                row.last_seen = now;
            }
            if due && row.epoch != self.epoch {
                row.epoch = self.epoch;
                self.touched_rows.push(key);
            }
        }
        let touched = std::mem::take(&mut self.touched_rows);
        for &key in &touched {
            if let Some(row) = self.rows.get_mut(&key) {
                // Log rows judge by the connector's clock: when the errors arrived.
                row.time = now;
            }
            self.evaluate_row(key, now, &mut out.signals);
        }
        self.touched_rows = touched;
        self.conclude_subjects(now, &mut out);
        self.stats.signals += out.signals.len() as u64;
        out
    }
}

/// The subject of a service instance: the configured levels over its resource, named
/// `unknown_service` (as the SDKs do) when the resource names no service.
fn instance_subject(builder: &SubjectBuilder, resource: &[KeyValue]) -> Subject {
    let mut subject = builder.build(resource, &[] as &[KeyValue]);
    if subject.is_root() {
        let _ = subject.push("service", UNKNOWN_SERVICE);
    }
    subject
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_obs_signal::Signal;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;
    use crate::signals::config::{PacksConfig, SignalsConfig};
    use crate::signals::packs::exceptions;

    const S: u64 = 1_000_000_000;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn errors(instance: &str, types: &[&str]) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "orders"),
                        kv("service.instance.id", instance),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: types
                        .iter()
                        .map(|t| LogRecord {
                            severity_number: 17,
                            attributes: vec![kv("exception.type", t)],
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn engine(max_types: u32) -> Engine {
        let mut packs = PacksConfig::none();
        packs.exceptions = Some(ExceptionsPackConfig {
            burst_count: 3,
            burst_window: Duration::from_secs(5),
            max_types_per_instance: max_types,
            ..ExceptionsPackConfig::default()
        });
        Engine::new(SignalsConfig {
            packs,
            ..SignalsConfig::default()
        })
    }

    fn rule_signals(signals: &[Signal]) -> Vec<String> {
        signals
            .iter()
            .filter(|s| s.evidence.rule == "E1")
            .map(|s| format!("{} {}", s.kind, s.subject.qualified()))
            .collect()
    }

    #[test]
    fn a_burst_on_one_instance_begins_with_records_and_ends_with_ticks() {
        let mut e = engine(8);
        let out = e.evaluate_logs(&errors("pod-1", &["A", "A"]), 10 * S);
        assert!(rule_signals(&out.signals).is_empty());
        // Another instance's errors of the same type are its own.
        let out = e.evaluate_logs(&errors("pod-2", &["A"]), 11 * S);
        assert!(rule_signals(&out.signals).is_empty());
        let out = e.evaluate_logs(&errors("pod-1", &["A"]), 12 * S);
        assert_eq!(
            rule_signals(&out.signals),
            ["Services.FAIL.CALLEE service=orders/instance=pod-1"]
        );
        let status = out
            .signals
            .iter()
            .find(|s| s.evidence.rule == "status")
            .expect("the instance states its status");
        assert_eq!(status.kind.to_string(), "Statuses.DEGRADED.MEASURED");
        // Nothing new: the ticks end it once the window has emptied.
        let out = e.tick_logs(14 * S);
        assert!(rule_signals(&out.signals).is_empty());
        let out = e.tick_logs(16 * S);
        assert_eq!(
            rule_signals(&out.signals),
            ["Services.SUCCESS.CALLEE service=orders/instance=pod-1"]
        );
        let recovery = out
            .signals
            .iter()
            .find(|s| s.evidence.rule == "E1")
            .expect("E1");
        assert_eq!(
            recovery.phase(),
            Some(kafka_obs_signal::condition::Phase::Recovery)
        );
        assert_eq!(e.stats().error_records, 4);
    }

    #[test]
    fn types_beyond_the_bound_share_one_row() {
        let mut e = engine(2);
        e.evaluate_logs(&errors("pod-1", &["A", "B", "C", "D"]), S);
        // Rate row + A + B + (other).
        assert_eq!(e.series(), 4);
        assert_eq!(e.stats().folded_types, 2);
        let out = e.evaluate_logs(&errors("pod-1", &["E"]), 2 * S);
        let onset = out
            .signals
            .iter()
            .find(|s| s.evidence.rule == "E1")
            .expect("(other) bursts");
        assert_eq!(onset.attributes[TYPE_KEY], OTHER_TYPE);
        assert_eq!(e.stats().folded_types, 3);
        // The burst ends by silence; then forgetting the rows frees the instance's type slots.
        let out = e.tick_logs(10 * S);
        assert!(out.signals.iter().any(|s| s.evidence.rule == "E1"
            && s.phase() == Some(kafka_obs_signal::condition::Phase::Recovery)));
        e.sweep(10 * S + 599 * S);
        // A, B and the rate row were last fed at 1-2 s; (other) held its burst until 10 s.
        assert_eq!(
            e.series(),
            1,
            "a row is forgotten series_ttl after it last mattered"
        );
        e.sweep(10 * S + 601 * S);
        assert_eq!(e.series(), 0);
        assert!(e.instance_types.is_empty());
    }

    #[test]
    fn a_file_line_with_a_stack_trace_is_typed_by_its_first_header() {
        let mut e = engine(8);
        let mut request = errors("pod-1", &["", "", ""]);
        for r in &mut request.resource_logs[0].scope_logs[0].log_records {
            // As a filelog receiver without operators sends it: no severity, no attributes.
            r.severity_number = 0;
            r.attributes.clear();
            r.body = Some(AnyValue {
                value: Some(any_value::Value::StringValue(
                    "com.shop.OrderValidationException: order 9 has no lines\n\tat com.shop.V.check(V.java:3)\nCaused by: java.lang.IllegalStateException: empty\n".into(),
                )),
            });
        }
        let out = e.evaluate_logs(&request, S);
        let onset = out
            .signals
            .iter()
            .find(|s| s.evidence.rule == "E1")
            .expect("a burst of the thrown type");
        assert_eq!(
            onset.attributes[TYPE_KEY],
            "com.shop.OrderValidationException"
        );
        assert_eq!(
            onset.attributes[exceptions::MESSAGE_KEY],
            "order 9 has no lines"
        );
    }

    #[test]
    fn records_that_are_not_errors_are_only_counted() {
        let mut e = engine(8);
        let mut request = errors("pod-1", &["A"]);
        request.resource_logs[0].scope_logs[0].log_records[0].severity_number = 9;
        let out = e.evaluate_logs(&request, S);
        assert!(out.is_empty());
        assert_eq!(e.series(), 0);
        assert_eq!((e.stats().log_records, e.stats().error_records), (1, 0));
    }
}
