//! Splitting a batch into one batch per resource, with a stable key per resource, for the
//! exporters that keep per-source order (`kafka`, `signals`): the key picks the delivery lane
//! (and, for Kafka, the record key), so one source's data is never reordered.

use std::hash::{DefaultHasher, Hash, Hasher};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;

use kafka_obs_api::Batch;

/// A batch of one resource, with that resource's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePart {
    pub resource: Option<Resource>,
    pub batch: Batch,
}

/// Every resource of `batch` as its own batch, in order.
pub fn per_resource(batch: Batch) -> Vec<ResourcePart> {
    match batch {
        Batch::Metrics(r) => r
            .resource_metrics
            .into_iter()
            .map(|rm| ResourcePart {
                resource: rm.resource.clone(),
                batch: Batch::Metrics(ExportMetricsServiceRequest {
                    resource_metrics: vec![rm],
                }),
            })
            .collect(),
        Batch::Logs(r) => r
            .resource_logs
            .into_iter()
            .map(|rl| ResourcePart {
                resource: rl.resource.clone(),
                batch: Batch::Logs(ExportLogsServiceRequest {
                    resource_logs: vec![rl],
                }),
            })
            .collect(),
        Batch::Traces(r) => r
            .resource_spans
            .into_iter()
            .map(|rs| ResourcePart {
                resource: rs.resource.clone(),
                batch: Batch::Traces(ExportTraceServiceRequest {
                    resource_spans: vec![rs],
                }),
            })
            .collect(),
    }
}

/// A resource attribute as text (scalars only).
pub fn attribute_text(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The resource's identity as text: the values of `keys` when given (in that order), else
/// every scalar attribute sorted by key, as `k=v` joined by `,`.
pub fn resource_identity(resource: Option<&Resource>, keys: &[String]) -> String {
    let attrs: &[KeyValue] = resource.map_or(&[], |r| &r.attributes);
    let mut pairs: Vec<(String, String)> = if keys.is_empty() {
        attrs
            .iter()
            .filter_map(|kv| Some((kv.key.clone(), attribute_text(kv.value.as_ref())?)))
            .collect()
    } else {
        keys.iter()
            .filter_map(|k| {
                let kv = attrs.iter().find(|kv| &kv.key == k)?;
                Some((k.clone(), attribute_text(kv.value.as_ref())?))
            })
            .collect()
    };
    if keys.is_empty() {
        pairs.sort();
    }
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A stable 64-bit key of some text (lane choice; persisted in disk queues).
pub fn key_of(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn identity_is_order_independent_or_follows_the_keys() {
        let a = Resource {
            attributes: vec![kv("b", "2"), kv("a", "1")],
            ..Default::default()
        };
        assert_eq!(resource_identity(Some(&a), &[]), "a=1,b=2");
        assert_eq!(resource_identity(Some(&a), &["b".into()]), "b=2");
        assert_eq!(key_of("x"), key_of("x"));
    }
}
