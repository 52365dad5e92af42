//! The scale-out protocol between the `kafka` receiver and the central `hierarchy` connector,
//! as attribute and event names on the wire (ARCHITECTURE.md, "Intake and scale-out").
//!
//! Both sides import these names from here, so the receiver cannot announce a rebalance under
//! a name the connector does not read:
//!
//! - every resource of a record read from the signals topic carries the topic and partition it
//!   came from, [`TOPIC`] and [`PARTITION`] (OpenTelemetry's messaging names), so a consumer
//!   downstream knows which partition a cell's data came from;
//! - a rebalance is announced in-band, one log record per topic, whose `event_name` is
//!   [`REVOKED`] or [`ASSIGNED`] and whose attributes name the topic ([`TOPIC`]) and the
//!   partitions ([`PARTITION_IDS`], an array of strings);
//! - a log record replayed from before the committed offset, to rebuild state after an
//!   assignment, carries [`REPLAY`] = true; the connector ingests it without notifying.

/// Resource attribute (and control-record attribute): the topic a record was read from.
pub const TOPIC: &str = "messaging.destination.name";

/// Resource attribute: the partition a record was read from (a string, as OpenTelemetry's
/// messaging conventions have it).
pub const PARTITION: &str = "messaging.destination.partition.id";

/// Control-record attribute: the partitions revoked or assigned (an array of strings).
pub const PARTITION_IDS: &str = "messaging.destination.partition.ids";

/// Log-record attribute (bool): replayed to rebuild state after an assignment.
pub const REPLAY: &str = "kafka_obs.replay";

/// `event_name` of the control record for partitions taken away from this consumer.
pub const REVOKED: &str = "kafka_obs.partitions_revoked";

/// `event_name` of the control record for partitions given to this consumer.
pub const ASSIGNED: &str = "kafka_obs.partitions_assigned";
