//! The human-readable text of the `debug` exporter, one function per verbosity.
//!
//! The layout follows the Collector's debug exporter closely enough that people who read its
//! output read ours: `-> key: Type(value)` attributes, `ResourceMetrics #0`, `Descriptor:`.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Metric, NumberDataPoint, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use kafka_obs_api::Batch;

/// One line: what the batch holds, counted the way the Collector counts it.
pub(crate) fn basic(id: &str, batch: &Batch) -> String {
    let mut out = summary(id, batch);
    out.push('\n');
    out
}

fn summary(id: &str, batch: &Batch) -> String {
    match batch {
        Batch::Metrics(r) => {
            let metrics: usize = r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .map(|sm| sm.metrics.len())
                .sum();
            format!(
                "{id} metrics: resource metrics={} metrics={metrics} data points={}",
                r.resource_metrics.len(),
                batch.item_count()
            )
        }
        Batch::Logs(r) => format!(
            "{id} logs: resource logs={} log records={}",
            r.resource_logs.len(),
            batch.item_count()
        ),
        Batch::Traces(r) => format!(
            "{id} traces: resource spans={} spans={}",
            r.resource_spans.len(),
            batch.item_count()
        ),
    }
}

/// The summary line, then one line per data point, log record or span.
pub(crate) fn normal(id: &str, batch: &Batch) -> String {
    let mut out = summary(id, batch);
    out.push('\n');
    match batch {
        Batch::Metrics(r) => {
            for m in r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
            {
                metric_lines(&mut out, m);
            }
        }
        Batch::Logs(r) => {
            for l in r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
            {
                let body = match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    Some(_) => any(l.body.as_ref()),
                    None => String::new(),
                };
                let _ = writeln!(out, "{body} {}", attrs_inline(&l.attributes));
            }
        }
        Batch::Traces(r) => {
            for s in r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
            {
                let _ = writeln!(
                    out,
                    "{} {} {} {}",
                    s.name,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    attrs_inline(&s.attributes)
                );
            }
        }
    }
    out
}

fn metric_lines(out: &mut String, m: &Metric) {
    let name = &m.name;
    let mut line = |attrs: &[KeyValue], value: String| {
        let _ = writeln!(out, "{name}{} {value}", braces(attrs));
    };
    match &m.data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, number(p))),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .for_each(|p| line(&p.attributes, number(p))),
        Some(Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
            line(
                &p.attributes,
                format!("count={} sum={}", p.count, opt(p.sum)),
            );
        }),
        Some(Data::ExponentialHistogram(h)) => h.data_points.iter().for_each(|p| {
            line(
                &p.attributes,
                format!("count={} sum={}", p.count, opt(p.sum)),
            );
        }),
        Some(Data::Summary(s)) => s.data_points.iter().for_each(|p| {
            line(&p.attributes, format!("count={} sum={}", p.count, p.sum));
        }),
        None => {}
    }
}

fn braces(attrs: &[KeyValue]) -> String {
    if attrs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", attrs_inline(attrs))
    }
}

/// `k=v,k2=v2` with plain values.
fn attrs_inline(attrs: &[KeyValue]) -> String {
    attrs
        .iter()
        .map(|kv| format!("{}={}", kv.key, plain(kv.value.as_ref())))
        .collect::<Vec<_>>()
        .join(",")
}

fn plain(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        _ => any(v),
    }
}

fn number(p: &NumberDataPoint) -> String {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
        None => "(no value)".to_string(),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "(unset)".into())
}

/// Typed value as the Collector prints it: `Str(x)`, `Int(1)`, `Slice([..])`, `Map({..})`.
fn any(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => "Empty()".into(),
        Some(any_value::Value::StringValue(s)) => format!("Str({s})"),
        Some(any_value::Value::BoolValue(b)) => format!("Bool({b})"),
        Some(any_value::Value::IntValue(i)) => format!("Int({i})"),
        Some(any_value::Value::DoubleValue(d)) => format!("Double({d})"),
        Some(any_value::Value::BytesValue(b)) => format!("Bytes({})", hex(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| any(Some(v))).collect();
            format!("Slice([{}])", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let items: Vec<String> = kv
                .values
                .iter()
                .map(|kv| format!("{}: {}", kv.key, any(kv.value.as_ref())))
                .collect();
            format!("Map({{{}}})", items.join(", "))
        }
        Some(any_value::Value::StringValueStrindex(i)) => format!("StrIndex({i})"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn timestamp(nanos: u64) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(nanos)).to_string()
}

fn temporality(t: i32) -> &'static str {
    match t {
        1 => "Delta",
        2 => "Cumulative",
        _ => "Unspecified",
    }
}

fn severity(n: i32) -> String {
    let name = match n {
        1..=4 => "Trace",
        5..=8 => "Debug",
        9..=12 => "Info",
        13..=16 => "Warn",
        17..=20 => "Error",
        21..=24 => "Fatal",
        _ => "Unspecified",
    };
    format!("{name}({n})")
}

