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
//! 1. The scheduled flag is cleared (a wake from now on queues the task again).
//! 2. If a cancel was requested ([`Task::cancel`]) or the shared future was cancelled
//!    ([`Future::cancel`](crate::Future::cancel)), the coroutine is dropped inside a
//!    "cancelling" section and the promise is cancelled.
//! 3. Otherwise the coroutine is moved out of its cell and polled through
//!    [`unwind::catch`](crate::unwind): no borrow is held while it runs, so it may create tasks,
//!    cancel itself or await its own handle. `Pending` puts it back. `Ready(v)` completes the
//!    promise with `v`, unless the task cancelled itself during that step (then it ends
//!    cancelled, as asyncio's test_cancel_at_end). A panic drops the coroutine and fails the
//!    promise with [`Error::Panicked`](crate::Error::Panicked); the loop goes on.
//!
//! The promise is never marked running, so the shared future stays `Pending` until the task
//! ends: `Future::cancel` from any thread succeeds then, and the task's coroutine is dropped at
//! its next step (the done-callback that [`Task::future`] installs wakes it for that).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::runtime::{self, Core};
use crate::error::Result;
use crate::future::{self, Future, Promise};
use crate::unwind;

/// Where a task is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Created, first step queued, never polled. The coroutine cell is full.
    Scheduled,
    /// Polled at least once and not finished. The cell is full except during a step.
    Suspended,
    /// Finished, failed or cancelled. The cell and the promise are empty, for good.
    Done,
}

/// The type-independent part of a task, read by the loop and by [`Task`].
pub(crate) struct Header {
    id: u64,
    /// True while the task sits in the ready queue (deduplicates wakes).
    pub(crate) scheduled: Cell<bool>,
    /// Set by [`Task::cancel`]; read at the next step.
    cancel_requested: Cell<bool>,
    stage: Cell<Stage>,
    /// Whether [`Task::future`] installed the wake-on-external-cancel callback.
    watching: Cell<bool>,
    waker: Waker,
}

/// What the loop does with a task, whatever its coroutine's type.
pub(crate) trait TaskRun {
    fn header(&self) -> &Header;
    /// One step (see the module docs).
    fn run(self: Rc<Self>, core: &Core);
    /// Drops the coroutine without polling it and cancels the promise (shutdown, a task
    /// created on a closed loop). Call inside a cancelling section.
    fn cancel_now(&self);
}

struct TaskCell<F: StdFuture> {
    header: Header,
    coro: RefCell<Option<Pin<Box<F>>>>,
    promise: RefCell<Option<Promise<F::Output>>>,
}

/// Creates a task: the loop's side and the user's handle.
pub(crate) fn new<F>(id: u64, waker: Waker, coro: F) -> (Rc<dyn TaskRun>, Task<F::Output>)
where
    F: StdFuture + 'static,
{
    let (promise, future) = future::pair();
    let cell: Rc<dyn TaskRun> = Rc::new(TaskCell {
        header: Header {
            id,
            scheduled: Cell::new(false),
            cancel_requested: Cell::new(false),
            stage: Cell::new(Stage::Scheduled),
            watching: Cell::new(false),
            waker,
        },
        coro: RefCell::new(Some(Box::pin(coro))),
        promise: RefCell::new(Some(promise)),
    });
    let task = Task {
        cell: cell.clone(),
        future,
    };
    (cell, task)
}

impl<F: StdFuture> TaskCell<F> {
    /// Drops a coroutine, reporting (not propagating) a panic in its destructor.
    fn drop_coro(&self, coro: Pin<Box<F>>) {
        unwind::report(&format_args!("dropping task {}", self.header.id), || {
            drop(coro)
        });
    }

    fn finish(&self, outcome: Option<Result<F::Output>>) {
        self.header.stage.set(Stage::Done);
        let promise = self.promise.borrow_mut().take();
        if let Some(promise) = promise {
            match outcome {
                // Refused only if the shared future was cancelled meanwhile: it stays so.
                Some(outcome) => drop(promise.complete(outcome)),
                None => drop(promise.cancel()),
            }
        }
    }

    fn cancelled_from_outside(&self) -> bool {
        self.promise
            .borrow()
            .as_ref()
            .is_some_and(Promise::is_cancelled)
    }
}

