//! What the loop reports instead of raising (Python: `loop.call_exception_handler(context)`):
//! a callback that panicked, a task failure nobody retrieved, a step that held the loop too
//! long.
//!
//! # Protocol
//!
//! 1. The loop builds a [`Report`] and hands it to the handler given to
//!    [`Builder::exception_handler`](crate::aio::Builder::exception_handler), on the loop's thread,
//!    with no borrow of the loop held (the handler may use the loop).
//! 2. Without a handler, the report is printed to stderr through the crate's one printer for
//!    swallowed failures (`concurra: <report>`), as asyncio's default handler logs it.
//! 3. A handler that panics is itself reported on stderr; the loop goes on.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// What happened (Python: the `message` of asyncio's exception-handler context).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// A callback scheduled on the loop (`call_soon`, `call_later`, `call_soon_threadsafe`)
    /// panicked (Python: "Exception in callback ...").
    CallbackPanicked,
    /// A task failed and nobody observed its outcome (Python: "Task exception was never
    /// retrieved"). Reported once: when its last handle is dropped, when it fails after that,
    /// or when the loop ends if a handle is still alive then.
    NeverRetrieved,
    /// A task step or callback held the loop for `took`, at least the threshold given to
    /// [`Builder::slow_callback_duration`](crate::aio::Builder::slow_callback_duration) (Python's
    /// debug mode: "Executing <Task ...> took 0.150 seconds").
    Slow {
        /// How long the step held the loop, on the loop's clock.
        took: Duration,
    },
}

/// One report from the loop: to the [`Builder::exception_handler`](crate::aio::Builder::exception_handler)
/// if there is one, else to stderr.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// What happened.
    pub kind: ReportKind,
    /// The task's name ([`Task::name`](crate::aio::Task::name)), if a task is concerned.
    pub task: Option<String>,
    /// The failure, for [`ReportKind::CallbackPanicked`] and [`ReportKind::NeverRetrieved`].
    pub error: Option<Error>,
}

/// The loop's exception handler ([`Builder::exception_handler`](crate::aio::Builder::exception_handler)).
pub(crate) type Handler = Box<dyn Fn(&Report)>;

impl Report {
    pub(crate) fn new(kind: ReportKind, task: Option<String>, error: Option<Error>) -> Self {
        Report { kind, task, error }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.task {
            Some(name) => format!("task {name}"),
            None => "a callback scheduled on the event loop".to_owned(),
        };
        match &self.kind {
            ReportKind::CallbackPanicked => write!(f, "{what} panicked")?,
            ReportKind::NeverRetrieved => write!(f, "task exception was never retrieved: {what}")?,
            ReportKind::Slow { took } => {
                write!(f, "executing {what} took {:.3} seconds", took.as_secs_f64())?
            }
        }
        match &self.error {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}
