//! Connector `hierarchy`: the cell engine ([`kafka_obs_cells::Hierarchy`]) as a pipeline
//! component, with the I/O the engine leaves out.
//!
//! Routes (exporter side -> receiver side): logs -> logs, logs -> metrics, logs -> traces,
//! and the same from metrics (the `kafka_obs.status` gauge read as Statuses signals):
//!
//! ```yaml
//! connectors:
//!   hierarchy:
//!     api: {endpoint: 127.0.0.1:8080}
//! service:
//!   pipelines:
//!     logs/in:       {receivers: [otlp], exporters: [hierarchy]}
//!     logs/out:      {receivers: [hierarchy], exporters: [otlp/backend]}
//!     metrics/out:   {receivers: [hierarchy], exporters: [otlp/backend]}
//!     traces/out:    {receivers: [hierarchy], exporters: [otlp/backend]}
//! ```
//!
//! One task owns the engine, so the hot path takes no lock: it ingests each parcel's signals,
//! turns the events into outputs (each carrying a share of the parcel's receipt, which is
//! settled once the signals are in the engine and the derived data was handed on), hands
//! performed notifications to the webhook's own task through a bounded queue (a full queue
//! drops and counts), answers the API's questions, ticks the engine's clock every
//! `tick_interval`, exports the status gauge every `export.status_interval` and publishes
//! the live snapshot when something changed. The API server and the webhook sender are
//! their own tasks and stop when the engine's task ends (its input closed after the
//! pipelines drained, or the shutdown deadline passed).
//!
//! This file holds the factory, the build (listener, authenticator, webhook) and the task's
//! loop; `engine.rs` the task's state (intake, revocations, the API's answers), `events.rs`
//! what events become and how outputs are handed on, `counters.rs` the self-metrics.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_obs_api::{
    AuthCapability, Batch, BuildContext, BuildError, ComponentConfig, Connector, ConnectorConfig,
    ConnectorFactory, DataKind, ExtensionRef, FactoryMeta, Outputs, Parcel, Receipt, RunContext,
    RunError, Stability,
};
use kafka_obs_cells::{Hierarchy, IncidentsView, Stats};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiServer, Ask, Snapshot};
use crate::config::HierarchyConnectorConfig;
use crate::input;
use crate::notify::{Webhook, now_unix_nano};

mod counters;
mod engine;
mod events;
mod federation;

use counters::{Counters, api_counters, webhook_counters};
use engine::Core;

/// Makes `hierarchy` connectors.
pub static FACTORY: ConnectorFactory = ConnectorFactory::new(
    FactoryMeta {
        type_name: "hierarchy",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Logs, DataKind::Metrics],
        description: "The cell hierarchy: signals -> cells, situations, incidents with root-cause chains; notifications, OTLP outputs, query API and live web view",
    },
    |config| Ok(Box::new(HierarchyConnectorConfig::parse(config)?)),
)
.joining(ROUTES);

static ROUTES: &[(DataKind, DataKind)] = &[
    (DataKind::Logs, DataKind::Logs),
    (DataKind::Logs, DataKind::Metrics),
    (DataKind::Logs, DataKind::Traces),
    (DataKind::Metrics, DataKind::Logs),
    (DataKind::Metrics, DataKind::Metrics),
    (DataKind::Metrics, DataKind::Traces),
];

/// Questions from the API waiting for the engine.
const QUERY_QUEUE: usize = 64;
/// Recovery times kept for incident traces (paths that went back to NORMAL).
pub(crate) const MAX_RECOVERED: usize = 10_000;

impl ComponentConfig for HierarchyConnectorConfig {
    fn listen_addresses(&self) -> Vec<(String, String)> {
        HierarchyConnectorConfig::listen_addresses(self)
    }
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        HierarchyConnectorConfig::extension_refs(self)
    }
}

impl ConnectorConfig for HierarchyConnectorConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Connector>, BuildError> {
        let hierarchy = Hierarchy::new(self.engine.clone())
            .map_err(|e| BuildError::Other(format!("{}: {}", e.key, e.message)))?;
        let t = &ctx.telemetry;
        let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::new(
            0,
            now_unix_nano(),
            None,
            IncidentsView {
                open: Vec::new(),
                closed: Vec::new(),
            },
            Stats::default(),
        )));
        let (query_tx, query_rx) = mpsc::channel(QUERY_QUEUE);
        let mut generator = String::new();
        let api = match &self.api {
            None => None,
            Some(api) => {
                let listener = kafka_obs_net::listen(&ctx.listeners, &api.endpoint)?;
                let auth = match &api.auth {
                    None => None,
                    Some(id) => Some((*ctx.host.get::<AuthCapability>(id).ok_or_else(|| {
                        BuildError::Other(format!(
                            "api::auth::authenticator: {id} is not a running authenticator extension; declare it under extensions (e.g. bearertokenauth) and list it in service::extensions"
                        ))
                    })?).clone()),
                };
                generator = format!("http://{}/", api.endpoint);
                Some(ApiServer::new(
                    listener,
                    api,
                    auth,
                    query_tx,
                    snapshot_rx,
                    api_counters(t),
                ))
            }
        };
        let webhook = match &self.webhook {
            None => None,
            Some(w) => Some((
                Webhook::new(
                    w.clone(),
                    webhook_counters(t),
                    self.engine.source_id.clone(),
                    generator,
                )?,
                w.queue_size,
            )),
        };
        Ok(Box::new(HierarchyConnector {
            core: Core::new(hierarchy, self.clone(), Counters::new(ctx)),
            api,
            webhook,
            queries: query_rx,
            snapshots: snapshot_tx,
        }))
    }
}

