//! The `kafka` receiver's configuration: OpenTelemetry's kafkareceiver keys where they apply.
//!
//! ```yaml
//! receivers:
//!   kafka:
//!     brokers: [kafka-1:9092]
//!     protocol_version: 2.1.0           # librdkafka's fallback; it negotiates with the broker
//!     logs: {topic: __kafka-obs-signals, encoding: otlp_proto}   # or topics: [a, b]
//!     metrics: {topic: otlp_metrics, encoding: otlp_proto}
//!     # topic / encoding at the top level: every signal without its own (the Collector's
//!     # older keys)
//!     group_id: kafka-obs
//!     client_id: kafka-obs
//!     initial_offset: latest            # latest | earliest
//!     session_timeout: 10s
//!     heartbeat_interval: 3s
//!     max_in_flight: 256
//!     rebuild: {max_records: 10000, window: 30m}
//!     auth: {sasl: {...}, tls: {...}}
//! ```
//!
//! Offsets are always committed by the receiver itself, after the pipeline accepted a record
//! (the Collector's `autocommit` has no equivalent: committing on a timer would commit data
//! the pipeline has not taken).

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, DataKind};
use kafka_obs_kafka_client::{
    self as client, Auth, DEFAULT_BROKER, DEFAULT_CLIENT_ID, Encoding, check_brokers, check_topic,
    default_topic,
};

/// Where a new consumer group starts: the Collector's `initial_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialOffset {
    #[default]
    Latest,
    Earliest,
}

impl InitialOffset {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Latest => "latest",
            Self::Earliest => "earliest",
        }
    }
}

/// One signal's topics (one, or the Collector's newer `topics` list) and their encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    pub topics: Vec<String>,
    pub encoding: Encoding,
}

/// How a newly assigned partition's state is rebuilt: the records before the committed
/// offset that are replayed (marked `kafka_obs.replay = true`) before live consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildSettings {
    /// Records replayed per partition at most; 0 turns the rebuild off.
    pub max_records: u64,
    /// Only records younger than this are replayed (by their Kafka timestamp).
    pub window: Option<Duration>,
}

impl Default for RebuildSettings {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            window: None,
        }
    }
}

/// The validated configuration of one `kafka` receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaReceiverConfig {
    pub logs: TopicSettings,
    pub metrics: TopicSettings,
    pub traces: TopicSettings,
    pub group_id: String,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Records handed to the pipeline and not yet accepted, at most.
    pub max_in_flight: usize,
    pub rebuild: RebuildSettings,
    /// librdkafka properties: bootstrap servers, client id, group, timeouts, auth.
    pub properties: Vec<(String, String)>,
}

impl KafkaReceiverConfig {
    /// The topic settings of one signal.
    pub fn topic(&self, kind: DataKind) -> &TopicSettings {
        match kind {
            DataKind::Logs => &self.logs,
            DataKind::Metrics => &self.metrics,
            DataKind::Traces => &self.traces,
        }
    }

