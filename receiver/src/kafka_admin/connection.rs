//! One connection to one broker: TCP (or TLS), the ApiVersions handshake, SASL PLAIN, and
//! request/response framing with the `kafka-protocol` messages.
//!
//! Every exchange runs under the receiver's `timeout`, so a broker that stops answering fails
//! the request instead of hanging the poll. A reply is checked before it is believed: its size
//! is bounded, its correlation id must match, and it must decode at the version we asked for;
//! anything else is a [`AdminError::BadReply`], and the connection is dropped by the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{
    Decodable, HeaderVersion, Request, StrBytes, encode_request_header_into_buffer,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::config::SaslPlain;
use super::reply_shape;

/// A reply larger than this is refused (a metadata reply of 100 000 partitions is ~10 MiB).
pub const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// Why a request to a broker did not give an answer we can use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("cannot connect to {broker}: {reason}; is the broker up and `brokers` right?")]
    Connect { broker: String, reason: String },
    #[error("{api} to {broker} got no reply within {timeout:?} (`timeout`)")]
    Timeout {
        broker: String,
        api: &'static str,
        timeout: Duration,
    },
    #[error("{api} to {broker}: connection failed: {reason}")]
    Io {
        broker: String,
        api: &'static str,
        reason: String,
    },
    #[error("{api} reply from {broker} rejected: {reason}")]
    BadReply {
        broker: String,
        api: &'static str,
        reason: String,
    },
    #[error("{api} to {broker}: the broker answered error code {code}")]
    Broker {
        broker: String,
        api: &'static str,
        code: i16,
    },
    #[error("{broker} does not serve {api} at a version this receiver speaks ({ours})")]
    Unsupported {
        broker: String,
        api: &'static str,
        ours: String,
    },
    #[error("SASL login to {broker} failed: {reason}; check auth::sasl")]
    Auth { broker: String, reason: String },
}

impl AdminError {
    /// The label of `kafka_obs_kafka_admin_request_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Io { .. } => "io",
            Self::BadReply { .. } => "bad_reply",
            Self::Broker { .. } => "broker_error",
            Self::Unsupported { .. } => "unsupported",
            Self::Auth { .. } => "auth",
        }
    }
}

/// How to reach brokers: the same for every connection of a receiver.
#[derive(Clone)]
pub struct Dialer {
    pub client_id: StrBytes,
    pub timeout: Duration,
    pub tls: Option<Arc<ClientConfig>>,
    pub sasl: Option<SaslPlain>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("client_id", &self.client_id.as_str())
            .field("timeout", &self.timeout)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| &s.username))
            .finish()
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connected, authenticated broker connection that knows the versions the broker serves.
pub struct Connection {
    broker: String,
    stream: Box<dyn Stream>,
    timeout: Duration,
    client_id: StrBytes,
    correlation_id: i32,
    /// API key -> (min, max) version the broker serves.
    versions: HashMap<i16, (i16, i16)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl Dialer {
    /// Connects to `broker` (`host:port`), asks its API versions, logs in.
    pub async fn connect(&self, broker: &str) -> Result<Connection, AdminError> {
        let connect_err = |reason: String| AdminError::Connect {
            broker: broker.to_string(),
            reason,
        };
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(broker))
            .await
            .map_err(|_| connect_err(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| connect_err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let host = broker.rsplit_once(':').map_or(broker, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string())
                    .map_err(|_| connect_err(format!("{host:?} is not a TLS server name")))?;
                let tls = tokio::time::timeout(
                    self.timeout,
                    TlsConnector::from(config.clone()).connect(name, tcp),
                )
                .await
                .map_err(|_| connect_err("TLS handshake timed out".into()))?
                .map_err(|e| connect_err(format!("TLS: {e}")))?;
                Box::new(tls)
            }
        };
        let mut conn = Connection {
            broker: broker.to_string(),
            stream,
            timeout: self.timeout,
            client_id: self.client_id.clone(),
            correlation_id: 0,
            versions: HashMap::new(),
        };
        conn.handshake().await?;
        if let Some(sasl) = &self.sasl {
            conn.sasl_plain(sasl).await?;
        }
        Ok(conn)
    }
}

impl Connection {
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// The highest version of `R` both sides speak within `ours` (the versions whose reply
    /// shape this receiver knows, see `reply_shape`), or `None`.
    pub fn version<R: Request>(&self, ours: (i16, i16)) -> Option<i16> {
        let (min, max) = *self.versions.get(&R::KEY)?;
        let v = max.min(ours.1).min(R::VERSIONS.max);
        (v >= min.max(ours.0).max(R::VERSIONS.min)).then_some(v)
    }

