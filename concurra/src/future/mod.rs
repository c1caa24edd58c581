//! [`Future<T>`], the one handle on asynchronous work, and [`Promise<T>`], its producer.
//!
//! Every engine (thread pool, [`Thread`](crate::Thread), and the engines still to come) hands
//! back this same `Future`, and completes it through a `Promise`. It follows Python's
//! `concurrent.futures.Future`:
//!
//! | state      | `done()` | `running()` | `cancelled()` | `cancel()` returns        |
//! |------------|----------|-------------|---------------|---------------------------|
//! | pending    | false    | false       | false         | true (→ cancelled)        |
//! | running    | false    | true        | false         | false                     |
//! | cancelled  | true     | false       | true          | true (again; no callbacks)|
//! | finished   | true     | false       | false         | false                     |
//!
//! # Differences from Python, on purpose
//!
//! * **A cancelled future is complete for everyone at once.** `result`, `.await`,
//!   [`wait`](fn@crate::wait), [`as_completed`](crate::as_completed) and callbacks all see it the
//!   moment `cancel` returns; CPython's `wait()` does not see futures cancelled by
//!   `shutdown(cancel_futures=True)` (gh-87893).
//! * **Reading the outcome.** The outcome is written once. The last handle *moves* it out
//!   ([`try_into_result`](Future::try_into_result), [`into_result`](Future::into_result)): no
//!   `Clone` and no `Sync` needed, so a file, a socket or a `Box<dyn Error>` comes back as it
//!   is. Handles that *share* it borrow it ([`result_ref`](Future::result_ref), `T: Sync`) or
//!   clone it ([`result`](Future::result) and `.await`, `T: Clone + Sync`). Errors are `Clone`.
//! * **A producer never vanishes silently.** Dropping a [`Promise`] without completing it fails the
//!   future with [`Error::Abandoned`]: a future is never left pending forever.
//! * **Waiting on yourself is an error, not a hang.** A task that calls `result()` on its own
//!   future (from the thread that runs it) gets [`Error::InvalidState`] at once.
//!   The blocking reads (`result`, `exception`, `wait`) detect it; [`wait`](fn@crate::wait),
//!   [`as_completed`](crate::as_completed) and `.await` on one's own future do not, and
//!   block until their timeout (or forever): don't.
//!
//! # Protocol
//!
//! 1. The future's phase is one atomic word (`state`). Ending it (completing or cancelling) is
//!    a claim on that word that exactly one thread wins; the winner writes the outcome cell
//!    once, then publishes the final phase with a release store. Readers that see it done
//!    read the cell with no lock.
//! 2. Waiters register under the listener lock, and re-check the word there, before they
//!    park (`waiter`).
//! 3. The ending takes the listeners out (under the lock, or with no lock when nobody
//!    listened); they are woken and run after it is released, in the completing thread (or,
//!    for `cancel`, the cancelling thread). A callback may therefore call `result()`,
//!    `cancel()` or submit more work.

#[cfg(all(test, concurra_loom))]
mod loom;
mod outcome;
mod promise;
mod state;
pub(crate) mod waiter;

use std::fmt;
use std::pin::Pin;
use std::sync::{OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub(crate) use promise::Producer;
pub use promise::Promise;
pub(crate) use state::Word;

use self::outcome::OutcomeCell;
use self::state::{Cancel, Completed, Listener, Listeners, Phase};
use self::waiter::{Key, Waiter};
use crate::error::{Error, Result};
use crate::loom::{Arc, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::unwind;

/// Creates a pending future and the promise that completes it (Python: `Future()` plus
/// `set_result`/`set_exception`, split into a read side and a write side).
///
/// ```
/// let (promise, future) = concurra::future::pair::<u32>();
/// std::thread::spawn(move || promise.set_result(42));
/// assert_eq!(future.result().unwrap(), 42);
/// ```
pub fn pair<T>() -> (Promise<T>, Future<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(Word::NEW),
        // The one handle made below.
        handles: AtomicUsize::new(1),
        outcome: OutcomeCell::new(),
        listeners: Mutex::new(Listeners::new()),
    });
    let promise = Promise::new(inner.clone());
    let future = Future {
        inner,
        poll_key: None,
        counted: true,
    };
    (promise, future)
}

