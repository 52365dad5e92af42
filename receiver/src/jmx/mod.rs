//! Receiver `jmx`: reads MBeans from JVMs over the standard JMX RMI connector with our pure-Rust
//! client (no JVM in this process) and emits them as OTLP metrics.
//!
//! Modules, in data-flow order: [`config`] (OpenTelemetry's jmxreceiver keys, validated),
//! [`presets`] (the `target_system` rule tables) and [`rules`] (OpenTelemetry's JMX rule YAML),
//! `scrape` (one poll: queryNames for patterns, one batched getAttributes per MBean),
//! `convert` (readings to OTLP, cumulative start times and resets, `kafka_obs.target.up`),
//! `target` (one task per endpoint: timeout, health, backoff, self-metrics).
//!
//! `build` checks the TLS files and compiles the plan; it connects to nothing (a JVM that is
//! down at start-up is a target that is down, not a failed start). `run` spawns one task per
//! endpoint, bounded by `max_concurrent_polls`, and returns once all of them have stopped after
//! `ctx.shutdown`.

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
    BuildContext, BuildError, ComponentConfigError, DataKind, FactoryMeta, Outputs, Receiver,
    ReceiverConfig, ReceiverFactory, RunContext, RunError, Stability, parse_component_config,
};
use kafka_obs_jmx::ConnectOptions;

pub use config::{JmxReceiverConfig, TlsSettings};
pub use convert::{SCOPE_NAME, TARGET_UP};
pub use presets::TargetSystem;
pub use scrape::{Number, Plan, Reading, Scrape};
pub use target::{PollOutcome, TargetPoller, TargetSettings};

static META: FactoryMeta = FactoryMeta {
    type_name: "jmx",
    aliases: &[],
    stability: Stability::Alpha,
    kinds: &[DataKind::Metrics],
    description: "JMX MBeans over RMI in pure Rust (no JVM): jvm and Kafka presets, OpenTelemetry JMX rules",
};

/// Makes `jmx` receivers.
#[derive(Debug, Clone, Copy, Default)]
pub struct JmxReceiverFactory;

impl ReceiverFactory for JmxReceiverFactory {
    fn meta(&self) -> &FactoryMeta {
        &META
    }

    fn validate(
        &self,
        config: &serde_yaml_ng::Value,
    ) -> Result<Box<dyn ReceiverConfig>, ComponentConfigError> {
        Ok(Box::new(JmxReceiverConfig::parse(config)?))
    }
}

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
            let settings = TargetSettings {
                receiver: ctx.id.to_string(),
                options: config.connect_options(),
                timeout: config.timeout,
                interval: config.collection_interval,
                resource_attributes: config.resource_attributes.clone(),
            };
            let task = target::TaskContext {
                output,
                semaphore: Arc::new(Semaphore::new(config.max_concurrent_polls)),
                shutdown: ctx.shutdown.clone(),
                interval: config.collection_interval,
                initial_delay: config.initial_delay,
                accepted: ctx.telemetry.accepted(DataKind::Metrics),
                refused: ctx.telemetry.refused(DataKind::Metrics),
            };
            info!(
                receiver = %ctx.id,
                endpoints = config.endpoints.len(),
                presets = %config.target_systems.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
                rules = self.plan.rules().len(),
                interval_ms = config.collection_interval.as_millis() as u64,
                "jmx receiver started"
            );
            // The JMX client's futures are not `Send` yet (its call path holds a
            // `&dyn Fn` across an await), so the pollers run on a thread of their own with a
            // current-thread runtime. That also keeps polling off the pipeline's workers.
            let endpoints = config.endpoints.clone();
            let plan = self.plan.clone();
            let telemetry = ctx.telemetry.clone();
            let id = ctx.id.to_string();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
            std::thread::Builder::new()
                .name(format!("jmx-poll-{id}"))
                .spawn(move || {
                    let _ = done_tx.send(poll_all(endpoints, plan, settings, task, telemetry));
                })?;
            match done_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(RunError::Other(e)),
                Err(_) => {
                    return Err(RunError::Other(format!(
                        "receivers::{id}: the JMX poller thread ended unexpectedly"
                    )));
                }
            }
            Ok(())
        }
        .boxed()
    }
}

/// Runs one task per endpoint on this thread until they all stop (after shutdown).
fn poll_all(
    endpoints: Vec<kafka_obs_jmx::Endpoint>,
    plan: Arc<Plan>,
    settings: TargetSettings,
    task: target::TaskContext,
    telemetry: kafka_obs_api::ComponentTelemetry,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            format!(
                "receivers::{}: cannot start the JMX poller runtime: {e}",
                settings.receiver
            )
        })?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let mut tasks = JoinSet::new();
        for endpoint in endpoints {
            let poller = TargetPoller::new(endpoint, plan.clone(), &settings, &telemetry);
            tasks.spawn_local(target::run_target(poller, task.clone()));
        }
        drop(task);
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                error!(receiver = %settings.receiver, error = %e, "a JMX target task panicked; the other targets keep polling");
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;
