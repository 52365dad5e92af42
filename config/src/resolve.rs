//! From the merged document to a validated [`Config`]: component bodies go to their factories,
//! the service graph is checked, and only what `service` references is kept to be built.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_obs_api::{
    ComponentConfigError, ComponentId, ComponentKind, ConnectorConfig, ConnectorFactory, DataKind,
    ExporterConfig, ExporterFactory, ExtensionConfig, ExtensionFactory, FactoryMeta, PipelineId,
    ProcessorConfig, ProcessorFactory, ReceiverConfig, ReceiverFactory, parse_component_config,
};
use serde_yaml_ng::Value;

use crate::error::{ConfigError, ConfigErrors};
use crate::model::{
    DEFAULT_METRICS_ADDRESS, MetricsLevel, MetricsSettings, OtlpPushSettings, RawConfig, RawOtlp,
    RawTelemetry, TelemetrySettings, TracesSettings,
};
use crate::source::Source;

/// Every component type the binary knows, one explicit list per kind.
#[derive(Default)]
pub struct Registry {
    pub receivers: Vec<Box<dyn ReceiverFactory>>,
    pub processors: Vec<Box<dyn ProcessorFactory>>,
    pub exporters: Vec<Box<dyn ExporterFactory>>,
    pub connectors: Vec<Box<dyn ConnectorFactory>>,
    pub extensions: Vec<Box<dyn ExtensionFactory>>,
    /// Types this build was made without (a cargo feature left out), so that a config naming
    /// one hears why it is missing instead of "unknown type".
    pub left_out: Vec<LeftOut>,
}

/// A component type left out of this build, and what to do about it.
#[derive(Debug, Clone)]
pub struct LeftOut {
    pub kind: ComponentKind,
    pub type_name: &'static str,
    pub why: &'static str,
}

impl Registry {
    /// `(kind, meta)` of every factory, for `kafka-obs components`.
    pub fn all(&self) -> Vec<(ComponentKind, &FactoryMeta)> {
        let mut out: Vec<(ComponentKind, &FactoryMeta)> = Vec::new();
        out.extend(
            self.receivers
                .iter()
                .map(|f| (ComponentKind::Receiver, f.meta())),
        );
        out.extend(
            self.processors
                .iter()
                .map(|f| (ComponentKind::Processor, f.meta())),
        );
        out.extend(
            self.exporters
                .iter()
                .map(|f| (ComponentKind::Exporter, f.meta())),
        );
        out.extend(
            self.connectors
                .iter()
                .map(|f| (ComponentKind::Connector, f.meta())),
        );
        out.extend(
            self.extensions
                .iter()
                .map(|f| (ComponentKind::Extension, f.meta())),
        );
        out
    }

    fn known(&self, kind: ComponentKind) -> String {
        self.all()
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, m)| m.type_name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One validated component, with what its factory says about it.
#[derive(Debug)]
pub struct Entry<C: ?Sized> {
    pub meta: FactoryMeta,
    pub config: Box<C>,
}

/// A pipeline: ordered processors between its receivers and exporters (ids are canonical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// A configuration that passed every check. Only components the service uses are here.
#[derive(Debug)]
pub struct Config {
    pub receivers: BTreeMap<ComponentId, Entry<dyn ReceiverConfig>>,
    pub processors: BTreeMap<ComponentId, Entry<dyn ProcessorConfig>>,
    pub exporters: BTreeMap<ComponentId, Entry<dyn ExporterConfig>>,
    pub connectors: BTreeMap<ComponentId, Entry<dyn ConnectorConfig>>,
    /// In the order `service.extensions` lists them (they start in this order).
    pub extensions: Vec<(ComponentId, Entry<dyn ExtensionConfig>)>,
    pub pipelines: BTreeMap<PipelineId, Pipeline>,
    pub telemetry: TelemetrySettings,
    pub shutdown_timeout: Duration,
    /// The merged, expanded document (for `print-config`).
    pub document: Value,
}

struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(path, message));
    }

    fn component(&mut self, prefix: &str, e: ComponentConfigError) {
        let path = if e.path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}::{}", e.path)
        };
        self.push(path, e.message);
    }
}