    /// Sends `request` at the best version within `ours` and decodes the reply.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        ours: (i16, i16),
    ) -> Result<(R::Response, i16), AdminError> {
        let Some(version) = self.version::<R>(ours) else {
            return Err(AdminError::Unsupported {
                broker: self.broker.clone(),
                api: api_name(R::KEY),
                ours: format!("v{}-{}", ours.0, ours.1),
            });
        };
        let reply = self.exchange(request, version).await?;
        Ok((reply, version))
    }

    async fn handshake(&mut self) -> Result<(), AdminError> {
        let mut request = ApiVersionsRequest::default();
        request.client_software_name = StrBytes::from_static_str("kafka-obs");
        request.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        // v3 (Kafka 2.4+); an older broker answers in v0's shape, which the shape check refuses.
        let reply = self.exchange(&request, 3).await?;
        if reply.error_code == UNSUPPORTED_VERSION {
            return Err(AdminError::Unsupported {
                broker: self.broker.clone(),
                api: "ApiVersions",
                ours: "v3 (Kafka 2.4 or later)".into(),
            });
        }
        if reply.error_code != 0 {
            return Err(AdminError::Broker {
                broker: self.broker.clone(),
                api: "ApiVersions",
                code: reply.error_code,
            });
        }
        self.versions = reply
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    async fn sasl_plain(&mut self, sasl: &SaslPlain) -> Result<(), AdminError> {
        let broker = self.broker.clone();
        let auth_err = |reason: String| AdminError::Auth {
            broker: broker.clone(),
            reason,
        };
        let mut handshake = SaslHandshakeRequest::default();
        handshake.mechanism = StrBytes::from_static_str("PLAIN");
        let (reply, _) = self.send(&handshake, (1, 1)).await?;
        if reply.error_code != 0 {
            return Err(auth_err(format!(
                "the broker refused mechanism PLAIN (error code {}; it offers {:?})",
                reply.error_code,
                reply
                    .mechanisms
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
            )));
        }
        let mut token = BytesMut::new();
        token.put_u8(0);
        token.put_slice(sasl.username.as_bytes());
        token.put_u8(0);
        token.put_slice(sasl.password.as_bytes());
        let mut authenticate = SaslAuthenticateRequest::default();
        authenticate.auth_bytes = token.freeze();
        let (reply, _) = self.send(&authenticate, (2, 2)).await?;
        if reply.error_code != 0 {
            return Err(auth_err(
                reply
                    .error_message
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| format!("error code {}", reply.error_code)),
            ));
        }
        Ok(())
    }

    /// One request and its reply, under the timeout.
    async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        let api = api_name(R::KEY);
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = encode_request(request, version, self.correlation_id, &self.client_id)
            .map_err(|reason| AdminError::Io {
                broker: self.broker.clone(),
                api,
                reason: format!("cannot encode the request: {reason}"),
            })?;
        let timeout = self.timeout;
        let body = tokio::time::timeout(timeout, self.round_trip(&frame))
            .await
            .map_err(|_| AdminError::Timeout {
                broker: self.broker.clone(),
                api,
                timeout,
            })?
            .map_err(|e| match e {
                RoundTripError::Io(e) => AdminError::Io {
                    broker: self.broker.clone(),
                    api,
                    reason: e.to_string(),
                },
                RoundTripError::TooLarge(n) => AdminError::BadReply {
                    broker: self.broker.clone(),
                    api,
                    reason: format!("announces {n} bytes, more than {MAX_REPLY_BYTES}"),
                },
            })?;
        decode_response::<R>(body, version, self.correlation_id).map_err(|reason| {
            AdminError::BadReply {
                broker: self.broker.clone(),
                api,
                reason,
            }
        })
    }

    async fn round_trip(&mut self, frame: &[u8]) -> Result<Bytes, RoundTripError> {
        self.stream.write_all(frame).await?;
        self.stream.flush().await?;
        let len = self.stream.read_i32().await?;
        let len = usize::try_from(len).map_err(|_| RoundTripError::TooLarge(len as i64))?;
        if len > MAX_REPLY_BYTES {
            return Err(RoundTripError::TooLarge(len as i64));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await?;
        Ok(Bytes::from(body))
    }
}

enum RoundTripError {
    Io(std::io::Error),
    TooLarge(i64),
}

impl From<std::io::Error> for RoundTripError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// A request frame: length, header, body.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &StrBytes,
) -> Result<Bytes, String> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(client_id.clone());
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    encode_request_header_into_buffer(&mut buf, &header).map_err(|e| e.to_string())?;
    request
        .encode(&mut buf, version)
        .map_err(|e| e.to_string())?;
    let len = i32::try_from(buf.len() - 4).map_err(|_| "request too large".to_string())?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Decodes a reply body (after the length) to `R`'s response at `version`, checking that it
/// answers `correlation_id` and that its shape holds (no array longer than the bytes left)
/// before `kafka-protocol` allocates anything for it.
pub fn decode_response<R: Request>(
    mut body: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, String> {
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut body, header_version)
        .map_err(|e| format!("header does not decode: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "answers request {} while {correlation_id} was asked",
            header.correlation_id
        ));
    }
    let shape = reply_shape::response(R::KEY, version)
        .ok_or_else(|| format!("no reply shape known for version {version}"))?;
    reply_shape::check(&body, &shape)
        .map_err(|e| format!("body does not fit version {version}: {e}"))?;
    let response = R::Response::decode(&mut body, version)
        .map_err(|e| format!("body does not decode at version {version}: {e}"))?;
    if body.has_remaining() {
        return Err(format!(
            "{} bytes left over after the body (version {version})",
            body.remaining()
        ));
    }
    Ok(response)
}

/// The API's name, as Kafka's docs write it.
pub fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::ListGroups) => "ListGroups",
        Ok(ApiKey::DescribeGroups) => "DescribeGroups",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::SaslHandshake) => "SaslHandshake",
        Ok(ApiKey::SaslAuthenticate) => "SaslAuthenticate",
        _ => "request",
    }
}
