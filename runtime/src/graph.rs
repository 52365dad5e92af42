//! Wiring: channels between components, built components, their tasks and the staged stop.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentId, ComponentKind, ComponentStatus, DataKind,
    HealthRegistry, Host, Output, OverflowPolicy, Parcel, PipelineId, Route, RunContext, RunError,
    Telemetry, component::Outputs,
};
use kafka_obs_config::Config;
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

fn ctx(
    id: &ComponentId,
    kind: ComponentKind,
    telemetry: &Telemetry,
    health: &HealthRegistry,
    host: &Host,
    kinds: Vec<DataKind>,
) -> BuildContext {
    BuildContext {
        id: id.clone(),
        telemetry: telemetry.component(kind, id),
        health: health.clone(),
        host: host.clone(),
        kinds,
    }
}

fn label(kind: ComponentKind, id: &ComponentId) -> String {
    format!("{kind}/{id}")
}

impl Service {
    /// Builds every component of `config` and starts the tasks.
    pub fn start(
        config: &Config,
        telemetry: &Telemetry,
        health: &HealthRegistry,
    ) -> Result<Service, StartError> {
        let receivers_stop = CancellationToken::new();
        let exporters_abort = CancellationToken::new();
        let extensions_stop = CancellationToken::new();
        let build_err = |kind, id: &ComponentId| {
            let id = id.clone();
            move |source| StartError::Build { kind, id, source }
        };

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
        let kinds = |id: &ComponentId| kinds_of.get(id).cloned().unwrap_or_default();

        // 1. Extensions (their capabilities are offered to everything built after them).
        let mut host = Host::default();
        let mut extension_tasks: Vec<Task> = Vec::new();
        for (id, e) in &config.extensions {
            let c = ctx(
                id,
                ComponentKind::Extension,
                telemetry,
                health,
                &host,
                Vec::new(),
            );
            let ext = e
                .config
                .build(&c)
                .map_err(build_err(ComponentKind::Extension, id))?;
            if let Some(cap) = ext.capability() {
                host.insert(id.clone(), cap);
            }
            let rc = run_ctx(&c, extensions_stop.clone());
            extension_tasks.push((label(ComponentKind::Extension, id), ext.run(rc)));
        }

        let resource: Vec<(String, String)> = config
            .telemetry
            .resource
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(push) = &config.telemetry.metrics.otlp {
            extension_tasks.push((
                "telemetry/otlp".into(),
                crate::self_telemetry::push_otlp(
                    push.endpoint.clone(),
                    push.interval,
                    telemetry.clone(),
                    resource,
                    extensions_stop.clone(),
                ),
            ));
        }

        // 2. Exporter queues and connector inputs: the ends every pipeline fans out to.
        let mut exporter_inputs = BTreeMap::new();
        let mut exporter_queues = BTreeMap::new();
        for (id, e) in &config.exporters {
            let q = e.config.queue();
            let (tx, rx) = mpsc::channel::<Parcel>(q.capacity.max(1));
            exporter_queues.insert(id.clone(), (tx, q.policy, e.config.settles_receipts()));
            exporter_inputs.insert(id.clone(), rx);
        }
        let mut connector_inputs = BTreeMap::new();
        let mut connector_txs = BTreeMap::new();
        for id in config.connectors.keys() {
            let (tx, rx) = mpsc::channel::<Parcel>(CONNECTOR_QUEUE);
            connector_txs.insert(id.clone(), tx);
            connector_inputs.insert(id.clone(), rx);
        }

        // 3. Pipelines: input channel -> processor chain -> fan-out.
        let mut pipeline_inputs: BTreeMap<PipelineId, mpsc::Sender<Parcel>> = BTreeMap::new();
        let mut middle_tasks: Vec<Task> = Vec::new();
        for (pid, p) in &config.pipelines {
            let (tx, mut rx) = mpsc::channel::<Parcel>(PIPELINE_QUEUE);
            pipeline_inputs.insert(pid.clone(), tx);
            let mut exporters_out = Vec::new();
            for id in &p.exporters {
                if let Some((etx, policy, settles)) = exporter_queues.get(id) {
                    exporters_out.push(Route {
                        target: format!("exporter/{id}"),
                        tx: etx.clone(),
                        policy: *policy,
                        passes_receipt: *settles,
                        dropped: telemetry.counter(
                            "kafka_obs_exporter_enqueue_failed_items_total",
                            "Items dropped because an exporter's queue was full.",
                            &[
                                ("exporter", &id.to_string()),
                                ("data_type", pid.kind.as_str()),
                            ],
                        ),
                    });
                } else if let Some(ctx_tx) = connector_txs.get(id) {
                    exporters_out.push(Route {
                        target: format!("connector/{id}"),
                        tx: ctx_tx.clone(),
                        policy: OverflowPolicy::Block,
                        passes_receipt: true,
                        dropped: telemetry.counter(
                            "kafka_obs_connector_dropped_items_total",
                            "Items a connector's input dropped.",
                            &[("connector", &id.to_string())],
                        ),
                    });
                }
            }
            // Processors are instantiated per pipeline and chained back to front.
            let mut stages = Vec::new();
            for id in &p.processors {
                let Some(e) = config.processors.get(id) else {
                    continue;
                };
                let c = ctx(
                    id,
                    ComponentKind::Processor,
                    telemetry,
                    health,
                    &host,
                    vec![pid.kind],
                );
                let proc_ = e
                    .config
                    .build(&c)
                    .map_err(build_err(ComponentKind::Processor, id))?;
                stages.push((id.clone(), c, proc_));
            }
            let final_output = Output::new(exporters_out);
            let mut next_output = final_output;
            let mut chain: Vec<Task> = Vec::new();
            for (id, c, proc_) in stages.into_iter().rev() {
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
                let rc = run_ctx(&c, exporters_abort.clone());
                chain.push((
                    label(ComponentKind::Processor, &id),
                    proc_.run(srx, out, rc),
                ));
            }
            // The pipeline input feeds the first stage (or the fan-out directly).
            let head = next_output;
            let pump_name = format!("pipeline/{pid}");
            let pipeline = pid.to_string();
            chain.push((
                pump_name,
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
                }),
            ));
            middle_tasks.extend(chain);
        }
        // Queue depth gauges, sampled through weak handles so they never keep a queue open.
        let sampled: Vec<_> = exporter_queues
            .iter()
            .map(|(id, (tx, _, _))| {
                let labels = [("exporter", id.to_string())];
                let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                telemetry
                    .gauge(
                        "kafka_obs_exporter_queue_capacity",
                        "Batches an exporter's queue holds.",
                        &l,
                    )
                    .set(tx.max_capacity() as i64);
                let g = telemetry.gauge(
                    "kafka_obs_exporter_queue_size",
                    "Batches waiting in an exporter's queue.",
                    &l,
                );
                (tx.downgrade(), g)
            })
            .collect();
        let stop = extensions_stop.clone();
        extension_tasks.push((
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
        ));
        drop(exporter_queues);
        drop(connector_txs);

        let outputs_for = |id: &ComponentId| -> Outputs {
            let mut by_kind: BTreeMap<DataKind, Vec<Route>> = BTreeMap::new();
            for (pid, p) in &config.pipelines {
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
        };

        // 4. Connectors.
        for (id, e) in &config.connectors {
            let c = ctx(
                id,
                ComponentKind::Connector,
                telemetry,
                health,
                &host,
                kinds(id),
            );
            let conn = e
                .config
                .build(&c)
                .map_err(build_err(ComponentKind::Connector, id))?;
            let Some(rx) = connector_inputs.remove(id) else {
                continue;
            };
            let rc = run_ctx(&c, exporters_abort.clone());
            middle_tasks.push((
                label(ComponentKind::Connector, id),
                conn.run(rx, outputs_for(id), rc),
            ));
        }

        // 5. Exporters.
        let mut exporter_tasks: Vec<Task> = Vec::new();
        for (id, e) in &config.exporters {
            let c = ctx(
                id,
                ComponentKind::Exporter,
                telemetry,
                health,
                &host,
                kinds(id),
            );
            let exp = e
                .config
                .build(&c)
                .map_err(build_err(ComponentKind::Exporter, id))?;
            let Some(rx) = exporter_inputs.remove(id) else {
                continue;
            };
            let rc = run_ctx(&c, exporters_abort.clone());
            exporter_tasks.push((label(ComponentKind::Exporter, id), exp.run(rx, rc)));
        }

        // 6. Receivers, built last so a bind failure above costs nothing.
        let mut receiver_tasks: Vec<Task> = Vec::new();
        for (id, e) in &config.receivers {
            let c = ctx(
                id,
                ComponentKind::Receiver,
                telemetry,
                health,
                &host,
                kinds(id),
            );
            let rec = e
                .config
                .build(&c)
                .map_err(build_err(ComponentKind::Receiver, id))?;
            let rc = run_ctx(&c, receivers_stop.clone());
            receiver_tasks.push((
                label(ComponentKind::Receiver, id),
                rec.run(outputs_for(id), rc),
            ));
        }
        drop(pipeline_inputs);

        // Self-telemetry runs beside the extensions and stops with them, after the exporters.
        // Its listener is bound last, so a /metrics that answers means every component's
        // listener is bound too (what scripts and tests wait for).
        if let Some(address) = &config.telemetry.metrics.address {
            let (_, fut) = crate::self_telemetry::serve_prometheus(
                address,
                telemetry.clone(),
                extensions_stop.clone(),
            )
            .map_err(StartError::Telemetry)?;
            extension_tasks.push(("telemetry/prometheus".into(), fut));
        }

        // Everything is built: start, back to front.
        let spawn_all = |tasks: Vec<Task>| {
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
        };
        let extensions = spawn_all(extension_tasks);
        let exporters = spawn_all(exporter_tasks);
        let middle = spawn_all(middle_tasks);
        let receivers = spawn_all(receiver_tasks);
        tracing::info!(pipelines = config.pipelines.len(), "everything is ready");
        Ok(Service {
            receivers_stop,
            exporters_abort,
            extensions_stop,
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
        tracing::info!("shutting down: stopping receivers");
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

fn run_ctx(c: &BuildContext, shutdown: CancellationToken) -> RunContext {
    RunContext {
        id: c.id.clone(),
        telemetry: c.telemetry.clone(),
        health: c.health.clone(),
        shutdown,
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
