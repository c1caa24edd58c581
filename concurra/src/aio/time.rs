//! The loop's time: the [`Clock`] seam, the timer heap, and [`sleep`].
//!
//! # Timers
//!
//! 1. A timer is a deadline on the loop's clock (a [`Duration`] since the clock's origin, what
//!    [`time`](super::time) returns) plus an action: a callback (`call_later`, `call_at`) or a
//!    waker (a [`Sleep`]).
//! 2. The heap orders timers by `(deadline, sequence)`: deadlines first, then creation order.
//!    CPython leaves equal deadlines in no defined order; the sequence number makes ours FIFO,
//!    which is compatible and deterministic.
//! 3. Each loop iteration pops the timers whose deadline is `<= clock.now()` *after* the
//!    iteration's events were handled and appends them to the ready queue behind what is already
//!    there (a callback joins the queue itself; a sleep wakes its task, which joins it).
//! 4. Cancelling a timer only marks it; it stays in the heap until it is popped, or until more
//!    than half of a heap of more than 64 timers is cancelled, when the heap is rebuilt (as
//!    CPython does).
//! 5. A [`Sleep`] owns no allocation: its first poll puts a slot (the waker, a fired flag) in
//!    the loop's sleep [`Slab`] and an entry with the slot's key in the heap; the `Sleep` keeps
//!    the key. Everything is on the loop's thread, so there is no lock and no reference count.
//!    When the entry is due the slot is marked fired and the waker woken; the next poll frees
//!    the slot and completes. Dropping the sleep frees the slot, which is how its entry reads
//!    as cancelled (step 4).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::runtime::{self, Handle};
use super::slab::{Key, Slab};
use super::waker::LoopBits;

/// Where the loop reads the time (Python: `loop.time()`), and how it waits for a deadline.
///
/// The loop calls [`now`](Clock::now) for timer deadlines and [`time`](super::time). When
/// nothing is ready and a timer is pending it asks [`auto_advance`](Clock::auto_advance): the
/// [`SystemClock`] says no and the loop blocks in the reactor until the deadline; a
/// [`PausedClock`] says yes and the loop, after checking once for cross-thread events, moves
/// the clock to the deadline with [`advance_to`](Clock::advance_to) without sleeping. Tests use
/// the paused clock to check timer *ordering* without waiting for wall time.
pub trait Clock {
    /// The time now, as a duration since this clock's origin. Must never go backwards.
    fn now(&self) -> Duration;

    /// Whether an idle loop jumps this clock to the next deadline instead of blocking.
    fn auto_advance(&self) -> bool {
        false
    }

    /// Moves the clock forward to `deadline`; called only when
    /// [`auto_advance`](Clock::auto_advance) is true and the loop has nothing else to do.
    fn advance_to(&self, deadline: Duration) {
        let _ = deadline;
    }
}

/// The default clock: monotonic wall time (`Instant`) since the loop was created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A test clock that only moves when the loop is idle (as tokio's paused clock): time starts
/// at zero, and whenever every task waits for a timer the clock jumps to the earliest
/// deadline. A test that sleeps an hour finishes at once, and timers still fire in deadline
/// order.
///
/// Clones share the same time. A cross-thread wake that arrives after the loop decided to
/// advance comes after the timer: do not race a paused clock against other threads.
///
/// ```
/// use std::time::Duration;
/// use concurra::aio::{self, PausedClock};
///
/// let clock = PausedClock::new();
/// let slept = aio::Builder::new().clock(clock.clone()).run(async {
///     aio::sleep(Duration::from_secs(3600)).await;
///     aio::time()
/// });
/// assert_eq!(slept, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, Default)]
pub struct PausedClock {
    nanos: Arc<AtomicU64>,
}

impl PausedClock {
    /// A paused clock at time zero.
    pub fn new() -> Self {
        PausedClock::default()
    }

    /// Moves the clock forward by `by` (it never moves back).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // ORDERING: the clock is read and moved on the loop's thread; Relaxed is enough for a
        // counter that is its own only datum.
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Clock for PausedClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    fn auto_advance(&self) -> bool {
        true
    }

    fn advance_to(&self, deadline: Duration) {
        let target = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(target, Ordering::Relaxed);
    }
}

/// What a timer does when it is due.
pub(crate) enum TimerAction {
    /// `call_later`/`call_at`: the callback joins the ready queue.
    Callback(Handle, Box<dyn FnOnce()>),
    /// A [`Sleep`]: its slot in [`Timers::sleeps`] is marked fired and its waker woken.
    Wake(Key),
}

