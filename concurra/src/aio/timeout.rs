//! Timeout scopes: [`Timeout`] (Python: `asyncio.Timeout`) and the functions built on it,
//! [`timeout`], [`timeout_at`] and [`wait_for`].
//!
//! # Protocol
//!
//! Python's `async with asyncio.timeout(d):` cancels the *task* when the deadline passes, and
//! the scope's `__aexit__` turns the `CancelledError` into `TimeoutError` only if no other
//! cancellation is pending (it compares `task.uncancel()` with the count it saw on entry). So
//! of nested scopes that expired together, only the outermost raises `TimeoutError`; the
//! inner ones let the `CancelledError` through, and all of them report `expired()`
//! (test_nested_timeouts). A Rust block cannot be thrown into; the block is the future the
//! scope polls, and cancelling it is dropping it. The scope works so:
//!
//! 1. **Enter.** At its first poll a [`TimeoutScope`] moves its [`Timeout`] from `Created` to
//!    `Entered` (a second entry is refused, as Python's `RuntimeError`). If the deadline is
//!    already at or before the loop's time, the block is dropped unpolled and the scope
//!    reports the timeout (asyncio's `wait_for` never starts a coroutine given
//!    `timeout <= 0`; see *Differences* for `asyncio.timeout(0)`).
//! 2. **Poll the block** with the scope pushed on this thread's stack of *enclosing scopes*:
//!    while a block is polled, the scopes that (transitively) poll it are on the stack, inner
//!    last. Polls nest, so the stack holds exactly the scopes of the task being stepped. A
//!    block that completes wins, even if the deadline passed at the same wake-up; the scope
//!    ends `Exited` (or `Expired` if it was `Expiring`, as Python's `__aexit__` with no
//!    exception).
//! 3. **Check the deadline** after the block returned pending: the scope has expired if it
//!    is `Expiring` or its deadline is at or before the loop's time. If not, it (re)arms its
//!    timer for the current deadline ([`Timeout::reschedule`] may have moved it) and waits.
//! 4. **Expire.** An expired scope looks at the enclosing scopes on the stack: if any of them
//!    has expired too, that one will report (it checks its deadline right after this block
//!    returns, step 3), so this scope marks them `Expiring` (no reschedule may save them now),
//!    becomes `Expiring` itself and returns pending; the outer scope drops it with its block,
//!    which is the inner scope's `CancelledError`. Otherwise this is the outermost expired
//!    scope: it becomes `Expired`, drops its block in a cancelling section (a
//!    [`Task`](super::Task) it was awaiting is cancelled; its destructors — the block's
//!    `finally` — have run when the scope returns) and returns [`Error::Timeout`].
//! 5. **Dropped** before it ended (an outer scope expired, the task was cancelled, a select
//!    dropped it): an `Expiring` scope, or an `Entered` one whose deadline has passed, becomes
//!    `Expired` (its timer fired in Python's terms); any other becomes `Exited`.
//!
//! A foreign [`Task::cancel`](super::Task::cancel) never turns into a timeout: the task's
//! coroutine is dropped at its next step, before any scope is polled
//! (test_foreign_cancel_doesnt_timeout_if_not_expired). Timeout scopes do not go through the
//! task's cancellation: they cancel by dropping their block inside the step, so they neither
//! raise nor read the task's count of cancel requests
//! ([`Task::cancelling`](super::Task::cancelling), [`Task::uncancel`](super::Task::uncancel)).
//!
//! # Differences from CPython
//!
//! 1. A deadline at or before the entry never polls the block, for all three functions and
//!    [`Timeout::run`]: `asyncio.wait_for(aw, 0)` never starts `aw` either, but
//!    `async with asyncio.timeout(0):` runs the block to its first `await`.
//! 2. A block that completes at the wake-up where its deadline passes gives its value;
//!    asyncio cancels it if the timer callback ran before the task's step.
//! 3. Scopes coordinate within one task, through the stack of step 2. A scope inside another
//!    task ([`create_task`](super::create_task), [`gather`](super::gather), a
//!    [`TaskGroup`](super::TaskGroup)) is not enclosed by the awaiting task's scopes: if
//!    both deadlines pass together and the child's step runs first, the child's scope
//!    reports its timeout (in asyncio the child sees two cancel requests and lets the
//!    `CancelledError` through).
//! 4. No scope runs in a `finally`: a destructor cannot await (test_nested_timeout_in_finally
//!    has no equivalent).

