//! B3, "no active controller", decided for the whole cluster, as methods of the engine.
//!
//! One broker cannot tell: with a sidecar per broker, every broker but the controller reports
//! `ActiveControllerCount` 0, which is normal. So each broker states only its own flag, on
//! its own subject (`cluster=…/broker=…`): `Members.ELECT.SELF` while it is the active
//! controller, `Members.RESIGN.SELF` while it is not, rule [`CONTROLLER_RULE`], on change and
//! as a heartbeat. The engine keeps every broker cell's latest flag per cluster and judges:
//!
//! - the cluster's B3 condition *holds* while at least one live broker cell under it has a
//!   known flag and none of the live ones says it is the controller;
//! - once it has held for `controller_grace` (brokers are polled at different moments, and an
//!   election takes a poll to be seen, so a controller moving from one broker to another
//!   looks like a short gap), the cluster cell gets the reading `Statuses.DOWN.CONFIRMED`,
//!   rule B3, source [`DERIVED_SOURCE`], with phase onset; it is restated every half
//!   `observer.reading_ttl` while it holds, so it does not fade;
//! - as soon as one live broker says it is the controller, the reading is replaced by its
//!   recovery, `Statuses.STABLE.CONFIRMED` (phase recovery);
//! - when no live broker has a flag any more (their sidecars went quiet), nothing can be
//!   said: the reading is removed.
//!
//! A stale broker cell does not count, and its flag is forgotten: when it comes back it
//! counts again once it restates. The limit: a broker without a sidecar is not seen at all,
//! so if the controller is such a broker, the others' zeros read as DOWN. The verdict is
//! judged on each B3 signal and on every tick (for the grace deadline); that costs a look at
//! each flagged broker of each such cluster, nothing for clusters without B3 signals.

use std::collections::BTreeMap;

use kafka_obs_signal::{
    Evidence, Instrument, Signal, SignalKind, condition::Phase, members, statuses,
};

use crate::{
    event::Event,
    hierarchy::Hierarchy,
    model::{CellId, CellKind},
};

/// The rule id of the brokers' controller flags and of the cluster verdict the engine
/// derives from them.
pub use kafka_obs_signal::condition::CONTROLLER_RULE;

/// The `source_id` of the readings the engine derives itself (the cluster's B3 verdict). Being
/// its own source, a verdict never replaces a sidecar's reading, and no sidecar's status list
/// (rule `status`) drops it.
pub const DERIVED_SOURCE: &str = "hierarchy";

/// The verdict's status while it holds.
const DOWN: SignalKind =
    SignalKind::Statuses(statuses::Sign::Down, statuses::Confidence::Confirmed);

/// The brokers' controller flags, per cluster cell.
#[derive(Debug, Default)]
pub(crate) struct Controllers {
    /// By the cluster cell's slot.
    watches: BTreeMap<u32, Watch>,
}

#[derive(Debug)]
struct Watch {
    cluster: CellId,
    /// Broker cells under the cluster and their latest flag (true: the active controller).
    brokers: Vec<(CellId, bool)>,
    /// Engine time since which the condition holds.
    since: Option<u64>,
    /// The DOWN reading is on the cluster cell.
    down: bool,
    /// Engine time it was last stated.
    stated: u64,
}

impl Watch {
    fn new(cluster: CellId) -> Self {
        Self {
            cluster,
            brokers: Vec::new(),
            since: None,
            down: false,
            stated: 0,
        }
    }
}

/// What a judgement asks for.
enum Verdict {
    /// Nothing to change.
    Keep,
    /// State DOWN (`first`) or restate it; the condition holds since engine time `since`.
    Down { since: u64, first: bool },
    /// A live broker is the controller again: the recovery.
    Up,
    /// No live broker has a flag: remove the reading.
    Unknown,
}

impl Hierarchy {
    /// Records a broker's controller flag from a B3 signal, then judges its cluster. Any
    /// other signal is ignored.
    pub(crate) fn controller_signal(
        &mut self,
        leaf: u32,
        signal: &Signal,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        if signal.evidence.rule != CONTROLLER_RULE {
            return;
        }
        let active = match signal.kind {
            SignalKind::Members(members::Sign::Elect, members::Dimension::Own) => true,
            SignalKind::Members(members::Sign::Resign, members::Dimension::Own) => false,
            _ => return,
        };
        if self.cells[leaf as usize].kind != CellKind::Broker {
            return;
        }
        let Some(cluster) = self.cluster_ancestor(leaf) else {
            return;
        };
        let (cluster_id, broker_id) = (self.cell_id(cluster), self.cell_id(leaf));
        let watch = self
            .controllers
            .watches
            .entry(cluster)
            .or_insert_with(|| Watch::new(cluster_id));
        if watch.cluster != cluster_id {
            // The slot belonged to a cluster cell since forgotten.
            *watch = Watch::new(cluster_id);
        }
        match watch.brokers.iter_mut().find(|b| b.0 == broker_id) {
            Some(b) => b.1 = active,
            None => watch.brokers.push((broker_id, active)),
        }
        self.judge_controller(cluster, now, out);
    }

