//! The Actors layer's delivery: an incident's opening, updates and close POSTed to a webhook
//! in the shape of Alertmanager's v2 API (`POST /api/v2/alerts`, a JSON array of alerts with
//! `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`), so Alertmanager itself or
//! anything that accepts its alerts (Grafana, PagerDuty bridges, a chat relay) can take them.
//!
//! The engine decides *whether* to notify (de-duplication, rate limit, one open and one close
//! per incident); this module only delivers, from its own task behind a bounded queue, so a
//! slow or dead receiver never holds up ingest: a full queue drops the notice and counts it.
//! Each notice is tried `max_attempts` times with a doubling pause; connection errors,
//! timeouts, 429 and 5xx are retried, other answers are not.
//!
//! An alert's labels identify the incident and are fixed at its opening (Alertmanager matches
//! an update and the close to the open alert by its labels): `alertname` `KafkaObsIncident`,
//! `incident_id`, `source`, `cluster`, `severity` (at opening), `root_cause` (at opening).
//! Everything that changes goes into annotations.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use kafka_obs_api::{BuildError, Counter};
use kafka_obs_cells::{ActionKind, Incident, IncidentId};
use kafka_obs_net::TlsConfig;
use kafka_obs_net::tls::client::http1_connector;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::WebhookSettings;

/// One notification to deliver.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Open, update or close.
    pub kind: ActionKind,
    /// The incident as it was when the engine decided.
    pub incident: Incident,
    /// The engine's key for it, `incident-<id>-<kind>`.
    pub dedupe_key: String,
}

/// The webhook's counters.
#[derive(Debug, Clone, Default)]
pub struct WebhookCounters {
    /// Notices the receiver accepted.
    pub sent: Counter,
    /// Notices given up on.
    pub failed: Counter,
    /// Attempts after the first.
    pub retries: Counter,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The webhook sender (built at build time, run as its own task).
pub struct Webhook {
    settings: WebhookSettings,
    client: HttpsClient,
    counters: WebhookCounters,
    source_id: String,
    /// Base of `generatorURL`: the web view's address (`http://host:port/`), if any.
    generator: String,
    /// Labels of the incidents whose opening was posted.
    labels: HashMap<IncidentId, Value>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("endpoint", &self.settings.endpoint)
            .finish()
    }
}

