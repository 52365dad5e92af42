//! The query API and the live web view, served by one listener.
//!
//! The engine lives in the connector's task and is never locked: the HTTP side asks it
//! questions over a bounded channel (each with a oneshot for the answer, owned snapshot types
//! that serialize here, off the engine's task), and reads the live snapshot (tree, incidents,
//! totals) that the engine publishes on a `watch` whenever something changed, at most every
//! `api.publish_interval`. Server-sent events push each new snapshot to the page.
//!
//! Endpoints (JSON unless noted; `subject` is a qualified path such as
//! `cluster=prod/broker=2`, empty or absent for the root):
//!
//! | path | answer |
//! |---|---|
//! | `GET /` | the web page (HTML) |
//! | `GET /api/v1/tree?subject=&depth=` | the subtree (`depth` levels, default `api.tree_depth`) |
//! | `GET /api/v1/cell?subject=` | one cell: view, readings with evidence, history, children |
//! | `GET /api/v1/history?subject=` | the cell's history ring |
//! | `GET /api/v1/incidents` | `{open: [...], closed: [...]}` with chains |
//! | `GET /api/v1/incidents/{id}` | one incident |
//! | `GET /api/v1/federation` | the federated cells this hierarchy took from children, by path: origin, child, the child's situation and incident |
//! | `GET /api/v1/snapshot` | the live snapshot the page shows |
//! | `GET /api/v1/events` | server-sent events: `snapshot` with the same JSON on each change |
//! | `GET /api/v1/health` | totals and `status: ok` |
//!
//! Live-view clients cost the central little however many there are and however slowly they
//! read: each snapshot is framed as an event once and every client's response shares those
//! bytes; at most `api.max_live_clients` are served at once (more get 503, counted); and a
//! connection whose client took no bytes for `api.write_timeout` is closed and counted
//! ([`crate::write_deadline`]), so a client that never reads holds nothing for long.
//!
//! With `api.auth`, every request (the page too) must pass the authenticator; a browser that
//! cannot send a header may put the token in the `access_token` query parameter (RFC 6750
//! section 2.3; checked as `Authorization: Bearer <token>`), and the page passes it on.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use kafka_obs_api::{AuthCapability, Counter, Gauge, RunError};
use kafka_obs_cells::federation::Federated;
use kafka_obs_cells::{
    CellDetail, CellNode, HistoryEntry, Incident, IncidentId, IncidentsView, Stats,
};
use kafka_obs_signal::Subject;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::ApiSettings;
use crate::write_deadline::DeadlineListener;

/// The page, one self-contained file.
const PAGE: &str = include_str!("page.html");

/// How long a query waits for the engine before answering 503.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// A live-view stream without news sends a comment this often, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A question for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    /// The subtree under a subject.
    Tree { subject: Subject, depth: usize },
    /// One cell in detail.
    Cell(Subject),
    /// One cell's history.
    History(Subject),
    /// Open and recent closed incidents.
    Incidents,
    /// One incident.
    Incident(IncidentId),
    /// The federated cells taken from children.
    Federation,
    /// Totals.
    Health,
}

/// The engine's answer.
#[derive(Debug)]
pub enum Answer {
    Tree(Option<CellNode>),
    Cell(Option<Box<CellDetail>>),
    History(Option<Vec<HistoryEntry>>),
    Incidents(IncidentsView),
    Incident(Option<Box<Incident>>),
    Federation(BTreeMap<String, Federated>),
    Health(Health),
}

/// A question with its reply channel.
#[derive(Debug)]
pub struct Ask {
    pub query: Question,
    pub reply: oneshot::Sender<Answer>,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Always `ok` when the engine answers.
    pub status: &'static str,
    /// The engine's totals.
    pub stats: Stats,
    /// Arrival of the last signal (ns since the epoch), if any.
    pub last_signal_unix_nano: Option<u64>,
    /// Signal records that did not decode.
    pub bad_records: u64,
    /// Clusters dropped after their partitions were revoked.
    pub dropped_clusters: u64,
}

/// What the live view shows; published by the engine on each change.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Increases with every publication.
    pub version: u64,
    /// When it was taken (ns since the epoch).
    pub time_unix_nano: u64,
    /// The tree from the root, `api.tree_depth` levels deep.
    pub tree: Option<CellNode>,
    /// Open and recent closed incidents.
    pub incidents: IncidentsView,
    /// The engine's totals.
    pub stats: Stats,
    #[serde(skip)]
    json: OnceLock<String>,
    #[serde(skip)]
    event: OnceLock<Bytes>,
}

