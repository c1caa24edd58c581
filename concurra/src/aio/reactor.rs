//! The reactor: the event loop's only door to the operating system, and the only user of `mio`.
//!
//! Today it does two things: it blocks the loop thread until the next timer deadline when
//! nothing is ready ([`Reactor::turn`]), and it lets other threads interrupt that block through
//! a [`Notifier`] (a `mio::Waker`: an `eventfd` on Linux, a pipe or kqueue user event
//! elsewhere).
//!
//! # Tokens
//!
//! 1. [`NOTIFY`] (token 0) is the cross-thread notifier; its event only says "look at the
//!    inject queue", which the loop drains after every turn.
//! 2. Tokens from 1 up are reserved for I/O sources. Sockets, pipes, subprocess pidfds and the
//!    signal pipe will be registered here later: `register(source, interest) -> Registration`
//!    will put a `ScheduledIo { readiness, reader: Option<Waker>, writer: Option<Waker> }` in a
//!    slab indexed by `token - 1`; `turn` will set the readiness bits of each event's entry and
//!    collect its wakers into a wake list, woken after the slab is released (never under a
//!    borrow), exactly as the notifier's event is handled now.
//!
//! # Invariant
//!
//! A [`Reactor`] is owned by one loop and used only on that loop's thread; its [`Notifier`] is
//! `Send + Sync` and may be used from any thread, also after the loop has ended (the event is
//! then simply never read).

use std::fmt;
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};

/// The token of the cross-thread notifier.
const NOTIFY: Token = Token(0);

/// How many events one turn reads at most (more wait for the next turn).
const EVENTS_PER_TURN: usize = 256;

/// The loop thread's side: the OS poller and its event buffer.
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
}

/// What one turn of the reactor saw.
#[derive(Debug, Default, Clone, Copy)]
#[must_use]
pub(crate) struct Turn {
    /// Another thread notified the loop: drain the inject queue.
    pub(crate) notified: bool,
}

/// The cross-thread side: wakes a loop blocked in [`Reactor::turn`].
pub(crate) struct Notifier {
    waker: Waker,
}

impl Reactor {
    /// A new poller and the notifier that interrupts it.
    pub(crate) fn new() -> io::Result<(Reactor, Notifier)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), NOTIFY)?;
        Ok((
            Reactor {
                poll,
                events: Events::with_capacity(EVENTS_PER_TURN),
            },
            Notifier { waker },
        ))
    }

    /// Blocks until an event arrives or `timeout` passes (`None`: no limit; `Some(ZERO)`:
    /// check and return at once). A signal interrupting the wait counts as an empty turn.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<Turn> {
        let mut turn = Turn::default();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(turn),
            Err(e) => return Err(e),
        }
        for event in self.events.iter() {
            // No I/O source is registered yet: every event is the notifier's (see the module
            // docs, step 2, for what the other tokens will do).
            if event.token() == NOTIFY {
                turn.notified = true;
            }
        }
        Ok(turn)
    }
}

impl Notifier {
    /// Wakes the loop's reactor. A failure (the poller is gone) is reported on stderr: the loop
    /// that would have read the event has ended.
    pub(crate) fn notify(&self) {
        if let Err(e) = self.waker.wake() {
            eprintln!("concurra: cannot wake the event loop: {e}");
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("events_capacity", &self.events.capacity())
            .finish()
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notifier")
    }
}