    /// Refuses a topic that two of the signals the pipelines read here share: a record does
    /// not say which signal it holds. Signals no pipeline reads may share a topic, so the
    /// Collector's top-level `topic` (every signal's) works for a receiver in one pipeline.
    pub fn check_topics(&self, kinds: &[DataKind]) -> Result<(), ComponentConfigError> {
        for (i, &a) in kinds.iter().enumerate() {
            for &b in &kinds[i + 1..] {
                if let Some(shared) = self
                    .topic(a)
                    .topics
                    .iter()
                    .find(|t| self.topic(b).topics.contains(t))
                {
                    return Err(ComponentConfigError::new(
                        "topic",
                        format!(
                            "{shared:?} is the topic of both {a} and {b}, and pipelines of both read from this receiver; a record does not say which signal it holds, so give each signal its own topic ({a}::topic, {b}::topic)"
                        ),
                    ).within(b.as_str()));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTopic {
    topic: Option<String>,
    /// The Collector's newer spelling: several topics of one signal.
    topics: Option<Vec<String>>,
    encoding: Option<Encoding>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRebuild {
    max_records: Option<u64>,
    #[serde(deserialize_with = "de::opt_duration")]
    window: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    brokers: Vec<String>,
    /// The Collector's `protocol_version` (librdkafka's fallback; it negotiates otherwise).
    protocol_version: Option<String>,
    /// The Collector's older top-level keys: every signal without its own.
    topic: Option<String>,
    encoding: Option<Encoding>,
    logs: RawTopic,
    metrics: RawTopic,
    traces: RawTopic,
    group_id: String,
    client_id: String,
    initial_offset: InitialOffset,
    #[serde(deserialize_with = "de::duration")]
    session_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    heartbeat_interval: Duration,
    max_in_flight: usize,
    rebuild: RawRebuild,
    auth: Auth,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            brokers: vec![DEFAULT_BROKER.into()],
            protocol_version: None,
            topic: None,
            encoding: None,
            logs: RawTopic::default(),
            metrics: RawTopic::default(),
            traces: RawTopic::default(),
            group_id: "kafka-obs".into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            initial_offset: InitialOffset::Latest,
            // The Collector's kafkareceiver defaults.
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            max_in_flight: 256,
            rebuild: RawRebuild::default(),
            auth: Auth::default(),
        }
    }
}

/// One signal's topics: its own `topic` or `topics`, else the top-level `topic` (as in the
/// Collector), else the default; its `encoding`, else the top-level one.
fn topic_settings(
    raw: &RawTopic,
    shared: &RawConfig,
    kind: DataKind,
) -> Result<TopicSettings, ComponentConfigError> {
    let section = kind.as_str();
    let within = |e: ComponentConfigError| e.within(section);
    let topics = match (&raw.topic, &raw.topics) {
        (Some(_), Some(_)) => {
            return Err(within(ComponentConfigError::new(
                "topics",
                "set either topic or topics, not both",
            )));
        }
        (Some(one), None) => {
            check_topic(one, "topic").map_err(within)?;
            vec![one.clone()]
        }
        (None, Some(list)) => {
            if list.is_empty() {
                return Err(within(ComponentConfigError::new(
                    "topics",
                    "must list at least one topic",
                )));
            }
            let mut topics: Vec<String> = Vec::with_capacity(list.len());
            for (i, t) in list.iter().enumerate() {
                let path = format!("topics::{i}");
                if t.starts_with('^') {
                    return Err(within(ComponentConfigError::new(
                        path,
                        format!(
                            "{t:?} is a topic pattern; kafka-obs reads named topics only, so list them"
                        ),
                    )));
                }
                check_topic(t, &path).map_err(within)?;
                if topics.contains(t) {
                    return Err(within(ComponentConfigError::new(
                        path,
                        format!("{t:?} is listed twice"),
                    )));
                }
                topics.push(t.clone());
            }
            topics
        }
        (None, None) => match &shared.topic {
            Some(top) => {
                check_topic(top, "topic")?;
                vec![top.clone()]
            }
            None => vec![default_topic(kind).to_string()],
        },
    };
    Ok(TopicSettings {
        topics,
        encoding: raw.encoding.or(shared.encoding).unwrap_or_default(),
    })
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

impl RawConfig {
    pub(crate) fn resolve(self) -> Result<KafkaReceiverConfig, ComponentConfigError> {
        check_brokers(&self.brokers)?;
        let logs = topic_settings(&self.logs, &self, DataKind::Logs)?;
        let metrics = topic_settings(&self.metrics, &self, DataKind::Metrics)?;
        let traces = topic_settings(&self.traces, &self, DataKind::Traces)?;
        if self.group_id.trim().is_empty() {
            return Err(ComponentConfigError::new("group_id", "must not be empty"));
        }
        if self.session_timeout < Duration::from_secs(1) {
            return Err(ComponentConfigError::new(
                "session_timeout",
                "must be at least 1s (brokers refuse shorter sessions; 10s is usual)",
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(ComponentConfigError::new(
                "heartbeat_interval",
                "must be above 0 and below session_timeout (a third of it is usual)",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ComponentConfigError::new(
                "max_in_flight",
                "must be at least 1",
            ));
        }
        let rebuild = RebuildSettings {
            max_records: self
                .rebuild
                .max_records
                .unwrap_or(RebuildSettings::default().max_records),
            window: self.rebuild.window.filter(|w| !w.is_zero()),
        };
        let mut properties: Vec<(String, String)> = vec![
            ("bootstrap.servers".into(), self.brokers.join(",")),
            ("client.id".into(), self.client_id.clone()),
            ("group.id".into(), self.group_id.clone()),
            // The receiver commits itself, only what the pipeline accepted.
            ("enable.auto.commit".into(), "false".into()),
            ("enable.auto.offset.store".into(), "false".into()),
            (
                "auto.offset.reset".into(),
                self.initial_offset.as_str().into(),
            ),
            ("session.timeout.ms".into(), millis(self.session_timeout)),
            (
                "heartbeat.interval.ms".into(),
                millis(self.heartbeat_interval),
            ),
        ];
        if let Some(version) = &self.protocol_version {
            properties.extend(client::protocol_version_properties(version)?);
        }
        client::auth::properties(&self.auth, &mut properties)?;
        Ok(KafkaReceiverConfig {
            logs,
            metrics,
            traces,
            group_id: self.group_id,
            session_timeout: self.session_timeout,
            heartbeat_interval: self.heartbeat_interval,
            max_in_flight: self.max_in_flight,
            rebuild,
            properties,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_api::parse_component_config;

    fn parse(yaml: &str) -> Result<KafkaReceiverConfig, ComponentConfigError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
        parse_component_config::<RawConfig>(&value)?.resolve()
    }

    fn prop<'a>(c: &'a KafkaReceiverConfig, k: &str) -> Option<&'a str> {
        c.properties
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let text = include_str!("../../testdata/kafka.yaml");
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("testdata yaml");
        let map = value.as_mapping().expect("a map of receiver ids");
        let get = |id: &str| {
            let body = map.get(id).unwrap_or_else(|| panic!("{id} in testdata"));
            parse_component_config::<RawConfig>(body)
                .and_then(RawConfig::resolve)
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        let d = get("kafka");
        assert_eq!(d.logs.topics, [client::SIGNALS_TOPIC]);
        assert_eq!(d.logs.encoding, Encoding::OtlpProto);
        assert_eq!(d.metrics.topics, ["otlp_metrics"]);
        assert_eq!(d.traces.topics, ["otlp_spans"]);
        assert_eq!(d.group_id, "kafka-obs");
        assert_eq!(d.session_timeout, Duration::from_secs(10));
        assert_eq!(d.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(d.max_in_flight, 256);
        assert_eq!(d.rebuild, RebuildSettings::default());
        assert_eq!(prop(&d, "bootstrap.servers"), Some("localhost:9092"));
        assert_eq!(prop(&d, "client.id"), Some("kafka-obs"));
        assert_eq!(prop(&d, "auto.offset.reset"), Some("latest"));
        assert_eq!(prop(&d, "enable.auto.commit"), Some("false"));
        assert_eq!(prop(&d, "security.protocol"), Some("plaintext"));

        let c = get("kafka/central");
        // The top-level topic and encoding are every signal's that has none of its own.
        assert_eq!(c.logs.topics, ["signals-json"]);
        assert_eq!(c.logs.encoding, Encoding::OtlpJson);
        assert_eq!(c.traces.topics, ["signals-json"]);
        assert_eq!(c.traces.encoding, Encoding::OtlpJson);
        assert_eq!(c.metrics.topics, ["broker-metrics"]);
        assert_eq!(c.metrics.encoding, Encoding::OtlpJson);
        assert_eq!(prop(&c, "broker.version.fallback"), Some("2.1.0"));
        assert_eq!(c.group_id, "central");
        assert_eq!(c.session_timeout, Duration::from_secs(6));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.max_in_flight, 64);
        assert_eq!(
            c.rebuild,
            RebuildSettings {
                max_records: 500,
                window: Some(Duration::from_secs(1800)),
            }
        );
        assert_eq!(prop(&c, "bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(prop(&c, "client.id"), Some("central-1"));
        assert_eq!(prop(&c, "auto.offset.reset"), Some("earliest"));
        assert_eq!(prop(&c, "session.timeout.ms"), Some("6000"));
        assert_eq!(prop(&c, "heartbeat.interval.ms"), Some("1000"));
        assert_eq!(prop(&c, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(prop(&c, "sasl.mechanism"), Some("SCRAM-SHA-512"));

        let n = get("kafka/newer_keys");
        assert_eq!(n.logs.topics, ["sig"]);
        assert_eq!(n.metrics.topics, ["jvm-a", "jvm-b"]);
        assert_eq!(n.logs.encoding, Encoding::OtlpJson);
        assert_eq!(n.rebuild.max_records, 0, "rebuild off");
    }

    #[test]
    fn errors_name_their_key() {
        for (yaml, path) in [
            ("brokers: []", "brokers"),
            ("brokers: [k1]", "brokers"),
            ("topic: 'bad topic'", "topic"),
            ("logs: {topic: 'a b'}", "logs::topic"),
            ("logs: {topic: a, topics: [b]}", "logs::topics"),
            ("metrics: {topics: []}", "metrics::topics"),
            ("metrics: {topics: [a, a]}", "metrics::topics::1"),
            ("metrics: {topics: ['^jvm-.*']}", "metrics::topics::0"),
            ("metrics: {topics: [ok, 'b c']}", "metrics::topics::1"),
            ("encoding: avro", "encoding"),
            ("traces: {encoding: jaeger_proto}", "traces::encoding"),
            ("protocol_version: 2.x", "protocol_version"),
            ("initial_offset: newest", "initial_offset"),
            ("session_timeout: 500ms", "session_timeout"),
            (
                "session_timeout: 6s\nheartbeat_interval: 6s",
                "heartbeat_interval",
            ),
            ("session_timeout: 10", "session_timeout"),
            ("max_in_flight: 0", "max_in_flight"),
            ("group_id: ' '", "group_id"),
            ("rebuild: {max_record: 3}", "rebuild::max_record"),
            ("auth: {sasl: {mechanism: PLAIN}}", "auth::sasl::username"),
            ("autocommit: {enable: true}", "autocommit"),
        ] {
            let e = parse(yaml).expect_err(yaml);
            assert_eq!(e.path, path, "{yaml}: {e}");
        }
    }

    #[test]
    fn signals_read_here_need_their_own_topics() {
        use DataKind::{Logs, Metrics, Traces};
        // The Collector's top-level `topic`: fine for a receiver in one pipeline.
        let c = parse("topic: all-otlp\nencoding: otlp_json").unwrap();
        assert_eq!(c.metrics.topics, ["all-otlp"]);
        assert!(c.check_topics(&[Logs]).is_ok());
        let e = c.check_topics(&[Logs, Metrics]).unwrap_err();
        assert_eq!(e.path, "metrics::topic", "{e}");
        let c = parse("metrics: {topics: [a, __kafka-obs-signals]}").unwrap();
        assert!(c.check_topics(&[Metrics, Traces]).is_ok());
        let e = c.check_topics(&[Logs, Metrics]).unwrap_err();
        assert!(
            e.message
                .contains("\"__kafka-obs-signals\" is the topic of both logs and metrics"),
            "{e}"
        );
    }
}
