//! Errors of the JMX client, and Java exceptions thrown by the remote side.
//!
//! Every error names the endpoint and says what to check. Exceptions the server throws keep
//! their Java class name, message and cause chain ([`RemoteException`]); the common ones get
//! their own variants so callers can react (re-authenticate, forget a vanished MBean, ...).

use std::fmt;
use std::time::Duration;

use crate::javaser::DecodeError;
use crate::javaser::model::{FieldValue, Graph, Ref};

/// A Java exception thrown by the server, as far as the stream tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteException {
    /// The exception's class (`java.lang.SecurityException`).
    pub class: String,
    /// `getMessage()`, if any.
    pub message: Option<String>,
    /// The cause, if the stream carried one.
    pub cause: Option<Box<RemoteException>>,
}

/// Fields that hold the wrapped exception in common exception classes.
const CAUSE_FIELDS: &[&str] = &[
    "cause",
    "detail",
    "exception",
    "runtimeException",
    "runtimeError",
    "error",
    "undeclaredThrowable",
    "target",
];
const MAX_CAUSES: usize = 16;

impl RemoteException {
    /// Reads the exception object `r` (and its causes) out of a decoded reply.
    pub fn from_graph(graph: &Graph, r: Option<Ref>) -> RemoteException {
        Self::read(graph, r, 0)
    }

    fn read(graph: &Graph, r: Option<Ref>, depth: usize) -> RemoteException {
        let Some(r) = r else {
            return RemoteException {
                class: "(null exception)".into(),
                message: None,
                cause: None,
            };
        };
        let class = graph.class_name(r).unwrap_or("(unknown class)").to_owned();
        let message = match graph.field(r, "detailMessage") {
            Some(FieldValue::Object(Some(m))) => graph.string(m).map(str::to_owned),
            _ => None,
        };
        let cause = if depth >= MAX_CAUSES {
            None
        } else {
            CAUSE_FIELDS
                .iter()
                .filter_map(|f| graph.field_ref(r, f))
                .find(|&c| c != r && graph.is_instance_of(c, "java.lang.Throwable"))
                .map(|c| Box::new(Self::read(graph, Some(c), depth + 1)))
        };
        RemoteException {
            class,
            message,
            cause,
        }
    }

    /// This exception and its causes, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &RemoteException> {
        std::iter::successors(Some(self), |e| e.cause.as_deref())
    }

    /// Whether this exception or one of its causes is of class `class`.
    pub fn is(&self, class: &str) -> bool {
        self.chain().any(|e| e.class == class)
    }

    /// The first message in the chain (RMI wrappers often have generic ones, so prefer the
    /// innermost meaningful one when showing to people).
    pub fn root_message(&self) -> Option<&str> {
        self.chain().filter_map(|e| e.message.as_deref()).last()
    }
}

impl fmt::Display for RemoteException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in self.chain() {
            if !first {
                f.write_str("; caused by ")?;
            }
            first = false;
            match &e.message {
                Some(m) => write!(f, "{}: {}", e.class, m)?,
                None => f.write_str(&e.class)?,
            }
        }
        Ok(())
    }
}

/// What the client was doing when an I/O or protocol error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    Connect,
    TlsHandshake,
    JrmpHandshake,
    Call,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting",
            Stage::TlsHandshake => "TLS handshake",
            Stage::JrmpHandshake => "JRMP handshake",
            Stage::Call => "remote call",
        })
    }
}

/// Everything that can go wrong talking to a JMX agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JmxError {
    #[error(transparent)]
    InvalidEndpoint(#[from] crate::endpoint::EndpointError),

    #[error("JMX endpoint {address} refused the connection; {hint}")]
    ConnectionRefused { address: String, hint: String },

    #[error(
        "connecting to JMX endpoint {address} timed out after {timeout:?}; is the host reachable and the port open?"
    )]
    ConnectTimeout { address: String, timeout: Duration },

    #[error(
        "JMX endpoint {address} did not answer within {timeout:?} ({stage}); the JVM may be stalled (long GC?), or this is not a JMX RMI port"
    )]
    ReadTimeout {
        address: String,
        timeout: Duration,
        stage: Stage,
    },

    #[error("JMX endpoint {address} closed the connection ({stage}){hint}")]
    ConnectionClosed {
        address: String,
        stage: Stage,
        hint: &'static str,
    },

    #[error("I/O error with JMX endpoint {address} ({stage}): {source}")]
    Io {
        address: String,
        stage: Stage,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{address} is not a JMX RMI endpoint: {detail}; point the client at the port set by -Dcom.sun.management.jmxremote.port"
    )]
    NotJmx { address: String, detail: String },

    #[error("malformed reply from JMX endpoint {address}: {source}")]
    Decode {
        address: String,
        #[source]
        source: DecodeError,
    },

    #[error("unexpected reply from JMX endpoint {address}: {detail}")]
    Protocol { address: String, detail: String },

    #[error("TLS with JMX endpoint {address} failed: {detail}")]
    Tls { address: String, detail: String },

    #[error("TLS settings are unusable: {detail}")]
    TlsConfig { detail: String },

    #[error(
        "JMX endpoint {address} rejected the credentials: {remote}; check the username and password against com.sun.management.jmxremote.password.file"
    )]
    AuthenticationFailed {
        address: String,
        remote: RemoteException,
    },

    #[error(
        "JMX endpoint {address} denied access: {remote}; check com.sun.management.jmxremote.access.file grants this user readonly"
    )]
    AccessDenied {
        address: String,
        remote: RemoteException,
    },

    #[error(
        "no connector named {binding:?} in the RMI registry at {address} ({remote}); is this a JMX agent port?"
    )]
    NotBound {
        address: String,
        binding: String,
        remote: RemoteException,
    },

    #[error("MBean not found on {address}: {remote}")]
    InstanceNotFound {
        address: String,
        remote: RemoteException,
    },

    #[error("attribute not found on {address}: {remote}")]
    AttributeNotFound {
        address: String,
        remote: RemoteException,
    },

    #[error("the JMX connection to {address} is gone on the server side ({remote}); reconnect")]
    NoSuchObject {
        address: String,
        remote: RemoteException,
    },

    #[error("JMX endpoint {address} threw {remote}")]
    Remote {
        address: String,
        remote: RemoteException,
    },

    #[error("this JMX client was closed")]
    Closed,
}

