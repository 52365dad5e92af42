//! The central side end to end, with the real binary: connector `hierarchy` behind the
//! `otlp` receiver, fed by a real sidecar reading the scenario JVM over JMX or by OTLP
//! clients sending signal events; its query API, webhook and web view checked from outside.
//!
//! - a lag spike makes the consumer's cell DEGRADED with the C1 evidence, NORMAL after
//!   recovery (scenario JVM -> sidecar jmx -> signals -> otlp -> central);
//! - the seed's correlation example: broker under-replication, then producer buffer
//!   overflow, then business failures -> one incident whose chain lists them in that order;
//! - a flapping partition makes its parent VOLATILE and the webhook gets exactly one open
//!   and one close;
//! - bearer-token auth on the API and the page;
//! - the web page in headless Chromium (driven over the DevTools protocol): the tree renders,
//!   a cell changes colour when its status changes, the incident chain is visible;
//!   screenshots are kept under `<target>/test-artefacts/`;
//! - a story that ends in recovery, sidecar and central as two processes over the signal
//!   stream: every condition, cell and incident clears (module `recovery`);
//! - the central under load: streams, OTLP senders, never-reading web-view clients and bad
//!   requests at once; every accepted signal in the engine, slow clients dropped (module
//!   `load`).
//!
//! Engine time is the collector's wall clock, so the configs use short intervals and every
//! wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_obs_signal::{Evidence, Signal, SignalKind, statuses};
use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::scenario::{Role, ScenarioJvm, names};
use kafka_obs_tests::webhook::Webhook;
use kafka_obs_tests::{Collector, CollectorOptions, SignalSender};
use serde_json::Value;

#[path = "central/load.rs"]
mod load;
#[path = "central/recovery.rs"]
mod recovery;

// ---- helpers -------------------------------------------------------------------------------

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// GET with optional headers; status and body.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    // A peer not listening yet answers status 0, so callers can poll.
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let (status, body) = get(addr, path, &[]);
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Polls `probe` every 100 ms for at most `limit`.
fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first cell of the tree (depth-first) whose `level=name` is `segment`.
fn find_cell<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    if format!("{}={}", node["level"].as_str()?, node["name"].as_str()?) == segment {
        return Some(node);
    }
    node["nodes"]
        .as_array()?
        .iter()
        .find_map(|n| find_cell(n, segment))
}

fn status_of(cell: &Value) -> &str {
    cell["status"]["status"].as_str().unwrap_or("NONE")
}

fn situation_of(cell: &Value) -> (&str, &str) {
    (
        cell["situation"]["situation"].as_str().unwrap_or(""),
        cell["situation"]["variability"].as_str().unwrap_or(""),
    )
}

/// A central collector: `otlp` (gRPC) -> `hierarchy` with its API, outputs to a file.
struct Central {
    collector: Collector,
    api: SocketAddr,
    otlp: u16,
    /// The file exporter's output (logs and traces).
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Central {
    /// `hierarchy` holds extra connector keys (YAML lines at 4 spaces); `top` extra top-level
    /// sections (extensions).
    fn start(hierarchy: &str, top: &str, service_extensions: &str) -> Central {
        let otlp = free_port();
        let api_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let yaml = format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp}
connectors:
  hierarchy:
    tick_interval: 100ms
    source_id: central-test
{hierarchy}
exporters:
  file/out:
    path: {out}
{top}
service:
{service_extensions}
  pipelines:
    logs/in:
      receivers: [otlp]
      exporters: [hierarchy]
    metrics/in:
      receivers: [otlp]
      exporters: [hierarchy]
    logs/out:
      receivers: [hierarchy]
      exporters: [file/out]
    traces/out:
      receivers: [hierarchy]
      exporters: [file/out]
"#,
            out = out.display()
        )
        .replace("API_PORT", &api_port.to_string());
        let collector = Collector::start(&yaml);
        let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();
        wait_for_port(api, Duration::from_secs(10)).expect("the API listens");
        let otlp_addr: SocketAddr = format!("127.0.0.1:{otlp}").parse().unwrap();
        wait_for_port(otlp_addr, Duration::from_secs(10)).expect("the OTLP receiver listens");
        Central {
            collector,
            api,
            otlp,
            out,
            _dir: dir,
        }
    }

    fn tree(&self) -> Value {
        get_json(self.api, "/api/v1/tree").expect("tree")
    }

    fn cell(&self, path: &str) -> Option<Value> {
        get_json(self.api, &format!("/api/v1/cell?subject={path}"))
    }

    fn incidents(&self) -> Value {
        get_json(self.api, "/api/v1/incidents").expect("incidents")
    }
}

