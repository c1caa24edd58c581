//! Tasks: a coroutine owned by the loop, the [`Promise`] it completes, and the [`Task`] handle.
//!
//! # States
//!
//! A task's [`Stage`] only moves forward:
//!
//! 1. `Scheduled`: created; its first step is queued. [`Task::cancel`] here means the
//!    coroutine is dropped without ever being polled (asyncio: a task cancelled before its
//!    first step never runs its body).
//! 2. `Suspended`: polled at least once, waiting to be woken.
//! 3. `Done`: the coroutine returned, panicked, or was dropped as cancelled; the promise is
//!    complete and the task has left the loop's live set. Only here does [`Task::cancel`]
//!    return false.
//!
//! # One step
//!
//! 1. The scheduled flag is cleared (a wake from now on queues the task again); a task that is
//!    already done does nothing more.
//! 2. If a cancel was requested ([`Task::cancel`]) or the shared future was cancelled
//!    ([`Future::cancel`](crate::Future::cancel)), the coroutine is dropped inside a
//!    "cancelling" section and the promise is cancelled.
//! 3. Otherwise the coroutine is polled in place, pinned in the task's one allocation, through
//!    [`unwind::catch`](crate::unwind). Only the coroutine's own cell is borrowed while it
//!    runs, so it may create tasks, cancel itself or await its own handle. `Pending` leaves it
//!    there. `Ready(v)` drops it in place and completes the task with `v`, unless the task cancelled itself during that step (then it ends
//!    cancelled, as asyncio's test_cancel_at_end). A panic drops the coroutine and fails the
//!    promise with [`Error::Panicked`](crate::Error::Panicked); the loop goes on.
//!
//! The promise is never marked running, so the shared future stays `Pending` until the task
//! ends: `Future::cancel` from any thread succeeds then, and the task's coroutine is dropped at
//! its next step (the done-callback that [`Task::future`] installs wakes it for that).

use std::cell::{Cell, OnceCell, Ref, RefCell};
use std::fmt;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::context;
use super::core::{self, Core, WakeKey};
use super::slab::Key;
use super::waker::WakeWord;
use crate::error::{Error, Result};
use crate::executor::Fallible;
use crate::future::{self, Future, Promise};
use crate::unwind;

/// What [`create_task`](crate::aio::create_task) runs as a task: any `'static` future (its output
/// is the task's value), or a [`Fallible`] future whose output is `Result<T, E>` (the task's
/// value is `T`; an `Err(e)` fails the task with [`Error::failed(e)`](Error::failed), as a
/// raised exception fails an asyncio task, so [`gather`](crate::aio::gather), a
/// [`TaskGroup`](crate::aio::TaskGroup) and [`wait`](crate::aio::wait()) with
/// [`ReturnWhen::FirstException`](crate::ReturnWhen::FirstException) see a failure).
///
/// Sealed: implemented for every `Future + 'static` and for `Fallible<F>`.
///
/// ```
/// use concurra::{aio, Fallible};
///
/// let out = aio::run(async {
///     let parsed = aio::create_task(Fallible(async { "42".parse::<i32>() }));
///     let failed = aio::create_task(Fallible(async { "x".parse::<i32>() }));
///     (parsed.await, failed.await)
/// });
/// assert_eq!(out.0.unwrap(), 42);
/// assert!(out.1.unwrap_err().is_failed());
/// ```
pub trait IntoCoroutine: sealed::Sealed + 'static {
    /// The task's value.
    type Output;
    /// The future the task polls.
    #[doc(hidden)]
    type Future: StdFuture;
    /// The future the task polls: `self`, or a field of `self` (it is pinned where it is).
    #[doc(hidden)]
    fn future_mut(&mut self) -> &mut Self::Future;
    /// The task's outcome from the future's output.
    #[doc(hidden)]
    fn finish(out: <Self::Future as StdFuture>::Output) -> Result<Self::Output>;
}

mod sealed {
    /// Keeps [`IntoCoroutine`](crate::aio::IntoCoroutine) to this crate's impls (its pinning
    /// relies on them).
    pub trait Sealed {}
    impl<F: std::future::Future> Sealed for F {}
    impl<F> Sealed for crate::Fallible<F> {}
}

impl<F: StdFuture + 'static> IntoCoroutine for F {
    type Output = F::Output;
    type Future = F;

    fn future_mut(&mut self) -> &mut F {
        self
    }

    fn finish(out: F::Output) -> Result<F::Output> {
        Ok(out)
    }
}

impl<F, T, E> IntoCoroutine for Fallible<F>
where
    F: StdFuture<Output = std::result::Result<T, E>> + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Output = T;
    type Future = F;

    fn future_mut(&mut self) -> &mut F {
        &mut self.0
    }

    fn finish(out: std::result::Result<T, E>) -> Result<T> {
        out.map_err(Error::failed)
    }
}

