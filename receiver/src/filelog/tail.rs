//! Following files the way the Collector's fileconsumer does: a file is known by its
//! fingerprint (its first `fingerprint_size` bytes), not by its name, so
//!
//! - a file renamed away (rotation) keeps its reader and is read to its end, then closed;
//!   renamed within the include patterns it is the same file and is not read twice;
//! - a file whose start changed (truncated and rewritten, copytruncate) is a new file, read
//!   from its beginning; one that shrank below the read position is too;
//! - a file deleted while open is read to its end through the open handle;
//! - a checkpoint (fingerprint, offset) found again after a restart resumes at its offset.
//!
//! All of it is blocking I/O: the receiver runs [`Tracker::poll`] on a blocking thread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::Checkpoint;
use super::config::{Encoding, FilelogReceiverConfig, StartAt};
use super::entry::{Body, Entry};
use super::split::{Split, next_entry, trimmed};

/// How much is read from a file at a time.
const READ_CHUNK: usize = 64 * 1024;
/// How deep under an include pattern's fixed directory we look for files.
const MAX_WALK_DEPTH: usize = 16;

/// Why an entry was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Longer than `max_log_size`.
    Oversized,
    /// Not valid UTF-8 with `encoding: utf-8`.
    Encoding,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::Encoding => "encoding",
        }
    }
}

/// What one poll produced.
#[derive(Debug, Default)]
pub struct Polled {
    pub entries: Vec<Entry>,
    pub dropped: Vec<DropReason>,
    /// The poll stopped at `max_batch_size`: poll again without waiting.
    pub more: bool,
}

/// One followed file.
#[derive(Debug)]
struct Reader {
    path: PathBuf,
    file: File,
    /// The inode, to tell a file rewritten in place from a new file under the same name.
    ino: u64,
    fingerprint: Vec<u8>,
    /// The file position of `buf[0]`: everything before it was made into entries.
    offset: u64,
    /// Bytes read; `buf[start..]` are not yet made into entries (consumed bytes are
    /// compacted away before the next read, not on every entry).
    buf: Vec<u8>,
    start: usize,
    /// When `buf` last grew, for `force_flush_period`.
    grew_at: Instant,
    /// Dropping an oversized entry: skip to the next newline.
    skipping: bool,
    /// Matched by the include patterns at the last poll (otherwise: rotated away or deleted).
    matched: bool,
}

impl Reader {
    fn open(path: &Path, offset: u64, fingerprint: Vec<u8>) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let ino = file.metadata()?.ino();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            ino,
            fingerprint,
            offset,
            buf: Vec::new(),
            start: 0,
            grew_at: Instant::now(),
            skipping: false,
            matched: true,
        })
    }

    fn position(&self) -> u64 {
        self.offset + self.pending().len() as u64
    }

    /// The bytes read and not yet made into entries.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Starts over at the beginning (the file was truncated).
    fn restart(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.offset = 0;
        self.buf.clear();
        self.start = 0;
        self.skipping = false;
        self.fingerprint.clear();
        Ok(())
    }

    /// Appends what the file holds beyond `buf`, up to `room` bytes.
    fn fill(&mut self, room: usize, fingerprint_size: usize) -> std::io::Result<usize> {
        self.buf.drain(..self.start);
        self.start = 0;
        let mut total = 0;
        let mut chunk = vec![0u8; READ_CHUNK];
        while total < room {
            let want = READ_CHUNK.min(room - total);
            let n = self.file.read(&mut chunk[..want])?;
            if n == 0 {
                break;
            }
            self.buf.extend_from_slice(&chunk[..n]);
            total += n;
        }
        if total > 0 {
            self.grew_at = Instant::now();
            // A file shorter than the fingerprint size grows its fingerprint as it grows.
            if self.fingerprint.len() < fingerprint_size && self.offset == 0 {
                let upto = fingerprint_size.min(self.buf.len());
                if upto > self.fingerprint.len() {
                    self.fingerprint = self.buf[..upto].to_vec();
                }
            } else if self.fingerprint.len() < fingerprint_size
                && let Ok(fp) = read_fingerprint(&self.path, fingerprint_size)
                && fp.starts_with(&self.fingerprint)
            {
                self.fingerprint = fp;
            }
        }
        Ok(total)
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}

/// Follows the files of one receiver.
#[derive(Debug)]
pub struct Tracker {
    readers: Vec<Reader>,
    /// Checkpoints from the storage, matched at the first poll only.
    resume: Vec<Checkpoint>,
    first_poll: bool,
}