/// Validates one section: ids parse, types exist, bodies pass their factory's `validate`.
/// Returns canonical id -> (meta, config), and written id -> canonical id.
fn section<F: ?Sized, C: ?Sized>(
    kind: ComponentKind,
    raw: &BTreeMap<String, Value>,
    factories: &[Box<F>],
    meta_of: impl Fn(&F) -> &FactoryMeta,
    validate: impl Fn(&F, &Value) -> Result<Box<C>, ComponentConfigError>,
    registry: &Registry,
    errors: &mut Errors,
) -> (
    BTreeMap<ComponentId, Entry<C>>,
    BTreeMap<String, ComponentId>,
) {
    let mut out = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (written, body) in raw {
        let path = format!("{}::{written}", kind.section());
        let id: ComponentId = match written.parse() {
            Ok(id) => id,
            Err(e) => {
                errors.push(path, e.to_string());
                continue;
            }
        };
        let Some(factory) = factories
            .iter()
            .find(|f| meta_of(f).answers_to(id.type_name()))
        else {
            let message = match registry
                .left_out
                .iter()
                .find(|l| l.kind == kind && l.type_name == id.type_name())
            {
                Some(l) => format!(
                    "{kind} type `{}` is not in this build: {}",
                    l.type_name, l.why
                ),
                None => format!(
                    "unknown {kind} type `{}`; known {kind} types: {}",
                    id.type_name(),
                    registry.known(kind)
                ),
            };
            errors.push(path, message);
            continue;
        };
        let meta = meta_of(factory).clone();
        let canonical = id.with_type(meta.type_name);
        if out.contains_key(&canonical) {
            errors.push(
                path,
                format!(
                    "`{written}` is the same component as `{canonical}` (an alias); define it once"
                ),
            );
            continue;
        }
        match validate(factory, body) {
            Ok(config) => {
                names.insert(written.clone(), canonical.clone());
                out.insert(canonical, Entry { meta, config });
            }
            Err(e) => {
                names.insert(written.clone(), canonical.clone());
                errors.component(&path, e);
            }
        }
    }
    (out, names)
}

/// Resolves a written reference (which may use an alias) to the canonical id.
fn lookup(
    names: &BTreeMap<String, ComponentId>,
    written: &str,
    metas: &[&FactoryMeta],
) -> Option<ComponentId> {
    if let Some(id) = names.get(written) {
        return Some(id.clone());
    }
    let id: ComponentId = written.parse().ok()?;
    let meta = metas.iter().find(|m| m.answers_to(id.type_name()))?;
    let canonical = id.with_type(meta.type_name);
    names.values().find(|v| **v == canonical).cloned()
}

