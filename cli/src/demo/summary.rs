//! The demo's terminal view: the situation per service from the central API, the latest
//! signals from the sidecars' signal file, the story's progress, and the milestones of its
//! recovery (the tree green again, each incident closed), said once each as they happen.
//!
//! On a terminal the view is redrawn in place once a second; otherwise (a pipe, a CI log) it
//! prints one compact line per chapter and per change, so logs stay readable.

use std::collections::VecDeque;
use std::io::{BufRead, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kafka_obs_signal::Rounded;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET `path` from the central API; `None` while it is not up (or on any error: the view
/// simply shows what it has).
pub async fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        serde_json::from_str(&body).ok()
    };
    tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .ok()
        .flatten()
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The newest signals the sidecars emitted, read from the `file/signals` exporter's output.
pub struct SignalTail {
    offset: u64,
    pub latest: VecDeque<String>,
}

impl SignalTail {
    pub fn new() -> Self {
        Self {
            offset: 0,
            latest: VecDeque::new(),
        }
    }

    /// Reads what was appended since the last call and keeps the newest `keep` signals.
    pub fn poll(&mut self, file: &Path, keep: usize) {
        let Ok(mut f) = std::fs::File::open(file) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut reader = std::io::BufReader::new(f);
        let mut line = String::new();
        while let Ok(n) = reader.read_line(&mut line) {
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            self.offset += n as u64;
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                for s in describe_signals(&v) {
                    self.latest.push_back(s);
                    if self.latest.len() > keep {
                        self.latest.pop_front();
                    }
                }
            }
            line.clear();
        }
    }
}

/// One line per signal in an OTLP JSON logs request: subject, kind, rule.
fn describe_signals(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let records = v["resourceLogs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rl| rl["scopeLogs"].as_array().into_iter().flatten())
        .flat_map(|sl| sl["logRecords"].as_array().into_iter().flatten());
    for r in records {
        let attr = |key: &str| -> String {
            r["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|kv| kv["key"] == key)
                .and_then(|kv| kv["value"].as_object())
                .and_then(|val| val.values().next())
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .unwrap_or_default()
        };
        let instrument = attr("signal.instrument");
        if instrument.is_empty() {
            continue;
        }
        let mut kind = format!("{instrument}.{}", attr("signal.sign"));
        let dimension = attr("signal.dimension");
        if !dimension.is_empty() {
            kind = format!("{kind}.{dimension}");
        }
        let subject = attr("signal.subject");
        let rule = attr("signal.rule");
        out.push(format!("{subject:<58} {kind:<32} {rule}"));
    }
    out
}

/// The cells an operator looks at first (brokers, services, their clients) with situation,
/// status and confidence, indented under their parents.
pub fn service_lines(tree: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack: Vec<(&Value, usize)> = vec![(tree, 0)];
    while let Some((cell, depth)) = stack.pop() {
        let kind = cell["kind"].as_str().unwrap_or_default();
        let shown = matches!(kind, "cluster" | "service" | "broker" | "client");
        if shown {
            let name = format!(
                "{}{kind} {}",
                "  ".repeat(depth),
                cell["name"].as_str().unwrap_or("?")
            );
            lines.push(format!(
                "{name:<44} {:<20} {}{}",
                text(&cell["situation"]),
                text(&cell["status"]),
                if cell["stale"].as_bool() == Some(true) {
                    "  (stale)"
                } else {
                    ""
                }
            ));
        }
        if let Some(children) = cell["nodes"].as_array() {
            let depth = depth + usize::from(shown);
            stack.extend(children.iter().rev().map(|c| (c, depth)));
        }
    }
    lines
}

/// A status or situation as text, whether the API gives a string or an object.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let main = o
                .get("sign")
                .or_else(|| o.get("status"))
                .or_else(|| o.get("situation"))
                .and_then(Value::as_str)
                .unwrap_or("-");
            match o
                .get("confidence")
                .or_else(|| o.get("variability"))
                .and_then(Value::as_str)
            {
                Some(d) => format!("{main} {d}"),
                None => main.to_string(),
            }
        }
        _ => "-".into(),
    }
}

/// Open incidents: root cause first, then the chain of cells that explains it, each with its
/// first reading as the alert text shows it.
pub fn incident_lines(incidents: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for i in incidents["open"].as_array().into_iter().flatten() {
        out.push(format!(
            "#{} {} root cause: {}",
            i["id"],
            i["situation"].as_str().unwrap_or(""),
            i["root_cause"].as_str().unwrap_or("?")
        ));
        for (n, link) in i["chain"].as_array().into_iter().flatten().enumerate() {
            let evidence = link["evidence"]
                .as_array()
                .and_then(|e| e.first())
                .map(reading_text)
                .unwrap_or_default();
            out.push(format!(
                "    {}{} {} ({evidence})",
                if n == 0 { "" } else { "-> " },
                link["kind"].as_str().unwrap_or(""),
                link["name"].as_str().unwrap_or("?"),
            ));
        }
    }
    out
}

