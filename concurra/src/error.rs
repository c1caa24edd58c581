//! The one error type.
//!
//! Every engine reports every failure through [`Error`], on the [`Future`](crate::Future) of the
//! work that failed. Python spreads these over many classes (`CancelledError`, `TimeoutError`,
//! `BrokenExecutor`, `InvalidStateError`, `RuntimeError`, the task's own exception); concurra
//! has one enum with an accessor per kind:
//!
//! | Python                                          | concurra                          | accessor            |
//! |-------------------------------------------------|-----------------------------------|---------------------|
//! | `concurrent.futures.CancelledError`             | [`Error::Cancelled`]              | [`Error::is_cancelled`] |
//! | `TimeoutError` (from `result`, `as_completed`)  | [`Error::Timeout`]                | [`Error::is_timeout`]   |
//! | an exception raised by the task                 | [`Error::Panicked`] or [`Error::Failed`] | [`Error::is_panic`], [`Error::is_failed`] |
//! | `RuntimeError('cannot schedule new futures after shutdown')` | [`Error::Shutdown`]  | [`Error::is_shutdown`]  |
//! | `BrokenThreadPool`, `BrokenProcessPool`         | [`Error::BrokenPool`]             | [`Error::is_broken_pool`] |
//! | `ValueError` (a bad argument: `max_workers=0`, `chunksize=0`) | [`Error::InvalidArgument`] | [`Error::is_invalid_argument`] |
//! | `InvalidStateError`, misuse `RuntimeError`s     | [`Error::InvalidState`]           | [`Error::is_invalid_state`] |
//! | `threading.BrokenBarrierError`, `asyncio.BrokenBarrierError` | [`Error::BrokenBarrier`] | [`Error::is_broken_barrier`] |
//! | a `Pool.terminate()`d result (Python hangs)      | [`Error::Terminated`]             | [`Error::is_terminated`] |
//! | a future whose producer vanished (Python hangs) | [`Error::Abandoned`]              | [`Error::is_abandoned`] |
//! | `BrokenProcessPool` after a worker died (the whole pool) | [`Error::WorkerDied`] (that work only) | [`Error::is_worker_died`] |
//! | Celery's `WorkerLostError` (a remote worker lost mid-call) | [`Error::WorkerLost`] (that work only) | [`Error::is_worker_lost`], [`Error::is_worker_died`] |
//! | kombu's `OperationalError` (the broker cannot be reached) | [`Error::Broker`]         | [`Error::is_broker`]    |
//! | (Celery and RQ wait forever with no worker)     | [`Error::NoWorkers`]              | [`Error::is_no_workers`] |
//! | an OS call that failed (`OSError`)              | [`Error::Io`]                     | [`Error::is_io`]        |
//! | `ConnectionResetError`, `BrokenPipeError`, `ConnectionRefusedError` | [`Error::Io`] with its [`io_kind`](Error::io_kind) | [`Error::is_connection_lost`] |
//! | `asyncio.IncompleteReadError`                   | [`Error::IncompleteRead`]         | [`Error::is_incomplete_read`] |
//! | `asyncio.LimitOverrunError`, `readline`'s `ValueError` | [`Error::LimitOverrun`]    | [`Error::is_limit_overrun`] |
//! | `KeyboardInterrupt` out of `asyncio.run`        | [`Error::Interrupted`]            | [`Error::is_interrupted`] |
//! | a worker process that cannot start              | [`Error::WorkerStart`]            | [`Error::is_worker_start`] |
//! | `PicklingError` (a value that cannot cross)     | [`Error::Encode`]                 | [`Error::is_encode`]    |
//! | `UnpicklingError` (malformed bytes)             | [`Error::Decode`]                 | [`Error::is_decode`]    |
//!
//! `Error` is `Clone` so that one outcome can be read by many waiters: the task's own error and
//! the I/O error are held behind an `Arc`.

use std::fmt;
use std::sync::Arc;

