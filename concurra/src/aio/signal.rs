//! Signals on the event loop: asyncio's `loop.add_signal_handler` / `remove_signal_handler`,
//! and an async stream of deliveries.
//!
//! Each handler (and each [`SignalStream`]) holds a subscription of the process-wide signal
//! registry (`sys/signal.rs`) whose descriptor is registered with the loop's reactor like a
//! socket: no thread, and a loop blocked in its poll wakes at once when the signal arrives.
//! The registry's handler only records the signal and writes a byte; the callback runs later
//! as an ordinary loop callback (`call_soon`), never in signal context.
//!
//! # Rules
//!
//! - One handler per signal per loop: a second [`add_signal_handler`] replaces the callback.
//! - [`remove_signal_handler`] (and closing the loop, which removes every handler of that
//!   loop) drops the subscription: once no subscriber of the signal is left in the process,
//!   the disposition found before the first one is restored (the default, "ignore", or
//!   another library's handler). tokio never restores it (tokio#7905).
//! - Signals coalesce: deliveries of one signal that arrive before the loop reads them run the
//!   callback once (Python coalesces the same way, one byte per delivery in a pipe that may
//!   fill). Count work to do, not signals received.
//! - Refused, with [`Error::InvalidArgument`]: `SIGKILL`, `SIGSTOP` (cannot be caught),
//!   `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE` (faults). A number that is not a signal cannot
//!   be made into a [`Signal`] at all ([`Signal::new`] fails). Unlike Python, any thread's
//!   loop may add handlers (nothing here needs the main thread).
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use concurra::aio;
//! use concurra::signal::{self, Signal};
//!
//! aio::run(async {
//!     let got = Rc::new(aio::Event::new());
//!     let set = got.clone();
//!     aio::add_signal_handler(Signal::SIGUSR1, move || set.set()).unwrap();
//!     signal::raise(Signal::SIGUSR1).unwrap();
//!     got.wait().await;
//!     assert!(aio::remove_signal_handler(Signal::SIGUSR1));
//! });
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::engine::{LoopId, Registered};
use crate::error::{Error, Result};
use crate::signal::Signal;
use crate::sys::signal as registry;

thread_local! {
    /// Handlers and streams of `SIGINT` the program made on this thread's loop: while there
    /// is one, Ctrl-C is theirs and `aio::run` does not cancel main (as a handler installed
    /// with `loop.add_signal_handler(SIGINT, ..)` replaces asyncio.run's).
    static SIGINT_CLAIMS: Cell<usize> = const { Cell::new(0) };
}

/// True while the program handles `SIGINT` itself on this thread's loop.
pub(super) fn sigint_claimed() -> bool {
    SIGINT_CLAIMS.with(Cell::get) > 0
}

/// A claim on `SIGINT` by the program (counted while it lives).
struct Claim;

impl Claim {
    fn of(signal: Signal) -> Option<Claim> {
        (signal == Signal::SIGINT).then(|| {
            SIGINT_CLAIMS.with(|c| c.set(c.get() + 1));
            Claim
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = SIGINT_CLAIMS.try_with(|c| c.set(c.get() - 1));
    }
}

/// A registry subscription as a mio source.
struct SubSource(registry::Subscription);

impl Source for SubSource {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.fd().as_raw_fd()).register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.fd().as_raw_fd()).reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        SourceFd(&self.0.fd().as_raw_fd()).deregister(r)
    }
}

/// A subscription to `signal` registered with the running loop.
fn subscribe(signal: Signal, what: &str) -> Result<Registered<SubSource>> {
    let number = signal.watchable()?;
    if super::engine::try_now().is_none() {
        return Err(Error::InvalidState(format!(
            "{what} needs a running event loop (call it inside aio::run)"
        )));
    }
    let sub =
        registry::subscribe(&[number]).map_err(|e| Error::io("subscribing to a signal", e))?;
    Registered::new(SubSource(sub))
}

/// Polls `sub` for a delivery: `Ready` once at least one arrived since the last one taken.
fn poll_delivery(sub: &Registered<SubSource>, cx: &Context<'_>) -> Poll<()> {
    loop {
        if sub.poll_read_ready(cx).is_pending() {
            return Poll::Pending;
        }
        // Clear before reading: a signal landing after the read writes a new byte, which is
        // a new edge for the reactor.
        sub.clear_read_ready();
        if sub.get_ref().0.take() != 0 {
            return Poll::Ready(());
        }
    }
}

/// One signal's handler on one loop. The dispatch task owns it; the loop's table holds a
/// weak reference, so the loop's shutdown (which drops the task) removes the handler.
struct Entry {
    signal: Signal,
    /// `None` once removed.
    sub: RefCell<Option<Registered<SubSource>>>,
    callback: RefCell<Rc<dyn Fn()>>,
    /// The dispatch task's waker, to end it when the handler is removed.
    waker: RefCell<Option<Waker>>,
    claim: RefCell<Option<Claim>>,
}

impl Entry {
    fn remove(&self) -> bool {
        let sub = self.sub.borrow_mut().take();
        let removed = sub.is_some();
        drop(sub);
        let claim = self.claim.borrow_mut().take();
        drop(claim);
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
        removed
    }
}

/// The handlers of the loop running on this thread.
struct Table {
    owner: LoopId,
    entries: Vec<Weak<Entry>>,
}

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// The live entries of the running loop (a table left by an earlier loop is forgotten).
fn with_table<R>(f: impl FnOnce(&mut Vec<Weak<Entry>>) -> R) -> R {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let stale = t.as_ref().is_some_and(|t| !t.owner.is_running());
        if stale || t.is_none() {
            *t = Some(Table {
                owner: LoopId::current("aio::add_signal_handler"),
                entries: Vec::new(),
            });
        }
        let table = t.as_mut().expect("just set");
        table
            .entries
            .retain(|e| e.upgrade().is_some_and(|e| e.sub.borrow().is_some()));
        f(&mut table.entries)
    })
}

