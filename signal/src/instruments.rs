//! The fourteen instruments of `docs/vocabulary.md`: what was *witnessed*, one module each with its
//! `Sign` and, where the instrument has one, its `Dimension`.
//!
//! Instruments only report what happened (a queue refused an enqueue, a probe failed);
//! judging a value against a threshold belongs to Sensors and Systems, and verdicts to
//! Statuses (see [`crate::languages`]). Aliases accept the seed document's old spellings where
//! they map to exactly one current sign (`Probe.FAILURE` -> Probes `FAIL`).

use crate::names::vocabulary;

/// Queues: items entering and leaving a bounded buffer (a producer's record accumulator).
pub mod queues {
    use super::vocabulary;
    vocabulary! {
        /// What a queue did.
        pub enum Sign as "Queues sign" {
            /// An item was accepted.
            Enqueue = "ENQUEUE" | "PUT",
            /// An item was taken.
            Dequeue = "DEQUEUE" | "TAKE",
            /// An enqueue was refused because the queue was full.
            Overflow = "OVERFLOW",
            /// A dequeue found the queue empty.
            Underflow = "UNDERFLOW",
        }
    }
}

/// Counters: monotonic counts.
pub mod counters {
    use super::vocabulary;
    vocabulary! {
        /// What a counter did.
        pub enum Sign as "Counters sign" {
            /// The count went up.
            Increment = "INCREMENT",
            /// The count wrapped around its maximum.
            Overflow = "OVERFLOW",
            /// The count went back to zero (e.g. the JVM restarted).
            Reset = "RESET",
        }
    }
}

/// Gauges: values that go up and down.
pub mod gauges {
    use super::vocabulary;
    vocabulary! {
        /// What a gauge did.
        pub enum Sign as "Gauges sign" {
            /// The value rose (beyond a dead-band).
            Increment = "INCREMENT",
            /// The value fell (beyond a dead-band).
            Decrement = "DECREMENT",
            /// The value hit its maximum.
            Overflow = "OVERFLOW",
            /// The value hit its minimum.
            Underflow = "UNDERFLOW",
            /// The value was reset.
            Reset = "RESET",
        }
    }
}

/// Sensors: a measurement judged against a reference.
pub mod sensors {
    use super::vocabulary;
    vocabulary! {
        /// Where the measurement sits relative to the reference.
        pub enum Sign as "Sensors sign" {
            /// Below the reference.
            Below = "BELOW",
            /// At the reference, within tolerance.
            Nominal = "NOMINAL",
            /// Above the reference.
            Above = "ABOVE",
        }
    }
    vocabulary! {
        /// Which reference the measurement was compared with.
        pub enum Dimension as "Sensors dimension" {
            /// A learned or configured normal value.
            Baseline = "BASELINE",
            /// A limit.
            Threshold = "THRESHOLD",
            /// A goal.
            Target = "TARGET",
        }
    }
}

/// Probes: communication attempts and their results.
pub mod probes {
    use super::vocabulary;
    vocabulary! {
        /// What a probe witnessed.
        pub enum Sign as "Probes sign" {
            /// A connection was made.
            Connect = "CONNECT",
            /// A connection was closed or lost.
            Disconnect = "DISCONNECT",
            /// Data was transferred.
            Transfer = "TRANSFER",
            /// Work was processed.
            Process = "PROCESS",
            /// The operation succeeded.
            Succeed = "SUCCEED" | "SUCCESS",
            /// The operation failed.
            Fail = "FAIL" | "FAILURE",
        }
    }
    vocabulary! {
        /// Which way the communication went, from the subject's point of view.
        pub enum Dimension as "Probes dimension" {
            /// The subject initiated it (a client calling a broker).
            Outbound = "OUTBOUND",
            /// The subject received it.
            Inbound = "INBOUND",
        }
    }
}

/// Services: the lifecycle of calls to a service.
pub mod services {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a service call.
        pub enum Sign as "Services sign" {
            /// The service started.
            Start = "START",
            /// The service stopped.
            Stop = "STOP",
            /// A call was made.
            Call = "CALL",
            /// A call succeeded.
            Success = "SUCCESS" | "SUCCEEDED",
            /// A call failed.
            Fail = "FAIL" | "FAILED",
            /// A fallback was used.
            Recourse = "RECOURSE",
            /// A call was redirected.
            Redirect = "REDIRECT",
            /// A call ran out of time.
            Expire = "EXPIRE",
            /// A call was retried.
            Retry = "RETRY",
            /// A call was refused.
            Reject = "REJECT",
            /// A call was dropped.
            Discard = "DISCARD",
            /// A call was delayed.
            Delay = "DELAY",
            /// A call was scheduled for later.
            Schedule = "SCHEDULE",
            /// Work was suspended.
            Suspend = "SUSPEND",
            /// Work resumed.
            Resume = "RESUME",
            /// The caller and callee were disconnected.
            Disconnect = "DISCONNECT",
        }
    }
    vocabulary! {
        /// Which side of the call the subject is on.
        pub enum Dimension as "Services dimension" {
            /// The subject made the call (a Kafka client).
            Caller = "CALLER",
            /// The subject served the call.
            Callee = "CALLEE",
        }
    }
}

/// Resources: acquiring and releasing limited capacity.
pub mod resources {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a resource request.
        pub enum Sign as "Resources sign" {
            /// A request was made.
            Attempt = "ATTEMPT",
            /// The resource was taken.
            Acquire = "ACQUIRE",
            /// A request was granted.
            Grant = "GRANT",
            /// A request was denied.
            Deny = "DENY",
            /// A request timed out.
            Timeout = "TIMEOUT",
            /// The resource was given back.
            Release = "RELEASE",
        }
    }
}

