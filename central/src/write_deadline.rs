//! The API's listener: every connection it accepts fails a write that has made no progress
//! for `api.write_timeout`, so a client that stopped reading (a live view in a background
//! tab, a stalled proxy) is dropped and counted instead of holding its buffers forever.
//!
//! It works on the socket rather than on the live-view stream because hyper stops polling a
//! response body once its write buffer is full: the stream of a client that does not read is
//! never asked for its next event, so only the write itself can notice. A failed write makes
//! hyper close the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use kafka_obs_api::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Accepts connections and gives each a write deadline.
pub struct DeadlineListener {
    inner: TcpListener,
    timeout: Duration,
    dropped: Counter,
}

impl DeadlineListener {
    /// `dropped` counts the connections closed because a write stalled.
    pub fn new(inner: TcpListener, timeout: Duration, dropped: Counter) -> Self {
        Self {
            inner,
            timeout,
            dropped,
        }
    }
}

impl axum::serve::Listener for DeadlineListener {
    type Io = DeadlineIo<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (
            DeadlineIo::new(io, self.timeout, self.dropped.clone()),
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection whose writes fail with `TimedOut` once they have waited `timeout` for the
/// peer to take bytes.
pub struct DeadlineIo<T> {
    inner: T,
    timeout: Duration,
    /// Running while a write or flush waits; reset by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
    dropped: Counter,
    tripped: bool,
}

impl<T> DeadlineIo<T> {
    pub fn new(inner: T, timeout: Duration, dropped: Counter) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
            dropped,
            tripped: false,
        }
    }

    /// What a write that could not proceed becomes: still pending, or an error once the
    /// deadline passed (counted once per connection).
    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(sleep.as_mut().poll(cx));
        if !self.tripped {
            self.tripped = true;
            self.dropped.inc();
            tracing::debug!(
                timeout = ?timeout,
                "API client did not read for the write timeout; closing its connection"
            );
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client took no bytes for api.write_timeout",
        )))
    }

    fn progressed<R>(&mut self, result: io::Result<R>) -> Poll<io::Result<R>> {
        self.stalled = None;
        Poll::Ready(result)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.waiting(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_fails_the_write_once_and_is_counted() {
        let (near, _far) = tokio::io::duplex(1024);
        let dropped = Counter::default();
        let mut io = DeadlineIo::new(near, Duration::from_secs(10), dropped.clone());
        // Fills the pipe, then waits: the (paused) clock runs to the deadline.
        let err = io.write_all(&[0u8; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(dropped.get(), 1);
        // A second stalled write on the same connection is not counted again.
        assert!(io.write_all(&[0u8; 8]).await.is_err());
        assert_eq!(dropped.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not_dropped() {
        let (near, mut far) = tokio::io::duplex(1024);
        let dropped = Counter::default();
        let mut io = DeadlineIo::new(near, Duration::from_secs(10), dropped.clone());
        let reader = tokio::spawn(async move {
            let mut got = 0usize;
            let mut buf = [0u8; 512];
            while got < 64 * 1024 {
                // Slower than the pipe, faster than the deadline.
                tokio::time::sleep(Duration::from_secs(5)).await;
                got += far.read(&mut buf).await.unwrap();
            }
            got
        });
        io.write_all(&[0u8; 64 * 1024]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 64 * 1024);
        assert_eq!(dropped.get(), 0);
    }
}
