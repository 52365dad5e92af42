//! Authentication and TLS of the receivers' servers (`otlp`'s two, `signals`), kept apart from
//! decoding and delivery: `auth: {authenticator: <id>}` and `tls: {cert_file, key_file,
//! client_ca_file}` under each protocol, as in the Collector.
//!
//! The TLS itself (reading the certificates, the handshake tasks, the connections tonic and
//! axum take) is `kafka_obs_net::tls::server`, shared with the rest of the workspace; what is
//! the receivers' own is here: the authenticator found in the host, and the counters and log
//! lines, labelled with the receiver and transport, for a refused token or a failed
//! handshake. The request or connection is refused and the receiver keeps serving.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use kafka_obs_api::{AuthCapability, AuthError, BuildContext, BuildError, ComponentId, Counter};
use kafka_obs_net::ServerTls;
use kafka_obs_net::tls::server::{AcceptEvents, TlsIncoming};

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

    /// Accepts TCP connections and hands out finished TLS connections, reporting failures
    /// here. Ends when the returned value is dropped (the server stopped).
    pub(crate) fn tls_incoming(
        &self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> TlsIncoming {
        TlsIncoming::spawn(listener, config, self.clone())
    }
}

impl AcceptEvents for Security {
    fn accept_failed(&self, error: &io::Error) {
        tracing::warn!(receiver = %self.id, transport = self.transport, %error, "accept failed");
    }

    fn handshake_failed(&self, peer: SocketAddr, error: &str) {
        self.handshake_failed.inc();
        tracing::warn!(receiver = %self.id, transport = self.transport, %peer, error, "TLS handshake failed; connection closed");
    }
}
