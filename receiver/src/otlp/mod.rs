//! Receiver `otlp`: OTLP over gRPC (4317) and HTTP (4318), as the Collector's otlpreceiver.
//!
//! `build` binds both sockets (so a taken port fails before anything runs) and spawns nothing;
//! `run` serves until shutdown, then closes the listeners and lets in-flight requests finish.
//! Each decoded request becomes one [`Batch`](kafka_obs_api::Batch) sent to the pipelines of its
//! signal; the transports differ only in how they decode and how they answer. Each protocol may
//! serve TLS and require an authenticator extension ([`security`]).

mod config;
pub(crate) mod deliver;
mod grpc;
mod http;
pub(crate) mod security;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use kafka_obs_api::{
    BuildContext, BuildError, Capability, ComponentConfig, ComponentConfigError,
    ComponentTelemetry, DataKind, ExtensionRef, FactoryMeta, Outputs, Receiver, ReceiverConfig,
    ReceiverFactory, RunContext, RunError, Stability, parse_component_config,
};
use kafka_obs_net::listen;

pub use config::{GrpcSettings, HttpSettings, OtlpReceiverConfig};
use deliver::Sink;
#[doc(hidden)]
pub use http::decode_request_body;
pub use kafka_obs_net::ServerTls;
use security::Security;

/// How long in-flight requests may take to finish after shutdown before we stop waiting.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Makes `otlp` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "otlp",
        // conventions.md: the Collector's snake_case name for OTLP over gRPC is accepted too.
        aliases: &["otlp_grpc"],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "OTLP over gRPC (4317) and HTTP (4318): protobuf and JSON, gzip, partial success",
    },
    |config| Ok(Box::new(OtlpReceiverConfig::parse(config)?)),
);

impl OtlpReceiverConfig {
    /// Parses and checks the YAML body of an `otlp` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// Binds the configured sockets; the concrete type lets tests read the bound addresses.
    pub fn bind(&self, ctx: &BuildContext) -> Result<OtlpReceiver, BuildError> {
        let grpc = self
            .grpc
            .as_ref()
            .map(|s| {
                let security =
                    Security::build(s.tls.as_ref(), s.auth.as_ref(), &[b"h2"], "grpc", ctx)?;
                Ok::<_, BuildError>((listen(&ctx.listeners, &s.endpoint)?, s.clone(), security))
            })
            .transpose()?;
        let http = self
            .http
            .as_ref()
            .map(|s| {
                let security =
                    Security::build(s.tls.as_ref(), s.auth.as_ref(), &[b"http/1.1"], "http", ctx)?;
                Ok::<_, BuildError>((listen(&ctx.listeners, &s.endpoint)?, s.clone(), security))
            })
            .transpose()?;
        Ok(OtlpReceiver {
            grpc,
            http,
            telemetry: ctx.telemetry.clone(),
            id: ctx.id.to_string(),
        })
    }
}

impl ComponentConfig for OtlpReceiverConfig {
    fn listen_addresses(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(g) = &self.grpc {
            out.push(("protocols::grpc::endpoint".to_string(), g.endpoint.clone()));
        }
        if let Some(h) = &self.http {
            out.push(("protocols::http::endpoint".to_string(), h.endpoint.clone()));
        }
        out
    }
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        let grpc = self.grpc.as_ref().and_then(|g| g.auth.as_ref());
        let http = self.http.as_ref().and_then(|h| h.auth.as_ref());
        [("grpc", grpc), ("http", http)]
            .into_iter()
            .filter_map(|(protocol, id)| {
                Some(ExtensionRef::new(
                    format!("protocols::{protocol}::auth::authenticator"),
                    id?.clone(),
                    Capability::Auth,
                ))
            })
            .collect()
    }
}

impl ReceiverConfig for OtlpReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(self.bind(ctx)?))
    }
}

/// A built `otlp` receiver: bound sockets, not yet serving.
#[derive(Debug)]
pub struct OtlpReceiver {
    grpc: Option<(TcpListener, GrpcSettings, Security)>,
    http: Option<(TcpListener, HttpSettings, Security)>,
    telemetry: ComponentTelemetry,
    id: String,
}

impl OtlpReceiver {
    /// The bound gRPC address (useful with port 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|(l, _, _)| l.local_addr().ok())
    }

    /// The bound HTTP address (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|(l, _, _)| l.local_addr().ok())
    }

    async fn serve(self, outputs: Outputs, ctx: RunContext) -> Result<(), RunError> {
        let sinks: Vec<Sink> = outputs
            .kinds()
            .filter_map(|kind| {
                outputs.get(kind).map(|output| Sink {
                    kind,
                    output: output.clone(),
                    telemetry: self.telemetry.clone(),
                    id: self.id.clone(),
                    shutdown: ctx.shutdown.clone(),
                })
            })
            .collect();
        let grpc_addr = self.grpc_addr();
        let http_addr = self.http_addr();
        tracing::info!(
            receiver = %self.id,
            grpc = ?grpc_addr,
            http = ?http_addr,
            signals = ?sinks.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
            "OTLP receiver serving"
        );
        let shutdown = ctx.shutdown.clone();
        let grpc = match self.grpc {
            Some((listener, settings, security)) => grpc::serve(
                listener,
                settings,
                security,
                sinks.clone(),
                shutdown.clone().cancelled_owned(),
            )
            .boxed(),
            None => futures::future::ready(Ok(())).boxed(),
        };
        let http = match self.http {
            Some((listener, settings, security)) => http::serve(
                listener,
                settings,
                security,
                sinks,
                shutdown.clone().cancelled_owned(),
            )
            .boxed(),
            None => futures::future::ready(Ok(())).boxed(),
        };
        let both = async { futures::future::try_join(grpc, http).await.map(|_| ()) };
        // Both servers stop accepting when `shutdown` fires and then wait for in-flight
        // requests; a request stuck behind a stalled pipeline must not hold shutdown forever.
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_GRACE).await;
        };
        tokio::select! {
            result = both => {
                tracing::info!(receiver = %self.id, "OTLP receiver stopped");
                result
            }
            () = grace => {
                tracing::warn!(
                    receiver = %self.id,
                    grace_secs = DRAIN_GRACE.as_secs(),
                    "in-flight OTLP requests did not finish after shutdown; abandoning them"
                );
                Ok(())
            }
        }
    }
}

impl Receiver for OtlpReceiver {
    fn run(
        self: Box<Self>,
        outputs: Outputs,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).serve(outputs, ctx).boxed()
    }
}

#[cfg(test)]
mod tests;
