//! The future's state machine: one atomic word, the transitions between its phases, and the
//! list of those who listen for the end (waiters, done-callbacks, a sink).
//!
//! ```text
//!            start()                 finish(outcome)
//!  Pending ───────────▶ Running ─────────────────────▶ Finished
//!     │                                                   ▲
//!     │ cancel()                  finish(outcome)         │
//!     ├────────────────────────────────────────────────────┘   (a producer may complete
//!     ▼                                                         a future it never started)
//!  Cancelled
//! ```
//!
//! # The word
//!
//! The phase, two flags and the runner's token share one `AtomicUsize`, so the common life of
//! a future (start, complete, a reader that finds it done) is four atomic operations on it
//! (start's compare-exchange, the claim's, the publishing swap, the reader's load) and no
//! lock:
//!
//! * `start` is one compare-exchange, Pending → Running, naming the runner's thread token.
//! * Ending (`finish` or `cancel`) first *claims* the future: a compare-exchange sets
//!   [`CLAIMED`] (and, for `cancel`, the Cancelled phase). Exactly one claim wins; the winner
//!   alone writes the outcome cell, then *publishes*: the final phase, stored with release.
//!   The future is done once the claim is published, never before.
//! * [`LISTENERS`] says the listener list (under the lock) may hold someone. A completion
//!   claimed without it takes no lock at all, unless a waiter came while it was writing:
//!   then its publishing swap sees the flag and it takes the list.
//!
//! # The lock
//!
//! Registering a listener and taking the list both happen under the list's lock, and a
//! registrant sets [`LISTENERS`] with a compare-exchange (which fails once the future is
//! claimed without it, or done):
//! * a completion claimed *with* the flag decides, publishes and takes the list under the
//!   lock, so every registration is either before it (taken) or after it (sees done);
//! * one claimed *without* the flag publishes with a swap: a waiter that set the flag before
//!   the swap is taken from the list after it, one that comes after sees done.
//!
//! Done-callbacks and sinks never join a claimed future: they wait for its publication and
//! run at once in the caller. So a completion claimed without listeners knows no callback
//! will run on its thread, and may tell its pool that the worker is idle before it publishes
//! (`Promise::complete_then`).

use crate::error::{Error, Result};
use crate::loom::{MutexGuard, Ordering};

use super::waiter::{Key, Waiter};
use super::{Future, Inner};

/// A done-callback: runs once, with the completed future.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send + 'static>;

/// The one consumer of a future whose last handle was given up for it
/// (`Future::into_sink`): the outcome is moved to it instead of into the cell.
pub(crate) type Sink<T> = Box<dyn FnOnce(Result<T>) + Send + 'static>;

/// What a sunk future's cell holds once its outcome went to the sink. Nobody can read it: the
/// sink took the last handle.
fn moved_to_sink() -> Error {
    Error::InvalidState("the outcome was moved to the future's consumer".into())
}

/// The phase bits of the word.
const PHASE: usize = 0b11;
const PENDING: usize = 0;
const RUNNING: usize = 1;
const CANCELLED: usize = 2;
const FINISHED: usize = 3;
/// The outcome is being written by the one thread whose claim set this bit; the phase bits
/// are final (Cancelled) or the phase it left (Pending, Running) until it clears.
const CLAIMED: usize = 0b100;
/// The listener list may hold someone: an ending must look at it.
const LISTENERS: usize = 0b1000;
/// The runner's thread token ([`thread_token`]) sits above the flags while Running.
const RUNNER_SHIFT: u32 = 4;

/// A snapshot of the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(usize);

impl Word {
    pub(crate) const NEW: usize = PENDING;

    fn bits(self) -> usize {
        self.0 & PHASE
    }

    fn claimed(self) -> bool {
        self.0 & CLAIMED != 0
    }

    fn listened(self) -> bool {
        self.0 & LISTENERS != 0
    }

