//! A stream connection under a [`StreamReader`](super::StreamReader) and a
//! [`StreamWriter`](super::StreamWriter) (asyncio's transport plus its protocol): the socket,
//! the write buffer with its water marks, and the state both sides see.
//!
//! # Writing (asyncio's `_SelectorSocketTransport.write` and `_FlowControlMixin`)
//!
//! 1. `write` with an empty buffer sends at once, straight from the caller's bytes; only what
//!    the kernel does not take is copied into the buffer.
//! 2. A non-empty buffer is flushed by a task of the loop (made when the buffer fills, gone
//!    when it is empty): the caller never has to await anything for its bytes to go out.
//! 3. Above the high-water mark the writer is *paused*; once the flush brings the buffer to
//!    the low-water mark or below it is *resumed*, which releases every `drain` at once.
//! 4. A write error (the peer reset, a broken pipe) loses the connection: the buffer is
//!    dropped, the socket closed, drainers released (they fail with `ConnectionReset`), and the
//!    reader gets the error.
//! 5. `close` flushes what is buffered, then closes the socket and feeds the reader
//!    end-of-file; `abort` closes at once. `closed` is set when the socket is gone.
//! 6. **Memory.** `resumed` and `closed` are flags until a task waits on one: only then is
//!    its [`Event`] (a wait list) made, so an idle connection carries neither.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use mio::event::Source;

use crate::aio::engine::Registered;
use crate::aio::net::stream as net;
use crate::aio::Event;
use crate::error::{Error, Result};

/// The descriptor under a stream: a socket, or one end of a pipe (a child's stdout or
/// stderr to read, its stdin to write).
pub(crate) enum Socket {
    Tcp(Registered<mio::net::TcpStream>),
    Unix(Registered<mio::net::UnixStream>),
    PipeIn(Registered<mio::unix::pipe::Receiver>),
    PipeOut(Registered<mio::unix::pipe::Sender>),
}

impl Socket {
    fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => net::poll_read(s, cx, buf),
            Socket::Unix(s) => net::poll_read(s, cx, buf),
            Socket::PipeIn(p) => p.poll_read_stream(cx, buf.len(), |mut r| r.read(buf)),
            // A write-only pipe has nothing to read.
            Socket::PipeOut(_) => Poll::Ready(Ok(0)),
        }
    }

    /// Reads into the spare capacity of `buf` (nothing zeroed first); 0 at end-of-file.
    fn poll_read_appending(&self, cx: &Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => poll_appending(s, cx, buf),
            Socket::Unix(s) => poll_appending(s, cx, buf),
            Socket::PipeIn(p) => poll_appending(p, cx, buf),
            Socket::PipeOut(_) => Poll::Ready(Ok(0)),
        }
    }

    fn poll_write(&self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => net::poll_write(s, cx, buf),
            Socket::Unix(s) => net::poll_write(s, cx, buf),
            Socket::PipeOut(p) => p.poll_write_stream(cx, buf.len(), |mut w| w.write(buf)),
            Socket::PipeIn(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the read end of a pipe cannot be written",
            ))),
        }
    }

    /// True if the write side can be shut down in place (a socket); a pipe's write end
    /// half-closes by closing.
    fn can_half_close(&self) -> bool {
        matches!(self, Socket::Tcp(_) | Socket::Unix(_))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => net::shutdown_write(s),
            Socket::Unix(s) => net::shutdown_write(s),
            Socket::PipeIn(_) | Socket::PipeOut(_) => Ok(()),
        }
    }

    fn addr(&self, peer: bool) -> io::Result<SockAddr> {
        match self {
            Socket::Tcp(s) => {
                let s = s.get_ref();
                let a = if peer { s.peer_addr() } else { s.local_addr() };
                a.map(SockAddr::Inet)
            }
            Socket::Unix(s) => {
                let s = s.get_ref();
                let a = if peer { s.peer_addr() } else { s.local_addr() };
                a.map(SockAddr::Unix)
            }
            Socket::PipeIn(_) | Socket::PipeOut(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a pipe has no address",
            )),
        }
    }
}

/// A stream's address (Python: `get_extra_info('peername')` / `'sockname'`).
#[derive(Debug, Clone)]
pub enum SockAddr {
    /// A TCP address.
    Inet(std::net::SocketAddr),
    /// A Unix-domain address.
    Unix(std::os::unix::net::SocketAddr),
}

