//! OTLP over HTTP (`POST /v1/metrics|logs|traces`), served by axum.
//!
//! Bodies are binary protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`),
//! optionally `Content-Encoding: gzip`; the JSON codec is `kafka_obs_otlp_json`. Replies use the request's content type, as the OTLP
//! spec asks: an `Export*ServiceResponse` on success (with `partial_success` when a pipeline
//! refused part of it) and a `google.rpc.Status` on failure. Sizes are checked on the wire and
//! again after decompression, so a small gzip bomb cannot blow up memory. With `auth`, a
//! request without valid credentials is answered 401 before its body is read; with `tls`, only
//! connections that finished a handshake are served.

use std::future::Future;
use std::io::Read;
use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use kafka_obs_api::{Batch, DataKind, RunError, Transport};

use super::config::HttpSettings;
use super::deliver::{Delivery, Sink};
use super::security::Security;

const TRANSPORT: Transport = Transport::Http;
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
/// Seconds a client should wait before retrying when the pipeline cannot take data.
const RETRY_AFTER_SECS: &str = "5";

/// The two OTLP/HTTP body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(PROTOBUF) {
            Some(Self::Protobuf)
        } else if essence.eq_ignore_ascii_case(JSON) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }
}

/// `google.rpc.Status`, the body of every OTLP/HTTP error reply (details are never set).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes used in error bodies.
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_NOT_FOUND: i32 = 5;
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
const CODE_UNAVAILABLE: i32 = 14;
const CODE_UNAUTHENTICATED: i32 = 16;

fn status_body(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn error_response(status: StatusCode, encoding: Encoding, code: i32, message: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        )],
        status_body(encoding, code, message),
    )
        .into_response()
}

/// The success reply; `partial` is `(rejected items, message)`.
fn export_response(
    kind: DataKind,
    encoding: Encoding,
    partial: Option<(usize, String)>,
) -> Response {
    use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsPartialSuccess, ExportLogsServiceResponse,
    };
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };

    let partial = partial.map(|(n, m)| (i64::try_from(n).unwrap_or(i64::MAX), m));
    let body = match encoding {
        Encoding::Json => kafka_obs_otlp_json::export_response(
            kind,
            partial.as_ref().map(|(n, m)| (*n, m.as_str())),
        ),
        Encoding::Protobuf => match kind {
            DataKind::Metrics => ExportMetricsServiceResponse {
                partial_success: partial.map(|(rejected_data_points, error_message)| {
                    ExportMetricsPartialSuccess {
                        rejected_data_points,
                        error_message,
                    }
                }),
            }
            .encode_to_vec(),
            DataKind::Logs => ExportLogsServiceResponse {
                partial_success: partial.map(|(rejected_log_records, error_message)| {
                    ExportLogsPartialSuccess {
                        rejected_log_records,
                        error_message,
                    }
                }),
            }
            .encode_to_vec(),
            DataKind::Traces => ExportTraceServiceResponse {
                partial_success: partial.map(|(rejected_spans, error_message)| {
                    ExportTracePartialSuccess {
                        rejected_spans,
                        error_message,
                    }
                }),
            }
            .encode_to_vec(),
        },
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        )],
        body,
    )
        .into_response()
}

/// Why a body could not be turned into a batch.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("request body is larger than max_request_body_size ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?}; send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("cannot read the request body: {0}")]
    Read(String),
    #[error("cannot decompress the gzip body: {0}")]
    Gzip(std::io::Error),
    #[error("cannot decode the protobuf body as an OTLP {kind} request: {source}")]
    Protobuf {
        kind: DataKind,
        source: prost::DecodeError,
    },
    #[error("cannot decode the JSON body as an OTLP {kind} request: {source}")]
    Json {
        kind: DataKind,
        source: serde_json::Error,
    },
}

impl BodyError {
    fn status(&self) -> (StatusCode, i32) {
        match self {
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, CODE_RESOURCE_EXHAUSTED),
            _ => (StatusCode::BAD_REQUEST, CODE_INVALID_ARGUMENT),
        }
    }
}

/// `true` for gzip, `false` for none; an error for anything else.
fn is_gzip(headers: &HeaderMap) -> Result<bool, BodyError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else {
        Err(BodyError::UnsupportedEncoding(text.to_string()))
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge { limit }),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

/// Decompresses at most `limit` bytes; more is an error, not an allocation.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(BodyError::Gzip)?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

fn decode(kind: DataKind, encoding: Encoding, bytes: &[u8]) -> Result<Batch, BodyError> {
    match encoding {
        Encoding::Protobuf => {
            let err = |source| BodyError::Protobuf { kind, source };
            Ok(match kind {
                DataKind::Metrics => {
                    Batch::Metrics(ExportMetricsServiceRequest::decode(bytes).map_err(err)?)
                }
                DataKind::Logs => {
                    Batch::Logs(ExportLogsServiceRequest::decode(bytes).map_err(err)?)
                }
                DataKind::Traces => {
                    Batch::Traces(ExportTraceServiceRequest::decode(bytes).map_err(err)?)
                }
            })
        }
        Encoding::Json => kafka_obs_otlp_json::decode_batch(kind, bytes)
            .map_err(|source| BodyError::Json { kind, source }),
    }
}

