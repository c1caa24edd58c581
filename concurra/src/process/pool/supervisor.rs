//! The supervisor and the readers: the lifecycle of worker processes.
//!
//! The supervisor thread starts workers (so that their parent-death signal, tied to the
//! starting thread on Linux, fires only when the pool is gone) and enforces time limits. Each
//! worker has a reader thread that takes its replies, completes their futures, and handles its
//! death: the call it was running fails, the calls behind it go back to the queue, and a
//! replacement starts if work waits (see the [pool's protocol](super)).

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::direct::{Direct, DirectLine};
use super::outbox::Outbox;
use super::state::{self, Ending, MayStart};
use super::{After, Event, Shared, WorkerIo};
use crate::error::{Error, Result};
use crate::process::call::FLAGS;
use crate::process::child::{read_frame, Child, Lines};
use crate::process::identity::Outcome;
use crate::process::wire::{Decoder, FrameKind};
use crate::sys::Kill;

/// The supervisor thread: starts workers and enforces task timeouts until the pool drains.
/// Workers are started from this thread so that their parent-death signal (tied to the
/// starting thread on Linux) fires only when the pool is gone.
pub(super) fn supervise(shared: &Arc<Shared>, inbox: &Receiver<Event>) {
    loop {
        let deadline = next_deadline(shared);
        let event = match deadline {
            Some(d) => inbox.recv_deadline(d).ok(),
            None => inbox.recv().ok(),
        };
        match event {
            Some(Event::Spawn) => start_worker(shared),
            Some(Event::Wake) | None => {}
        }
        enforce_timeouts(shared);
        if shared.drained.done() && inbox.is_empty() {
            return;
        }
    }
}

/// The earliest deadline of a running call, which the supervisor then sleeps towards
/// (recorded as `armed`, so that a call with an earlier one wakes it).
fn next_deadline(shared: &Shared) -> Option<Instant> {
    shared.lock().pool.next_deadline()
}

/// Kills the workers whose running call is past its time limit.
fn enforce_timeouts(shared: &Shared) {
    shared.apply(|pool| pool.expire(Instant::now()));
}

/// Starts one worker (the handshake and initializer outside the lock) and hands it work.
fn start_worker(shared: &Arc<Shared>) {
    let may = shared.lock().pool.may_start(Instant::now());
    if let MayStart::Refused(fx) = may {
        // Asked for before the pool broke: start nothing.
        let mut after = After::default();
        after.absorb(fx);
        after.run(shared);
        return;
    }
    let started =
        Child::spawn(shared.config.handshake).map(|(child, lines)| (Arc::new(child), lines));
    match (started, &shared.config.initializer) {
        // The initializer runs on a thread of its own: it may take long (or hang), and the
        // supervisor must go on enforcing timeouts and starting workers meanwhile.
        (Ok((child, lines)), Some(_)) => {
            let mine = Arc::clone(&child);
            shared.lock().initializing.push(Arc::clone(&child));
            let on_thread = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("concurra-process-init".into())
                .spawn(move || initialize(&on_thread, child, lines));
            if let Err(e) = spawned {
                shared
                    .lock()
                    .initializing
                    .retain(|c| !Arc::ptr_eq(c, &mine));
                drop(mine); // the last reference: killed and reaped, outside the lock
                add_worker(
                    shared,
                    Err((Error::io("starting an initializer thread", e), false)),
                );
            }
        }
        (started, _) => add_worker(shared, started.map_err(|e| (e, false))),
    }
}

/// The initializer thread: runs the pool's initializer on a new worker (bounded by the task
/// timeout if one is set), then adds the worker, or records the failure.
fn initialize(shared: &Arc<Shared>, child: Arc<Child>, lines: Lines) {
    let init = shared.config.initializer.as_ref().expect("an initializer");
    let deadline = shared
        .config
        .task_timeout
        .and_then(|t| Instant::now().checked_add(t));
    let outcome =
        crate::unwind::catch(|| run_initializer(&lines, init.as_ref(), deadline)).and_then(|r| r);
    shared
        .lock()
        .initializing
        .retain(|c| !Arc::ptr_eq(c, &child));
    let started = match outcome {
        Ok(()) => Ok((child, lines)),
        Err(e) => {
            child.signal(Kill::Kill);
            let cause = format!("the initializer failed: {e}");
            Err((Error::BrokenPool { cause }, true))
        }
    };
    add_worker(shared, started);
}

