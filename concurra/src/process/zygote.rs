//! The fork server: one worker process, started once, that forks new workers on request.
//!
//! Starting a worker by running this executable again costs what the program's start-up
//! costs: about a millisecond for a large Rust binary, twice `/bin/true`. Forking a small
//! single-threaded process costs a fraction of that, and a worker started again is exactly
//! such a process before it serves. So the first worker a process starts is a fork server,
//! and every worker after it is forked from there (Python's `forkserver` start method). A
//! fork of the parent itself is never made: it runs threads.
//!
//! # Protocol
//! 1. **Start.** The parent starts the server as any worker (steps 1–5 of the bootstrap in
//!    [`process`](super)), from a thread of its own that lives as long as the process (the
//!    server's parent-death signal is bound to it), and hands it one end of a packet socket
//!    instead of a worker's lines.
//! 2. **Ready.** The server answers `Y` if it runs one thread only and can watch its children
//!    (Linux pidfds), `N` otherwise (code before `init` started threads, say): workers are
//!    then started the slow way, by running the executable again.
//! 3. **Fork.** The parent sends `F` with a new worker's three line ends; the server forks and
//!    answers `P` with the child's pid, or `E` with the error number, in request order. The
//!    child drops the server's socket, leads a process group of its own, dies with the server
//!    (which dies with the parent), and serves calls as any worker (step 6).
//! 4. **Exit.** When a child exits, the server reads its exit code without reaping it and
//!    sends `X` with the pid and the code. The zombie keeps the pid from reuse, so the parent
//!    may signal the child's group until it has seen the exit.
//! 5. **Reap.** The parent records the exit, then sends `R` with the pid; the server reaps it
//!    and answers `D` with the pid: once the parent's reap returns, the child is gone.
//! 6. **End.** When the parent closes the socket or dies, the server exits and its children
//!    die with it. If the server dies, the parent fails the forks waiting for an answer,
//!    records its children as killed, and starts the next worker the slow way.
//!
//! A forked worker inherits the server's environment and working directory, as they were
//! when the server started (the first worker start), as Python's `forkserver` workers do.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::bootstrap;
use super::child::{Child, Lines};
use crate::error::Result;
use crate::sys;

/// The exit code of a forked child, once the server reports it.
#[derive(Debug, Default)]
pub(crate) struct Exit {
    code: Mutex<Option<i32>>,
    reported: Condvar,
}

impl Exit {
    fn set(&self, code: i32) {
        let mut slot = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(code);
        self.reported.notify_all();
    }