/// Where a task is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Created, first step queued, never polled. The body holds the coroutine.
    Scheduled,
    /// Polled at least once and not finished. The body holds the coroutine.
    Suspended,
    /// Finished, failed or cancelled. The coroutine is gone and the outcome is in the body or
    /// in the shared future, for good.
    Done,
}

/// The type-independent part of a task, read by the loop and by [`Task`].
pub(crate) struct Header {
    /// Creation order: ids grow from 1; shutdown cancels in this order.
    id: u64,
    /// The task's waker, as its data word: the loop and the task's slot in its task slab.
    wake: WakeWord,
    /// True while the task sits in the ready queue (deduplicates wakes).
    pub(crate) scheduled: Cell<bool>,
    /// Cancel requests not withdrawn (Python: `_num_cancels_requested`): raised by
    /// [`Task::cancel`] while the task is not done, lowered by [`Task::uncancel`]; the next
    /// step drops the coroutine if it is not zero.
    cancel_requested: Cell<u32>,
    stage: Cell<Stage>,
    /// Whether [`Task::future`] installed the wake-on-external-cancel callback.
    watching: Cell<bool>,
    /// Live [`Task`] handles (the one `create_task` returns, and crate-internal shares).
    handles: Cell<u32>,
    /// Someone observed the outcome (awaited it, read it, converted the task into a
    /// [`Future`]), or its failure was reported: it is never reported (again).
    observed: Cell<bool>,
    /// [`Task::set_name`]; `None` means the default `Task-<id>`.
    /// A thin pointer on purpose: 8 bytes in every task, where `Option<Box<str>>` takes 16.
    #[allow(clippy::box_collection)]
    name: Cell<Option<Box<String>>>,
}

impl Header {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn handles(&self) -> u32 {
        self.handles.get()
    }

    /// Whether its outcome was observed, or its failure reported.
    pub(crate) fn observed(&self) -> bool {
        self.observed.get()
    }

    /// The task's name (Python: `task.get_name()`).
    pub(crate) fn name(&self) -> String {
        let name = self.name.take();
        let out = match &name {
            Some(name) => name.to_string(),
            None => format!("Task-{}", self.id),
        };
        self.name.set(name);
        out
    }

    fn key(&self) -> Key {
        match self.wake.task() {
            WakeKey::Task(key) => key,
            WakeKey::Main => unreachable!("a task's word names a task"),
        }
    }
}

/// What a task's one allocation holds besides its header: the coroutine while it runs, then
/// its outcome.
enum Body<F: IntoCoroutine> {
    /// Not done: the coroutine, pinned here (see # Pinning on [`TaskCell`]).
    Running(F),
    /// Done, and no shared future was made: the outcome (the error boxed, to keep the cell
    /// small: see # Memory in the `aio` module docs).
    Done(Local<F::Output>),
    /// The coroutine is gone and the outcome is elsewhere (the shared future) or not yet set.
    Empty,
}

/// A finished task's outcome as its body keeps it.
type Local<T> = std::result::Result<T, Box<Error>>;

/// The crate-wide future of a task and its write side, made on demand.
struct Shared<T> {
    future: Future<T>,
    /// From the future's creation (while the task runs) to the task's end.
    promise: RefCell<Option<Promise<T>>>,
    /// How a [`Join`] copies the value out of `future`: `T::clone`, captured by the call that
    /// made the shared future ([`Task::future`], [`Task::try_result`]), where `T: Clone` is
    /// known. So awaiting a task needs no `Clone` bound of its own.
    clone: fn(&T) -> T,
}

/// Where a task's outcome lives.
///
/// 1. Until someone asks for the crate-wide [`Future`] ([`Task::future`], `Future::from`,
///    [`Task::try_result`]), there is none: the outcome goes into the task's body when it
///    ends, a [`Join`] waits in `join` and then *moves* the outcome out of the body (no
///    `Clone`). Most tasks never pay for a shared future. There is at most one `Join` per
///    task: [`Task`] is not `Clone`, `into_future` consumes it, and the crate's internal
///    shares ([`Task::share`]) are never awaited.
/// 2. The first ask makes it: a pending task gets a `(Promise, Future)` pair (the promise is
///    completed or cancelled when the task ends); a finished task's outcome moves from the
///    body into a completed (or cancelled) future.
/// 3. Once `shared` is set, the body never holds the outcome and every read goes through
///    `shared`.
///
/// Apart from the outcome, a value-free [`Signal`] of the task's end can be made on demand, for
/// those who wait on a task without reading its value ([`wait`](crate::aio::wait()),
/// [`as_completed`](crate::aio::as_completed), [`TaskGroup`](crate::aio::TaskGroup)): they need no
/// `T: Clone`.
pub(crate) struct Outcome<T> {
    shared: OnceCell<Box<Shared<T>>>,
    /// The waker of the [`Join`] parked on this task, woken when it ends.
    join: Cell<Option<Waker>>,
    signal: OnceCell<Box<Signal>>,
}

