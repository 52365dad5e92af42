//! The demo's service JVMs: the scenario program (scenario/*.java, embedded in the binary)
//! compiled with the machine's `javac` and started with a loopback JMX agent, driven through
//! its stdin command protocol (scenario/README.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The scenario sources, so the demo needs nothing but a JDK.
const SOURCES: [(&str, &str); 6] = [
    (
        "ScenarioMain.java",
        include_str!("../../../scenario/ScenarioMain.java"),
    ),
    ("Model.java", include_str!("../../../scenario/Model.java")),
    ("Bean.java", include_str!("../../../scenario/Bean.java")),
    ("Meter.java", include_str!("../../../scenario/Meter.java")),
    (
        "Options.java",
        include_str!("../../../scenario/Options.java"),
    ),
    (
        "Timeline.java",
        include_str!("../../../scenario/Timeline.java"),
    ),
];

const NO_JDK: &str = "kafka-obs demo plays its story on small Java programs (the service JVMs \
whose MBeans the sidecar reads), so it needs a JDK with `javac`: install one \
(Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`), or set JAVA_HOME";

/// `$JAVA_HOME/bin/<tool>` when it exists, else `<tool>` from `PATH`.
fn jdk_tool(name: &str) -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let tool = Path::new(&home).join("bin").join(name);
        if tool.is_file() {
            return tool;
        }
    }
    PathBuf::from(name)
}

/// Writes the sources into `dir/src` and compiles them into `dir/classes`.
pub async fn compile(dir: &Path) -> anyhow::Result<PathBuf> {
    let src = dir.join("scenario-src");
    let classes = dir.join("scenario-classes");
    std::fs::create_dir_all(&src).with_context(|| format!("cannot create {}", src.display()))?;
    std::fs::create_dir_all(&classes)?;
    let mut files = Vec::new();
    for (name, text) in SOURCES {
        let path = src.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
    }
    let out = Command::new(jdk_tool("javac"))
        .arg("-d")
        .arg(&classes)
        .args(&files)
        .output()
        .await;
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{NO_JDK}"),
        Err(e) => bail!("cannot run javac: {e}. {NO_JDK}"),
        Ok(o) if !o.status.success() => bail!(
            "javac could not compile the demo's scenario program:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => Ok(classes),
    }
}

/// What a scenario JVM plays.
#[derive(Debug, Clone)]
pub struct Spec {
    pub service: String,
    /// `client`, `broker` or `both`.
    pub role: &'static str,
    pub producers: Vec<String>,
    pub consumers: Vec<String>,
    pub topics: Vec<String>,
    pub tick: Duration,
}

/// A running scenario JVM; killed when dropped.
pub struct ServiceJvm {
    pub service: String,
    pub jmx_port: u16,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl ServiceJvm {
    pub async fn start(classes: &Path, spec: &Spec, jmx_port: u16) -> anyhow::Result<ServiceJvm> {
        let port = jmx_port.to_string();
        let tick = format!("{}ms", spec.tick.as_millis().max(1));
        let mut cmd = Command::new(jdk_tool("java"));
        cmd.arg("-Xmx64m")
            .arg("-XX:+UseSerialGC")
            .arg(format!("-Dcom.sun.management.jmxremote.port={port}"))
            .arg(format!("-Dcom.sun.management.jmxremote.rmi.port={port}"))
            .arg("-Dcom.sun.management.jmxremote.authenticate=false")
            .arg("-Dcom.sun.management.jmxremote.ssl=false")
            .arg("-Dcom.sun.management.jmxremote.host=127.0.0.1")
            .arg("-Djava.rmi.server.hostname=127.0.0.1")
            .arg("-cp")
            .arg(classes)
            .arg("ScenarioMain")
            .args([
                "--role",
                spec.role,
                "--service",
                &spec.service,
                "--tick",
                &tick,
            ])
            .args(["--timeline", "normal"]);
        if !spec.producers.is_empty() {
            cmd.args(["--producer", &spec.producers.join(",")]);
        }
        if !spec.consumers.is_empty() {
            cmd.args(["--consumer", &spec.consumers.join(",")]);
        }
        if !spec.topics.is_empty() {
            cmd.args(["--topics", &spec.topics.join(",")]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{NO_JDK}"),
            Err(e) => bail!("cannot start java for {}: {e}", spec.service),
        };
        let stdin = child.stdin.take().context("java's stdin")?;
        let stdout = child.stdout.take().context("java's stdout")?;
        let (tx, lines) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                // TICK lines are frequent and nobody waits for them.
                if line.starts_with("TICK ") {
                    continue;
                }
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
        let mut jvm = ServiceJvm {
            service: spec.service.clone(),
            jmx_port,
            child,
            stdin,
            lines,
        };
        jvm.wait_for(|l| l.starts_with("READY "), Duration::from_secs(30))
            .await
            .with_context(|| format!("{} did not start", spec.service))?;
        Ok(jvm)
    }

    async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
        within: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => bail!("no answer within {within:?}"),
                Ok(None) => {
                    let status = self.child.try_wait().ok().flatten();
                    bail!("the JVM exited ({status:?})")
                }
                Ok(Some(line)) if pred(&line) => return Ok(line),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Sends one stdin command and waits for its `ACK`.
    pub async fn command(&mut self, command: &str) -> anyhow::Result<()> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .with_context(|| format!("{} stopped", self.service))?;
        self.stdin.flush().await?;
        let ack = format!("ACK {command}");
        let err = format!("ERR {command}");
        let line = self
            .wait_for(|l| l == ack || l.starts_with(&err), Duration::from_secs(10))
            .await
            .with_context(|| format!("{}: `{command}`", self.service))?;
        if line.starts_with("ERR") {
            bail!("{}: {line}", self.service);
        }
        Ok(())
    }

    /// Stops the JVM politely, then for sure.
    pub async fn stop(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
