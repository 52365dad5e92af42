//! Exporter `otlp` (alias `otlp_grpc`): OTLP over gRPC to a Collector or any OTLP backend,
//! for metrics, logs and traces, with the Collector's keys (`endpoint`, `tls`, `headers`,
//! `auth`, `compression`, `timeout`, `retry_on_failure`, `sending_queue`).
//!
//! The transport sends one `Export*ServiceRequest` per batch and classifies failures the way
//! the OTLP specification says: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED,
//! CANCELLED, OUT_OF_RANGE and DATA_LOSS are retried; everything else (INVALID_ARGUMENT,
//! UNAUTHENTICATED, ...) is a permanent refusal. A `partial_success` reply is logged and its
//! rejected count is counted, never retried. The channel connects lazily on the first send
//! (inside the runtime), so `build` spawns nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::FutureExt;
use futures::future::BoxFuture;
use http::HeaderValue;
use http_body_util::BodyExt;
use prost::Message;
use serde::Deserialize;
use tonic::codec::{CompressionEncoding, DecodeBuf, Decoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceExt};

use kafka_obs_api::config::de;
use kafka_obs_api::{
    AuthCapability, Batch, BuildContext, BuildError, ComponentConfigError, ComponentId, DataKind,
    Exporter, ExporterFactory, FactoryMeta, RawAuthSettings, Stability, parse_component_config,
};
use kafka_obs_api::{NetworkExporterConfig, SendingQueue};
use kafka_obs_net::TlsConfig;
use kafka_obs_net::tls::client::grpc_connector;

use crate::delivery::{
    self, DEFAULT_TIMEOUT, DeliveryError, DeliveryExporter, DeliverySettings, Outcome, RawQueue,
    RawRetry, Transport,
};

use super::{Compression, partial_outcome};

/// Makes `otlp` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "otlp",
        aliases: &["otlp_grpc"],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Sends OTLP over gRPC (TLS, headers, gzip) with retries and a memory or disk queue",
    },
    |config| Ok(Box::new(OtlpExporterConfig::parse(config)?)),
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    endpoint: Option<String>,
    tls: TlsConfig,
    #[serde(deserialize_with = "kafka_obs_api::config::de::text_map")]
    headers: BTreeMap<String, String>,
    auth: Option<RawAuthSettings>,
    compression: Compression,
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
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RawRetry::default(),
            sending_queue: RawQueue::default(),
        }
    }
}

/// The validated configuration of an `otlp` exporter.
#[derive(Debug, Clone)]
pub struct OtlpExporterConfig {
    /// `http://host:port` (plaintext) or `https://host:port`.
    pub uri: String,
    pub tls: TlsConfig,
    pub headers: MetadataMap,
    /// `auth::authenticator`: the extension whose headers go on every request.
    pub auth: Option<ComponentId>,
    pub compression: Compression,
    pub delivery: DeliverySettings,
}