impl JmxError {
    /// The Java exception behind this error, if the server threw one.
    pub fn remote(&self) -> Option<&RemoteException> {
        match self {
            JmxError::AuthenticationFailed { remote, .. }
            | JmxError::AccessDenied { remote, .. }
            | JmxError::NotBound { remote, .. }
            | JmxError::InstanceNotFound { remote, .. }
            | JmxError::AttributeNotFound { remote, .. }
            | JmxError::NoSuchObject { remote, .. }
            | JmxError::Remote { remote, .. } => Some(remote),
            _ => None,
        }
    }

    /// Whether the connection is gone (dropped socket, server forgot our session) so that
    /// connecting again and repeating the call is the right move.
    pub fn is_connection_lost(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            JmxError::NoSuchObject { .. } | JmxError::ConnectionClosed { .. } => true,
            JmxError::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected
            ),
            _ => false,
        }
    }

    /// Whether the connection must not be used again after this error (its state is unknown).
    pub(crate) fn poisons_connection(&self) -> bool {
        !matches!(
            self,
            JmxError::AccessDenied { .. }
                | JmxError::InstanceNotFound { .. }
                | JmxError::AttributeNotFound { .. }
                | JmxError::Remote { .. }
        )
    }

    /// Classifies an exception thrown by the server.
    pub(crate) fn from_remote(
        address: &str,
        remote: RemoteException,
        during_new_client: bool,
    ) -> JmxError {
        let address = address.to_owned();
        let known = remote.chain().find_map(|e| match e.class.as_str() {
            "java.lang.SecurityException"
            | "javax.security.auth.login.LoginException"
            | "javax.security.auth.login.FailedLoginException" => {
                Some(if during_new_client { 0 } else { 1 })
            }
            "javax.management.InstanceNotFoundException" => Some(2),
            "javax.management.AttributeNotFoundException" => Some(3),
            "java.rmi.NoSuchObjectException" => Some(4),
            _ => None,
        });
        match known {
            Some(0) => JmxError::AuthenticationFailed { address, remote },
            Some(1) => JmxError::AccessDenied { address, remote },
            Some(2) => JmxError::InstanceNotFound { address, remote },
            Some(3) => JmxError::AttributeNotFound { address, remote },
            Some(4) => JmxError::NoSuchObject { address, remote },
            _ => JmxError::Remote { address, remote },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(class: &str, msg: &str, cause: Option<RemoteException>) -> RemoteException {
        RemoteException {
            class: class.into(),
            message: Some(msg.into()),
            cause: cause.map(Box::new),
        }
    }

    #[test]
    fn classification_walks_the_cause_chain() {
        let wrapped = ex(
            "java.rmi.ServerException",
            "RemoteException occurred in server thread",
            Some(ex(
                "java.rmi.NoSuchObjectException",
                "no such object in table",
                None,
            )),
        );
        let e = JmxError::from_remote("h:1", wrapped, false);
        assert!(matches!(e, JmxError::NoSuchObject { .. }));
        assert!(e.is_connection_lost());
        assert_eq!(
            e.remote().unwrap().root_message(),
            Some("no such object in table")
        );
        let auth = JmxError::from_remote(
            "h:1",
            ex(
                "java.lang.SecurityException",
                "Authentication failed! Invalid username or password",
                None,
            ),
            true,
        );
        let text = auth.to_string();
        assert!(
            text.contains("java.lang.SecurityException: Authentication failed!"),
            "{text}"
        );
        assert!(text.contains("password.file"), "{text}");
        assert!(!auth.is_connection_lost());
    }
}
