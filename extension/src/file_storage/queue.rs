//! One durable FIFO queue: a directory of segment files plus a `cursor` file.
//!
//! A record on disk is `magic (4) | length (4) | crc32 (4) | index (8) | key (8) | payload`,
//! little-endian, the CRC covering index, key and payload. Segments are named after the index
//! of their first record (`seg-00000000000000000042.log`) and rolled at `segment_size`.
//! `cursor` holds the ack watermark (every index below it is done) with its own CRC, replaced
//! atomically (write + rename).
//!
//! Recovery never refuses to start: a torn tail of the last segment (a crash mid-write) is
//! cut off; a damaged record anywhere is skipped by scanning forward for the next record
//! whose header and CRC check out, and reported (a log line with file and offset, and the
//! `kafka_obs_storage_damaged_records_total` counter); a damaged or missing cursor means
//! starting from the oldest segment (more duplicates, nothing lost). Acks may arrive out of
//! order; records acked above the watermark are delivered again after a crash (at least
//! once). A segment is deleted once the watermark passed its last record.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_obs_api::{
    ComponentTelemetry, Counter, Gauge, PersistentQueue, PushOutcome, QueuedRecord, StorageError,
};

use super::{Fsync, OnFull};

const MAGIC: u32 = 0x4B4F_5131; // "KOQ1"
const HEADER: u64 = 12;
const FIXED: u64 = 16; // index + key
/// A length above this is damage, not a record.
const MAX_RECORD: u64 = 256 << 20;
const CURSOR: &str = "cursor";

/// How a queue behaves; see the extension's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    pub max_size: u64,
    pub segment_size: u64,
    pub fsync: Fsync,
    pub fsync_interval: Duration,
    pub on_full: OnFull,
}

#[derive(Debug)]
struct Segment {
    first_index: u64,
    path: PathBuf,
    file: File,
    size: u64,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    next_index: u64,
    /// Every index below is done.
    watermark: u64,
    /// Done indices at or above the watermark.
    acked: BTreeSet<u64>,
    /// Handed out, not yet acked.
    in_flight: BTreeSet<u64>,
    /// Reading position: segment (by first index) and byte offset.
    read_segment: u64,
    read_offset: u64,
    total_size: u64,
    /// The last index read; a jump past it means damaged records were skipped.
    last_read: Option<u64>,
    last_fsync: Instant,
    cursor_dirty: bool,
    /// Bumped whenever space is freed, for `wait_for_room`.
    freed: u64,
}

#[derive(Debug)]
struct Counters {
    damaged: Counter,
    damaged_bytes: Counter,
    evicted: Counter,
    full: Counter,
    size: Gauge,
    pending: Gauge,
}

