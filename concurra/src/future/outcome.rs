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
pub(crate) struct OutcomeCell<T> {
    value: OnceLock<Result<T>>,
    /// Under loom, the write's release and every read's acquire, which `OnceLock` does for
    /// real but loom cannot see: the models then know what a reader that found the cell
    /// filled may rely on (the idle token a worker left before publishing, say).
    #[cfg(concurra_loom)]
    published: ::loom::sync::atomic::AtomicBool,
}

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
        OutcomeCell {
            value: OnceLock::new(),
            #[cfg(concurra_loom)]
            published: ::loom::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True once the outcome is written.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.get().is_some()
    }

    /// Writes the outcome; hands it back if one was written before.
    pub(crate) fn set(&self, outcome: Result<T>) -> std::result::Result<(), Result<T>> {
        self.value.set(outcome)?;
        #[cfg(concurra_loom)]
        self.published
            .store(true, ::loom::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// The outcome, borrowed. Callers hand `&T` to users only under a `T: Sync` bound.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Result<T>> {
        #[cfg(concurra_loom)]
        if !self.published.load(::loom::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.value.get()
    }

    /// Moves the outcome out (the last reference).
    pub(crate) fn take(&mut self) -> Option<Result<T>> {
        self.value.take()
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
