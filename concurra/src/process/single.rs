//! [`Process`]: one function run in a new process, started and joined by hand (Python's
//! `multiprocessing.Process`), with its return value through a [`Future`].

use std::fmt;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::call::{Call, Remote, LAST};
use super::child::{read_frame, Child, DEFAULT_HANDSHAKE};
use super::wire::FrameKind;
use crate::error::{Error, Result};
use crate::future::{self, Future, Shares};
use crate::sys::Kill;

/// Configures a [`Process`] before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
    handshake: Duration,
}

impl Builder {
    /// The process's name (Python's `name`; default `Process-N`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A daemon process is not joined when its handle is dropped (it is killed when the parent
    /// exits); a non-daemon one is (default: false, as Python joins non-daemon processes at
    /// exit).
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// How long the new process has to answer the handshake (default 10 s).
    pub fn handshake_timeout(mut self, limit: Duration) -> Self {
        self.handshake = limit;
        self
    }

    /// Starts `work` in a new process: a function of no argument, [`Apply`](crate::Apply)
    /// of a function to one, or either in [`Fallible`](crate::Fallible). Returns once the
    /// process runs and has answered the handshake.
    ///
    /// # Errors
    /// [`Error::Encode`] if the argument does not serialize; [`Error::WorkerStart`] if the
    /// process cannot start (for example when `main` lacks [`init`](crate::init)); any error of
    /// [`Error::InvalidState`] from a worker started without the hook.
    pub fn start<W: Remote + 'static>(self, work: W) -> Result<Process<W::Output>> {
        let (mut call, future) = Call::new(work, 0)?;
        call.mark_last();
        self.launch(call, future)
    }

    fn launch<T>(self, call: Call, result: Future<T>) -> Result<Process<T>> {
        let name = self
            .name
            .unwrap_or_else(|| format!("Process-{}", next_number()));
        let (exit_promise, exited) = future::pair::<()>();
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let handshake = self.handshake;
        // The monitor thread starts the child, so the parent-death signal (bound to the
        // starting thread on Linux) fires only when this thread ends: after the child exits.
        std::thread::Builder::new()
            .name(format!("concurra-{name}"))
            .spawn(move || {
                let (child, lines) = match Child::spawn(handshake) {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let child = Arc::new(child);
                let _ = started_tx.send(Ok(Arc::clone(&child)));
                let Call { frame, pending, .. } = call;
                let reply = if pending.start() {
                    crate::sys::write_all_unless_hangup(
                        lines.calls.as_fd(),
                        lines.replies.as_fd(),
                        &frame,
                    )
                    .ok()
                    .and_then(|()| read_reply(&lines.replies))
                } else {
                    None
                };
                drop(lines);
                let exitcode = child.reap();
                match reply {
                    Some(payload) => pending.reply(&payload),
                    None => pending.fail(Error::WorkerDied {
                        pid: child.pid(),
                        exitcode,
                    }),
                }
                let _ = exit_promise.set_result(());
            })
            .map_err(|e| Error::io("starting a process monitor thread", e))?;
        let child = started_rx
            .recv()
            .map_err(|_| Error::WorkerStart("the monitor thread ended".into()))?
            .map_err(|e| match e {
                Error::BrokenPool { cause } => Error::WorkerStart(cause),
                other => other,
            })?;
        Ok(Process {
            name,
            daemon: self.daemon,
            child,
            exited,
            result,
            shares: Shares::new(),
            closed: AtomicBool::new(false),
        })
    }
}

/// The one reply's payload; `None` at end of file or on a malformed stream.
fn read_reply(channel: &std::fs::File) -> Option<Vec<u8>> {
    let frame = read_frame(channel, None).ok()??;
    (frame.kind == FrameKind::Reply && frame.id & !LAST == 0).then_some(frame.payload)
}

fn next_number() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(1);
    COUNT.fetch_add(1, Ordering::Relaxed)
}

/// One function running in its own process (Python's `multiprocessing.Process`), with its
/// return value through a [`Future`].
///
/// The child is this executable started again (see the [module docs](super) for the
/// protocol and for [`init`](crate::init)); it shares the parent's standard output and error.
///
/// | Python                       | concurra                              |
/// |------------------------------|---------------------------------------|
/// | `Process(target=f).start()`  | `Process::start(f)`                   |
/// | `Process(target=f, args=(a,))` | `Process::start(Apply(f, a))`       |
/// | `p.join()`, `p.join(t)`      | [`join`](Process::join), [`join_timeout`](Process::join_timeout) |
/// | `p.is_alive()`, `p.pid`, `p.exitcode` | [`is_alive`](Process::is_alive), [`pid`](Process::pid), [`exitcode`](Process::exitcode) |
/// | `p.terminate()`, `p.kill()`  | [`terminate`](Process::terminate), [`kill`](Process::kill) |
/// | `p.close()`                  | [`close`](Process::close)             |
/// | (the return value is lost)   | [`join_value`](Process::join_value), [`result`](Process::result), [`future`](Process::future) |
///
/// [`Thread`](crate::Thread) has the same API, as in Python.
///
/// A panic in the function gives exit code 1 (Python: an uncaught exception) and
/// [`Error::Panicked`] on the future; a process killed by a signal gives `-signal` and
/// [`Error::WorkerDied`].
///
/// ```
/// use concurra::{Apply, Process};
///
/// concurra::worker_hook!();
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// # fn main() -> concurra::Result<()> {
/// let p = Process::start(Apply(square, 7))?;
/// p.join()?;
/// assert_eq!(p.exitcode(), Some(0));
/// assert_eq!(p.join_value()?, 49);
/// # Ok(())
/// # }
/// ```
pub struct Process<T> {
    name: String,
    daemon: bool,
    child: Arc<Child>,
    exited: Future<()>,
    result: Future<T>,
    shares: Shares<T>,
    /// Set by [`close`](Process::close): the object is released, its methods are errors.
    closed: AtomicBool,
}

