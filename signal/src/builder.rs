//! Builds [`Subject`]s from what a receiver knows about a series: the target's resource
//! attributes (`service.name`, `kafka.cluster`, ...) and the series' own keys (an MBean
//! ObjectName's `client-id`, `topic`, `partition`, or an OTLP data point's attributes).
//!
//! The key set is a list of [`LevelSpec`]s, root first. For each level the builder takes the
//! first non-empty value among its `mbean_keys` (the series is more specific than its target)
//! and then its `resource_keys`; levels with no value are left out, so one key set serves
//! both hierarchies. The defaults:
//!
//! | level | MBean / data-point keys | resource keys |
//! |---|---|---|
//! | `cluster` | – | `kafka.cluster`, `cluster` |
//! | `service` | – | `service.name` |
//! | `instance` | – | `service.instance.id` |
//! | `broker` | `broker.id` | `broker.id` |
//! | `group` | `group` | – |
//! | `client` | `client-id` | – |
//! | `topic` | `topic` | – |
//! | `partition` | `partition` | – |
//!
//! so a producer's topic metrics become `cluster / service / instance / client / topic`, a
//! broker's `cluster / broker / topic / partition`, and a consumer group's committed offsets
//! (the `kafka_admin` receiver's `group` attribute) `cluster / group / topic / partition`. A consumer *group id* is never a client
//! id: [`SubjectBuilder::new`] refuses a `client` level that reads a group key.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    hash::BuildHasher,
};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};

use crate::subject::Subject;

/// One level of the subject hierarchy and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LevelSpec {
    /// The level's name in the subject, e.g. `client`.
    pub level: String,
    /// Keys of the series itself (MBean ObjectName keys, data-point attributes), tried first.
    #[serde(default)]
    pub mbean_keys: Vec<String>,
    /// Keys of the target's resource attributes, tried after `mbean_keys`.
    #[serde(default)]
    pub resource_keys: Vec<String>,
}

impl LevelSpec {
    /// A level reading the given MBean keys, then the given resource keys.
    pub fn new(level: &str, mbean_keys: &[&str], resource_keys: &[&str]) -> Self {
        Self {
            level: level.to_string(),
            mbean_keys: mbean_keys.iter().map(|k| k.to_string()).collect(),
            resource_keys: resource_keys.iter().map(|k| k.to_string()).collect(),
        }
    }
}

/// A key set that cannot build sensible subjects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectConfigError {
    /// A level with an empty name.
    #[error("subject level {index} has an empty name")]
    EmptyLevel {
        /// Zero-based position of the level.
        index: usize,
    },
    /// Two levels with the same name.
    #[error("subject level `{level}` appears twice; each level may appear once")]
    DuplicateLevel {
        /// The repeated name.
        level: String,
    },
    /// A level with no keys to read from.
    #[error("subject level `{level}` has no mbean_keys or resource_keys to read its value from")]
    NoKeys {
        /// The level.
        level: String,
    },
    /// An empty key.
    #[error("subject level `{level}` lists an empty key")]
    EmptyKey {
        /// The level.
        level: String,
    },
    /// The `client` level reads a consumer group key.
    #[error(
        "subject level `client` reads `{key}`, a consumer group key; a group id is not a \
         client id (use the MBean key `client-id`, or add a separate `group` level)"
    )]
    GroupAsClient {
        /// The offending key.
        key: String,
    },
}

/// Keys that name a consumer group, never a client.
const GROUP_KEYS: &[&str] = &[
    "group",
    "group.id",
    "group-id",
    "group_id",
    "groupid",
    "consumer.group",
    "consumer-group",
    "consumer_group",
    "consumer.group.id",
    "consumer-group-id",
];

/// Builds subjects from resource attributes and series keys; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectBuilder {
    levels: Vec<LevelSpec>,
}

impl Default for SubjectBuilder {
    fn default() -> Self {
        Self {
            levels: Self::default_levels(),
        }
    }
}

