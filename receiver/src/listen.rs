//! Listening sockets for the receivers that serve one endpoint (`signals`): check the
//! `host:port` at validation, bind it at build (so a taken port stops the start before anything
//! runs), non-blocking so tokio can adopt it in `run`.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use kafka_obs_api::BuildError;

/// `host:port`, `[v6]:port` or `:port` (all interfaces), with a numeric port; `example` is
/// shown in the error.
pub(crate) fn check_endpoint(endpoint: &str, example: &str) -> Result<(), String> {
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
fn bind_address(endpoint: &str) -> std::io::Result<SocketAddr> {
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

/// A bound, non-blocking listener on `endpoint`.
pub(crate) fn listen(endpoint: &str) -> Result<TcpListener, BuildError> {
    let bind_err = |source| BuildError::Bind {
        address: endpoint.to_string(),
        source,
    };
    let listener =
        TcpListener::bind(bind_address(endpoint).map_err(bind_err)?).map_err(bind_err)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
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
        assert_eq!(
            bind_address(":50051").expect("resolves").to_string(),
            "0.0.0.0:50051"
        );
    }
}
