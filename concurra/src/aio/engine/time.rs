//! The loop's time: the [`Clock`] seam, the timers, and [`sleep`].
//!
//! # Timers
//!
//! 1. A timer is a deadline on the loop's clock (a [`Duration`] since the clock's origin, what
//!    [`time`](crate::aio::time) returns) plus an action: a callback (`call_later`, `call_at`) or a
//!    waker (a [`Sleep`]).
//! 2. Timers are taken in `(deadline, sequence)` order: deadlines first, then creation order.
//!    CPython leaves equal deadlines in no defined order; the sequence number makes ours FIFO,
//!    which is compatible and deterministic. The store is a calendar of buckets of 2^18 ns
//!    (262 µs) of loop time: only the earliest bucket (with every earlier deadline, such as a
//!    `call_at` in the past) is a binary heap; later buckets are unsorted lists, one append
//!    per timer, each heapified when it becomes the earliest. Every later bucket holds later
//!    deadlines than the heap, so the heap's top is the earliest timer of all, and the heap
//!    stays small enough to live in cache however many timers wait.
//! 3. Each loop iteration takes the timers whose deadline is `<= clock.now()` *after* the
//!    iteration's events were handled and appends them to the ready queue behind what is already
//!    there (a callback joins the queue itself; a sleep wakes its task, which joins it).
//! 4. Cancelling a timer only marks it; it stays stored until it is taken, or until more than
//!    half of more than 64 timers are cancelled, when every bucket is swept (CPython rebuilds
//!    its heap the same way).
//! 5. A [`Sleep`] owns no allocation and shares nothing: its first poll pushes an entry that
//!    holds its waker, and the `Sleep` keeps the entry's `(deadline, sequence)`. Everything is
//!    on the loop's thread, so there is no lock and no reference count.
//!    1. *Fired* needs no flag: timers are taken in `(deadline, sequence)` order and a sleep's
//!       deadline is later than any taken before it was made, so a sleep has fired exactly
//!       when its `(deadline, sequence)` is at or before the last entry taken as due.
//!    2. A poll with another waker than the entry's (the sleep moved to another task or
//!       combinator) records that waker in a side map, which the entry wakes instead.
//!    3. Dropping a sleep that has not fired records its sequence in a side set: its entry
//!       reads as cancelled (step 4). Both side tables are empty in the common case, and
//!       cost nothing then.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::context;
use super::handles::Handle;
use super::waker::LoopBits;

/// Where the loop reads the time (Python: `loop.time()`), and how it waits for a deadline.
///
/// The loop calls [`now`](Clock::now) for timer deadlines and [`time`](crate::aio::time). When
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
    /// A [`Sleep`]: the waker of its last poll is woken (unless a later poll left another one
    /// in [`Timers::rewake`]).
    Wake(Waker),
}

/// One entry of the heap.
pub(crate) struct TimerEntry {
    /// The deadline in nanoseconds on the loop's clock (saturating).
    when: u64,
    seq: u64,
    action: TimerAction,
}

impl TimerEntry {
    fn id(&self) -> TimerId {
        TimerId {
            when: self.when,
            seq: self.seq,
        }
    }
}

/// A timer's place in the heap's order: `(deadline, sequence)`, unique per timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerId {
    when: u64,
    seq: u64,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
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
        other.id().cmp(&self.id())
    }
}

/// What [`Timers::pop_due`] hands the loop, to act on once the borrow has ended.
pub(crate) enum Due {
    /// A callback for the ready queue.
    Callback(Handle, Box<dyn FnOnce()>),
    /// A sleep fired: wake its task (and drop the waker it replaced, if any).
    Wake(Waker, Option<Waker>),
    /// A cancelled entry, to drop.
    Skip(TimerEntry),
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Deadlines fall in buckets of 2^18 ns (262 µs) of loop time (step 2).
const BUCKET_SHIFT: u32 = 18;

/// The loop's timers (step 2). Lives in the loop's core, borrowed only briefly: nothing here
/// runs user code, and what leaves it (entries, wakers) is dropped or woken by the caller
/// after the borrow ends.
#[derive(Default)]
pub(crate) struct Timers {
    /// Every entry whose bucket is `near_bucket` or earlier, as a heap: the earliest timers.
    heap: BinaryHeap<TimerEntry>,
    /// The last bucket `heap` covers.
    near_bucket: u64,
    /// Every later entry, unsorted, by bucket; a bucket becomes the heap when the heap runs
    /// dry.
    far: BTreeMap<u64, Vec<TimerEntry>>,
    /// Entries in `far`.
    far_len: usize,
    next_seq: u64,
    /// The last entry popped: every sleep at or before it has fired (step 5).
    popped: Option<TimerId>,
    /// Sleeps dropped before they fired (step 5), by sequence; empty in the common case.
    dropped: HashSet<u64>,
    /// Sleeps polled with another waker than their entry holds (step 5); usually empty.
    rewake: HashMap<u64, Waker>,
    /// Timers marked cancelled since the last rebuild (an estimate: see step 4).
    cancelled: usize,
}

impl Timers {
    fn is_live(&self, entry: &TimerEntry) -> bool {
        match &entry.action {
            TimerAction::Callback(handle, _) => !handle.cancelled(),
            TimerAction::Wake(_) => self.dropped.is_empty() || !self.dropped.contains(&entry.seq),
        }
    }