fn status_signal(path: &str, sign: statuses::Sign, rule: &str) -> Signal {
    Signal::new(
        path.parse().unwrap(),
        SignalKind::Statuses(sign, statuses::Confidence::Confirmed),
        Evidence::rule(rule).with("value", 1.0),
        now_ns(),
    )
    .from_source("test-sidecar")
}

// ---- (a) scenario JVM -> sidecar -> central: a lag spike --------------------------------------

#[test]
fn lag_spike_makes_the_consumer_cell_degraded_with_evidence_then_normal() {
    let central = Central::start(
        "    damping: {clear_after: 1s}
    observer: {reading_ttl: 4s}
    api: {endpoint: '127.0.0.1:API_PORT', publish_interval: 100ms}",
        "",
        "",
    );
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Client)
        .start()
        .expect("scenario JVM");
    scenario.tick().unwrap(); // normal, k = 0: the consumer joins
    let sidecar = Collector::start_with(
        &format!(
            r#"
receivers:
  jmx:
    endpoint: ${{env:JMX_ENDPOINT}}
    target_system: kafka-consumer
    collection_interval: 500ms
    resource_attributes:
      service.name: inventory-service
      kafka.cluster: e2e
connectors:
  signals:
    heartbeat_every: 2
    packs:
      kafka-consumer:
exporters:
  otlp:
    endpoint: http://127.0.0.1:{}
service:
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [otlp]
"#,
            central.otlp
        ),
        CollectorOptions {
            env: vec![(
                "JMX_ENDPOINT".into(),
                format!("127.0.0.1:{}", scenario.jmx_port()),
            )],
            ..Default::default()
        },
    );

    // Normal traffic: the consumer's cell appears, not in trouble.
    let client = "client=inventory-consumer";
    let path = wait_until("the consumer's cell", Duration::from_secs(30), || {
        let tree = central.tree();
        find_cell(&tree, client).and_then(|c| c["path"].as_str().map(str::to_string))
    });
    assert!(path.starts_with("cluster=e2e/"), "{path}");

    // Lag spike: 1000, 2500, 12000 (> 10 000: C1).
    scenario.phase("lag-spike").unwrap();
    let degraded = wait_until(
        "the consumer's cell DEGRADED",
        Duration::from_secs(30),
        || {
            let _ = scenario.tick();
            std::thread::sleep(Duration::from_millis(600));
            let cell = central.cell(&path)?;
            (status_of(&cell) == "DEGRADED").then_some(cell)
        },
    );
    assert_eq!(situation_of(&degraded).0, "WARNING", "{degraded:#}");
    let readings = degraded["readings"].as_array().unwrap();
    let c1 = readings
        .iter()
        .find(|r| r["rule"] == "C1" && r["signal"] == "Queues.OVERFLOW")
        .unwrap_or_else(|| panic!("no C1 Queues.OVERFLOW reading: {degraded:#}"));
    let lag = c1["evidence"]["values"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_f64)
        .fold(0.0, f64::max);
    assert!(lag > 10_000.0, "evidence carries the lag: {c1:#}");
    assert_eq!(c1["evidence"]["threshold"], 10_000.0, "{c1:#}");
    assert!(
        readings
            .iter()
            .any(|r| r["signal"] == "Statuses.DEGRADED.CONFIRMED" && r["rule"] == "C1"),
        "{degraded:#}"
    );

    // Recovery: lag back to normal; the cell goes back to NORMAL.
    scenario.phase("recovery").unwrap();
    scenario.ticks(5).unwrap();
    scenario.phase("normal").unwrap();
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(40);
    let normal = loop {
        let _ = scenario.tick();
        std::thread::sleep(Duration::from_millis(500));
        if let Some(cell) = central.cell(&path) {
            if situation_of(&cell).0 == "NORMAL" {
                break cell;
            }
            last = cell;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer's cell did not go back to NORMAL in 40 s: {last:#}\n{:#}",
            central.tree()
        );
    };
    assert!(
        matches!(status_of(&normal), "STABLE" | "CONVERGING"),
        "{normal:#}"
    );
    let history = normal["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h["situation"]["situation"] == "WARNING"),
        "the history keeps the spike: {normal:#}"
    );
    drop(sidecar);
    drop(central);
}

// ---- (b) the seed's correlation example --------------------------------------------------------