    /// Ended and published: the outcome cell may be read.
    #[inline]
    pub(crate) fn is_done(self) -> bool {
        !self.claimed() && self.bits() >= CANCELLED
    }

    /// The phase a reader sees: a claimed future is still in the phase it is leaving.
    pub(crate) fn phase(self) -> Phase {
        match self.bits() {
            PENDING => Phase::Pending,
            RUNNING => Phase::Running,
            CANCELLED if self.claimed() => Phase::Pending,
            CANCELLED => Phase::Cancelled,
            _ => Phase::Finished,
        }
    }

    /// Whether the thread with `token` runs the work now.
    pub(crate) fn runs_on(self, token: usize) -> bool {
        self.bits() == RUNNING && self.0 >> RUNNER_SHIFT == token
    }
}

/// This thread's token: a number no other live thread has (for `Word::runs_on`), never 0.
/// Tokens wrap after `usize::MAX >> 4` threads (2^60 on 64-bit targets).
#[inline]
pub(crate) fn thread_token() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    fn fresh() -> usize {
        loop {
            let token = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> RUNNER_SHIFT);
            if token != 0 {
                return token;
            }
        }
    }
    #[cfg(not(concurra_loom))]
    std::thread_local! {
        static TOKEN: usize = fresh();
    }
    #[cfg(concurra_loom)]
    ::loom::thread_local! {
        static TOKEN: usize = fresh();
    }
    TOKEN.with(|t| *t)
}

/// Where a future is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Created, not started. The only phase `cancel` can leave.
    Pending,
    /// The work runs. `cancel` is refused.
    Running,
    /// Cancelled while pending. Final: the cell holds `Err(Error::Cancelled)`.
    Cancelled,
    /// Completed by the producer. Final: the cell holds the outcome.
    Finished,
}

impl Phase {
    /// The name Python's repr uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Cancelled => "cancelled",
            Phase::Finished => "finished",
        }
    }
}

/// One entry of the listener list.
pub(crate) enum Listener<T> {
    /// A waiter, with the key that withdraws it.
    Waiter(Key, Waiter),
    /// A done-callback.
    Callback(Callback<T>),
    /// The consumer the outcome moves to.
    Sink(Sink<T>),
}

/// The lock-protected part of a future: who listens for its end.
pub(crate) struct Listeners<T> {
    list: Vec<Listener<T>>,
    next_key: Key,
}

impl<T> Listeners<T> {
    pub(crate) fn new() -> Self {
        Listeners {
            list: Vec::new(),
            next_key: 0,
        }
    }

    /// Withdraws a waiter's registration (a timed-out wait, a dropped `.await`). Unknown keys
    /// are ignored: the ending may have taken the list already.
    pub(crate) fn remove(&mut self, key: Key) {
        if let Some(at) = self
            .list
            .iter()
            .position(|l| matches!(l, Listener::Waiter(k, _) if *k == key))
        {
            // `remove`, not `swap_remove`: callbacks run in registration order.
            self.list.remove(at);
        }
    }

    /// Points an async registration at the waker of the latest poll. Returns false if the key
    /// is gone, so the caller registers anew.
    pub(crate) fn update_waker(&mut self, key: Key, waker: &std::task::Waker) -> bool {
        for listener in &mut self.list {
            if let Listener::Waiter(k, Waiter::Task(w)) = listener {
                if *k == key {
                    if !w.will_wake(waker) {
                        w.clone_from(waker);
                    }
                    return true;
                }
            }
        }
        false
    }

    fn push_waiter(&mut self, waiter: Waiter) -> Key {
        let key = self.next_key;
        self.next_key += 1;
        self.list.push(Listener::Waiter(key, waiter));
        key
    }

    fn has_callbacks(&self) -> bool {
        self.list
            .iter()
            .any(|l| matches!(l, Listener::Callback(_) | Listener::Sink(_)))
    }

