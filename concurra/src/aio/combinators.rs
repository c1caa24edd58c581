//! Combinators over awaitables: [`gather`] and [`wait_for`].

use std::fmt;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::runtime;
use super::task::{Join, Task};
use super::time::sleep;
use crate::error::{Error, Result};

/// Something [`gather`] can run as a task (Python: an awaitable passed to `gather`, which
/// wraps coroutines with `ensure_future`): any `'static` future becomes a new task; a [`Task`]
/// is taken as it is.
pub trait IntoTask {
    /// The task's output.
    type Output;
    /// The task: the existing one, or a new one on the running loop.
    fn into_task(self) -> Task<Self::Output>;
}

impl<F: StdFuture + 'static> IntoTask for F {
    type Output = F::Output;

    fn into_task(self) -> Task<F::Output> {
        runtime::expect_current("aio::gather").spawn(self)
    }
}

impl<T> IntoTask for Task<T> {
    type Output = T;

    fn into_task(self) -> Task<T> {
        self
    }
}

/// Runs awaitables concurrently and collects their values in argument order (Python:
/// `asyncio.gather(*aws)`).
///
/// Every argument becomes a task at once (so they start in argument order, when the caller
/// next yields). The result is `Ok` with every value, in argument order, once all are done; or
/// the error of the first task to *fail in time* (a panic, or a cancellation), at once — the
/// other tasks keep running, as in asyncio. If the coroutine awaiting the gather is cancelled,
/// every unfinished child is cancelled. `gather` of nothing is `Ok(vec![])`.
///
/// ```
/// use concurra::aio;
///
/// let out = aio::run(async {
///     // Futures of one type become tasks; tasks are taken as they are.
///     let doubled = aio::gather((1..=3).map(|i| async move { i * 2 })).await;
///     let tasks = [aio::create_task(async { "a" }), aio::create_task(async { "b" })];
///     (doubled, aio::gather(tasks).await)
/// });
/// assert_eq!(out.0.unwrap(), vec![2, 4, 6]);
/// assert_eq!(out.1.unwrap(), vec!["a", "b"]);
/// ```
///
/// # Panics
/// Outside a running loop, when an argument must become a task.
pub fn gather<I>(aws: I) -> Gather<<I::Item as IntoTask>::Output>
where
    I: IntoIterator,
    I::Item: IntoTask,
    <I::Item as IntoTask>::Output: Clone,
{
    let joins: Vec<Option<Join<_>>> = aws
        .into_iter()
        .map(|aw| Some(aw.into_task().into_future()))
        .collect();
    let results = joins.iter().map(|_| None).collect();
    Gather {
        remaining: joins.len(),
        joins,
        results,
    }
}

/// The future [`gather`] returns.
#[must_use = "gather's tasks run anyway; await it to collect their values"]
pub struct Gather<T> {
    /// One per argument; `None` once its value is in `results`.
    joins: Vec<Option<Join<T>>>,
    results: Vec<Option<T>>,
    remaining: usize,
}

/// Nothing in a `Gather` is pinned: its children are boxed inside their tasks.
impl<T> Unpin for Gather<T> {}

impl<T: Clone> StdFuture for Gather<T> {
    type Output = Result<Vec<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>>> {
        let this = &mut *self;
        for (slot, result) in this.joins.iter_mut().zip(this.results.iter_mut()) {
            let Some(join) = slot else { continue };
            match Pin::new(join).poll(cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(value)) => {
                    *result = Some(value);
                    *slot = None;
                    this.remaining -= 1;
                }
                Poll::Ready(Err(e)) => {
                    *slot = None;
                    return Poll::Ready(Err(e));
                }
            }
        }
        if this.remaining == 0 {
            let values = this
                .results
                .iter_mut()
                .map(|r| r.take().expect("every child is done"))
                .collect();
            Poll::Ready(Ok(values))
        } else {
            Poll::Pending
        }
    }
}

impl<T> fmt::Debug for Gather<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("children", &self.joins.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// Awaits `aw` for at most `timeout` on the loop's clock (Python: `asyncio.wait_for`).
///
/// Returns `Ok` with `aw`'s output if it completes first; otherwise `aw` is cancelled and the
/// result is [`Error::Timeout`]. `aw` runs inside the caller's task (no new task), so it may
/// borrow. Cancelling means dropping it, there and then, inside a cancelling section: its
/// destructors have run before `wait_for` returns (asyncio waits for the cancelled inner task's
/// clean-up too), and a [`Task`] it was awaiting is cancelled as well — its coroutine is dropped
/// at its next step, just after this returns. With a zero timeout `aw` is never polled, as
/// asyncio never starts a coroutine given `timeout <= 0`. If `aw` and the deadline are ready
/// at the same wake-up, the value wins.
///
/// ```
/// use std::time::Duration;
/// use concurra::aio;
///
/// let out = aio::run(async {
///     aio::wait_for(Duration::from_millis(1), std::future::pending::<()>()).await
/// });
/// assert!(out.unwrap_err().is_timeout());
/// ```
///
/// # Errors
/// [`Error::Timeout`] when the deadline passes first.
///
/// # Panics
/// Polled outside a running loop.
pub async fn wait_for<F: IntoFuture>(timeout: Duration, aw: F) -> Result<F::Output> {
    let mut inner = Some(Box::pin(aw.into_future()));
    if !timeout.is_zero() {
        let mut deadline = sleep(timeout);
        let finished = std::future::poll_fn(|cx| {
            let fut = inner.as_mut().expect("polled until ready");
            if let Poll::Ready(value) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(value));
            }
            if Pin::new(&mut deadline).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(value) = finished {
            return Ok(value);
        }
    }
    // No `Rc` of the loop is held across the await above: this future stays `Send` when `aw`
    // is.
    let core = runtime::expect_current("aio::wait_for");
    let _cancelling = core.enter_cancelling();
    drop(inner.take());
    Err(Error::Timeout { after: timeout })
}
