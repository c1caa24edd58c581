//! [`StreamReader`]: asyncio's `StreamReader`, pulling from its socket.
//!
//! # Protocol
//!
//! 1. **Pull, not push.** asyncio's protocol feeds every arriving chunk into the reader and
//!    pauses the socket when the buffer passes twice the limit. Here the reader reads from
//!    the socket only while one of its calls needs bytes, and never more than it needs or
//!    what keeps the buffer at twice the limit (whichever is more): the buffer stays bounded
//!    the same way ("paused" at 2 × limit, "resumed" below it), and a reader nobody calls
//!    leaves the data in the kernel, whose flow control then slows the peer.
//! 2. **Straight into the caller's buffer.** `read(n)` with nothing buffered, and futures-io's
//!    `AsyncRead`, read from the socket directly into the destination: no copy.
//! 3. **One reader.** Every read takes `&mut self`: two calls waiting on one reader at once
//!    (asyncio's `RuntimeError: ... already waiting for incoming data`) cannot be written.
//!    Feeding ([`StreamFeeder`]: `feed_data`, `feed_eof`, `set_exception`) goes through a
//!    shared handle and wakes the waiting call.
//! 4. **Errors first.** A stored error ([`set_exception`](StreamReader::set_exception), a
//!    failed read) is returned by every later read, before any buffered data (as asyncio's).
//! 5. **Memory.** A reader that waits with nothing buffered frees its buffer: an idle
//!    connection costs no read buffer (reads straight into the caller's buffer need none).
//!    An empty buffer is filled through a small buffer on the stack, and keeps only the bytes
//!    that came: a connection that reads a short line and then idles without reading (a
//!    client between requests) holds a few bytes, not a 4 KiB buffer.
//! 6. **Cancel-safe.** A read consumes bytes only when it returns them; dropped earlier, it
//!    leaves the buffer as it was (plus what arrived).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

use super::conn::{Conn, ReaderShared};
use crate::error::{Error, Result};

/// asyncio's `_DEFAULT_LIMIT`: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The smallest read from the socket into the buffer once it holds bytes.
const MIN_READ: usize = 4096;

/// The read through the stack when the buffer is empty (step 5): small enough that zeroing
/// it costs nothing next to the system call, large enough for a typical line or message.
const STACK_READ: usize = 512;

/// The spare room [`StreamReader::read_to_end`] offers each read: above a pipe's 64 KiB, so a
/// short read from a pipe means it is drained (a socket's receive buffer can hold more; then a
/// read fills the room and the next one finds the rest).
const READ_TO_END_ROOM: usize = 256 * 1024;

/// Reads from a stream with asyncio's semantics (see the module docs): [`read`](Self::read),
/// [`read_to_end`](Self::read_to_end), [`read_exactly`](Self::read_exactly),
/// [`read_until`](Self::read_until), [`read_line`](Self::read_line), [`lines`](Self::lines);
/// also futures-io `AsyncRead` and `AsyncBufRead`.
///
/// ```
/// use concurra::aio::{self, StreamReader};
///
/// aio::run(async {
///     let mut reader = StreamReader::new();
///     reader.feed_data(b"line 1\nline 2");
///     reader.feed_eof();
///     assert_eq!(reader.read_line().await.unwrap(), b"line 1\n");
///     assert_eq!(reader.read_line().await.unwrap(), b"line 2");
///     assert!(reader.at_eof());
/// });
/// ```
pub struct StreamReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where `read_until` resumes its search (bytes before it were searched).
    scan: usize,
    limit: usize,
    shared: Rc<ReaderShared>,
    conn: Option<Rc<Conn>>,
}

/// Feeds a [`StreamReader`] from elsewhere (Python: the protocol calling `feed_data`,
/// `feed_eof`, `set_exception` on the reader); cheap to clone.
#[derive(Clone)]
pub struct StreamFeeder {
    shared: Rc<ReaderShared>,
}

impl StreamFeeder {
    /// Appends bytes to the reader's buffer and wakes its waiting read.
    pub fn feed_data(&self, data: &[u8]) {
        if !data.is_empty() {
            self.shared.fed.borrow_mut().extend_from_slice(data);
            self.shared.wake();
        }
    }

