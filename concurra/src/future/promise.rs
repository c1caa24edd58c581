//! [`Promise<T>`]: the write side of a [`Future`].

use std::fmt;

use super::state::{thread_token, ToRunning, Word};
use super::{Future, Inner};
use crate::error::{Error, Result};
use crate::loom::Arc;

/// The producer side of a [`Future`]: Python's `set_running_or_notify_cancel`, `set_result` and
/// `set_exception`.
///
/// Completing consumes the promise, so a future cannot be set twice. Dropping a promise that
/// was not completed fails its future with [`Error::Abandoned`].
///
/// ```
/// let (promise, future) = concurra::future::pair::<&str>();
/// assert!(promise.set_running_or_notify_cancel());
/// promise.set_result("done").unwrap();
/// assert_eq!(future.result().unwrap(), "done");
///
/// let (promise, future) = concurra::future::pair::<u8>();
/// drop(promise);
/// assert!(future.result().unwrap_err().is_abandoned());
/// ```
pub struct Promise<T> {
    producer: Producer<T>,
    /// The state word this promise last wrote (its start's): what it expects to find when it
    /// completes. A hint only, read and written by the promise's owner (a `std` atomic, so
    /// the loom models do not branch on it; `Promise` stays `Sync`).
    guess: std::sync::atomic::AtomicUsize,
}

/// A [`Promise`] without its guess of the state word: the caller carries the guess from
/// [`start`](Producer::start) to [`complete_then`](Producer::complete_then) itself. One word,
/// so a queued job (a closure and its producer) fits inline in the pool's queue more often.
pub(crate) struct Producer<T> {
    /// `None` once completed.
    inner: Option<Arc<Inner<T>>>,
}

impl<T> Producer<T> {
    pub(super) fn new(inner: Arc<Inner<T>>) -> Self {
        Producer { inner: Some(inner) }
    }

    /// A producer already used: it completes nothing and its drop does nothing (what a queued
    /// job leaves behind once its producer was taken out).
    pub(crate) fn spent() -> Self {
        Producer { inner: None }
    }

    fn inner(&self) -> &Arc<Inner<T>> {
        self.inner
            .as_ref()
            .expect("a promise is live until it completes")
    }

    /// Pending → Running, naming the runner's token (0: none). Gives the word it wrote (the
    /// guess for [`complete_then`](Self::complete_then)) when the work should run; `None` when
    /// the future was cancelled, or was not pending (a producer bug, reported on stderr).
    pub(crate) fn start(&self, runner: usize) -> Option<usize> {
        let (transition, word) = self.inner().start(runner);
        match transition {
            ToRunning::Run => Some(word),
            ToRunning::Cancelled => None,
            ToRunning::Invalid(phase) => {
                crate::unwind::print_report(&format_args!(
                    "set_running_or_notify_cancel on a future in state {}",
                    phase.name()
                ));
                None
            }
        }
    }

    /// [`start`](Self::start), naming the calling thread as the runner: a wait on this future
    /// from that thread is then an error, not a deadlock. For engines, whose runner is the
    /// thread that completes the future.
    pub(crate) fn start_here(&self) -> Option<usize> {
        self.start(thread_token())
    }

    /// [`Promise::complete_then`], with the word the caller expects (what `start` gave, or
    /// [`Word::NEW`] for a future never started: a wrong guess costs one failed
    /// compare-exchange).
    #[inline]
    pub(crate) fn complete_then(
        mut self,
        outcome: Result<T>,
        guess: usize,
        idle: &mut dyn FnMut(),
    ) -> Result<()> {
        let inner = self
            .inner
            .take()
            .expect("a promise is live until it completes");
        match inner.finish(outcome, guess, idle) {
            Ok(completed) => {
                let idle_later = completed.idle_later;
                Inner::run_completed_owned(inner, completed);
                if idle_later {
                    idle();
                }
                Ok(())
            }
            Err((phase, _outcome)) => {
                idle();
                Err(Error::InvalidState(format!(
                    "cannot complete a future in state {}",
                    phase.name()
                )))
            }
        }
    }

