//! The one factory shape every component kind shares: what the component is ([`FactoryMeta`])
//! and a plain function that validates its YAML body into its typed config.
//!
//! A factory is data, not a type per component: `pub static FACTORY: ReceiverFactory =
//! Factory::new(META, parse)`. The binary lists them, one line each, in its registry. The
//! two kinds that need one more fact say it with a builder that exists only for them:
//! connectors the routes they can join ([`Factory::joining`]), extensions the capabilities
//! they offer ([`Factory::providing`]).

use std::fmt;

use crate::capability::Capability;
use crate::component::{
    ConnectorConfig, ExporterConfig, ExtensionConfig, FactoryMeta, ProcessorConfig, ReceiverConfig,
};
use crate::config::ComponentConfigError;
use crate::data::DataKind;

/// Validates a component's body (`null` for an empty one) into its config.
pub type Parse<C> = fn(&serde_yaml_ng::Value) -> Result<Box<C>, ComponentConfigError>;

/// A component type: its meta and how to validate its config. `C` is the kind's config trait
/// object (`dyn ReceiverConfig`); see the aliases below.
pub struct Factory<C: ?Sized + 'static> {
    meta: FactoryMeta,
    parse: Parse<C>,
    /// Connectors only: `(exporter-side kind, receiver-side kind)` pairs it can join.
    routes: &'static [(DataKind, DataKind)],
    /// Extensions only: what its instances offer other components through the `Host`.
    provides: &'static [Capability],
}

pub type ReceiverFactory = Factory<dyn ReceiverConfig>;
pub type ProcessorFactory = Factory<dyn ProcessorConfig>;
pub type ExporterFactory = Factory<dyn ExporterConfig>;
pub type ConnectorFactory = Factory<dyn ConnectorConfig>;
pub type ExtensionFactory = Factory<dyn ExtensionConfig>;

impl<C: ?Sized> Factory<C> {
    pub const fn new(meta: FactoryMeta, parse: Parse<C>) -> Self {
        Self {
            meta,
            parse,
            routes: &[],
            provides: &[],
        }
    }

    pub fn meta(&self) -> &FactoryMeta {
        &self.meta
    }

    /// Validates one component body (pure: no I/O, nothing bound or opened).
    pub fn validate(&self, body: &serde_yaml_ng::Value) -> Result<Box<C>, ComponentConfigError> {
        (self.parse)(body)
    }
}

impl ConnectorFactory {
    /// The `(exporter-side kind, receiver-side kind)` pairs this connector can join.
    pub const fn joining(mut self, routes: &'static [(DataKind, DataKind)]) -> Self {
        self.routes = routes;
        self
    }

    pub fn routes(&self) -> &'static [(DataKind, DataKind)] {
        self.routes
    }
}

impl ExtensionFactory {
    /// What this extension's instances offer other components.
    pub const fn providing(mut self, capabilities: &'static [Capability]) -> Self {
        self.provides = capabilities;
        self
    }

    pub fn provides(&self) -> &'static [Capability] {
        self.provides
    }
}

// By hand: derives would ask `C: Clone`, which a trait object is not.
impl<C: ?Sized> Clone for Factory<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ?Sized> Copy for Factory<C> {}

impl<C: ?Sized> fmt::Debug for Factory<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory")
            .field("meta", &self.meta)
            .field("routes", &self.routes)
            .field("provides", &self.provides)
            .finish_non_exhaustive()
    }
}
