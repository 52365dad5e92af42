//! Receiver `jmx`: reads MBeans from JVMs over the standard JMX RMI connector with our pure-Rust
//! client (no JVM in this process) and emits them as OTLP metrics.
//!
//! Modules, in data-flow order: [`config`] (OpenTelemetry's jmxreceiver keys, validated),
//! [`presets`] (the `target_system` rule tables) and [`rules`] (OpenTelemetry's JMX rule YAML),
//! `scrape` (one poll: cached queryNames for patterns, one batched getAttributes per MBean,
//! spread over a few sessions), `convert` (readings to OTLP, cumulative start times and resets,
//! `kafka_obs.target.up`), `target` (one task per endpoint: sessions, timeout, health, backoff,
//! self-metrics).
//!
//! `build` checks the TLS files and compiles the plan; it connects to nothing (a JVM that is
//! down at start-up is a target that is down, not a failed start). `run` spawns one task per
//! endpoint on the collector's runtime, with the sessions in use bounded by
//! `max_concurrent_polls`, and returns once all of them have stopped after `ctx.shutdown`.

pub mod config;
mod convert;
pub mod presets;
pub mod rules;
mod scrape;
mod target;

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, DataKind, FactoryMeta,
    Outputs, Receiver, ReceiverConfig, ReceiverFactory, RunContext, RunError, Stability, Transport,
    parse_component_config,
};
use kafka_obs_jmx::ConnectOptions;

pub use config::{JmxReceiverConfig, TlsSettings};
pub use convert::{SCOPE_NAME, TARGET_UP, string_kv};
pub use presets::TargetSystem;
pub use scrape::{Number, Plan, Reading, Scrape};
pub use target::{PollOutcome, TargetPoller, TargetSettings};

/// Makes `jmx` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "jmx",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics],
        description: "JMX MBeans over RMI in pure Rust (no JVM): jvm and Kafka presets, OpenTelemetry JMX rules",
    },
    |config| Ok(Box::new(JmxReceiverConfig::parse(config)?)),
);

impl JmxReceiverConfig {
    /// Parses and checks the YAML body of a `jmx` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        if value.is_null() {
            // `jmx:` with no body: say what is missing rather than "nothing to collect".
            return config::RawConfig::default().resolve();
        }
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// The JMX client's connection options for every endpoint.
    pub fn connect_options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::default()
            .with_timeouts(self.timeout, self.timeout)
            .with_reconnect(true)
            .with_advertised_host(self.use_advertised_host)
            .with_pinned_endpoint(self.pin_to_endpoint);
        if let Some(c) = &self.credentials {
            o = o.with_credentials(c.username.clone(), c.password.clone());
        }
        if let Some(tls) = &self.tls {
            o = o.with_tls(tls.options()).with_registry_tls(tls.registry);
        }
        o
    }

    /// What every endpoint's poller is configured with.
    pub fn target_settings(&self, receiver: &str) -> TargetSettings {
        TargetSettings {
            receiver: receiver.to_owned(),
            options: self.connect_options(),
            timeout: self.timeout,
            interval: self.collection_interval,
            resource_attributes: self.resource_attributes.clone(),
            connections: self.connections_per_target,
            mbean_refresh_interval: self.mbean_refresh_interval,
        }
    }

    /// The poll plan: the presets' rules and the user's.
    pub fn plan(&self) -> Result<Plan, ComponentConfigError> {
        Ok(Plan::new(self.all_rules()?))
    }

    /// Builds the receiver (checks the TLS files; connects to nothing).
    pub fn build_receiver(&self, ctx: &BuildContext) -> Result<JmxReceiver, BuildError> {
        if let Some(tls) = &self.tls {
            tls.options()
                .client_config()
                .map_err(|e| BuildError::Other(format!("receivers::{}::tls: {e}", ctx.id)))?;
        }
        let plan = self
            .plan()
            .map_err(|e| BuildError::Other(format!("receivers::{}: {e}", ctx.id)))?;
        Ok(JmxReceiver {
            config: self.clone(),
            plan: Arc::new(plan),
        })
    }
}

impl ComponentConfig for JmxReceiverConfig {
    fn unneeded_keys(&self) -> Vec<kafka_obs_api::UnneededKey> {
        self.unneeded_keys.clone()
    }
}

impl ReceiverConfig for JmxReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(self.build_receiver(ctx)?))
    }
}

/// A built `jmx` receiver, not yet polling.
#[derive(Debug)]
pub struct JmxReceiver {
    config: JmxReceiverConfig,
    plan: Arc<Plan>,
}

impl Receiver for JmxReceiver {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        async move {
            let Some(output) = outputs.get(DataKind::Metrics).cloned() else {
                warn!(receiver = %ctx.id, "jmx receiver is in no metrics pipeline; nothing to do");
                ctx.shutdown.cancelled().await;
                return Ok(());
            };
            let config = &self.config;
            let settings = config.target_settings(&ctx.id.to_string());
            let task = target::TaskContext {
                output,
                semaphore: Arc::new(Semaphore::new(config.max_concurrent_polls)),
                shutdown: ctx.shutdown.clone(),
                interval: config.collection_interval,
                initial_delay: config.initial_delay,
                accepted: ctx.telemetry.accepted(DataKind::Metrics, Transport::Jmx),
                refused: ctx.telemetry.refused(DataKind::Metrics, Transport::Jmx),
            };
            info!(
                receiver = %ctx.id,
                endpoints = config.endpoints.len(),
                presets = %config.target_systems.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
                rules = self.plan.rules().len(),
                interval_ms = config.collection_interval.as_millis() as u64,
                connections_per_target = config.connections_per_target,
                mbean_refresh_ms = config.mbean_refresh_interval.as_millis() as u64,
                "jmx receiver started"
            );
            // One task per endpoint on the collector's runtime; each ends promptly once
            // `ctx.shutdown` is cancelled (every await in it races the token).
            let mut tasks = JoinSet::new();
            for endpoint in &config.endpoints {
                let poller =
                    TargetPoller::new(endpoint.clone(), self.plan.clone(), &settings, &ctx.telemetry);
                tasks.spawn(target::run_target(poller, task.clone()));
            }
            drop(task);
            while let Some(joined) = tasks.join_next().await {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    error!(receiver = %ctx.id, error = %e, "a JMX target task panicked; the other targets keep polling");
                }
            }
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
