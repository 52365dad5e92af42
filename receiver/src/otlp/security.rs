//! TLS and authentication for the `otlp` receiver's two servers, kept apart from decoding and
//! delivery: `tls: {cert_file, key_file, client_ca_file}` and `auth: {authenticator: <id>}`
//! under each protocol, as in the Collector.
//!
//! Certificates are read at build time, so a missing or malformed file stops the start naming
//! the key and the path. TLS handshakes run in their own tasks (at most
//! [`MAX_HANDSHAKES`] at once, each within [`HANDSHAKE_TIMEOUT`]) and only finished connections
//! reach the server, so a slow or silent client never holds up the others. A failed handshake
//! and a refused token are counted and logged; the connection or request is refused and the
//! receiver keeps serving.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use kafka_obs_api::{
    AuthCapability, AuthError, BuildContext, BuildError, ComponentConfigError, ComponentId, Counter,
};

/// How long a client has to finish the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the listen backlog.
pub(crate) const MAX_HANDSHAKES: usize = 256;
/// Finished connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// `tls` under a protocol, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
}

/// Server TLS, validated: a certificate chain and its key, and optionally the CA that client
/// certificates must be signed by (then a client without one is refused: mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

impl RawServerTls {
    pub(crate) fn resolve(self) -> Result<ServerTls, ComponentConfigError> {
        let err = |key: &str, m: &str| ComponentConfigError::new(key, m).within("tls");
        let cert_file = self.cert_file.ok_or_else(|| {
            err(
                "cert_file",
                "required with tls: the server's PEM certificate chain",
            )
        })?;
        let key_file = self.key_file.ok_or_else(|| {
            err(
                "key_file",
                "required with tls: the PEM private key of cert_file",
            )
        })?;
        Ok(ServerTls {
            cert_file,
            key_file,
            client_ca_file: self.client_ca_file,
        })
    }
}

fn file_error(key: &str, path: &Path, reason: impl std::fmt::Display) -> BuildError {
    BuildError::Other(format!(
        "tls::{key}: cannot use {}: {reason}",
        path.display()
    ))
}

fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

impl ServerTls {
    /// Reads the files into a rustls server config offering `alpn`.
    pub(crate) fn server_config(
        &self,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, BuildError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError::Other(format!("tls: {e}")))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs("client_ca_file", ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| file_error("client_ca_file", ca, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| file_error("client_ca_file", ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = read_certs("cert_file", &self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| file_error("key_file", &self.key_file, e))?;
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            file_error(
                "key_file",
                &self.key_file,
                format!("{e}; does it belong to cert_file?"),
            )
        })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// What one server (gRPC or HTTP) needs to secure itself, made at build time.
#[derive(Clone)]
pub(crate) struct Security {
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<AuthCapability>,
    unauthenticated: Counter,
    handshake_failed: Counter,
    id: String,
    transport: &'static str,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .field("transport", &self.transport)
            .finish()
    }
}

impl Security {
    /// Reads the certificates and finds the authenticator in the host.
    pub(crate) fn build(
        tls: Option<&ServerTls>,
        auth: Option<&ComponentId>,
        alpn: &[&[u8]],
        transport: &'static str,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        Self::build_at(
            &format!("protocols::{transport}::"),
            tls,
            auth,
            alpn,
            transport,
            ctx,
        )
    }

