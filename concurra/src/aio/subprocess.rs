//! Subprocesses on the event loop: asyncio's `create_subprocess_exec` / `_shell`, in the
//! shape of `std::process::Command`.
//!
//! | Python                                              | concurra                                   |
//! |-----------------------------------------------------|--------------------------------------------|
//! | `create_subprocess_exec(prog, *args, ...)`          | [`Command::new`]`(prog).args(..).spawn()`  |
//! | `create_subprocess_shell(cmd, ...)`                 | [`Command::shell`]`(cmd).spawn()` (`/bin/sh -c cmd`) |
//! | `stdin=`/`stdout=`/`stderr=` `PIPE`, `DEVNULL`, `None`, a file | [`Stdio::piped`], [`Stdio::null`], [`Stdio::inherit`], `Stdio::from(file)` |
//! | `stderr=STDOUT`                                     | [`Stdio::merge_into_stdout`] (for stderr)  |
//! | `cwd=`, `env=`, `start_new_session=`, `process_group=` | [`Command::current_dir`], [`Command::env`] / [`env_clear`](Command::env_clear), [`Command::start_new_session`], [`Command::process_group`] |
//! | `restore_signals=` | [`Command::reset_signals`] (on by default, and wider: every ignored standard signal) |
//! | `limit=` (the pipes' read limit)                    | [`Command::limit`]                         |
//! | `proc.pid`, `proc.stdin`, `proc.stdout`, `proc.stderr` | [`Child::pid`], [`Child::stdin`], [`Child::stdout`], [`Child::stderr`] |
//! | `await proc.wait()`, `proc.returncode`              | [`Child::wait`], [`Child::try_wait`] / [`Child::returncode`] |
//! | `send_signal`, `terminate`, `kill` (`ProcessLookupError` after exit) | [`Child::send_signal`], [`Child::terminate`], [`Child::kill`] ([`Error::InvalidState`] after exit) |
//! | `await proc.communicate(input)`                     | [`Child::communicate`] → [`Output`]        |
//! | closing the transport kills a running child         | dropping the [`Child`] ([`Command::kill_on_drop`], on by default) |
//!
//! # How an exit is learnt
//!
//! On Linux a pidfd (`pidfd_open`) registered with the loop's reactor: it becomes readable
//! when the child exits, and only then is the child reaped (`waitpid` on its own pid). Where
//! pidfd is missing, a thread per child waits for the exit (`waitid` with `WNOWAIT`, which
//! does not reap) and wakes the loop. Never `waitpid(-1)`, never a `SIGCHLD` handler: other
//! libraries' children are never stolen, and exactly one observer reaps each child.
//!
//! # Lifetime
//!
//! A child is reaped by [`Child::wait`] or when its handle is dropped: a child still running
//! at the drop is killed (`SIGKILL`) and reaped, unless [`Command::kill_on_drop`]`(false)`, in
//! which case a thread reaps it when it exits. A child known to have exited is never signalled:
//! its pid may belong to another process by then. Pipes are close-on-exec (children do not
//! inherit the loop's descriptors) and the children's signal dispositions start at the
//! defaults: handlers do not survive `exec`, and standard signals the parent ignores are reset too
//! (as libuv does; [`Command::reset_signals`]`(false)` keeps them ignored).
//!
//! ```
//! use concurra::aio::{self, subprocess::{Command, Stdio}};
//!
//! aio::run(async {
//!     let mut child = Command::shell("echo hello; echo oops >&2; exit 3")
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let out = child.communicate(None).await.unwrap();
//!     assert_eq!(out.status, 3);
//!     assert_eq!(out.stdout.unwrap(), b"hello\n");
//!     assert_eq!(out.stderr.unwrap(), b"oops\n");
//! });
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_io::AsyncWrite;
use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::engine::Registered;
use super::streams::{pipe_reader, pipe_writer, StreamReader, StreamWriter, DEFAULT_LIMIT};
use crate::error::{Error, Result};
use crate::signal::Signal;

/// Where a child's standard stream goes.
#[derive(Debug)]
pub struct Stdio(StdioKind);

#[derive(Debug)]
enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
    MergeIntoStdout,
}

impl Stdio {
    /// The parent's own stream (Python: `None`, the default).
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// `/dev/null` (Python: `DEVNULL`).
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A pipe to the parent: a [`StreamWriter`] for stdin, a [`StreamReader`] for stdout and
    /// stderr (Python: `PIPE`).
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }

    /// For stderr only: wherever stdout goes (Python: `stderr=STDOUT`).
    pub fn merge_into_stdout() -> Stdio {
        Stdio(StdioKind::MergeIntoStdout)
    }
}