pub(crate) fn resolve(source: &Source, registry: &Registry) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = parse_component_config(&source.value).map_err(|e| {
        source.locate_all(vec![ConfigError::new(e.path, top_level_hint(e.message))])
    })?;
    let mut errors = Errors(Vec::new());

    let (mut receivers, receiver_names) = section(
        ComponentKind::Receiver,
        &raw.receivers,
        &registry.receivers,
        |f| f.meta(),
        |f, v| f.validate(v),
        registry,
        &mut errors,
    );
    let (mut processors, processor_names) = section(
        ComponentKind::Processor,
        &raw.processors,
        &registry.processors,
        |f| f.meta(),
        |f, v| f.validate(v),
        registry,
        &mut errors,
    );
    let (mut exporters, exporter_names) = section(
        ComponentKind::Exporter,
        &raw.exporters,
        &registry.exporters,
        |f| f.meta(),
        |f, v| f.validate(v),
        registry,
        &mut errors,
    );
    let (mut connectors, connector_names) = section(
        ComponentKind::Connector,
        &raw.connectors,
        &registry.connectors,
        |f| f.meta(),
        |f, v| f.validate(v),
        registry,
        &mut errors,
    );
    let (mut extensions, extension_names) = section(
        ComponentKind::Extension,
        &raw.extensions,
        &registry.extensions,
        |f| f.meta(),
        |f, v| f.validate(v),
        registry,
        &mut errors,
    );
    let connector_routes: BTreeMap<ComponentId, &'static [(DataKind, DataKind)]> = connector_names
        .values()
        .filter_map(|id| {
            registry
                .connectors
                .iter()
                .find(|f| f.meta().type_name == id.type_name())
                .map(|f| (id.clone(), f.routes()))
        })
        .collect();

    let receiver_metas: Vec<&FactoryMeta> = registry.receivers.iter().map(|f| f.meta()).collect();
    let processor_metas: Vec<&FactoryMeta> = registry.processors.iter().map(|f| f.meta()).collect();
    let exporter_metas: Vec<&FactoryMeta> = registry.exporters.iter().map(|f| f.meta()).collect();
    let connector_metas: Vec<&FactoryMeta> = registry.connectors.iter().map(|f| f.meta()).collect();
    let extension_metas: Vec<&FactoryMeta> = registry.extensions.iter().map(|f| f.meta()).collect();

    // The service graph.
    let mut pipelines = BTreeMap::new();
    if raw.service.pipelines.is_empty() {
        errors.push(
            "service::pipelines",
            "no pipeline is defined, so nothing would run; add e.g. `metrics: {receivers: [...], exporters: [...]}`",
        );
    }
    // Connector id -> kinds it is fed (as an exporter) and kinds it feeds (as a receiver).
    let mut connector_in: BTreeMap<ComponentId, BTreeSet<DataKind>> = BTreeMap::new();
    let mut connector_out: BTreeMap<ComponentId, BTreeSet<DataKind>> = BTreeMap::new();
    for (written, p) in &raw.service.pipelines {
        let ppath = format!("service::pipelines::{written}");
        let pid: PipelineId = match written.parse() {
            Ok(p) => p,
            Err(e) => {
                errors.push(ppath, e.to_string());
                continue;
            }
        };
        let kind = pid.kind;
        let mut resolved = Pipeline {
            receivers: Vec::new(),
            processors: Vec::new(),
            exporters: Vec::new(),
        };
        if p.receivers.is_empty() {
            errors.push(
                format!("{ppath}::receivers"),
                "a pipeline needs at least one receiver (or connector)",
            );
        }
        if p.exporters.is_empty() {
            errors.push(
                format!("{ppath}::exporters"),
                "a pipeline needs at least one exporter (or connector)",
            );
        }
        for (list, role) in [
            (&p.receivers, "receivers"),
            (&p.processors, "processors"),
            (&p.exporters, "exporters"),
        ] {
            let mut seen = BTreeSet::new();
            for r in list {
                if !seen.insert(r) {
                    errors.push(format!("{ppath}::{role}"), format!("`{r}` is listed twice"));
                }
            }
        }
        // A connector and a receiver/exporter may share a type name (`signals`), but a
        // reference must say which one it means.
        for (list, role, names, metas) in [
            (&p.receivers, "receivers", &receiver_names, &receiver_metas),
            (&p.exporters, "exporters", &exporter_names, &exporter_metas),
        ] {
            for r in list {
                if lookup(names, r, metas).is_some()
                    && lookup(&connector_names, r, &connector_metas).is_some()
                {
                    errors.push(
                        format!("{ppath}::{role}"),
                        format!(
                            "`{r}` is defined both under `{role}:` and under `connectors:`; give one of them a name (e.g. `{r}/stream`) and reference that"
                        ),
                    );
                }
            }
        }
        for r in &p.receivers {
            let path = format!("{ppath}::receivers");
            if let Some(id) = lookup(&receiver_names, r, &receiver_metas) {
                if let Some(e) = receivers.get(&id)
                    && !e.meta.kinds.contains(&kind)
                {
                    errors.push(
                        path,
                        format!(
                            "receiver `{r}` cannot produce {kind}; it produces {}",
                            kinds(e.meta.kinds)
                        ),
                    );
                }
                resolved.receivers.push(id);
            } else if let Some(id) = lookup(&connector_names, r, &connector_metas) {
                connector_out.entry(id.clone()).or_default().insert(kind);
                resolved.receivers.push(id);
            } else {
                errors.push(path, undefined("receiver", r, &receiver_names));
            }
        }
        for r in &p.processors {
            let path = format!("{ppath}::processors");
            match lookup(&processor_names, r, &processor_metas) {
                Some(id) => {
                    if let Some(e) = processors.get(&id)
                        && !e.meta.kinds.contains(&kind)
                    {
                        errors.push(
                            path,
                            format!(
                                "processor `{r}` cannot handle {kind}; it handles {}",
                                kinds(e.meta.kinds)
                            ),
                        );
                    }
                    resolved.processors.push(id);
                }
                None => errors.push(path, undefined("processor", r, &processor_names)),
            }
        }
        for r in &p.exporters {
            let path = format!("{ppath}::exporters");
            if let Some(id) = lookup(&exporter_names, r, &exporter_metas) {
                if let Some(e) = exporters.get(&id)
                    && !e.meta.kinds.contains(&kind)
                {
                    errors.push(
                        path,
                        format!(
                            "exporter `{r}` cannot export {kind}; it exports {}",
                            kinds(e.meta.kinds)
                        ),
                    );
                }
                resolved.exporters.push(id);
            } else if let Some(id) = lookup(&connector_names, r, &connector_metas) {
                connector_in.entry(id.clone()).or_default().insert(kind);
                resolved.exporters.push(id);
            } else {
                errors.push(path, undefined("exporter", r, &exporter_names));
            }
        }
        pipelines.insert(pid, resolved);
    }
    for id in connector_in
        .keys()
        .chain(connector_out.keys())
        .collect::<BTreeSet<_>>()
    {
        let path = format!("connectors::{id}");
        let ins = connector_in.get(id).cloned().unwrap_or_default();
        let outs = connector_out.get(id).cloned().unwrap_or_default();
        if ins.is_empty() || outs.is_empty() {
            errors.push(path, "a connector must be used as an exporter in one pipeline and as a receiver in another");
            continue;
        }
        let routes = connector_routes.get(id).copied().unwrap_or(&[]);
        for i in &ins {
            for o in &outs {
                if !routes.contains(&(*i, *o)) {
                    errors.push(
                        path.clone(),
                        format!("connector `{id}` cannot turn {i} into {o}"),
                    );
                }
            }
        }
    }

    let mut ext_order = Vec::new();
    for (i, written) in raw.service.extensions.iter().enumerate() {
        match lookup(&extension_names, written, &extension_metas) {
            Some(id) => ext_order.push(id),
            None => errors.push(
                format!("service::extensions::{i}"),
                undefined("extension", written, &extension_names),
            ),
        }
    }

    let telemetry = telemetry(&raw.service.telemetry, &mut errors);

    // Keep only what the service uses.
    let used: BTreeSet<ComponentId> = pipelines
        .values()
        .flat_map(|p: &Pipeline| p.receivers.iter().chain(&p.processors).chain(&p.exporters))
        .cloned()
        .collect();
    receivers.retain(|id, _| used.contains(id));
    processors.retain(|id, _| used.contains(id));
    exporters.retain(|id, _| used.contains(id));
    connectors.retain(|id, _| used.contains(id));
    let extensions: Vec<_> = ext_order
        .into_iter()
        .filter_map(|id| extensions.remove(&id).map(|e| (id, e)))
        .collect();

    // Every extension a component names must be defined, enabled, and offer what is asked.
    let mut references = Vec::new();
    for (id, e) in &receivers {
        references.extend(
            e.config
                .extension_refs()
                .into_iter()
                .map(|r| (format!("receivers::{id}"), r)),
        );
    }
    for (id, e) in &exporters {
        references.extend(
            e.config
                .extension_refs()
                .into_iter()
                .map(|r| (format!("exporters::{id}"), r)),
        );
    }
    for (id, e) in &connectors {
        references.extend(
            e.config
                .extension_refs()
                .into_iter()
                .map(|r| (format!("connectors::{id}"), r)),
        );
    }
    for (prefix, r) in references {
        let written = r.id.to_string();
        let path = format!("{prefix}::{}", r.path);
        let Some(id) = lookup(&extension_names, &written, &extension_metas) else {
            errors.push(path, undefined("extension", &written, &extension_names));
            continue;
        };
        let provides = registry
            .extensions
            .iter()
            .find(|f| f.meta().type_name == id.type_name())
            .map(|f| f.provides())
            .unwrap_or(&[]);
        if !provides.contains(&r.capability) {
            let offering: Vec<&str> = registry
                .extensions
                .iter()
                .filter(|f| f.provides().contains(&r.capability))
                .map(|f| f.meta().type_name)
                .collect();
            errors.push(
                path,
                format!(
                    "extension `{written}` is not {} {} (extensions that are: {})",
                    if r.capability.as_str().starts_with('a') {
                        "an"
                    } else {
                        "a"
                    },
                    r.capability,
                    if offering.is_empty() {
                        "none".to_string()
                    } else {
                        offering.join(", ")
                    }
                ),
            );
        } else if !extensions.iter().any(|(e, _)| *e == id) {
            errors.push(
                path,
                format!(
                    "extension `{written}` is defined but not enabled; add it to service::extensions"
                ),
            );
        }
    }

    // Two listeners on one address would fail at start; say so now, naming both keys.
    let mut listeners: Vec<(String, String)> = Vec::new();
    for (id, e) in &receivers {
        listeners.extend(
            e.config
                .listen_addresses()
                .into_iter()
                .map(|(k, a)| (format!("receivers::{id}::{k}"), a)),
        );
    }
    for (id, e) in &exporters {
        listeners.extend(
            e.config
                .listen_addresses()
                .into_iter()
                .map(|(k, a)| (format!("exporters::{id}::{k}"), a)),
        );
    }
    for (id, e) in &connectors {
        listeners.extend(
            e.config
                .listen_addresses()
                .into_iter()
                .map(|(k, a)| (format!("connectors::{id}::{k}"), a)),
        );
    }
    for (id, e) in &extensions {
        listeners.extend(
            e.config
                .listen_addresses()
                .into_iter()
                .map(|(k, a)| (format!("extensions::{id}::{k}"), a)),
        );
    }
    if let Some(a) = &telemetry.metrics.address {
        listeners.push(("service::telemetry::metrics::address".into(), a.clone()));
    }
    for (i, (path_a, addr_a)) in listeners.iter().enumerate() {
        for (path_b, addr_b) in &listeners[i + 1..] {
            if same_socket(addr_a, addr_b) {
                errors.push(
                    path_b.clone(),
                    format!("listen address {addr_b} is already used by {path_a}; give each listener its own port"),
                );
            }
        }
    }

    if !errors.0.is_empty() {
        return Err(source.locate_all(errors.0));
    }
    Ok(Config {
        receivers,
        processors,
        exporters,
        connectors,
        extensions,
        pipelines,
        telemetry,
        shutdown_timeout: raw.service.shutdown_timeout,
        document: source.value.clone(),
    })
}