/// A queue in one directory. All methods block on file I/O.
#[derive(Debug)]
pub struct FileQueue {
    dir: PathBuf,
    options: QueueOptions,
    state: Mutex<State>,
    room: Condvar,
    counters: Counters,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn segment_name(first_index: u64) -> String {
    format!("seg-{first_index:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// A record read at some offset: its index, key, payload and total length on disk.
struct Read {
    index: u64,
    key: u64,
    payload: Vec<u8>,
    len: u64,
}

/// Reads the record at `offset` if one is there and intact; `None` on any damage.
fn read_record(file: &File, offset: u64, end: u64) -> Option<Read> {
    if offset + HEADER + FIXED > end {
        return None;
    }
    let mut head = [0u8; 12];
    file.read_exact_at(&mut head, offset).ok()?;
    let magic = u32::from_le_bytes(head[0..4].try_into().ok()?);
    let len = u64::from(u32::from_le_bytes(head[4..8].try_into().ok()?));
    let crc = u32::from_le_bytes(head[8..12].try_into().ok()?);
    if magic != MAGIC || !(FIXED..=MAX_RECORD).contains(&len) || offset + HEADER + len > end {
        return None;
    }
    let mut body = vec![0u8; len as usize];
    file.read_exact_at(&mut body, offset + HEADER).ok()?;
    if crc32fast::hash(&body) != crc {
        return None;
    }
    let index = u64::from_le_bytes(body[0..8].try_into().ok()?);
    let key = u64::from_le_bytes(body[8..16].try_into().ok()?);
    body.drain(..16);
    Some(Read {
        index,
        key,
        payload: body,
        len: HEADER + len,
    })
}

/// The offset of the next intact record after `from`, scanning for the magic.
fn resync(file: &File, from: u64, end: u64) -> Option<u64> {
    let magic = MAGIC.to_le_bytes();
    let mut pos = from;
    let mut buf = vec![0u8; 64 << 10];
    while pos + 4 <= end {
        let n = ((end - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos).ok()?;
        for i in 0..n.saturating_sub(3) {
            if buf[i..i + 4] == magic && read_record(file, pos + i as u64, end).is_some() {
                return Some(pos + i as u64);
            }
        }
        if n < 4 {
            break;
        }
        pos += (n - 3) as u64;
    }
    None
}

fn encode(index: u64, key: u64, payload: &[u8]) -> Vec<u8> {
    let len = FIXED as usize + payload.len();
    let mut out = Vec::with_capacity(HEADER as usize + len);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[HEADER as usize..]);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    out
}

impl FileQueue {
    /// Opens the queue in `dir` (created if missing), recovering whatever a crash left.
    pub fn open(
        dir: &Path,
        options: QueueOptions,
        telemetry: &ComponentTelemetry,
        storage_id: &str,
    ) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let labels = [("storage", storage_id)];
        let counters = Counters {
            damaged: telemetry.counter(
                "kafka_obs_storage_damaged_records_total",
                "Damaged stretches of a disk queue (bad CRC, torn or garbled record) skipped on read or recovery.",
                &labels,
            ),
            damaged_bytes: telemetry.counter(
                "kafka_obs_storage_damaged_bytes_total",
                "Bytes of a disk queue skipped because they were damaged.",
                &labels,
            ),
            evicted: telemetry.counter(
                "kafka_obs_storage_evicted_records_total",
                "Undelivered records discarded to make room (on_full: drop_oldest).",
                &labels,
            ),
            full: telemetry.counter(
                "kafka_obs_storage_full_total",
                "Appends refused because the queue reached max_size.",
                &labels,
            ),
            size: telemetry.gauge(
                "kafka_obs_storage_size_bytes",
                "Bytes a disk queue occupies.",
                &labels,
            ),
            pending: telemetry.gauge(
                "kafka_obs_storage_pending_records",
                "Records in a disk queue not yet delivered.",
                &labels,
            ),
        };

        let mut firsts: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(Result::ok)
            .filter_map(|e| parse_segment_name(&e.file_name().to_string_lossy()))
            .collect();
        firsts.sort_unstable();

        let cursor_path = dir.join(CURSOR);
        let cursor = match fs::read(&cursor_path) {
            Ok(bytes) if bytes.len() == 12 => {
                let w = u64::from_le_bytes(bytes[0..8].try_into().unwrap_or([0; 8]));
                let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4]));
                (crc32fast::hash(&bytes[0..8]) == crc).then_some(w)
            }
            Ok(bytes) => {
                tracing::warn!(path = %cursor_path.display(), len = bytes.len(), "disk queue cursor damaged; delivering from the oldest segment (duplicates possible)");
                counters.damaged.inc();
                None
            }
            Err(_) => None,
        };
        let oldest = firsts.first().copied().unwrap_or(0);
        let watermark = match cursor {
            Some(w) => w.max(oldest),
            None => oldest,
        };

        let mut segments = VecDeque::new();
        for (i, first) in firsts.iter().enumerate() {
            let path = dir.join(segment_name(*first));
            // A segment whose successor starts at or below the watermark is fully done.
            if let Some(next) = firsts.get(i + 1)
                && *next <= watermark
            {
                let _ = fs::remove_file(&path);
                continue;
            }
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            let size = file.metadata().map_err(io_err(&path))?.len();
            segments.push_back(Segment {
                first_index: *first,
                path,
                file,
                size,
            });
        }

