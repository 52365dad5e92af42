//! The Java half of the test kit against a real JDK: compiling a fixture (cached, concurrent),
//! starting a JVM with a JMX agent, talking to it over stdin/stdout, and stopping it.

use std::path::PathBuf;
use std::time::Duration;

use kafka_obs_testkit::java::{JvmBuilder, compile, compile_in};
use kafka_obs_testkit::net::{free_port, wait_for_port};

fn echo_sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo")
}

#[test]
fn compile_is_cached_and_safe_concurrently() {
    let cache =
        std::env::temp_dir().join(format!("kafka-obs-java-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || compile_in(&echo_sources(), &cache))
        })
        .collect();
    let dirs: Vec<PathBuf> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("javac"))
        .collect();
    assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
    assert!(dirs[0].join("Echo.class").is_file());
    // Nothing half-written is left beside the finished directory.
    let entries = std::fs::read_dir(&cache).expect("cache").count();
    assert_eq!(entries, 1);
    let modified = std::fs::metadata(dirs[0].join("Echo.class"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(
        compile_in(&echo_sources(), &cache).expect("cached"),
        dirs[0]
    );
    let again = std::fs::metadata(dirs[0].join("Echo.class"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(modified, again, "an unchanged fixture is not recompiled");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn jmxquery_reads_the_jvms_own_mbeans() {
    if kafka_obs_testkit::peers::jmxquery_jar().is_err() {
        eprintln!("skipped: jmxquery jar not installed (run ./scripts/test.sh)");
        return;
    }
    let classes = compile(&echo_sources()).expect("javac");
    let jvm = JvmBuilder::new(&classes, "Echo")
        .stdin_piped()
        .spawn()
        .expect("JVM starts");
    let answer = kafka_obs_testkit::peers::jmxquery(
        &jvm.jmx_url(),
        "java.lang:type=Memory/HeapMemoryUsage",
        None,
    )
    .expect("jmxquery");
    let rows = answer.as_array().expect("an array");
    let max = rows
        .iter()
        .find(|r| r["attributeKey"] == "max")
        .expect("HeapMemoryUsage.max");
    // -Xmx64m from the builder.
    assert_eq!(max["value"].as_i64(), Some(64 * 1024 * 1024), "{max}");
}

#[test]
fn compile_reports_javac_errors() {
    let dir = std::env::temp_dir().join(format!("kafka-obs-bad-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Bad.java"), "public class Bad { nope }").expect("write");
    let err = compile(&dir).expect_err("does not compile");
    assert!(err.to_string().contains("javac failed"), "{err}");
    assert!(err.to_string().contains("Bad.java"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn jvm_starts_with_jmx_talks_and_dies_on_drop() {
    let classes = compile(&echo_sources()).expect("javac");
    let port = free_port();
    let jvm = JvmBuilder::new(&classes, "Echo")
        .jmx_port(port)
        .sys_prop("echo.prop", "x")
        .args(["a", "b"])
        .stdin_piped()
        .spawn()
        .expect("JVM starts");
    assert_eq!(jvm.jmx_port(), port);
    assert_eq!(
        jvm.jmx_url(),
        format!("service:jmx:rmi:///jndi/rmi://127.0.0.1:{port}/jmxrmi")
    );
    let ready = jvm
        .wait_for_line(|l| l.starts_with("READY"), Duration::from_secs(10))
        .expect("READY");
    assert_eq!(ready, "READY args=a,b prop=x");
    jvm.send_line("hello").expect("send");
    let echoed = jvm
        .wait_for_line(|l| l.starts_with("ECHO"), Duration::from_secs(5))
        .expect("echo");
    assert_eq!(echoed, "ECHO hello");
    wait_for_port(jvm.jmx_addr(), Duration::from_secs(1)).expect("JMX port open");

    let pid = jvm.pid();
    drop(jvm);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "JVM {pid} survived drop"
    );
    // The port is free again once the JVM is gone.
    wait_for_port(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .expect_err("nobody listens any more");
}

#[test]
fn jvm_exit_is_seen_by_waiters() {
    let classes = compile(&echo_sources()).expect("javac");
    let mut jvm = JvmBuilder::new(&classes, "Echo")
        .stdin_piped()
        .spawn()
        .expect("JVM starts");
    jvm.send_line("quit").expect("send");
    jvm.wait_for_line(|l| l == "BYE", Duration::from_secs(10))
        .expect("BYE");
    let err = jvm
        .wait_for_line(|l| l == "never", Duration::from_secs(10))
        .expect_err("stdout closes");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    let status = jvm
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("exited");
    assert!(status.success());
}

#[test]
fn jvm_that_cannot_start_reports_its_stderr() {
    let classes = compile(&echo_sources()).expect("javac");
    // The JMX agent opens its port before the main class loads, so the failure shows either in
    // spawn or in the first wait for output; both carry the JVM's stderr.
    let err = match JvmBuilder::new(&classes, "NoSuchMain").spawn() {
        Err(e) => e,
        Ok(jvm) => jvm
            .wait_for_line(|l| l.starts_with("READY"), Duration::from_secs(10))
            .expect_err("no such class"),
    };
    let text = err.to_string();
    assert!(text.contains("NoSuchMain"), "{text}");
    assert!(text.contains("--- stderr ---"), "{text}");
}

#[test]
fn terminate_stops_the_jvm() {
    let classes = compile(&echo_sources()).expect("javac");
    let mut jvm = JvmBuilder::new(&classes, "Echo")
        .stdin_piped()
        .spawn()
        .expect("JVM starts");
    jvm.terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(!jvm.is_running());
}

#[test]
fn jvm_and_scenario_handles_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<kafka_obs_testkit::java::Jvm>();
    send_sync::<kafka_obs_testkit::scenario::ScenarioJvm>();
    send_sync::<kafka_obs_testkit::process::ChildGuard>();
}

#[test]
fn a_taken_fixed_port_fails_with_the_jvms_reason() {
    let classes = compile(&echo_sources()).expect("javac");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    // Someone else listens there: the JVM cannot bind; either spawn or the READY wait says why.
    let err = match JvmBuilder::new(&classes, "Echo")
        .jmx_port(port)
        .stdin_piped()
        .spawn()
    {
        Err(e) => e,
        Ok(jvm) => jvm
            .wait_for_line(|l| l.starts_with("READY"), Duration::from_secs(10))
            .expect_err("the agent cannot bind"),
    };
    assert!(err.to_string().contains("BindException"), "{err}");
}
