//! [`Process`]: one function run in a new process, started and joined by hand (Python's
//! `multiprocessing.Process`), with its return value through a [`Future`].

use std::fmt;
use std::os::fd::AsFd;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::call::{Call, Remote, LAST};
use super::child::{read_frame, Child, DEFAULT_HANDSHAKE};
use super::wire::FrameKind;
use crate::error::{Error, Result};
use crate::future::{self, Future};
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

    /// Starts `work` in a new process: a function of no argument, or [`Apply`](crate::Apply)
    /// of a function to one. Returns once the process runs and has answered the handshake.
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
/// | (the return value is lost)   | [`result`](Process::result), [`future`](Process::future) |
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
/// p.join();
/// assert_eq!(p.exitcode(), Some(0));
/// assert_eq!(p.result()?, 49);
/// # Ok(())
/// # }
/// ```
pub struct Process<T> {
    name: String,
    daemon: bool,
    child: Arc<Child>,
    exited: Future<()>,
    result: Future<T>,
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

    /// Waits until the process has exited (and been reaped).
    pub fn join(&self) {
        self.exited.wait();
    }

    /// Waits at most `timeout`; true if the process has exited.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.exited.wait_timeout(timeout)
    }

    /// Whether the process is still running.
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
    pub fn terminate(&self) {
        self.child.signal(Kill::Term);
    }

    /// Sends SIGKILL to the process (and its process group). Nothing if it has exited.
    pub fn kill(&self) {
        self.child.signal(Kill::Kill);
    }

    /// The function's outcome, as a [`Future`] (complete once the process has exited).
    pub fn future(&self) -> Future<T> {
        self.result.clone()
    }

    /// Waits for the function's value.
    ///
    /// # Errors
    /// [`Error::Panicked`] if it panicked, [`Error::WorkerDied`] if the process died first,
    /// [`Error::Decode`] if the value did not decode.
    pub fn result(&self) -> Result<T>
    where
        T: Clone,
    {
        self.result.result()
    }
}

impl<T> Drop for Process<T> {
    /// A non-daemon process is joined; a daemon one runs on (killed when the parent exits).
    fn drop(&mut self) {
        if !self.daemon {
            self.join();
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
