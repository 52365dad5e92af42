//! Shared helpers for kafka-obs-jmx's integration tests: the Java target (compiled once with
//! the test kit), JVM launch with `READY` synchronisation, and a byte-recording TCP proxy.
#![allow(dead_code)]
// Was covered by each test file's crate-level allow before the files became modules of main.rs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient};
use kafka_obs_testkit::java::{Jvm, JvmBuilder, compile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const MAIN_CLASS: &str = "JmxTestTarget";

/// The compiled test target (cached by the test kit across tests and runs).
pub fn classes() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("java");
    compile(&src).expect("javac JmxTestTarget")
}

/// A builder for the target with the test kit's JMX defaults (plain, no auth, one port).
pub fn target() -> JvmBuilder {
    JvmBuilder::new(classes(), MAIN_CLASS).startup_timeout(Duration::from_secs(30))
}

/// Starts the JVM and waits until its MBeans are registered.
pub fn start(builder: JvmBuilder) -> Jvm {
    let jvm = builder.spawn().expect("start JVM");
    jvm.wait_for_line(|l| l == "READY", Duration::from_secs(30))
        .expect("target prints READY");
    jvm
}

/// The `INSTANCE` line the target printed (differs between JVM starts).
pub fn instance_id(jvm: &Jvm) -> String {
    jvm.stdout_lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("INSTANCE ").map(str::to_owned))
        .expect("INSTANCE line")
}

pub fn endpoint(jvm: &Jvm) -> Endpoint {
    Endpoint::new("127.0.0.1", jvm.jmx_port())
}

/// Short timeouts so a broken test fails fast instead of hanging.
pub fn options() -> ConnectOptions {
    ConnectOptions::default().with_timeouts(Duration::from_secs(5), Duration::from_secs(10))
}

pub async fn connect(jvm: &Jvm) -> JmxClient {
    JmxClient::connect(endpoint(jvm), options())
        .await
        .expect("connect to the test JVM")
}

/// A TCP proxy on 127.0.0.1 that forwards to `target_port` and records, per connection, every
/// byte the server sent back. Stops when dropped.
pub struct RecordingProxy {
    pub port: u16,
    pub recorded: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    pub async fn start(target_port: u16) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let recorded: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let rec = recorded.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                    continue;
                };
                let index = {
                    let mut all = rec.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = sw.shutdown().await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                rec.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = cw.shutdown().await;
                    up.abort();
                });
            }
        });
        RecordingProxy {
            port,
            recorded,
            task,
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
