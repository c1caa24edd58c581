//! [`Semaphore`] and [`BoundedSemaphore`]: permits handed off in arrival order.

use std::cell::Cell;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_list::{Slot, WaitList};
use crate::error::{Error, Result};

#[derive(Debug)]
struct SemInner {
    value: Cell<usize>,
    /// `Some(initial)` for a bounded semaphore.
    bound: Option<usize>,
    waiters: WaitList,
}

impl SemInner {
    /// Gives a permit back: to the first waiter (hand-off), else to the counter. A bounded
    /// semaphore refuses to go over its bound.
    fn release(&self) -> Result<()> {
        if let Some(bound) = self.bound {
            if self.waiters.is_empty() && self.value.get() >= bound {
                return Err(Error::InvalidState(
                    "BoundedSemaphore released too many times".into(),
                ));
            }
        }
        if !self.waiters.notify_one() {
            self.value.set(self.value.get() + 1);
        }
        Ok(())
    }
}

/// A counter of permits for tasks (Python: `asyncio.Semaphore`).
///
/// [`acquire`](Self::acquire) waits for a permit and returns a [`SemaphorePermit`] that gives
/// it back when dropped; [`release`](Self::release) adds a permit by hand. Waiters are served
/// in arrival order, a released permit handed straight to the first waiter; a waiter
/// cancelled after it was handed a permit releases it again, so a cancelled acquirer never
/// uses up a permit (test_acquire_hang). A negative initial value, Python's `ValueError`,
/// cannot be expressed (`usize`).
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<SemInner>,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Self {
        Semaphore::with_bound(value, None)
    }

    fn with_bound(value: usize, bound: Option<usize>) -> Self {
        Semaphore {
            inner: Rc::new(SemInner {
                value: Cell::new(value),
                bound,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Waits for a permit (Python: `await sem.acquire()`).
    pub fn acquire(&self) -> SemAcquire<'_> {
        SemAcquire {
            inner: &self.inner,
            slot: None,
        }
    }

    /// Takes a permit if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        try_take(&self.inner)
    }

    /// Adds a permit (Python: `sem.release()`), handing it to the first waiter if any.
    pub fn release(&self) {
        // Unbounded: never refused.
        let _ = self.inner.release();
    }

    /// True if an `acquire` now would wait (Python: `sem.locked()`).
    pub fn locked(&self) -> bool {
        self.inner.value.get() == 0 || !self.inner.waiters.is_empty()
    }

    /// The free permits.
    pub fn value(&self) -> usize {
        self.inner.value.get()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .field("bound", &self.inner.bound)
            .field("waiters", &self.inner.waiters.len())
            .finish()
    }
}

/// A [`Semaphore`] whose [`release`](Self::release) refuses to exceed the initial value
/// (Python: `asyncio.BoundedSemaphore`). Everything but `release` is the semaphore's.
#[derive(Clone)]
pub struct BoundedSemaphore {
    sem: Semaphore,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, which is also its bound.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            sem: Semaphore::with_bound(value, Some(value)),
        }
    }

    /// Waits for a permit.
    pub fn acquire(&self) -> SemAcquire<'_> {
        self.sem.acquire()
    }

    /// Takes a permit if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// Adds a permit back by hand.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if that would exceed the bound (Python: `ValueError:
    /// BoundedSemaphore released too many times`); nothing changes.
    pub fn release(&self) -> Result<()> {
        self.sem.inner.release()
    }

    /// True if an `acquire` now would wait.
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// The free permits.
    pub fn value(&self) -> usize {
        self.sem.value()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoundedSemaphore").field(&self.sem).finish()
    }
}

fn try_take(inner: &Rc<SemInner>) -> Option<SemaphorePermit<'_>> {
    if inner.waiters.is_empty() && inner.value.get() > 0 {
        inner.value.set(inner.value.get() - 1);
        Some(SemaphorePermit { inner: Some(inner) })
    } else {
        None
    }
}

/// The future [`Semaphore::acquire`] returns.
#[derive(Debug)]
pub struct SemAcquire<'a> {
    inner: &'a Rc<SemInner>,
    slot: Option<Rc<Slot>>,
}

impl<'a> StdFuture for SemAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = &mut *self;
        if this.slot.is_none() {
            if let Some(permit) = try_take(this.inner) {
                return Poll::Ready(permit);
            }
        }
        if this.inner.waiters.poll(&mut this.slot, cx) {
            return Poll::Ready(SemaphorePermit {
                inner: Some(this.inner),
            });
        }
        Poll::Pending
    }
}

impl Drop for SemAcquire<'_> {
    fn drop(&mut self) {
        // Step 4.2: a permit handed to us is passed on.
        let inner = self.inner;
        inner.waiters.abandon(self.slot.take(), || {
            let _ = inner.release();
        });
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it releases the permit.
pub struct SemaphorePermit<'a> {
    inner: Option<&'a Rc<SemInner>>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (Python: `acquire()` without a matching `release()`).
    pub fn forget(mut self) {
        self.inner = None;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Refused only if a bounded semaphore was over-released by hand meanwhile: the
            // counter stays at its bound.
            let _ = inner.release();
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("held", &self.inner.is_some())
            .finish()
    }
}