/// What a reader shares with those who feed it: end-of-file, a stored error, the waiting
/// reader's waker, and bytes fed by hand.
#[derive(Default)]
pub(crate) struct ReaderShared {
    pub(crate) eof: Cell<bool>,
    pub(crate) exception: RefCell<Option<Error>>,
    pub(crate) waiter: RefCell<Option<Waker>>,
    pub(crate) fed: RefCell<Vec<u8>>,
}

impl ReaderShared {
    pub(crate) fn wake(&self) {
        let w = self.waiter.borrow_mut().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    pub(crate) fn feed_eof(&self) {
        self.eof.set(true);
        self.wake();
    }

    pub(crate) fn set_exception(&self, e: Error) {
        *self.exception.borrow_mut() = Some(e);
        self.wake();
    }
}

/// One read into the spare capacity of `buf`, which the caller reserved (with none, the read
/// would look like end-of-file).
fn poll_appending<T: Source + AsFd>(
    io: &Registered<T>,
    cx: &Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<usize>> {
    let room = buf.capacity() - buf.len();
    debug_assert!(room > 0, "a read into a full buffer");
    io.poll_read_stream(cx, room, |s| crate::sys::read_appending(s.as_fd(), buf))
}

/// The write buffer: bytes not yet sent start at `head` (sending advances it: no move of
/// the rest per send; the space is reclaimed when it empties, or compacted when an append
/// finds more than half of it sent).
#[derive(Default)]
struct WriteBuf {
    data: Vec<u8>,
    head: usize,
}

impl WriteBuf {
    fn len(&self) -> usize {
        self.data.len() - self.head
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.head..]
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.head > 0 && self.head >= self.data.len() / 2 {
            self.data.drain(..self.head);
            self.head = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    fn consume(&mut self, n: usize) {
        self.head += n;
        if self.head == self.data.len() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.data.clear();
        self.head = 0;
    }
}

/// Default high-water mark of the write buffer (asyncio's 64 KiB; low = high / 4).
pub(crate) const DEFAULT_HIGH: usize = 64 * 1024;

/// The connection (see the module docs).
pub(crate) struct Conn {
    sock: RefCell<Option<Socket>>,
    wbuf: RefCell<WriteBuf>,
    high: Cell<usize>,
    low: Cell<usize>,
    /// Set while not paused: `drain` waits on it.
    resumed: LazyEvent,
    /// The connection was lost (a write failed, or it was aborted).
    lost: Cell<bool>,
    closing: Cell<bool>,
    /// `write_eof` was called; the half-close happens once the buffer is flushed.
    eof: Cell<bool>,
    flushing: Cell<bool>,
    /// Tasks waiting in futures-io `poll_write`/`poll_flush`/`poll_close` for the buffer to
    /// empty (or the socket to close).
    flush_waiters: RefCell<Vec<Waker>>,
    /// Set once the socket is closed.
    closed: LazyEvent,
    pub(crate) reader: Rc<ReaderShared>,
}

impl Conn {
    pub(crate) fn new(sock: Socket, reader: Rc<ReaderShared>) -> Rc<Conn> {
        Rc::new(Conn {
            sock: RefCell::new(Some(sock)),
            wbuf: RefCell::new(WriteBuf::default()),
            high: Cell::new(DEFAULT_HIGH),
            low: Cell::new(DEFAULT_HIGH / 4),
            resumed: LazyEvent::new(true),
            lost: Cell::new(false),
            closing: Cell::new(false),
            eof: Cell::new(false),
            flushing: Cell::new(false),
            flush_waiters: RefCell::new(Vec::new()),
            closed: LazyEvent::new(false),
            reader,
        })
    }

    /// Reads from the socket; end-of-file once it is closed.
    pub(crate) fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match &*self.sock.borrow() {
            Some(sock) => sock.poll_read(cx, buf),
            None => Poll::Ready(Ok(0)),
        }
    }

    /// Reads from the socket into the spare capacity of `buf`; end-of-file once it is closed.
    pub(crate) fn poll_read_appending(
        &self,
        cx: &Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        match &*self.sock.borrow() {
            Some(sock) => sock.poll_read_appending(cx, buf),
            None => Poll::Ready(Ok(0)),
        }
    }

    /// Step 1: sends or buffers `data`. Ignored once closing or lost (as asyncio's).
    pub(crate) fn write(self: &Rc<Self>, data: &[u8]) -> Result<()> {
        if self.eof.get() {
            return Err(Error::InvalidState("cannot write after write_eof()".into()));
        }
        if data.is_empty() || self.closing.get() || self.lost.get() {
            return Ok(());
        }
        let mut sent = 0;
        if self.wbuf.borrow().is_empty() {
            let out = match &*self.sock.borrow() {
                Some(sock) => sock.poll_write(&Context::from_waker(Waker::noop()), data),
                None => return Ok(()),
            };
            match out {
                Poll::Ready(Ok(n)) => sent = n,
                Poll::Ready(Err(e)) => {
                    self.lose(e);
                    return Ok(());
                }
                Poll::Pending => {}
            }
        }
        if sent < data.len() {
            self.wbuf.borrow_mut().extend(&data[sent..]);
            self.after_buffering();
        }
        Ok(())
    }

    /// Step 2 and 3: pause above the high-water mark; make sure a flush task runs.
    fn after_buffering(self: &Rc<Self>) {
        if self.wbuf.borrow().len() > self.high.get() && self.resumed.is_set() {
            self.resumed.clear();
        }
        if !self.flushing.replace(true) {
            let conn = self.clone();
            drop(crate::aio::create_task(async move { conn.flush().await }));
        }
    }

    /// Step 2: the flush task.
    async fn flush(self: Rc<Self>) {
        loop {
            let out = std::future::poll_fn(|cx| {
                let buf = self.wbuf.borrow();
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                match &*self.sock.borrow() {
                    Some(sock) => sock.poll_write(cx, buf.pending()),
                    None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
                }
            })
            .await;
            match out {
                Ok(n) => {
                    let left = {
                        let mut buf = self.wbuf.borrow_mut();
                        buf.consume(n);
                        buf.len()
                    };
                    if left <= self.low.get() && !self.resumed.is_set() {
                        self.resumed.set();
                    }
                    if left == 0 {
                        self.wake_flush_waiters();
                        break;
                    }
                }
                Err(e) => {
                    self.lose(e);
                    break;
                }
            }
        }
        self.flushing.set(false);
        self.after_flush();
    }

    /// A half-close or close that waited for the buffer to empty happens now.
    fn after_flush(&self) {
        if !self.wbuf.borrow().is_empty() {
            return;
        }
        if self.closing.get() {
            self.finish_close();
        } else if self.eof.get() {
            let in_place = match &*self.sock.borrow() {
                Some(sock) if sock.can_half_close() => {
                    let _ = sock.shutdown_write();
                    true
                }
                Some(_) => false,
                None => true,
            };
            if !in_place {
                // A pipe: its end-of-file is its close (asyncio's pipe transport).
                self.finish_close();
            }
        }
    }

    /// Step 4.
    fn lose(&self, e: io::Error) {
        self.lost.set(true);
        self.wbuf.borrow_mut().clear();
        self.resumed.set();
        if self.reader.exception.borrow().is_none() {
            self.reader
                .set_exception(Error::io("the connection was lost", e));
        }
        self.finish_close();
    }

    fn wake_flush_waiters(&self) {
        let waiters = std::mem::take(&mut *self.flush_waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// futures-io `poll_write`: with nothing buffered, sends straight from `data` (no copy);
    /// else waits for the buffer to empty, so bytes keep their order.
    pub(crate) fn poll_write_direct(
        &self,
        cx: &Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_closing() || self.eof.get() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "Connection lost",
            )));
        }
        if !self.wbuf.borrow().is_empty() {
            self.flush_waiters.borrow_mut().push(cx.waker().clone());
            return Poll::Pending;
        }
        let out = match &*self.sock.borrow() {
            Some(sock) => sock.poll_write(cx, data),
            None => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        };
        if let Poll::Ready(Err(e)) = &out {
            let kind = e.kind();
            self.lose(io::Error::new(kind, e.to_string()));
        }
        out
    }