/// A `Result` whose error is concurra's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a task's own `Err` is stored as, shared between every reader of the outcome.
pub type TaskError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong with a piece of asynchronous work.
///
/// The enum is `#[non_exhaustive]`: later engines add variants (a dead worker process, a value
/// that cannot cross a process boundary). Match on the accessors ([`is_cancelled`](Self::is_cancelled),
/// [`is_timeout`](Self::is_timeout), …) where you can.
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The work was cancelled before it started (`Future::cancel`, or `shutdown` with
    /// `cancel_futures`).
    #[error("the future was cancelled")]
    Cancelled,

    /// The outcome was not ready before the deadline. The work goes on; the future stays usable.
    /// From `as_completed_timeout` it also says how many futures were unfinished, of how many
    /// (Python: "2 (of 4) futures unfinished").
    #[error("{}", describe_timeout(*after, *unfinished))]
    Timeout {
        /// How long the caller was prepared to wait.
        after: std::time::Duration,
        /// For a wait on many futures: how many were still unfinished, of how many.
        unfinished: Option<Unfinished>,
    },

    /// The task panicked. Python's equivalent is an exception escaping the task.
    #[error("the task panicked at {}: {message}", location.as_deref().unwrap_or("an unknown location"))]
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when the payload was not a string).
        message: String,
        /// `file:line:column` of the panic, when the panic hook could record it.
        location: Option<String>,
    },

    /// The task returned its own error (an `Err` from a fallible task).
    #[error("the task failed: {0}")]
    Failed(TaskError),

    /// The executor was shut down before this work was submitted.
    #[error("cannot schedule new work after shutdown")]
    Shutdown,

    /// The pool can no longer run work; the cause says why.
    #[error("the pool is broken: {cause}")]
    BrokenPool {
        /// Why the pool broke (for example the initializer's panic message).
        cause: String,
    },

    /// The pool was terminated before this work finished (`Pool::terminate`; Python leaves
    /// such results pending forever).
    #[error("the pool was terminated before the work finished")]
    Terminated,

    /// An argument the call cannot take (Python's `ValueError`): `max_workers(0)`, a chunk size
    /// of 0, an input that yields more or fewer items than its exact size hint promised.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An operation that the future's or the engine's state does not allow (Python's
    /// `InvalidStateError` and the misuse `RuntimeError`s): joining the current thread, waiting
    /// on one's own future, `join` on a running pool, a call outside an event loop.
    #[error("invalid state: {0}")]
    InvalidState(String),

    /// A barrier was broken (aborted, or a waiter was cancelled) while this party waited, or
    /// before it arrived (Python's `BrokenBarrierError`).
    #[error("the barrier is broken")]
    BrokenBarrier,

    /// The producer of the future was dropped without completing it.
    #[error("the producer was dropped without completing the future")]
    Abandoned,

    /// The worker process running the work died (killed by a signal, aborted, or exited
    /// inside the task) before it replied. Python breaks the whole pool
    /// (`BrokenProcessPool`); concurra fails only this work and replaces the worker.
    #[error("worker process {pid} died ({})", describe_exit(*exitcode))]
    WorkerDied {
        /// The worker's pid.
        pid: u32,
        /// Python's `exitcode`: the exit code, or minus the signal that killed it.
        exitcode: i32,
    },

    /// A remote worker node running the work stopped renewing its lease (killed, stopped, or
    /// cut off from the broker) and the work was not to be run again (a remote engine's
    /// `retries`). Counts as a dead worker: [`is_worker_died`](Error::is_worker_died) is
    /// true for it too.
    #[error("the remote worker running this call stopped renewing its {lease:?} lease (delivered {attempts} time(s)); it is presumed dead")]
    WorkerLost {
        /// How many times the call was handed to a worker.
        attempts: u32,
        /// The lease the worker failed to renew.
        lease: std::time::Duration,
    },

    /// The message broker of a remote engine (Redis) could not be reached, or refused a
    /// command.
    #[error("broker error: {0}")]
    Broker(String),

    /// No worker of this build served a remote engine within its time limit.
    #[error("no worker of build {build} answered within {waited:?}: start one (the same executable, in worker mode)")]
    NoWorkers {
        /// The build id the work was routed by ([`build_id`](crate::build_id)).
        build: String,
        /// How long the engine waited for a worker.
        waited: std::time::Duration,
    },

    /// A worker process could not be started, or did not complete the handshake.
    #[error("cannot start a worker process: {0}")]
    WorkerStart(String),

    /// A value could not be serialized to cross a process boundary.
    #[error("cannot encode: {0}")]
    Encode(String),

    /// Bytes from another process did not decode (a malformed frame or payload).
    #[error("cannot decode: {0}")]
    Decode(String),

    /// End-of-file came before a stream read could complete (Python:
    /// `asyncio.IncompleteReadError`): `readexactly(n)` got `partial.len()` of `expected`
    /// bytes, or `readuntil` found no separator (`expected` is `None`). The bytes read are
    /// here; the stream's buffer was emptied.
    #[error("{} bytes read on a total of {} expected bytes", partial.len(), describe_expected(*expected))]
    IncompleteRead {
        /// What was read before end-of-file.
        partial: Vec<u8>,
        /// How many bytes were expected; `None` when the read waited for a separator.
        expected: Option<usize>,
    },

    /// A stream read would have gone over the stream's limit (Python:
    /// `asyncio.LimitOverrunError`; `readline`'s `ValueError`). `readuntil` leaves the data
    /// in the buffer; `readline` drops the offending line.
    #[error("{message}")]
    LimitOverrun {
        /// What went over, naming the limit.
        message: String,
        /// How many bytes the read would have consumed (Python's `consumed`).
        consumed: usize,
    },

    /// The program was interrupted by Ctrl-C (`SIGINT`) while [`aio::try_run`](crate::aio::try_run)
    /// ran its main (Python: `KeyboardInterrupt` out of `asyncio.run`).
    #[error("interrupted by SIGINT (Ctrl-C)")]
    Interrupted,

    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What concurra was doing.
        context: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// How many of the futures waited on were unfinished when a timeout ended the wait
