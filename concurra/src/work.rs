//! A [`Job`]: a closure and the [`Promise`] it completes; the one place where running work
//! turns into an outcome.
//!
//! `run` asks the promise whether the work may start (it may have been cancelled while
//! queued), runs the closure through [`unwind::catch`] so that a panic becomes that future's
//! [`Error::Panicked`], and completes the promise. An engine that must drop queued work calls
//! `cancel` or `fail` instead; a job that is simply dropped fails its future with
//! [`Error::Abandoned`] (the promise's drop), so no queued work is ever lost silently.

use crate::error::{Error, Result};
use crate::future::{self, Future, Promise};
use crate::unwind;

/// Queued work, type-erased.
pub(crate) type Job = Box<dyn Run>;

/// What an engine can do with queued work.
pub(crate) trait Run: Send {
    /// Runs the work, unless its future was cancelled, and completes the future.
    /// `idle` runs once the worker is done with this job: before the outcome is published
    /// when no done-callback waits (so a submitter that sees the result finds the worker
    /// idle), after the callbacks otherwise (see `Promise::complete_then`).
    fn run(self: Box<Self>, idle: &mut dyn FnMut()) {
        if self.start() {
            self.run_started(idle);
        } else {
            idle();
        }
    }
    /// Marks the future running on this thread; false if it was cancelled (drop the job).
    fn start(&self) -> bool;
    /// Runs work already marked running by [`start`](Run::start) and completes the future.
    fn run_started(self: Box<Self>, idle: &mut dyn FnMut());
    /// Cancels the future if it is still pending (`shutdown(cancel_futures = true)`).
    fn cancel(self: Box<Self>);
    /// Fails the future with `error` without running the work (a broken pool).
    fn fail(self: Box<Self>, error: Error);
}

struct JobCell<F, T> {
    f: F,
    promise: Promise<T>,
}

impl<F, T> Run for JobCell<F, T>
where
    F: FnOnce() -> Result<T> + Send,
    T: Send,
{
    #[inline]
    fn start(&self) -> bool {
        self.promise.start_here()
    }

    #[inline]
    fn run_started(self: Box<Self>, idle: &mut dyn FnMut()) {
        let JobCell { f, promise } = *self;
        let outcome = unwind::catch(f).and_then(|r| r);
        // Only a cancelled future refuses; a running one cannot be cancelled.
        let _ = promise.complete_then(outcome, idle);
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.promise.set_error(error);
    }
}

/// Packages a closure as a job and the future it will complete.
#[inline]
pub(crate) fn job<F, T>(f: F) -> (Job, Future<T>)
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (promise, future) = future::pair();
    (Box::new(JobCell { f, promise }), future)
}