use std::cell::RefCell;
use std::fmt;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::engine::{self, sleep, Sleep};
use crate::error::{Error, Result};

/// Awaits `aw` for at most `timeout` on the loop's clock (Python: `asyncio.wait_for(aw,
/// timeout)`, in Python's argument order; [`timeout`] takes them in tokio's order).
///
/// Returns `Ok` with `aw`'s output if it completes first; otherwise `aw` is cancelled and the
/// result is [`Error::Timeout`]. `aw` runs inside the caller's task (no new task), so it may
/// borrow. Cancelling means dropping it, there and then, inside a cancelling section: its
/// destructors have run before `wait_for` returns (asyncio waits for the cancelled inner task's
/// clean-up too), and a [`Task`](super::Task) it was awaiting is cancelled as well — its
/// coroutine is dropped at its next step, just after this returns. With a zero timeout `aw` is
/// never polled, as asyncio never starts a coroutine given `timeout <= 0`. If `aw` and the
/// deadline are ready at the same wake-up, the value wins.
///
/// It is a [`Timeout`] scope (CPython 3.12's `wait_for` is `async with timeout(t)`), so
/// nested in another scope with the same deadline, the outer scope reports the timeout and
/// this one is cancelled with the outer block (see the [`Timeout`] docs).
///
/// ```
/// use std::time::Duration;
/// use concurra::aio;
///
/// let out = aio::run(async {
///     aio::wait_for(std::future::pending::<()>(), Duration::from_millis(1)).await
/// });
/// assert!(out.unwrap_err().is_timeout());
/// ```
///
/// # Errors
/// [`Error::Timeout`] when the deadline passes first.
///
/// # Panics
/// Polled outside a running loop.
pub async fn wait_for<F: IntoFuture>(aw: F, timeout: Duration) -> Result<F::Output> {
    Timeout::after(timeout).run(aw).await
}

/// Runs `aw` under a deadline `delay` from now (Python: `async with asyncio.timeout(delay):`).
///
/// Python's context manager cancels the task running the block when the deadline passes and
/// turns that `CancelledError` into `TimeoutError` at the block's boundary. In Rust the block
/// is the future `aw`: it runs inside the caller's task and is dropped (cancelled) at the
/// deadline, in a cancelling section, so its destructors — the block's `finally` — have run
/// when this returns [`Error::Timeout`]. Of nested scopes that expired together, only the
/// outermost reports the timeout; the inner ones are dropped with its block (their
/// cancellation), as in test_nested_timeouts. A zero delay times out without polling `aw`.
/// The same as [`wait_for`], with the arguments in tokio's order
/// (`tokio::time::timeout(d, fut)`). For `expired()`, `when()` and `reschedule()`, make the
/// scope with [`Timeout::after`] and run the block with [`Timeout::run`].
///
/// ```
/// use std::time::Duration;
/// use concurra::aio;
///
/// let out = aio::run(async {
///     aio::timeout(Duration::from_millis(1), async {
///         aio::sleep(Duration::from_secs(3600)).await;
///     })
///     .await
/// });
/// assert!(out.unwrap_err().is_timeout());
/// ```
///
/// # Errors
/// [`Error::Timeout`] when the deadline passes first.
///
/// # Panics
/// Polled outside a running loop.
pub async fn timeout<F: IntoFuture>(delay: Duration, aw: F) -> Result<F::Output> {
    Timeout::after(delay).run(aw).await
}

/// [`timeout`] with an absolute deadline on the loop's clock (Python: `asyncio.timeout_at`).
/// A deadline at or before [`time`](super::time) times out without polling `aw`.
///
/// ```
/// use std::time::Duration;
/// use concurra::aio;
///
/// let out = aio::run(async {
///     let deadline = aio::time() + Duration::from_millis(1);
///     aio::timeout_at(deadline, std::future::pending::<()>()).await
/// });
/// assert!(out.unwrap_err().is_timeout());
/// ```
///
/// # Errors
/// [`Error::Timeout`] when the deadline passes first.
///
/// # Panics
/// Polled outside a running loop.
pub async fn timeout_at<F: IntoFuture>(when: Duration, aw: F) -> Result<F::Output> {
    Timeout::at(when).run(aw).await
}

