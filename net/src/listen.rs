//! Listening sockets: check the `host:port` at validation, bind it at build (so a taken port
//! stops the start before anything runs), non-blocking so tokio can adopt it in `run`. The
//! `otlp` and `signals` receivers use it; `:port` means all interfaces, as in the Collector.
//! Sockets come from the [`Listeners`] pool, so a configuration reload hands an open socket to
//! the new receiver instead of binding it again.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use kafka_obs_api::{BuildError, Listeners};

/// `host:port`, `[v6]:port` or `:port` (all interfaces), with a numeric port; `example` is
/// shown in the error (such as `127.0.0.1:4317`).
pub fn check_endpoint(endpoint: &str, example: &str) -> Result<(), String> {
    let advice = format!("write host:port, such as {example}");
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return Err(format!("{endpoint:?} has no port; {advice}"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{endpoint:?} has no valid port; {advice}"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{endpoint:?}: put an IPv6 address in brackets, such as [::1]:{port}"
        ));
    }
    Ok(())
}

/// The address to bind, resolving names such as `localhost`; `:port` means all interfaces.
pub fn bind_address(endpoint: &str) -> std::io::Result<SocketAddr> {
    let target = if endpoint.starts_with(':') {
        format!("0.0.0.0{endpoint}")
    } else {
        endpoint.to_string()
    };
    target.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{endpoint} resolves to no address"),
        )
    })
}

/// A bound, non-blocking listener on `endpoint`, from `listeners` (the socket already open
/// there, when a reload hands it over).
pub fn listen(listeners: &Listeners, endpoint: &str) -> Result<TcpListener, BuildError> {
    let bind_err = |source| BuildError::Bind {
        address: endpoint.to_string(),
        source,
    };
    listeners
        .open(bind_address(endpoint).map_err(bind_err)?)
        .map_err(bind_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("127.0.0.1:50051", "x").is_ok());
        assert!(check_endpoint(":50051", "x").is_ok());
        assert!(check_endpoint("[::1]:50051", "x").is_ok());
        assert!(check_endpoint("nowhere", "x").is_err());
        assert!(check_endpoint("a:b", "x").is_err());
        assert!(check_endpoint("::1:50051", "x").is_err());
        let e = check_endpoint("nowhere", "127.0.0.1:4317").unwrap_err();
        assert!(e.ends_with("such as 127.0.0.1:4317"), "{e}");
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            bind_address(":4317").expect("resolves").to_string(),
            "0.0.0.0:4317"
        );
        assert_eq!(
            bind_address("[::1]:4317").expect("resolves").to_string(),
            "[::1]:4317"
        );
    }

    #[test]
    fn a_taken_port_is_a_bind_error() {
        let taken = listen(&Listeners::new(), "127.0.0.1:0").expect("a free port");
        let addr = taken.local_addr().expect("bound").to_string();
        // Another pool (another process, as far as this one knows) finds the port taken.
        let e = listen(&Listeners::new(), &addr).unwrap_err();
        assert!(
            matches!(e, BuildError::Bind { ref address, .. } if *address == addr),
            "{e}"
        );
    }
}
