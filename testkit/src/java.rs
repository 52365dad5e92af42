//! Java fixtures for tests: compile JDK-only sources with `javac`, start JVMs with a JMX agent.
//!
//! [`compile`] caches its output under the system temp dir keyed by a hash of the sources, so a
//! test run compiles each fixture once; concurrent test processes compile into private temp
//! directories and rename the finished one into place, so nobody sees a half-written class dir.
//!
//! [`JvmBuilder`] starts `java` with the remote JMX agent on one loopback port (registry and RMI
//! server on the same port, no SSL, no auth unless asked), waits until that port accepts, and
//! hands back a [`Jvm`] that is killed on drop. The JVM's stdout is collected line by line so
//! tests can synchronise on what the program prints ([`Jvm::wait_for_line`]), and its stdin can
//! carry commands ([`Jvm::send_line`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::net;
use crate::process::ChildGuard;

/// Environment variable that moves the compile cache (default `$TMPDIR/kafka-obs-java`).
pub const JAVA_CACHE_ENV: &str = "KAFKA_OBS_JAVA_CACHE";

/// How long [`JvmBuilder::spawn`] waits for the JMX port unless told otherwise.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The `java` launcher: `$JAVA_HOME/bin/java` when that exists, else `java` from `PATH`.
pub fn java_bin() -> PathBuf {
    jdk_tool("java")
}

/// The `javac` compiler: `$JAVA_HOME/bin/javac` when that exists, else `javac` from `PATH`.
pub fn javac_bin() -> PathBuf {
    jdk_tool("javac")
}

fn jdk_tool(name: &str) -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let tool = Path::new(&home).join("bin").join(name);
        if tool.is_file() {
            return tool;
        }
    }
    PathBuf::from(name)
}

/// Compiles every `.java` file under `src_dir` (recursively) and returns the directory holding
/// the classes, to be used as a classpath.
///
/// The output is cached by a hash of the sources' paths and contents (and `JAVA_HOME`), so an
/// unchanged fixture is compiled once per machine; it is safe to call from several test
/// processes at once.
pub fn compile(src_dir: &Path) -> io::Result<PathBuf> {
    let cache = std::env::var_os(JAVA_CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("kafka-obs-java"));
    compile_in(src_dir, &cache)
}

/// [`compile`] with an explicit cache directory.
pub fn compile_in(src_dir: &Path, cache: &Path) -> io::Result<PathBuf> {
    let sources = java_sources(src_dir)?;
    if sources.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no .java files under {}", src_dir.display()),
        ));
    }
    let key = source_hash(src_dir, &sources)?;
    let name = src_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "java".to_owned());
    let out = cache.join(format!("{name}-{key:016x}"));
    if out.is_dir() {
        return Ok(out);
    }
    fs::create_dir_all(cache)?;

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = cache.join(format!(
        ".{name}-{key:016x}.tmp-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&tmp)?;
    let result = run_javac(&tmp, &sources);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &out) {
        Ok(()) => Ok(out),
        // Another process finished the same sources first: use theirs.
        Err(_) if out.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(out)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(io::Error::new(
                e.kind(),
                format!("cannot move compiled classes to {}: {e}", out.display()),
            ))
        }
    }
}

fn run_javac(out: &Path, sources: &[PathBuf]) -> io::Result<()> {
    let javac = javac_bin();
    let output = Command::new(&javac)
        .arg("-encoding")
        .arg("UTF-8")
        .arg("-nowarn")
        .arg("-d")
        .arg(out)
        .args(sources)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run `{}`: {e}; install a JDK (apt-get install -y openjdk-17-jdk-headless)",
                    javac.display()
                ),
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "javac failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

