//! What a signal says: an [`Instrument`] and, carried inside it, that instrument's own sign
//! and dimension ([`SignalKind`]).
//!
//! Each instrument's signs are a separate Rust enum, and [`SignalKind`] has one variant per
//! instrument holding exactly the types that instrument allows, so a combination that the
//! vocabulary forbids (a Queues `FAIL`, a Probes signal without a direction, a Statuses
//! signal without a confidence) cannot be built. Text is only turned into a `SignalKind`
//! through [`SignalKind::from_parts`] / `FromStr`, which check the same rules.

use std::{fmt, str::FromStr};

use crate::{
    instruments::{
        breakers, caches, counters, gauges, guards, leases, members, messages, probes, queues,
        resources, routers, sensors, services,
    },
    languages::{actors, agents, outcomes, situations, statuses, systems, trends},
    names::{UnknownName, list, vocabulary},
};

vocabulary! {
    /// The instruments and universal languages of `docs/vocabulary.md`, by canonical name.
    /// Singular forms parse too (`Queue`), as do the seed's `Monitors` (now Statuses) and
    /// `Reporters` (now Situations).
    pub enum Instrument as "instrument" {
        /// Items entering and leaving a bounded buffer.
        Queues = "Queues" | "Queue",
        /// Monotonic counts.
        Counters = "Counters" | "Counter",
        /// Values that go up and down.
        Gauges = "Gauges" | "Gauge",
        /// A measurement judged against a reference.
        Sensors = "Sensors" | "Sensor",
        /// Communication attempts.
        Probes = "Probes" | "Probe",
        /// Service calls.
        Services = "Services" | "Service",
        /// Limited capacity.
        Resources = "Resources" | "Resource",
        /// Message delivery.
        Messages = "Messages" | "Message",
        /// Group membership.
        Members = "Members" | "Member",
        /// Access control.
        Guards = "Guards" | "Guard",
        /// Cache lookups.
        Caches = "Caches" | "Cache",
        /// Packet routing.
        Routers = "Routers" | "Router",
        /// Circuit breakers.
        Breakers = "Breakers" | "Breaker",
        /// Time-bounded ownership.
        Leases = "Leases" | "Lease",
        /// Verdicts on a subject's condition (formerly Monitors).
        Statuses = "Statuses" | "Status" | "Monitors" | "Monitor",
        /// A resource against its limits.
        Systems = "Systems" | "System",
        /// The shape of a series.
        Trends = "Trends" | "Trend",
        /// Urgency for humans (formerly Reporters).
        Situations = "Situations" | "Situation" | "Reporters" | "Reporter",
        /// How something ended.
        Outcomes = "Outcomes" | "Outcome",
        /// Speech acts.
        Actors = "Actors" | "Actor",
        /// Promises.
        Agents = "Agents" | "Agent",
    }
}

/// A combination of instrument, sign and dimension that the vocabulary does not allow, or a
/// name it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VocabError {
    /// An instrument, sign or dimension name that is not in the vocabulary.
    #[error(transparent)]
    Unknown(#[from] UnknownName),
    /// The instrument needs a dimension and none was given.
    #[error("{instrument} signals need a dimension, one of: {expected}")]
    MissingDimension {
        /// The instrument.
        instrument: Instrument,
        /// Its dimension names, comma separated.
        expected: String,
    },
    /// The instrument has no dimension but one was given.
    #[error("{instrument} signals have no dimension, but `{dimension}` was given")]
    UnexpectedDimension {
        /// The instrument.
        instrument: Instrument,
        /// The dimension text that was given.
        dimension: String,
    },
    /// Not of the form `Instrument.SIGN` or `Instrument.SIGN.DIMENSION`.
    #[error(
        "`{text}` is not a signal type; expected `Instrument.SIGN` or \
         `Instrument.SIGN.DIMENSION`, e.g. `Queues.OVERFLOW` or `Probes.FAIL.OUTBOUND`"
    )]
    Malformed {
        /// The text that was given.
        text: String,
    },
}

/// How loudly a signal should be logged: the OTLP severity of its log record.
///
/// Only verdicts (Statuses, Situations) reach `Error`; instruments and the other languages
/// report what they witnessed at `Info` or, for signs that usually mean trouble, `Warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Business as usual.
    Info,
    /// Worth a look.
    Warn,
    /// Something is broken.
    Error,
}

