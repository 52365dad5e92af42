//! What the `kafka` exporter (sidecar side) and the `kafka` receiver (central side) must agree
//! on, in one place: the default topics and what a topic name may be ([`topic`]), a record's
//! value ([`Encoding`]; [`record::encode`] for the exporter, [`record::decode`] for the
//! receiver), the broker list ([`check_brokers`]) and `protocol_version`, and the `auth` block (SASL, TLS) as
//! librdkafka properties ([`auth`]), and the metric names of the `kafka_admin` receiver
//! ([`admin_metrics`]) that the `kafka_admin` rule pack reads. The two components depend on this crate and not on each
//! other, so what one writes the other reads by construction.
//!
//! Nothing here links librdkafka or OpenSSL (the properties are plain strings the components
//! hand to their clients); the receiver and exporter take this crate only with their `kafka`
//! feature, so the slim build does not compile it at all.

pub mod admin_metrics;
pub mod auth;
mod brokers;
pub mod record;
pub mod topic;

pub use auth::Auth;
pub use brokers::{DEFAULT_BROKER, DEFAULT_CLIENT_ID, check_brokers, protocol_version_properties};
pub use record::{Encoding, RecordError};
pub use topic::{METRICS_TOPIC, SIGNALS_TOPIC, TRACES_TOPIC, check_topic, default_topic};
