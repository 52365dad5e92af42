//! Receiver `cgroup`: the container's own resources, read from its cgroup (v2, or v1's
//! per-controller tree) and `/proc`, as OpenTelemetry's container metrics.
//!
//! Modules, in data-flow order: [`config`] (keys, validated), [`files`] (where the cgroup is,
//! and its CPU, throttling, memory and OOM values), [`process`] (the watched process: restarts
//! as start-time changes, open file descriptors against their limit), [`convert`] (readings to
//! OTLP, the names the `container` rule pack reads).
//!
//! Like hostmetrics, everything is read below `root_path`, so a sidecar with the host's
//! filesystem mounted, or a test with a fixture tree, points it elsewhere. What it cannot
//! read (a missing cgroup file, a process in another process namespace) is logged once when
//! it starts failing, counted, and left out of the metrics; the receiver keeps polling.
//! `build` touches nothing but `root_path`'s existence; `run` polls on the blocking pool
//! (file reads) every `collection_interval` until shutdown.

pub mod config;
pub mod convert;
pub mod files;
pub mod process;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracing::{debug, info, warn};

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfig, ComponentConfigError, ComponentTelemetry,
    Counter, DataKind, FactoryMeta, Gauge, Outputs, Receiver, ReceiverConfig, ReceiverFactory,
    RunContext, RunError, Stability, Transport, parse_component_config,
};

pub use config::{CgroupReceiverConfig, DownwardApi, ProcessMatch};
use convert::ProcessPart;
use files::{CgroupReading, Layout};
use process::{ProcessReading, Watcher};

use crate::jmx::string_kv;

/// Makes `cgroup` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "cgroup",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics],
        description: "the container's own CPU, throttling, memory, OOM kills, restarts and file descriptors, from cgroup v1/v2 and /proc",
    },
    |config| Ok(Box::new(CgroupReceiverConfig::parse(config)?)),
);

impl CgroupReceiverConfig {
    /// Parses and checks the YAML body of a `cgroup` receiver (an empty body is all defaults).
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        if value.is_null() {
            return config::RawConfig::default().resolve();
        }
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// The resource of every poll: the configured attributes, then the downward API's
    /// variables where they are set and not configured.
    pub fn resource(&self, env: impl Fn(&str) -> Option<String>) -> Resource {
        let mut attributes: Vec<_> = self
            .resource_attributes
            .iter()
            .map(|(k, v)| string_kv(k, v))
            .collect();
        let d = &self.downward_api;
        let from_env = [
            ("k8s.pod.name", &d.pod_name_env),
            ("k8s.namespace.name", &d.namespace_env),
            ("container.name", &d.container_name_env),
            ("k8s.container.name", &d.container_name_env),
        ];
        for (key, var) in from_env {
            if self.resource_attributes.contains_key(key) {
                continue;
            }
            if let Some(value) = env(var).filter(|v| !v.is_empty()) {
                attributes.push(string_kv(key, &value));
            }
        }
        Resource {
            attributes,
            ..Default::default()
        }
    }
}

impl ComponentConfig for CgroupReceiverConfig {}

impl ReceiverConfig for CgroupReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        if !self.root_path.is_dir() {
            return Err(BuildError::Other(format!(
                "receivers::{}::root_path: `{}` is not a directory; mount the host filesystem there or write /",
                ctx.id,
                self.root_path.display()
            )));
        }
        Ok(Box::new(CgroupReceiver {
            config: self.clone(),
        }))
    }
}

/// A built `cgroup` receiver, not yet polling.
#[derive(Debug)]
pub struct CgroupReceiver {
    config: CgroupReceiverConfig,
}

/// What one poll read, and its metrics.
#[derive(Debug, Clone)]
pub struct Poll {
    pub layout: Layout,
    pub cgroup: CgroupReading,
    pub process: Option<ProcessReading>,
    /// The watched process's cgroup when it is not under this root (the values are then this
    /// container's own cgroup's).
    pub foreign_cgroup: Option<String>,
    pub batch: Batch,
}

/// Reads the cgroup and the watched process; keeps what lasts between polls (restarts).
#[derive(Debug)]
pub struct Scraper {
    root: PathBuf,
    cgroup_path: Option<String>,
    watcher: Option<Watcher>,
    resource: Resource,
    start_ns: u64,
}

impl Scraper {
    pub fn new(config: &CgroupReceiverConfig, resource: Resource) -> Self {
        Self {
            root: config.root_path.clone(),
            cgroup_path: config.cgroup_path.clone(),
            watcher: config
                .process
                .clone()
                .map(|m| Watcher::new(&config.root_path, m)),
            resource,
            start_ns: unix_nanos(),
        }
    }

