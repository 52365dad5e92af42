//! Timestamp layouts as the Collector's stanza reads them: `strptime` (with its `%L`, `%f`,
//! `%s` for milli-, micro- and nanoseconds), `gotime` (Go's reference-time layouts) and
//! `epoch` (`s`, `ms`, `us`, `ns`, `s.ms`, `s.us`, `s.ns`). Layouts are translated once, at
//! validation, into chrono's format; a value without a zone is read as UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

/// A compiled layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A chrono format; `zoned` when it reads an offset.
    Format {
        chrono: String,
        zoned: bool,
    },
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
    /// `s.ms`, `s.us`, `s.ns`: fractional seconds.
    FractionalSeconds,
}

impl Layout {
    /// `layout_type` is `strptime` (default), `gotime` or `epoch`.
    pub fn compile(layout_type: Option<&str>, layout: &str) -> Result<Self, String> {
        match layout_type.unwrap_or("strptime") {
            "strptime" => Ok(Self::format(strptime_to_chrono(layout))),
            "gotime" => Ok(Self::format(gotime_to_chrono(layout))),
            "epoch" => Ok(Self::Epoch(match layout {
                "s" => EpochUnit::Seconds,
                "ms" => EpochUnit::Millis,
                "us" => EpochUnit::Micros,
                "ns" => EpochUnit::Nanos,
                "s.ms" | "s.us" | "s.ns" => EpochUnit::FractionalSeconds,
                other => {
                    return Err(format!(
                        "epoch layout `{other}` is not supported; use s, ms, us, ns, s.ms, s.us or s.ns"
                    ));
                }
            })),
            other => Err(format!(
                "layout_type `{other}` is not supported; use strptime, gotime or epoch"
            )),
        }
    }

    fn format(chrono: String) -> Self {
        let zoned = chrono.contains("%z") || chrono.contains("%:z");
        Self::Format { chrono, zoned }
    }

    /// Unix nanoseconds of `value`, or why it does not fit the layout.
    pub fn parse(&self, value: &Value) -> Result<u64, String> {
        match self {
            Self::Epoch(unit) => parse_epoch(*unit, value),
            Self::Format { chrono, zoned } => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("timestamp {value} is not text"))?;
                let nanos = if *zoned {
                    // Go's `Z07:00` and RFC 3339 write UTC as `Z`, which chrono's %:z does not read.
                    let text = match text.strip_suffix('Z') {
                        Some(head) => format!("{head}+00:00"),
                        None => text.to_string(),
                    };
                    DateTime::parse_from_str(&text, chrono)
                        .map_err(|e| format!("`{text}` does not match layout `{chrono}`: {e}"))?
                        .timestamp_nanos_opt()
                } else {
                    NaiveDateTime::parse_from_str(text, chrono)
                        .or_else(|_| {
                            NaiveDate::parse_from_str(text, chrono)
                                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                        })
                        .map_err(|e| format!("`{text}` does not match layout `{chrono}`: {e}"))?
                        .and_utc()
                        .timestamp_nanos_opt()
                };
                nanos
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| format!("`{text}` is outside the representable time range"))
            }
        }
    }
}

fn parse_epoch(unit: EpochUnit, value: &Value) -> Result<u64, String> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("epoch timestamp {value} is not a number"))?;
    // Integral units are read exactly when the text is an integer (f64 loses nanoseconds).
    let integral = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let scale: u64 = match unit {
        EpochUnit::Seconds | EpochUnit::FractionalSeconds => 1_000_000_000,
        EpochUnit::Millis => 1_000_000,
        EpochUnit::Micros => 1_000,
        EpochUnit::Nanos => 1,
    };
    match (unit, integral) {
        (EpochUnit::FractionalSeconds, _) | (_, None) => {
            if number < 0.0 || !number.is_finite() {
                return Err(format!("epoch timestamp {value} is negative or not finite"));
            }
            Ok((number * scale as f64).round() as u64)
        }
        (_, Some(n)) => n
            .checked_mul(scale)
            .ok_or_else(|| format!("epoch timestamp {value} is too large")),
    }
}

/// stanza's strptime directives that chrono spells otherwise; the rest are the same.
fn strptime_to_chrono(layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 4);
    let mut chars = layout.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('L') => out.push_str("%3f"),
            Some('f') => out.push_str("%6f"),
            Some('s') => out.push_str("%9f"),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push_str("%%"),
        }
    }
    out
}

/// Go's reference time (`Mon Jan 2 15:04:05 MST 2006`) tokens, longest first at each position.
const GO_TOKENS: &[(&str, &str)] = &[
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%:z"),
    ("-07:00", "%:z"),
    ("-0700", "%z"),
    ("Z0700", "%z"),
    (".000000000", "%.9f"),
    (".999999999", "%.f"),
    (".000000", "%.6f"),
    (".999999", "%.f"),
    (".000", "%.3f"),
    (".999", "%.f"),
    ("2006", "%Y"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("01", "%m"),
    ("02", "%d"),
    ("_2", "%e"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
];

fn gotime_to_chrono(layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 8);
    let mut rest = layout;
    'outer: while let Some(c) = rest.chars().next() {
        for (go, chrono) in GO_TOKENS {
            if let Some(after) = rest.strip_prefix(go) {
                out.push_str(chrono);
                rest = after;
                continue 'outer;
            }
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_765_157_696_123_000_000; // 2025-12-08T01:34:56.123Z

    #[test]
    fn strptime_with_milliseconds_and_zone() {
        let l = Layout::compile(None, "%Y-%m-%d %H:%M:%S.%L").unwrap();
        assert_eq!(l.parse(&Value::from("2025-12-08 01:34:56.123")).unwrap(), T);
        let l = Layout::compile(Some("strptime"), "%Y-%m-%dT%H:%M:%S.%L%z").unwrap();
        assert_eq!(
            l.parse(&Value::from("2025-12-08T02:34:56.123+0100"))
                .unwrap(),
            T
        );
        assert!(l.parse(&Value::from("yesterday")).is_err());
    }

    #[test]
    fn go_layouts() {
        let l = Layout::compile(Some("gotime"), "2006-01-02T15:04:05.000Z07:00").unwrap();
        assert_eq!(
            l.parse(&Value::from("2025-12-08T01:34:56.123Z")).unwrap(),
            T
        );
        assert_eq!(
            l.parse(&Value::from("2025-12-08T03:34:56.123+02:00"))
                .unwrap(),
            T
        );
        let l = Layout::compile(Some("gotime"), "02/Jan/2006:15:04:05 -0700").unwrap();
        assert_eq!(
            l.parse(&Value::from("08/Dec/2025:01:34:56 +0000")).unwrap(),
            T - 123_000_000
        );
    }

    #[test]
    fn epochs() {
        let ms = Layout::compile(Some("epoch"), "ms").unwrap();
        assert_eq!(ms.parse(&Value::from(1_765_157_696_123u64)).unwrap(), T);
        assert_eq!(ms.parse(&Value::from("1765157696123")).unwrap(), T);
        let s = Layout::compile(Some("epoch"), "s.ms").unwrap();
        let got = s.parse(&Value::from(1_765_157_696.123)).unwrap();
        assert!(got.abs_diff(T) < 1_000, "{got}");
        assert!(Layout::compile(Some("epoch"), "minutes").is_err());
        assert!(Layout::compile(Some("native"), "x").is_err());
        assert!(ms.parse(&Value::from("soon")).is_err());
    }
}
