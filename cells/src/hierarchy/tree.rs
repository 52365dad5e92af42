//! The tree itself: finding a subject's cell (by the hash of its whole path, or level by
//! level), creating the missing cells of a path, touching a cell and its ancestors fresh,
//! removing a subtree, and the names of a slot (subject, path, cluster).

use kafka_obs_signal::Subject;

use super::{Hierarchy, MAX_DEPTH, TOUCH_GRANULARITY};
use crate::{
    cell::{Cell, NO_BUCKET},
    event::Event,
    hash::PathHasher,
    incident::TroubleChange,
    model::{CellId, CellKind},
    slab::CHUNK_BITS,
};

impl Hierarchy {
    // ---- finding and creating cells -------------------------------------------------------

    pub(crate) fn cell_id(&self, idx: u32) -> CellId {
        CellId {
            index: idx,
            generation: self.cells[idx as usize].generation,
        }
    }

    /// The slot of a live cell id.
    pub(crate) fn slot(&self, id: CellId) -> Option<u32> {
        let c = self.cells.get(id.index as usize)?;
        (c.used && c.generation == id.generation).then_some(id.index)
    }

    /// The cell of `subject` if it exists.
    pub(crate) fn find(&self, subject: &Subject) -> Option<u32> {
        if subject.depth() > MAX_DEPTH {
            return None;
        }
        let hash = path_hash(subject);
        if let Some(&idx) = self.paths.get(&hash.0)
            && self.matches(idx, subject, hash.1)
        {
            return Some(idx);
        }
        let mut cur = 0u32;
        for seg in subject.segments() {
            let level = self.strings.get(seg.level())?;
            let value = self.strings.get(seg.value())?;
            cur = *self.index.get(&(cur, level, value))?;
        }
        Some(cur)
    }

    /// The cell the path index found is the subject's: same depth and the same second hash
    /// (two independent 64-bit hashes of the path agree).
    #[inline]
    pub(super) fn matches(&self, idx: u32, subject: &Subject, check: u64) -> bool {
        let c = &self.cells[idx as usize];
        c.used && usize::from(c.depth) == subject.depth() && c.path_check == check
    }

    /// Finds or creates the cell of `subject`, touches it and its ancestors (fresh, revived);
    /// `None` if there is no room or the subject is too deep; with the cell, whether it was
    /// stale.
    pub(super) fn resolve(
        &mut self,
        subject: &Subject,
        now: u64,
        out: &mut Vec<Event>,
    ) -> Option<(u32, bool)> {
        if subject.depth() > MAX_DEPTH {
            return None;
        }
        let hash = path_hash(subject);
        let leaf = match self.paths.get(&hash.0) {
            Some(&idx) if self.matches(idx, subject, hash.1) => idx,
            _ => self.create_path(subject, now, out)?,
        };
        let revived = self.touch(leaf, now, out);
        Some((leaf, revived))
    }

    pub(super) fn create_path(
        &mut self,
        subject: &Subject,
        now: u64,
        out: &mut Vec<Event>,
    ) -> Option<u32> {
        // The existing prefix.
        self.prefix.clear();
        self.prefix.push(0);
        let mut cur = 0u32;
        let segs = subject.segments();
        let mut hasher = PathHasher::default();
        let mut existing = 0;
        for seg in segs {
            let found = self
                .strings
                .get(seg.level())
                .zip(self.strings.get(seg.value()))
                .and_then(|(l, v)| self.index.get(&(cur, l, v)).copied());
            match found {
                Some(child) => {
                    hash_segment(&mut hasher, seg.level(), seg.value());
                    cur = child;
                    self.prefix.push(cur);
                    existing += 1;
                }
                None => break,
            }
        }
        let missing = segs.len() - existing;
        if missing == 0 {
            return Some(cur);
        }
        // Room: evict the longest-stale cells, never one on this path.
        while self.live + missing > self.settings.max_cells {
            if !self.evict_for_room(now, out) {
                return None;
            }
        }
        for seg in &segs[existing..] {
            hash_segment(&mut hasher, seg.level(), seg.value());
            let level = self.strings.acquire(seg.level());
            let value = self.strings.acquire(seg.value());
            let kind = CellKind::of_level(seg.level());
            let depth = self.cells[cur as usize].depth + 1;
            let idx = match self.free.pop() {
                Some(i) => {
                    let generation = self.cells[i as usize].generation;
                    self.cells[i as usize] = Cell::new(cur, generation, level, value, kind);
                    i
                }
                None => {
                    let i = self.cells.len() as u32;
                    self.cells.push(Cell::new(cur, 0, level, value, kind));
                    if (i as usize) >> CHUNK_BITS >= self.chunk_wake.len() {
                        self.chunk_wake.push(u64::MAX);
                    }
                    i
                }
            };
            let cell = &mut self.cells[idx as usize];
            cell.depth = depth;
            // `touch` sets it, and walks on to the older ancestors.
            cell.last_seen = 0;
            (cell.path_hash, cell.path_check) = hasher.finish();
            self.paths.insert(cell.path_hash, idx);
            self.index.insert((cur, level, value), idx);
            let children = &mut self.cells[cur as usize].children;
            children.reserve_exact(if children.len() < 4 {
                1
            } else {
                children.len() / 2
            });
            children.push(idx);
            self.set_wake(idx, now.saturating_add(self.settings.stale_after));
            self.live += 1;
            self.stats.created_cells += 1;
            cur = idx;
        }
        Some(cur)
    }