/// A reading of the API as `signal rule name=value ...`: its first three evidence values,
/// rounded for reading (`consumed_rate=33.3`) as everywhere evidence meets people.
fn reading_text(reading: &Value) -> String {
    let mut text = format!(
        "{} {}",
        reading["signal"].as_str().unwrap_or(""),
        reading["rule"].as_str().unwrap_or("")
    );
    let values = reading["evidence"]["values"]
        .as_object()
        .into_iter()
        .flatten();
    for (name, value) in values.take(3) {
        match value.as_f64() {
            Some(v) => text.push_str(&format!(" {name}={}", Rounded(v))),
            None => text.push_str(&format!(" {name}={value}")),
        }
    }
    text
}

/// The cells that keep the tree from being green: every cell but the root whose shown status
/// is not STABLE or whose situation is not NORMAL, and every stale cell (a stale cell only
/// dropped out of its parent's roll-up; that says nothing about recovery). Empty: green.
pub fn not_green(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tree];
    while let Some(cell) = stack.pop() {
        let path = cell["path"].as_str().unwrap_or_default();
        if !path.is_empty() {
            let status = cell["status"]["status"].as_str().unwrap_or("STABLE");
            let situation = cell["situation"]["situation"].as_str().unwrap_or("NORMAL");
            let stale = cell["stale"].as_bool() == Some(true);
            if status != "STABLE" || situation != "NORMAL" || stale {
                out.push(format!(
                    "{} {} {status} {situation}{}",
                    cell["kind"].as_str().unwrap_or("cell"),
                    cell["name"].as_str().unwrap_or(path),
                    if stale { " (stale)" } else { "" }
                ));
            }
        }
        if let Some(children) = cell["nodes"].as_array() {
            stack.extend(children.iter().rev());
        }
    }
    out
}

/// What the end of the story is waiting for, announced once as it happens: the tree green
/// again after trouble (and green no longer, should it turn again), and each incident's close.
#[derive(Debug, Default)]
pub struct Milestones {
    /// Some cell was out of green since the start (or since the tree was last green).
    troubled: bool,
    /// Seconds into the story at which the tree turned green again (while it stays green).
    pub green_since: Option<f64>,
    /// Closed incidents by id: seconds into the story at which the view first saw them closed.
    pub closed: std::collections::BTreeMap<u64, f64>,
    /// Open incidents by id, as last seen.
    pub open: Vec<u64>,
    /// Cells that were not green at the last look.
    pub not_green: Vec<String>,
    /// Every announcement so far, `[  t s] text`.
    pub log: Vec<String>,
}