    /// futures-io `poll_flush`: ready once the buffer is empty.
    pub(crate) fn poll_flushed(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if self.wbuf.borrow().is_empty() {
            return Poll::Ready(if self.lost.get() {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "Connection lost",
                ))
            } else {
                Ok(())
            });
        }
        self.flush_waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }

    /// futures-io `poll_close`: closes after the flush; ready once the socket is closed.
    pub(crate) fn poll_closed(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        if self.sock.borrow().is_none() {
            return Poll::Ready(Ok(()));
        }
        self.flush_waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }

    fn finish_close(&self) {
        let sock = self.sock.borrow_mut().take();
        drop(sock);
        self.wake_flush_waiters();
        self.closing.set(true);
        if !self.reader.eof.get() {
            self.reader.feed_eof();
        }
        self.resumed.set();
        self.closed.set();
    }

    /// Step 5: `close`.
    pub(crate) fn close(&self) {
        self.closing.set(true);
        // Not flushing means the buffer is empty: close now; else the flush task closes.
        if !self.flushing.get() {
            self.after_flush();
        }
    }

    /// Step 5: `abort`.
    pub(crate) fn abort(&self) {
        self.wbuf.borrow_mut().clear();
        self.finish_close();
    }

    pub(crate) fn write_eof(&self) -> Result<()> {
        if self.closing.get() {
            return Ok(());
        }
        self.eof.set(true);
        if !self.flushing.get() {
            self.after_flush();
        }
        Ok(())
    }

    pub(crate) async fn drain(&self) -> Result<()> {
        let stored = self.reader.exception.borrow().clone();
        if let Some(e) = stored {
            if !self.lost.get() {
                return Err(e);
            }
        }
        if self.is_closing() {
            // asyncio yields once so that connection_lost can run, then fails.
            crate::aio::yield_now().await;
            return Err(connection_lost());
        }
        if !self.resumed.is_set() {
            self.resumed.wait().await;
            if self.is_closing() {
                return Err(connection_lost());
            }
        }
        Ok(())
    }

    pub(crate) async fn wait_closed(&self) {
        self.closed.wait().await;
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get() || self.lost.get()
    }

    pub(crate) fn buffer_size(&self) -> usize {
        self.wbuf.borrow().len()
    }

    pub(crate) fn set_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (high, low) = match (high, low) {
            (None, None) => (DEFAULT_HIGH, DEFAULT_HIGH / 4),
            (Some(h), None) => (h, h / 4),
            (None, Some(l)) => (4 * l, l),
            (Some(h), Some(l)) => (h, l),
        };
        if low > high {
            return Err(Error::InvalidArgument(format!(
                "high ({high}) must be >= low ({low}) must be >= 0"
            )));
        }
        self.high.set(high);
        self.low.set(low);
        let len = self.buffer_size();
        if len > high {
            self.resumed.clear();
        } else if len <= low {
            self.resumed.set();
        }
        Ok(())
    }

    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.high.get(), self.low.get())
    }

    pub(crate) fn addr(&self, peer: bool) -> Result<SockAddr> {
        match &*self.sock.borrow() {
            Some(sock) => sock
                .addr(peer)
                .map_err(|e| Error::io("reading a stream's address", e)),
            None => Err(connection_lost()),
        }
    }
}

