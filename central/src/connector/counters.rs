//! The connector's self-metrics: the handles it counts with, and how the engine's running
//! totals are carried over to them.

use kafka_obs_api::{BuildContext, ComponentTelemetry, Counter, Gauge};
use kafka_obs_cells::federation::Refusal;

use super::engine::Core;
use crate::api::ApiCounters;
use crate::notify::WebhookCounters;

#[derive(Debug, Clone)]
pub(super) struct Counters {
    pub(super) applied: Counter,
    pub(super) no_reading: Counter,
    pub(super) refused: Counter,
    pub(super) replayed: Counter,
    pub(super) bad_records: Counter,
    pub(super) cells: Gauge,
    pub(super) stale_cells: Gauge,
    pub(super) incidents_open: Gauge,
    pub(super) incidents_opened: Counter,
    pub(super) incidents_closed: Counter,
    pub(super) performed: Counter,
    pub(super) duplicate: Counter,
    pub(super) rate_limited: Counter,
    pub(super) not_opened: Counter,
    pub(super) replay_suppressed: Counter,
    pub(super) webhook_dropped: Counter,
    pub(super) revoked_partitions: Counter,
    pub(super) dropped_clusters: Counter,
    pub(super) dropped_cells: Counter,
    pub(super) pruned_readings: Counter,
    pub(super) controller_down: Counter,
    pub(super) federated_in: Counter,
    pub(super) federated_out: Counter,
    pub(super) federation_resends: Counter,
    refused_cycle: Counter,
    refused_child_full: Counter,
}

impl Counters {
    pub(super) fn new(ctx: &BuildContext) -> Self {
        let t = &ctx.telemetry;
        let signals = |outcome: &str| {
            t.counter(
                "kafka_obs_hierarchy_signals_total",
                "Signals the hierarchy ingested, by outcome (applied, no_reading, refused).",
                &[("outcome", outcome)],
            )
        };
        let federation_refused = |refusal: Refusal| {
            t.counter(
                "kafka_obs_hierarchy_federation_refused_total",
                "Federated cell records refused, by reason (cycle: the origin path holds this hierarchy; max_cells_per_child: the child's bound is reached).",
                &[("reason", refusal.as_str())],
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
            federated_in: t.counter(
                "kafka_obs_hierarchy_federated_cells_received_total",
                "Federated cell records admitted from child hierarchies.",
                &[],
            ),
            federated_out: t.counter(
                "kafka_obs_hierarchy_federated_cells_sent_total",
                "Federated cell records sent to the parent (deltas and full resends).",
                &[],
            ),
            federation_resends: t.counter(
                "kafka_obs_hierarchy_federation_resends_total",
                "Full resends of every federated cell (federate.resend_interval).",
                &[],
            ),
            refused_cycle: federation_refused(Refusal::Cycle),
            refused_child_full: federation_refused(Refusal::ChildFull),
        }
    }

    /// The counter of federated cells refused for `refusal`.
    pub(super) fn federation_refused(&self, refusal: Refusal) -> &Counter {
        match refusal {
            Refusal::Cycle => &self.refused_cycle,
            Refusal::ChildFull => &self.refused_child_full,
        }
    }
}

impl Core {
    pub(super) fn account(&self) {
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
}

/// The query API's counters.
pub(super) fn api_counters(t: &ComponentTelemetry) -> ApiCounters {
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
        live_clients_refused: t.counter(
            "kafka_obs_hierarchy_live_clients_refused_total",
            "Live-view clients answered 503 because api.max_live_clients were connected.",
            &[],
        ),
        slow_clients_dropped: t.counter(
            "kafka_obs_hierarchy_api_slow_clients_dropped_total",
            "API and live-view connections closed because the client took no bytes for api.write_timeout.",
            &[],
        ),
    }
}

/// The webhook's counters.
pub(super) fn webhook_counters(t: &ComponentTelemetry) -> WebhookCounters {
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
    }
}