/// The shared part of a future: its state word, its write-once outcome and its listeners.
/// Small on purpose (104 bytes for a `Future<u64>`, 120 with the `Arc`'s counts): glibc frees
/// blocks of up to 128 bytes into its fast bins without a lock, and a future is often freed
/// on another thread than the one that made it.
pub(crate) struct Inner<T> {
    /// The phase, two flags and the runner (`state.rs`).
    state: AtomicUsize,
    /// How many [`Future`] handles a user may hold (every handle but the one a completing
    /// thread lends its done-callbacks). The last one may move the value out: it waits for
    /// the completing side's references to go, but never for another user handle.
    handles: AtomicUsize,
    outcome: OutcomeCell<T>,
    listeners: Mutex<Listeners<T>>,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, Listeners<T>> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the waiters and runs the sink and callbacks an ending took out. Call with no
    /// lock held.
    fn run_completed(this: &Arc<Self>, completed: Completed<T>) {
        let callbacks = wake_waiters(completed.listeners);
        if completed.sunk.is_none() && callbacks.is_empty() {
            return;
        }
        // While its consumer and callbacks run, this thread holds a reference to the future
        // that a take on this thread must not wait for (`Future::take_done`).
        let _completing = Completing::enter(Inner::id(this));
        if let Some((sink, outcome)) = completed.sunk {
            unwind::report(&"the consumer of a future", || sink(outcome));
        }
        if !callbacks.is_empty() {
            let handle = Future::lent(this.clone());
            for callback in callbacks {
                run_callback(&handle, callback);
            }
        }
    }

    fn id(this: &Arc<Self>) -> usize {
        Arc::as_ptr(this) as *const () as usize
    }

    /// As [`run_completed`](Self::run_completed), for the completing side's own reference: with
    /// no callback to run it is let go before the waiters wake, so a woken waiter holding the
    /// last handle usually finds it gone ([`Future::try_into_result`]).
    fn run_completed_owned(this: Arc<Self>, completed: Completed<T>) {
        if completed.only_waiters() {
            drop(this);
            wake_waiters(completed.listeners);
        } else {
            Inner::run_completed(&this, completed);
        }
    }

    /// Pending → Cancelled; wakes and calls back. Shared by [`Future::cancel`] and engines that
    /// cancel queued work.
    fn cancel(this: &Arc<Self>) -> bool {
        match this.cancel_transition() {
            Cancel::Now(completed) => {
                Inner::run_completed(this, completed);
                true
            }
            Cancel::Already => true,
            Cancel::Refused => false,
        }
    }
}

/// Wakes the waiters among an ending's listeners; gives back its callbacks, in order.
fn wake_waiters<T>(listeners: Vec<Listener<T>>) -> Vec<state::Callback<T>> {
    let mut callbacks = Vec::new();
    for listener in listeners {
        match listener {
            Listener::Waiter(_, waiter) => waiter.wake(),
            Listener::Callback(callback) => callbacks.push(callback),
            Listener::Sink(_) => unreachable!("an ending takes the sink out"),
        }
    }
    callbacks
}

#[cfg(not(concurra_loom))]
thread_local! {
    /// The futures whose done-callbacks (or consumer) this thread is running now.
    static COMPLETING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

// loom's threads share one OS thread: its `thread_local!` gives each its own.
#[cfg(concurra_loom)]
::loom::thread_local! {
    static COMPLETING: std::cell::RefCell<Vec<usize>> = std::cell::RefCell::new(Vec::new());
}

/// This thread runs a future's done-callbacks while the guard lives.
struct Completing(usize);

impl Completing {
    fn enter(id: usize) -> Self {
        COMPLETING.with(|c| c.borrow_mut().push(id));
        Completing(id)
    }

    /// Whether this thread is inside `id`'s callbacks (so a reference it holds cannot go).
    fn inside(id: usize) -> bool {
        COMPLETING.with(|c| c.borrow().contains(&id))
    }
}

impl Drop for Completing {
    fn drop(&mut self) {
        COMPLETING.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(at) = c.iter().rposition(|&id| id == self.0) {
                c.remove(at);
            }
        });
    }
}

fn run_callback<T>(future: &Future<T>, callback: state::Callback<T>) {
    unwind::report(&format_args!("a done-callback of {future:?}"), || {
        callback(future)
    });
}

/// What a blocking wait ended with.
enum Waited {
    Done,
    TimedOut,
    /// The caller is the thread running this future's work: waiting would never end.
    OwnTask,
}

