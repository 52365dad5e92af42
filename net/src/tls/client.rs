//! Client TLS: the Collector's `tls` keys of the OTLP (gRPC and HTTP) and signals exporters,
//! turned into one rustls `ClientConfig` (ring provider, no aws-lc and no cmake in the build),
//! and the HTTPS connectors those clients and the central webhook dial with.
//!
//! Files are read at build time, so a missing or malformed certificate fails the start with
//! the key and the path instead of failing every connection later. The default (no `ca_file`)
//! trusts the system's CA certificates.

use std::path::PathBuf;
use std::sync::Arc;

use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;

/// `tls` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Plaintext: no TLS at all.
    pub insecure: bool,
    /// PEM file of the CA(s) that signed the server's certificate (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for mutual TLS (with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Encrypt but accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
    /// Verify the certificate against this name instead of the endpoint's host.
    pub server_name_override: Option<String>,
}

/// Why TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {key} {path}: {reason}")]
    File {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("server_name_override {0:?} is not a DNS name or IP address")]
    ServerName(String),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsError {
    /// The error as a config error at `tls::<key>`.
    pub fn to_config_error(&self) -> ComponentConfigError {
        let key = match self {
            Self::File { key, .. } => key,
            Self::ServerName(_) => "server_name_override",
            Self::Rustls(_) => "",
        };
        ComponentConfigError::new(key.to_string(), self.to_string()).within("tls")
    }
}

impl TlsConfig {
    /// Checks what can be checked without reading files.
    pub fn validate(&self) -> Result<(), ComponentConfigError> {
        self.server_name().map_err(|e| e.to_config_error())?;
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ComponentConfigError::new(
                if self.cert_file.is_some() {
                    "key_file"
                } else {
                    "cert_file"
                },
                "cert_file and key_file go together (mutual TLS needs both)",
            )
            .within("tls"));
        }
        Ok(())
    }

    /// `server_name_override`, parsed.
    pub fn server_name(&self) -> Result<Option<ServerName<'static>>, TlsError> {
        self.server_name_override
            .as_ref()
            .map(|n| ServerName::try_from(n.clone()).map_err(|_| TlsError::ServerName(n.clone())))
            .transpose()
    }

    /// The rustls client config, with `alpn` protocols. Reads the certificate files.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let mut config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("cert_file", cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                    key: "key_file",
                    path: key.display().to_string(),
                    reason: e.to_string(),
                })?;
                builder.with_client_auth_cert(chain, key_der)?
            }
            _ => builder.with_no_client_auth(),
        };
        // hyper-rustls sets ALPN itself (h2 or http/1.1) and refuses a config that has it.
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(ca) => {
                for cert in read_certs("ca_file", ca)? {
                    roots.add(cert)?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                for e in &native.errors {
                    tracing::warn!(error = %e, "cannot read a system CA certificate");
                }
                let (added, ignored) = roots.add_parsable_certificates(native.certs);
                tracing::debug!(added, ignored, "system CA certificates loaded");
            }
        }
        Ok(roots)
    }
}

fn read_certs(
    key: &'static str,
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    super::read_certs(path).map_err(|reason| TlsError::File {
        key,
        path: path.display().to_string(),
        reason,
    })
}

/// A connector for gRPC (tonic) over TLS: HTTPS only, HTTP/2, the certificate checked against
/// `server_name` when given (`server_name_override`), else against the endpoint's host.
pub fn grpc_connector(
    config: &rustls::ClientConfig,
    server_name: Option<&ServerName<'static>>,
) -> HttpsConnector<HttpConnector> {
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_only();
    let builder = match server_name {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name.clone())),
        None => builder,
    };
    builder.enable_http2().build()
}

/// A connector for HTTP/1.1 clients (hyper): `https://` over TLS, `http://` in plaintext.
pub fn http1_connector(
    config: &rustls::ClientConfig,
    server_name: Option<&ServerName<'static>>,
) -> HttpsConnector<HttpConnector> {
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_or_http();
    let builder = match server_name {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name.clone())),
        None => builder,
    };
    builder.enable_http1().build()
}

/// `insecure_skip_verify`: any certificate is accepted, but handshake signatures are still
/// checked so the session keys are real.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_without_key_is_a_config_error() {
        let t = TlsConfig {
            cert_file: Some("c.pem".into()),
            ..TlsConfig::default()
        };
        assert_eq!(t.validate().unwrap_err().path, "tls::key_file");
    }

    #[test]
    fn missing_ca_file_names_the_key() {
        let t = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let e = t.client_config(&[]).unwrap_err();
        assert_eq!(e.to_config_error().path, "tls::ca_file");
    }

    #[test]
    fn skip_verify_and_default_roots_build() {
        let t = TlsConfig {
            insecure_skip_verify: true,
            ..TlsConfig::default()
        };
        assert_eq!(
            t.client_config(&[b"h2"]).unwrap().alpn_protocols,
            vec![b"h2".to_vec()]
        );
        TlsConfig::default().client_config(&[]).unwrap();
    }
}
