//! Exporter `signals`: the seed's "Option 1, gRPC streaming". Signal events from the logs
//! pipeline (`kafka_obs_signal::otlp::logs`) become `SignalEnvelope`s on one long-lived
//! `SignalAggregator.StreamSignals` stream; the aggregator acks them (per envelope or
//! cumulatively per source).
//!
//! Delivery is at least once. A background session owns the stream and a window of unacked
//! envelopes (`max_in_flight`, by `(source_id, sequence)`); when the stream breaks it
//! reconnects with backoff and resends, in sequence order per source, every unacked envelope
//! whose sender is still waiting. An attempt that is not fully acked within `timeout` fails as
//! retryable and the shared retry layer sends it again, so the aggregator must dedupe by
//! source and sequence (the proto says so). `REJECTED` acks are permanent (logged, counted);
//! `RETRY` acks are resent after a second. Records that are not signal events are skipped and
//! counted. A dead aggregator fills the window, then the lanes, then this exporter's own queue,
//! whose policy applies; other exporters never wait for it.
//!
//! [`config`] holds the keys, [`transport`] the batch-to-envelopes side the delivery layer
//! drives, [`session`] the task that owns the stream.

mod config;
mod session;
mod transport;

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use kafka_obs_api::{
    AuthCapability, BuildContext, BuildError, ComponentTelemetry, DataKind, Exporter,
    ExporterFactory, FactoryMeta, Stability,
};
use kafka_obs_api::{ComponentId, NetworkExporterConfig, SendingQueue};

use crate::delivery::DeliveryExporter;
use crate::otlp::Compression;

pub use config::SignalsExporterConfig;
use session::{Dial, Session};
pub use transport::SignalsTransport;

/// Makes `signals` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "signals",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[DataKind::Logs],
        description: "Streams signal events to a SignalAggregator over gRPC (acks, resend after reconnect)",
    },
    |config| Ok(Box::new(SignalsExporterConfig::parse(config)?)),
);

impl SignalsExporterConfig {
    /// The transport and the session future it needs running beside it.
    pub fn transport(
        &self,
        telemetry: &ComponentTelemetry,
        id: &str,
        stop: CancellationToken,
    ) -> Result<(SignalsTransport, BoxFuture<'static, ()>), BuildError> {
        self.transport_with_auth(telemetry, id, stop, None)
    }

    /// [`SignalsExporterConfig::transport`] with an authenticator whose headers open every stream.
    pub fn transport_with_auth(
        &self,
        telemetry: &ComponentTelemetry,
        id: &str,
        stop: CancellationToken,
        auth: Option<AuthCapability>,
    ) -> Result<(SignalsTransport, BoxFuture<'static, ()>), BuildError> {
        let endpoint = Endpoint::from_shared(self.uri.clone())
            .map_err(|e| BuildError::Other(format!("endpoint {}: {e}", self.uri)))?
            .connect_timeout(self.delivery.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        let tls = if self.uri.starts_with("https://") {
            Some(
                self.tls
                    .client_config(&[])
                    .map_err(|e| BuildError::Other(e.to_string()))?,
            )
        } else {
            None
        };
        let dial = Dial {
            endpoint,
            tls,
            server_name: self
                .tls
                .server_name()
                .map_err(|e| BuildError::Other(e.to_string()))?,
            headers: self.headers.clone(),
            auth,
            gzip: self.compression == Compression::Gzip,
        };
        let (submit_tx, submit_rx) = mpsc::channel(self.max_in_flight.min(4096));
        let session = Session::new(dial, submit_rx, self.max_in_flight, telemetry, id);
        let transport = SignalsTransport::new(submit_tx, self.max_in_flight, telemetry, id);
        Ok((transport, session.run(stop).boxed()))
    }
}

impl NetworkExporterConfig for SignalsExporterConfig {
    fn sending_queue(&self) -> SendingQueue {
        self.delivery.queue.sending_queue()
    }

    fn authenticator(&self) -> Option<&ComponentId> {
        self.auth.as_ref()
    }

    fn build_exporter(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        let stop = CancellationToken::new();
        let auth = crate::auth::client(self.auth.as_ref(), ctx)?;
        let (transport, session) =
            self.transport_with_auth(&ctx.telemetry, &ctx.id.to_string(), stop.clone(), auth)?;
        Ok(Box::new(
            DeliveryExporter::build(transport, self.delivery.clone(), ctx)?
                .with_background(session, stop),
        ))
    }
}
