//! Wiring: channels between components, built components, their tasks and the staged stop.
//!
//! [`Service::start`] reads as its build steps, each a small function: extensions (whose
//! capabilities later components find in the `Host`), the exporter queues and connector
//! inputs, each pipeline with its processor chain, connectors, exporters, receivers, and the
//! self-metrics listener last. Every component goes through the same [`Builder::build`] (its
//! `BuildContext`, its config's `build`, an error naming it); tasks are spawned only once
//! everything is built. Processors also learn from the graph when the data they take is safe
//! ([`safe_when`]): the batch processor settles receipts on taking data unless an exporter
//! downstream promises the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::BoxFuture;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentId, ComponentKind, ComponentStatus, DataKind,
    HealthRegistry, Host, Listeners, Output, OverflowPolicy, Parcel, PipelineId, Route, RunError,
    SafeWhen, Telemetry, component::Outputs,
};
use kafka_obs_config::{Config, Pipeline};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Batches a pipeline's input (and each hop between its processors) holds: small, because
/// these queues only smooth scheduling; the capacity that matters is the exporters'.
const PIPELINE_QUEUE: usize = 64;
/// Batches a connector's input holds.
const CONNECTOR_QUEUE: usize = 256;

/// Why the service did not start. Nothing is left running when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{kind} `{id}` could not be built: {source}")]
    Build {
        kind: ComponentKind,
        id: ComponentId,
        #[source]
        source: BuildError,
    },
    #[error("self-telemetry: {0}")]
    Telemetry(String),
}

/// What the staged shutdown observed.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Components that ended with an error (id, message).
    pub failed: Vec<(String, String)>,
    /// True when exporters did not finish flushing within the deadline.
    pub deadline_exceeded: bool,
}

type Task = (String, BoxFuture<'static, Result<(), RunError>>);

/// A running collector.
pub struct Service {
    receivers_stop: CancellationToken,
    exporters_abort: CancellationToken,
    extensions_stop: CancellationToken,
    receivers: JoinSet<(String, Result<(), RunError>)>,
    middle: JoinSet<(String, Result<(), RunError>)>,
    exporters: JoinSet<(String, Result<(), RunError>)>,
    extensions: JoinSet<(String, Result<(), RunError>)>,
    health: HealthRegistry,
    shutdown_timeout: Duration,
}

fn label(kind: ComponentKind, id: &ComponentId) -> String {
    format!("{kind}/{id}")
}

/// The three stop signals of the staged shutdown.
#[derive(Default)]
struct Stops {
    /// Receivers: stop now.
    receivers: CancellationToken,
    /// Processors, connectors and exporters: the drain deadline passed, abandon what is left.
    abort: CancellationToken,
    /// Extensions and self-telemetry: stop, after everything else.
    extensions: CancellationToken,
}

/// An exporter's queue as the pipelines see it.
struct ExporterQueue {
    tx: mpsc::Sender<Parcel>,
    policy: OverflowPolicy,
    settles_receipts: bool,
}

/// The ends every pipeline fans out to: exporter queues and connector inputs.
#[derive(Default)]
struct Ends {
    exporters: BTreeMap<ComponentId, ExporterQueue>,
    connectors: BTreeMap<ComponentId, mpsc::Sender<Parcel>>,
}

/// The receiving sides of [`Ends`], handed to each exporter and connector when it is built.
#[derive(Default)]
struct Inputs {
    exporters: BTreeMap<ComponentId, mpsc::Receiver<Parcel>>,
    connectors: BTreeMap<ComponentId, mpsc::Receiver<Parcel>>,
}

/// What every build step shares: the config, where components count and report, what the
/// extensions built so far offer, and which signals reach each component.
struct Builder<'a> {
    config: &'a Config,
    telemetry: &'a Telemetry,
    health: &'a HealthRegistry,
    listeners: &'a Listeners,
    host: Host,
    kinds_of: BTreeMap<ComponentId, Vec<DataKind>>,
}

