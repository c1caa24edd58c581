//! [`AsyncResult`]: Python's `multiprocessing.pool.AsyncResult`, a thin view over the one
//! [`Future`].

use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::future::{Future, Shares};

/// The handle `apply_async`, `map_async` and `starmap_async` return.
///
/// It is a view over a [`Future`] (get one with [`future`](Self::future) or `.into()`), so it
/// also works with [`wait`](fn@crate::wait), [`as_completed`](crate::as_completed) and `.await`.
/// Unlike Python, a timeout is [`Error::Timeout`] like everywhere else in concurra.
///
/// [`get`](Self::get) consumes the handle and moves the value out, so any `T` will do; a
/// second reader ([`clone`](Clone::clone), [`future`](Self::future)) needs `T: Clone + Sync`,
/// and then `get` clones.
pub struct AsyncResult<T> {
    future: Future<T>,
    shares: Shares<T>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(future: Future<T>) -> Self {
        AsyncResult {
            future,
            shares: Shares::new(),
        }
    }

    /// Blocks until the result arrives and returns it (Python: `get()`), moved out of the
    /// handle.
    ///
    /// # Errors
    /// The work's error; [`Error::Terminated`] if the pool was terminated first.
    pub fn get(self) -> Result<T> {
        self.shares.take(self.future)
    }

    /// As [`get`](Self::get), waiting at most `timeout` (Python: `get(timeout)`); on a timeout
    /// the handle stays usable, so the value is cloned (or wait with
    /// [`wait_timeout`](Self::wait_timeout), then [`get`](Self::get)).
    ///
    /// # Errors
    /// [`Error::Timeout`], and everything [`get`](Self::get) returns.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.future.result_timeout(timeout)
    }

    /// Blocks until the result is ready (Python: `wait()`).
    pub fn wait(&self) {
        self.future.wait();
    }

    /// Waits at most `timeout`; returns whether the result is ready (Python: `wait(timeout)`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.future.wait_timeout(timeout)
    }

    /// Whether the result has arrived (Python: `ready()`).
    pub fn ready(&self) -> bool {
        self.future.done()
    }

    /// Whether the work succeeded (Python: `successful()`), or `None` while it is not ready
    /// (Python raises `ValueError`). A task's `Err`, a panic, a cancellation or a termination
    /// all count as unsuccessful.
    pub fn successful(&self) -> Option<bool> {
        self.future.try_error().map(|outcome| outcome.is_ok())
    }

    /// A second handle: the shared future behind this result.
    pub fn future(&self) -> Future<T>
    where
        T: Clone + Sync,
    {
        self.shares.share(&self.future)
    }
}

impl<T> From<AsyncResult<T>> for Future<T> {
    fn from(r: AsyncResult<T>) -> Future<T> {
        r.future
    }
}

impl<T: Clone + Sync> std::future::IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = Future<T>;

    fn into_future(self) -> Future<T> {
        self.future
    }
}

impl<T: Clone + Sync> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            future: self.future.clone(),
            shares: self.shares.fork(),
        }
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncResult").field(&self.future).finish()
    }
}