impl Snapshot {
    /// A snapshot.
    pub fn new(
        version: u64,
        time_unix_nano: u64,
        tree: Option<CellNode>,
        incidents: IncidentsView,
        stats: Stats,
    ) -> Self {
        Self {
            version,
            time_unix_nano,
            tree,
            incidents,
            stats,
            json: OnceLock::new(),
            event: OnceLock::new(),
        }
    }

    /// Its JSON, serialized once whoever asks first.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }

    /// Its server-sent event (`event: snapshot`, its version as the id, the JSON as data),
    /// framed once: every live-view client's response holds these same bytes, so clients
    /// that read slowly do not each keep a copy of a large tree. The JSON is one line (JSON
    /// text escapes line breaks inside strings), so one `data:` field carries it.
    pub fn event(&self) -> Bytes {
        self.event
            .get_or_init(|| {
                Bytes::from(format!(
                    "event: snapshot\nid: {}\ndata: {}\n\n",
                    self.version,
                    self.json()
                ))
            })
            .clone()
    }
}

/// The API's self-metrics.
#[derive(Debug, Clone, Default)]
pub struct ApiCounters {
    /// Requests answered.
    pub requests: Counter,
    /// Requests refused by the authenticator.
    pub unauthorized: Counter,
    /// Queries the engine did not answer in time (503).
    pub unavailable: Counter,
    /// Live-view (SSE) clients connected now.
    pub sse_clients: Gauge,
    /// Live-view clients turned away because `api.max_live_clients` were connected.
    pub live_clients_refused: Counter,
    /// Connections closed because the client took no bytes for `api.write_timeout`.
    pub slow_clients_dropped: Counter,
}

#[derive(Clone)]
struct AppState {
    auth: Option<AuthCapability>,
    queries: mpsc::Sender<Ask>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    tree_depth: usize,
    counters: ApiCounters,
    /// One permit per live-view client that may connect.
    live_slots: Arc<Semaphore>,
    max_live_clients: usize,
    stop: CancellationToken,
}

/// The bound listener and what the handlers need; built at build time, run as a task.
pub struct ApiServer {
    listener: std::net::TcpListener,
    write_timeout: Duration,
    state: AppState,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("listener", &self.listener.local_addr().ok())
            .finish()
    }
}

impl ApiServer {
    /// A server on a bound listener, with the `api` section's limits.
    pub fn new(
        listener: std::net::TcpListener,
        settings: &ApiSettings,
        auth: Option<AuthCapability>,
        queries: mpsc::Sender<Ask>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        counters: ApiCounters,
    ) -> Self {
        Self {
            listener,
            write_timeout: settings.write_timeout,
            state: AppState {
                auth,
                queries,
                snapshots,
                tree_depth: settings.tree_depth,
                counters,
                live_slots: Arc::new(Semaphore::new(settings.max_live_clients)),
                max_live_clients: settings.max_live_clients,
                stop: CancellationToken::new(),
            },
        }
    }

    /// Serves until `stop` fires; live-view streams end with it.
    pub async fn run(self, stop: CancellationToken) -> Result<(), RunError> {
        let Self {
            listener,
            write_timeout,
            mut state,
        } = self;
        listener.set_nonblocking(true)?;
        let listener = DeadlineListener::new(
            tokio::net::TcpListener::from_std(listener)?,
            write_timeout,
            state.counters.slow_clients_dropped.clone(),
        );
        state.stop = stop.clone();
        let app = router(state);
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .map_err(RunError::Io)
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/index.html", get(page))
        .route("/api/v1/tree", get(tree))
        .route("/api/v1/cell", get(cell))
        .route("/api/v1/history", get(history))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/incidents/{id}", get(incident))
        .route("/api/v1/federation", get(federation))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/events", get(events))
        .route("/api/v1/health", get(health))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() }).to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn json_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

fn to_json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => json_ok(text),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(auth) = &state.auth
        && let Err(e) = auth.authenticate(request.headers())
    {
        let from_query = Query::<HashMap<String, String>>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.get("access_token").cloned())
            .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok())
            .is_some_and(|value| {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                auth.authenticate(&headers).is_ok()
            });
        if !from_query {
            state.counters.unauthorized.inc();
            let mut response = json_error(StatusCode::UNAUTHORIZED, e.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kafka-obs\""),
            );
            return response;
        }
    }
    state.counters.requests.inc();
    next.run(request).await
}