/// The business metrics' cell: the service (or its instance), not a client or broker.
fn is_business(path: &str) -> bool {
    path.contains("service=order-service") && !path.contains("client=") && !path.contains("broker=")
}

#[test]
fn broker_then_producer_then_business_failures_chain_in_that_order() {
    let central = Central::start(
        "    api: {endpoint: '127.0.0.1:API_PORT', publish_interval: 100ms}",
        "",
        "",
    );
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Both)
        .start()
        .expect("scenario JVM");
    scenario.tick().unwrap();
    let jmx = format!("127.0.0.1:{}", scenario.jmx_port());
    let sidecar = Collector::start(&format!(
        r#"
receivers:
  jmx/broker:
    endpoint: {jmx}
    target_system: kafka
    collection_interval: 500ms
    resource_attributes:
      kafka.cluster: shop
      broker.id: "1"
  jmx/service:
    endpoint: {jmx}
    target_system: kafka-producer
    collection_interval: 500ms
    resource_attributes:
      kafka.cluster: shop
      service.name: order-service
    rules:
      - bean: com.example.orders:type=OrderMetrics
        mapping:
          order-validation-failures: {{type: counter, unit: "{{order}}"}}
connectors:
  signals:
    packs:
      kafka:
      kafka-producer:
    rules:
      - name: A2
        metric: order-validation-failures
        increase:
          emit: Probes.FAIL.INBOUND
exporters:
  otlp:
    endpoint: http://127.0.0.1:{otlp}
service:
  pipelines:
    metrics:
      receivers: [jmx/broker, jmx/service]
      exporters: [signals]
    logs/signals:
      receivers: [signals]
      exporters: [otlp]
"#,
        otlp = central.otlp
    ));
    // The healthy picture: broker 1 and the order producer with their topics.
    wait_until("broker and producer cells", Duration::from_secs(30), || {
        let tree = central.tree();
        (find_cell(&tree, "broker=1").is_some()
            && find_cell(&tree, "client=order-producer").is_some())
        .then_some(())
    });
    let in_trouble = |segment: &str| {
        let tree = central.tree();
        find_cell(&tree, segment)
            .is_some_and(|c| c["own"]["rank"].as_u64().unwrap_or(0) >= 2 && c["incident"].is_u64())
    };

    // 1. The broker loses ISR: under-replicated partitions 1, then pinned at 2.
    scenario.phase("under-replicated").unwrap();
    scenario.tick().unwrap();
    scenario.set(names::UNDER_REPLICATED, "Value", "2").unwrap();
    wait_until("the broker in trouble", Duration::from_secs(30), || {
        in_trouble("broker=1").then_some(())
    });

    // 2. Producer buffer overflow (pinned: the phase below moves on).
    scenario.phase("buffer-overflow").unwrap();
    scenario.tick().unwrap();
    scenario
        .set(
            &names::producer_metrics(names::DEFAULT_PRODUCER),
            "buffer-available-bytes",
            "1006633",
        )
        .unwrap();
    wait_until("the producer in trouble", Duration::from_secs(30), || {
        in_trouble("client=order-producer").then_some(())
    });

    // 3. Business failures: order validation failures grow each tick.
    scenario.phase("error-burst").unwrap();
    let incident = wait_until(
        "three links in one incident",
        Duration::from_secs(40),
        || {
            let _ = scenario.tick();
            std::thread::sleep(Duration::from_millis(600));
            let incidents = central.incidents();
            let open = incidents["open"].as_array()?.clone();
            open.into_iter().find(|i| {
                i["chain"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|l| is_business(l["path"].as_str().unwrap_or("")))
                })
            })
        },
    );
    let names: Vec<String> = incident["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect();
    let pos = |what: &str, test: &dyn Fn(&str) -> bool| {
        names
            .iter()
            .position(|n| test(n))
            .unwrap_or_else(|| panic!("{what} not in the chain {names:?}: {incident:#}"))
    };
    let (broker, producer, business) = (
        pos("the broker", &|p| p.ends_with("broker=1")),
        pos("the producer", &|p| p.ends_with("client=order-producer")),
        pos("the service", &is_business),
    );
    assert!(
        broker < producer && producer < business,
        "chain order {names:?}"
    );
    assert_eq!(broker, 0, "the broker is the root cause: {names:?}");
    assert!(
        incident["root_cause"]
            .as_str()
            .unwrap()
            .ends_with("broker=1"),
        "{incident:#}"
    );
    let explanation = incident["explanation"].as_str().unwrap();
    let (a, b) = (
        explanation.find("broker=1").unwrap(),
        explanation.find("client=order-producer").unwrap(),
    );
    assert!(a < b, "{explanation}");
    // One incident for the three, not three.
    assert_eq!(
        central.incidents()["open"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["cluster"] == "shop")
            .count(),
        1
    );
    drop(sidecar);
    drop(central);
}

