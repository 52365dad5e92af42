//! JRMP, the Java RMI wire protocol, over tokio: the stream-protocol handshake, calls and
//! returns on one long-lived connection, parsing remote references (stubs) and method hashes.
//!
//! A call is `0x50` followed by a fresh serialization stream: block data with the target
//! `ObjID`, the operation number and the method hash, then the arguments as objects. The reply is
//! `0x51` and a stream whose block data starts with the return type (1 normal, 2 exception) and
//! a UID, then the value or the exception. Replies carry no length, so the connection parses as
//! bytes arrive ([`parse_return`] says "truncated" until a whole reply is there), bounded by a
//! byte cap and a read timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, trace};

use crate::endpoint::format_host_port;
use crate::error::{JmxError, Stage};
use crate::javaser::model::{AnnotationCursor, Graph, Ref};
use crate::javaser::reader::Feed;
use crate::javaser::{DecodeError, Limits, StreamReader, StreamWriter, mutf8};

/// JRMP message and handshake bytes.
pub mod msg {
    pub const MAGIC: [u8; 4] = *b"JRMI";
    pub const VERSION: [u8; 2] = [0x00, 0x02];
    pub const STREAM_PROTOCOL: u8 = 0x4B;
    pub const PROTOCOL_ACK: u8 = 0x4E;
    pub const PROTOCOL_NACK: u8 = 0x4F;
    pub const CALL: u8 = 0x50;
    pub const RETURN: u8 = 0x51;
    pub const NORMAL_RETURN: u8 = 1;
    pub const EXCEPTIONAL_RETURN: u8 = 2;
}

/// The registry's `lookup` (operation 2 of the old-style registry stub).
pub const REGISTRY_LOOKUP_OP: i32 = 2;
/// The registry interface hash used by old-style stubs.
pub const REGISTRY_INTERFACE_HASH: i64 = 4905912898345647071;

/// The RMI method hash: the first 8 bytes, little-endian, of SHA-1 over `writeUTF(name +
/// descriptor)` (a two-byte length, then modified UTF-8).
pub fn method_hash(name_and_descriptor: &str) -> i64 {
    let encoded = mutf8::encode(name_and_descriptor);
    let len = u16::try_from(encoded.len()).unwrap_or(u16::MAX);
    let mut sha = Sha1::new();
    sha.update(len.to_be_bytes());
    sha.update(&encoded);
    let digest = sha.finalize();
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    i64::from_le_bytes(first)
}

/// Hashes of the `RMIServer` and `RMIConnection` methods the client calls, computed once.
#[derive(Debug)]
pub(crate) struct Methods {
    pub new_client: i64,
    pub query_names: i64,
    pub get_attributes: i64,
    pub get_attribute: i64,
    pub close: i64,
}

pub(crate) static METHODS: LazyLock<Methods> = LazyLock::new(|| Methods {
    new_client: method_hash(
        "newClient(Ljava/lang/Object;)Ljavax/management/remote/rmi/RMIConnection;",
    ),
    query_names: method_hash(
        "queryNames(Ljavax/management/ObjectName;Ljava/rmi/MarshalledObject;Ljavax/security/auth/Subject;)Ljava/util/Set;",
    ),
    get_attributes: method_hash(
        "getAttributes(Ljavax/management/ObjectName;[Ljava/lang/String;Ljavax/security/auth/Subject;)Ljavax/management/AttributeList;",
    ),
    get_attribute: method_hash(
        "getAttribute(Ljavax/management/ObjectName;Ljava/lang/String;Ljavax/security/auth/Subject;)Ljava/lang/Object;",
    ),
    close: method_hash("close()V"),
});

/// A remote object's identity (`java.rmi.server.ObjID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjId {
    pub num: i64,
    pub unique: i32,
    pub time: i64,
    pub count: i16,
}

impl ObjId {
    /// The well-known registry object.
    pub const REGISTRY: ObjId = ObjId {
        num: 0,
        unique: 0,
        time: 0,
        count: 0,
    };

    fn write(&self, w: &mut StreamWriter) {
        w.write_i64(self.num);
        w.write_i32(self.unique);
        w.write_i64(self.time);
        w.write_i16(self.count);
    }
}

