//! Password authentication and TLS against real JMX agents.
//!
//! Auth: right credentials work; wrong and missing ones give the server's own message as a
//! typed error. TLS: a keystore made by `keytool` in the test; the agent's server port (and,
//! in the second agent, its registry, on a different port) speaks TLS, optionally requiring a
//! client certificate.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kafka_obs_jmx::{JmxClient, JmxError, ObjectName, TlsOptions, Value};
use kafka_obs_testkit::java::write_jmx_auth_files;
use kafka_obs_testkit::net::free_port;

fn values() -> ObjectName {
    ObjectName::parse("kafka.obs.test:type=Values").unwrap()
}

#[tokio::test]
async fn password_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (password, access) = write_jmx_auth_files(dir.path(), &[("monitor", "s3cret")]).unwrap();
    let jvm = common::start(common::target().auth(&password, &access));
    let endpoint = common::endpoint(&jvm);

    let mut client = JmxClient::connect(
        endpoint.clone(),
        common::options().with_credentials("monitor", "s3cret"),
    )
    .await
    .unwrap();
    assert_eq!(
        client.get_attribute(&values(), "IntValue").await.unwrap(),
        Value::Int(42)
    );
    client.close().await.unwrap();

    let err = JmxClient::connect(
        endpoint.clone(),
        common::options().with_credentials("monitor", "wrong"),
    )
    .await
    .unwrap_err();
    let JmxError::AuthenticationFailed { remote, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(remote.class, "java.lang.SecurityException");
    assert_eq!(
        remote.message.as_deref(),
        Some("Authentication failed! Invalid username or password")
    );
    assert!(err.to_string().contains("password.file"), "{err}");

    let err = JmxClient::connect(endpoint, common::options())
        .await
        .unwrap_err();
    let JmxError::AuthenticationFailed { remote, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        remote.message.as_deref(),
        Some("Authentication failed! Credentials required")
    );
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed server keystore (keytool), its certificate as PEM, and a client key and
/// certificate (openssl) imported into a server truststore.
struct Pki {
    keystore: PathBuf,
    server_pem: PathBuf,
    truststore: PathBuf,
    client_pem: PathBuf,
    client_key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let keystore = dir.join("server.p12");
    let server_pem = dir.join("server.pem");
    run(Command::new("keytool")
        .args([
            "-genkeypair",
            "-alias",
            "jmx",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-dname",
            "CN=kafka-obs test agent",
            "-ext",
            "san=ip:127.0.0.1,dns:localhost",
            "-validity",
            "3",
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
            "-keypass",
            "changeit",
            "-keystore",
        ])
        .arg(&keystore));
    run(Command::new("keytool")
        .args([
            "-exportcert",
            "-rfc",
            "-alias",
            "jmx",
            "-storepass",
            "changeit",
            "-keystore",
        ])
        .arg(&keystore)
        .arg("-file")
        .arg(&server_pem));
    let client_pem = dir.join("client.pem");
    let client_key = dir.join("client.key");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3",
            "-subj",
            "/CN=kafka-obs-client",
            "-keyout",
        ])
        .arg(&client_key)
        .arg("-out")
        .arg(&client_pem));
    let truststore = dir.join("trust.p12");
    run(Command::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "client",
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
            "-file",
        ])
        .arg(&client_pem)
        .arg("-keystore")
        .arg(&truststore));
    Pki {
        keystore,
        server_pem,
        truststore,
        client_pem,
        client_key,
    }
}

fn tls_target(
    pki: &Pki,
    rmi_port: u16,
    registry_ssl: bool,
    client_auth: bool,
) -> kafka_obs_testkit::java::JvmBuilder {
    let jmx = "com.sun.management.jmxremote";
    let mut b = common::target()
        .sys_prop(&format!("{jmx}.ssl"), true)
        .sys_prop(&format!("{jmx}.registry.ssl"), registry_ssl)
        .sys_prop(&format!("{jmx}.rmi.port"), rmi_port)
        .sys_prop(&format!("{jmx}.ssl.need.client.auth"), client_auth)
        .sys_prop("javax.net.ssl.keyStore", pki.keystore.display())
        .sys_prop("javax.net.ssl.keyStorePassword", "changeit")
        .sys_prop("javax.net.ssl.keyStoreType", "PKCS12");
    if client_auth {
        b = b
            .sys_prop("javax.net.ssl.trustStore", pki.truststore.display())
            .sys_prop("javax.net.ssl.trustStorePassword", "changeit")
            .sys_prop("javax.net.ssl.trustStoreType", "PKCS12");
    }
    b
}

#[tokio::test]
async fn tls_server_port_follows_the_stub() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let jvm = common::start(tls_target(&pki, free_port(), false, false));
    let endpoint = common::endpoint(&jvm);

    // The registry is plain; the stub says UnicastRef2 + SslRMIClientSocketFactory.
    let tls = TlsOptions::default().with_ca_file(&pki.server_pem);
    let mut client = JmxClient::connect(endpoint.clone(), common::options().with_tls(tls.clone()))
        .await
        .unwrap();
    assert_eq!(
        client
            .get_attribute(&values(), "StringValue")
            .await
            .unwrap(),
        Value::String("héllo wörld ☃ 𝄞".into())
    );
    client.close().await.unwrap();

    // Without the CA: a clear TLS error that says what to configure.
    let err = JmxClient::connect(endpoint.clone(), common::options())
        .await
        .unwrap_err();
    assert!(matches!(err, JmxError::Tls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("UnknownIssuer") && text.contains("CA file"),
        "{text}"
    );

    // A name the certificate does not hold fails, unless host name checks are off (Java's way).
    let err = JmxClient::connect(
        endpoint.clone(),
        common::options().with_tls(tls.clone().with_server_name("jmx.example.invalid")),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not name this host"), "{err}");
    let mut client = JmxClient::connect(
        endpoint,
        common::options().with_tls(
            tls.with_server_name("jmx.example.invalid")
                .without_hostname_verification(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        client.get_attribute(&values(), "IntValue").await.unwrap(),
        Value::Int(42)
    );
}

#[tokio::test]
async fn tls_registry_on_its_own_port_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let jvm = common::start(tls_target(&pki, free_port(), true, true));
    let endpoint = common::endpoint(&jvm);
    let tls = TlsOptions::default().with_ca_file(&pki.server_pem);

    let mut client = JmxClient::connect(
        endpoint.clone(),
        common::options().with_registry_tls(true).with_tls(
            tls.clone()
                .with_client_cert(&pki.client_pem, &pki.client_key),
        ),
    )
    .await
    .unwrap();
    let heap = client
        .get_attribute(
            &ObjectName::parse("java.lang:type=Memory").unwrap(),
            "HeapMemoryUsage",
        )
        .await
        .unwrap();
    assert!(heap.get("used").and_then(Value::as_i64).unwrap() > 0);
    client.close().await.unwrap();

    // No client certificate: the agent refuses the handshake.
    let err = JmxClient::connect(
        endpoint.clone(),
        common::options()
            .with_registry_tls(true)
            .with_tls(tls.clone()),
    )
    .await
    .unwrap_err();
    eprintln!("without a client certificate: {err}");
    assert!(
        matches!(
            err,
            JmxError::Tls { .. } | JmxError::ConnectionClosed { .. } | JmxError::Io { .. }
        ),
        "{err:?}"
    );

    // Plain JRMP to a TLS registry: the error points at TLS.
    let err = JmxClient::connect(endpoint, common::options())
        .await
        .unwrap_err();
    eprintln!("plain client against a TLS registry: {err}");
    assert!(err.to_string().contains("TLS"), "{err}");
}
