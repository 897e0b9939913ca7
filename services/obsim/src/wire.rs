//! The write half of a connection, between opensrv-mysql and the socket.
//!
//! opensrv writes one whole packet per write (header and payload) and
//! flushes once per command; this writer keeps the packets until the flush
//! and can change them on the way:
//! - **error packets**: opensrv can only send the MySQL error codes it
//!   knows (1000-1885), and answers a failed login with 1698. OceanBase
//!   answers 1045 and its own codes (5099, 4179, ...), so the next error
//!   packet is replaced by the one [`WireCtl::replace_next_error`] holds;
//! - **a cut**: after [`WireCtl::cut`], nothing more is sent; the flush
//!   sends what came before, then shuts the socket down (a connection
//!   dropped in the middle of a result).

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use tokio::sync::Notify;

use crate::sql::SqlError;

/// Shared between a connection's shim and its writer.
#[derive(Debug, Default)]
pub struct WireCtl {
    replace: Mutex<Option<Vec<u8>>>,
    cut: AtomicBool,
    /// Notified once the writer has shut the socket down after a cut.
    pub closed: Notify,
}

impl WireCtl {
    /// The next error packet becomes `e` (its payload: `0xFF`, code,
    /// `#`, SQL state, message).
    pub fn replace_next_error(&self, e: &SqlError) {
        let mut payload = vec![0xFF];
        payload.extend_from_slice(&e.code.to_le_bytes());
        payload.push(b'#');
        let mut state = e.state.as_bytes().to_vec();
        state.resize(5, b'0');
        payload.extend_from_slice(&state);
        payload.extend_from_slice(e.message.as_bytes());
        *self.replace.lock().unwrap_or_else(|p| p.into_inner()) = Some(payload);
    }

    /// Nothing written from now on is sent; the connection closes at the
    /// next flush.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    fn take_replacement(&self) -> Option<Vec<u8>> {
        self.replace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// The writer opensrv is given.
#[derive(Debug)]
pub struct Wire<W> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `inner`.
    sent: usize,
    ctl: std::sync::Arc<WireCtl>,
    shut: bool,
}

impl<W> Wire<W> {
    pub fn new(inner: W, ctl: std::sync::Arc<WireCtl>) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            sent: 0,
            ctl,
            shut: false,
        }
    }

    /// Takes one packet (or any bytes) opensrv wrote.
    fn accept(&mut self, data: &[u8]) {
        if self.ctl.cut.load(Ordering::SeqCst) {
            return;
        }
        if data.len() >= 5
            && data[4] == 0xFF
            && let Some(payload) = self.ctl.take_replacement()
        {
            let len = payload.len() as u32;
            self.buf.extend_from_slice(&len.to_le_bytes()[..3]);
            self.buf.push(data[3]);
            self.buf.extend_from_slice(&payload);
            return;
        }
        self.buf.extend_from_slice(data);
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Wire<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.accept(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let packet: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.accept(&packet);
        Poll::Ready(Ok(packet.len()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        while this.sent < this.buf.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &this.buf[this.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.sent += n;
        }
        this.buf.clear();
        this.sent = 0;
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        if this.ctl.cut.load(Ordering::SeqCst) {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.shut = true;
            this.ctl.closed.notify_one();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