fn java_sources(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "java") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// FNV-1a over the directory, each source's relative path and bytes, and `JAVA_HOME`: stable
/// across Rust versions (unlike `DefaultHasher`), and content-based so a fresh checkout with new
/// mtimes still hits the cache.
fn source_hash(dir: &Path, sources: &[PathBuf]) -> io::Result<u64> {
    let mut hash = Fnv::default();
    hash.write(dir.as_os_str().as_encoded_bytes());
    hash.write(
        std::env::var_os("JAVA_HOME")
            .unwrap_or_default()
            .as_encoded_bytes(),
    );
    for source in sources {
        let relative = source.strip_prefix(dir).unwrap_or(source);
        hash.write(relative.as_os_str().as_encoded_bytes());
        hash.write(&[0]);
        hash.write(&fs::read(source)?);
        hash.write(&[0]);
    }
    Ok(hash.0)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Writes a JMX password file and access file into `dir` for `-Dcom.sun.management.jmxremote`
/// auth tests: each `(user, password)` gets `readonly` access. The password file is made
/// owner-only (0600) because the JVM refuses to start otherwise.
pub fn write_jmx_auth_files(dir: &Path, users: &[(&str, &str)]) -> io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let password_file = dir.join("jmxremote.password");
    let access_file = dir.join("jmxremote.access");
    let passwords: String = users.iter().map(|(u, p)| format!("{u} {p}\n")).collect();
    let access: String = users
        .iter()
        .map(|(u, _)| format!("{u} readonly\n"))
        .collect();
    fs::write(&password_file, passwords)?;
    fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600))?;
    fs::write(&access_file, access)?;
    fs::set_permissions(&access_file, fs::Permissions::from_mode(0o600))?;
    Ok((password_file, access_file))
}

/// Builds the command line of a JVM with a remote JMX agent on a loopback port.
#[derive(Debug, Clone)]
pub struct JvmBuilder {
    classpath: PathBuf,
    main_class: String,
    jmx_port: Option<u16>,
    auth: Option<(PathBuf, PathBuf)>,
    sys_props: Vec<(String, String)>,
    jvm_args: Vec<OsString>,
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
    stdin_piped: bool,
    startup_timeout: Duration,
}