/// One entry of the heap.
pub(crate) struct TimerEntry {
    /// The deadline in nanoseconds on the loop's clock (saturating).
    when: u64,
    seq: u64,
    action: TimerAction,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}

impl Eq for TimerEntry {}

impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimerEntry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest `(deadline, sequence)`.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.when, other.seq).cmp(&(self.when, self.seq))
    }
}

/// A [`Sleep`]'s state, in [`Timers::sleeps`] from its first poll until it completes or is
/// dropped. Only the loop's thread touches it: no lock, no reference count.
pub(crate) struct SleepSlot {
    /// The waker of the last poll; taken when the timer fires.
    waker: Option<Waker>,
    /// The deadline passed (its heap entry is gone).
    fired: bool,
}

/// What [`Timers::pop_due`] hands the loop, to act on once the borrow has ended.
pub(crate) enum Due {
    /// A callback for the ready queue.
    Callback(Handle, Box<dyn FnOnce()>),
    /// A sleep fired: wake its task.
    Wake(Option<Waker>),
    /// A cancelled entry, to drop.
    Skip(TimerEntry),
}

/// What [`Timers::poll_sleep`] found.
pub(crate) enum SleepPoll {
    /// The deadline passed; the slot is gone.
    Fired,
    /// Still waiting; the waker it replaced, if any, to drop once the borrow has ended.
    Waiting(Option<Waker>),
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The loop's timer heap and its sleeps. Lives in the loop's core, borrowed only briefly:
/// nothing here runs user code, and what leaves it (entries, slots, wakers) is dropped or
/// woken by the caller after the borrow ends.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<TimerEntry>,
    sleeps: Slab<SleepSlot>,
    next_seq: u64,
    /// Timers marked cancelled since the last rebuild (an estimate: see step 4).
    cancelled: usize,
}

/// False once the entry's callback handle was cancelled or its sleep was dropped.
fn is_live(sleeps: &Slab<SleepSlot>, entry: &TimerEntry) -> bool {
    match &entry.action {
        TimerAction::Callback(handle, _) => !handle.cancelled(),
        TimerAction::Wake(key) => sleeps.get(*key).is_some(),
    }
}

