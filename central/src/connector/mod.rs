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

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kafka_obs_api::{
    AuthCapability, Batch, BuildContext, BuildError, ComponentConfigError, Connector,
    ConnectorConfig, ConnectorFactory, Counter, DataKind, ExtensionRef, FactoryMeta, Gauge,
    Outputs, Parcel, Receipt, RunContext, RunError, Stability,
};
use kafka_obs_cells::{
    ActionKind, Event, Hierarchy, IncidentsView, Ingested, Stats, Suppression, cluster_key,
};
use kafka_obs_signal::otlp::{ExportResource, logs};
use kafka_obs_signal::{Signal, SignalKind, actors, situations};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{Answer, ApiCounters, ApiServer, Ask, Health, Question, Snapshot};
use crate::config::HierarchySettings;
use crate::input::{self, Item, Origin};
use crate::notify::{Notice, Webhook, WebhookCounters, now_unix_nano};
use crate::output;

static META: FactoryMeta = FactoryMeta {
    type_name: "hierarchy",
    aliases: &[],
    stability: Stability::Alpha,
    kinds: &[DataKind::Logs, DataKind::Metrics],
    description: "The cell hierarchy: signals -> cells, situations, incidents with root-cause chains; notifications, OTLP outputs, query API and live web view",
};

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
const MAX_RECOVERED: usize = 10_000;

/// Makes `hierarchy` connectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct HierarchyConnectorFactory;

impl ConnectorFactory for HierarchyConnectorFactory {
    fn meta(&self) -> &FactoryMeta {
        &META
    }

    fn routes(&self) -> &'static [(DataKind, DataKind)] {
        ROUTES
    }

    fn validate(
        &self,
        config: &serde_yaml_ng::Value,
    ) -> Result<Box<dyn ConnectorConfig>, ComponentConfigError> {
        Ok(Box::new(HierarchySettings::parse(config)?))
    }
}

#[derive(Debug, Clone)]
struct Counters {
    applied: Counter,
    no_reading: Counter,
    refused: Counter,
    replayed: Counter,
    bad_records: Counter,
    cells: Gauge,
    stale_cells: Gauge,
    incidents_open: Gauge,
    incidents_opened: Counter,
    incidents_closed: Counter,
    performed: Counter,
    duplicate: Counter,
    rate_limited: Counter,
    not_opened: Counter,
    replay_suppressed: Counter,
    webhook_dropped: Counter,
    revoked_partitions: Counter,
    dropped_clusters: Counter,
    dropped_cells: Counter,
    pruned_readings: Counter,
    controller_down: Counter,
}

