//! Where a JMX agent listens: a host, the RMI registry port and the name the connector is bound
//! under (`jmxrmi` for the JVM's built-in agent).
//!
//! Accepts the two forms people paste: `host:port` and the JMX service URL
//! `service:jmx:rmi:///jndi/rmi://host:port/jmxrmi`. Errors say which form was expected.

use std::fmt;
use std::str::FromStr;

/// The RMI registry port used when a service URL omits it.
pub const DEFAULT_REGISTRY_PORT: u16 = 1099;
/// The name the JVM's built-in agent binds its connector under.
pub const DEFAULT_BINDING: &str = "jmxrmi";

/// A parsed JMX endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// RMI registry port (`com.sun.management.jmxremote.port`).
    pub port: u16,
    /// Registry binding of the connector server.
    pub binding: String,
}

/// Why a string is not a JMX endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid JMX endpoint {input:?}: {reason}; expected host:port or service:jmx:rmi:///jndi/rmi://host:port/jmxrmi"
)]
pub struct EndpointError {
    pub input: String,
    pub reason: String,
}

impl Endpoint {
    /// An endpoint for the built-in agent at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            host: host.into(),
            port,
            binding: DEFAULT_BINDING.to_owned(),
        }
    }

    /// Parses `host:port` or a `service:jmx:rmi:` URL.
    pub fn parse(input: &str) -> Result<Self, EndpointError> {
        let err = |reason: String| EndpointError {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty".into()));
        }
        if let Some(rest) = trimmed.strip_prefix("service:jmx:") {
            let rest = rest.strip_prefix("rmi:").ok_or_else(|| {
                err("only the rmi protocol is supported (service:jmx:rmi:...)".into())
            })?;
            // service:jmx:rmi://[ignored-host[:port]]/jndi/rmi://host:port/name
            let jndi = rest
                .find("/jndi/")
                .and_then(|i| rest.get(i + "/jndi/".len()..))
                .ok_or_else(|| {
                    err("no /jndi/ part; stub-encoded URLs (/stub/...) are not supported".into())
                })?;
            let registry = jndi
                .strip_prefix("rmi://")
                .ok_or_else(|| err("the JNDI part must start with rmi://".into()))?;
            let (authority, binding) = match registry.split_once('/') {
                Some((a, b)) => (a, b),
                None => (registry, ""),
            };
            if binding.is_empty() {
                return Err(err(
                    "no binding name after host:port (usually /jmxrmi)".into()
                ));
            }
            let (host, port) =
                split_host_port(authority, Some(DEFAULT_REGISTRY_PORT)).map_err(err)?;
            return Ok(Endpoint {
                host,
                port,
                binding: binding.to_owned(),
            });
        }
        if trimmed.contains("://") {
            return Err(err("unknown URL scheme".into()));
        }
        let (host, port) = split_host_port(trimmed, None).map_err(err)?;
        Ok(Endpoint::new(host, port))
    }

    /// The registry address as `host:port` (IPv6 in brackets).
    pub fn address(&self) -> String {
        format_host_port(&self.host, self.port)
    }

    /// The JMX service URL of this endpoint.
    pub fn service_url(&self) -> String {
        format!(
            "service:jmx:rmi:///jndi/rmi://{}/{}",
            self.address(),
            self.binding
        )
    }
}

pub(crate) fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn split_host_port(s: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed '[' in an IPv6 address".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected {after:?} after the IPv6 address")),
        };
        (host, port)
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("an IPv6 address must be in brackets, e.g. [::1]:9999".into());
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.contains(['/', ' ', '@']) {
        return Err(format!("{host:?} is not a host name"));
    }
    let port = match (port, default_port) {
        (Some(p), _) => {
            let n: u16 = p
                .parse()
                .map_err(|_| format!("port {p:?} is not a number from 1 to 65535"))?;
            if n == 0 {
                return Err("port 0 is not a listening port".into());
            }
            n
        }
        (None, Some(d)) => d,
        (None, None) => return Err("the port is missing".into()),
    };
    Ok((host.to_owned(), port))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.binding == DEFAULT_BINDING {
            f.write_str(&self.address())
        } else {
            f.write_str(&self.service_url())
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

impl TryFrom<&str> for Endpoint {
    type Error = EndpointError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Endpoint::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:9999").unwrap(),
            Endpoint::new("127.0.0.1", 9999)
        );
        assert_eq!(Endpoint::parse(" broker-1:9999 ").unwrap().host, "broker-1");
        assert_eq!(Endpoint::parse("[::1]:9999").unwrap().host, "::1");
        assert_eq!(
            Endpoint::parse("[::1]:9999").unwrap().to_string(),
            "[::1]:9999"
        );
    }

    #[test]
    fn service_urls() {
        let e = Endpoint::parse("service:jmx:rmi:///jndi/rmi://10.0.0.5:9999/jmxrmi").unwrap();
        assert_eq!(e, Endpoint::new("10.0.0.5", 9999));
        assert_eq!(
            e.service_url(),
            "service:jmx:rmi:///jndi/rmi://10.0.0.5:9999/jmxrmi"
        );
        let e = Endpoint::parse("service:jmx:rmi://ignored:1/jndi/rmi://h:1234/custom").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.binding.as_str()),
            ("h", 1234, "custom")
        );
        assert_eq!(e.to_string(), "service:jmx:rmi:///jndi/rmi://h:1234/custom");
        let e = Endpoint::parse("service:jmx:rmi:///jndi/rmi://h/jmxrmi").unwrap();
        assert_eq!(e.port, DEFAULT_REGISTRY_PORT);
        let e = Endpoint::parse("service:jmx:rmi:///jndi/rmi://[::1]:7/jmxrmi").unwrap();
        assert_eq!(e.host, "::1");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("localhost", "port is missing"),
            ("localhost:abc", "not a number"),
            ("localhost:0", "port 0"),
            ("localhost:70000", "not a number"),
            (":9999", "host is empty"),
            ("::1:9999", "brackets"),
            ("http://h:1", "unknown URL scheme"),
            ("service:jmx:jmxmp://h:1", "only the rmi protocol"),
            ("service:jmx:rmi:///stub/rO0AB", "/jndi/"),
            ("service:jmx:rmi:///jndi/ldap://h:1/x", "rmi://"),
            ("service:jmx:rmi:///jndi/rmi://h:1", "binding name"),
        ];
        for (input, needle) in cases {
            let e = Endpoint::parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input:?}: {e}");
            assert!(e.contains("expected host:port"), "{e}");
        }
    }
}
