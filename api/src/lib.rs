//! The component API of kafka-obs: what every receiver, processor, exporter, connector and
//! extension implements, and the data that flows between them.
//!
//! This crate is small and stable on purpose. Components depend on it and on nothing else of
//! ours that knows about the runtime; the runtime depends on it to wire components together.
//! Data is OTLP as decoded by `opentelemetry-proto` (the same role the Collector's pdata plays),
//! so a receiver that speaks OTLP hands on what it decoded without a copy into another model.

pub mod auth;
pub mod capability;
pub mod component;
pub mod config;
pub mod data;
pub mod factory;
pub mod health;
pub mod heap;
pub mod id;
pub mod listeners;
pub mod output;
pub mod receipt;
pub mod storage;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use auth::{AuthCapability, AuthError, Authenticator, RawAuthSettings};
pub use capability::{Capability, ExtensionRef};
pub use component::{
    BuildContext, BuildError, ComponentConfig, Connector, ConnectorConfig, Exporter,
    ExporterConfig, Extension, ExtensionConfig, FactoryMeta, Host, NetworkExporterConfig, Outputs,
    Processor, ProcessorConfig, QueueSettings, Receiver, ReceiverConfig, RunContext, RunError,
    SendingQueue, Stability, UnneededKey,
};
pub use config::{ComponentConfigError, parse_component_config};
pub use data::{Batch, DataKind};
pub use factory::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, Factory, ProcessorFactory, ReceiverFactory,
};
pub use health::{ComponentStatus, HealthRegistry};
pub use id::{ComponentId, ComponentKind, PipelineId};
pub use listeners::Listeners;
pub use output::{Output, OverflowPolicy, Route, SendError};
pub use receipt::{Acceptance, Parcel, Receipt, Refused, SafeWhen};
pub use storage::{
    PersistentQueue, PushOutcome, QueuedRecord, Storage, StorageCapability, StorageError,
};
pub use telemetry::otelcol::Transport;
pub use telemetry::{ComponentTelemetry, Counter, Double, Gauge, Telemetry};