/// The task's end without its value: a crate-wide `Future<()>` that completes when the task
/// ends, `Ok(())` for a value, the task's error for a failure, cancelled for a cancellation.
struct Signal {
    future: Future<()>,
    /// From the signal's creation (while the task runs) to the task's end.
    promise: RefCell<Option<Promise<()>>>,
}

impl<T> Outcome<T> {
    fn new() -> Self {
        Outcome {
            shared: OnceCell::new(),
            join: Cell::new(None),
            signal: OnceCell::new(),
        }
    }

    fn shared_future(&self) -> Option<&Future<T>> {
        self.shared.get().map(|s| &s.future)
    }

    fn done(&self, stage: Stage) -> bool {
        stage == Stage::Done || self.shared_future().is_some_and(Future::done)
    }

    fn cancelled_from_outside(&self) -> bool {
        self.shared.get().is_some_and(|s| {
            s.promise
                .borrow()
                .as_ref()
                .is_some_and(Promise::is_cancelled)
        })
    }

    /// Registers `waker` to be woken at the end, in place of the one there (the task's one
    /// [`Join`] polled from another task or combinator since).
    fn park(&self, waker: &Waker) {
        let join = self.join.take();
        self.join.set(match join {
            Some(old) if old.will_wake(waker) => Some(old),
            _ => Some(waker.clone()),
        });
    }
}

/// What the loop does with a task, whatever its coroutine's type.
pub(crate) trait TaskRun {
    fn header(&self) -> &Header;
    /// One step (see the module docs).
    fn run(self: Rc<Self>, core: &Core);
    /// Drops the coroutine without polling it and cancels the task (shutdown, a task created
    /// on a closed loop). Call inside a cancelling section.
    fn cancel_now(&self);
    /// The task's failure if nobody observed it yet; marks it observed (reported once).
    fn unobserved_failure(&self) -> Option<Error>;
}

/// What a [`Task`] handle reaches, whatever the coroutine's type.
trait TaskRef<T> {
    fn header(&self) -> &Header;
    fn outcome(&self) -> &Outcome<T>;
    /// The outcome in the body, if the task is done and no shared future was made. `None`
    /// also during the task's own step (the body is borrowed then, and the task not done).
    fn local(&self) -> Option<Ref<'_, Local<T>>>;
    /// Moves the outcome out of the body (for the task's one [`Join`]); `None` as
    /// [`local`](Self::local).
    fn take(&self) -> Option<Result<T>>;
    /// The shared future, made now if needed (step 2 of [`Outcome`]), copying through `clone`.
    fn shared(&self, clone: fn(&T) -> T) -> &Future<T>;
    /// The task's [`Signal`], made now if needed.
    fn signal(&self) -> &Future<()>;
    /// [`TaskRun::unobserved_failure`].
    fn unobserved_failure(&self) -> Option<Error>;
}

/// A task: header, coroutine and outcome in one `Rc` (one allocation per task), shared by the
/// loop's slab, the ready queue (while scheduled) and the [`Task`] handles.
///
/// # Pinning
///
/// The coroutine is polled in place, pinned inside the `Rc`. That is sound because:
///
/// 1. it is moved into the `Rc` before its first poll, and the `Rc`'s contents never move
///    (nothing calls `Rc::try_unwrap`, `Rc::into_inner` or `Rc::get_mut` on a task);
/// 2. it leaves [`Body::Running`] only by being dropped where it is (`*body = Body::Empty` in
///    [`drop_coro`](TaskCell::drop_coro), or the cell's own drop); the body is moved out of
///    (`mem::replace`) only when it is [`Body::Done`], which holds no coroutine.
struct TaskCell<F: IntoCoroutine> {
    header: Header,
    /// Borrowed for the whole of a step (nothing else needs it then: a coroutine may create
    /// tasks, cancel itself or await its own handle, and those only try to borrow it).
    body: RefCell<Body<F>>,
    outcome: Outcome<F::Output>,
}

/// Creates a task: the loop's side and the user's handle.
pub(crate) fn new<F>(id: u64, wake: WakeWord, coro: F) -> (Rc<dyn TaskRun>, Task<F::Output>)
where
    F: IntoCoroutine,
{
    let cell = Rc::new(TaskCell {
        header: Header {
            id,
            wake,
            scheduled: Cell::new(false),
            cancel_requested: Cell::new(0),
            stage: Cell::new(Stage::Scheduled),
            watching: Cell::new(false),
            handles: Cell::new(1),
            observed: Cell::new(false),
            name: Cell::new(None),
        },
        body: RefCell::new(Body::Running(coro)),
        outcome: Outcome::new(),
    });
    let task = Task { cell: cell.clone() };
    (cell, task)
}

impl<F: IntoCoroutine> TaskCell<F> {
    /// Drops the coroutine in place (see # Pinning), reporting (not propagating) a panic in
    /// its destructor.
    fn drop_coro(&self) {
        let mut body = self.body.borrow_mut();
        if let Body::Running(_) = &*body {
            if std::mem::needs_drop::<F>() {
                unwind::report(&format_args!("dropping task {}", self.header.id), || {
                    *body = Body::Empty;
                });
            } else {
                // Nothing to run, nothing that can panic.
                *body = Body::Empty;
            }
        }
    }

