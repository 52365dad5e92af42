//! The JMX client: connect (registry lookup, `newClient`), then `queryNames`,
//! `getAttributes`, `getAttribute` and `close` on one connection.
//!
//! Connecting mirrors `JMXConnectorFactory.connect`: look up the connector stub under its name
//! in the RMI registry, call `RMIServer.newClient(credentials)` on it, and keep the returned
//! `RMIConnection` stub. By default the client connects to the *configured* host and the
//! stubs' ports (stubs carry the host the JVM advertises, often unreachable from outside a
//! container); connections are reused when registry and server share a port.
//!
//! When a call finds the connection gone (the server dropped an idle session:
//! `NoSuchObjectException`, or the socket closed), the client connects again once and repeats
//! the call, so a poller sees no error across an idle drop or a JVM restart.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::endpoint::Endpoint;
use crate::error::JmxError;
use crate::javaser::model::{Graph, Ref, RefSet};
use crate::javaser::{Limits, StreamWriter};
use crate::jrmp::{
    ConnParams, Connection, METHODS, ObjId, Outcome, REGISTRY_INTERFACE_HASH, REGISTRY_LOOKUP_OP,
    RemoteRef, ReturnKind, ReturnMessage, TlsSetup,
};
use crate::object_name::ObjectName;
use crate::tls::TlsOptions;
use crate::value::{ConvertProblem, Converter, Value, collection_elements};

/// User name and password for agents with `com.sun.management.jmxremote.authenticate=true`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to connect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Sent to `newClient`; `None` sends null (agents without authentication).
    pub credentials: Option<Credentials>,
    /// Bound on each TCP connect.
    pub connect_timeout: Duration,
    /// Bound on each handshake and on each call's reply.
    pub read_timeout: Duration,
    /// TLS settings, used for every connection the agent's stubs mark as TLS (and for the
    /// registry when `registry_tls`). `None` uses the defaults: system trust store, host name
    /// verified.
    pub tls: Option<TlsOptions>,
    /// Use TLS for the registry too (`com.sun.management.jmxremote.registry.ssl=true`).
    pub registry_tls: bool,
    /// Connect to the host in the stubs (`java.rmi.server.hostname`) instead of the configured
    /// one.
    pub honour_advertised_host: bool,
    /// Send every connection to the configured host *and port*, ignoring the ports in the
    /// stubs. For SSH tunnels and port-forwards to agents whose registry and RMI server share
    /// one port (`jmxremote.rmi.port` = `jmxremote.port`), where the stub's port is not the
    /// forwarded one.
    pub pin_to_endpoint: bool,
    /// Connect again and repeat the call once when the connection turns out to be gone.
    pub reconnect: bool,
    /// Caps for decoding replies.
    pub limits: Limits,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            credentials: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            tls: None,
            registry_tls: false,
            honour_advertised_host: false,
            pin_to_endpoint: false,
            reconnect: true,
            limits: Limits::default(),
        }
    }
}

impl ConnectOptions {
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }

    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn with_registry_tls(mut self, on: bool) -> Self {
        self.registry_tls = on;
        self
    }

    pub fn with_advertised_host(mut self, on: bool) -> Self {
        self.honour_advertised_host = on;
        self
    }

    pub fn with_pinned_endpoint(mut self, on: bool) -> Self {
        self.pin_to_endpoint = on;
        self
    }

    pub fn with_reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }
}

/// Counters a caller may export as self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Calls made (retries included).
    pub calls: u64,
    /// Times the session was re-established after it was lost.
    pub reconnects: u64,
}

/// A live session: the connection and the `RMIConnection` object on it.
#[derive(Debug)]
struct Session {
    conn: Connection,
    target: ObjId,
}

/// A JMX connection to one agent. Calls are sequential (`&mut self`); use one client per
/// target, or several for parallel calls to one target.
#[derive(Debug)]
pub struct JmxClient {
    endpoint: Endpoint,
    options: ConnectOptions,
    tls: Option<TlsSetup>,
    session: Option<Session>,
    stats: ClientStats,
    closed: bool,
}

