//! The worker loop: run the initializer, then take jobs until a stop message.

use std::sync::atomic::Ordering;

use super::{Message, Shared};
use crate::unwind;

thread_local! {
    /// The pool this thread works for (its `Shared`'s address), 0 on other threads.
    static POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread is one of `shared`'s workers.
pub(super) fn is_worker_of(shared: &Shared) -> bool {
    POOL.with(|p| p.get() == std::ptr::from_ref(shared) as usize)
}

/// Body of one worker thread.
pub(super) fn run(shared: &Shared) {
    POOL.with(|p| p.set(std::ptr::from_ref(shared) as usize));
    if let Some(init) = &shared.initializer {
        if let Err(e) = unwind::catch(|| init()) {
            // Not `eprintln!`: with stderr gone it would panic here, and the pool would never
            // learn that it is broken.
            unwind::print_report(&format_args!("a thread initializer failed: {e}"));
            shared.break_pool(format!(
                "a thread initializer failed, the thread pool is not usable anymore ({e})"
            ));
            return;
        }
    }
    let mut leave_idle_token = || shared.idle.leave_token();
    while let Ok(Message::Run(mut job)) = shared.receiver.recv() {
        // ORDERING: Acquire pairs with the Release in `break_pool`; the cause is read under
        // the lifecycle lock anyway.
        if shared.broken.load(Ordering::Acquire) {
            job.fail(shared.broken_error());
            continue;
        }
        // Tasks and callbacks run under their own catch; this guard keeps the worker alive if
        // something outside them panics (a user `Waker`, a result's `Drop`).
        unwind::report(&"a worker, outside any task,", || {
            job.run(&mut leave_idle_token)
        });
    }
}
