//! The demo's terminal view: the situation per service from the central API, the latest
//! signals from the sidecars' signal file, and the story's progress.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::incident_lines;

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