    /// Stores the outcome (`None`: cancelled), completes the signal and wakes the join. No
    /// borrow is held while a promise runs its done-callbacks or the join's waker is woken.
    fn finish(&self, outcome: Option<Result<F::Output>>) {
        self.header.stage.set(Stage::Done);
        let signal = self
            .outcome
            .signal
            .get()
            .and_then(|s| s.promise.borrow_mut().take());
        let promise = self
            .outcome
            .shared
            .get()
            .and_then(|s| s.promise.borrow_mut().take());
        match promise {
            // Refused only if the shared future was cancelled meanwhile: it stays so.
            Some(promise) => match outcome {
                // A refused value is dropped in there: through the panic door, so that a
                // panicking destructor is reported and the loop goes on.
                Some(outcome) => {
                    if let Err(panic) = unwind::catch(move || drop(promise.complete(outcome))) {
                        unwind::print_report(&format_args!(
                            "dropping the value of task {} panicked: {panic}",
                            self.header.id
                        ));
                    }
                }
                None => drop(promise.cancel()),
            },
            None => {
                let outcome = outcome.unwrap_or_else(|| Err(Error::Cancelled));
                *self.body.borrow_mut() = Body::Done(outcome.map_err(Box::new));
            }
        }
        // Read back from where the outcome went: the signal agrees with the shared future,
        // which stays cancelled if it was cancelled from outside meanwhile.
        if let Some(promise) = signal {
            match self.summary() {
                Some(summary) => drop(promise.complete(summary)),
                None => drop(promise.cancel()),
            }
        }
        let join = self.outcome.join.take();
        if let Some(waker) = join {
            waker.wake();
        }
    }

    /// The task's end as a summary (`None`: cancelled), once it is done.
    fn summary(&self) -> Option<Result<()>> {
        if let Some(shared) = self.outcome.shared_future() {
            if shared.cancelled() {
                return None;
            }
            return match shared.peek() {
                Some(Err(e)) => Some(Err(e.clone())),
                _ => Some(Ok(())),
            };
        }
        match self.local().as_deref() {
            Some(Err(e)) if e.is_cancelled() => None,
            Some(Err(e)) => Some(Err((**e).clone())),
            // A value, or taken by the task's one join already.
            _ => Some(Ok(())),
        }
    }

    /// Step 3: polls the coroutine once; `None` if it is gone. A coroutine that completes is
    /// dropped in place inside the same panic door: a panic in its destructor is reported on
    /// stderr and the task still completes with the value (as [`drop_coro`](Self::drop_coro)
    /// would have it). The value is the future's own output, before
    /// [`IntoCoroutine::finish`].
    #[allow(clippy::type_complexity)]
    fn poll_coro(&self) -> Option<Result<Poll<<F::Future as StdFuture>::Output>>> {
        let mut body = self.body.try_borrow_mut().ok()?;
        if !matches!(*body, Body::Running(_)) {
            return None;
        }
        let waker = self.header.wake.waker();
        let mut cx = Context::from_waker(&waker);
        let mut value = None;
        let caught = unwind::catch(|| {
            let Body::Running(coro) = &mut *body else {
                return;
            };
            // SAFETY: the coroutine is never moved while it lives (see # Pinning on
            // `TaskCell`): it sits in its `Rc` from before its first poll until it is dropped
            // in place. The future polled is the coroutine itself or a field of it
            // (`IntoCoroutine::future_mut`, sealed: only this crate's impls, which return
            // `self` or the field of `Fallible`, a struct with no `Drop` that moves it).
            #[allow(unsafe_code)]
            let coro = unsafe { Pin::new_unchecked(coro.future_mut()) };
            if let Poll::Ready(v) = coro.poll(&mut cx) {
                value = Some(v);
                // Dropped in place (see # Pinning); if its destructor panics, the body is
                // `Empty` all the same (an assignment writes its value while unwinding).
                *body = Body::Empty;
            }
        });
        Some(match (caught, value) {
            (Ok(()), None) => Ok(Poll::Pending),
            (Ok(()), Some(v)) => Ok(Poll::Ready(v)),
            (Err(panic), None) => Err(panic),
            (Err(panic), Some(v)) => {
                unwind::print_report(&format_args!(
                    "dropping task {} panicked: {panic}",
                    self.header.id
                ));
                Ok(Poll::Ready(v))
            }
        })
    }

    /// See [`TaskRun::unobserved_failure`]. Only a finished task can fail.
    fn failure(&self) -> Option<Error> {
        let h = &self.header;
        if h.observed.get() || h.stage.get() != Stage::Done {
            return None;
        }
        h.observed.set(true);
        // The outcome is in the body, or in the shared future once one was made (by a second
        // awaiter, say, whose handle may be gone since).
        if let Some(shared) = self.outcome.shared_future() {
            return match shared.peek() {
                Some(Err(e)) if !e.is_cancelled() => Some(e.clone()),
                _ => None,
            };
        }
        match self.local().as_deref() {
            Some(Err(e)) if !e.is_cancelled() => Some((**e).clone()),
            _ => None,
        }
    }