/// A timeout scope (Python: `asyncio.Timeout`, what `asyncio.timeout(d)` and
/// `asyncio.timeout_at(when)` return): a deadline on the loop's clock, or none, that can be
/// read ([`when`](Self::when)), moved ([`reschedule`](Self::reschedule)) and asked whether it
/// expired ([`expired`](Self::expired)).
///
/// Python's `async with cm:` block is the future given to [`run`](Self::run). A `Timeout` is
/// a cheap handle (`Clone`, `Send`, `Sync`); clones share the scope, so the block itself, or
/// another task or thread, can reschedule it. Nested scopes follow CPython: of the scopes
/// that expired together, only the outermost reports [`Error::Timeout`]; the inner ones are
/// dropped with the outer block (their cancellation) and report `expired()` too. The
/// protocol is in the `timeout` module docs.
///
/// ```
/// use std::time::Duration;
/// use concurra::aio::{self, Timeout};
///
/// aio::run(async {
///     let deadline = aio::time() + Duration::from_millis(5);
///     let outer = Timeout::at(deadline);
///     let inner = Timeout::at(deadline);
///     let out = outer
///         .run(inner.run(aio::sleep(Duration::from_secs(10))))
///         .await;
///     // The outer scope reports the timeout; the inner one was cancelled with its block.
///     assert!(out.unwrap_err().is_timeout());
///     assert!(outer.expired() && inner.expired());
///     assert_eq!(outer.when(), Some(deadline));
/// });
/// ```
///
/// Rescheduling from inside the block (test_reschedule's pattern):
///
/// ```
/// use std::time::Duration;
/// use concurra::aio::{self, Timeout};
///
/// aio::run(async {
///     let cm = Timeout::never();
///     let handle = cm.clone();
///     let out = cm
///         .run(async move {
///             handle.reschedule(aio::time() + Duration::from_millis(1)).unwrap();
///             aio::sleep(Duration::from_secs(10)).await;
///         })
///         .await;
///     assert!(out.unwrap_err().is_timeout());
///     assert!(cm.expired());
/// });
/// ```
#[derive(Clone)]
pub struct Timeout {
    shared: Arc<Shared>,
}

/// Where a scope is in its life. It only moves forward, `Entered` ↔ nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Made, not entered: no block runs; [`Timeout::reschedule`] is refused.
    Created,
    /// Its block runs (its [`TimeoutScope`] was polled and has not ended); the deadline may
    /// be moved. Set only by the first poll of a `TimeoutScope`.
    Entered,
    /// The deadline passed while the block ran, and an enclosing scope that expired with it
    /// will drop the block (module docs, step 4). Set only by an inner scope's poll, while
    /// this scope polls its block. Never rescheduled again.
    Expiring,
    /// The scope ended expired: it reported the timeout, or it was dropped while expiring or
    /// after its deadline. Final.
    Expired,
    /// The scope ended before its deadline (the block completed, or was dropped). Final.
    Exited,
}

impl State {
    /// Python's names (`_State` values), for `Debug`.
    fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Entered => "active",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::Exited => "finished",
        }
    }
}

/// What clones of a [`Timeout`] share.
struct Shared {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The deadline on the loop's clock; `None`: never.
    when: Option<Duration>,
    /// The loop's time when the scope was made by [`Timeout::after`]: the timeout error says
    /// `when - origin`; for [`Timeout::at`], the time the scope was entered.
    origin: Option<Duration>,
    /// The waker of the task polling the scope, while `Entered` and not being polled: a
    /// [`Timeout::reschedule`] from elsewhere wakes it, so that the scope re-arms its timer.
    waker: Option<Waker>,
}