/// Where a remote object lives, read from its stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `UnicastRef` or `UnicastRef2`.
    pub ref_type: String,
    /// The host the JVM advertises (`java.rmi.server.hostname`).
    pub host: String,
    pub port: u16,
    pub objid: ObjId,
    /// Class of the client socket factory, if the stub has one.
    pub socket_factory: Option<String>,
}

impl RemoteRef {
    /// Whether connections to this object must use TLS.
    pub fn is_tls(&self) -> bool {
        self.socket_factory
            .as_deref()
            .is_some_and(|f| f.contains("Ssl") || f.contains("SSL"))
    }

    /// Finds the remote reference in a decoded stub (a static `*_Stub` or a dynamic proxy whose
    /// handler is a `RemoteObjectInvocationHandler`: both keep the reference in
    /// `RemoteObject.writeObject` data).
    pub fn from_graph(graph: &Graph, root: Option<Ref>) -> Result<RemoteRef, String> {
        const REMOTE_OBJECT: &str = "java.rmi.server.RemoteObject";
        let root = root.ok_or("the server returned null instead of a stub")?;
        let holder = std::iter::once(root)
            .chain((0..graph.nodes.len()).filter_map(|i| u32::try_from(i).ok().map(Ref)))
            .find(|&r| graph.annotation_of(r, REMOTE_OBJECT).is_some())
            .ok_or_else(|| {
                format!(
                    "expected a remote stub, got {}",
                    graph.class_name(root).unwrap_or("an unknown object")
                )
            })?;
        let items = graph
            .annotation_of(holder, REMOTE_OBJECT)
            .unwrap_or_default();
        let mut c = AnnotationCursor::new(items);
        let bad = || "truncated remote reference in the stub".to_owned();
        let ref_type = c.utf().ok_or_else(bad)?;
        let (host, port, socket_factory) = match ref_type.as_str() {
            "UnicastRef" => (c.utf().ok_or_else(bad)?, c.i32().ok_or_else(bad)?, None),
            "UnicastRef2" => {
                let format = c.u8().ok_or_else(bad)?;
                let host = c.utf().ok_or_else(bad)?;
                let port = c.i32().ok_or_else(bad)?;
                let factory = match format {
                    0 => None,
                    1 => {
                        let f = c.object().ok_or_else(bad)?;
                        Some(
                            f.and_then(|f| graph.class_name(f))
                                .unwrap_or("(null socket factory)")
                                .to_owned(),
                        )
                    }
                    other => return Err(format!("unknown endpoint format {other} in the stub")),
                };
                (host, port, factory)
            }
            other => {
                return Err(format!(
                    "unsupported remote reference type {other:?} (expected UnicastRef or UnicastRef2)"
                ));
            }
        };
        let port = u16::try_from(port).map_err(|_| format!("stub names an invalid port {port}"))?;
        let objid = ObjId {
            num: c.i64().ok_or_else(bad)?,
            unique: c.i32().ok_or_else(bad)?,
            time: c.i64().ok_or_else(bad)?,
            count: c.i16().ok_or_else(bad)?,
        };
        Ok(RemoteRef {
            ref_type,
            host,
            port,
            objid,
            socket_factory,
        })
    }
}

/// What a call returns on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    /// An object follows the header.
    Value,
    /// Nothing follows (a `void` method).
    Void,
}

/// The outcome carried by a `Return` message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Value(Option<Ref>),
    Void,
    Exception(Option<Ref>),
}

/// A parsed `Return` message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnMessage {
    pub graph: Graph,
    pub outcome: Outcome,
    /// Bytes the reply took on the wire (the `Return` byte included).
    pub wire_bytes: usize,
    /// What is left of the reply's decode budget for interpreting it (value conversion).
    pub value_budget: usize,
}

impl ReturnMessage {
    fn new(reader: StreamReader, outcome: Outcome) -> ReturnMessage {
        let wire_bytes = 1 + reader.position();
        let value_budget = reader
            .limits()
            .budget_for(wire_bytes)
            .saturating_sub(reader.charged());
        ReturnMessage {
            graph: reader.finish(),
            outcome,
            wire_bytes,
            value_budget,
        }
    }
}