    /// Moves a finished task's outcome out of the body (step 2 of [`Outcome`]).
    fn take_local(&self) -> Option<Result<F::Output>> {
        let mut body = self.body.try_borrow_mut().ok()?;
        let Body::Done(_) = &*body else { return None };
        // No coroutine in a `Done` body: moving it is allowed (see # Pinning).
        match std::mem::replace(&mut *body, Body::Empty) {
            Body::Done(outcome) => Some(outcome.map_err(|e| *e)),
            _ => None,
        }
    }
}

impl<F: IntoCoroutine> TaskRef<F::Output> for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn outcome(&self) -> &Outcome<F::Output> {
        &self.outcome
    }

    fn local(&self) -> Option<Ref<'_, Local<F::Output>>> {
        let body = self.body.try_borrow().ok()?;
        Ref::filter_map(body, |b| match b {
            Body::Done(outcome) => Some(outcome),
            _ => None,
        })
        .ok()
    }

    fn take(&self) -> Option<Result<F::Output>> {
        self.take_local()
    }

    fn shared(&self, clone: fn(&F::Output) -> F::Output) -> &Future<F::Output> {
        let shared = self.outcome.shared.get_or_init(|| {
            let (future, promise) = match self.take_local() {
                Some(Err(Error::Cancelled)) => {
                    let (promise, future) = future::pair();
                    promise.cancel();
                    (future, None)
                }
                Some(outcome) => (Future::completed(outcome), None),
                None => {
                    let (promise, future) = future::pair();
                    (future, Some(promise))
                }
            };
            Box::new(Shared {
                future,
                promise: RefCell::new(promise),
                clone,
            })
        });
        &shared.future
    }

    fn unobserved_failure(&self) -> Option<Error> {
        self.failure()
    }

    fn signal(&self) -> &Future<()> {
        let signal = self.outcome.signal.get_or_init(|| {
            let (promise, future) = future::pair();
            let promise = if self.header.stage.get() == Stage::Done {
                match self.summary() {
                    Some(summary) => drop(promise.complete(summary)),
                    None => drop(promise.cancel()),
                }
                None
            } else {
                Some(promise)
            };
            Box::new(Signal {
                future,
                promise: RefCell::new(promise),
            })
        });
        &signal.future
    }
}

impl<F: IntoCoroutine> TaskRun for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(self: Rc<Self>, core: &Core) {
        let h = &self.header;
        // Step 1.
        h.scheduled.set(false);
        if h.stage.get() == Stage::Done {
            return;
        }
        // Step 2.
        if h.cancel_requested.get() > 0 || self.outcome.cancelled_from_outside() {
            core.forget_task(h.key());
            {
                let _cancelling = core.enter_cancelling();
                self.drop_coro();
            }
            self.finish(None);
            return;
        }
        // Step 3.
        h.stage.set(Stage::Suspended);
        match self.poll_coro() {
            None | Some(Ok(Poll::Pending)) => {}
            Some(Ok(Poll::Ready(value))) => {
                // The coroutine is gone already (dropped in `poll_coro`).
                core.forget_task(h.key());
                if h.cancel_requested.get() > 0 {
                    // The value nobody will get is dropped through the panic door: a panicking
                    // destructor is reported, and the loop goes on.
                    if let Err(panic) = unwind::catch(move || drop(value)) {
                        unwind::print_report(&format_args!(
                            "dropping the value of cancelled task {} panicked: {panic}",
                            h.id
                        ));
                    }
                    self.finish(None);
                } else {
                    // A `Fallible` coroutine's `Err` fails the task, as a raised exception.
                    let outcome = F::finish(value);
                    let failed = outcome.is_err();
                    self.finish(Some(outcome));
                    if failed {
                        let me: Rc<dyn TaskRun> = self.clone();
                        core.note_failed(&me);
                    }
                }
            }
            Some(Err(panic)) => {
                core.forget_task(h.key());
                self.drop_coro();
                self.finish(Some(Err(panic)));
                let me: Rc<dyn TaskRun> = self.clone();
                core.note_failed(&me);
            }
        }
    }

    fn cancel_now(&self) {
        self.drop_coro();
        self.finish(None);
    }

    fn unobserved_failure(&self) -> Option<Error> {
        self.failure()
    }
}

