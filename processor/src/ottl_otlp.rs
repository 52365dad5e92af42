//! OTTL on our OTLP data: the `Record` adapter for each context, the walks that visit every
//! record of a context in a batch, and `error_mode`. `filter` and `transform` both run on it,
//! so it lives here once. A walk's visitor answers whether to keep the record: `transform` always keeps,
//! `filter` drops what matched, and the walk prunes what a drop emptied.

use kafka_obs_ottl::{AttributeMap, Context, EvalError, Field, Key, Level, Path, Record, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use serde::Deserialize;

/// What a statement or condition failing on one record does (the Collector's `error_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// The whole batch is refused and the error returned to the sender.
    #[default]
    Propagate,
    /// The error is logged and processing goes on with the next statement or record.
    Ignore,
    /// As `ignore`, without the log line.
    Silent,
}

/// Runs `f` under `mode`: `Err` only when the mode is `propagate`; otherwise the error is
/// logged (`ignore`) or not (`silent`) and `fallback` is the answer.
pub(crate) fn under<T>(
    mode: ErrorMode,
    id: &str,
    result: Result<T, EvalError>,
    fallback: T,
) -> Result<T, String> {
    match (result, mode) {
        (Ok(v), _) => Ok(v),
        (Err(e), ErrorMode::Propagate) => Err(e.0),
        (Err(e), ErrorMode::Ignore) => {
            tracing::warn!(processor = %id, error = %e, "an OTTL statement or condition failed; going on (error_mode: ignore)");
            Ok(fallback)
        }
        (Err(_), ErrorMode::Silent) => Ok(fallback),
    }
}

/// OTLP's value to OTTL's.
pub(crate) fn to_value(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        // A string-table index only means something inside a profiles dictionary.
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
        Some(any_value::Value::StringValue(s)) => Value::Str(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
        Some(any_value::Value::BytesValue(b)) => Value::Bytes(b.clone()),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::List(a.values.iter().map(|v| to_value(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => Value::Map(
            m.values
                .iter()
                .map(|kv| (kv.key.clone(), to_value(kv.value.as_ref())))
                .collect(),
        ),
    }
}

/// OTTL's value to OTLP's.
pub(crate) fn to_any(v: Value) -> AnyValue {
    let value = match v {
        Value::Nil => None,
        Value::Str(s) => Some(any_value::Value::StringValue(s)),
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Int(i) => Some(any_value::Value::IntValue(i)),
        Value::Double(d) => Some(any_value::Value::DoubleValue(d)),
        Value::Bytes(b) => Some(any_value::Value::BytesValue(b)),
        Value::List(l) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: l.into_iter().map(to_any).collect(),
        })),
        Value::Map(m) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: m
                .into_iter()
                .map(|(key, v)| KeyValue {
                    key,
                    value: Some(to_any(v)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// An attribute list seen as an OTTL map.
struct Attributes<'a>(&'a mut Vec<KeyValue>);

impl AttributeMap for Attributes<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| to_value(kv.value.as_ref()))
    }
    fn insert(&mut self, key: &str, value: Value) {
        put(self.0, key, value);
    }
    fn retain(&mut self, keep: &mut dyn FnMut(&str) -> bool) {
        self.0.retain(|kv| keep(&kv.key));
    }
    fn edit_strings(&mut self, edit: &mut dyn FnMut(&str, &mut String)) {
        for kv in self.0.iter_mut() {
            if let Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) = kv.value.as_mut()
            {
                edit(&kv.key, s);
            }
        }
    }
    fn edit_keys(&mut self, edit: &mut dyn FnMut(&mut String)) {
        self.0.iter_mut().for_each(|kv| edit(&mut kv.key));
    }
}

fn put(attrs: &mut Vec<KeyValue>, key: &str, value: Value) {
    let any = Some(to_any(value));
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = any,
        None => attrs.push(KeyValue {
            key: key.to_string(),
            value: any,
            ..Default::default()
        }),
    }
}