/// A handle on work that completes later: Python's `concurrent.futures.Future`.
///
/// Cloning gives another handle on the same work. See the [module docs](self) for the states
/// and for how the outcome is shared.
///
/// ```
/// use concurra::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let future = pool.submit(|| 6 * 7);
/// assert_eq!(future.result().unwrap(), 42);
/// assert!(future.done());
/// ```
pub struct Future<T> {
    inner: Arc<Inner<T>>,
    /// This handle's registration while it is being `.await`ed.
    poll_key: Option<Key>,
    /// Counted in `Inner::handles`: false only for the handle a completing thread lends its
    /// done-callbacks (a clone of it is counted).
    counted: bool,
}

impl<T> Future<T> {
    fn from_inner(inner: Arc<Inner<T>>) -> Self {
        inner.handles.fetch_add(1, Ordering::Relaxed);
        Future {
            inner,
            poll_key: None,
            counted: true,
        }
    }

    /// The handle done-callbacks get: not counted, as it lives only while they run.
    fn lent(inner: Arc<Inner<T>>) -> Self {
        Future {
            inner,
            poll_key: None,
            counted: false,
        }
    }

    /// A future that is already complete with `outcome` (for example a submit refused with
    /// [`Error::Shutdown`]).
    pub fn completed(outcome: Result<T>) -> Self {
        let (promise, future) = pair();
        // A fresh promise always completes.
        let _ = promise.complete(outcome);
        future
    }

