//! The parent's side of one worker process: start it, check its handshake, signal it, reap it.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::bootstrap::{self, Ready, MARKER};
use super::wire::{Decoder, Frame, FrameKind};
use super::zygote::{self, Exit, Server};
use crate::error::{Error, Result};
use crate::sys::{self, Kill};

/// How long a new worker has to answer the handshake, by default.
pub(crate) const DEFAULT_HANDSHAKE: Duration = Duration::from_secs(10);

/// One worker process, from start to reaping.
///
/// # Invariant
/// The pid is signalled only while `state` is `Running`, under its lock, and the process is
/// reaped only under the same lock: a signal can never reach a reused pid.
#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// Not reaped yet (it may have exited: a zombie keeps its pid).
    Running(std::process::Child),
    /// Forked by the fork server, which keeps it unreaped until told (so its pid stays ours)
    /// and reports its exit.
    Forked {
        exit: Arc<Exit>,
        server: Arc<Server>,
    },
    /// Reaped, with Python's exit code.
    Exited(i32),
}

/// The parent's ends of a worker's lines (step 5 of the protocol): pipes, each one direction
/// (a pipe costs less than a socket per message, and a thread blocked reading one is never
/// woken by traffic the other way, as a socket's reader is whenever the peer consumes what
/// its own end wrote).
#[derive(Debug)]
pub(crate) struct Lines {
    /// Calls out: the pipe's write end, non-blocking. Write it with
    /// [`sys::write_all_unless_hangup`] watching `replies`.
    pub(crate) calls: OwnedFd,
    /// A read end of the calls pipe that nobody reads: while it is open, a write to the pipe
    /// never raises `SIGPIPE` (it would kill a program that does not ignore it).
    pub(crate) calls_keep: OwnedFd,
    /// Replies in, a pipe's read end: the worker writes, the parent's reader reads; end of
    /// file when the worker is gone.
    pub(crate) replies: File,
    /// The direct line, a pipe's read end: replies a synchronous caller reads itself.
    pub(crate) direct: File,
}

/// The room asked for in a worker's calls and replies pipes (the kernel's default is 64 KiB;
/// unprivileged processes may grow a pipe to `/proc/sys/fs/pipe-max-size`, 1 MiB by default).
const PIPE_ROOM: usize = 256 << 10;

impl Lines {
    /// A new worker's lines: the parent's ends, and the worker's (calls read end, replies and
    /// direct write ends) to hand over. The parent's ends are the read ends of replies and the
    /// direct line, and the calls pipe's write end, non-blocking; it keeps a read end of the
    /// calls pipe as well (`calls_keep`).
    pub(crate) fn new() -> std::io::Result<(Lines, [OwnedFd; 3])> {
        let (calls_read, calls) = sys::pipe()?;
        sys::set_nonblocking(calls.as_fd())?;
        let (replies, worker_replies) = sys::pipe()?;
        let (direct, worker_direct) = sys::pipe()?;
        // A chunk of a map is a frame of a few hundred kilobytes: with room for it a writer
        // hands it over in one write instead of taking turns with the reader every 64 KiB.
        for fd in [calls.as_fd(), replies.as_fd()] {
            sys::grow_pipe(fd, PIPE_ROOM);
        }
        let calls_keep = calls_read.try_clone()?;
        let lines = Lines {
            calls,
            calls_keep,
            replies: File::from(replies),
            direct: File::from(direct),
        };
        Ok((lines, [calls_read, worker_replies, worker_direct]))
    }

    /// Step 5, last part, for a worker started again: its lines handed over on its channel.
    /// The worker's ends are dropped here: end of file must come when the worker is gone.
    fn hand_over(channel: &UnixStream) -> std::result::Result<Lines, String> {
        let (lines, theirs) = Lines::new().map_err(|e| e.to_string())?;
        let fds = [theirs[0].as_fd(), theirs[1].as_fd(), theirs[2].as_fd()];
        sys::send_fds(channel, &fds).map_err(|e| format!("sending the worker its lines: {e}"))?;
        Ok(lines)
    }
}

impl Child {
    /// Starts a worker (steps 1–5 of the protocol): forked by this process's fork server when
    /// it has one (see `zygote`), otherwise this executable started again. Returns the worker
    /// and the parent's ends of its lines.
    ///
    /// # Errors
    /// [`Error::InvalidState`] in a process that was itself started as a worker without the
    /// hook; [`Error::Io`] if the process cannot start; [`Error::BrokenPool`] naming the likely
    /// cause if the worker exits or stays silent before the handshake.
    pub(crate) fn spawn(handshake: Duration) -> Result<(Child, Lines)> {
        if bootstrap::hook_missing() {
            return Err(Error::InvalidState(format!(
                "this process was started as a concurra worker ({MARKER} is set) but runs main: \
                 call concurra::init() first thing in main, or add concurra::worker_hook!()"
            )));
        }
        if let Some(forked) = zygote::fork_worker(handshake)? {
            return Ok(forked);
        }
        Child::start(handshake, Lines::hand_over)
    }

    /// A child the fork server forked, which reports its exit.
    pub(crate) fn forked(pid: u32, exit: Arc<Exit>, server: Arc<Server>) -> Child {
        Child {
            pid,
            state: Mutex::new(State::Forked { exit, server }),
        }
    }

