//! The universal languages of `docs/vocabulary.md`: what subscribers *derive* from instruments.
//! Statuses, Systems and Trends orient (what state is it in), Situations decide (how urgent),
//! Outcomes, Actors and Agents act.
//!
//! Statuses carry the severity order used for roll-ups (`Ord`, worst is greatest) and their
//! default reading as a situation. Aliases accept the seed's old names: `Monitor` conditions
//! with confidence HIGH / MEDIUM / LOW are Statuses with CONFIRMED / MEASURED / TENTATIVE.

use crate::names::vocabulary;

/// Statuses (formerly Monitors): the verdict on a subject's condition.
pub mod statuses {
    use super::{situations, vocabulary};

    vocabulary! {
        /// A subject's condition. Declared from least to most severe, so `Ord` *is* the
        /// severity order: `DOWN > DEFECTIVE > DEGRADED > ERRATIC > DIVERGING > CONVERGING >
        /// STABLE`, and the worst of several statuses is their `max()`.
        pub enum Sign as "Statuses sign" {
            /// Within expectations.
            Stable = "STABLE",
            /// Settling after a disturbance.
            Converging = "CONVERGING",
            /// Moving away from normal.
            Diverging = "DIVERGING",
            /// Flipping unpredictably.
            Erratic = "ERRATIC",
            /// Partly working.
            Degraded = "DEGRADED",
            /// Mostly failing.
            Defective = "DEFECTIVE",
            /// Not working. Should come from sustained DEFECTIVE or an unreachable target,
            /// never from one sample.
            Down = "DOWN",
        }
    }

    vocabulary! {
        /// How sure the verdict is: `TENTATIVE < MEASURED < CONFIRMED`.
        pub enum Confidence as "Statuses confidence" {
            /// Little evidence, or the evidence disagrees. (Seed: LOW.)
            Tentative = "TENTATIVE" | "LOW",
            /// Most of the evidence agrees. (Seed: MEDIUM.)
            Measured = "MEASURED" | "MEDIUM",
            /// The evidence overwhelmingly agrees. (Seed: HIGH.)
            Confirmed = "CONFIRMED" | "HIGH",
        }
    }

    /// The Statuses dimension is its confidence.
    pub type Dimension = Confidence;

    impl Sign {
        /// The severity rank, 0 (STABLE) to 6 (DOWN): the number the `kafka_obs.status` gauge
        /// reports. `a.rank() < b.rank()` exactly when `a < b`.
        pub const fn rank(self) -> u8 {
            match self {
                Self::Stable => 0,
                Self::Converging => 1,
                Self::Diverging => 2,
                Self::Erratic => 3,
                Self::Degraded => 4,
                Self::Defective => 5,
                Self::Down => 6,
            }
        }

        /// The status with severity `rank`, the inverse of [`Sign::rank`].
        pub fn from_rank(rank: u8) -> Option<Self> {
            Self::ALL.get(usize::from(rank)).copied()
        }

        /// The default reading as a situation: STABLE, CONVERGING -> NORMAL; DIVERGING,
        /// ERRATIC, DEGRADED -> WARNING; DEFECTIVE, DOWN -> CRITICAL.
        pub const fn situation(self) -> situations::Sign {
            match self {
                Self::Stable | Self::Converging => situations::Sign::Normal,
                Self::Diverging | Self::Erratic | Self::Degraded => situations::Sign::Warning,
                Self::Defective | Self::Down => situations::Sign::Critical,
            }
        }

        /// [`Sign::situation`] with the optional escalation of `docs/vocabulary.md`: when
        /// `escalate_confirmed_degraded` is set, a CONFIRMED DEGRADED reads as CRITICAL.
        pub const fn situation_with(
            self,
            confidence: Confidence,
            escalate_confirmed_degraded: bool,
        ) -> situations::Sign {
            match (self, confidence) {
                (Self::Degraded, Confidence::Confirmed) if escalate_confirmed_degraded => {
                    situations::Sign::Critical
                }
                _ => self.situation(),
            }
        }
    }

    /// The worst (most severe) of `statuses`, or `None` if there are none.
    pub fn worst(statuses: impl IntoIterator<Item = Sign>) -> Option<Sign> {
        statuses.into_iter().max()
    }
}