/// The outcome of [`Shared::enter`].
#[must_use]
enum Enter {
    /// `Created` → `Entered`; the deadline had already passed (step 1).
    Expired,
    /// `Created` → `Entered`; the block may run.
    Run,
    /// Not `Created`: a second entry (Python: `RuntimeError`).
    Refused,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, now: Duration) -> Enter {
        let mut inner = self.lock();
        if inner.state != State::Created {
            return Enter::Refused;
        }
        inner.state = State::Entered;
        inner.origin.get_or_insert(now);
        if inner.when.is_some_and(|when| when <= now) {
            Enter::Expired
        } else {
            Enter::Run
        }
    }

    /// True if the scope is running its block and has expired by `now` (step 3).
    fn expired_by(&self, now: Duration) -> bool {
        let inner = self.lock();
        match inner.state {
            State::Expiring => true,
            State::Entered => inner.when.is_some_and(|when| when <= now),
            _ => false,
        }
    }

    /// An enclosing scope found expired by an inner one: it reports (step 4).
    fn mark_expiring(&self) {
        let mut inner = self.lock();
        if inner.state == State::Entered {
            inner.state = State::Expiring;
        }
    }

    /// The block completed: `Entered` → `Exited`, `Expiring` → `Expired`.
    fn exit(&self) {
        let mut inner = self.lock();
        inner.waker = None;
        inner.state = match inner.state {
            State::Expiring => State::Expired,
            State::Entered => State::Exited,
            other => other,
        };
    }

    /// The scope reports the timeout; returns how long the caller was prepared to wait.
    fn expire(&self) -> Duration {
        let mut inner = self.lock();
        inner.waker = None;
        inner.state = State::Expired;
        let origin = inner.origin.unwrap_or_default();
        inner.when.unwrap_or(origin).saturating_sub(origin)
    }

    /// The scope was dropped before it ended (step 5); `now` is `None` off the loop.
    fn abandon(&self, now: Option<Duration>) {
        let mut inner = self.lock();
        inner.waker = None;
        let due = matches!((inner.when, now), (Some(when), Some(now)) if when <= now);
        inner.state = match inner.state {
            State::Expiring => State::Expired,
            State::Entered if due => State::Expired,
            State::Entered => State::Exited,
            other => other,
        };
    }
}

impl Timeout {
    /// A scope whose deadline is `when` on the loop's clock (what [`time`](super::time)
    /// returns), or never for `None` (Python: `asyncio.timeout_at(when)`). Needs no loop
    /// until it is entered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurra::aio::Timeout;
    ///
    /// assert_eq!(Timeout::at(Duration::from_secs(5)).when(), Some(Duration::from_secs(5)));
    /// assert_eq!(Timeout::at(None).when(), None);
    /// ```
    pub fn at(when: impl Into<Option<Duration>>) -> Timeout {
        Timeout::new(when.into(), None)
    }

    /// A scope whose deadline is `delay` from the loop's time now, or never for `None`
    /// (Python: `asyncio.timeout(delay)`). A delay too large for the clock means never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurra::aio::{self, PausedClock, Timeout};
    ///
    /// // A paused clock stands still while the loop is busy: `time()` is exact.
    /// aio::Builder::new().clock(PausedClock::new()).run(async {
    ///     let cm = Timeout::after(Duration::from_secs(10));
    ///     assert_eq!(cm.when(), Some(aio::time() + Duration::from_secs(10)));
    ///     assert_eq!(cm.run(async { 7 }).await.unwrap(), 7);
    ///     assert!(!cm.expired());
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a running loop (Python: `RuntimeError: no running event loop`).
    pub fn after(delay: impl Into<Option<Duration>>) -> Timeout {
        let now = engine::now("aio::Timeout::after");
        let when = delay.into().and_then(|delay| now.checked_add(delay));
        Timeout::new(when, Some(now))
    }

    /// A scope without a deadline (Python: `asyncio.timeout(None)`), to be given one later
    /// with [`reschedule`](Self::reschedule).
    pub fn never() -> Timeout {
        Timeout::at(None)
    }