impl SubjectBuilder {
    /// A builder with the given levels, root first, after checking them.
    pub fn new(levels: Vec<LevelSpec>) -> Result<Self, SubjectConfigError> {
        for (index, spec) in levels.iter().enumerate() {
            if spec.level.is_empty() {
                return Err(SubjectConfigError::EmptyLevel { index });
            }
            if levels[..index].iter().any(|s| s.level == spec.level) {
                return Err(SubjectConfigError::DuplicateLevel {
                    level: spec.level.clone(),
                });
            }
            if spec.mbean_keys.is_empty() && spec.resource_keys.is_empty() {
                return Err(SubjectConfigError::NoKeys {
                    level: spec.level.clone(),
                });
            }
            let mut keys = spec.mbean_keys.iter().chain(&spec.resource_keys);
            if keys.any(String::is_empty) {
                return Err(SubjectConfigError::EmptyKey {
                    level: spec.level.clone(),
                });
            }
            if spec.level == "client"
                && let Some(key) = spec
                    .mbean_keys
                    .iter()
                    .chain(&spec.resource_keys)
                    .find(|k| GROUP_KEYS.iter().any(|g| g.eq_ignore_ascii_case(k)))
            {
                return Err(SubjectConfigError::GroupAsClient { key: key.clone() });
            }
        }
        Ok(Self { levels })
    }

    /// The default key set (see the module documentation).
    pub fn default_levels() -> Vec<LevelSpec> {
        vec![
            LevelSpec::new("cluster", &[], &["kafka.cluster", "cluster"]),
            LevelSpec::new("service", &[], &["service.name"]),
            LevelSpec::new("instance", &[], &["service.instance.id"]),
            LevelSpec::new("broker", &["broker.id"], &["broker.id"]),
            LevelSpec::new("group", &["group"], &[]),
            LevelSpec::new("client", &["client-id"], &[]),
            LevelSpec::new("topic", &["topic"], &[]),
            LevelSpec::new("partition", &["partition"], &[]),
        ]
    }

    /// The levels in use, root first.
    pub fn levels(&self) -> &[LevelSpec] {
        &self.levels
    }

    /// The subject of a series with the given resource attributes and series keys.
    pub fn build<R, S>(&self, resource: &R, series: &S) -> Subject
    where
        R: Attributes + ?Sized,
        S: Attributes + ?Sized,
    {
        let mut subject = Subject::root();
        for spec in &self.levels {
            let value = spec
                .mbean_keys
                .iter()
                .find_map(|key| non_empty(series.attribute(key)))
                .or_else(|| {
                    spec.resource_keys
                        .iter()
                        .find_map(|key| non_empty(resource.attribute(key)))
                });
            if let Some(value) = value {
                // The value is non-empty, so this cannot fail.
                let _ = subject.push(spec.level.as_str(), value.into_owned());
            }
        }
        subject
    }
}

fn non_empty(value: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    value.filter(|v| !v.is_empty())
}

/// Something a subject's values can be looked up in: a map, a list of pairs, OTLP
/// attributes.
pub trait Attributes {
    /// The value of `key` as text, if present.
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl Attributes for () {
    fn attribute(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }
}

impl<V: AsRef<str>> Attributes for BTreeMap<String, V> {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(|v| Cow::Borrowed(v.as_ref()))
    }
}

