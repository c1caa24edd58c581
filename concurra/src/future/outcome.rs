//! [`OutcomeCell`]: a future's write-once outcome, shared by every handle and by its producer.
//!
//! # Who may touch the value
//!
//! 1. The one thread that *claimed* the future's completion in its state word (`state.rs`: the
//!    producer completing it, or `cancel`) moves the outcome in once
//!    ([`write`](OutcomeCell::write)), then publishes the final phase with a release store.
//!    That thread may be any thread: `T: Send` is all the write needs.
//! 2. Readers borrow it ([`read`](OutcomeCell::read)) only after an acquire load of the state
//!    word saw the final phase, so the write happened before, and no write can follow. Two
//!    threads may then hold `&T` at once, so every public accessor that hands out `&T` (or
//!    clones through it) requires `T: Sync`. Reading the `Err` side, or whether it is `Ok`,
//!    never touches a `T`.
//! 3. The last handle moves it out ([`take`](OutcomeCell::take)) through `&mut`, that is, once
//!    no other reference exists (`Arc::get_mut`).
//!
//! So a value that is `Send` but not `Sync` (a `Cell`, a `RefCell`, an `mpsc::Receiver`) can
//! be produced on a worker and moved out by the caller, without ever being shared. This is the
//! rule that lets `Future<T>` cross threads for any `T: Send`, as `std::sync::Mutex<T>` does.
//!
//! Under loom the cell is loom's `UnsafeCell`: the models check that no read overlaps the
//! write, which is what the claim and the release/acquire pair on the state word promise.

use crate::error::Result;

#[cfg(concurra_loom)]
use ::loom::cell::UnsafeCell;
#[cfg(not(concurra_loom))]
use std::cell::UnsafeCell;

/// A write-once `Result<T>`, `Sync` for any `T: Send` (see the module docs for the rules).
pub(crate) struct OutcomeCell<T> {
    value: UnsafeCell<Option<Result<T>>>,
}

// SAFETY: a shared `&OutcomeCell<T>` lets a thread (a) write the outcome once, which moves a
// `T` in (needs `T: Send`), under the claim of the future's state word, before any reader may
// look, and (b) borrow it after the state word published it: its `Err` side (`Error` is
// `Sync`), or `&T`, which the crate only exposes to users behind a `T: Sync` bound
// (`Future::result_ref`, `result`, `try_result`, `into_result`'s clone and `.await`); the
// crate's own generic code reads `&T` only where `T: Sync` is bound too. Moving the value out
// (`take`) needs `&mut`, so no other thread can hold a reference then.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for OutcomeCell<T> {}

#[allow(unsafe_code)]
impl<T> OutcomeCell<T> {
    pub(crate) fn new() -> Self {
        OutcomeCell {
            value: UnsafeCell::new(None),
        }
    }

    /// Moves the outcome in.
    ///
    /// # Safety
    /// The caller holds the future's completion claim (only one thread ever does), and no
    /// reader has seen the future done: nobody else touches the cell now.
    pub(crate) unsafe fn write(&self, outcome: Result<T>) {
        #[cfg(not(concurra_loom))]
        // SAFETY: the caller's claim makes this the only access (see above).
        unsafe {
            *self.value.get() = Some(outcome);
        }
        #[cfg(concurra_loom)]
        // SAFETY: as above; loom checks it.
        self.value.with_mut(|cell| unsafe { *cell = Some(outcome) });
    }

    /// The outcome, borrowed. Callers hand `&T` to users only under a `T: Sync` bound.
    ///
    /// # Safety
    /// The caller saw the future done through an acquire load of its state word: the write
    /// happened before, and no write follows (a take needs `&mut self`).
    pub(crate) unsafe fn read(&self) -> &Result<T> {
        #[cfg(not(concurra_loom))]
        // SAFETY: written before the caller's acquire, never written again.
        let value = unsafe { &*self.value.get() };
        #[cfg(concurra_loom)]
        // SAFETY: as above; loom checks the access itself.
        let value = self.value.with(|cell| unsafe { &*cell });
        value
            .as_ref()
            .expect("a done future's outcome is written before it is published")
    }

    /// Moves the outcome out (the last reference).
    pub(crate) fn take(&mut self) -> Option<Result<T>> {
        #[cfg(not(concurra_loom))]
        let value = self.value.get_mut().take();
        #[cfg(concurra_loom)]
        // SAFETY: `&mut self`: no other access exists.
        let value = self.value.with_mut(|cell| unsafe { (*cell).take() });
        value
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use crate::future::pair;

    /// A `Send`, not `Sync` value written on one thread and moved out on another: the cell's
    /// `Sync` rule in action (run under Miri by `scripts/miri.sh`).
    #[test]
    fn a_send_only_value_moves_across_threads() {
        let (promise, future) = pair::<Cell<u32>>();
        let producer = std::thread::spawn(move || promise.set_result(Cell::new(5)).unwrap());
        let consumer = std::thread::spawn(move || future.try_into_result().ok().unwrap());
        assert_eq!(consumer.join().unwrap().unwrap().get(), 5);
        producer.join().unwrap();
    }

    /// Shared borrows from two threads (`T: Sync`), then the last handle moves the value out.
    #[test]
    fn shared_borrows_then_the_last_handle_takes() {
        let (promise, future) = pair::<Vec<u32>>();
        let other = future.clone();
        let reader = std::thread::spawn(move || other.result_ref().unwrap().len());
        promise.set_result(vec![1, 2, 3]).unwrap();
        assert_eq!(future.result_ref().unwrap(), &[1, 2, 3]);
        assert_eq!(reader.join().unwrap(), 3);
        assert_eq!(future.try_into_result().ok().unwrap().unwrap(), [1, 2, 3]);
    }

    /// A sink gets the value moved from the completing thread; the future's cell keeps none.
    #[test]
    fn a_sink_takes_the_value_on_the_completing_thread() {
        let (promise, future) = pair::<Cell<u32>>();
        let (tx, rx) = std::sync::mpsc::channel();
        future.into_sink(move |outcome| tx.send(outcome.unwrap().get()).unwrap());
        std::thread::spawn(move || promise.set_result(Cell::new(9)).unwrap())
            .join()
            .unwrap();
        assert_eq!(rx.recv().unwrap(), 9);
    }

    /// An abandoned future's sink gets the error; so does a sink given a shared handle.
    #[test]
    fn a_sink_gets_an_abandonment_or_a_refusal() {
        let (promise, future) = pair::<u8>();
        let (tx, rx) = std::sync::mpsc::channel();
        future.into_sink(move |outcome| tx.send(outcome).unwrap());
        drop(promise);
        assert!(rx.recv().unwrap().unwrap_err().is_abandoned());

        let (_promise, future) = pair::<u8>();
        let _other = future.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        future.into_sink(move |outcome| tx.send(outcome).unwrap());
        assert!(rx.recv().unwrap().unwrap_err().is_invalid_state());
    }
}