impl Counters {
    fn new(ctx: &BuildContext) -> Self {
        let t = &ctx.telemetry;
        let signals = |outcome: &str| {
            t.counter(
                "kafka_obs_hierarchy_signals_total",
                "Signals the hierarchy ingested, by outcome (applied, no_reading, refused).",
                &[("outcome", outcome)],
            )
        };
        let notifications = |outcome: &str| {
            t.counter(
                "kafka_obs_hierarchy_notifications_total",
                "Notification decisions of the Actors layer, by outcome (performed, duplicate, rate_limited, not_opened, replay).",
                &[("outcome", outcome)],
            )
        };
        Self {
            applied: signals("applied"),
            no_reading: signals("no_reading"),
            refused: signals("refused"),
            replayed: t.counter(
                "kafka_obs_hierarchy_replayed_signals_total",
                "Signals ingested as a replay after a partition takeover (no notifications).",
                &[],
            ),
            bad_records: t.counter(
                "kafka_obs_hierarchy_bad_records_total",
                "Signal or control records that did not decode, skipped.",
                &[],
            ),
            cells: t.gauge(
                "kafka_obs_hierarchy_cells",
                "Cells in the tree, the root included.",
                &[],
            ),
            stale_cells: t.gauge("kafka_obs_hierarchy_stale_cells", "Cells now stale.", &[]),
            incidents_open: t.gauge(
                "kafka_obs_hierarchy_incidents_open",
                "Incidents open now.",
                &[],
            ),
            incidents_opened: t.counter(
                "kafka_obs_hierarchy_incidents_opened_total",
                "Incidents opened.",
                &[],
            ),
            incidents_closed: t.counter(
                "kafka_obs_hierarchy_incidents_closed_total",
                "Incidents closed.",
                &[],
            ),
            performed: notifications("performed"),
            duplicate: notifications("duplicate"),
            rate_limited: notifications("rate_limited"),
            not_opened: notifications("not_opened"),
            replay_suppressed: notifications("replay"),
            webhook_dropped: t.counter(
                "kafka_obs_hierarchy_webhook_dropped_total",
                "Notifications dropped because the webhook's queue was full.",
                &[],
            ),
            revoked_partitions: t.counter(
                "kafka_obs_hierarchy_partitions_revoked_total",
                "Topic partitions the kafka receiver announced as revoked.",
                &[],
            ),
            dropped_clusters: t.counter(
                "kafka_obs_hierarchy_dropped_clusters_total",
                "Clusters dropped because the partitions they came from were revoked.",
                &[],
            ),
            pruned_readings: t.counter(
                "kafka_obs_hierarchy_pruned_readings_total",
                "Readings dropped because their source's status signal no longer listed their rule (a lost recovery, a restarted sidecar).",
                &[],
            ),
            controller_down: t.counter(
                "kafka_obs_hierarchy_controller_down_total",
                "Clusters decided DOWN for lack of an active controller (B3, over every live broker).",
                &[],
            ),
            dropped_cells: t.counter(
                "kafka_obs_hierarchy_dropped_cells_total",
                "Cells dropped with their cluster after a revocation.",
                &[],
            ),
        }
    }
}

impl ConnectorConfig for HierarchySettings {
    fn listen_addresses(&self) -> Vec<(String, String)> {
        HierarchySettings::listen_addresses(self)
    }

