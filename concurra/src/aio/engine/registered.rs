//! [`Registered`]: a descriptor registered with the running loop's reactor, with read and
//! write readiness (tokio's `PollEvented`, async-io's `Async<T>`). Every I/O type of the loop
//! (sockets, listeners, pipes) is a `Registered<T>` plus its own calls; the retry loop
//! "try the call, on `WouldBlock` clear the readiness and wait for the next edge" is written
//! here once ([`Registered::poll_read_with`], [`Registered::poll_write_with`]).
//!
//! # Cancel safety
//!
//! A call either completes inside one poll or leaves nothing behind but a waker in the
//! descriptor's waiter list: dropping the future that polls it (a cancelled task, an expired
//! `wait_for`) loses no byte and leaves the descriptor usable for the next call. A stale
//! waker left in the list only causes one spurious wake-up.
//!
//! # Invariant
//!
//! The source stays registered with the loop that was running when it was made, for as long
//! as the `Registered` lives; dropping it deregisters the source, then closes it. It is used
//! on that loop's thread (it is `!Send`).

use std::fmt;
use std::io;
use std::task::{Context, Poll};

use mio::event::Source;

use super::context;
use super::reactor::{Registration, READABLE, WRITABLE};
use crate::error::{Error, Result};

/// A mio source registered with the running loop (see the module docs).
pub(crate) struct Registered<T: Source> {
    /// `None` only inside `drop`.
    io: Option<T>,
    reg: Registration,
}

impl<T: Source> Registered<T> {
    /// Registers `io` (already non-blocking) with the running loop.
    ///
    /// # Errors
    /// [`Error::InvalidState`] outside a running loop; [`Error::Io`] if the poller refuses.
    pub(crate) fn new(mut io: T) -> Result<Self> {
        let set = context::current()
            .map(|core| core.io().clone())
            .ok_or_else(|| {
                Error::InvalidState("a socket needs a running event loop (aio::run)".into())
            })?;
        let reg = set
            .register(&mut io)
            .map_err(|e| Error::io("registering a descriptor with the event loop", e))?;
        Ok(Registered { io: Some(io), reg })
    }

    /// The source.
    pub(crate) fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("a live Registered holds its source")
    }

    /// Ready once a read may be tried (or the descriptor is closed or failed).
    pub(crate) fn poll_read_ready(&self, cx: &Context<'_>) -> Poll<()> {
        if self.reg.sched().poll_read(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Ready once a write may be tried (or the descriptor is closed or failed).
    pub(crate) fn poll_write_ready(&self, cx: &Context<'_>) -> Poll<()> {
        if self.reg.sched().poll_write(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Forgets that the descriptor was readable (a read returned `WouldBlock`).
    pub(crate) fn clear_read_ready(&self) {
        self.reg.sched().clear(READABLE);
    }

    /// Forgets that the descriptor was writable (a write returned `WouldBlock`; or before a
    /// connect, where writability means "connected").
    pub(crate) fn clear_write_ready(&self) {
        self.reg.sched().clear(WRITABLE);
    }

    /// Runs the read-side call `f` until it does not return `WouldBlock`, waiting for
    /// readiness between tries. `Interrupted` is retried at once.
    pub(crate) fn poll_read_with<R>(
        &self,
        cx: &Context<'_>,
        f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(cx, READABLE, f)
    }

    /// [`poll_read_with`](Self::poll_read_with) for the write side.
    pub(crate) fn poll_write_with<R>(
        &self,
        cx: &Context<'_>,
        f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(cx, WRITABLE, f)
    }

    /// The retry loop, once for both directions (`READABLE` or `WRITABLE`).
    fn poll_with<R>(
        &self,
        cx: &Context<'_>,
        direction: u8,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let ready = if direction == READABLE {
                self.poll_read_ready(cx)
            } else {
                self.poll_write_ready(cx)
            };
            if ready.is_pending() {
                return Poll::Pending;
            }
            match f(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.sched().clear(direction)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                done => return Poll::Ready(done),
            }
        }
    }

    /// [`poll_read_with`](Self::poll_read_with) for a stream (a socket, a pipe): `f` moves up
    /// to `room` bytes and says how many; fewer (but some) means the descriptor is drained for
    /// now, so its readiness is cleared and the next call waits for the next edge instead of
    /// spending a read on `WouldBlock`.
    pub(crate) fn poll_read_stream(
        &self,
        cx: &Context<'_>,
        room: usize,
        f: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_stream(cx, READABLE, room, f)
    }

    /// [`poll_read_stream`](Self::poll_read_stream) for the write side: a short write means
    /// the descriptor's buffer is full.
    pub(crate) fn poll_write_stream(
        &self,
        cx: &Context<'_>,
        len: usize,
        f: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_stream(cx, WRITABLE, len, f)
    }

    /// The shortcut of both, once.
    fn poll_stream(
        &self,
        cx: &Context<'_>,
        direction: u8,
        len: usize,
        f: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let out = self.poll_with(cx, direction, f);
        if let Poll::Ready(Ok(n)) = out {
            if n > 0 && n < len {
                self.reg.sched().clear(direction);
            }
        }
        out
    }

    /// Awaits a read-side call (see [`poll_read_with`](Self::poll_read_with)).
    pub(crate) async fn read_with<R>(
        &self,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_read_with(cx, &mut f)).await
    }

    /// Awaits a write-side call (see [`poll_write_with`](Self::poll_write_with)).
    pub(crate) async fn write_with<R>(
        &self,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_write_with(cx, &mut f)).await
    }
}

impl<T: Source> Drop for Registered<T> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            self.reg.deregister(&mut io);
            drop(io);
        }
    }
}

impl<T: Source + fmt::Debug> fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("io", &self.io)
            .field("registration", &self.reg)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::aio;

    /// A read waits for the peer's write (edge-triggered readiness wakes it), a read that
    /// found nothing leaves the descriptor usable, and end-of-file is seen.
    #[test]
    #[cfg_attr(miri, ignore = "epoll")]
    fn read_waits_for_the_peer_then_sees_eof() {
        aio::run(async {
            let (a, b) = mio::net::UnixStream::pair().unwrap();
            let a = Registered::new(a).unwrap();
            let b = Registered::new(b).unwrap();
            let reader = aio::create_task(async move {
                let mut buf = [0u8; 16];
                let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                let first = buf[..n].to_vec();
                let eof = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                (first, eof)
            });
            aio::yield_now().await;
            aio::yield_now().await;
            b.write_with(|mut s| s.write(b"hello")).await.unwrap();
            drop(b);
            let (first, eof) = reader.await.unwrap();
            assert_eq!(first, b"hello");
            assert_eq!(eof, 0);
        });
    }

    #[test]
    #[cfg_attr(miri, ignore = "epoll")]
    fn outside_a_loop_is_a_clear_error() {
        let (a, _b) = mio::net::UnixStream::pair().unwrap();
        assert!(Registered::new(a).unwrap_err().is_invalid_state());
    }
}
