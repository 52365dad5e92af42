//! The `otlp` receiver's configuration, in the Collector's shape.
//!
//! ```yaml
//! protocols:
//!   grpc:                      # present (even empty) = enabled
//!     endpoint: 127.0.0.1:4317
//!     max_recv_msg_size_mib: 4
//!     tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
//!     auth: {authenticator: bearertokenauth}
//!   http:
//!     endpoint: 127.0.0.1:4318
//!     max_request_body_size: 20MiB
//!     metrics_url_path: /v1/metrics
//! ```
//!
//! The raw serde structs mirror the YAML; [`OtlpReceiverConfig`] is what validation produces
//! and what `build` uses: endpoints checked, sizes in bytes, URL paths normalized and distinct.
//! We default to 127.0.0.1 rather than the Collector's `localhost` so the listen address never
//! depends on name resolution.

use serde::{Deserialize, Deserializer};

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, ComponentId, RawAuthSettings};

use kafka_obs_net::{RawServerTls, ServerTls, check_endpoint};

pub const DEFAULT_GRPC_ENDPOINT: &str = "127.0.0.1:4317";
pub const DEFAULT_HTTP_ENDPOINT: &str = "127.0.0.1:4318";
/// Shown when an endpoint is not `host:port`.
const ENDPOINT_EXAMPLE: &str = "127.0.0.1:4317 or 0.0.0.0:4318";
/// gRPC's own default message limit, as the Collector keeps it.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 4;
/// The Collector's `confighttp` default for `max_request_body_size`.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 20 << 20;

/// The validated configuration of one `otlp` receiver. At least one protocol is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpReceiverConfig {
    pub grpc: Option<GrpcSettings>,
    pub http: Option<HttpSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcSettings {
    /// `host:port` as written (resolved when the socket is bound).
    pub endpoint: String,
    /// Largest request accepted, in bytes (after decompression).
    pub max_recv_msg_size: usize,
    /// HTTP/2 streams per connection; `None` = no limit.
    pub max_concurrent_streams: Option<u32>,
    /// Serve TLS (`None`: plaintext).
    pub tls: Option<ServerTls>,
    /// The authenticator extension every request must pass.
    pub auth: Option<ComponentId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub endpoint: String,
    /// Largest request body accepted, in bytes, before and after decompression.
    pub max_request_body_size: usize,
    pub traces_url_path: String,
    pub metrics_url_path: String,
    pub logs_url_path: String,
    /// Serve TLS (`None`: plaintext).
    pub tls: Option<ServerTls>,
    /// The authenticator extension every request must pass.
    pub auth: Option<ComponentId>,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_string(),
            max_recv_msg_size: mib(DEFAULT_MAX_RECV_MSG_SIZE_MIB),
            max_concurrent_streams: None,
            tls: None,
            auth: None,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_HTTP_ENDPOINT.to_string(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE as usize,
            traces_url_path: "/v1/traces".to_string(),
            metrics_url_path: "/v1/metrics".to_string(),
            logs_url_path: "/v1/logs".to_string(),
            tls: None,
            auth: None,
        }
    }
}

fn mib(n: u64) -> usize {
    usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    protocols: Option<RawProtocols>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtocols {
    /// `None`: key absent (disabled); `Some(None)`: `grpc:` with an empty body (defaults).
    #[serde(default, deserialize_with = "present")]
    grpc: Option<Option<RawGrpc>>,
    #[serde(default, deserialize_with = "present")]
    http: Option<Option<RawHttp>>,
}

/// Tells a key written with an empty body (`grpc:`) apart from an absent key.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGrpc {
    endpoint: String,
    /// 0 means the default (4), as in the Collector.
    max_recv_msg_size_mib: u64,
    /// 0 means no limit.
    max_concurrent_streams: u32,
    tls: Option<RawServerTls>,
    auth: Option<RawAuthSettings>,
}

impl Default for RawGrpc {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_GRPC_ENDPOINT.to_string(),
            max_recv_msg_size_mib: DEFAULT_MAX_RECV_MSG_SIZE_MIB,
            max_concurrent_streams: 0,
            tls: None,
            auth: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    endpoint: String,
    /// Bytes, or a size with a unit (`20MiB`); 0 means the default.
    #[serde(deserialize_with = "de::byte_size")]
    max_request_body_size: u64,
    traces_url_path: String,
    metrics_url_path: String,
    logs_url_path: String,
    tls: Option<RawServerTls>,
    auth: Option<RawAuthSettings>,
}