impl<'a> Builder<'a> {
    fn new(
        config: &'a Config,
        telemetry: &'a Telemetry,
        health: &'a HealthRegistry,
        listeners: &'a Listeners,
    ) -> Self {
        // Which kinds reach each component, for its BuildContext.
        let mut kinds_of: BTreeMap<ComponentId, Vec<DataKind>> = BTreeMap::new();
        for (pid, p) in &config.pipelines {
            for id in p.receivers.iter().chain(&p.processors).chain(&p.exporters) {
                let v = kinds_of.entry(id.clone()).or_default();
                if !v.contains(&pid.kind) {
                    v.push(pid.kind);
                }
            }
        }
        Self {
            config,
            telemetry,
            health,
            listeners,
            host: Host::default(),
            kinds_of,
        }
    }

    fn kinds(&self, id: &ComponentId) -> Vec<DataKind> {
        self.kinds_of.get(id).cloned().unwrap_or_default()
    }

    /// The one way a component is built: its context, its config's `build`, and an error that
    /// names it.
    fn build<T>(
        &self,
        kind: ComponentKind,
        id: &ComponentId,
        kinds: Vec<DataKind>,
        build: impl FnOnce(&BuildContext) -> Result<T, BuildError>,
    ) -> Result<(BuildContext, T), StartError> {
        Self::build_in(self.context(kind, id, kinds), kind, id, build)
    }

    /// The context component `id` is built in.
    fn context(&self, kind: ComponentKind, id: &ComponentId, kinds: Vec<DataKind>) -> BuildContext {
        BuildContext::new(
            kind,
            id,
            self.telemetry,
            self.health,
            &self.host,
            self.listeners,
            kinds,
        )
    }

    /// [`Builder::build`] in a context the caller completed (a processor's [`SafeWhen`]).
    fn build_in<T>(
        ctx: BuildContext,
        kind: ComponentKind,
        id: &ComponentId,
        build: impl FnOnce(&BuildContext) -> Result<T, BuildError>,
    ) -> Result<(BuildContext, T), StartError> {
        let built = build(&ctx).map_err(|source| StartError::Build {
            kind,
            id: id.clone(),
            source,
        })?;
        Ok((ctx, built))
    }

    /// Step 1: extensions, in `service.extensions` order; each one's capability is offered to
    /// everything built after it.
    fn extensions(&mut self, stops: &Stops) -> Result<Vec<Task>, StartError> {
        let mut tasks = Vec::new();
        for (id, e) in &self.config.extensions {
            let (ctx, ext) = self.build(ComponentKind::Extension, id, Vec::new(), |c| {
                e.config.build(c)
            })?;
            if let Some(cap) = ext.capability() {
                self.host.insert(id.clone(), cap);
            }
            let rc = ctx.run_context(stops.extensions.clone());
            tasks.push((label(ComponentKind::Extension, id), ext.run(rc)));
        }
        Ok(tasks)
    }

    /// Step 3: one pipeline: input channel -> processor chain (built per pipeline, chained back to
    /// front) -> fan-out to its exporters and connectors. Returns its input and its tasks.
    fn pipeline(
        &self,
        pid: &PipelineId,
        p: &Pipeline,
        ends: &Ends,
        stops: &Stops,
    ) -> Result<(mpsc::Sender<Parcel>, Vec<Task>), StartError> {
        let (tx, rx) = mpsc::channel::<Parcel>(PIPELINE_QUEUE);
        let safe_when = safe_when(self.config, pid);
        let mut stages = Vec::new();
        for id in &p.processors {
            let Some(e) = self.config.processors.get(id) else {
                continue;
            };
            let kind = ComponentKind::Processor;
            let ctx = self
                .context(kind, id, vec![pid.kind])
                .with_safe_when(safe_when);
            let (ctx, proc_) = Self::build_in(ctx, kind, id, |c| e.config.build(c))?;
            stages.push((id.clone(), ctx, proc_));
        }
        let mut next_output = self.fan_out(pid, p, ends);
        let mut chain: Vec<Task> = Vec::new();
        for (id, ctx, proc_) in stages.into_iter().rev() {
            let (stx, srx) = mpsc::channel::<Parcel>(PIPELINE_QUEUE);
            let out = std::mem::replace(
                &mut next_output,
                Output::new(vec![Route {
                    target: format!("processor/{id} in {pid}"),
                    tx: stx,
                    policy: OverflowPolicy::Block,
                    passes_receipt: true,
                    dropped: Default::default(),
                }]),
            );
            let rc = ctx.run_context(stops.abort.clone());
            chain.push((
                label(ComponentKind::Processor, &id),
                proc_.run(srx, out, rc),
            ));
        }
        // The pipeline input feeds the first stage (or the fan-out directly).
        chain.push((format!("pipeline/{pid}"), pump(pid, rx, next_output)));
        Ok((tx, chain))
    }

