//! Exporter `otlp_http` (alias `otlphttp`): OTLP over HTTP/1.1 (`POST /v1/metrics`,
//! `/v1/logs`, `/v1/traces`), protobuf or JSON, optionally gzipped, as the Collector's
//! otlphttp exporter.
//!
//! Failures are classified as the OTLP/HTTP specification says: 429, 502, 503 and 504 are
//! retried (honouring `Retry-After`), connection errors too; any other status is a permanent
//! refusal whose body (a `google.rpc.Status`, or text) is put into the log line. A 200 reply
//! with `partial_success` is logged and its rejected count counted.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use serde::Deserialize;

use kafka_obs_api::config::de;
use kafka_obs_api::{
    AuthCapability, Batch, BuildContext, BuildError, ComponentConfigError, ComponentId, DataKind,
    Exporter, ExporterFactory, FactoryMeta, RawAuthSettings, Stability, parse_component_config,
};
use kafka_obs_api::{NetworkExporterConfig, SendingQueue};
use kafka_obs_net::TlsConfig;
use kafka_obs_net::tls::client::http1_connector;

use crate::delivery::{
    self, DEFAULT_TIMEOUT, DeliveryError, DeliveryExporter, DeliverySettings, Outcome, RawQueue,
    RawRetry, Transport,
};

use super::{Compression, error_chain, partial_outcome};

/// Makes `otlp_http` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "otlp_http",
        aliases: &["otlphttp"],
        stability: Stability::Beta,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Sends OTLP over HTTP (protobuf or JSON, gzip) with retries and a memory or disk queue",
    },
    |config| Ok(Box::new(OtlpHttpExporterConfig::parse(config)?)),
);

/// Largest reply body read (replies are small; this bounds a misbehaving server).
const MAX_REPLY: usize = 1 << 20;

/// `encoding` of the HTTP body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Proto,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    endpoint: Option<String>,
    metrics_endpoint: Option<String>,
    logs_endpoint: Option<String>,
    traces_endpoint: Option<String>,
    tls: TlsConfig,
    #[serde(deserialize_with = "kafka_obs_api::config::de::text_map")]
    headers: BTreeMap<String, String>,
    auth: Option<RawAuthSettings>,
    compression: Compression,
    encoding: Encoding,
    #[serde(deserialize_with = "de::duration")]
    timeout: Duration,
    retry_on_failure: RawRetry,
    sending_queue: RawQueue,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            traces_endpoint: None,
            tls: TlsConfig::default(),
            headers: BTreeMap::new(),
            auth: None,
            compression: Compression::Gzip,
            encoding: Encoding::Proto,
            timeout: DEFAULT_TIMEOUT,
            retry_on_failure: RawRetry::default(),
            sending_queue: RawQueue::default(),
        }
    }
}

/// The validated configuration of an `otlp_http` exporter.
#[derive(Debug, Clone)]
pub struct OtlpHttpExporterConfig {
    /// Full URL per signal (metrics, logs, traces); `None` for a signal with neither its own
    /// `<signal>_endpoint` nor a base `endpoint`.
    pub urls: [Option<Uri>; 3],
    pub tls: TlsConfig,
    pub headers: HeaderMap,
    /// `auth::authenticator`: the extension whose headers go on every request.
    pub auth: Option<ComponentId>,
    pub compression: Compression,
    pub encoding: Encoding,
    pub delivery: DeliverySettings,
}

