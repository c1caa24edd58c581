//! [`TaskGroup`]: structured concurrency (Python 3.11's `asyncio.TaskGroup`).
//!
//! # Protocol
//!
//! 1. A group is *open* from [`TaskGroup::new`]: [`TaskGroup::create_task`] starts children.
//! 2. A child *fails* when it returns `Err` or panics (a cancelled child has not failed). The
//!    first failure moves the group to *failing*: every other unfinished child is cancelled
//!    and `create_task` is refused from then on. A child returning `Err` triggers this with a
//!    callback queued by its last step (asyncio's done-callback timing: siblings already
//!    ready in that iteration still run); a panic is seen by [`TaskGroup::wait`] the next
//!    time it is polled.
//! 3. [`TaskGroup::wait`] (Python: leaving the `async with` block) is ready once every child
//!    is done, children created while it waits included. Then the group is *closed*
//!    (`create_task` refused) and the result is `Ok(())`, or `Err` with every child's error
//!    in creation order (Python: an `ExceptionGroup`, even for one error).
//! 4. If the coroutine awaiting [`TaskGroup::wait`] is cancelled (dropped in a cancelling
//!    section: its task cancelled, a [`timeout`](super::timeout) expiring), every unfinished
//!    child is cancelled, as when asyncio cancels the block's parent task.
//!
//! Differences from asyncio: a failure cannot cancel the body that created the children (Rust
//! cannot interrupt a running future from outside; the body stops at its next
//! `create_task`, which is refused), and the errors are a `Vec`, not an exception group.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::engine::{self, Task};
use crate::error::{Error, Result};
use crate::executor::Fallible;
use crate::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Failing,
    Closed,
}

/// A child as the group sees it, whatever its output type.
trait Child {
    /// Ready once the child is done.
    fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    fn done(&self) -> bool;
    fn cancel(&self);
    /// The child's error, once it is done and failed.
    fn error(&self) -> Option<Error>;
}

struct ChildTask<V> {
    task: Task<V>,
    /// The task's value-free end signal: the group reads no value, so needs no `V: Clone`.
    signal: Future<()>,
    finished: bool,
    /// The error inside a plain child's value (its `Err`), set by the child's last step.
    inner_error: Rc<RefCell<Option<Error>>>,
}

impl<V> Child for ChildTask<V> {
    fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.finished && Pin::new(&mut self.signal).poll(cx).is_ready() {
            self.finished = true;
        }
        if self.finished {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn done(&self) -> bool {
        self.task.done()
    }

    fn cancel(&self) {
        self.task.cancel();
    }

    fn error(&self) -> Option<Error> {
        match self.signal.try_result()? {
            Err(e) if !e.is_cancelled() => Some(e.clone()),
            Err(_) => None,
            Ok(()) => self.inner_error.borrow().clone(),
        }
    }
}

struct Inner {
    children: RefCell<Vec<Box<dyn Child>>>,
    state: Cell<State>,
}

impl Inner {
    /// Step 2: the first failure cancels every other unfinished child.
    fn fail(&self, failing: Option<usize>) {
        if self.state.get() != State::Open {
            return;
        }
        self.state.set(State::Failing);
        self.cancel_children(failing);
    }

    fn cancel_children(&self, except: Option<usize>) {
        let children = self.children.borrow();
        for (i, child) in children.iter().enumerate() {
            if Some(i) != except && !child.done() {
                child.cancel();
            }
        }
    }
}

/// A set of child tasks that fail together (Python: `asyncio.TaskGroup`); see the module docs
/// for the protocol.
///
/// Clones share the group, so children may start siblings. Children return
/// `concurra::Result<T>`: an `Err` (or a panic) is a failure that cancels the siblings.
///
/// ```
/// use concurra::{aio, Error};
///
/// let errors = aio::run(async {
///     let group = aio::TaskGroup::new();
///     group.create_task(async { Err::<(), _>(Error::failed(std::fmt::Error)) }).unwrap();
///     let sibling = group.create_task(std::future::pending::<concurra::Result<()>>()).unwrap();
///     let errors = group.wait().await.unwrap_err();
///     assert!(sibling.cancelled());
///     errors
/// });
/// assert_eq!(errors.len(), 1);
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    inner: Rc<Inner>,
}