    /// Cancels the future if it is still pending (used by engines that drop queued work);
    /// returns whether it is cancelled now. A future that was running is failed with
    /// [`Error::Abandoned`] by the drop of `self`.
    pub(crate) fn cancel(self) -> bool {
        Inner::cancel(self.inner())
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if !inner.is_done() {
                // Abandoned: fail the future rather than leave it pending forever. A concurrent
                // cancel may win the race; then the future is cancelled, which is as complete.
                if let Ok(completed) = inner.finish(Err(Error::Abandoned), Word::NEW, &mut || {}) {
                    Inner::run_completed(&inner, completed);
                }
            }
        }
    }
}

impl<T> Promise<T> {
    pub(super) fn new(inner: Arc<Inner<T>>) -> Self {
        Promise {
            producer: Producer::new(inner),
            guess: std::sync::atomic::AtomicUsize::new(Word::NEW),
        }
    }

    /// Marks the future running, unless it was cancelled (Python's
    /// `set_running_or_notify_cancel`).
    ///
    /// Returns true if the work should run, false if the future was cancelled and the work must
    /// be dropped. Calling it on a future that is already running or finished is a producer bug:
    /// it returns false and is reported on stderr, as CPython logs it.
    pub fn set_running_or_notify_cancel(&self) -> bool {
        self.start(0)
    }

    /// As [`set_running_or_notify_cancel`](Self::set_running_or_notify_cancel), naming the
    /// calling thread as the runner: a wait on this future from that thread is then an error,
    /// not a deadlock. For engines, whose runner is the thread that completes the future.
    pub(crate) fn start_here(&self) -> bool {
        self.start(thread_token())
    }

    fn start(&self, runner: usize) -> bool {
        match self.producer.start(runner) {
            Some(word) => {
                self.guess.store(word, std::sync::atomic::Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// True if the future was cancelled; the producer may skip the work.
    pub fn is_cancelled(&self) -> bool {
        self.producer.inner().is_done()
    }

    /// Completes the future with `outcome`, waking its waiters and then running its callbacks
    /// in this thread.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the future was already cancelled; the outcome is dropped.
    pub fn complete(self, outcome: Result<T>) -> Result<()> {
        self.complete_then(outcome, &mut || {})
    }

    /// As [`complete`](Self::complete), calling `idle` once the completing thread has nothing
    /// left to do for this future: before the outcome is published when no callback is
    /// registered (so a waiter that wakes finds the worker already idle), after the callbacks
    /// otherwise (a callback may block, and may submit work that needs another worker).
    /// `idle` may run while the future is claimed, with its listener lock held: it must not
    /// run user code.
    #[inline]
    pub(crate) fn complete_then(self, outcome: Result<T>, idle: &mut dyn FnMut()) -> Result<()> {
        let guess = self.guess.load(std::sync::atomic::Ordering::Relaxed);
        self.producer.complete_then(outcome, guess, idle)
    }

    /// Completes the future with a value (Python: `set_result`).
    ///
    /// # Errors
    /// As [`complete`](Self::complete).
    pub fn set_result(self, value: T) -> Result<()> {
        self.complete(Ok(value))
    }

    /// Completes the future with an error (Python: `set_exception`).
    ///
    /// # Errors
    /// As [`complete`](Self::complete).
    pub fn set_error(self, error: Error) -> Result<()> {
        self.complete(Err(error))
    }

    /// Cancels the future if it is still pending (used by engines that drop queued work);
    /// returns whether it is cancelled now. A future that was running is failed with
    /// [`Error::Abandoned`] by the drop of `self`.
    pub(crate) fn cancel(self) -> bool {
        self.producer.cancel()
    }

    /// A handle on the future this promise completes.
    pub fn future(&self) -> Future<T> {
        Future::from_inner(self.producer.inner().clone())
    }

    /// The producer alone, for an engine that carries the guess itself.
    pub(crate) fn into_producer(self) -> Producer<T> {
        self.producer
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.producer.inner {
            Some(inner) => write!(f, "Promise({:?})", Future::from_inner(inner.clone())),
            None => f.write_str("Promise(completed)"),
        }
    }
}
