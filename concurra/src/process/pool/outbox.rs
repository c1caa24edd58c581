//! A worker's outbox: frames queued under the pool's lock, written after it is released.
//!
//! Frames leave in the order they were queued (the pool queues them in `in_flight` order,
//! under its lock). One thread writes at a time (`flushing`); a write that would block is
//! finished by a short-lived flusher thread, so no thread that holds the pool's lock, nor a
//! worker's reader, ever blocks on a write. A write error shuts the worker's sockets: its
//! reader then sees end of file and hands its calls on.

use std::io::Write;
use std::net::Shutdown as Close;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::sys;

/// A worker's channel for writing. Frames are queued under the pool's lock (so they leave in
/// the order they were added to `in_flight`) and written after it is released (so no thread
/// waits for the lock while another is in a system call); a write that would block is
/// finished by a short-lived flusher thread.
pub(super) struct Outbox {
    /// The worker's calls socket, written here.
    socket: UnixStream,
    /// The worker's replies socket (its reader's), shut for reading when a write fails.
    replies: UnixStream,
    backlog: Mutex<Backlog>,
}

#[derive(Default)]
struct Backlog {
    /// Queued bytes not yet written.
    bytes: Vec<u8>,
    /// A thread is writing: it writes whatever is queued meanwhile too.
    flushing: bool,
    /// Nothing more is queued; the write side is shut once the backlog is out.
    closed: bool,
}

impl Outbox {
    /// The outbox of a worker's calls socket; `replies` is its replies socket.
    pub(super) fn new(socket: UnixStream, replies: UnixStream) -> Outbox {
        Outbox {
            socket,
            replies,
            backlog: Mutex::new(Backlog::default()),
        }
    }

    /// After a failed write: shuts both sockets, so the worker's reader sees end of file and
    /// hands its calls on whatever the cause (the worker exits at end of file too).
    fn shut(&self) {
        let _ = self.socket.shutdown(Close::Both);
        let _ = self.replies.shutdown(Close::Read);
    }

    fn lock(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frames` (call with the pool's lock held; [`flush`](Outbox::flush) after
    /// releasing it). False if the channel is closed: nothing was queued.
    pub(super) fn queue(&self, frames: &[u8]) -> bool {
        let mut backlog = self.lock();
        if backlog.closed {
            return false;
        }
        backlog.bytes.extend_from_slice(frames);
        true
    }

    /// Writes what is queued without blocking, unless another thread is writing already; what
    /// does not fit now is written by a flusher thread. If the worker is gone the bytes are
    /// dropped: its reader sees end of file and hands its calls on.
    pub(super) fn flush(self: &Arc<Self>) {
        let mut backlog = self.lock();
        while !backlog.flushing && !backlog.bytes.is_empty() {
            let bytes = std::mem::take(&mut backlog.bytes);
            backlog.flushing = true;
            drop(backlog);
            let mut written = 0;
            let blocked = loop {
                if written == bytes.len() {
                    break false;
                }
                match sys::send_nonblocking(&self.socket, &bytes[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
                    Err(_) => {
                        // The worker is gone, or its socket is unusable: drop the rest.
                        written = bytes.len();
                        self.shut();
                        break false;
                    }
                }
            };
            backlog = self.lock();
            if blocked {
                // Put the rest first, then let a thread wait for room.
                let queued = std::mem::take(&mut backlog.bytes);
                backlog.bytes = bytes[written..].to_vec();
                backlog.bytes.extend_from_slice(&queued);
                let outbox = Arc::clone(self);
                let spawned = std::thread::Builder::new()
                    .name("concurra-process-flusher".into())
                    .spawn(move || outbox.flush_blocking());
                if spawned.is_err() {
                    // No thread: the worker will not get its calls; closing fails them.
                    backlog.closed = true;
                    backlog.bytes.clear();
                    self.shut();
                }
                return; // still `flushing`: the flusher thread owns the writes
            }
            backlog.flushing = false;
        }
        if backlog.closed && !backlog.flushing && backlog.bytes.is_empty() {
            let _ = self.socket.shutdown(Close::Write);
        }
    }

    /// The flusher thread: blocking writes until the backlog is empty.
    fn flush_blocking(&self) {
        loop {
            let bytes = {
                let mut backlog = self.lock();
                if backlog.bytes.is_empty() {
                    backlog.flushing = false;
                    if backlog.closed {
                        let _ = self.socket.shutdown(Close::Write);
                    }
                    return;
                }
                std::mem::take(&mut backlog.bytes)
            };
            if (&self.socket).write_all(&bytes).is_err() {
                self.shut();
                let mut backlog = self.lock();
                backlog.bytes.clear();
                backlog.flushing = false;
                return;
            }
        }
    }

    /// Queues nothing more; the worker's side is closed for reading once the backlog is out,
    /// and it exits at end of file. Call [`flush`](Outbox::flush) after releasing the lock.
    pub(super) fn close(&self) {
        self.lock().closed = true;
    }
}
