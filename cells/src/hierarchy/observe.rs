//! The Observers (ORIENT): a signal's reading stored under (instrument, rule, source), the
//! readings a status signal no longer lists pruned, the engine's own derived readings, and a
//! cell's own status (the worst live reading) with the change of its trouble.

use kafka_obs_signal::{
    Instrument, Scorecard, Signal, condition::STATUS_RULE, situations, statuses,
};

use super::{Hierarchy, Stats};
use crate::{
    cell::{EvidenceBuf, MAX_EVIDENCE, Reading},
    event::Event,
    incident::TroubleChange,
    intern::{Interner, Sym},
    model::Status,
};

impl Hierarchy {
    // ---- Observers ------------------------------------------------------------------------

    /// Stores the signal's reading: `None` if it has no status and no reading to replace,
    /// else whether it is a new key.
    pub(super) fn apply_reading(
        &mut self,
        idx: u32,
        signal: &Signal,
        status: Option<statuses::Sign>,
        now: u64,
    ) -> Option<bool> {
        let instrument = signal.kind.instrument();
        let rule = signal.evidence.rule.as_str();
        let source = signal.source_id.as_str();
        let strings = &mut self.strings;
        let cell = &mut self.cells[idx as usize];
        let pos = cell.readings.iter().position(|r| {
            r.kind.instrument() == instrument
                && strings.resolve(r.rule) == rule
                && strings.resolve(r.source) == source
        });
        let Some(sign) = status else {
            // A sign without a reading clears the reading of its own key, if there is one.
            let r = cell.readings.get_mut(pos?)?;
            r.kind = signal.kind;
            r.status = None;
            r.time_unix = signal.time_unix_nano;
            r.received = now;
            update_evidence(r, signal, strings, &mut self.stats);
            return Some(false);
        };
        let status = match signal.kind.status() {
            Some((sign, confidence)) => Status::new(sign, confidence),
            None => {
                let params = self.settings.scorecard;
                let card = cell
                    .scorecard
                    .get_or_insert_with(|| Box::new(Scorecard::new(params)));
                let (leader, confidence) = card.vote(sign);
                Status::new(
                    sign,
                    if leader == sign {
                        confidence
                    } else {
                        statuses::Confidence::Tentative
                    },
                )
            }
        };
        let new_key = pos.is_none();
        let pos = match pos {
            Some(pos) => pos,
            None => {
                if cell.readings.len() >= self.settings.max_readings {
                    let oldest = cell
                        .readings
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, r)| r.received)
                        .map_or(0, |(i, _)| i);
                    if let Some(r) = cell.readings.swap_remove(oldest) {
                        r.release(strings);
                    }
                    self.stats.evicted_readings += 1;
                }
                cell.readings.push(Reading {
                    kind: signal.kind,
                    rule: strings.acquire(rule),
                    source: strings.acquire(source),
                    status: None,
                    time_unix: 0,
                    received: 0,
                    threshold: None,
                    evidence: EvidenceBuf::default(),
                })
            }
        };
        let r = cell.readings.get_mut(pos)?;
        r.kind = signal.kind;
        r.status = Some(status);
        r.time_unix = signal.time_unix_nano;
        r.received = now;
        update_evidence(r, signal, strings, &mut self.stats);
        Some(new_key)
    }

    /// A status signal (rule [`STATUS_RULE`]) that lists its subject's current conditions is
    /// authoritative for its source on its cell: drops that source's readings of every other
    /// rule the list does not name (a recovery that was lost, a source that restarted and
    /// holds none of its old conditions). A status signal without the list (older senders)
    /// drops nothing. Linear in the cell's readings (each checked against the few rules
    /// listed), no allocation; returns how many readings went.
    pub(super) fn prune_readings(&mut self, idx: u32, signal: &Signal) -> usize {
        if signal.current_conditions().is_none() {
            return 0;
        }
        // A source that is not interned has no readings anywhere.
        let Some(source) = self.strings.get(&signal.source_id) else {
            return 0;
        };
        let strings = &mut self.strings;
        let readings = &mut self.cells[idx as usize].readings;
        let mut dropped = 0;
        let mut i = 0;
        while let Some(r) = readings.get(i) {
            let rule = strings.resolve(r.rule);
            let keep = r.source != source
                || rule == STATUS_RULE
                || signal
                    .current_conditions()
                    .is_some_and(|mut listed| listed.any(|l| l == rule));
            if keep {
                i += 1;
                continue;
            }
            // The last reading takes position `i`, which is looked at next.
            if let Some(r) = readings.swap_remove(i) {
                r.release(strings);
            }
            dropped += 1;
        }
        self.stats.pruned_readings += dropped as u64;
        dropped
    }

    /// Applies a reading the engine derived itself (the cluster's B3 verdict) through the path
    /// of an ingested signal: Observers, roll-up, Reporters, Actors, so it shows in statuses,
    /// situations and incidents like any other. It is not news from outside: the cell is not
    /// touched (freshness stays with the signals below it) and no signal is counted.
    pub(crate) fn apply_derived(
        &mut self,
        idx: u32,
        signal: &Signal,
        now: u64,
        out: &mut Vec<Event>,
    ) {
        let status = self.settings.readings.status_of_signal(signal);
        let applied = self.apply_reading(idx, signal, status, now);
        let onset = if signal.time_unix_nano == 0 {
            now
        } else {
            signal.time_unix_nano
        };
        self.settle(idx, now, onset, applied == Some(true), out);
    }

    /// Removes the reading of (instrument, rule, source) from a cell, if it has one, and
    /// settles the cell; true if there was one.
    pub(crate) fn remove_reading(
        &mut self,
        idx: u32,
        instrument: Instrument,
        rule: &str,
        source: &str,
        now: u64,
        out: &mut Vec<Event>,
    ) -> bool {
        let (Some(rule), Some(source)) = (self.strings.get(rule), self.strings.get(source)) else {
            return false;
        };
        let readings = &mut self.cells[idx as usize].readings;
        let Some(pos) = readings.iter().position(|r| {
            r.kind.instrument() == instrument && r.rule == rule && r.source == source
        }) else {
            return false;
        };
        if let Some(r) = readings.swap_remove(pos) {
            r.release(&mut self.strings);
        }
        self.settle(idx, now, now, true, out);
        true
    }

    /// After a cell's readings changed outside an ingest: its own status, the roll-up and
    /// Reporters, and the Actors if its trouble changed.
    pub(super) fn settle(
        &mut self,
        idx: u32,
        now: u64,
        onset: u64,
        force: bool,
        out: &mut Vec<Event>,
    ) {
        let change = self.update_own(idx, now, onset);
        self.refresh(idx, now, force, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    /// Recomputes the cell's own status and says how its trouble changed.
    pub(super) fn update_own(&mut self, idx: u32, now: u64, onset: u64) -> TroubleChange {
        let ttl = self.settings.reading_ttl;
        let escalate = self.settings.escalate_confirmed_degraded;
        let c = &mut self.cells[idx as usize];
        c.own = c.own_status(now, ttl);
        let situation = if c.stale {
            situations::Sign::Normal
        } else {
            c.own
                .map_or(situations::Sign::Normal, |s| s.situation(escalate))
        };
        match (c.trouble_since, situation) {
            (None, situations::Sign::Normal) => TroubleChange::None,
            (None, _) => {
                c.trouble_since = Some(onset);
                c.trouble_situation = situation;
                TroubleChange::Began
            }
            (Some(_), situations::Sign::Normal) => {
                c.trouble_since = None;
                c.trouble_situation = situations::Sign::Normal;
                TroubleChange::Ended
            }
            (Some(_), s) if s > c.trouble_situation => {
                c.trouble_situation = s;
                TroubleChange::Worsened
            }
            (Some(_), _) => TroubleChange::Continued,
        }
    }
}

fn update_evidence(r: &mut Reading, signal: &Signal, strings: &mut Interner, stats: &mut Stats) {
    r.threshold = signal.evidence.threshold;
    let total = signal.evidence.values.len().min(MAX_EVIDENCE);
    let mut n = 0;
    for (name, &value) in signal.evidence.values.iter().take(MAX_EVIDENCE) {
        if let Some(slot) = r.evidence.get_mut(n) {
            if strings.resolve(slot.0) != name.as_str() {
                strings.release(slot.0);
                slot.0 = strings.acquire(name);
            }
            slot.1 = value;
        } else {
            r.evidence.push((strings.acquire(name), value), total);
        }
        n += 1;
    }
    if r.evidence.len() > n {
        let dropped: Vec<Sym> = r.evidence.truncate(n).collect();
        for name in dropped {
            strings.release(name);
        }
    }
    let total = signal.evidence.values.len();
    if total > MAX_EVIDENCE {
        stats.truncated_evidence += (total - MAX_EVIDENCE) as u64;
    }
}