impl Default for RawHttp {
    fn default() -> Self {
        let d = HttpSettings::default();
        Self {
            endpoint: d.endpoint,
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
            traces_url_path: d.traces_url_path,
            metrics_url_path: d.metrics_url_path,
            logs_url_path: d.logs_url_path,
            tls: None,
            auth: None,
        }
    }
}

impl RawConfig {
    pub(crate) fn resolve(self) -> Result<OtlpReceiverConfig, ComponentConfigError> {
        let Some(protocols) = self.protocols else {
            return Err(ComponentConfigError::new(
                "protocols",
                "enable at least one protocol: `grpc:` (port 4317) and/or `http:` (port 4318)",
            ));
        };
        let grpc = protocols
            .grpc
            .map(|g| resolve_grpc(g.unwrap_or_default()))
            .transpose()
            .map_err(|e| e.within("grpc").within("protocols"))?;
        let http = protocols
            .http
            .map(|h| resolve_http(h.unwrap_or_default()))
            .transpose()
            .map_err(|e| e.within("http").within("protocols"))?;
        if grpc.is_none() && http.is_none() {
            return Err(ComponentConfigError::new(
                "protocols",
                "enable at least one protocol: `grpc:` (port 4317) and/or `http:` (port 4318)",
            ));
        }
        Ok(OtlpReceiverConfig { grpc, http })
    }
}

fn resolve_grpc(raw: RawGrpc) -> Result<GrpcSettings, ComponentConfigError> {
    check_endpoint(&raw.endpoint, ENDPOINT_EXAMPLE)
        .map_err(|m| ComponentConfigError::new("endpoint", m))?;
    let size_mib = if raw.max_recv_msg_size_mib == 0 {
        DEFAULT_MAX_RECV_MSG_SIZE_MIB
    } else {
        raw.max_recv_msg_size_mib
    };
    Ok(GrpcSettings {
        endpoint: raw.endpoint,
        max_recv_msg_size: mib(size_mib),
        max_concurrent_streams: (raw.max_concurrent_streams > 0)
            .then_some(raw.max_concurrent_streams),
        tls: raw.tls.map(RawServerTls::resolve).transpose()?,
        auth: resolve_auth(raw.auth.as_ref())?,
    })
}

fn resolve_http(raw: RawHttp) -> Result<HttpSettings, ComponentConfigError> {
    check_endpoint(&raw.endpoint, ENDPOINT_EXAMPLE)
        .map_err(|m| ComponentConfigError::new("endpoint", m))?;
    let size = if raw.max_request_body_size == 0 {
        DEFAULT_MAX_REQUEST_BODY_SIZE
    } else {
        raw.max_request_body_size
    };
    let traces = url_path("traces_url_path", &raw.traces_url_path)?;
    let metrics = url_path("metrics_url_path", &raw.metrics_url_path)?;
    let logs = url_path("logs_url_path", &raw.logs_url_path)?;
    for (key, a, b) in [
        ("metrics_url_path", &metrics, &traces),
        ("logs_url_path", &logs, &traces),
        ("logs_url_path", &logs, &metrics),
    ] {
        if a == b {
            return Err(ComponentConfigError::new(
                key,
                format!("{a} is already the path of another signal; give each signal its own path"),
            ));
        }
    }
    Ok(HttpSettings {
        endpoint: raw.endpoint,
        max_request_body_size: usize::try_from(size).unwrap_or(usize::MAX),
        traces_url_path: traces,
        metrics_url_path: metrics,
        logs_url_path: logs,
        tls: raw.tls.map(RawServerTls::resolve).transpose()?,
        auth: resolve_auth(raw.auth.as_ref())?,
    })
}

fn resolve_auth(
    raw: Option<&RawAuthSettings>,
) -> Result<Option<ComponentId>, ComponentConfigError> {
    raw.map(|a| a.resolve().map_err(|e| e.within("auth")))
        .transpose()
}

