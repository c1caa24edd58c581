//! Bridges between the loop and threads (Python: `asyncio.to_thread`,
//! `loop.run_in_executor`, `asyncio.run_coroutine_threadsafe`).
//!
//! # Protocol
//!
//! 1. **The default executor.** The first [`to_thread`] on a loop creates that loop's default
//!    [`ThreadPoolExecutor`] (thread name prefix `asyncio`, Python's default size) and a
//!    *keeper* task that owns it and never completes. When the loop shuts down it cancels the
//!    keeper like every task left; the keeper's drop shuts the executor down and waits for the
//!    functions still running (as `asyncio.run` calls `shutdown_default_executor`).
//! 2. **To a thread.** [`to_thread`] and [`run_in_executor`] submit the closure and return an
//!    awaitable over the executor's [`Future`]. Awaiting it registers the task's waker on that
//!    future; the worker thread that completes it wakes the task through the loop's
//!    cross-thread path (inject queue + reactor notifier).
//! 3. **Cancelling the awaiter.** If the task awaiting the bridge is cancelled (its coroutine
//!    dropped, see the [module docs](super)), the executor's future is cancelled: work still
//!    queued never runs; work already running completes anyway (Python: cancelling the asyncio
//!    future cancels the concurrent one only if it has not started).
//! 4. **From a thread.** [`LoopHandle::run_coroutine_threadsafe`] sends the `Send` coroutine
//!    with `call_soon_threadsafe`; on the loop it becomes a task that completes a
//!    [`Promise`] when the coroutine returns (or panics: [`Error::Panicked`]). The returned
//!    [`Future`] is never marked running, so `Future::cancel` from any thread succeeds while
//!    the coroutine runs; the cancel wakes the task, which drops the coroutine as a
//!    cancellation (Python: cancelling the `concurrent.futures.Future` cancels the task).

use std::cell::RefCell;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use super::engine::{self, LoopHandle, LoopId};
use crate::error::{Error, Result};
use crate::executor::{Executor, Work};
use crate::future::{self, Future, Promise};
use crate::thread_pool::ThreadPoolExecutor;
use crate::unwind;

thread_local! {
    /// The default executor of the loop running on this thread (step 1).
    static DEFAULT: RefCell<Option<(LoopId, Rc<ThreadPoolExecutor>)>> =
        const { RefCell::new(None) };
}

/// Owns a loop's default executor; dropped (with its task) at the loop's shutdown.
struct Keeper(Rc<ThreadPoolExecutor>);

impl Drop for Keeper {
    fn drop(&mut self) {
        let mine = DEFAULT
            .try_with(|d| {
                let mut d = d.borrow_mut();
                let ours = d.as_ref().is_some_and(|(_, e)| Rc::ptr_eq(e, &self.0));
                if ours {
                    d.take()
                } else {
                    None
                }
            })
            .ok()
            .flatten();
        drop(mine);
        self.0.shutdown(true, false);
    }
}

/// The running loop's default executor, created on first use (step 1).
fn default_executor() -> Rc<ThreadPoolExecutor> {
    let id = LoopId::current("aio::to_thread");
    let found = DEFAULT.with(|d| {
        d.borrow()
            .as_ref()
            .filter(|(owner, _)| owner.is_running())
            .map(|(_, e)| e.clone())
    });
    if let Some(e) = found {
        return e;
    }
    let pool = ThreadPoolExecutor::builder()
        .thread_name_prefix("asyncio")
        .build()
        .unwrap_or_else(|e| panic!("cannot create the loop's default executor: {e}"));
    let pool = Rc::new(pool);
    let old = DEFAULT.with(|d| d.borrow_mut().replace((id, pool.clone())));
    drop(old);
    let keeper = Keeper(pool.clone());
    drop(engine::spawn("aio::to_thread", async move {
        let _keeper = keeper;
        std::future::pending::<()>().await
    }));
    pool
}

/// Runs `f` on the running loop's default thread pool and returns an awaitable of its value
/// (Python: `await asyncio.to_thread(f)`).
///
/// The output is `Ok(value)`, or [`Error::Panicked`] if `f` panicked. `T` need not be
/// `Clone`. If the awaiting task is cancelled before `f` started, `f` never runs.
///
/// ```
/// use concurra::aio;
///
/// let n = aio::run(async { aio::to_thread(|| 6 * 7).await.unwrap() });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
/// Outside a running loop.
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let future = default_executor().submit(move || {
        let value = f();
        *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    });
    ToThread { future, slot }
}

/// The awaitable [`to_thread`] returns.
pub struct ToThread<T> {
    future: Future<()>,
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> ToThread<T> {
    /// The executor's future of the call (it completes when `f` returned; the value itself is
    /// handed out by awaiting `self`).
    pub fn future(&self) -> Future<()> {
        self.future.clone()
    }
}

impl<T> StdFuture for ToThread<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        match Pin::new(&mut this.future).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let value = this
                    .slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                Poll::Ready(value.ok_or_else(|| {
                    Error::InvalidState("to_thread polled after it completed".into())
                }))
            }
        }
    }
}

impl<T> Drop for ToThread<T> {
    fn drop(&mut self) {
        // Step 3.
        if !self.future.done() && engine::cancelling() {
            self.future.cancel();
        }
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread")
            .field("future", &self.future)
            .finish()
    }
}

