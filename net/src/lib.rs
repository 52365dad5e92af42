//! Sockets and TLS, once for every component: the listen address a receiver binds, the server
//! side of TLS, and the client side of TLS that the exporters and the central webhook use.
//!
//! It is its own crate because both sides of the component graph need it and components must
//! not depend on each other: the receiver's servers and the exporters' clients meet here, below
//! them, beside the component API. It stays out of `kafka-obs-api` so that crate keeps to the
//! traits and the data that flows and carries no TLS stack. Everything is rustls with the ring
//! provider (no aws-lc, no cmake in the build).
//!
//! - [`listen`]: `host:port` checked at validation, bound at build (a taken port stops the
//!   start before anything runs), handed to tokio in `run`.
//! - [`tls::server`]: the `tls` block of a server (`cert_file`, `key_file`, `client_ca_file`),
//!   and an accept loop that runs each handshake in its own bounded task, so only finished
//!   connections reach tonic or axum.
//! - [`tls::client`]: the Collector's client `tls` keys as one rustls config, and the HTTPS
//!   connectors for HTTP/1.1 (hyper) and HTTP/2 (tonic).

pub mod listen;
pub mod tls;

pub use listen::{bind_address, check_endpoint, listen};
pub use tls::client::{TlsConfig, TlsError};
pub use tls::server::{RawServerTls, ServerTls, TlsConn, TlsIncoming};