impl Severity {
    /// `"INFO"`, `"WARN"` or `"ERROR"`, as OTLP's `severity_text`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

/// `Self::$variant(sign)` or `Self::$variant(sign, dim)`, as a pattern.
macro_rules! kind_pattern {
    ($variant:ident, $sign:ident, $dim:ident) => {
        SignalKind::$variant($sign)
    };
    ($variant:ident, $sign:ident, $dim:ident, $has:ident) => {
        SignalKind::$variant($sign, $dim)
    };
}

/// The dimension's name, or `None` for instruments without one.
macro_rules! kind_dimension {
    ($dim:ident) => {
        None
    };
    ($dim:ident, $has:ident) => {
        Some($dim.as_str())
    };
}

/// Builds the variant from a parsed sign and the dimension text, checking presence.
macro_rules! kind_build {
    ($variant:ident, $module:ident, $sign:ident, $dimension:ident) => {
        match $dimension.map(str::trim).filter(|d| !d.is_empty()) {
            None => Ok(SignalKind::$variant($sign)),
            Some(dimension) => Err(VocabError::UnexpectedDimension {
                instrument: Instrument::$variant,
                dimension: dimension.to_string(),
            }),
        }
    };
    ($variant:ident, $module:ident, $sign:ident, $dimension:ident, $has:ident) => {
        match $dimension.map(str::trim).filter(|d| !d.is_empty()) {
            None => Err(VocabError::MissingDimension {
                instrument: Instrument::$variant,
                expected: list($module::Dimension::NAMES),
            }),
            Some(dimension) => Ok(SignalKind::$variant(
                $sign,
                dimension.parse::<$module::Dimension>()?,
            )),
        }
    };
}

/// The dimension names of an instrument.
macro_rules! kind_dimension_names {
    ($module:ident) => {
        &[]
    };
    ($module:ident, $has:ident) => {
        $module::Dimension::NAMES
    };
}

macro_rules! signal_kinds {
    ($( $(#[$meta:meta])* $variant:ident($module:ident $(, $has:ident)?) ),+ $(,)?) => {
        /// An instrument with its sign and, for instruments that have one, its dimension.
        ///
        /// Only combinations the vocabulary allows can be expressed. `Display` and `FromStr`
        /// use `Instrument.SIGN[.DIMENSION]`, e.g. `Queues.OVERFLOW`, `Probes.FAIL.OUTBOUND`,
        /// `Statuses.DEGRADED.CONFIRMED`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SignalKind {
            $( $(#[$meta])* $variant($module::Sign $(, $module::$has)?) ),+
        }

        impl SignalKind {
            /// The instrument (or universal language).
            pub const fn instrument(&self) -> Instrument {
                match self {
                    $( Self::$variant(..) => Instrument::$variant ),+
                }
            }

            /// The sign's canonical name, e.g. `"OVERFLOW"`.
            pub const fn sign_str(&self) -> &'static str {
                match self {
                    $( Self::$variant(sign, ..) => sign.as_str() ),+
                }
            }

            /// The dimension's canonical name, e.g. `"OUTBOUND"`; `None` for instruments
            /// without a dimension.
            pub const fn dimension_str(&self) -> Option<&'static str> {
                match *self {
                    $( kind_pattern!($variant, _sign, dim $(, $has)?) =>
                        kind_dimension!(dim $(, $has)?) ),+
                }
            }

            /// Builds a kind from names, checking that the sign belongs to the instrument and
            /// that the dimension is given exactly when the instrument has one. Names are
            /// matched ignoring case, with the aliases of `docs/vocabulary.md`'s mapping table.
            /// An empty or blank `dimension` counts as none.
            pub fn from_parts(
                instrument: Instrument,
                sign: &str,
                dimension: Option<&str>,
            ) -> Result<Self, VocabError> {
                match instrument {
                    $( Instrument::$variant => {
                        let sign = sign.parse::<$module::Sign>()?;
                        kind_build!($variant, $module, sign, dimension $(, $has)?)
                    } ),+
                }
            }
        }

        impl Instrument {
            /// The canonical names of this instrument's signs.
            pub const fn sign_names(self) -> &'static [&'static str] {
                match self {
                    $( Self::$variant => $module::Sign::NAMES ),+
                }
            }

            /// The canonical names of this instrument's dimension values; empty if it has
            /// no dimension.
            pub const fn dimension_names(self) -> &'static [&'static str] {
                match self {
                    $( Self::$variant => kind_dimension_names!($module $(, $has)?) ),+
                }
            }
        }
    };
}