    fn push_entry(&mut self, when: Duration, action: TimerAction) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = TimerEntry {
            when: nanos(when),
            seq,
            action,
        };
        let id = entry.id();
        let bucket = entry.when >> BUCKET_SHIFT;
        if bucket <= self.near_bucket {
            self.heap.push(entry);
        } else {
            self.far.entry(bucket).or_default().push(entry);
            self.far_len += 1;
        }
        id
    }

    /// Makes the earliest far bucket the heap once the heap is empty, so that the heap's top
    /// is the earliest timer of all.
    fn refill(&mut self) {
        while self.heap.is_empty() {
            let Some((bucket, entries)) = self.far.pop_first() else {
                return;
            };
            self.far_len -= entries.len();
            self.near_bucket = bucket;
            self.heap = BinaryHeap::from(entries);
        }
    }

    pub(crate) fn push(&mut self, when: Duration, action: TimerAction) {
        self.push_entry(when, action);
    }

    /// A sleep's first poll: its entry, holding `waker`.
    pub(crate) fn add_sleep(&mut self, when: Duration, waker: Waker) -> TimerId {
        self.push_entry(when, TimerAction::Wake(waker))
    }

    /// True once the sleep `id` was popped. The heap pops in `(deadline, sequence)` order,
    /// and a sleep's deadline is later than every deadline popped before it was made (it is
    /// `now + delay` with `delay > 0`, and only deadlines `<= now` were popped).
    pub(crate) fn fired(&self, id: TimerId) -> bool {
        self.popped.is_some_and(|last| id <= last)
    }

    /// A later poll of the pending sleep `id` came with another waker: wake that one instead.
    /// Returns the waker it replaces, if any, to drop after the borrow.
    pub(crate) fn rewake(&mut self, id: TimerId, waker: Waker) -> Option<Waker> {
        self.rewake.insert(id.seq, waker)
    }

    /// A sleep was dropped. Unless it fired, its entry counts as cancelled (step 4); what it
    /// held goes back to the caller to drop.
    #[must_use]
    pub(crate) fn cancel_sleep(&mut self, id: TimerId) -> (Option<Waker>, Vec<TimerEntry>) {
        let rewake = self.rewake.remove(&id.seq);
        if self.fired(id) {
            return (rewake, Vec::new());
        }
        self.dropped.insert(id.seq);
        (rewake, self.note_cancelled())
    }

    /// Pops a cancelled entry from the top, if the top is one (the caller drops it).
    pub(crate) fn pop_cancelled_top(&mut self) -> Option<TimerEntry> {
        self.refill();
        if self.is_live(self.heap.peek()?) {
            None
        } else {
            // Not due, perhaps: it must not move `popped` (step 5.1 counts due pops only).
            self.pop(false)
        }
    }

    /// The earliest deadline (of a live timer, once cancelled tops were popped).
    pub(crate) fn next_deadline(&mut self) -> Option<Duration> {
        self.refill();
        self.heap.peek().map(|e| Duration::from_nanos(e.when))
    }

    /// Pops the top entry, keeping `dropped` and the cancelled count up to date, and
    /// `popped` if the entry is `due`.
    fn pop(&mut self, due: bool) -> Option<TimerEntry> {
        let entry = self.heap.pop()?;
        if due {
            // Never backwards: a `call_at` in the past pops below entries popped earlier, and
            // a sleep popped before it must still count as fired.
            self.popped = self.popped.max(Some(entry.id()));
        }
        if let TimerAction::Wake(_) = entry.action {
            if !self.dropped.is_empty() && self.dropped.remove(&entry.seq) {
                self.cancelled = self.cancelled.saturating_sub(1);
            }
        } else if !self.is_live(&entry) {
            self.cancelled = self.cancelled.saturating_sub(1);
        }
        Some(entry)
    }

    /// Pops the earliest timer if it is due at `now` (step 3).
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<Due> {
        self.refill();
        if self.heap.peek()?.when > nanos(now) {
            return None;
        }
        let live = self.is_live(self.heap.peek()?);
        let entry = self.pop(true)?;
        if !live {
            return Some(Due::Skip(entry));
        }
        Some(match entry.action {
            TimerAction::Callback(handle, f) => Due::Callback(handle, f),
            TimerAction::Wake(waker) => {
                let newer = if self.rewake.is_empty() {
                    None
                } else {
                    self.rewake.remove(&entry.seq)
                };
                match newer {
                    // The replaced waker is dropped by the loop once the borrow has ended: its
                    // drop may run code that touches the timers.
                    Some(newer) => Due::Wake(newer, Some(waker)),
                    None => Due::Wake(waker, None),
                }
            }
        })
    }

