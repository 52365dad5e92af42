//! Configuration reload (SIGHUP): the running graph hands over to one built from the new
//! configuration without losing data and without refusing a client.
//!
//! The steps, and why in this order:
//! 1. The new configuration is already loaded and validated by the caller; an invalid one
//!    changes nothing (the running graph never stops for a file that would not start).
//! 2. The running graph stops the way a shutdown stops it: receivers stop taking input (each
//!    answers what it had in flight), processors drain, exporters flush within
//!    `service.shutdown_timeout`. Every receipt settles on the way, so a sender either heard
//!    "accepted" for data that reached an exporter, or hears "retry" and resends.
//! 3. Only then is the new graph built. Building it beside the running one would open the same
//!    disk queues and consumer groups twice; listening sockets do not need the overlap, because
//!    they come from the [`Listeners`] pool, which keeps them open across the gap so clients
//!    wait in the accept queue instead of being refused.
//! 4. Should the new graph fail to build (a port another process took, a disk error), the
//!    previous configuration is built again from the same pool, so the collector keeps running.

use kafka_obs_api::{Counter, HealthRegistry, Listeners, Telemetry};
use kafka_obs_config::{Config, ConfigErrors};
use tokio_util::sync::CancellationToken;

use crate::graph::{Service, ShutdownReport, StartError};

/// What one reload request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration runs.
    Applied,
    /// The new configuration is the running one: nothing was stopped.
    Unchanged,
    /// The new configuration is invalid: the running graph was left alone.
    Invalid,
    /// The new configuration did not build: the previous one runs again.
    RolledBack,
}

/// After a reload: still running, or stopped (a stop was requested while the old graph
/// drained, or not even the previous configuration could be built again).
pub enum AfterReload {
    Running(Box<ReloadableService>, ReloadOutcome),
    Stopped(ShutdownReport),
}

/// `kafka_obs_config_reloads_total{result}`.
struct ReloadCounters {
    success: Counter,
    failure: Counter,
    unchanged: Counter,
}

impl ReloadCounters {
    fn new(telemetry: &Telemetry) -> Self {
        let counter = |result| {
            telemetry.counter(
                "kafka_obs_config_reloads_total",
                "Configuration reloads (SIGHUP) by result: success, failure (invalid, or did not build), unchanged.",
                &[("result", result)],
            )
        };
        Self {
            success: counter("success"),
            failure: counter("failure"),
            unchanged: counter("unchanged"),
        }
    }
}

/// A running collector that can swap its configuration.
pub struct ReloadableService {
    service: Service,
    config: Config,
    telemetry: Telemetry,
    listeners: Listeners,
    counters: ReloadCounters,
    /// Components that failed in an earlier configuration's graph: they still decide the
    /// exit code.
    failed_before: Vec<(String, String)>,
}

/// Builds `config`'s graph on the sockets of `listeners`, closing those it does not use. Each
/// graph reports to its own health registry, so a component a reload removed is not reported
/// as stopped forever.
fn build(
    config: &Config,
    telemetry: &Telemetry,
    listeners: &Listeners,
) -> Result<Service, StartError> {
    listeners.begin_build();
    let service = Service::start_with(config, telemetry, &HealthRegistry::new(), listeners);
    if service.is_ok() {
        listeners.finish_build();
    }
    service
}

impl ReloadableService {
    /// Builds and starts `config`'s graph (see [`Service::start`]).
    pub fn start(config: Config, telemetry: &Telemetry) -> Result<Self, StartError> {
        let listeners = Listeners::new();
        let service = build(&config, telemetry, &listeners)?;
        Ok(Self {
            service,
            config,
            telemetry: telemetry.clone(),
            listeners,
            counters: ReloadCounters::new(telemetry),
            failed_before: Vec::new(),
        })
    }

