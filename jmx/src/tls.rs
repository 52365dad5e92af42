//! TLS for JMX agents started with `com.sun.management.jmxremote.ssl=true`.
//!
//! Such an agent hands out stubs whose reference is `UnicastRef2` with an
//! `SslRMIClientSocketFactory`: every connection to that port is TLS (the registry's too when
//! `registry.ssl=true`). This module builds the rustls client configuration (ring provider; no
//! cmake-built crypto): trust roots from a CA file or the system store, an option to verify the
//! chain but not the host name (what Java's own client does), and a client certificate for
//! agents that require one (`ssl.need.client.auth=true`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::JmxError;

/// How to set up TLS when the agent asks for it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file with the CA certificate(s) to trust; the system trust store when `None`.
    pub ca_file: Option<PathBuf>,
    /// Check that the certificate names the host connected to. Java's JMX client does not;
    /// set `false` to behave the same (the chain is still verified).
    pub verify_hostname: bool,
    /// PEM certificate chain presented to agents that require client authentication.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
    /// The name to verify instead of the host connected to.
    pub server_name: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ca_file: None,
            verify_hostname: true,
            client_cert_file: None,
            client_key_file: None,
            server_name: None,
        }
    }
}

impl TlsOptions {
    /// Trust the CA certificates in `path` (PEM).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Verify the chain only, not the host name (Java's behaviour).
    pub fn without_hostname_verification(mut self) -> Self {
        self.verify_hostname = false;
        self
    }

    /// Present this client certificate chain and key (PEM files).
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert_file = Some(cert.into());
        self.client_key_file = Some(key.into());
        self
    }

    /// Verify the certificate against `name` rather than the host connected to.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Builds the rustls configuration (reads the files).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, JmxError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        config_err(format!("cannot read CA file {}: {e}", path.display()))
                    })?;
                if certs.is_empty() {
                    return Err(config_err(format!(
                        "CA file {} holds no PEM certificate (export with keytool -exportcert -rfc)",
                        path.display()
                    )));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        config_err(format!(
                            "CA file {}: unusable certificate: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // Skip the odd unparsable system certificate, as browsers do.
                    let _ = roots.add(cert);
                }
            }
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| config_err(format!("no usable trust roots: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.verify_hostname {
            verifier
        } else {
            Arc::new(ChainOnlyVerifier { inner: verifier })
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        config_err(format!(
                            "cannot read client certificate {}: {e}",
                            cert.display()
                        ))
                    })?;
                if chain.is_empty() {
                    return Err(config_err(format!(
                        "client certificate file {} holds no PEM certificate",
                        cert.display()
                    )));
                }
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    config_err(format!("cannot read client key {}: {e}", key.display()))
                })?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    config_err(format!(
                        "client certificate and key do not fit together: {e}"
                    ))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(config_err(
                    "a client certificate needs both the certificate and the key file".into(),
                ));
            }
        };
        Ok(Arc::new(config))
    }
}

fn config_err(detail: String) -> JmxError {
    JmxError::TlsConfig { detail }
}

/// Verifies the certificate chain and signatures but accepts any host name, like Java's
/// `SslRMIClientSocketFactory` (which sets no endpoint identification algorithm).
#[derive(Debug)]
struct ChainOnlyVerifier {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Explains a TLS failure in terms of what to change.
pub(crate) fn explain(err: &std::io::Error) -> String {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "the agent's certificate is not signed by a trusted CA (UnknownIssuer); set the TLS CA file to the CA (or self-signed certificate) of the JMX agent".into()
        }
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => format!(
            "the agent's certificate does not name this host ({err}); connect by a name the certificate holds, set a server name, or disable host name verification as Java's client does"
        ),
        Some(rustls::Error::InvalidCertificate(other)) => format!("the agent's certificate was rejected: {other:?}"),
        Some(rustls::Error::InvalidMessage(_)) => format!(
            "the peer does not speak TLS ({err}); is com.sun.management.jmxremote.ssl (or registry.ssl) really set on this port?"
        ),
        Some(rustls::Error::AlertReceived(alert)) => format!(
            "the agent aborted the handshake with alert {alert:?}; if it requires client certificates (ssl.need.client.auth), configure one it trusts"
        ),
        Some(other) => other.to_string(),
        None => err.to_string(),
    }
}

/// The rustls name to verify for `host`.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, JmxError> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| config_err(format!("{host:?} cannot be used as a TLS server name: {e}")))
}