impl From<std::fs::File> for Stdio {
    fn from(file: std::fs::File) -> Stdio {
        Stdio(StdioKind::Fd(file.into()))
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

/// A command to start a child process (Python's `create_subprocess_exec` / `_shell`
/// arguments; `std::process::Command`'s shape).
pub struct Command {
    inner: std::process::Command,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    kill_on_drop: bool,
    limit: usize,
    new_session: bool,
    reset_signals: bool,
}

impl Command {
    /// Runs `program` (looked up in `PATH` unless it holds a `/`) with the arguments added by
    /// [`arg`](Self::arg) / [`args`](Self::args).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            stdin: Stdio::inherit(),
            stdout: Stdio::inherit(),
            stderr: Stdio::inherit(),
            kill_on_drop: true,
            limit: DEFAULT_LIMIT,
            new_session: false,
            reset_signals: true,
        }
    }

    /// Runs `command` with `/bin/sh -c` (Python: `create_subprocess_shell`).
    pub fn shell(command: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("/bin/sh");
        c.inner.arg("-c").arg(command);
        c
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Command {
        self.inner.env(key, value);
        self
    }

    /// Removes an environment variable from the child's.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with no environment but what [`env`](Self::env) adds (Python:
    /// `env={...}`).
    pub fn env_clear(mut self) -> Command {
        self.inner.env_clear();
        self
    }

    /// The child's working directory (Python: `cwd=`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin (default: inherited).
    pub fn stdin(mut self, stdio: Stdio) -> Command {
        self.stdin = stdio;
        self
    }

    /// The child's stdout (default: inherited).
    pub fn stdout(mut self, stdio: Stdio) -> Command {
        self.stdout = stdio;
        self
    }

    /// The child's stderr (default: inherited); [`Stdio::merge_into_stdout`] sends it where
    /// stdout goes.
    pub fn stderr(mut self, stdio: Stdio) -> Command {
        self.stderr = stdio;
        self
    }

    /// Starts the child in a new session (`setsid`; Python: `start_new_session=True`). The
    /// spawn then forks instead of using `posix_spawn`.
    pub fn start_new_session(mut self, on: bool) -> Command {
        self.new_session = on;
        self
    }

    /// Whether the child starts with the standard signals (1–31) at their default
    /// disposition (default: true, as libuv does): a signal the parent ignores (SIGHUP under
    /// `nohup`, say) is not ignored by the child, so [`Child::send_signal`] reaches it.
    /// `false` lets the child inherit what the parent ignores, as a plain `exec` does: set it
    /// when the children should stay immune too (a program run under `nohup` whose children
    /// must outlive a hang-up; a background job whose children must ignore Ctrl-C, as the
    /// shell arranged for the parent). Python restores only SIGPIPE and SIGXFSZ
    /// (`restore_signals=True`). Handlers never survive `exec`. While the parent ignores any
    /// signal but SIGPIPE, a resetting spawn forks instead of using `posix_spawn`.
    pub fn reset_signals(mut self, on: bool) -> Command {
        self.reset_signals = on;
        self
    }

    /// Puts the child in process group `pgroup`, 0 for a new group it leads (Python:
    /// `process_group=`).
    pub fn process_group(mut self, pgroup: i32) -> Command {
        use std::os::unix::process::CommandExt;
        self.inner.process_group(pgroup);
        self
    }

    /// Whether dropping a [`Child`] that still runs kills it (default: true, asyncio's rule).
    /// Either way the child is reaped: at the drop, or by a thread when it exits.
    pub fn kill_on_drop(mut self, on: bool) -> Command {
        self.kill_on_drop = on;
        self
    }

    /// The read limit of the stdout and stderr readers (Python: `limit=`, 64 KiB).
    pub fn limit(mut self, limit: usize) -> Command {
        self.limit = limit;
        self
    }

    /// Starts the child on the running loop (Python: `await create_subprocess_exec(...)`).
    ///
    /// # Errors
    /// [`Error::Io`] if the program cannot be started (not found, not executable: Python's
    /// `FileNotFoundError` / `PermissionError`; no pipe is left open);
    /// [`Error::InvalidArgument`] for a zero limit or `merge_into_stdout` given as stdin or
    /// stdout; [`Error::InvalidState`] outside a running loop.
    pub fn spawn(self) -> Result<Child> {
        let Command {
            mut inner,
            stdin,
            stdout,
            stderr,
            kill_on_drop,
            limit,
            new_session,
            reset_signals,
        } = self;
        if limit == 0 {
            return Err(Error::InvalidArgument("limit must be at least 1".into()));
        }
        if super::engine::try_now().is_none() {
            return Err(Error::InvalidState(
                "a subprocess needs a running event loop (aio::run)".into(),
            ));
        }
        if new_session {
            crate::sys::new_session(&mut inner);
        }
        if reset_signals {
            let ignored = crate::sys::ignored_signals();
            if ignored != 0 {
                crate::sys::default_signals_in_child(&mut inner, ignored);
            }
        }
        let (child_in, parent_in) = plan(stdin, true)?;
        let (child_out, parent_out) = plan(stdout, false)?;
        let (child_err, parent_err) = match stderr.0 {
            StdioKind::MergeIntoStdout => {
                let fd = match &child_out {
                    Some(ChildEnd::Fd(fd)) => Some(ChildEnd::Fd(dup(fd)?)),
                    Some(ChildEnd::Null) => Some(ChildEnd::Null),
                    None => Some(ChildEnd::Fd(dup_stdout()?)),
                };
                (fd, None)
            }
            other => plan(Stdio(other), false)?,
        };
        inner.stdin(to_std(child_in));
        inner.stdout(to_std(child_out));
        inner.stderr(to_std(child_err));
        // The child ends are closed in the parent when `inner` drops, right after the spawn,
        // so the parent sees end-of-file once the child is done with them.
        let spawned = inner.spawn();
        drop(inner);
        let child = spawned.map_err(|e| Error::io("starting a subprocess", e))?;
        let pid = child.id();
        let mut handle = Child {
            pid,
            std: Some(child),
            status: None,
            watch: None,
            kill_on_drop,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        // From here on, a failure drops `handle`, which kills and reaps the child.
        handle.watch = Some(ExitWatch::new(pid)?);
        handle.stdin = parent_in.map(register_out).transpose()?;
        handle.stdout = parent_out.map(|fd| register_in(fd, limit)).transpose()?;
        handle.stderr = parent_err.map(|fd| register_in(fd, limit)).transpose()?;
        Ok(handle)
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("command", &self.inner)
            .field("kill_on_drop", &self.kill_on_drop)
            .field("limit", &self.limit)
            .finish()
    }
}

/// What the child gets for one stream (`None`: inherit).
enum ChildEnd {
    Null,
    Fd(OwnedFd),
}

/// The child's end and the parent's end (for a pipe) of one stream.
fn plan(stdio: Stdio, child_reads: bool) -> Result<(Option<ChildEnd>, Option<OwnedFd>)> {
    Ok(match stdio.0 {
        StdioKind::Inherit => (None, None),
        StdioKind::Null => (Some(ChildEnd::Null), None),
        StdioKind::Fd(fd) => (Some(ChildEnd::Fd(fd)), None),
        StdioKind::Piped => {
            let (r, w) = crate::sys::pipe().map_err(|e| Error::io("making a pipe", e))?;
            if child_reads {
                (Some(ChildEnd::Fd(r)), Some(w))
            } else {
                (Some(ChildEnd::Fd(w)), Some(r))
            }
        }
        StdioKind::MergeIntoStdout => {
            return Err(Error::InvalidArgument(
                "Stdio::merge_into_stdout() is for stderr only".into(),
            ))
        }
    })
}

fn to_std(end: Option<ChildEnd>) -> std::process::Stdio {
    match end {
        None => std::process::Stdio::inherit(),
        Some(ChildEnd::Null) => std::process::Stdio::null(),
        Some(ChildEnd::Fd(fd)) => std::process::Stdio::from(fd),
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone()
        .map_err(|e| Error::io("duplicating a descriptor", e))
}

fn dup_stdout() -> Result<OwnedFd> {
    use std::os::fd::AsFd;
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("duplicating stdout", e))
}

fn register_out(fd: OwnedFd) -> Result<StreamWriter> {
    let sender = mio::unix::pipe::Sender::from(fd);
    sender
        .set_nonblocking(true)
        .map_err(|e| Error::io("making a pipe non-blocking", e))?;
    Ok(pipe_writer(Registered::new(sender)?))
}

fn register_in(fd: OwnedFd, limit: usize) -> Result<StreamReader> {
    let receiver = mio::unix::pipe::Receiver::from(fd);
    receiver
        .set_nonblocking(true)
        .map_err(|e| Error::io("making a pipe non-blocking", e))?;
    pipe_reader(Registered::new(receiver)?, limit)
}

/// A pidfd as a mio source.
struct PidFd(OwnedFd);

impl Source for PidFd {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(r)
    }
}

/// How the loop learns that a child exited (module docs).
enum ExitWatch {
    /// Readable once the child exited.
    PidFd(Registered<PidFd>),
    /// A thread waits (without reaping) and sets the flag.
    Thread(Arc<ThreadWatch>),
}

#[derive(Default)]
struct ThreadWatch {
    /// (exited, the waiter to wake)
    state: Mutex<(bool, Option<Waker>)>,
}

impl ExitWatch {
    fn new(pid: u32) -> Result<ExitWatch> {
        match crate::sys::exit_watch(pid) {
            Ok(fd) => Ok(ExitWatch::PidFd(Registered::new(PidFd(fd))?)),
            Err(_) => ExitWatch::thread(pid),
        }
    }