/// Adds a started worker to the pool (or records why it did not start: the error, and whether
/// it was the initializer's) and hands it work.
fn add_worker(
    shared: &Arc<Shared>,
    started: std::result::Result<(Arc<Child>, Lines), (Error, bool)>,
) {
    let mut after = After::default();
    {
        let mut state = shared.lock();
        let now = Instant::now();
        let fx = match started {
            Ok((child, lines)) => {
                let Lines {
                    calls,
                    calls_keep,
                    replies: reader,
                    direct,
                } = lines;
                let direct = Arc::new(DirectLine::new(direct));
                match reader.try_clone() {
                    Ok(replies) => {
                        let out =
                            Arc::new(Outbox::new(calls, calls_keep, replies, Arc::clone(&child)));
                        let io = Arc::new(WorkerIo {
                            child: Arc::clone(&child),
                            out,
                            direct: Arc::clone(&direct),
                        });
                        let key = state.pool.add_worker(io, now);
                        let shared = Arc::clone(shared);
                        let spawned = std::thread::Builder::new()
                            .name(format!("concurra-process-reader-{}", child.pid()))
                            .spawn(move || read_replies(&shared, key, &child, &reader, &direct));
                        match spawned {
                            Ok(_) => state.pool.reader_running(),
                            // No reader: the worker goes (killed and reaped by its drop,
                            // after the lock is released).
                            Err(_) => after.gone.extend(state.pool.abandon(key)),
                        }
                        state.pool.dispatch(now)
                    }
                    Err(_) => {
                        after.reap.push(child);
                        state.pool.start_abandoned(now)
                    }
                }
            }
            Err((e, initializer)) => {
                // `start_failed` decides whether the pool breaks; `dispatch` then fails what
                // cannot be served.
                let cause = match e {
                    Error::BrokenPool { cause } => cause,
                    other => other.to_string(),
                };
                state.pool.start_failed(initializer, cause, now)
            }
        };
        after.absorb(fx);
    }
    after.run(shared);
}

/// Runs the initializer call on a new worker and reads its reply, by `deadline` if one is set
/// (the pool's task timeout).
fn run_initializer(
    lines: &Lines,
    init: &(dyn Fn(&mut Vec<u8>) -> Result<()> + Send + Sync),
    deadline: Option<Instant>,
) -> Result<()> {
    let mut frame = Vec::new();
    init(&mut frame)?;
    crate::sys::write_all_unless_hangup(lines.calls.as_fd(), lines.replies.as_fd(), &frame)
        .map_err(|e| Error::io("sending the initializer", e))?;
    let frame = read_frame(&lines.replies, deadline)
        .map_err(|e| Error::Decode(format!("the initializer's reply: {e}")))?
        .ok_or_else(|| Error::WorkerStart("the worker died in the initializer".into()))?;
    // The initializer's value is not wanted (nor its type known here): a `Value` outcome (the
    // variant tag 0) is success, whatever follows. postcard cannot skip a value it does not
    // know the type of, so the other outcomes, which carry no value, are decoded whole.
    if postcard::take_from_bytes::<u32>(&frame.payload).is_ok_and(|(tag, _)| tag == 0) {
        return Ok(());
    }
    let outcome: Outcome<()> = frame.decode()?;
    match outcome {
        Outcome::Value(()) => Ok(()),
        Outcome::Panicked { message, location } => Err(Error::Panicked { message, location }),
        Outcome::Decode(e) => Err(Error::Decode(e)),
        Outcome::Encode(e) => Err(Error::Encode(e)),
    }
}

