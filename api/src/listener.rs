//! The listener `cascade serve` accepts connections with. Every request's header block must
//! arrive within a deadline (`--header-read-timeout`): a client that opens connections and sends
//! headers slowly, or half of them, is cut off instead of holding a connection and its memory.
//! Idle keep-alive connections are closed by the server's idle timeout; bodies are bounded by
//! the request timeout and [`crate::guard::limit_body`].

use std::{
    io::{Error, ErrorKind, Result as IoResult},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Wraps an acceptor so that each connection gets a [`HeaderDeadline`].
pub struct HeaderDeadlineAcceptor<A> {
    inner: A,
    limit: Duration,
}

impl<A> HeaderDeadlineAcceptor<A> {
    pub fn new(inner: A, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for HeaderDeadlineAcceptor<A> {
    type Io = HeaderDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((HeaderDeadline::new(io, self.limit), local, remote, scheme))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: no deadline (the idle timeout applies).
    Waiting,
    /// Reading a header block; `matched` bytes of the blank line `\r\n\r\n` seen so far.
    Head { matched: u8 },
    /// The header block is complete; the body and the answer follow.
    Rest,
}

/// A connection whose request header blocks must each arrive within `limit` of their first byte.
pub struct HeaderDeadline<T> {
    inner: T,
    limit: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl<T> HeaderDeadline<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            phase: Phase::Waiting,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        const BLANK_LINE: &[u8; 4] = b"\r\n\r\n";
        for &b in bytes {
            self.phase = match self.phase {
                Phase::Waiting => {
                    self.deadline.as_mut().reset(Instant::now() + self.limit);
                    Phase::Head {
                        matched: u8::from(b == b'\r'),
                    }
                }
                Phase::Head { matched } => {
                    let matched = if b == BLANK_LINE[usize::from(matched)] {
                        matched + 1
                    } else {
                        u8::from(b == b'\r')
                    };
                    if usize::from(matched) == BLANK_LINE.len() {
                        Phase::Rest
                    } else {
                        Phase::Head { matched }
                    }
                }
                Phase::Rest => Phase::Rest,
            };
        }
    }

    fn timed_out() -> Error {
        Error::new(
            ErrorKind::TimedOut,
            "the request's headers did not arrive in time",
        )
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeaderDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        let reading_head = matches!(self.phase, Phase::Head { .. });
        if reading_head && self.deadline.is_elapsed() {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                self.scan(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                if reading_head && self.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Self::timed_out()));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        // A final answer (not `100 Continue`) ends the request: the next header block starts a
        // new deadline.
        if self.phase == Phase::Rest && final_answer(buf) {
            self.phase = Phase::Waiting;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<IoResult<usize>> {
        if self.phase == Phase::Rest
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && final_answer(first)
        {
            self.phase = Phase::Waiting;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Whether written bytes start a final HTTP/1 answer (a status line that is not 1xx).
fn final_answer(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.") && bytes.get(9..10).is_none_or(|s| s != b"1")
}

/// Binds `addr` for `cascade serve`: the header deadline on every connection.
pub async fn bind(
    addr: &str,
    header_timeout: Duration,
) -> IoResult<HeaderDeadlineAcceptor<poem::listener::TcpAcceptor>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    from_tokio(listener, header_timeout)
}

/// The same for a listener already bound (tests bind port 0).
pub fn from_tokio(
    listener: tokio::net::TcpListener,
    header_timeout: Duration,
) -> IoResult<HeaderDeadlineAcceptor<poem::listener::TcpAcceptor>> {
    Ok(HeaderDeadlineAcceptor::new(
        poem::listener::TcpAcceptor::from_tokio(listener)?,
        header_timeout,
    ))
}
