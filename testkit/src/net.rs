//! Loopback ports for test servers.
//!
//! `free_port` asks the kernel for an unused port and releases it, so there is a small window in
//! which another process could take it; tests that start a peer on such a port should wait for it
//! with [`wait_for_port`] and fail clearly if the peer could not bind.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// When the loopback interface cannot bind any port at all (the machine is unusable for tests).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("bound 127.0.0.1:0 but cannot read its address: {e}"))
        .port()
}

/// Waits until a TCP connection to `addr` succeeds, retrying every 50 ms for at most `timeout`.
///
/// Returns `ErrorKind::TimedOut` naming the address and the last connection error otherwise.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    wait_for_port_while(addr, timeout, || Ok(()))
}

/// Like [`wait_for_port`], but calls `still_alive` before each attempt and gives up with its
/// error (for example "the process exited") instead of waiting out the timeout.
pub fn wait_for_port_while(
    addr: SocketAddr,
    timeout: Duration,
    mut still_alive: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        still_alive()?;
        let attempt =
            Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now()));
        let last_error =
            match TcpStream::connect_timeout(&addr, attempt.max(Duration::from_millis(1))) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{addr} did not accept a TCP connection within {timeout:?} (last error: {last_error})"
                ),
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port should still be free");
    }

    #[test]
    fn wait_for_port_sees_a_listener() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        wait_for_port(addr, Duration::from_secs(2)).expect("listener accepts");
    }

    #[test]
    fn wait_for_port_times_out_on_a_closed_port() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let started = Instant::now();
        let err = wait_for_port(addr, Duration::from_millis(300)).expect_err("nothing listens");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn wait_for_port_stops_when_the_peer_died() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let err = wait_for_port_while(addr, Duration::from_secs(30), || {
            Err(io::Error::other("peer exited"))
        })
        .expect_err("gives up at once");
        assert_eq!(err.to_string(), "peer exited");
    }
}
