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
//! 1. The future's state word, its listener lock, its handle counter, the `Arc` it lives in,
//!    and thread park/unpark are loom's: the models see every order of `start`, `complete`,
//!    `cancel`, waiter registration, done-callback registration and the last handle's take.
//! 2. The outcome cell is loom's `UnsafeCell` under loom: the models check that its one write
//!    (under the completion's claim) never overlaps a read (after the published word), and
//!    `scripts/miri.sh` checks the same cell's `unsafe` for real. The spin before a park is
//!    left out (it would only read the word again): the models take the park path.
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

/// Threads: parking and yielding.
pub(crate) mod thread {
    #[cfg(concurra_loom)]
    pub(crate) use ::loom::thread::{current, park, yield_now, Thread};
    #[cfg(not(concurra_loom))]
    pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread};

    /// loom has no clock: a timed park returns at once, as a spurious wake-up may.
    #[cfg(concurra_loom)]
    pub(crate) fn park_timeout(_: std::time::Duration) {
        ::loom::thread::yield_now();
    }
}