/// ([`Error::Timeout`] from [`as_completed_timeout`](crate::as_completed_timeout)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfinished {
    /// The futures not done (nor yielded) when the wait ended.
    pub pending: usize,
    /// The futures waited on (each counted once).
    pub total: usize,
}

/// "36", or Python's "undefined" for an `IncompleteRead` without an expected count.
fn describe_expected(expected: Option<usize>) -> String {
    match expected {
        Some(n) => n.to_string(),
        None => "undefined".to_owned(),
    }
}

/// "timed out after 10ms waiting for the outcome", or Python's "2 (of 4) futures unfinished".
fn describe_timeout(after: std::time::Duration, unfinished: Option<Unfinished>) -> String {
    match unfinished {
        Some(Unfinished { pending, total }) => {
            format!("{pending} (of {total}) futures unfinished after {after:?}")
        }
        None => format!("timed out after {after:?} waiting for the outcome"),
    }
}

impl Error {
    /// An [`Error::Timeout`] after waiting `after` for one outcome.
    pub fn timeout(after: std::time::Duration) -> Self {
        Error::Timeout {
            after,
            unfinished: None,
        }
    }

    /// For [`Error::Timeout`] from a wait on many futures: how many were unfinished, of how
    /// many.
    pub fn unfinished(&self) -> Option<Unfinished> {
        match self {
            Error::Timeout { unfinished, .. } => *unfinished,
            _ => None,
        }
    }

    /// Wraps a task's own error as [`Error::Failed`].
    pub fn failed<E>(error: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        Error::Failed(Arc::from(error.into()))
    }

