//! [`Event`]: a flag tasks wait on.

use std::cell::Cell;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_list::{Slot, WaitList};

#[derive(Debug, Default)]
struct EventInner {
    set: Cell<bool>,
    waiters: WaitList,
}

/// A flag tasks wait on (Python: `asyncio.Event`).
///
/// [`set`](Self::set) wakes every task waiting now; they return even if
/// [`clear`](Self::clear) runs before they are polled.
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Self {
        Event::default()
    }

    /// True once set and not cleared (Python: `event.is_set()`).
    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Sets the flag and wakes every waiter (Python: `event.set()`).
    pub fn set(&self) {
        if !self.inner.set.replace(true) {
            self.inner.waiters.notify_all();
        }
    }

    /// Clears the flag (Python: `event.clear()`); waiters already woken still return.
    pub fn clear(&self) {
        self.inner.set.set(false);
    }

    /// Waits until the flag is set (Python: `await event.wait()`); returns at once if it is.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            slot: None,
        }
    }

    /// How many tasks wait.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future [`Event::wait`] returns.
#[derive(Debug)]
pub struct EventWait<'a> {
    event: &'a Event,
    slot: Option<Rc<Slot>>,
}

impl StdFuture for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.slot.is_none() && this.event.is_set() {
            return Poll::Ready(());
        }
        if this.event.inner.waiters.poll(&mut this.slot, cx) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // Nothing to pass on: `set` woke every waiter.
        self.event.inner.waiters.abandon(self.slot.take(), || {});
    }
}
