//! An independent OTLP receiver to export into: `python/otlp_receiver.py` (grpcio and
//! `http.server` on the official `opentelemetry-proto` stubs), optionally over TLS, optionally
//! requiring a client certificate or a bearer token. Every request it accepted or refused is
//! one JSON line, collected here by a background thread.

use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::ChildGuard;

/// How the receiver serves.
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// Serve TLS with this certificate chain and key (both ports).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Require a client certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` (gRPC UNAUTHENTICATED / HTTP 401 otherwise).
    pub token: Option<String>,
}

/// A running receiver; killed on drop.
pub struct PyOtlpReceiver {
    pub grpc_port: u16,
    pub http_port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    _guard: ChildGuard,
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl PyOtlpReceiver {
    pub fn start(options: &ReceiverOptions) -> io::Result<PyOtlpReceiver> {
        let script = crate::workspace_root().join("testkit/python/otlp_receiver.py");
        let mut cmd = Command::new(crate::peers::python()?);
        cmd.arg(&script);
        if let Some((cert, key)) = &options.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some(ca) = &options.client_ca {
            cmd.arg("--client-ca").arg(ca);
        }
        if let Some(t) = &options.token {
            cmd.arg("--token").arg(t);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard::spawn(&mut cmd)?;
        let stdout = guard
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| bad("no stdout".into()))?;
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader.read_line(&mut first)?;
        let ports: Value = serde_json::from_str(&first)
            .map_err(|e| bad(format!("the receiver did not start ({e}): {first:?}")))?;
        let port = |k: &str| {
            ports[k]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| bad(format!("no {k} in {first:?}")))
        };
        let (grpc_port, http_port) = (port("grpc_port")?, port("http_port")?);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                }
            }
        });
        Ok(PyOtlpReceiver {
            grpc_port,
            http_port,
            lines,
            _guard: guard,
        })
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The accepted requests of one transport (`grpc` or `http`).
    pub fn accepted(&self, transport: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["transport"] == transport && l.get("refused").is_none())
            .filter(|l| l.get("signal").is_some())
            .collect()
    }

    /// The refused requests (token or TLS) of one transport.
    pub fn refused(&self, transport: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["transport"] == transport && l.get("refused").is_some())
            .collect()
    }

    /// The `seq` of every accepted item of one transport and signal, in arrival order.
    pub fn seqs(&self, transport: &str, signal: &str) -> Vec<i64> {
        self.accepted(transport)
            .iter()
            .filter(|l| l["signal"] == signal)
            .flat_map(|l| l["seqs"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_i64())
            .collect()
    }

    /// Every log record accepted over `transport`, in arrival order, in the proto JSON mapping
    /// (field names as in the .proto, 64-bit integers as strings).
    pub fn log_records(&self, transport: &str) -> Vec<Value> {
        self.accepted(transport)
            .iter()
            .filter(|l| l["signal"] == "logs")
            .flat_map(|l| l["log_records"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `f(lines)` holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&[Value]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if f(&self.lines()) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
