//! The [`Signal`]: one thing witnessed or judged about one subject, with the evidence that
//! lets a human check it. `subject × instrument × sign [× dimension] + evidence`, plus when,
//! from whom, and in which position of its source's stream.

use std::{collections::BTreeMap, fmt};

use crate::{
    kind::{Severity, SignalKind},
    languages::statuses,
    subject::Subject,
};

/// The numbers and the rule that produced a signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Named values the rule looked at, e.g. `utilization = 0.97`. Keep them finite: NaN
    /// means "no reading" and never produces a signal.
    pub values: BTreeMap<String, f64>,
    /// The threshold the rule compared against, if any.
    pub threshold: Option<f64>,
    /// The rule's id, e.g. `P1`, or a user rule's name.
    pub rule: String,
}

impl Evidence {
    /// Evidence from rule `rule`, with no values yet.
    pub fn rule(rule: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            ..Self::default()
        }
    }

    /// Adds (or replaces) a named value.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Sets the threshold.
    #[must_use]
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

/// An evidence value (or any measured number) as people read it: `33.3`, not
/// `33.333333333333336`. The one rule for numbers shown to people: signal log bodies
/// ([`Signal::describe`]), incident explanations (the alert text), the demo's terminal, and
/// the web view, whose JavaScript `fmtValue` (central/src/page.html) mirrors it. Data (OTLP
/// attributes, the JSON API, protobuf) keeps the exact `f64`.
///
/// The rule, by magnitude once rounded:
///
/// - whole numbers below 10^15 in full, without decimals: `10000`, `123456789`, `-3`;
/// - otherwise three significant digits, trailing zeros dropped, but never fewer digits than
///   the integer part has: `33.3`, `0.97`, `0.95` (for `0.9500000001`), `0.0012`, `-1.23`,
///   `123` (for `123.456`), `123457` (for `123456.7`), `100` (for `99.96`);
/// - scientific notation with three significant digits below 0.001 and from 10^15 on:
///   `1e-7`, `2.35e-5`, `1.5e15`;
/// - zero is `0` (never `-0`); NaN is `NaN`; infinities are `infinity` and `-infinity`.
///
/// Rounding is to the nearest, ties to even, as Rust's own formatting rounds. Width and
/// alignment flags apply to the whole text (`{:>8}`).
///
/// ```
/// use kafka_obs_signal::Rounded;
/// assert_eq!(Rounded(33.333_333_333_333_336).to_string(), "33.3");
/// assert_eq!(format!("lag={}", Rounded(12000.0)), "lag=12000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounded(pub f64);

impl Rounded {
    /// Significant digits kept for numbers that are not whole.
    const DIGITS: i32 = 3;
    /// From 10 to this power on, numbers are written in scientific notation.
    const LARGE_EXP: i32 = 15;
    /// Whole numbers below this are written in full.
    const LARGE: f64 = 1e15;
    /// Below this magnitude, numbers are written in scientific notation.
    const SMALL_EXP: i32 = -3;
}

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() {
            return f.pad("NaN");
        }
        if x.is_infinite() {
            return f.pad(if x > 0.0 { "infinity" } else { "-infinity" });
        }
        if x == 0.0 {
            return f.pad("0");
        }
        if x.fract() == 0.0 && x.abs() < Self::LARGE {
            return f.pad(&format!("{x:.0}"));
        }
        // The exponent after rounding to DIGITS significant digits (99.96 -> 1.00e2).
        let scientific = format!("{x:.*e}", (Self::DIGITS - 1) as usize);
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let text = if !(Self::SMALL_EXP..Self::LARGE_EXP).contains(&exponent) {
            format!("{}e{exponent}", trim_zeros(mantissa))
        } else if exponent >= Self::DIGITS - 1 {
            format!("{x:.0}")
        } else {
            let decimals = (Self::DIGITS - 1 - exponent) as usize;
            trim_zeros(&format!("{x:.decimals$}")).to_string()
        };
        f.pad(&text)
    }
}