    /// Counts a cancellation; rebuilds the heap when most of it is cancelled. Returns the
    /// entries removed, for the caller to drop after the borrow ends.
    #[must_use]
    pub(crate) fn note_cancelled(&mut self) -> Vec<TimerEntry> {
        self.cancelled += 1;
        if self.len() > 64 && self.cancelled * 2 > self.len() {
            let mut gone = Vec::new();
            let mut sweep = |entries: Vec<TimerEntry>, timers: &Timers| -> Vec<TimerEntry> {
                let (keep, out): (Vec<_>, Vec<_>) =
                    entries.into_iter().partition(|e| timers.is_live(e));
                gone.extend(out);
                keep
            };
            let near = std::mem::take(&mut self.heap).into_vec();
            let far = std::mem::take(&mut self.far);
            self.heap = sweep(near, self).into();
            self.far_len = 0;
            for (bucket, entries) in far {
                let keep = sweep(entries, self);
                if !keep.is_empty() {
                    self.far_len += keep.len();
                    self.far.insert(bucket, keep);
                }
            }
            for entry in &gone {
                self.dropped.remove(&entry.seq);
            }
            self.cancelled = 0;
            gone
        } else {
            Vec::new()
        }
    }

    /// Every entry and every stored waker, for shutdown.
    pub(crate) fn take_all(&mut self) -> (Vec<TimerEntry>, HashMap<u64, Waker>) {
        self.dropped.clear();
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        for (_, far) in std::mem::take(&mut self.far) {
            entries.extend(far);
        }
        self.far_len = 0;
        (entries, std::mem::take(&mut self.rewake))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.far_len
    }
}

/// Waits until `delay` has passed on the loop's clock (Python: `await asyncio.sleep(delay)`).
///
/// The delay starts when the sleep is first polled, as a Python coroutine starts when it is
/// awaited. `sleep(Duration::ZERO)` does not touch the timer heap: it yields for exactly one
/// loop iteration, so everything already ready runs first (test_sleep_zero). Dropping a pending
/// sleep cancels its timer. Polled outside a running loop it panics (asyncio raises
/// `RuntimeError: no running event loop`), and so does a started sleep polled on another loop
/// than the one it started on: its timer lives on that loop.
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
    /// A timer is in the heap of the loop with these waker bits; the heap's order says
    /// whether it fired ([`Timers::fired`]). `waker` is the one the timer will wake.
    Waiting {
        bits: LoopBits,
        id: TimerId,
        waker: Waker,
    },
    /// Completed.
    Done,
}

impl StdFuture for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &mut this.state {
            SleepState::Start if this.delay.is_zero() => {
                // Re-queue the task behind everything already ready.
                cx.waker().wake_by_ref();
                this.state = SleepState::Yielded;
                Poll::Pending
            }
            SleepState::Start => {
                let core = context::expect_current("aio::sleep");
                let when = core.now().saturating_add(this.delay);
                let waker = cx.waker().clone(); // before the borrow: a clone may run code
                let id = core.timers().add_sleep(when, waker);
                this.state = SleepState::Waiting {
                    bits: core.loop_bits(),
                    id,
                    waker: cx.waker().clone(),
                };
                Poll::Pending
            }
            SleepState::Yielded => {
                this.state = SleepState::Done;
                Poll::Ready(())
            }
            SleepState::Waiting { bits, id, waker } => {
                let core = context::expect_current("aio::sleep");
                assert!(
                    core.loop_bits() == *bits,
                    "a Sleep must be polled on the loop that started it"
                );
                // The timer fires on this thread, between polls: no lost wake-up.
                if core.timers().fired(*id) {
                    this.state = SleepState::Done;
                    return Poll::Ready(());
                }
                if !waker.will_wake(cx.waker()) {
                    let id = *id;
                    *waker = cx.waker().clone();
                    let newer = cx.waker().clone(); // before the borrow, as above
                    let old = core.timers().rewake(id, newer);
                    drop(old); // after it: a drop may run code that touches the timers
                }
                Poll::Pending
            }
            SleepState::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let SleepState::Waiting { bits, id, .. } = &self.state {
            // Dropped off its loop (another thread, or after the loop ended): the entry
            // stays, and wakes its task once for nothing.
            if let Some(core) = context::current().filter(|c| c.loop_bits() == *bits) {
                let gone = core.timers().cancel_sleep(*id);
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
            SleepState::Waiting { .. } => "waiting",
            SleepState::Done => "done",
        };
        f.debug_struct("Sleep")
            .field("delay", &self.delay)
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_popped_before_a_timer_in_the_past_still_counts_as_fired() {
        let mut timers = Timers::default();
        let ms = Duration::from_millis;
        let sleep = timers.add_sleep(ms(10), Waker::noop().clone());
        assert!(matches!(timers.pop_due(ms(10)), Some(Due::Wake(..))));
        assert!(timers.fired(sleep));
        // A timer added later with a deadline already past (a `call_at` in the past) pops
        // below the sleep's place: the sleep stays fired.
        timers.push_entry(ms(5), TimerAction::Wake(Waker::noop().clone()));
        assert!(matches!(timers.pop_due(ms(10)), Some(Due::Wake(..))));
        assert!(
            timers.fired(sleep),
            "a fired sleep must not become pending again"
        );
    }
}