/// Reads a `Return` message's stream after the stream header: the return header, then the
/// value or exception.
fn read_return(reader: &mut StreamReader, kind: ReturnKind) -> Result<Outcome, DecodeError> {
    // returnType byte + UID (int, long, short)
    let header = reader.read_block_bytes(15)?;
    let return_type = header.first().copied().unwrap_or_default();
    let outcome = match (return_type, kind) {
        (msg::NORMAL_RETURN, ReturnKind::Value) => Outcome::Value(reader.read_object()?),
        (msg::NORMAL_RETURN, ReturnKind::Void) => Outcome::Void,
        (msg::EXCEPTIONAL_RETURN, _) => Outcome::Exception(reader.read_object()?),
        (other, _) => {
            return Err(DecodeError::Malformed {
                offset: 1,
                detail: format!("unknown return type {other}"),
            });
        }
    };
    if reader.has_pending_block_data() {
        return Err(DecodeError::Malformed {
            offset: 1 + reader.position(),
            detail: "unexpected extra data in the return header".into(),
        });
    }
    Ok(outcome)
}

/// Parses one `Return` message from the start of `data`. Returns it and the number of bytes it
/// took; [`DecodeError::Truncated`] means more bytes are needed.
pub fn parse_return(
    data: &[u8],
    kind: ReturnKind,
    limits: &Limits,
) -> Result<(ReturnMessage, usize), DecodeError> {
    let first = *data.first().ok_or(DecodeError::Truncated)?;
    if first != msg::RETURN {
        return Err(not_a_return(first));
    }
    let body = data.get(1..).unwrap_or_default();
    // A reply can never be longer than the cap; look at no more than that.
    let body = body.get(..limits.max_bytes.min(body.len())).unwrap_or(body);
    let mut reader = StreamReader::new(body, limits.clone()).map_err(|e| match e {
        DecodeError::BadHeader(..) if body.len() < 4 => DecodeError::Truncated,
        other => other,
    })?;
    let outcome = read_return(&mut reader, kind)?;
    let used = 1 + reader.position();
    Ok((ReturnMessage::new(reader, outcome), used))
}

/// Parses one `Return` message incrementally: `initial` holds the bytes received so far after
/// the `Return` byte, `feed` delivers the rest chunk by chunk. Blocks while waiting for bytes,
/// so it runs on a blocking thread. Returns the reply and whatever bytes followed it.
pub fn parse_return_incremental(
    initial: Vec<u8>,
    feed: Feed,
    cancel: Option<Arc<AtomicBool>>,
    kind: ReturnKind,
    limits: &Limits,
) -> Result<(ReturnMessage, Vec<u8>), DecodeError> {
    let mut reader = StreamReader::with_feed(initial, feed, cancel, limits.clone())?;
    let outcome = read_return(&mut reader, kind)?;
    let wire_bytes = 1 + reader.position();
    let value_budget = limits
        .budget_for(wire_bytes)
        .saturating_sub(reader.charged());
    let (graph, rest) = reader.finish_with_rest();
    Ok((
        ReturnMessage {
            graph,
            outcome,
            wire_bytes,
            value_budget,
        },
        rest,
    ))
}

fn not_a_return(first: u8) -> DecodeError {
    DecodeError::Malformed {
        offset: 0,
        detail: format!("expected a Return message (0x51), got {first:#04x}"),
    }
}

/// A reply whose first read is at most this long is parsed in place (it is cheap: work is
/// proportional to bytes); anything longer, or anything that needs more reads, is parsed
/// incrementally on a blocking thread.
pub const INLINE_PARSE_MAX: usize = 64 * 1024;
/// Size of each chunk handed to the incremental parser, and how many may wait for it: the
/// socket is not read further while the parser is behind.
const CHUNK_BYTES: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Sets a flag when dropped: tells an incremental parser its call was abandoned (a timeout, a
/// shutdown), so it stops at its next read or allocation.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Byte stream a connection runs over: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TLS settings for one connection.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: Option<String>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Timeouts and caps for a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnParams {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub limits: Limits,
}

