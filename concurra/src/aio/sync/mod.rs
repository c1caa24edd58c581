//! Synchronisation primitives for tasks of one loop (Python: `asyncio.Lock`, `Event`,
//! `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`).
//!
//! They are not thread-safe, as in asyncio: every primitive is `!Send` (`Rc` and `RefCell`
//! inside) and is used by tasks of the loop it was created on. Clone a primitive to share it
//! between tasks: clones are handles on the same state.
//!
//! # Protocol
//!
//! 1. **Waiters.** A task that must wait appends a *slot* to the primitive's FIFO wait list and
//!    returns `Pending`. A slot is `Waiting`, then `Notified` (the primitive picked it and woke
//!    its task), then consumed (the task's next poll saw the notification and returned).
//! 2. **Wake order.** A primitive always notifies the *first* waiting slot(s): waiters are woken
//!    in arrival order (asyncio's FIFO fairness: test_acquire, test_acquire_fifo_order).
//! 3. **Hand-off.** [`Lock`] and [`Semaphore`] *hand off*: a release that finds waiters does not
//!    free the lock (or the permit) but gives it to the first waiter, which owns it from that
//!    moment on. A task calling `acquire` later queues behind the waiters; nothing can barge in
//!    between. asyncio gets the same order differently (a released lock is free but a newcomer
//!    defers to the queued waiters, and the woken waiter takes it when it runs); the observable
//!    order of acquisitions is the same.
//! 4. **Cancellation.** A task is cancelled by dropping its coroutine (see the
//!    [module docs](super)), so a waiter is cancelled when its wait future is dropped:
//!    1. a `Waiting` slot is removed from the list: it consumed nothing;
//!    2. a `Notified`, unconsumed slot passes what it was given on: the lock or the permit is
//!       released again (to the next waiter, step 3), a condition's notification goes to the
//!       next condition waiter. No wake-up is lost (test_finished_waiter_cancelled,
//!       test_acquire_hang) and no permit leaks.
//! 5. **Events** wake *every* current waiter on [`Event::set`]; a waiter that was notified
//!    returns even if [`Event::clear`] ran before it was polled.
//!
//! Misuse that asyncio reports with `RuntimeError`/`ValueError` is either impossible by
//! construction (a lock is released by dropping its guard, so it cannot be released when not
//! held) or reported as [`Error::InvalidState`](crate::Error::InvalidState).

mod barrier;
mod condition;
mod event;
mod lock;
mod semaphore;
mod wait_list;

pub use self::barrier::{Barrier, BarrierWait};
pub use self::condition::Condition;
pub use self::event::{Event, EventWait};
pub use self::lock::{Acquire, Lock, LockGuard};
pub use self::semaphore::{BoundedSemaphore, SemAcquire, Semaphore, SemaphorePermit};
pub(crate) use self::wait_list::{Slot, WaitList};
