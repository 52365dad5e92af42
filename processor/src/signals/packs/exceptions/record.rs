//! What the exceptions pack reads from one log record: is it an error, which exception type,
//! what message, and was it a health-check probe that failed.
//!
//! **Error.** Severity ERROR or worse (`severity_number` >= 17). A record without a severity
//! number (a file line nobody parsed a severity from) counts when its `severity_text` says
//! ERROR/FATAL/CRITICAL/SEVERE or it carries an exception (attribute or stack trace).
//!
//! **Type.** The `exception.type` attribute (OpenTelemetry semantic conventions; what an SDK
//! sets, and what a filelog `regex_parser` capture should be named) wins: it is what the
//! application itself said. Otherwise the body is read as a stack trace, and the *first*
//! header line names the type: `a.b.OrderValidationException: msg`, `Exception in thread "x"
//! a.b.C: msg`, or a `Caused by: a.b.C: msg` when the trace starts there (a truncated one). The
//! top header is what the application threw; later `Caused by:` lines are its causes, which
//! other rows (the producer, the broker) already speak for. An error without a type counts for
//! the rate (E2) but not for a burst (E1).

use std::borrow::Cow;
use std::sync::LazyLock;

use kafka_obs_signal::Attributes;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use regex::Regex;

/// `SEVERITY_NUMBER_ERROR` of the logs data model.
const SEVERITY_ERROR: i32 = 17;
/// Lines of a body read for a stack-trace header; the header is at the top.
const MAX_TRACE_LINES: usize = 64;
/// Longest exception type kept (a type is a class name, not free text).
const MAX_TYPE_CHARS: usize = 256;
/// Paths of health-check endpoints: an error on a request to one is a failed probe.
const PROBE_PATHS: &[&str] = &[
    "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/ping",
];
/// Attributes that name the request path of the failing call.
const PATH_KEYS: &[&str] = &["url.path", "http.route", "http.target"];

/// A header line of a Java (or any `Type: message`) stack trace.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^(?:Exception in thread "[^"]*" )?(?:Caused by: )?((?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*(?:Exception|Error|Throwable|Fault))(?::\s?(.*))?$"#,
    )
    .expect("the header pattern is valid")
});

/// One error record as the pack sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord<'a> {
    /// The exception type, if the record names one.
    pub exception_type: Option<Cow<'a, str>>,
    pub message: Option<Cow<'a, str>>,
    /// The failing call was a health check.
    pub probe: bool,
}

/// The record as an error, or `None` if it is not one.
pub fn read(record: &LogRecord) -> Option<ErrorRecord<'_>> {
    let attrs = &record.attributes;
    let attr_type = attrs
        .attribute("exception.type")
        .filter(|t| !t.trim().is_empty());
    let body = body_text(record.body.as_ref());
    let header = if attr_type.is_none() {
        body.and_then(trace_header)
    } else {
        None
    };
    let is_error = if record.severity_number > 0 {
        record.severity_number >= SEVERITY_ERROR
    } else {
        error_text(&record.severity_text) || attr_type.is_some() || header.is_some()
    };
    if !is_error {
        return None;
    }
    let (exception_type, header_message) = match (attr_type, header) {
        (Some(t), _) => (Some(t), None),
        (None, Some((t, m))) => (Some(Cow::Borrowed(t)), m.map(Cow::Borrowed)),
        (None, None) => (None, None),
    };
    let message = attrs
        .attribute("exception.message")
        .filter(|m| !m.is_empty())
        .or(header_message);
    let probe = PATH_KEYS.iter().any(|k| {
        attrs.attribute(k).is_some_and(|p| {
            PROBE_PATHS
                .iter()
                .any(|probe| p.trim_end_matches('/') == *probe)
        })
    });
    Some(ErrorRecord {
        exception_type: exception_type.map(|t| truncate(t, MAX_TYPE_CHARS)),
        message,
        probe,
    })
}

fn error_text(severity: &str) -> bool {
    ["ERROR", "FATAL", "CRITICAL", "SEVERE", "ALERT", "EMERGENCY"]
        .iter()
        .any(|s| severity.eq_ignore_ascii_case(s))
}