        // The last segment: find the next index and cut off a torn tail.
        let mut next_index = watermark.max(segments.back().map_or(0, |s| s.first_index));
        if let Some(last) = segments.back_mut() {
            let mut offset = 0;
            let mut valid_end = 0;
            while offset < last.size {
                match read_record(&last.file, offset, last.size) {
                    Some(r) => {
                        next_index = next_index.max(r.index + 1);
                        offset += r.len;
                        valid_end = offset;
                    }
                    None => match resync(&last.file, offset + 1, last.size) {
                        Some(at) => offset = at,
                        None => break,
                    },
                }
            }
            if valid_end < last.size {
                let cut = last.size - valid_end;
                tracing::warn!(path = %last.path.display(), offset = valid_end, bytes = cut, "disk queue segment ends in a torn record (crash mid-write); cut off");
                counters.damaged.inc();
                counters.damaged_bytes.add(cut);
                last.file.set_len(valid_end).map_err(io_err(&last.path))?;
                last.size = valid_end;
            }
        }
        let total_size = segments.iter().map(|s| s.size).sum();
        let read_segment = segments.front().map_or(next_index, |s| s.first_index);
        let q = Self {
            dir: dir.to_path_buf(),
            options,
            state: Mutex::new(State {
                segments,
                next_index,
                watermark,
                acked: BTreeSet::new(),
                in_flight: BTreeSet::new(),
                read_segment,
                read_offset: 0,
                total_size,
                last_read: None,
                last_fsync: Instant::now(),
                cursor_dirty: false,
                freed: 0,
            }),
            room: Condvar::new(),
            counters,
        };
        {
            let st = q.lock();
            q.update_gauges(&st);
            if st.next_index > st.watermark {
                tracing::info!(dir = %dir.display(), pending = st.next_index - st.watermark, "disk queue recovered; undelivered records will be sent");
            }
        }
        Ok(q)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // State stays consistent across a panic (each field update is a single step).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_gauges(&self, st: &State) {
        self.counters.size.set(st.total_size as i64);
        let pending = st
            .next_index
            .saturating_sub(st.watermark)
            .saturating_sub(st.acked.len() as u64);
        self.counters.pending.set(pending as i64);
    }

    fn new_segment(&self, st: &mut State) -> Result<(), StorageError> {
        let path = self.dir.join(segment_name(st.next_index));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if self.options.fsync == Fsync::Always
            && let Ok(d) = File::open(&self.dir)
        {
            let _ = d.sync_all();
        }
        st.segments.push_back(Segment {
            first_index: st.next_index,
            path,
            file,
            size: 0,
        });
        Ok(())
    }

    /// Drops the oldest segment none of whose records is in flight (never the one being
    /// written); returns how many undelivered records that discarded.
    fn evict_oldest(&self, st: &mut State) -> Option<u64> {
        let last = st.segments.len().checked_sub(1)?;
        let pos = (0..last).find(|&i| {
            let (first, end) = (st.segments[i].first_index, st.segments[i + 1].first_index);
            st.in_flight.range(first..end).next().is_none()
        })?;
        let first = st.segments[pos].first_index;
        let end = st.segments[pos + 1].first_index;
        let from = first.max(st.watermark);
        let done = st.acked.range(from..end).count() as u64;
        let discarded = end.saturating_sub(from).saturating_sub(done);
        for index in from..end {
            st.acked.insert(index);
        }
        let seg = st.segments.remove(pos)?;
        st.total_size -= seg.size;
        let _ = fs::remove_file(&seg.path);
        if st.read_segment == first {
            st.read_segment = end;
            st.read_offset = 0;
        }
        self.advance(st);
        Some(discarded)
    }

    fn maybe_fsync(&self, st: &mut State, file_ix: usize) -> Result<(), StorageError> {
        let due = match self.options.fsync {
            Fsync::Always => true,
            Fsync::Interval => st.last_fsync.elapsed() >= self.options.fsync_interval,
            Fsync::Never => false,
        };
        if due {
            let seg = &st.segments[file_ix];
            seg.file.sync_data().map_err(io_err(&seg.path))?;
            st.last_fsync = Instant::now();
        }
        Ok(())
    }

    /// Advances the watermark over acked indices and deletes finished segments.
    fn advance(&self, st: &mut State) {
        while st.acked.first() == Some(&st.watermark) {
            st.acked.pop_first();
            st.watermark += 1;
            st.cursor_dirty = true;
        }
        let mut freed = false;
        while st.segments.len() > 1 && st.segments[1].first_index <= st.watermark {
            if let Some(seg) = st.segments.pop_front() {
                st.total_size -= seg.size;
                let _ = fs::remove_file(&seg.path);
                freed = true;
            }
        }
        if freed {
            st.freed += 1;
            self.room.notify_all();
        }
    }

    fn write_cursor(&self, st: &mut State) -> Result<(), StorageError> {
        if !st.cursor_dirty {
            return Ok(());
        }
        let mut bytes = st.watermark.to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
        let tmp = self.dir.join("cursor.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        if self.options.fsync == Fsync::Always {
            f.sync_data().map_err(io_err(&tmp))?;
        }
        let path = self.dir.join(CURSOR);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        st.cursor_dirty = false;
        Ok(())
    }
}

