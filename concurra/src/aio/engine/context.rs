//! The context: which loop runs on this thread (a thread-local set for the whole of `run`),
//! and the few things the facades may ask of it. Nothing outside the engine holds the loop's
//! core; facades call these functions instead.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::core::Core;
use super::task::{IntoCoroutine, Task};

thread_local! {
    /// The loop running on this thread, if any. Set by `run` for its whole duration.
    pub(super) static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// The loop running on this thread.
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The loop running on this thread; panics (Python: `RuntimeError: no running event loop`)
/// outside one.
pub(crate) fn expect_current(what: &str) -> Rc<Core> {
    current()
        .unwrap_or_else(|| panic!("{what} needs a running event loop (call it inside aio::run)"))
}

/// Runs `f` on the loop running on this thread (without cloning its handle); panics outside
/// one, as [`expect_current`].
#[inline]
pub(crate) fn with_current<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    let f = CURRENT.with(|c| {
        let slot = c.borrow();
        match slot.as_ref() {
            Some(core) => Ok(f(core)),
            None => Err(f),
        }
    });
    f.unwrap_or_else(|_| panic!("{what} needs a running event loop (call it inside aio::run)"))
}

/// True while the running loop drops a cancelled coroutine (see the module docs, step 3.4).
pub(crate) fn cancelling() -> bool {
    CURRENT
        .try_with(|c| c.borrow().as_ref().is_some_and(|core| core.is_cancelling()))
        .unwrap_or(false)
}

/// Counts a cancelled timer on the running loop, if any.
pub(crate) fn note_timer_cancelled() {
    if let Some(core) = current() {
        let gone = core.timers().note_cancelled();
        drop(gone);
    }
}

/// Sets [`CURRENT`] for the duration of `run`; on the way out (return or panic) shuts the loop
/// down and clears it.
pub(super) struct Enter(Rc<Core>);

impl Enter {
    pub(super) fn new(core: Rc<Core>) -> Self {
        CURRENT.with(|c| {
            let mut slot = c.borrow_mut();
            assert!(
                slot.is_none(),
                "aio::run() cannot be called from a running event loop"
            );
            *slot = Some(core.clone());
        });
        Enter(core)
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        self.0.shutdown();
        let core = CURRENT.with(|c| c.borrow_mut().take());
        drop(core);
    }
}

/// Creates a task on the running loop (Python: `loop.create_task`); panics outside one.
pub(crate) fn spawn<F: IntoCoroutine>(what: &str, coro: F) -> Task<F::Output> {
    with_current(what, |core| core.spawn(coro))
}

/// The running loop's time; panics outside one.
pub(crate) fn now(what: &str) -> Duration {
    with_current(what, Core::now)
}

/// The running loop's time, if a loop runs on this thread.
pub(crate) fn try_now() -> Option<Duration> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|core| core.now()))
        .ok()
        .flatten()
}

/// Drops `value` as a cancellation: inside a cancelling section of the running loop (awaited
/// task handles it owns cancel their tasks; see the `aio` module docs, step 3.4). Off the loop
/// it is simply dropped.
pub(crate) fn drop_cancelled<T>(value: T) {
    match current() {
        Some(core) => {
            let _cancelling = core.enter_cancelling();
            drop(value);
        }
        None => drop(value),
    }
}

/// Which loop: an identity that does not keep the loop alive.
#[derive(Debug, Clone)]
pub(crate) struct LoopId(Weak<Core>);

impl LoopId {
    /// The running loop's identity; panics outside one.
    pub(crate) fn current(what: &str) -> LoopId {
        LoopId(Rc::downgrade(&expect_current(what)))
    }

    /// True if this is the loop running on this thread.
    pub(crate) fn is_running(&self) -> bool {
        match (current(), self.0.upgrade()) {
            (Some(running), Some(mine)) => Rc::ptr_eq(&running, &mine),
            _ => false,
        }
    }
}