    /// Marks end-of-file and wakes the waiting read.
    pub fn feed_eof(&self) {
        self.shared.feed_eof();
    }

    /// Stores `e`: the waiting read and every later read fail with it.
    pub fn set_exception(&self, e: Error) {
        self.shared.set_exception(e);
    }
}

impl fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFeeder")
            .field("eof", &self.shared.eof.get())
            .finish()
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::new()
    }
}

impl StreamReader {
    /// A reader with no socket, fed by hand (Python: `asyncio.StreamReader()`), with the
    /// default limit.
    pub fn new() -> StreamReader {
        StreamReader::with_shared(Rc::new(ReaderShared::default()), None)
    }

    pub(crate) fn with_shared(shared: Rc<ReaderShared>, conn: Option<Rc<Conn>>) -> StreamReader {
        StreamReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scan: 0,
            limit: DEFAULT_LIMIT,
            shared,
            conn,
        }
    }

    /// A reader with `limit` (Python: `StreamReader(limit=n)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for 0 (Python: `ValueError('Limit cannot be <= 0')`).
    pub fn with_limit(limit: usize) -> Result<StreamReader> {
        let mut r = StreamReader::new();
        r.set_limit(limit)?;
        Ok(r)
    }

    /// Sets the limit: the longest line [`read_line`](Self::read_line) and
    /// [`read_until`](Self::read_until) accept, and half the buffer's bound.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for 0.
    pub fn set_limit(&mut self, limit: usize) -> Result<()> {
        if limit == 0 {
            return Err(Error::InvalidArgument("Limit cannot be <= 0".into()));
        }
        self.limit = limit;
        Ok(())
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A handle that feeds this reader from elsewhere.
    pub fn feeder(&self) -> StreamFeeder {
        StreamFeeder {
            shared: self.shared.clone(),
        }
    }

    /// Appends bytes (Python: `reader.feed_data`).
    pub fn feed_data(&self, data: &[u8]) {
        self.feeder().feed_data(data);
    }

    /// Marks end-of-file (Python: `reader.feed_eof`).
    pub fn feed_eof(&self) {
        self.shared.feed_eof();
    }

    /// Stores an error for every later read (Python: `reader.set_exception`).
    pub fn set_exception(&self, e: Error) {
        self.shared.set_exception(e);
    }

    /// The stored error (Python: `reader.exception()`).
    pub fn exception(&self) -> Option<Error> {
        self.shared.exception.borrow().clone()
    }

    /// True once end-of-file was seen and nothing is left to read (Python:
    /// `reader.at_eof()`).
    pub fn at_eof(&self) -> bool {
        self.shared.eof.get() && self.start == self.end && self.shared.fed.borrow().is_empty()
    }

    /// Bytes buffered and not yet read.
    pub fn buffered(&self) -> usize {
        self.end - self.start + self.shared.fed.borrow().len()
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Takes `n` buffered bytes out.
    fn consume(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.skip(n);
        out
    }

    /// Everything buffered. When the data starts at the buffer's front, the buffer itself is
    /// handed over (no copy of a large read-to-end), giving back its slack when that is more
    /// than the data (`read_to_end` reserves room ahead of each read).
    fn take_all(&mut self) -> Vec<u8> {
        if self.start > 0 {
            return self.consume(self.len());
        }
        let mut out = std::mem::take(&mut self.buf);
        out.truncate(self.end);
        self.end = 0;
        self.scan = 0;
        if out.capacity() > 2 * out.len() {
            out.shrink_to_fit();
        }
        out
    }

    /// An idle stream keeps no buffer (see # Memory in the module docs): called when a read
    /// found nothing to do and nothing is buffered.
    fn release_if_empty(&mut self) {
        if self.len() == 0 {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
            self.scan = 0;
        }
    }

    fn skip(&mut self, n: usize) {
        self.start += n;
        self.scan = 0;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for `need` more bytes at the end (compacting first).
    fn reserve(&mut self, need: usize) {
        if self.buf.len() - self.end >= need {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.scan = self.scan.saturating_sub(self.start);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < need {
            self.buf.resize(self.end + need, 0);
        }
    }

    fn append(&mut self, data: &[u8]) {
        self.reserve(data.len());
        self.buf[self.end..self.end + data.len()].copy_from_slice(data);
        self.end += data.len();
    }

    /// Moves hand-fed bytes into the buffer; true if there were any.
    fn take_fed(&mut self) -> bool {
        let fed = std::mem::take(&mut *self.shared.fed.borrow_mut());
        if fed.is_empty() {
            return false;
        }
        self.append(&fed);
        true
    }

    /// The start of every read: hand-fed bytes join the buffer (Python's `feed_data`
    /// appends at once), then the stored error is returned if there is one.
    fn begin(&mut self) -> Result<()> {
        self.take_fed();
        self.check_exception()
    }

    fn check_exception(&self) -> Result<()> {
        match &*self.shared.exception.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn store_read_error(&self, e: io::Error) -> Error {
        let e = Error::io("reading from a stream", e);
        *self.shared.exception.borrow_mut() = Some(e.clone());
        e
    }

    /// What a fill answers without reading: the stored error, hand-fed bytes (`true`), or
    /// end-of-file (`false`).
    fn fill_without_reading(&mut self) -> Option<Result<bool>> {
        if let Err(e) = self.check_exception() {
            return Some(Err(e));
        }
        if self.take_fed() {
            return Some(Ok(true));
        }
        if self.shared.eof.get() {
            return Some(Ok(false));
        }
        None
    }

    /// Waits for more bytes: `Ok(true)` once some were added, `Ok(false)` at end-of-file.
    /// `want` is how many more the caller needs at least (step 1).
    fn poll_fill(&mut self, cx: &Context<'_>, want: usize) -> Poll<Result<bool>> {
        if let Some(done) = self.fill_without_reading() {
            return Poll::Ready(done);
        }
        if let Some(conn) = self.conn.clone() {
            // Step 1: at most up to 2 × limit buffered, or what the caller needs; the
            // buffer grows by doubling while reads fill it.
            let bound = (2 * self.limit).saturating_sub(self.len()).max(want).max(1);
            // Step 5: an empty, small buffer is filled through the stack; a read that fills
            // the stack tells that more is coming, and grows the buffer for the next.
            let mut stack = [0u8; STACK_READ];
            let via_stack = self.len() == 0 && self.buf.len() <= STACK_READ && want <= STACK_READ;
            let stack_room = bound.min(STACK_READ);
            let dest = if via_stack {
                &mut stack[..stack_room]
            } else {
                self.reserve(bound.min(want.max(self.buf.len()).max(MIN_READ)));
                let room = (self.buf.len() - self.end).min(bound);
                &mut self.buf[self.end..self.end + room]
            };
            match conn.poll_read(cx, dest) {
                Poll::Ready(Ok(0)) => {
                    self.shared.eof.set(true);
                    return Poll::Ready(Ok(false));
                }
                Poll::Ready(Ok(n)) => {
                    if via_stack {
                        self.append(&stack[..n]);
                        if n == stack_room {
                            self.reserve(MIN_READ);
                        }
                    } else {
                        self.end += n;
                    }
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.store_read_error(e))),
                Poll::Pending => self.release_if_empty(),
            }
        }
        *self.shared.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// [`poll_fill`](Self::poll_fill) for [`read_to_end`](Self::read_to_end): no bound (all
    /// of it is wanted), and the read lands in the buffer's spare capacity with nothing zeroed
    /// first. Each read is offered more room than a pipe or a socket usually holds, so a short
    /// read says "drained" and no read is spent on `WouldBlock`.
    fn poll_fill_to_end(&mut self, cx: &Context<'_>) -> Poll<Result<bool>> {
        if let Some(done) = self.fill_without_reading() {
            return Poll::Ready(done);
        }
        if let Some(conn) = self.conn.clone() {
            // The zeroed room past the data goes (the capacity stays).
            self.buf.truncate(self.end);
            self.buf.reserve(READ_TO_END_ROOM);
            match conn.poll_read_appending(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => {
                    self.shared.eof.set(true);
                    return Poll::Ready(Ok(false));
                }
                Poll::Ready(Ok(_)) => {
                    self.end = self.buf.len();
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.store_read_error(e))),
                Poll::Pending => self.release_if_empty(),
            }
        }
        *self.shared.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Reads up to `n` bytes, returning as soon as at least one is there (Python:
    /// `await reader.read(n)`); empty at end-of-file, and for `n == 0`.
    ///
    /// # Errors
    /// The stored error, or the socket's.
    pub async fn read(&mut self, n: usize) -> Result<Vec<u8>> {
        std::future::poll_fn(|cx| self.poll_read_n(cx, n)).await
    }

    fn poll_read_n(&mut self, cx: &Context<'_>, n: usize) -> Poll<Result<Vec<u8>>> {
        self.begin()?;
        if n == 0 {
            return Poll::Ready(Ok(Vec::new()));
        }
        loop {
            if self.len() > 0 || self.take_fed() {
                return Poll::Ready(Ok(self.consume(n.min(self.len()))));
            }
            if self.shared.eof.get() {
                return Poll::Ready(Ok(Vec::new()));
            }
            if let Some(conn) = &self.conn {
                // Step 2: nothing buffered, read straight into the result.
                let mut out = vec![0u8; n];
                match conn.poll_read(cx, &mut out) {
                    Poll::Ready(Ok(k)) => {
                        if k == 0 {
                            self.shared.eof.set(true);
                        }
                        out.truncate(k);
                        return Poll::Ready(Ok(out));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(self.store_read_error(e))),
                    Poll::Pending => {
                        *self.shared.waiter.borrow_mut() = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            }
            if !ready!(self.poll_fill(cx, 1))? {
                return Poll::Ready(Ok(Vec::new()));
            }
        }
    }

    /// Reads until end-of-file (Python: `await reader.read()` / `read(-1)`).
    ///
    /// # Errors
    /// The stored error, or the socket's.
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>> {
        std::future::poll_fn(|cx| {
            while ready!(self.poll_fill_to_end(cx))? {}
            Poll::Ready(Ok(self.take_all()))
        })
        .await
    }

    /// Reads exactly `n` bytes (Python: `await reader.readexactly(n)`); `n == 0` gives an
    /// empty vector at once.
    ///
    /// # Errors
    /// [`Error::IncompleteRead`] with the bytes read and `expected == Some(n)` if
    /// end-of-file comes first (the buffer is emptied); the stored error, or the socket's.
    pub async fn read_exactly(&mut self, n: usize) -> Result<Vec<u8>> {
        std::future::poll_fn(|cx| {
            self.begin()?;
            loop {
                if self.len() >= n {
                    return Poll::Ready(Ok(self.consume(n)));
                }
                if !ready!(self.poll_fill(cx, n - self.len()))? {
                    let partial = self.consume(self.len());
                    return Poll::Ready(Err(Error::IncompleteRead {
                        partial,
                        expected: Some(n),
                    }));
                }
            }
        })
        .await
    }

    /// Reads up to and including `separator` (Python: `await reader.readuntil(sep)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty separator; [`Error::IncompleteRead`] with
    /// everything read and `expected == None` at end-of-file without the separator (the
    /// buffer is emptied); [`Error::LimitOverrun`] when the data before the separator is
    /// longer than the limit, or no separator is found within it: **the data stays
    /// buffered**; the stored error, or the socket's.
    pub async fn read_until(&mut self, separator: &[u8]) -> Result<Vec<u8>> {
        std::future::poll_fn(|cx| self.poll_read_until(cx, separator)).await
    }

    fn poll_read_until(&mut self, cx: &Context<'_>, sep: &[u8]) -> Poll<Result<Vec<u8>>> {
        if sep.is_empty() {
            return Poll::Ready(Err(Error::InvalidArgument(
                "Separator should be at least one-byte string".into(),
            )));
        }
        self.begin()?;
        let seplen = sep.len();
        loop {
            let buflen = self.len();
            if buflen >= seplen {
                let from = self.scan.min(buflen + 1 - seplen);
                let found = self.data()[from..]
                    .windows(seplen)
                    .position(|w| w == sep)
                    .map(|i| i + from);
                if let Some(isep) = found {
                    if isep > self.limit {
                        return Poll::Ready(Err(Error::LimitOverrun {
                            message: format!(
                                "Separator is found, but chunk is longer than limit ({} bytes)",
                                self.limit
                            ),
                            consumed: isep,
                        }));
                    }
                    return Poll::Ready(Ok(self.consume(isep + seplen)));
                }
                let offset = buflen + 1 - seplen;
                self.scan = offset;
                if offset > self.limit {
                    return Poll::Ready(Err(Error::LimitOverrun {
                        message: format!(
                            "Separator is not found, and chunk exceed the limit ({} bytes)",
                            self.limit
                        ),
                        consumed: offset,
                    }));
                }
            }
            if !ready!(self.poll_fill(cx, 1))? {
                let partial = self.consume(self.len());
                return Poll::Ready(Err(Error::IncompleteRead {
                    partial,
                    expected: None,
                }));
            }
        }
    }

    /// Reads one line, `\n` included (Python: `await reader.readline()`): the partial line
    /// at end-of-file, empty at a clean end-of-file.
    ///
    /// # Errors
    /// [`Error::LimitOverrun`] naming the limit when the line is longer (without its `\n`)
    /// than the limit: the line is dropped (the whole buffer if no `\n` was seen), so the
    /// next call reads the next line; the stored error, or the socket's.
    pub async fn read_line(&mut self) -> Result<Vec<u8>> {
        std::future::poll_fn(|cx| self.poll_read_line(cx)).await
    }

    fn poll_read_line(&mut self, cx: &Context<'_>) -> Poll<Result<Vec<u8>>> {
        match ready!(self.poll_read_until(cx, b"\n")) {
            Ok(line) => Poll::Ready(Ok(line)),
            Err(Error::IncompleteRead { partial, .. }) => Poll::Ready(Ok(partial)),
            Err(Error::LimitOverrun { message, consumed }) => {
                if self.data()[consumed..].starts_with(b"\n") {
                    self.skip(consumed + 1);
                } else {
                    self.skip(self.len());
                }
                Poll::Ready(Err(Error::LimitOverrun { message, consumed }))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// The lines until end-of-file, as a `Stream` (Python: `async for line in reader`).
    pub fn lines(self) -> Lines {
        Lines {
            reader: self,
            done: false,
        }
    }
}

/// The stream of lines of a [`StreamReader`] ([`StreamReader::lines`]): each item is
/// [`read_line`](StreamReader::read_line)'s result; it ends at end-of-file, after an error.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct Lines {
    reader: StreamReader,
    done: bool,
}

impl Lines {
    /// The reader back.
    pub fn into_inner(self) -> StreamReader {
        self.reader
    }
}

impl futures_core::Stream for Lines {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(this.reader.poll_read_line(cx)) {
            Ok(line) if line.is_empty() => {
                this.done = true;
                Poll::Ready(None)
            }
            Ok(line) => Poll::Ready(Some(Ok(line))),
            Err(e) => {
                this.done = !e.is_limit_overrun();
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if let Err(e) = this.check_exception() {
            return Poll::Ready(Err(io::Error::other(e)));
        }
        if this.len() == 0 && !this.take_fed() && !this.shared.eof.get() {
            match &this.conn {
                // Step 2: straight into the caller's buffer when it is large...
                Some(conn) if out.len() >= MIN_READ => {
                    let got = ready!(conn.poll_read(cx, out));
                    if let Ok(0) = got {
                        this.shared.eof.set(true);
                    }
                    return Poll::Ready(got);
                }
                // ...else through the buffer: a read of more than was asked for comes back
                // short, which tells that the socket is drained (no `EAGAIN` call next time).
                Some(_) => {
                    if let Err(e) = ready!(this.poll_fill(cx, 1)) {
                        return Poll::Ready(Err(io::Error::other(e)));
                    }
                }
                None => {
                    *this.shared.waiter.borrow_mut() = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
        let n = out.len().min(this.len());
        out[..n].copy_from_slice(&this.buf[this.start..this.start + n]);
        this.skip(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.len() == 0 {
            if let Err(e) = ready!(this.poll_fill(cx, 1)) {
                return Poll::Ready(Err(io::Error::other(e)));
            }
        }
        Poll::Ready(Ok(&this.buf[this.start..this.end]))
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        let n = amt.min(self.len());
        self.skip(n);
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.len())
            .field("limit", &self.limit)
            .field("eof", &self.shared.eof.get())
            .field("exception", &self.shared.exception.borrow().is_some())
            .finish()
    }
}