/// `attributes`, `attributes["k"]`, `attributes["k"]["inner"]`, `attributes["k"][0]`.
fn get_attr(attrs: &[KeyValue], keys: &[Key]) -> Value {
    let Some((first, rest)) = keys.split_first() else {
        return Value::Map(
            attrs
                .iter()
                .map(|kv| (kv.key.clone(), to_value(kv.value.as_ref())))
                .collect(),
        );
    };
    let Key::Str(k) = first else {
        return Value::Nil;
    };
    let Some(kv) = attrs.iter().find(|kv| &kv.key == k) else {
        return Value::Nil;
    };
    to_value(kv.value.as_ref()).index(rest)
}

fn set_attr(attrs: &mut Vec<KeyValue>, keys: &[Key], value: Value) -> Result<(), String> {
    match keys {
        [] => match value {
            Value::Map(m) => {
                *attrs = m
                    .into_iter()
                    .map(|(key, v)| KeyValue {
                        key,
                        value: Some(to_any(v)),
                        ..Default::default()
                    })
                    .collect();
                Ok(())
            }
            other => Err(format!(
                "attributes can only be set to a map, not a {}",
                other.type_name()
            )),
        },
        [Key::Str(k)] => {
            put(attrs, k, value);
            Ok(())
        }
        _ => Err("only attributes[\"key\"] can be set, not nested keys or indexes".into()),
    }
}

fn edit_attrs(
    attrs: &mut Vec<KeyValue>,
    keys: &[Key],
    edit: &mut dyn FnMut(&mut dyn AttributeMap),
) -> bool {
    if !keys.is_empty() {
        return false;
    }
    edit(&mut Attributes(attrs));
    true
}

fn str_value(s: &str) -> Value {
    Value::Str(s.to_string())
}

fn uint(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn hex(bytes: &[u8]) -> Value {
    Value::Bytes(bytes.to_vec()).to_string().pipe(Value::Str)
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

fn want_str(v: Value, what: &str) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!(
            "{what} must be a string, not a {}",
            other.type_name()
        )),
    }
}

fn want_int(v: Value, what: &str) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(i),
        other => Err(format!(
            "{what} must be an int, not a {}",
            other.type_name()
        )),
    }
}

fn want_u64(v: Value, what: &str) -> Result<u64, String> {
    u64::try_from(want_int(v, what)?).map_err(|_| format!("{what} must not be negative"))
}

fn want_u32(v: Value, what: &str) -> Result<u32, String> {
    u32::try_from(want_int(v, what)?).map_err(|_| format!("{what} is out of range"))
}

fn want_i32(v: Value, what: &str) -> Result<i32, String> {
    i32::try_from(want_int(v, what)?).map_err(|_| format!("{what} is out of range"))
}

fn read_only(path: &Path) -> String {
    format!("{:?} of {} cannot be set", path.field, path.level.name())
}

/// The resource and scope around a record: the levels every context can reach.
pub(crate) struct Outer<'a> {
    pub resource: &'a mut Option<Resource>,
    pub scope: Option<&'a mut Option<InstrumentationScope>>,
}