/// A coroutine running on the loop (Python: `asyncio.Task`), and the handle on it.
///
/// Created by [`create_task`](crate::aio::create_task). Await it with `.await` (through
/// [`IntoFuture`]; the output is `Result<T>`, the value moved out of the task, so `T` need be
/// neither `Clone` nor `Send`), or turn it into the crate-wide [`Future`] with
/// [`future`](Self::future) or `Future::from` (these share the value, so they need `T: Clone`)
/// to wait from another thread, with `wait`/`as_completed`, or from another runtime.
///
/// ```
/// use std::rc::Rc;
/// use concurra::aio;
///
/// struct NoClone(Rc<str>);
///
/// let out = aio::run(async {
///     let task = aio::spawn_local(async { NoClone(Rc::from("mine")) });
///     task.await.unwrap()
/// });
/// assert_eq!(&*out.0, "mine");
/// ```
///
/// Dropping the handle does not cancel the task: the loop owns it until it ends (unlike
/// asyncio, where only weak references keep a task alive, gh-88831). Not `Send`: tasks live on
/// the loop's thread.
pub struct Task<T> {
    cell: Rc<dyn TaskRef<T>>,
}

impl<T> Task<T> {
    /// Requests cancellation (Python: `task.cancel()`).
    ///
    /// Returns true, every time it is called, while the task is not done; false once it is.
    /// The coroutine is dropped at its next step, which this call schedules: a task that has
    /// not started never runs, a suspended one is dropped at the `.await` where it waits, and
    /// every destructor in it runs then. A task that cancels itself and then returns a value
    /// still ends cancelled. Awaiting it then gives [`Error::Cancelled`](crate::Error::Cancelled).
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        let h = self.cell.header();
        h.cancel_requested
            .set(h.cancel_requested.get().saturating_add(1));
        h.wake.waker().wake();
        true
    }

    /// The number of cancel requests not withdrawn: calls of [`cancel`](Self::cancel) while
    /// the task was not done, less calls of [`uncancel`](Self::uncancel) (Python:
    /// `task.cancelling()`).
    ///
    /// In asyncio a coroutine may catch its `CancelledError` and go on, so the count lets
    /// structured code (`asyncio.timeout`, `TaskGroup`) tell its own cancellation from
    /// another. Here a request is final once the task's next step has run: the coroutine is
    /// dropped there. Timeout scopes do not use the count ([`Timeout`](crate::aio::Timeout) cancels
    /// by dropping its block inside the step), and a cancel through the task's shared
    /// [`Future`] ([`Future::cancel`]) is not counted: it cannot be withdrawn.
    ///
    /// ```
    /// use concurra::aio;
    ///
    /// aio::run(async {
    ///     let task = aio::create_task(std::future::pending::<()>());
    ///     assert_eq!(task.cancelling(), 0);
    ///     task.cancel();
    ///     task.cancel();
    ///     assert_eq!(task.cancelling(), 2);
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.cell.header().cancel_requested.get()
    }

    /// Withdraws one cancel request and returns how many are left (Python:
    /// `task.uncancel()`; at zero already it stays zero).
    ///
    /// When the count falls to zero before the task's next step, the pending cancellation
    /// is withdrawn and the coroutine goes on there (Python 3.13: `uncancel` to zero clears
    /// `_must_cancel`). After that step a request has already dropped the coroutine, and
    /// `uncancel` only lowers the count.
    ///
    /// ```
    /// use concurra::aio;
    ///
    /// let out = aio::run(async {
    ///     let task = aio::create_task(async { 42 });
    ///     task.cancel();
    ///     assert_eq!(task.uncancel(), 0); // before its first step: it runs after all
    ///     task.await
    /// });
    /// assert_eq!(out.unwrap(), 42);
    /// ```
    pub fn uncancel(&self) -> u32 {
        let h = self.cell.header();
        let left = h.cancel_requested.get().saturating_sub(1);
        h.cancel_requested.set(left);
        left
    }

    /// True once the task finished, failed or was cancelled (Python: `task.done()`).
    pub fn done(&self) -> bool {
        self.cell.outcome().done(self.cell.header().stage.get())
    }

    /// True if the task ended cancelled (Python: `task.cancelled()`).
    pub fn cancelled(&self) -> bool {
        match self.cell.outcome().shared_future() {
            Some(future) => future.cancelled(),
            None => self
                .cell
                .local()
                .is_some_and(|outcome| matches!(&*outcome, Err(e) if e.is_cancelled())),
        }
    }

    /// The outcome, if the task is done. Never blocks.
    ///
    /// This shares the outcome (the task keeps it and hands out references, then copies to
    /// a later `.await`), so it needs `T: Clone`, as [`future`](Self::future) does. A task
    /// whose value is not `Clone` is read with `task.await`, which moves the value out.
    ///
    /// ```
    /// use concurra::aio;
    ///
    /// aio::run(async {
    ///     let task = aio::create_task(async { 7 });
    ///     assert!(task.try_result().is_none());
    ///     aio::yield_now().await;
    ///     assert_eq!(*task.try_result().unwrap().as_ref().unwrap(), 7);
    ///     assert_eq!(task.await.unwrap(), 7);
    /// });
    /// ```
    pub fn try_result(&self) -> Option<&Result<T>>
    where
        T: Clone,
    {
        if !self.done() {
            return None;
        }
        self.observe();
        // The loop's thread is this value's one reader (`Future::peek`).
        self.cell.shared(T::clone).peek()
    }

    /// A value-free future of the task's end (crate-internal: for waiting on tasks without
    /// reading them, so without `T: Clone`): `Ok(())` for a value, the task's error for a
    /// failure, cancelled for a cancellation. It completes when the task's last step ends it.
    pub(crate) fn signal(&self) -> Future<()> {
        self.cell.signal().clone()
    }

    /// The outcome of a task that is done, moved out as `task.await` would (crate-internal).
    ///
    /// # Panics
    /// If the task is not done.
    pub(crate) fn into_outcome(self) -> Result<T> {
        let mut join = self.into_future();
        match Pin::new(&mut join).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => panic!("into_outcome of a task that is not done"),
        }
    }

    /// A second handle on the same task (crate-internal: handles are not `Clone`, so that
    /// [`Join`]'s cancel-on-drop rule stays about one awaiter).
    pub(crate) fn share(&self) -> Task<T> {
        let h = self.cell.header();
        h.handles.set(h.handles.get() + 1);
        Task {
            cell: self.cell.clone(),
        }
    }

    /// Counts the outcome as retrieved, now and whenever the task ends (crate-internal: for
    /// combinators that give up on a child, as asyncio's gather retrieves the exceptions of
    /// children that fail after it returned).
    pub(crate) fn observe(&self) {
        self.cell.header().observed.set(true);
    }

    /// The task's name (Python: `task.get_name()`): the one given to
    /// [`set_name`](Self::set_name) or [`with_name`](Self::with_name), else `Task-<n>`, where
    /// `n` counts the loop's tasks from 1 in creation order. Slow-step and unretrieved-failure
    /// [`Report`](crate::aio::Report)s name the task with it.
    pub fn name(&self) -> String {
        self.cell.header().name()
    }

    /// Names the task (Python: `task.set_name(name)`).
    pub fn set_name(&self, name: impl Into<String>) {
        let name: String = name.into();
        self.cell.header().name.set(Some(Box::new(name)));
    }

    /// Names the task and hands it back (Python: `create_task(coro, name=...)`):
    /// `aio::create_task(coro).with_name("fetch")`. The task has not started yet then: it runs
    /// when its creator yields.
    ///
    /// ```
    /// use concurra::aio;
    ///
    /// aio::run(async {
    ///     let task = aio::create_task(async { 1 }).with_name("fetch");
    ///     assert_eq!(task.name(), "fetch");
    ///     assert_eq!(aio::create_task(async {}).name(), "Task-2");
    /// });
    /// ```
    #[must_use]
    pub fn with_name(self, name: impl Into<String>) -> Self {
        self.set_name(name);
        self
    }

    /// The shared [`Future`] this task completes. `Future::cancel` on it (from any thread)
    /// cancels the task: the future is cancelled at once and the coroutine is dropped at its
    /// next step, which a done-callback installed here wakes it for.
    ///
    /// The future is made on the first call (a task nobody asks this of never allocates one).
    /// It is a second reader of the outcome, so `T: Clone`: from then on, `task.await` copies
    /// the value out of the shared future (through the `T::clone` captured here) instead of
    /// moving it out of the task.
    ///
    /// ```
    /// use concurra::aio;
    ///
    /// let (awaited, shared) = aio::run(async {
    ///     let task = aio::create_task(async { String::from("hi") });
    ///     let future = task.future();
    ///     (task.await.unwrap(), future)
    /// });
    /// assert_eq!(awaited, "hi");
    /// assert_eq!(shared.result().unwrap(), "hi");
    /// ```
    ///
    /// A value that is not `Clone` cannot be shared (await the task instead):
    ///
    /// ```compile_fail
    /// use concurra::aio;
    ///
    /// struct NoClone;
    /// aio::run(async {
    ///     let task = aio::create_task(async { NoClone });
    ///     let _shared = task.future();
    /// });
    /// ```
    pub fn future(&self) -> Future<T>
    where
        T: Clone,
    {
        // Whoever holds the future now owns the outcome: it is never reported here.
        self.observe();
        let h = self.cell.header();
        let future = self.cell.shared(T::clone);
        if h.stage.get() != Stage::Done && !h.watching.replace(true) {
            let waker = h.wake.waker();
            future.add_done_callback(move |_| waker.wake());
        }
        future.clone()
    }
}