    /// The routes at the end of pipeline `pid`: a counted `Drop` route per exporter queue (or
    /// its own policy), a blocking one per connector.
    fn fan_out(&self, pid: &PipelineId, p: &Pipeline, ends: &Ends) -> Output {
        let mut routes = Vec::new();
        for id in &p.exporters {
            if let Some(q) = ends.exporters.get(id) {
                routes.push(Route {
                    target: format!("exporter/{id}"),
                    tx: q.tx.clone(),
                    policy: q.policy,
                    passes_receipt: q.settles_receipts,
                    dropped: self
                        .telemetry
                        .exporter_enqueue_failed(&id.to_string(), pid.kind),
                });
            } else if let Some(tx) = ends.connectors.get(id) {
                routes.push(Route {
                    target: format!("connector/{id}"),
                    tx: tx.clone(),
                    policy: OverflowPolicy::Block,
                    passes_receipt: true,
                    dropped: self.telemetry.counter(
                        "kafka_obs_connector_dropped_items_total",
                        "Items a connector's input dropped.",
                        &[("connector", &id.to_string())],
                    ),
                });
            }
        }
        Output::new(routes)
    }

    /// Step 4: connectors: each reads its input and feeds the pipelines that list it as a receiver.
    fn connectors(
        &self,
        inputs: &mut Inputs,
        pipeline_inputs: &BTreeMap<PipelineId, mpsc::Sender<Parcel>>,
        stops: &Stops,
    ) -> Result<Vec<Task>, StartError> {
        let mut tasks = Vec::new();
        for (id, e) in &self.config.connectors {
            let (ctx, conn) = self.build(ComponentKind::Connector, id, self.kinds(id), |c| {
                e.config.build(c)
            })?;
            let Some(rx) = inputs.connectors.remove(id) else {
                continue;
            };
            let rc = ctx.run_context(stops.abort.clone());
            tasks.push((
                label(ComponentKind::Connector, id),
                conn.run(rx, self.outputs_for(id, pipeline_inputs), rc),
            ));
        }
        Ok(tasks)
    }

    /// Step 5: exporters, each reading its own queue.
    fn exporters(&self, inputs: &mut Inputs, stops: &Stops) -> Result<Vec<Task>, StartError> {
        let mut tasks = Vec::new();
        for (id, e) in &self.config.exporters {
            let (ctx, exp) = self.build(ComponentKind::Exporter, id, self.kinds(id), |c| {
                e.config.build(c)
            })?;
            let Some(rx) = inputs.exporters.remove(id) else {
                continue;
            };
            let rc = ctx.run_context(stops.abort.clone());
            tasks.push((label(ComponentKind::Exporter, id), exp.run(rx, rc)));
        }
        Ok(tasks)
    }

