//! The invariant check the scenario and property tests run after every step: everything the
//! engine keeps incrementally, recomputed from scratch and compared.

use super::{Hierarchy, TOUCH_GRANULARITY};
use crate::{cell::NO_BUCKET, model::BUCKETS};

impl Hierarchy {
    /// Recomputes everything the engine keeps incrementally and compares: the children's
    /// counts, each contribution, each roll-up, staleness monotonicity, the indexes.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut live = 0;
        let mut stale = 0;
        for (i, c) in self.cells.iter().enumerate() {
            if !c.used {
                continue;
            }
            live += 1;
            stale += usize::from(c.stale);
            let i = i as u32;
            let mut expected = [0u32; BUCKETS];
            for &child in &c.children {
                let k = &self.cells[child as usize];
                if !k.used || k.parent != i {
                    return Err(format!("cell {i}: child {child} is not its child"));
                }
                if !c.stale && k.last_seen > c.last_seen.saturating_add(TOUCH_GRANULARITY) {
                    return Err(format!("cell {i}: child {child} has newer news"));
                }
                if !k.stale && c.stale {
                    return Err(format!("cell {i} is stale but child {child} is not"));
                }
                let want = match (k.stale, k.rolled) {
                    (false, Some(s)) => s.bucket() as u8,
                    _ => NO_BUCKET,
                };
                if k.contrib != want {
                    return Err(format!(
                        "cell {child}: contributes {} not {want}",
                        k.contrib
                    ));
                }
                if want != NO_BUCKET {
                    expected[usize::from(want)] += 1;
                }
            }
            let counts = c.counts.as_deref().copied().unwrap_or([0; BUCKETS]);
            if counts != expected {
                return Err(format!("cell {i}: counts {counts:?} != {expected:?}"));
            }
            let worst = c
                .children
                .iter()
                .map(|&k| &self.cells[k as usize])
                .filter(|k| !k.stale)
                .filter_map(|k| k.rolled)
                .max();
            if c.rolled != c.own.max(worst) {
                return Err(format!(
                    "cell {i}: rolled {:?} != max({:?}, {worst:?})",
                    c.rolled, c.own
                ));
            }
            if i != 0 {
                let key = (c.parent, c.level, c.value);
                if self.index.get(&key) != Some(&i) {
                    return Err(format!("cell {i}: not in the index"));
                }
            }
            if c.readings.len() > self.settings.max_readings {
                return Err(format!("cell {i}: {} readings", c.readings.len()));
            }
            if c.history.len() > self.settings.history_len {
                return Err(format!("cell {i}: history of {}", c.history.len()));
            }
        }
        if live != self.live || stale != self.stale_count {
            return Err(format!(
                "live {live}/{} stale {stale}/{}",
                self.live, self.stale_count
            ));
        }
        if self.index.len() != live - 1 {
            return Err(format!(
                "index has {} entries for {live} cells",
                self.index.len()
            ));
        }
        Ok(())
    }
}