fn find(entries: &[Weak<Entry>], signal: Signal) -> Option<Rc<Entry>> {
    entries
        .iter()
        .filter_map(Weak::upgrade)
        .find(|e| e.signal == signal)
}

/// Runs `callback` on the running loop, as an ordinary loop callback, each time `signal` is
/// delivered (Python: `loop.add_signal_handler(sig, callback, *args)`; arguments are what the
/// closure captures). A second call for the same signal on the same loop replaces the
/// callback. Deliveries coalesce (module docs). The handler lives until
/// [`remove_signal_handler`] or the end of the loop.
///
/// A callback that panics is reported as
/// [`ReportKind::CallbackPanicked`](crate::aio::ReportKind::CallbackPanicked); the handler
/// stays.
///
/// # Errors
/// [`Error::InvalidArgument`] for a signal concurra does not take (module docs);
/// [`Error::InvalidState`] outside a running loop; [`Error::Io`] if the registry is out of room
/// or descriptors.
pub fn add_signal_handler(signal: Signal, callback: impl Fn() + 'static) -> Result<()> {
    let callback: Rc<dyn Fn()> = Rc::new(callback);
    if super::engine::try_now().is_none() {
        signal.watchable()?;
        return Err(Error::InvalidState(
            "aio::add_signal_handler needs a running event loop (call it inside aio::run)".into(),
        ));
    }
    if let Some(entry) = with_table(|t| find(t, signal)) {
        *entry.callback.borrow_mut() = callback;
        return Ok(());
    }
    let sub = subscribe(signal, "aio::add_signal_handler")?;
    let entry = Rc::new(Entry {
        signal,
        sub: RefCell::new(Some(sub)),
        callback: RefCell::new(callback),
        waker: RefCell::new(None),
        claim: RefCell::new(Claim::of(signal)),
    });
    with_table(|t| t.push(Rc::downgrade(&entry)));
    let task = super::create_task(dispatch(entry));
    drop(task);
    Ok(())
}

/// The task behind a handler: waits for deliveries and schedules the callback for each.
async fn dispatch(entry: Rc<Entry>) {
    loop {
        let delivered = std::future::poll_fn(|cx| {
            let sub = entry.sub.borrow();
            let Some(sub) = sub.as_ref() else {
                return Poll::Ready(false);
            };
            *entry.waker.borrow_mut() = Some(cx.waker().clone());
            poll_delivery(sub, cx).map(|()| true)
        })
        .await;
        if !delivered {
            return;
        }
        let callback = entry.callback.borrow().clone();
        let _handle = super::call_soon(move || callback());
    }
}

/// Removes the running loop's handler of `signal` (Python: `loop.remove_signal_handler`):
/// true if there was one. Once the last subscriber of the signal in the process is gone, the
/// disposition found before the first one is back (module docs). False outside a loop.
pub fn remove_signal_handler(signal: Signal) -> bool {
    if super::engine::try_now().is_none() {
        return false;
    }
    match with_table(|t| find(t, signal)) {
        Some(entry) => entry.remove(),
        None => false,
    }
}

/// The deliveries of one signal on the running loop, as an async stream (tokio's
/// `signal::unix::Signal`): `while let Some(()) = sigterm.next().await { ... }`. It never
/// ends; deliveries that arrive before it is polled coalesce into one. While it lives the
/// signal is caught (its default action does not happen); dropping it (the last subscriber)
/// restores the disposition.
///
/// ```
/// use concurra::aio;
/// use concurra::signal::{self, Signal};
///
/// aio::run(async {
///     let mut usr2 = aio::signal(Signal::SIGUSR2).unwrap();
///     signal::raise(Signal::SIGUSR2).unwrap();
///     assert_eq!(usr2.next().await, Some(()));
/// });
/// ```
pub struct SignalStream {
    signal: Signal,
    sub: Registered<SubSource>,
    _claim: Option<Claim>,
}

/// Watches `signal` on the running loop (see [`SignalStream`]).
///
/// # Errors
/// As [`add_signal_handler`].
pub fn signal(signal: Signal) -> Result<SignalStream> {
    Ok(SignalStream {
        signal,
        sub: subscribe(signal, "aio::signal")?,
        _claim: Claim::of(signal),
    })
}

/// `aio::run`'s own watch of `SIGINT` (not a claim by the program).
pub(super) fn runner_sigint() -> Result<SignalStream> {
    Ok(SignalStream {
        signal: Signal::SIGINT,
        sub: subscribe(Signal::SIGINT, "aio::run")?,
        _claim: None,
    })
}

impl SignalStream {
    /// The signal watched.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Waits for the next delivery; always `Some(())` (the `Option` is the stream shape).
    pub async fn next(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// True (once) if a delivery arrived since the last one returned, without waiting.
    pub fn try_recv(&self) -> bool {
        self.sub.get_ref().0.take() != 0
    }

    /// True once a delivery arrived (registers `cx` for the next one otherwise).
    pub(super) fn poll_delivered(&self, cx: &Context<'_>) -> bool {
        poll_delivery(&self.sub, cx).is_ready()
    }

    fn poll_recv(&self, cx: &Context<'_>) -> Poll<Option<()>> {
        poll_delivery(&self.sub, cx).map(Some)
    }
}

impl futures_core::Stream for SignalStream {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.poll_recv(cx)
    }
}

impl fmt::Debug for SignalStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalStream")
            .field("signal", &self.signal)
            .finish()
    }
}