    /// Step 6: receivers, built last so a bind failure above costs nothing.
    fn receivers(
        &self,
        pipeline_inputs: &BTreeMap<PipelineId, mpsc::Sender<Parcel>>,
        stops: &Stops,
    ) -> Result<Vec<Task>, StartError> {
        let mut tasks = Vec::new();
        for (id, e) in &self.config.receivers {
            let (ctx, rec) = self.build(ComponentKind::Receiver, id, self.kinds(id), |c| {
                e.config.build(c)
            })?;
            let rc = ctx.run_context(stops.receivers.clone());
            tasks.push((
                label(ComponentKind::Receiver, id),
                rec.run(self.outputs_for(id, pipeline_inputs), rc),
            ));
        }
        Ok(tasks)
    }

    /// Where a receiver or connector sends each kind: the inputs of the pipelines listing it.
    fn outputs_for(
        &self,
        id: &ComponentId,
        pipeline_inputs: &BTreeMap<PipelineId, mpsc::Sender<Parcel>>,
    ) -> Outputs {
        let mut by_kind: BTreeMap<DataKind, Vec<Route>> = BTreeMap::new();
        for (pid, p) in &self.config.pipelines {
            if p.receivers.contains(id)
                && let Some(tx) = pipeline_inputs.get(pid)
            {
                by_kind.entry(pid.kind).or_default().push(Route {
                    target: format!("pipeline/{pid}"),
                    tx: tx.clone(),
                    policy: OverflowPolicy::Block,
                    passes_receipt: true,
                    dropped: Default::default(),
                });
            }
        }
        Outputs::new(
            by_kind
                .into_iter()
                .map(|(k, r)| (k, Output::new(r)))
                .collect(),
        )
    }
}

/// When data taken by pipeline `pid`'s processors is safe: on disk if any exporter it reaches
/// settles receipts itself (a persistent queue), following connectors into the pipelines they
/// feed (connectors pass receipts on with what they derive); once taken otherwise. Each
/// pipeline is visited once, so a connector cycle ends the walk.
fn safe_when(config: &Config, pid: &PipelineId) -> SafeWhen {
    let mut seen = BTreeSet::new();
    let mut to_visit = vec![pid];
    while let Some(pid) = to_visit.pop() {
        if !seen.insert(pid) {
            continue;
        }
        let Some(p) = config.pipelines.get(pid) else {
            continue;
        };
        for id in &p.exporters {
            if let Some(e) = config.exporters.get(id) {
                if e.config.settles_receipts() {
                    return SafeWhen::OnDisk;
                }
            } else if config.connectors.contains_key(id) {
                to_visit.extend(
                    config
                        .pipelines
                        .iter()
                        .filter(|(_, fed)| fed.receivers.contains(id))
                        .map(|(fed_id, _)| fed_id),
                );
            }
        }
    }
    SafeWhen::Taken
}

/// Step 2: the exporter queues (sized by each exporter's `queue()`) and connector inputs.
fn ends(config: &Config) -> (Ends, Inputs) {
    let mut ends = Ends::default();
    let mut inputs = Inputs::default();
    for (id, e) in &config.exporters {
        let q = e.config.queue();
        let (tx, rx) = mpsc::channel::<Parcel>(q.capacity.max(1));
        ends.exporters.insert(
            id.clone(),
            ExporterQueue {
                tx,
                policy: q.policy,
                settles_receipts: e.config.settles_receipts(),
            },
        );
        inputs.exporters.insert(id.clone(), rx);
    }
    for id in config.connectors.keys() {
        let (tx, rx) = mpsc::channel::<Parcel>(CONNECTOR_QUEUE);
        ends.connectors.insert(id.clone(), tx);
        inputs.connectors.insert(id.clone(), rx);
    }
    (ends, inputs)
}

/// A pipeline's input pump: one span per batch into the head of the chain.
fn pump(
    pid: &PipelineId,
    mut rx: mpsc::Receiver<Parcel>,
    head: Output,
) -> BoxFuture<'static, Result<(), RunError>> {
    let pipeline = pid.to_string();
    Box::pin(async move {
        while let Some(b) = rx.recv().await {
            // One span per batch, so the collector's own traces show its work.
            let span = tracing::info_span!(
                "pipeline",
                pipeline = %pipeline,
                data_type = %b.batch.kind(),
                items = b.batch.item_count()
            );
            // A drop on an exporter route is counted there; keep going for the others.
            let _ = head.send(b).instrument(span).await;
        }
        Ok(())
    })
}