/// Messages: a message's journey from producer to consumer.
pub mod messages {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a message.
        pub enum Sign as "Messages sign" {
            /// Published.
            Publish = "PUBLISH",
            /// Delivered.
            Deliver = "DELIVER",
            /// Acknowledged.
            Ack = "ACK",
            /// Negatively acknowledged.
            Nack = "NACK",
            /// Delivered again.
            Redeliver = "REDELIVER",
            /// Out of delivery attempts.
            Exhaust = "EXHAUST",
            /// Expired before delivery.
            Expire = "EXPIRE",
        }
    }
    vocabulary! {
        /// The subject's role in the message's journey.
        pub enum Dimension as "Messages dimension" {
            /// The producer.
            Producer = "PRODUCER",
            /// The broker.
            Broker = "BROKER",
            /// The consumer.
            Consumer = "CONSUMER",
        }
    }
}

/// Members: group membership (consumer groups, ISR, the controller quorum).
pub mod members {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a membership.
        pub enum Sign as "Members sign" {
            /// Joined the group.
            Join = "JOIN",
            /// Left the group.
            Leave = "LEAVE",
            /// Suspected of having failed.
            Suspect = "SUSPECT",
            /// A suspicion was refuted.
            Refute = "REFUTE",
            /// Removed from the group.
            Evict = "EVICT",
            /// Elected (leader, controller).
            Elect = "ELECT",
            /// Gave up a role.
            Resign = "RESIGN",
        }
    }
    vocabulary! {
        /// Whose membership it is.
        pub enum Dimension as "Members dimension" {
            /// The subject's own (`SELF`; `Self` is a Rust keyword).
            Own = "SELF",
            /// Another member's.
            Peer = "PEER",
        }
    }
}

/// Guards: access control.
pub mod guards {
    use super::vocabulary;
    vocabulary! {
        /// What happened at the guard.
        pub enum Sign as "Guards sign" {
            /// Access was attempted.
            Attempt = "ATTEMPT",
            /// Credentials were challenged.
            Challenge = "CHALLENGE",
            /// Access was granted.
            Grant = "GRANT",
            /// Access was denied.
            Deny = "DENY",
        }
    }
    vocabulary! {
        /// What was checked.
        pub enum Dimension as "Guards dimension" {
            /// Who the caller is (authentication).
            Identity = "IDENTITY",
            /// What the caller may do (authorization).
            Permission = "PERMISSION",
        }
    }
}

/// Caches: lookups and their results.
pub mod caches {
    use super::vocabulary;
    vocabulary! {
        /// What the cache did.
        pub enum Sign as "Caches sign" {
            /// A lookup was made.
            Lookup = "LOOKUP",
            /// The lookup found the entry.
            Hit = "HIT",
            /// The lookup missed.
            Miss = "MISS",
            /// An entry was stored.
            Store = "STORE",
            /// An entry was evicted for space.
            Evict = "EVICT",
            /// An entry expired.
            Expire = "EXPIRE",
            /// An entry was removed.
            Remove = "REMOVE",
        }
    }
}

/// Routers: packets through a network path.
pub mod routers {
    use super::vocabulary;
    vocabulary! {
        /// What the router did with a packet.
        pub enum Sign as "Routers sign" {
            /// Sent.
            Send = "SEND",
            /// Received.
            Receive = "RECEIVE",
            /// Forwarded.
            Forward = "FORWARD",
            /// Routed.
            Route = "ROUTE",
            /// Dropped.
            Drop = "DROP",
            /// Split into fragments.
            Fragment = "FRAGMENT",
            /// Put back together.
            Reassemble = "REASSEMBLE",
            /// Found corrupted.
            Corrupt = "CORRUPT",
            /// Arrived out of order.
            Reorder = "REORDER",
        }
    }
}

/// Breakers: circuit breakers.
pub mod breakers {
    use super::vocabulary;
    vocabulary! {
        /// What the breaker did.
        pub enum Sign as "Breakers sign" {
            /// Closed: calls flow.
            Close = "CLOSE",
            /// Opened: calls are refused.
            Open = "OPEN",
            /// Half-open: trial calls flow.
            HalfOpen = "HALF_OPEN",
            /// Tripped by failures.
            Trip = "TRIP",
            /// A trial call was made.
            Probe = "PROBE",
            /// Reset to its initial state.
            Reset = "RESET",
        }
    }
}

/// Leases: time-bounded ownership.
pub mod leases {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a lease.
        pub enum Sign as "Leases sign" {
            /// A lease was requested.
            Acquire = "ACQUIRE",
            /// A lease was granted.
            Grant = "GRANT",
            /// A lease was denied.
            Deny = "DENY",
            /// A lease was renewed.
            Renew = "RENEW",
            /// A lease was extended.
            Extend = "EXTEND",
            /// A lease was given back.
            Release = "RELEASE",
            /// A lease ran out.
            Expire = "EXPIRE",
            /// A lease was taken away.
            Revoke = "REVOKE",
            /// A lease's holder was checked.
            Probe = "PROBE",
        }
    }
    vocabulary! {
        /// The subject's side of the lease.
        pub enum Dimension as "Leases dimension" {
            /// The one granting it.
            Lessor = "LESSOR",
            /// The one holding it.
            Lessee = "LESSEE",
        }
    }
}