/// Submits `work` to `executor` and returns an awaitable of its outcome (Python:
/// `await loop.run_in_executor(executor, fn)`).
///
/// Any [`Executor`] accepting `work` will do (the thread pool takes any `Send` closure,
/// [`Fallible`](crate::Fallible) and [`Apply`](crate::Apply)). The executor's future wakes the
/// loop when it completes.
///
/// ```
/// use concurra::{aio, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let v = aio::run(async { aio::run_in_executor(&pool, || "done").await.unwrap() });
/// assert_eq!(v, "done");
/// ```
pub fn run_in_executor<E, W>(executor: &E, work: W) -> InExecutor<W::Output>
where
    E: Executor,
    W: Work<E>,
{
    InExecutor {
        future: executor.submit(work),
    }
}

/// The awaitable [`run_in_executor`] returns; its output is the executor future's outcome
/// (awaiting needs `T: Clone`, as awaiting a [`Future`] does; [`future`](Self::future) hands
/// out the future itself).
pub struct InExecutor<T> {
    future: Future<T>,
}

impl<T> InExecutor<T> {
    /// The executor's future.
    pub fn future(&self) -> Future<T> {
        self.future.clone()
    }
}

/// The executor's value, cloned as every handle's is (`T: Clone + Sync`: the executor's
/// future may be shared with other threads).
impl<T: Clone + Sync> StdFuture for InExecutor<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let future = &mut self.future;
        future
            .poll_done(cx)
            .map(|()| future.try_result().expect("done").clone())
    }
}

impl<T> Drop for InExecutor<T> {
    fn drop(&mut self) {
        // Step 3.
        if !self.future.done() && engine::cancelling() {
            self.future.cancel();
        }
    }
}

impl<T> fmt::Debug for InExecutor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InExecutor")
            .field("future", &self.future)
            .finish()
    }
}

impl LoopHandle {
    /// Runs `coro` as a task on this loop, from any thread, and returns its [`Future`]
    /// (Python: `asyncio.run_coroutine_threadsafe(coro, loop)`).
    ///
    /// The future completes with the coroutine's value, or [`Error::Panicked`]. Cancelling it
    /// (from any thread) cancels the task: its coroutine is dropped at its next step. If the
    /// loop has ended, the future is an [`Error::InvalidState`] at once; if it ends before the
    /// coroutine completed (it shuts down, cancelling what is left), the future is cancelled.
    ///
    /// ```
    /// use concurra::aio;
    /// use std::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let (stop_tx, stop_rx) = mpsc::channel::<()>();
    /// let lp = std::thread::spawn(move || {
    ///     aio::run(async move {
    ///         tx.send(aio::get_running_loop().unwrap().handle()).unwrap();
    ///         // Serve until told to stop.
    ///         aio::to_thread(move || stop_rx.recv()).await.unwrap().unwrap();
    ///     })
    /// });
    /// let handle = rx.recv().unwrap();
    /// let f = handle.run_coroutine_threadsafe(async { 1 + 1 });
    /// assert_eq!(f.result().unwrap(), 2);
    /// stop_tx.send(()).unwrap();
    /// lp.join().unwrap();
    /// ```
    pub fn run_coroutine_threadsafe<F>(&self, coro: F) -> Future<F::Output>
    where
        F: StdFuture + Send + 'static,
        F::Output: Send + Sync + 'static,
    {
        let (promise, future) = future::pair();
        let forward = Forward {
            coro: Some(Box::pin(coro)),
            promise: Some(promise),
            watching: false,
        };
        let sent = self.call_soon_threadsafe(move || {
            drop(engine::spawn("run_coroutine_threadsafe", forward));
        });
        match sent {
            Ok(_) => future,
            Err(e) => Future::completed(Err(e)),
        }
    }
}

/// The task [`LoopHandle::run_coroutine_threadsafe`] runs: polls the coroutine and completes
/// the promise (step 4).
struct Forward<F: StdFuture> {
    coro: Option<Pin<Box<F>>>,
    promise: Option<Promise<F::Output>>,
    /// Whether the wake-on-cancel callback is installed.
    watching: bool,
}

impl<F: StdFuture> Forward<F> {
    /// Drops the coroutine as a cancellation (awaited task handles cancel their tasks).
    fn drop_cancelled(&mut self) {
        if let Some(coro) = self.coro.take() {
            engine::drop_cancelled(coro);
        }
    }
}

impl<F: StdFuture> StdFuture for Forward<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Forward` is Unpin: its coroutine is boxed.
        let this = &mut *self;
        let Some(promise) = this.promise.as_ref() else {
            return Poll::Ready(());
        };
        if promise.is_cancelled() {
            this.promise = None;
            this.drop_cancelled();
            return Poll::Ready(());
        }
        if !this.watching {
            this.watching = true;
            let waker = cx.waker().clone();
            promise.future().add_done_callback(move |_| waker.wake());
        }
        let Some(coro) = this.coro.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match unwind::catch(|| coro.as_mut().poll(cx)) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(panic) => Err(panic),
        };
        this.coro = None;
        if let Some(promise) = this.promise.take() {
            // Refused only if cancelled meanwhile: it stays cancelled.
            let _ = promise.complete(outcome);
        }
        Poll::Ready(())
    }
}

impl<F: StdFuture> Unpin for Forward<F> {}

impl<F: StdFuture> Drop for Forward<F> {
    fn drop(&mut self) {
        if let Some(promise) = self.promise.take() {
            promise.cancel();
        }
    }
}
