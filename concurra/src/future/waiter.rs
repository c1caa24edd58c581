//! The one park/wake path.
//!
//! A [`Waiter`] is whoever waits for a future: a blocked thread (`result`, `join`), an async task
//! (`.await`), or a [`WaitSet`] shared by many futures (`wait`, `as_completed`). A future keeps its
//! waiters in its listener list (`state.rs`); ending the future takes the whole list out and
//! wakes it once no lock is held, so a woken thread never contends for a lock its waker still
//! holds, and nothing runs user code under a lock.
//!
//! No other module parks a thread, waits on a condition variable or stores a `Waker` for a
//! future. Every blocking wait here follows the same three steps, which close the lost-wakeup
//! window:
//!
//! 1. register the waiter (under the future's listener lock);
//! 2. re-check completion (still under that lock: an ending either takes the list under it,
//!    or publishes before it and is seen);
//! 3. park, and re-check after every wake-up, because parking may wake spuriously.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::loom::thread::{self, Thread};
#[cfg(not(concurra_loom))]
use std::time::Duration;
use std::time::Instant;

/// Identifies one registration in one future's listener list, so the waiter can withdraw it.
pub(crate) type Key = u64;

/// Someone waiting for a future to complete.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// A thread blocked in `result`/`wait`; woken with `unpark`.
    Thread(Thread),
    /// An async task awaiting the future; woken through its `Waker`.
    Task(Waker),
    /// A `wait`/`as_completed` call watching many futures; the future is its `index`.
    Set {
        /// The shared set.
        set: Arc<WaitSet>,
        /// Which of the set's futures this registration stands for.
        index: usize,
    },
}

impl Waiter {
    pub(crate) fn wake(self) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            Waiter::Task(w) => w.wake(),
            Waiter::Set { set, index } => set.notify(index),
        }
    }
}

/// [`spin_until`] under loom gives up at once: the models explore the park path (a spin only
/// reads the word again, and every read is a branch the models would pay for).
#[cfg(concurra_loom)]
pub(crate) fn spin_until(_deadline: Option<Instant>, _done: impl Fn() -> bool) -> bool {
    false
}

/// The least a thread spins before it parks.
#[cfg(not(concurra_loom))]
pub(crate) const MIN_SPIN: Duration = Duration::from_micros(2);
/// The most a thread spins before it parks.
#[cfg(not(concurra_loom))]
pub(crate) const MAX_SPIN: Duration = Duration::from_micros(50);

#[cfg(not(concurra_loom))]
std::thread_local! {
    /// This thread's spin budget in nanoseconds (see [`spin_until`]).
    static SPIN_BUDGET: std::cell::Cell<u32> = const { std::cell::Cell::new(20_000) };
}

