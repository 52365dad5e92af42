//! The kit run as the manifests wire it, end to end: a JVM with the sidecar Deployment's
//! `JAVA_TOOL_OPTIONS`, the sidecar, the broker config writing to tansu, the central
//! aggregator and an Alertmanager stand-in; what they send is recorded by an OTLP server in
//! this process, and every dashboard query must name only what was recorded or scraped.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tonic::codec::CompressionEncoding;

use kafka_obs_testkit::net::{free_port, wait_for_port};
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::prometheus::{Kind, label_name, prometheus_name};
use kafka_obs_tests::{Collector, CollectorOptions, http_get};

use super::dashboard::{check_query, dashboard, dashboard_queries};
use super::manifests::{
    central_deployment, container_env, java_tool_options, kafka_obs_container, manifests,
    mounted_config, sidecar_deployment,
};
use super::*;

#[derive(Clone, Default)]
struct Recorder {
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl MetricsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn string_value(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Prometheus name -> label names, from the recorded OTLP: point attributes, plus `job`
/// (service.namespace/service.name) and `instance` (service.instance.id) from the resource.
fn prometheus_series(
    requests: &[ExportMetricsServiceRequest],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource: BTreeMap<String, String> = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .filter_map(|a| Some((a.key.clone(), string_value(a.value.as_ref())?)))
            .collect();
        let mut base = BTreeSet::new();
        if resource.contains_key("service.name") {
            base.insert("job".to_string());
        }
        if resource.contains_key("service.instance.id") {
            base.insert("instance".to_string());
        }
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let (kind, points) = match &m.data {
                Some(Data::Gauge(g)) => (Kind::Gauge, &g.data_points),
                Some(Data::Sum(s)) if s.is_monotonic => (Kind::MonotonicSum, &s.data_points),
                Some(Data::Sum(s)) => (Kind::NonMonotonicSum, &s.data_points),
                other => panic!("{}: translation of {other:?} not covered here", m.name),
            };
            let labels = out
                .entry(prometheus_name(&m.name, &m.unit, kind))
                .or_default();
            labels.extend(base.iter().cloned());
            for p in points {
                labels.extend(p.attributes.iter().map(|a| label_name(&a.key)));
            }
        }
    }
    out
}

/// Self-metric name -> label names from a Prometheus scrape (plus the scraper's job, instance).
fn scraped_series(text: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let entry = out.entry(name.to_string()).or_default();
        entry.insert("job".into());
        entry.insert("instance".into());
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            entry.insert(
                pair.split('=')
                    .next()
                    .unwrap()
                    .trim_start_matches(',')
                    .to_string(),
            );
        }
    }
}

/// Polls `f` every 200 ms until it is true or `timeout` passes.
async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    f()
}

/// An Alertmanager stand-in: answers every POST with 200 and keeps the JSON bodies.
#[derive(Clone, Default)]
struct Alertmanager {
    posts: Arc<Mutex<Vec<Json>>>,
}

impl Alertmanager {
    /// Serves on `listener` until the task is aborted.
    async fn serve(self, listener: tokio::net::TcpListener) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let posts = self.posts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = match tokio::time::timeout(
                        Duration::from_secs(30),
                        stream.read(&mut chunk),
                    )
                    .await
                    {
                        Ok(Ok(n)) if n > 0 => n,
                        _ => return,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[end + 4..end + 4 + len]) {
                        posts.lock().unwrap().push(v);
                    }
                    buf.drain(..end + 4 + len);
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    }

    /// The alerts posted so far (each POST is an array of alerts).
    fn alerts(&self) -> Vec<Json> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|p| p.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// The config with every listener moved to a free loopback port (a shared test machine) and
/// `changes` applied, env expanded as kafka-obs would; the new addresses by listener key.
fn on_loopback(
    config_text: &str,
    env: &BTreeMap<String, String>,
    changes: &[(&str, &str)],
) -> (String, BTreeMap<String, String>) {
    let mut config = parse_expanded(config_text, env);
    let mut moved = BTreeMap::new();
    let set = |config: &mut Yaml, key: &str, value: &str| {
        let path: Vec<&str> = key.split("::").collect();
        let mut node = config;
        for k in &path {
            let map = node
                .as_mapping_mut()
                .unwrap_or_else(|| panic!("{key}: not a mapping above {k}"));
            node = map
                .entry(Yaml::String(k.to_string()))
                .or_insert(Yaml::Mapping(Default::default()));
        }
        *node = Yaml::String(value.to_string());
    };
    for l in listeners(config_text, env) {
        if l.key == "service::telemetry::metrics::address" {
            continue; // Collector::start_with picks the self-metrics address
        }
        let address = format!("127.0.0.1:{}", free_port());
        set(&mut config, &l.key, &address);
        moved.insert(l.key, address);
    }
    for (key, value) in changes {
        set(&mut config, key, value);
    }
    (serde_yaml_ng::to_string(&config).unwrap(), moved)
}

