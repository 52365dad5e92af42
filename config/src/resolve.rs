//! From the merged document to a validated [`Config`]: component bodies go to their factories,
//! the service graph is checked, and only what `service` references is kept to be built.
//!
//! [`resolve`] reads as its steps: validate each section, resolve the pipelines (and the
//! connectors between them), order the enabled extensions, read `service.telemetry`, keep what
//! the service uses, then check every kept component's extension references and listeners in
//! one loop over all kinds ([`Config::components`]). Errors are collected, not returned at the
//! first one, so a user sees everything wrong with a file at once; a part that could not be
//! read (an unknown type, a section of the wrong shape) is reported once, where it is
//! written, and references to it are not also called undefined.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_obs_api::{
    ComponentConfig, ComponentConfigError, ComponentId, ComponentKind, ConnectorConfig,
    ConnectorFactory, DataKind, ExporterConfig, ExporterFactory, ExtensionConfig, ExtensionFactory,
    ExtensionRef, Factory, FactoryMeta, PipelineId, ProcessorConfig, ProcessorFactory,
    ReceiverConfig, ReceiverFactory,
};
use serde_yaml_ng::Value;

use crate::error::{ConfigError, ConfigErrors};
use crate::model::{
    DEFAULT_METRICS_ADDRESS, MetricsLevel, MetricsSettings, OtlpPushSettings, RawConfig, RawOtlp,
    RawPipeline, RawService, RawTelemetry, TelemetrySettings, TracesSettings, push_all,
};
use crate::source::Source;

/// Every component type the binary knows, one explicit list per kind.
#[derive(Default)]
pub struct Registry {
    pub receivers: Vec<ReceiverFactory>,
    pub processors: Vec<ProcessorFactory>,
    pub exporters: Vec<ExporterFactory>,
    pub connectors: Vec<ConnectorFactory>,
    pub extensions: Vec<ExtensionFactory>,
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
        fn metas<C: ?Sized>(
            kind: ComponentKind,
            factories: &[Factory<C>],
        ) -> impl Iterator<Item = (ComponentKind, &FactoryMeta)> {
            factories.iter().map(move |f| (kind, f.meta()))
        }
        metas(ComponentKind::Receiver, &self.receivers)
            .chain(metas(ComponentKind::Processor, &self.processors))
            .chain(metas(ComponentKind::Exporter, &self.exporters))
            .chain(metas(ComponentKind::Connector, &self.connectors))
            .chain(metas(ComponentKind::Extension, &self.extensions))
            .collect()
    }

    fn known(&self, kind: ComponentKind) -> String {
        self.all()
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, m)| m.type_name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn left_out(&self, kind: ComponentKind, type_name: &str) -> Option<&LeftOut> {
        self.left_out
            .iter()
            .find(|l| l.kind == kind && l.type_name == type_name)
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

impl Config {
    /// Every component, whatever its kind, as validation sees it: receivers, processors,
    /// exporters, connectors, then extensions.
    pub fn components(
        &self,
    ) -> impl Iterator<Item = (ComponentKind, &ComponentId, &dyn ComponentConfig)> {
        use ComponentKind as K;
        let receivers = self
            .receivers
            .iter()
            .map(|(id, e)| (K::Receiver, id, &*e.config as &dyn ComponentConfig));
        let processors = self
            .processors
            .iter()
            .map(|(id, e)| (K::Processor, id, &*e.config as &dyn ComponentConfig));
        let exporters = self
            .exporters
            .iter()
            .map(|(id, e)| (K::Exporter, id, &*e.config as &dyn ComponentConfig));
        let connectors = self
            .connectors
            .iter()
            .map(|(id, e)| (K::Connector, id, &*e.config as &dyn ComponentConfig));
        let extensions = self
            .extensions
            .iter()
            .map(|(id, e)| (K::Extension, id, &*e.config as &dyn ComponentConfig));
        receivers
            .chain(processors)
            .chain(exporters)
            .chain(connectors)
            .chain(extensions)
    }
}

struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(path, message));
    }

    /// Every error of one component's body (its factory reports all it found).
    fn component(&mut self, prefix: &str, e: ComponentConfigError) {
        push_all(prefix, e, &mut self.0);
    }
}

