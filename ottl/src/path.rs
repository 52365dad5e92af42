//! Contexts and the paths each one can read and write, resolved at compile time to a
//! `(Level, Field)` pair the record adapter matches on: no path text is looked at per record.

use std::fmt;

/// The object a statement runs on, as the Collector names it in `context:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Resource,
    Scope,
    Metric,
    DataPoint,
    Log,
    Span,
    SpanEvent,
}

impl Context {
    pub const ALL: [Context; 7] = [
        Context::Resource,
        Context::Scope,
        Context::Metric,
        Context::DataPoint,
        Context::Log,
        Context::Span,
        Context::SpanEvent,
    ];

    /// Parses a `context:` value (the Collector's spellings, `log_record` included).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "resource" => Context::Resource,
            "scope" | "instrumentation_scope" => Context::Scope,
            "metric" => Context::Metric,
            "datapoint" => Context::DataPoint,
            "log" | "log_record" => Context::Log,
            "span" => Context::Span,
            "spanevent" => Context::SpanEvent,
            _ => return None,
        })
    }

    /// The level of the object itself.
    pub fn level(self) -> Level {
        self
    }

    /// The levels a statement in this context can reach: itself and what encloses it.
    pub fn reachable(self) -> &'static [Level] {
        match self {
            Context::Resource => &[Level::Resource],
            Context::Scope => &[Level::Scope, Level::Resource],
            Context::Metric => &[Level::Metric, Level::Scope, Level::Resource],
            Context::DataPoint => &[
                Level::DataPoint,
                Level::Metric,
                Level::Scope,
                Level::Resource,
            ],
            Context::Log => &[Level::Log, Level::Scope, Level::Resource],
            Context::Span => &[Level::Span, Level::Scope, Level::Resource],
            Context::SpanEvent => &[Level::SpanEvent, Level::Span, Level::Scope, Level::Resource],
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which object of the OTLP tree a field belongs to: the same seven objects a statement can
/// run on, so the same type under the name that reads right in a [`Path`].
pub type Level = Context;

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Resource => "resource",
            Level::Scope => "scope",
            Level::Metric => "metric",
            Level::DataPoint => "datapoint",
            Level::Log => "log",
            Level::Span => "span",
            Level::SpanEvent => "spanevent",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Context::from_name(prefix).map(Context::level)
    }

    /// The fields of this level and how paths spell them.
    pub fn fields(self) -> &'static [(&'static str, Field)] {
        use Field::*;
        match self {
            Level::Resource => &[
                ("attributes", Attributes),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
            Level::Scope => &[
                ("name", Name),
                ("version", Version),
                ("attributes", Attributes),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
            Level::Metric => &[
                ("name", Name),
                ("description", Description),
                ("unit", Unit),
                ("type", Type),
                ("aggregation_temporality", AggregationTemporality),
                ("is_monotonic", IsMonotonic),
            ],
            Level::DataPoint => &[
                ("attributes", Attributes),
                ("start_time_unix_nano", StartTimeUnixNano),
                ("time_unix_nano", TimeUnixNano),
                ("value_int", ValueInt),
                ("value_double", ValueDouble),
                ("count", Count),
                ("sum", Sum),
                ("flags", Flags),
            ],
            Level::Log => &[
                ("attributes", Attributes),
                ("body", Body),
                ("severity_number", SeverityNumber),
                ("severity_text", SeverityText),
                ("event_name", EventName),
                ("time_unix_nano", TimeUnixNano),
                ("observed_time_unix_nano", ObservedTimeUnixNano),
                ("flags", Flags),
                ("trace_id.string", TraceId),
                ("span_id.string", SpanId),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
            Level::Span => &[
                ("name", Name),
                ("kind", Kind),
                ("attributes", Attributes),
                ("trace_id.string", TraceId),
                ("span_id.string", SpanId),
                ("parent_span_id.string", ParentSpanId),
                ("trace_state", TraceState),
                ("start_time_unix_nano", StartTimeUnixNano),
                ("end_time_unix_nano", EndTimeUnixNano),
                ("status.code", StatusCode),
                ("status.message", StatusMessage),
                ("flags", Flags),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
            Level::SpanEvent => &[
                ("name", Name),
                ("attributes", Attributes),
                ("time_unix_nano", TimeUnixNano),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
        }
    }
}

/// A field of one level; its meaning depends on the level (`Name` of a span, of a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Attributes,
    DroppedAttributesCount,
    Name,
    Version,
    Description,
    Unit,
    /// A metric's data type, as the `METRIC_DATA_TYPE_*` integers.
    Type,
    AggregationTemporality,
    IsMonotonic,
    StartTimeUnixNano,
    TimeUnixNano,
    EndTimeUnixNano,
    ObservedTimeUnixNano,
    ValueInt,
    ValueDouble,
    Count,
    Sum,
    Flags,
    Body,
    SeverityNumber,
    SeverityText,
    EventName,
    /// Trace and span ids read and written as lowercase hex strings.
    TraceId,
    SpanId,
    ParentSpanId,
    TraceState,
    Kind,
    StatusCode,
    StatusMessage,
}

/// One key into a map (`["k"]`) or a list (`[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Str(String),
    Index(i64),
}

/// A resolved path: the field of a level, then keys into its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub level: Level,
    pub field: Field,
    pub keys: Vec<Key>,
}

impl Path {
    /// The map key when the path is `<map field>["key"]`, the common attribute access.
    pub fn single_key(&self) -> Option<&str> {
        match self.keys.as_slice() {
            [Key::Str(k)] => Some(k),
            _ => None,
        }
    }
}

/// Resolves dotted path segments in `context`: an optional level prefix (`resource.`,
/// `metric.`, or the context's own name) and a field of that level.
pub(crate) fn resolve(context: Context, parts: &[String]) -> Result<(Level, Field), String> {
    let joined = parts.join(".");
    let (level, rest) = match parts.split_first() {
        Some((first, rest)) if !rest.is_empty() => match Level::from_prefix(first) {
            Some(level) => (level, rest.join(".")),
            None => (context.level(), joined.clone()),
        },
        _ => (context.level(), joined.clone()),
    };
    if !context.reachable().contains(&level) {
        return Err(format!(
            "path `{joined}` names the {} level, which a statement in the {context} context cannot reach",
            level.name()
        ));
    }
    level
        .fields()
        .iter()
        .find(|(name, _)| *name == rest)
        .map(|(_, field)| (level, *field))
        .ok_or_else(|| {
            let known: Vec<&str> = level.fields().iter().map(|(n, _)| *n).collect();
            format!(
                "unknown path `{joined}` in the {context} context; {} has {}",
                level.name(),
                known.join(", ")
            )
        })
}

/// The level a path's prefix names, if it is one (`resource.attributes` -> resource).
pub(crate) fn prefix_level(parts: &[String]) -> Option<Level> {
    match parts {
        [first, _, ..] => Level::from_prefix(first),
        _ => None,
    }
}

/// The enum symbols OTTL knows, as their integer values.
pub fn enum_value(symbol: &str) -> Option<i64> {
    Some(match symbol {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        "METRIC_DATA_TYPE_NONE" => 0,
        "METRIC_DATA_TYPE_GAUGE" => 1,
        "METRIC_DATA_TYPE_SUM" => 2,
        "METRIC_DATA_TYPE_HISTOGRAM" => 3,
        "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM" => 4,
        "METRIC_DATA_TYPE_SUMMARY" => 5,
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => 0,
        "AGGREGATION_TEMPORALITY_DELTA" => 1,
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => 2,
        "SEVERITY_NUMBER_UNSPECIFIED" => 0,
        _ => return severity_symbol(symbol),
    })
}

/// `SEVERITY_NUMBER_TRACE` .. `SEVERITY_NUMBER_FATAL4` (1..24).
fn severity_symbol(symbol: &str) -> Option<i64> {
    let rest = symbol.strip_prefix("SEVERITY_NUMBER_")?;
    let names = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let (base, step) = names.iter().enumerate().find_map(|(n, name)| {
        let tail = rest.strip_prefix(name)?;
        let step = match tail {
            "" => 0,
            "2" => 1,
            "3" => 2,
            "4" => 3,
            _ => return None,
        };
        Some((n as i64, step))
    })?;
    Some(base * 4 + step + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn paths_resolve_with_and_without_prefix() {
        let r = |c, p: &str| resolve(c, &parts(p));
        assert_eq!(r(Context::Log, "body"), Ok((Level::Log, Field::Body)));
        assert_eq!(r(Context::Log, "log.body"), Ok((Level::Log, Field::Body)));
        assert_eq!(
            r(Context::DataPoint, "metric.name"),
            Ok((Level::Metric, Field::Name))
        );
        assert_eq!(
            r(Context::Span, "resource.attributes"),
            Ok((Level::Resource, Field::Attributes))
        );
        assert_eq!(
            r(Context::Span, "status.code"),
            Ok((Level::Span, Field::StatusCode))
        );
        let e = r(Context::Resource, "metric.name").expect_err("metric from resource");
        assert!(e.contains("cannot reach"), "{e}");
        let e = r(Context::Log, "bodyy").expect_err("typo");
        assert!(
            e.contains("unknown path `bodyy`") && e.contains("body"),
            "{e}"
        );
    }

    #[test]
    fn severity_symbols_follow_the_log_data_model() {
        assert_eq!(enum_value("SEVERITY_NUMBER_TRACE"), Some(1));
        assert_eq!(enum_value("SEVERITY_NUMBER_INFO"), Some(9));
        assert_eq!(enum_value("SEVERITY_NUMBER_WARN"), Some(13));
        assert_eq!(enum_value("SEVERITY_NUMBER_ERROR4"), Some(20));
        assert_eq!(enum_value("SEVERITY_NUMBER_FATAL4"), Some(24));
        assert_eq!(enum_value("SEVERITY_NUMBER_LOUD"), None);
    }
}
