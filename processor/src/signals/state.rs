//! The small pieces of per-series state every rule is built from: series identity hashes,
//! the verdict [`Tracker`] (change-of-state emission and confidence from agreement), the
//! hysteresis [`ladder`], and [`CounterState`] (increments versus resets).
//!
//! All of it is plain data sized for millions of series: a tracker is 24 bytes, a counter 8.
//!
//! **Series identity.** A series is (resource, metric, data-point attributes). The engine
//! keys its state by a 64-bit hash of the resource attributes and of the point attributes
//! (each an order-independent sum of per-pair hashes, so attribute order does not matter),
//! mixed with the rule that reads it. Two different series would have to collide on 64 bits
//! to share state (about 3 in 10^8 with a million series tracked).

use std::hash::{BuildHasherDefault, Hasher};

use kafka_obs_signal::{SignalKind, statuses};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

use super::config::ConfidenceConfig;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Murmur3's finalizer: spreads every input bit over the output.
pub(crate) fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A fast hash of bytes (FxHash-style over 8-byte words, then [`fmix`]).
pub(crate) fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(SEED);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(SEED);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(SEED);
    }
    fmix(h)
}

pub(crate) fn hash_str(s: &str) -> u64 {
    hash_bytes(s.as_bytes(), 0)
}

/// The hash of one attribute value; `None` for values that are not names (arrays, maps).
fn hash_value(v: &Option<AnyValue>) -> u64 {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => hash_bytes(s.as_bytes(), 1),
        Some(Value::IntValue(i)) => fmix((*i as u64) ^ 2),
        Some(Value::BoolValue(b)) => fmix(u64::from(*b) ^ 3),
        Some(Value::DoubleValue(d)) => fmix(d.to_bits() ^ 4),
        Some(Value::BytesValue(b)) => hash_bytes(b, 5),
        Some(_) | None => 6,
    }
}

/// The hash of one `key = value` pair.
pub(crate) fn hash_kv(kv: &KeyValue) -> u64 {
    fmix(hash_str(&kv.key) ^ hash_value(&kv.value).rotate_left(29))
}

/// The order-independent hash of a set of attributes.
pub(crate) fn hash_attrs(attrs: &[KeyValue]) -> u64 {
    attrs.iter().map(hash_kv).fold(0u64, u64::wrapping_add)
}

/// The order-independent hash of the attributes whose keys are in `keys`.
pub(crate) fn hash_attrs_subset(attrs: &[KeyValue], keys: &[&str]) -> u64 {
    attrs
        .iter()
        .filter(|kv| keys.contains(&kv.key.as_str()))
        .map(hash_kv)
        .fold(0u64, u64::wrapping_add)
}

/// The key of one row of state: resource, attributes, and what reads it.
pub(crate) fn row_key(resource: u64, attrs: u64, reader: u64) -> u64 {
    fmix(resource ^ attrs.rotate_left(23) ^ reader.wrapping_mul(SEED).rotate_left(47))
}

/// Keys are already mixed; hashing them again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes, self.0);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;
pub(crate) type IdMap<V> = std::collections::HashMap<u64, V, IdBuild>;

/// One step of a [`Tracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// The state differs from the previous evaluation's.
    pub changed: bool,
    /// Consecutive evaluations in the current state, this one included.
    pub streak: u16,
}

/// The verdict state of one rule on one series.
///
/// State 0 is the rule's normal state and the initial one, so a healthy series says nothing
/// until something happens. A signal is emitted when the state changes, and only then: a
/// verdict whose confidence rises as polls agree is not re-sent (the rise shows in the
/// subject's status gauge and heartbeats), so a steady series stays quiet. The subject's
/// first status and heartbeats are the engine's job, not the tracker's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tracker {
    state: u8,
    streak: u16,
    /// When the current state began (ns since the epoch; 0 = never changed).
    since: u64,
}

impl Tracker {
    pub fn state(&self) -> u8 {
        self.state
    }

    /// Consecutive evaluations in the current state (0 before the first).
    pub fn streak(&self) -> u16 {
        self.streak
    }

    #[cfg(test)]
    pub fn since(&self) -> u64 {
        self.since
    }

    /// Moves to `state` at `time`.
    pub fn advance(&mut self, state: u8, time: u64) -> Step {
        let changed = state != self.state;
        if changed {
            self.state = state;
            self.streak = 1;
            self.since = time;
        } else {
            self.streak = self.streak.saturating_add(1);
        }
        Step {
            changed,
            streak: self.streak,
        }
    }

    /// Moves to `state` and returns the signal to emit, if the state changed: `kind` gets the
    /// streak (1 on a change) to compute a confidence.
    pub fn observe(
        &mut self,
        state: u8,
        time: u64,
        kind: impl FnOnce(u16) -> Option<SignalKind>,
    ) -> Option<SignalKind> {
        let step = self.advance(state, time);
        if step.changed {
            kind(step.streak)
        } else {
            None
        }
    }
}

/// A Statuses kind whose confidence is `base` raised by `streak` agreeing polls.
pub(crate) fn status_kind(
    sign: statuses::Sign,
    base: statuses::Confidence,
    streak: u16,
    agreement: &ConfidenceConfig,
) -> SignalKind {
    SignalKind::Statuses(sign, agreement.raise(base, streak))
}

