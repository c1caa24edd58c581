//! The synchronisation the [`Future`](crate::Future) and the thread pool's idle accounting are
//! built on: `std`'s in every build, [loom]'s under `--cfg concurra_loom`, so the loom models beside
//! the code (`future/loom.rs`, `thread_pool/idle.rs`, `sys/signal.rs`) explore every interleaving of the real
//! code, not of a copy.
//!
//! The cfg is `concurra_loom`, not `loom`: tokio (a dev-dependency) reads `cfg(loom)` itself
//! and does not build under it.
//!
//! Run the models with `scripts/loom.sh` (it sets `RUSTFLAGS="--cfg concurra_loom"` and runs the
//! library's tests whose name contains `loom`, in release mode).
//!
//! # What is modelled, and what is not
//!
//! 1. The future's lock, its handle counter, the `Arc` it lives in, and thread park/unpark are
//!    loom's: the models see every order of `complete`, `cancel`, waiter registration,
//!    done-callback registration and the last handle's take.
//! 2. The outcome cell keeps `std`'s `OnceLock` for its value (`scripts/miri.sh` checks the
//!    cell's `unsafe impl`), and under loom adds a loom flag written with release after the
//!    value and read with acquire before it: the ordering `OnceLock` gives for real, made
//!    visible to the models.
//! 3. Timed waits have no clock under loom: `park_timeout` returns at once, which a timed wait
//!    must already handle (a park may return spuriously). The models wait without deadlines.
//! 4. `WaitSet` (`wait`, `as_completed`) keeps `std`'s lock and condition variable; the models
//!    do not use it.
//! 5. The signal registry's table (`sys/signal.rs`) is loom's in the models, which run its
//!    handler side on a thread: loom does not model signal context, and it does not model
//!    `SeqCst` loads and stores (only `SeqCst` fences), so the table's store-load handshake is
//!    written with fences, which loom checks.
//!
//! [loom]: https://docs.rs/loom

#[cfg(concurra_loom)]
pub(crate) use ::loom::sync::atomic::{fence, AtomicI32, AtomicU64, AtomicUsize, Ordering};
#[cfg(concurra_loom)]
pub(crate) use ::loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(concurra_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicI32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(concurra_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Threads: parking, yielding, and naming the current thread.
pub(crate) mod thread {
    #[cfg(concurra_loom)]
    pub(crate) use ::loom::thread::{current, park, yield_now, Thread, ThreadId};
    #[cfg(not(concurra_loom))]
    pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread, ThreadId};

    /// The calling thread's id, read from a thread-local after the first call (an engine
    /// names the runner of every job it starts: `current().id()` clones and drops an `Arc`).
    #[cfg(not(concurra_loom))]
    #[inline]
    pub(crate) fn current_id() -> ThreadId {
        std::thread_local! {
            static ID: std::cell::Cell<Option<ThreadId>> = const { std::cell::Cell::new(None) };
        }
        ID.with(|id| {
            id.get().unwrap_or_else(|| {
                let me = current().id();
                id.set(Some(me));
                me
            })
        })
    }

    /// The calling (loom) thread's id.
    #[cfg(concurra_loom)]
    pub(crate) fn current_id() -> ThreadId {
        current().id()
    }

    /// loom has no clock: a timed park returns at once, as a spurious wake-up may.
    #[cfg(concurra_loom)]
    pub(crate) fn park_timeout(_: std::time::Duration) {
        ::loom::thread::yield_now();
    }
}
