//! Ctrl-C under [`run`](super::run) and [`try_run`](super::try_run), as `asyncio.run` does
//! since Python 3.11.
//!
//! When the loop runs on the process's main thread and `SIGINT` has its default disposition,
//! main is wrapped so that:
//!
//! 1. the first `SIGINT` cancels main (its coroutine is dropped in a cancelling section, so a
//!    task it awaits is cancelled with it, as asyncio cancels the main task and the future it
//!    awaits); `try_run` then returns [`Error::Interrupted`] and `run` ends the process as an
//!    uncaught `KeyboardInterrupt` ends Python's: by `SIGINT` itself, so the shell sees exit
//!    status 130;
//! 2. right after that first `SIGINT` the default disposition is back, so a second Ctrl-C
//!    ends the program at once, whatever the loop is doing;
//! 3. when `run` returns, the disposition found is back (it was the default).
//!
//! A program that handles `SIGINT` on the loop itself ([`add_signal_handler`] or
//! [`signal()`]) takes Ctrl-C over for as long as its handler lives (Python: its
//! `loop.add_signal_handler(SIGINT, ..)` replaces asyncio.run's handler).
//!
//! [`add_signal_handler`]: super::add_signal_handler
//! [`signal()`]: super::signal()
//!
//! If main completes in the same poll that sees the signal, main's own outcome wins (a main
//! already ending by its own cancellation reports that, not an interruption: CPython's
//! `test_interrupt_cancelled_task`). Off the main thread, or when `SIGINT` is ignored or
//! handled by someone else, nothing is installed (Python does the same).

use std::future::Future as StdFuture;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::signal::SignalStream;
use crate::error::{Error, Result};
use crate::sys::signal as registry;

/// `main`, cancelled by the first `SIGINT` (see the module docs).
pub(super) struct Interruptible<F> {
    main: Option<Pin<Box<F>>>,
    /// `None` before the first poll, or when Ctrl-C is not ours to take.
    sigint: Option<SignalStream>,
    started: bool,
}

pub(super) fn interruptible<F: StdFuture>(main: F) -> Interruptible<F> {
    Interruptible {
        main: Some(Box::pin(main)),
        sigint: None,
        started: false,
    }
}

/// Whether this run should take Ctrl-C: on the main thread, with `SIGINT` at its default.
fn takes_ctrl_c() -> bool {
    crate::sys::is_main_thread()
        && matches!(
            registry::disposition(libc::SIGINT),
            Ok(registry::Disposition::Default)
        )
}

impl<F: StdFuture> StdFuture for Interruptible<F> {
    type Output = Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            if takes_ctrl_c() {
                // A failure to watch SIGINT (no descriptors) leaves Ctrl-C at its default,
                // as Python tolerates a failing `signal.signal()`.
                this.sigint = super::signal::runner_sigint().ok();
            }
        }
        let Some(main) = this.main.as_mut() else {
            return Poll::Ready(Err(Error::InvalidState("main already completed".into())));
        };
        if let Poll::Ready(out) = main.as_mut().poll(cx) {
            this.main = None;
            this.sigint = None;
            return Poll::Ready(Ok(out));
        }
        let interrupted = match this.sigint.as_mut() {
            // While the program handles SIGINT itself, Ctrl-C is its business.
            Some(s) => s.poll_delivered(cx) && !super::signal::sigint_claimed(),
            None => false,
        };
        if interrupted {
            // The default first: a second Ctrl-C, even during main's cleanup, ends the
            // program at once.
            this.sigint = None;
            super::engine::drop_cancelled(this.main.take());
            return Poll::Ready(Err(Error::Interrupted));
        }
        Poll::Pending
    }
}

/// Ends the process as Python's uncaught `KeyboardInterrupt` does: by `SIGINT` at its
/// default disposition (exit status 130 in a shell), or with code 130 if it survives that.
pub(super) fn exit_interrupted() -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if matches!(
        registry::disposition(libc::SIGINT),
        Ok(registry::Disposition::Default)
    ) {
        crate::sys::raise_here(libc::SIGINT);
    }
    std::process::exit(130)
}