/// The last handle going away with a failure nobody observed reports it (see
/// [`ReportKind::NeverRetrieved`](crate::aio::ReportKind::NeverRetrieved)); a task still running
/// reports when it fails.
impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let h = self.cell.header();
        let left = h.handles.get() - 1;
        h.handles.set(left);
        if left > 0 || h.observed.get() || h.stage.get() != Stage::Done {
            return;
        }
        if let Some(error) = self.cell.unobserved_failure() {
            core::report_never_retrieved(h.name(), error);
        }
    }
}

/// The task's shared future ([`Task::future`]), for waiting from another thread or runtime.
impl<T: Clone> From<Task<T>> for Future<T> {
    fn from(task: Task<T>) -> Self {
        task.future()
    }
}

/// `task.await`: for any `T`, `Clone` or not, `Send` or not. The value is moved out of the
/// task, unless [`Task::future`] shared it (then it is cloned out of the shared future).
impl<T> IntoFuture for Task<T> {
    type Output = Result<T>;
    type IntoFuture = Join<T>;

    fn into_future(self) -> Join<T> {
        Join {
            task: self,
            awaiting: false,
            cancel_on_drop: true,
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.cell.header();
        f.debug_struct("Task")
            .field("id", &h.id)
            .field("stage", &h.stage.get())
            .field("cancel_requested", &h.cancel_requested.get())
            .field("done", &self.done())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// Awaiting a [`Task`]: what `task.await` polls.
///
/// If the coroutine awaiting a task is cancelled while it waits here, the awaited task is
/// cancelled too, as asyncio cancels the future a cancelled task awaits
/// (test_cancel_awaited_task). Dropping a `Join` for any other reason leaves the task running.
pub struct Join<T> {
    task: Task<T>,
    /// True after a poll returned `Pending`: this is the await the coroutine is parked at.
    awaiting: bool,
    /// False for a [`shield`](crate::aio::shield): dropping it never cancels the task.
    cancel_on_drop: bool,
}

impl<T> StdFuture for Join<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let polled = this.poll_outcome(cx);
        this.awaiting = polled.is_pending();
        if polled.is_ready() {
            this.task.observe();
        }
        polled
    }
}

impl<T> Join<T> {
    /// [`Task::observe`] on the awaited task.
    pub(crate) fn observe(&self) {
        self.task.observe();
    }

