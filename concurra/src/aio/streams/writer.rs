//! [`StreamWriter`]: asyncio's `StreamWriter` (the rules are in the `conn` module docs).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::AsyncWrite;

use super::conn::{Conn, SockAddr};
use crate::error::Result;

/// Writes to a stream with asyncio's semantics: [`write`](Self::write) never blocks (what the
/// socket does not take at once is buffered and sent by the loop), [`drain`](Self::drain)
/// waits while the buffer is above its high-water mark. Clones are handles on the same
/// stream: several tasks may write and drain.
///
/// It is also a futures-io `AsyncWrite` for the ecosystem's codecs: `poll_write` sends
/// straight from the caller's bytes when nothing is buffered (no copy) and waits for the
/// buffer to empty otherwise; `poll_flush` waits for the buffer to empty; `poll_close` is
/// [`close`](Self::close) and waits for the socket to be closed.
///
/// The socket closes when [`close`](Self::close) has flushed the buffer (or at
/// [`abort`](Self::abort)), or when the reader and every writer handle are dropped and the
/// buffer is flushed.
#[derive(Clone)]
pub struct StreamWriter {
    conn: Rc<Conn>,
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter { conn }
    }

    pub(crate) fn conn(&self) -> &Rc<Conn> {
        &self.conn
    }

    /// Sends `data` or buffers it (Python: `writer.write(data)`); never waits. Ignored once
    /// the writer is closing or the connection is lost (the next [`drain`](Self::drain)
    /// reports it), as asyncio's.
    ///
    /// # Errors
    /// [`Error::InvalidState`](crate::Error::InvalidState) after
    /// [`write_eof`](Self::write_eof).
    pub fn write(&self, data: &[u8]) -> Result<()> {
        self.conn.write(data)
    }

    /// Writes each buffer in turn (Python: `writer.writelines(lines)`).
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn writelines<I>(&self, lines: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        for line in lines {
            self.conn.write(line.as_ref())?;
        }
        Ok(())
    }

    /// Waits until the write buffer is at or below the low-water mark, if it went above the
    /// high one (Python: `await writer.drain()`). Every task draining is released by the
    /// same resume (gh-74116).
    ///
    /// # Errors
    /// The reader's stored error; `ConnectionReset` ([`Error::is_connection_lost`](crate::Error::is_connection_lost))
    /// once the writer is closing or the peer is gone — never a spin.
    pub async fn drain(&self) -> Result<()> {
        self.conn.drain().await
    }

    /// Half-closes once the buffer is flushed: the peer reads end-of-file, reading goes on
    /// (Python: `writer.write_eof()`).
    ///
    /// # Errors
    /// None today; kept for the transports that cannot half-close.
    pub fn write_eof(&self) -> Result<()> {
        self.conn.write_eof()
    }

    /// True: stream sockets can half-close (Python: `writer.can_write_eof()`).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes after flushing the buffer (Python: `writer.close()`); the reader then sees
    /// end-of-file. Await [`wait_closed`](Self::wait_closed) for the socket to be gone.
    pub fn close(&self) {
        self.conn.close();
    }

    /// Closes at once, dropping the buffer (Python: `transport.abort()`).
    pub fn abort(&self) {
        self.conn.abort();
    }

    /// True once closing or the connection is lost (Python: `writer.is_closing()`).
    pub fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Waits until the socket is closed (Python: `await writer.wait_closed()`).
    pub async fn wait_closed(&self) {
        self.conn.wait_closed().await;
    }

    /// Sets the high- and low-water marks (Python: `transport.set_write_buffer_limits`):
    /// both `None` gives 64 KiB and 16 KiB; only `high` gives `low = high / 4`; only `low`
    /// gives `high = 4 × low`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if `low > high`.
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.conn.set_limits(high, low)
    }

    /// The water marks as `(high, low)` (asyncio's `get_write_buffer_limits()` returns
    /// `(low, high)`).
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.conn.limits()
    }

    /// Bytes buffered, not yet sent (Python: `transport.get_write_buffer_size()`).
    pub fn write_buffer_size(&self) -> usize {
        self.conn.buffer_size()
    }

    /// The peer's address (Python: `get_extra_info('peername')`).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io); `ConnectionReset` once closed.
    pub fn peer_addr(&self) -> Result<SockAddr> {
        self.conn.addr(true)
    }

    /// The local address (Python: `get_extra_info('sockname')`).
    ///
    /// # Errors
    /// As [`peer_addr`](Self::peer_addr).
    pub fn local_addr(&self) -> Result<SockAddr> {
        self.conn.addr(false)
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write_direct(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_flushed(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_closed(cx)
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StreamWriter").field(&self.conn).finish()
    }
}