fn top_level_hint(message: String) -> String {
    if message.contains("unknown field") {
        format!(
            "{message} (a config has receivers, processors, exporters, connectors, extensions and service)"
        )
    } else {
        message
    }
}

fn kinds(k: &[DataKind]) -> String {
    if k.is_empty() {
        return "nothing".into();
    }
    k.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

fn undefined(role: &str, written: &str, defined: &BTreeMap<String, ComponentId>) -> String {
    let section = format!("{role}s");
    if defined.is_empty() {
        format!(
            "{role} `{written}` is not defined: no {section} are defined; add it under `{section}:`"
        )
    } else {
        let names: Vec<&str> = defined.keys().map(String::as_str).collect();
        format!(
            "{role} `{written}` is not defined under `{section}:` (defined: {})",
            names.join(", ")
        )
    }
}

/// Whether two `host:port` listeners would collide (same port, same host or a wildcard).
fn same_socket(a: &str, b: &str) -> bool {
    fn split(s: &str) -> Option<(String, &str)> {
        let (host, port) = s.rsplit_once(':')?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host = if host == "localhost" {
            "127.0.0.1".to_string()
        } else {
            host
        };
        Some((host, port))
    }
    match (split(a), split(b)) {
        (Some((ha, pa)), Some((hb, pb))) => {
            let wildcard = |h: &str| h.is_empty() || h == "0.0.0.0" || h == "::";
            pa == pb && pa != "0" && (ha == hb || wildcard(&ha) || wildcard(&hb))
        }
        _ => a == b,
    }
}

fn otlp_push(
    o: &RawOtlp,
    interval: Duration,
    path: &str,
    errors: &mut Errors,
) -> Option<OtlpPushSettings> {
    if o.protocol != "grpc" {
        errors.push(
            format!("{path}::protocol"),
            format!(
                "protocol {:?} is not supported for self-telemetry; use grpc",
                o.protocol
            ),
        );
        return None;
    }
    if !(o.endpoint.starts_with("http://") || o.endpoint.starts_with("https://")) {
        errors.push(
            format!("{path}::endpoint"),
            "write the endpoint as a URL, e.g. http://127.0.0.1:4317",
        );
        return None;
    }
    Some(OtlpPushSettings {
        endpoint: o.endpoint.clone(),
        interval,
    })
}

fn telemetry(raw: &RawTelemetry, errors: &mut Errors) -> TelemetrySettings {
    const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
    let level = raw.logs.level.to_ascii_lowercase();
    if !LEVELS.contains(&level.as_str()) && !level.contains('=') {
        errors.push(
            "service::telemetry::logs::level",
            format!(
                "unknown log level {:?}; use one of {}",
                raw.logs.level,
                LEVELS.join(", ")
            ),
        );
    }
    let mut address = raw.metrics.address.clone();
    let mut otlp = None;
    for (i, reader) in raw.metrics.readers.iter().enumerate() {
        let path = format!("service::telemetry::metrics::readers::{i}");
        match (&reader.pull, &reader.periodic) {
            (Some(pull), None) => {
                let p = &pull.exporter.prometheus;
                address = Some(format!("{}:{}", p.host, p.port));
            }
            (None, Some(p)) => {
                otlp = otlp_push(
                    &p.exporter.otlp,
                    Duration::from_millis(p.interval),
                    &format!("{path}::periodic::exporter::otlp"),
                    errors,
                );
            }
            _ => errors.push(path, "a reader is either `pull: {exporter: {prometheus: {host, port}}}` or `periodic: {interval, exporter: {otlp: {protocol, endpoint}}}`"),
        }
    }
    let metrics = if raw.metrics.level == MetricsLevel::None {
        MetricsSettings {
            level: MetricsLevel::None,
            address: None,
            otlp: None,
        }
    } else {
        MetricsSettings {
            level: raw.metrics.level,
            address: Some(address.unwrap_or_else(|| DEFAULT_METRICS_ADDRESS.to_string())),
            otlp,
        }
    };
    let mut traces = TracesSettings::default();
    for (i, p) in raw.traces.processors.iter().enumerate() {
        traces.otlp = otlp_push(
            &p.batch.exporter.otlp,
            Duration::from_secs(5),
            &format!("service::telemetry::traces::processors::{i}::batch::exporter::otlp"),
            errors,
        );
    }
    TelemetrySettings {
        logs: raw.logs.clone(),
        metrics,
        traces,
        resource: raw.resource.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_collisions() {
        assert!(same_socket("127.0.0.1:4317", "localhost:4317"));
        assert!(same_socket("0.0.0.0:4317", "127.0.0.1:4317"));
        assert!(!same_socket("127.0.0.1:4317", "127.0.0.1:4318"));
        assert!(!same_socket("127.0.0.1:0", "127.0.0.1:0"));
        assert!(same_socket("[::]:8888", "127.0.0.1:8888"));
    }

    mod references {
        use super::*;
        use kafka_obs_api::{
            BuildContext, BuildError, Capability, Exporter, ExporterConfig, Extension,
            ExtensionRef, Receiver, Stability,
        };

        /// A receiver or exporter whose body is `{uses: <extension id>}`.
        #[derive(Debug)]
        struct Uses(Option<ComponentId>, Capability);

        fn uses(v: &Value, capability: Capability) -> Uses {
            Uses(
                v.get("uses")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok()),
                capability,
            )
        }

        impl Uses {
            fn refs(&self) -> Vec<ExtensionRef> {
                self.0
                    .iter()
                    .map(|id| ExtensionRef::new("auth::authenticator", id.clone(), self.1))
                    .collect()
            }
        }

        impl ReceiverConfig for Uses {
            fn extension_refs(&self) -> Vec<ExtensionRef> {
                self.refs()
            }
            fn build(&self, _: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        impl ExporterConfig for Uses {
            fn extension_refs(&self) -> Vec<ExtensionRef> {
                self.refs()
            }
            fn build(&self, _: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        #[derive(Debug)]
        struct NoExtension;

        impl ExtensionConfig for NoExtension {
            fn build(&self, _: &BuildContext) -> Result<Box<dyn Extension>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        fn meta(type_name: &'static str, kinds: &'static [DataKind]) -> FactoryMeta {
            FactoryMeta {
                type_name,
                aliases: &[],
                stability: Stability::Alpha,
                kinds,
                description: "test",
            }
        }

        struct Rx(FactoryMeta);
        impl ReceiverFactory for Rx {
            fn meta(&self) -> &FactoryMeta {
                &self.0
            }
            fn validate(&self, v: &Value) -> Result<Box<dyn ReceiverConfig>, ComponentConfigError> {
                Ok(Box::new(uses(v, Capability::Auth)))
            }
        }

        struct Ex(FactoryMeta);
        impl ExporterFactory for Ex {
            fn meta(&self) -> &FactoryMeta {
                &self.0
            }
            fn validate(&self, v: &Value) -> Result<Box<dyn ExporterConfig>, ComponentConfigError> {
                Ok(Box::new(uses(v, Capability::Auth)))
            }
        }

        struct Ext(FactoryMeta, &'static [Capability]);
        impl ExtensionFactory for Ext {
            fn meta(&self) -> &FactoryMeta {
                &self.0
            }
            fn provides(&self) -> &'static [Capability] {
                self.1
            }
            fn validate(
                &self,
                _: &Value,
            ) -> Result<Box<dyn ExtensionConfig>, ComponentConfigError> {
                Ok(Box::new(NoExtension))
            }
        }

        fn registry() -> Registry {
            Registry {
                receivers: vec![Box::new(Rx(meta("rx", &[DataKind::Logs])))],
                exporters: vec![Box::new(Ex(meta("ex", &[DataKind::Logs])))],
                extensions: vec![
                    Box::new(Ext(meta("tokenauth", &[]), &[Capability::Auth])),
                    Box::new(Ext(meta("disk", &[]), &[Capability::Storage])),
                ],
                ..Registry::default()
            }
        }

        fn check(yaml: &str) -> Result<Config, ConfigErrors> {
            let source = Source::from_texts(&[("c.yaml".into(), yaml.to_string())])?;
            resolve(&source, &registry())
        }

        const GRAPH: &str = "service:\n  extensions: [tokenauth/a, disk]\n  pipelines:\n    logs:\n      receivers: [rx]\n      exporters: [ex]\nextensions:\n  tokenauth/a:\n  tokenauth/off:\n  disk:\n";

        fn errors(body_rx: &str, body_ex: &str) -> Vec<(String, String)> {
            let yaml = format!("receivers:\n  rx: {body_rx}\nexporters:\n  ex: {body_ex}\n{GRAPH}");
            match check(&yaml) {
                Ok(_) => Vec::new(),
                Err(e) => e.0.into_iter().map(|e| (e.path, e.message)).collect(),
            }
        }

        #[test]
        fn a_defined_enabled_authenticator_passes() {
            assert_eq!(errors("{uses: tokenauth/a}", "{uses: tokenauth/a}"), vec![]);
            assert_eq!(errors("{}", "{}"), vec![]);
        }

        #[test]
        fn missing_disabled_or_wrong_kind_is_refused_at_its_key() {
            let e = errors("{uses: tokenauth/nope}", "{}");
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].0, "receivers::rx::auth::authenticator");
            assert!(e[0].1.contains("`tokenauth/nope` is not defined"), "{e:?}");

            let e = errors("{}", "{uses: tokenauth/off}");
            assert_eq!(e[0].0, "exporters::ex::auth::authenticator");
            assert!(
                e[0].1
                    .contains("not enabled; add it to service::extensions"),
                "{e:?}"
            );

            let e = errors("{uses: disk}", "{}");
            assert_eq!(e[0].0, "receivers::rx::auth::authenticator");
            assert!(
                e[0].1
                    .contains("`disk` is not an authenticator (extensions that are: tokenauth)"),
                "{e:?}"
            );
        }

        #[test]
        fn a_type_left_out_of_the_build_says_why_and_an_unknown_one_lists_the_known() {
            let mut registry = registry();
            registry.left_out.push(LeftOut {
                kind: ComponentKind::Exporter,
                type_name: "kafka",
                why: "built without the `kafka` feature",
            });
            let yaml = "receivers:\n  rx:\nexporters:\n  kafka/out:\n  nope:\nservice:\n  pipelines:\n    logs:\n      receivers: [rx]\n      exporters: [kafka/out, nope]\n";
            let source = Source::from_texts(&[("c.yaml".into(), yaml.to_string())]).unwrap();
            let e = resolve(&source, &registry).unwrap_err().0;
            let at = |path: &str| {
                e.iter()
                    .find(|e| e.path == path)
                    .map(|e| e.message.clone())
                    .unwrap_or_default()
            };
            assert_eq!(
                at("exporters::kafka/out"),
                "exporter type `kafka` is not in this build: built without the `kafka` feature"
            );
            assert_eq!(
                at("exporters::nope"),
                "unknown exporter type `nope`; known exporter types: ex"
            );
        }
    }
}
