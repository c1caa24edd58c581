//! The reactor: the event loop's only door to the operating system, and the only user of `mio`.
//!
//! It blocks the loop thread until the next timer deadline or I/O event when nothing is ready
//! ([`Reactor::turn`]), records I/O readiness for the registered descriptors ([`IoSet`]), and
//! lets other threads interrupt the block through a [`Notifier`] (a `mio::Waker`: an
//! `eventfd` on Linux, a pipe or kqueue user event elsewhere).
//!
//! # Tokens
//!
//! 1. [`NOTIFY`] (token 0) is the cross-thread notifier; its event only says "look at the
//!    inject queue", which the loop drains after every turn.
//! 2. Every other token names an I/O registration: a [`ScheduledIo`] in the reactor's
//!    [`IoSet`], a slab keyed by the token (slot index + 1 in the low 32 bits, the slot's
//!    generation above: a late event for a closed descriptor whose slot was reused finds a
//!    stale key and is dropped).
//!
//! # Readiness (edge-triggered, as tokio's `ScheduledIo`)
//!
//! 1. A source is registered once, for reading and writing, edge-triggered; its interest is
//!    never changed afterwards (no `epoll_ctl` per operation).
//! 2. A turn ORs each event's readiness into its entry's bits ([`READABLE`], [`WRITABLE`],
//!    [`READ_CLOSED`], [`WRITE_CLOSED`], [`ERROR`]) and moves the entry's reader wakers (for
//!    read-side bits) and writer wakers (for write-side bits) into a wake list, which the loop
//!    wakes after the reactor is released (never under a borrow).
//! 3. An operation tries its system call while its direction's bits say ready; on
//!    `WouldBlock` it clears [`READABLE`] (or [`WRITABLE`]) and waits for the next edge. The
//!    loop is single-threaded, so no event can arrive between the failed call and the clear:
//!    no tick is needed to avoid losing an edge. The closed and error bits are never cleared:
//!    every later call goes to the kernel, which reports end-of-file or the error.
//! 4. A new entry starts readable and writable (the first call is tried at once: an accepted
//!    socket often holds data already); a connect clears [`WRITABLE`] first (see
//!    `Registered::clear_write_ready`), because there writability means "connected".
//!
//! # Invariant
//!
//! A [`Reactor`] is owned by one loop and used only on that loop's thread; its [`Notifier`] is
//! `Send + Sync` and may be used from any thread, also after the loop has ended (the event is
//! then simply never read).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::Waker as TaskWaker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::slab::{Key, Slab};

/// The token of the cross-thread notifier.
const NOTIFY: Token = Token(0);

/// How many events one turn reads at most (more wait for the next turn).
const EVENTS_PER_TURN: usize = 256;

/// The loop thread's side: the OS poller and its event buffer.
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    io: Rc<IoSet>,
}

/// Readiness bits of a [`ScheduledIo`].
pub(crate) const READABLE: u8 = 1;
/// See [`READABLE`].
pub(crate) const WRITABLE: u8 = 1 << 1;
/// The peer closed its write side (or both): reads see end-of-file.
pub(crate) const READ_CLOSED: u8 = 1 << 2;
/// Our write side is closed (the peer reset, or hung up).
pub(crate) const WRITE_CLOSED: u8 = 1 << 3;
/// An error is pending on the descriptor.
pub(crate) const ERROR: u8 = 1 << 4;
/// The bits that let a read go to the kernel.
const READ_SIDE: u8 = READABLE | READ_CLOSED | ERROR;
/// The bits that let a write go to the kernel.
const WRITE_SIDE: u8 = WRITABLE | WRITE_CLOSED | ERROR;

/// One registered descriptor's state: its readiness bits and the wakers of the tasks waiting
/// to read and to write (more than one each only when tasks share a socket).
#[derive(Debug, Default)]
pub(crate) struct ScheduledIo {
    readiness: Cell<u8>,
    readers: RefCell<Waiters>,
    writers: RefCell<Waiters>,
}

/// The tasks waiting on one direction of a descriptor. Almost always one (a stream's reader,
/// its writer), so the first is kept inline: an idle connection's wait costs no allocation.
#[derive(Debug, Default)]
struct Waiters {
    first: Option<TaskWaker>,
    rest: Vec<TaskWaker>,
}