impl<F: StdFuture + 'static> TaskRun for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(self: Rc<Self>, core: &Core) {
        let h = &self.header;
        // Step 1.
        h.scheduled.set(false);
        let coro = self.coro.borrow_mut().take();
        let Some(mut coro) = coro else { return };
        // Step 2.
        if h.cancel_requested.get() || self.cancelled_from_outside() {
            core.forget_task(h.id);
            {
                let _cancelling = core.enter_cancelling();
                self.drop_coro(coro);
            }
            self.finish(None);
            return;
        }
        // Step 3.
        h.stage.set(Stage::Suspended);
        let mut cx = Context::from_waker(&h.waker);
        match unwind::catch(|| coro.as_mut().poll(&mut cx)) {
            Ok(Poll::Pending) => *self.coro.borrow_mut() = Some(coro),
            Ok(Poll::Ready(value)) => {
                core.forget_task(h.id);
                self.drop_coro(coro);
                if h.cancel_requested.get() {
                    drop(value);
                    self.finish(None);
                } else {
                    self.finish(Some(Ok(value)));
                }
            }
            Err(panic) => {
                core.forget_task(h.id);
                self.drop_coro(coro);
                self.finish(Some(Err(panic)));
            }
        }
    }

    fn cancel_now(&self) {
        let coro = self.coro.borrow_mut().take();
        if let Some(coro) = coro {
            self.drop_coro(coro);
        }
        self.finish(None);
    }
}

/// A coroutine running on the loop (Python: `asyncio.Task`), and the handle on it.
///
/// Created by [`create_task`](super::create_task). Await it with `.await` (through
/// [`IntoFuture`]; the output is `Result<T>`, the value cloned out of the shared outcome), or
/// turn it into the crate-wide [`Future`] with [`future`](Self::future) or `Future::from` to
/// wait from another thread, with `wait`/`as_completed`, or from another runtime.
///
/// Dropping the handle does not cancel the task: the loop owns it until it ends (unlike
/// asyncio, where only weak references keep a task alive, gh-88831). Not `Send`: tasks live on
/// the loop's thread.
pub struct Task<T> {
    cell: Rc<dyn TaskRun>,
    future: Future<T>,
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
        let h = self.cell.header();
        if h.stage.get() == Stage::Done || self.future.done() {
            return false;
        }
        h.cancel_requested.set(true);
        h.waker.wake_by_ref();
        true
    }

    /// True once the task finished, failed or was cancelled (Python: `task.done()`).
    pub fn done(&self) -> bool {
        self.future.done()
    }

    /// True if the task ended cancelled (Python: `task.cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.future.cancelled()
    }

    /// The outcome, if the task is done. Never blocks.
    pub fn try_result(&self) -> Option<&Result<T>> {
        self.future.try_result()
    }

    /// A second handle on the same task (crate-internal: handles are not `Clone`, so that
    /// [`Join`]'s cancel-on-drop rule stays about one awaiter).
    pub(crate) fn share(&self) -> Task<T> {
        Task {
            cell: self.cell.clone(),
            future: self.future.clone(),
        }
    }

    /// The shared [`Future`] this task completes. `Future::cancel` on it (from any thread)
    /// cancels the task: the future is cancelled at once and the coroutine is dropped at its
    /// next step, which a done-callback installed here wakes it for.
    pub fn future(&self) -> Future<T> {
        let h = self.cell.header();
        if !h.watching.replace(true) {
            let waker = h.waker.clone();
            self.future.add_done_callback(move |_| waker.wake());
        }
        self.future.clone()
    }
}

impl<T> From<Task<T>> for Future<T> {
    fn from(task: Task<T>) -> Self {
        task.future()
    }
}

impl<T: Clone> IntoFuture for Task<T> {
    type Output = Result<T>;
    type IntoFuture = Join<T>;

    fn into_future(self) -> Join<T> {
        Join {
            task: self,
            awaiting: false,
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
            .field("future", &self.future)
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
}

impl<T: Clone> StdFuture for Join<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        match Pin::new(&mut this.task.future).poll(cx) {
            Poll::Ready(outcome) => {
                this.awaiting = false;
                Poll::Ready(outcome)
            }
            Poll::Pending => {
                this.awaiting = true;
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Join<T> {
    fn drop(&mut self) {
        if self.awaiting && !self.task.done() && runtime::cancelling() {
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