/// The address of the first listener whose key starts with `prefix`.
fn moved_to<'a>(moved: &'a BTreeMap<String, String>, prefix: &str) -> &'a str {
    moved
        .iter()
        .find(|(k, _)| k.starts_with(prefix))
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("no listener {prefix}* in {moved:?}"))
}

/// Resource attributes and data point attributes of every `kafka_obs.status` point recorded.
fn status_points(
    requests: &[ExportMetricsServiceRequest],
) -> Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let strings = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        kvs.iter()
            .filter_map(|a| Some((a.key.clone(), string_value(a.value.as_ref())?)))
            .collect::<BTreeMap<_, _>>()
    };
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource = strings(rm.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if let (true, Some(Data::Gauge(g))) = (m.name == "kafka_obs.status", &m.data) {
                for p in &g.data_points {
                    out.push((resource.clone(), strings(&p.attributes)));
                }
            }
        }
    }
    out
}

/// The whole kit at once, as the manifests wire it: a JVM started with the sidecar
/// Deployment's `JAVA_TOOL_OPTIONS`; the sidecar (its ConfigMap config, its Deployment's env)
/// streaming signals to the central aggregator (the central ConfigMap config and Deployment
/// env) and sending OTLP to a recorder in this process; `examples/broker.yaml` against the
/// same JVM's broker MBeans, writing signals to a real Kafka-protocol broker (tansu); the
/// central posting incidents to an Alertmanager stand-in and exporting to the recorder. A
/// consumer lag pinned high makes a cell WARNING, so an incident opens and is notified.
/// Then every dashboard query must name only metrics and labels found in what was recorded
/// (translated as OpenTelemetry's Prometheus translation does) or scraped from the three
/// processes' self-metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_use_only_what_the_kit_emits() {
    let all = manifests();
    let deployment = sidecar_deployment(&all);
    let central_deployment = central_deployment(&all);
    let work = tempfile::tempdir().unwrap();

    let (mut jvm, jmx_port) = start_the_application_jvm(deployment, work.path()).await;
    let (recorder, server, otlp_endpoint) = start_the_recorder().await;
    // The Kafka cluster being watched (brokers write signals to its topic, the central reads
    // them and writes commands) and Alertmanager.
    let tansu = tokio::task::block_in_place(Tansu::start).expect("tansu");
    for (topic, partitions) in [("__kafka-obs-signals", 3), ("kafka-obs-commands", 1)] {
        tokio::task::block_in_place(|| tansu.create_topic(topic, partitions)).unwrap();
    }
    let alertmanager = Alertmanager::default();
    let am_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let am_port = am_listener.local_addr().unwrap().port();
    let am_server = tokio::spawn(alertmanager.clone().serve(am_listener));

    let central = start_the_central(
        &all,
        central_deployment,
        work.path(),
        &otlp_endpoint,
        am_port,
        &tansu,
    );
    let (sidecar, health) = start_the_sidecar(
        &all,
        deployment,
        work.path(),
        jmx_port,
        &otlp_endpoint,
        &central.addresses,
    );
    let broker = start_the_broker_kit(work.path(), jmx_port, &otlp_endpoint, &tansu);

    both_deliver_polls_and_signals(&recorder, &sidecar, &broker, &health).await;
    pin_the_consumer_lag(&mut jvm);
    an_incident_is_notified(&central, &recorder, &alertmanager, &sidecar, &broker).await;
    the_api_answers_only_with_the_token(&central);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut emitted = prometheus_series(&recorder.metrics.lock().unwrap());
    for c in [&sidecar, &broker, &central.collector] {
        scraped_series(&tokio::task::block_in_place(|| c.metrics()), &mut emitted);
    }
    server.abort();
    am_server.abort();
    drop(sidecar);
    drop(broker);
    drop(central);
    drop(tansu);

    every_dashboard_query_names_what_was_emitted(&emitted);
}