impl Outer<'_> {
    fn get(&self, path: &Path) -> Value {
        match path.level {
            Level::Resource => {
                let Some(r) = self.resource.as_ref() else {
                    return match path.field {
                        Field::Attributes if path.keys.is_empty() => Value::Map(Vec::new()),
                        _ => Value::Nil,
                    };
                };
                match path.field {
                    Field::Attributes => get_attr(&r.attributes, &path.keys),
                    Field::DroppedAttributesCount => Value::Int(r.dropped_attributes_count.into()),
                    _ => Value::Nil,
                }
            }
            Level::Scope => {
                let Some(Some(s)) = self.scope.as_deref() else {
                    return Value::Nil;
                };
                match path.field {
                    Field::Name => str_value(&s.name),
                    Field::Version => str_value(&s.version),
                    Field::Attributes => get_attr(&s.attributes, &path.keys),
                    Field::DroppedAttributesCount => Value::Int(s.dropped_attributes_count.into()),
                    _ => Value::Nil,
                }
            }
            _ => Value::Nil,
        }
    }

    fn set(&mut self, path: &Path, v: Value) -> Result<(), String> {
        match path.level {
            Level::Resource => {
                let r = self.resource.get_or_insert_with(Resource::default);
                match path.field {
                    Field::Attributes => set_attr(&mut r.attributes, &path.keys, v),
                    Field::DroppedAttributesCount => {
                        r.dropped_attributes_count = want_u32(v, "dropped_attributes_count")?;
                        Ok(())
                    }
                    _ => Err(read_only(path)),
                }
            }
            Level::Scope => {
                let Some(slot) = self.scope.as_deref_mut() else {
                    return Err(read_only(path));
                };
                let s = slot.get_or_insert_with(InstrumentationScope::default);
                match path.field {
                    Field::Name => s.name = want_str(v, "scope.name")?,
                    Field::Version => s.version = want_str(v, "scope.version")?,
                    Field::Attributes => return set_attr(&mut s.attributes, &path.keys, v),
                    Field::DroppedAttributesCount => {
                        s.dropped_attributes_count = want_u32(v, "dropped_attributes_count")?;
                    }
                    _ => return Err(read_only(path)),
                }
                Ok(())
            }
            _ => Err(read_only(path)),
        }
    }

    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
        match (path.level, path.field) {
            (Level::Resource, Field::Attributes) => edit_attrs(
                &mut self
                    .resource
                    .get_or_insert_with(Resource::default)
                    .attributes,
                &path.keys,
                edit,
            ),
            (Level::Scope, Field::Attributes) => match self.scope.as_deref_mut() {
                Some(slot) => edit_attrs(
                    &mut slot
                        .get_or_insert_with(InstrumentationScope::default)
                        .attributes,
                    &path.keys,
                    edit,
                ),
                None => false,
            },
            _ => false,
        }
    }
}

/// A resource or scope context: only the outer levels.
pub(crate) struct OuterRecord<'a>(pub Outer<'a>);

impl Record for OuterRecord<'_> {
    fn get(&self, path: &Path) -> Value {
        self.0.get(path)
    }
    fn set(&mut self, path: &Path, value: Value) -> Result<(), String> {
        self.0.set(path, value)
    }
    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
        self.0.edit_map(path, edit)
    }
}

pub(crate) struct LogRecordRef<'a> {
    pub outer: Outer<'a>,
    pub log: &'a mut LogRecord,
}

impl Record for LogRecordRef<'_> {
    fn get(&self, path: &Path) -> Value {
        if path.level != Level::Log {
            return self.outer.get(path);
        }
        let l = &*self.log;
        match path.field {
            Field::Attributes => get_attr(&l.attributes, &path.keys),
            Field::Body => to_value(l.body.as_ref()).index(&path.keys),
            Field::SeverityNumber => Value::Int(l.severity_number.into()),
            Field::SeverityText => str_value(&l.severity_text),
            Field::EventName => str_value(&l.event_name),
            Field::TimeUnixNano => uint(l.time_unix_nano),
            Field::ObservedTimeUnixNano => uint(l.observed_time_unix_nano),
            Field::Flags => Value::Int(l.flags.into()),
            Field::TraceId => hex(&l.trace_id),
            Field::SpanId => hex(&l.span_id),
            Field::DroppedAttributesCount => Value::Int(l.dropped_attributes_count.into()),
            _ => Value::Nil,
        }
    }

    fn set(&mut self, path: &Path, v: Value) -> Result<(), String> {
        if path.level != Level::Log {
            return self.outer.set(path, v);
        }
        let l = &mut *self.log;
        match path.field {
            Field::Attributes => return set_attr(&mut l.attributes, &path.keys, v),
            Field::Body if path.keys.is_empty() => l.body = Some(to_any(v)),
            Field::SeverityNumber => l.severity_number = want_i32(v, "severity_number")?,
            Field::SeverityText => l.severity_text = want_str(v, "severity_text")?,
            Field::EventName => l.event_name = want_str(v, "event_name")?,
            Field::TimeUnixNano => l.time_unix_nano = want_u64(v, "time_unix_nano")?,
            Field::ObservedTimeUnixNano => {
                l.observed_time_unix_nano = want_u64(v, "observed_time_unix_nano")?;
            }
            Field::Flags => l.flags = want_u32(v, "flags")?,
            _ => return Err(read_only(path)),
        }
        Ok(())
    }

    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
        match (path.level, path.field) {
            (Level::Log, Field::Attributes) => {
                edit_attrs(&mut self.log.attributes, &path.keys, edit)
            }
            (Level::Log, Field::Body) => {
                match self.log.body.as_mut().and_then(|b| b.value.as_mut()) {
                    Some(any_value::Value::KvlistValue(m)) => {
                        edit_attrs(&mut m.values, &path.keys, edit)
                    }
                    _ => false,
                }
            }
            (Level::Log, _) => false,
            _ => self.outer.edit_map(path, edit),
        }
    }
}

