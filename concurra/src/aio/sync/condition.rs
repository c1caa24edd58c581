//! [`Condition`]: a condition variable over its own [`Lock`].

use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::lock::{Acquire, Lock, LockGuard};
use super::wait_list::{Slot, WaitList};
use crate::error::{Error, Result};

/// A condition variable for tasks (Python: `asyncio.Condition`), over its own [`Lock`].
///
/// [`wait`](Self::wait) takes the lock's guard, so calling it without holding the lock cannot
/// compile; a guard of another lock is [`Error::InvalidState`] (Python: `RuntimeError('cannot
/// wait on un-acquired lock')`). `notify` and `notify_all` take a reference to the guard for
/// the same reason.
///
/// `wait` releases the lock, waits for a notification, then re-acquires the lock (queueing
/// behind the lock's other waiters) and returns the new guard. Dropping the wait (its task is
/// cancelled) while it waits for a notification leaves the lock released — Rust cannot
/// re-acquire in a destructor, where asyncio re-acquires before re-raising
/// (test_wait_cancel_after_notify) — and a notification it had received but not consumed
/// goes to the next waiter.
#[derive(Clone, Default)]
pub struct Condition {
    lock: Lock,
    waiters: Rc<WaitList>,
}

impl Condition {
    /// A condition with a new lock.
    pub fn new() -> Self {
        Condition::default()
    }

    /// The condition's lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Takes the condition's lock (Python: `async with cond`).
    pub fn acquire(&self) -> Acquire<'_> {
        self.lock.acquire()
    }

    fn check<'a>(&'a self, guard: &LockGuard<'a>) -> Result<()> {
        if Rc::ptr_eq(&guard.lock.inner, &self.lock.inner) {
            Ok(())
        } else {
            Err(Error::InvalidState(
                "the guard does not hold this condition's lock".into(),
            ))
        }
    }

    /// Releases the lock, waits for a notification, re-acquires the lock (Python:
    /// `await cond.wait()`).
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `guard` holds another lock (it is dropped, releasing that
    /// lock).
    pub async fn wait<'a>(&'a self, guard: LockGuard<'a>) -> Result<LockGuard<'a>> {
        self.check(&guard)?;
        drop(guard);
        CondWait {
            waiters: &self.waiters,
            slot: None,
        }
        .await;
        Ok(self.lock.acquire().await)
    }

    /// Waits until `predicate` is true, re-checking after each notification (Python:
    /// `await cond.wait_for(predicate)`).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<LockGuard<'a>> {
        self.check(&guard)?;
        while !predicate() {
            guard = self.wait(guard).await?;
        }
        Ok(guard)
    }

    /// Wakes up to `n` waiters, first come first served (Python: `cond.notify(n)`); returns
    /// how many were woken.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `guard` holds another lock.
    pub fn notify(&self, guard: &LockGuard<'_>, n: usize) -> Result<usize> {
        if !Rc::ptr_eq(&guard.lock.inner, &self.lock.inner) {
            return Err(Error::InvalidState(
                "cannot notify on un-acquired lock".into(),
            ));
        }
        let mut woken = 0;
        while woken < n && self.waiters.notify_one() {
            woken += 1;
        }
        Ok(woken)
    }

    /// Wakes every waiter (Python: `cond.notify_all()`).
    ///
    /// # Errors
    /// As [`notify`](Self::notify).
    pub fn notify_all(&self, guard: &LockGuard<'_>) -> Result<usize> {
        self.notify(guard, usize::MAX)
    }

    /// How many tasks wait for a notification.
    pub fn waiters(&self) -> usize {
        self.waiters.len()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Waiting for a condition's notification.
struct CondWait<'a> {
    waiters: &'a WaitList,
    slot: Option<Rc<Slot>>,
}

impl StdFuture for CondWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.waiters.poll(&mut this.slot, cx) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for CondWait<'_> {
    fn drop(&mut self) {
        // Step 4.2: a notification we did not consume goes to the next waiter.
        let waiters = self.waiters;
        waiters.abandon(self.slot.take(), || {
            waiters.notify_one();
        });
    }
}