fn read_fingerprint(path: &Path, size: usize) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut fp = Vec::with_capacity(size);
    (&mut file).take(size as u64).read_to_end(&mut fp)?;
    Ok(fp)
}

/// The directory an include pattern's fixed part names (walked for files), and how deep.
fn walk_root(pattern: &str) -> (PathBuf, usize) {
    let meta = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
    let fixed = &pattern[..meta];
    let root = match fixed.rfind('/') {
        Some(0) => PathBuf::from("/"),
        Some(i) => PathBuf::from(&fixed[..i]),
        None => PathBuf::from("."),
    };
    let depth = if pattern.contains("**") {
        MAX_WALK_DEPTH
    } else {
        pattern[meta..].matches('/').count() + 1
    };
    (root, depth)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, depth - 1, out),
            Ok(t) if t.is_file() || t.is_symlink() => out.push(path),
            _ => {}
        }
    }
}

impl Tracker {
    pub fn new(resume: Vec<Checkpoint>) -> Self {
        Self {
            readers: Vec::new(),
            resume,
            first_poll: true,
        }
    }

    /// Files currently open.
    pub fn open_files(&self) -> usize {
        self.readers.len()
    }

    /// Where each open file stands, for the storage.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.readers
            .iter()
            .filter(|r| !r.fingerprint.is_empty())
            .map(|r| Checkpoint {
                fingerprint: r.fingerprint.clone(),
                offset: r.offset,
            })
            .collect()
    }

    /// The files the patterns match now, sorted for a stable order.
    fn matching_files(config: &FilelogReceiverConfig) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for pattern in &config.include_patterns {
            let (root, depth) = walk_root(pattern);
            if root == Path::new(pattern) || !pattern.contains(['*', '?', '[', '{']) {
                found.push(PathBuf::from(pattern));
                continue;
            }
            walk(&root, depth, &mut found);
        }
        found.retain(|p| p.is_file() && config.include.is_match(p) && !config.exclude.is_match(p));
        found.sort();
        found.dedup();
        found
    }

    /// Finds new, rotated and truncated files.
    fn discover(&mut self, config: &FilelogReceiverConfig) {
        let fp_size = config.fingerprint_size;
        for reader in &mut self.readers {
            reader.matched = false;
            // Shrunk below what we read: truncated in place (copytruncate).
            if let Ok(meta) = reader.file.metadata()
                && meta.len() < reader.position()
            {
                tracing::info!(path = %reader.path.display(), "file truncated; reading it from the start");
                if let Err(e) = reader.restart() {
                    tracing::warn!(path = %reader.path.display(), error = %e, "cannot rewind a truncated file");
                }
            }
        }
        for path in Self::matching_files(config) {
            let fp = match read_fingerprint(&path, fp_size) {
                Ok(fp) if !fp.is_empty() => fp,
                Ok(_) => continue, // empty: nothing to identify it by yet
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot read a matched file");
                    continue;
                }
            };
            if let Some(reader) = self
                .readers
                .iter_mut()
                .find(|r| !r.matched && !r.fingerprint.is_empty() && fp.starts_with(&r.fingerprint))
            {
                if reader.path != path {
                    tracing::debug!(from = %reader.path.display(), to = %path.display(), "file renamed");
                    reader.path = path;
                }
                reader.matched = true;
                continue;
            }
            if self
                .readers
                .iter()
                .any(|r| r.matched && r.fingerprint == fp)
            {
                continue; // a copy of a file we follow (copytruncate's copy)
            }
            // Same file (inode), different start: rewritten in place (copytruncate, then more
            // lines than we had read before this poll saw it shrink).
            let ino = std::fs::metadata(&path).map(|m| m.ino()).ok();
            if let Some(reader) = self
                .readers
                .iter_mut()
                .find(|r| !r.matched && Some(r.ino) == ino)
            {
                tracing::info!(path = %path.display(), "file content replaced; reading it from the start");
                if let Err(e) = reader.restart() {
                    tracing::warn!(path = %path.display(), error = %e, "cannot rewind a replaced file");
                }
                reader.path = path;
                reader.matched = true;
                continue;
            }
            let resumed = self
                .resume
                .iter()
                .find(|c| fp.starts_with(&c.fingerprint))
                .map(|c| c.offset);
            let offset = match resumed {
                Some(offset) => offset,
                None if self.first_poll && config.start_at == StartAt::End => {
                    std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
                }
                None => 0,
            };
            match Reader::open(&path, offset, fp.clone()) {
                Ok(mut reader) => {
                    if offset > 0 && fp.len() as u64 > offset {
                        // Resumed inside the fingerprint: keep what identifies it.
                        reader.fingerprint = fp;
                    }
                    tracing::info!(path = %path.display(), offset, "following file");
                    self.readers.push(reader);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot open a matched file")
                }
            }
        }
        self.first_poll = false;
        self.resume.clear();
    }

    /// Reads what is new, up to `config.max_batch_size` entries.
    pub fn poll(&mut self, config: &FilelogReceiverConfig) -> Polled {
        self.discover(config);
        let mut polled = Polled::default();
        let room = config.max_log_size.saturating_add(READ_CHUNK);
        for reader in &mut self.readers {
            loop {
                if polled.entries.len() >= config.max_batch_size {
                    polled.more = true;
                    break;
                }
                if let Some(entry) = next_from(reader, config, &mut polled.dropped) {
                    if let Some(entry) = entry {
                        polled.entries.push(entry);
                    }
                    continue;
                }
                let free = room.saturating_sub(reader.pending().len());
                match reader.fill(free, config.fingerprint_size) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(path = %reader.path.display(), error = %e, "cannot read file");
                        break;
                    }
                }
            }
            if polled.more {
                break;
            }
            // Nothing more will come to a file that left the patterns (or was deleted), and
            // no next line will end its last entry: flush it now.
            let idle = reader.grew_at.elapsed() >= config.force_flush_period;
            if (!reader.matched || idle) && !reader.pending().is_empty() && !reader.skipping {
                let n = reader.pending().len();
                if let Some(entry) = make_entry(reader, 0..n, n, config, &mut polled.dropped) {
                    polled.entries.push(entry);
                }
            } else if (!reader.matched || idle) && reader.skipping {
                let n = reader.pending().len();
                reader.consume(n);
            }
        }
        if !polled.more {
            // Rotated-away or deleted files read to their end are closed.
            self.readers.retain(|r| {
                let keep = r.matched || !r.pending().is_empty();
                if !keep {
                    tracing::info!(path = %r.path.display(), "finished a file that left the include patterns");
                }
                keep
            });
        }
        polled
    }
}