/// One section as validated: canonical id -> entry, written id -> canonical id, and the metas
/// of every factory of its kind (to resolve a reference written with an alias).
struct Section<C: ?Sized> {
    entries: BTreeMap<ComponentId, Entry<C>>,
    names: BTreeMap<String, ComponentId>,
    /// Every canonical id written, whether or not its body validated.
    defined: BTreeSet<ComponentId>,
    metas: Vec<FactoryMeta>,
    /// Written ids whose definition is already reported (malformed id, unknown type, alias
    /// defined twice); a reference to one is not an error of its own.
    broken: BTreeSet<String>,
    /// The whole section could not be read (reported); no reference into it is judged.
    unreadable: bool,
}

impl<C: ?Sized> Section<C> {
    /// Validates one section: ids parse, types exist, bodies pass their factory's `validate`.
    fn validate(
        kind: ComponentKind,
        raw: &RawConfig,
        factories: &[Factory<C>],
        registry: &Registry,
        errors: &mut Errors,
    ) -> Self {
        let section = kind.section();
        let mut out = Self {
            entries: BTreeMap::new(),
            names: BTreeMap::new(),
            defined: BTreeSet::new(),
            metas: factories.iter().map(|f| *f.meta()).collect(),
            broken: BTreeSet::new(),
            unreadable: raw.unreadable.contains(section),
        };
        let bodies = match kind {
            ComponentKind::Receiver => &raw.receivers,
            ComponentKind::Processor => &raw.processors,
            ComponentKind::Exporter => &raw.exporters,
            ComponentKind::Connector => &raw.connectors,
            ComponentKind::Extension => &raw.extensions,
        };
        for (written, body) in bodies {
            let path = format!("{section}::{written}");
            let id: ComponentId = match written.parse() {
                Ok(id) => id,
                Err(e) => {
                    errors.push(path, e.to_string());
                    out.broken.insert(written.clone());
                    continue;
                }
            };
            let Some(factory) = factories
                .iter()
                .find(|f| f.meta().answers_to(id.type_name()))
            else {
                errors.push(path, unknown_type(kind, &id, registry));
                out.broken.insert(written.clone());
                continue;
            };
            let meta = *factory.meta();
            let canonical = id.with_type(meta.type_name);
            if !out.defined.insert(canonical.clone()) {
                errors.push(
                    path,
                    format!(
                        "`{written}` is the same component as `{canonical}` (an alias); define it once"
                    ),
                );
                out.broken.insert(written.clone());
                continue;
            }
            out.names.insert(written.clone(), canonical.clone());
            match factory.validate(body) {
                Ok(config) => {
                    out.entries.insert(canonical, Entry { meta, config });
                }
                Err(e) => errors.component(&path, e),
            }
        }
        out
    }

    /// Resolves a written reference (which may use an alias) to the canonical id.
    fn lookup(&self, written: &str) -> Option<ComponentId> {
        if let Some(id) = self.names.get(written) {
            return Some(id.clone());
        }
        let id: ComponentId = written.parse().ok()?;
        let meta = self.metas.iter().find(|m| m.answers_to(id.type_name()))?;
        let canonical = id.with_type(meta.type_name);
        self.defined.contains(&canonical).then_some(canonical)
    }

    /// The kinds of data the component `id` handles, when it validated.
    fn kinds_of(&self, id: &ComponentId) -> Option<&'static [DataKind]> {
        self.entries.get(id).map(|e| e.meta.kinds)
    }

    /// Whether a reference to `written` that did not resolve is already explained by an error
    /// where it is defined (so saying "not defined" would be wrong or twice said).
    fn explains(&self, written: &str) -> bool {
        self.unreadable || self.broken.contains(written)
    }
}

/// Every section of the file, validated.
struct Sections {
    receivers: Section<dyn ReceiverConfig>,
    processors: Section<dyn ProcessorConfig>,
    exporters: Section<dyn ExporterConfig>,
    connectors: Section<dyn ConnectorConfig>,
    extensions: Section<dyn ExtensionConfig>,
}

