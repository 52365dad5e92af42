//! The blocking side of the `file` exporter: encoding, buffered writes, rotation, fsync.
//!
//! It runs on its own thread and owns the file. Rotation follows lumberjack, which the
//! Collector uses: before a write would take the file past the size limit, the file is renamed
//! to `name-YYYY-MM-DDTHH-MM-SS.mmm.ext` beside it and a new one is started; then the oldest
//! backups beyond `max_backups`, and those older than `max_days`, are removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prost::Message;
use tokio::sync::mpsc;

use kafka_obs_api::{Batch, RunContext};
use kafka_obs_otlp_json as otlp_json;

use super::{FileExporterConfig, FileFormat, Rotation};

const BACKUP_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3f";
/// `2006-01-02T15-04-05.000`
const BACKUP_TIME_LEN: usize = 23;

pub(crate) enum Command {
    Write(Batch),
    Flush,
}

#[derive(Debug)]
pub(crate) struct FileWriter {
    path: PathBuf,
    format: FileFormat,
    rotation: Option<Rotation>,
    out: BufWriter<File>,
    /// Bytes in the current file, buffered ones included.
    size: u64,
    /// Reused encoding buffer.
    scratch: Vec<u8>,
}

fn open_file(path: &Path, append: bool) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    options.open(path)
}

impl FileWriter {
    pub(crate) fn open(config: &FileExporterConfig) -> io::Result<Self> {
        let file = open_file(&config.path, config.append)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: config.path.clone(),
            format: config.format,
            rotation: config.rotation,
            out: BufWriter::with_capacity(64 << 10, file),
            size,
            scratch: Vec::new(),
        })
    }

    /// Serves commands until the channel closes, then flushes and fsyncs.
    /// Write errors are counted, logged and reported to the health check (which answers 503
    /// naming this exporter) until a flush succeeds again.
    pub(crate) fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        ctx: &RunContext,
    ) -> io::Result<()> {
        let telemetry = &ctx.telemetry;
        let id = ctx.id.to_string();
        let mut failing = false;
        while let Some(command) = rx.blocking_recv() {
            match command {
                Command::Write(batch) => {
                    let (kind, items) = (batch.kind(), batch.item_count() as u64);
                    match self.write(&batch) {
                        Ok(()) => telemetry.sent(kind).add(items),
                        Err(e) => {
                            telemetry.send_failed(kind).add(items);
                            failing = true;
                            ctx.report_error(format!(
                                "cannot write to {}: {e}",
                                self.path.display()
                            ));
                            tracing::error!(
                                exporter = %id,
                                path = %self.path.display(),
                                data_type = %kind,
                                items,
                                error = %e,
                                "cannot write to the file; the batch is lost"
                            );
                        }
                    }
                }
                Command::Flush => {
                    if let Err(e) = self.out.flush() {
                        tracing::error!(exporter = %id, path = %self.path.display(), error = %e, "cannot flush the file");
                        failing = true;
                        ctx.report_error(format!("cannot flush {}: {e}", self.path.display()));
                    } else if failing {
                        // Only a flush proves the data reached the file.
                        failing = false;
                        ctx.report_ok();
                    }
                }
            }
        }
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }

    fn encode(&mut self, batch: &Batch) -> io::Result<()> {
        self.scratch.clear();
        match self.format {
            FileFormat::Json => {
                otlp_json::write_json_line(batch, &mut self.scratch).map_err(io::Error::other)
            }
            FileFormat::Proto => {
                let len = match batch {
                    Batch::Metrics(r) => r.encoded_len(),
                    Batch::Logs(r) => r.encoded_len(),
                    Batch::Traces(r) => r.encoded_len(),
                };
                let prefix = u32::try_from(len).map_err(|_| {
                    io::Error::other(format!("a {len}-byte request does not fit a 4-byte length"))
                })?;
                self.scratch.extend_from_slice(&prefix.to_be_bytes());
                match batch {
                    Batch::Metrics(r) => r.encode(&mut self.scratch),
                    Batch::Logs(r) => r.encode(&mut self.scratch),
                    Batch::Traces(r) => r.encode(&mut self.scratch),
                }
                .map_err(io::Error::other)
            }
        }
    }

    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        self.encode(batch)?;
        let len = self.scratch.len() as u64;
        if let Some(rotation) = self.rotation
            && self.size > 0
            && self.size.saturating_add(len) > rotation.max_bytes
        {
            self.rotate(&rotation)?;
        }
        self.out.write_all(&self.scratch)?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self, rotation: &Rotation) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        let backup = self.backup_name(rotation.localtime);
        fs::rename(&self.path, &backup)?;
        self.out = BufWriter::with_capacity(64 << 10, open_file(&self.path, false)?);
        self.size = 0;
        tracing::debug!(path = %self.path.display(), backup = %backup.display(), "rotated");
        if let Err(e) = self.prune(rotation) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove old backups");
        }
        Ok(())
    }

    /// `(directory, stem, extension with its dot)` of the live file.
    fn parts(&self) -> (PathBuf, String, String) {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        (dir, stem, ext)
    }

    fn backup_name(&self, localtime: bool) -> PathBuf {
        let (dir, stem, ext) = self.parts();
        let stamp = if localtime {
            chrono::Local::now().format(BACKUP_TIME_FORMAT).to_string()
        } else {
            chrono::Utc::now().format(BACKUP_TIME_FORMAT).to_string()
        };
        let mut candidate = dir.join(format!("{stem}-{stamp}{ext}"));
        // Two rotations in one millisecond: never overwrite a backup.
        let mut n = 1;
        while candidate.exists() {
            candidate = dir.join(format!("{stem}-{stamp}-{n}{ext}"));
            n += 1;
        }
        candidate
    }

    /// Backups of this file, newest first.
    pub(crate) fn backups(&self) -> io::Result<Vec<PathBuf>> {
        let (dir, stem, ext) = self.parts();
        let prefix = format!("{stem}-");
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(middle) = name
                .strip_prefix(&prefix)
                .and_then(|m| m.strip_suffix(ext.as_str()))
            else {
                continue;
            };
            let Some(stamp) = middle.get(..BACKUP_TIME_LEN) else {
                continue;
            };
            if chrono::NaiveDateTime::parse_from_str(stamp, BACKUP_TIME_FORMAT).is_ok() {
                found.push((middle.to_string(), entry.path()));
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    fn prune(&self, rotation: &Rotation) -> io::Result<()> {
        let backups = self.backups()?;
        let max_age = (rotation.max_days > 0)
            .then(|| Duration::from_secs(u64::from(rotation.max_days) * 86_400));
        let now = SystemTime::now();
        for (i, backup) in backups.iter().enumerate() {
            let too_many = rotation.max_backups > 0 && i >= rotation.max_backups as usize;
            let too_old = max_age.is_some_and(|max| {
                fs::metadata(backup)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > max)
            });
            if too_many || too_old {
                fs::remove_file(backup)?;
            }
        }
        Ok(())
    }
}