/// A flag whose [`Event`] is made only when a task first waits on it (step 6); set and
/// clear are passed on to the event once it exists.
struct LazyEvent {
    set: Cell<bool>,
    event: OnceCell<Event>,
}

impl LazyEvent {
    fn new(set: bool) -> LazyEvent {
        LazyEvent {
            set: Cell::new(set),
            event: OnceCell::new(),
        }
    }

    fn is_set(&self) -> bool {
        self.set.get()
    }

    fn set(&self) {
        self.set.set(true);
        if let Some(e) = self.event.get() {
            e.set();
        }
    }

    fn clear(&self) {
        self.set.set(false);
        if let Some(e) = self.event.get() {
            e.clear();
        }
    }

    /// Returns once set (at once if it is).
    async fn wait(&self) {
        if self.set.get() {
            return;
        }
        // Made unset, as the flag is; from now on set and clear reach it.
        self.event.get_or_init(Event::new).wait().await;
    }
}

/// asyncio's `ConnectionResetError('Connection lost')`.
pub(crate) fn connection_lost() -> Error {
    Error::io(
        "the connection was lost",
        io::Error::new(io::ErrorKind::ConnectionReset, "Connection lost"),
    )
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("buffered", &self.buffer_size())
            .field("paused", &!self.resumed.is_set())
            .field("closing", &self.closing.get())
            .field("lost", &self.lost.get())
            .finish()
    }
}