fn span_kind(k: i32) -> &'static str {
    match k {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

fn status_code(c: i32) -> &'static str {
    match c {
        1 => "Ok",
        2 => "Error",
        _ => "Unset",
    }
}

fn attr_block(out: &mut String, title: &str, attrs: &[KeyValue]) {
    if attrs.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}:");
    for kv in attrs {
        let _ = writeln!(out, "     -> {}: {}", kv.key, any(kv.value.as_ref()));
    }
}

fn resource_block(
    out: &mut String,
    title: &str,
    i: usize,
    resource: Option<&Resource>,
    schema_url: &str,
) {
    let _ = writeln!(out, "{title} #{i}");
    let _ = writeln!(out, "Resource SchemaURL: {schema_url}");
    if let Some(r) = resource {
        attr_block(out, "Resource attributes", &r.attributes);
    }
}

fn scope_block(
    out: &mut String,
    title: &str,
    i: usize,
    scope: Option<&InstrumentationScope>,
    schema_url: &str,
) {
    let _ = writeln!(out, "{title} #{i}");
    let _ = writeln!(out, "{title} SchemaURL: {schema_url}");
    if let Some(s) = scope {
        let _ = writeln!(out, "InstrumentationScope {} {}", s.name, s.version);
        attr_block(out, "InstrumentationScope attributes", &s.attributes);
    }
}

/// The summary line, then every resource, scope and item with all its fields.
pub(crate) fn detailed(id: &str, batch: &Batch) -> String {
    let mut out = summary(id, batch);
    out.push('\n');
    match batch {
        Batch::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                resource_block(
                    &mut out,
                    "ResourceMetrics",
                    i,
                    rm.resource.as_ref(),
                    &rm.schema_url,
                );
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    scope_block(
                        &mut out,
                        "ScopeMetrics",
                        j,
                        sm.scope.as_ref(),
                        &sm.schema_url,
                    );
                    for (k, m) in sm.metrics.iter().enumerate() {
                        metric_detail(&mut out, k, m);
                    }
                }
            }
        }
        Batch::Logs(r) => {
            for (i, rl) in r.resource_logs.iter().enumerate() {
                resource_block(
                    &mut out,
                    "ResourceLog",
                    i,
                    rl.resource.as_ref(),
                    &rl.schema_url,
                );
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    scope_block(&mut out, "ScopeLogs", j, sl.scope.as_ref(), &sl.schema_url);
                    for (k, l) in sl.log_records.iter().enumerate() {
                        let _ = writeln!(out, "LogRecord #{k}");
                        let _ = writeln!(
                            out,
                            "ObservedTimestamp: {}",
                            timestamp(l.observed_time_unix_nano)
                        );
                        let _ = writeln!(out, "Timestamp: {}", timestamp(l.time_unix_nano));
                        let _ = writeln!(out, "SeverityText: {}", l.severity_text);
                        let _ = writeln!(out, "SeverityNumber: {}", severity(l.severity_number));
                        if !l.event_name.is_empty() {
                            let _ = writeln!(out, "EventName: {}", l.event_name);
                        }
                        let _ = writeln!(out, "Body: {}", any(l.body.as_ref()));
                        attr_block(&mut out, "Attributes", &l.attributes);
                        let _ = writeln!(out, "Trace ID: {}", hex(&l.trace_id));
                        let _ = writeln!(out, "Span ID: {}", hex(&l.span_id));
                        let _ = writeln!(out, "Flags: {}", l.flags);
                    }
                }
            }
        }
        Batch::Traces(r) => {
            for (i, rs) in r.resource_spans.iter().enumerate() {
                resource_block(
                    &mut out,
                    "ResourceSpans",
                    i,
                    rs.resource.as_ref(),
                    &rs.schema_url,
                );
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    scope_block(&mut out, "ScopeSpans", j, ss.scope.as_ref(), &ss.schema_url);
                    for (k, s) in ss.spans.iter().enumerate() {
                        let _ = writeln!(out, "Span #{k}");
                        let _ = writeln!(out, "    Trace ID: {}", hex(&s.trace_id));
                        let _ = writeln!(out, "    Parent ID: {}", hex(&s.parent_span_id));
                        let _ = writeln!(out, "    ID: {}", hex(&s.span_id));
                        let _ = writeln!(out, "    Name: {}", s.name);
                        let _ = writeln!(out, "    Kind: {}", span_kind(s.kind));
                        let _ =
                            writeln!(out, "    Start time: {}", timestamp(s.start_time_unix_nano));
                        let _ = writeln!(out, "    End time: {}", timestamp(s.end_time_unix_nano));
                        let (code, message) = s
                            .status
                            .as_ref()
                            .map(|st| (st.code, st.message.as_str()))
                            .unwrap_or((0, ""));
                        let _ = writeln!(out, "    Status code: {}", status_code(code));
                        let _ = writeln!(out, "    Status message: {message}");
                        attr_block(&mut out, "Attributes", &s.attributes);
                        for (e, ev) in s.events.iter().enumerate() {
                            let _ = writeln!(out, "SpanEvent #{e}");
                            let _ = writeln!(out, "     -> Name: {}", ev.name);
                            let _ = writeln!(
                                out,
                                "     -> Timestamp: {}",
                                timestamp(ev.time_unix_nano)
                            );
                            attr_block(&mut out, "     -> Attributes", &ev.attributes);
                        }
                        for (l, link) in s.links.iter().enumerate() {
                            let _ = writeln!(out, "SpanLink #{l}");
                            let _ = writeln!(out, "     -> Trace ID: {}", hex(&link.trace_id));
                            let _ = writeln!(out, "     -> ID: {}", hex(&link.span_id));
                        }
                    }
                }
            }
        }
    }
    out
}

