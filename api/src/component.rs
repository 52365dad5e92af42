//! The lifecycle every component goes through, and the factories that make them.
//!
//! Three phases, as in the design notes: `validate` (pure: YAML -> typed config, errors with key
//! paths), `build` (may do I/O such as binding a port or opening a file, spawns nothing), `run`
//! (owns its tasks and ends on cancellation or when its input closes). Factories
//! ([`crate::factory`]) are listed explicitly in the binary; nothing registers itself behind
//! the reader's back.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::capability::{Capability, ExtensionRef};
use crate::data::DataKind;
use crate::health::{ComponentStatus, HealthRegistry};
use crate::id::{ComponentId, ComponentKind};
use crate::listeners::Listeners;
use crate::output::{Output, OverflowPolicy};
use crate::receipt::{Parcel, SafeWhen};
use crate::telemetry::{ComponentTelemetry, Telemetry};

/// How far a component is from stable, as the Collector labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stability {
    Development,
    Alpha,
    Beta,
    Stable,
}

impl Stability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Alpha => "alpha",
            Self::Beta => "beta",
            Self::Stable => "stable",
        }
    }
}

/// What the `components` command shows about a factory, and what validation checks against.
#[derive(Debug, Clone, Copy)]
pub struct FactoryMeta {
    /// The canonical type name (`otlp_http`).
    pub type_name: &'static str,
    /// Older names accepted for the same type (`otlphttp`).
    pub aliases: &'static [&'static str],
    pub stability: Stability,
    /// The signals it produces (receivers), handles (processors, exporters), or consumes
    /// (connectors; see [`crate::ConnectorFactory::routes`]). Empty for extensions.
    pub kinds: &'static [DataKind],
    /// One line for `kafka-obs components`.
    pub description: &'static str,
}

impl FactoryMeta {
    pub fn answers_to(&self, type_name: &str) -> bool {
        self.type_name == type_name || self.aliases.contains(&type_name)
    }
}

/// Why a component could not be built (its config was valid).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("cannot listen on {address}: {source}; is another process using the port?")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// Why a running component stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// Capabilities extensions offer to other components (for example a storage for disk queues),
/// looked up by the extension's id.
#[derive(Clone, Default)]
pub struct Host {
    capabilities: BTreeMap<ComponentId, Arc<dyn Any + Send + Sync>>,
}

impl Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.capabilities.keys()).finish()
    }
}

impl Host {
    pub fn insert(&mut self, id: ComponentId, capability: Arc<dyn Any + Send + Sync>) {
        self.capabilities.insert(id, capability);
    }

    /// The capability of extension `id`, if it offers one of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, id: &ComponentId) -> Option<Arc<T>> {
        self.capabilities
            .get(id)
            .cloned()
            .and_then(|c| c.downcast::<T>().ok())
    }
}

/// What `build` gets: who it is, where to count, what extensions offer, where to listen.
#[derive(Clone, Debug)]
pub struct BuildContext {
    pub id: ComponentId,
    pub telemetry: ComponentTelemetry,
    pub health: HealthRegistry,
    pub host: Host,
    /// Where a component that listens gets its socket, so a reload hands it over.
    pub listeners: Listeners,
    /// The signals this instance will see (the pipelines that reference it).
    pub kinds: Vec<DataKind>,
    /// Processors: whether what they take is safe once taken or only once an exporter
    /// downstream has it on disk (set by the runtime from the pipeline graph; see [`SafeWhen`]).
    pub safe_when: SafeWhen,
}

impl BuildContext {
    /// The context of component `id` of `kind`, counting under its own labels in `telemetry`.
    pub fn new(
        kind: ComponentKind,
        id: &ComponentId,
        telemetry: &Telemetry,
        health: &HealthRegistry,
        host: &Host,
        listeners: &Listeners,
        kinds: Vec<DataKind>,
    ) -> Self {
        Self {
            id: id.clone(),
            telemetry: telemetry.component(kind, id),
            health: health.clone(),
            host: host.clone(),
            listeners: listeners.clone(),
            kinds,
            safe_when: SafeWhen::default(),
        }
    }

    /// This context for a processor whose pipeline makes data safe `safe_when`.
    pub fn with_safe_when(mut self, safe_when: SafeWhen) -> Self {
        self.safe_when = safe_when;
        self
    }

    /// What `run` gets once this component is built: the same identity, counters and health,
    /// and the token that tells it to stop (or, for processors and exporters, to give up).
    pub fn run_context(&self, shutdown: CancellationToken) -> RunContext {
        RunContext {
            id: self.id.clone(),
            telemetry: self.telemetry.clone(),
            health: self.health.clone(),
            shutdown,
        }
    }
}

/// What `run` gets.
#[derive(Clone, Debug)]
pub struct RunContext {
    pub id: ComponentId,
    pub telemetry: ComponentTelemetry,
    pub health: HealthRegistry,
    /// Receivers and extensions: stop now. Processors and exporters: the drain deadline passed,
    /// abandon what is left (they otherwise end when their input closes).
    pub shutdown: CancellationToken,
}

impl RunContext {
    /// The key of this component in the [`HealthRegistry`] (`exporter/file`).
    pub fn health_key(&self) -> String {
        format!("{}/{}", self.telemetry.kind(), self.id)
    }

    /// The component still runs but cannot do its job (a disk error, a backend refusing
    /// everything); the health check answers 503 naming it until [`RunContext::report_ok`].
    pub fn report_error(&self, reason: impl Into<String>) {
        self.health
            .set(&self.health_key(), ComponentStatus::Failed(reason.into()));
    }