fn parse_url(key: &str, text: &str) -> Result<Uri, ComponentConfigError> {
    let uri: Uri = text.trim().parse().map_err(|_| {
        ComponentConfigError::new(
            key,
            format!("{text:?} is not a URL, such as http://collector:4318"),
        )
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.authority().is_some() => Ok(uri),
        _ => Err(ComponentConfigError::new(
            key,
            format!("{text:?} needs http:// or https:// and a host, such as http://collector:4318"),
        )),
    }
}

impl OtlpHttpExporterConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        raw.tls.validate()?;
        let base = raw
            .endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| e.trim().trim_end_matches('/').to_string());
        // As the Collector's otlphttp: a signal's own URL wins, else `endpoint` + `/v1/<signal>`;
        // a signal with neither is refused at build only if a pipeline sends it here.
        let signal = |key: &str,
                      own: &Option<String>,
                      path: &str|
         -> Result<Option<Uri>, ComponentConfigError> {
            match (own.as_deref().filter(|u| !u.trim().is_empty()), &base) {
                (Some(url), _) => parse_url(key, url).map(Some),
                (None, Some(b)) => parse_url("endpoint", &format!("{b}{path}")).map(Some),
                (None, None) => Ok(None),
            }
        };
        let urls = [
            signal("metrics_endpoint", &raw.metrics_endpoint, "/v1/metrics")?,
            signal("logs_endpoint", &raw.logs_endpoint, "/v1/logs")?,
            signal("traces_endpoint", &raw.traces_endpoint, "/v1/traces")?,
        ];
        if urls.iter().all(Option::is_none) {
            return Err(ComponentConfigError::new(
                "endpoint",
                "required (or one of metrics_endpoint, logs_endpoint, traces_endpoint): the base URL, such as http://collector:4318",
            ));
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &raw.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid HTTP header name")
                    .within("headers")
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                ComponentConfigError::new(k.clone(), "not a valid header value").within("headers")
            })?;
            headers.insert(name, value);
        }
        let delivery = delivery::resolve(raw.timeout, &raw.retry_on_failure, &raw.sending_queue)?;
        Ok(Self {
            urls,
            tls: raw.tls,
            headers,
            auth: crate::auth::parse(raw.auth.as_ref())?,
            compression: raw.compression,
            encoding: raw.encoding,
            delivery,
        })
    }

    /// The URL `kind` is posted to, if one is configured.
    pub fn url(&self, kind: DataKind) -> Option<&Uri> {
        self.urls[signal_index(kind)].as_ref()
    }

    /// Refuses a signal the pipelines send here but no URL is configured for, naming the key
    /// to set (the Collector refuses it when it creates that signal's exporter).
    pub fn check_signals(&self, kinds: &[DataKind]) -> Result<(), BuildError> {
        match kinds.iter().find(|&&kind| self.url(kind).is_none()) {
            None => Ok(()),
            Some(kind) => Err(BuildError::Other(format!(
                "{kind}_endpoint: missing, and there is no endpoint to derive it from; a {kind} pipeline sends to this exporter, so set {kind}_endpoint (such as http://collector:4318/v1/{kind}) or endpoint"
            ))),
        }
    }

    /// The transport alone, for tests and benchmarks.
    pub fn transport(&self) -> Result<HttpTransport, BuildError> {
        let needs_tls = self
            .urls
            .iter()
            .flatten()
            .any(|u| u.scheme_str() == Some("https"));
        let tls = if needs_tls && !self.tls.insecure {
            self.tls
                .client_config(&[])
                .map_err(|e| BuildError::Other(e.to_string()))?
        } else {
            // Plain http: a config with no roots is never used for a handshake.
            TlsConfig {
                insecure_skip_verify: true,
                ..TlsConfig::default()
            }
            .client_config(&[])
            .map_err(|e| BuildError::Other(e.to_string()))?
        };
        let server_name = self
            .tls
            .server_name()
            .map_err(|e| BuildError::Other(e.to_string()))?;
        let connector = http1_connector(&tls, server_name.as_ref());
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(HttpTransport {
            client,
            urls: self.urls.clone(),
            headers: self.headers.clone(),
            auth: None,
            gzip: self.compression == Compression::Gzip,
            encoding: self.encoding,
        })
    }
}

impl NetworkExporterConfig for OtlpHttpExporterConfig {
    fn sending_queue(&self) -> SendingQueue {
        self.delivery.queue.sending_queue()
    }

    fn authenticator(&self) -> Option<&ComponentId> {
        self.auth.as_ref()
    }

    fn build_exporter(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        self.check_signals(&ctx.kinds)?;
        Ok(Box::new(DeliveryExporter::build(
            self.transport()?
                .with_auth(crate::auth::client(self.auth.as_ref(), ctx)?),
            self.delivery.clone(),
            ctx,
        )?))
    }
}

/// POSTs one request per batch over a pooled HTTP/1.1 client.
pub struct HttpTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    urls: [Option<Uri>; 3],
    headers: HeaderMap,
    auth: Option<AuthCapability>,
    gzip: bool,
    encoding: Encoding,
}

/// Where a signal's URL sits in `urls`.
fn signal_index(kind: DataKind) -> usize {
    match kind {
        DataKind::Metrics => 0,
        DataKind::Logs => 1,
        DataKind::Traces => 2,
    }
}

/// The request body of `batch` in `encoding`.
pub fn encode_body(batch: &Batch, encoding: Encoding) -> Result<Vec<u8>, DeliveryError> {
    match encoding {
        Encoding::Proto => Ok(match batch {
            Batch::Metrics(r) => r.encode_to_vec(),
            Batch::Logs(r) => r.encode_to_vec(),
            Batch::Traces(r) => r.encode_to_vec(),
        }),
        Encoding::Json => kafka_obs_otlp_json::to_json_line(batch)
            .map(String::into_bytes)
            .map_err(|e| DeliveryError::permanent(e.to_string())),
    }
}

impl HttpTransport {
    /// Adds an authenticator's headers to every request.
    pub fn with_auth(mut self, auth: Option<AuthCapability>) -> Self {
        self.auth = auth;
        self
    }

    /// The body every attempt at `batch` posts: encoded, then compressed when configured.
    fn body(&self, batch: &Batch) -> Result<Bytes, DeliveryError> {
        let body = encode_body(batch, self.encoding)?;
        Ok(Bytes::from(if self.gzip {
            super::gzip_after(Vec::new(), &body)
        } else {
            body
        }))
    }

