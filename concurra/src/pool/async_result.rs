//! [`AsyncResult`]: Python's `multiprocessing.pool.AsyncResult`, a thin view over the one
//! [`Future`].

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::future::Future;

/// The handle `apply_async`, `map_async` and `starmap_async` return.
///
/// It is a view over a [`Future`] (get one with [`future`](Self::future) or `.into()`), so it
/// also works with [`wait`](crate::wait), [`as_completed`](crate::as_completed) and `.await`.
/// Unlike Python, a timeout is [`Error::Timeout`] like everywhere else in concurra.
pub struct AsyncResult<T> {
    future: Future<T>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(future: Future<T>) -> Self {
        AsyncResult { future }
    }

    /// Blocks until the result arrives and returns it (Python: `get()`).
    ///
    /// # Errors
    /// The work's error; [`Error::Terminated`] if the pool was terminated first.
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
        self.future.result()
    }

    /// As [`get`](Self::get), waiting at most `timeout` (Python: `get(timeout)`).
    ///
    /// # Errors
    /// [`Error::Timeout`], and everything [`get`](Self::get) returns.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T>
    where
        T: Clone,
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

    /// Whether the work succeeded (Python: `successful()`). A task's `Err`, a panic, a
    /// cancellation or a termination all count as unsuccessful.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the result is not ready yet (Python raises `ValueError`).
    pub fn successful(&self) -> Result<bool> {
        match self.future.try_result() {
            Some(outcome) => Ok(outcome.is_ok()),
            None => Err(Error::InvalidState(
                "the result is not ready: successful() needs a ready result".into(),
            )),
        }
    }

    /// The shared future behind this result.
    pub fn future(&self) -> Future<T> {
        self.future.clone()
    }
}

impl<T> From<AsyncResult<T>> for Future<T> {
    fn from(r: AsyncResult<T>) -> Future<T> {
        r.future
    }
}

impl<T: Clone> std::future::IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = Future<T>;

    fn into_future(self) -> Future<T> {
        self.future
    }
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult::new(self.future.clone())
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncResult").field(&self.future).finish()
    }
}