impl<V: AsRef<str>, H: BuildHasher> Attributes for HashMap<String, V, H> {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(|v| Cow::Borrowed(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Attributes for [(K, V)] {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Attributes for [(K, V); N] {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.as_slice().attribute(key)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Attributes for Vec<(K, V)> {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.as_slice().attribute(key)
    }
}

/// OTLP attributes: strings as they are, integers and booleans as text (a `partition` may
/// arrive as an int). Doubles, bytes, arrays and maps are not names and are ignored.
impl Attributes for [KeyValue] {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        let value = self.iter().find(|kv| kv.key == key)?.value.as_ref()?;
        match value.value.as_ref()? {
            Value::StringValue(s) => Some(Cow::Borrowed(s)),
            Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
            Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
            _ => None,
        }
    }
}

impl Attributes for Vec<KeyValue> {
    fn attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.as_slice().attribute(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::kv;

    #[test]
    fn producer_topic_series_gets_the_client_hierarchy() {
        let resource = [
            ("kafka.cluster", "prod"),
            ("service.name", "order-service"),
            ("service.instance.id", "pod-1"),
        ];
        let mbean = [
            ("type", "producer-topic-metrics"),
            ("client-id", "order-producer"),
            ("topic", "orders"),
        ];
        let subject = SubjectBuilder::default().build(&resource, &mbean);
        assert_eq!(
            subject.qualified(),
            "cluster=prod/service=order-service/instance=pod-1/client=order-producer/topic=orders"
        );
    }

    #[test]
    fn broker_series_gets_the_broker_hierarchy() {
        let resource = [("cluster", "prod"), ("broker.id", "1")];
        let point = vec![
            kv("topic", Value::StringValue("orders".into())),
            kv("partition", Value::IntValue(3)),
        ];
        let subject = SubjectBuilder::default().build(&resource, &point);
        assert_eq!(
            subject.qualified(),
            "cluster=prod/broker=1/topic=orders/partition=3"
        );
    }

    #[test]
    fn kafka_cluster_wins_over_cluster_and_empty_values_are_skipped() {
        let resource = [
            ("cluster", "other"),
            ("kafka.cluster", "prod"),
            ("service.name", ""),
        ];
        let subject = SubjectBuilder::default().build(&resource, &());
        assert_eq!(subject.qualified(), "cluster=prod");
    }

    #[test]
    fn a_group_id_is_never_a_client_id() {
        let mbean = [("group-id", "order-consumers"), ("topic", "orders")];
        let subject = SubjectBuilder::default().build(&(), &mbean);
        assert_eq!(subject.get("client"), None);
        assert_eq!(subject.qualified(), "topic=orders");

        let bad = vec![LevelSpec::new("client", &["group.id"], &[])];
        assert!(matches!(
            SubjectBuilder::new(bad),
            Err(SubjectConfigError::GroupAsClient { .. })
        ));
        // A separate `group` level is fine.
        let levels = vec![
            LevelSpec::new("group", &["group-id"], &[]),
            LevelSpec::new("client", &["client-id"], &[]),
        ];
        assert!(SubjectBuilder::new(levels).is_ok());
    }

    #[test]
    fn rejects_bad_key_sets() {
        let dup = vec![
            LevelSpec::new("topic", &["topic"], &[]),
            LevelSpec::new("topic", &["t"], &[]),
        ];
        assert!(matches!(
            SubjectBuilder::new(dup),
            Err(SubjectConfigError::DuplicateLevel { .. })
        ));
        assert!(matches!(
            SubjectBuilder::new(vec![LevelSpec::new("topic", &[], &[])]),
            Err(SubjectConfigError::NoKeys { .. })
        ));
        assert!(matches!(
            SubjectBuilder::new(vec![LevelSpec::new("", &["x"], &[])]),
            Err(SubjectConfigError::EmptyLevel { .. })
        ));
        assert_eq!(
            SubjectBuilder::new(SubjectBuilder::default_levels()),
            Ok(SubjectBuilder::default())
        );
    }

    #[test]
    fn key_sets_load_from_yaml_shaped_json() {
        let json = r#"[{"level": "cluster", "resource_keys": ["kafka.cluster"]},
                       {"level": "client", "mbean_keys": ["client-id"]}]"#;
        let levels: Vec<LevelSpec> = serde_json::from_str(json).expect("valid json");
        assert_eq!(levels[1], LevelSpec::new("client", &["client-id"], &[]));
        let unknown = r#"[{"level": "x", "keys": ["y"]}]"#;
        assert!(serde_json::from_str::<Vec<LevelSpec>>(unknown).is_err());
    }
}