    /// True if the work was cancelled (Python: `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.inner.word().phase() == Phase::Cancelled
    }

    /// True while a worker runs the work (Python: `running()`).
    pub fn running(&self) -> bool {
        self.inner.word().phase() == Phase::Running
    }

    /// True once the future is finished or cancelled (Python: `done()`). Never blocks.
    #[inline]
    pub fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Cancels the work if it has not started (Python: `cancel()`).
    ///
    /// Returns true if the future is now cancelled (also when it already was), false if the work
    /// is running or finished; running work is not interrupted. On success the waiters wake and
    /// the callbacks run, in this thread, before `cancel` returns.
    pub fn cancel(&self) -> bool {
        Inner::cancel(&self.inner)
    }

    /// Blocks until the future is done; then borrows the outcome.
    ///
    /// # Errors
    /// The task's error ([`Error::Panicked`], [`Error::Failed`], …), [`Error::Cancelled`], or
    /// [`Error::InvalidState`] when called from the very task that completes this future.
    pub fn result_ref(&self) -> Result<&T>
    where
        T: Sync,
    {
        self.outcome_until(None, Duration::MAX)?
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Blocks until the outcome is ready and returns it (Python: `result()`).
    ///
    /// # Errors
    /// As [`result_ref`](Self::result_ref).
    pub fn result(&self) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.result_ref().cloned()
    }

    /// Waits at most `timeout` for the outcome (Python: `result(timeout)`).
    ///
    /// `Duration::ZERO` checks now; `Duration::MAX` (or any timeout too big for the clock) waits
    /// forever. On timeout the work goes on and the future stays usable.
    ///
    /// # Errors
    /// [`Error::Timeout`], and everything [`result_ref`](Self::result_ref) returns.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.outcome_until(deadline(timeout), timeout)?.clone()
    }

    /// Blocks until the outcome is ready and moves it out of the last handle, for any `T`:
    /// `Ok(outcome)` when no other handle shares the work (the usual case: the engine lets go
    /// of the future when it completes it), `Err(self)` when another handle does (read it
    /// with [`result_ref`](Self::result_ref), or drop the other handles and try again).
    ///
    /// An error is `Clone`, so a failed or cancelled future always gives `Ok(Err(e))`. A
    /// wait that cannot end (called from the very task that completes this future) gives
    /// `Ok(Err(`[`Error::InvalidState`]`))`.
    ///
    /// ```
    /// use concurra::ThreadPoolExecutor;
    ///
    /// struct NotClone(Vec<u8>);
    /// let pool = ThreadPoolExecutor::new();
    /// let future = pool.submit(|| NotClone(vec![7; 3]));
    /// let value = future.try_into_result().ok().unwrap().unwrap();
    /// assert_eq!(value.0, [7, 7, 7]);
    /// ```
    pub fn try_into_result(self) -> std::result::Result<Result<T>, Future<T>> {
        if let Err(e) = self.outcome_until(None, Duration::MAX) {
            return Ok(Err(e));
        }
        self.take_done(true)
    }

    /// Blocks until the outcome is ready and takes it: moved out when this is the last handle
    /// on the work ([`try_into_result`](Self::try_into_result)), cloned otherwise.
    ///
    /// ```
    /// use concurra::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let big = pool.submit(|| vec![7u8; 1 << 20]);
    /// assert_eq!(big.into_result().unwrap().len(), 1 << 20);
    /// ```
    ///
    /// # Errors
    /// As [`result_ref`](Self::result_ref).
    pub fn into_result(self) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.outcome_until(None, Duration::MAX)?;
        // A clone is as good as a wait for the completing side to let go: don't wait.
        match self.take_done(false) {
            Ok(outcome) => outcome,
            Err(shared) => shared.result_ref().cloned(),
        }
    }

    /// Gives up this handle for `sink`, which gets the outcome, moved, once it is ready, on the
    /// completing (or cancelling) thread, or at once in this thread if it is ready now. For
    /// crate code that relays a value it never shared (the Pool's results): this must be the
    /// only handle, with no done-callback; if not, the sink gets an [`Error::InvalidState`].
    /// Never call `Promise::future` on a future given to a sink (its cell holds a
    /// placeholder).
    pub(crate) fn into_sink(self, sink: impl FnOnce(Result<T>) + Send + 'static) {
        let sink: state::Sink<T> = Box::new(sink);
        let sink = if self.inner.is_done() {
            sink
        } else {
            let handles = &self.inner.handles;
            match self
                .inner
                .set_sink(sink, || handles.load(Ordering::Acquire) == 1)
            {
                Ok(None) => return,
                Ok(Some(sink)) => sink,
                Err(sink) => {
                    return sink(Err(Error::InvalidState(
                        "a future with another handle or a done-callback cannot be relayed by \
                         moving its value"
                            .into(),
                    )))
                }
            }
        };
        sink(self.into_unique_result());
    }

    /// [`try_into_result`](Self::try_into_result) for a handle the crate made and never
    /// shared (a call's, a map's): the value always moves out.
    pub(crate) fn into_unique_result(self) -> Result<T> {
        self.try_into_result().unwrap_or_else(|_| {
            Err(Error::InvalidState(
                "the value is shared by another handle and cannot be moved out".into(),
            ))
        })
    }

    /// The outcome of a done future, moved out if this handle is the only reference, or given
    /// back with `Err(self)` when another counted handle shares it (or, with `wait` false, when
    /// anything else still holds the work). An error is cloned, never waited for.
    ///
    /// With `wait`, a reference held by the completing side (the producer finishing its
    /// completion, or a done-callback's lent handle) is waited out: it goes once the
    /// completion's callbacks have run.
    pub(crate) fn take_done(mut self, wait: bool) -> std::result::Result<Result<T>, Future<T>> {
        if let Some(Err(e)) = self.inner.outcome() {
            return Ok(Err(e.clone()));
        }
        let mut backoff = waiter::Backoff::new();
        loop {
            if let Some(inner) = Arc::get_mut(&mut self.inner) {
                // The only reference: nobody can read the outcome while it moves out. The
                // emptied cell dies with `self` right after.
                self.poll_key = None;
                return Ok(inner.outcome.take().expect("a done future has an outcome"));
            }
            // Another handle shares the work, or this very thread runs the future's
            // callbacks (its lent reference cannot go while this waits): give the handle back.
            if !wait
                || self.inner.handles.load(Ordering::Acquire) > 1
                || Completing::inside(self.id())
            {
                return Err(self);
            }
            backoff.snooze();
        }
    }

    /// Blocks until done and returns the error, if any (Python: `exception()`).
    ///
    /// `Ok(None)` means the work returned a value; `Ok(Some(e))` that it failed with `e`.
    ///
    /// # Errors
    /// [`Error::Cancelled`] if cancelled, [`Error::InvalidState`] on a self-wait.
    pub fn exception(&self) -> Result<Option<Error>> {
        self.exception_timeout(Duration::MAX)
    }

    /// As [`exception`](Self::exception), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Cancelled`], [`Error::InvalidState`].
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<Error>> {
        match self.outcome_until(deadline(timeout), timeout)? {
            Ok(_) => Ok(None),
            Err(Error::Cancelled) => Err(Error::Cancelled),
            Err(e) => Ok(Some(e.clone())),
        }
    }

    /// Blocks until the future is done, whatever its outcome.
    pub fn wait(&self) {
        let _ = self.wait_until(None);
    }

    /// Blocks at most `timeout` until the future is done; returns whether it is.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        matches!(self.wait_until(deadline(timeout)), Waited::Done)
    }

    /// The outcome, if the future is done. Never blocks.
    pub fn try_result(&self) -> Option<&Result<T>>
    where
        T: Sync,
    {
        self.inner.outcome()
    }

    /// The error, if the future is done with one; `Some(Ok(()))` if it is done with a value,
    /// `None` while pending. Never blocks, and needs no `Sync` (it never touches the value).
    pub fn try_error(&self) -> Option<std::result::Result<(), &Error>> {
        self.inner.outcome().map(|o| o.as_ref().map(|_| ()))
    }

    /// Adds a callback run once with this future when it is done (Python: `add_done_callback`).
    ///
    /// Callbacks run in registration order, in the thread that completes (or cancels) the
    /// future, after every lock is released; on a future that is already done, the callback runs
    /// at once in the caller. A panicking callback is caught and reported on stderr; the other
    /// callbacks still run and the worker lives.
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(&Future<T>) + Send + 'static,
    {
        if let Some(callback) = self.inner.add_callback(Box::new(callback)) {
            run_callback(self, callback);
        }
    }

    /// True if both handles refer to the same work.
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The outcome, once done, or the error that ended the wait.
    fn outcome_until(&self, deadline: Option<Instant>, timeout: Duration) -> Result<&Result<T>> {
        match self.wait_until(deadline) {
            Waited::Done => Ok(self.inner.outcome().expect("a done future has an outcome")),
            Waited::TimedOut => Err(Error::timeout(timeout)),
            Waited::OwnTask => Err(Error::InvalidState(
                "a task waited for its own future, which can never complete while it waits".into(),
            )),
        }
    }

    /// The one blocking path: a fast check, a short spin, then register → re-check → park.
    #[inline]
    fn wait_until(&self, deadline: Option<Instant>) -> Waited {
        if self.inner.is_done() {
            return Waited::Done;
        }
        self.wait_until_cold(deadline)
    }

    #[cold]
    fn wait_until_cold(&self, deadline: Option<Instant>) -> Waited {
        let still_time = deadline.is_none_or(|d| d > Instant::now());
        if still_time && waiter::spin_until(deadline, || self.inner.is_done()) {
            return Waited::Done;
        }
        // Step 1: register; step 2: re-check under the same lock (done, or run by this very
        // thread: only this thread could have named itself the runner, so no race there).
        let key = match self.inner.register(
            Waiter::Thread(crate::loom::thread::current()),
            state::thread_token(),
        ) {
            Ok(key) => key,
            Err(state::Listen::OwnTask) => return Waited::OwnTask,
            Err(_) => return Waited::Done,
        };
        // Step 3: park until done, re-checking after every wake-up (an ending after the
        // registration unparks this thread, so the first park returns at once then).
        loop {
            let parked = waiter::park_until(deadline);
            if self.inner.is_done() {
                return Waited::Done;
            }
            if !parked {
                let mut list = self.inner.lock();
                if self.inner.is_done() {
                    return Waited::Done;
                }
                list.remove(key);
                return Waited::TimedOut;
            }
        }
    }

    /// Identity of the shared work, for collapsing duplicate handles.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }

    /// Registers a waiter unless the future is already done (then returns `None`).
    pub(crate) fn register(&self, waiter: Waiter) -> Option<Key> {
        self.inner.register(waiter, 0).ok()
    }

    /// Withdraws a registration made with [`register`](Self::register).
    pub(crate) fn unregister(&self, key: Key) {
        self.inner.lock().remove(key);
    }

    /// True if the future is done with an error other than cancellation.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.inner.outcome(), Some(Err(e)) if e.is_failure())
    }
}