enum Call<'a> {
    QueryNames(&'a ObjectName),
    GetAttributes(&'a ObjectName, &'a [String]),
    GetAttribute(&'a ObjectName, &'a str),
}

impl JmxClient {
    /// Connects to the agent at `endpoint`: registry lookup, then `newClient`.
    pub async fn connect(
        endpoint: Endpoint,
        options: ConnectOptions,
    ) -> Result<JmxClient, JmxError> {
        let mut client = JmxClient {
            endpoint,
            options,
            tls: None,
            session: None,
            stats: ClientStats::default(),
            closed: false,
        };
        let session = client.establish().await?;
        client.session = Some(session);
        Ok(client)
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Counters since `connect`.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Whether a session is currently established (it is re-established on the next call
    /// otherwise).
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    fn params(&self) -> ConnParams {
        ConnParams {
            connect_timeout: self.options.connect_timeout,
            read_timeout: self.options.read_timeout,
            limits: self.options.limits.clone(),
        }
    }

    fn tls_setup(&mut self) -> Result<TlsSetup, JmxError> {
        if let Some(t) = &self.tls {
            return Ok(t.clone());
        }
        let opts = self.options.tls.clone().unwrap_or_default();
        let setup = TlsSetup {
            config: opts.client_config()?,
            server_name: opts.server_name.clone(),
        };
        self.tls = Some(setup.clone());
        Ok(setup)
    }

    /// Where to connect for a stub: the configured host unless told to trust the stub's.
    fn host_for<'a>(&'a self, stub: &'a RemoteRef) -> &'a str {
        if self.options.honour_advertised_host && !self.options.pin_to_endpoint {
            &stub.host
        } else {
            &self.endpoint.host
        }
    }

    /// Reuses `conn` when it already goes to where `stub` lives, else opens a new one.
    async fn connection_for(
        &mut self,
        conn: Connection,
        stub: &RemoteRef,
        what: &str,
    ) -> Result<Connection, JmxError> {
        let host = self.host_for(stub).to_owned();
        let port = if self.options.pin_to_endpoint {
            self.endpoint.port
        } else {
            stub.port
        };
        let tls = stub.is_tls();
        if conn.host == host && conn.port == port && conn.tls == tls {
            return Ok(conn);
        }
        drop(conn);
        if stub.socket_factory.is_some() && !tls {
            warn!(
                endpoint = %self.endpoint,
                factory = stub.socket_factory.as_deref().unwrap_or_default(),
                "stub uses a custom socket factory; connecting with plain TCP"
            );
        }
        let setup = if tls { Some(self.tls_setup()?) } else { None };
        let hint = format!(
            "the {what} port {} comes from the agent's stub (advertised host {}); set -Dcom.sun.management.jmxremote.rmi.port to a reachable port{}",
            stub.port,
            stub.host,
            if self.options.honour_advertised_host {
                ", or stop honouring the advertised host"
            } else {
                ""
            }
        );
        Connection::open(&host, port, setup.as_ref(), &self.params(), &hint).await
    }

    async fn establish(&mut self) -> Result<Session, JmxError> {
        let started = Instant::now();
        let params = self.params();
        let registry_tls = if self.options.registry_tls {
            Some(self.tls_setup()?)
        } else {
            None
        };
        let hint = format!(
            "is the JVM running with -Dcom.sun.management.jmxremote.port={}?",
            self.endpoint.port
        );
        let mut conn = Connection::open(
            &self.endpoint.host,
            self.endpoint.port,
            registry_tls.as_ref(),
            &params,
            &hint,
        )
        .await?;

        // Registry lookup.
        let binding = self.endpoint.binding.clone();
        let reply = conn
            .call(
                &ObjId::REGISTRY,
                REGISTRY_LOOKUP_OP,
                REGISTRY_INTERFACE_HASH,
                &|w: &mut StreamWriter| w.write_string(&binding),
                ReturnKind::Value,
            )
            .await?;
        let server_stub = match reply.outcome {
            Outcome::Value(v) => stub_of(&reply.graph, v, conn.address())?,
            Outcome::Exception(e) => {
                let remote = crate::error::RemoteException::from_graph(&reply.graph, e);
                return Err(if remote.is("java.rmi.NotBoundException") {
                    JmxError::NotBound {
                        address: conn.address().to_owned(),
                        binding,
                        remote,
                    }
                } else {
                    JmxError::from_remote(conn.address(), remote, false)
                });
            }
            Outcome::Void => return Err(protocol(conn.address(), "lookup returned nothing")),
        };
        debug!(endpoint = %self.endpoint, host = %server_stub.host, port = server_stub.port, tls = server_stub.is_tls(), "registry lookup done");

        // newClient(credentials) on the connector server.
        let mut conn = self
            .connection_for(conn, &server_stub, "RMI server")
            .await?;
        let credentials = self.options.credentials.clone();
        let reply = conn
            .call(
                &server_stub.objid,
                -1,
                METHODS.new_client,
                &|w: &mut StreamWriter| match &credentials {
                    Some(c) => w.write_string_array(&[c.username.as_str(), c.password.as_str()]),
                    None => w.write_null(),
                },
                ReturnKind::Value,
            )
            .await?;
        let connection_stub = match reply.outcome {
            Outcome::Value(v) => stub_of(&reply.graph, v, conn.address())?,
            Outcome::Exception(e) => {
                let remote = crate::error::RemoteException::from_graph(&reply.graph, e);
                return Err(JmxError::from_remote(conn.address(), remote, true));
            }
            Outcome::Void => return Err(protocol(conn.address(), "newClient returned nothing")),
        };
        let conn = self
            .connection_for(conn, &connection_stub, "RMI connection")
            .await?;
        info!(
            endpoint = %self.endpoint,
            connection = %conn.address(),
            tls = conn.tls,
            authenticated = self.options.credentials.is_some(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "JMX session established"
        );
        Ok(Session {
            conn,
            target: connection_stub.objid,
        })
    }

    /// Runs a call on the session, re-establishing it once if it was lost.
    async fn invoke(&mut self, call: &Call<'_>) -> Result<ReturnMessage, JmxError> {
        if self.closed {
            return Err(JmxError::Closed);
        }
        let mut retried = false;
        loop {
            let mut session = match self.session.take() {
                Some(s) => s,
                None => {
                    let session = self.establish().await?;
                    self.stats.reconnects += 1;
                    session
                }
            };
            self.stats.calls += 1;
            let result = run_call(&mut session, call).await;
            match result {
                Ok(reply) => {
                    self.session = Some(session);
                    return Ok(reply);
                }
                Err(e) if e.is_connection_lost() && self.options.reconnect && !retried => {
                    warn!(endpoint = %self.endpoint, error = %e, "JMX connection lost; reconnecting");
                    retried = true;
                    drop(session);
                }
                Err(e) => {
                    if !e.poisons_connection() {
                        self.session = Some(session);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Names of the MBeans matching `pattern` (`*:*` for all).
    pub async fn query_names(&mut self, pattern: &ObjectName) -> Result<Vec<ObjectName>, JmxError> {
        let reply = self.invoke(&Call::QueryNames(pattern)).await?;
        let address = self.endpoint.address();
        let names = interpret(reply, move |reply| names_of(reply, &address)).await?;
        debug!(endpoint = %self.endpoint, pattern = %pattern, found = names.len(), "queryNames");
        Ok(names)
    }

    /// Reads several attributes of one MBean in one round trip. Attributes the MBean does not
    /// have (or whose getter threw) are absent from the result, as with Java's
    /// `getAttributes`; so is anything the server sent that was not asked for, and every
    /// repetition of an attribute after its first.
    pub async fn get_attributes<S: AsRef<str>>(
        &mut self,
        name: &ObjectName,
        attributes: &[S],
    ) -> Result<Vec<(String, Value)>, JmxError> {
        let attributes: Vec<String> = attributes.iter().map(|a| a.as_ref().to_owned()).collect();
        let reply = self.invoke(&Call::GetAttributes(name, &attributes)).await?;
        let address = self.endpoint.address();
        let requested = attributes.len();
        let out = interpret(reply, move |reply| {
            attributes_of(reply, &attributes, &address)
        })
        .await?;
        debug!(endpoint = %self.endpoint, mbean = %name, requested, returned = out.len(), "getAttributes");
        Ok(out)
    }

    /// Reads one attribute.
    pub async fn get_attribute(
        &mut self,
        name: &ObjectName,
        attribute: &str,
    ) -> Result<Value, JmxError> {
        let reply = self.invoke(&Call::GetAttribute(name, attribute)).await?;
        let address = self.endpoint.address();
        interpret(reply, move |reply| {
            let root = value_root(reply, &address)?;
            let mut converter = Converter::with_budget(&reply.graph, reply.value_budget);
            let value = converter.value(root);
            check_conversion(&converter, &address)?;
            Ok(value)
        })
        .await
    }

    /// Closes the session on the server (`RMIConnection.close`) and the connection.
    pub async fn close(mut self) -> Result<(), JmxError> {
        self.closed = true;
        let Some(mut session) = self.session.take() else {
            return Ok(());
        };
        let reply = match session
            .conn
            .call(
                &session.target,
                -1,
                METHODS.close,
                &|_w: &mut StreamWriter| {},
                ReturnKind::Void,
            )
            .await
        {
            Ok(reply) => reply,
            // Already gone on the server side: nothing left to close.
            Err(e) if e.is_connection_lost() => {
                debug!(endpoint = %self.endpoint, error = %e, "JMX session was already gone at close");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Outcome::Exception(e) = reply.outcome {
            let remote = crate::error::RemoteException::from_graph(&reply.graph, e);
            let err = JmxError::from_remote(session.conn.address(), remote, false);
            if !err.is_connection_lost() {
                return Err(err);
            }
        }
        debug!(endpoint = %self.endpoint, "JMX session closed");
        Ok(())
    }
}

async fn run_call(session: &mut Session, call: &Call<'_>) -> Result<ReturnMessage, JmxError> {
    let target = session.target;
    let reply = match call {
        Call::QueryNames(pattern) => {
            let pattern = pattern.to_string();
            session
                .conn
                .call(
                    &target,
                    -1,
                    METHODS.query_names,
                    &|w: &mut StreamWriter| {
                        w.write_object_name(&pattern);
                        w.write_null(); // MarshalledObject query
                        w.write_null(); // delegation Subject
                    },
                    ReturnKind::Value,
                )
                .await?
        }
        Call::GetAttributes(name, attributes) => {
            let name = name.to_string();
            session
                .conn
                .call(
                    &target,
                    -1,
                    METHODS.get_attributes,
                    &|w: &mut StreamWriter| {
                        w.write_object_name(&name);
                        w.write_string_array(attributes);
                        w.write_null();
                    },
                    ReturnKind::Value,
                )
                .await?
        }
        Call::GetAttribute(name, attribute) => {
            let name = name.to_string();
            session
                .conn
                .call(
                    &target,
                    -1,
                    METHODS.get_attribute,
                    &|w: &mut StreamWriter| {
                        w.write_object_name(&name);
                        w.write_string(attribute);
                        w.write_null();
                    },
                    ReturnKind::Value,
                )
                .await?
        }
    };
    // A lost session must surface as an error here so `invoke` can reconnect.
    if let Outcome::Exception(e) = &reply.outcome {
        let remote = crate::error::RemoteException::from_graph(&reply.graph, *e);
        if remote.is("java.rmi.NoSuchObjectException") {
            return Err(JmxError::from_remote(session.conn.address(), remote, false));
        }
    }
    Ok(reply)
}

fn protocol(address: &str, detail: &str) -> JmxError {
    JmxError::Protocol {
        address: address.to_owned(),
        detail: detail.to_owned(),
    }
}

fn stub_of(graph: &Graph, root: Option<Ref>, address: &str) -> Result<RemoteRef, JmxError> {
    RemoteRef::from_graph(graph, root).map_err(|detail| protocol(address, &detail))
}

/// Interprets a reply with `f`: in place for a small reply, on a blocking thread for a large
/// one (interpreting costs work proportional to the reply, which must not hold up the runtime).
async fn interpret<T, F>(reply: ReturnMessage, f: F) -> Result<T, JmxError>
where
    T: Send + 'static,
    F: FnOnce(&ReturnMessage) -> Result<T, JmxError> + Send + 'static,
{
    if reply.wire_bytes <= crate::jrmp::INLINE_PARSE_MAX {
        return f(&reply);
    }
    tokio::task::spawn_blocking(move || f(&reply))
        .await
        .unwrap_or_else(|e| {
            Err(JmxError::Protocol {
                address: String::new(),
                detail: format!("interpreting the reply failed: {e}"),
            })
        })
}

/// The value a reply carries, or the error its exception means.
fn value_root(reply: &ReturnMessage, address: &str) -> Result<Option<Ref>, JmxError> {
    match reply.outcome {
        Outcome::Value(v) => Ok(v),
        Outcome::Exception(e) => {
            let remote = crate::error::RemoteException::from_graph(&reply.graph, e);
            Err(JmxError::from_remote(address, remote, false))
        }
        Outcome::Void => Err(protocol(address, "a value was expected")),
    }
}

/// A conversion that met a cycle or ran out of budget fails the call: a real agent never sends
/// either.
fn check_conversion(converter: &Converter<'_>, address: &str) -> Result<(), JmxError> {
    match converter.problem() {
        None => Ok(()),
        Some(ConvertProblem::Cycle(class)) => Err(implausible(
            address,
            &format!("a {class} value contains itself (a cycle no JMX agent sends)"),
        )),
        Some(ConvertProblem::Budget(bytes)) => Err(JmxError::Decode {
            address: address.to_owned(),
            source: crate::javaser::DecodeError::LimitExceeded {
                what: "decoded value size (bytes)",
                value: *bytes as u64 + 1,
                limit: *bytes as u64,
            },
        }),
    }
}

fn implausible(address: &str, detail: &str) -> JmxError {
    protocol(address, &format!("implausible reply: {detail}"))
}

/// The longest MBean name a reply may hold (real names are well under 1 KiB).
pub const MAX_NAME_BYTES: usize = 16 * 1024;
/// The most key properties an MBean name in a reply may have (Kafka's have at most five).
pub const MAX_NAME_KEYS: usize = 256;
/// Entries an `AttributeList` may hold beyond the attributes asked for before the reply is
/// refused (a real agent sends at most one per requested attribute).
pub const MAX_EXTRA_ATTRIBUTES: usize = 1024;

/// The names in a `queryNames` reply. An element referenced many times is read once; a name
/// beyond [`MAX_NAME_BYTES`] or [`MAX_NAME_KEYS`] fails the reply.
pub(crate) fn names_of(reply: &ReturnMessage, address: &str) -> Result<Vec<ObjectName>, JmxError> {
    let graph = &reply.graph;
    let mut names = Vec::new();
    let Some(set) = value_root(reply, address)? else {
        return Ok(names);
    };
    let mut seen = RefSet::default();
    for element in collection_elements(graph, set).flatten() {
        if !seen.insert(element) {
            continue;
        }
        match object_name_of(graph, element) {
            Some(Ok(text)) if text.len() > MAX_NAME_BYTES => {
                return Err(implausible(
                    address,
                    &format!(
                        "an MBean name of {} bytes (at most {MAX_NAME_BYTES})",
                        text.len()
                    ),
                ));
            }
            Some(Ok(text)) => match ObjectName::parse(text) {
                Ok(name) if name.properties().len() > MAX_NAME_KEYS => {
                    return Err(implausible(
                        address,
                        &format!(
                            "an MBean name with {} key properties (at most {MAX_NAME_KEYS})",
                            name.properties().len()
                        ),
                    ));
                }
                Ok(name) => names.push(name),
                Err(e) => {
                    warn!(address, error = %e, "skipping an MBean name the client cannot parse")
                }
            },
            Some(Err(())) | None => {
                warn!(
                    address,
                    class = graph.class_name(element).unwrap_or("?"),
                    "queryNames returned a non-ObjectName element"
                )
            }
        }
    }
    Ok(names)
}

/// The requested attributes in a `getAttributes` reply, each once, converted with the reply's
/// budget (an element referenced many times is converted once). Beyond the attributes asked
/// for plus [`MAX_EXTRA_ATTRIBUTES`] entries the reply is refused.
pub(crate) fn attributes_of(
    reply: &ReturnMessage,
    requested: &[String],
    address: &str,
) -> Result<Vec<(String, Value)>, JmxError> {
    let graph = &reply.graph;
    let mut out = Vec::with_capacity(requested.len());
    let Some(list) = value_root(reply, address)? else {
        return Ok(out);
    };
    // Positions in `requested` already answered. No set of elements seen: the entry cap bounds
    // the lookups of repeated elements to two probes each.
    let mut done = vec![false; requested.len()];
    let limit = requested.len().saturating_add(MAX_EXTRA_ATTRIBUTES);
    let mut converter = Converter::with_budget(graph, reply.value_budget);
    for (count, element) in collection_elements(graph, list).flatten().enumerate() {
        if count >= limit {
            return Err(implausible(
                address,
                &format!(
                    "an AttributeList of more than {limit} entries for {} requested attributes",
                    requested.len()
                ),
            ));
        }
        let Some(attr_name) = graph
            .field_ref(element, "name")
            .and_then(|n| graph.string(n))
        else {
            continue;
        };
        let Some(i) = requested.iter().position(|a| a == attr_name) else {
            continue;
        };
        match done.get_mut(i) {
            Some(d) if !*d => *d = true,
            _ => continue,
        }
        let value = match graph.field(element, "value") {
            Some(crate::javaser::FieldValue::Object(v)) => converter.value(v),
            _ => Value::Null,
        };
        check_conversion(&converter, address)?;
        out.push((attr_name.to_owned(), value));
    }
    Ok(out)
}

/// The name string of an `ObjectName` object (the first object of its custom data); `None` if
/// `r` is no `ObjectName`, `Err` if it holds no string.
fn object_name_of(graph: &Graph, r: Ref) -> Option<Result<&str, ()>> {
    let items = graph.annotation_of(r, "javax.management.ObjectName")?;
    Some(
        crate::javaser::model::AnnotationCursor::new(items)
            .remaining_objects()
            .next()
            .flatten()
            .and_then(|s| graph.string(s))
            .ok_or(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(options: ConnectOptions) -> JmxClient {
        JmxClient {
            endpoint: Endpoint::new("configured.example", 9999),
            options,
            tls: None,
            session: None,
            stats: ClientStats::default(),
            closed: false,
        }
    }

    fn stub() -> RemoteRef {
        RemoteRef {
            ref_type: "UnicastRef".into(),
            host: "172.17.0.5".into(),
            port: 41000,
            objid: ObjId::REGISTRY,
            socket_factory: None,
        }
    }

    #[test]
    fn connects_to_the_configured_host_unless_told_otherwise() {
        let s = stub();
        assert_eq!(
            client(ConnectOptions::default()).host_for(&s),
            "configured.example"
        );
        let honour = ConnectOptions::default().with_advertised_host(true);
        assert_eq!(client(honour.clone()).host_for(&s), "172.17.0.5");
        // Pinning wins: everything goes to the configured endpoint.
        let pinned = honour.with_pinned_endpoint(true);
        assert_eq!(client(pinned).host_for(&s), "configured.example");
    }

    /// Every public future can be spawned on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let name = ObjectName::wildcard();
        send(&JmxClient::connect(
            Endpoint::new("127.0.0.1", 1),
            ConnectOptions::default(),
        ));
        let mut c = client(ConnectOptions::default());
        send(&c.query_names(&name));
        let mut c = client(ConnectOptions::default());
        send(&c.get_attributes(&name, &["A"]));
        let mut c = client(ConnectOptions::default());
        send(&c.get_attribute(&name, "A"));
        send(&client(ConnectOptions::default()).close());
    }

    #[test]
    fn credentials_do_not_leak_into_logs() {
        let text = format!("{:?}", Credentials::new("monitor", "s3cret"));
        assert!(
            text.contains("monitor") && !text.contains("s3cret"),
            "{text}"
        );
    }
}
