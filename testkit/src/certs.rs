//! A throwaway PKI for TLS tests, made fresh by each test (nothing is checked in): a CA, a
//! server certificate it signed for `localhost` and `127.0.0.1`, a client certificate it signed
//! (for mutual TLS), and a second CA that signed nothing, to play the wrong trust anchor.
//! Keys are ECDSA P-256, which rustls, OpenSSL (Python, librdkafka) and BoringSSL (grpcio) all
//! accept. Everything is written as PEM files into a directory the test owns.

use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files of one test PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting it alone must fail verification.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn other(e: rcgen::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

fn leaf_params(
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    Ok(p)
}

impl TestPki {
    /// Generates the PKI into `dir` (which must exist).
    pub fn generate(dir: &Path) -> io::Result<TestPki> {
        let write = |name: &str, text: &str| -> io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let ca_key = KeyPair::generate().map_err(other)?;
        let ca = ca_params("kafka-obs test CA").map_err(other)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(other)?;
        let issuer = Issuer::new(ca, ca_key);

        let other_key = KeyPair::generate().map_err(other)?;
        let other_cert = ca_params("kafka-obs unrelated CA")
            .and_then(|p| p.self_signed(&other_key))
            .map_err(other)?;

        let server_key = KeyPair::generate().map_err(other)?;
        let server_cert = leaf_params(
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
        .and_then(|p| p.signed_by(&server_key, &issuer))
        .map_err(other)?;

        let client_key = KeyPair::generate().map_err(other)?;
        let client_cert = leaf_params(
            &["kafka-obs-client"],
            "kafka-obs-client",
            ExtendedKeyUsagePurpose::ClientAuth,
        )
        .and_then(|p| p.signed_by(&client_key, &issuer))
        .map_err(other)?;

        Ok(TestPki {
            ca: write("ca.pem", &ca_cert.pem())?,
            other_ca: write("other-ca.pem", &other_cert.pem())?,
            server_cert: write("server.pem", &server_cert.pem())?,
            server_key: write("server.key", &server_key.serialize_pem())?,
            client_cert: write("client.pem", &client_cert.pem())?,
            client_key: write("client.key", &client_key.serialize_pem())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_as_pem() {
        let dir = std::env::temp_dir().join(format!("kafka-obs-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = TestPki::generate(&dir).unwrap();
        for (path, kind) in [
            (&pki.ca, "CERTIFICATE"),
            (&pki.other_ca, "CERTIFICATE"),
            (&pki.server_cert, "CERTIFICATE"),
            (&pki.client_cert, "CERTIFICATE"),
            (&pki.server_key, "PRIVATE KEY"),
            (&pki.client_key, "PRIVATE KEY"),
        ] {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(
                text.starts_with(&format!("-----BEGIN {kind}-----")),
                "{}",
                path.display()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
