//! The roll-up and the Reporters (DECIDE): a cell's rolled status from its own and its live
//! children's (a count per status bucket in each parent, so a change costs O(1) per level
//! and the walk stops where nothing changes), then damping, situation and variability.

use kafka_obs_signal::situations;

use super::Hierarchy;
use crate::{
    cell::NO_BUCKET,
    event::Event,
    model::{BUCKETS, CellId, Situation},
};

impl Hierarchy {
    // ---- roll-up and Reporters --------------------------------------------------------------

    /// Recomputes the roll-up of `start` and walks up while a contribution changes, running
    /// the Reporters on each cell whose roll-up changed (and on `start` when `force`).
    pub(crate) fn refresh(&mut self, start: u32, now: u64, force: bool, out: &mut Vec<Event>) {
        let mut idx = start;
        let mut force = force;
        loop {
            let c = &mut self.cells[idx as usize];
            let rolled = c.own.max(c.worst_child());
            let changed = rolled != c.rolled;
            c.rolled = rolled;
            let wake_unset = c.wake == u64::MAX;
            if (changed || force) && !c.stale {
                self.report(idx, now, out);
            }
            if changed || force || wake_unset {
                let wake = self.next_wake(idx);
                self.set_wake(idx, wake);
            }
            force = false;
            if idx == 0 {
                break;
            }
            let c = &mut self.cells[idx as usize];
            let contrib = match (c.stale, rolled) {
                (false, Some(s)) => s.bucket() as u8,
                _ => NO_BUCKET,
            };
            if contrib == c.contrib {
                break;
            }
            let old = c.contrib;
            c.contrib = contrib;
            let parent = c.parent;
            let counts = self.cells[parent as usize]
                .counts
                .get_or_insert_with(|| Box::new([0; BUCKETS]));
            if old != NO_BUCKET {
                counts[usize::from(old)] -= 1;
            }
            if contrib != NO_BUCKET {
                counts[usize::from(contrib)] += 1;
            }
            idx = parent;
        }
    }

    /// Damping, situation and variability of one cell; emits what changed.
    pub(super) fn report(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let s = &self.settings;
        let escalate = s.escalate_confirmed_degraded;
        let c = &mut self.cells[idx as usize];
        let raw = c
            .rolled
            .map_or(situations::Sign::Normal, |x| x.situation(escalate));
        if raw != c.raw_situation {
            c.raw_situation = raw;
            if c.transitions.len() >= s.volatile_at as usize {
                c.transitions.remove(0);
            }
            c.transitions.reserve_exact(1);
            c.transitions.push(now);
        }
        let horizon = now.saturating_sub(s.variability_window);
        let expired = c.transitions.iter().take_while(|&&t| t <= horizon).count();
        if expired > 0 {
            c.transitions.drain(..expired);
        }
        // Damping.
        let mut shown = c.shown;
        if c.rolled == shown {
            c.pending_since = None;
        } else {
            let worse = c.rolled > shown;
            let since = match c.pending_since {
                Some(t) if c.pending_worse == worse => t,
                _ => now,
            };
            c.pending_since = Some(since);
            c.pending_worse = worse;
            let hold = if worse { s.raise_after } else { s.clear_after };
            if now.saturating_sub(since) >= hold {
                shown = c.rolled;
                c.pending_since = None;
            }
        }
        let n = c.transitions.len() as u32;
        let variability = if n >= s.volatile_at {
            situations::Variability::Volatile
        } else if n >= s.variable_at {
            situations::Variability::Variable
        } else {
            situations::Variability::Constant
        };
        let situation = Situation {
            sign: shown.map_or(situations::Sign::Normal, |x| x.situation(escalate)),
            variability,
        };
        let id = CellId {
            index: idx,
            generation: c.generation,
        };
        let mut changed = false;
        if shown != c.shown {
            out.push(Event::StatusChanged {
                cell: id,
                previous: c.shown,
                status: shown,
                time_ns: now,
            });
            c.shown = shown;
            changed = true;
        }
        if situation != c.situation {
            out.push(Event::SituationChanged {
                cell: id,
                previous: c.situation,
                situation,
                time_ns: now,
            });
            c.situation = situation;
            changed = true;
        }
        if changed {
            c.record(now, s.history_len);
        }
    }
}