impl Sections {
    fn validate(raw: &RawConfig, registry: &Registry, errors: &mut Errors) -> Self {
        use ComponentKind as K;
        Self {
            receivers: Section::validate(K::Receiver, raw, &registry.receivers, registry, errors),
            processors: Section::validate(
                K::Processor,
                raw,
                &registry.processors,
                registry,
                errors,
            ),
            exporters: Section::validate(K::Exporter, raw, &registry.exporters, registry, errors),
            connectors: Section::validate(
                K::Connector,
                raw,
                &registry.connectors,
                registry,
                errors,
            ),
            extensions: Section::validate(
                K::Extension,
                raw,
                &registry.extensions,
                registry,
                errors,
            ),
        }
    }
}

/// Which kinds each connector is fed (as an exporter) and feeds (as a receiver).
#[derive(Default)]
struct ConnectorUse {
    fed: BTreeMap<ComponentId, BTreeSet<DataKind>>,
    feeds: BTreeMap<ComponentId, BTreeSet<DataKind>>,
}

pub(crate) fn resolve(source: &Source, registry: &Registry) -> Result<Config, ConfigErrors> {
    let mut errors = Errors(Vec::new());
    let raw = RawConfig::read(&source.value, &mut errors.0);
    let mut sections = Sections::validate(&raw, registry, &mut errors);
    let pipelines = pipelines(&raw.service, &sections, registry, &mut errors);
    let extension_order = enabled_extensions(&raw.service.extensions, &sections, &mut errors);
    let telemetry = telemetry(&raw.service.telemetry, &mut errors);
    let used = keep_used(&mut sections, &pipelines, extension_order);
    let config = Config {
        receivers: used.receivers,
        processors: used.processors,
        exporters: used.exporters,
        connectors: used.connectors,
        extensions: used.extensions,
        pipelines,
        telemetry,
        shutdown_timeout: raw.service.shutdown_timeout,
        document: source.value.clone(),
    };
    check_extension_refs(&config, &sections.extensions, registry, &mut errors);
    check_listeners(&config, &mut errors);
    let all = source.with_problems(errors.0);
    if !all.is_empty() {
        return Err(ConfigErrors::sorted(source.locate_all(all)));
    }
    Ok(config)
}

/// Every pipeline of `service.pipelines` with canonical ids, then the connectors between
/// them checked.
fn pipelines(
    service: &RawService,
    sections: &Sections,
    registry: &Registry,
    errors: &mut Errors,
) -> BTreeMap<PipelineId, Pipeline> {
    let raw = &service.pipelines;
    let mut pipelines = BTreeMap::new();
    if raw.is_empty() && service.pipelines_complete {
        errors.push(
            "service::pipelines",
            "no pipeline is defined, so nothing would run; add e.g. `metrics: {receivers: [...], exporters: [...]}`",
        );
    }
    let mut connectors = ConnectorUse::default();
    for (written, p) in raw {
        let ppath = format!("service::pipelines::{written}");
        let pid: PipelineId = match written.parse() {
            Ok(p) => p,
            Err(e) => {
                errors.push(ppath, e.to_string());
                continue;
            }
        };
        check_lists(&ppath, p, sections, errors);
        let resolved = Pipeline {
            receivers: pipeline_end(
                &ppath,
                pid.kind,
                &p.receivers,
                End {
                    role: "receiver",
                    cannot: "cannot produce",
                    does: "it produces",
                    section: &sections.receivers,
                },
                (&sections.connectors, &mut connectors.feeds),
                errors,
            ),
            processors: pipeline_processors(&ppath, pid.kind, p, sections, errors),
            exporters: pipeline_end(
                &ppath,
                pid.kind,
                &p.exporters,
                End {
                    role: "exporter",
                    cannot: "cannot export",
                    does: "it exports",
                    section: &sections.exporters,
                },
                (&sections.connectors, &mut connectors.fed),
                errors,
            ),
        };
        pipelines.insert(pid, resolved);
    }
    if service.pipelines_complete {
        check_connectors(&connectors, registry, errors);
    }
    check_cycles(&pipelines, sections, errors);
    pipelines
}