/// What a facade over a [`Future`] (an `AsyncResult`, a `Thread`, a `Process`) needs to read
/// its value by moving it out: sharing (a second handle) is allowed only for `T: Clone + Sync`,
/// and records how to clone, so the consuming read still gets a value when the handle is
/// shared.
pub(crate) struct Shares<T> {
    clone: OnceLock<fn(&T) -> T>,
}

impl<T> Shares<T> {
    pub(crate) fn new() -> Self {
        Shares {
            clone: OnceLock::new(),
        }
    }

    /// A second handle on `future`.
    pub(crate) fn share(&self, future: &Future<T>) -> Future<T>
    where
        T: Clone + Sync,
    {
        let _ = self.clone.set(T::clone);
        future.clone()
    }

    /// Another facade sharing the same work, with the same sharing record.
    pub(crate) fn fork(&self) -> Self
    where
        T: Clone + Sync,
    {
        let _ = self.clone.set(T::clone);
        let fork = Shares::new();
        let _ = fork.clone.set(T::clone);
        fork
    }

    /// Waits for `future` and moves its value out, or clones it when a second handle made by
    /// [`share`](Self::share) still holds it.
    pub(crate) fn take(&self, future: Future<T>) -> Result<T> {
        match future.try_into_result() {
            Ok(outcome) => outcome,
            Err(shared) => match self.clone.get() {
                // `clone` is set only where `T: Sync`, so borrowing here is a shared read.
                Some(clone) => match shared.peek().expect("a done future has an outcome") {
                    Ok(value) => Ok(clone(value)),
                    Err(e) => Err(e.clone()),
                },
                None => Err(Error::InvalidState(
                    "the value is shared by another handle and cannot be moved out".into(),
                )),
            },
        }
    }
}

