//! The `signals` exporter's configuration: the Collector's exporter keys (`endpoint`, `tls`,
//! `headers`, `auth`, `compression`, `timeout`, `retry_on_failure`, `sending_queue`) and
//! `max_in_flight`, the window of envelopes sent and not yet acked.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use kafka_obs_api::config::de;
use kafka_obs_api::{ComponentConfigError, ComponentId, RawAuthSettings, parse_component_config};
use kafka_obs_net::TlsConfig;

use crate::delivery::{self, DEFAULT_TIMEOUT, DeliverySettings, RawQueue, RawRetry};
use crate::otlp::Compression;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    endpoint: Option<String>,
    tls: TlsConfig,
    #[serde(deserialize_with = "kafka_obs_api::config::de::text_map")]
    headers: BTreeMap<String, String>,
    auth: Option<RawAuthSettings>,
    compression: Compression,
    max_in_flight: usize,
    #[serde(deserialize_with = "de::duration")]
    timeout: Duration,
    retry_on_failure: RawRetry,
    sending_queue: RawQueue,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            tls: TlsConfig::default(),
            headers: BTreeMap::new(),
            auth: None,
            compression: Compression::Gzip,
            max_in_flight: 1000,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RawRetry::default(),
            sending_queue: RawQueue::default(),
        }
    }
}

/// The validated configuration of a `signals` exporter.
#[derive(Debug, Clone)]
pub struct SignalsExporterConfig {
    pub uri: String,
    pub tls: TlsConfig,
    pub headers: MetadataMap,
    /// `auth::authenticator`: the extension whose headers open every stream.
    pub auth: Option<ComponentId>,
    pub compression: Compression,
    /// Envelopes sent and not yet acked, at most.
    pub max_in_flight: usize,
    pub delivery: DeliverySettings,
}

impl SignalsExporterConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let endpoint = raw.endpoint.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
            ComponentConfigError::new(
                "endpoint",
                "required: the SignalAggregator's gRPC address, such as aggregator.example.com:50051",
            )
        })?;
        raw.tls.validate()?;
        let e = endpoint.trim();
        // `grpc://` is how the seed writes AGGREGATOR_URL: plaintext gRPC, like `http://`.
        let (plain, rest) = match (
            e.strip_prefix("http://")
                .or_else(|| e.strip_prefix("grpc://")),
            e.strip_prefix("https://")
                .or_else(|| e.strip_prefix("grpcs://")),
        ) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => (raw.tls.insecure, e),
        };
        if !rest.contains(':') || rest.trim_end_matches('/').contains('/') {
            return Err(ComponentConfigError::new(
                "endpoint",
                format!("{endpoint:?} is not host:port, such as aggregator.example.com:50051"),
            ));
        }
        let uri = format!(
            "{}://{}",
            if plain || raw.tls.insecure {
                "http"
            } else {
                "https"
            },
            rest.trim_end_matches('/')
        );
        if raw.max_in_flight == 0 {
            return Err(ComponentConfigError::new(
                "max_in_flight",
                "must be at least 1",
            ));
        }
        let mut headers = MetadataMap::new();
        for (k, v) in &raw.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid gRPC header name")
                    .within("headers")
            })?;
            let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid header value").within("headers")
            })?;
            headers.insert(key, value);
        }
        let delivery = delivery::resolve(raw.timeout, &raw.retry_on_failure, &raw.sending_queue)?;
        Ok(Self {
            uri,
            tls: raw.tls,
            headers,
            auth: crate::auth::parse(raw.auth.as_ref())?,
            compression: raw.compression,
            max_in_flight: raw.max_in_flight,
            delivery,
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
        let c = SignalsExporterConfig::parse(&yaml(include_str!("../../testdata/signals.yaml")))
            .unwrap();
        assert_eq!(c.uri, "http://127.0.0.1:50051");
        assert_eq!(c.max_in_flight, 500);
        assert_eq!(c.compression, Compression::None);
        let d = SignalsExporterConfig::parse(&yaml("endpoint: agg:50051")).unwrap();
        assert_eq!(d.uri, "https://agg:50051");
        assert_eq!(d.max_in_flight, 1000);
        let seed = SignalsExporterConfig::parse(&yaml("endpoint: grpc://central:50051")).unwrap();
        assert_eq!(
            seed.uri, "http://central:50051",
            "the seed's AGGREGATOR_URL form"
        );
        assert_eq!(d.delivery, DeliverySettings::default());
        assert_eq!(
            SignalsExporterConfig::parse(&yaml("max_in_flight: 5"))
                .unwrap_err()
                .path,
            "endpoint"
        );
    }
}
