//! Server TLS: the `tls` block of a server (`cert_file`, `key_file`, `client_ca_file`, as in
//! the Collector) and the accept loop that serves it.
//!
//! Certificates are read at build time, so a missing or malformed file stops the start naming
//! the key and the path. Handshakes run in their own tasks (at most [`MAX_HANDSHAKES`] at once,
//! each within [`HANDSHAKE_TIMEOUT`]) and only finished connections reach the server, so a slow
//! or silent client never holds up the others. The server's owner hears of every failed
//! accept and handshake through [`AcceptEvents`] (to count and log it with its own labels);
//! the connection is closed and serving goes on. [`TlsIncoming`] hands the finished
//! connections to tonic (as a stream) or to axum (as its `Listener`).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use kafka_obs_api::{BuildError, ComponentConfigError};

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the listen backlog.
pub const MAX_HANDSHAKES: usize = 256;
/// Finished connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// `tls` of a server, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
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
    /// Checks that the certificate and its key are both there; errors are at `tls::<key>`.
    pub fn resolve(self) -> Result<ServerTls, ComponentConfigError> {
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
    super::read_certs(path).map_err(|reason| file_error(key, path, reason))
}

impl ServerTls {
    /// Reads the files into a rustls server config offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, BuildError> {
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

/// What the accept loop tells the server's owner: failures it dealt with, to count and log.
pub trait AcceptEvents: Clone + Send + Sync + 'static {
    /// `accept` failed (out of file descriptors and the like); the loop waits a little.
    fn accept_failed(&self, error: &io::Error);
    /// A client's handshake failed or timed out; its connection is closed.
    fn handshake_failed(&self, peer: SocketAddr, error: &str);
}

/// The finished TLS connections of one listener. Dropping it ends the accept loop.
pub struct TlsIncoming {
    ready: mpsc::Receiver<(TlsConn, SocketAddr)>,
    local: Option<SocketAddr>,
}

impl std::fmt::Debug for TlsIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIncoming")
            .field("local", &self.local)
            .finish()
    }
}

impl TlsIncoming {
    /// Accepts TCP connections on `listener` and runs their handshakes with `config`, in a
    /// task of its own; must be called inside the tokio runtime.
    pub fn spawn(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        events: impl AcceptEvents,
    ) -> Self {
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
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
                            events.accept_failed(&error);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, events) = (acceptor.clone(), tx.clone(), events.clone());
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
                        Ok(Err(error)) => events.handshake_failed(peer, &error.to_string()),
                        Err(_) => events.handshake_failed(peer, "no handshake within 10s"),
                    }
                });
            }
        });
        Self { ready, local }
    }

    /// The connections as the stream tonic's `serve_with_incoming` takes.
    pub fn into_stream(mut self) -> impl Stream<Item = io::Result<TlsConn>> + Send + 'static {
        futures::stream::poll_fn(move |cx| {
            self.ready
                .poll_recv(cx)
                .map(|c| c.map(|(conn, _)| Ok::<_, io::Error>(conn)))
        })
    }
}

/// The finished connections as axum's listener.
impl axum::serve::Listener for TlsIncoming {
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
        self.local
            .ok_or_else(|| io::Error::other("the listener has no local address"))
    }
}

/// A server-side TLS connection, with the addresses tonic asks for.
pub struct TlsConn {
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
