//! [`Barrier`]: a rendezvous of a fixed number of tasks.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_list::{Slot, WaitList};
use crate::error::{Error, Result};

#[derive(Debug)]
struct BarrierInner {
    parties: usize,
    /// Tasks waiting in the current round.
    count: Cell<usize>,
    broken: Cell<bool>,
    /// The current round's number; a round ends by filling or by `abort`.
    round: Cell<u64>,
    /// The rounds that ended by `abort` (their waiters fail).
    aborted: RefCell<Vec<u64>>,
    waiters: WaitList,
}

/// A rendezvous of `parties` tasks (Python 3.11: `asyncio.Barrier`).
///
/// Each [`wait`](Self::wait) blocks until `parties` tasks wait, then all return together, each
/// with its arrival index in the round (`0` first, `parties - 1` last) and the barrier is ready
/// for the next round. A waiter cancelled before the round fills leaves it (the count drops
/// back). [`abort`](Self::abort) breaks the barrier: current and later waits fail with
/// [`Error::BrokenBarrier`] (Python: `BrokenBarrierError`) until [`reset`](Self::reset).
#[derive(Clone)]
pub struct Barrier {
    inner: Rc<BarrierInner>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    /// If `parties` is 0 (Python: `ValueError`).
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "a barrier needs at least one party");
        Barrier {
            inner: Rc::new(BarrierInner {
                parties,
                count: Cell::new(0),
                broken: Cell::new(false),
                round: Cell::new(0),
                aborted: RefCell::new(Vec::new()),
                waiters: WaitList::default(),
            }),
        }
    }

    /// Waits for the round to fill (Python: `await barrier.wait()`); returns this task's
    /// arrival index.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] if the barrier is or becomes broken.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            inner: &self.inner,
            slot: None,
            index: 0,
            round: 0,
        }
    }

    /// Breaks the barrier: every waiter fails (Python: `await barrier.abort()`).
    pub fn abort(&self) {
        let inner = &self.inner;
        inner.broken.set(true);
        if inner.count.get() > 0 {
            inner.aborted.borrow_mut().push(inner.round.get());
        }
        inner.round.set(inner.round.get() + 1);
        inner.count.set(0);
        inner.waiters.notify_all();
    }

    /// Breaks the current round (its waiters fail) and makes the barrier usable again (Python:
    /// `await barrier.reset()`).
    pub fn reset(&self) {
        self.abort();
        self.inner.broken.set(false);
    }

    /// True once [`abort`](Self::abort)ed and not reset.
    pub fn broken(&self) -> bool {
        self.inner.broken.get()
    }

    /// The number of tasks a round needs.
    pub fn parties(&self) -> usize {
        self.inner.parties
    }

    /// How many tasks wait in the current round.
    pub fn n_waiting(&self) -> usize {
        self.inner.count.get()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.inner.parties)
            .field("waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

/// The future [`Barrier::wait`] returns.
#[derive(Debug)]
pub struct BarrierWait<'a> {
    inner: &'a BarrierInner,
    slot: Option<Rc<Slot>>,
    index: usize,
    round: u64,
}

fn broken() -> Error {
    Error::BrokenBarrier
}

impl StdFuture for BarrierWait<'_> {
    type Output = Result<usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<usize>> {
        let this = &mut *self;
        let inner = this.inner;
        if this.slot.is_none() {
            if inner.broken.get() {
                return Poll::Ready(Err(broken()));
            }
            let index = inner.count.get();
            if index + 1 == inner.parties {
                // The last arrival releases the round.
                inner.count.set(0);
                inner.round.set(inner.round.get() + 1);
                inner.waiters.notify_all();
                return Poll::Ready(Ok(index));
            }
            inner.count.set(index + 1);
            this.index = index;
            this.round = inner.round.get();
            this.slot = Some(inner.waiters.push(cx.waker()));
            return Poll::Pending;
        }
        if inner.waiters.poll(&mut this.slot, cx) {
            // Woken by `abort`/`reset` rather than by a full round: the round was broken.
            if inner.aborted.borrow().contains(&this.round) {
                return Poll::Ready(Err(broken()));
            }
            return Poll::Ready(Ok(this.index));
        }
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let was_waiting = self.slot.as_ref().is_some_and(|s| s.is_waiting());
        // Nothing to pass on: a full round or an abort woke every waiter.
        self.inner.waiters.abandon(self.slot.take(), || {});
        if was_waiting && self.inner.round.get() == self.round {
            // Leaves an unfilled round.
            self.inner
                .count
                .set(self.inner.count.get().saturating_sub(1));
        }
    }
}
