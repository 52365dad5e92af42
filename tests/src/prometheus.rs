//! OpenTelemetry -> Prometheus metric and label names, as the specification's translation
//! (with unit and type suffixes) makes them: the names the dashboard must query for what the
//! kit sends over OTLP.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    MonotonicSum,
    NonMonotonicSum,
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Prometheus name of an OTLP metric: the name split into `[a-zA-Z0-9:]` tokens, the unit
/// (`By` -> `bytes`, `ms` -> `milliseconds`, `X/s` -> `X_per_second`, `{annotations}` dropped)
/// appended unless a token already says it, `_total` for monotonic sums, `_ratio` for unit `1`
/// gauges.
pub fn prometheus_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut words = tokens(name);
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        tokens(unit_word(main)).join("_")
    };
    let per = per
        .filter(|p| !p.is_empty() && !p.contains(['{', '}']))
        .map(|p| format!("per_{}", tokens(per_unit_word(p)).join("_")))
        .unwrap_or_default();
    if !main.is_empty() && !words.contains(&main) {
        words.push(main);
    }
    if !per.is_empty() {
        words.push(per);
    }
    if kind == Kind::MonotonicSum {
        words.retain(|w| w != "total");
        words.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        words.retain(|w| w != "ratio");
        words.push("ratio".into());
    }
    words.join("_")
}

pub fn label_name(attribute: &str) -> String {
    tokens(&attribute.replace(':', "_")).join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_follow_the_specification() {
        let cases = [
            (
                "http.server.duration",
                "s",
                Kind::Gauge,
                "http_server_duration_seconds",
            ),
            (
                "requests.count",
                "1",
                Kind::MonotonicSum,
                "requests_count_total",
            ),
            ("memory.usage", "By", Kind::Gauge, "memory_usage_bytes"),
            (
                "kafka_obs.status",
                "1",
                Kind::Gauge,
                "kafka_obs_status_ratio",
            ),
            (
                "kafka.producer.buffer-available-bytes",
                "By",
                Kind::Gauge,
                "kafka_producer_buffer_available_bytes",
            ),
            (
                "kafka.producer.record-send-rate",
                "{record}/s",
                Kind::Gauge,
                "kafka_producer_record_send_rate_per_second",
            ),
            (
                "kafka.producer.outgoing-byte-rate",
                "By/s",
                Kind::Gauge,
                "kafka_producer_outgoing_byte_rate_bytes_per_second",
            ),
            (
                "kafka.consumer.rebalance-total",
                "{rebalance}",
                Kind::MonotonicSum,
                "kafka_consumer_rebalance_total",
            ),
            (
                "kafka.consumer.last-poll-seconds-ago",
                "s",
                Kind::Gauge,
                "kafka_consumer_last_poll_seconds_ago",
            ),
            (
                "kafka.network.io",
                "By",
                Kind::MonotonicSum,
                "kafka_network_io_bytes_total",
            ),
            (
                "jvm.gc.collections.elapsed",
                "ms",
                Kind::MonotonicSum,
                "jvm_gc_collections_elapsed_milliseconds_total",
            ),
            ("queue.size", "{batch}", Kind::NonMonotonicSum, "queue_size"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                prometheus_name(name, unit, kind),
                want,
                "{name} [{unit}] {kind:?}"
            );
        }
        assert_eq!(label_name("client-id"), "client_id");
        assert_eq!(label_name("subject.cluster"), "subject_cluster");
    }
}