// ---- (c) flapping child: VOLATILE parent, one open and one close ---------------------------------

#[test]
fn a_flapping_partition_makes_its_parent_volatile_and_notifies_once() {
    let hook = Webhook::start();
    let central = Central::start(
        &format!(
            "    damping: {{clear_after: 4s}}
    reporter: {{variability_window: 1m, variable_at: 2, volatile_at: 4}}
    incidents: {{close_after: 2s}}
    notify:
      update_interval: 1h
      webhook: {{endpoint: 'http://127.0.0.1:{}/api/v2/alerts', retry_interval: 100ms}}
    api: {{endpoint: '127.0.0.1:API_PORT', publish_interval: 100ms}}",
            hook.port
        ),
        "",
        "",
    );
    let sender = SignalSender::new(central.otlp);
    let topic = "cluster=flap/broker=3/topic=orders";
    let partition = format!("{topic}/partition=0");
    sender.send(&[
        status_signal(&partition, statuses::Sign::Stable, "B1"),
        status_signal(
            &format!("{topic}/partition=1"),
            statuses::Sign::Stable,
            "B1",
        ),
    ]);
    for i in 0..10 {
        let sign = if i % 2 == 0 {
            statuses::Sign::Degraded
        } else {
            statuses::Sign::Stable
        };
        sender.send(&[status_signal(&partition, sign, "B1")]);
        std::thread::sleep(Duration::from_millis(250));
    }
    let parent = central.cell(topic).expect("the topic cell");
    assert_eq!(
        situation_of(&parent),
        ("WARNING", "VOLATILE"),
        "the parent holds its situation and reports the flapping: {parent:#}"
    );
    assert_eq!(
        central.incidents()["open"].as_array().unwrap().len(),
        1,
        "one incident for the flapping"
    );
    // It settles; the incident closes close_after later.
    sender.send(&[status_signal(&partition, statuses::Sign::Stable, "B1")]);
    wait_until("the incident to close", Duration::from_secs(20), || {
        let i = central.incidents();
        (i["open"].as_array()?.is_empty() && i["closed"].as_array()?.len() == 1).then_some(())
    });
    wait_until("the close to be posted", Duration::from_secs(10), || {
        hook.actions().contains(&"close".to_string()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        hook.actions(),
        ["open", "close"],
        "exactly one open and one close"
    );
    let posts = hook.posts();
    assert_eq!(posts[0][0]["labels"], posts[1][0]["labels"]);
    assert!(posts[1][0]["endsAt"].is_string());
    assert!(
        central
            .collector
            .metric("kafka_obs_hierarchy_webhook_sent_total", &[])
            >= 2.0
    );
    // The trace of the incident went out through the file exporter.
    let out = wait_until(
        "the incident trace in the output",
        Duration::from_secs(10),
        || {
            let text = std::fs::read_to_string(&central.out).ok()?;
            (text.contains("kafka_obs.incident") && text.contains("cluster=flap/broker=3"))
                .then_some(text)
        },
    );
    assert!(out.contains("kafka_obs.chain.position"));
}

// ---- (d) bearer-token auth --------------------------------------------------------------------

#[test]
fn bearer_token_guards_the_api_and_the_page() {
    let central = Central::start(
        "    api:
      endpoint: '127.0.0.1:API_PORT'
      auth: {authenticator: bearertokenauth}",
        "extensions:
  bearertokenauth:
    token: s3cret-token",
        "  extensions: [bearertokenauth]",
    );
    for path in ["/api/v1/health", "/api/v1/tree", "/", "/api/v1/events"] {
        let (status, body) = get(central.api, path, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _) = get(central.api, path, &[("Authorization", "Bearer wrong")]);
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    let (status, body) = get(
        central.api,
        "/api/v1/health",
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, body) = get(central.api, "/?access_token=s3cret-token", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("<html"));
    let (status, _) = get(central.api, "/api/v1/tree?access_token=nope", &[]);
    assert_eq!(status, 401);
    assert!(
        central
            .collector
            .metric("kafka_obs_hierarchy_api_unauthorized_total", &[])
            >= 9.0
    );
}

// ---- (e) the web view in headless Chromium ---------------------------------------------------------

/// Where screenshots go: `<target>/test-artefacts/`.
fn artefacts_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium_bin() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("chromium is not installed; ./scripts/test.sh installs it (apt-get install chromium)");
}

mod cdp {
    //! A small client of the Chrome DevTools Protocol: one page's websocket, commands by id.

    use futures::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;

    pub struct Page {
        ws: tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        next: u64,
    }

    impl Page {
        pub async fn connect(url: &str) -> Page {
            let (ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect to the page's DevTools websocket");
            Page { ws, next: 0 }
        }

        pub async fn call(&mut self, method: &str, params: Value) -> Value {
            self.next += 1;
            let id = self.next;
            let msg = json!({"id": id, "method": method, "params": params}).to_string();
            self.ws.send(Message::Text(msg.into())).await.unwrap();
            loop {
                let frame =
                    tokio::time::timeout(std::time::Duration::from_secs(20), self.ws.next())
                        .await
                        .expect("DevTools answers within 20 s")
                        .expect("the websocket stays open")
                        .unwrap();
                if let Message::Text(text) = frame {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["id"] == id {
                        assert!(v.get("error").is_none(), "{method}: {v}");
                        return v["result"].clone();
                    }
                }
            }
        }

        /// Evaluates a JavaScript expression in the page and returns its value.
        pub async fn eval(&mut self, expression: &str) -> Value {
            let r = self
                .call(
                    "Runtime.evaluate",
                    json!({"expression": expression, "returnByValue": true}),
                )
                .await;
            r["result"]["value"].clone()
        }

        /// A PNG of the page.
        pub async fn screenshot(&mut self) -> Vec<u8> {
            use base64::Engine;
            let r = self
                .call("Page.captureScreenshot", json!({"format": "png"}))
                .await;
            base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().unwrap())
                .unwrap()
        }
    }
}

#[test]
fn web_view_in_headless_chromium_shows_the_tree_colours_and_the_chain() {
    let central = Central::start(
        "    damping: {clear_after: 0s}
    api: {endpoint: '127.0.0.1:API_PORT', publish_interval: 100ms}",
        "",
        "",
    );
    let sender = SignalSender::new(central.otlp);
    let broker = "cluster=web/broker=1";
    let producer = "cluster=web/service=order-service/client=order-producer";
    sender.send(&[
        status_signal(
            &format!("{broker}/topic=orders/partition=0"),
            statuses::Sign::Stable,
            "H",
        ),
        status_signal(broker, statuses::Sign::Stable, "B1"),
        status_signal(
            &format!("{producer}/topic=orders"),
            statuses::Sign::Stable,
            "H",
        ),
        status_signal(producer, statuses::Sign::Stable, "P1"),
    ]);

    let devtools = free_port();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", central.api);
    let mut chromium = ChildGuard::spawn(
        Command::new(chromium_bin())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1400,900",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--remote-debugging-port={devtools}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start chromium");
    let devtools_addr: SocketAddr = format!("127.0.0.1:{devtools}").parse().unwrap();
    let ws_url = wait_until("the page in DevTools", Duration::from_secs(30), || {
        let (status, body) = get(devtools_addr, "/json/list", &[]);
        if status != 200 {
            return None;
        }
        let list: Value = serde_json::from_str(&body).ok()?;
        list.as_array()?
            .iter()
            .find(|t| t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(&url)))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
    });
    let artefacts = artefacts_dir();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut page = rt.block_on(cdp::Page::connect(&ws_url));
    rt.block_on(page.call("Page.enable", serde_json::json!({})));
    let colour_of = |page: &mut cdp::Page, path: &str| -> (String, String) {
        let js = format!(
            "(() => {{ const li = document.querySelector('li.cell[data-path=\"{path}\"]');
                 if (!li) return null;
                 const badge = li.querySelector(':scope > .row .badge');
                 return [li.dataset.status, getComputedStyle(badge).backgroundColor]; }})()"
        );
        let v = rt.block_on(page.eval(&js));
        (
            v[0].as_str().unwrap_or("").to_string(),
            v[1].as_str().unwrap_or("").to_string(),
        )
    };
    let wait_status = |page: &mut cdp::Page, path: &str, want: &str| -> String {
        wait_until(
            &format!("{path} {want} on the page"),
            Duration::from_secs(20),
            || {
                let (status, colour) = colour_of(page, path);
                (status == want).then_some(colour)
            },
        )
    };

    // The tree renders, the broker green.
    let green = wait_status(&mut page, broker, "STABLE");
    assert_eq!(green, "rgb(46, 157, 91)");
    let cells = rt.block_on(page.eval("document.querySelectorAll('li.cell').length"));
    assert!(cells.as_u64().unwrap_or(0) >= 8, "tree rendered: {cells}");
    let shot = artefacts.join("central-web-view-healthy.png");
    std::fs::write(&shot, rt.block_on(page.screenshot())).unwrap();
    println!("screenshot: {}", shot.display());

    // The broker degrades: same page, its colour changes without a reload.
    rt.block_on(page.eval("window.__marker = 'same page'"));
    sender.send(&[status_signal(broker, statuses::Sign::Degraded, "B1")]);
    let orange = wait_status(&mut page, broker, "DEGRADED");
    assert_eq!(orange, "rgb(224, 102, 42)");
    assert_ne!(orange, green);
    // The producer follows: one incident, the chain broker -> producer on the page.
    sender.send(&[Signal::new(
        producer.parse().unwrap(),
        SignalKind::Queues(kafka_obs_signal::queues::Sign::Overflow),
        Evidence::rule("P1")
            .with("utilization", 0.97)
            .threshold(0.95),
        now_ns(),
    )
    .from_source("test-sidecar")]);
    let chain = wait_until("the chain on the page", Duration::from_secs(20), || {
        let v = rt.block_on(page.eval(
            "Array.from(document.querySelectorAll('.incident ol.chain li.link')).map(l => l.dataset.path)",
        ));
        let paths: Vec<String> = v
            .as_array()?
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        (paths.len() == 2).then_some(paths)
    });
    assert_eq!(chain, [broker, producer]);
    let text = rt.block_on(page.eval("document.querySelector('.incident').innerText"));
    let text = text.as_str().unwrap_or("");
    assert!(text.contains("utilization=0.97"), "evidence shown: {text}");
    assert_eq!(
        rt.block_on(page.eval("window.__marker")),
        "same page",
        "updates arrive without a reload"
    );
    // Click the producer: its readings and evidence appear.
    rt.block_on(page.eval(&format!(
        "document.querySelector('.row[data-path=\"{producer}\"]').click()"
    )));
    wait_until("the cell detail", Duration::from_secs(10), || {
        let v = rt.block_on(page.eval("document.getElementById('detail-body').innerText"));
        v.as_str()
            .is_some_and(|t| t.contains("Queues.OVERFLOW") && t.contains("utilization"))
            .then_some(())
    });
    let shot = artefacts.join("central-web-view-incident.png");
    std::fs::write(&shot, rt.block_on(page.screenshot())).unwrap();
    println!("screenshot: {}", shot.display());

    // Recovery: the broker turns green again on the same page.
    sender.send(&[status_signal(broker, statuses::Sign::Stable, "B1")]);
    let again = wait_status(&mut page, broker, "STABLE");
    assert_eq!(again, green);
    let shot = artefacts.join("central-web-view-recovered.png");
    std::fs::write(&shot, rt.block_on(page.screenshot())).unwrap();
    println!("screenshot: {}", shot.display());
    drop(page);
    let _ = chromium.terminate(Duration::from_secs(5));
}

