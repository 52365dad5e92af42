//! The `auth` block of the `kafka` receiver and exporter, as the Collector's Kafka components
//! write it (`auth.sasl`, `auth.tls`), and its translation into librdkafka properties. One
//! place, so that the two components cannot drift apart on what a key means.

use kafka_obs_api::ComponentConfigError;
use serde::Deserialize;

/// `auth.sasl`: PLAIN or SCRAM credentials.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Sasl {
    pub mechanism: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `auth.tls`: `insecure: true` means no TLS at all, as in the Collector.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub insecure: bool,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub insecure_skip_verify: bool,
}

/// The whole `auth` block.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub sasl: Option<Sasl>,
    pub tls: Option<Tls>,
}

/// `auth.sasl` and `auth.tls` as librdkafka properties, appended to `props`. Errors name the
/// key path below the component (`auth::tls::cert_file`).
pub fn properties(
    auth: &Auth,
    props: &mut Vec<(String, String)>,
) -> Result<(), ComponentConfigError> {
    let tls = auth.tls.as_ref().filter(|t| !t.insecure);
    let sasl = auth.sasl.as_ref();
    let protocol = match (sasl.is_some(), tls.is_some()) {
        (true, true) => "sasl_ssl",
        (true, false) => "sasl_plaintext",
        (false, true) => "ssl",
        (false, false) => "plaintext",
    };
    props.push(("security.protocol".into(), protocol.into()));
    if let Some(s) = sasl {
        let err = |k: &str, m: &str| {
            ComponentConfigError::new(k, m)
                .within("sasl")
                .within("auth")
        };
        let mechanism = s.mechanism.as_deref().unwrap_or("PLAIN");
        if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism) {
            return Err(err(
                "mechanism",
                "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            ));
        }
        let user = s.username.as_deref().filter(|u| !u.is_empty());
        let pass = s.password.as_deref();
        let (Some(user), Some(pass)) = (user, pass) else {
            return Err(err(
                "username",
                "username and password are required with sasl",
            ));
        };
        props.push(("sasl.mechanism".into(), mechanism.into()));
        props.push(("sasl.username".into(), user.into()));
        props.push(("sasl.password".into(), pass.into()));
    }
    if let Some(t) = tls {
        if let Some(ca) = &t.ca_file {
            props.push(("ssl.ca.location".into(), ca.clone()));
        }
        match (&t.cert_file, &t.key_file) {
            (Some(c), Some(k)) => {
                props.push(("ssl.certificate.location".into(), c.clone()));
                props.push(("ssl.key.location".into(), k.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(ComponentConfigError::new(
                    "cert_file",
                    "cert_file and key_file go together",
                )
                .within("tls")
                .within("auth"));
            }
        }
        if t.insecure_skip_verify {
            props.push(("enable.ssl.certificate.verification".into(), "false".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn props(yaml: &str) -> Result<Vec<(String, String)>, ComponentConfigError> {
        let auth: Auth = serde_yaml_ng::from_str(yaml).unwrap();
        let mut out = Vec::new();
        properties(&auth, &mut out).map(|()| out)
    }

    fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn protocol_follows_sasl_and_tls() {
        for (yaml, protocol) in [
            ("{}", "plaintext"),
            ("tls: {}", "ssl"),
            ("tls: {insecure: true, ca_file: /ca.pem}", "plaintext"),
            ("sasl: {username: u, password: p}", "sasl_plaintext"),
            ("{sasl: {username: u, password: p}, tls: {}}", "sasl_ssl"),
        ] {
            let p = props(yaml).unwrap();
            assert_eq!(get(&p, "security.protocol"), Some(protocol), "{yaml}");
        }
    }

    #[test]
    fn tls_files_and_sasl_credentials_pass_through() {
        let p = props(
            "{sasl: {mechanism: SCRAM-SHA-512, username: u, password: p}, tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, insecure_skip_verify: true}}",
        )
        .unwrap();
        assert_eq!(get(&p, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get(&p, "sasl.username"), Some("u"));
        assert_eq!(get(&p, "sasl.password"), Some("p"));
        assert_eq!(get(&p, "ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(get(&p, "ssl.certificate.location"), Some("/c.pem"));
        assert_eq!(get(&p, "ssl.key.location"), Some("/k.pem"));
        assert_eq!(
            get(&p, "enable.ssl.certificate.verification"),
            Some("false")
        );
        let p = props("sasl: {username: u, password: p}").unwrap();
        assert_eq!(get(&p, "sasl.mechanism"), Some("PLAIN"));
    }

    #[test]
    fn mistakes_name_their_key() {
        for (yaml, path) in [
            ("tls: {cert_file: /c.pem}", "auth::tls::cert_file"),
            ("sasl: {username: u}", "auth::sasl::username"),
            ("sasl: {username: '', password: p}", "auth::sasl::username"),
            (
                "sasl: {mechanism: GSSAPI, username: u, password: p}",
                "auth::sasl::mechanism",
            ),
        ] {
            assert_eq!(props(yaml).unwrap_err().path, path, "{yaml}");
        }
    }
}