pub(crate) struct SpanRef<'a> {
    pub outer: Outer<'a>,
    pub span: &'a mut Span,
    /// Set in the spanevent context: the event being visited.
    pub event: Option<&'a mut span::Event>,
}

impl SpanRef<'_> {
    fn get_span(&self, path: &Path) -> Value {
        let s = &*self.span;
        let status = s.status.as_ref();
        match path.field {
            Field::Name => str_value(&s.name),
            Field::Kind => Value::Int(s.kind.into()),
            Field::Attributes => get_attr(&s.attributes, &path.keys),
            Field::TraceId => hex(&s.trace_id),
            Field::SpanId => hex(&s.span_id),
            Field::ParentSpanId => hex(&s.parent_span_id),
            Field::TraceState => str_value(&s.trace_state),
            Field::StartTimeUnixNano => uint(s.start_time_unix_nano),
            Field::EndTimeUnixNano => uint(s.end_time_unix_nano),
            Field::StatusCode => Value::Int(status.map_or(0, |st| st.code).into()),
            Field::StatusMessage => str_value(status.map_or("", |st| st.message.as_str())),
            Field::Flags => Value::Int(s.flags.into()),
            Field::DroppedAttributesCount => Value::Int(s.dropped_attributes_count.into()),
            _ => Value::Nil,
        }
    }

    fn set_span(&mut self, path: &Path, v: Value) -> Result<(), String> {
        let s = &mut *self.span;
        match path.field {
            Field::Name => s.name = want_str(v, "span.name")?,
            Field::Kind => s.kind = want_i32(v, "span.kind")?,
            Field::Attributes => return set_attr(&mut s.attributes, &path.keys, v),
            Field::TraceState => s.trace_state = want_str(v, "trace_state")?,
            Field::StartTimeUnixNano => {
                s.start_time_unix_nano = want_u64(v, "start_time_unix_nano")?
            }
            Field::EndTimeUnixNano => s.end_time_unix_nano = want_u64(v, "end_time_unix_nano")?,
            Field::StatusCode => {
                s.status.get_or_insert_with(Status::default).code = want_i32(v, "status.code")?;
            }
            Field::StatusMessage => {
                s.status.get_or_insert_with(Status::default).message =
                    want_str(v, "status.message")?;
            }
            _ => return Err(read_only(path)),
        }
        Ok(())
    }
}