/// Self-metrics pushed over OTLP, when configured; it runs beside the extensions.
fn otlp_push(config: &Config, telemetry: &Telemetry, stops: &Stops) -> Option<Task> {
    let push = config.telemetry.metrics.otlp.as_ref()?;
    let resource: Vec<(String, String)> = config
        .telemetry
        .resource
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some((
        "telemetry/otlp".into(),
        crate::self_telemetry::push_otlp(
            push.endpoint.clone(),
            push.interval,
            telemetry.clone(),
            resource,
            stops.extensions.clone(),
        ),
    ))
}

/// Queue depth gauges, sampled through weak handles so they never keep a queue open.
fn queue_gauges(ends: &Ends, telemetry: &Telemetry, stops: &Stops) -> Task {
    let sampled: Vec<_> = ends
        .exporters
        .iter()
        .map(|(id, q)| {
            let (g, capacity) = telemetry.exporter_queue(&id.to_string());
            capacity.set(q.tx.max_capacity() as i64);
            (q.tx.downgrade(), g)
        })
        .collect();
    let stop = stops.extensions.clone();
    (
        "telemetry/queues".into(),
        Box::pin(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return Ok(()),
                }
                for (weak, gauge) in &sampled {
                    if let Some(tx) = weak.upgrade() {
                        gauge.set((tx.max_capacity() - tx.capacity()) as i64);
                    } else {
                        gauge.set(0);
                    }
                }
            }
        }),
    )
}

/// Self-metrics over HTTP. Its listener is bound last, so a /metrics that answers means every
/// component's listener is bound too (what scripts and tests wait for).
fn prometheus(
    config: &Config,
    telemetry: &Telemetry,
    listeners: &Listeners,
    stops: &Stops,
) -> Result<Option<Task>, StartError> {
    let Some(address) = &config.telemetry.metrics.address else {
        return Ok(None);
    };
    let (_, fut) = crate::self_telemetry::serve_prometheus(
        listeners,
        address,
        telemetry.clone(),
        stops.extensions.clone(),
    )
    .map_err(StartError::Telemetry)?;
    Ok(Some(("telemetry/prometheus".into(), fut)))
}

/// Spawns `tasks` into one set, marking each running, then stopped or failed as it ends.
fn spawn_all(tasks: Vec<Task>, health: &HealthRegistry) -> JoinSet<(String, Result<(), RunError>)> {
    let mut set = JoinSet::new();
    for (name, fut) in tasks {
        health.set(&name, ComponentStatus::Running);
        let health = health.clone();
        set.spawn(async move {
            let r = fut.await;
            match &r {
                Ok(()) => health.set(&name, ComponentStatus::Stopped),
                Err(e) => {
                    tracing::error!(component = %name, error = %e, "component failed");
                    health.set(&name, ComponentStatus::Failed(e.to_string()));
                }
            }
            (name, r)
        });
    }
    set
}

impl Service {
    /// Builds every component of `config` and starts the tasks. Everything is built before
    /// any task runs, so a build error leaves nothing running; the build order is extensions,
    /// queues, pipelines (with their processors), connectors, exporters, receivers, and the
    /// self-metrics listener last.
    pub fn start(
        config: &Config,
        telemetry: &Telemetry,
        health: &HealthRegistry,
    ) -> Result<Service, StartError> {
        Self::start_with(config, telemetry, health, &Listeners::new())
    }

