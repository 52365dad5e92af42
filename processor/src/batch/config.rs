//! The `batch` processor's keys (the Collector's), their defaults and their check.

use std::time::Duration;

use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    BuildContext, BuildError, ComponentConfig, ComponentConfigError, Processor, ProcessorConfig,
    parse_component_config,
};

use super::processor::BatchProcessor;

pub const DEFAULT_SEND_BATCH_SIZE: usize = 8192;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);

/// The validated configuration of a `batch` processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items that trigger a send; 0 = only the timeout sends.
    pub send_batch_size: usize,
    /// How long the first buffered item may wait; zero = send at once.
    pub timeout: Duration,
    /// Most items in one outgoing batch; `None` = no limit. Never below `send_batch_size`.
    pub send_batch_max_size: Option<usize>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            send_batch_size: DEFAULT_SEND_BATCH_SIZE,
            timeout: DEFAULT_TIMEOUT,
            send_batch_max_size: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    send_batch_size: u32,
    #[serde(deserialize_with = "de::duration")]
    timeout: Duration,
    send_batch_max_size: u32,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            send_batch_size: DEFAULT_SEND_BATCH_SIZE as u32,
            timeout: DEFAULT_TIMEOUT,
            send_batch_max_size: 0,
        }
    }
}

impl BatchConfig {
    /// Parses and checks the YAML body of a `batch` processor.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        if raw.send_batch_max_size != 0 && raw.send_batch_max_size < raw.send_batch_size {
            return Err(ComponentConfigError::new(
                "send_batch_max_size",
                format!(
                    "{} is below send_batch_size ({}); set it to 0 (no limit) or at least send_batch_size",
                    raw.send_batch_max_size, raw.send_batch_size
                ),
            ));
        }
        Ok(Self {
            send_batch_size: raw.send_batch_size as usize,
            timeout: raw.timeout,
            send_batch_max_size: (raw.send_batch_max_size > 0)
                .then_some(raw.send_batch_max_size as usize),
        })
    }
}

impl ComponentConfig for BatchConfig {}

impl ProcessorConfig for BatchConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Processor>, BuildError> {
        Ok(Box::new(BatchProcessor::new(
            *self,
            ctx.telemetry.clone(),
            ctx.safe_when,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<BatchConfig, ComponentConfigError> {
        BatchConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../testdata/batch.yaml"))
                .expect("testdata yaml");
        let get = |id: &str| BatchConfig::parse(&value[id]).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(get("batch"), BatchConfig::default());
        assert_eq!(
            BatchConfig::default(),
            BatchConfig {
                send_batch_size: 8192,
                timeout: Duration::from_millis(200),
                send_batch_max_size: None
            }
        );
        assert_eq!(
            get("batch/custom"),
            BatchConfig {
                send_batch_size: 1000,
                timeout: Duration::from_secs(5),
                send_batch_max_size: Some(1500)
            }
        );
        assert_eq!(
            get("batch/immediate"),
            BatchConfig {
                send_batch_size: 100,
                timeout: Duration::ZERO,
                send_batch_max_size: Some(100)
            }
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse("send_batch_size: 100\nsend_batch_max_size: 10").expect_err("max below size");
        assert_eq!(e.path, "send_batch_max_size");
        assert!(e.message.contains("at least send_batch_size"), "{e}");
        assert_eq!(
            parse("timeout: soon").expect_err("bad duration").path,
            "timeout"
        );
        assert_eq!(
            parse("send_batch_size: -1").expect_err("negative").path,
            "send_batch_size"
        );
        assert!(
            parse("sendbatchsize: 1")
                .expect_err("unknown")
                .message
                .contains("unknown field")
        );
    }
}