    fn thread(pid: u32) -> Result<ExitWatch> {
        let watch = Arc::new(ThreadWatch::default());
        let w = watch.clone();
        std::thread::Builder::new()
            .name(format!("concurra-child-{pid}"))
            .spawn(move || {
                // Does not reap: the handle reaps, so exactly one observer owns the pid.
                let _ = crate::sys::wait_exited(pid);
                let waker = {
                    let mut state = w.state.lock().unwrap_or_else(PoisonError::into_inner);
                    state.0 = true;
                    state.1.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            })
            .map_err(|e| Error::io("starting a child's waiter thread", e))?;
        Ok(ExitWatch::Thread(watch))
    }

    /// Forgets a readiness seen before (the thread's flag is never stale).
    fn clear(&self) {
        if let ExitWatch::PidFd(fd) = self {
            fd.clear_read_ready();
        }
    }

    /// Ready once the child has exited (it may be reaped without blocking then).
    fn poll_exited(&self, cx: &Context<'_>) -> Poll<()> {
        match self {
            ExitWatch::PidFd(fd) => fd.poll_read_ready(cx),
            ExitWatch::Thread(w) => {
                let mut state = w.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.0 {
                    Poll::Ready(())
                } else {
                    state.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }
}

/// A running (or exited) child process (Python: `asyncio.subprocess.Process`). See the module
/// docs for how it is reaped.
pub struct Child {
    pid: u32,
    /// `None` once reaped and released.
    std: Option<std::process::Child>,
    /// Python's `returncode` once the exit was observed.
    status: Option<i32>,
    watch: Option<ExitWatch>,
    kill_on_drop: bool,
    /// The child's stdin, if piped (Python: `proc.stdin`).
    pub stdin: Option<StreamWriter>,
    /// The child's stdout, if piped (Python: `proc.stdout`).
    pub stdout: Option<StreamReader>,
    /// The child's stderr, if piped (Python: `proc.stderr`).
    pub stderr: Option<StreamReader>,
}

/// What [`Child::communicate`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status as Python's `returncode`: the code, or minus the signal.
    pub status: i32,
    /// Everything the child wrote to stdout, if it was piped.
    pub stdout: Option<Vec<u8>>,
    /// Everything the child wrote to stderr, if it was piped.
    pub stderr: Option<Vec<u8>>,
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the exit was observed (Python: `proc.returncode`).
    pub fn returncode(&self) -> Option<i32> {
        self.status
    }

    /// The exit status if the child has exited, reaping it; `None` while it runs.
    ///
    /// # Errors
    /// [`Error::Io`] if the kernel refuses `waitpid`.
    pub fn try_wait(&mut self) -> Result<Option<i32>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(child) = self.std.as_mut() else {
            return Ok(self.status);
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                let code = crate::sys::exitcode(status);
                self.status = Some(code);
                self.watch = None;
                Ok(Some(code))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io("waiting for a subprocess", e)),
        }
    }

    /// Waits for the child to exit and returns its status as Python's `returncode` (the code,
    /// or minus the signal that killed it). Cancel-safe: a cancelled wait leaves the child to
    /// a later one.
    ///
    /// # Errors
    /// [`Error::Io`] if the kernel refuses `waitpid`.
    pub async fn wait(&mut self) -> Result<i32> {
        loop {
            // Forget a stale "exited" edge first (a new registration starts ready): an exit
            // after this is a new edge, one before it is seen by `try_wait`.
            if let Some(watch) = &self.watch {
                watch.clear();
            }
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let watch = self.watch.as_ref().expect("a running child has a watch");
            std::future::poll_fn(|cx| watch.poll_exited(cx)).await;
        }
    }

    /// Sends `signal` to the child (Python: `proc.send_signal`).
    ///
    /// # Errors
    /// [`Error::InvalidState`] once the child has exited and was reaped (Python's
    /// `ProcessLookupError`): its pid may be another process's by now, so nothing is sent.
    pub fn send_signal(&mut self, signal: Signal) -> Result<()> {
        if let Some(status) = self.try_wait()? {
            return Err(Error::InvalidState(format!(
                "process {} already exited with {status}: not sending {signal}",
                self.pid
            )));
        }
        // Not reaped: the pid is still this child's.
        crate::sys::send_signal(self.pid, signal.number())
            .map_err(|e| Error::io(format!("sending {signal} to process {}", self.pid), e))
    }

    /// Sends `SIGTERM` (Python: `proc.terminate()`).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    pub fn terminate(&mut self) -> Result<()> {
        self.send_signal(Signal::SIGTERM)
    }

