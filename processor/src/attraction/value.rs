//! Attribute values between YAML and OTLP: the typed value an action writes (a YAML `value:`
//! keeps its YAML type, as in the Collector), and a value's text (for `convert` to string and
//! for match rules that compare text).

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use serde_yaml_ng::Value as Yaml;

/// The OTLP value of a YAML `value:`: strings, booleans, integers, floats, lists and maps.
pub(crate) fn from_yaml(yaml: &Yaml) -> Result<AnyValue, String> {
    use any_value::Value as V;
    let value = match yaml {
        Yaml::String(s) => V::StringValue(s.clone()),
        Yaml::Bool(b) => V::BoolValue(*b),
        Yaml::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => V::IntValue(i),
            (None, Some(f)) => V::DoubleValue(f),
            _ => return Err(format!("{n} does not fit a 64-bit integer or a double")),
        },
        Yaml::Sequence(items) => V::ArrayValue(ArrayValue {
            values: items.iter().map(from_yaml).collect::<Result<_, _>>()?,
        }),
        Yaml::Mapping(map) => V::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other)
                            .map(|s| s.trim().to_string())
                            .map_err(|e| e.to_string())?,
                    };
                    Ok(KeyValue {
                        key,
                        value: Some(from_yaml(v)?),
                        ..Default::default()
                    })
                })
                .collect::<Result<_, String>>()?,
        }),
        Yaml::Null => return Err("an empty value; write the value to set, or use `delete`".into()),
        Yaml::Tagged(t) => return from_yaml(&t.value),
    };
    Ok(AnyValue { value: Some(value) })
}

/// A value as text, as the Collector's `AsString`: numbers in their shortest decimal form,
/// lists and maps as JSON.
pub(crate) fn as_text(value: &AnyValue) -> String {
    use any_value::Value as V;
    match value.value.as_ref() {
        None => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(n)) => n.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        Some(_) => to_json(value).to_string(),
    }
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    use any_value::Value as V;
    use serde_json::Value as J;
    match value.value.as_ref() {
        None => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(n)) => J::from(*n),
        Some(V::DoubleValue(d)) => J::from(*d),
        Some(V::BytesValue(b)) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Some(V::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        // A reference into a profile's string table: no text of its own here.
        Some(V::StringValueStrindex(i)) => J::from(*i),
        Some(V::KvlistValue(m)) => J::Object(
            m.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map(to_json).unwrap_or(J::Null);
                    (kv.key.clone(), v)
                })
                .collect(),
        ),
    }
}
