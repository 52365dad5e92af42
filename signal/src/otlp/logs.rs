//! Signals as OpenTelemetry events (log records with an `event_name`), and back.
//!
//! A record carries, in this order: [`attr::INSTRUMENT`], [`attr::SIGN`],
//! [`attr::DIMENSION`] (only when the instrument has one), [`attr::SUBJECT`],
//! [`attr::SUBJECT_LEVELS`], [`attr::RULE`], [`attr::THRESHOLD`] (when set),
//! [`attr::SOURCE_ID`], [`attr::SEQUENCE`], one `signal.evidence.<name>` double per evidence
//! value, then the signal's own attributes as strings (a key that itself starts with
//! `signal.` is written as `signal.attribute.<key>`). `time_unix_nano` and
//! `observed_time_unix_nano` are the signal's time; the body is [`Signal::describe`]; the
//! severity is [`Signal::severity`] (INFO 9, WARN 13, ERROR 17).
//!
//! Decoding reads only the event name, the time and the attributes (never the body), in any
//! order, and rejects a record that is not a signal, lacks a required attribute, repeats one,
//! or holds a value of the wrong type. Attributes outside the `signal.` namespace that
//! another component added (a Collector processor, say) become the signal's own attributes;
//! scalar values are kept as text.

use std::collections::{BTreeMap, btree_map::Entry};

use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber},
};

use super::{EVENT_NAME, ExportResource, attr, kv, scope, string};
use crate::{
    error::DecodeError,
    kind::{Instrument, Severity, SignalKind},
    signal::{Evidence, Signal},
    subject::Subject,
};

/// The OTLP severity number of a [`Severity`]: INFO 9, WARN 13, ERROR 17.
pub fn severity_number(severity: Severity) -> SeverityNumber {
    match severity {
        Severity::Info => SeverityNumber::Info,
        Severity::Warn => SeverityNumber::Warn,
        Severity::Error => SeverityNumber::Error,
    }
}

/// The signal as an OpenTelemetry event log record; see the module documentation.
pub fn to_log_record(signal: &Signal) -> LogRecord {
    let kind = &signal.kind;
    let mut attributes =
        Vec::with_capacity(10 + signal.evidence.values.len() + signal.attributes.len());
    attributes.push(kv(attr::INSTRUMENT, string(kind.instrument().as_str())));
    attributes.push(kv(attr::SIGN, string(kind.sign_str())));
    if let Some(dimension) = kind.dimension_str() {
        attributes.push(kv(attr::DIMENSION, string(dimension)));
    }
    attributes.push(kv(attr::SUBJECT, string(signal.subject.path())));
    attributes.push(kv(
        attr::SUBJECT_LEVELS,
        string(signal.subject.levels_path()),
    ));
    attributes.push(kv(attr::RULE, string(&signal.evidence.rule)));
    if let Some(threshold) = signal.evidence.threshold {
        attributes.push(kv(attr::THRESHOLD, Value::DoubleValue(threshold)));
    }
    attributes.push(kv(attr::SOURCE_ID, string(&signal.source_id)));
    attributes.push(kv(attr::SEQUENCE, sequence_value(signal.sequence)));
    for (name, value) in &signal.evidence.values {
        attributes.push(kv(
            format!("{}{name}", attr::EVIDENCE_PREFIX),
            Value::DoubleValue(*value),
        ));
    }
    for (key, value) in &signal.attributes {
        let key = if key.starts_with(attr::RESERVED_PREFIX) {
            format!("{}{key}", attr::ATTRIBUTE_PREFIX)
        } else {
            key.clone()
        };
        attributes.push(kv(key, string(value)));
    }
    let severity = signal.severity();
    LogRecord {
        time_unix_nano: signal.time_unix_nano,
        observed_time_unix_nano: signal.time_unix_nano,
        severity_number: severity_number(severity).into(),
        severity_text: severity.as_str().to_string(),
        body: Some(AnyValue {
            value: Some(string(signal.describe())),
        }),
        attributes,
        event_name: EVENT_NAME.to_string(),
        ..LogRecord::default()
    }
}

/// True if the record is a signal event (by its `event_name`).
pub fn is_signal_record(record: &LogRecord) -> bool {
    record.event_name == EVENT_NAME
}