async fn page() -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        PAGE,
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such endpoint; see /api/v1/health, /api/v1/tree, /api/v1/cell?subject=, /api/v1/incidents",
    )
}

// The error is the response to send; a handler returns it at once.
#[allow(clippy::result_large_err)]
async fn ask(state: &AppState, query: Question) -> Result<Answer, Response> {
    let (reply, answer) = oneshot::channel();
    let unavailable = |what: &str| {
        state.counters.unavailable.inc();
        json_error(StatusCode::SERVICE_UNAVAILABLE, what.to_string())
    };
    match state.queries.try_send(Ask { query, reply }) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            return Err(unavailable("the engine is busy; try again"));
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            return Err(unavailable("the engine has stopped"));
        }
    }
    match tokio::time::timeout(QUERY_TIMEOUT, answer).await {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(_)) => Err(unavailable("the engine has stopped")),
        Err(_) => Err(unavailable("the engine did not answer in time")),
    }
}

#[allow(clippy::result_large_err)]
fn subject_param(params: &HashMap<String, String>) -> Result<Subject, Response> {
    match params.get("subject").map(|s| s.trim()) {
        None | Some("") => Ok(Subject::root()),
        Some(text) => text.parse().map_err(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "subject {text:?}: {e}; write a qualified path such as cluster=prod/broker=2"
                ),
            )
        }),
    }
}

fn missing(subject: &Subject) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!("no cell {:?}", subject.qualified()),
    )
}

