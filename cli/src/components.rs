//! The one explicit list of every component this binary knows: one line per component type,
//! each naming the `FACTORY` its module offers. Nothing registers itself; a type missing here
//! is unknown to the binary (or, for a cargo feature left out, said to be left out).

use std::fmt::Write as _;

use kafka_obs_api::ComponentKind;
use kafka_obs_config::{Config, LeftOut, Registry};

pub fn registry() -> Registry {
    Registry {
        receivers: vec![
            kafka_obs_receiver::otlp::FACTORY,
            kafka_obs_receiver::jmx::FACTORY,
            kafka_obs_receiver::signals::FACTORY,
            #[cfg(feature = "kafka")]
            kafka_obs_receiver::kafka::FACTORY,
            kafka_obs_receiver::kafka_admin::FACTORY,
        ],
        processors: vec![
            kafka_obs_processor::batch::FACTORY,
            kafka_obs_processor::memory_limiter::FACTORY,
            kafka_obs_processor::resource::FACTORY,
            kafka_obs_processor::attributes::FACTORY,
            kafka_obs_processor::filter::FACTORY,
            kafka_obs_processor::transform::FACTORY,
        ],
        exporters: vec![
            kafka_obs_exporter::debug::FACTORY,
            kafka_obs_exporter::file::FACTORY,
            kafka_obs_exporter::otlp::grpc::FACTORY,
            kafka_obs_exporter::otlp::http::FACTORY,
            kafka_obs_exporter::signals::FACTORY,
            #[cfg(feature = "kafka")]
            kafka_obs_exporter::kafka::FACTORY,
        ],
        connectors: vec![
            kafka_obs_processor::signals::FACTORY,
            kafka_obs_central::FACTORY,
        ],
        extensions: vec![
            kafka_obs_extension::health_check::FACTORY,
            kafka_obs_extension::file_storage::FACTORY,
            kafka_obs_extension::bearertokenauth::FACTORY,
        ],
        left_out: left_out(cfg!(feature = "kafka")),
    }
}

/// What a build without the `kafka` feature (the slim sidecar build) leaves out.
fn left_out(kafka: bool) -> Vec<LeftOut> {
    if kafka {
        return Vec::new();
    }
    [ComponentKind::Receiver, ComponentKind::Exporter]
        .into_iter()
        .map(|kind| LeftOut {
            kind,
            type_name: "kafka",
            why: KAFKA_LEFT_OUT,
        })
        .collect()
}

/// Why a slim build has no `kafka` receiver or exporter, and what to do.
pub const KAFKA_LEFT_OUT: &str = "this binary was built without the `kafka` cargo feature (the slim \
sidecar build, without librdkafka); use the full build (`cargo build --release`, the default) or send \
over `otlp` or `signals`";

/// `kafka-obs components`: kind, type (aliases), signals, stability, description.
pub fn table(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<28} {:<22} {:<12} description",
        "kind", "type", "signals", "stability"
    );
    for (kind, meta) in registry.all() {
        let mut name = meta.type_name.to_string();
        if !meta.aliases.is_empty() {
            let _ = write!(name, " ({})", meta.aliases.join(", "));
        }
        let signals = if meta.kinds.is_empty() {
            "-".to_string()
        } else {
            meta.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(
            out,
            "{:<10} {:<28} {:<22} {:<12} {}",
            kind.as_str(),
            name,
            signals,
            meta.stability.as_str(),
            meta.description
        );
    }
    out
}

/// Keys written for the Collector that do nothing here, as `(key path, why)`, for `validate`
/// to print and the service to log at start.
pub fn unneeded_keys(config: &Config) -> Vec<(String, &'static str)> {
    config
        .components()
        .flat_map(|(kind, id, c)| {
            c.unneeded_keys()
                .into_iter()
                .map(move |key| (format!("{}::{id}::{}", kind.section(), key.path), key.why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_kafka_says_so_at_both_kafka_keys() {
        let mut registry = registry();
        registry.receivers.retain(|f| f.meta().type_name != "kafka");
        registry.exporters.retain(|f| f.meta().type_name != "kafka");
        registry.left_out = left_out(false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let yaml = "receivers:\n  kafka:\nexporters:\n  kafka/out:\nservice:\n  pipelines:\n    logs:\n      receivers: [kafka]\n      exporters: [kafka/out]\n";
        std::fs::write(&path, yaml).unwrap();
        let errors = kafka_obs_config::load(&[path], &registry).unwrap_err().0;
        for (key, kind) in [
            ("receivers::kafka", "receiver"),
            ("exporters::kafka/out", "exporter"),
        ] {
            let e = errors.iter().find(|e| e.path == key).unwrap();
            assert_eq!(
                e.message,
                format!("{kind} type `kafka` is not in this build: {KAFKA_LEFT_OUT}")
            );
        }
        assert!(left_out(true).is_empty());
    }

    #[test]
    fn the_table_shows_the_collectors_type_names_beside_ours() {
        let table = table(&registry());
        let row = |kind: &str, name: &str| {
            table
                .lines()
                .any(|l| l.starts_with(kind) && l.contains(name))
        };
        assert!(row("exporter", "otlp_http (otlphttp)"), "{table}");
        assert!(row("exporter", "otlp (otlp_grpc)"), "{table}");
        assert!(row("receiver", "otlp (otlp_grpc)"), "{table}");
    }

    #[test]
    fn unneeded_keys_are_named_by_their_full_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let yaml = "receivers:\n  jmx/kafka:\n    jar_path: /opt/gatherer.jar\n    endpoint: 127.0.0.1:9999\n    target_system: jvm\n    log_level: debug\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [jmx/kafka]\n      exporters: [debug]\n";
        std::fs::write(&path, yaml).unwrap();
        let config = kafka_obs_config::load(&[path], &registry()).unwrap();
        let keys: Vec<String> = unneeded_keys(&config).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "receivers::jmx/kafka::jar_path",
                "receivers::jmx/kafka::log_level"
            ]
        );
    }
}