impl Record for SpanRef<'_> {
    fn get(&self, path: &Path) -> Value {
        match (path.level, self.event.as_deref()) {
            (Level::Span, _) => self.get_span(path),
            (Level::SpanEvent, Some(e)) => match path.field {
                Field::Name => str_value(&e.name),
                Field::Attributes => get_attr(&e.attributes, &path.keys),
                Field::TimeUnixNano => uint(e.time_unix_nano),
                Field::DroppedAttributesCount => Value::Int(e.dropped_attributes_count.into()),
                _ => Value::Nil,
            },
            _ => self.outer.get(path),
        }
    }

    fn set(&mut self, path: &Path, v: Value) -> Result<(), String> {
        match (path.level, self.event.as_deref_mut()) {
            (Level::Span, _) => self.set_span(path, v),
            (Level::SpanEvent, Some(e)) => {
                match path.field {
                    Field::Name => e.name = want_str(v, "spanevent.name")?,
                    Field::Attributes => return set_attr(&mut e.attributes, &path.keys, v),
                    Field::TimeUnixNano => e.time_unix_nano = want_u64(v, "time_unix_nano")?,
                    _ => return Err(read_only(path)),
                }
                Ok(())
            }
            _ => self.outer.set(path, v),
        }
    }

    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
        match (path.level, path.field, self.event.as_deref_mut()) {
            (Level::Span, Field::Attributes, _) => {
                edit_attrs(&mut self.span.attributes, &path.keys, edit)
            }
            (Level::SpanEvent, Field::Attributes, Some(e)) => {
                edit_attrs(&mut e.attributes, &path.keys, edit)
            }
            (Level::Span | Level::SpanEvent, ..) => false,
            _ => self.outer.edit_map(path, edit),
        }
    }
}

