//! What the connector sends on as OTLP, through the pipelines it feeds:
//!
//! - **logs**: the engine's events as signal events (`kafka_obs.signal` log records):
//!   Situations for each situation change, Actors for each notification decision
//!   (REPORT, EXPLAIN, AFFIRM, DENY) and, with `notify.command`, a COMMAND per performed one;
//!   Statuses for each status change with `export.status_changes`.
//! - **metrics**: the `kafka_obs.status` gauge, one point per live cell, with the cell's
//!   situation and variability as extra attributes.
//! - **traces**: each closed incident as one trace: a root span from opening to close and a
//!   child span per member cell from its onset to its recovery, in causal order, with the
//!   member's evidence as span events. Ids are derived from the incident, so a resend is the
//!   same trace.

use std::collections::HashMap;

use kafka_obs_cells::{Hierarchy, Incident, Link};
use kafka_obs_signal::otlp::{ExportResource, status};
use opentelemetry_proto::tonic::{
    collector::{metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    metrics::v1::NumberDataPoint,
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status as span_status},
};

/// Instrumentation scope of the connector's traces.
pub const SCOPE: &str = "kafka-obs-central";

/// Attribute keys of the incident traces and the extra status gauge attributes; a public
/// contract (documented in `docs/components/connector-hierarchy.md`).
pub mod attr {
    /// Incident number (int).
    pub const INCIDENT_ID: &str = "kafka_obs.incident.id";
    /// The cluster of the incident (string).
    pub const INCIDENT_CLUSTER: &str = "kafka_obs.incident.cluster";
    /// WARNING or CRITICAL (string).
    pub const INCIDENT_SITUATION: &str = "kafka_obs.incident.situation";
    /// Path of the probable root cause (string).
    pub const INCIDENT_ROOT_CAUSE: &str = "kafka_obs.incident.root_cause";
    /// The chain as one sentence (string).
    pub const INCIDENT_EXPLANATION: &str = "kafka_obs.incident.explanation";
    /// Members listed in the chain (int).
    pub const INCIDENT_MEMBERS: &str = "kafka_obs.incident.members";
    /// A member cell's path (string).
    pub const CELL_PATH: &str = "kafka_obs.cell.path";
    /// A member cell's kind: broker, client, ... (string).
    pub const CELL_KIND: &str = "kafka_obs.cell.kind";
    /// Position of the member in the chain, 0 = root cause (int).
    pub const CHAIN_POSITION: &str = "kafka_obs.chain.position";
    /// The worst status the member had (string).
    pub const PEAK_STATUS: &str = "kafka_obs.cell.peak_status";
    /// Its confidence (string).
    pub const PEAK_CONFIDENCE: &str = "kafka_obs.cell.peak_confidence";
    /// Status gauge: the cell's situation (string).
    pub const SITUATION: &str = "situation";
    /// Status gauge: the cell's variability (string).
    pub const VARIABILITY: &str = "variability";
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string(v: impl Into<String>) -> Value {
    Value::StringValue(v.into())
}

fn int(v: u64) -> Value {
    Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The OTLP resource of everything the connector exports.
pub fn resource(export: &ExportResource, source_id: &str) -> Resource {
    let mut attributes = vec![kv("service.name", string(&export.service_name))];
    if !source_id.is_empty() {
        attributes.push(kv("service.instance.id", string(source_id)));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// One point per live (not stale) cell with a status, the root excepted.
pub fn status_points(h: &Hierarchy, now: u64) -> Vec<NumberDataPoint> {
    let mut points: Vec<(String, NumberDataPoint)> = Vec::new();
    for view in h.cells() {
        let (Some(st), false) = (view.status, view.stale) else {
            continue;
        };
        if view.path.is_empty() {
            continue;
        }
        let Some(subject) = h.subject(view.id) else {
            continue;
        };
        let mut point =
            status::status_data_point(&subject, st.sign, st.confidence, "cells.rollup", now);
        point
            .attributes
            .push(kv(attr::SITUATION, string(view.situation.sign.as_str())));
        point.attributes.push(kv(
            attr::VARIABILITY,
            string(view.situation.variability.as_str()),
        ));
        points.push((view.path, point));
    }
    points.sort_by(|a, b| a.0.cmp(&b.0));
    points.into_iter().map(|(_, p)| p).collect()
}

/// The status gauge request for `points`.
pub fn status_request(
    points: Vec<NumberDataPoint>,
    source_id: &str,
    export: &ExportResource,
) -> ExportMetricsServiceRequest {
    status::to_metrics_request(status::status_gauge(points), source_id, export)
}

/// The status gauge for `points`, at most `batch_size` points per request, so that a large
/// hierarchy does not make one request bigger than a receiver takes.
pub fn status_requests(
    points: Vec<NumberDataPoint>,
    batch_size: usize,
    source_id: &str,
    export: &ExportResource,
) -> Vec<ExportMetricsServiceRequest> {
    let batch_size = batch_size.max(1);
    let mut requests = Vec::with_capacity(points.len().div_ceil(batch_size));
    let mut points = points.into_iter().peekable();
    while points.peek().is_some() {
        let chunk: Vec<NumberDataPoint> = points.by_ref().take(batch_size).collect();
        requests.push(status_request(chunk, source_id, export));
    }
    requests
}

/// FNV-1a, 64 bits: a small stable hash for deterministic ids.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Trace id of an incident: from the engine's source id, the incident's number and its
/// opening time (numbers restart with the process; the pair does not repeat).
pub fn trace_id(source_id: &str, incident: &Incident) -> [u8; 16] {
    let id = incident.id.to_be_bytes();
    let opened = incident.opened_ns.to_be_bytes();
    let a = fnv(&[b"trace-a", source_id.as_bytes(), &id, &opened]);
    let b = fnv(&[b"trace-b", source_id.as_bytes(), &id, &opened]);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

fn span_id(trace: &[u8; 16], what: &[u8]) -> [u8; 8] {
    let mut id = fnv(&[b"span", trace, what]);
    if id == 0 {
        id = 1;
    }
    id.to_be_bytes()
}

fn link_attributes(position: usize, link: &Link) -> Vec<KeyValue> {
    vec![
        kv(attr::CELL_PATH, string(&link.path)),
        kv(
            attr::CELL_KIND,
            string(
                serde_json::to_value(link.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
        ),
        kv(attr::CHAIN_POSITION, int(position as u64)),
        kv(attr::PEAK_STATUS, string(link.peak.sign.as_str())),
        kv(attr::PEAK_CONFIDENCE, string(link.peak.confidence.as_str())),
    ]
}

fn evidence_events(link: &Link) -> Vec<span::Event> {
    link.evidence
        .iter()
        .map(|r| {
            let mut attributes = vec![
                kv("signal.rule", string(&r.rule)),
                kv("signal.source_id", string(&r.source)),
            ];
            if let Some(t) = r.evidence.threshold {
                attributes.push(kv("signal.threshold", Value::DoubleValue(t)));
            }
            for (name, v) in &r.evidence.values {
                attributes.push(kv(
                    &format!("signal.evidence.{name}"),
                    Value::DoubleValue(*v),
                ));
            }
            span::Event {
                time_unix_nano: r.time_unix_nano,
                name: r.signal.clone(),
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect()
}

/// A closed (or open, with `end` as now) incident as one trace. `recovered` gives a member's
/// recovery time by path when known; otherwise its span ends with the incident.
pub fn incident_trace(
    incident: &Incident,
    end: u64,
    recovered: &HashMap<String, u64>,
    source_id: &str,
    export: &ExportResource,
) -> ExportTraceServiceRequest {
    let trace = trace_id(source_id, incident);
    let root = span_id(&trace, b"root");
    let first_onset = incident
        .chain
        .iter()
        .map(|l| l.onset_unix_nano)
        .min()
        .unwrap_or(incident.opened_ns);
    let start = first_onset.min(incident.opened_ns);
    let end = end.max(start);
    let mut spans = Vec::with_capacity(incident.chain.len() + 1);
    spans.push(Span {
        trace_id: trace.to_vec(),
        span_id: root.to_vec(),
        name: "kafka_obs.incident".into(),
        kind: span::SpanKind::Internal.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![
            kv(attr::INCIDENT_ID, int(incident.id)),
            kv(attr::INCIDENT_CLUSTER, string(&incident.cluster)),
            kv(
                attr::INCIDENT_SITUATION,
                string(incident.situation.as_str()),
            ),
            kv(attr::INCIDENT_ROOT_CAUSE, string(&incident.root_cause)),
            kv(attr::INCIDENT_EXPLANATION, string(&incident.explanation)),
            kv(
                attr::INCIDENT_MEMBERS,
                int((incident.chain.len() + incident.unlisted) as u64),
            ),
        ],
        status: Some(Status {
            message: incident.explanation.clone(),
            code: span_status::StatusCode::Error.into(),
        }),
        ..Span::default()
    });
    for (position, link) in incident.chain.iter().enumerate() {
        let s = link.onset_unix_nano.clamp(start, end);
        let e = recovered
            .get(&link.path)
            .copied()
            .filter(|t| *t >= s)
            .unwrap_or(end)
            .min(end);
        spans.push(Span {
            trace_id: trace.to_vec(),
            span_id: span_id(&trace, link.path.as_bytes()).to_vec(),
            parent_span_id: root.to_vec(),
            name: link.name.clone(),
            kind: span::SpanKind::Internal.into(),
            start_time_unix_nano: s,
            end_time_unix_nano: e.max(s),
            attributes: link_attributes(position, link),
            events: evidence_events(link),
            ..Span::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(export, source_id)),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
