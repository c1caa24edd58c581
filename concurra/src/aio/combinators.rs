//! Combinators over awaitables: [`shield`], [`wait`] and [`as_completed`]
//! ([`gather`](super::gather) and the timeouts, [`timeout()`](super::timeout()), have their own
//! modules).

use std::collections::HashMap;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::engine::{Join, Task};
use super::gather::IntoTask;
use crate::error::{Error, Result};
use crate::future::Future;
use crate::wait::ReturnWhen;

/// Protects an awaitable from cancellation (Python: `asyncio.shield(aw)`).
///
/// `aw` becomes a task now (a [`Task`] is taken as it is). Awaiting the shield gives the
/// task's outcome; dropping the shield — the awaiting coroutine being cancelled — leaves the
/// task running to its end. If the task itself is cancelled, the shield gives
/// [`Error::Cancelled`].
///
/// ```
/// use concurra::aio;
///
/// let out = aio::run(async {
///     let inner = aio::create_task(async { 5 });
///     let fut = inner.future();
///     let outer = aio::create_task(aio::shield(inner));
///     outer.cancel();
///     assert!(outer.await.unwrap_err().is_cancelled());
///     fut.await
/// });
/// assert_eq!(out.unwrap(), 5);
/// ```
///
/// # Panics
/// Outside a running loop, when `aw` must become a task.
pub fn shield<A>(aw: A) -> Shield<A::Output>
where
    A: IntoTask,
{
    let task = aw.into_task();
    // As asyncio's shield retrieves the inner exception when the outer is cancelled: a
    // failure of the shielded task is the shield's to give, never reported as unretrieved.
    task.observe();
    Shield {
        join: Join::shielded(task),
    }
}

/// The future [`shield`] returns.
#[must_use = "the shielded task runs anyway; await the shield for its outcome"]
pub struct Shield<T> {
    join: Join<T>,
}

impl<T> StdFuture for Shield<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.join).poll(cx)
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").field("join", &self.join).finish()
    }
}

/// Waits for tasks until `return_when` holds (Python: `asyncio.wait(aws, return_when=...)`)
/// and returns `(done, pending)`, each in the order given.
///
/// Built on [`wait_async`](crate::wait_async) over the tasks' value-free end signals, so `T`
/// need not be `Clone`. It never cancels
/// anything; for a time limit, wrap it in [`timeout`](super::timeout()) (which drops the wait, not the tasks).
/// [`ReturnWhen::FirstException`] returns at the first failure; a cancellation is not one.
///
/// ```
/// use concurra::{aio, ReturnWhen};
///
/// let (done, pending) = aio::run(async {
///     let fast = aio::create_task(async { 1 });
///     let slow = aio::create_task(std::future::pending::<i32>());
///     aio::wait(vec![fast, slow], ReturnWhen::FirstCompleted).await.unwrap()
/// });
/// assert_eq!((done.len(), pending.len()), (1, 1));
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] if `tasks` is empty (Python: `ValueError`).
pub async fn wait<T>(
    tasks: impl IntoIterator<Item = Task<T>>,
    return_when: ReturnWhen,
) -> Result<(Vec<Task<T>>, Vec<Task<T>>)> {
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    if tasks.is_empty() {
        return Err(Error::InvalidArgument(
            "aio::wait needs at least one task".into(),
        ));
    }
    // Waiting reads no value: each task's value-free end signal, so no `T: Clone`. The
    // tasks go back to the caller, who owns their outcomes from now on.
    let signals: Vec<Future<()>> = tasks
        .iter()
        .map(|task| {
            task.observe();
            task.signal()
        })
        .collect();
    crate::wait::wait_async(&signals, return_when).await;
    Ok(tasks.into_iter().partition(Task::done))
}

/// Yields the tasks' outcomes in completion order (Python: `asyncio.as_completed(aws)`).
///
/// The k-th [`next`](AsCompleted::next) gives the k-th completion; tasks already done come
/// first, in the order given. Built on the crate's [`as_completed`](crate::as_completed) over
/// the tasks' value-free end signals; each value is moved out of its task when yielded, so
/// `T` need not be `Clone`. For a time limit, wrap each `next` in [`timeout`](super::timeout()): the
/// stragglers are not cancelled (as asyncio).
///
/// ```
/// use concurra::aio;
///
/// let order = aio::run(async {
///     let a = aio::create_task(async { aio::yield_now().await; "a" });
///     let b = aio::create_task(async { "b" });
///     let mut completions = aio::as_completed(vec![a, b]);
///     let mut order = Vec::new();
///     while let Some(outcome) = completions.next().await {
///         order.push(outcome.unwrap());
///     }
///     order
/// });
/// assert_eq!(order, ["b", "a"]);
/// ```
pub fn as_completed<T>(tasks: impl IntoIterator<Item = Task<T>>) -> AsCompleted<T> {
    let tasks: Vec<Option<Task<T>>> = tasks
        .into_iter()
        .map(|task| {
            task.observe();
            Some(task)
        })
        .collect();
    // Each task's value-free end signal is watched; the value is moved out of the task when
    // it is yielded (read once: no `T: Clone`).
    let signals: Vec<Future<()>> = tasks.iter().flatten().map(Task::signal).collect();
    let index = signals
        .iter()
        .enumerate()
        .map(|(i, signal)| (signal.id(), i))
        .collect();
    AsCompleted {
        remaining: tasks.len(),
        inner: crate::wait::as_completed(signals),
        tasks,
        index,
    }
}

/// What [`as_completed`] returns: an async iterator, and a
/// [`Stream`](futures_core::Stream), of outcomes. Fused
/// ([`FusedStream`](futures_core::stream::FusedStream)): `None` for good once every task was
/// yielded; its `size_hint` is exact.
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<T> {
    /// Over the tasks' end signals.
    inner: crate::wait::AsCompleted<()>,
    /// In the order given; `None` once yielded.
    tasks: Vec<Option<Task<T>>>,
    /// A signal's identity → its task's index.
    index: HashMap<usize, usize>,
    /// Tasks not yielded yet (each task has its own signal: tasks are unique).
    remaining: usize,
}

impl<T> AsCompleted<T> {
    /// The next task's outcome in completion order; `None` when every task was yielded.
    pub async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<T> futures_core::Stream for AsCompleted<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let next = futures_core::ready!(Pin::new(&mut self.inner).poll_next(cx));
        self.remaining = if next.is_some() {
            self.remaining - 1
        } else {
            0
        };
        Poll::Ready(next.map(|done| {
            done.and_then(|signal| {
                let i = self.index[&signal.id()];
                let task = self.tasks[i].take().expect("each signal is yielded once");
                // Its signal completes in the task's last step, after the outcome is stored.
                task.into_outcome()
            })
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> futures_core::stream::FusedStream for AsCompleted<T> {
    fn is_terminated(&self) -> bool {
        self.remaining == 0
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}
