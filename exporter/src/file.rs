//! Exporter `file`: writes batches to a file, as the Collector's fileexporter.
//!
//! `format: json` (default) writes OTLP/JSON, one request per line (the OTLP file exporter
//! format); `format: proto` writes each request as protobuf behind a 4-byte big-endian length.
//! `rotation:` (present = enabled, as in the Collector) renames the file to
//! `name-<timestamp>.ext` when it would grow past `max_megabytes` and keeps `max_backups` of
//! those. Writes are buffered and flushed every `flush_interval`; when the input closes the
//! file is flushed and fsynced before `run` returns, so everything accepted is on disk.
//!
//! All file I/O happens on a dedicated thread fed by a bounded channel; the async side only
//! moves batches and ticks the flush timer.

mod writer;

use std::path::PathBuf;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer};
use tokio::sync::{mpsc, oneshot};

use kafka_obs_api::config::de;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, ComponentTelemetry, DataKind,
    Exporter, ExporterConfig, ExporterFactory, FactoryMeta, Parcel, RunContext, RunError,
    Stability, parse_component_config,
};

use writer::{Command, FileWriter};

/// Commands waiting for the writer thread.
const WRITE_BUFFER: usize = 16;
const MIB: f64 = (1u64 << 20) as f64;

/// Makes `file` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "file",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Writes OTLP JSON lines (or length-prefixed protobuf) to a file, with rotation by size",
    },
    |config| Ok(Box::new(FileExporterConfig::parse(config)?)),
);

/// How batches are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// OTLP/JSON, one request per line.
    #[default]
    Json,
    /// Protobuf requests, each behind a 4-byte big-endian length.
    Proto,
}

/// When and how the file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The file is rotated before a write would take it past this size.
    pub max_bytes: u64,
    /// Backups older than this many days are removed (0 = no age limit).
    pub max_days: u32,
    /// Backups kept (0 = all).
    pub max_backups: u32,
    /// Backup names use local time instead of UTC.
    pub localtime: bool,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 100 << 20,
            max_days: 0,
            max_backups: 100,
            localtime: false,
        }
    }
}

/// The validated configuration of a `file` exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileExporterConfig {
    pub path: PathBuf,
    pub format: FileFormat,
    /// `None`: the file grows without rotation.
    pub rotation: Option<Rotation>,
    pub flush_interval: Duration,
    /// Keep what the file holds at start (`false`: truncate it).
    pub append: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    path: Option<String>,
    format: FileFormat,
    /// `None`: key absent; `Some(None)`: `rotation:` with an empty body (defaults).
    #[serde(deserialize_with = "present")]
    rotation: Option<Option<RawRotation>>,
    #[serde(deserialize_with = "de::duration")]
    flush_interval: Duration,
    append: bool,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            path: None,
            format: FileFormat::Json,
            rotation: None,
            flush_interval: Duration::from_secs(1),
            append: false,
        }
    }
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRotation {
    /// Fractions are accepted (`0.5` = 512 KiB); 0 means the default, 100.
    max_megabytes: f64,
    max_days: u32,
    max_backups: u32,
    localtime: bool,
}

impl Default for RawRotation {
    fn default() -> Self {
        Self {
            max_megabytes: 100.0,
            max_days: 0,
            max_backups: 100,
            localtime: false,
        }
    }
}