impl JvmBuilder {
    /// A JVM running `main_class` from `classpath` (a directory from [`compile`] or a jar).
    pub fn new(classpath: impl AsRef<Path>, main_class: &str) -> Self {
        Self {
            classpath: classpath.as_ref().to_path_buf(),
            main_class: main_class.to_owned(),
            jmx_port: None,
            auth: None,
            sys_props: Vec::new(),
            jvm_args: Vec::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            stdin_piped: false,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }

    /// The JMX port (registry and RMI server both); default a [`net::free_port`].
    pub fn jmx_port(mut self, port: u16) -> Self {
        self.jmx_port = Some(port);
        self
    }

    /// Turns on password authentication with these files (see [`write_jmx_auth_files`]).
    pub fn auth(mut self, password_file: impl AsRef<Path>, access_file: impl AsRef<Path>) -> Self {
        self.auth = Some((
            password_file.as_ref().to_path_buf(),
            access_file.as_ref().to_path_buf(),
        ));
        self
    }

    /// A `-Dkey=value`. These come after the JMX defaults, so they override them (for example
    /// `com.sun.management.jmxremote.ssl=true` or a separate `...rmi.port`).
    pub fn sys_prop(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.sys_props.push((key.to_owned(), value.to_string()));
        self
    }

    /// A raw JVM option such as `-XX:+UseSerialGC`, placed before the main class.
    pub fn jvm_arg(mut self, arg: impl Into<OsString>) -> Self {
        self.jvm_args.push(arg.into());
        self
    }

    /// A program argument, placed after the main class.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Several program arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the JVM.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Gives the JVM a stdin pipe for [`Jvm::send_line`] (otherwise stdin is `/dev/null`).
    pub fn stdin_piped(mut self) -> Self {
        self.stdin_piped = true;
        self
    }

    /// How long [`spawn`](Self::spawn) waits for the JMX port to accept (default 20 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The full command line (for logs and for tests of the builder).
    pub fn command_args(&self, port: u16) -> Vec<OsString> {
        let jmx = "-Dcom.sun.management.jmxremote";
        let mut argv: Vec<OsString> = vec![
            format!("{jmx}.port={port}").into(),
            format!("{jmx}.rmi.port={port}").into(),
            format!("{jmx}.authenticate={}", self.auth.is_some()).into(),
            format!("{jmx}.ssl=false").into(),
            "-Djava.rmi.server.hostname=127.0.0.1".into(),
            "-Xmx64m".into(),
        ];
        if let Some((password, access)) = &self.auth {
            argv.push(format!("{jmx}.password.file={}", password.display()).into());
            argv.push(format!("{jmx}.access.file={}", access.display()).into());
        }
        for (key, value) in &self.sys_props {
            argv.push(format!("-D{key}={value}").into());
        }
        argv.extend(self.jvm_args.iter().cloned());
        argv.push("-cp".into());
        argv.push(self.classpath.clone().into_os_string());
        argv.push(self.main_class.clone().into());
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// Starts the JVM and waits (bounded) until its JMX port accepts connections.
    ///
    /// When the port was chosen here (no [`jmx_port`](Self::jmx_port)) and another process took
    /// it between [`net::free_port`] and the JVM's bind, it retries with a new port (3 tries).
    pub fn spawn(self) -> io::Result<Jvm> {
        let tries = if self.jmx_port.is_some() { 1 } else { 3 };
        let mut attempt = 1;
        loop {
            let port = self.jmx_port.unwrap_or_else(net::free_port);
            match self.spawn_on(port) {
                Err(e) if attempt < tries && e.to_string().contains("BindException") => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn spawn_on(&self, port: u16) -> io::Result<Jvm> {
        let mut command = Command::new(java_bin());
        command
            .args(self.command_args(port))
            .envs(&self.env)
            .stdin(if self.stdin_piped {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard::spawn(&mut command)?;
        let pid = guard.pid();
        let stdin = guard.child_mut().stdin.take();
        let stdout = Arc::new(LineLog::default());
        let stderr = Arc::new(LineLog::default());
        if let Some(out) = guard.child_mut().stdout.take() {
            pump(out, stdout.clone(), format!("jvm {pid} stdout"));
        }
        if let Some(err) = guard.child_mut().stderr.take() {
            pump(err, stderr.clone(), format!("jvm {pid} stderr"));
        }
        let mut jvm = Jvm {
            guard,
            port,
            stdin: Mutex::new(stdin),
            stdout,
            stderr,
            cursor: Mutex::new(0),
        };
        let addr = jvm.jmx_addr();
        let waited = net::wait_for_port_while(addr, self.startup_timeout, || {
            match jvm.guard.try_wait()? {
                None => Ok(()),
                Some(status) => Err(io::Error::other(format!("JVM exited with {status}"))),
            }
        });
        if let Err(e) = waited {
            let _ = jvm.guard.kill();
            // Give the pump threads a moment to collect the last words.
            jvm.stderr.wait_closed(Duration::from_secs(1));
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "JVM {} (main class {}) did not open its JMX port {port}: {e}\n--- stderr ---\n{}",
                    pid,
                    self.main_class,
                    jvm.stderr_text()
                ),
            ));
        }
        Ok(jvm)
    }
}

/// A running JVM started by [`JvmBuilder`]; killed on drop.
#[derive(Debug)]
pub struct Jvm {
    guard: ChildGuard,
    port: u16,
    stdin: Mutex<Option<ChildStdin>>,
    stdout: Arc<LineLog>,
    stderr: Arc<LineLog>,
    /// Index of the first stdout line not yet consumed by [`Jvm::wait_for_line`].
    cursor: Mutex<usize>,
}

impl Jvm {
    /// The JMX port (RMI registry and server).
    pub fn jmx_port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<jmx port>`.
    pub fn jmx_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `service:jmx:rmi:///jndi/rmi://127.0.0.1:<port>/jmxrmi`.
    pub fn jmx_url(&self) -> String {
        format!(
            "service:jmx:rmi:///jndi/rmi://127.0.0.1:{}/jmxrmi",
            self.port
        )
    }

    /// The JVM's process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Writes `line` and a newline to the JVM's stdin (needs [`JvmBuilder::stdin_piped`]).
    pub fn send_line(&self, line: &str) -> io::Result<()> {
        let mut stdin = lock(&self.stdin);
        let pipe = stdin.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the JVM's stdin is not piped (use JvmBuilder::stdin_piped) or was closed",
            )
        })?;
        pipe.write_all(line.as_bytes())?;
        pipe.write_all(b"\n")?;
        pipe.flush()
    }

    /// Closes the JVM's stdin (the program sees end of input).
    pub fn close_stdin(&self) {
        lock(&self.stdin).take();
    }

    /// Waits at most `timeout` for a stdout line matching `matches`, consuming every line up to
    /// and including it (so the next wait only sees later lines). Fails early, with the JVM's
    /// stderr, when the JVM closes its stdout first.
    pub fn wait_for_line(
        &self,
        matches: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> io::Result<String> {
        let mut lines = self.read_until(matches, timeout)?;
        Ok(lines.pop().unwrap_or_default())
    }

    /// Like [`wait_for_line`](Self::wait_for_line) but returns every line it consumed, the
    /// matching one last.
    pub fn read_until(
        &self,
        mut matches: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> io::Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        let mut cursor = lock(&self.cursor);
        let start = *cursor;
        let found = self.stdout.wait_from(start, deadline, |line| matches(line));
        match found {
            Wait::Found(index) => {
                *cursor = index + 1;
                Ok(self.stdout.range(start, index + 1))
            }
            Wait::Closed(seen) => {
                *cursor = seen;
                // stderr closes at about the same moment: let its pump catch up for the message.
                self.stderr.wait_closed(Duration::from_secs(1));
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "JVM {} closed its stdout before printing the awaited line\n--- stderr ---\n{}",
                        self.pid(),
                        self.stderr_text()
                    ),
                ))
            }
            Wait::TimedOut(seen) => {
                *cursor = seen;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "JVM {} printed no awaited line within {timeout:?}; last stdout lines:\n{}",
                        self.pid(),
                        self.stdout.tail(10).join("\n")
                    ),
                ))
            }
        }
    }

    /// Every stdout line so far (consumed or not).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.all()
    }

    /// The last lines of the JVM's stderr (at most 200), joined.
    pub fn stderr_text(&self) -> String {
        self.stderr.tail(200).join("\n")
    }

    /// Whether the JVM process is still running.
    pub fn is_running(&mut self) -> bool {
        self.guard.is_running()
    }

    /// SIGTERM, then SIGKILL after `timeout` (see [`ChildGuard::terminate`]).
    pub fn terminate(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        self.guard.terminate(timeout)
    }

    /// Kills the JVM at once and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        self.guard.kill()
    }

    /// Waits at most `timeout` for the JVM to exit by itself.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        self.guard.wait_timeout(timeout)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lines read from a child's pipe by a background thread, with a condvar for waiters.
