//! The future's state machine: phases and the named transitions between them.
//!
//! ```text
//!            start()                 finish(outcome)
//!  Pending ───────────▶ Running ─────────────────────▶ Finished
//!     │                                                   ▲
//!     │ cancel()                  finish(outcome)         │
//!     ├────────────────────────────────────────────────────┘   (a producer may complete
//!     ▼                                                         a future it never started)
//!  Cancelled
//! ```
//!
//! Everything here runs under the future's lock. The outcome itself lives beside the lock in a
//! write-once cell: a transition into `Finished` or `Cancelled` writes the cell *before* it
//! changes the phase and while it holds the lock, so a reader that sees the cell filled may read
//! it without the lock, and a reader holding the lock sees cell and phase agree.

use crate::loom::thread::ThreadId;

use super::outcome::OutcomeCell;
use super::waiter::{WaitList, WakeList};
use super::Future;
use crate::error::{Error, Result};

/// A done-callback: runs once, with the completed future.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Future<T>) + Send + 'static>;

/// The one consumer of a future whose last handle was given up for it
/// (`Future::into_sink`): the outcome is moved to it instead of into the cell.
pub(crate) type Sink<T> = Box<dyn FnOnce(Result<T>) + Send + 'static>;

/// What a sunk future's cell holds once its outcome went to the sink. Nobody can read it: the
/// sink took the last handle.
fn moved_to_sink() -> Error {
    Error::InvalidState("the outcome was moved to the future's consumer".into())
}

/// Where a future is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Created, not started. The only phase `cancel` can leave. The outcome cell is empty.
    Pending,
    /// The work runs, on the thread named here when an engine started it (a future started
    /// by hand through the public `Promise` names none). `cancel` is refused. The cell is empty.
    Running(Option<ThreadId>),
    /// Cancelled while pending. Final: the cell holds `Err(Error::Cancelled)`.
    Cancelled,
    /// Completed by the producer. Final: the cell holds the outcome.
    Finished,
}

impl Phase {
    /// The name Python's repr uses.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running(_) => "running",
            Phase::Cancelled => "cancelled",
            Phase::Finished => "finished",
        }
    }

    pub(crate) fn is_done(self) -> bool {
        matches!(self, Phase::Cancelled | Phase::Finished)
    }
}

/// The lock-protected part of a future.
pub(crate) struct State<T> {
    pub(crate) phase: Phase,
    pub(crate) waiters: WaitList,
    pub(crate) callbacks: Vec<Callback<T>>,
    /// Set by `Future::into_sink` while pending: takes the outcome (no handle is left).
    pub(crate) sink: Option<Sink<T>>,
}

/// What a worker may do after asking to start the work.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// The future was pending and is now running: run the work.
    Run,
    /// The future was cancelled: drop the work.
    Cancelled,
    /// The future was already running or finished: a producer bug, reported as an error.
    Invalid(Phase),
}

/// What `cancel` did.
#[must_use]
pub(crate) enum Cancel<T> {
    /// Pending → Cancelled: wake the waiters and run the callbacks.
    Now(Completed<T>),
    /// It was cancelled before; nothing more to do (`cancel()` still returns true).
    Already,
    /// Running or finished: cancellation refused.
    Refused,
}

/// Waiters and callbacks taken out by a completing transition, to be run after the lock is
/// released.
#[must_use = "waiters must be woken and callbacks run once the lock is released"]
pub(crate) struct Completed<T> {
    pub(crate) waiters: WakeList,
    pub(crate) callbacks: Vec<Callback<T>>,
    /// The sink and the outcome it takes, if the future had one.
    pub(crate) sunk: Option<(Sink<T>, Result<T>)>,
}

impl<T> State<T> {
    pub(crate) fn new() -> Self {
        State {
            phase: Phase::Pending,
            waiters: WaitList::default(),
            callbacks: Vec::new(),
            sink: None,
        }
    }

    /// Python's `set_running_or_notify_cancel`: Pending → Running.
    pub(crate) fn start(&mut self, runner: Option<ThreadId>) -> ToRunning {
        match self.phase {
            Phase::Pending => {
                self.phase = Phase::Running(runner);
                ToRunning::Run
            }
            Phase::Cancelled => ToRunning::Cancelled,
            other => ToRunning::Invalid(other),
        }
    }

    /// Pending → Cancelled, writing `Err(Cancelled)` into `cell`.
    pub(crate) fn cancel(&mut self, cell: &OutcomeCell<T>) -> Cancel<T> {
        match self.phase {
            Phase::Pending => {
                let _ = cell.set(Err(Error::Cancelled));
                self.phase = Phase::Cancelled;
                let mut completed = self.take_completed();
                completed.sunk = self.sink.take().map(|sink| (sink, Err(Error::Cancelled)));
                Cancel::Now(completed)
            }
            Phase::Cancelled => Cancel::Already,
            Phase::Running(_) | Phase::Finished => Cancel::Refused,
        }
    }

    /// Pending or Running → Finished, writing `outcome` into `cell`. A done future refuses and
    /// hands the outcome back with the reason.
    pub(crate) fn finish(
        &mut self,
        cell: &OutcomeCell<T>,
        outcome: Result<T>,
    ) -> std::result::Result<Completed<T>, (Phase, Result<T>)> {
        if self.phase.is_done() {
            return Err((self.phase, outcome));
        }
        let (kept, sunk) = match self.sink.take() {
            Some(sink) => (Err(moved_to_sink()), Some((sink, outcome))),
            None => (outcome, None),
        };
        if let Err(kept) = cell.set(kept) {
            // The cell is only written under this lock, by a transition to a done phase.
            let outcome = match sunk {
                Some((_, outcome)) => outcome,
                None => kept,
            };
            return Err((self.phase, outcome));
        }
        self.phase = Phase::Finished;
        let mut completed = self.take_completed();
        completed.sunk = sunk;
        Ok(completed)
    }

    fn take_completed(&mut self) -> Completed<T> {
        Completed {
            waiters: self.waiters.take(),
            callbacks: std::mem::take(&mut self.callbacks),
            sunk: None,
        }
    }
}
