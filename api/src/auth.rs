//! The authentication capability: what an authenticator extension (`bearertokenauth`) offers
//! the components that name it with `auth: {authenticator: <extension id>}`, as in the
//! Collector. A server (the `otlp` receiver, a web API) checks each request's headers with
//! [`AuthCapability::authenticate`]; a client (the OTLP exporters) adds
//! [`AuthCapability::client_headers`] to each request it sends.
//!
//! Headers are an `http::HeaderMap` on both sides: gRPC metadata travels as HTTP/2 headers, so
//! one check serves gRPC and HTTP servers alike. Errors never contain the secret.

use std::fmt::Debug;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::ComponentConfigError;
use crate::id::ComponentId;

/// Why a request was not authenticated, or why credentials cannot be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no credentials in `header`.
    #[error("missing {header} header")]
    Missing { header: String },
    /// The credentials in `header` are not accepted (wrong scheme or token).
    #[error("the {header} header does not carry an accepted token")]
    Invalid { header: String },
    /// The authenticator cannot do its job (its token file is unreadable, ...).
    #[error("{0}")]
    Unavailable(String),
}

/// What an authenticator extension implements.
pub trait Authenticator: Send + Sync + Debug {
    /// Server side: accepts or refuses one request by its headers.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), AuthError>;
    /// Client side: the headers to add to each outgoing request (read anew for every request,
    /// so a rotated token file takes effect without a restart).
    fn client_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError>;
}

/// What an authenticator extension puts into the [`crate::Host`]; look it up with
/// `host.get::<AuthCapability>(&id)`.
#[derive(Debug, Clone)]
pub struct AuthCapability(pub Arc<dyn Authenticator>);

impl AuthCapability {
    /// Accepts or refuses one request by its headers (for any server: gRPC, HTTP, a web API).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        self.0.authenticate(headers)
    }

    /// The headers a client adds to each request.
    pub fn client_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        self.0.client_headers()
    }
}

/// `auth` as written under a receiver protocol or an exporter: `{authenticator: <id>}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthSettings {
    pub authenticator: String,
}

impl RawAuthSettings {
    /// The extension id; an error at `authenticator` when it is not an id.
    pub fn resolve(&self) -> Result<ComponentId, ComponentConfigError> {
        self.authenticator.trim().parse().map_err(|e| {
            ComponentConfigError::new(
                "authenticator",
                format!("{e}; name an authenticator extension such as bearertokenauth"),
            )
        })
    }
}

/// Compares two secrets in time that depends only on their lengths, so a caller cannot learn
/// a token byte by byte from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn authenticator_must_be_an_id() {
        let ok = RawAuthSettings {
            authenticator: "bearertokenauth/in".into(),
        };
        assert_eq!(ok.resolve().unwrap().to_string(), "bearertokenauth/in");
        let bad = RawAuthSettings {
            authenticator: "".into(),
        };
        assert_eq!(bad.resolve().unwrap_err().path, "authenticator");
    }
}