    /// Hands over to `loaded` (the result of loading the same files again). `stop` is the
    /// process's stop request: when it fires while the old graph drains, the new one is not
    /// started and the collector stops, still within `service.shutdown_timeout`.
    pub async fn reload(
        self,
        loaded: Result<Config, ConfigErrors>,
        stop: &CancellationToken,
    ) -> AfterReload {
        let new = match loaded {
            Ok(config) => config,
            Err(errors) => {
                self.counters.failure.inc();
                tracing::error!(
                    errors = errors.0.len(),
                    "configuration reload refused: the new configuration is invalid; the running one stays"
                );
                // One line per error, in the words `kafka-obs validate` uses.
                for error in &errors.0 {
                    tracing::error!(error = %error, "invalid configuration");
                }
                return AfterReload::Running(Box::new(self), ReloadOutcome::Invalid);
            }
        };
        if new.document == self.config.document {
            self.counters.unchanged.inc();
            tracing::info!("configuration reload: the configuration did not change; nothing to do");
            return AfterReload::Running(Box::new(self), ReloadOutcome::Unchanged);
        }
        warn_about_restart_only_settings(&self.config, &new);

        let Self {
            service,
            config: old,
            telemetry,
            listeners,
            counters,
            mut failed_before,
        } = self;
        tracing::info!(
            "configuration reload: stopping receivers and draining the running pipelines"
        );
        let drained = service.shutdown().await;
        if drained.deadline_exceeded {
            tracing::warn!(
                "configuration reload: exporters did not flush within service.shutdown_timeout; what they still held was abandoned (counted)"
            );
        }
        for (component, error) in &drained.failed {
            tracing::error!(component = %component, error = %error, "component had failed");
        }
        failed_before.extend(drained.failed);
        if stop.is_cancelled() {
            tracing::info!("configuration reload: a stop was requested while draining; stopping");
            listeners.close_all();
            return AfterReload::Stopped(ShutdownReport {
                failed: failed_before,
                deadline_exceeded: drained.deadline_exceeded,
            });
        }

        let (service, config, outcome) = match build(&new, &telemetry, &listeners) {
            Ok(service) => {
                counters.success.inc();
                tracing::info!(pipelines = new.pipelines.len(), "configuration reloaded");
                (service, new, ReloadOutcome::Applied)
            }
            Err(error) => {
                counters.failure.inc();
                tracing::error!(
                    error = %error,
                    "configuration reload failed: the new configuration did not start; starting the previous one again"
                );
                match build(&old, &telemetry, &listeners) {
                    Ok(service) => (service, old, ReloadOutcome::RolledBack),
                    Err(error) => {
                        tracing::error!(error = %error, "the previous configuration did not start again either; stopping");
                        listeners.close_all();
                        failed_before.push(("service".into(), error.to_string()));
                        return AfterReload::Stopped(ShutdownReport {
                            failed: failed_before,
                            deadline_exceeded: drained.deadline_exceeded,
                        });
                    }
                }
            }
        };
        AfterReload::Running(
            Box::new(Self {
                service,
                config,
                telemetry,
                listeners,
                counters,
                failed_before,
            }),
            outcome,
        )
    }

    /// Staged stop (see [`Service::shutdown`]); the report also lists components that failed
    /// under an earlier configuration.
    pub async fn shutdown(self) -> ShutdownReport {
        // Once the receivers stop, clients are refused rather than queued for nobody.
        self.listeners.close_all();
        let mut report = self.service.shutdown().await;
        let mut failed = self.failed_before;
        failed.append(&mut report.failed);
        report.failed = failed;
        report
    }
}

/// The process's own logs and traces are set up once, at start: say so when a reload changes
/// them rather than ignore the change silently.
fn warn_about_restart_only_settings(old: &Config, new: &Config) {
    let section = |c: &Config, key: &str| c.document["service"]["telemetry"][key].clone();
    for key in ["logs", "traces"] {
        if section(old, key) != section(new, key) {
            tracing::warn!(
                section = %format!("service::telemetry::{key}"),
                "configuration reload: this section changed but takes effect only at restart"
            );
        }
    }
}
