//! A worker's direct line: the reply to a synchronous call, read by the caller itself.
//!
//! A reply on the worker's channel is read by its reader thread, which then wakes the caller:
//! three threads for one round trip, and on a busy or single CPU each hand-off is a context
//! switch. [`ProcessPoolExecutor::call`](crate::Executor::call) sends its call to an idle worker
//! with the *direct* bit set; the worker writes that reply on a pipe of its own, the direct line,
//! and the caller, blocked reading it, wakes straight from the worker's write.
//!
//! # Who reads the direct line
//!
//! Whoever holds [`DirectLine::lock`]: the caller that sent the call, or the worker's reader
//! thread when it must (a reply to a later call came first on the channel, so the direct reply
//! is written and must be taken first; or the worker died). Holding the lock, a reader takes
//! the direct reply and completes its future before it lets go; the caller checks its future
//! once it has the lock, so it never waits for a reply already taken. End of file ends every
//! wait: the worker is dead, and its reader thread fails the call.
//!
//! Lock order: the direct line's lock, then the pool's. The pool's lock is never held while
//! waiting for this one.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::process::call::FLAGS;
use crate::process::wire::{Decoder, FrameKind};

/// The parent's end of a worker's direct line.
pub(super) struct DirectLine {
    line: File,
    reading: Mutex<Decoder>,
}

/// The right to read a direct line (see the module docs).
pub(super) struct Reading<'a> {
    line: &'a File,
    decoder: MutexGuard<'a, Decoder>,
}

/// What a read of the direct line gave.
pub(super) enum Direct {
    /// The reply payload of the call waited for.
    Reply(Vec<u8>),
    /// End of file: the worker is gone.
    Closed,
    /// Anything else: the line is out of step and the worker must go.
    Malformed(String),
}

impl DirectLine {
    pub(super) fn new(line: File) -> DirectLine {
        DirectLine {
            line,
            reading: Mutex::new(Decoder::new()),
        }
    }

    /// Waits for the right to read the line.
    pub(super) fn lock(&self) -> Reading<'_> {
        Reading {
            line: &self.line,
            decoder: self.reading.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl Reading<'_> {
    /// Blocks until the reply to call `id` (flags cleared) is read, or the line ends.
    pub(super) fn reply(&mut self, id: u64) -> Direct {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) if frame.kind == FrameKind::Reply && frame.id & !FLAGS == id => {
                    return Direct::Reply(frame.payload)
                }
                Ok(Some(frame)) => {
                    return Direct::Malformed(format!(
                        "a {:?} frame for call {} on the direct line, waiting for call {id}",
                        frame.kind,
                        frame.id & !FLAGS
                    ))
                }
                Ok(None) => {}
                Err(e) => return Direct::Malformed(e.to_string()),
            }
            match self.decoder.read_from(self.line.as_fd()) {
                Ok(0) | Err(_) => return Direct::Closed,
                Ok(_) => {}
            }
        }
    }
}