/// Reads a signal back from a record made by [`to_log_record`] (or by anything that
/// follows the same attribute contract); see the module documentation for what is checked.
pub fn from_log_record(record: &LogRecord) -> Result<Signal, DecodeError> {
    if !is_signal_record(record) {
        return Err(DecodeError::NotASignal {
            event_name: record.event_name.clone(),
            expected: EVENT_NAME,
        });
    }
    let mut fields = Fields::default();
    let mut evidence = BTreeMap::new();
    let mut attributes = BTreeMap::new();
    for KeyValue { key, value, .. } in &record.attributes {
        let value = value.as_ref().and_then(|v| v.value.as_ref());
        let slot = match key.as_str() {
            attr::INSTRUMENT => &mut fields.instrument,
            attr::SIGN => &mut fields.sign,
            attr::DIMENSION => &mut fields.dimension,
            attr::SUBJECT => &mut fields.subject,
            attr::SUBJECT_LEVELS => &mut fields.subject_levels,
            attr::RULE => &mut fields.rule,
            attr::SOURCE_ID => &mut fields.source_id,
            attr::THRESHOLD => {
                set_once(&mut fields.threshold, key, number(key, value)?)?;
                continue;
            }
            attr::SEQUENCE => {
                set_once(&mut fields.sequence, key, sequence(key, value)?)?;
                continue;
            }
            _ => {
                if let Some(name) = key.strip_prefix(attr::EVIDENCE_PREFIX) {
                    insert_once(&mut evidence, name, number(key, value)?, key)?;
                } else {
                    let own = key.strip_prefix(attr::ATTRIBUTE_PREFIX).unwrap_or(key);
                    insert_once(&mut attributes, own, text(key, value)?, key)?;
                }
                continue;
            }
        };
        set_once(slot, key, string_value(key, value)?)?;
    }

    let instrument: Instrument = required(fields.instrument, attr::INSTRUMENT)?.parse()?;
    let sign = required(fields.sign, attr::SIGN)?;
    let kind = SignalKind::from_parts(instrument, &sign, fields.dimension.as_deref())?;
    let path = required(fields.subject, attr::SUBJECT)?;
    // Without the levels, the path still gives the values (levels unknown); a qualified
    // path (`cluster=prod/...`) from another producer gives both.
    let subject = match fields.subject_levels {
        Some(levels) => Subject::from_paths(&levels, &path)?,
        None => path.parse()?,
    };
    Ok(Signal {
        subject,
        kind,
        evidence: Evidence {
            values: evidence,
            threshold: fields.threshold,
            rule: required(fields.rule, attr::RULE)?,
        },
        time_unix_nano: record.time_unix_nano,
        source_id: required(fields.source_id, attr::SOURCE_ID)?,
        sequence: required(fields.sequence, attr::SEQUENCE)?,
        attributes,
    })
}