    /// Judges every watched cluster (the grace deadline, brokers gone stale).
    pub(crate) fn controllers_tick(&mut self, now: u64, out: &mut Vec<Event>) {
        let mut next = 0;
        while let Some(cluster) = self.controllers.watches.range(next..).next().map(|e| *e.0) {
            self.judge_controller(cluster, now, out);
            match cluster.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
    }

    /// Forgets the watches of clusters no longer there (after `drop_cluster`).
    pub(crate) fn forget_dropped_controllers(&mut self) {
        let cells = &self.cells;
        self.controllers.watches.retain(|_, w| {
            cells
                .get(w.cluster.index as usize)
                .is_some_and(|c| c.used && c.generation == w.cluster.generation)
        });
    }

    /// The nearest ancestor of a cell at level `cluster`.
    fn cluster_ancestor(&self, idx: u32) -> Option<u32> {
        let mut cur = self.cells[idx as usize].parent;
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            if c.level == self.levels.cluster {
                return Some(cur);
            }
            cur = c.parent;
        }
        None
    }

    fn judge_controller(&mut self, cluster: u32, now: u64, out: &mut Vec<Event>) {
        let grace = self.settings.controller_grace;
        let restate = self.settings.reading_ttl / 2;
        let cells = &self.cells;
        let current = |id: CellId| {
            cells
                .get(id.index as usize)
                .filter(|c| c.used && c.generation == id.generation)
        };
        let Some(w) = self.controllers.watches.get_mut(&cluster) else {
            return;
        };
        if current(w.cluster).is_none() {
            self.controllers.watches.remove(&cluster);
            return;
        }
        // A stale (or forgotten) broker says nothing; it restates when it is back.
        w.brokers
            .retain(|&(id, _)| current(id).is_some_and(|c| !c.stale));
        let reporting = w.brokers.len();
        let active = w.brokers.iter().filter(|b| b.1).count();
        let verdict = if reporting > 0 && active == 0 {
            let since = *w.since.get_or_insert(now);
            let first = !w.down;
            let due = now.saturating_sub(since) >= grace
                && (first || now.saturating_sub(w.stated) >= restate);
            if due {
                w.down = true;
                w.stated = now;
                Verdict::Down { since, first }
            } else {
                Verdict::Keep
            }
        } else {
            w.since = None;
            let was_down = std::mem::replace(&mut w.down, false);
            match (was_down, active > 0) {
                (false, _) => Verdict::Keep,
                (true, true) => Verdict::Up,
                (true, false) => Verdict::Unknown,
            }
        };
        if reporting == 0 {
            self.controllers.watches.remove(&cluster);
        }
        let evidence = Evidence::rule(CONTROLLER_RULE)
            .with("active_controllers", active as f64)
            .with("brokers_reporting", reporting as f64);
        match verdict {
            Verdict::Keep => {}
            Verdict::Down { since, first } => {
                if first {
                    self.stats.controller_down += 1;
                }
                let without = now.saturating_sub(since) as f64 / 1e9;
                let signal = Signal::new(
                    self.subject_of(cluster),
                    DOWN,
                    evidence.with("seconds_without_controller", without),
                    since,
                )
                .from_source(DERIVED_SOURCE)
                .in_phase(Phase::Onset);
                self.apply_derived(cluster, &signal, now, out);
            }
            Verdict::Up => {
                let signal = Signal::new(self.subject_of(cluster), DOWN.recovery(), evidence, now)
                    .from_source(DERIVED_SOURCE)
                    .in_phase(Phase::Recovery);
                self.apply_derived(cluster, &signal, now, out);
            }
            Verdict::Unknown => {
                self.remove_reading(
                    cluster,
                    Instrument::Statuses,
                    CONTROLLER_RULE,
                    DERIVED_SOURCE,
                    now,
                    out,
                );
            }
        }
    }
}
