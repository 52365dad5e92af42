//! The topic each signal travels on by default, and what a topic name may be.

use kafka_obs_api::{ComponentConfigError, DataKind};

/// The topic the signal events (logs) travel on by default: the seed's.
pub const SIGNALS_TOPIC: &str = "__kafka-obs-signals";
/// The metrics topic by default, the Collector's.
pub const METRICS_TOPIC: &str = "otlp_metrics";
/// The traces topic by default, the Collector's.
pub const TRACES_TOPIC: &str = "otlp_spans";

/// The default topic of one signal.
pub fn default_topic(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Logs => SIGNALS_TOPIC,
        DataKind::Metrics => METRICS_TOPIC,
        DataKind::Traces => TRACES_TOPIC,
    }
}

/// Checks that `topic` is a name Kafka accepts; the error names `key`.
pub fn check_topic(topic: &str, key: &str) -> Result<(), ComponentConfigError> {
    if topic.is_empty()
        || topic.len() > 249
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ComponentConfigError::new(
            key,
            format!(
                "{topic:?} is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for kind in [DataKind::Logs, DataKind::Metrics, DataKind::Traces] {
            assert!(check_topic(default_topic(kind), "topic").is_ok());
        }
        assert!(check_topic("a.b_c-9", "topic").is_ok());
        for bad in ["", "a b", "ü", &"x".repeat(250)] {
            let e = check_topic(bad, "topic").expect_err("refused");
            assert_eq!(e.path, "topic", "{bad:?}");
        }
    }
}
