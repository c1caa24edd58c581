//! The public handles on a loop: [`Builder`] (configures and runs one), [`Loop`] (the running
//! loop, from inside), [`LoopHandle`] (from any thread) and [`Handle`] (a scheduled callback).

use std::fmt;
use std::future::Future as StdFuture;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::context;
use super::core::{self, Core, Shared};
use super::report::{Handler, Report};
use super::task::{IntoCoroutine, Task};
use super::time::Clock;
use crate::error::{Error, Result};

/// Configures and runs a loop: its [`Clock`], where it reports what it swallows
/// ([`exception_handler`](Builder::exception_handler)), and asyncio's debug-mode warning for
/// slow steps ([`slow_callback_duration`](Builder::slow_callback_duration)).
///
/// ```
/// use concurra::aio::{self, PausedClock};
///
/// let out = aio::Builder::new().clock(PausedClock::new()).run(async { 7 });
/// assert_eq!(out, 7);
/// ```
#[derive(Default)]
pub struct Builder {
    pub(super) clock: Option<Rc<dyn Clock>>,
    pub(super) handler: Option<Handler>,
    pub(super) slow: Option<Duration>,
}

impl Builder {
    /// A builder with the [`SystemClock`](crate::aio::SystemClock).
    pub fn new() -> Self {
        Builder::default()
    }

    /// Uses `clock` for the loop's time and timers.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Rc::new(clock));
        self
    }

    /// Sends the loop's [`Report`]s to `handler` instead of stderr (Python:
    /// `loop.set_exception_handler`): callbacks that panicked, task failures nobody retrieved,
    /// slow steps. It runs on the loop's thread and may use the loop.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use concurra::aio::{self, ReportKind};
    ///
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// aio::Builder::new()
    ///     .exception_handler(move |r| log.borrow_mut().push(r.kind.clone()))
    ///     .run(async {
    ///         aio::create_task(async { panic!("nobody awaits me") });
    ///         aio::yield_now().await;
    ///     });
    /// assert_eq!(*seen.borrow(), [ReportKind::NeverRetrieved]);
    /// ```
    pub fn exception_handler(mut self, handler: impl Fn(&Report) + 'static) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// Reports every task step, callback or poll of main that holds the loop for `threshold`
    /// or longer on the loop's clock, with the task's [name](crate::aio::Task::name) (Python's
    /// debug mode with `loop.slow_callback_duration`; asyncio's default is 100 ms). Off by
    /// default: watching costs two clock reads per step.
    pub fn slow_callback_duration(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Runs `main` on a new loop on this thread (see [`run`](crate::aio::run)).
    ///
    /// # Panics
    /// As [`run`](crate::aio::run): where [`try_run`](Self::try_run) returns an error, and if
    /// `main` panics.
    pub fn run<F: StdFuture>(self, main: F) -> F::Output {
        self.try_run(main).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `main` on a new loop on this thread and returns its output, or the error that
    /// kept the loop from running it (see [`try_run`](crate::aio::try_run)).
    ///
    /// # Errors
    /// [`Error::InvalidState`] inside a running loop; [`Error::Io`] if the OS refuses a
    /// poller, or if the poller fails while the loop runs (the loop is shut down first).
    ///
    /// # Panics
    /// If `main` panics (the panic goes on after the loop shut down).
    pub fn try_run<F: StdFuture>(self, main: F) -> Result<F::Output> {
        core::block_on(self, main)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("custom_clock", &self.clock.is_some())
            .field("exception_handler", &self.handler.is_some())
            .field("slow_callback_duration", &self.slow)
            .finish()
    }
}

/// A handle on a scheduled callback (Python: `asyncio.Handle` and `TimerHandle`).
///
/// `Send + Sync`: a callback scheduled on the loop may be cancelled from any thread. Cancelling
/// marks the handle; the callback is dropped, not called, when its turn comes (CPython drops it
/// at once).
#[derive(Clone)]
pub struct Handle {
    state: Arc<HandleState>,
}

struct HandleState {
    cancelled: AtomicBool,
    when: Option<Duration>,
}

impl Handle {
    pub(super) fn new(when: Option<Duration>) -> Self {
        Handle {
            state: Arc::new(HandleState {
                cancelled: AtomicBool::new(false),
                when,
            }),
        }
    }

    /// Cancels the callback if it has not run yet (Python: `handle.cancel()`); harmless after
    /// it ran or when called twice.
    pub fn cancel(&self) {
        let was = self.state.cancelled.swap(true, Ordering::AcqRel);
        if !was && self.state.when.is_some() {
            context::note_timer_cancelled();
        }
    }

    /// True once [`cancel`](Self::cancel) was called (Python: `handle.cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::Acquire)
    }

    /// For a timer, its deadline on the loop's clock (Python: `TimerHandle.when()`).
    pub fn when(&self) -> Option<Duration> {
        self.state.when
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cancelled", &self.cancelled())
            .field("when", &self.state.when)
            .finish()
    }
}

/// The running loop, from inside it (Python: the object `asyncio.get_running_loop()`
/// returns). Not `Send`: use [`Loop::handle`] for other threads.
#[derive(Clone)]
pub struct Loop {
    core: Rc<Core>,
}

impl Loop {
    pub(crate) fn current() -> Result<Loop> {
        context::current()
            .map(|core| Loop { core })
            .ok_or_else(|| Error::InvalidState("no running event loop".into()))
    }

    /// The loop's monotonic time (Python: `loop.time()`), as a duration since its clock's
    /// origin.
    pub fn time(&self) -> Duration {
        self.core.now()
    }

    /// Schedules `f` for the next iteration, after everything already scheduled (Python:
    /// `loop.call_soon`). A panicking callback is reported on stderr; the loop goes on.
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Handle {
        self.core.call_soon(Box::new(f))
    }

    /// Schedules `f` once `delay` has passed on the loop's clock (Python: `loop.call_later`).
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> Handle {
        let when = self.core.now().saturating_add(delay);
        self.core.call_at(when, Box::new(f))
    }

    /// Schedules `f` at loop time `when` (Python: `loop.call_at`); a past `when` runs in the
    /// next iteration, after the callbacks already ready.
    pub fn call_at(&self, when: Duration, f: impl FnOnce() + 'static) -> Handle {
        self.core.call_at(when, Box::new(f))
    }

    /// Creates a task on this loop (see [`create_task`](crate::aio::create_task)); a
    /// [`Fallible`](crate::Fallible) future's `Err` fails it.
    pub fn create_task<F>(&self, coro: F) -> Task<F::Output>
    where
        F: IntoCoroutine,
    {
        self.core.spawn(coro)
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.core.shared(),
        }
    }

    /// True once the loop has ended (Python: `loop.is_closed()`).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Loop").field(&self.core).finish()
    }
}

/// A handle on a loop usable from any thread: `call_soon_threadsafe`.
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl LoopHandle {
    /// Schedules `f` on the loop from any thread and wakes the loop (Python:
    /// `loop.call_soon_threadsafe`). Callbacks from one thread run in the order they were
    /// scheduled.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the loop has ended (Python: `RuntimeError('Event loop is
    /// closed')`); `f` is dropped.
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<Handle> {
        let handle = Handle::new(None);
        match self.shared.inject_callback(handle.clone(), Box::new(f)) {
            Ok(()) => Ok(handle),
            Err(()) => Err(Error::InvalidState("the event loop is closed".into())),
        }
    }

    /// True once the loop has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
