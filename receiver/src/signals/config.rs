//! The `signals` receiver's configuration.
//!
//! ```yaml
//! receivers:
//!   signals:
//!     endpoint: 0.0.0.0:50051
//!     max_recv_msg_size_mib: 4
//!     max_batch_size: 512
//!     dedupe:
//!       window: 100000
//!       max_sources: 10000
//!     tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
//!     auth: {authenticator: bearertokenauth}
//! ```
//!
//! 50051 is the port the `signals` exporter's documentation and the deployment kit use for the
//! aggregator; we bind 127.0.0.1 by default, as the `otlp` receiver does.

use serde::Deserialize;

use kafka_obs_api::{ComponentConfigError, ComponentId, RawAuthSettings};

use super::dedupe::DedupeSettings;
use kafka_obs_net::{RawServerTls, ServerTls};

pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:50051";
const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
const DEFAULT_MAX_BATCH_SIZE: usize = 512;

/// The validated configuration of one `signals` receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalsReceiverConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Largest envelope accepted, in bytes (after decompression).
    pub max_recv_msg_size: usize,
    /// Envelopes read off one stream that go into the pipeline as one batch, at most.
    pub max_batch_size: usize,
    pub dedupe: DedupeSettings,
    /// Serve TLS (`None`: plaintext).
    pub tls: Option<ServerTls>,
    /// The authenticator extension every stream must pass.
    pub auth: Option<ComponentId>,
}

impl Default for SignalsReceiverConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            max_recv_msg_size: (DEFAULT_MAX_RECV_MSG_SIZE_MIB << 20) as usize,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            dedupe: DedupeSettings::default(),
            tls: None,
            auth: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    endpoint: String,
    max_recv_msg_size_mib: u64,
    max_batch_size: usize,
    dedupe: RawDedupe,
    tls: Option<RawServerTls>,
    auth: Option<RawAuthSettings>,
}

impl Default for RawConfig {
    fn default() -> Self {
        let d = SignalsReceiverConfig::default();
        Self {
            endpoint: d.endpoint,
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_batch_size: d.max_batch_size,
            dedupe: RawDedupe::default(),
            tls: None,
            auth: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDedupe {
    window: u64,
    max_sources: usize,
}

impl Default for RawDedupe {
    fn default() -> Self {
        let d = DedupeSettings::default();
        Self {
            window: d.window,
            max_sources: d.max_sources,
        }
    }
}

impl RawConfig {
    pub(crate) fn resolve(self) -> Result<SignalsReceiverConfig, ComponentConfigError> {
        kafka_obs_net::check_endpoint(&self.endpoint, "127.0.0.1:50051")
            .map_err(|m| ComponentConfigError::new("endpoint", m))?;
        let mib = if self.max_recv_msg_size_mib == 0 {
            DEFAULT_MAX_RECV_MSG_SIZE_MIB
        } else {
            self.max_recv_msg_size_mib
        };
        if self.max_batch_size == 0 {
            return Err(ComponentConfigError::new(
                "max_batch_size",
                "must be at least 1 (envelopes per batch handed to the pipeline)",
            ));
        }
        if self.dedupe.window == 0 {
            return Err(ComponentConfigError::new(
                "window",
                "must be at least 1; make it at least the senders' max_in_flight (default 1000)",
            )
            .within("dedupe"));
        }
        if self.dedupe.max_sources == 0 {
            return Err(
                ComponentConfigError::new("max_sources", "must be at least 1").within("dedupe"),
            );
        }
        Ok(SignalsReceiverConfig {
            endpoint: self.endpoint,
            max_recv_msg_size: usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            max_batch_size: self.max_batch_size,
            dedupe: DedupeSettings {
                window: self.dedupe.window,
                max_sources: self.dedupe.max_sources,
            },
            tls: self.tls.map(RawServerTls::resolve).transpose()?,
            auth: self
                .auth
                .map(|a| a.resolve().map_err(|e| e.within("auth")))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_api::parse_component_config;

    fn parse(yaml: &str) -> Result<SignalsReceiverConfig, ComponentConfigError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
        parse_component_config::<RawConfig>(&value)?.resolve()
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let text = include_str!("../../testdata/signals.yaml");
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("testdata yaml");
        let map = value.as_mapping().expect("a map of receiver ids");
        let get = |id: &str| {
            let body = map.get(id).unwrap_or_else(|| panic!("{id} in testdata"));
            parse_component_config::<RawConfig>(body)
                .and_then(RawConfig::resolve)
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        assert_eq!(get("signals"), SignalsReceiverConfig::default());
        assert_eq!(
            get("signals/custom"),
            SignalsReceiverConfig {
                endpoint: "0.0.0.0:15051".into(),
                max_recv_msg_size: 16 << 20,
                max_batch_size: 64,
                dedupe: DedupeSettings {
                    window: 5000,
                    max_sources: 200,
                },
                tls: Some(ServerTls {
                    cert_file: "/etc/kafka-obs/server.pem".into(),
                    key_file: "/etc/kafka-obs/server.key".into(),
                    client_ca_file: None,
                }),
                auth: Some("bearertokenauth/sidecars".parse().expect("id")),
            }
        );
    }

    #[test]
    fn errors_name_the_path() {
        for (yaml, path) in [
            ("endpoint: nowhere", "endpoint"),
            ("max_batch_size: 0", "max_batch_size"),
            ("dedupe: {window: 0}", "dedupe::window"),
            ("dedupe: {max_sources: 0}", "dedupe::max_sources"),
            ("dedupe: {windw: 3}", "dedupe::windw"),
            ("protocols: {grpc: {}}", "protocols"),
            ("tls: {key_file: k.pem}", "tls::cert_file"),
            ("auth: {authenticator: ''}", "auth::authenticator"),
        ] {
            let e = parse(yaml).expect_err(yaml);
            assert_eq!(e.path, path, "{yaml}: {e}");
        }
    }
}