/// Systems: a resource judged against its limits.
pub mod systems {
    use super::vocabulary;
    vocabulary! {
        /// How close to its limits the system is.
        pub enum Sign as "Systems sign" {
            /// Well within limits.
            Normal = "NORMAL",
            /// Approaching a limit ("pressure").
            Limit = "LIMIT",
            /// Past a limit.
            Alarm = "ALARM",
            /// Broken.
            Fault = "FAULT",
        }
    }
    vocabulary! {
        /// Which kind of limit.
        pub enum Dimension as "Systems dimension" {
            /// Capacity (a buffer, a heap).
            Space = "SPACE",
            /// Throughput.
            Flow = "FLOW",
            /// Connectivity.
            Link = "LINK",
            /// Latency and deadlines.
            Time = "TIME",
        }
    }
}

/// Trends: the shape of a series over time.
pub mod trends {
    use super::vocabulary;
    vocabulary! {
        /// The shape of a series.
        pub enum Sign as "Trends sign" {
            /// Flat.
            Stable = "STABLE",
            /// A sustained move.
            Drift = "DRIFT",
            /// A sudden jump.
            Spike = "SPIKE",
            /// A repeating pattern.
            Cycle = "CYCLE",
            /// No pattern.
            Chaos = "CHAOS",
        }
    }
}

/// Situations (formerly Reporters): how urgent, for a human deciding what to do.
pub mod situations {
    use super::vocabulary;
    vocabulary! {
        /// How urgent. Declared least to most urgent, so `Ord` is urgency.
        pub enum Sign as "Situations sign" {
            /// Nothing to do.
            Normal = "NORMAL",
            /// Look at it.
            Warning = "WARNING",
            /// Act now.
            Critical = "CRITICAL",
        }
    }
    vocabulary! {
        /// How often the situation changed recently: `CONSTANT < VARIABLE < VOLATILE`.
        pub enum Variability as "Situations variability" {
            /// Settled.
            Constant = "CONSTANT",
            /// Changing now and then.
            Variable = "VARIABLE",
            /// Changing all the time.
            Volatile = "VOLATILE",
        }
    }

    /// The Situations dimension is its variability.
    pub type Dimension = Variability;
}

/// Outcomes: how something ended.
pub mod outcomes {
    use super::vocabulary;
    vocabulary! {
        /// How it ended.
        pub enum Sign as "Outcomes sign" {
            /// It worked.
            Success = "SUCCESS",
            /// It did not.
            Fail = "FAIL",
            /// Nobody knows.
            Unknown = "UNKNOWN",
        }
    }
}

/// Actors: speech acts between humans and machines.
pub mod actors {
    use super::vocabulary;
    vocabulary! {
        /// The speech act.
        pub enum Sign as "Actors sign" {
            /// Ask a question.
            Ask = "ASK",
            /// State something as true.
            Affirm = "AFFIRM",
            /// Give reasons.
            Explain = "EXPLAIN",
            /// Report findings.
            Report = "REPORT",
            /// Ask for an action.
            Request = "REQUEST",
            /// Order an action.
            Command = "COMMAND",
            /// Confirm receipt.
            Acknowledge = "ACKNOWLEDGE",
            /// Refuse.
            Deny = "DENY",
            /// Make clearer.
            Clarify = "CLARIFY",
            /// Commit to an action.
            Promise = "PROMISE",
            /// Hand over the result.
            Deliver = "DELIVER",
        }
    }
}

/// Agents: promises between autonomous parts.
pub mod agents {
    use super::vocabulary;
    vocabulary! {
        /// What happened to a promise.
        pub enum Sign as "Agents sign" {
            /// Offered.
            Offer = "OFFER",
            /// Promised.
            Promise = "PROMISE",
            /// Accepted.
            Accept = "ACCEPT",
            /// Kept.
            Fulfill = "FULFILL",
            /// Withdrawn.
            Retract = "RETRACT",
            /// Broken.
            Breach = "BREACH",
            /// Asked about.
            Inquire = "INQUIRE",
            /// Watched.
            Observe = "OBSERVE",
            /// Relied on.
            Depend = "DEPEND",
            /// Checked.
            Validate = "VALIDATE",
        }
    }
    vocabulary! {
        /// The subject's side of the promise.
        pub enum Dimension as "Agents dimension" {
            /// The one promising.
            Promiser = "PROMISER",
            /// The one promised to.
            Promisee = "PROMISEE",
        }
    }
}