impl<T> fmt::Debug for Shares<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shares")
            .field("shared", &self.clone.get().is_some())
            .finish()
    }
}

/// Converts a timeout into a deadline; `None` (wait forever) when it is too large for the clock.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future::from_inner(self.inner.clone())
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        if self.counted {
            self.inner.handles.fetch_sub(1, Ordering::Release);
        }
        if let Some(key) = self.poll_key.take() {
            if !self.inner.is_done() {
                self.unregister(key);
            }
        }
    }
}

/// `.await` a future from any executor: tokio, `futures::executor::block_on`, concurra's loop.
/// The value is cloned, as every handle may read it; to move it out of the last handle, await
/// an [`aio::Task`](crate::aio::Task) or call [`Future::try_into_result`].
impl<T: Clone + Sync> std::future::Future for Future<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        match this.poll_done(cx) {
            Poll::Ready(()) => Poll::Ready(this.inner.outcome().expect("done").clone()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Future<T> {
    /// Ready once the future is done, registering `cx`'s waker until then; reads no value.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.is_done() {
            self.poll_key = None;
            return Poll::Ready(());
        }
        if let Some(key) = self.poll_key {
            let mut list = self.inner.lock();
            if self.inner.is_done() {
                drop(list);
                self.poll_key = None;
                return Poll::Ready(());
            }
            if list.update_waker(key, cx.waker()) {
                return Poll::Pending;
            }
        }
        match self.register(Waiter::Task(cx.waker().clone())) {
            Some(key) => {
                self.poll_key = Some(key);
                Poll::Pending
            }
            None => {
                self.poll_key = None;
                Poll::Ready(())
            }
        }
    }

    /// The outcome, if done, for any `T`. Only for crate code whose every by-reference read
    /// of this future's value runs on one thread: an event-loop task's shared future, read
    /// only by the loop's own code on the loop's thread (users reach it only through the
    /// `T: Sync` accessors, or by moving the value out of the last handle, which needs the
    /// loop's handle gone), and a facade's clone once sharing proved `T: Sync` (`Shares`).
    /// See `outcome.rs`.
    pub(crate) fn peek(&self) -> Option<&Result<T>> {
        self.inner.outcome()
    }
}

impl<T> fmt::Debug for Future<T> {
    /// As Python's repr: `Future<i32>(state=finished, returned)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = self.inner.word().phase();
        write!(
            f,
            "Future<{}>(state={}",
            std::any::type_name::<T>(),
            phase.name()
        )?;
        match self.inner.outcome() {
            Some(Ok(_)) => write!(f, ", returned)"),
            Some(Err(Error::Cancelled)) | None => write!(f, ")"),
            Some(Err(e)) => write!(f, ", raised {e:?})"),
        }
    }
}
/// A `Future<u64>`'s block, and a `Future<String>`'s, stay within glibc's fast bins (at most
/// 120 bytes asked), which free without a lock from any thread (see [`Inner`]).
#[cfg(all(test, target_pointer_width = "64", not(concurra_loom)))]
#[test]
fn a_small_future_fits_a_fast_bin() {
    let counts = 2 * std::mem::size_of::<usize>();
    assert!(std::mem::size_of::<Inner<u64>>() + counts <= 120);
    assert!(std::mem::size_of::<Inner<String>>() + counts <= 120);
}
