//! OTLP over gRPC: the generated `opentelemetry-proto` services, served by tonic.
//!
//! Only the signals that have a pipeline get a service; tonic answers `UNIMPLEMENTED` for the
//! others, which is what an OTLP client expects from a server that does not take a signal.
//! Requests may be gzip-compressed; responses are compressed when the client accepts it.
//! With `auth`, an interceptor refuses a request without valid credentials (UNAUTHENTICATED)
//! before it is decoded; with `tls`, only connections that finished a handshake are served.

use std::future::Future;
use std::net::TcpListener as StdTcpListener;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use kafka_obs_api::{Batch, RunError, Transport};

use super::config::GrpcSettings;
use super::deliver::{Delivery, Sink};
use super::security::Security;

const TRANSPORT: Transport = Transport::Grpc;

/// One signal's service: decodes nothing itself (tonic did), forwards to the pipeline.
struct Handler(Sink);

impl Handler {
    async fn export(&self, batch: Batch) -> Result<Option<(i64, String)>, Status> {
        match self.0.deliver(batch, TRANSPORT).await {
            Delivery::Accepted => Ok(None),
            Delivery::Partial { rejected, message } => {
                Ok(Some((i64::try_from(rejected).unwrap_or(i64::MAX), message)))
            }
            Delivery::Unavailable { message } => Err(Status::unavailable(message)),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Handler {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let partial = Handler::export(self, Batch::Metrics(request.into_inner())).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Handler {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let partial = Handler::export(self, Batch::Logs(request.into_inner())).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Handler {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let partial = Handler::export(self, Batch::Traces(request.into_inner())).await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }))
    }
}

/// The authenticator's check in front of every service (a no-op without `auth`).
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

/// Serves until `shutdown` completes, then stops accepting and lets in-flight calls finish.
pub(crate) async fn serve(
    listener: StdTcpListener,
    settings: GrpcSettings,
    security: Security,
    sinks: Vec<Sink>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let limit = settings.max_recv_msg_size;
    let guard = Authenticate(security.clone());
    let mut metrics = None;
    let mut logs = None;
    let mut traces = None;
    for sink in sinks {
        match sink.kind {
            kafka_obs_api::DataKind::Metrics => {
                metrics = Some(InterceptedService::new(
                    MetricsServiceServer::new(Handler(sink))
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                    guard.clone(),
                ));
            }
            kafka_obs_api::DataKind::Logs => {
                logs = Some(InterceptedService::new(
                    LogsServiceServer::new(Handler(sink))
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                    guard.clone(),
                ));
            }
            kafka_obs_api::DataKind::Traces => {
                traces = Some(InterceptedService::new(
                    TraceServiceServer::new(Handler(sink))
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                    guard.clone(),
                ));
            }
        }
    }
    let router = Server::builder()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .add_optional_service(metrics)
        .add_optional_service(logs)
        .add_optional_service(traces);
    let served = match security.tls.clone() {
        None => {
            router
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
                .await
        }
        Some(config) => {
            let incoming = security.tls_incoming(listener, config).into_stream();
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
    served.map_err(|e| RunError::Other(format!("OTLP/gRPC server on {}: {e}", settings.endpoint)))
}