impl Waiters {
    /// Adds `waker` unless a waker of the same task is there.
    fn add(&mut self, waker: &TaskWaker) {
        let known = |w: &TaskWaker| w.will_wake(waker);
        if self.first.as_ref().is_some_and(known) || self.rest.iter().any(known) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(waker.clone());
        } else {
            self.rest.push(waker.clone());
        }
    }

    /// Moves every waker to `wakes`.
    fn take_into(&mut self, wakes: &mut Vec<TaskWaker>) {
        wakes.extend(self.first.take());
        wakes.append(&mut self.rest);
    }
}

impl ScheduledIo {
    /// The current readiness bits.
    pub(crate) fn readiness(&self) -> u8 {
        self.readiness.get()
    }

    /// True if a read may go to the kernel now; else registers `waker` for the next edge.
    pub(crate) fn poll_read(&self, waker: &TaskWaker) -> bool {
        self.poll_dir(READ_SIDE, &self.readers, waker)
    }

    /// True if a write may go to the kernel now; else registers `waker` for the next edge.
    pub(crate) fn poll_write(&self, waker: &TaskWaker) -> bool {
        self.poll_dir(WRITE_SIDE, &self.writers, waker)
    }

    fn poll_dir(&self, side: u8, list: &RefCell<Waiters>, waker: &TaskWaker) -> bool {
        if self.readiness.get() & side != 0 {
            return true;
        }
        list.borrow_mut().add(waker);
        false
    }

    /// Step 3: clears `bits` after a call returned `WouldBlock`.
    pub(crate) fn clear(&self, bits: u8) {
        self.readiness.set(self.readiness.get() & !bits);
    }

    /// Step 2: records an event's bits and moves the matching wakers to `wakes`.
    fn set(&self, bits: u8, wakes: &mut Vec<TaskWaker>) {
        self.readiness.set(self.readiness.get() | bits);
        if bits & READ_SIDE != 0 {
            self.readers.borrow_mut().take_into(wakes);
        }
        if bits & WRITE_SIDE != 0 {
            self.writers.borrow_mut().take_into(wakes);
        }
    }
}

/// The I/O registrations of one loop: the mio registry and the [`ScheduledIo`] slab. Shared
/// (`Rc`) by the reactor and every [`Registration`], so that a registration dropped after its
/// loop ended still finds it.
pub(crate) struct IoSet {
    registry: Registry,
    entries: RefCell<Slab<Rc<ScheduledIo>>>,
}

impl IoSet {
    /// Registers `source` for reading and writing (edge-triggered, step 1).
    pub(crate) fn register(self: &Rc<Self>, source: &mut impl Source) -> io::Result<Registration> {
        let sched = Rc::new(ScheduledIo::default());
        sched.readiness.set(READABLE | WRITABLE);
        let key = self.entries.borrow_mut().insert(sched.clone());
        let token = token_of(key);
        if let Err(e) =
            self.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            let gone = self.entries.borrow_mut().remove(key);
            drop(gone);
            return Err(e);
        }
        Ok(Registration {
            io: self.clone(),
            key,
            sched,
        })
    }

    /// How many descriptors are registered.
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

fn token_of(key: Key) -> Token {
    Token((usize::from(key.generation()) << 32) | (key.index() + 1))
}

fn key_of(token: Token) -> Key {
    let low = (token.0 & 0xffff_ffff) as u32;
    Key::from_parts(low - 1, (token.0 >> 32) as u16)
}

/// A descriptor's place in its loop's [`IoSet`]; leaves it when dropped. The owner
/// deregisters the source from mio first ([`Registration::deregister`]).
pub(crate) struct Registration {
    io: Rc<IoSet>,
    key: Key,
    sched: Rc<ScheduledIo>,
}

impl Registration {
    /// The readiness state.
    pub(crate) fn sched(&self) -> &ScheduledIo {
        &self.sched
    }

    /// Removes `source` from the poller (closing it would too, unless it was duplicated).
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        // A failure means the poller is gone with its loop: nothing is left to remove.
        let _ = self.io.registry.deregister(source);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let gone = self.io.entries.borrow_mut().remove(self.key);
        drop(gone);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("readiness", &self.sched.readiness())
            .finish()
    }
}