    /// An [`Error::Io`] with what concurra was doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// True for [`Error::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled)
    }

    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True for [`Error::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }

    /// True for [`Error::Failed`], the task's own error.
    pub fn is_failed(&self) -> bool {
        matches!(self, Error::Failed(_))
    }

    /// True for [`Error::Shutdown`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Error::Shutdown)
    }

    /// True for [`Error::BrokenPool`].
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, Error::BrokenPool { .. })
    }

    /// True for [`Error::Terminated`].
    pub fn is_terminated(&self) -> bool {
        matches!(self, Error::Terminated)
    }

    /// True for [`Error::InvalidArgument`].
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Error::InvalidArgument(_))
    }

    /// True for [`Error::InvalidState`].
    pub fn is_invalid_state(&self) -> bool {
        matches!(self, Error::InvalidState(_))
    }

    /// True for [`Error::BrokenBarrier`].
    pub fn is_broken_barrier(&self) -> bool {
        matches!(self, Error::BrokenBarrier)
    }

    /// True for [`Error::WorkerStart`].
    pub fn is_worker_start(&self) -> bool {
        matches!(self, Error::WorkerStart(_))
    }

    /// True for [`Error::Encode`].
    pub fn is_encode(&self) -> bool {
        matches!(self, Error::Encode(_))
    }

    /// True for [`Error::Decode`].
    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode(_))
    }

    /// True for [`Error::Abandoned`].
    pub fn is_abandoned(&self) -> bool {
        matches!(self, Error::Abandoned)
    }

    /// True for [`Error::WorkerDied`] and [`Error::WorkerLost`]: the worker running the work
    /// died before it answered.
    pub fn is_worker_died(&self) -> bool {
        matches!(self, Error::WorkerDied { .. } | Error::WorkerLost { .. })
    }

    /// True for [`Error::WorkerLost`] (a remote worker's lease expired).
    pub fn is_worker_lost(&self) -> bool {
        matches!(self, Error::WorkerLost { .. })
    }

    /// True for [`Error::Broker`].
    pub fn is_broker(&self) -> bool {
        matches!(self, Error::Broker(_))
    }

    /// True for [`Error::NoWorkers`].
    pub fn is_no_workers(&self) -> bool {
        matches!(self, Error::NoWorkers { .. })
    }

    /// True for [`Error::Io`].
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }

    /// True for [`Error::IncompleteRead`].
    pub fn is_incomplete_read(&self) -> bool {
        matches!(self, Error::IncompleteRead { .. })
    }

    /// True for [`Error::Interrupted`].
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
    }

    /// True for [`Error::LimitOverrun`].
    pub fn is_limit_overrun(&self) -> bool {
        matches!(self, Error::LimitOverrun { .. })
    }

    /// For [`Error::IncompleteRead`], the bytes read before end-of-file.
    pub fn partial(&self) -> Option<&[u8]> {
        match self {
            Error::IncompleteRead { partial, .. } => Some(partial),
            _ => None,
        }
    }

    /// For [`Error::IncompleteRead`], the expected count (`Some(None)`: a separator was
    /// expected).
    pub fn expected(&self) -> Option<Option<usize>> {
        match self {
            Error::IncompleteRead { expected, .. } => Some(*expected),
            _ => None,
        }
    }

    /// For [`Error::LimitOverrun`], how many bytes the read would have consumed.
    pub fn consumed(&self) -> Option<usize> {
        match self {
            Error::LimitOverrun { consumed, .. } => Some(*consumed),
            _ => None,
        }
    }

    /// For [`Error::Io`], the OS error's kind (`ConnectionRefused`, `ConnectionReset`,
    /// `BrokenPipe`, `AddrInUse`, ...: Python's `OSError` subclasses).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// True for an [`Error::Io`] that says the peer is gone: `ConnectionReset`,
    /// `ConnectionAborted` or `BrokenPipe` (Python: `ConnectionResetError`,
    /// `ConnectionAbortedError`, `BrokenPipeError`).
    pub fn is_connection_lost(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
        matches!(
            self.io_kind(),
            Some(ConnectionReset | ConnectionAborted | BrokenPipe)
        )
    }

    /// The panic message, for [`Error::Panicked`].
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Error::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The task's own error, for [`Error::Failed`], downcast to its concrete type.
    pub fn task_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Failed(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// Whether this error means the work *failed*, as `wait(FirstException)`, error callbacks and
    /// `AsyncResult::successful` count it: everything except a cancellation.
    pub fn is_failure(&self) -> bool {
        !self.is_cancelled()
    }
}

/// "exit code 3", "killed by signal 9 (SIGKILL)".
fn describe_exit(exitcode: i32) -> String {
    if exitcode >= 0 {
        return format!("exit code {exitcode}");
    }
    let signal = exitcode.unsigned_abs();
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("killed by signal {signal}"),
    };
    format!("killed by signal {signal} ({name})")
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled => f.write_str("Cancelled"),
            Error::Timeout { after, unfinished } => f
                .debug_struct("Timeout")
                .field("after", after)
                .field("unfinished", unfinished)
                .finish(),
            Error::Panicked { message, location } => f
                .debug_struct("Panicked")
                .field("message", message)
                .field("location", location)
                .finish(),
            Error::Failed(e) => f.debug_tuple("Failed").field(&format_args!("{e}")).finish(),
            Error::Shutdown => f.write_str("Shutdown"),
            Error::BrokenPool { cause } => {
                f.debug_struct("BrokenPool").field("cause", cause).finish()
            }
            Error::InvalidArgument(s) => f.debug_tuple("InvalidArgument").field(s).finish(),
            Error::InvalidState(s) => f.debug_tuple("InvalidState").field(s).finish(),
            Error::BrokenBarrier => f.write_str("BrokenBarrier"),
            Error::Terminated => f.write_str("Terminated"),
            Error::WorkerDied { pid, exitcode } => f
                .debug_struct("WorkerDied")
                .field("pid", pid)
                .field("exitcode", exitcode)
                .finish(),
            Error::WorkerLost { attempts, lease } => f
                .debug_struct("WorkerLost")
                .field("attempts", attempts)
                .field("lease", lease)
                .finish(),
            Error::Broker(s) => f.debug_tuple("Broker").field(s).finish(),
            Error::NoWorkers { build, waited } => f
                .debug_struct("NoWorkers")
                .field("build", build)
                .field("waited", waited)
                .finish(),
            Error::WorkerStart(s) => f.debug_tuple("WorkerStart").field(s).finish(),
            Error::Encode(s) => f.debug_tuple("Encode").field(s).finish(),
            Error::Decode(s) => f.debug_tuple("Decode").field(s).finish(),
            Error::Abandoned => f.write_str("Abandoned"),
            Error::Interrupted => f.write_str("Interrupted"),
            Error::IncompleteRead { partial, expected } => f
                .debug_struct("IncompleteRead")
                .field("partial_len", &partial.len())
                .field("expected", expected)
                .finish(),
            Error::LimitOverrun { message, consumed } => f
                .debug_struct("LimitOverrun")
                .field("message", message)
                .field("consumed", consumed)
                .finish(),
            Error::Io { context, source } => f
                .debug_struct("Io")
                .field("context", context)
                .field("source", source)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_clear() {
        let e = Error::Panicked {
            message: "boom".into(),
            location: Some("src/x.rs:1:2".into()),
        };
        assert_eq!(e.to_string(), "the task panicked at src/x.rs:1:2: boom");
        assert!(e.is_panic() && e.is_failure() && !e.is_cancelled());
        assert_eq!(Error::Cancelled.to_string(), "the future was cancelled");
        assert!(!Error::Cancelled.is_failure());
        let io = std::io::Error::other("nope");
        let f = Error::failed(io);
        assert!(f.is_failed());
        assert_eq!(
            f.task_error::<std::io::Error>().unwrap().to_string(),
            "nope"
        );
        assert_eq!(f.to_string(), "the task failed: nope");
    }
}
