//! The `target_system` presets: which MBeans and attributes each reads, as data.
//!
//! Each preset is a rule file in OpenTelemetry's JMX rule YAML (`presets/*.yaml`, compiled into
//! the binary), read by the same parser as the user's `rules`. So a preset is a table a user can
//! read, copy and adapt, and a preset metric behaves exactly like a user rule would. The names
//! follow OpenTelemetry's JMX gatherer (`kafka.producer.request-latency-avg`,
//! `jvm.memory.heap.used`, `kafka.partition.under_replicated`, ...) and the same pattern for the
//! metrics it lacks; MBean keys (client-id, topic, partition, GC `name`, request) become data
//! point attributes.

use std::fmt;

use kafka_obs_api::ComponentConfigError;

use super::rules::{self, RawRuleFile, Rule};

/// A preset named in `target_system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetSystem {
    Jvm,
    /// The broker (OpenTelemetry calls it `kafka` too).
    Kafka,
    KafkaConsumer,
    KafkaProducer,
}

impl TargetSystem {
    pub const ALL: [TargetSystem; 4] = [
        TargetSystem::Jvm,
        TargetSystem::Kafka,
        TargetSystem::KafkaConsumer,
        TargetSystem::KafkaProducer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Jvm => "jvm",
            Self::Kafka => "kafka",
            Self::KafkaProducer => "kafka-producer",
            Self::KafkaConsumer => "kafka-consumer",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The preset's rule file.
    pub fn rules_yaml(self) -> &'static str {
        match self {
            Self::Jvm => include_str!("presets/jvm.yaml"),
            Self::Kafka => include_str!("presets/kafka.yaml"),
            Self::KafkaProducer => include_str!("presets/kafka-producer.yaml"),
            Self::KafkaConsumer => include_str!("presets/kafka-consumer.yaml"),
        }
    }

    /// The preset's rules. An error here is a bug in the shipped file (the tests parse each).
    pub fn rules(self) -> Result<Vec<Rule>, ComponentConfigError> {
        let path = format!("target_system::{}", self.name());
        let file: RawRuleFile = serde_yaml_ng::from_str(self.rules_yaml())
            .map_err(|e| ComponentConfigError::new(&path, format!("preset file: {e}")))?;
        rules::compile(&file.rules, &path)
    }
}