signal_kinds! {
    /// Queues: ENQUEUE, DEQUEUE, OVERFLOW, UNDERFLOW.
    Queues(queues),
    /// Counters: INCREMENT, OVERFLOW, RESET.
    Counters(counters),
    /// Gauges: INCREMENT, DECREMENT, OVERFLOW, UNDERFLOW, RESET.
    Gauges(gauges),
    /// Sensors: BELOW, NOMINAL, ABOVE × BASELINE, THRESHOLD, TARGET.
    Sensors(sensors, Dimension),
    /// Probes: CONNECT ... FAIL × OUTBOUND, INBOUND.
    Probes(probes, Dimension),
    /// Services: START ... DISCONNECT × CALLER, CALLEE.
    Services(services, Dimension),
    /// Resources: ATTEMPT, ACQUIRE, GRANT, DENY, TIMEOUT, RELEASE.
    Resources(resources),
    /// Messages: PUBLISH ... EXPIRE × PRODUCER, BROKER, CONSUMER.
    Messages(messages, Dimension),
    /// Members: JOIN ... RESIGN × SELF, PEER.
    Members(members, Dimension),
    /// Guards: ATTEMPT, CHALLENGE, GRANT, DENY × IDENTITY, PERMISSION.
    Guards(guards, Dimension),
    /// Caches: LOOKUP, HIT, MISS, STORE, EVICT, EXPIRE, REMOVE.
    Caches(caches),
    /// Routers: SEND ... REORDER.
    Routers(routers),
    /// Breakers: CLOSE, OPEN, HALF_OPEN, TRIP, PROBE, RESET.
    Breakers(breakers),
    /// Leases: ACQUIRE ... PROBE × LESSOR, LESSEE.
    Leases(leases, Dimension),
    /// Statuses: STABLE ... DOWN × TENTATIVE, MEASURED, CONFIRMED.
    Statuses(statuses, Dimension),
    /// Systems: NORMAL, LIMIT, ALARM, FAULT × SPACE, FLOW, LINK, TIME.
    Systems(systems, Dimension),
    /// Trends: STABLE, DRIFT, SPIKE, CYCLE, CHAOS.
    Trends(trends),
    /// Situations: NORMAL, WARNING, CRITICAL × CONSTANT, VARIABLE, VOLATILE.
    Situations(situations, Dimension),
    /// Outcomes: SUCCESS, FAIL, UNKNOWN.
    Outcomes(outcomes),
    /// Actors: ASK ... DELIVER.
    Actors(actors),
    /// Agents: OFFER ... VALIDATE × PROMISER, PROMISEE.
    Agents(agents, Dimension),
}

impl Instrument {
    /// True for the universal languages (Statuses, Systems, Trends, Situations, Outcomes,
    /// Actors, Agents): what subscribers derive rather than what was witnessed.
    pub const fn is_language(self) -> bool {
        matches!(
            self,
            Self::Statuses
                | Self::Systems
                | Self::Trends
                | Self::Situations
                | Self::Outcomes
                | Self::Actors
                | Self::Agents
        )
    }

    /// True if signals of this instrument carry a dimension.
    pub const fn has_dimension(self) -> bool {
        !self.dimension_names().is_empty()
    }
}

impl SignalKind {
    /// Every combination the vocabulary allows, instrument by instrument.
    pub fn all() -> Vec<Self> {
        let mut kinds = Vec::new();
        for &instrument in Instrument::ALL {
            for sign in instrument.sign_names() {
                let dimensions = instrument.dimension_names();
                if dimensions.is_empty() {
                    kinds.extend(Self::from_parts(instrument, sign, None));
                } else {
                    for dimension in dimensions {
                        kinds.extend(Self::from_parts(instrument, sign, Some(dimension)));
                    }
                }
            }
        }
        kinds
    }

    /// The seed's `signal_type`: `Instrument.SIGN` without the dimension, e.g.
    /// `Queues.OVERFLOW`.
    pub fn signal_type(&self) -> String {
        format!("{}.{}", self.instrument().as_str(), self.sign_str())
    }

    /// The status and confidence, if this is a Statuses signal.
    pub const fn status(&self) -> Option<(statuses::Sign, statuses::Confidence)> {
        match *self {
            Self::Statuses(sign, confidence) => Some((sign, confidence)),
            _ => None,
        }
    }