/// Pipelines joined through connectors must not loop back on themselves: data would circle
/// forever and a shutdown could never drain it. Each loop is named once, by the pipelines
/// and connectors along it, at the line of the pipeline it starts from.
fn check_cycles(
    pipelines: &BTreeMap<PipelineId, Pipeline>,
    sections: &Sections,
    errors: &mut Errors,
) {
    let is_connector = |id: &ComponentId| sections.connectors.defined.contains(id);
    // pipeline -> (connector, pipeline it feeds)
    let edges: BTreeMap<&PipelineId, Vec<(&ComponentId, &PipelineId)>> = pipelines
        .iter()
        .map(|(from, p)| {
            let out = p
                .exporters
                .iter()
                .filter(|c| is_connector(c))
                .flat_map(|c| {
                    pipelines
                        .iter()
                        .filter(move |(_, q)| q.receivers.contains(c))
                        .map(move |(to, _)| (c, to))
                })
                .collect();
            (from, out)
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&PipelineId, Mark> = pipelines.keys().map(|p| (p, Mark::New)).collect();
    // An explicit stack of (pipeline, next edge to follow); `path` holds the connector taken
    // into each pipeline on it.
    for start in pipelines.keys() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(&PipelineId, usize)> = vec![(start, 0)];
        let mut path: Vec<(&PipelineId, Option<&ComponentId>)> = vec![(start, None)];
        marks.insert(start, Mark::OnPath);
        while let Some((at, next)) = stack.last_mut() {
            let out = &edges[*at];
            if *next == out.len() {
                marks.insert(*at, Mark::Done);
                stack.pop();
                path.pop();
                continue;
            }
            let (connector, to) = out[*next];
            *next += 1;
            match marks[to] {
                Mark::New => {
                    marks.insert(to, Mark::OnPath);
                    stack.push((to, 0));
                    path.push((to, Some(connector)));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(p, _)| *p == to).unwrap_or(0);
                    let mut words = vec![to.to_string()];
                    for (p, via) in &path[from + 1..] {
                        words.push(via.map(ToString::to_string).unwrap_or_default());
                        words.push(p.to_string());
                    }
                    words.push(connector.to_string());
                    words.push(to.to_string());
                    errors.push(
                        format!("service::pipelines::{to}"),
                        format!(
                            "connector cycle, pipelines: {}; data would go round forever and a shutdown could not drain it: take one of these connectors out of one of these pipelines",
                            words.join(" -> ")
                        ),
                    );
                }
                Mark::Done => {}
            }
        }
    }
}

/// A pipeline's lists: not empty where they must not be, nothing twice, no reference that
/// could mean a connector or a receiver/exporter of the same type name.
fn check_lists(ppath: &str, p: &RawPipeline, sections: &Sections, errors: &mut Errors) {
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
    let ambiguous = |list: &Vec<String>,
                     role: &str,
                     defined: &dyn Fn(&str) -> bool,
                     errors: &mut Errors| {
        for r in list {
            if defined(r) && sections.connectors.lookup(r).is_some() {
                errors.push(
                    format!("{ppath}::{role}"),
                    format!(
                        "`{r}` is defined both under `{role}:` and under `connectors:`; give one of them a name (e.g. `{r}/stream`) and reference that"
                    ),
                );
            }
        }
    };
    ambiguous(
        &p.receivers,
        "receivers",
        &|r| sections.receivers.lookup(r).is_some(),
        errors,
    );
    ambiguous(
        &p.exporters,
        "exporters",
        &|r| sections.exporters.lookup(r).is_some(),
        errors,
    );
}

/// The words and the section of one end of a pipeline: its `receivers` or its `exporters`.
struct End<'a, C: ?Sized> {
    /// `receiver` or `exporter`.
    role: &'static str,
    /// The rest of "`x` cannot produce logs; it produces metrics".
    cannot: &'static str,
    does: &'static str,
    /// Where its own components are defined (a connector may stand at either end).
    section: &'a Section<C>,
}