impl TaskGroup {
    /// An open group with no children (Python: entering `async with asyncio.TaskGroup()`).
    pub fn new() -> Self {
        TaskGroup {
            inner: Rc::new(Inner {
                children: RefCell::new(Vec::new()),
                state: Cell::new(State::Open),
            }),
        }
    }

    /// Starts `fut` as a child task on the running loop (Python: `group.create_task`).
    ///
    /// `fut` is a future whose output is a `concurra::Result<T>`: the returned task's output
    /// is that `Result`, and awaiting the task adds the task's outcome around it (a cancelled
    /// child gives `Err(Error::Cancelled)`). Or it is a [`Fallible`](crate::Fallible) future
    /// with any `Result<T, E>` output: the task's output is `T`, and an `Err` fails the task
    /// itself with [`Error::Failed`], as a raised exception does in asyncio.
    ///
    /// ```
    /// use concurra::{aio, Fallible};
    ///
    /// let errors = aio::run(async {
    ///     let group = aio::TaskGroup::new();
    ///     let bad = group.create_task(Fallible(async { "x".parse::<u8>() })).unwrap();
    ///     let errors = group.wait().await.unwrap_err();
    ///     assert!(bad.await.unwrap_err().is_failed());
    ///     errors
    /// });
    /// assert!(errors[0].is_failed());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidState`] once the group is failing or closed (Python: `RuntimeError`,
    /// test_taskgroup_no_create_task_after_failure).
    ///
    /// # Panics
    /// Outside a running loop.
    pub fn create_task<C, M>(&self, fut: C) -> Result<Task<C::Output>>
    where
        C: GroupChild<M>,
    {
        match self.inner.state.get() {
            State::Open => {}
            State::Failing => {
                return Err(Error::InvalidState(
                    "TaskGroup is shutting down after a failure".into(),
                ))
            }
            State::Closed => return Err(Error::InvalidState("TaskGroup is finished".into())),
        }
        let index = self.inner.children.borrow().len();
        let group: Weak<Inner> = Rc::downgrade(&self.inner);
        let inner_error = Rc::new(RefCell::new(None));
        let kept = inner_error.clone();
        let on_err = move |error: Option<Error>| {
            *kept.borrow_mut() = error;
            // As asyncio's done-callback, the abort runs at the next iteration: siblings
            // already scheduled for this one still run (and may fail too).
            super::call_soon(move || {
                if let Some(group) = group.upgrade() {
                    group.fail(Some(index));
                }
            });
        };
        let task = fut.start(on_err);
        // The group owns the child's failure (its `wait` gives every error): never reported
        // as unretrieved.
        task.observe();
        let child = ChildTask {
            signal: task.signal(),
            task: task.share(),
            finished: false,
            inner_error,
        };
        self.inner.children.borrow_mut().push(Box::new(child));
        Ok(task)
    }

    /// Waits for every child (Python: leaving the `async with` block); see the module docs,
    /// steps 3 and 4.
    ///
    /// # Errors
    /// Every failed child's error, in creation order.
    pub fn wait(&self) -> GroupWait {
        GroupWait {
            inner: self.inner.clone(),
            finished: false,
        }
    }
}

/// What [`TaskGroup::create_task`] runs: a future whose output is a `concurra::Result<T>`
/// (marker [`Plain`]), or a [`Fallible`] future with any `Result<T, E>` output
/// (marker [`Fails`]). The marker is inferred; callers never name it.
pub trait GroupChild<M>: 'static {
    /// The child task's value: the future's `Result<T>` for a plain child, `T` for a
    /// [`Fallible`] one.
    type Output: 'static;
    /// Starts the task; `on_err` runs when the future returns `Err`, with the error if the
    /// task's value holds it (a plain child).
    #[doc(hidden)]
    fn start(self, on_err: impl FnOnce(Option<Error>) + 'static) -> Task<Self::Output>;
}