    /// [`Security::build`] for keys under `prefix` (`""` for a receiver whose `tls` and `auth`
    /// are top-level keys, such as `signals`), so errors name the right path.
    pub(crate) fn build_at(
        prefix: &str,
        tls: Option<&ServerTls>,
        auth: Option<&ComponentId>,
        alpn: &[&[u8]],
        transport: &'static str,
        ctx: &BuildContext,
    ) -> Result<Self, BuildError> {
        let tls = tls
            .map(|t| t.server_config(alpn))
            .transpose()
            .map_err(|e| BuildError::Other(format!("{prefix}{e}")))?;
        let auth = match auth {
            None => None,
            Some(id) => Some((*ctx.host.get::<AuthCapability>(id).ok_or_else(|| {
                BuildError::Other(format!(
                    "{prefix}auth::authenticator: {id} is not a running authenticator extension; declare it under extensions (e.g. bearertokenauth) and list it in service::extensions"
                ))
            })?).clone()),
        };
        let labels = [("transport", transport)];
        Ok(Self {
            tls,
            auth,
            unauthenticated: ctx.telemetry.counter(
                "kafka_obs_receiver_unauthenticated_requests_total",
                "Requests a receiver refused because their credentials were missing or wrong.",
                &labels,
            ),
            handshake_failed: ctx.telemetry.counter(
                "kafka_obs_receiver_tls_handshake_failed_total",
                "Connections whose TLS handshake failed or timed out (no certificate, wrong CA, not TLS).",
                &labels,
            ),
            id: ctx.id.to_string(),
            transport,
        })
    }

    /// Checks one request's headers with the authenticator (if any); counts and logs a refusal.
    pub(crate) fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), AuthError> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        auth.authenticate(headers).inspect_err(|error| {
            self.unauthenticated.inc();
            tracing::warn!(receiver = %self.id, transport = self.transport, %error, "refused an unauthenticated request");
        })
    }

    /// Accepts TCP connections and hands out finished TLS connections. Ends when the
    /// returned receiver is dropped (the server stopped).
    pub(crate) fn tls_incoming(
        &self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> mpsc::Receiver<(TlsConn, SocketAddr)> {
        let (tx, rx) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let this = self.clone();
        let local = listener.local_addr().ok();
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    () = tx.closed() => return,
                    p = handshakes.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                };
                let (tcp, peer) = tokio::select! {
                    () = tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(c) => c,
                        Err(error) => {
                            // Out of file descriptors and the like: wait a little, as hyper does.
                            tracing::warn!(receiver = %this.id, transport = this.transport, %error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, this) = (acceptor.clone(), tx.clone(), this.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx
                                .send((
                                    TlsConn {
                                        inner: tls,
                                        peer,
                                        local,
                                    },
                                    peer,
                                ))
                                .await;
                        }
                        Ok(Err(error)) => this.handshake_failed(peer, &error.to_string()),
                        Err(_) => this.handshake_failed(peer, "no handshake within 10s"),
                    }
                });
            }
        });
        rx
    }

    fn handshake_failed(&self, peer: SocketAddr, error: &str) {
        self.handshake_failed.inc();
        tracing::warn!(receiver = %self.id, transport = self.transport, %peer, error, "TLS handshake failed; connection closed");
    }
}

/// A server-side TLS connection, with the addresses tonic asks for.
pub(crate) struct TlsConn {
    inner: TlsStream<TcpStream>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}

/// The finished TLS connections as axum's listener.
pub(crate) struct TlsListener {
    pub(crate) ready: mpsc::Receiver<(TlsConn, SocketAddr)>,
    pub(crate) local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ended (only when this listener is dropped): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_key_are_both_required() {
        let e = RawServerTls::default().resolve().unwrap_err();
        assert_eq!(e.path, "tls::cert_file");
        let e = RawServerTls {
            cert_file: Some("c.pem".into()),
            ..RawServerTls::default()
        }
        .resolve()
        .unwrap_err();
        assert_eq!(e.path, "tls::key_file");
    }

    #[test]
    fn unreadable_files_name_their_key() {
        let tls = ServerTls {
            cert_file: "/nonexistent/server.pem".into(),
            key_file: "/nonexistent/server.key".into(),
            client_ca_file: None,
        };
        let e = tls.server_config(&[b"h2"]).unwrap_err().to_string();
        assert!(
            e.starts_with("tls::cert_file: cannot use /nonexistent/server.pem"),
            "{e}"
        );
        let ca = ServerTls {
            client_ca_file: Some("/nonexistent/ca.pem".into()),
            ..tls
        };
        let e = ca.server_config(&[b"h2"]).unwrap_err().to_string();
        assert!(e.starts_with("tls::client_ca_file:"), "{e}");
    }
}