/// A worker's reader thread: replies in, futures completed, more calls out; at end of file,
/// the worker's death is handled (see the module docs).
fn read_replies(
    shared: &Arc<Shared>,
    key: u64,
    child: &Child,
    replies: &File,
    direct: &DirectLine,
) {
    let mut decoder = Decoder::new();
    let malformed = loop {
        match decoder.read_from(replies.as_fd()) {
            Ok(0) | Err(_) => break None,
            Ok(_) => {}
        }
        let mut replies = Vec::new();
        let mut bad = loop {
            match decoder.next_frame() {
                Ok(Some(frame)) if frame.kind == FrameKind::Reply => {
                    replies.push((frame.id & !FLAGS, frame.payload));
                }
                Ok(Some(frame)) => break Some(format!("a {:?} frame from a worker", frame.kind)),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        // Replies to later calls mean the direct reply in front of them is written: it is
        // taken first (see `direct`), unless its caller already has.
        let mut reading = direct.lock();
        if !replies.is_empty() {
            if let Some(front) = direct_front(shared, key) {
                match reading.reply(front) {
                    Direct::Reply(payload) => replies.insert(0, (front, payload)),
                    Direct::Closed => {}
                    Direct::Malformed(why) => bad = bad.or(Some(why)),
                }
            }
        }
        match take_replies(shared, key, replies, bad) {
            Batch::Taken => {}
            Batch::Gone => return,
            Batch::OutOfStep(why) => break Some(why),
        }
        drop(reading);
    };
    // The direct line is settled before the death: a reply written there before the worker
    // died counts; a caller reading it lets go at end of file.
    let mut reading = direct.lock();
    let mut malformed = malformed;
    if let Some(front) = direct_front(shared, key) {
        match reading.reply(front) {
            Direct::Reply(payload) => {
                let step = take_replies(shared, key, vec![(front, payload)], None);
                if let Batch::OutOfStep(why) = step {
                    malformed = malformed.or(Some(why));
                }
            }
            Direct::Closed => {}
            Direct::Malformed(why) => malformed = malformed.or(Some(why)),
        }
    }
    died(shared, key, child, malformed);
    drop(reading);
}

/// How a batch of replies went.
enum Batch {
    Taken,
    /// The worker replied out of order or sent a malformed frame: it has been killed.
    OutOfStep(String),
    /// The worker is no longer the pool's.
    Gone,
}

/// The id of the worker's front call if it asked for its reply on the direct line.
fn direct_front(shared: &Shared, key: u64) -> Option<u64> {
    shared.lock().pool.direct_front(key)
}

/// Pops the replied calls (in order, from the front of the window) and dispatches more, then
/// completes their futures. `bad` (a malformed frame after the replies) kills the worker.
fn take_replies(
    shared: &Arc<Shared>,
    key: u64,
    replies: Vec<(u64, Vec<u8>)>,
    bad: Option<String>,
) -> Batch {
    let taken = shared
        .lock()
        .pool
        .take_replies(key, replies, bad, Instant::now());
    let Some(state::Taken {
        replies,
        out_of_step,
        effects,
    }) = taken
    else {
        return Batch::Gone;
    };
    let mut after = After {
        replies,
        ..After::default()
    };
    after.absorb(effects);
    after.run(shared);
    match out_of_step {
        Some(why) => Batch::OutOfStep(why),
        None => Batch::Taken,
    }
}

/// A synchronous caller's side of the direct line: with the right to read it, reads the reply
/// to call `id` unless its future is `done` already (a reader thread took it), and completes
/// it. At end of file it returns: the worker is dead and its reader thread fails the call.
pub(super) fn lead(
    shared: &Arc<Shared>,
    key: u64,
    line: &DirectLine,
    id: u64,
    done: &dyn Fn() -> bool,
) {
    let mut reading = line.lock();
    if done() {
        return;
    }
    let why = match reading.reply(id) {
        Direct::Reply(payload) => match take_replies(shared, key, vec![(id, payload)], None) {
            Batch::OutOfStep(why) => why,
            Batch::Taken | Batch::Gone => return,
        },
        Direct::Closed => return,
        Direct::Malformed(why) => why,
    };
    // Out of step: the worker goes, and its death names why.
    shared.apply(|pool| pool.malformed(key, why));
}

/// A worker's death (its channel ended, or it was out of step): reaped, its front call failed,
/// the calls behind it queued again, a replacement started if work waits.
fn died(shared: &Arc<Shared>, key: u64, child: &Child, malformed: Option<String>) {
    // Nothing more is sent to it while it is reaped (a forked worker's reap asks its fork
    // server, a round trip): a call sent now would sit unread and fail as if it had run.
    shared.lock().pool.death_seen(key);
    let exitcode = child.reap();
    let mut after = After::default();
    {
        let mut state = shared.lock();
        let removed = state
            .pool
            .remove(key, |io| io.out.unread(), malformed, Instant::now());
        let Some(death) = removed else {
            return;
        };
        if let Some((call, ending)) = death.front {
            let error = match ending {
                Ending::Malformed(why) => Error::Decode(format!("worker {}: {why}", child.pid())),
                Ending::Timeout(limit) => Error::timeout(limit),
                Ending::Stopped => Error::Terminated,
                Ending::Died => Error::WorkerDied {
                    pid: child.pid(),
                    exitcode,
                },
            };
            after.failures.push((call, error));
        }
        after.absorb(death.effects);
        after.gone.push(death.io);
    }
    after.run(shared);
}