/// One JRMP connection (after the handshake), carrying any number of sequential calls.
pub(crate) struct Connection {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    address: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
    params: ConnParams,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, does TLS if asked, and the JRMP handshake.
    pub(crate) async fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsSetup>,
        params: &ConnParams,
        refused_hint: &str,
    ) -> Result<Connection, JmxError> {
        let address = format_host_port(host, port);
        let tcp =
            match tokio::time::timeout(params.connect_timeout, TcpStream::connect((host, port)))
                .await
            {
                Err(_) => {
                    return Err(JmxError::ConnectTimeout {
                        address,
                        timeout: params.connect_timeout,
                    });
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(JmxError::ConnectionRefused {
                        address,
                        hint: refused_hint.to_owned(),
                    });
                }
                Ok(Err(source)) => {
                    return Err(JmxError::Io {
                        address,
                        stage: Stage::Connect,
                        source,
                    });
                }
                Ok(Ok(s)) => s,
            };
        // Calls are small request/response exchanges: do not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(setup) => {
                let name = crate::tls::server_name(setup.server_name.as_deref().unwrap_or(host))?;
                let connector = tokio_rustls::TlsConnector::from(setup.config.clone());
                let stream =
                    match tokio::time::timeout(params.read_timeout, connector.connect(name, tcp))
                        .await
                    {
                        Err(_) => {
                            return Err(JmxError::ReadTimeout {
                                address,
                                timeout: params.read_timeout,
                                stage: Stage::TlsHandshake,
                            });
                        }
                        Ok(Err(e)) => {
                            let detail = crate::tls::explain(&e);
                            return Err(JmxError::Tls { address, detail });
                        }
                        Ok(Ok(s)) => s,
                    };
                Box::new(stream)
            }
        };
        let mut conn = Connection {
            io,
            buf: Vec::with_capacity(8192),
            address,
            host: host.to_owned(),
            port,
            tls: tls.is_some(),
            params: params.clone(),
        };
        let timeout = conn.params.read_timeout;
        match tokio::time::timeout(timeout, conn.handshake()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(JmxError::ReadTimeout {
                    address: conn.address,
                    timeout,
                    stage: Stage::JrmpHandshake,
                });
            }
        }
        debug!(address = %conn.address, tls = conn.tls, "JRMP connection established");
        Ok(conn)
    }

    /// `host:port` of the peer.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    fn io_err(&self, stage: Stage, source: std::io::Error) -> JmxError {
        if self.tls && source.get_ref().is_some_and(|e| e.is::<rustls::Error>()) {
            return JmxError::Tls {
                address: self.address.clone(),
                detail: crate::tls::explain(&source),
            };
        }
        if stage == Stage::JrmpHandshake
            && matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            )
        {
            return self.closed(stage);
        }
        JmxError::Io {
            address: self.address.clone(),
            stage,
            source,
        }
    }

    fn closed(&self, stage: Stage) -> JmxError {
        let hint = match (stage, self.tls) {
            (Stage::JrmpHandshake, false) => {
                "; is this a JMX RMI port? If the agent uses TLS on it (com.sun.management.jmxremote.ssl / registry.ssl), enable TLS"
            }
            (Stage::JrmpHandshake, true) => "; is this a JMX RMI port?",
            _ => "",
        };
        JmxError::ConnectionClosed {
            address: self.address.clone(),
            stage,
            hint,
        }
    }

    /// Reads more bytes into the buffer; end of stream is an error.
    async fn fill(&mut self, stage: Stage) -> Result<(), JmxError> {
        let want = self.buf.len().clamp(16 * 1024, 1024 * 1024);
        self.buf.reserve(want);
        let n = match self.io.read_buf(&mut self.buf).await {
            Ok(n) => n,
            Err(e) => return Err(self.io_err(stage, e)),
        };
        if n == 0 {
            return Err(self.closed(stage));
        }
        trace!(address = %self.address, bytes = n, "read");
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8], stage: Stage) -> Result<(), JmxError> {
        if let Err(e) = self.io.write_all(bytes).await {
            return Err(self.io_err(stage, e));
        }
        if let Err(e) = self.io.flush().await {
            return Err(self.io_err(stage, e));
        }
        Ok(())
    }

    async fn handshake(&mut self) -> Result<(), JmxError> {
        let mut hello = Vec::with_capacity(7);
        hello.extend_from_slice(&msg::MAGIC);
        hello.extend_from_slice(&msg::VERSION);
        hello.push(msg::STREAM_PROTOCOL);
        self.send(&hello, Stage::JrmpHandshake).await?;
        // ProtocolAck, then the host (writeUTF) and port (int) the server sees us as.
        let (seen_host, used) = loop {
            match self.buf.first() {
                Some(&msg::PROTOCOL_ACK) => {}
                Some(&msg::PROTOCOL_NACK) => {
                    return Err(JmxError::NotJmx {
                        address: self.address.clone(),
                        detail: "the server refused the JRMP stream protocol".into(),
                    });
                }
                Some(0x15) if self.buf.get(1) == Some(&0x03) && !self.tls => {
                    return Err(JmxError::Tls {
                        address: self.address.clone(),
                        detail: "the port expects TLS (it answered the plain JRMP hello with a TLS alert); enable TLS for this connection (registry TLS when it is the registry port)".into(),
                    });
                }
                Some(_) => {
                    return Err(JmxError::NotJmx {
                        address: self.address.clone(),
                        detail: format!("it answered {}", preview(&self.buf)),
                    });
                }
                None => {}
            }
            if let Some(&[hi, lo]) = self.buf.get(1..3) {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                if let Some(host) = self.buf.get(3..3 + len)
                    && self.buf.len() >= 3 + len + 4
                {
                    let host = mutf8::decode(host).unwrap_or_default();
                    break (host, 3 + len + 4);
                }
            }
            if self.buf.len() > 1024 {
                return Err(JmxError::NotJmx {
                    address: self.address.clone(),
                    detail: format!("its handshake answer is malformed: {}", preview(&self.buf)),
                });
            }
            self.fill(Stage::JrmpHandshake).await?;
        };
        self.buf.drain(..used);
        // Our own endpoint; the server does not check it.
        let host = mutf8::encode(&seen_host);
        let len = u16::try_from(host.len()).unwrap_or(0);
        let mut reply = Vec::with_capacity(host.len() + 6);
        reply.extend_from_slice(&len.to_be_bytes());
        reply.extend_from_slice(host.get(..usize::from(len)).unwrap_or_default());
        reply.extend_from_slice(&0i32.to_be_bytes());
        self.send(&reply, Stage::JrmpHandshake).await
    }

    /// Performs one call and waits for its `Return`.
    pub(crate) async fn call(
        &mut self,
        target: &ObjId,
        op: i32,
        hash: i64,
        args: &(dyn Fn(&mut StreamWriter) + Sync),
        kind: ReturnKind,
    ) -> Result<ReturnMessage, JmxError> {
        // `Sync` on `args` keeps this future (and every client future above it) `Send`.
        let mut w = StreamWriter::with_prefix(&[msg::CALL]);
        target.write(&mut w);
        w.write_i32(op);
        w.write_i64(hash);
        args(&mut w);
        let message = w.finish();
        let timeout = self.params.read_timeout;
        match tokio::time::timeout(timeout, self.exchange(&message, kind)).await {
            Ok(r) => r,
            Err(_) => Err(JmxError::ReadTimeout {
                address: self.address.clone(),
                timeout,
                stage: Stage::Call,
            }),
        }
    }

    async fn exchange(
        &mut self,
        message: &[u8],
        kind: ReturnKind,
    ) -> Result<ReturnMessage, JmxError> {
        if !self.buf.is_empty() {
            return Err(JmxError::Protocol {
                address: self.address.clone(),
                detail: format!(
                    "{} unsolicited bytes arrived before the call",
                    self.buf.len()
                ),
            });
        }
        self.send(message, Stage::Call).await?;
        self.fill(Stage::Call).await?;
        // The usual case: a small reply that arrived in one read, parsed right here.
        if self.buf.len() <= INLINE_PARSE_MAX {
            match parse_return(&self.buf, kind, &self.params.limits) {
                Ok((reply, used)) => {
                    trace!(address = %self.address, bytes = used, "return parsed");
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Err(DecodeError::Truncated) => {}
                Err(source) => return Err(self.decode_error(source)),
            }
        }
        self.exchange_incremental(kind).await
    }

    fn decode_error(&self, source: DecodeError) -> JmxError {
        JmxError::Decode {
            address: self.address.clone(),
            source,
        }
    }

    /// Reads the rest of a reply while a blocking thread parses it chunk by chunk: nothing is
    /// parsed twice, the runtime never runs the parser, and the socket is read only as fast as
    /// the parser keeps up. Dropping this future (the call's timeout, a shutdown) cancels the
    /// parser.
    async fn exchange_incremental(&mut self, kind: ReturnKind) -> Result<ReturnMessage, JmxError> {
        let received = std::mem::take(&mut self.buf);
        match received.first() {
            Some(&msg::RETURN) => {}
            Some(&other) => return Err(self.decode_error(not_a_return(other))),
            None => return Err(self.closed(Stage::Call)),
        }
        let initial = received.get(1..).unwrap_or_default().to_vec();
        drop(received);
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let rx = Arc::new(Mutex::new(rx));
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let limits = self.params.limits.clone();
        let feed_rx = rx.clone();
        let feed: Feed = Box::new(move || feed_rx.lock().ok()?.blocking_recv());
        let mut parser = tokio::task::spawn_blocking(move || {
            parse_return_incremental(initial, feed, Some(cancel), kind, &limits)
        });
        let mut tx = Some(tx);
        let mut received_bytes = 0usize;
        let joined = loop {
            let mut chunk = Vec::with_capacity(CHUNK_BYTES);
            let read = tokio::select! {
                joined = &mut parser => break joined,
                read = self.io.read_buf(&mut chunk), if tx.is_some() => read,
            };
            match read {
                // The peer closed: the parser gets no more bytes and says whether it had all.
                Ok(0) => tx = None,
                Ok(n) => {
                    received_bytes += n;
                    trace!(address = %self.address, bytes = n, "read");
                    let Some(sender) = tx.as_ref() else { continue };
                    tokio::select! {
                        joined = &mut parser => break joined,
                        sent = sender.send(chunk) => if sent.is_err() { tx = None },
                    }
                }
                Err(e) => return Err(self.io_err(Stage::Call, e)),
            }
        };
        drop(tx);
        let (reply, rest) = match joined {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(DecodeError::Truncated)) => return Err(self.closed(Stage::Call)),
            Ok(Err(source)) => return Err(self.decode_error(source)),
            Err(e) => {
                return Err(JmxError::Protocol {
                    address: self.address.clone(),
                    detail: format!("the reply parser failed: {e}"),
                });
            }
        };
        // Bytes after the reply stay for the next call to complain about.
        self.buf = rest;
        if let Ok(mut rx) = rx.lock() {
            while let Ok(chunk) = rx.try_recv() {
                self.buf.extend_from_slice(&chunk);
            }
        }
        debug!(address = %self.address, bytes = reply.wire_bytes, read = received_bytes, "large return parsed incrementally");
        Ok(reply)
    }
}