impl PersistentQueue for FileQueue {
    fn push(&self, key: u64, payload: &[u8]) -> Result<PushOutcome, StorageError> {
        let mut st = self.lock();
        let record = encode(st.next_index, key, payload);
        let len = record.len() as u64;
        if len > self.options.max_size {
            self.counters.full.inc();
            return Err(StorageError::Other(format!(
                "a {len}-byte batch is larger than the queue's max_size ({} bytes); raise file_storage max_size",
                self.options.max_size
            )));
        }
        let mut evicted = 0;
        while st.total_size + len > self.options.max_size {
            let can_evict = self.options.on_full == OnFull::DropOldest;
            match can_evict.then(|| self.evict_oldest(&mut st)).flatten() {
                Some(n) => evicted += n,
                None => {
                    // The oldest records may all sit in the write segment: roll once so it
                    // can be evicted, then try again.
                    if can_evict
                        && st.segments.len() == 1
                        && st.segments[0].size > 0
                        && st.in_flight.is_empty()
                    {
                        self.new_segment(&mut st)?;
                        continue;
                    }
                    self.counters.full.inc();
                    if evicted > 0 {
                        self.counters.evicted.add(evicted);
                    }
                    self.update_gauges(&st);
                    return Ok(PushOutcome::Full);
                }
            }
        }
        let roll = st
            .segments
            .back()
            .is_none_or(|s| s.size > 0 && s.size + len > self.options.segment_size);
        if roll {
            self.new_segment(&mut st)?;
        }
        let ix = st.segments.len() - 1;
        {
            let seg = &mut st.segments[ix];
            seg.file.write_all(&record).map_err(io_err(&seg.path))?;
            seg.size += len;
        }
        st.total_size += len;
        st.next_index += 1;
        self.maybe_fsync(&mut st, ix)?;
        self.update_gauges(&st);
        if evicted > 0 {
            self.counters.evicted.add(evicted);
            tracing::warn!(dir = %self.dir.display(), evicted, "disk queue full; oldest undelivered records discarded (on_full: drop_oldest)");
            return Ok(PushOutcome::StoredAfterEvicting { evicted });
        }
        Ok(PushOutcome::Stored)
    }

    fn pop(&self) -> Result<Option<QueuedRecord>, StorageError> {
        let mut st = self.lock();
        loop {
            let Some(pos) = st
                .segments
                .iter()
                .position(|s| s.first_index == st.read_segment)
                .or_else(|| {
                    st.segments
                        .iter()
                        .position(|s| s.first_index > st.read_segment)
                })
            else {
                return Ok(None);
            };
            if st.segments[pos].first_index != st.read_segment {
                st.read_segment = st.segments[pos].first_index;
                st.read_offset = 0;
            }
            let (offset, size) = (st.read_offset, st.segments[pos].size);
            if offset >= size {
                match st.segments.get(pos + 1) {
                    Some(next) => {
                        st.read_segment = next.first_index;
                        st.read_offset = 0;
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let seg = &st.segments[pos];
            match read_record(&seg.file, offset, size) {
                Some(r) => {
                    st.read_offset = offset + r.len;
                    // Indices between the last record read and this one were in damaged
                    // records: they will never be handed out, so count them as done.
                    let expected = st
                        .last_read
                        .map_or(st.watermark, |l| l + 1)
                        .max(st.watermark);
                    if r.index > expected {
                        for gone in expected..r.index {
                            st.acked.insert(gone);
                        }
                        self.advance(&mut st);
                    }
                    st.last_read = Some(st.last_read.map_or(r.index, |l| l.max(r.index)));
                    if r.index < st.watermark || st.acked.contains(&r.index) {
                        continue;
                    }
                    st.in_flight.insert(r.index);
                    return Ok(Some(QueuedRecord {
                        index: r.index,
                        key: r.key,
                        payload: r.payload,
                    }));
                }
                None => {
                    let resume = resync(&seg.file, offset + 1, size).unwrap_or(size);
                    let skipped = resume - offset;
                    tracing::error!(
                        path = %seg.path.display(),
                        offset,
                        skipped_bytes = skipped,
                        "disk queue record damaged (bad CRC or garbled header); skipped, delivering the rest"
                    );
                    self.counters.damaged.inc();
                    self.counters.damaged_bytes.add(skipped);
                    st.read_offset = resume;
                }
            }
        }
    }

    fn ack(&self, index: u64) {
        let mut st = self.lock();
        st.in_flight.remove(&index);
        if index >= st.watermark {
            st.acked.insert(index);
        }
        self.advance(&mut st);
        self.update_gauges(&st);
    }

    fn pending(&self) -> u64 {
        let st = self.lock();
        st.next_index
            .saturating_sub(st.watermark)
            .saturating_sub(st.acked.len() as u64)
    }

    fn wait_for_room(&self, timeout: Duration) -> bool {
        let st = self.lock();
        let seen = st.freed;
        let (st, _) = self
            .room
            .wait_timeout_while(st, timeout, |st| st.freed == seen && st.total_size > 0)
            .unwrap_or_else(|e| e.into_inner());
        st.freed != seen || st.total_size == 0
    }

    fn sync(&self) -> Result<(), StorageError> {
        let mut st = self.lock();
        if self.options.fsync != Fsync::Never
            && let Some(seg) = st.segments.back()
        {
            seg.file.sync_data().map_err(io_err(&seg.path))?;
            st.last_fsync = Instant::now();
        }
        self.write_cursor(&mut st)
    }
}

impl Drop for FileQueue {
    fn drop(&mut self) {
        let mut st = self.lock();
        if let Err(e) = self.write_cursor(&mut st) {
            tracing::warn!(error = %e, "cannot persist the disk queue position on close");
        }
    }
}

#[cfg(test)]
mod tests;