/// The [`GroupChild`] marker of a future with a `concurra::Result` output.
#[derive(Debug)]
pub enum Plain {}

/// The [`GroupChild`] marker of a [`Fallible`] future.
#[derive(Debug)]
pub enum Fails {}

impl<F, T> GroupChild<Plain> for F
where
    F: StdFuture<Output = Result<T>> + 'static,
    T: 'static,
{
    type Output = Result<T>;

    fn start(self, on_err: impl FnOnce(Option<Error>) + 'static) -> Task<Result<T>> {
        super::create_task(async move {
            let out = self.await;
            if let Err(e) = &out {
                on_err(Some(e.clone()));
            }
            out
        })
    }
}

impl<F, T, E> GroupChild<Fails> for Fallible<F>
where
    F: StdFuture<Output = std::result::Result<T, E>> + 'static,
    T: 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + 'static,
{
    type Output = T;

    fn start(self, on_err: impl FnOnce(Option<Error>) + 'static) -> Task<T> {
        let fut = self.0;
        super::create_task(Fallible(async move {
            let out = fut.await;
            if out.is_err() {
                // The task's own failure carries the error: the group reads it there.
                on_err(None);
            }
            out
        }))
    }
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("children", &self.inner.children.borrow().len())
            .field("state", &self.inner.state.get())
            .finish()
    }
}

/// The future [`TaskGroup::wait`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct GroupWait {
    inner: Rc<Inner>,
    finished: bool,
}

impl StdFuture for GroupWait {
    type Output = std::result::Result<(), Vec<Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let inner = &this.inner;
        let (pending, failed) = {
            let mut children = inner.children.borrow_mut();
            let mut pending = false;
            for child in children.iter_mut() {
                if child.poll_done(cx).is_pending() {
                    pending = true;
                }
            }
            let failed = children.iter().any(|c| c.done() && c.error().is_some());
            (pending, failed)
        };
        if failed {
            inner.fail(None);
        }
        if pending {
            return Poll::Pending;
        }
        this.finished = true;
        inner.state.set(State::Closed);
        let errors: Vec<Error> = inner
            .children
            .borrow()
            .iter()
            .filter_map(|c| c.error())
            .collect();
        Poll::Ready(if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        })
    }
}

impl Drop for GroupWait {
    fn drop(&mut self) {
        if !self.finished && engine::cancelling() {
            if self.inner.state.get() == State::Open {
                self.inner.state.set(State::Failing);
            }
            self.inner.cancel_children(None);
        }
    }
}

impl fmt::Debug for GroupWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupWait")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// Runs `body` with a new [`TaskGroup`], then waits for its children (Python:
/// `async with asyncio.TaskGroup() as tg: ...`).
///
/// Returns the body's output once every child is done, or every child's error. If the
/// coroutine awaiting this is cancelled, the body is dropped and every child is cancelled.
///
/// ```
/// use concurra::aio;
///
/// let out = aio::run(aio::task_group(|g| async move {
///     let a = g.create_task(async { Ok(1) }).unwrap();
///     let b = g.create_task(async { Ok(2) }).unwrap();
///     (a, b)
/// }));
/// let (a, b) = out.unwrap();
/// assert_eq!(a.try_result().unwrap().as_ref().unwrap().as_ref().unwrap() + 1, 2);
/// assert!(b.done());
/// ```
///
/// # Errors
/// Every failed child's error, in creation order.
pub async fn task_group<B, Fut>(body: B) -> std::result::Result<Fut::Output, Vec<Error>>
where
    B: FnOnce(TaskGroup) -> Fut,
    Fut: StdFuture,
{
    let group = TaskGroup::new();
    // Created first, so that dropping this future in a cancelling section cancels the children
    // even while the body runs.
    let waiting = group.wait();
    let out = body(group).await;
    waiting.await.map(|()| out)
}