/// A running `hierarchy` connector.
pub struct HierarchyConnector {
    core: Core,
    api: Option<ApiServer>,
    webhook: Option<(Webhook, usize)>,
    queries: mpsc::Receiver<Ask>,
    snapshots: watch::Sender<Arc<Snapshot>>,
}

impl std::fmt::Debug for HierarchyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HierarchyConnector")
            .field("cells", &self.core.h.len())
            .finish()
    }
}

fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period.max(Duration::from_millis(10)));
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

impl Connector for HierarchyConnector {
    fn run(
        self: Box<Self>,
        mut input: mpsc::Receiver<Parcel>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        async move {
            let HierarchyConnector {
                mut core,
                api,
                webhook,
                mut queries,
                snapshots,
            } = *self;
            let id = ctx.id.to_string();
            // Stops the API server and the webhook once the engine's task is done.
            let stop = CancellationToken::new();
            let api_task = api.map(|server| {
                let stop = stop.clone();
                let id = id.clone();
                let health = ctx.clone();
                tokio::spawn(async move {
                    if let Err(e) = server.run(stop).await {
                        tracing::error!(connector = %id, error = %e, "hierarchy: the query API stopped");
                        health.report_error(format!("query API stopped: {e}"));
                    }
                })
            });
            let webhook_task = webhook.map(|(hook, size)| {
                let (tx, rx) = mpsc::channel(size);
                core.notices = Some(tx);
                tokio::spawn(hook.run(rx, ctx.shutdown.clone()))
            });
            let (outputs, federation_out) = federation::split_outputs(
                &outputs,
                core.settings.federate.as_ref().map(|f| f.pipeline.as_str()),
            );
            if let Some(f) = &core.settings.federate
                && federation_out.is_none()
            {
                tracing::error!(connector = %id, pipeline = %f.pipeline, "hierarchy: federate::pipeline names no logs pipeline that lists this connector as a receiver; nothing is federated");
                ctx.report_error(format!(
                    "federate::pipeline {} does not list this connector as a receiver",
                    f.pipeline
                ));
            }
            let mut federate = interval(
                core.settings
                    .federate
                    .as_ref()
                    .map_or(Duration::from_secs(3600), |f| f.interval),
            );
            let tree_depth = core.settings.api.as_ref().map_or(0, |a| a.tree_depth);
            let api_enabled = core.settings.api.is_some();
            let mut tick = interval(core.settings.tick_interval);
            let status_every = core.settings.status_interval;
            let mut status = interval(if status_every.is_zero() {
                Duration::from_secs(3600)
            } else {
                status_every
            });
            status.reset();
            let mut publish = interval(
                core.settings
                    .api
                    .as_ref()
                    .map_or(Duration::from_secs(1), |a| a.publish_interval),
            );
            loop {
                tokio::select! {
                    parcel = input.recv() => {
                        let Some(Parcel { batch, receipt }) = parcel else { break };
                        match &batch {
                            Batch::Logs(request) => input::read_logs(request, &mut core.items),
                            Batch::Metrics(request) => input::read_status_gauge(request, &mut core.items),
                            Batch::Traces(_) => {}
                        }
                        core.ingest_items();
                        core.flush(&outputs, &receipt, &id).await;
                        core.account();
                        // The signals are in the engine; derived data holds its own shares.
                        receipt.accept();
                    }
                    Some(ask) = queries.recv() => core.answer(ask),
                    _ = tick.tick() => {
                        core.h.tick_into(now_unix_nano(), &mut core.events);
                        core.handle_events(false);
                        core.sweep_gate();
                        core.flush(&outputs, &Receipt::none(), &id).await;
                        core.account();
                    }
                    _ = federate.tick(), if federation_out.is_some() => {
                        if let Some(out) = &federation_out {
                            core.federate(out, &id).await;
                        }
                    }
                    _ = status.tick(), if !status_every.is_zero() => {
                        core.export_status(&outputs, &id).await;
                    }
                    _ = publish.tick(), if api_enabled => {
                        if core.dirty {
                            core.dirty = false;
                            let snap = core.snapshot(tree_depth);
                            snapshots.send_replace(Arc::new(snap));
                        }
                    }
                    () = ctx.shutdown.cancelled() => break,
                }
            }
            // Final state for anyone still looking, then stop the helpers.
            if api_enabled {
                let snap = core.snapshot(tree_depth);
                snapshots.send_replace(Arc::new(snap));
            }
            core.notices = None;
            stop.cancel();
            if let Some(task) = webhook_task {
                // Drains what is queued; bounded by the shutdown deadline.
                let _ = task.await;
            }
            if let Some(task) = api_task {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
            tracing::debug!(connector = %id, opened = core.opened_seen, closed = core.closed_seen, "hierarchy: stopped");
            Ok(())
        }
        .boxed()
    }
}
