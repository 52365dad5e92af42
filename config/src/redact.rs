//! Hiding secrets in a configuration before it is shown (`kafka-obs print-config`).
//!
//! The one place that decides what is a secret. A value is replaced by `[REDACTED]`, as the
//! Collector prints its opaque strings, when its key names a credential (passwords, tokens,
//! API keys, authorization and cookie headers, client secrets, private keys and their PEM
//! text), or when the value itself carries one whatever its key (a PEM private key block,
//! an `Authorization`-style `Bearer`/`Basic` value, the password in a `scheme://user:pass@`
//! URL). Keys naming a file (`password_file`, `key_file`) hold a path, not a secret, and are
//! shown. Unset values (`~`, `""`) stay as they are: that a secret is missing is worth seeing.

use serde_yaml_ng::{Mapping, Value};

/// What a hidden value is printed as.
pub const REDACTED: &str = "[REDACTED]";

/// Words that make a key a secret's name, matched in the key lowercased with `-` and `.`
/// read as `_` (so `X-Api-Key`, `api.key` and `api_key` are one name).
const SECRET_WORDS: [&str; 14] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "cookie",
    "credential",
    "access_key",
    "signing_key",
    "jwt",
];

/// Whole key names that are secrets although no word above is in them.
const SECRET_KEYS: [&str; 3] = ["key_pem", "sasl_jaas_config", "pass"];

/// Endings of keys that name where a secret is kept, not the secret.
const PATH_ENDINGS: [&str; 4] = ["_file", "_path", "_env", "_location"];

/// Whether a key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace(['-', '.'], "_");
    if PATH_ENDINGS.iter().any(|e| key.ends_with(e)) {
        return false;
    }
    SECRET_KEYS.contains(&key.as_str()) || SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// `value` with every secret replaced by [`REDACTED`].
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| {
                    let secret = k.as_str().is_some_and(is_secret_key);
                    let shown = if secret { hide(v) } else { redact(v) };
                    (k.clone(), shown)
                })
                .collect::<Mapping>(),
        ),
        Value::Sequence(items) => Value::Sequence(items.iter().map(redact).collect()),
        Value::String(s) => redact_text(s).map_or_else(|| value.clone(), Value::String),
        Value::Tagged(t) => {
            let mut t = t.clone();
            t.value = redact(&t.value);
            Value::Tagged(t)
        }
        _ => value.clone(),
    }
}

/// A secret key's value: any set value is hidden, each item of a list under it too. A map
/// under it is judged key by key like any other (a component id such as `bearertokenauth`
/// names no secret, its `filename` is none).
fn hide(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => value.clone(),
        Value::Mapping(_) => redact(value),
        Value::Sequence(items) => Value::Sequence(items.iter().map(hide).collect()),
        _ => Value::String(REDACTED.into()),
    }
}

/// A text that carries a secret whatever its key: `None` when it carries none.
fn redact_text(s: &str) -> Option<String> {
    if s.contains("PRIVATE KEY-----") {
        return Some(REDACTED.into());
    }
    let scheme = s.split_whitespace().next().unwrap_or_default();
    if s.contains(char::is_whitespace)
        && ["bearer", "basic"].contains(&scheme.to_ascii_lowercase().as_str())
    {
        return Some(format!("{scheme} {REDACTED}"));
    }
    url_password(s)
}

/// `scheme://user:password@host…` with the password hidden.
fn url_password(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    if password.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{user}:{REDACTED}@{host}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn secret_keys_by_name() {
        for key in [
            "password",
            "sasl_password",
            "Authorization",
            "authorization",
            "x-api-key",
            "X-API-Key",
            "api-key",
            "apikey",
            "bearer_token",
            "token",
            "client_secret",
            "key_pem",
            "private_key",
            "proxy-authorization",
            "cookie",
            "ssl.key.password",
            "sasl.jaas.config",
            "credentials",
            "aws_access_key",
            "signing_key",
            "jwt",
        ] {
            assert!(is_secret_key(key), "{key} must be a secret");
        }
        for key in [
            "endpoint",
            "username",
            "key_file",
            "password_file",
            "token_file",
            "cert_pem",
            "ca_file",
            "topic",
            "compression",
            "keys",
            "mechanism",
        ] {
            assert!(!is_secret_key(key), "{key} is not a secret");
        }
    }

    #[test]
    fn secrets_are_hidden_everything_else_is_shown() {
        let doc = yaml(
            "exporters:
  otlp:
    endpoint: https://collector:4317
    headers: {authorization: Bearer s3cr3t, x-api-key: k1, api-key: k2, x-tenant: acme}
  kafka:
    auth:
      sasl: {username: svc, password: hunter2, mechanism: PLAIN}
      tls: {key_pem: \"-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----\", cert_pem: CERT, key_file: /k.pem}
extensions:
  bearertokenauth: {token: tok, filename: /t}
  other: {custom: \"Bearer abc.def\", url: \"http://u:pw@host:80/x\", empty_password: \"\", password: ~}
  oauth2client: {client_id: me, client_secret: cs}
receivers:
  jmx: {password: [a, b]}
",
        );
        let shown = redact(&doc);
        let want = yaml(
            "exporters:
  otlp:
    endpoint: https://collector:4317
    headers: {authorization: '[REDACTED]', x-api-key: '[REDACTED]', api-key: '[REDACTED]', x-tenant: acme}
  kafka:
    auth:
      sasl: {username: svc, password: '[REDACTED]', mechanism: PLAIN}
      tls: {key_pem: '[REDACTED]', cert_pem: CERT, key_file: /k.pem}
extensions:
  bearertokenauth: {token: '[REDACTED]', filename: /t}
  other: {custom: 'Bearer [REDACTED]', url: 'http://u:[REDACTED]@host:80/x', empty_password: '', password: ~}
  oauth2client: {client_id: me, client_secret: '[REDACTED]'}
receivers:
  jmx: {password: ['[REDACTED]', '[REDACTED]']}
",
        );
        assert_eq!(shown, want);
        let text = serde_yaml_ng::to_string(&shown).unwrap();
        for secret in ["s3cr3t", "hunter2", "k1", "k2", "abc", "pw@", "cs"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}