#[derive(Debug, Default)]
struct LineLog {
    state: Mutex<LogState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LogState {
    lines: Vec<String>,
    closed: bool,
}

enum Wait {
    Found(usize),
    Closed(usize),
    TimedOut(usize),
}

impl LineLog {
    fn push(&self, line: String) {
        lock(&self.state).lines.push(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    fn all(&self) -> Vec<String> {
        lock(&self.state).lines.clone()
    }

    fn range(&self, from: usize, to: usize) -> Vec<String> {
        let state = lock(&self.state);
        let to = to.min(state.lines.len());
        state.lines[from.min(to)..to].to_vec()
    }

    fn tail(&self, n: usize) -> Vec<String> {
        let state = lock(&self.state);
        state.lines[state.lines.len().saturating_sub(n)..].to_vec()
    }

    fn wait_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        while !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn wait_from(
        &self,
        mut from: usize,
        deadline: Instant,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Wait {
        let mut state = lock(&self.state);
        loop {
            while from < state.lines.len() {
                if matches(&state.lines[from]) {
                    return Wait::Found(from);
                }
                from += 1;
            }
            if state.closed {
                return Wait::Closed(from);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wait::TimedOut(from);
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// Reads `pipe` line by line into `log` on a background thread, echoing each line to stderr
/// (the test harness captures it and shows it for failing tests).
fn pump(pipe: impl Read + Send + 'static, log: Arc<LineLog>, label: String) {
    let reader_log = log.clone();
    let spawned = thread::Builder::new().name(label.clone()).spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    eprintln!("[{label}] {line}");
                    reader_log.push(line);
                }
            }
        }
        reader_log.close();
    });
    if spawned.is_err() {
        // No reader: mark the log closed so waiters fail at once instead of timing out.
        log.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_puts_jmx_defaults_first_and_overrides_after() {
        let args = JvmBuilder::new("/cp", "Main")
            .sys_prop("com.sun.management.jmxremote.ssl", true)
            .jvm_arg("-XX:+UseSerialGC")
            .arg("--tick")
            .arg("1s")
            .command_args(4242);
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "-Dcom.sun.management.jmxremote.port=4242",
                "-Dcom.sun.management.jmxremote.rmi.port=4242",
                "-Dcom.sun.management.jmxremote.authenticate=false",
                "-Dcom.sun.management.jmxremote.ssl=false",
                "-Djava.rmi.server.hostname=127.0.0.1",
                "-Xmx64m",
                "-Dcom.sun.management.jmxremote.ssl=true",
                "-XX:+UseSerialGC",
                "-cp",
                "/cp",
                "Main",
                "--tick",
                "1s",
            ]
        );
    }

    #[test]
    fn builder_with_auth_turns_authentication_on() {
        let args: Vec<String> = JvmBuilder::new("/cp", "Main")
            .auth("/p", "/a")
            .command_args(1)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"-Dcom.sun.management.jmxremote.authenticate=true".to_owned()));
        assert!(args.contains(&"-Dcom.sun.management.jmxremote.password.file=/p".to_owned()));
        assert!(args.contains(&"-Dcom.sun.management.jmxremote.access.file=/a".to_owned()));
    }