impl Timers {
    pub(crate) fn push(&mut self, when: Duration, action: TimerAction) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(TimerEntry {
            when: nanos(when),
            seq,
            action,
        });
    }

    /// A sleep's first poll: a slot holding `waker`, and its heap entry.
    pub(crate) fn add_sleep(&mut self, when: Duration, waker: Waker) -> Key {
        let key = self.sleeps.insert(SleepSlot {
            waker: Some(waker),
            fired: false,
        });
        self.push(when, TimerAction::Wake(key));
        key
    }

    /// A later poll of a sleep: done if it fired (the slot is freed), else keep the newest
    /// waker.
    pub(crate) fn poll_sleep(&mut self, key: Key, waker: &Waker) -> SleepPoll {
        match self.sleeps.get_mut(key) {
            Some(slot) if !slot.fired => match &slot.waker {
                Some(old) if old.will_wake(waker) => SleepPoll::Waiting(None),
                _ => SleepPoll::Waiting(slot.waker.replace(waker.clone())),
            },
            _ => {
                let gone = self.sleeps.remove(key);
                debug_assert!(gone.as_ref().is_none_or(|s| s.waker.is_none()));
                SleepPoll::Fired
            }
        }
    }

    /// A sleep was dropped: frees its slot (the caller drops it) and, if its timer had not
    /// fired, counts it cancelled (step 4; the rebuilt-away entries go to the caller too).
    #[must_use]
    pub(crate) fn cancel_sleep(&mut self, key: Key) -> (Option<SleepSlot>, Vec<TimerEntry>) {
        let slot = self.sleeps.remove(key);
        let gone = match &slot {
            Some(s) if !s.fired => self.note_cancelled(),
            _ => Vec::new(),
        };
        (slot, gone)
    }

    /// Pops a cancelled entry from the top, if the top is one (the caller drops it).
    pub(crate) fn pop_cancelled_top(&mut self) -> Option<TimerEntry> {
        if is_live(&self.sleeps, self.heap.peek()?) {
            None
        } else {
            self.cancelled = self.cancelled.saturating_sub(1);
            self.heap.pop()
        }
    }

    /// The earliest deadline (of a live timer, once cancelled tops were popped).
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        self.heap.peek().map(|e| Duration::from_nanos(e.when))
    }

    /// Pops the earliest timer if it is due at `now` (step 3); a sleep's slot is marked fired
    /// and its waker handed out.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<Due> {
        if self.heap.peek()?.when > nanos(now) {
            return None;
        }
        let entry = self.heap.pop()?;
        if !is_live(&self.sleeps, &entry) {
            self.cancelled = self.cancelled.saturating_sub(1);
            return Some(Due::Skip(entry));
        }
        Some(match entry.action {
            TimerAction::Callback(handle, f) => Due::Callback(handle, f),
            TimerAction::Wake(key) => {
                let slot = self.sleeps.get_mut(key).expect("a live sleep has a slot");
                slot.fired = true;
                Due::Wake(slot.waker.take())
            }
        })
    }

    /// Counts a cancellation; rebuilds the heap when most of it is cancelled. Returns the
    /// entries removed, for the caller to drop after the borrow ends.
    #[must_use]
    pub(crate) fn note_cancelled(&mut self) -> Vec<TimerEntry> {
        self.cancelled += 1;
        if self.heap.len() > 64 && self.cancelled * 2 > self.heap.len() {
            let sleeps = &self.sleeps;
            let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.heap)
                .into_vec()
                .into_iter()
                .partition(|e| is_live(sleeps, e));
            self.heap = keep.into();
            self.cancelled = 0;
            gone
        } else {
            Vec::new()
        }
    }

    /// Every entry and every sleep slot, for shutdown.
    pub(crate) fn take_all(&mut self) -> (Vec<TimerEntry>, Vec<SleepSlot>) {
        (
            std::mem::take(&mut self.heap).into_vec(),
            self.sleeps.drain(),
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Waits until `delay` has passed on the loop's clock (Python: `await asyncio.sleep(delay)`).
///
/// The delay starts when the sleep is first polled, as a Python coroutine starts when it is
/// awaited. `sleep(Duration::ZERO)` does not touch the timer heap: it yields for exactly one
/// loop iteration, so everything already ready runs first (test_sleep_zero). Dropping a pending
/// sleep cancels its timer. Polled outside a running loop it panics.
///
/// ```
/// use std::time::Duration;
/// use concurra::aio;
///
/// aio::run(async { aio::sleep(Duration::from_millis(1)).await });
/// ```
pub fn sleep(delay: Duration) -> Sleep {
    Sleep {
        delay,
        state: SleepState::Start,
    }
}

/// Yields to the loop for one iteration (Python: `await asyncio.sleep(0)`).
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

/// The future returned by [`sleep`] and [`yield_now`]. `Send`, `Unpin`.
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    delay: Duration,
    state: SleepState,
}

/// Where a [`Sleep`] is.
enum SleepState {
    /// Not polled yet: no timer exists.
    Start,
    /// `sleep(0)` woke its task and returned pending once; the next poll completes.
    Yielded,
    /// A timer is in the heap of the loop with these waker bits; its slot in that loop's
    /// [`Timers`] says whether it fired.
    Waiting(LoopBits, Key),
    /// Completed.
    Done,
}

impl StdFuture for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.state {
            SleepState::Start if this.delay.is_zero() => {
                // Re-queue the task behind everything already ready.
                cx.waker().wake_by_ref();
                this.state = SleepState::Yielded;
                Poll::Pending
            }
            SleepState::Start => {
                let core = runtime::expect_current("aio::sleep");
                let when = core.now().saturating_add(this.delay);
                let key = core.timers().add_sleep(when, cx.waker().clone());
                this.state = SleepState::Waiting(core.loop_bits(), key);
                Poll::Pending
            }
            SleepState::Yielded => {
                this.state = SleepState::Done;
                Poll::Ready(())
            }
            &SleepState::Waiting(bits, key) => {
                let core = runtime::expect_current("aio::sleep");
                assert!(
                    core.loop_bits() == bits,
                    "a Sleep must be polled on the loop that started it"
                );
                // The timer fires on this thread, between polls: no lost wake-up.
                let polled = core.timers().poll_sleep(key, cx.waker());
                match polled {
                    SleepPoll::Waiting(old) => {
                        drop(old);
                        Poll::Pending
                    }
                    SleepPoll::Fired => {
                        this.state = SleepState::Done;
                        Poll::Ready(())
                    }
                }
            }
            SleepState::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let SleepState::Waiting(bits, key) = self.state {
            // Dropped off its loop (another thread, or after the loop ended): the slot stays
            // until the loop ends, and its timer wakes the task once for nothing.
            if let Some(core) = runtime::current().filter(|c| c.loop_bits() == bits) {
                let gone = core.timers().cancel_sleep(key);
                drop(gone);
            }
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SleepState::Start => "start",
            SleepState::Yielded => "yielded",
            SleepState::Waiting(..) => "waiting",
            SleepState::Done => "done",
        };
        f.debug_struct("Sleep")
            .field("delay", &self.delay)
            .field("state", &state)
            .finish()
    }
}