    fn new(when: Option<Duration>, origin: Option<Duration>) -> Timeout {
        Timeout {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    state: State::Created,
                    when,
                    origin,
                    waker: None,
                }),
            }),
        }
    }

    /// The current deadline on the loop's clock; `None`: never (Python: `cm.when()`).
    pub fn when(&self) -> Option<Duration> {
        self.shared.lock().when
    }

    /// True if the deadline passed while the block ran (Python: `cm.expired()`): the scope
    /// reported the timeout, or it was cancelled by an enclosing scope that expired with it.
    pub fn expired(&self) -> bool {
        matches!(self.shared.lock().state, State::Expiring | State::Expired)
    }

    /// Moves the deadline to `when` on the loop's clock, or removes it for `None` (Python:
    /// `cm.reschedule(when)`). A deadline at or before the loop's time expires the scope at
    /// its next poll, which this call arranges (from the block itself, that is as soon as the
    /// block next waits). Callable from any thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurra::aio::{self, Timeout};
    ///
    /// aio::run(async {
    ///     let cm = Timeout::after(Duration::from_millis(1));
    ///     assert!(cm.reschedule(None).unwrap_err().is_invalid_state()); // not entered yet
    ///     let handle = cm.clone();
    ///     let out = cm
    ///         .run(async move {
    ///             handle.reschedule(None).unwrap(); // no deadline any more
    ///             aio::sleep(Duration::from_millis(5)).await;
    ///         })
    ///         .await;
    ///     assert!(out.is_ok() && !cm.expired() && cm.when().is_none());
    /// });
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidState`] unless the scope is running its block and has not expired
    /// (Python: `RuntimeError: Timeout has not been entered`, `Cannot change state of
    /// expiring Timeout`, and so on).
    pub fn reschedule(&self, when: impl Into<Option<Duration>>) -> Result<()> {
        let waker = {
            let mut inner = self.shared.lock();
            match inner.state {
                State::Entered => {}
                State::Created => {
                    return Err(Error::InvalidState("Timeout has not been entered".into()))
                }
                other => {
                    return Err(Error::InvalidState(format!(
                        "cannot change state of {} Timeout",
                        other.name()
                    )))
                }
            }
            inner.when = when.into();
            inner.waker.clone()
        };
        // Outside the lock: waking may run code.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Runs `aw` as this scope's block (Python: `async with cm:`) and gives its output, or
    /// [`Error::Timeout`] if the deadline passes first; the block is then dropped (its
    /// destructors have run when the scope returns). The scope is entered at the first poll.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurra::aio::{self, Timeout};
    ///
    /// aio::run(async {
    ///     let cm = Timeout::after(Duration::from_millis(1));
    ///     let out = cm.run(aio::sleep(Duration::from_secs(10))).await;
    ///     assert!(out.unwrap_err().is_timeout());
    ///     assert!(cm.expired());
    /// });
    /// ```
    pub fn run<F: IntoFuture>(&self, aw: F) -> TimeoutScope<F::IntoFuture> {
        TimeoutScope {
            timeout: self.clone(),
            block: Some(Box::pin(aw.into_future())),
            timer: None,
            phase: Phase::Start,
        }
    }
}

impl fmt::Debug for Timeout {
    /// Python's repr: the state, and the deadline while active.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.shared.lock();
        let mut d = f.debug_struct("Timeout");
        d.field("state", &inner.state.name());
        if inner.state == State::Entered {
            d.field("when", &inner.when);
        }
        d.finish()
    }
}

/// The future [`Timeout::run`] returns: the scope running its block. Output:
/// `Result<F::Output>`. `Send` when the block is; `Unpin`.
#[must_use = "a timeout scope does nothing unless awaited"]
pub struct TimeoutScope<F> {
    timeout: Timeout,
    /// The block; `None` once it completed or was dropped.
    block: Option<Pin<Box<F>>>,
    /// The timer armed for this deadline (step 3).
    timer: Option<(Duration, Sleep)>,
    phase: Phase,
}

/// Where a [`TimeoutScope`] is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Not polled yet.
    Start,
    /// Entered: its block runs.
    Running,
    /// Returned its output.
    Done,
}