    /// The default status reading of this sign, the canonical per-sign readings of
    /// `docs/vocabulary.md` that Observers start from:
    ///
    /// | signal | status |
    /// |---|---|
    /// | Queues OVERFLOW | DEGRADED |
    /// | Probes FAIL / SUCCEED | DEGRADED / STABLE |
    /// | Services FAIL, EXPIRE, REJECT / SUCCESS | DEGRADED / STABLE |
    /// | Resources DENY, TIMEOUT / GRANT | DEGRADED / STABLE |
    /// | Messages NACK / EXHAUST | DEGRADED / DEFECTIVE |
    /// | Breakers OPEN | DEFECTIVE |
    /// | Statuses X | X itself |
    ///
    /// Every other sign has no default reading (`None`): it says nothing about health alone.
    pub const fn default_status(&self) -> Option<statuses::Sign> {
        use statuses::Sign as S;
        match *self {
            Self::Queues(queues::Sign::Overflow) => Some(S::Degraded),
            Self::Probes(probes::Sign::Fail, _) => Some(S::Degraded),
            Self::Probes(probes::Sign::Succeed, _) => Some(S::Stable),
            Self::Services(
                services::Sign::Fail | services::Sign::Expire | services::Sign::Reject,
                _,
            ) => Some(S::Degraded),
            Self::Services(services::Sign::Success, _) => Some(S::Stable),
            Self::Resources(resources::Sign::Deny | resources::Sign::Timeout) => Some(S::Degraded),
            Self::Resources(resources::Sign::Grant) => Some(S::Stable),
            Self::Messages(messages::Sign::Nack, _) => Some(S::Degraded),
            Self::Messages(messages::Sign::Exhaust, _) => Some(S::Defective),
            Self::Breakers(breakers::Sign::Open) => Some(S::Defective),
            Self::Statuses(sign, _) => Some(sign),
            _ => None,
        }
    }

    /// How loudly to log this signal (the OTLP severity of its record):
    ///
    /// - Statuses: STABLE, CONVERGING `Info`; DIVERGING, ERRATIC, DEGRADED `Warn`;
    ///   DEFECTIVE, DOWN `Error`. Situations: NORMAL `Info`, WARNING `Warn`, CRITICAL `Error`.
    /// - Everything else is `Warn` for signs that usually mean trouble (an overflow, a
    ///   failure, a denial, a drop, an open breaker, a limit, a breach ...) and `Info`
    ///   otherwise.
    pub const fn severity(&self) -> Severity {
        use Severity::{Error, Info, Warn};
        let warn = match *self {
            Self::Statuses(sign, _) => {
                return match sign {
                    statuses::Sign::Stable | statuses::Sign::Converging => Info,
                    statuses::Sign::Diverging
                    | statuses::Sign::Erratic
                    | statuses::Sign::Degraded => Warn,
                    statuses::Sign::Defective | statuses::Sign::Down => Error,
                };
            }
            Self::Situations(sign, _) => {
                return match sign {
                    situations::Sign::Normal => Info,
                    situations::Sign::Warning => Warn,
                    situations::Sign::Critical => Error,
                };
            }
            Self::Queues(sign) => matches!(sign, queues::Sign::Overflow),
            Self::Counters(sign) => {
                matches!(sign, counters::Sign::Overflow | counters::Sign::Reset)
            }
            Self::Gauges(sign) => matches!(sign, gauges::Sign::Overflow | gauges::Sign::Underflow),
            Self::Sensors(sign, _) => !matches!(sign, sensors::Sign::Nominal),
            Self::Probes(sign, _) => matches!(sign, probes::Sign::Fail | probes::Sign::Disconnect),
            Self::Services(sign, _) => matches!(
                sign,
                services::Sign::Fail
                    | services::Sign::Expire
                    | services::Sign::Reject
                    | services::Sign::Discard
                    | services::Sign::Retry
                    | services::Sign::Recourse
                    | services::Sign::Delay
                    | services::Sign::Disconnect
            ),
            Self::Resources(sign) => {
                matches!(sign, resources::Sign::Deny | resources::Sign::Timeout)
            }
            Self::Messages(sign, _) => matches!(
                sign,
                messages::Sign::Nack
                    | messages::Sign::Exhaust
                    | messages::Sign::Expire
                    | messages::Sign::Redeliver
            ),
            Self::Members(sign, _) => matches!(sign, members::Sign::Suspect | members::Sign::Evict),
            Self::Guards(sign, _) => matches!(sign, guards::Sign::Deny),
            Self::Caches(_) => false,
            Self::Routers(sign) => matches!(
                sign,
                routers::Sign::Drop | routers::Sign::Corrupt | routers::Sign::Reorder
            ),
            Self::Breakers(sign) => matches!(
                sign,
                breakers::Sign::Open | breakers::Sign::HalfOpen | breakers::Sign::Trip
            ),
            Self::Leases(sign, _) => matches!(
                sign,
                leases::Sign::Deny | leases::Sign::Expire | leases::Sign::Revoke
            ),
            Self::Systems(sign, _) => !matches!(sign, systems::Sign::Normal),
            Self::Trends(sign) => matches!(
                sign,
                trends::Sign::Drift | trends::Sign::Spike | trends::Sign::Chaos
            ),
            Self::Outcomes(sign) => matches!(sign, outcomes::Sign::Fail),
            Self::Actors(_) => false,
            Self::Agents(sign, _) => matches!(sign, agents::Sign::Breach | agents::Sign::Retract),
        };
        if warn { Warn } else { Info }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.instrument(), self.sign_str())?;
        if let Some(dimension) = self.dimension_str() {
            write!(f, ".{dimension}")?;
        }
        Ok(())
    }
}