/// The level of a threshold ladder with hysteresis.
///
/// `thresholds` rise; the raw level is how many of them `value` exceeds (`>`, or `>=` with
/// `inclusive`). Going up is immediate. Going down from level `L` happens only once the value
/// is at or below `t_L - band * |t_L|`: a value hovering at a threshold cannot flap. With
/// `below`, the ladder counts thresholds the value is *under* (idle-percent rules), and the
/// band mirrors: leaving needs `t_L + band * |t_L|`.
pub(crate) fn ladder(
    value: f64,
    thresholds: &[f64],
    previous: u8,
    band: f64,
    inclusive: bool,
    below: bool,
) -> u8 {
    let past = |v: f64, t: f64| {
        if below {
            if inclusive { v <= t } else { v < t }
        } else if inclusive {
            v >= t
        } else {
            v > t
        }
    };
    let raw = thresholds.iter().take_while(|t| past(value, **t)).count() as u8;
    if raw >= previous {
        return raw;
    }
    let mut level = previous.min(thresholds.len() as u8);
    while level > raw {
        let t = thresholds[usize::from(level) - 1];
        let exit = if below {
            t + band * t.abs()
        } else {
            t - band * t.abs()
        };
        let still = if below { value < exit } else { value > exit };
        if still {
            break;
        }
        level -= 1;
    }
    level
}

/// What one reading of a monotonic counter means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CounterStep {
    /// The first reading: a baseline, not an increment.
    First,
    /// Unchanged since the previous reading.
    Same,
    /// Rose by this much.
    Increase(f64),
    /// Went down: the process restarted and the counter began again. Not an increment.
    Reset { previous: f64 },
}

/// The previous reading of a counter (NaN = none yet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CounterState {
    previous: f64,
}

impl Default for CounterState {
    fn default() -> Self {
        Self { previous: f64::NAN }
    }
}

impl CounterState {
    pub fn observe(&mut self, value: f64) -> CounterStep {
        let previous = std::mem::replace(&mut self.previous, value);
        if previous.is_nan() {
            CounterStep::First
        } else if value < previous {
            CounterStep::Reset { previous }
        } else if value > previous {
            CounterStep::Increase(value - previous)
        } else {
            CounterStep::Same
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_signal::statuses::{Confidence, Sign};

    #[test]
    fn attribute_order_does_not_change_the_hash() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        };
        let a = [kv("client-id", "p"), kv("topic", "orders")];
        let b = [kv("topic", "orders"), kv("client-id", "p")];
        assert_eq!(hash_attrs(&a), hash_attrs(&b));
        assert_ne!(hash_attrs(&a), hash_attrs(&[kv("client-id", "p")]));
        assert_eq!(
            hash_attrs_subset(&a, &["client-id"]),
            hash_attrs(&[kv("client-id", "p")])
        );
        assert_ne!(hash_str("ab"), hash_str("ba"));
    }

    #[test]
    fn ladder_goes_up_at_once_and_down_only_past_the_band() {
        let t = [0.80, 0.95];
        assert_eq!(ladder(0.81, &t, 0, 0.05, false, false), 1);
        assert_eq!(ladder(0.96, &t, 1, 0.05, false, false), 2);
        // 0.95 - 5 % of 0.95 = 0.9025
        assert_eq!(ladder(0.93, &t, 2, 0.05, false, false), 2);
        assert_eq!(ladder(0.90, &t, 2, 0.05, false, false), 1);
        assert_eq!(ladder(0.50, &t, 2, 0.05, false, false), 0);
        assert_eq!(ladder(0.79, &t, 1, 0.05, false, false), 1);
        // below: idle 0.2 < 0.3 enters, 0.31 stays (exit at 0.315), 0.32 leaves
        assert_eq!(ladder(0.2, &[0.3], 0, 0.05, false, true), 1);
        assert_eq!(ladder(0.31, &[0.3], 1, 0.05, false, true), 1);
        assert_eq!(ladder(0.32, &[0.3], 1, 0.05, false, true), 0);
        // a zero threshold: above 0 enters, exactly 0 leaves
        assert_eq!(ladder(0.2, &[0.0], 0, 0.05, false, false), 1);
        assert_eq!(ladder(0.0, &[0.0], 1, 0.05, false, false), 0);
    }

    #[test]
    fn counters_tell_resets_from_increments() {
        let mut c = CounterState::default();
        assert_eq!(c.observe(10.0), CounterStep::First);
        assert_eq!(c.observe(12.0), CounterStep::Increase(2.0));
        assert_eq!(c.observe(12.0), CounterStep::Same);
        assert_eq!(c.observe(3.0), CounterStep::Reset { previous: 12.0 });
        assert_eq!(c.observe(5.0), CounterStep::Increase(2.0));
    }

    #[test]
    fn tracker_speaks_on_change_of_state_only() {
        let agreement = ConfidenceConfig::default();
        let mut t = Tracker::default();
        let kind = |state: u8, streak: u16| {
            let sign = if state == 0 {
                Sign::Stable
            } else {
                Sign::Degraded
            };
            Some(status_kind(sign, Confidence::Tentative, streak, &agreement))
        };
        assert_eq!(t.observe(0, 1, |s| kind(0, s)), None);
        assert_eq!(
            t.observe(1, 2, |s| kind(1, s)),
            Some(SignalKind::Statuses(Sign::Degraded, Confidence::Tentative))
        );
        assert_eq!(t.observe(1, 3, |s| kind(1, s)), None);
        assert_eq!(t.observe(1, 4, |s| kind(1, s)), None);
        assert_eq!(t.streak(), 3);
        assert_eq!(
            agreement.raise(Confidence::Tentative, t.streak()),
            Confidence::Confirmed
        );
        assert_eq!(t.since(), 2);
        assert_eq!(
            t.observe(0, 6, |s| kind(0, s)),
            Some(SignalKind::Statuses(Sign::Stable, Confidence::Tentative))
        );
        assert_eq!(t.observe(0, 7, |s| kind(0, s)), None);
        assert!(std::mem::size_of::<Tracker>() <= 16);
    }
}
