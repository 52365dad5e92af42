//! The one explicit list of every component this binary knows.

use std::fmt::Write as _;

use kafka_obs_config::Registry;

pub fn registry() -> Registry {
    Registry {
        receivers: kafka_obs_receiver::factories(),
        processors: kafka_obs_processor::factories(),
        exporters: kafka_obs_exporter::factories(),
        connectors: kafka_obs_processor::connectors()
            .into_iter()
            .chain(kafka_obs_central::connectors())
            .collect(),
        extensions: kafka_obs_extension::factories(),
    }
}

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
