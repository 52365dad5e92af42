//! Listening sockets that outlive one build of the graph.
//!
//! A configuration reload stops the running graph and builds a new one. Were each receiver to
//! close its socket and the new one to bind it again, a client connecting in between would
//! be refused. So components take their listeners from this pool: [`Listeners::open`] hands
//! out a copy (`dup`) of the socket already open on that address, or binds a new one and keeps
//! it. While the old receiver stops and the new one is built, the pool's copy keeps the socket
//! listening and the kernel queues new connections until the new receiver accepts them. After
//! each build the runtime closes what the new graph did not ask for
//! ([`Listeners::finish_build`]).
//!
//! It lives in the API crate because every component that listens (receivers, the
//! `health_check` extension, the hierarchy's query API) and the runtime share it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

/// The process's listening sockets, shared by every build of the graph. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Listeners {
    inner: Arc<Mutex<Pool>>,
}

#[derive(Debug, Default)]
struct Pool {
    open: BTreeMap<SocketAddr, TcpListener>,
    /// Addresses the current build asked for.
    claimed: BTreeSet<SocketAddr>,
}

impl Listeners {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A non-blocking listener on `addr`: a copy of the socket already open there, or a new
    /// one. Port 0 always binds a new socket (each ask means "any free port").
    pub fn open(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        if addr.port() == 0 {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            return Ok(listener);
        }
        let mut pool = self.lock();
        // Within one build an address belongs to one component, as a plain bind would have it
        // (`localhost:4317` and `127.0.0.1:4317` are the same socket).
        if !pool.claimed.insert(addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already used by another component of this configuration"),
            ));
        }
        if let Some(open) = pool.open.get(&addr) {
            return open.try_clone();
        }
        let listener = match TcpListener::bind(addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // The same port on another address of the previous graph (`0.0.0.0:4317`
                // becoming `127.0.0.1:4317`): nothing asked for that one in this build, so
                // close it and bind again.
                let Pool { open, claimed } = &mut *pool;
                open.retain(|held, _| held.port() != addr.port() || claimed.contains(held));
                TcpListener::bind(addr)?
            }
            other => other?,
        };
        listener.set_nonblocking(true)?;
        let copy = listener.try_clone()?;
        pool.open.insert(addr, listener);
        Ok(copy)
    }

    /// A build starts: nothing is claimed yet. The sockets stay open until
    /// [`Listeners::finish_build`].
    pub fn begin_build(&self) {
        self.lock().claimed.clear();
    }

    /// A build is done and its graph will run: closes the pool's copy of every socket it did
    /// not ask for (a removed receiver's or a moved endpoint's; the socket itself closes when
    /// the last component holding it stops).
    pub fn finish_build(&self) {
        let mut pool = self.lock();
        let Pool { open, claimed } = &mut *pool;
        open.retain(|addr, _| claimed.contains(addr));
    }

    /// Closes the pool's copies of every socket (the process stops: once the receivers stop,
    /// clients are refused rather than queued).
    pub fn close_all(&self) {
        let mut pool = self.lock();
        pool.open.clear();
        pool.claimed.clear();
    }

    /// The addresses the pool holds open.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.lock().open.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_addr() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    #[test]
    fn the_next_build_gets_the_socket_the_previous_one_opened() {
        let pool = Listeners::new();
        let addr = free_addr();
        let first = pool.open(addr).unwrap();
        pool.begin_build();
        // A plain bind would fail with "address in use"; the pool hands out a copy.
        let second = pool.open(addr).unwrap();
        assert_eq!(first.local_addr().unwrap(), second.local_addr().unwrap());
        assert!(TcpListener::bind(addr).is_err());
    }

    #[test]
    fn two_components_of_one_build_cannot_share_an_address() {
        let pool = Listeners::new();
        let addr = free_addr();
        let _first = pool.open(addr).unwrap();
        let e = pool.open(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().contains("another component"), "{e}");
    }

    #[test]
    fn the_socket_keeps_listening_while_no_component_holds_it() {
        let pool = Listeners::new();
        let addr = free_addr();
        drop(pool.open(addr).unwrap());
        // The old receiver stopped; a client connecting now waits in the accept queue.
        let client = std::net::TcpStream::connect(addr);
        assert!(client.is_ok(), "{client:?}");
        pool.begin_build();
        let new = pool.open(addr).unwrap();
        new.set_nonblocking(false).unwrap();
        assert!(
            new.accept().is_ok(),
            "the queued connection reaches the new owner"
        );
    }

    #[test]
    fn a_build_that_does_not_claim_an_address_closes_it() {
        let pool = Listeners::new();
        let (kept, dropped) = (free_addr(), free_addr());
        drop(pool.open(kept).unwrap());
        drop(pool.open(dropped).unwrap());
        pool.begin_build();
        drop(pool.open(kept).unwrap());
        pool.finish_build();
        assert_eq!(pool.addresses(), vec![kept]);
        assert!(std::net::TcpStream::connect(dropped).is_err());
        pool.close_all();
        assert!(pool.addresses().is_empty());
    }

    #[test]
    fn the_same_port_on_another_address_replaces_the_unclaimed_socket() {
        let pool = Listeners::new();
        let port = free_addr().port();
        let any: SocketAddr = format!("0.0.0.0:{port}").parse().unwrap();
        let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        drop(pool.open(any).unwrap());
        pool.begin_build();
        assert!(pool.open(local).is_ok());
        pool.finish_build();
        assert_eq!(pool.addresses(), vec![local]);
    }

    #[test]
    fn port_zero_is_never_shared() {
        let pool = Listeners::new();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let a = pool.open(any).unwrap().local_addr().unwrap();
        let b = pool.open(any).unwrap().local_addr().unwrap();
        assert_ne!(a, b);
        assert!(pool.addresses().is_empty());
    }
}