    /// Starts this executable again as a worker, waits for its handshake and hands it what
    /// `hand_over` sends on its channel (its lines, or the fork server's socket).
    ///
    /// # Errors
    /// As [`spawn`](Child::spawn).
    pub(crate) fn start<R>(
        handshake: Duration,
        hand_over: impl FnOnce(&UnixStream) -> std::result::Result<R, String>,
    ) -> Result<(Child, R)> {
        let fingerprint =
            sys::exe_fingerprint().map_err(|e| Error::io("fingerprinting this executable", e))?;
        let (parent_end, child_end) =
            UnixStream::pair().map_err(|e| Error::io("creating a worker channel", e))?;
        let exe = sys::self_exe().map_err(|e| Error::io("finding this executable", e))?;
        let mut command = Command::new(&exe);
        if let Some(arg0) = std::env::args_os().next() {
            command.arg0(arg0);
        }
        command
            .env(MARKER, bootstrap::marker(fingerprint))
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(child_end)))
            .process_group(0);
        let process = command
            .spawn()
            .map_err(|e| Error::io(format!("starting worker {}", exe.display()), e))?;
        // The command holds our copy of the worker's end: drop it, or end of file (the worker
        // exited) would never be seen.
        drop(command);
        let child = Child {
            pid: process.id(),
            state: Mutex::new(State::Running(process)),
        };
        let started =
            handshake_on(&parent_end, handshake, fingerprint).and_then(|()| hand_over(&parent_end));
        match started {
            Ok(handed) => Ok((child, handed)),
            Err(why) => {
                child.signal(Kill::Kill);
                let code = child.reap();
                Err(Error::BrokenPool {
                    cause: format!(
                        "worker process {} failed to start ({why}; exit code {code}): \
                         does main call concurra::init() first, or the crate use \
                         concurra::worker_hook!()?",
                        child.pid
                    ),
                })
            }
        }
    }

    /// The worker's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to the worker's process group, unless it has been reaped (or, forked,
    /// its server is gone: it died with the server, and init reaped it).
    pub(crate) fn signal(&self, signal: Kill) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let alive = match &*state {
            State::Running(_) => true,
            State::Forked { server, .. } => !server.is_gone(),
            State::Exited(_) => false,
        };
        if alive {
            let _ = sys::signal_group(self.pid, signal);
        }
    }

    /// Blocks until the worker exits, reaps it and returns Python's exit code.
    pub(crate) fn reap(&self) -> i32 {
        if let Some(code) = self.exitcode() {
            return code;
        }
        // Wait without the lock, leaving the zombie (and its pid) in place...
        let forked = match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Forked { exit, .. } => Some(Arc::clone(exit)),
            _ => None,
        };
        match &forked {
            Some(exit) => {
                exit.wait();
            }
            None => {
                let _ = sys::wait_exited(self.pid);
            }
        }
        // ...then reap under the lock, so `signal` never sees a reaped pid as running.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let code = match &mut *state {
            State::Exited(code) => *code,
            State::Running(process) => match process.wait() {
                Ok(status) => sys::exitcode(status),
                Err(_) => i32::MIN,
            },
            State::Forked { exit, server } => {
                let code = exit.wait();
                // A round trip to the server under the lock: `signal` must not reach the pid
                // between the reap and `Exited` (the server answers at once; it never waits
                // for the parent while a reap is asked).
                server.reap(self.pid);
                code
            }
        };
        *state = State::Exited(code);
        code
    }

    /// Python's `exitcode`: `None` while the worker runs.
    pub(crate) fn exitcode(&self) -> Option<i32> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *state {
            State::Exited(code) => Some(*code),
            State::Forked { exit, server } => {
                let code = exit.get()?;
                server.reap(self.pid);
                *state = State::Exited(code);
                Some(code)
            }
            State::Running(process) => match process.try_wait() {
                Ok(Some(status)) => {
                    let code = sys::exitcode(status);
                    *state = State::Exited(code);
                    Some(code)
                }
                Ok(None) | Err(_) => None,
            },
        }
    }
}

/// Reads one whole frame from `line` (a socket or a pipe): `Ok(None)` at end of file; an
/// error for a malformed stream, a read error, or a `deadline` that passes first.
pub(crate) fn read_frame(
    line: &(impl AsFd + ?Sized),
    deadline: Option<Instant>,
) -> std::result::Result<Option<Frame>, String> {
    let mut decoder = Decoder::new();
    loop {
        if let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(Some(frame));
        }
        if deadline.is_some()
            && !sys::wait_readable(line.as_fd(), deadline).map_err(|e| e.to_string())?
        {
            return Err("no answer in time".into());
        }
        match decoder.read_from(line.as_fd()) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Reads the worker's `Ready` frame within `limit` and checks it.
fn handshake_on(
    channel: &UnixStream,
    limit: Duration,
    fingerprint: u64,
) -> std::result::Result<(), String> {
    let frame = read_frame(channel, Instant::now().checked_add(limit))
        .map_err(|e| format!("no handshake within {limit:?} ({e})"))?
        .ok_or("it exited before the handshake")?;
    if frame.kind != FrameKind::Ready {
        return Err(format!("a {:?} frame instead of the handshake", frame.kind));
    }
    let ready: Ready = frame.decode().map_err(|e| e.to_string())?;
    if ready.fingerprint != fingerprint {
        return Err("it runs another build of the executable".into());
    }
    Ok(())
}

impl Drop for Child {
    /// A worker nobody reaped is killed and reaped: no orphans, no zombies.
    fn drop(&mut self) {
        if self.exitcode().is_none() {
            self.signal(Kill::Kill);
            self.reap();
        }
    }
}