    /// Sends `SIGKILL` (Python: `proc.kill()`).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    pub fn kill(&mut self) -> Result<()> {
        self.send_signal(Signal::SIGKILL)
    }

    /// Writes `input` to stdin (then closes it), reads stdout and stderr to end-of-file, all
    /// at the same time, then waits for the exit (Python: `proc.communicate(input)`). No
    /// deadlock whatever the sizes: the child is never left blocked on a full pipe. A broken
    /// pipe on stdin (the child exited or closed it early) is ignored.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `input` without a piped stdin; a read error of stdout
    /// or stderr, or a write error of stdin other than a broken pipe; as [`wait`](Self::wait).
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> Result<Output> {
        if input.is_some_and(|i| !i.is_empty()) && self.stdin.is_none() {
            return Err(Error::InvalidArgument(
                "communicate(input) needs Stdio::piped() stdin".into(),
            ));
        }
        let stdin = self.stdin.take();
        let mut stdout = self.stdout.take();
        let mut stderr = self.stderr.take();
        let feed = async move {
            let Some(mut w) = stdin else {
                return Ok(());
            };
            // Straight from `input` (no copy into the write buffer), as the pipe takes it.
            let mut rest = input.unwrap_or_default();
            while !rest.is_empty() {
                match std::future::poll_fn(|cx| Pin::new(&mut w).poll_write(cx, rest)).await {
                    Ok(0) => break,
                    Ok(n) => rest = &rest[n..],
                    // The child exited or closed its stdin: it did not want the rest.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        break
                    }
                    Err(e) => return Err(Error::io("writing to the child's stdin", e)),
                }
            }
            w.close();
            Ok(())
        };
        let read_out = async {
            match stdout.as_mut() {
                Some(r) => r.read_to_end().await.map(Some),
                None => Ok(None),
            }
        };
        let read_err = async {
            match stderr.as_mut() {
                Some(r) => r.read_to_end().await.map(Some),
                None => Ok(None),
            }
        };
        let (fed, out, err) = join3(feed, read_out, read_err).await;
        let (out, err) = (out?, err?);
        fed?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }
}

