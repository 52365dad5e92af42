//! Entries as OTLP logs: body, attributes, severity, timestamp and observed timestamp, one
//! `ResourceLogs` per distinct resource (most entries have none, as with the Collector).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};

use super::entry::{Body, Entry};

fn any(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(any_value::Value::IntValue(i)),
            None => Some(any_value::Value::DoubleValue(
                n.as_f64().unwrap_or(f64::NAN),
            )),
        },
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(any).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: key_values(map),
        })),
    };
    AnyValue { value }
}

fn key_values(map: Map<String, Value>) -> Vec<KeyValue> {
    map.into_iter()
        .map(|(key, value)| KeyValue {
            key,
            value: Some(any(value)),
            ..Default::default()
        })
        .collect()
}

/// One entry as a log record observed at `observed` (Unix nanoseconds).
pub fn log_record(entry: Entry, observed: u64) -> (Map<String, Value>, LogRecord) {
    let (severity_number, severity_text) = entry.severity.unwrap_or((0, String::new()));
    let body = match entry.body {
        Body::Value(v) => any(v),
        Body::Bytes(b) => AnyValue {
            value: Some(any_value::Value::BytesValue(b)),
        },
    };
    let record = LogRecord {
        time_unix_nano: entry.timestamp.unwrap_or(0),
        observed_time_unix_nano: observed,
        severity_number,
        severity_text,
        body: Some(body),
        attributes: key_values(entry.attributes),
        ..Default::default()
    };
    (entry.resource, record)
}

/// Entries as one request, grouped by resource in order of first appearance.
pub fn logs_request(entries: Vec<Entry>, observed: u64) -> ExportLogsServiceRequest {
    let mut groups: Vec<(Map<String, Value>, Vec<LogRecord>)> = Vec::new();
    for entry in entries {
        let (resource, record) = log_record(entry, observed);
        match groups.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, records)) => records.push(record),
            None => groups.push((resource, vec![record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(resource, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: key_values(resource),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_onto_the_record() {
        let mut e = Entry::text("boom".into());
        e.attributes.insert("n".into(), Value::from(3));
        e.attributes
            .insert("nested".into(), serde_json::json!({"a": [1.5, true]}));
        e.timestamp = Some(7);
        e.severity = Some((17, "ERROR".into()));
        let mut other = Entry::text("x".into());
        other
            .resource
            .insert("service.name".into(), Value::from("orders"));
        let req = logs_request(vec![e, other], 9);
        assert_eq!(req.resource_logs.len(), 2);
        let r = &req.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!((r.time_unix_nano, r.observed_time_unix_nano), (7, 9));
        assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
        assert_eq!(
            r.body.as_ref().unwrap().value,
            Some(any_value::Value::StringValue("boom".into()))
        );
        assert_eq!(r.attributes[0].key, "n");
        let res = req.resource_logs[1].resource.as_ref().unwrap();
        assert_eq!(res.attributes[0].key, "service.name");
    }
}
