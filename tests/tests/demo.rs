//! The seed's demo plan (steps 3-6) as an end-to-end test: `kafka-obs demo` plays its story on
//! real JVMs, and the central API must show each chapter: producer buffer pressure on
//! order-service's producer, the lag spike and the rebalance storm on inventory-service's
//! consumer, the latency divergence, and an incident whose explanation chain starts at the
//! broker and reaches the producer, then order-service's `OrderValidationException` burst (read
//! by `filelog` from the application log the story writes, rule E1), and inventory-service's
//! container memory near its limit (the `cgroup` receiver on the layout the story writes, rule
//! CR1) before its consumer's lag; and, after the story's recovery chapter, the whole tree
//! green again and incident #1 closed, both in the demo's terminal view (its stdout) and over
//! the API. Run over both transports: OTLP on loopback, and a Kafka topic on `tansu`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_obs_testkit::net::free_port;
use kafka_obs_testkit::process::ChildGuard;
use kafka_obs_testkit::tansu::Tansu;
use kafka_obs_tests::{http_get, kafka_obs_bin};
use serde_json::Value;

const PRODUCER: &str =
    "cluster=demo/service=order-service/instance=order-service-0/client=order-producer";
/// order-service's instance cell: where its application log's signals land (filelog -> E1).
const ORDER_INSTANCE: &str = "cluster=demo/service=order-service/instance=order-service-0";
/// inventory-service's instance cell: where its container's signals land (cgroup -> CR1).
const INVENTORY_INSTANCE: &str =
    "cluster=demo/service=inventory-service/instance=inventory-service-0";
const CONSUMER: &str =
    "cluster=demo/service=inventory-service/instance=inventory-service-0/client=inventory-consumer";

fn encode(s: &str) -> String {
    s.replace('=', "%3D").replace('/', "%2F")
}

fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    match http_get(addr, path) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

#[derive(Default, Debug)]
struct Seen {
    producer_rules: BTreeSet<String>,
    instance_rules: BTreeSet<String>,
    /// The rules of order-service's instance link in any incident chain (its evidence).
    instance_link_rules: BTreeSet<String>,
    /// The same for inventory-service's instance (its container).
    container_link_rules: BTreeSet<String>,
    consumer_rules: BTreeSet<String>,
    /// Every incident seen, by id: its chain as (kind, name) in order.
    chains: Vec<Vec<(String, String)>>,
    /// The last answers of the API before the demo stopped: the tree, the incidents and
    /// incident #1.
    last_tree: Value,
    last_incidents: Value,
    last_incident_1: Value,
}

impl Seen {
    fn rules(detail: &Value, into: &mut BTreeSet<String>) {
        for r in detail["readings"].as_array().into_iter().flatten() {
            if let Some(rule) = r["rule"].as_str() {
                into.insert(rule.to_string());
            }
        }
    }

