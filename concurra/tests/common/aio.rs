//! Fixtures for the event-loop tests.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use concurra::aio::{self, PausedClock};

/// Runs `main` on a loop whose clock moves only when every task is blocked (asyncio's tests
/// use a test loop with a mocked clock for the same end).
pub(crate) fn paused<F: Future>(main: F) -> F::Output {
    aio::Builder::new().clock(PausedClock::new()).run(main)
}

/// Sets its flag when dropped: a coroutine's `finally`.
pub(crate) struct OnDrop(pub(crate) Rc<Cell<bool>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A flag for [`OnDrop`], unset.
pub(crate) fn flag() -> Rc<Cell<bool>> {
    Rc::new(Cell::new(false))
}
