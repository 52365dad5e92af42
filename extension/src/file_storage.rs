//! `file_storage`: durable queues on local disk for exporters' `sending_queue.storage`.
//!
//! Each exporter that names this extension gets its own queue directory
//! (`<directory>/<exporter-id>/`), a log of segment files with a CRC per record (see
//! [`queue`]). The extension itself runs nothing; it offers a
//! [`StorageCapability`] that exporters look up by the extension's id at build time.
//!
//! Keys: `directory` (created if missing), `max_size` (cap per queue), `fsync`
//! (`always` | `interval` | `never`, default `always`), `fsync_interval`, `on_full`
//! (`drop_newest` | `drop_oldest` | `block`, default `drop_newest`).

pub mod queue;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    BuildContext, BuildError, Capability, ComponentConfig, ComponentConfigError,
    ComponentTelemetry, Extension, ExtensionConfig, ExtensionFactory, FactoryMeta, PersistentQueue,
    RunContext, RunError, Stability, Storage, StorageCapability, StorageError,
    parse_component_config,
};

pub use queue::{FileQueue, QueueOptions};

/// Makes `file_storage` extensions.
pub static FACTORY: ExtensionFactory = ExtensionFactory::new(
    FactoryMeta {
        type_name: "file_storage",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[],
        description: "Disk queues for exporters (sending_queue.storage): CRC per record, crash recovery, size cap",
    },
    |config| Ok(Box::new(FileStorageConfig::parse(config)?)),
)
.providing(&[Capability::Storage]);

/// When appended records are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// After every append, before the batch counts as accepted.
    #[default]
    Always,
    /// At most every `fsync_interval`.
    Interval,
    /// Never explicitly (the OS writes back; a process crash loses nothing, a power loss may).
    Never,
}

/// What a push does when the queue reached `max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Refuse the new batch (counted as an enqueue failure), as the Collector does.
    #[default]
    DropNewest,
    /// Discard the oldest undelivered records (counted) to make room.
    DropOldest,
    /// Wait for room: backpressure into the pipeline.
    Block,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    directory: PathBuf,
    #[serde(deserialize_with = "de::byte_size")]
    max_size: u64,
    fsync: Fsync,
    #[serde(deserialize_with = "de::duration")]
    fsync_interval: Duration,
    on_full: OnFull,
}

/// Where queues live when `directory` is not given.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/kafka-obs/file_storage";

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            max_size: 1 << 30,
            fsync: Fsync::Always,
            fsync_interval: Duration::from_secs(1),
            on_full: OnFull::DropNewest,
        }
    }
}

/// The validated configuration of a `file_storage` extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStorageConfig {
    pub directory: PathBuf,
    pub options: QueueOptions,
}

impl FileStorageConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        if raw.directory.as_os_str().is_empty() {
            return Err(ComponentConfigError::new(
                "directory",
                "must not be empty; name a directory such as /var/lib/kafka-obs/file_storage",
            ));
        }
        if raw.max_size < 4096 {
            return Err(ComponentConfigError::new(
                "max_size",
                "must be at least 4KiB, such as 1GiB",
            ));
        }
        if raw.fsync == Fsync::Interval && raw.fsync_interval.is_zero() {
            return Err(ComponentConfigError::new(
                "fsync_interval",
                "must be greater than 0 with fsync: interval, such as 1s",
            ));
        }
        Ok(Self {
            directory: raw.directory,
            options: QueueOptions {
                max_size: raw.max_size,
                segment_size: (raw.max_size / 8).clamp(1024, 16 << 20),
                fsync: raw.fsync,
                fsync_interval: raw.fsync_interval,
                on_full: raw.on_full,
            },
        })
    }
}

impl ComponentConfig for FileStorageConfig {}

impl ExtensionConfig for FileStorageConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Extension>, BuildError> {
        std::fs::create_dir_all(&self.directory).map_err(|e| {
            BuildError::Other(format!(
                "cannot create the storage directory {}: {e}; is it writable?",
                self.directory.display()
            ))
        })?;
        Ok(Box::new(FileStorageExtension {
            storage: Arc::new(FileStorage {
                id: ctx.id.to_string(),
                directory: self.directory.clone(),
                options: self.options.clone(),
            }),
        }))
    }
}

/// The capability: opens one [`FileQueue`] per name under the directory.
#[derive(Debug)]
pub struct FileStorage {
    id: String,
    directory: PathBuf,
    options: QueueOptions,
}

impl FileStorage {
    pub fn new(id: &str, directory: PathBuf, options: QueueOptions) -> Self {
        Self {
            id: id.to_string(),
            directory,
            options,
        }
    }
}

/// A queue name as a directory name: `exporter-kafka/eu` -> `exporter-kafka_eu`.
fn dir_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Storage for FileStorage {
    fn open_queue(
        &self,
        name: &str,
        telemetry: &ComponentTelemetry,
    ) -> Result<Arc<dyn PersistentQueue>, StorageError> {
        let dir = self.directory.join(dir_name(name));
        let q = FileQueue::open(&dir, self.options.clone(), telemetry, &self.id)?;
        Ok(Arc::new(q))
    }

    fn blocks_when_full(&self) -> bool {
        self.options.on_full == OnFull::Block
    }
}

struct FileStorageExtension {
    storage: Arc<FileStorage>,
}

impl Extension for FileStorageExtension {
    fn capability(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(Arc::new(StorageCapability(self.storage.clone())))
    }

    fn run(self: Box<Self>, ctx: RunContext) -> BoxFuture<'static, Result<(), RunError>> {
        Box::pin(async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let c =
            FileStorageConfig::parse(&yaml(include_str!("../testdata/file_storage.yaml"))).unwrap();
        assert_eq!(c.directory, PathBuf::from("/tmp/kafka-obs-queue"));
        assert_eq!(c.options.max_size, 64 << 20);
        assert_eq!(c.options.fsync, Fsync::Interval);
        assert_eq!(c.options.fsync_interval, Duration::from_millis(200));
        assert_eq!(c.options.on_full, OnFull::DropOldest);
        let d = FileStorageConfig::parse(&serde_yaml_ng::Value::Null).unwrap();
        assert_eq!(d.directory, PathBuf::from(DEFAULT_DIRECTORY));
        assert_eq!(d.options.fsync, Fsync::Always);
        assert_eq!(d.options.on_full, OnFull::DropNewest);
        assert_eq!(d.options.max_size, 1 << 30);
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(
            FileStorageConfig::parse(&yaml("max_size: 10"))
                .unwrap_err()
                .path,
            "max_size"
        );
        assert_eq!(
            FileStorageConfig::parse(&yaml("on_full: panic"))
                .unwrap_err()
                .path,
            "on_full"
        );
        assert_eq!(dir_name("exporter-kafka/eu"), "exporter-kafka_eu");
    }
}