/// Shows the first bytes a peer sent, as text when they look like text.
fn preview(bytes: &[u8]) -> String {
    let head = bytes.get(..bytes.len().min(32)).unwrap_or_default();
    if head.first() == Some(&0x15) && head.get(1) == Some(&0x03) {
        return "a TLS alert (the port expects TLS; enable TLS for it)".into();
    }
    let printable = head
        .iter()
        .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' || b == b'\t');
    if printable {
        format!("text {:?}", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_hashes_match_the_jdk() {
        // The value the JDK's RMIServerImpl_Stub uses for newClient.
        assert_eq!(METHODS.new_client, -1089742558549201240);
        let all = [
            METHODS.new_client,
            METHODS.query_names,
            METHODS.get_attributes,
            METHODS.get_attribute,
            METHODS.close,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn parse_return_needs_the_whole_reply() {
        let mut w = StreamWriter::new();
        w.write_bytes(&[msg::NORMAL_RETURN]);
        w.write_bytes(&[0; 14]);
        w.write_string("hello");
        let mut bytes = vec![msg::RETURN];
        bytes.extend(w.finish());
        let limits = Limits::default();
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_return(&bytes[..cut], ReturnKind::Value, &limits).unwrap_err(),
                DecodeError::Truncated,
                "cut at {cut}"
            );
        }
        bytes.push(0x99); // the start of something else is left alone
        let (reply, used) = parse_return(&bytes, ReturnKind::Value, &limits).unwrap();
        assert_eq!(used, bytes.len() - 1);
        let Outcome::Value(Some(r)) = reply.outcome else {
            panic!()
        };
        assert_eq!(reply.graph.string(r), Some("hello"));
        assert!(parse_return(&[0x52], ReturnKind::Value, &limits).is_err());
    }

    #[test]
    fn preview_shows_text_or_hex() {
        assert_eq!(preview(b"SSH-2.0\r\n"), "text \"SSH-2.0\\r\\n\"");
        assert_eq!(preview(&[0x00, 0xff]), "bytes 00 ff");
        assert!(preview(&[0x15, 0x03, 0x03]).contains("TLS"));
    }
}