/// One URL path: the signal it takes and where its items go (`None`: no pipeline).
struct Endpoint {
    kind: DataKind,
    sink: Option<Sink>,
    max_body: usize,
}

impl Endpoint {
    async fn handle(&self, headers: HeaderMap, body: Body) -> Response {
        let encoding = Encoding::from_headers(&headers);
        let Some(sink) = &self.sink else {
            let message = format!(
                "no {} pipeline uses this receiver; add it to service.pipelines.{}",
                self.kind, self.kind
            );
            return error_response(
                StatusCode::NOT_FOUND,
                encoding.unwrap_or(Encoding::Json),
                CODE_NOT_FOUND,
                &message,
            );
        };
        let Some(encoding) = encoding else {
            let reason =
                "unsupported Content-Type; send application/x-protobuf or application/json";
            sink.refuse_request(TRANSPORT, 415, reason);
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
                reason,
            )
                .into_response();
        };
        let batch = match self.decode_body(&headers, body, encoding).await {
            Ok(b) => b,
            Err(e) => {
                let (status, code) = e.status();
                let message = e.to_string();
                sink.refuse_request(TRANSPORT, status.as_u16(), &message);
                return error_response(status, encoding, code, &message);
            }
        };
        match sink.deliver(batch, TRANSPORT).await {
            Delivery::Accepted => export_response(self.kind, encoding, None),
            Delivery::Partial { rejected, message } => {
                export_response(self.kind, encoding, Some((rejected, message)))
            }
            Delivery::Unavailable { message } => {
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    encoding,
                    CODE_UNAVAILABLE,
                    &message,
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response
            }
        }
    }

    async fn decode_body(
        &self,
        headers: &HeaderMap,
        body: Body,
        encoding: Encoding,
    ) -> Result<Batch, BodyError> {
        let gzip = is_gzip(headers)?;
        let raw = read_body(body, self.max_body).await?;
        let decompressed;
        let bytes: &[u8] = if gzip {
            decompressed = gunzip(&raw, self.max_body)?;
            &decompressed
        } else {
            &raw
        };
        decode(self.kind, encoding, bytes)
    }
}

fn router(settings: &HttpSettings, sinks: &[Sink]) -> Router {
    let mut router = Router::new();
    for (kind, path) in [
        (DataKind::Metrics, &settings.metrics_url_path),
        (DataKind::Logs, &settings.logs_url_path),
        (DataKind::Traces, &settings.traces_url_path),
    ] {
        let endpoint = Arc::new(Endpoint {
            kind,
            sink: sinks.iter().find(|s| s.kind == kind).cloned(),
            max_body: settings.max_request_body_size,
        });
        router = router.route(
            path,
            post(move |headers: HeaderMap, body: Body| async move {
                endpoint.handle(headers, body).await
            }),
        );
    }
    router
}

/// Serves until `shutdown` completes, then stops accepting and lets in-flight requests finish.
pub(crate) async fn serve(
    listener: StdTcpListener,
    settings: HttpSettings,
    security: Security,
    sinks: Vec<Sink>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let guard = security.clone();
    let app = router(&settings, &sinks).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let guard = guard.clone();
            async move {
                match guard.authenticate(request.headers()) {
                    Ok(()) => next.run(request).await,
                    Err(e) => error_response(
                        StatusCode::UNAUTHORIZED,
                        Encoding::from_headers(request.headers()).unwrap_or(Encoding::Json),
                        CODE_UNAUTHENTICATED,
                        &e.to_string(),
                    ),
                }
            }
        },
    ));
    let served = match security.tls.clone() {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            axum::serve(security.tls_incoming(listener, config), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.map_err(|e| RunError::Other(format!("OTLP/HTTP server on {}: {e}", settings.endpoint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_stops_at_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![0u8; 10_000]).expect("in memory");
        let gz = enc.finish().expect("in memory");
        assert!(matches!(
            gunzip(&gz, 1000),
            Err(BodyError::TooLarge { limit: 1000 })
        ));
        assert_eq!(gunzip(&gz, 10_000).expect("fits").len(), 10_000);
        assert!(matches!(gunzip(b"not gzip", 1000), Err(BodyError::Gzip(_))));
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(Encoding::from_headers(&h), Some(Encoding::Json));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-Protobuf"),
        );
        assert_eq!(Encoding::from_headers(&h), Some(Encoding::Protobuf));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(Encoding::from_headers(&h), None);
    }
}
