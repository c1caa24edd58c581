//! What TCP and Unix stream sockets share, written once: reads straight into the caller's
//! buffer, writes, half-close, and (in [`stream_common`], a macro each stream type expands)
//! the common methods, the futures-io traits and the owned halves.
//!
//! # Readiness shortcuts (tokio's)
//!
//! A read that fills less than the buffer drained the socket's receive queue, and a write
//! that took less than it was given filled the send queue: the readiness bit is cleared at
//! once, so the next call waits for the next edge instead of making a system call that would
//! only return `WouldBlock`.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::aio::engine::Registered;
use crate::error::{Error, Result};

/// A mio stream socket (TCP or Unix): readable and writable through `&self`.
pub(crate) trait StreamIo: Source + 'static
where
    for<'a> &'a Self: Read + Write,
{
    /// Shuts down one or both directions.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// `SO_ERROR`: a failed connect's error.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// `Ok` once connected (`getpeername` succeeds), `NotConnected` before.
    fn connected(&self) -> io::Result<()>;
}

impl StreamIo for mio::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, how)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::TcpStream::take_error(self)
    }

    fn connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

impl StreamIo for mio::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        mio::net::UnixStream::shutdown(self, how)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::UnixStream::take_error(self)
    }

    fn connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

/// Registers a socket whose non-blocking `connect(2)` was started and waits until it is
/// connected (mio's recipe: writable, then `SO_ERROR`, then `getpeername`; a writable edge
/// without a connection is spurious). Dropped before it completes, the socket is closed.
pub(crate) async fn connect<T: StreamIo>(sock: T, what: impl Fn() -> String) -> Result<Shared<T>>
where
    for<'a> &'a T: Read + Write,
{
    let reg = Registered::new(sock)?;
    // Writability means "connected" here; a new entry starts writable (see the reactor).
    reg.clear_write_ready();
    loop {
        std::future::poll_fn(|cx| reg.poll_write_ready(cx)).await;
        let failed = reg.get_ref().take_error().unwrap_or_else(Some);
        if let Some(e) = failed {
            return Err(Error::io(what(), e));
        }
        match reg.get_ref().connected() {
            Ok(()) => return Ok(Rc::new(reg)),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => reg.clear_write_ready(),
            Err(e) => return Err(Error::io(what(), e)),
        }
    }
}

/// The shared state of a stream and its halves: the registered socket.
pub(crate) type Shared<T> = Rc<Registered<T>>;

/// Reads into `buf` (see the module docs for the readiness shortcut).
pub(crate) fn poll_read<T: StreamIo>(
    io: &Registered<T>,
    cx: &Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_read_stream(cx, buf.len(), |mut s| s.read(buf))
}

/// Writes from `buf` (see the module docs for the readiness shortcut).
pub(crate) fn poll_write<T: StreamIo>(
    io: &Registered<T>,
    cx: &Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_write_stream(cx, buf.len(), |mut s| s.write(buf))
}

