//! [`Lock`]: mutual exclusion for tasks, handed off in arrival order.

use std::cell::Cell;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_list::{Slot, WaitList};

#[derive(Debug, Default)]
pub(super) struct LockInner {
    locked: Cell<bool>,
    waiters: WaitList,
}

impl LockInner {
    /// Releases: hands the lock to the first waiter if there is one, else frees it.
    fn release(&self) {
        if !self.waiters.notify_one() {
            self.locked.set(false);
        }
    }
}

/// A mutual-exclusion lock for tasks (Python: `asyncio.Lock`).
///
/// `acquire().await` gives a [`LockGuard`]; dropping the guard releases the lock (Python:
/// `async with lock`). Waiters get the lock in arrival order. A release that finds waiters
/// *hands the lock off* to the first one (it stays locked; a later `acquire` or
/// [`try_acquire`](Self::try_acquire) cannot barge in); asyncio frees it and lets newcomers
/// defer to the queued waiters, which gives the same order. A waiter cancelled after the lock
/// was handed to it releases it again, to the next waiter.
///
/// ```
/// use concurra::aio::{self, Lock};
///
/// aio::run(async {
///     let lock = Lock::new();
///     let guard = lock.acquire().await;
///     assert!(lock.locked());
///     drop(guard);
///     assert!(!lock.locked());
/// });
/// ```
#[derive(Clone, Default)]
pub struct Lock {
    pub(super) inner: Rc<LockInner>,
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Self {
        Lock::default()
    }

    /// Waits for the lock and takes it (Python: `await lock.acquire()`).
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            lock: self,
            slot: None,
        }
    }

    /// Takes the lock if it is free now; `None` if it is held (or handed to a waiter).
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        if self.inner.locked.get() {
            None
        } else {
            self.inner.locked.set(true);
            Some(LockGuard { lock: self })
        }
    }

    /// True while the lock is held (Python: `lock.locked()`).
    pub fn locked(&self) -> bool {
        self.inner.locked.get()
    }

    /// How many tasks wait for the lock.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future [`Lock::acquire`] returns.
#[derive(Debug)]
pub struct Acquire<'a> {
    lock: &'a Lock,
    slot: Option<Rc<Slot>>,
}

impl<'a> StdFuture for Acquire<'a> {
    type Output = LockGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        let this = &mut *self;
        let inner = &this.lock.inner;
        if this.slot.is_none() && !inner.locked.get() {
            // Free implies no waiters: a release with waiters hands the lock off.
            inner.locked.set(true);
            return Poll::Ready(LockGuard { lock: this.lock });
        }
        if inner.waiters.poll(&mut this.slot, cx) {
            // Handed off: the lock is ours (it stayed locked).
            return Poll::Ready(LockGuard { lock: this.lock });
        }
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        // Step 4.2: a lock handed to us is passed on.
        let inner = &self.lock.inner;
        inner.waiters.abandon(self.slot.take(), || inner.release());
    }
}

/// Holds a [`Lock`]; dropping it releases the lock (to the first waiter, if any).
pub struct LockGuard<'a> {
    pub(super) lock: &'a Lock,
}

impl LockGuard<'_> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.inner.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", self.lock)
            .finish()
    }
}