/// The next entry in `reader.buf`: `Some(Some(entry))`, `Some(None)` when bytes were used
/// up without an entry (dropped or empty), `None` when more bytes are needed.
fn next_from(
    reader: &mut Reader,
    config: &FilelogReceiverConfig,
    dropped: &mut Vec<DropReason>,
) -> Option<Option<Entry>> {
    if reader.skipping {
        let nl = reader.pending().iter().position(|b| *b == b'\n')?;
        reader.consume(nl + 1);
        reader.skipping = false;
        return Some(None);
    }
    match next_entry(reader.pending(), &config.multiline) {
        Split::Entry { consumed, range } => {
            Some(make_entry(reader, range, consumed, config, dropped))
        }
        Split::Incomplete if reader.pending().len() > config.max_log_size => {
            // No end within max_log_size: drop what we have and the rest of its line.
            let n = reader.pending().len();
            reader.consume(n);
            reader.skipping = true;
            dropped.push(DropReason::Oversized);
            Some(None)
        }
        Split::Incomplete => None,
    }
}

fn make_entry(
    reader: &mut Reader,
    range: std::ops::Range<usize>,
    consumed: usize,
    config: &FilelogReceiverConfig,
    dropped: &mut Vec<DropReason>,
) -> Option<Entry> {
    let bytes = trimmed(&reader.pending()[range]);
    let result = if bytes.is_empty() {
        None
    } else if bytes.len() > config.max_log_size {
        dropped.push(DropReason::Oversized);
        None
    } else {
        let body = match config.encoding {
            Encoding::Nop => Some(Body::Bytes(bytes.to_vec())),
            Encoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(text) => Some(Body::Value(serde_json::Value::String(text.to_string()))),
                Err(_) => {
                    dropped.push(DropReason::Encoding);
                    None
                }
            },
        };
        body.map(|body| {
            let mut entry = Entry::new(body);
            if config.include_file_name
                && let Some(name) = reader.path.file_name()
            {
                entry.attributes.insert(
                    "log.file.name".into(),
                    name.to_string_lossy().into_owned().into(),
                );
            }
            if config.include_file_path {
                entry.attributes.insert(
                    "log.file.path".into(),
                    reader.path.to_string_lossy().into_owned().into(),
                );
            }
            entry
        })
    };
    reader.consume(consumed);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_roots() {
        assert_eq!(walk_root("/var/log/*.log"), (PathBuf::from("/var/log"), 1));
        assert_eq!(
            walk_root("/var/log/*/app.log"),
            (PathBuf::from("/var/log"), 2)
        );
        assert_eq!(walk_root("/var/**/x.log").1, MAX_WALK_DEPTH);
    }
}