impl fmt::Display for TargetSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `jvm, kafka, kafka-consumer, kafka-producer`, for error messages.
pub fn known_names() -> String {
    TargetSystem::ALL.map(TargetSystem::name).join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jmx::rules::MetricKind;
    use kafka_obs_jmx::ObjectName;

    fn all_rules() -> Vec<(TargetSystem, Rule)> {
        TargetSystem::ALL
            .into_iter()
            .flat_map(|s| {
                s.rules()
                    .unwrap_or_else(|e| panic!("preset {s}: {e}"))
                    .into_iter()
                    .map(move |r| (s, r))
            })
            .collect()
    }

    /// Which metric reads `attribute` (or `attribute.item`) of the MBean `name`.
    fn metric_for(
        rules: &[(TargetSystem, Rule)],
        system: TargetSystem,
        name: &str,
        attribute: &str,
    ) -> Option<(String, MetricKind, String)> {
        let name = ObjectName::parse(name).expect("name");
        let (attr, item) = match attribute.split_once('.') {
            Some((a, i)) => (a, Some(i)),
            None => (attribute, None),
        };
        rules
            .iter()
            .filter(|(s, _)| *s == system)
            .filter(|(_, r)| r.beans.iter().any(|b| b.matches(&name)))
            .flat_map(|(_, r)| &r.metrics)
            .find(|m| m.attribute == attr && m.item.as_deref() == item)
            .map(|m| (m.name.clone(), m.kind, m.unit.clone()))
    }

    /// Every MBean and attribute of the rule book's table (docs/rules.md) is read.
    #[test]
    fn presets_cover_the_rule_book() {
        use TargetSystem::*;
        let rules = all_rules();
        let p = "kafka.producer:type=producer-metrics,client-id=p";
        let pt = "kafka.producer:type=producer-topic-metrics,client-id=p,topic=t";
        let f = "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c";
        let ft = "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c,topic=t";
        let fp =
            "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c,topic=t,partition=0";
        let co = "kafka.consumer:type=consumer-coordinator-metrics,client-id=c";
        let cm = "kafka.consumer:type=consumer-metrics,client-id=c";
        let mut table: Vec<(TargetSystem, &str, &str)> = Vec::new();
        for a in [
            "buffer-available-bytes",
            "buffer-total-bytes",
            "buffer-exhausted-total",
            "batch-size-avg",
            "record-send-rate",
            "request-latency-avg",
            "record-error-rate",
            "record-retry-rate",
            "io-wait-time-ns-avg",
            "outgoing-byte-rate",
            "request-rate",
            "response-rate",
        ] {
            table.push((KafkaProducer, p, a));
        }
        for a in [
            "record-send-rate",
            "record-error-rate",
            "record-retry-rate",
            "byte-rate",
            "compression-rate",
        ] {
            table.push((KafkaProducer, pt, a));
        }
        for a in [
            "records-lag-max",
            "records-consumed-rate",
            "fetch-latency-avg",
            "bytes-consumed-rate",
            "fetch-rate",
            "fetch-size-avg",
        ] {
            table.push((KafkaConsumer, f, a));
        }
        for a in [
            "records-consumed-rate",
            "bytes-consumed-rate",
            "fetch-size-avg",
        ] {
            table.push((KafkaConsumer, ft, a));
        }
        table.push((KafkaConsumer, fp, "records-lag"));
        table.push((KafkaConsumer, fp, "records-lead"));
        for a in [
            "assigned-partitions",
            "commit-latency-avg",
            "commit-rate",
            "rebalance-latency-avg",
            "rebalance-total",
            "failed-rebalance-total",
            "last-rebalance-seconds-ago",
            "heartbeat-response-time-max",
        ] {
            table.push((KafkaConsumer, co, a));
        }
        for a in ["last-poll-seconds-ago", "time-between-poll-max"] {
            table.push((KafkaConsumer, cm, a));
        }
        for a in [
            "HeapMemoryUsage.used",
            "HeapMemoryUsage.committed",
            "HeapMemoryUsage.max",
            "NonHeapMemoryUsage.used",
        ] {
            table.push((Jvm, "java.lang:type=Memory", a));
        }
        for a in ["CollectionCount", "CollectionTime"] {
            table.push((
                Jvm,
                "java.lang:type=GarbageCollector,name=G1 Young Generation",
                a,
            ));
        }
        table.push((Jvm, "java.lang:type=Threading", "ThreadCount"));
        for a in [
            "ProcessCpuLoad",
            "OpenFileDescriptorCount",
            "MaxFileDescriptorCount",
        ] {
            table.push((Jvm, "java.lang:type=OperatingSystem", a));
        }
        for n in [
            "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions",
            "kafka.controller:type=KafkaController,name=OfflinePartitionsCount",
            "kafka.controller:type=KafkaController,name=ActiveControllerCount",
            "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent",
        ] {
            table.push((Kafka, n, "Value"));
        }
        for n in [
            "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec",
            "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec",
            "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
            "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=t",
            "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=t",
            "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=t",
        ] {
            table.push((Kafka, n, "Count"));
            table.push((Kafka, n, "OneMinuteRate"));
        }
        for r in ["Produce", "FetchConsumer", "FetchFollower"] {
            let n: &'static str = Box::leak(
                format!("kafka.network:type=RequestMetrics,name=TotalTimeMs,request={r}")
                    .into_boxed_str(),
            );
            table.push((Kafka, n, "Mean"));
            table.push((Kafka, n, "99thPercentile"));
        }
        for n in [
            "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec",
            "kafka.server:type=ReplicaManager,name=IsrExpandsPerSec",
            "kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs",
            "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec",
        ] {
            table.push((Kafka, n, "Count"));
        }
        table.push((
            Kafka,
            "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent",
            "OneMinuteRate",
        ));
        let missing: Vec<_> = table
            .iter()
            .filter(|(s, n, a)| metric_for(&rules, *s, n, a).is_none())
            .collect();
        assert!(missing.is_empty(), "not covered: {missing:#?}");
    }

    #[test]
    fn names_types_and_units_follow_opentelemetry() {
        use TargetSystem::*;
        let rules = all_rules();
        let check = |s, n: &str, a: &str, name: &str, kind, unit: &str| {
            assert_eq!(
                metric_for(&rules, s, n, a),
                Some((name.to_owned(), kind, unit.to_owned())),
                "{n} {a}"
            );
        };
        let p = "kafka.producer:type=producer-metrics,client-id=p";
        check(
            KafkaProducer,
            p,
            "request-latency-avg",
            "kafka.producer.request-latency-avg",
            MetricKind::Gauge,
            "ms",
        );
        check(
            KafkaProducer,
            p,
            "buffer-exhausted-total",
            "kafka.producer.buffer-exhausted-total",
            MetricKind::Counter,
            "{event}",
        );
        check(
            KafkaConsumer,
            "kafka.consumer:type=consumer-coordinator-metrics,client-id=c",
            "rebalance-total",
            "kafka.consumer.rebalance-total",
            MetricKind::Counter,
            "{rebalance}",
        );
        check(
            KafkaConsumer,
            "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c",
            "records-consumed-rate",
            "kafka.consumer.total.records-consumed-rate",
            MetricKind::Gauge,
            "{record}/s",
        );
        check(
            Jvm,
            "java.lang:type=Memory",
            "HeapMemoryUsage.used",
            "jvm.memory.heap.used",
            MetricKind::Gauge,
            "By",
        );
        check(
            Jvm,
            "java.lang:type=GarbageCollector,name=G1 Old Generation",
            "CollectionCount",
            "jvm.gc.collections.count",
            MetricKind::Counter,
            "1",
        );
        check(
            Kafka,
            "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions",
            "Value",
            "kafka.partition.under_replicated",
            MetricKind::Gauge,
            "{partition}",
        );
        check(
            Kafka,
            "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec",
            "Count",
            "kafka.isr.operation.count",
            MetricKind::Counter,
            "{operation}",
        );
    }

    #[test]
    fn presets_agree_with_each_other_on_types() {
        let rules = all_rules();
        let labelled: Vec<(String, &Rule)> = rules
            .iter()
            .map(|(s, r)| (s.name().to_owned(), r))
            .collect();
        rules::check_consistent(&labelled).expect("consistent");
    }

    #[test]
    fn names_round_trip() {
        for s in TargetSystem::ALL {
            assert_eq!(TargetSystem::from_name(s.name()), Some(s));
        }
        assert_eq!(TargetSystem::from_name("kafka-broker"), None);
        assert_eq!(known_names(), "jvm, kafka, kafka-consumer, kafka-producer");
    }
}