    fn incidents(&mut self, v: &Value) {
        for list in ["open", "closed"] {
            for i in v[list].as_array().into_iter().flatten() {
                let chain: Vec<(String, String)> = i["chain"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        (
                            l["kind"].as_str().unwrap_or("").to_string(),
                            l["path"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                for link in i["chain"].as_array().into_iter().flatten() {
                    let into = if link["path"] == ORDER_INSTANCE {
                        &mut self.instance_link_rules
                    } else if link["path"] == INVENTORY_INSTANCE {
                        &mut self.container_link_rules
                    } else {
                        continue;
                    };
                    for r in link["evidence"].as_array().into_iter().flatten() {
                        if let Some(rule) = r["rule"].as_str() {
                            into.insert(rule.to_string());
                        }
                    }
                }
                if !self.chains.contains(&chain) {
                    self.chains.push(chain);
                }
            }
        }
    }
}

/// Runs the demo to its end and samples the central API while it plays.
fn play(extra: &[String]) -> (Seen, String, String) {
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(kafka_obs_bin());
    cmd.args(["demo", "--speed", "4", "--exit-after-story", "--plain"])
        .args(["--web", &web.to_string()])
        .arg("--work-dir")
        .arg(work.path())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(work.path().join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(work.path().join("stderr.log")).unwrap(),
        ));
    let mut demo = ChildGuard::spawn(&mut cmd).expect("start kafka-obs demo");
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(170);
    let status = loop {
        if let Ok(Some(status)) = demo.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        if let Some(d) = get(web, &format!("/api/v1/cell?subject={}", encode(PRODUCER))) {
            Seen::rules(&d, &mut seen.producer_rules);
        }
        if let Some(d) = get(
            web,
            &format!("/api/v1/cell?subject={}", encode(ORDER_INSTANCE)),
        ) {
            Seen::rules(&d, &mut seen.instance_rules);
        }
        if let Some(d) = get(web, &format!("/api/v1/cell?subject={}", encode(CONSUMER))) {
            Seen::rules(&d, &mut seen.consumer_rules);
        }
        if let Some(v) = get(web, "/api/v1/incidents") {
            seen.incidents(&v);
            seen.last_incidents = v;
        }
        if let Some(v) = get(web, "/api/v1/tree") {
            seen.last_tree = v;
        }
        if let Some(v) = get(web, "/api/v1/incidents/1") {
            seen.last_incident_1 = v;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let out = std::fs::read_to_string(work.path().join("stdout.log")).unwrap_or_default();
    let err = std::fs::read_to_string(work.path().join("stderr.log")).unwrap_or_default();
    let log = std::fs::read_to_string(work.path().join("kafka-obs.log")).unwrap_or_default();
    let context = format!(
        "stdout:\n{out}\nstderr:\n{err}\nlog (tail):\n{}",
        log.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "demo ended with {status:?}\n{context}"
    );
    (seen, out, context)
}

fn check(seen: &Seen, context: &str) {
    let p = &seen.producer_rules;
    assert!(
        p.contains("P1") || p.contains("P2") || p.contains("P5"),
        "buffer pressure (P1/P2/P5) on order-producer; rules seen {p:?}\n{context}"
    );
    assert!(
        p.contains("P8"),
        "request latency divergence (P8) on order-producer; rules seen {p:?}\n{context}"
    );
    let c = &seen.consumer_rules;
    assert!(
        c.contains("C1") || c.contains("C2"),
        "the lag spike (C1/C2) on inventory-consumer; rules seen {c:?}\n{context}"
    );
    assert!(
        c.contains("C9") || c.contains("C10") || c.contains("C7"),
        "the rebalance storm (C7/C9/C10) on inventory-consumer; rules seen {c:?}\n{context}"
    );
    // The seed's correlation: broker trouble first, the producer's buffer pressure after it.
    let explained = seen.chains.iter().any(|chain| {
        let broker = chain.iter().position(|(kind, _)| kind == "broker");
        let producer = chain
            .iter()
            .position(|(_, path)| path.starts_with(PRODUCER));
        matches!((broker, producer), (Some(0), Some(p)) if p > 0)
    });
    assert!(
        explained,
        "an incident chain from the broker to order-producer; chains seen {:#?}\n{context}",
        seen.chains
    );
    // The application's exception burst, read from its log file, after the producer's
    // trouble in the same chain: broker -> producer buffer -> OrderValidationException burst.
    let burst_explained = seen.chains.iter().any(|chain| {
        let broker = chain.iter().position(|(kind, _)| kind == "broker");
        let producer = chain
            .iter()
            .position(|(_, path)| path.starts_with(PRODUCER));
        let app = chain.iter().position(|(_, path)| path == ORDER_INSTANCE);
        matches!((broker, producer, app), (Some(0), Some(p), Some(a)) if p > 0 && a > p)
    });
    assert!(
        burst_explained,
        "an incident chain broker -> order-producer -> {ORDER_INSTANCE} (the exception burst); chains seen {:#?}\n{context}",
        seen.chains
    );
    assert!(
        seen.instance_link_rules.contains("E1"),
        "{ORDER_INSTANCE} is in the chain for its exception burst (E1); its evidence rules {:?}\n{context}",
        seen.instance_link_rules
    );
    // The memory-pressure episode (the container's cgroup): memory near the limit on
    // inventory-service's instance before its consumer's lag, in one chain.
    let memory_explained = seen.chains.iter().any(|chain| {
        let memory = chain
            .iter()
            .position(|(_, path)| path == INVENTORY_INSTANCE);
        let lag = chain
            .iter()
            .position(|(_, path)| path.starts_with(CONSUMER));
        matches!((memory, lag), (Some(m), Some(l)) if m < l)
    });
    assert!(
        memory_explained,
        "an incident chain {INVENTORY_INSTANCE} (memory near the limit) -> inventory-consumer (lag); chains seen {:#?}\n{context}",
        seen.chains
    );
    assert!(
        seen.container_link_rules.contains("CR1"),
        "{INVENTORY_INSTANCE} is in the chain for its memory (CR1); its evidence rules {:?}\n{context}",
        seen.container_link_rules
    );
    assert!(
        seen.instance_rules.contains("E1"),
        "the OrderValidationException burst (E1) on {ORDER_INSTANCE}; rules seen {:?}\n{context}",
        seen.instance_rules
    );
}

/// Cells of the tree that are not green: status other than STABLE, situation other than
/// NORMAL, or stale (the root aside).
fn not_green(node: &Value, out: &mut Vec<String>) {
    let path = node["path"].as_str().unwrap_or("");
    let status = node["status"]["status"].as_str().unwrap_or("STABLE");
    let situation = node["situation"]["situation"].as_str().unwrap_or("NORMAL");
    let stale = node["stale"] == true;
    if !path.is_empty() && (status != "STABLE" || situation != "NORMAL" || stale) {
        out.push(format!(
            "{path} {status} {situation}{}",
            if stale { " (stale)" } else { "" }
        ));
    }
    for child in node["nodes"].as_array().into_iter().flatten() {
        not_green(child, out);
    }
}

/// After the story: the tree green and incident #1 closed, in the terminal and over the API.
fn check_recovery(seen: &Seen, stdout: &str, context: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let recovery = lines
        .iter()
        .position(|l| l.contains("chapter 8/8: recovery"))
        .unwrap_or_else(|| panic!("no recovery chapter in the terminal view\n{context}"));
    let after = &lines[recovery..];
    let green = after
        .iter()
        .position(|l| l.contains("the tree is green again"));
    let closed = after.iter().position(|l| l.contains("incident #1 closed"));
    assert!(
        green.is_some() && closed.is_some(),
        "the terminal says when the tree is green again ({green:?}) and when incident #1 \
         closed ({closed:?}) during the recovery chapter\n{context}"
    );
    let verdict = lines
        .iter()
        .rev()
        .find(|l| l.contains("kafka-obs demo: recovery "))
        .unwrap_or_else(|| panic!("no verdict at the end of the story\n{context}"));
    // The timings, for whoever wonders how much of the chapter the way back took.
    for l in lines.iter().filter(|l| {
        l.contains("chapter 8/8")
            || l.contains("green again")
            || l.contains(" closed")
            || l.contains("story has played")
    }) {
        eprintln!("{l}");
    }
    assert!(
        verdict.contains("recovery complete: the tree is green again") && verdict.contains("#1 at"),
        "{verdict}\n{context}"
    );

    // The API's last answers before the demo stopped.
    let mut bad = Vec::new();
    not_green(&seen.last_tree, &mut bad);
    assert!(
        seen.last_tree["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
            && bad.is_empty(),
        "the tree is green after the story; not green: {bad:#?}\n{context}"
    );
    let open = seen.last_incidents["open"].as_array().map_or(0, Vec::len);
    let closed_1 = seen.last_incidents["closed"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["id"] == 1);
    assert!(
        open == 0 && closed_1,
        "every incident closed, #1 among them: {:#}\n{context}",
        seen.last_incidents
    );
    assert_eq!(
        seen.last_incident_1["state"], "closed",
        "/api/v1/incidents/1: {:#}\n{context}",
        seen.last_incident_1
    );
    assert!(
        seen.last_incident_1["closed_ns"].as_u64().is_some(),
        "{:#}",
        seen.last_incident_1
    );
}

#[test]
fn the_demo_story_over_otlp() {
    let (seen, out, context) = play(&["--via".into(), "otlp".into()]);
    check(&seen, &context);
    check_recovery(&seen, &out, &context);
}

#[test]
fn the_demo_story_over_a_kafka_topic() {
    let tansu = Tansu::start().expect("tansu");
    tansu
        .create_topic("__kafka-obs-signals", 3)
        .expect("signals topic");
    let (seen, out, context) = play(&[
        "--via".into(),
        "kafka".into(),
        "--brokers".into(),
        tansu.brokers(),
    ]);
    check(&seen, &context);
    check_recovery(&seen, &out, &context);
}

#[test]
fn the_demo_without_a_jdk_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(kafka_obs_bin())
        .args(["demo", "--plain", "--web"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_clear()
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("needs a JDK") && err.contains("openjdk-17-jdk-headless"),
        "{err}"
    );
}