/// A data point of any metric type.
pub(crate) enum PointRef<'a> {
    Number(&'a mut NumberDataPoint),
    Histogram(&'a mut HistogramDataPoint),
    Exponential(&'a mut ExponentialHistogramDataPoint),
    Summary(&'a mut SummaryDataPoint),
}

impl PointRef<'_> {
    fn attributes(&mut self) -> &mut Vec<KeyValue> {
        match self {
            PointRef::Number(p) => &mut p.attributes,
            PointRef::Histogram(p) => &mut p.attributes,
            PointRef::Exponential(p) => &mut p.attributes,
            PointRef::Summary(p) => &mut p.attributes,
        }
    }
}

/// The `METRIC_DATA_TYPE_*` value of a metric's data.
fn data_type(data: Option<&metric::Data>) -> i64 {
    match data {
        None => 0,
        Some(metric::Data::Gauge(_)) => 1,
        Some(metric::Data::Sum(_)) => 2,
        Some(metric::Data::Histogram(_)) => 3,
        Some(metric::Data::ExponentialHistogram(_)) => 4,
        Some(metric::Data::Summary(_)) => 5,
    }
}

/// A metric, or a data point with its metric. While its points are visited the metric's
/// `data` is lent to them, so its type and temporality are kept aside beforehand.
pub(crate) struct MetricRef<'a> {
    pub outer: Outer<'a>,
    pub metric: &'a mut Metric,
    pub data_type: i64,
    pub temporality: i64,
    pub monotonic: bool,
    pub point: Option<PointRef<'a>>,
}

impl<'a> MetricRef<'a> {
    /// `data` is the metric's data, passed apart when it is lent to the points.
    pub(crate) fn new(
        outer: Outer<'a>,
        metric: &'a mut Metric,
        data: Option<&metric::Data>,
    ) -> Self {
        let (temporality, monotonic) = match data {
            Some(metric::Data::Sum(s)) => (s.aggregation_temporality.into(), s.is_monotonic),
            Some(metric::Data::Histogram(h)) => (h.aggregation_temporality.into(), false),
            Some(metric::Data::ExponentialHistogram(h)) => {
                (h.aggregation_temporality.into(), false)
            }
            _ => (0, false),
        };
        Self {
            outer,
            data_type: data_type(data),
            temporality,
            monotonic,
            metric,
            point: None,
        }
    }

    fn get_point(&self, path: &Path) -> Value {
        let Some(p) = self.point.as_ref() else {
            return Value::Nil;
        };
        let (attrs, start, time, flags) = match p {
            PointRef::Number(p) => (
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.flags,
            ),
            PointRef::Histogram(p) => (
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.flags,
            ),
            PointRef::Exponential(p) => (
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.flags,
            ),
            PointRef::Summary(p) => (
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.flags,
            ),
        };
        match (path.field, p) {
            (Field::Attributes, _) => get_attr(attrs, &path.keys),
            (Field::StartTimeUnixNano, _) => uint(start),
            (Field::TimeUnixNano, _) => uint(time),
            (Field::Flags, _) => Value::Int(flags.into()),
            (Field::ValueInt, PointRef::Number(p)) => match p.value {
                Some(number_data_point::Value::AsInt(i)) => Value::Int(i),
                _ => Value::Nil,
            },
            (Field::ValueDouble, PointRef::Number(p)) => match p.value {
                Some(number_data_point::Value::AsDouble(d)) => Value::Double(d),
                _ => Value::Nil,
            },
            (Field::Count, PointRef::Histogram(p)) => uint(p.count),
            (Field::Count, PointRef::Exponential(p)) => uint(p.count),
            (Field::Count, PointRef::Summary(p)) => uint(p.count),
            (Field::Sum, PointRef::Histogram(p)) => p.sum.map_or(Value::Nil, Value::Double),
            (Field::Sum, PointRef::Exponential(p)) => p.sum.map_or(Value::Nil, Value::Double),
            (Field::Sum, PointRef::Summary(p)) => Value::Double(p.sum),
            _ => Value::Nil,
        }
    }

    fn set_point(&mut self, path: &Path, v: Value) -> Result<(), String> {
        let Some(p) = self.point.as_mut() else {
            return Err(read_only(path));
        };
        match (path.field, p) {
            (Field::Attributes, p) => set_attr(p.attributes(), &path.keys, v),
            (Field::ValueInt, PointRef::Number(p)) => {
                p.value = Some(number_data_point::Value::AsInt(want_int(v, "value_int")?));
                Ok(())
            }
            (Field::ValueDouble, PointRef::Number(p)) => {
                let d = match v {
                    Value::Double(d) => d,
                    Value::Int(i) => i as f64,
                    other => {
                        return Err(format!(
                            "value_double must be a double, not a {}",
                            other.type_name()
                        ));
                    }
                };
                p.value = Some(number_data_point::Value::AsDouble(d));
                Ok(())
            }
            (Field::TimeUnixNano, PointRef::Number(p)) => {
                p.time_unix_nano = want_u64(v, "time_unix_nano")?;
                Ok(())
            }
            (Field::StartTimeUnixNano, PointRef::Number(p)) => {
                p.start_time_unix_nano = want_u64(v, "start_time_unix_nano")?;
                Ok(())
            }
            _ => Err(read_only(path)),
        }
    }
}

impl Record for MetricRef<'_> {
    fn get(&self, path: &Path) -> Value {
        match path.level {
            Level::Metric => match path.field {
                Field::Name => str_value(&self.metric.name),
                Field::Description => str_value(&self.metric.description),
                Field::Unit => str_value(&self.metric.unit),
                Field::Type => Value::Int(self.data_type),
                Field::AggregationTemporality => Value::Int(self.temporality),
                Field::IsMonotonic => Value::Bool(self.monotonic),
                _ => Value::Nil,
            },
            Level::DataPoint => self.get_point(path),
            _ => self.outer.get(path),
        }
    }

    fn set(&mut self, path: &Path, v: Value) -> Result<(), String> {
        match path.level {
            Level::Metric => {
                match path.field {
                    Field::Name => self.metric.name = want_str(v, "metric.name")?,
                    Field::Description => {
                        self.metric.description = want_str(v, "metric.description")?
                    }
                    Field::Unit => self.metric.unit = want_str(v, "metric.unit")?,
                    _ => return Err(read_only(path)),
                }
                Ok(())
            }
            Level::DataPoint => self.set_point(path, v),
            _ => self.outer.set(path, v),
        }
    }

    fn edit_map(&mut self, path: &Path, edit: &mut dyn FnMut(&mut dyn AttributeMap)) -> bool {
        match (path.level, path.field, self.point.as_mut()) {
            (Level::DataPoint, Field::Attributes, Some(p)) => {
                edit_attrs(p.attributes(), &path.keys, edit)
            }
            (Level::DataPoint | Level::Metric, ..) => false,
            _ => self.outer.edit_map(path, edit),
        }
    }
}