    async fn post(&self, batch: &Batch, body: Bytes) -> Result<Outcome, DeliveryError> {
        let items = batch.item_count() as u64;
        let kind = batch.kind();
        // `check_signals` at build keeps a signal without a URL from reaching here.
        let url = self.urls[signal_index(kind)].clone().ok_or_else(|| {
            DeliveryError::permanent(format!("no {kind}_endpoint configured for {kind}"))
        })?;
        let mut req = Request::builder().method(Method::POST).uri(url.clone());
        if let Some(h) = req.headers_mut() {
            h.extend(self.headers.clone());
            crate::auth::add_http(self.auth.as_ref(), h)?;
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(match self.encoding {
                    Encoding::Proto => "application/x-protobuf",
                    Encoding::Json => "application/json",
                }),
            );
            if self.gzip {
                h.insert(
                    http::header::CONTENT_ENCODING,
                    HeaderValue::from_static("gzip"),
                );
            }
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| DeliveryError::permanent(format!("cannot build the request: {e}")))?;
        let resp =
            self.client.request(req).await.map_err(|e| {
                DeliveryError::retryable(format!("POST {url}: {}", error_chain(&e)))
            })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json_reply = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = Limited::new(resp.into_body(), MAX_REPLY)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(partial_outcome(items, partial_of(kind, &body, json_reply)));
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let reason = format!("POST {url}: HTTP {status}: {text}");
        match status {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Err(DeliveryError::Retryable {
                reason,
                remaining: None,
                partial: Outcome::default(),
                throttle: retry_after,
            }),
            _ => Err(DeliveryError::permanent(reason)),
        }
    }
}

/// `(rejected, message)` from a success reply, in whichever encoding it came.
fn partial_of(kind: DataKind, body: &[u8], json: bool) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    if json {
        return kafka_obs_otlp_json::partial_success(kind, body);
    }
    super::partial_of_proto(kind, body)
}

impl Transport for HttpTransport {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        async move { self.post(batch, self.body(batch)?).await }.boxed()
    }

    fn encode(&self, batch: &Batch) -> Option<Result<Bytes, DeliveryError>> {
        Some(self.body(batch))
    }

    fn send_encoded<'a>(
        &'a self,
        batch: &'a Batch,
        encoded: &'a Bytes,
    ) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        // A `Bytes` clone shares the buffer: a retry posts the very same bytes.
        self.post(batch, encoded.clone()).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let c = OtlpHttpExporterConfig::parse(&yaml(include_str!("../../testdata/otlp_http.yaml")))
            .unwrap();
        let url = |kind| c.url(kind).map(Uri::to_string);
        assert_eq!(
            url(DataKind::Metrics).as_deref(),
            Some("http://127.0.0.1:4318/v1/metrics")
        );
        assert_eq!(
            url(DataKind::Logs).as_deref(),
            Some("http://127.0.0.1:9999/custom/logs")
        );
        assert_eq!(c.encoding, Encoding::Json);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.headers.get("authorization").unwrap(), "Bearer x");
    }

    #[test]
    fn defaults_and_errors() {
        let c = OtlpHttpExporterConfig::parse(&yaml("endpoint: https://c:4318/")).unwrap();
        assert_eq!(
            c.url(DataKind::Traces).map(Uri::to_string).as_deref(),
            Some("https://c:4318/v1/traces")
        );
        assert_eq!(
            (c.encoding, c.compression),
            (Encoding::Proto, Compression::Gzip)
        );
        assert_eq!(c.delivery, DeliverySettings::default());
        let e = OtlpHttpExporterConfig::parse(&yaml("encoding: json")).unwrap_err();
        assert_eq!(e.path, "endpoint");
        let e = OtlpHttpExporterConfig::parse(&yaml("endpoint: c:4318")).unwrap_err();
        assert_eq!(e.path, "endpoint");
        let e = OtlpHttpExporterConfig::parse(&yaml("endpoint: http://c:1\nencoding: xml"))
            .unwrap_err();
        assert_eq!(e.path, "encoding");
    }

    #[test]
    fn per_signal_endpoints_alone_serve_only_their_signals() {
        let c = OtlpHttpExporterConfig::parse(&yaml(
            "metrics_endpoint: http://m:4318/v1/metrics\nlogs_endpoint: ''",
        ))
        .unwrap();
        assert_eq!(
            c.url(DataKind::Metrics).map(Uri::to_string).as_deref(),
            Some("http://m:4318/v1/metrics")
        );
        assert!(c.url(DataKind::Logs).is_none() && c.url(DataKind::Traces).is_none());
        assert!(c.check_signals(&[DataKind::Metrics]).is_ok());
        let e = c
            .check_signals(&[DataKind::Metrics, DataKind::Logs])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("logs_endpoint: missing") && e.contains("set logs_endpoint"),
            "{e}"
        );
        let e = OtlpHttpExporterConfig::parse(&yaml("traces_endpoint: t:1")).unwrap_err();
        assert_eq!(e.path, "traces_endpoint");
    }

    #[test]
    fn partial_success_in_both_encodings() {
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#;
        assert_eq!(
            partial_of(DataKind::Logs, json, true),
            Some((2, "bad".into()))
        );
        let proto = ExportLogsServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                    rejected_log_records: 3,
                    error_message: "x".into(),
                },
            ),
        }
        .encode_to_vec();
        assert_eq!(
            partial_of(DataKind::Logs, &proto, false),
            Some((3, "x".into()))
        );
    }
}