// ---- validation: the API's listener and authenticator are checked like a receiver's ----------

#[test]
fn validation_names_a_taken_api_port_and_a_missing_authenticator() {
    let out = kafka_obs_tests::validate(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:8080}
connectors:
  hierarchy:
    api:
      auth: {authenticator: bearertokenauth}
    notify:
      webhook: {endpoint: 'ftp://nowhere/'}
exporters:
  debug:
service:
  pipelines:
    logs/in: {receivers: [otlp], exporters: [hierarchy]}
    logs/out: {receivers: [hierarchy], exporters: [debug]}
"#,
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("connectors::hierarchy::notify::webhook::endpoint"),
        "{text}"
    );
    let out = kafka_obs_tests::validate(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:8080}
connectors:
  hierarchy:
    api:
      auth: {authenticator: bearertokenauth}
exporters:
  debug:
service:
  pipelines:
    logs/in: {receivers: [otlp], exporters: [hierarchy]}
    logs/out: {receivers: [hierarchy], exporters: [debug]}
"#,
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("connectors::hierarchy::api::endpoint: listen address 127.0.0.1:8080 is already used by receivers::otlp::protocols::grpc::endpoint"),
        "{text}"
    );
    assert!(
        text.contains("connectors::hierarchy::api::auth::authenticator: extension `bearertokenauth` is not defined"),
        "{text}"
    );
}