fn body_text(body: Option<&AnyValue>) -> Option<&str> {
    match body?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The first stack-trace header of `body`: (type, message).
pub fn trace_header(body: &str) -> Option<(&str, Option<&str>)> {
    body.lines()
        .take(MAX_TRACE_LINES)
        // Frames (`\tat ...`, `  File ...`) are indented; headers are not.
        .filter(|l| !l.starts_with(char::is_whitespace))
        .find_map(|line| {
            let c = HEADER.captures(line.trim_end())?;
            let t = c.get(1)?.as_str();
            let m = c.get(2).map(|m| m.as_str()).filter(|m| !m.is_empty());
            Some((t, m))
        })
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
pub fn truncate(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text,
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValue;

    use super::*;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn record(severity: i32, body: &str, attrs: Vec<KeyValue>) -> LogRecord {
        LogRecord {
            severity_number: severity,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body.into())),
            }),
            attributes: attrs,
            ..Default::default()
        }
    }

    const TRACE: &str = "com.shop.orders.OrderValidationException: order 42 has no lines\n\
        \tat com.shop.orders.Validator.check(Validator.java:31)\n\
        \tat com.shop.orders.Service.place(Service.java:12)\n\
        Caused by: java.lang.IllegalStateException: empty cart\n\
        \tat com.shop.Cart.lines(Cart.java:8)\n";

    #[test]
    fn the_attribute_wins_over_the_body() {
        let r = record(
            17,
            TRACE,
            vec![
                kv("exception.type", "ValueError"),
                kv("exception.message", "bad"),
            ],
        );
        let e = read(&r).expect("an error");
        assert_eq!(e.exception_type.as_deref(), Some("ValueError"));
        assert_eq!(e.message.as_deref(), Some("bad"));
        assert!(!e.probe);
    }

    #[test]
    fn the_first_header_of_a_java_trace_names_the_type() {
        let r = record(0, TRACE, vec![]);
        let e = read(&r).expect("a trace is an error");
        assert_eq!(
            e.exception_type.as_deref(),
            Some("com.shop.orders.OrderValidationException")
        );
        assert_eq!(e.message.as_deref(), Some("order 42 has no lines"));
        let caused = "Caused by: java.net.SocketTimeoutException\n\tat x.Y.z(Y.java:1)";
        assert_eq!(
            trace_header(caused),
            Some(("java.net.SocketTimeoutException", None))
        );
        assert_eq!(
            trace_header(
                "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space"
            ),
            Some(("java.lang.OutOfMemoryError", Some("Java heap space")))
        );
        assert_eq!(trace_header("order 42 placed\n\tat nothing"), None);
    }

    #[test]
    fn severity_decides_and_plain_lines_are_not_errors() {
        assert!(
            read(&record(13, TRACE, vec![])).is_none(),
            "WARN is not an error"
        );
        assert!(read(&record(0, "all good", vec![])).is_none());
        let mut r = record(0, "disk full", vec![]);
        r.severity_text = "error".into();
        let e = read(&r).expect("severity text ERROR");
        assert_eq!(e.exception_type, None);
        let r = record(21, "boom", vec![]);
        let e = read(&r).expect("FATAL");
        assert_eq!(e.exception_type, None);
    }

    #[test]
    fn a_failed_health_check_is_a_probe() {
        let r = record(17, TRACE, vec![kv("url.path", "/healthz/")]);
        assert!(read(&r).expect("error").probe);
        let r = record(17, TRACE, vec![kv("url.path", "/orders")]);
        assert!(!read(&r).expect("error").probe);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let t = truncate(Cow::Borrowed("ééééé"), 3);
        assert_eq!(t, "ééé…");
        assert_eq!(truncate(Cow::Borrowed("abc"), 3), "abc");
        let long = "X".repeat(400) + "Exception";
        let r = record(17, "", vec![kv("exception.type", &long)]);
        let e = read(&r).expect("error");
        assert_eq!(
            e.exception_type.map(|t| t.chars().count()),
            Some(MAX_TYPE_CHARS + 1)
        );
    }
}