    #[test]
    fn line_log_waits_and_consumes() {
        let log = Arc::new(LineLog::default());
        let writer = log.clone();
        let handle = thread::spawn(move || {
            writer.push("one".into());
            thread::sleep(Duration::from_millis(50));
            writer.push("ACK two".into());
            writer.close();
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        match log.wait_from(0, deadline, |l| l.starts_with("ACK")) {
            Wait::Found(1) => assert_eq!(log.range(1, 2), ["ACK two"]),
            _ => panic!("expected the ACK line at index 1"),
        }
        handle.join().expect("writer");
        assert!(matches!(
            log.wait_from(2, deadline, |_| true),
            Wait::Closed(2)
        ));
    }

    #[test]
    fn line_log_times_out() {
        let log = LineLog::default();
        log.push("noise".into());
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            log.wait_from(0, deadline, |l| l == "x"),
            Wait::TimedOut(1)
        ));
    }

    #[test]
    fn fnv_is_stable() {
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn auth_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("kafka-obs-auth-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("mkdir");
        let (password, access) =
            write_jmx_auth_files(&dir, &[("monitor", "s3cret")]).expect("write");
        assert_eq!(
            fs::read_to_string(&password).expect("read"),
            "monitor s3cret\n"
        );
        assert_eq!(
            fs::read_to_string(&access).expect("read"),
            "monitor readonly\n"
        );
        let mode = fs::metadata(&password).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(&dir);
    }
}