    /// [`Service::start`] taking its listening sockets from `listeners`, a pool that outlives
    /// this service so a reload hands them to the next one (`crate::reload`).
    pub fn start_with(
        config: &Config,
        telemetry: &Telemetry,
        health: &HealthRegistry,
        listeners: &Listeners,
    ) -> Result<Service, StartError> {
        let stops = Stops::default();
        let mut builder = Builder::new(config, telemetry, health, listeners);

        let mut extension_tasks = builder.extensions(&stops)?;
        extension_tasks.extend(otlp_push(config, telemetry, &stops));

        let (ends, mut inputs) = ends(config);
        let mut pipeline_inputs = BTreeMap::new();
        let mut middle_tasks: Vec<Task> = Vec::new();
        for (pid, p) in &config.pipelines {
            let (tx, tasks) = builder.pipeline(pid, p, &ends, &stops)?;
            pipeline_inputs.insert(pid.clone(), tx);
            middle_tasks.extend(tasks);
        }
        extension_tasks.push(queue_gauges(&ends, telemetry, &stops));
        // Only the pipelines hold the exporters' and connectors' senders from here on.
        drop(ends);

        middle_tasks.extend(builder.connectors(&mut inputs, &pipeline_inputs, &stops)?);
        let exporter_tasks = builder.exporters(&mut inputs, &stops)?;
        let receiver_tasks = builder.receivers(&pipeline_inputs, &stops)?;
        drop(pipeline_inputs);
        extension_tasks.extend(prometheus(config, telemetry, listeners, &stops)?);

        // Everything is built: start, back to front.
        let extensions = spawn_all(extension_tasks, health);
        let exporters = spawn_all(exporter_tasks, health);
        let middle = spawn_all(middle_tasks, health);
        let receivers = spawn_all(receiver_tasks, health);
        tracing::info!(pipelines = config.pipelines.len(), "everything is ready");
        Ok(Service {
            receivers_stop: stops.receivers,
            exporters_abort: stops.abort,
            extensions_stop: stops.extensions,
            receivers,
            middle,
            exporters,
            extensions,
            health: health.clone(),
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    pub fn health(&self) -> &HealthRegistry {
        &self.health
    }

    /// Staged stop: receivers, then processors drain, then exporters flush within the deadline.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        tracing::info!("stopping receivers");
        self.receivers_stop.cancel();
        collect(&mut self.receivers, &mut report, deadline).await;
        tracing::info!("draining processors");
        collect(&mut self.middle, &mut report, deadline).await;
        tracing::info!("flushing exporters");
        if !collect(&mut self.exporters, &mut report, deadline).await {
            report.deadline_exceeded = true;
            tracing::warn!(timeout = ?self.shutdown_timeout, "exporters did not flush in time; abandoning what is left");
            self.exporters_abort.cancel();
            let grace = tokio::time::Instant::now() + Duration::from_secs(2);
            if !collect(&mut self.exporters, &mut report, grace).await {
                self.exporters.abort_all();
            }
            self.middle.abort_all();
        }
        self.extensions_stop.cancel();
        let grace = tokio::time::Instant::now() + Duration::from_secs(2);
        if !collect(&mut self.extensions, &mut report, grace).await {
            self.extensions.abort_all();
        }
        report
    }
}

/// Waits for every task of `set` until `deadline`; true when all ended.
async fn collect(
    set: &mut JoinSet<(String, Result<(), RunError>)>,
    report: &mut ShutdownReport,
    deadline: tokio::time::Instant,
) -> bool {
    loop {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(None) => return true,
            Ok(Some(Ok((_, Ok(()))))) => {}
            Ok(Some(Ok((name, Err(e))))) => report.failed.push((name, e.to_string())),
            Ok(Some(Err(join))) => report.failed.push(("task".into(), join.to_string())),
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_api::{
        ComponentConfig, ConnectorConfig, ConnectorFactory, Exporter, ExporterConfig,
        ExporterFactory, FactoryMeta, Receiver, ReceiverConfig, ReceiverFactory, Stability,
        component::Connector,
    };
    use kafka_obs_config::Registry;

    /// A component that is only validated here: `settles` is what an exporter says of receipts.
    #[derive(Debug)]
    struct Stub {
        settles: bool,
    }

    impl ComponentConfig for Stub {}

    impl ReceiverConfig for Stub {
        fn build(&self, _: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
            Err(BuildError::Other("not built in this test".into()))
        }
    }

    impl ExporterConfig for Stub {
        fn settles_receipts(&self) -> bool {
            self.settles
        }
        fn build(&self, _: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
            Err(BuildError::Other("not built in this test".into()))
        }
    }

    impl ConnectorConfig for Stub {
        fn build(&self, _: &BuildContext) -> Result<Box<dyn Connector>, BuildError> {
            Err(BuildError::Other("not built in this test".into()))
        }
    }

    fn meta(type_name: &'static str) -> FactoryMeta {
        FactoryMeta {
            type_name,
            aliases: &[],
            stability: Stability::Alpha,
            kinds: &[DataKind::Metrics, DataKind::Logs],
            description: "test",
        }
    }

    /// `rx` receives, `memory` queues in memory, `disk` settles receipts on disk, `derive`
    /// turns metrics into logs.
    fn registry() -> Registry {
        Registry {
            receivers: vec![ReceiverFactory::new(meta("rx"), |_| {
                Ok(Box::new(Stub { settles: false }))
            })],
            exporters: vec![
                ExporterFactory::new(meta("memory"), |_| Ok(Box::new(Stub { settles: false }))),
                ExporterFactory::new(meta("disk"), |_| Ok(Box::new(Stub { settles: true }))),
            ],
            connectors: vec![
                ConnectorFactory::new(meta("derive"), |_| Ok(Box::new(Stub { settles: false })))
                    .joining(&[(DataKind::Metrics, DataKind::Logs)]),
            ],
            ..Registry::default()
        }
    }

    /// `safe_when` of every pipeline of `pipelines` (the `service.pipelines` body).
    fn safe_when_of(pipelines: &str) -> BTreeMap<String, SafeWhen> {
        let yaml = format!(
            "receivers:\n  rx:\nexporters:\n  memory:\n  disk:\nconnectors:\n  derive:\nservice:\n  pipelines:\n{pipelines}"
        );
        // Tests run in parallel: one file each.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = std::env::temp_dir().join(format!(
            "kafka-obs-safe-when-{}-{n}.yaml",
            std::process::id()
        ));
        std::fs::write(&file, yaml).expect("write the test config");
        let config = kafka_obs_config::load(std::slice::from_ref(&file), &registry());
        let _ = std::fs::remove_file(&file);
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        config
            .pipelines
            .keys()
            .map(|pid| (pid.to_string(), safe_when(&config, pid)))
            .collect()
    }

    #[test]
    fn memory_queues_only_make_data_safe_once_taken() {
        let got = safe_when_of("    metrics: {receivers: [rx], exporters: [memory]}\n");
        assert_eq!(got["metrics"], SafeWhen::Taken);
    }

    #[test]
    fn one_disk_queue_among_the_exporters_makes_it_wait() {
        let got = safe_when_of("    metrics: {receivers: [rx], exporters: [memory, disk]}\n");
        assert_eq!(got["metrics"], SafeWhen::OnDisk);
    }

    #[test]
    fn the_walk_follows_connectors_into_the_pipelines_they_feed() {
        let got = safe_when_of(
            "    metrics: {receivers: [rx], exporters: [derive, memory]}\n    logs: {receivers: [derive], exporters: [disk]}\n",
        );
        assert_eq!(
            got["metrics"],
            SafeWhen::OnDisk,
            "disk behind the connector"
        );
        assert_eq!(got["logs"], SafeWhen::OnDisk);
        let got = safe_when_of(
            "    metrics: {receivers: [rx], exporters: [derive]}\n    logs: {receivers: [derive], exporters: [memory]}\n    logs/other: {receivers: [rx], exporters: [disk]}\n",
        );
        assert_eq!(
            got["metrics"],
            SafeWhen::Taken,
            "a disk queue in a pipeline the data does not reach does not count"
        );
        assert_eq!(got["logs/other"], SafeWhen::OnDisk);
    }
}