impl Process<()> {
    /// A builder for a named or daemon process.
    pub fn builder() -> Builder {
        Builder {
            name: None,
            daemon: false,
            handshake: DEFAULT_HANDSHAKE,
        }
    }
}

impl<T> Process<T> {
    /// Starts `work` in a new process with default settings (see [`Builder::start`]).
    ///
    /// # Errors
    /// As [`Builder::start`].
    pub fn start<W: Remote<Output = T> + 'static>(work: W) -> Result<Process<T>> {
        Process::builder().start(work)
    }

    /// Waits until the process has exited (and been reaped) (Python: `join()`).
    ///
    /// # Errors
    /// [`Error::InvalidState`] after [`close`](Self::close).
    pub fn join(&self) -> Result<()> {
        self.check_open()?;
        self.exited.wait();
        Ok(())
    }

    /// Waits at most `timeout`; returns whether the process has exited (Python:
    /// `join(timeout)` then `not is_alive()`).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.check_open()?;
        Ok(self.exited.wait_timeout(timeout))
    }

    /// Whether the process is still running. A closed process is not (Python raises
    /// `ValueError` there; [`close`](Self::close) has checked that it exited).
    pub fn is_alive(&self) -> bool {
        !self.exited.done()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the process is a daemon (see [`Builder::daemon`]).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Python's `exitcode`: `None` while running, the exit code, or minus the signal that
    /// killed it.
    pub fn exitcode(&self) -> Option<i32> {
        if self.exited.done() {
            self.child.exitcode()
        } else {
            None
        }
    }

    /// Sends SIGTERM to the process (and its process group). Nothing if it has exited.
    ///
    /// # Errors
    /// [`Error::InvalidState`] after [`close`](Self::close).
    pub fn terminate(&self) -> Result<()> {
        self.check_open()?;
        self.child.signal(Kill::Term);
        Ok(())
    }

    /// Sends SIGKILL to the process (and its process group). Nothing if it has exited.
    ///
    /// # Errors
    /// [`Error::InvalidState`] after [`close`](Self::close).
    pub fn kill(&self) -> Result<()> {
        self.check_open()?;
        self.child.signal(Kill::Kill);
        Ok(())
    }

    /// Releases the process object (Python: `close()`): from then on `join`, `join_timeout`,
    /// `terminate` and `kill` are [`Error::InvalidState`]. The value stays readable.
    ///
    /// # Errors
    /// [`Error::InvalidState`] while the process is still running (Python: `ValueError`).
    pub fn close(&self) -> Result<()> {
        if self.is_alive() {
            return Err(Error::InvalidState(
                "cannot close a process while it is still running; join it first".into(),
            ));
        }
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::InvalidState("the process object is closed".into()))
        } else {
            Ok(())
        }
    }

    /// A second handle on the function's outcome (complete once the process has exited).
    /// Sharing the value needs `T: Clone + Sync`.
    pub fn future(&self) -> Future<T>
    where
        T: Clone + Sync,
    {
        self.shares.share(&self.result)
    }

    /// Waits for the function's value and gives a clone of it; the handle stays.
    ///
    /// # Errors
    /// [`Error::Panicked`] if it panicked, [`Error::Failed`] for a [`Fallible`](crate::Fallible)
    /// function's `Err`, [`Error::WorkerDied`] if the process died first, [`Error::Decode`]
    /// if the value did not decode.
    pub fn result(&self) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.result.result()
    }

    /// Joins the process and moves the function's value out (any `T`: no `Clone`, no `Sync`).
    ///
    /// # Errors
    /// As [`result`](Self::result).
    pub fn join_value(mut self) -> Result<T> {
        self.exited.wait();
        let result = std::mem::replace(&mut self.result, Future::completed(Err(Error::Abandoned)));
        self.shares.take(result)
    }
}

/// The function's future, taking the place of the process's handle: the process runs on as
/// a daemon's would (wait on the future instead of joining). No `Clone` needed: this is the
/// one reader.
impl<T> From<Process<T>> for Future<T> {
    fn from(mut process: Process<T>) -> Future<T> {
        process.daemon = true;
        std::mem::replace(
            &mut process.result,
            Future::completed(Err(Error::Abandoned)),
        )
    }
}

impl<T> Drop for Process<T> {
    /// A non-daemon process is joined; a daemon one runs on (killed when the parent exits).
    fn drop(&mut self) {
        if !self.daemon {
            self.exited.wait();
        }
    }
}

impl<T> fmt::Debug for Process<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}