impl Milestones {
    /// Takes one look at the tree and the incidents (`at` seconds into the story) and returns
    /// the announcements it made (also appended to `log`).
    pub fn observe(
        &mut self,
        at: f64,
        tree: Option<&Value>,
        incidents: Option<&Value>,
    ) -> Vec<String> {
        let mut said = Vec::new();
        if let Some(tree) = tree {
            self.not_green = not_green(tree);
            if !self.not_green.is_empty() {
                if let Some(since) = self.green_since.take() {
                    said.push(format!(
                        "the tree is no longer green (it was from {since:.0} s): {}",
                        self.not_green.join(", ")
                    ));
                }
                self.troubled = true;
            } else if self.troubled && self.green_since.is_none() {
                self.green_since = Some(at);
                said.push("the tree is green again: every cell STABLE / NORMAL".to_string());
            }
        }
        if let Some(incidents) = incidents {
            self.open = incidents["open"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["id"].as_u64())
                .collect();
            // The API lists closed incidents newest first; announce oldest first.
            let closed: Vec<&Value> = incidents["closed"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            for i in closed.into_iter().rev() {
                let Some(id) = i["id"].as_u64() else { continue };
                if self.closed.contains_key(&id) {
                    continue;
                }
                self.closed.insert(id, at);
                let open_for = match (i["opened_ns"].as_u64(), i["closed_ns"].as_u64()) {
                    (Some(o), Some(c)) if c >= o => format!(" after {:.0} s", (c - o) as f64 / 1e9),
                    _ => String::new(),
                };
                let members = i["chain"].as_array().map_or(0, Vec::len);
                said.push(format!(
                    "incident #{id} closed{open_for}: {} with root cause {}, {members} cell{}",
                    i["situation"].as_str().unwrap_or("?"),
                    i["root_cause"].as_str().unwrap_or("?"),
                    if members == 1 { "" } else { "s" }
                ));
            }
        }
        for line in &said {
            self.log.push(format!("[{at:>5.1}s] {line}"));
        }
        said
    }

    /// The tree is green and no incident is open (and at least one closed, so the story's
    /// incident is over rather than never opened).
    pub fn recovered(&self) -> bool {
        self.green_since.is_some() && self.open.is_empty() && !self.closed.is_empty()
    }

    /// The verdict at the end of the story, one sentence.
    pub fn verdict(&self) -> String {
        let closed: Vec<String> = self
            .closed
            .iter()
            .map(|(id, at)| format!("#{id} at {at:.0} s"))
            .collect();
        if self.recovered() {
            format!(
                "recovery complete: the tree is green again (since {:.0} s) and every incident is closed ({})",
                self.green_since.unwrap_or_default(),
                closed.join(", ")
            )
        } else {
            let mut missing = Vec::new();
            if self.green_since.is_none() {
                missing.push(format!("not green: {}", self.not_green.join(", ")));
            }
            if !self.open.is_empty() {
                let open: Vec<String> = self.open.iter().map(|id| format!("#{id}")).collect();
                missing.push(format!("still open: incident {}", open.join(", ")));
            }
            if self.closed.is_empty() && self.open.is_empty() {
                missing.push("no incident was opened".to_string());
            }
            format!(
                "recovery incomplete at the end of the story: {}",
                missing.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cell(path: &str, kind: &str, status: &str, situation: &str, nodes: Vec<Value>) -> Value {
        json!({"path": path, "kind": kind, "name": path.rsplit('=').next(),
               "status": {"status": status}, "situation": {"situation": situation},
               "stale": false, "nodes": nodes})
    }

    #[test]
    fn green_again_and_each_close_are_announced_once() {
        let troubled = cell(
            "",
            "root",
            "DEGRADED",
            "WARNING",
            vec![cell(
                "cluster=demo",
                "cluster",
                "DEGRADED",
                "WARNING",
                vec![],
            )],
        );
        let green = cell(
            "",
            "root",
            "STABLE",
            "NORMAL",
            vec![cell("cluster=demo", "cluster", "STABLE", "NORMAL", vec![])],
        );
        let open = json!({"open": [{"id": 1}], "closed": []});
        let closed = json!({"open": [], "closed": [{"id": 1, "situation": "WARNING",
            "root_cause": "cluster=demo/broker=1", "opened_ns": 1_000_000_000u64,
            "closed_ns": 31_000_000_000u64, "chain": [{}, {}]}]});
        let mut m = Milestones::default();
        assert!(
            m.observe(1.0, Some(&green), Some(&json!({"open": [], "closed": []})))
                .is_empty()
        );
        assert!(m.observe(2.0, Some(&troubled), Some(&open)).is_empty());
        assert!(!m.recovered());
        assert!(
            m.verdict()
                .contains("not green: cluster demo DEGRADED WARNING"),
            "{}",
            m.verdict()
        );
        assert!(
            m.verdict().contains("still open: incident #1"),
            "{}",
            m.verdict()
        );
        assert_eq!(
            m.observe(3.0, Some(&green), Some(&open)),
            ["the tree is green again: every cell STABLE / NORMAL"]
        );
        assert_eq!(
            m.observe(4.0, Some(&green), Some(&closed)),
            [
                "incident #1 closed after 30 s: WARNING with root cause cluster=demo/broker=1, 2 cells"
            ]
        );
        assert!(m.observe(5.0, Some(&green), Some(&closed)).is_empty());
        assert!(m.recovered());
        assert_eq!(
            m.verdict(),
            "recovery complete: the tree is green again (since 3 s) and every incident is closed (#1 at 4 s)"
        );
        assert_eq!(m.log.len(), 2);
        assert!(m.log[0].starts_with("[  3.0s] the tree is green again"));
        // Turning again is said too, and green must be earned again.
        let said = m.observe(6.0, Some(&troubled), Some(&closed));
        assert_eq!(said.len(), 1);
        assert!(said[0].starts_with("the tree is no longer green (it was from 3 s): cluster demo"));
        assert!(!m.recovered());
    }

    #[test]
    fn a_stale_cell_is_not_green() {
        let mut stale = cell("cluster=demo", "cluster", "STABLE", "NORMAL", vec![]);
        stale["stale"] = json!(true);
        assert_eq!(
            not_green(&cell("", "root", "STABLE", "NORMAL", vec![stale])),
            ["cluster demo STABLE NORMAL (stale)"]
        );
    }

    #[test]
    fn incident_lines_show_rounded_evidence() {
        let incidents = json!({"open": [{
            "id": 3,
            "situation": "WARNING",
            "root_cause": "cluster=prod/broker=2",
            "chain": [
                {"kind": "broker", "name": "broker=2", "evidence": [{
                    "signal": "Statuses.DEGRADED.CONFIRMED",
                    "rule": "B1",
                    "evidence": {"rule": "B1", "values": {"under_replicated_partitions": 2.0}, "threshold": 0.0},
                }]},
                {"kind": "client", "name": "client=billing-consumer", "evidence": [{
                    "signal": "Statuses.DEGRADED.MEASURED",
                    "rule": "C4",
                    "evidence": {"rule": "C4", "values": {
                        "consumed_rate": 33.333_333_333_333_336,
                        "lag_seconds": 0.950_000_000_1,
                    }, "threshold": 50.0},
                }]},
                {"kind": "service", "name": "service=billing", "evidence": []},
            ],
        }]});
        assert_eq!(
            incident_lines(&incidents),
            vec![
                "#3 WARNING root cause: cluster=prod/broker=2",
                "    broker broker=2 (Statuses.DEGRADED.CONFIRMED B1 under_replicated_partitions=2)",
                "    -> client client=billing-consumer \
                 (Statuses.DEGRADED.MEASURED C4 consumed_rate=33.3 lag_seconds=0.95)",
                "    -> service service=billing ()",
            ]
        );
    }
}