    /// Marks the cell and its ancestors fresh; stale ones come back (and are refreshed by the
    /// caller from `self.revived`).
    pub(super) fn touch(&mut self, leaf: u32, now: u64, out: &mut Vec<Event>) -> bool {
        let mut idx = leaf;
        let mut leaf_revived = false;
        loop {
            let history_len = self.settings.history_len;
            let c = &mut self.cells[idx as usize];
            if idx != leaf && !c.stale && c.last_seen.saturating_add(TOUCH_GRANULARITY) > now {
                break;
            }
            c.last_seen = c.last_seen.max(now);
            if c.stale {
                c.stale = false;
                self.stale_count -= 1;
                c.record(now, history_len);
                out.push(Event::StaleChanged {
                    cell: CellId {
                        index: idx,
                        generation: c.generation,
                    },
                    stale: false,
                    time_ns: now,
                });
                if idx == leaf {
                    leaf_revived = true;
                } else {
                    self.revived.push(idx);
                }
            }
            if idx == 0 {
                break;
            }
            idx = c.parent;
        }
        // Refresh the deepest revived cell first.
        self.revived.reverse();
        leaf_revived
    }

    /// Removes a cell and everything below it; returns how many cells went.
    pub(crate) fn evict_subtree(&mut self, top: u32, now: u64, out: &mut Vec<Event>) -> usize {
        if top == 0 {
            return 0;
        }
        // Detach from the parent first.
        let parent = self.cells[top as usize].parent;
        let contrib = self.cells[top as usize].contrib;
        let p = &mut self.cells[parent as usize];
        if let Some(pos) = p.children.iter().position(|&c| c == top) {
            p.children.swap_remove(pos);
        }
        if contrib != NO_BUCKET
            && let Some(counts) = p.counts.as_mut()
        {
            counts[usize::from(contrib)] -= 1;
        }
        let mut stack = vec![top];
        let mut order = Vec::new();
        while let Some(idx) = stack.pop() {
            order.push(idx);
            stack.extend_from_slice(&self.cells[idx as usize].children);
        }
        // Deepest first, so paths can still be built.
        for &idx in order.iter().rev() {
            if self.cells[idx as usize].trouble_since.is_some() {
                self.cells[idx as usize].trouble_since = None;
                self.on_trouble(idx, TroubleChange::Ended, now, out);
            }
            let path = self.path_of(idx);
            let id = self.cell_id(idx);
            out.push(Event::CellEvicted {
                cell: id,
                path,
                time_ns: now,
            });
        }
        for &idx in &order {
            let generation = self.cells[idx as usize].generation.wrapping_add(1);
            let mut cell = std::mem::replace(
                &mut self.cells[idx as usize],
                Cell::new(
                    u32::MAX,
                    generation,
                    self.levels.empty,
                    self.levels.empty,
                    CellKind::Other,
                ),
            );
            cell.used = false;
            self.cells[idx as usize].used = false;
            if self.paths.get(&cell.path_hash) == Some(&idx) {
                self.paths.remove(&cell.path_hash);
            }
            self.index.remove(&(cell.parent, cell.level, cell.value));
            self.strings.release(cell.level);
            self.strings.release(cell.value);
            for r in cell.readings.take_all() {
                r.release(&mut self.strings);
            }
            if cell.stale {
                self.stale_count -= 1;
            }
            self.cells[idx as usize].wake = u64::MAX;
            self.free.push(idx);
            self.live -= 1;
        }
        order.len()
    }

    pub(super) fn has_cluster_ancestor(&self, mut idx: u32) -> bool {
        while idx != 0 && idx != u32::MAX {
            let c = &self.cells[idx as usize];
            if c.level == self.levels.cluster {
                return true;
            }
            idx = c.parent;
        }
        false
    }

    // ---- names ----------------------------------------------------------------------------

    /// The subject of a slot.
    pub(crate) fn subject_of(&self, idx: u32) -> Subject {
        let mut pairs = Vec::new();
        let mut cur = idx;
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            pairs.push((self.strings.resolve(c.level), self.strings.resolve(c.value)));
            cur = c.parent;
        }
        pairs.reverse();
        Subject::from_pairs(pairs).unwrap_or_default()
    }

    /// The qualified path of a slot.
    pub(crate) fn path_of(&self, idx: u32) -> String {
        self.subject_of(idx).qualified()
    }

    /// The cluster value of a slot (`""` outside any cluster).
    pub(crate) fn cluster_of(&self, idx: u32) -> &str {
        let mut cur = idx;
        let mut found = "";
        while cur != 0 && cur != u32::MAX {
            let c = &self.cells[cur as usize];
            if c.level == self.levels.cluster {
                found = self.strings.resolve(c.value);
            }
            cur = c.parent;
        }
        found
    }
}

#[inline]
fn hash_segment(h: &mut PathHasher, level: &str, value: &str) {
    h.write(level.as_bytes());
    h.write(value.as_bytes());
}

/// The two hashes of a whole subject, as cells store them in `path_hash` and `path_check`.
pub(crate) fn path_hash(subject: &Subject) -> (u64, u64) {
    let mut h = PathHasher::default();
    for seg in subject.segments() {
        hash_segment(&mut h, seg.level(), seg.value());
    }
    h.finish()
}
