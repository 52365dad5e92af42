//! The `tansu` Kafka-protocol broker (in memory) on a loopback port, stopped on drop.
//!
//! Its high watermarks count record batches, not records (see docs/test-peers.md): tests count
//! what they consume and never rely on watermarks or `auto.offset.reset=latest`.

use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::peers::tansu_bin;
use crate::process::ChildGuard;

pub struct Tansu {
    port: u16,
    guard: Option<ChildGuard>,
}

impl Tansu {
    /// Starts a broker on a free 127.0.0.1 port and waits until it listens.
    pub fn start() -> io::Result<Tansu> {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> io::Result<Tansu> {
        Self::start_with(port, port, &[])
    }

    /// Listens on `port` and tells clients to connect to `advertised` (a proxy in front of it,
    /// say), with `extra` broker flags (`--authentication`).
    pub fn start_with(port: u16, advertised: u16, extra: &[&str]) -> io::Result<Tansu> {
        let mut cmd = Command::new(tansu_bin()?);
        cmd.args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{advertised}"),
            "--storage-engine",
            "memory://tansu/",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let guard = ChildGuard::spawn(&mut cmd)?;
        wait_for_port(
            format!("127.0.0.1:{port}")
                .parse()
                .map_err(|e| io::Error::other(format!("{e}")))?,
            Duration::from_secs(10),
        )?;
        Ok(Tansu {
            port,
            guard: Some(guard),
        })
    }

    /// `tansu topic create` with `partitions`.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> io::Result<()> {
        let status = Command::new(tansu_bin()?)
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--partitions",
                &partitions.to_string(),
                topic,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "tansu topic create {topic}: {status}"
            )))
        }
    }

    /// `host:port` for a client's bootstrap servers.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGTERM (it stops in about 1.5 s), then kill.
    pub fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let _ = g.terminate(Duration::from_secs(5));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