/// One end's list: each name resolved to a component of the end's section or to a connector
/// (whose use at this end, `uses`, is recorded for the connector check), or reported.
fn pipeline_end<C: ?Sized>(
    ppath: &str,
    kind: DataKind,
    names: &[String],
    end: End<'_, C>,
    connectors: (
        &Section<dyn ConnectorConfig>,
        &mut BTreeMap<ComponentId, BTreeSet<DataKind>>,
    ),
    errors: &mut Errors,
) -> Vec<ComponentId> {
    let (connector_section, uses) = connectors;
    let path = format!("{ppath}::{}s", end.role);
    let mut ids = Vec::new();
    for r in names {
        if let Some(id) = end.section.lookup(r) {
            if let Some(handles) = end.section.kinds_of(&id)
                && !handles.contains(&kind)
            {
                errors.push(
                    path.clone(),
                    format!(
                        "{} `{r}` {} {kind}; {} {}",
                        end.role,
                        end.cannot,
                        end.does,
                        kinds(handles)
                    ),
                );
            }
            ids.push(id);
        } else if let Some(id) = connector_section.lookup(r) {
            uses.entry(id.clone()).or_default().insert(kind);
            ids.push(id);
        } else if !end.section.explains(r) && !connector_section.explains(r) {
            errors.push(path.clone(), undefined(end.role, r, &end.section.names));
        }
    }
    ids
}

fn pipeline_processors(
    ppath: &str,
    kind: DataKind,
    p: &RawPipeline,
    sections: &Sections,
    errors: &mut Errors,
) -> Vec<ComponentId> {
    let path = format!("{ppath}::processors");
    let mut ids = Vec::new();
    for r in &p.processors {
        match sections.processors.lookup(r) {
            Some(id) => {
                if let Some(handles) = sections.processors.kinds_of(&id)
                    && !handles.contains(&kind)
                {
                    errors.push(
                        path.clone(),
                        format!(
                            "processor `{r}` cannot handle {kind}; it handles {}",
                            kinds(handles)
                        ),
                    );
                }
                ids.push(id);
            }
            None if sections.processors.explains(r) => {}
            None => errors.push(
                path.clone(),
                undefined("processor", r, &sections.processors.names),
            ),
        }
    }
    ids
}

