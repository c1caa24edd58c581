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
//! held) or reported as [`Error::InvalidState`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// The wait list.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Waiting,
    Notified,
    Consumed,
}

/// One waiter's place in a wait list.
#[derive(Debug)]
pub(crate) struct Slot {
    state: Cell<SlotState>,
    waker: RefCell<Option<Waker>>,
}

impl Slot {
    fn notified(&self) -> bool {
        self.state.get() == SlotState::Notified
    }

    fn set_waker(&self, waker: &Waker) {
        let mut w = self.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(waker) => {}
            _ => *w = Some(waker.clone()),
        }
    }

    /// True while the slot waits in its list.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.get() == SlotState::Waiting
    }

    /// Updates the waker of a waiting slot.
    pub(crate) fn set_waker_pub(&self, waker: &Waker) {
        self.set_waker(waker);
    }

    /// Consumes a notification; true if the slot had been notified and not consumed.
    pub(crate) fn take_notified(&self) -> bool {
        self.consume()
    }

    /// Marks the slot consumed; true if it had been notified.
    fn consume(&self) -> bool {
        if self.notified() {
            self.state.set(SlotState::Consumed);
            true
        } else {
            false
        }
    }
}

/// A FIFO list of waiting slots (only `Waiting` slots are in it).
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    slots: RefCell<VecDeque<Rc<Slot>>>,
}

impl WaitList {
    /// Appends a new waiting slot.
    pub(crate) fn push(&self, waker: &Waker) -> Rc<Slot> {
        let slot = Rc::new(Slot {
            state: Cell::new(SlotState::Waiting),
            waker: RefCell::new(Some(waker.clone())),
        });
        self.slots.borrow_mut().push_back(slot.clone());
        slot
    }

    /// Removes a slot that is still waiting (its waiter went away).
    pub(crate) fn remove(&self, slot: &Rc<Slot>) {
        self.slots.borrow_mut().retain(|s| !Rc::ptr_eq(s, slot));
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.borrow().is_empty()
    }

    /// Notifies the first waiting slot; false if there was none.
    pub(crate) fn notify_one(&self) -> bool {
        let slot = self.slots.borrow_mut().pop_front();
        match slot {
            Some(slot) => {
                slot.state.set(SlotState::Notified);
                let waker = slot.waker.borrow_mut().take();
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            None => false,
        }
    }

    /// Notifies every waiting slot, in order; returns how many.
    pub(crate) fn notify_all(&self) -> usize {
        let mut n = 0;
        while self.notify_one() {
            n += 1;
        }
        n
    }
}

/// Polls a slot: registers on the first poll, returns true once notified (and consumes it).
fn poll_slot(slot: &mut Option<Rc<Slot>>, list: &WaitList, cx: &Context<'_>) -> bool {
    match slot {
        Some(s) => {
            if s.consume() {
                true
            } else {
                s.set_waker(cx.waker());
                false
            }
        }
        None => {
            *slot = Some(list.push(cx.waker()));
            false
        }
    }
}

/// What to do with a slot when its waiter goes away: true if it was notified but unconsumed
/// (the caller must pass the notification on); a waiting slot is removed.
fn abandon_slot(slot: Option<Rc<Slot>>, list: &WaitList) -> bool {
    match slot {
        Some(s) => match s.state.get() {
            SlotState::Waiting => {
                list.remove(&s);
                false
            }
            SlotState::Notified => {
                s.state.set(SlotState::Consumed);
                true
            }
            SlotState::Consumed => false,
        },
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Lock.

#[derive(Debug, Default)]
struct LockInner {
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
    inner: Rc<LockInner>,
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
        if poll_slot(&mut this.slot, &inner.waiters, cx) {
            // Handed off: the lock is ours (it stayed locked).
            this.slot = None;
            return Poll::Ready(LockGuard { lock: this.lock });
        }
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if abandon_slot(self.slot.take(), &self.lock.inner.waiters) {
            // Step 4.2: the lock was handed to us; pass it on.
            self.lock.inner.release();
        }
    }
}

/// Holds a [`Lock`]; dropping it releases the lock (to the first waiter, if any).
pub struct LockGuard<'a> {
    lock: &'a Lock,
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

// ---------------------------------------------------------------------------------------------
// Event.

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
        if poll_slot(&mut this.slot, &this.event.inner.waiters, cx) {
            this.slot = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // Nothing to pass on: `set` woke every waiter.
        abandon_slot(self.slot.take(), &self.event.inner.waiters);
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore and BoundedSemaphore.

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
        Semaphore {
            inner: Rc::new(SemInner {
                value: Cell::new(value),
                bound: None,
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
            .field("waiters", &self.inner.waiters.len())
            .finish()
    }
}

/// A [`Semaphore`] whose [`release`](Self::release) refuses to exceed the initial value
/// (Python: `asyncio.BoundedSemaphore`).
#[derive(Clone)]
pub struct BoundedSemaphore {
    inner: Rc<SemInner>,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, which is also its bound.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            inner: Rc::new(SemInner {
                value: Cell::new(value),
                bound: Some(value),
                waiters: WaitList::default(),
            }),
        }
    }

    /// Waits for a permit.
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

    /// Adds a permit back by hand.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if that would exceed the bound (Python: `ValueError:
    /// BoundedSemaphore released too many times`); nothing changes.
    pub fn release(&self) -> Result<()> {
        self.inner.release()
    }

    /// True if an `acquire` now would wait.
    pub fn locked(&self) -> bool {
        self.inner.value.get() == 0 || !self.inner.waiters.is_empty()
    }

    /// The free permits.
    pub fn value(&self) -> usize {
        self.inner.value.get()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("bound", &self.inner.bound)
            .field("waiters", &self.inner.waiters.len())
            .finish()
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
        if poll_slot(&mut this.slot, &this.inner.waiters, cx) {
            this.slot = None;
            return Poll::Ready(SemaphorePermit {
                inner: Some(this.inner),
            });
        }
        Poll::Pending
    }
}

impl Drop for SemAcquire<'_> {
    fn drop(&mut self) {
        if abandon_slot(self.slot.take(), &self.inner.waiters) {
            // Step 4.2: a permit was handed to us; pass it on.
            let _ = self.inner.release();
        }
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

// ---------------------------------------------------------------------------------------------
// Condition.

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
        if poll_slot(&mut this.slot, this.waiters, cx) {
            this.slot = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for CondWait<'_> {
    fn drop(&mut self) {
        if abandon_slot(self.slot.take(), self.waiters) {
            // Step 4.2: pass the notification on.
            self.waiters.notify_one();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier.

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
        if poll_slot(&mut this.slot, &inner.waiters, cx) {
            this.slot = None;
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
        let was_waiting = self
            .slot
            .as_ref()
            .is_some_and(|s| s.state.get() == SlotState::Waiting);
        abandon_slot(self.slot.take(), &self.inner.waiters);
        if was_waiting && self.inner.round.get() == self.round {
            // Leaves an unfilled round.
            self.inner
                .count
                .set(self.inner.count.get().saturating_sub(1));
        }
    }
}