/// Spins, then yields, while `done` is false, for at most this thread's *spin budget*;
/// returns whether `done` became true. The caller parks afterwards.
///
/// A wake across CPUs costs ~30 µs on our machines (a futex wake of a parked thread), a spin
/// that sees the outcome arrive costs what the wait lasted. So the budget is learnt per thread
/// from its own waits, as adaptive mutexes do: a wait that ended while spinning raises it to
/// twice that wait (the other side usually answers that fast), a wait that had to park halves
/// it (the other side is slow: spinning would only burn CPU). It stays between
/// `MIN_SPIN` and `MAX_SPIN`, so a thread that waits 10 ms spins at most `MAX_SPIN` a wait
/// (0.5% of a CPU) and, once it learnt, `MIN_SPIN`.
///
/// The first steps busy-spin with exponential backoff (as crossbeam's `Backoff`). Then the
/// thread yields once (if a thread that would complete the work waits for this CPU, it runs
/// now), busy-spins, reading the clock, until [`BUSY_SPIN`] after the wait began (a
/// `sched_yield` costs a system call, on a VM more than the other side usually takes to
/// answer), and yields for the rest of the budget. Measured here: wake-latency 2.2 µs with
/// yields alone, 0.7–1.5 µs with the busy phase; a busy phase before the first yield cost
/// submit-wait (three threads on two CPUs) 20–40%, which the one yield gives back. On a single
/// CPU (a machine with one, or a process pinned with `taskset`) busy-spinning only steals time
/// from the thread that would complete the work, so only the yields remain: they hand the
/// CPU to that thread.
#[cfg(not(concurra_loom))]
#[inline]
pub(crate) fn spin_until(deadline: Option<Instant>, done: impl Fn() -> bool) -> bool {
    const SPIN_STEPS: u32 = 6;
    let budget = Duration::from_nanos(u64::from(SPIN_BUDGET.get()));
    let multi = !single_cpu();
    if multi {
        for step in 0..=SPIN_STEPS {
            for _ in 0..(1u32 << step) {
                std::hint::spin_loop();
            }
            if done() {
                return true;
            }
        }
    }
    let start = Instant::now();
    let until = deadline.map_or(start + budget, |d| d.min(start + budget));
    // MIN_SPIN > BUSY_SPIN: the busy phase always fits in the budget.
    let busy_until = start + BUSY_SPIN;
    let mut yielded = false;
    loop {
        if multi && yielded && Instant::now() < busy_until {
            for _ in 0..(1u32 << SPIN_STEPS) {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
            yielded = true;
        }
        if done() {
            learn(start.elapsed() * 2);
            return true;
        }
        if Instant::now() >= until {
            learn(budget / 2);
            return done();
        }
    }
}

/// Where the busy phase of [`spin_until`] ends, counted from the start of the wait (before
/// its first yield, so what the yield took is spent of it).
#[cfg(not(concurra_loom))]
const BUSY_SPIN: Duration = Duration::from_micros(1);

/// Sets this thread's spin budget, within its bounds.
#[cfg(not(concurra_loom))]
fn learn(budget: Duration) {
    let budget = budget.clamp(MIN_SPIN, MAX_SPIN);
    SPIN_BUDGET.set(budget.as_nanos() as u32);
}

/// Waiting out a reference the completing side still holds for a moment (its completion, its
/// done-callbacks): spin, then yield, then sleep in steps that grow to a millisecond, so a
/// callback that blocks costs no CPU.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff::default()
    }

    /// Under loom every step yields, so the thread being waited for runs.
    #[cfg(concurra_loom)]
    pub(crate) fn snooze(&mut self) {
        thread::yield_now();
        self.step = self.step.saturating_add(1);
    }

    /// One step of the wait.
    #[cfg(not(concurra_loom))]
    pub(crate) fn snooze(&mut self) {
        const SPIN_STEPS: u32 = 6;
        const YIELD_STEPS: u32 = 16;
        if self.step <= SPIN_STEPS && !single_cpu() {
            for _ in 0..(1u32 << self.step) {
                std::hint::spin_loop();
            }
        } else if self.step <= YIELD_STEPS {
            thread::yield_now();
        } else {
            let micros = 1u64 << (self.step - YIELD_STEPS).min(10);
            std::thread::sleep(std::time::Duration::from_micros(micros));
        }
        self.step = self.step.saturating_add(1);
    }
}

/// Whether this process may run on one CPU only (read once: the affinity of a running
/// process rarely changes, and a wrong guess costs speed, never correctness).
#[cfg(not(concurra_loom))]
fn single_cpu() -> bool {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) == 1
}

/// Parks the current thread until unparked or until `deadline`. Returns false once the deadline
/// has passed. May return true spuriously: callers re-check their condition (step 3).
pub(crate) fn park_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            thread::park();
            true
        }
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            thread::park_timeout(d - now);
            true
        }
    }
}

/// A waiter shared by many futures: each completion pushes the future's index.
///
/// Used by `wait` and `as_completed`. Blocking readers wait on the condition variable; an async
/// reader leaves its waker.
#[derive(Debug, Default)]
pub(crate) struct WaitSet {
    state: Mutex<SetState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct SetState {
    completed: Vec<usize>,
    waker: Option<Waker>,
}

impl WaitSet {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(WaitSet::default())
    }

    /// Records that the future at `index` is done and wakes the reader.
    pub(crate) fn notify(&self, index: usize) {
        let waker = {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            st.completed.push(index);
            st.waker.take()
        };
        self.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until at least one index arrived or `deadline` passed; returns what arrived
    /// (empty on timeout).
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Vec<usize> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if !st.completed.is_empty() {
                return std::mem::take(&mut st.completed);
            }
            st = match deadline {
                None => self.ready.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Vec::new();
                    }
                    self.ready
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// The async form of [`wait_until`](Self::wait_until) without a deadline.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Vec<usize>> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.completed.is_empty() {
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(std::mem::take(&mut st.completed))
        }
    }
}