    /// The exit code, if the child has exited.
    pub(crate) fn get(&self) -> Option<i32> {
        *self.code.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until the child has exited; its exit code.
    pub(crate) fn wait(&self) -> i32 {
        let mut slot = self.code.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(code) = *slot {
                return code;
            }
            slot = self
                .reported
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The parent's side of a running fork server.
#[derive(Debug)]
pub(crate) struct Server {
    socket: OwnedFd,
    /// Held to register a request's waiter and send it, so waiters are in sending order;
    /// not `waiting`, which the reader needs for every answer (a send blocked on a full
    /// socket must not keep the reader from draining the other direction).
    sending: Mutex<()>,
    waiting: Mutex<Waiting>,
}

/// The answer to a fork request: the child's pid and exit.
type Forked = std::io::Result<(u32, Arc<Exit>)>;

#[derive(Debug, Default)]
struct Waiting {
    /// Fork requests sent, in order, waiting for the answer.
    forks: VecDeque<mpsc::SyncSender<Forked>>,
    /// Forked children not yet reported exited.
    running: HashMap<u32, Arc<Exit>>,
    /// Reaps asked for, waiting for the server's `D`.
    reaping: HashMap<u32, mpsc::SyncSender<()>>,
    /// The server is gone: nothing more is sent.
    gone: bool,
}

impl Server {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the server is gone (its children with it).
    pub(crate) fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// Forks a worker with these line ends (step 3): its pid and exit.
    fn fork(&self, theirs: &[OwnedFd; 3]) -> Forked {
        let (answer, answered) = mpsc::sync_channel(1);
        {
            let _sending = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
            {
                let mut waiting = self.lock();
                if waiting.gone {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                waiting.forks.push_back(answer);
            }
            let fds = [theirs[0].as_fd(), theirs[1].as_fd(), theirs[2].as_fd()];
            if let Err(e) = sys::send_message(&self.socket, b"F", &fds) {
                // Not sent: the waiter just queued (the last) goes, or answers would shift.
                self.lock().forks.pop_back();
                return Err(e);
            }
        }
        answered
            .recv()
            .unwrap_or_else(|_| Err(std::io::ErrorKind::BrokenPipe.into()))
    }

    /// Step 5: the exit of `pid` is recorded; the server reaps it. Returns once it has (or
    /// is gone, its children with it).
    pub(crate) fn reap(&self, pid: u32) {
        let (done, reaped) = mpsc::sync_channel(1);
        {
            let _sending = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
            {
                let mut waiting = self.lock();
                if waiting.gone {
                    return;
                }
                waiting.reaping.insert(pid, done);
            }
            if sys::send_message(&self.socket, &message(b'R', &[pid]), &[]).is_err() {
                self.lock().reaping.remove(&pid);
                return;
            }
        }
        let _ = reaped.recv();
    }

    /// The server's answers, until it is gone (steps 3, 4 and 6).
    fn read_answers(&self) {
        let mut buf = [0u8; 16];
        loop {
            let n = match sys::recv_message(&self.socket, &mut buf) {
                Ok((n, _)) => n,
                Err(_) => 0,
            };
            let word = |at: usize| word_at(&buf, at);
            let mut waiting = self.lock();
            match (n, buf[0]) {
                (5, b'P') => {
                    let pid = word(1);
                    let exit = Arc::new(Exit::default());
                    waiting.running.insert(pid, Arc::clone(&exit));
                    if let Some(answer) = waiting.forks.pop_front() {
                        let _ = answer.send(Ok((pid, exit)));
                    }
                }
                (5, b'E') => {
                    let errno = word(1) as i32;
                    if let Some(answer) = waiting.forks.pop_front() {
                        let _ = answer.send(Err(std::io::Error::from_raw_os_error(errno)));
                    }
                }
                (5, b'D') => {
                    if let Some(done) = waiting.reaping.remove(&word(1)) {
                        let _ = done.send(());
                    }
                }
                (9, b'X') => {
                    let pid = word(1);
                    let code = word(5) as i32;
                    if let Some(exit) = waiting.running.remove(&pid) {
                        exit.set(code);
                    }
                }
                _ => {
                    // End of file, or a message out of the protocol: the server is done for.
                    // Its children die with it (their parent-death signal).
                    waiting.gone = true;
                    for answer in waiting.forks.drain(..) {
                        let _ = answer.send(Err(std::io::ErrorKind::BrokenPipe.into()));
                    }
                    for (_, exit) in waiting.running.drain() {
                        exit.set(-9);
                    }
                    waiting.reaping.clear();
                    return;
                }
            }
        }
    }
}

/// Whether this process has a fork server, and which.
enum Slot {
    NotStarted,
    Running(Arc<Server>),
    /// The server refused (step 2) or could not start: workers start the slow way.
    Unavailable,
}

fn slot() -> &'static Mutex<Slot> {
    static SLOT: OnceLock<Mutex<Slot>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(Slot::NotStarted))
}

/// The running server, started on first use; `Ok(None)` when workers must start the slow way.
///
/// # Errors
/// The start's error when the server could not start as a worker (the hook is missing, say):
/// a worker started the slow way would fail the same way.
fn server(handshake: Duration) -> Result<Option<Arc<Server>>> {
    let mut slot = slot().lock().unwrap_or_else(PoisonError::into_inner);
    if let Slot::Running(server) = &*slot {
        if !server.lock().gone {
            return Ok(Some(Arc::clone(server)));
        }
        *slot = Slot::NotStarted;
    }
    if let Slot::Unavailable = *slot {
        return Ok(None);
    }
    let started = start(handshake);
    *slot = match &started {
        Ok(Some(server)) => Slot::Running(Arc::clone(server)),
        Ok(None) | Err(_) => Slot::Unavailable,
    };
    started
}

/// Step 1–2: starts the server from a thread that then reads its answers for as long as it
/// runs (and keeps its parent-death signal from firing early).
fn start(handshake: Duration) -> Result<Option<Arc<Server>>> {
    let (started, result) = mpsc::sync_channel::<Result<Option<Arc<Server>>>>(1);
    let spawned = std::thread::Builder::new()
        .name("concurra-fork-server".into())
        .spawn(move || {
            let (process, socket) = match Child::start(handshake, hand_over) {
                Ok(both) => both,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let mut answer = [0u8; 1];
            let deadline = Instant::now().checked_add(handshake);
            let ready = sys::wait_readable(socket.as_fd(), deadline).unwrap_or(false)
                && matches!(sys::recv_message(&socket, &mut answer), Ok((1, _)))
                && answer[0] == b'Y';
            if !ready {
                let _ = started.send(Ok(None));
                return; // the process is killed and reaped as `process` drops
            }
            let server = Arc::new(Server {
                socket,
                sending: Mutex::new(()),
                waiting: Mutex::new(Waiting::default()),
            });
            let _ = started.send(Ok(Some(Arc::clone(&server))));
            server.read_answers();
            drop(process);
        });
    match spawned {
        Ok(_) => result.recv().unwrap_or(Ok(None)),
        Err(_) => Ok(None),
    }
}

/// What the parent hands a new server after the handshake: a packet socket's end.
fn hand_over(channel: &std::os::unix::net::UnixStream) -> std::result::Result<OwnedFd, String> {
    let (ours, theirs) = sys::packet_pair().map_err(|e| e.to_string())?;
    sys::send_message(channel, b"Z", &[theirs.as_fd()])
        .map_err(|e| format!("sending the fork server its socket: {e}"))?;
    Ok(ours)
}

/// A worker forked by the server, if this process has one: `None` when workers must start
/// the slow way (no server, or the fork failed).
///
/// # Errors
/// The server's start error (see [`server`]).
pub(crate) fn fork_worker(handshake: Duration) -> Result<Option<(Child, Lines)>> {
    let Some(server) = server(handshake)? else {
        return Ok(None);
    };
    let Ok((lines, theirs)) = Lines::new() else {
        return Ok(None);
    };
    match server.fork(&theirs) {
        Ok((pid, exit)) => Ok(Some((Child::forked(pid, exit, server), lines))),
        Err(_) => Ok(None),
    }
}

/// A child of the server, watched for its exit.
struct Kid {
    pid: u32,
    watch: OwnedFd,
    reported: bool,
}

/// The server's side (in the server process): answers requests until the parent is gone;
/// returns the exit code.
pub(crate) fn serve(socket: OwnedFd) -> i32 {
    let me = sys::own_pid();
    // Children must stay for the server to reap: an ignored SIGCHLD (inherited through exec)
    // would have the kernel reap them, and their exits could not be read.
    sys::default_child_signal();
    // A fork is safe only with one thread; a child's exit is seen on a pidfd.
    let able = sys::thread_count() == Some(1) && sys::exit_watch(me).is_ok();
    if sys::send_message(&socket, if able { b"Y" } else { b"N" }, &[]).is_err() || !able {
        return 0;
    }
    let mut kids: Vec<Kid> = Vec::new();
    loop {
        let watched: Vec<usize> = (0..kids.len()).filter(|&i| !kids[i].reported).collect();
        let mut fds = vec![socket.as_fd()];
        fds.extend(watched.iter().map(|&i| kids[i].watch.as_fd()));
        let Ok(ready) = sys::wait_any_readable(&fds) else {
            return bootstrap::EXIT_PROTOCOL;
        };
        for (&i, _) in watched.iter().zip(&ready[1..]).filter(|(_, &r)| r) {
            let kid = &mut kids[i];
            let code = match sys::exit_code_of(kid.pid) {
                Ok(code) => Some(code),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                // Reaped by someone else: exited, its code unknown; reported all the same, or
                // the parent would wait for it forever.
                Err(_) => Some(i32::MIN),
            };
            if let Some(code) = code {
                kid.reported = true;
                let exited = message(b'X', &[kid.pid, code as u32]);
                if sys::send_message(&socket, &exited, &[]).is_err() {
                    return 0;
                }
            }
        }
        if !ready[0] {
            continue;
        }
        let mut buf = [0u8; 16];
        let (n, lines) = match sys::recv_message(&socket, &mut buf) {
            Ok((0, _)) | Err(_) => return 0, // the parent is gone
            Ok(got) => got,
        };
        match (n, buf[0]) {
            (1, b'F') if lines.len() != 3 => {
                // The descriptors did not all arrive (this process is out of them, say): that
                // fork fails, the server and its children go on.
                let error = error_answer(&std::io::Error::from_raw_os_error(24)); // EMFILE
                if sys::send_message(&socket, &error, &[]).is_err() {
                    return 0;
                }
            }
            (1, b'F') => {
                // SAFETY: this process runs one thread (checked above, and the loop starts
                // none), so the child starts with a consistent state.
                #[allow(unsafe_code)]
                let forked = unsafe { sys::fork() };
                let answer = match forked {
                    Ok(None) => become_worker(socket, kids, lines, me),
                    Ok(Some(pid)) => {
                        drop(lines);
                        // The child leads its group before its pid is known: a signal to the
                        // group right after the fork reaches it (it does the same itself; one
                        // of the two calls wins, both are harmless).
                        let _ = sys::lead_own_group(Some(pid));
                        match sys::exit_watch(pid) {
                            Ok(watch) => {
                                kids.push(Kid {
                                    pid,
                                    watch,
                                    reported: false,
                                });
                                message(b'P', &[pid])
                            }
                            Err(e) => {
                                // Unwatched, the child could never be reported: it goes.
                                sys::kill_process(pid);
                                sys::reap(pid);
                                error_answer(&e)
                            }
                        }
                    }
                    Err(e) => error_answer(&e),
                };
                if sys::send_message(&socket, &answer, &[]).is_err() {
                    return 0;
                }
            }
            (5, b'R') => {
                let pid = word_at(&buf, 1);
                if let Some(at) = kids.iter().position(|k| k.pid == pid && k.reported) {
                    sys::reap(pid);
                    kids.swap_remove(at);
                }
                if sys::send_message(&socket, &message(b'D', &[pid]), &[]).is_err() {
                    return 0;
                }
            }
            _ => {} // not a request: ignored
        }
    }
}

/// A message of the protocol: its tag, then each word little-endian (a pid, a code, an
/// error number as its bits).
fn message(tag: u8, words: &[u32]) -> Vec<u8> {
    let mut out = vec![tag];
    for word in words {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}

/// The word at byte `at` of a received message.
fn word_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("a 4-byte word"))
}

fn error_answer(e: &std::io::Error) -> Vec<u8> {
    let errno = e.raw_os_error().unwrap_or(0);
    message(b'E', &[errno as u32])
}

/// The forked child (step 3): leaves the server's descriptors, leads a group, dies with the
/// server, and serves calls on its lines.
fn become_worker(socket: OwnedFd, kids: Vec<Kid>, lines: Vec<OwnedFd>, server: u32) -> ! {
    drop(socket);
    drop(kids);
    let _ = sys::lead_own_group(None);
    if !sys::die_with_parent(server) {
        std::process::exit(bootstrap::EXIT_PROTOCOL);
    }
    let Ok([calls, replies, direct]) = <[OwnedFd; 3]>::try_from(lines) else {
        std::process::exit(bootstrap::EXIT_PROTOCOL);
    };
    let code = bootstrap::calls(
        &File::from(calls),
        &File::from(replies),
        &File::from(direct),
    );
    std::process::exit(code)
}