/// Polls three futures together on the calling task until all are done.
async fn join3<A, B, C>(a: A, b: B, c: C) -> (A::Output, B::Output, C::Output)
where
    A: std::future::Future,
    B: std::future::Future,
    C: std::future::Future,
{
    let (mut a, mut b, mut c) = (Box::pin(a), Box::pin(b), Box::pin(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(v) = c.as_mut().poll(cx) {
                rc = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (ra, rb, rc) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => unreachable!("all three are done"),
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        self.watch = None;
        let Some(mut child) = self.std.take() else {
            return;
        };
        if self.status.is_some() {
            return;
        }
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => {}
            Ok(None) if self.kill_on_drop => {
                // Still running and not reaped: the pid is ours to signal.
                let _ = child.kill();
                let _ = child.wait();
            }
            Ok(None) => {
                // Left running: a thread reaps it when it exits, so no zombie survives.
                let reaper = std::thread::Builder::new()
                    .name(format!("concurra-reap-{}", self.pid))
                    .spawn(move || {
                        let _ = child.wait();
                    });
                if let Err(e) = reaper {
                    crate::unwind::print_report(&format_args!(
                        "cannot start a thread to reap process {}: {e}",
                        self.pid
                    ));
                }
            }
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("returncode", &self.status)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aio;

    /// The waiter-thread fallback (used where pidfd is missing) sees the exit too.
    #[test]
    #[cfg_attr(miri, ignore = "processes")]
    fn the_thread_watch_sees_an_exit() {
        aio::run(async {
            let mut child = Command::shell("exit 5").spawn().unwrap();
            child.watch = Some(ExitWatch::thread(child.pid()).unwrap());
            assert_eq!(child.wait().await.unwrap(), 5);
        });
    }
}