    fn extension_refs(&self) -> Vec<ExtensionRef> {
        HierarchySettings::extension_refs(self)
    }

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
                let listener = std::net::TcpListener::bind(&api.endpoint).map_err(|source| {
                    BuildError::Bind {
                        address: api.endpoint.clone(),
                        source,
                    }
                })?;
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
                    auth,
                    query_tx,
                    snapshot_rx,
                    api.tree_depth,
                    ApiCounters {
                        requests: t.counter(
                            "kafka_obs_hierarchy_api_requests_total",
                            "Requests the query API and web view answered.",
                            &[],
                        ),
                        unauthorized: t.counter(
                            "kafka_obs_hierarchy_api_unauthorized_total",
                            "Requests the query API refused for want of a valid token.",
                            &[],
                        ),
                        unavailable: t.counter(
                            "kafka_obs_hierarchy_api_unavailable_total",
                            "Queries answered 503 because the engine was busy or stopping.",
                            &[],
                        ),
                        sse_clients: t.gauge(
                            "kafka_obs_hierarchy_live_clients",
                            "Live-view (server-sent events) clients connected.",
                            &[],
                        ),
                    },
                ))
            }
        };
        let webhook = match &self.webhook {
            None => None,
            Some(w) => Some((
                Webhook::new(
                    w.clone(),
                    WebhookCounters {
                        sent: t.counter(
                            "kafka_obs_hierarchy_webhook_sent_total",
                            "Notifications the webhook accepted.",
                            &[],
                        ),
                        failed: t.counter(
                            "kafka_obs_hierarchy_webhook_failed_total",
                            "Notifications given up on after max_attempts or a permanent error.",
                            &[],
                        ),
                        retries: t.counter(
                            "kafka_obs_hierarchy_webhook_retries_total",
                            "Webhook attempts after the first.",
                            &[],
                        ),
                    },
                    self.engine.source_id.clone(),
                    generator,
                )?,
                w.queue_size,
            )),
        };
        Ok(Box::new(HierarchyConnector {
            core: Core {
                h: hierarchy,
                settings: self.clone(),
                export: ExportResource::default(),
                counters: Counters::new(ctx),
                origins: HashMap::new(),
                recovered: HashMap::new(),
                notices: None,
                logs: Vec::new(),
                traces: Vec::new(),
                events: Vec::new(),
                items: Vec::new(),
                dirty: true,
                version: 0,
                last_signal: None,
                bad_records: 0,
                dropped_clusters: 0,
                opened_seen: 0,
                closed_seen: 0,
            },
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

/// The engine and what the task keeps beside it.
struct Core {
    h: Hierarchy,
    settings: HierarchySettings,
    export: ExportResource,
    counters: Counters,
    /// Which clusters came from which topic partition (scale-out).
    origins: HashMap<Origin, BTreeSet<String>>,
    /// When a cell's situation last went back to NORMAL, by path (ends incident spans).
    recovered: HashMap<String, u64>,
    notices: Option<mpsc::Sender<Notice>>,
    /// Outputs of the parcel (or tick) being handled.
    logs: Vec<Signal>,
    traces: Vec<ExportTraceServiceRequest>,
    events: Vec<Event>,
    items: Vec<Item>,
    dirty: bool,
    version: u64,
    last_signal: Option<u64>,
    bad_records: u64,
    dropped_clusters: u64,
    opened_seen: u64,
    closed_seen: u64,
}

impl Core {
    fn source_id(&self) -> &str {
        &self.settings.engine.source_id
    }

    /// Ingests what was read from one parcel.
    fn ingest_items(&mut self) {
        let items = std::mem::take(&mut self.items);
        for item in &items {
            match item {
                Item::Signal {
                    signal,
                    replay,
                    origin,
                } => {
                    let arrival = now_unix_nano();
                    let now = if *replay && signal.time_unix_nano != 0 {
                        self.counters.replayed.inc();
                        signal.time_unix_nano
                    } else {
                        arrival
                    };
                    self.last_signal = Some(arrival);
                    if let Some(origin) = origin {
                        let cluster = cluster_key(&signal.subject);
                        let set = self.origins.entry(origin.clone()).or_default();
                        if !set.contains(cluster) {
                            set.insert(cluster.to_string());
                        }
                    }
                    match self.h.ingest_into(signal, now, &mut self.events) {
                        Ingested::Applied => self.counters.applied.inc(),
                        Ingested::NoReading => self.counters.no_reading.inc(),
                        Ingested::Refused => self.counters.refused.inc(),
                    }
                    self.handle_events(*replay);
                }
                Item::Revoked { topic, partitions } => self.revoke(topic, partitions),
                Item::Assigned { topic, partitions } => {
                    tracing::info!(topic = %topic, partitions = ?partitions, "hierarchy: partitions assigned; their history is replayed");
                }
                Item::Bad(reason) => {
                    self.counters.bad_records.inc();
                    self.bad_records += 1;
                    tracing::warn!(reason = %reason, "hierarchy: skipped a record that does not decode");
                }
            }
        }
        self.items = items;
        self.items.clear();
    }

    fn revoke(&mut self, topic: &str, partitions: &[String]) {
        let mut clusters = BTreeSet::new();
        for p in partitions {
            self.counters.revoked_partitions.inc();
            if let Some(set) = self.origins.remove(&(topic.to_string(), p.clone())) {
                clusters.extend(set);
            }
        }
        for cluster in clusters {
            let report = self.h.drop_cluster(&cluster);
            self.counters.dropped_clusters.inc();
            self.counters.dropped_cells.add(report.cells as u64);
            self.dropped_clusters += 1;
            self.dirty = true;
            tracing::info!(
                topic = %topic,
                cluster = %cluster,
                cells = report.cells,
                incidents = report.incidents,
                "hierarchy: partitions revoked; dropped the cluster (its new owner rebuilds it)"
            );
        }
        // Another partition may still feed a dropped cluster; it starts over from there.
        for set in self.origins.values_mut() {
            set.retain(|c| self.h.lookup(&cluster_subject(c)).is_some() || c.is_empty());
        }
    }

    /// Turns the engine's pending events into outputs and notifications.
    fn handle_events(&mut self, replay: bool) {
        if self.events.is_empty() {
            return;
        }
        self.dirty = true;
        let events = std::mem::take(&mut self.events);
        for event in &events {
            match event {
                Event::StatusChanged { .. } => {
                    if self.settings.status_changes
                        && !replay
                        && let Some(s) = self.h.signal_for(event)
                    {
                        self.logs.push(s);
                    }
                }
                Event::SituationChanged {
                    cell,
                    situation,
                    time_ns,
                    ..
                } => {
                    if situation.sign == situations::Sign::Normal
                        && let Some(subject) = self.h.subject(*cell)
                    {
                        if self.recovered.len() >= MAX_RECOVERED {
                            self.recovered.clear();
                        }
                        self.recovered.insert(subject.qualified(), *time_ns);
                    }
                    if !replay && let Some(s) = self.h.signal_for(event) {
                        self.logs.push(s);
                    }
                }
                Event::StaleChanged { .. } | Event::CellEvicted { .. } => {}
                Event::IncidentOpened(i) => {
                    self.opened_seen += 1;
                    self.counters.incidents_opened.inc();
                    tracing::debug!(incident = i.id, root_cause = %i.root_cause, "hierarchy: incident opened");
                }
                Event::IncidentUpdated(_) => {}
                Event::IncidentClosed(i) => {
                    self.closed_seen += 1;
                    self.counters.incidents_closed.inc();
                    if self.settings.traces && !replay {
                        let end = i.closed_ns.unwrap_or(i.updated_ns);
                        self.traces.push(output::incident_trace(
                            i,
                            end,
                            &self.recovered,
                            self.source_id(),
                            &self.export,
                        ));
                    }
                    for link in &i.chain {
                        self.recovered.remove(&link.path);
                    }
                }
                Event::Action(action) => {
                    let mut signal = action.signal.clone();
                    if replay {
                        self.counters.replay_suppressed.inc();
                        continue;
                    }
                    match action.suppressed {
                        None => self.counters.performed.inc(),
                        Some(Suppression::Duplicate) => self.counters.duplicate.inc(),
                        Some(Suppression::RateLimited) => self.counters.rate_limited.inc(),
                        Some(Suppression::NotOpened) => self.counters.not_opened.inc(),
                    }
                    if signal.source_id.is_empty() {
                        signal.source_id = self.source_id().to_string();
                    }
                    self.logs.push(signal);
                    if !action.perform() {
                        continue;
                    }
                    let i = &action.incident;
                    let kind = match action.kind {
                        ActionKind::NotifyOpen => "open",
                        ActionKind::NotifyUpdate => "update",
                        ActionKind::NotifyClose => "close",
                    };
                    if self.settings.notify_log {
                        tracing::warn!(
                            action = kind,
                            incident = i.id,
                            cluster = %i.cluster,
                            situation = i.situation.as_str(),
                            root_cause = %i.root_cause,
                            explanation = %i.explanation,
                            "hierarchy: incident {kind}"
                        );
                    }
                    if self.settings.notify_command {
                        let mut command = action.signal.clone();
                        command.kind = SignalKind::Actors(actors::Sign::Command);
                        command.source_id = self.source_id().to_string();
                        command
                            .attributes
                            .insert("command".into(), format!("notify_{kind}"));
                        command
                            .attributes
                            .insert("root_cause".into(), i.root_cause.clone());
                        self.logs.push(command);
                    }
                    if let Some(tx) = &self.notices {
                        let notice = Notice {
                            kind: action.kind,
                            incident: i.clone(),
                            dedupe_key: action.dedupe_key.clone(),
                        };
                        if tx.try_send(notice).is_err() {
                            self.counters.webhook_dropped.inc();
                            tracing::warn!(incident = i.id, key = %action.dedupe_key, "hierarchy: webhook queue full (or stopped); notification dropped");
                        }
                    }
                }
            }
        }
        self.events = events;
        self.events.clear();
    }

    fn account(&self) {
        let stats = self.h.stats();
        self.counters.cells.set(stats.cells as i64);
        self.counters.stale_cells.set(stats.stale_cells as i64);
        self.counters
            .incidents_open
            .set(stats.incidents_open as i64);
        // The engine keeps running totals; the counters follow them.
        for (counter, total) in [
            (&self.counters.pruned_readings, stats.pruned_readings),
            (&self.counters.controller_down, stats.controller_down),
        ] {
            counter.add(total.saturating_sub(counter.get()));
        }
    }

    /// Sends what the last parcel or tick produced; each output holds a share of `receipt`.
    async fn flush(&mut self, outputs: &Outputs, receipt: &Receipt, id: &str) {
        if !self.logs.is_empty() {
            let signals = std::mem::take(&mut self.logs);
            if let Some(out) = outputs.get(DataKind::Logs) {
                let request = logs::to_export_request(&signals, &self.export);
                if let Err(e) = out
                    .send(Parcel::new(Batch::Logs(request), receipt.clone()))
                    .await
                {
                    tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass events on");
                }
            }
        }
        if !self.traces.is_empty() {
            let traces = std::mem::take(&mut self.traces);
            if let Some(out) = outputs.get(DataKind::Traces) {
                for request in traces {
                    if let Err(e) = out
                        .send(Parcel::new(Batch::Traces(request), receipt.clone()))
                        .await
                    {
                        tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass an incident trace on");
                    }
                }
            }
        }
    }

    async fn export_status(&mut self, outputs: &Outputs, id: &str) {
        let Some(out) = outputs.get(DataKind::Metrics) else {
            return;
        };
        let points = output::status_points(&self.h, now_unix_nano());
        if points.is_empty() {
            return;
        }
        for request in output::status_requests(
            points,
            self.settings.status_batch_size,
            self.source_id(),
            &self.export,
        ) {
            if let Err(e) = out
                .send(Parcel::new(Batch::Metrics(request), Receipt::none()))
                .await
            {
                tracing::warn!(connector = %id, error = %e, "hierarchy: could not pass the status gauge on");
                return;
            }
        }
    }

    fn answer(&self, ask: Ask) {
        let answer = match ask.query {
            Question::Tree { subject, depth } => Answer::Tree(self.h.tree(&subject, depth)),
            Question::Cell(subject) => Answer::Cell(self.h.detail(&subject).map(Box::new)),
            Question::History(subject) => Answer::History(self.h.history(&subject)),
            Question::Incidents => Answer::Incidents(self.h.incidents()),
            Question::Incident(id) => Answer::Incident(self.h.incident(id).map(Box::new)),
            Question::Health => Answer::Health(Health {
                status: "ok",
                stats: self.h.stats(),
                last_signal_unix_nano: self.last_signal,
                bad_records: self.bad_records,
                dropped_clusters: self.dropped_clusters,
            }),
        };
        // The asker may have given up (timeout); nothing to do then.
        let _ = ask.reply.send(answer);
    }

    fn snapshot(&mut self, depth: usize) -> Snapshot {
        self.version += 1;
        Snapshot::new(
            self.version,
            now_unix_nano(),
            self.h.tree(&kafka_obs_signal::Subject::root(), depth),
            self.h.incidents(),
            self.h.stats(),
        )
    }
}

fn cluster_subject(cluster: &str) -> kafka_obs_signal::Subject {
    kafka_obs_signal::Subject::from_pairs([("cluster", cluster)]).unwrap_or_default()
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
                        core.flush(&outputs, &Receipt::none(), &id).await;
                        core.account();
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