    fn take_sink(&mut self) -> Option<Sink<T>> {
        let at = self
            .list
            .iter()
            .position(|l| matches!(l, Listener::Sink(_)))?;
        match self.list.remove(at) {
            Listener::Sink(sink) => Some(sink),
            _ => unreachable!("found a sink there"),
        }
    }
}

/// What a worker may do after asking to start the work.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// The future was pending and is now running: run the work.
    Run,
    /// The future was cancelled: drop the work.
    Cancelled,
    /// The future was already running or finished: a producer bug, reported as an error.
    Invalid(Phase),
}

/// What `cancel` did.
#[must_use]
pub(crate) enum Cancel<T> {
    /// Pending → Cancelled: wake the waiters and run the callbacks.
    Now(Completed<T>),
    /// It was cancelled before; nothing more to do (`cancel()` still returns true).
    Already,
    /// Running or finished: cancellation refused.
    Refused,
}

/// Listeners taken out by an ending, to be woken and run once the lock is released.
#[must_use = "waiters must be woken and callbacks run once the lock is released"]
pub(crate) struct Completed<T> {
    pub(crate) listeners: Vec<Listener<T>>,
    /// The sink and the outcome it takes, if the future had one.
    pub(crate) sunk: Option<(Sink<T>, Result<T>)>,
    /// Whether the completing thread's `idle` is still to run (after the callbacks).
    pub(crate) idle_later: bool,
}

impl<T> Completed<T> {
    fn new(listeners: Vec<Listener<T>>) -> Self {
        Completed {
            listeners,
            sunk: None,
            idle_later: false,
        }
    }

    /// Nothing but waiters to wake: the completing side's reference may go first.
    pub(crate) fn only_waiters(&self) -> bool {
        self.sunk.is_none()
            && self
                .listeners
                .iter()
                .all(|l| matches!(l, Listener::Waiter(..)))
    }
}

/// What registering a listener found.
pub(crate) enum Listen {
    /// Registered: the ending will take it.
    Listening,
    /// The future is done: nothing was registered.
    Done,
    /// A callback or sink met a claimed future: wait for its publication, then run it now.
    Busy,
    /// The waiting thread is the one running the work: it would wait forever.
    OwnTask,
}