impl OtlpExporterConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        let endpoint = raw
            .endpoint
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| {
                ComponentConfigError::new(
                    "endpoint",
                    "required: the backend's gRPC address, such as collector.example.com:4317",
                )
            })?;
        raw.tls.validate()?;
        let uri = grpc_uri(&endpoint, &raw.tls)?;
        let mut headers = MetadataMap::new();
        for (k, v) in &raw.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid gRPC header name")
                    .within("headers")
            })?;
            let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid header value (printable ASCII)")
                    .within("headers")
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
            delivery,
        })
    }

    /// The transport alone, for tests and benchmarks that drive it without a pipeline.
    pub fn transport(&self) -> Result<GrpcTransport, BuildError> {
        let mut endpoint = Endpoint::from_shared(self.uri.clone())
            .map_err(|e| BuildError::Other(format!("endpoint {}: {e}", self.uri)))?
            .connect_timeout(self.delivery.timeout)
            .tcp_nodelay(true);
        if self.uri.starts_with("https://") {
            // `origin` keeps the authority the certificate is checked against.
            endpoint = endpoint.origin(
                self.uri
                    .parse()
                    .map_err(|e| BuildError::Other(format!("endpoint {}: {e}", self.uri)))?,
            );
        }
        let tls = if self.uri.starts_with("https://") {
            Some(
                self.tls
                    .client_config(&[])
                    .map_err(|e| BuildError::Other(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(GrpcTransport {
            endpoint,
            tls,
            server_name: self
                .tls
                .server_name()
                .map_err(|e| BuildError::Other(e.to_string()))?,
            channel: Mutex::new(None),
            headers: self.headers.clone(),
            auth: None,
            gzip: self.compression == Compression::Gzip,
        })
    }
}

/// `host:port` with the scheme the TLS settings call for; an explicit `http://` means
/// plaintext, as in the Collector.
fn grpc_uri(endpoint: &str, tls: &TlsConfig) -> Result<String, ComponentConfigError> {
    let e = endpoint.trim();
    let (plain, rest) = if let Some(r) = e.strip_prefix("http://") {
        (true, r)
    } else if let Some(r) = e.strip_prefix("https://") {
        (false, r)
    } else {
        (tls.insecure, e)
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || !rest.contains(':') || rest.contains('/') {
        return Err(ComponentConfigError::new(
            "endpoint",
            format!("{endpoint:?} is not host:port, such as collector.example.com:4317"),
        ));
    }
    if plain && !tls.insecure && e.starts_with("http://") {
        tracing::debug!(endpoint = e, "http:// endpoint: plaintext gRPC");
    }
    Ok(format!(
        "{}://{rest}",
        if plain || tls.insecure {
            "http"
        } else {
            "https"
        }
    ))
}

impl NetworkExporterConfig for OtlpExporterConfig {
    fn sending_queue(&self) -> SendingQueue {
        self.delivery.queue.sending_queue()
    }

    fn authenticator(&self) -> Option<&ComponentId> {
        self.auth.as_ref()
    }

    fn build_exporter(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(DeliveryExporter::build(
            self.transport()?
                .with_auth(crate::auth::client(self.auth.as_ref(), ctx)?),
            self.delivery.clone(),
            ctx,
        )?))
    }
}

/// Sends OTLP requests on one lazily connected HTTP/2 channel (requests multiplex).
pub struct GrpcTransport {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    server_name: Option<rustls::pki_types::ServerName<'static>>,
    /// Created on first use; dropped after a connection failure so the next attempt dials
    /// afresh instead of reusing a channel stuck on the old failure.
    channel: Mutex<Option<Channel>>,
    headers: MetadataMap,
    auth: Option<AuthCapability>,
    gzip: bool,
}

impl GrpcTransport {
    /// Adds an authenticator's headers to every request.
    pub fn with_auth(mut self, auth: Option<AuthCapability>) -> Self {
        self.auth = auth;
        self
    }

    fn channel(&self) -> Channel {
        let mut slot = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| match &self.tls {
            None => self.endpoint.connect_lazy(),
            Some(tls) => self
                .endpoint
                .connect_with_connector_lazy(grpc_connector(tls, self.server_name.as_ref())),
        })
        .clone()
    }

    /// Forgets the channel after a transport failure (see `channel`).
    fn reset(&self, status: &tonic::Status) {
        if status.code() == tonic::Code::Unavailable || is_local_failure(status) {
            *self.channel.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    fn failed(&self, status: tonic::Status) -> DeliveryError {
        self.reset(&status);
        status_error(status)
    }

    /// One gRPC frame (flag, length, message) holding `batch`, gzip-compressed when configured:
    /// built once per batch, sent as is by every attempt.
    fn frame(&self, batch: &Batch) -> Result<Bytes, DeliveryError> {
        let message = match batch {
            Batch::Metrics(r) => r.encode_to_vec(),
            Batch::Logs(r) => r.encode_to_vec(),
            Batch::Traces(r) => r.encode_to_vec(),
        };
        let mut frame = vec![u8::from(self.gzip), 0, 0, 0, 0];
        if self.gzip {
            frame = super::gzip_after(frame, &message);
        } else {
            frame.extend_from_slice(&message);
        }
        let len = u32::try_from(frame.len() - FRAME_HEADER).map_err(|_| {
            DeliveryError::permanent(format!(
                "the encoded batch is {} bytes, over gRPC's 4 GiB message limit",
                frame.len() - FRAME_HEADER
            ))
        })?;
        frame[1..FRAME_HEADER].copy_from_slice(&len.to_be_bytes());
        Ok(Bytes::from(frame))
    }

    /// One unary call of the kind's `Export` method with a ready frame; the reply's message
    /// bytes (empty when the server sent none).
    async fn call(
        &self,
        kind: DataKind,
        metadata: MetadataMap,
        frame: Bytes,
    ) -> Result<Bytes, tonic::Status> {
        let mut req = http::Request::new(tonic::body::Body::new(
            http_body_util::Full::new(frame).map_err(|never| match never {}),
        ));
        *req.version_mut() = http::Version::HTTP_2;
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = http::Uri::from_static(export_path(kind));
        *req.headers_mut() = metadata.into_headers();
        let h = req.headers_mut();
        h.insert(http::header::TE, HeaderValue::from_static("trailers"));
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
        if self.gzip {
            h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        }
        let mut channel = self.channel();
        let resp = channel
            .ready()
            .await
            .map_err(|e| tonic::Status::from_error(Box::new(e)))?
            .call(req)
            .await
            .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
        // A reply without a message carries its status in the headers ("trailers only").
        if let Some(status) = tonic::Status::from_header_map(resp.headers()) {
            return if status.code() == tonic::Code::Ok {
                Ok(Bytes::new())
            } else {
                Err(status)
            };
        }
        let encoding = match resp.headers().get("grpc-encoding").map(|v| v.as_bytes()) {
            None | Some(b"identity") => None,
            Some(b"gzip") => Some(CompressionEncoding::Gzip),
            Some(other) => {
                return Err(tonic::Status::internal(format!(
                    "the server answered in an encoding not asked for: {}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        let status = resp.status();
        let mut reply =
            tonic::Streaming::new_response(RawReply, resp.into_body(), status, encoding, None);
        let message = reply.message().await?.unwrap_or_default();
        // Reads to the end, where a failure's grpc-status is.
        reply.trailers().await?;
        Ok(message)
    }

    async fn export(&self, batch: &Batch, frame: Bytes) -> Result<Outcome, DeliveryError> {
        let kind = batch.kind();
        let mut metadata = self.headers.clone();
        crate::auth::add_grpc(self.auth.as_ref(), &mut metadata)?;
        let reply = self
            .call(kind, metadata, frame)
            .await
            .map_err(|s| self.failed(s))?;
        Ok(partial_outcome(
            batch.item_count() as u64,
            super::partial_of_proto(kind, &reply),
        ))
    }
}

/// gRPC's frame header: compressed flag and message length.
const FRAME_HEADER: usize = 5;

/// The OTLP service method a kind is exported with.
fn export_path(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        DataKind::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        DataKind::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    }
}

/// Takes a reply's message as bytes (tonic has removed the framing and compression); the
/// kind's response type decodes them.
struct RawReply;

impl Decoder for RawReply {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A status tonic made up locally because the connection failed (the server never answered):
/// UNKNOWN "transport error" with the cause attached, such as a TLS alert after the handshake,
/// or INTERNAL "h2 protocol error" from the HTTP/2 layer, such as a stream cut by the server's
/// GOAWAY while it restarts. A status the server sent carries no cause, so it keeps its code's
/// meaning; these are retried, as dropping a batch because a backend restarted would lose it.
fn is_local_failure(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::Unknown | tonic::Code::Internal)
        && std::error::Error::source(status).is_some()
}

/// The OTLP specification's retryable gRPC codes; a connection that broke before any answer
/// is retryable too, as the Collector treats it.
pub(crate) fn status_error(status: tonic::Status) -> DeliveryError {
    use tonic::Code;
    let mut reason = format!("gRPC {:?}: {}", status.code(), status.message());
    if let Some(cause) = std::error::Error::source(&status) {
        let cause = super::error_chain(cause);
        if !reason.contains(&cause) {
            reason.push_str(": ");
            reason.push_str(&cause);
        }
    }
    if is_local_failure(&status) {
        return DeliveryError::retryable(reason);
    }
    match status.code() {
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled
        | Code::OutOfRange
        | Code::DataLoss => DeliveryError::retryable(reason),
        _ => DeliveryError::permanent(reason),
    }
}

impl Transport for GrpcTransport {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        async move { self.export(batch, self.frame(batch)?).await }.boxed()
    }

    fn encode(&self, batch: &Batch) -> Option<Result<Bytes, DeliveryError>> {
        Some(self.frame(batch))
    }

    fn send_encoded<'a>(
        &'a self,
        batch: &'a Batch,
        encoded: &'a Bytes,
    ) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        // A `Bytes` clone shares the buffer: a retry sends the very same bytes.
        self.export(batch, encoded.clone()).boxed()
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
        let c = OtlpExporterConfig::parse(&yaml(include_str!("../../testdata/otlp.yaml"))).unwrap();
        assert_eq!(c.uri, "http://127.0.0.1:4317");
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.headers.get("x-tenant").unwrap(), "acme");
        assert_eq!(c.delivery.timeout, Duration::from_secs(2));
        assert_eq!(c.delivery.queue.num_consumers, 4);
        assert_eq!(
            c.delivery.retry.initial_interval,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn defaults_and_schemes() {
        let c = OtlpExporterConfig::parse(&yaml("endpoint: collector:4317")).unwrap();
        assert_eq!(c.uri, "https://collector:4317");
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.delivery, DeliverySettings::default());
        let c = OtlpExporterConfig::parse(&yaml("endpoint: http://collector:4317")).unwrap();
        assert_eq!(c.uri, "http://collector:4317");
        let e = OtlpExporterConfig::parse(&yaml("compression: gzip")).unwrap_err();
        assert_eq!(e.path, "endpoint");
        let e = OtlpExporterConfig::parse(&yaml("endpoint: c:1\ncompression: brotli")).unwrap_err();
        assert_eq!(e.path, "compression");
        let e = OtlpExporterConfig::parse(&yaml("endpoint: c:1\nheaders: {\"bad key\": v}"))
            .unwrap_err();
        assert_eq!(e.path, "headers::bad key");
    }

    #[test]
    fn codes_split_into_retryable_and_permanent() {
        assert!(matches!(
            status_error(tonic::Status::unavailable("x")),
            DeliveryError::Retryable { .. }
        ));
        assert!(matches!(
            status_error(tonic::Status::invalid_argument("x")),
            DeliveryError::Permanent { .. }
        ));
        // A connection that broke before the server answered (tonic says UNKNOWN and
        // attaches the cause) is retried, and the cause is in the reason.
        let broken = tonic::Status::from_error(Box::new(std::io::Error::other(
            "received fatal alert: CertificateRequired",
        )));
        match status_error(broken) {
            DeliveryError::Retryable { reason, .. } => {
                assert!(reason.contains("CertificateRequired"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status_error(tonic::Status::unknown("the server said so")),
            DeliveryError::Permanent { .. }
        ));
        // A stream the HTTP/2 layer ended (a restarting server's GOAWAY): INTERNAL with the h2
        // error attached is retried; INTERNAL sent by the server is not.
        let cut = tonic::Status::from_error(Box::new(h2::Error::from(h2::Reason::NO_ERROR)));
        assert_eq!(cut.code(), tonic::Code::Internal);
        assert!(matches!(status_error(cut), DeliveryError::Retryable { .. }));
        assert!(matches!(
            status_error(tonic::Status::internal("the server said so")),
            DeliveryError::Permanent { .. }
        ));
        let o = partial_outcome(10, Some((3, "bad points".into())));
        assert_eq!((o.delivered, o.rejected), (7, 3));
    }
}