/// What a visitor answers for one record.
pub(crate) type Visit<'v> = &'v mut dyn FnMut(&mut dyn Record) -> bool;

/// Visits every record of `context` in `req`; records the visitor answers `false` for are
/// removed, and resources and scopes a removal emptied go with them.
pub(crate) fn walk_logs(req: &mut ExportLogsServiceRequest, context: Context, visit: Visit<'_>) {
    req.resource_logs.retain_mut(|rl| {
        let had = !rl.scope_logs.is_empty();
        if context == Context::Resource {
            return visit(&mut OuterRecord(Outer {
                resource: &mut rl.resource,
                scope: None,
            }));
        }
        rl.scope_logs.retain_mut(|sl| {
            if context == Context::Scope {
                return visit(&mut OuterRecord(Outer {
                    resource: &mut rl.resource,
                    scope: Some(&mut sl.scope),
                }));
            }
            let before = sl.log_records.len();
            sl.log_records.retain_mut(|log| {
                visit(&mut LogRecordRef {
                    outer: Outer {
                        resource: &mut rl.resource,
                        scope: Some(&mut sl.scope),
                    },
                    log,
                })
            });
            before == 0 || !sl.log_records.is_empty()
        });
        !had || !rl.scope_logs.is_empty()
    });
}

pub(crate) fn walk_traces(req: &mut ExportTraceServiceRequest, context: Context, visit: Visit<'_>) {
    req.resource_spans.retain_mut(|rs| {
        let had = !rs.scope_spans.is_empty();
        if context == Context::Resource {
            return visit(&mut OuterRecord(Outer {
                resource: &mut rs.resource,
                scope: None,
            }));
        }
        rs.scope_spans.retain_mut(|ss| {
            if context == Context::Scope {
                return visit(&mut OuterRecord(Outer {
                    resource: &mut rs.resource,
                    scope: Some(&mut ss.scope),
                }));
            }
            let before = ss.spans.len();
            ss.spans.retain_mut(|span| {
                if context == Context::Span {
                    return visit(&mut SpanRef {
                        outer: Outer {
                            resource: &mut rs.resource,
                            scope: Some(&mut ss.scope),
                        },
                        span,
                        event: None,
                    });
                }
                // Events are lent out so the visitor sees the span and one event at a time.
                let mut events = std::mem::take(&mut span.events);
                events.retain_mut(|event| {
                    visit(&mut SpanRef {
                        outer: Outer {
                            resource: &mut rs.resource,
                            scope: Some(&mut ss.scope),
                        },
                        span,
                        event: Some(event),
                    })
                });
                span.events = events;
                true
            });
            before == 0 || !ss.spans.is_empty()
        });
        !had || !rs.scope_spans.is_empty()
    });
}