    /// The component recovered from a reported error.
    pub fn report_ok(&self) {
        self.health
            .set(&self.health_key(), ComponentStatus::Running);
    }
}

/// Where a receiver or connector sends each kind of data it produces.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    by_kind: BTreeMap<DataKind, Output>,
}

impl Outputs {
    pub fn new(by_kind: BTreeMap<DataKind, Output>) -> Self {
        Self { by_kind }
    }

    pub fn get(&self, kind: DataKind) -> Option<&Output> {
        self.by_kind.get(&kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = DataKind> + '_ {
        self.by_kind.keys().copied()
    }
}

/// The bounded queue in front of an exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Batches the queue holds before the overflow policy applies.
    pub capacity: usize,
    pub policy: OverflowPolicy,
}

impl Default for QueueSettings {
    /// The Collector's `sending_queue` defaults: 1000 batches, drop (counted) on overflow.
    fn default() -> Self {
        Self {
            capacity: 1000,
            policy: OverflowPolicy::Drop,
        }
    }
}

/// What validation asks of every component's config, whatever its kind: the sockets it will
/// listen on and the extensions it names. Every kind's config trait extends it, so the config
/// crate checks all components in one loop; a config with neither writes
/// `impl ComponentConfig for MyConfig {}`.
pub trait ComponentConfig: Send + Sync + Debug {
    /// `(key path, host:port)` of every socket it will listen on, to catch duplicates.
    fn listen_addresses(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The extensions its config names (`auth.authenticator`, `sending_queue.storage`),
    /// checked at validation.
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        Vec::new()
    }
    /// Keys it accepts only because the Collector's component of the same type has them,
    /// and which do nothing here; `validate` prints each with why, the service logs it.
    fn unneeded_keys(&self) -> Vec<UnneededKey> {
        Vec::new()
    }
}

/// A key a config accepts for the Collector's sake that has no effect here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnneededKey {
    /// Key path inside the component (`jar_path`, `otlp`).
    pub path: String,
    /// Why it is not needed, for the user who pasted it.
    pub why: &'static str,
}

pub trait ReceiverConfig: ComponentConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError>;
}

pub trait Receiver: Send {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>>;
}

/// A processor is built once per pipeline that lists it, as in the Collector.
pub trait ProcessorConfig: ComponentConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError>;
}

pub trait Processor: Send {
    /// Reads until `input` closes, then flushes what it holds to `output` and returns.
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        output: Output,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>>;
}

pub trait ExporterConfig: ComponentConfig {
    fn queue(&self) -> QueueSettings {
        QueueSettings::default()
    }
    /// True when the exporter settles each parcel's receipt itself, once the data is safe
    /// (written to a persistent queue, or consumed). Otherwise the receipt is accepted as soon
    /// as the batch is in the exporter's queue. When true, processors upstream pass receipts
    /// on rather than settle them on taking data ([`SafeWhen::OnDisk`]).
    fn settles_receipts(&self) -> bool {
        false
    }
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError>;
}

/// The config of an exporter that sends over the network through a `sending_queue` (the
/// Collector's exporterhelper): `otlp`, `otlp_http`, `signals`, `kafka`. Its runtime queue,
/// whether it settles receipts, and the extensions it names all follow from its sending queue
/// and its authenticator, so such an exporter says only those and how it is built; the
/// blanket impls below give it [`ComponentConfig`] and [`ExporterConfig`].
pub trait NetworkExporterConfig: Send + Sync + Debug {
    fn sending_queue(&self) -> SendingQueue;
    /// `auth::authenticator`, when it sends an authenticator's headers.
    fn authenticator(&self) -> Option<&ComponentId> {
        None
    }
    fn build_exporter(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError>;
}

/// What the runtime and validation need to know about an exporter's `sending_queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingQueue {
    /// The runtime's bounded queue in front of the exporter.
    pub queue: QueueSettings,
    /// Batches are on disk before they count as accepted: the exporter settles receipts.
    pub persistent: bool,
    /// `sending_queue.storage` as written (checked at validation even when the queue is off).
    pub storage: Option<ComponentId>,
}

impl<T: NetworkExporterConfig> ComponentConfig for T {
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        let auth = self
            .authenticator()
            .map(|id| ExtensionRef::new("auth::authenticator", id.clone(), Capability::Auth));
        let storage = self
            .sending_queue()
            .storage
            .map(|id| ExtensionRef::new("sending_queue::storage", id, Capability::Storage));
        auth.into_iter().chain(storage).collect()
    }
}

impl<T: NetworkExporterConfig> ExporterConfig for T {
    fn queue(&self) -> QueueSettings {
        self.sending_queue().queue
    }

    fn settles_receipts(&self) -> bool {
        self.sending_queue().persistent
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        self.build_exporter(ctx)
    }
}

pub trait Exporter: Send {
    /// Delivers until `input` closes (then flushes) or `ctx.shutdown` fires (then gives up,
    /// counting what it could not deliver).
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>>;
}

pub trait ConnectorConfig: ComponentConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Connector>, BuildError>;
}

pub trait Connector: Send {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>>;
}

pub trait ExtensionConfig: ComponentConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Extension>, BuildError>;
}

pub trait Extension: Send {
    /// A handle other components may use (see [`Host`]).
    fn capability(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
    fn run(self: Box<Self>, ctx: RunContext) -> BoxFuture<'static, Result<(), RunError>>;
}