    /// One poll: the process first (its cgroup is the one to read), then the cgroup.
    pub fn poll(&mut self) -> Poll {
        let process = self.watcher.as_mut().map(Watcher::poll);
        // The watched process's cgroup when it is visible, else our own.
        let own = std::fs::read_to_string(self.root.join("proc/self/cgroup")).unwrap_or_default();
        let watched = self
            .watcher
            .as_ref()
            .and_then(Watcher::pid)
            .filter(|_| process.as_ref().is_some_and(|p| p.identity.is_some()))
            .and_then(|pid| {
                std::fs::read_to_string(self.root.join(format!("proc/{pid}/cgroup"))).ok()
            });
        let configured = self.cgroup_path.as_deref();
        let layout = files::locate(&self.root, watched.as_deref().unwrap_or(&own), configured);
        // A watched process in another cgroup that is not mounted here (another container,
        // seen through a shared process namespace) falls back to the mount's root: our own
        // container. Say so rather than report our cgroup as the process's.
        let foreign_cgroup = match &watched {
            Some(text) if configured.is_none() && *text != own => {
                (!files::is_mounted(&layout, text)).then(|| text.trim().to_owned())
            }
            _ => None,
        };
        let cgroup = files::read(&layout);
        let part = process.as_ref().map(|reading| ProcessPart {
            reading,
            restarts: self
                .watcher
                .as_ref()
                .filter(|w| w.seen())
                .map(Watcher::restarts),
        });
        let request =
            convert::to_request(&cgroup, part, &self.resource, self.start_ns, unix_nanos());
        Poll {
            layout,
            cgroup,
            process,
            foreign_cgroup,
            batch: Batch::Metrics(request),
        }
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Self-metrics, and the state that keeps each problem to one log line while it lasts.
#[derive(Debug)]
struct Health {
    receiver: String,
    unreadable: Counter,
    invalid: Counter,
    process_visible: Gauge,
    cgroup_failing: bool,
    process_failing: bool,
    foreign_cgroup: bool,
}

impl Health {
    fn new(telemetry: &ComponentTelemetry, receiver: String, watching: bool) -> Self {
        let process_visible = telemetry.gauge(
            "kafka_obs_cgroup_process_visible",
            "1 if the watched process was found and read at the last poll, else 0 (no shared process namespace, gone, another user's).",
            &[],
        );
        if !watching {
            process_visible.set(0);
        }
        Self {
            receiver,
            unreadable: telemetry.counter(
                "kafka_obs_cgroup_unreadable_files_total",
                "cgroup files the cgroup receiver could not read at a poll (missing, no permission); their metrics are left out.",
                &[],
            ),
            invalid: telemetry.counter(
                "kafka_obs_cgroup_invalid_files_total",
                "cgroup files whose content did not parse at a poll; their metrics are left out.",
                &[],
            ),
            process_visible,
            cgroup_failing: false,
            process_failing: false,
            foreign_cgroup: false,
        }
    }

    fn record(&mut self, poll: &Poll) {
        let c = &poll.cgroup;
        self.unreadable.add(c.missing.len() as u64);
        self.invalid.add(c.invalid.len() as u64);
        let failing = !c.missing.is_empty() || !c.invalid.is_empty();
        if failing && !self.cgroup_failing {
            let list = |paths: &[PathBuf]| {
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            warn!(
                receiver = %self.receiver,
                cgroup = %poll.layout.memory_dir().display(),
                version = poll.layout.version(),
                unreadable = %list(&c.missing),
                invalid = %list(&c.invalid),
                "cgroup files cannot be read; their metrics are left out until they can (is root_path right? is /sys/fs/cgroup mounted?)"
            );
        } else if !failing && self.cgroup_failing {
            info!(receiver = %self.receiver, "cgroup files readable again");
        }
        self.cgroup_failing = failing;
        if let Some(path) = &poll.foreign_cgroup
            && !self.foreign_cgroup
        {
            warn!(
                receiver = %self.receiver,
                process_cgroup = %path,
                reading = %poll.layout.memory_dir().display(),
                "the watched process's cgroup is not mounted here; the cgroup values are this container's own (mount the host's /sys/fs/cgroup and set root_path, or set cgroup_path)"
            );
        }
        self.foreign_cgroup = poll.foreign_cgroup.is_some();
        if let Some(p) = &poll.process {
            self.process_visible
                .set(i64::from(p.identity.is_some() && p.open_fds.is_some()));
            match (&p.problem, self.process_failing) {
                (Some(problem), false) => warn!(
                    receiver = %self.receiver,
                    problem = %problem,
                    "the watched process cannot be seen; its restarts and file descriptors are not reported until it can"
                ),
                (None, true) => {
                    info!(receiver = %self.receiver, "the watched process is visible again")
                }
                _ => {}
            }
            self.process_failing = p.problem.is_some();
        }
    }
}

impl Receiver for CgroupReceiver {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        async move {
            let Some(output) = outputs.get(DataKind::Metrics).cloned() else {
                warn!(receiver = %ctx.id, "cgroup receiver is in no metrics pipeline; nothing to do");
                ctx.shutdown.cancelled().await;
                return Ok(());
            };
            let config = self.config;
            let accepted = ctx.telemetry.accepted(DataKind::Metrics, Transport::Scraper);
            let refused = ctx.telemetry.refused(DataKind::Metrics, Transport::Scraper);
            let mut health = Health::new(&ctx.telemetry, ctx.id.to_string(), config.process.is_some());
            let resource = config.resource(|var| std::env::var(var).ok());
            let mut scraper = Some(Scraper::new(&config, resource));
            info!(
                receiver = %ctx.id,
                root_path = %config.root_path.display(),
                interval_ms = config.collection_interval.as_millis() as u64,
                watching_process = config.process.is_some(),
                "cgroup receiver started"
            );
            tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(config.initial_delay) => {}
            }
            let mut ticker = tokio::time::interval(config.collection_interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let Some(mut s) = scraper.take() else { break };
                // File reads block: on the blocking pool, handing the scraper there and back.
                let joined = tokio::task::spawn_blocking(move || {
                    let poll = s.poll();
                    (s, poll)
                })
                .await;
                let Ok((s, poll)) = joined else {
                    warn!(receiver = %ctx.id, "a cgroup poll panicked; the receiver stops");
                    break;
                };
                scraper = Some(s);
                health.record(&poll);
                let items = poll.batch.item_count() as u64;
                if items == 0 {
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => break,
                    r = output.send(poll.batch) => match r {
                        Ok(()) => accepted.add(items),
                        Err(e) => {
                            refused.add(items);
                            debug!(receiver = %ctx.id, error = %e, "cgroup poll not accepted by the pipeline");
                        }
                    }
                }
            }
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