/// Answers a question about the cell the `subject` parameter names (root when absent): its
/// JSON, 400 for a bad parameter (`question` says what is wrong with its own), 404 when there
/// is no such cell.
async fn about_cell(
    state: &AppState,
    params: &HashMap<String, String>,
    question: impl FnOnce(Subject) -> Result<Question, &'static str>,
) -> Response {
    let subject = match subject_param(params) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let question = match question(subject.clone()) {
        Ok(q) => q,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    match ask(state, question).await {
        Ok(Answer::Tree(Some(node))) => to_json(&node),
        Ok(Answer::Cell(Some(detail))) => to_json(&detail),
        Ok(Answer::History(Some(h))) => to_json(&h),
        Ok(_) => missing(&subject),
        Err(r) => r,
    }
}

async fn tree(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    about_cell(&state, &params, |subject| {
        let depth = match params.get("depth").map(|d| d.parse::<usize>()) {
            None => state.tree_depth,
            Some(Ok(d)) if d <= 64 => d,
            Some(_) => return Err("depth must be 0-64"),
        };
        Ok(Question::Tree { subject, depth })
    })
    .await
}

async fn cell(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    about_cell(&state, &params, |subject| Ok(Question::Cell(subject))).await
}

async fn history(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    about_cell(&state, &params, |subject| Ok(Question::History(subject))).await
}

async fn incidents(State(state): State<AppState>) -> Response {
    match ask(&state, Question::Incidents).await {
        Ok(Answer::Incidents(view)) => to_json(&view),
        Ok(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn federation(State(state): State<AppState>) -> Response {
    match ask(&state, Question::Federation).await {
        Ok(Answer::Federation(cells)) => to_json(&cells),
        Ok(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn incident(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<IncidentId>() else {
        return json_error(StatusCode::BAD_REQUEST, "an incident id is a number");
    };
    match ask(&state, Question::Incident(id)).await {
        Ok(Answer::Incident(Some(i))) => to_json(&i),
        Ok(_) => json_error(StatusCode::NOT_FOUND, format!("no incident {id}")),
        Err(r) => r,
    }
}

async fn health(State(state): State<AppState>) -> Response {
    match ask(&state, Question::Health).await {
        Ok(Answer::Health(h)) => to_json(&h),
        Ok(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn snapshot(State(state): State<AppState>) -> Response {
    let snap = state.snapshots.borrow().clone();
    json_ok(snap.json().to_string())
}

/// Holds a live-view client's place (its permit, its count) for as long as its stream lives.
struct ClientSlot(Gauge, #[allow(dead_code)] OwnedSemaphorePermit);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

async fn events(State(state): State<AppState>) -> Response {
    let Ok(permit) = state.live_slots.clone().try_acquire_owned() else {
        state.counters.live_clients_refused.inc();
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} live-view clients are connected, as many as api.max_live_clients allows; try again later",
                state.max_live_clients
            ),
        );
    };
    let mut rx = state.snapshots.clone();
    rx.mark_changed();
    state.counters.sse_clients.add(1);
    let slot = ClientSlot(state.counters.sse_clients.clone(), permit);
    let stream = futures::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        let frame = tokio::select! {
            changed = rx.changed() => {
                changed.ok()?;
                let snap = rx.borrow_and_update().clone();
                snap.event()
            }
            () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b":\n\n"),
        };
        Some((Ok::<_, Infallible>(frame), (rx, slot)))
    })
    .take_until(state.stop.clone().cancelled_owned());
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_obs_cells::{Hierarchy, HierarchyConfig};
    use kafka_obs_signal::{Evidence, Signal, SignalKind, statuses};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A snapshot of a tree of `cells` instances with long names: about 1 MB of JSON.
    fn big_snapshot(version: u64) -> Snapshot {
        let mut h = Hierarchy::new(HierarchyConfig::default()).unwrap();
        let long = "x".repeat(200);
        for i in 0..2000 {
            let path = format!("cluster=c/service=s{}/instance=i{i}{long}", i % 10);
            let signal = Signal::new(
                path.parse().unwrap(),
                SignalKind::Statuses(statuses::Sign::Stable, statuses::Confidence::Confirmed),
                Evidence::rule("t"),
                1,
            )
            .from_source("test");
            h.ingest(&signal, 1);
        }
        let tree = h.tree(&Subject::root(), 8);
        Snapshot::new(version, 1, tree, h.incidents(), h.stats())
    }

    struct Running {
        addr: std::net::SocketAddr,
        counters: ApiCounters,
        snapshots: watch::Sender<Arc<Snapshot>>,
        stop: CancellationToken,
    }

    fn serve(max_live_clients: usize, write_timeout: Duration) -> Running {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (snapshots, rx) = watch::channel(Arc::new(big_snapshot(1)));
        let (queries, _) = mpsc::channel(1);
        let counters = ApiCounters::default();
        let settings = ApiSettings {
            endpoint: addr.to_string(),
            auth: None,
            publish_interval: Duration::from_millis(100),
            tree_depth: 8,
            write_timeout,
            max_live_clients,
        };
        let server = ApiServer::new(listener, &settings, None, queries, rx, counters.clone());
        let stop = CancellationToken::new();
        tokio::spawn(server.run(stop.clone()));
        Running {
            addr,
            counters,
            snapshots,
            stop,
        }
    }

    async fn open_events(addr: std::net::SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        s
    }

    async fn status_line(s: &mut TcpStream) -> String {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    #[tokio::test]
    async fn every_live_client_shares_one_framed_event() {
        let snap = big_snapshot(7);
        let (a, b) = (snap.event(), snap.event());
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same bytes, not a copy");
        let text = std::str::from_utf8(&a).unwrap();
        assert!(text.starts_with("event: snapshot\nid: 7\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 4, "the JSON is one line");
        assert!(a.len() > 500_000, "{}", a.len());
    }

    #[tokio::test]
    async fn a_client_that_never_reads_is_dropped_and_counted_and_frees_its_place() {
        let run = serve(1, Duration::from_millis(500));
        let mut idle = open_events(run.addr).await;
        // Its place is taken: a second client is turned away and counted.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while run.counters.sse_clients.get() < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first client was not served"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut second = open_events(run.addr).await;
        assert!(status_line(&mut second).await.contains("503"));
        assert_eq!(run.counters.live_clients_refused.get(), 1);
        // New snapshots (about 1 MB each) until the idle client's buffers are full and the
        // write deadline closes it.
        let mut version = 2;
        while run.counters.slow_clients_dropped.get() == 0 {
            assert!(
                std::time::Instant::now() < deadline + Duration::from_secs(20),
                "never dropped"
            );
            run.snapshots.send_replace(Arc::new(big_snapshot(version)));
            version += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(run.counters.slow_clients_dropped.get(), 1);
        // Its connection ends (after what was already buffered) and its place is free again.
        let mut buf = vec![0u8; 1 << 16];
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match idle.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the central kept the connection open");
        while run.counters.sse_clients.get() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut third = open_events(run.addr).await;
        assert!(status_line(&mut third).await.contains("200"));
        run.stop.cancel();
    }
}
