//! [`OutcomeCell`]: a future's write-once outcome, shared by every handle and by its producer.
//!
//! # Who may touch the value
//!
//! 1. The producer moves the outcome in once ([`set`](OutcomeCell::set)), under the future's
//!    lock, on whatever thread completes the work: `T: Send` is all that needs.
//! 2. Shared readers borrow it (`&T`) from any thread that holds a handle. Two threads may then
//!    hold `&T` at once, so every public accessor that hands out `&T` (or clones through it)
//!    requires `T: Sync`. Reading the `Err` side, or whether it is `Ok`, never touches a `T`.
//! 3. The last handle moves it out ([`take`](OutcomeCell::take)) through `&mut`, that is, once
//!    no other reference exists (`Arc::get_mut`).
//!
//! So a value that is `Send` but not `Sync` (a `Cell`, a `RefCell`, an `mpsc::Receiver`) can
//! be produced on a worker and moved out by the caller, without ever being shared. This is the
//! rule that lets `Future<T>` cross threads for any `T: Send`, as `std::sync::Mutex<T>` does.

use std::sync::OnceLock;

use crate::error::Result;

/// A write-once `Result<T>`, `Sync` for any `T: Send` (see the module docs for the rules).
pub(crate) struct OutcomeCell<T>(OnceLock<Result<T>>);

// SAFETY: a shared `&OutcomeCell<T>` lets a thread (a) write the outcome once, which moves a
// `T` in (needs `T: Send`), (b) read whether it is set and its `Err` side (`Error` is `Sync`),
// and (c) borrow `&T` through `get`, which the crate only exposes to users behind a `T: Sync`
// bound (`Future::result_ref`, `result`, `try_result`, `into_result`'s clone and `.await`); the
// crate's own generic code reads `&T` only where `T: Sync` is bound too. Moving the value out
// (`take`) needs `&mut`, so no other thread can hold a reference then. The `OnceLock` gives
// the write its happens-before edge to every reader.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for OutcomeCell<T> {}

impl<T> OutcomeCell<T> {
    pub(crate) fn new() -> Self {
        OutcomeCell(OnceLock::new())
    }

    /// True once the outcome is written.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// Writes the outcome; hands it back if one was written before.
    pub(crate) fn set(&self, outcome: Result<T>) -> std::result::Result<(), Result<T>> {
        self.0.set(outcome)
    }

    /// The outcome, borrowed. Callers hand `&T` to users only under a `T: Sync` bound.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Result<T>> {
        self.0.get()
    }

    /// Moves the outcome out (the last reference).
    pub(crate) fn take(&mut self) -> Option<Result<T>> {
        self.0.take()
    }
}