/// The application JVM, started with the Deployment's JAVA_TOOL_OPTIONS (and no JMX flags of
/// our own): the scenario JVM plays a Kafka client and a broker. Returns it and its JMX port.
async fn start_the_application_jvm(deployment: &Yaml, work: &Path) -> (ChildGuard, u16) {
    let jmx_port = free_port();
    let options = java_tool_options(deployment).replace("=9999", &format!("={jmx_port}"));
    let classes =
        kafka_obs_testkit::java::compile(&kafka_obs_testkit::scenario::scenario_dir()).unwrap();
    let jvm_log = work.join("jvm.log");
    let mut java = Command::new(kafka_obs_testkit::java::java_bin());
    java.args(["-Xmx64m", "-cp"])
        .arg(&classes)
        .args(["ScenarioMain", "--role", "both", "--tick", "1s"])
        .env("JAVA_TOOL_OPTIONS", &options)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&jvm_log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(work.join("jvm.err")).unwrap(),
        ));
    let jvm = ChildGuard::spawn(&mut java).unwrap();
    wait_for_port(
        format!("127.0.0.1:{jmx_port}").parse().unwrap(),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| {
        panic!(
            "JVM with {options:?}: {e}\n{}",
            std::fs::read_to_string(work.join("jvm.err")).unwrap_or_default()
        )
    });
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(
            &jvm_log
        )
        .is_ok_and(|t| t.contains("READY")))
        .await,
        "scenario JVM not ready"
    );
    (jvm, jmx_port)
}