thread_local! {
    /// The scopes polling their blocks on this thread, outermost first (step 2).
    static ENCLOSING: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// A scope's place on [`ENCLOSING`] while it polls its block; popped on drop (a panicking
/// block included).
struct Frame;

impl Frame {
    fn push(shared: &Arc<Shared>) -> Frame {
        ENCLOSING.with(|stack| stack.borrow_mut().push(shared.clone()));
        Frame
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let top = ENCLOSING.with(|stack| stack.borrow_mut().pop());
        drop(top);
    }
}

/// Marks every enclosing scope that has expired by `now` as expiring; true if there was one
/// (step 4).
fn enclosing_expired(now: Duration) -> bool {
    let stack = ENCLOSING.with(|stack| stack.borrow().clone());
    let mut any = false;
    for outer in &stack {
        if outer.expired_by(now) {
            outer.mark_expiring();
            any = true;
        }
    }
    any
}

impl<F: StdFuture> TimeoutScope<F> {
    /// Step 4, for the outermost expired scope: drop the block as a cancellation and report.
    fn expire(&mut self) -> Result<F::Output> {
        self.phase = Phase::Done;
        self.timer = None;
        let after = self.timeout.shared.expire();
        let block = self.block.take();
        // No `Rc` of the loop is held across an await: this future stays `Send` when the
        // block is.
        engine::drop_cancelled(block);
        Err(Error::timeout(after))
    }

    /// Step 3: arms the timer for the current deadline and polls it.
    fn wait(&mut self, now: Duration, cx: &mut Context<'_>) -> Poll<()> {
        let Some(when) = self.timeout.when() else {
            self.timer = None;
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some((armed, timer)) if *armed == when => timer,
            slot => &mut slot.insert((when, sleep(when.saturating_sub(now)))).1,
        };
        Pin::new(timer).poll(cx)
    }
}

impl<F: StdFuture> StdFuture for TimeoutScope<F> {
    type Output = Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<F::Output>> {
        let this = &mut *self;
        let shared = this.timeout.shared.clone();
        match this.phase {
            Phase::Done => panic!("TimeoutScope polled after it completed"),
            Phase::Start => {
                // Step 1.
                let now = engine::now("aio::Timeout");
                match shared.enter(now) {
                    Enter::Refused => {
                        this.phase = Phase::Done;
                        this.block = None;
                        return Poll::Ready(Err(Error::InvalidState(
                            "Timeout has already been entered".into(),
                        )));
                    }
                    Enter::Expired => {
                        this.phase = Phase::Running;
                        return Poll::Ready(this.expire());
                    }
                    Enter::Run => this.phase = Phase::Running,
                }
            }
            Phase::Running => {}
        }
        // Step 2: the block runs with this scope on the stack; no waker for reschedule
        // meanwhile (this poll re-reads the deadline below).
        shared.lock().waker = None;
        let polled = {
            let _frame = Frame::push(&shared);
            let block = this.block.as_mut().expect("a running scope has its block");
            block.as_mut().poll(cx)
        };
        if let Poll::Ready(value) = polled {
            this.phase = Phase::Done;
            this.block = None;
            this.timer = None;
            shared.exit();
            return Poll::Ready(Ok(value));
        }
        // Step 3. The block may have moved a paused clock: read it again.
        let now = engine::now("aio::Timeout");
        if !shared.expired_by(now) {
            // Register for a reschedule first, then arm the timer: a reschedule from another
            // thread in between wakes this task, which re-reads the deadline.
            shared.lock().waker = Some(cx.waker().clone());
            if this.wait(now, cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired for a deadline that has not passed (cannot happen on a
            // monotonic clock): try again at the next step.
            this.timer = None;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Step 4.
        if enclosing_expired(now) {
            shared.mark_expiring();
            this.timer = None;
            // The enclosing scope drops this one in this same step. Should its block keep
            // this scope alive instead, the next step polls it again, and it re-decides.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(this.expire())
    }
}

impl<F> Drop for TimeoutScope<F> {
    fn drop(&mut self) {
        if self.phase == Phase::Running {
            // Step 5.
            let now = engine::try_now();
            self.timeout.shared.abandon(now);
        }
    }
}

impl<F> fmt::Debug for TimeoutScope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutScope")
            .field("timeout", &self.timeout)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
