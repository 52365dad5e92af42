//! The shared test kit: what integration tests across the workspace need to run real peers.
//!
//! Everything here is synchronous and std-based so it works the same from plain `#[test]`s and
//! from `#[tokio::test]`s (call it from `spawn_blocking` when a runtime must stay responsive).
//! Every child process a test starts is owned by a guard that kills it on drop, so a panicking
//! test leaves nothing running; every wait is bounded.
//!
//! - [`certs`]: a throwaway PKI (CA, server and client certificates) for TLS tests.
//! - [`hostile_jmx`]: a JRMP server that behaves like a JMX agent until told to send replies
//!   built to be expensive (huge names, wide classes, self-referential values, null arrays).
//! - [`net`]: free loopback ports and waiting for a port to accept.
//! - [`otlp_peer`]: an independent OTLP receiver (Python grpcio + `http.server`), optionally
//!   over TLS or mutual TLS and optionally requiring a bearer token.
//! - [`process`]: [`process::ChildGuard`], a child process killed on drop.
//! - [`java`]: compiling JDK-only Java fixtures with `javac` (cached) and starting JVMs with a
//!   JMX agent on a loopback port.
//! - [`scenario`]: the scenario JVM (`/scenario` in the repository) that plays Kafka client,
//!   broker and business MBean trajectories, driven over stdin.
//! - [`peers`]: locating the test peers (`jmxquery`, `tansu`, `otelcol`) that `./scripts/test.sh`
//!   installs into `.venv-peers`.

pub mod certs;
pub mod hostile_jmx;
pub mod java;
pub mod net;
pub mod otlp_peer;
pub mod peers;
pub mod process;
pub mod scenario;
pub mod tansu;

use std::path::PathBuf;

/// The root of the Cargo workspace (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let root = workspace_root();
        assert!(root.join("Cargo.toml").is_file(), "{}", root.display());
        assert!(root.join("testkit").is_dir());
    }
}