fn client() -> Result<HttpsClient, BuildError> {
    // The system's CA certificates (`kafka_obs_net`'s default client TLS). A missing system
    // store only matters for https endpoints; their handshake then fails with an unknown
    // issuer, which is logged per attempt.
    let tls = TlsConfig::default()
        .client_config(&[])
        .map_err(|e| BuildError::Other(format!("notify::webhook: TLS set-up failed: {e}")))?;
    let connector = http1_connector(&tls, None);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// RFC 3339 with milliseconds, as Alertmanager writes times.
pub fn rfc3339(ns: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// The labels an incident's alert keeps for its whole life.
pub fn labels(incident: &Incident, source_id: &str) -> Value {
    json!({
        "alertname": "KafkaObsIncident",
        "incident_id": incident.id.to_string(),
        "source": source_id,
        "cluster": incident.cluster,
        "severity": incident.situation.as_str().to_ascii_lowercase(),
        "root_cause": incident.root_cause,
    })
}

/// The alert for one notice (Alertmanager v2 `postableAlert`).
pub fn alert(notice: &Notice, labels: Value, generator: &str) -> Value {
    let i = &notice.incident;
    let chain: Vec<Value> = i
        .chain
        .iter()
        .map(|l| {
            json!({
                "path": l.path,
                "status": l.peak.sign.as_str(),
                "confidence": l.peak.confidence.as_str(),
                "onset": rfc3339(l.onset_unix_nano),
                "recovered": l.recovered,
                "evidence": l.evidence.iter().map(|r| json!({
                    "signal": r.signal,
                    "rule": r.rule,
                    "values": r.evidence.values,
                    "threshold": r.evidence.threshold,
                    "source": r.source,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let root_name = i
        .chain
        .first()
        .map_or(i.root_cause.as_str(), |l| l.name.as_str());
    let action = match notice.kind {
        ActionKind::NotifyOpen => "open",
        ActionKind::NotifyUpdate => "update",
        ActionKind::NotifyClose => "close",
    };
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": format!(
                "{} in cluster {}: {} (root cause {root_name}, {} cells)",
                i.situation.as_str(),
                if i.cluster.is_empty() { "-" } else { i.cluster.as_str() },
                if notice.kind == ActionKind::NotifyClose { "resolved" } else { "incident" },
                i.chain.len() + i.unlisted,
            ),
            "description": i.explanation,
            "situation": i.situation.as_str(),
            "root_cause": i.root_cause,
            "chain": serde_json::to_string(&chain).unwrap_or_default(),
            "action": action,
            "dedupe_key": notice.dedupe_key,
        },
        "startsAt": rfc3339(i.opened_ns),
        "generatorURL": if generator.is_empty() { String::new() } else { format!("{generator}#incident={}", i.id) },
    });
    if let (ActionKind::NotifyClose, Some(obj)) = (notice.kind, alert.as_object_mut()) {
        let closed = i.closed_ns.unwrap_or(i.updated_ns);
        obj.insert("endsAt".into(), Value::String(rfc3339(closed)));
    }
    alert
}

enum Failure {
    Retryable(String),
    Permanent(String),
}

impl Webhook {
    /// A webhook sender; builds its HTTP client (no connection yet).
    pub fn new(
        settings: WebhookSettings,
        counters: WebhookCounters,
        source_id: String,
        generator: String,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            settings,
            client: client()?,
            counters,
            source_id,
            generator,
            labels: HashMap::new(),
        })
    }

    /// Delivers notices until the queue closes and is empty, or `stop` fires.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Notice>, stop: CancellationToken) {
        loop {
            let notice = tokio::select! {
                n = queue.recv() => match n { Some(n) => n, None => break },
                () = stop.cancelled() => break,
            };
            if notice.kind == ActionKind::NotifyClose && !self.settings.send_resolved {
                self.labels.remove(&notice.incident.id);
                continue;
            }
            let labels = match notice.kind {
                ActionKind::NotifyOpen => self
                    .labels
                    .entry(notice.incident.id)
                    .or_insert_with(|| labels(&notice.incident, &self.source_id))
                    .clone(),
                ActionKind::NotifyUpdate => self
                    .labels
                    .get(&notice.incident.id)
                    .cloned()
                    .unwrap_or_else(|| labels(&notice.incident, &self.source_id)),
                ActionKind::NotifyClose => self
                    .labels
                    .remove(&notice.incident.id)
                    .unwrap_or_else(|| labels(&notice.incident, &self.source_id)),
            };
            let body = Value::Array(vec![alert(&notice, labels, &self.generator)]).to_string();
            tokio::select! {
                () = self.deliver(&notice, body) => {}
                () = stop.cancelled() => break,
            }
        }
    }

    async fn deliver(&self, notice: &Notice, body: String) {
        let mut pause = self.settings.retry_interval;
        for attempt in 1..=self.settings.max_attempts {
            if attempt > 1 {
                self.counters.retries.inc();
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            match self.post(body.clone()).await {
                Ok(()) => {
                    self.counters.sent.inc();
                    tracing::debug!(incident = notice.incident.id, key = %notice.dedupe_key, "hierarchy: webhook accepted the notification");
                    return;
                }
                Err(Failure::Retryable(e)) if attempt < self.settings.max_attempts => {
                    tracing::debug!(incident = notice.incident.id, attempt, error = %e, "hierarchy: webhook attempt failed; retrying");
                }
                Err(Failure::Retryable(e) | Failure::Permanent(e)) => {
                    self.counters.failed.inc();
                    tracing::warn!(
                        endpoint = %self.settings.endpoint,
                        incident = notice.incident.id,
                        key = %notice.dedupe_key,
                        attempts = attempt,
                        error = %e,
                        "hierarchy: webhook notification failed; giving up on it"
                    );
                    return;
                }
            }
        }
    }

    async fn post(&self, body: String) -> Result<(), Failure> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.settings.endpoint.clone());
        if let Some(h) = request.headers_mut() {
            for (name, value) in &self.settings.headers {
                h.insert(name.clone(), value.clone());
            }
            h.insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::Permanent(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::Retryable(format!("POST failed: {}", chain(&e))))?;
            let status = response.status();
            // Read the body so the connection can be reused; its text helps an error.
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            let message = format!("answered {status}: {text}");
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                Err(Failure::Retryable(message))
            } else {
                Err(Failure::Permanent(message))
            }
        };
        match tokio::time::timeout(self.settings.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retryable(format!(
                "no answer within {:?}",
                self.settings.timeout
            ))),
        }
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Now as nanoseconds since the epoch.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
