//! `auth: {authenticator: <extension id>}` of the OTLP and signals exporters, as in the
//! Collector: the named extension (such as `bearertokenauth`) supplies headers that go on
//! every request. The id is checked at validation (`NetworkExporterConfig::authenticator`); the
//! capability is
//! found in the host at build; the headers are asked for on every request, so a rotated
//! token takes effect without a restart.

use http::HeaderMap;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};

use kafka_obs_api::{
    AuthCapability, BuildContext, BuildError, ComponentConfigError, ComponentId, RawAuthSettings,
};

use crate::delivery::DeliveryError;

/// The authenticator's id from `auth` as written.
pub fn parse(raw: Option<&RawAuthSettings>) -> Result<Option<ComponentId>, ComponentConfigError> {
    raw.map(|a| a.resolve().map_err(|e| e.within("auth")))
        .transpose()
}

/// The authenticator's capability from the host.
pub fn client(
    id: Option<&ComponentId>,
    ctx: &BuildContext,
) -> Result<Option<AuthCapability>, BuildError> {
    let Some(id) = id else {
        return Ok(None);
    };
    ctx.host.get::<AuthCapability>(id).map(|c| Some((*c).clone())).ok_or_else(|| {
        BuildError::Other(format!(
            "auth::authenticator: {id} is not a running authenticator extension; declare it under extensions (e.g. bearertokenauth) and list it in service::extensions"
        ))
    })
}

/// Adds the authenticator's headers to an HTTP request.
pub fn add_http(
    auth: Option<&AuthCapability>,
    headers: &mut HeaderMap,
) -> Result<(), DeliveryError> {
    let Some(auth) = auth else {
        return Ok(());
    };
    for (name, value) in auth.client_headers().map_err(unavailable)? {
        headers.insert(name, value);
    }
    Ok(())
}

/// Adds the authenticator's headers to gRPC metadata.
pub fn add_grpc(
    auth: Option<&AuthCapability>,
    metadata: &mut MetadataMap,
) -> Result<(), DeliveryError> {
    let Some(auth) = auth else {
        return Ok(());
    };
    for (name, value) in auth.client_headers().map_err(unavailable)? {
        let key = MetadataKey::from_bytes(name.as_str().as_bytes()).map_err(|_| {
            DeliveryError::permanent(format!(
                "authenticator header {name} is not valid gRPC metadata"
            ))
        })?;
        let mut value = MetadataValue::try_from(value.as_bytes()).map_err(|_| {
            DeliveryError::permanent(format!(
                "authenticator header {name} has a value gRPC metadata cannot carry"
            ))
        })?;
        value.set_sensitive(true);
        metadata.insert(key, value);
    }
    Ok(())
}

/// The authenticator cannot produce credentials now (a token file being rewritten): retry.
fn unavailable(e: kafka_obs_api::AuthError) -> DeliveryError {
    DeliveryError::retryable(format!("authenticator: {e}"))
}

#[cfg(test)]
mod tests {
    use kafka_obs_api::{Capability, ExporterConfig};

    #[cfg(feature = "kafka")]
    use crate::kafka::KafkaExporterConfig;
    use crate::otlp::OtlpExporterConfig;
    use crate::otlp::OtlpHttpExporterConfig;
    use crate::signals::SignalsExporterConfig;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    fn refs(c: &dyn ExporterConfig) -> Vec<(String, String, Capability)> {
        c.extension_refs()
            .into_iter()
            .map(|r| (r.path, r.id.to_string(), r.capability))
            .collect()
    }

    #[test]
    fn every_network_exporter_reports_its_authenticator_and_storage() {
        let both =
            "auth: {authenticator: bearertokenauth/out}\nsending_queue: {storage: file_storage}";
        let want = vec![
            (
                "auth::authenticator".to_string(),
                "bearertokenauth/out".to_string(),
                Capability::Auth,
            ),
            (
                "sending_queue::storage".to_string(),
                "file_storage".to_string(),
                Capability::Storage,
            ),
        ];
        let grpc = OtlpExporterConfig::parse(&yaml(&format!("endpoint: c:4317\n{both}"))).unwrap();
        assert_eq!(refs(&grpc), want);
        assert_eq!(grpc.auth.unwrap().to_string(), "bearertokenauth/out");
        let http =
            OtlpHttpExporterConfig::parse(&yaml(&format!("endpoint: http://c:4318\n{both}")))
                .unwrap();
        assert_eq!(refs(&http), want);
        let signals =
            SignalsExporterConfig::parse(&yaml(&format!("endpoint: a:50051\n{both}"))).unwrap();
        assert_eq!(refs(&signals), want);
        #[cfg(feature = "kafka")]
        {
            let kafka = KafkaExporterConfig::parse(&yaml("sending_queue: {storage: file_storage}"))
                .unwrap();
            assert_eq!(refs(&kafka), want[1..].to_vec());
        }
        let none = OtlpExporterConfig::parse(&yaml("endpoint: c:4317")).unwrap();
        assert!(refs(&none).is_empty());
    }

    #[test]
    fn a_bad_auth_key_names_its_path() {
        let e = OtlpExporterConfig::parse(&yaml("endpoint: c:1\nauth: {authenticator: ''}"))
            .unwrap_err();
        assert_eq!(e.path, "auth::authenticator");
        let e =
            OtlpHttpExporterConfig::parse(&yaml("endpoint: http://c:1\nauth: {authenticatr: x}"))
                .unwrap_err();
        assert_eq!(e.path, "auth::authenticatr");
        let e = SignalsExporterConfig::parse(&yaml("endpoint: a:1\nauth: bearertokenauth"))
            .unwrap_err();
        assert_eq!(e.path, "auth");
    }
}