/// Groups signals into one `ResourceLogs` per source id (in order of first appearance, each
/// signal keeping its order), with the resource of [`ExportResource`] and the
/// `kafka-obs-signal` scope.
pub fn to_export_request<'a>(
    signals: impl IntoIterator<Item = &'a Signal>,
    resource: &ExportResource,
) -> ExportLogsServiceRequest {
    let mut groups: Vec<(&str, Vec<LogRecord>)> = Vec::new();
    for signal in signals {
        let record = to_log_record(signal);
        match groups
            .iter_mut()
            .find(|(source, _)| *source == signal.source_id)
        {
            Some((_, records)) => records.push(record),
            None => groups.push((signal.source_id.as_str(), vec![record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(source, log_records)| ResourceLogs {
                resource: Some(resource.resource(source)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// Every signal in a request, in order. Records that are not signal events are skipped;
/// a signal event that does not decode is an error.
pub fn from_export_request(request: &ExportLogsServiceRequest) -> Result<Vec<Signal>, DecodeError> {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter(|record| is_signal_record(record))
        .map(from_log_record)
        .collect()
}

#[derive(Default)]
struct Fields {
    instrument: Option<String>,
    sign: Option<String>,
    dimension: Option<String>,
    subject: Option<String>,
    subject_levels: Option<String>,
    rule: Option<String>,
    source_id: Option<String>,
    threshold: Option<f64>,
    sequence: Option<u64>,
}

fn sequence_value(sequence: u64) -> Value {
    match i64::try_from(sequence) {
        Ok(int) => Value::IntValue(int),
        Err(_) => Value::StringValue(sequence.to_string()),
    }
}

fn required<T>(value: Option<T>, key: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::Missing(key))
}

fn set_once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Duplicate(key.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

fn insert_once<T>(
    map: &mut BTreeMap<String, T>,
    name: &str,
    value: T,
    key: &str,
) -> Result<(), DecodeError> {
    match map.entry(name.to_string()) {
        Entry::Occupied(_) => Err(DecodeError::Duplicate(key.to_string())),
        Entry::Vacant(slot) => {
            slot.insert(value);
            Ok(())
        }
    }
}

fn wrong(key: &str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType {
        key: key.to_string(),
        expected,
    }
}

fn string_value(key: &str, value: Option<&Value>) -> Result<String, DecodeError> {
    match value {
        Some(Value::StringValue(s)) => Ok(s.clone()),
        _ => Err(wrong(key, "a string")),
    }
}

fn number(key: &str, value: Option<&Value>) -> Result<f64, DecodeError> {
    match value {
        Some(Value::DoubleValue(d)) => Ok(*d),
        // Other producers may write whole numbers as ints; i64 -> f64 may round above 2^53,
        // which is fine for evidence.
        #[allow(clippy::cast_precision_loss)]
        Some(Value::IntValue(i)) => Ok(*i as f64),
        _ => Err(wrong(key, "a number")),
    }
}

fn sequence(key: &str, value: Option<&Value>) -> Result<u64, DecodeError> {
    let expected = "a non-negative integer";
    match value {
        Some(Value::IntValue(i)) => u64::try_from(*i).map_err(|_| wrong(key, expected)),
        Some(Value::StringValue(s)) => s.parse().map_err(|_| wrong(key, expected)),
        _ => Err(wrong(key, expected)),
    }
}

fn text(key: &str, value: Option<&Value>) -> Result<String, DecodeError> {
    match value {
        Some(Value::StringValue(s)) => Ok(s.clone()),
        Some(Value::IntValue(i)) => Ok(i.to_string()),
        Some(Value::DoubleValue(d)) => Ok(d.to_string()),
        Some(Value::BoolValue(b)) => Ok(b.to_string()),
        _ => Err(wrong(key, "a string or scalar")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{instruments::probes, languages::statuses};

    fn overflow() -> Signal {
        Signal::new(
            Subject::from_pairs([
                ("cluster", "prod"),
                ("service", "order-service"),
                ("instance", "pod-1"),
                ("client", "order-producer"),
                ("topic", "orders"),
            ])
            .expect("valid"),
            "Queues.OVERFLOW".parse().expect("valid"),
            Evidence::rule("P1")
                .with("utilization", 0.97)
                .with("buffer-total-bytes", 33_554_432.0)
                .threshold(0.95),
            1_700_000_000_000_000_000,
        )
        .from_source("order-service-pod-abc123")
        .with_attribute("k8s.pod.name", "pod-1")
        .with_attribute("signal.weird", "escaped")
    }

    fn find<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn record_is_an_event_with_the_documented_attributes() {
        let record = to_log_record(&overflow());
        assert_eq!(record.event_name, "kafka_obs.signal");
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(record.severity_text, "WARN");
        let s = |v: &str| Some(Value::StringValue(v.to_string()));
        assert_eq!(find(&record, "signal.instrument").cloned(), s("Queues"));
        assert_eq!(find(&record, "signal.sign").cloned(), s("OVERFLOW"));
        assert_eq!(find(&record, "signal.dimension"), None);
        assert_eq!(
            find(&record, "signal.subject").cloned(),
            s("prod/order-service/pod-1/order-producer/orders")
        );
        assert_eq!(find(&record, "signal.rule").cloned(), s("P1"));
        assert_eq!(
            find(&record, "signal.evidence.utilization").cloned(),
            Some(Value::DoubleValue(0.97))
        );
        assert_eq!(
            find(&record, "signal.sequence").cloned(),
            Some(Value::IntValue(0))
        );
        assert_eq!(find(&record, "k8s.pod.name").cloned(), s("pod-1"));
        assert_eq!(
            find(&record, "signal.attribute.signal.weird").cloned(),
            s("escaped")
        );
        assert_eq!(
            record.body.and_then(|b| b.value),
            s(
                "order-producer (topic orders): queue full, enqueue refused (Queues OVERFLOW, \
               rule P1, buffer-total-bytes 33554432, utilization 97%, threshold 95%)"
            )
        );
        assert_eq!(from_log_record(&to_log_record(&overflow())), Ok(overflow()));
    }

    #[test]
    fn the_body_rounds_evidence_and_the_attributes_keep_it_exact() {
        let rate = 100.0 / 3.0;
        let mut signal = overflow();
        signal.evidence = Evidence::rule("C3")
            .with("consumed_rate", rate)
            .with("lag_ratio", 0.123_456)
            .threshold(0.950_000_000_1);
        let record = to_log_record(&signal);
        assert_eq!(
            record.body.as_ref().and_then(|b| b.value.clone()),
            Some(string(
                "order-producer (topic orders): queue full, enqueue refused (Queues OVERFLOW, \
                 rule C3, consumed_rate 33.3, lag_ratio 12.3%, threshold 95%)"
            ))
        );
        assert_eq!(
            find(&record, "signal.evidence.consumed_rate").cloned(),
            Some(Value::DoubleValue(33.333_333_333_333_336))
        );
        assert_eq!(
            find(&record, "signal.threshold").cloned(),
            Some(Value::DoubleValue(0.950_000_000_1))
        );
        assert_eq!(from_log_record(&record), Ok(signal));
    }

    #[test]
    fn status_severity_follows_the_status() {
        let mut signal = overflow();
        for (sign, expected) in [
            (statuses::Sign::Stable, "INFO"),
            (statuses::Sign::Converging, "INFO"),
            (statuses::Sign::Diverging, "WARN"),
            (statuses::Sign::Erratic, "WARN"),
            (statuses::Sign::Degraded, "WARN"),
            (statuses::Sign::Defective, "ERROR"),
            (statuses::Sign::Down, "ERROR"),
        ] {
            signal.kind = SignalKind::Statuses(sign, statuses::Confidence::Measured);
            assert_eq!(to_log_record(&signal).severity_text, expected, "{sign}");
        }
        signal.kind = SignalKind::Probes(probes::Sign::Succeed, probes::Dimension::Outbound);
        assert_eq!(to_log_record(&signal).severity_text, "INFO");
    }

    #[test]
    fn malformed_records_are_errors() {
        let good = to_log_record(&overflow());
        let mut other = good.clone();
        other.event_name = "something.else".into();
        assert!(matches!(
            from_log_record(&other),
            Err(DecodeError::NotASignal { .. })
        ));

        let without = |key: &str| {
            let mut record = good.clone();
            record.attributes.retain(|kv| kv.key != key);
            from_log_record(&record)
        };
        assert_eq!(
            without("signal.sign"),
            Err(DecodeError::Missing("signal.sign"))
        );
        assert_eq!(
            without("signal.rule"),
            Err(DecodeError::Missing("signal.rule"))
        );

        let with = |extra: KeyValue| {
            let mut record = good.clone();
            record.attributes.push(extra);
            from_log_record(&record)
        };
        assert!(matches!(
            with(kv("signal.sign", string("OVERFLOW"))),
            Err(DecodeError::Duplicate(_))
        ));
        assert!(matches!(
            with(kv("signal.dimension", string("OUTBOUND"))),
            Err(DecodeError::Vocabulary(_))
        ));
        assert!(matches!(
            with(kv("signal.evidence.x", string("high"))),
            Err(DecodeError::WrongType { .. })
        ));

        let mut record = good.clone();
        for attribute in &mut record.attributes {
            if attribute.key == "signal.sequence" {
                attribute.value = Some(AnyValue {
                    value: Some(Value::IntValue(-1)),
                });
            }
            if attribute.key == "signal.sign" {
                attribute.value = Some(AnyValue {
                    value: Some(string("FAIL")),
                });
            }
        }
        assert!(from_log_record(&record).is_err());

        let mut record = good;
        record.attributes.push(KeyValue {
            key: "signal.threshold".into(),
            value: None,
            ..KeyValue::default()
        });
        assert!(from_log_record(&record).is_err());
    }

    #[test]
    fn export_request_groups_by_source_and_reads_back() {
        let a = overflow();
        let mut b = overflow().from_source("other-pod");
        b.sequence = 7;
        let mut c = overflow();
        c.sequence = 1;
        let request = to_export_request([&a, &b, &c], &ExportResource::default());
        assert_eq!(request.resource_logs.len(), 2);
        let resource = request.resource_logs[0]
            .resource
            .clone()
            .unwrap_or_default();
        assert!(
            resource
                .attributes
                .contains(&kv("service.name", string("kafka-obs")))
        );
        assert!(resource.attributes.contains(&kv(
            "service.instance.id",
            string("order-service-pod-abc123")
        )));
        assert_eq!(from_export_request(&request), Ok(vec![a, c, b]));
    }
}