/// An OpenTelemetry Collector stand-in that records whole requests. Returns it, its server
/// task and its endpoint.
async fn start_the_recorder() -> (Recorder, tokio::task::AbortHandle, String) {
    let recorder = Recorder::default();
    let otlp_port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", otlp_port))
        .await
        .unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                LogsServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                TraceServiceServer::new(recorder.clone())
                    .accept_compressed(CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (
        recorder,
        server.abort_handle(),
        format!("http://127.0.0.1:{otlp_port}"),
    )
}

/// The central aggregator as the kit runs it, and what later steps ask of it.
struct Central {
    collector: Collector,
    /// Its config as run (listeners moved to loopback) and its env.
    config: String,
    env: BTreeMap<String, String>,
    /// Where its listeners moved, by listener key.
    addresses: BTreeMap<String, String>,
    /// The API token in the file the Deployment mounts.
    token: &'static str,
}

/// The central aggregator: its ConfigMap's config with its Deployment's env; listeners move to
/// free loopback ports, and the status gauge is exported every second instead of 30 s.
fn start_the_central(
    all: &BTreeMap<String, Vec<Yaml>>,
    central_deployment: &Yaml,
    work: &Path,
    otlp_endpoint: &str,
    am_port: u16,
    tansu: &Tansu,
) -> Central {
    let central_container = kafka_obs_container(central_deployment);
    let mut central_env = container_env(central_deployment, central_container);
    let token = "kit-test-token-0123456789";
    let token_file = work.join("api-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    central_env.insert("API_TOKEN_FILE".into(), token_file.display().to_string());
    for (name, value) in [
        ("OTLP_ENDPOINT", otlp_endpoint.to_string()),
        (
            "ALERTMANAGER_URL",
            format!("http://127.0.0.1:{am_port}/api/v2/alerts"),
        ),
        ("KAFKA_BROKERS", tansu.brokers()),
    ] {
        assert!(
            central_env.contains_key(name),
            "the central Deployment sets {name}"
        );
        central_env.insert(name.into(), value);
    }
    let (_, central_config) = mounted_config(all, central_deployment, central_container);
    let hierarchy_id = parse_expanded(central_config, &central_env)
        .get("connectors")
        .and_then(Yaml::as_mapping)
        .and_then(|c| {
            c.keys()
                .filter_map(Yaml::as_str)
                .find(|id| type_of(id) == "hierarchy")
                .map(str::to_string)
        })
        .expect("a hierarchy connector in the central config");
    let status_interval = format!("connectors::{hierarchy_id}::export::status_interval");
    let (central_config, central_addresses) = on_loopback(
        central_config,
        &central_env,
        &[(status_interval.as_str(), "1s")],
    );
    let collector = tokio::task::block_in_place(|| {
        Collector::start_with(
            &central_config,
            CollectorOptions {
                env: central_env.clone().into_iter().collect(),
                ..Default::default()
            },
        )
    });
    Central {
        collector,
        config: central_config,
        env: central_env,
        addresses: central_addresses,
        token,
    }
}

/// The sidecar: the ConfigMap's config with the Deployment's env; the JVM, the recorder and
/// the central's signals receiver at the addresses they have here. Returns it and the address
/// of its health check.
fn start_the_sidecar(
    all: &BTreeMap<String, Vec<Yaml>>,
    deployment: &Yaml,
    work: &Path,
    jmx_port: u16,
    otlp_endpoint: &str,
    central_addresses: &BTreeMap<String, String>,
) -> (Collector, String) {
    let sidecar_container = kafka_obs_container(deployment);
    let mut env = container_env(deployment, sidecar_container);
    env.insert(
        "JMX_URL".into(),
        env["JMX_URL"].replace("9999", &jmx_port.to_string()),
    );
    env.insert("OTLP_ENDPOINT".into(), otlp_endpoint.to_string());
    env.insert(
        "AGGREGATOR_URL".into(),
        format!(
            "http://{}",
            moved_to(central_addresses, "receivers::signals")
        ),
    );
    env.insert("COLLECTION_INTERVAL".into(), "1s".into());
    env.insert(
        "QUEUE_DIR".into(),
        work.join("sidecar-queue").display().to_string(),
    );
    let (_, config) = mounted_config(all, deployment, sidecar_container);
    let (config, sidecar_addresses) = on_loopback(config, &env, &[]);
    let health = moved_to(&sidecar_addresses, "extensions::health_check").to_string();
    let sidecar = tokio::task::block_in_place(|| {
        Collector::start_with(
            &config,
            CollectorOptions {
                env: env.into_iter().collect(),
                ..Default::default()
            },
        )
    });
    (sidecar, health)
}

/// The broker kit against the same JVM's broker MBeans, writing signals to the topic.
fn start_the_broker_kit(
    work: &Path,
    jmx_port: u16,
    otlp_endpoint: &str,
    tansu: &Tansu,
) -> Collector {
    let broker_env = BTreeMap::from([
        ("BROKER_JMX".to_string(), format!("127.0.0.1:{jmx_port}")),
        ("OTLP_ENDPOINT".to_string(), otlp_endpoint.to_string()),
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("COLLECTION_INTERVAL".to_string(), "1s".to_string()),
        (
            "QUEUE_DIR".to_string(),
            work.join("broker-queue").display().to_string(),
        ),
        ("HOSTNAME".to_string(), "kafka-1".to_string()),
    ]);
    let (broker_config, _) = on_loopback(&read("examples/broker.yaml"), &broker_env, &[]);
    tokio::task::block_in_place(|| {
        Collector::start_with(
            &broker_config,
            CollectorOptions {
                env: broker_env.into_iter().collect(),
                ..Default::default()
            },
        )
    })
}

/// Both poll a few times; the status gauge and raw metrics of both reach the server. The
/// sidecar reads the JVM and its liveness/readiness path answers; signals travel as OTLP log
/// events too.
async fn both_deliver_polls_and_signals(
    recorder: &Recorder,
    sidecar: &Collector,
    broker: &Collector,
    health: &str,
) {
    let polled =
        |c: &Collector| tokio::task::block_in_place(|| c.metric("kafka_obs_jmx_polls_total", &[]));
    let ok = {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let services: BTreeSet<String> = recorder
                .metrics
                .lock()
                .unwrap()
                .iter()
                .flat_map(|r| &r.resource_metrics)
                .flat_map(|rm| rm.resource.iter().flat_map(|r| &r.attributes))
                .filter(|a| a.key == "service.name")
                .filter_map(|a| string_value(a.value.as_ref()))
                .collect();
            let done = polled(sidecar) >= 4.0
                && polled(broker) >= 4.0
                && ["order-service", "kafka-broker", "kafka-obs"]
                    .iter()
                    .all(|s| services.contains(*s));
            if done || Instant::now() > end {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    assert!(
        ok,
        "the kit did not deliver in 60 s\n--- sidecar ---\n{}\n--- broker ---\n{}",
        sidecar.stderr(),
        broker.stderr()
    );

    // The sidecar reads the JVM and its liveness/readiness path answers.
    assert_eq!(
        tokio::task::block_in_place(|| sidecar.metric("kafka_obs_jmx_target_up", &[])),
        1.0
    );
    let (status, body) =
        tokio::task::block_in_place(|| http_get(health.parse().unwrap(), "/")).unwrap();
    assert_eq!(status, 200, "{body}");
    // Signals travel as OTLP log events too.
    let signal_events = recorder
        .logs
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .filter(|r| r.event_name == "kafka_obs.signal")
        .count();
    assert!(signal_events > 0, "no signal events over OTLP");
}

/// Trouble: the consumer's lag pinned far above the C1 threshold (10 000).
fn pin_the_consumer_lag(jvm: &mut ChildGuard) {
    let pin = format!(
        "set {} records-lag-max 50000\n",
        kafka_obs_testkit::scenario::names::consumer_fetch(
            kafka_obs_testkit::scenario::names::DEFAULT_CONSUMER
        )
    );
    use std::io::Write;
    let stdin = jvm.child_mut().stdin.as_mut().unwrap();
    stdin.write_all(pin.as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// The sidecar's signals reach the central over the stream (and the broker kit's over the
/// topic); the consumer's cell turns WARNING, an incident opens and Alertmanager hears of it.
async fn an_incident_is_notified(
    central: &Central,
    recorder: &Recorder,
    alertmanager: &Alertmanager,
    sidecar: &Collector,
    broker: &Collector,
) {
    // The central's signal receivers: the stream the sidecar's AGGREGATOR_URL names, and the
    // topic the broker kit writes to when the central reads it.
    let intake: Vec<String> = parse_expanded(&central.config, &central.env)
        .get("receivers")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(id, _)| id.as_str())
        .filter(|id| matches!(type_of(id), "signals" | "kafka"))
        .map(str::to_string)
        .collect();
    assert!(
        intake.iter().any(|id| type_of(id) == "signals"),
        "the central config has a signals receiver"
    );
    let took_signals = |metrics: &str, id: &str| {
        kafka_obs_tests::metric_value(
            metrics,
            "otelcol_receiver_accepted_log_records",
            &[&format!("receiver=\"{id}\"")],
        ) > 0.0
    };
    let notified = {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let warning = status_points(&recorder.metrics.lock().unwrap())
                .iter()
                .any(|(_, p)| {
                    p.get("rule").map(String::as_str) == Some("cells.rollup")
                        && p.get("situation").map(String::as_str) == Some("WARNING")
                });
            let alerted = alertmanager
                .alerts()
                .iter()
                .any(|a| a["annotations"]["action"] == "open");
            let metrics = tokio::task::block_in_place(|| central.collector.metrics());
            let value = |name: &str| kafka_obs_tests::metric_value(&metrics, name, &[]);
            let done = warning
                && alerted
                && value("kafka_obs_hierarchy_incidents_open") >= 1.0
                && value("kafka_obs_hierarchy_webhook_sent_total") >= 1.0
                && intake.iter().all(|id| took_signals(&metrics, id));
            if done || Instant::now() > end {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    assert!(
        notified,
        "no incident notified, or a receiver of {intake:?} idle, in 60 s; alerts {:?}\n--- central ---\n{}\n{}\n--- sidecar ---\n{}\n--- broker ---\n{}",
        alertmanager.alerts(),
        tokio::task::block_in_place(|| central.collector.metrics()),
        central.collector.stderr(),
        sidecar.stderr(),
        broker.stderr()
    );
}

/// The API answers with the token from the file the Deployment mounts, and only with it.
fn the_api_answers_only_with_the_token(central: &Central) {
    let api: std::net::SocketAddr = moved_to(&central.addresses, "connectors::hierarchy")
        .parse()
        .unwrap();
    let token = central.token;
    let (status, body) = tokio::task::block_in_place(|| {
        http_get(api, &format!("/api/v1/health?access_token={token}"))
    })
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _) = tokio::task::block_in_place(|| http_get(api, "/api/v1/health")).unwrap();
    assert_eq!(status, 401);
}

/// Every metric, label and legend label of every dashboard query is among `emitted`.
fn every_dashboard_query_names_what_was_emitted(emitted: &BTreeMap<String, BTreeSet<String>>) {
    let mut problems = Vec::new();
    let queries = dashboard_queries(&dashboard());
    for (where_, expr, legend) in &queries {
        problems.extend(check_query(where_, expr, legend.as_deref(), emitted));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in deploy/grafana/kafka-obs.json:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(queries.len() >= 20);
}
