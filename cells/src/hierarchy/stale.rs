//! Time without signals: each cell's wake time (the earliest moment anything of it may change
//! on its own: staleness, a reading's TTL, damping, variability decay), what happens when it
//! comes, going stale, and evicting stale cells to make room under `max_cells`.

use super::{Hierarchy, TOUCH_GRANULARITY};
use crate::{cell::Cell, event::Event, incident::TroubleChange, model::CellId, slab::CHUNK_BITS};

impl Hierarchy {
    /// How long after its `last_seen` a cell goes stale.
    #[inline]
    pub(super) fn stale_deadline(&self, c: &Cell) -> u64 {
        if c.children.is_empty() {
            self.settings.stale_after
        } else {
            self.settings.stale_after.saturating_add(TOUCH_GRANULARITY)
        }
    }

    #[inline]
    pub(super) fn set_wake(&mut self, idx: u32, wake: u64) {
        self.cells[idx as usize].wake = wake;
        let chunk = &mut self.chunk_wake[idx as usize >> CHUNK_BITS];
        *chunk = (*chunk).min(wake);
    }

    /// The earliest engine time anything of the cell may change on its own.
    pub(super) fn next_wake(&self, idx: u32) -> u64 {
        let s = &self.settings;
        let c = &self.cells[idx as usize];
        let mut wake = u64::MAX;
        if idx != 0 {
            wake = c.last_seen.saturating_add(if c.stale {
                s.forget_after
            } else {
                self.stale_deadline(c)
            });
        }
        if c.stale {
            return wake;
        }
        for r in c.readings.iter() {
            if r.status.is_some() && r.live(self.now, s.reading_ttl) {
                wake = wake.min(r.received.saturating_add(s.reading_ttl));
            }
        }
        if let Some(since) = c.pending_since {
            let hold = if c.pending_worse {
                s.raise_after
            } else {
                s.clear_after
            };
            wake = wake.min(since.saturating_add(hold));
        }
        if let Some(&first) = c.transitions.first() {
            wake = wake.min(first.saturating_add(s.variability_window));
        }
        wake
    }

    /// A cell whose wake time came: staleness, eviction, expired readings, damping, decay.
    pub(super) fn wake_cell(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let s = &self.settings;
        let c = &self.cells[idx as usize];
        if !c.used {
            self.cells[idx as usize].wake = u64::MAX;
            return;
        }
        if idx != 0 && c.stale {
            if c.last_seen.saturating_add(s.forget_after) <= now {
                let parent = c.parent;
                let n = self.evict_subtree(idx, now, out);
                self.stats.forgotten_cells += n as u64;
                self.refresh(parent, now, false, out);
            } else {
                let wake = self.next_wake(idx);
                self.set_wake(idx, wake);
            }
            return;
        }
        if idx != 0 && c.last_seen.saturating_add(self.stale_deadline(c)) <= now {
            self.go_stale(idx, now, out);
            return;
        }
        let change = self.update_own(idx, now, now);
        self.refresh(idx, now, true, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    pub(super) fn go_stale(&mut self, idx: u32, now: u64, out: &mut Vec<Event>) {
        let history_len = self.settings.history_len;
        let c = &mut self.cells[idx as usize];
        c.stale = true;
        c.pending_since = None;
        c.record(now, history_len);
        let generation = c.generation;
        self.stale_count += 1;
        self.stale_queue.push_back((idx, generation));
        out.push(Event::StaleChanged {
            cell: CellId {
                index: idx,
                generation,
            },
            stale: true,
            time_ns: now,
        });
        // A stale cell is out of trouble: it says nothing any more.
        let change = self.update_own(idx, now, now);
        self.refresh(idx, now, true, out);
        if change != TroubleChange::None {
            self.on_trouble(idx, change, now, out);
        }
    }

    // ---- eviction ---------------------------------------------------------------------------

    /// Evicts the longest-stale cell that is not on the path being created; false if none.
    pub(super) fn evict_for_room(&mut self, now: u64, out: &mut Vec<Event>) -> bool {
        let mut skipped = Vec::new();
        let mut evicted = false;
        while let Some((idx, generation)) = self.stale_queue.pop_front() {
            let c = &self.cells[idx as usize];
            if !c.used || c.generation != generation || !c.stale {
                continue;
            }
            if self.prefix.contains(&idx) {
                skipped.push((idx, generation));
                continue;
            }
            let parent = c.parent;
            let n = self.evict_subtree(idx, now, out);
            self.stats.evicted_for_room += n as u64;
            self.refresh(parent, now, false, out);
            evicted = true;
            break;
        }
        for entry in skipped.into_iter().rev() {
            self.stale_queue.push_front(entry);
        }
        evicted
    }

    pub(super) fn compact_stale_queue(&mut self) {
        if self.stale_queue.len() > 2 * self.stale_count + 1024 {
            let cells = &self.cells;
            self.stale_queue.retain(|&(idx, generation)| {
                let c = &cells[idx as usize];
                c.used && c.generation == generation && c.stale
            });
        }
    }
}