impl FromStr for SignalKind {
    type Err = VocabError;

    /// Parses `Instrument.SIGN` or `Instrument.SIGN.DIMENSION`, ignoring case and accepting
    /// the seed's names where they are unambiguous (`Monitor.DEGRADED.HIGH`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || VocabError::Malformed {
            text: text.to_string(),
        };
        let mut parts = text.trim().split('.');
        let instrument = parts.next().ok_or_else(malformed)?;
        let sign = parts.next().ok_or_else(malformed)?;
        let dimension = parts.next();
        if parts.next().is_some() || instrument.is_empty() || sign.is_empty() {
            return Err(malformed());
        }
        Self::from_parts(instrument.parse()?, sign, dimension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statuses::{Confidence, Sign as Status};

    fn parse(text: &str) -> Result<SignalKind, VocabError> {
        text.parse()
    }

    #[test]
    fn canonical_names_display_and_parse() {
        assert_eq!(
            parse("Queues.OVERFLOW"),
            Ok(SignalKind::Queues(queues::Sign::Overflow))
        );
        assert_eq!(
            parse("Probes.FAIL.OUTBOUND").map(|k| k.to_string()),
            Ok("Probes.FAIL.OUTBOUND".to_string())
        );
        assert_eq!(
            parse("breakers.half-open"),
            Ok(SignalKind::Breakers(breakers::Sign::HalfOpen))
        );
        assert_eq!(
            parse("Members.JOIN.SELF").map(|k| k.dimension_str()),
            Ok(Some("SELF"))
        );
        assert_eq!(Instrument::Queues.as_str(), "Queues");
        assert_eq!(queues::Sign::Overflow.as_str(), "OVERFLOW");
        assert_eq!(format!("{:>10}", queues::Sign::Overflow), "  OVERFLOW");
    }

    #[test]
    fn seed_names_map_where_unambiguous() {
        assert_eq!(
            parse("Monitor.DEGRADED.HIGH"),
            Ok(SignalKind::Statuses(
                Status::Degraded,
                Confidence::Confirmed
            ))
        );
        assert_eq!(
            parse("monitors.diverging.medium"),
            Ok(SignalKind::Statuses(
                Status::Diverging,
                Confidence::Measured
            ))
        );
        assert_eq!(
            parse("Monitors.STABLE.LOW"),
            Ok(SignalKind::Statuses(Status::Stable, Confidence::Tentative))
        );
        assert_eq!(
            parse("Reporters.CRITICAL.CONSTANT"),
            Ok(SignalKind::Situations(
                situations::Sign::Critical,
                situations::Variability::Constant
            ))
        );
        assert_eq!(
            parse("Probe.FAILURE.OUTBOUND"),
            Ok(SignalKind::Probes(
                probes::Sign::Fail,
                probes::Dimension::Outbound
            ))
        );
        assert_eq!(
            parse("Service.SUCCEEDED.CALLER"),
            Ok(SignalKind::Services(
                services::Sign::Success,
                services::Dimension::Caller
            ))
        );
        assert_eq!(
            parse("Queue.PUT"),
            Ok(SignalKind::Queues(queues::Sign::Enqueue))
        );
        // PRESSURE means LIMIT × SPACE or Sensors ABOVE: ambiguous, so not accepted.
        assert!(matches!(
            parse("Queue.PRESSURE"),
            Err(VocabError::Unknown(_))
        ));
        // Gauge.SET is a value, not a sign.
        assert!(matches!(parse("Gauge.SET"), Err(VocabError::Unknown(_))));
    }

    #[test]
    fn forbidden_combinations_are_errors() {
        assert!(matches!(parse("Queues.FAIL"), Err(VocabError::Unknown(_))));
        assert!(matches!(
            parse("Probes.FAIL"),
            Err(VocabError::MissingDimension { .. })
        ));
        assert!(matches!(
            parse("Statuses.DEGRADED"),
            Err(VocabError::MissingDimension { .. })
        ));
        assert!(matches!(
            parse("Queues.OVERFLOW.OUTBOUND"),
            Err(VocabError::UnexpectedDimension { .. })
        ));
        assert!(matches!(
            parse("Probes.FAIL.CALLER"),
            Err(VocabError::Unknown(_))
        ));
        for bad in ["", "Queues", "Queues.", ".OVERFLOW", "a.b.c.d"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let message = parse("Queues.FAIL").map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err(
                "`FAIL` is not a Queues sign; expected one of: ENQUEUE, DEQUEUE, OVERFLOW, \
                 UNDERFLOW"
                    .to_string()
            )
        );
    }

    #[test]
    fn every_combination_is_enumerated_once() {
        let all = SignalKind::all();
        let expected: usize = Instrument::ALL
            .iter()
            .map(|i| i.sign_names().len() * i.dimension_names().len().max(1))
            .sum();
        assert_eq!(all.len(), expected);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        assert_eq!(Instrument::ALL.len(), 21);
        assert_eq!(
            Instrument::ALL.iter().filter(|i| i.is_language()).count(),
            7
        );
    }

    #[test]
    fn default_status_readings_follow_serventis() {
        let reading = |text: &str| parse(text).ok().and_then(|k| k.default_status());
        assert_eq!(reading("Queues.OVERFLOW"), Some(Status::Degraded));
        assert_eq!(reading("Queues.ENQUEUE"), None);
        assert_eq!(reading("Probes.FAIL.OUTBOUND"), Some(Status::Degraded));
        assert_eq!(reading("Probes.SUCCEED.INBOUND"), Some(Status::Stable));
        for sign in ["FAIL", "EXPIRE", "REJECT"] {
            assert_eq!(
                reading(&format!("Services.{sign}.CALLER")),
                Some(Status::Degraded)
            );
        }
        assert_eq!(reading("Services.SUCCESS.CALLEE"), Some(Status::Stable));
        assert_eq!(reading("Services.RETRY.CALLER"), None);
        assert_eq!(reading("Resources.DENY"), Some(Status::Degraded));
        assert_eq!(reading("Resources.TIMEOUT"), Some(Status::Degraded));
        assert_eq!(reading("Resources.GRANT"), Some(Status::Stable));
        assert_eq!(reading("Messages.NACK.CONSUMER"), Some(Status::Degraded));
        assert_eq!(
            reading("Messages.EXHAUST.CONSUMER"),
            Some(Status::Defective)
        );
        assert_eq!(reading("Breakers.OPEN"), Some(Status::Defective));
        assert_eq!(reading("Statuses.ERRATIC.MEASURED"), Some(Status::Erratic));
    }

    #[test]
    fn only_verdicts_are_errors() {
        for kind in SignalKind::all() {
            let verdict = matches!(
                kind.instrument(),
                Instrument::Statuses | Instrument::Situations
            );
            assert!(
                verdict || kind.severity() <= Severity::Warn,
                "{kind} should be at most WARN"
            );
        }
        assert_eq!(
            parse("Queues.OVERFLOW").map(|k| k.severity()),
            Ok(Severity::Warn)
        );
        assert_eq!(
            parse("Queues.ENQUEUE").map(|k| k.severity()),
            Ok(Severity::Info)
        );
        assert_eq!(
            parse("Situations.CRITICAL.VOLATILE").map(|k| k.severity()),
            Ok(Severity::Error)
        );
    }
}