impl<T> Inner<T> {
    /// A snapshot of the state word (acquire: a done word makes the outcome readable).
    #[inline]
    pub(crate) fn word(&self) -> Word {
        Word(self.state.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.word().is_done()
    }

    /// The outcome, once done.
    #[inline]
    pub(crate) fn outcome(&self) -> Option<&Result<T>> {
        if self.is_done() {
            #[allow(unsafe_code)]
            // SAFETY: the acquire load saw the claim published: the cell was written before,
            // and is never written again.
            Some(unsafe { self.outcome.read() })
        } else {
            None
        }
    }

    /// Python's `set_running_or_notify_cancel`: Pending → Running, naming the runner's token
    /// (0: none). On success, gives the word it wrote with `Run`: the producer's best guess of
    /// the word when it later completes (`finish`).
    pub(crate) fn start(&self, runner: usize) -> (ToRunning, usize) {
        // Guess Pending with no listener: one compare-exchange and no load when right.
        let mut s = PENDING;
        loop {
            let w = Word(s);
            if w.bits() != PENDING || w.claimed() {
                return match w.bits() {
                    // Cancelled, or being cancelled (only `cancel` claims a pending future
                    // its producer is starting).
                    CANCELLED => (ToRunning::Cancelled, s),
                    _ => (ToRunning::Invalid(w.phase()), s),
                };
            }
            let new = (s & LISTENERS) | RUNNING | (runner << RUNNER_SHIFT);
            match self
                .state
                .compare_exchange(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (ToRunning::Run, new),
                Err(actual) => s = actual,
            }
        }
    }

    /// Claims the ending: the producer's (from Pending or Running) or `cancel`'s (from
    /// Pending). The winner alone writes the outcome. Gives the word it claimed, or the word
    /// that refused. `guess` is the word the caller expects (a wrong guess costs one failed
    /// compare-exchange, which reads the real word).
    fn claim(&self, cancel: bool, guess: usize) -> std::result::Result<Word, Word> {
        let mut s = guess;
        // Whether `s` was read from the word (the guess was not).
        let mut read = false;
        loop {
            let w = Word(s);
            let open = !w.claimed()
                && match w.bits() {
                    PENDING => true,
                    RUNNING => !cancel,
                    _ => false,
                };
            if !open {
                if !read {
                    s = self.state.load(Ordering::Acquire);
                    read = true;
                    continue;
                }
                return Err(w);
            }
            let new = if cancel {
                (s & !PHASE) | CANCELLED | CLAIMED
            } else {
                s | CLAIMED
            };
            match self
                .state
                .compare_exchange(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(w),
                Err(actual) => {
                    s = actual;
                    read = true;
                }
            }
        }
    }

    /// Writes `outcome` and publishes `last` for a claim made without listeners: no lock,
    /// unless a waiter came meanwhile. Returns the listeners to wake.
    fn publish_unlistened(&self, outcome: Result<T>, last: usize) -> Vec<Listener<T>> {
        #[allow(unsafe_code)]
        // SAFETY: this thread holds the claim, and the future is not done yet.
        unsafe {
            self.outcome.write(outcome);
        }
        // ORDERING: release publishes the cell; acquire pairs with a waiter's flag.
        let before = Word(self.state.swap(last, Ordering::AcqRel));
        if before.listened() {
            // Only waiters: callbacks and sinks do not join a claimed future.
            std::mem::take(&mut self.lock().list)
        } else {
            Vec::new()
        }
    }

    /// Writes the outcome (or moves it to the sink) and publishes `last` under the lock, for
    /// a claim made with listeners.
    fn publish_listened(
        &self,
        mut list: MutexGuard<'_, Listeners<T>>,
        outcome: Result<T>,
        last: usize,
    ) -> Completed<T> {
        let sink = list.take_sink();
        let (kept, sunk) = match sink {
            Some(sink) => {
                let kept = match &outcome {
                    Err(Error::Cancelled) => Err(Error::Cancelled),
                    _ => Err(moved_to_sink()),
                };
                (kept, Some((sink, outcome)))
            }
            None => (outcome, None),
        };
        #[allow(unsafe_code)]
        // SAFETY: this thread holds the claim, and the future is not done yet.
        unsafe {
            self.outcome.write(kept);
        }
        self.state.store(last, Ordering::Release);
        let mut completed = Completed::new(std::mem::take(&mut list.list));
        completed.sunk = sunk;
        completed
    }

    /// Pending or Running → Finished with `outcome`. `idle` runs once the completing thread
    /// has nothing left to do for this future: before publication when no callback or sink
    /// listens, else after them (`Completed::idle_later`). A done or claimed future refuses
    /// and hands the outcome back with its phase. `guess`: the word the producer expects
    /// (what its `start` wrote).
    pub(crate) fn finish(
        &self,
        outcome: Result<T>,
        guess: usize,
        idle: &mut dyn FnMut(),
    ) -> std::result::Result<Completed<T>, (Phase, Result<T>)> {
        let claimed = match self.claim(false, guess) {
            Ok(w) => w,
            // A cancel still publishing refuses as the cancellation it is.
            Err(w) if w.bits() == CANCELLED => return Err((Phase::Cancelled, outcome)),
            Err(w) => return Err((w.phase(), outcome)),
        };
        if !claimed.listened() {
            idle();
            return Ok(Completed::new(self.publish_unlistened(outcome, FINISHED)));
        }
        let list = self.lock();
        let idle_now = !list.has_callbacks();
        if idle_now {
            idle();
        }
        let mut completed = self.publish_listened(list, outcome, FINISHED);
        completed.idle_later = !idle_now;
        Ok(completed)
    }

    /// Pending → Cancelled.
    pub(crate) fn cancel_transition(&self) -> Cancel<T> {
        match self.claim(true, PENDING) {
            Ok(claimed) if !claimed.listened() => Cancel::Now(Completed::new(
                self.publish_unlistened(Err(Error::Cancelled), CANCELLED),
            )),
            Ok(_) => {
                Cancel::Now(self.publish_listened(self.lock(), Err(Error::Cancelled), CANCELLED))
            }
            Err(w) => {
                // Another ending is publishing (a cancel, or the producer completing a future
                // it never started): wait for it, so the answer matches what every reader
                // sees once `cancel` returns (done, and cancelled exactly when it says so).
                if w.claimed() {
                    let mut backoff = super::waiter::Backoff::new();
                    while !self.is_done() {
                        backoff.snooze();
                    }
                }
                if w.bits() == CANCELLED {
                    Cancel::Already
                } else {
                    Cancel::Refused
                }
            }
        }
    }

    /// Joins the listener list, unless the future is done (or, for a callback or sink, claimed,
    /// or, for a waiter whose thread token is `me`, run by that very thread); call with the
    /// list locked.
    fn listen(&self, waiter: bool, me: usize) -> Listen {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            let w = Word(s);
            if w.is_done() {
                return Listen::Done;
            }
            if me != 0 && w.runs_on(me) {
                return Listen::OwnTask;
            }
            if w.claimed() && !waiter {
                return Listen::Busy;
            }
            if w.listened() {
                return Listen::Listening;
            }
            match self
                .state
                .compare_exchange(s, s | LISTENERS, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Listen::Listening,
                Err(actual) => s = actual,
            }
        }
    }

