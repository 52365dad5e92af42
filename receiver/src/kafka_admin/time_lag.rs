//! Time lag: how long ago a partition's end offset was where a group's committed offset is now.
//!
//! Each poll adds (end offset, poll time) to a small table per partition, and a committed
//! offset is placed in that table by linear interpolation (kafka-lag-exporter's method). We
//! chose this over fetching the record at the committed offset because it costs no extra
//! request (the end offsets are read anyway), needs no record decoding (compression codecs)
//! and no read access to the topics, and it answers for a committed offset whose record is
//! already deleted. Its precision is the poll interval, which is what the rules evaluate at.
//!
//! Memory is bounded: at most `max_samples` samples per partition (16 bytes each; the oldest
//! goes first), a sample only when the end offset moved, and tables of partitions that leave
//! the metadata are dropped ([`TimeLagTables::retain`]).

use std::collections::{HashMap, VecDeque};

/// One partition's (end offset, time in Unix nanoseconds) samples, offsets increasing.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    points: VecDeque<(i64, u64)>,
}

impl Samples {
    /// Records that the end offset was `offset` at `time_ns`. Only the first time an offset is
    /// seen counts (that is when the log reached it); an offset below the last one (a topic
    /// deleted and made again) starts the table afresh.
    pub fn record(&mut self, offset: i64, time_ns: u64, max: usize) {
        match self.points.back() {
            Some(&(last, _)) if offset == last => return,
            Some(&(last, _)) if offset < last => self.points.clear(),
            _ => {}
        }
        while self.points.len() >= max.max(2) {
            self.points.pop_front();
        }
        self.points.push_back((offset, time_ns));
    }

    /// Seconds between `now_ns` and when the end offset reached `committed`; 0 when the group
    /// is at the end. Older than the table: extrapolated with the table's overall rate, or,
    /// without a rate, the table's age (a lower bound). `None` with no sample at all.
    pub fn lag_seconds(&self, committed: i64, now_ns: u64) -> Option<f64> {
        let &(last_offset, _) = self.points.back()?;
        if committed >= last_offset {
            return Some(0.0);
        }
        let at = self.time_of(committed)?;
        Some((now_ns as f64 - at).max(0.0) / 1e9)
    }

    /// When (Unix nanoseconds) the end offset was `offset`.
    fn time_of(&self, offset: i64) -> Option<f64> {
        let &(first_offset, first_time) = self.points.front()?;
        let &(last_offset, last_time) = self.points.back()?;
        if offset < first_offset {
            if last_offset > first_offset {
                let rate = (last_time as f64 - first_time as f64)
                    / (last_offset as f64 - first_offset as f64);
                return Some(first_time as f64 - rate * (first_offset - offset) as f64);
            }
            return Some(first_time as f64);
        }
        // The first sample at or past `offset`, and the one before it.
        let i = self.points.partition_point(|&(o, _)| o < offset);
        let &(o1, t1) = self.points.get(i)?;
        if o1 == offset || i == 0 {
            return Some(t1 as f64);
        }
        let &(o0, t0) = self.points.get(i - 1)?;
        let f = (offset - o0) as f64 / (o1 - o0) as f64;
        Some(t0 as f64 + f * (t1 as f64 - t0 as f64))
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The tables of every partition, kept across polls.
#[derive(Debug, Default)]
pub struct TimeLagTables {
    tables: HashMap<(String, i32), Samples>,
    max_samples: usize,
}

impl TimeLagTables {
    pub fn new(max_samples: usize) -> Self {
        Self {
            tables: HashMap::new(),
            max_samples: max_samples.max(2),
        }
    }

    pub fn record(&mut self, topic: &str, partition: i32, end_offset: i64, time_ns: u64) {
        let max = self.max_samples;
        if let Some(t) = self.tables.get_mut(&(topic.to_string(), partition)) {
            t.record(end_offset, time_ns, max);
            return;
        }
        let mut t = Samples::default();
        t.record(end_offset, time_ns, max);
        self.tables.insert((topic.to_string(), partition), t);
    }

    pub fn lag_seconds(
        &self,
        topic: &str,
        partition: i32,
        committed: i64,
        now_ns: u64,
    ) -> Option<f64> {
        self.tables
            .get(&(topic.to_string(), partition))?
            .lag_seconds(committed, now_ns)
    }

    /// Keeps only the partitions `keep` says are still there.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, i32) -> bool) {
        self.tables.retain(|(t, p), _| keep(t, *p));
    }

    /// Samples held, over all partitions (for the self-metric).
    pub fn samples(&self) -> usize {
        self.tables.values().map(Samples::len).sum()
    }
}