impl fmt::Debug for IoSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSet").field("len", &self.len()).finish()
    }
}

/// What one turn of the reactor saw.
#[derive(Debug, Default, Clone, Copy)]
#[must_use]
pub(crate) struct Turn {
    /// Another thread notified the loop: drain the inject queue.
    pub(crate) notified: bool,
}

/// The cross-thread side: wakes a loop blocked in [`Reactor::turn`].
pub(crate) struct Notifier {
    waker: Waker,
}

impl Reactor {
    /// A new poller and the notifier that interrupts it.
    pub(crate) fn new() -> io::Result<(Reactor, Notifier)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), NOTIFY)?;
        let io = Rc::new(IoSet {
            registry: poll.registry().try_clone()?,
            entries: RefCell::new(Slab::default()),
        });
        Ok((
            Reactor {
                poll,
                events: Events::with_capacity(EVENTS_PER_TURN),
                io,
            },
            Notifier { waker },
        ))
    }

    /// The loop's I/O registrations.
    pub(crate) fn io(&self) -> &Rc<IoSet> {
        &self.io
    }

    /// Blocks until an event arrives or `timeout` passes (`None`: no limit; `Some(ZERO)`:
    /// check and return at once). A signal interrupting the wait counts as an empty turn.
    /// The wakers of the I/O waiters that became ready are appended to `wakes`: the caller
    /// wakes them once the reactor is released.
    pub(crate) fn turn(
        &mut self,
        timeout: Option<Duration>,
        wakes: &mut Vec<TaskWaker>,
    ) -> io::Result<Turn> {
        let mut turn = Turn::default();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(turn),
            Err(e) => return Err(e),
        }
        let entries = self.io.entries.borrow();
        for event in self.events.iter() {
            if event.token() == NOTIFY {
                turn.notified = true;
                continue;
            }
            let mut bits = 0;
            if event.is_readable() {
                bits |= READABLE;
            }
            if event.is_writable() {
                bits |= WRITABLE;
            }
            if event.is_read_closed() {
                bits |= READ_CLOSED;
            }
            if event.is_write_closed() {
                bits |= WRITE_CLOSED;
            }
            if event.is_error() {
                bits |= ERROR;
            }
            // A stale key (the descriptor was closed, its slot reused) finds nothing.
            if let Some(sched) = entries.get(key_of(event.token())) {
                sched.set(bits, wakes);
            }
        }
        Ok(turn)
    }
}

impl Notifier {
    /// Wakes the loop's reactor. A failure (the poller is gone) is reported on stderr: the loop
    /// that would have read the event has ended.
    pub(crate) fn notify(&self) {
        if let Err(e) = self.waker.wake() {
            crate::unwind::print_report(&format_args!("cannot wake the event loop: {e}"));
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("events_capacity", &self.events.capacity())
            .finish()
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notifier")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Counter(std::sync::atomic::AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The first waiter is kept inline, the others after it; a task is listed once; taking
    /// moves every waker out, in order.
    #[test]
    fn waiters_keep_each_task_once() {
        let tasks: Vec<Arc<Counter>> = (0..3)
            .map(|_| Arc::new(Counter(std::sync::atomic::AtomicUsize::new(0))))
            .collect();
        let wakers: Vec<TaskWaker> = tasks.iter().map(|t| TaskWaker::from(t.clone())).collect();
        let mut list = Waiters::default();
        list.add(&wakers[0]);
        assert!(list.rest.is_empty(), "one waiter needs no allocation");
        list.add(&wakers[0]);
        list.add(&wakers[1]);
        list.add(&wakers[2]);
        list.add(&wakers[1]);
        let mut wakes = Vec::new();
        list.take_into(&mut wakes);
        assert_eq!(wakes.len(), 3);
        assert!(list.first.is_none() && list.rest.is_empty());
        for (w, expected) in wakes.iter().zip(&wakers) {
            assert!(w.will_wake(expected));
        }
        for w in wakes {
            w.wake();
        }
        for t in &tasks {
            assert_eq!(t.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        }
    }
}