/// Writes from several buffers in one call.
pub(crate) fn poll_write_vectored<T: StreamIo>(
    io: &Registered<T>,
    cx: &Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Read + Write,
{
    io.poll_write_with(cx, |mut s| s.write_vectored(bufs))
}

/// Sends the whole of `buf` (Python: `loop.sock_sendall`).
pub(crate) async fn send_all<T: StreamIo>(io: &Registered<T>, mut buf: &[u8]) -> Result<()>
where
    for<'a> &'a T: Read + Write,
{
    while !buf.is_empty() {
        let n = std::future::poll_fn(|cx| poll_write(io, cx, buf))
            .await
            .map_err(|e| Error::io("sending on a socket", e))?;
        if n == 0 {
            return Err(Error::io(
                "sending on a socket",
                io::Error::from(io::ErrorKind::WriteZero),
            ));
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Half-closes (FIN): the peer reads end-of-file; reading goes on.
pub(crate) fn shutdown_write<T: StreamIo>(io: &Registered<T>) -> io::Result<()>
where
    for<'a> &'a T: Read + Write,
{
    match io.get_ref().shutdown(Shutdown::Write) {
        // Already gone: nothing left to close.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Implements the common stream methods, the futures-io traits and the owned halves
/// (`$rh`, `$wh`) for a public stream type `$ty` whose field `io` is a [`Shared`] `$io`.
macro_rules! stream_common {
    ($ty:ident, $io:ty, $rh:ident, $wh:ident) => {
        impl $ty {
            /// Reads at least one byte into `buf`; 0 means end-of-file (Python:
            /// `loop.sock_recv_into`). Cancel-safe: dropped before it completes, it read
            /// nothing.
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the socket.
            pub async fn recv(&self, buf: &mut [u8]) -> $crate::error::Result<usize> {
                std::future::poll_fn(|cx| $crate::aio::net::stream::poll_read(&self.io, cx, buf))
                    .await
                    .map_err(|e| $crate::error::Error::io("receiving from a socket", e))
            }

            /// Sends some of `buf` (at least one byte); returns how many (Python:
            /// `sock.send` on a non-blocking socket, awaited). Cancel-safe.
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the socket.
            pub async fn send(&self, buf: &[u8]) -> $crate::error::Result<usize> {
                std::future::poll_fn(|cx| $crate::aio::net::stream::poll_write(&self.io, cx, buf))
                    .await
                    .map_err(|e| $crate::error::Error::io("sending on a socket", e))
            }

            /// Sends all of `buf` (Python: `loop.sock_sendall`). Dropped before it completes,
            /// it may have sent a prefix of `buf` (as asyncio's).
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the socket.
            pub async fn send_all(&self, buf: &[u8]) -> $crate::error::Result<()> {
                $crate::aio::net::stream::send_all(&self.io, buf).await
            }

            /// Half-closes the stream: the peer reads end-of-file; reading goes on (Python:
            /// `sock.shutdown(SHUT_WR)`, `transport.write_eof()`).
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from `shutdown(2)`.
            pub fn shutdown_write(&self) -> $crate::error::Result<()> {
                $crate::aio::net::stream::shutdown_write(&self.io)
                    .map_err(|e| $crate::error::Error::io("shutting down a socket", e))
            }

            /// The registered socket (a stream that was never split owns it alone).
            pub(crate) fn into_registered(self) -> $crate::aio::engine::Registered<$io> {
                std::rc::Rc::try_unwrap(self.io)
                    .unwrap_or_else(|_| unreachable!("an unsplit stream owns its socket"))
            }

            /// Splits the stream into halves that tasks own separately; dropping the write
            /// half half-closes the stream.
            pub fn into_split(self) -> ($rh, $wh) {
                (
                    $rh {
                        io: self.io.clone(),
                    },
                    $wh {
                        io: self.io,
                        shutdown_on_drop: true,
                    },
                )
            }
        }

        #[doc = concat!("The reading half of a [`", stringify!($ty), "`] (from `into_split`); another task may own the [`", stringify!($wh), "`].")]
        #[derive(Debug)]
        pub struct $rh {
            io: $crate::aio::net::stream::Shared<$io>,
        }

        #[doc = concat!("The writing half of a [`", stringify!($ty), "`] (from `into_split`). Dropping it half-closes the stream (the peer reads end-of-file), as tokio's `OwnedWriteHalf`; the socket closes when both halves are gone.")]
        #[derive(Debug)]
        pub struct $wh {
            io: $crate::aio::net::stream::Shared<$io>,
            shutdown_on_drop: bool,
        }

        impl $rh {
            /// Reads at least one byte into `buf`; 0 means end-of-file. Cancel-safe.
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the socket.
            pub async fn recv(&self, buf: &mut [u8]) -> $crate::error::Result<usize> {
                std::future::poll_fn(|cx| $crate::aio::net::stream::poll_read(&self.io, cx, buf))
                    .await
                    .map_err(|e| $crate::error::Error::io("receiving from a socket", e))
            }
        }

        impl $wh {
            /// Sends all of `buf` (see the stream's `send_all`).
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the socket.
            pub async fn send_all(&self, buf: &[u8]) -> $crate::error::Result<()> {
                $crate::aio::net::stream::send_all(&self.io, buf).await
            }

            /// Half-closes now (the drop will not again).
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from `shutdown(2)`.
            pub fn shutdown_write(&mut self) -> $crate::error::Result<()> {
                self.shutdown_on_drop = false;
                $crate::aio::net::stream::shutdown_write(&self.io)
                    .map_err(|e| $crate::error::Error::io("shutting down a socket", e))
            }
        }

        impl Drop for $wh {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    let _ = $crate::aio::net::stream::shutdown_write(&self.io);
                }
            }
        }

        $crate::aio::net::stream::async_io!($rh, $wh, |this| {
            this.shutdown_on_drop = false;
        });
        $crate::aio::net::stream::async_io!($ty, $ty, |_this| {});
    };
}
pub(crate) use stream_common;

/// Implements `accept`, `local_addr` and `Debug` for a public listener type `$ty` whose field
/// `io` is a `Registered` mio listener, accepting `$stream`s from `$addr`s.
macro_rules! listener_common {
    ($ty:ident, $stream:ident, $addr:ty) => {
        impl $ty {
            /// Waits for a connection (Python: `loop.sock_accept`): the connected stream,
            /// already non-blocking and on the loop, and the peer's address. Cancel-safe:
            /// dropped before it completes, no connection was taken from the queue.
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io); out of descriptors it is `EMFILE`/`ENFILE` (see
            /// [`Error::io_kind`](crate::Error::io_kind)): a server should back off, as
            /// [`Server`](crate::aio::Server) does.
            pub async fn accept(&self) -> $crate::error::Result<($stream, $addr)> {
                let (sock, addr) = self
                    .io
                    .read_with(|l| l.accept())
                    .await
                    .map_err(|e| $crate::error::Error::io("accepting a connection", e))?;
                Ok(($stream::from_mio(sock)?, addr))
            }

            /// The address it listens on.
            ///
            /// # Errors
            /// [`Error::Io`](crate::Error::Io) from the OS.
            pub fn local_addr(&self) -> $crate::error::Result<$addr> {
                self.io
                    .get_ref()
                    .local_addr()
                    .map_err(|e| $crate::error::Error::io("reading a socket's address", e))
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("local", &self.local_addr().ok())
                    .finish()
            }
        }
    };
}
pub(crate) use listener_common;

/// futures-io's `AsyncRead` for `$r` and `AsyncWrite` for `$w` (both with a field `io`);
/// `$on_close` runs on `poll_close` before the half-close.
macro_rules! async_io {
    ($r:ident, $w:ident, |$this:ident| $on_close:block) => {
        impl futures_io::AsyncRead for $r {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::aio::net::stream::poll_read(&self.io, cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $w {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::aio::net::stream::poll_write(&self.io, cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::aio::net::stream::poll_write_vectored(&self.io, cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            #[allow(unused_mut)]
            fn poll_close(
                mut self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = &mut *self;
                $on_close
                std::task::Poll::Ready($crate::aio::net::stream::shutdown_write(&$this.io))
            }
        }
    };
}
pub(crate) use async_io;
