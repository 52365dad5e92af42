//! A JMX client in pure Rust: reads MBeans from a JVM over the standard RMI connector
//! (`service:jmx:rmi:///jndi/rmi://host:port/jmxrmi`, what `-Dcom.sun.management.jmxremote.port`
//! opens), with no JVM and no JNI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafka_obs_jmx::JmxError> {
//! use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, ObjectName};
//! let endpoint = Endpoint::parse("127.0.0.1:9999")?;
//! let mut client = JmxClient::connect(endpoint, ConnectOptions::default()).await?;
//! let memory = ObjectName::parse("java.lang:type=Memory").expect("valid name");
//! for (attr, value) in client.get_attributes(&memory, &["HeapMemoryUsage"]).await? {
//!     for (series, number) in value.flatten_numeric(&attr) {
//!         println!("{series} = {number}"); // HeapMemoryUsage.used = ...
//!     }
//! }
//! client.close().await
//! # }
//! ```
//!
//! Layers, bottom up: [`javaser`] (Java serialization: hardened reader, minimal writer),
//! [`jrmp`] (RMI wire protocol over tokio, TLS via [`tls`]), [`client`] (the JMX calls,
//! reconnection), with [`value`], [`object_name`], [`endpoint`] and [`error`] as the vocabulary.

pub mod client;
pub mod endpoint;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod javaser;
pub mod jrmp;
pub mod object_name;
pub mod tls;
pub mod value;

#[cfg(test)]
mod hostile_tests;

pub use client::{ClientStats, ConnectOptions, Credentials, JmxClient};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{JmxError, RemoteException, Stage};
pub use object_name::{ObjectName, ObjectNameError};
pub use tls::TlsOptions;
pub use value::Value;