impl FileExporterConfig {
    /// Parses and checks the YAML body of a `file` exporter.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let path = match raw.path {
            Some(p) if !p.trim().is_empty() => PathBuf::from(p),
            _ => {
                return Err(ComponentConfigError::new(
                    "path",
                    "required: the file to write, such as path: ./otlp.jsonl",
                ));
            }
        };
        if raw.flush_interval.is_zero() {
            return Err(ComponentConfigError::new(
                "flush_interval",
                "must be greater than 0, such as 1s",
            ));
        }
        let rotation = raw
            .rotation
            .map(|r| {
                let r = r.unwrap_or_default();
                if !r.max_megabytes.is_finite() || r.max_megabytes < 0.0 {
                    return Err(ComponentConfigError::new(
                        "rotation::max_megabytes",
                        format!(
                            "{} is not a size; write megabytes such as 100",
                            r.max_megabytes
                        ),
                    ));
                }
                let mb = if r.max_megabytes == 0.0 {
                    100.0
                } else {
                    r.max_megabytes
                };
                Ok(Rotation {
                    max_bytes: ((mb * MIB) as u64).max(1),
                    max_days: r.max_days,
                    max_backups: r.max_backups,
                    localtime: r.localtime,
                })
            })
            .transpose()?;
        if raw.append && rotation.is_some() {
            return Err(ComponentConfigError::new(
                "append",
                "cannot be combined with rotation (as in the Collector); remove one of them",
            ));
        }
        Ok(Self {
            path,
            format: raw.format,
            rotation,
            flush_interval: raw.flush_interval,
            append: raw.append,
        })
    }

    /// Opens the file; the concrete type is what tests drive.
    pub fn open(&self, ctx: &BuildContext) -> Result<FileExporter, BuildError> {
        let writer = FileWriter::open(self).map_err(|e| {
            BuildError::Other(format!(
                "cannot open {} for writing: {e}; is the directory writable?",
                self.path.display()
            ))
        })?;
        Ok(FileExporter {
            writer,
            flush_interval: self.flush_interval,
            telemetry: ctx.telemetry.clone(),
            id: ctx.id.to_string(),
        })
    }
}

impl ComponentConfig for FileExporterConfig {}

impl ExporterConfig for FileExporterConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(self.open(ctx)?))
    }
}

/// A built `file` exporter: the file is open, nothing runs yet.
#[derive(Debug)]
pub struct FileExporter {
    writer: FileWriter,
    flush_interval: Duration,
    telemetry: ComponentTelemetry,
    id: String,
}

impl FileExporter {
    async fn export(
        self,
        mut input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        let (tx, rx) = mpsc::channel::<Command>(WRITE_BUFFER);
        let (done_tx, done_rx) = oneshot::channel::<std::io::Result<()>>();
        let writer = self.writer;
        let writer_ctx = ctx.clone();
        std::thread::Builder::new()
            .name("file-exporter".into())
            .spawn(move || {
                let result = writer.run(rx, &writer_ctx);
                let _ = done_tx.send(result);
            })?;
        let mut tick = tokio::time::interval(self.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break,
                _ = tick.tick() => {
                    // A full channel means writes are pending; the flush can wait a tick.
                    let _ = tx.try_send(Command::Flush);
                }
                batch = input.recv() => {
                    let batch = batch.map(Parcel::accept);
                    let Some(batch) = batch else {
                        drop(tx);
                        return finish(&self.id, done_rx, &ctx).await;
                    };
                    let (kind, items) = (batch.kind(), batch.item_count() as u64);
                    tokio::select! {
                        biased;
                        () = ctx.shutdown.cancelled() => {
                            self.telemetry.send_failed(kind).add(items);
                            break;
                        }
                        sent = tx.send(Command::Write(batch)) => {
                            if sent.is_err() {
                                self.telemetry.send_failed(kind).add(items);
                            }
                        }
                    }
                }
            }
        }
        // The drain deadline passed: count what will not be written, then let the writer
        // flush what it already has while we return.
        input.close();
        while let Ok(batch) = input.try_recv().map(Parcel::accept) {
            self.telemetry
                .send_failed(batch.kind())
                .add(batch.item_count() as u64);
        }
        drop(tx);
        Ok(())
    }
}

/// Input closed: wait until the writer has flushed and fsynced.
async fn finish(
    id: &str,
    done: oneshot::Receiver<std::io::Result<()>>,
    ctx: &RunContext,
) -> Result<(), RunError> {
    tokio::select! {
        result = done => match result {
            Ok(Ok(())) => {
                tracing::debug!(exporter = %id, "input closed; file flushed and synced");
                Ok(())
            }
            Ok(Err(e)) => Err(RunError::Io(e)),
            Err(_) => Err(RunError::Other("the file writer thread ended unexpectedly".into())),
        },
        () = ctx.shutdown.cancelled() => {
            tracing::warn!(exporter = %id, "shutdown deadline passed before the file was synced");
            Ok(())
        }
    }
}

impl Exporter for FileExporter {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).export(input, ctx).boxed()
    }
}

#[cfg(test)]
mod tests;