fn point_header(
    out: &mut String,
    title: &str,
    i: usize,
    attrs: &[KeyValue],
    start: u64,
    time: u64,
) {
    let _ = writeln!(out, "{title} #{i}");
    attr_block(out, "Data point attributes", attrs);
    let _ = writeln!(out, "StartTimestamp: {}", timestamp(start));
    let _ = writeln!(out, "Timestamp: {}", timestamp(time));
}

fn metric_detail(out: &mut String, k: usize, m: &Metric) {
    let _ = writeln!(out, "Metric #{k}");
    let _ = writeln!(out, "Descriptor:");
    let _ = writeln!(out, "     -> Name: {}", m.name);
    let _ = writeln!(out, "     -> Description: {}", m.description);
    let _ = writeln!(out, "     -> Unit: {}", m.unit);
    match &m.data {
        Some(Data::Gauge(g)) => {
            let _ = writeln!(out, "     -> DataType: Gauge");
            for (i, p) in g.data_points.iter().enumerate() {
                point_header(
                    out,
                    "NumberDataPoints",
                    i,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                let _ = writeln!(out, "Value: {}", number(p));
            }
        }
        Some(Data::Sum(s)) => {
            let _ = writeln!(out, "     -> DataType: Sum");
            let _ = writeln!(out, "     -> IsMonotonic: {}", s.is_monotonic);
            let _ = writeln!(
                out,
                "     -> AggregationTemporality: {}",
                temporality(s.aggregation_temporality)
            );
            for (i, p) in s.data_points.iter().enumerate() {
                point_header(
                    out,
                    "NumberDataPoints",
                    i,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                let _ = writeln!(out, "Value: {}", number(p));
            }
        }
        Some(Data::Histogram(h)) => {
            let _ = writeln!(out, "     -> DataType: Histogram");
            let _ = writeln!(
                out,
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            );
            for (i, p) in h.data_points.iter().enumerate() {
                point_header(
                    out,
                    "HistogramDataPoints",
                    i,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                let _ = writeln!(out, "Count: {}", p.count);
                let _ = writeln!(out, "Sum: {}", opt(p.sum));
                let _ = writeln!(out, "Min: {}", opt(p.min));
                let _ = writeln!(out, "Max: {}", opt(p.max));
                for (b, bound) in p.explicit_bounds.iter().enumerate() {
                    let _ = writeln!(out, "ExplicitBounds #{b}: {bound}");
                }
                for (b, count) in p.bucket_counts.iter().enumerate() {
                    let _ = writeln!(out, "Buckets #{b}, Count: {count}");
                }
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            let _ = writeln!(out, "     -> DataType: ExponentialHistogram");
            let _ = writeln!(
                out,
                "     -> AggregationTemporality: {}",
                temporality(h.aggregation_temporality)
            );
            for (i, p) in h.data_points.iter().enumerate() {
                point_header(
                    out,
                    "ExponentialHistogramDataPoints",
                    i,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                let _ = writeln!(out, "Count: {}", p.count);
                let _ = writeln!(out, "Sum: {}", opt(p.sum));
                let _ = writeln!(out, "Scale: {}", p.scale);
                let _ = writeln!(out, "ZeroCount: {}", p.zero_count);
            }
        }
        Some(Data::Summary(s)) => {
            let _ = writeln!(out, "     -> DataType: Summary");
            for (i, p) in s.data_points.iter().enumerate() {
                point_header(
                    out,
                    "SummaryDataPoints",
                    i,
                    &p.attributes,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                );
                let _ = writeln!(out, "Count: {}", p.count);
                let _ = writeln!(out, "Sum: {}", p.sum);
                for (q, qv) in p.quantile_values.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "QuantileValue #{q}: Quantile {}, Value {}",
                        qv.quantile, qv.value
                    );
                }
            }
        }
        None => {
            let _ = writeln!(out, "     -> DataType: Empty");
        }
    }
}