    /// A join whose drop never cancels the task ([`shield`](crate::aio::shield)).
    pub(crate) fn shielded(task: Task<T>) -> Self {
        Join {
            task,
            awaiting: false,
            cancel_on_drop: false,
        }
    }

    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let cell = &self.task.cell;
        let outcome = cell.outcome();
        match outcome.shared.get() {
            // Shared: the outcome is in the future once it is done (the task ended, or the
            // future was cancelled from outside: the task then ends at its next step).
            Some(shared) => {
                if let Some(out) = shared.future.peek() {
                    return Poll::Ready(match out {
                        Ok(value) => Ok((shared.clone)(value)),
                        Err(e) => Err(e.clone()),
                    });
                }
            }
            // Not shared: this join is the task's only reader, and takes the outcome.
            None => {
                if let Some(out) = cell.take() {
                    return Poll::Ready(out);
                }
            }
        }
        // No lost wake-up: the task ends on this thread, never during this poll; and a
        // cancel of the shared future from another thread wakes the task, whose step ends it
        // and wakes this slot.
        outcome.park(cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Join<T> {
    fn drop(&mut self) {
        if self.cancel_on_drop && self.awaiting && !self.task.done() && context::cancelling() {
            self.task.cancel();
        }
    }
}

impl<T> fmt::Debug for Join<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("task", &self.task)
            .field("awaiting", &self.awaiting)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::aio::{self, create_task, yield_now};

    /// The coroutine pinned in its task (see # Pinning on `TaskCell`), for Miri
    /// (`cargo +nightly miri test -p concurra --lib aio::task`): references into a coroutine's
    /// own locals held across awaits, through a value, a panic, a cancel and a shutdown drop.
    #[test]
    fn coroutines_stay_pinned_in_their_task() {
        let out = aio::run(async {
            let summed = create_task(async {
                let v = vec![1, 2, 3];
                let r = &v;
                yield_now().await;
                r.iter().sum::<i32>()
            });
            let panicked = create_task(async {
                let s = String::from("boom");
                let r = &s;
                yield_now().await;
                panic!("{r}")
            });
            let cancelled = create_task(async {
                let s = String::from("cancelled");
                let r = &s;
                std::future::pending::<()>().await;
                r.len()
            });
            let left = create_task(async {
                let s = String::from("dropped at shutdown");
                let r = &s;
                std::future::pending::<()>().await;
                r.len()
            });
            yield_now().await;
            assert!(cancelled.cancel());
            let out = (
                summed.await.unwrap(),
                panicked.await.unwrap_err().is_panic(),
                cancelled.await.unwrap_err().is_cancelled(),
            );
            drop(left);
            out
        });
        assert_eq!(out, (6, true, true));
    }
}

#[cfg(test)]
mod size {
    use super::*;

    /// The cell of a task with a small coroutine and output fits in 128 bytes with its `Rc`
    /// counts: a spawned task costs one such allocation, and cold runs of the `aio-spawn`
    /// bench pay per byte (page faults).
    #[test]
    fn a_small_task_is_one_small_allocation() {
        let rc_counts = 2 * std::mem::size_of::<usize>();
        let size = std::mem::size_of::<TaskCell<std::future::Ready<u64>>>() + rc_counts;
        assert!(size <= 128, "TaskCell grew to {size} bytes");
    }
}