/// `1.50` -> `1.5`, `2.00` -> `2`; text without a decimal point is left alone.
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// One signal. Every field is public and every combination of values is valid: the types of
/// [`SignalKind`] and [`Subject`] already rule out what the vocabulary forbids.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Which thing it is about.
    pub subject: Subject,
    /// Instrument, sign and dimension: what was witnessed or judged.
    pub kind: SignalKind,
    /// The numbers and rule behind it.
    pub evidence: Evidence,
    /// When, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Who emitted it (the collector or sidecar instance), e.g. `order-service-pod-abc123`.
    pub source_id: String,
    /// Position in the source's stream; set by whoever ships it, 0 until then.
    pub sequence: u64,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Signal {
    /// A signal with no source, sequence 0 and no attributes.
    pub fn new(
        subject: Subject,
        kind: SignalKind,
        evidence: Evidence,
        time_unix_nano: u64,
    ) -> Self {
        Self {
            subject,
            kind,
            evidence,
            time_unix_nano,
            source_id: String::new(),
            sequence: 0,
            attributes: BTreeMap::new(),
        }
    }

    /// Sets the source id.
    #[must_use]
    pub fn from_source(mut self, source_id: impl Into<String>) -> Self {
        self.source_id = source_id.into();
        self
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The status and confidence, if this is a Statuses signal.
    pub fn status(&self) -> Option<(statuses::Sign, statuses::Confidence)> {
        self.kind.status()
    }

    /// How loudly to log it; see [`SignalKind::severity`].
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

#[cfg(test)]
mod tests {
    use super::Rounded;

    fn shown(x: f64) -> String {
        Rounded(x).to_string()
    }

    #[test]
    fn whole_numbers_have_no_decimals() {
        for (x, text) in [
            (1.0, "1"),
            (10000.0, "10000"),
            (33_554_432.0, "33554432"),
            (123_456_789.0, "123456789"),
            (-3.0, "-3"),
            (-123_456_789.0, "-123456789"),
            (999_999_999_999_999.0, "999999999999999"),
        ] {
            assert_eq!(shown(x), text, "{x:?}");
        }
    }

    #[test]
    fn fractions_keep_three_significant_digits() {
        for (x, text) in [
            (33.333_333_333_333_336, "33.3"),
            (-33.333_333_333_333_336, "-33.3"),
            (0.950_000_000_1, "0.95"),
            (0.97, "0.97"),
            (0.1 + 0.2, "0.3"),
            (1.5, "1.5"),
            (2.0 / 3.0, "0.667"),
            (-2.0 / 3.0, "-0.667"),
            (1.234_56, "1.23"),
            (0.0012, "0.0012"),
            (0.001_234_5, "0.00123"),
            (-0.0012, "-0.0012"),
            (0.001, "0.001"),
        ] {
            assert_eq!(shown(x), text, "{x:?}");
        }
    }

    #[test]
    fn the_integer_part_is_never_rounded_away() {
        for (x, text) in [
            (123.456, "123"),
            (123_456.7, "123457"),
            (-123_456.7, "-123457"),
            (100.5, "100"),
            (101.5, "102"),
        ] {
            assert_eq!(shown(x), text, "{x:?}");
        }
    }

    #[test]
    fn rounding_up_to_the_next_power_of_ten_reads_as_that_power() {
        for (x, text) in [
            (99.96, "100"),
            (9.9996, "10"),
            (0.999_96, "1"),
            (-0.999_96, "-1"),
            (0.000_999_96, "0.001"),
        ] {
            assert_eq!(shown(x), text, "{x:?}");
        }
    }

    #[test]
    fn tiny_and_huge_numbers_are_scientific() {
        for (x, text) in [
            (1e-7, "1e-7"),
            (-1e-7, "-1e-7"),
            (0.000_234_56, "2.35e-4"),
            (0.000_999_4, "9.99e-4"),
            (f64::MIN_POSITIVE, "2.23e-308"),
            (1e15, "1e15"),
            (1.5e15, "1.5e15"),
            (999_999_999_999_999.9, "1e15"),
            (123_456_789_012_345_680.0, "1.23e17"),
            (-2.5e20, "-2.5e20"),
            (f64::MAX, "1.8e308"),
        ] {
            assert_eq!(shown(x), text, "{x:?}");
        }
    }

    #[test]
    fn zero_has_no_sign_and_the_rest_are_words() {
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(-0.0), "0");
        assert_eq!(shown(f64::NAN), "NaN");
        assert_eq!(shown(f64::INFINITY), "infinity");
        assert_eq!(shown(f64::NEG_INFINITY), "-infinity");
    }

    #[test]
    fn width_and_alignment_apply_to_the_text() {
        assert_eq!(format!("[{:>6}]", Rounded(33.333)), "[  33.3]");
        assert_eq!(format!("[{:<6}]", Rounded(-0.0)), "[0     ]");
    }
}
