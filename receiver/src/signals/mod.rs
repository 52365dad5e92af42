//! Receiver `signals`: the central side of the seed's "Communication with Central Platform,
//! Option 1" — the `SignalAggregator.StreamSignals` gRPC service that the `signals` exporter
//! of every sidecar streams to.
//!
//! Each `SignalEnvelope` is read back into a signal (the payload is authoritative and must
//! agree with the envelope) and handed to the logs pipelines as the same OpenTelemetry event
//! the sidecar's `signals` connector made (`kafka_obs_signal::otlp::logs`), so the central
//! pipelines see the signal stream exactly as a sidecar's own pipelines do. Envelopes read off
//! a stream together go in as one batch with one [`Receipt`](kafka_obs_api::Receipt); each is
//! acked `ACCEPTED` only once the pipeline accepted that batch, or `RETRY` when it refused
//! (the sender resends). An envelope that does not decode is acked `REJECTED` (the sender
//! drops it), counted and logged, and the stream goes on.
//!
//! Senders resend what was not acked when a stream broke, so the same `(source_id, sequence)`
//! may arrive twice: [`dedupe`] recognises it across all streams, acks it without passing it on
//! and counts it. `build` binds the port and spawns nothing; `run` serves until shutdown, then
//! stops reading, lets the verdicts of what is in flight arrive for a moment, acks them and
//! ends every stream (senders reconnect and resend the rest elsewhere or later).

mod config;
mod dedupe;
mod service;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Status};

use kafka_obs_api::{
    BuildContext, BuildError, Capability, ComponentConfig, ComponentConfigError,
    ComponentTelemetry, DataKind, ExtensionRef, FactoryMeta, Outputs, Receiver, ReceiverConfig,
    ReceiverFactory, RunContext, RunError, Stability, parse_component_config,
};
use kafka_obs_proto::aggregator::v1::signal_aggregator_server::SignalAggregatorServer;

use crate::otlp::security::Security;

pub use config::{DEFAULT_ENDPOINT, SignalsReceiverConfig};
pub use dedupe::DedupeSettings;
use service::{Aggregator, Counters, Shared};

/// How long in-flight streams may take to end after shutdown before we stop waiting.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Makes `signals` receivers.
pub static FACTORY: ReceiverFactory = ReceiverFactory::new(
    FactoryMeta {
        type_name: "signals",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Logs],
        description: "SignalAggregator.StreamSignals over gRPC (50051): signal envelopes in as signal events, acked after the pipeline accepted them, resends dropped by source and sequence",
    },
    |config| Ok(Box::new(SignalsReceiverConfig::parse(config)?)),
);

impl SignalsReceiverConfig {
    /// Parses and checks the YAML body of a `signals` receiver.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config::<config::RawConfig>(value)?.resolve()
    }

    /// Binds the endpoint; the concrete type lets tests read the bound address.
    pub fn bind(&self, ctx: &BuildContext) -> Result<SignalsReceiver, BuildError> {
        let security = Security::build_at(
            "",
            self.tls.as_ref(),
            self.auth.as_ref(),
            &[b"h2"],
            "grpc",
            ctx,
        )?;
        Ok(SignalsReceiver {
            listener: kafka_obs_net::listen(&ctx.listeners, &self.endpoint)?,
            security,
            config: self.clone(),
            telemetry: ctx.telemetry.clone(),
            id: ctx.id.to_string(),
        })
    }
}

impl ComponentConfig for SignalsReceiverConfig {
    fn listen_addresses(&self) -> Vec<(String, String)> {
        vec![("endpoint".to_string(), self.endpoint.clone())]
    }
    fn extension_refs(&self) -> Vec<ExtensionRef> {
        self.auth
            .iter()
            .map(|id| ExtensionRef::new("auth::authenticator", id.clone(), Capability::Auth))
            .collect()
    }
}

impl ReceiverConfig for SignalsReceiverConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(self.bind(ctx)?))
    }
}

/// A built `signals` receiver: a bound socket, not yet serving.
#[derive(Debug)]
pub struct SignalsReceiver {
    listener: TcpListener,
    security: Security,
    config: SignalsReceiverConfig,
    telemetry: ComponentTelemetry,
    id: String,
}

impl SignalsReceiver {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    async fn serve(self, outputs: Outputs, ctx: RunContext) -> Result<(), RunError> {
        let Some(output) = outputs.get(DataKind::Logs).cloned() else {
            return Err(RunError::Other(format!(
                "receiver {} produces logs (signal events) but no logs pipeline lists it",
                self.id
            )));
        };
        let addr = self.local_addr();
        let shared = Arc::new(Shared {
            output,
            dedupe: Mutex::new(dedupe::Dedupe::new(self.config.dedupe)),
            counters: Counters::new(&self.telemetry),
            telemetry: self.telemetry.clone(),
            id: self.id.clone(),
            shutdown: ctx.shutdown.clone(),
            max_batch: self.config.max_batch_size,
        });
        let service = InterceptedService::new(
            SignalAggregatorServer::new(Aggregator(shared))
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(self.config.max_recv_msg_size),
            Authenticate(self.security.clone()),
        );
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        tracing::info!(
            receiver = %self.id,
            endpoint = ?addr,
            tls = self.security.tls.is_some(),
            "signals receiver serving StreamSignals"
        );
        let shutdown = ctx.shutdown.clone();
        let router = Server::builder()
            // Find dead senders: their streams would otherwise hold acks nobody reads.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(service);
        let stop = shutdown.clone().cancelled_owned();
        let served = async {
            match self.security.tls.clone() {
                None => {
                    router
                        .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop)
                        .await
                }
                Some(config) => {
                    let incoming = self.security.tls_incoming(listener, config).into_stream();
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
            }
        };
        let grace = async {
            shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_GRACE).await;
        };
        tokio::select! {
            result = served => {
                tracing::info!(receiver = %self.id, "signals receiver stopped");
                result.map_err(|e| RunError::Other(format!(
                    "StreamSignals server on {}: {e}", self.config.endpoint
                )))
            }
            () = grace => {
                tracing::warn!(
                    receiver = %self.id,
                    grace_secs = DRAIN_GRACE.as_secs(),
                    "signal streams did not end after shutdown; abandoning them"
                );
                Ok(())
            }
        }
    }
}

/// The authenticator's check on every stream (a no-op without `auth`).
#[derive(Clone)]
struct Authenticate(Security);

impl tonic::service::Interceptor for Authenticate {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let headers = request.metadata().clone().into_headers();
        self.0
            .authenticate(&headers)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(request)
    }
}

impl Receiver for SignalsReceiver {
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