pub(crate) fn walk_metrics(
    req: &mut ExportMetricsServiceRequest,
    context: Context,
    visit: Visit<'_>,
) {
    req.resource_metrics.retain_mut(|rm| {
        let had = !rm.scope_metrics.is_empty();
        if context == Context::Resource {
            return visit(&mut OuterRecord(Outer {
                resource: &mut rm.resource,
                scope: None,
            }));
        }
        rm.scope_metrics.retain_mut(|sm| {
            if context == Context::Scope {
                return visit(&mut OuterRecord(Outer {
                    resource: &mut rm.resource,
                    scope: Some(&mut sm.scope),
                }));
            }
            let before = sm.metrics.len();
            sm.metrics.retain_mut(|m| {
                let outer = Outer {
                    resource: &mut rm.resource,
                    scope: Some(&mut sm.scope),
                };
                let mut data = m.data.take();
                if context == Context::Metric {
                    let keep = visit(&mut MetricRef::new(outer, m, data.as_ref()));
                    m.data = data;
                    return keep;
                }
                let mut record = MetricRef::new(outer, m, data.as_ref());
                let kept_any = visit_points(&mut record, data.as_mut(), visit);
                m.data = data;
                kept_any
            });
            before == 0 || !sm.metrics.is_empty()
        });
        !had || !rm.scope_metrics.is_empty()
    });
}

/// Visits each point of `data` with the metric around it; `false` when a metric that had
/// points has none left.
fn visit_points(
    record: &mut MetricRef<'_>,
    data: Option<&mut metric::Data>,
    visit: Visit<'_>,
) -> bool {
    macro_rules! points {
        ($points:expr, $variant:ident) => {{
            let had = !$points.is_empty();
            $points.retain_mut(|p| {
                let mut one = MetricRef {
                    outer: Outer {
                        resource: record.outer.resource,
                        scope: record.outer.scope.as_deref_mut(),
                    },
                    metric: record.metric,
                    data_type: record.data_type,
                    temporality: record.temporality,
                    monotonic: record.monotonic,
                    point: Some(PointRef::$variant(p)),
                };
                visit(&mut one)
            });
            !had || !$points.is_empty()
        }};
    }
    match data {
        None => true,
        Some(metric::Data::Gauge(g)) => points!(g.data_points, Number),
        Some(metric::Data::Sum(s)) => points!(s.data_points, Number),
        Some(metric::Data::Histogram(h)) => points!(h.data_points, Histogram),
        Some(metric::Data::ExponentialHistogram(h)) => points!(h.data_points, Exponential),
        Some(metric::Data::Summary(s)) => points!(s.data_points, Summary),
    }
}

/// Small builders for the conformance tests of `filter` and `transform`.
#[cfg(test)]
pub(crate) mod test_data {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Summary, metric,
        number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};

    use super::*;

    pub fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }
    }

    pub fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            ..Default::default()
        }
    }

    pub fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
    }

    pub fn resource(pairs: &[(&str, &str)]) -> Option<Resource> {
        Some(Resource {
            attributes: attrs(pairs),
            ..Default::default()
        })
    }

    /// The string value of `key`, if any.
    pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
        attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    pub fn logs(res: &[(&str, &str)], records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(res),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub fn log(body: &str, severity: i32, pairs: &[(&str, &str)]) -> LogRecord {
        LogRecord {
            body: Some(s(body)),
            severity_number: severity,
            attributes: attrs(pairs),
            ..Default::default()
        }
    }

    pub fn log_records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
        req.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect()
    }

    pub fn gauge(name: &str, points: &[(&[(&str, &str)], f64)]) -> Metric {
        Metric {
            name: name.into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: points
                    .iter()
                    .map(|(a, v)| NumberDataPoint {
                        attributes: attrs(a),
                        value: Some(number_data_point::Value::AsDouble(*v)),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        }
    }

    pub fn summary(name: &str) -> Metric {
        Metric {
            name: name.into(),
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![Default::default()],
            })),
            ..Default::default()
        }
    }

    pub fn metrics(res: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(res),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub fn metric_names(req: &ExportMetricsServiceRequest) -> Vec<&str> {
        req.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.as_str())
            .collect()
    }

    pub fn span_named(name: &str, pairs: &[(&str, &str)], events: &[&str]) -> Span {
        Span {
            name: name.into(),
            attributes: attrs(pairs),
            events: events
                .iter()
                .map(|e| span::Event {
                    name: (*e).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    pub fn traces(res: &[(&str, &str)], spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(res),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub fn spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
        req.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }
}