    /// Registers `waiter` unless the future is done, or (with a thread token `me`, not 0)
    /// run by the waiting thread itself.
    pub(crate) fn register(&self, waiter: Waiter, me: usize) -> std::result::Result<Key, Listen> {
        let mut list = self.lock();
        match self.listen(true, me) {
            Listen::Listening => Ok(list.push_waiter(waiter)),
            other => Err(other),
        }
    }

    /// Registers a done-callback; gives it back when the future is done (run it now).
    pub(crate) fn add_callback(&self, callback: Callback<T>) -> Option<Callback<T>> {
        self.join(callback, Listener::Callback, |_| true)
            .err()
            .map(|(c, _)| c)
    }

    /// Hands the outcome to `sink` when it is ready, if `unique` (checked under the lock)
    /// holds and no callback listens: `Ok(None)`. Gives the sink back when the future is done
    /// (`Ok(Some)`: call it now) or refuses it (`Err`).
    pub(crate) fn set_sink(
        &self,
        sink: Sink<T>,
        unique: impl Fn() -> bool,
    ) -> std::result::Result<Option<Sink<T>>, Sink<T>> {
        match self.join(sink, Listener::Sink, |list| {
            unique() && !list.has_callbacks()
        }) {
            Ok(()) => Ok(None),
            Err((sink, true)) => Ok(Some(sink)),
            Err((sink, false)) => Err(sink),
        }
    }

    /// Adds a callback or a sink (`wrap`s it) to the listener list once the future is not
    /// claimed, if `admit` lets it in. Gives it back with `true` when the future is done, with
    /// `false` when `admit` refused it.
    fn join<L>(
        &self,
        item: L,
        wrap: fn(L) -> Listener<T>,
        admit: impl Fn(&Listeners<T>) -> bool,
    ) -> std::result::Result<(), (L, bool)> {
        let mut backoff = super::waiter::Backoff::new();
        loop {
            {
                let mut list = self.lock();
                match self.listen(false, 0) {
                    Listen::Done | Listen::OwnTask => return Err((item, true)),
                    Listen::Listening if !admit(&list) => return Err((item, false)),
                    Listen::Listening => {
                        list.list.push(wrap(item));
                        return Ok(());
                    }
                    Listen::Busy => {}
                }
            }
            backoff.snooze();
        }
    }
}
