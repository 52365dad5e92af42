//! Peers that are not (working) JMX agents: nothing listening, a text protocol, random bytes,
//! a silent server, and a fake JRMP server whose replies are garbage. Every case must end in a
//! clear error within the timeouts, never a panic or a hang.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use kafka_obs_jmx::{ConnectOptions, Endpoint, JmxClient, JmxError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a server on 127.0.0.1 that runs `handle` for each connection.
async fn serve<F, Fut>(handle: F) -> (u16, tokio::task::JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    (port, task)
}

fn options() -> ConnectOptions {
    ConnectOptions::default().with_timeouts(Duration::from_secs(2), Duration::from_secs(2))
}

async fn connect(port: u16) -> Result<JmxClient, JmxError> {
    JmxClient::connect(Endpoint::new("127.0.0.1", port), options()).await
}

/// Reads and answers the JRMP handshake like a real server; returns false if the client left.
async fn jrmp_ack(stream: &mut TcpStream) -> bool {
    let mut hello = [0u8; 7];
    if stream.read_exact(&mut hello).await.is_err() {
        return false;
    }
    let mut ack = vec![0x4E, 0x00, 0x09];
    ack.extend_from_slice(b"127.0.0.1");
    ack.extend_from_slice(&1234i32.to_be_bytes());
    if stream.write_all(&ack).await.is_err() {
        return false;
    }
    // The client's endpoint: UTF host + port.
    let mut len = [0u8; 2];
    if stream.read_exact(&mut len).await.is_err() {
        return false;
    }
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes(len)) + 4];
    stream.read_exact(&mut rest).await.is_ok()
}

/// Waits for the start of a call, then gives it a moment to arrive whole.
async fn read_call(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn nothing_listening_is_connection_refused_with_a_hint() {
    let port = kafka_obs_testkit::net::free_port();
    let err = connect(port).await.unwrap_err();
    assert!(matches!(err, JmxError::ConnectionRefused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "JMX endpoint 127.0.0.1:{port} refused the connection"
        )) && text.contains(&format!("-Dcom.sun.management.jmxremote.port={port}")),
        "{text}"
    );
}

#[tokio::test]
async fn a_text_protocol_server_is_not_jmx() {
    let (port, _task) = serve(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let err = connect(port).await.unwrap_err();
    assert!(matches!(err, JmxError::NotJmx { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("SSH-2.0-OpenSSH") && text.contains("jmxremote.port"),
        "{text}"
    );

    // An HTTP server answers only after the request: it sees our JRMI bytes and complains.
    let (port, _task) = serve(|mut s| async move {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await;
    let err = connect(port).await.unwrap_err();
    assert!(err.to_string().contains("HTTP/1.1 400"), "{err}");
}

#[tokio::test]
async fn a_server_that_closes_or_stays_silent_fails_in_bounded_time() {
    let (port, _task) = serve(|s| async move { drop(s) }).await;
    let err = connect(port).await.unwrap_err();
    assert!(
        matches!(err, JmxError::ConnectionClosed { .. } | JmxError::Io { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("JMX RMI port"), "{err}");

    let (port, _task) = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let started = Instant::now();
    let err = connect(port).await.unwrap_err();
    assert!(matches!(err, JmxError::ReadTimeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Handshake fine, then the call never gets an answer.
    let (port, _task) = serve(|mut s| async move {
        if jrmp_ack(&mut s).await {
            read_call(&mut s).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let err = connect(port).await.unwrap_err();
    assert!(matches!(err, JmxError::ReadTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[tokio::test]
async fn random_bytes_never_panic() {
    // Random bytes as the very first answer, 200 different seeds.
    for seed in 1..=200u64 {
        let (port, task) = serve(move |mut s| async move {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let n = (rng.next() % 300) as usize;
            let _ = s.write_all(&rng.bytes(n)).await;
        })
        .await;
        let result = connect(port).await;
        task.abort();
        let err = result.expect_err("random bytes cannot be a JMX agent");
        assert!(!err.to_string().is_empty());
    }
}

#[tokio::test]
async fn garbage_replies_after_a_good_handshake_are_clear_errors() {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for seed in 1..=200u64 {
        let (port, task) = serve(move |mut s| async move {
            if !jrmp_ack(&mut s).await {
                return;
            }
            read_call(&mut s).await;
            let mut rng = XorShift(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
            // A plausible start (Return, stream header, block header) then random bytes.
            let mut reply = vec![0x51, 0xAC, 0xED, 0x00, 0x05, 0x77, 0x0F, 0x01];
            reply.extend(rng.bytes(14));
            let prefix = (rng.next() % reply.len() as u64) as usize;
            reply.truncate(prefix.max(1));
            let n = (rng.next() % 200) as usize;
            reply.extend(rng.bytes(n));
            let _ = s.write_all(&reply).await;
            // Then close, so a truncated reply ends instead of waiting for the timeout.
        })
        .await;
        let err = connect(port).await.expect_err("garbage cannot be a stub");
        task.abort();
        let kind = format!("{err:?}");
        let kind = kind
            .split([' ', '{', '('])
            .next()
            .unwrap_or_default()
            .to_owned();
        *kinds.entry(kind).or_default() += 1;
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
    eprintln!("error kinds for garbage replies: {kinds:?}");
    assert!(kinds.contains_key("Decode"), "{kinds:?}");
}

#[tokio::test]
async fn an_endless_reply_stops_at_the_size_cap() {
    let (port, _task) = serve(|mut s| async move {
        if !jrmp_ack(&mut s).await {
            return;
        }
        read_call(&mut s).await;
        // Return + header, then a huge array of nulls that never ends.
        let mut start = vec![0x51, 0xAC, 0xED, 0x00, 0x05, 0x77, 0x0F, 0x01];
        start.extend([0u8; 14]);
        start.extend([0x75, 0x72, 0x00, 0x02, b'[', b'J']);
        start.extend([0u8; 8]);
        start.extend([0x02, 0x00, 0x00, 0x78, 0x70]);
        start.extend(0x0100_0000i32.to_be_bytes()); // 16M longs = 128 MiB
        if s.write_all(&start).await.is_err() {
            return;
        }
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..200 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut options = options();
    options.limits.max_bytes = 1024 * 1024;
    let err = JmxClient::connect(Endpoint::new("127.0.0.1", port), options)
        .await
        .unwrap_err();
    assert!(matches!(err, JmxError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}
