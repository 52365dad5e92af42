//! The metric contract of the `kafka_admin` receiver: every metric name, attribute key and
//! resource attribute it emits, in one place that the receiver and the `kafka_admin` rule pack
//! of the signals connector both import, so a rename cannot leave one of them reading nothing.
//!
//! Names are OpenTelemetry's `kafkametrics` receiver's where it has the fact; what it lacks
//! (time lag, leaders, controller, group state, commit presence) follows the same `kafka.*`
//! pattern. Every point carries the poll time as its timestamp.

/// Resource attribute: the cluster's alias (`cluster_alias`), the key the sidecars' client
/// cells carry too, so broker-side and client-side cells join.
pub const RESOURCE_CLUSTER: &str = "kafka.cluster";
/// Resource attribute: the configured bootstrap brokers, comma separated.
pub const RESOURCE_BROKERS: &str = "kafka.cluster.brokers";
/// Resource attribute: the cluster id the brokers report (Metadata v2+), when they do.
pub const RESOURCE_CLUSTER_ID: &str = "kafka.cluster.id";

/// Attribute: topic name.
pub const ATTR_TOPIC: &str = "topic";
/// Attribute: partition index (an integer).
pub const ATTR_PARTITION: &str = "partition";
/// Attribute: consumer group id.
pub const ATTR_GROUP: &str = "group";
/// Attribute: a group member's `client.id`.
pub const ATTR_CLIENT_ID: &str = "client.id";
/// Attribute: the host a group member connects from, as the coordinator saw it.
pub const ATTR_CLIENT_HOST: &str = "client.host";
/// Attribute: a group's state (`Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance`,
/// `Dead`, or what the broker reports).
pub const ATTR_STATE: &str = "state";

/// Gauge: brokers in the cluster metadata (kafkametrics).
pub const BROKERS: &str = "kafka.brokers";
/// Gauge: the broker id of the active controller (-1: none reported).
pub const CONTROLLER: &str = "kafka.cluster.controller";
/// Gauge per `topic`: partitions (kafkametrics).
pub const TOPIC_PARTITIONS: &str = "kafka.topic.partitions";
/// Gauge per `topic`, `partition`: the log end offset (kafkametrics).
pub const PARTITION_CURRENT_OFFSET: &str = "kafka.partition.current_offset";
/// Gauge per `topic`, `partition`: the log start offset (kafkametrics).
pub const PARTITION_OLDEST_OFFSET: &str = "kafka.partition.oldest_offset";
/// Gauge per `topic`, `partition`: replicas (kafkametrics).
pub const PARTITION_REPLICAS: &str = "kafka.partition.replicas";
/// Gauge per `topic`, `partition`: in-sync replicas (kafkametrics).
pub const PARTITION_REPLICAS_IN_SYNC: &str = "kafka.partition.replicas_in_sync";
/// Gauge per `topic`, `partition`: offline replicas.
pub const PARTITION_OFFLINE_REPLICAS: &str = "kafka.partition.offline_replicas";
/// Gauge per `topic`, `partition`: the leader's broker id (-1: no leader).
pub const PARTITION_LEADER: &str = "kafka.partition.leader";
/// Gauge per `topic`, `partition`: 1 when the leader is the preferred replica (the first of
/// the replica list), else 0.
pub const PARTITION_PREFERRED_LEADER: &str = "kafka.partition.preferred_leader";
/// Attribute: a broker's id (an integer), the key the subject's `broker` level reads.
pub const ATTR_BROKER_ID: &str = "broker.id";
/// Gauge per `broker.id`: partitions whose preferred replica (the first of the replica list)
/// is this broker.
pub const BROKER_PREFERRED_PARTITIONS: &str = "kafka.broker.preferred_partitions";
/// Gauge per `broker.id`: of those, the partitions this broker leads; the rest are led by
/// another replica (preferred-leader imbalance).
pub const BROKER_PREFERRED_PARTITIONS_LED: &str = "kafka.broker.preferred_partitions_led";
/// Gauge per `group`: members (kafkametrics).
pub const GROUP_MEMBERS: &str = "kafka.consumer_group.members";
/// Gauge per `group`, `client.id`, `client.host`: members with that client id on that host.
pub const GROUP_CLIENT_MEMBERS: &str = "kafka.consumer_group.client.members";
/// Gauge per `group`, `client.id`, `client.host`: partitions assigned to those members.
pub const GROUP_CLIENT_ASSIGNED_PARTITIONS: &str =
    "kafka.consumer_group.client.assigned_partitions";
/// Gauge per `group`, `state`: 1 for the group's current state.
pub const GROUP_STATE: &str = "kafka.consumer_group.state";
/// Gauge per `group`: partitions with a committed offset (0 for a group that never committed).
pub const GROUP_COMMITTED_PARTITIONS: &str = "kafka.consumer_group.committed_partitions";
/// Gauge per `group`, `topic`, `partition`: the committed offset (kafkametrics).
pub const GROUP_OFFSET: &str = "kafka.consumer_group.offset";
/// Gauge per `group`, `topic`, `partition`: end offset minus committed offset, at least 0
/// (kafkametrics).
pub const GROUP_LAG: &str = "kafka.consumer_group.lag";
/// Gauge per `group`, `topic`, `partition`, in seconds: how long ago the partition's end
/// offset was where the group's committed offset is now (0 when caught up).
pub const GROUP_TIME_LAG: &str = "kafka.consumer_group.time_lag";
/// Gauge per `group`, `topic`: the sum of `kafka.consumer_group.lag` (kafkametrics).
pub const GROUP_LAG_SUM: &str = "kafka.consumer_group.lag_sum";
/// Gauge per `group`, `topic`: the sum of `kafka.consumer_group.offset` (kafkametrics).
pub const GROUP_OFFSET_SUM: &str = "kafka.consumer_group.offset_sum";