/// Every connector used must be fed by one pipeline and feed another, along routes it has.
fn check_connectors(used: &ConnectorUse, registry: &Registry, errors: &mut Errors) {
    for id in used
        .fed
        .keys()
        .chain(used.feeds.keys())
        .collect::<BTreeSet<_>>()
    {
        let path = format!("connectors::{id}");
        let ins = used.fed.get(id).cloned().unwrap_or_default();
        let outs = used.feeds.get(id).cloned().unwrap_or_default();
        if ins.is_empty() || outs.is_empty() {
            errors.push(path, "a connector must be used as an exporter in one pipeline and as a receiver in another");
            continue;
        }
        let routes = registry
            .connectors
            .iter()
            .find(|f| f.meta().type_name == id.type_name())
            .map(|f| f.routes())
            .unwrap_or(&[]);
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
}

/// `service.extensions` as canonical ids, in the order written (they start in this order).
fn enabled_extensions(
    written: &[String],
    sections: &Sections,
    errors: &mut Errors,
) -> Vec<ComponentId> {
    let mut order = Vec::new();
    for (i, written) in written.iter().enumerate() {
        match sections.extensions.lookup(written) {
            Some(id) => order.push(id),
            None if sections.extensions.explains(written) => {}
            None => errors.push(
                format!("service::extensions::{i}"),
                undefined("extension", written, &sections.extensions.names),
            ),
        }
    }
    order
}

/// The validated components the service uses, taken out of their sections (which keep their
/// names for resolving references).
struct Used {
    receivers: BTreeMap<ComponentId, Entry<dyn ReceiverConfig>>,
    processors: BTreeMap<ComponentId, Entry<dyn ProcessorConfig>>,
    exporters: BTreeMap<ComponentId, Entry<dyn ExporterConfig>>,
    connectors: BTreeMap<ComponentId, Entry<dyn ConnectorConfig>>,
    extensions: Vec<(ComponentId, Entry<dyn ExtensionConfig>)>,
}

fn keep_used(
    sections: &mut Sections,
    pipelines: &BTreeMap<PipelineId, Pipeline>,
    extension_order: Vec<ComponentId>,
) -> Used {
    let used: BTreeSet<ComponentId> = pipelines
        .values()
        .flat_map(|p: &Pipeline| p.receivers.iter().chain(&p.processors).chain(&p.exporters))
        .cloned()
        .collect();
    fn take<C: ?Sized>(
        section: &mut Section<C>,
        used: &BTreeSet<ComponentId>,
    ) -> BTreeMap<ComponentId, Entry<C>> {
        let mut entries = std::mem::take(&mut section.entries);
        entries.retain(|id, _| used.contains(id));
        entries
    }
    let mut extensions = std::mem::take(&mut sections.extensions.entries);
    Used {
        receivers: take(&mut sections.receivers, &used),
        processors: take(&mut sections.processors, &used),
        exporters: take(&mut sections.exporters, &used),
        connectors: take(&mut sections.connectors, &used),
        extensions: extension_order
            .into_iter()
            .filter_map(|id| extensions.remove(&id).map(|e| (id, e)))
            .collect(),
    }
}

/// Every extension a kept component names (its `ComponentConfig::extension_refs`), whatever
/// its kind.
fn check_extension_refs(
    config: &Config,
    extensions: &Section<dyn ExtensionConfig>,
    registry: &Registry,
    errors: &mut Errors,
) {
    for (kind, id, component) in config.components() {
        for r in component.extension_refs() {
            let path = format!("{}::{id}::{}", kind.section(), r.path);
            check_extension_ref(path, &r, config, extensions, registry, errors);
        }
    }
}

/// An extension a component names must be defined, enabled, and offer what is asked.
fn check_extension_ref(
    path: String,
    r: &ExtensionRef,
    config: &Config,
    extensions: &Section<dyn ExtensionConfig>,
    registry: &Registry,
    errors: &mut Errors,
) {
    let written = r.id.to_string();
    let Some(id) = extensions.lookup(&written) else {
        if !extensions.explains(&written) {
            errors.push(path, undefined("extension", &written, &extensions.names));
        }
        return;
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
    } else if !config.extensions.iter().any(|(e, _)| *e == id) {
        errors.push(
            path,
            format!(
                "extension `{written}` is defined but not enabled; add it to service::extensions"
            ),
        );
    }
}

/// Two listeners on one address would fail at start; say so now, naming both keys.
fn check_listeners(config: &Config, errors: &mut Errors) {
    let mut listeners: Vec<(String, String)> = config
        .components()
        .flat_map(|(kind, id, c)| {
            c.listen_addresses()
                .into_iter()
                .map(move |(k, a)| (format!("{}::{id}::{k}", kind.section()), a))
        })
        .collect();
    if let Some(a) = &config.telemetry.metrics.address {
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
}

fn unknown_type(kind: ComponentKind, id: &ComponentId, registry: &Registry) -> String {
    match registry.left_out(kind, id.type_name()) {
        Some(l) => format!(
            "{kind} type `{}` is not in this build: {}",
            l.type_name, l.why
        ),
        None => format!(
            "unknown {kind} type `{}`; known {kind} types: {}",
            id.type_name(),
            registry.known(kind)
        ),
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
            BuildContext, BuildError, Capability, Exporter, Extension, Receiver, Stability,
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

        impl ComponentConfig for Uses {
            fn extension_refs(&self) -> Vec<ExtensionRef> {
                self.0
                    .iter()
                    .map(|id| ExtensionRef::new("auth::authenticator", id.clone(), self.1))
                    .collect()
            }
        }

        impl ReceiverConfig for Uses {
            fn build(&self, _: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        impl ExporterConfig for Uses {
            fn build(&self, _: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        impl ConnectorConfig for Uses {
            fn build(
                &self,
                _: &BuildContext,
            ) -> Result<Box<dyn kafka_obs_api::Connector>, BuildError> {
                Err(BuildError::Other("not in this test".into()))
            }
        }

        #[derive(Debug)]
        struct NoExtension;

        impl ComponentConfig for NoExtension {}

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

        fn registry() -> Registry {
            let tokenauth =
                ExtensionFactory::new(meta("tokenauth", &[]), |_| Ok(Box::new(NoExtension)));
            let disk = ExtensionFactory::new(meta("disk", &[]), |_| Ok(Box::new(NoExtension)));
            Registry {
                receivers: vec![ReceiverFactory::new(meta("rx", &[DataKind::Logs]), |v| {
                    Ok(Box::new(uses(v, Capability::Auth)))
                })],
                exporters: vec![ExporterFactory::new(meta("ex", &[DataKind::Logs]), |v| {
                    Ok(Box::new(uses(v, Capability::Auth)))
                })],
                processors: vec![],
                connectors: vec![
                    ConnectorFactory::new(meta("loop", &[]), |v| {
                        Ok(Box::new(uses(v, Capability::Auth)))
                    })
                    .joining(&[(DataKind::Logs, DataKind::Logs)]),
                ],
                extensions: vec![
                    tokenauth.providing(&[Capability::Auth]),
                    disk.providing(&[Capability::Storage]),
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

        fn all_errors(yaml: &str) -> Vec<(String, String, String)> {
            match check(yaml) {
                Ok(_) => Vec::new(),
                Err(e) => {
                    e.0.into_iter()
                        .map(|e| {
                            let at = e.location.map(|l| l.to_string()).unwrap_or_default();
                            (e.path, e.message, at)
                        })
                        .collect()
                }
            }
        }

        #[test]
        fn a_connector_loop_is_named_pipeline_by_pipeline() {
            let own = "receivers:\n  rx:\nconnectors:\n  loop:\nservice:\n  pipelines:\n    logs/a:\n      receivers: [rx, loop]\n      exporters: [loop]\n";
            let e = all_errors(own);
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].0, "service::pipelines::logs/a");
            assert!(
                e[0].1.contains("pipelines: logs/a -> loop -> logs/a"),
                "{e:?}"
            );
            assert_eq!(e[0].2, "c.yaml:7");

            let longer = "receivers:\n  rx:\nexporters:\n  ex:\nconnectors:\n  loop/1:\n  loop/2:\nservice:\n  pipelines:\n    logs/a:\n      receivers: [rx, loop/2]\n      exporters: [loop/1]\n    logs/b:\n      receivers: [loop/1]\n      exporters: [ex, loop/2]\n";
            let e = all_errors(longer);
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(
                e[0].1
                    .contains("pipelines: logs/a -> loop/1 -> logs/b -> loop/2 -> logs/a"),
                "{e:?}"
            );

            let chain = "receivers:\n  rx:\nexporters:\n  ex:\nconnectors:\n  loop:\nservice:\n  pipelines:\n    logs/a:\n      receivers: [rx]\n      exporters: [loop]\n    logs/b:\n      receivers: [loop]\n      exporters: [ex]\n";
            assert_eq!(all_errors(chain), vec![]);
        }

        #[test]
        fn a_defined_component_of_unknown_type_is_reported_once_where_it_is_defined() {
            let yaml = "receivers:\n  rx:\nexporters:\n  ex:\n  prometheus:\nservice:\n  pipelines:\n    logs:\n      receivers: [rx]\n      exporters: [ex, prometheus]\n";
            let e = all_errors(yaml);
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].0, "exporters::prometheus");
            assert_eq!(
                e[0].1,
                "unknown exporter type `prometheus`; known exporter types: ex"
            );
        }

        #[test]
        fn a_section_of_the_wrong_shape_does_not_hide_the_rest() {
            let yaml = "receivers: [rx]\nexporters:\n  ex: {uses: tokenauth/nope}\nservice:\n  shutdown_timeout: 10 seconds\n  pipelines:\n    logs:\n      receivers: [rx]\n      exporters: [ex]\n      procesors: []\n    traces: 5\n";
            let e = all_errors(yaml);
            let found: Vec<(&str, &str)> = e
                .iter()
                .map(|(p, _, at)| (p.as_str(), at.as_str()))
                .collect();
            assert_eq!(
                found,
                [
                    ("receivers", "c.yaml:1"),
                    ("service::shutdown_timeout", "c.yaml:5"),
                    ("service::pipelines::logs::procesors", "c.yaml:10"),
                    ("service::pipelines::traces", "c.yaml:11"),
                ],
                "{e:#?}"
            );
            assert!(e[1].1.contains("unknown unit"), "{e:?}");
        }
    }
}