/// The Collector prepends a missing leading `/`; we do too, and reject what the router could not
/// serve as a literal path.
fn url_path(key: &str, raw: &str) -> Result<String, ComponentConfigError> {
    let path = if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("/{raw}")
    };
    let bad_segment = path
        .split('/')
        .any(|seg| seg.starts_with(':') || seg.starts_with('*'));
    if path.contains(['{', '}', '?', '#', ' ']) || bad_segment {
        return Err(ComponentConfigError::new(
            key,
            format!("{raw:?} is not a plain URL path; write something like /v1/metrics"),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_api::parse_component_config;

    fn parse(yaml: &str) -> Result<OtlpReceiverConfig, ComponentConfigError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("test yaml");
        parse_component_config::<RawConfig>(&value)?.resolve()
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let text = include_str!("../../testdata/otlp.yaml");
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("testdata yaml");
        let map = value.as_mapping().expect("a map of receiver ids");
        let get = |id: &str| {
            let body = map.get(id).unwrap_or_else(|| panic!("{id} in testdata"));
            parse_component_config::<RawConfig>(body)
                .and_then(RawConfig::resolve)
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        assert_eq!(
            get("otlp"),
            OtlpReceiverConfig {
                grpc: Some(GrpcSettings::default()),
                http: Some(HttpSettings::default()),
            }
        );
        assert_eq!(
            get("otlp/grpc_only"),
            OtlpReceiverConfig {
                grpc: Some(GrpcSettings::default()),
                http: None,
            }
        );
        assert_eq!(
            get("otlp/custom"),
            OtlpReceiverConfig {
                grpc: Some(GrpcSettings {
                    endpoint: "0.0.0.0:14317".into(),
                    max_recv_msg_size: 16 << 20,
                    max_concurrent_streams: Some(64),
                    tls: Some(ServerTls {
                        cert_file: "/etc/kafka-obs/server.pem".into(),
                        key_file: "/etc/kafka-obs/server.key".into(),
                        client_ca_file: Some("/etc/kafka-obs/clients-ca.pem".into()),
                    }),
                    auth: Some("bearertokenauth/in".parse().expect("id")),
                }),
                http: Some(HttpSettings {
                    endpoint: "[::1]:14318".into(),
                    max_request_body_size: 1 << 20,
                    traces_url_path: "/otlp/traces".into(),
                    metrics_url_path: "/otlp/metrics".into(),
                    logs_url_path: "/v1/logs".into(),
                    tls: Some(ServerTls {
                        cert_file: "/etc/kafka-obs/server.pem".into(),
                        key_file: "/etc/kafka-obs/server.key".into(),
                        client_ca_file: None,
                    }),
                    auth: None,
                }),
            }
        );
    }

    #[test]
    fn at_least_one_protocol() {
        for yaml in ["", "protocols:", "protocols: {}"] {
            let e = parse(yaml).expect_err(yaml);
            assert_eq!(e.path, "protocols", "{yaml:?}");
            assert!(e.message.contains("at least one protocol"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (
                "protocols: {grpc: {endpoint: nowhere}}",
                "protocols::grpc::endpoint",
            ),
            (
                "protocols: {http: {endpoint: 'a:b'}}",
                "protocols::http::endpoint",
            ),
            (
                "protocols: {grpc: {endpont: x}}",
                "protocols::grpc::endpont",
            ),
            ("protocols: {udp: {}}", "protocols::udp"),
            (
                "protocols: {http: {max_request_body_size: huge}}",
                "protocols::http::max_request_body_size",
            ),
            (
                "protocols: {http: {logs_url_path: /v1/metrics}}",
                "protocols::http::logs_url_path",
            ),
            (
                "protocols: {http: {traces_url_path: '/x/{id}'}}",
                "protocols::http::traces_url_path",
            ),
            (
                "protocols: {grpc: {tls: {key_file: k.pem}}}",
                "protocols::grpc::tls::cert_file",
            ),
            (
                "protocols: {http: {tls: {cert_file: c.pem}}}",
                "protocols::http::tls::key_file",
            ),
            (
                "protocols: {http: {tls: {ca_file: c.pem}}}",
                "protocols::http::tls::ca_file",
            ),
            (
                "protocols: {grpc: {auth: {authenticator: ''}}}",
                "protocols::grpc::auth::authenticator",
            ),
            (
                "protocols: {http: {auth: {token: x}}}",
                "protocols::http::auth::token",
            ),
        ];
        for (yaml, path) in cases {
            let e = parse(yaml).expect_err(yaml);
            assert_eq!(e.path, path, "{yaml}: {e}");
        }
    }

    #[test]
    fn url_paths_get_a_leading_slash_and_zero_sizes_mean_default() {
        let c = parse(
            "protocols: {http: {metrics_url_path: m, max_request_body_size: 0}, grpc: {max_recv_msg_size_mib: 0}}",
        )
        .expect("valid");
        let http = c.http.expect("http");
        assert_eq!(http.metrics_url_path, "/m");
        assert_eq!(http.max_request_body_size, 20 << 20);
        assert_eq!(c.grpc.expect("grpc").max_recv_msg_size, 4 << 20);
    }
}
