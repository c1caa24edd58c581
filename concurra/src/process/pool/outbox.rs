//! A worker's outbox: frames queued under the pool's lock, written after it is released.
//!
//! Frames leave in the order they were queued (the pool queues them in `in_flight` order,
//! under its lock). One thread writes at a time (`flushing`); a write that would block is
//! finished by a short-lived flusher thread, so no thread that holds the pool's lock, nor a
//! worker's reader, ever blocks on a write.
//!
//! The calls go down a pipe (cheaper than a socket per call), written without blocking. The
//! outbox keeps a read end of that pipe that nobody reads: while it is open a write never
//! meets a pipe without readers, so no write can raise `SIGPIPE`, whatever the program does
//! with that signal. A wait for room ends when the worker's replies pipe hangs up (the
//! worker is gone). A write error kills the worker, so its reader sees end of file and hands
//! its calls on.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::process::child::Child;
use crate::sys::{self, Kill};

/// A worker's calls, for writing. Frames are queued under the pool's lock (so they leave in
/// the order they were added to `in_flight`) and written after it is released (so no thread
/// waits for the lock while another is in a system call); a write that would block is
/// finished by a short-lived flusher thread.
pub(super) struct Outbox {
    /// A read end of the worker's replies pipe, never read here: it hangs up when the worker
    /// is gone, which ends a wait for room.
    replies: File,
    /// The worker, killed when a write fails.
    child: Arc<Child>,
    /// A read end of the calls pipe that is never read (see the module docs); it also tells
    /// how much of what was written the worker never read ([`unread`](Outbox::unread)).
    keep: OwnedFd,
    backlog: Mutex<Backlog>,
}

struct Backlog {
    /// The pipe's write end (non-blocking); dropped once closed and written out, so the
    /// worker reads end of file. Shared with the one thread writing (`flushing`).
    pipe: Option<Arc<OwnedFd>>,
    /// Queued bytes not yet written.
    bytes: Vec<u8>,
    /// A thread is writing: it writes whatever is queued meanwhile too.
    flushing: bool,
    /// Nothing more is queued; the pipe is closed once the backlog is out.
    closed: bool,
}

impl Outbox {
    /// The outbox of `child`: `pipe` the write end of its calls pipe (non-blocking already,
    /// see [`Lines`](crate::process::child::Lines)), `keep` a read end of it, `replies` a read
    /// end of its replies pipe.
    pub(super) fn new(pipe: OwnedFd, keep: OwnedFd, replies: File, child: Arc<Child>) -> Outbox {
        Outbox {
            replies,
            child,
            keep,
            backlog: Mutex::new(Backlog {
                pipe: Some(Arc::new(pipe)),
                bytes: Vec::new(),
                flushing: false,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frames` (call with the pool's lock held; [`flush`](Outbox::flush) after
    /// releasing it). False if the outbox is closed: nothing was queued.
    pub(super) fn queue(&self, frames: &[u8]) -> bool {
        let mut backlog = self.lock();
        if backlog.closed || backlog.pipe.is_none() {
            return false;
        }
        backlog.bytes.extend_from_slice(frames);
        true
    }

    /// No thread writes any more: [`unread`](Outbox::unread) counts the queued bytes again.
    /// (Nothing waits for this: a condition variable notified here cost a futex call per
    /// flush, that is per call, for no waiter.)
    fn settle(&self, backlog: &mut Backlog) {
        backlog.flushing = false;
    }

    /// After a failed write: nothing more goes out, and the worker is killed, so its reader
    /// sees end of file and hands its calls on.
    fn shut(&self, backlog: &mut Backlog) {
        backlog.bytes.clear();
        backlog.pipe = None;
        self.child.signal(Kill::Kill);
    }

    /// Writes what is queued without blocking, unless another thread is writing already; what
    /// does not fit now is written by a flusher thread. If the worker is gone the bytes are
    /// dropped: its reader sees end of file and hands its calls on.
    pub(super) fn flush(self: &Arc<Self>) {
        let mut backlog = self.lock();
        while !backlog.flushing && !backlog.bytes.is_empty() {
            let Some(pipe) = backlog.pipe.clone() else {
                backlog.bytes.clear();
                break;
            };
            let bytes = std::mem::take(&mut backlog.bytes);
            backlog.flushing = true;
            drop(backlog);
            let mut written = 0;
            let outcome = loop {
                if written == bytes.len() {
                    break Ok(false);
                }
                match sys::write_nonblocking(pipe.as_fd(), &bytes[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(true),
                    Err(e) => break Err(e),
                }
            };
            drop(pipe);
            backlog = self.lock();
            match outcome {
                Ok(true) => {
                    // Put the rest first, then let a thread wait for room.
                    let queued = std::mem::take(&mut backlog.bytes);
                    backlog.bytes = bytes[written..].to_vec();
                    backlog.bytes.extend_from_slice(&queued);
                    let outbox = Arc::clone(self);
                    let spawned = std::thread::Builder::new()
                        .name("concurra-process-flusher".into())
                        .spawn(move || outbox.flush_blocking());
                    if spawned.is_err() {
                        // No thread: the worker will not get its calls; shutting fails them.
                        self.settle(&mut backlog);
                        self.shut(&mut backlog);
                    }
                    return; // still `flushing`: the flusher thread owns the writes
                }
                Ok(false) => self.settle(&mut backlog),
                Err(_) => {
                    self.settle(&mut backlog);
                    self.shut(&mut backlog);
                }
            }
        }
        if backlog.closed && !backlog.flushing && backlog.bytes.is_empty() {
            backlog.pipe = None;
        }
    }

    /// The flusher thread: writes, waiting for room, until the backlog is empty or the worker
    /// hangs up.
    fn flush_blocking(&self) {
        loop {
            let (bytes, pipe) = {
                let mut backlog = self.lock();
                let pipe = backlog.pipe.clone();
                if backlog.bytes.is_empty() || pipe.is_none() {
                    self.settle(&mut backlog);
                    backlog.bytes.clear();
                    if backlog.closed {
                        backlog.pipe = None;
                    }
                    return;
                }
                (std::mem::take(&mut backlog.bytes), pipe.expect("checked"))
            };
            let written = sys::write_all_unless_hangup(pipe.as_fd(), self.replies.as_fd(), &bytes);
            drop(pipe);
            if written.is_err() {
                let mut backlog = self.lock();
                self.settle(&mut backlog);
                self.shut(&mut backlog);
                return;
            }
        }
    }

    /// How many of the bytes queued for the worker it never read: still queued here, or in
    /// the pipe. A lower bound while a flusher thread holds part of the backlog. Meaningful
    /// once the worker is gone: the calls whose frames lie in that tail never started.
    pub(super) fn unread(&self) -> usize {
        let in_pipe = sys::unread_bytes(self.keep.as_fd()).unwrap_or(0);
        let backlog = self.lock();
        let queued = if backlog.flushing {
            0
        } else {
            backlog.bytes.len()
        };
        in_pipe.saturating_add(queued)
    }

    /// Queues nothing more; the pipe is closed once the backlog is out, and the worker exits
    /// at end of file. Call [`flush`](Outbox::flush) after releasing the lock.
    pub(super) fn close(&self) {
        self.lock().closed = true;
    }
}
