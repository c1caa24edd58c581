//! The thread pool's `map`, its input read by the workers: the caller lends its iterator to
//! the pool for the length of the call; each worker takes the next chunk of items from it
//! under a lock and writes the chunk's values into the chunk's range of the list ([`Slots`]).
//!
//! Cutting the input on the caller's thread ([`list::in_place`](super::list::in_place), what
//! `map_async` does) writes every item into a chunk on the caller's CPU, to be read back by a
//! worker on another: on a small function that copy took about as much CPU as the function,
//! and the caller's thread took it from the workers (`bench pool-map`: the caller's cutting
//! loop 22% of the CPU time, the two workers 26%). Here the items go from the iterator to a
//! worker's own buffer, warm in its cache, and the caller only waits.
//!
//! # The loan
//! 1. [`map`] owns the iterator. It lends it to the pullers (`'static` pool tasks) as a pointer
//!    whose lifetime is erased, kept in the feed's mutex.
//! 2. The pointer is used only while that mutex is held: by one thread at a time (the iterator
//!    is `Send`, so any one thread may use it).
//! 3. Before [`map`] returns, or unwinds, [`Loan`]'s drop takes the pointer out under the mutex:
//!    a puller that runs later (after a `terminate` failed the map early, say) finds no input.
//!    That is the pointer's last use; the iterator is dropped after it.
//!
//! A panic in the iterator's `next` is caught in the puller, ends the input, and is raised again
//! on the caller's thread once the map is over (Python raises from the iterable in the caller).
//! The pullers are tasks like any other: they queue behind earlier work, and one the pool
//! drops unrun (a `terminate`) ends its share of the map all the same.
//!
//! Miri runs this module's tests (`scripts/miri.sh`).
#![allow(unsafe_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::list::{Finish, Started};
use super::slots::{Range, Slots};
use crate::error::{Error, Result};

/// Taking items from the input, compiled for each input type: one virtual call a chunk, not one
/// an item (an item-by-item `next` through a `dyn Iterator` cost more than the copy it saves).
trait Pull<A>: Send {
    /// Appends up to `n` items to `out`.
    fn pull(&mut self, n: usize, out: &mut Vec<A>);
    /// Whether the input yields another item (taking it).
    fn more(&mut self) -> bool;
}

impl<I: Iterator + Send> Pull<I::Item> for I {
    fn pull(&mut self, n: usize, out: &mut Vec<I::Item>) {
        out.extend(self.by_ref().take(n));
    }

    fn more(&mut self) -> bool {
        self.next().is_some()
    }
}

/// The lent iterator (rule 1 of the module doc).
struct Lent<A: 'static>(NonNull<dyn Pull<A> + 'static>);

// SAFETY: the iterator behind the pointer is `Send` (`Pull: Send`), and the pointer is only
// dereferenced while the feed's mutex is held (rule 2), so moving it to another thread moves
// the right to use the iterator there, one thread at a time.
unsafe impl<A> Send for Lent<A> {}

impl<A> Lent<A> {
    /// The iterator.
    ///
    /// # Safety
    /// Only with the feed's mutex held (the `&mut self` borrows from its guard), and only while
    /// the loan lasts (the pointer is taken out before the iterator goes, rule 3).
    unsafe fn input(&mut self) -> &mut (dyn Pull<A> + 'static) {
        // SAFETY: the caller holds the feed's mutex, so no other reference to the iterator is
        // live (rule 2), and the loan has not ended, so the iterator is alive (rule 3).
        unsafe { self.0.as_mut() }
    }
}

/// What the caller and the pullers share.
struct Feed<A: 'static, T> {
    state: Mutex<State<A, T>>,
    /// Items the input promised (its exact size, or its collected length).
    len: usize,
    /// Items a chunk.
    size: usize,
}

struct State<A: 'static, T> {
    /// The input while lent and not used up.
    input: Option<Lent<A>>,
    /// Items taken so far.
    cut: usize,
    /// The range the next chunk writes.
    next_range: usize,
    /// The list being written; taken out by the last puller to end.
    slots: Option<Arc<Slots<T>>>,
    first_error: Option<Error>,
    /// A panic raised by the input's `next`.
    panic: Option<Box<dyn Any + Send>>,
    /// Pullers not yet ended (run or dropped unrun).
    live: usize,
    finish: Option<Finish<T>>,
}

impl<A, T> Feed<A, T> {
    fn lock(&self) -> MutexGuard<'_, State<A, T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next chunk's items (into `buf`) and its range, or `None` once the input is used up,
    /// ended or taken back.
    fn next_chunk(&self, buf: &mut Vec<A>) -> Option<Range<T>> {
        let mut state = self.lock();
        let state = &mut *state;
        let input = state.input.as_mut()?;
        let want = self.size.min(self.len - state.cut);
        // SAFETY: the feed's mutex is held (`state` is its guard) and the input is still lent
        // (it is `Some`): the conditions of `Lent::input`.
        let input = unsafe { input.input() };
        if want == 0 {
            // Every promised item is taken: an input that yields more lied about its size.
            let more = panic::catch_unwind(AssertUnwindSafe(|| input.more()));
            state.input = None;
            match more {
                Ok(false) => {}
                Ok(true) => state.fail(Error::InvalidState(format!(
                    "the map's input promised {} items (an exact size hint) but yielded more",
                    self.len
                ))),
                Err(payload) => state.panic = Some(payload),
            }
            return None;
        }
        buf.clear();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| input.pull(want, buf))) {
            state.input = None;
            state.panic = Some(payload);
            buf.clear();
            return None;
        }
        if buf.len() < want {
            state.input = None;
            state.fail(Error::InvalidState(format!(
                "the map's input promised {} items (an exact size hint) but yielded {}",
                self.len,
                state.cut + buf.len()
            )));
            buf.clear();
            return None;
        }
        state.cut += want;
        let index = state.next_range;
        state.next_range += 1;
        Some(Slots::range(state.slots.as_ref()?, index))
    }

    fn failed(&self, error: Error) {
        self.lock().fail(error);
    }
}

impl<A, T> State<A, T> {
    fn fail(&mut self, error: Error) {
        self.first_error.get_or_insert(error);
    }
}

/// One puller's share of the map: ends it when dropped, run or not; the last to end makes the
/// list and hands it to `finish`.
struct Puller<A: 'static, T>(Arc<Feed<A, T>>);

impl<A, T> Puller<A, T> {
    /// Takes chunks and writes their values until the input is used up.
    fn run(&self, f: &impl Fn(A) -> T) {
        let mut buf = Vec::new();
        while let Some(range) = self.0.next_chunk(&mut buf) {
            if let Some(e) = range.fill(f, buf.drain(..)) {
                self.0.failed(e);
            }
        }
    }
}

impl<A, T> Drop for Puller<A, T> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.live -= 1;
        if state.live > 0 {
            return;
        }
        let slots = state.slots.take();
        let first_error = state.first_error.take();
        let finish = state.finish.take();
        drop(state);
        // Every puller has ended, so every range has been dropped: `slots` is unique.
        let list = first_error.map_or(Ok(()), Err).and_then(|()| {
            slots
                .and_then(|slots| Arc::try_unwrap(slots).ok())
                .and_then(Slots::into_vec)
                .ok_or_else(|| {
                    Error::InvalidState("a map ended before all of its chunks ran".into())
                })
        });
        if let Some(finish) = finish {
            finish(list);
        }
    }
}

/// Takes the input back from the pullers when dropped (rule 3).
struct Loan<'a, A: 'static, T>(&'a Feed<A, T>);

impl<A, T> Drop for Loan<'_, A, T> {
    fn drop(&mut self) {
        self.0.lock().input = None;
    }
}

/// Maps `f` over the `len` items of `items` in chunks of `started.size`, pulled by up to
/// `workers` tasks given to `spawn`; `started.finish` gets the list (or the first error) when
/// the last puller ends. Waits for `started.outcome` (the list, or an earlier failure such as a
/// `terminate`) and returns it once the input is taken back; a panic raised by the input is
/// raised again here.
pub(crate) fn map<A, T, I>(
    items: I,
    len: usize,
    workers: usize,
    f: impl Fn(A) -> T + Clone + Send + 'static,
    mut spawn: impl FnMut(Box<dyn FnOnce() + Send>),
    started: Started<T>,
) -> Result<Vec<T>>
where
    A: Send + 'static,
    T: Clone + Send + Sync + 'static,
    I: Iterator<Item = A> + Send,
{
    let Started {
        size,
        finish,
        outcome,
    } = started;
    let slots = match Slots::<T>::new(len, size) {
        Ok(slots) => Arc::new(slots),
        Err(e) => {
            finish(Err(Error::InvalidState(format!(
                "no room for a map's {len} values ({e})"
            ))));
            return outcome.into_result();
        }
    };
    // At least one puller, to find out whether an empty promise holds.
    let pullers = workers.min(slots.ranges()).max(1);
    let mut items = items;
    let input: &mut (dyn Pull<A> + '_) = &mut items;
    // SAFETY: only the lifetime changes (same pointer, same vtable). The erased borrow of
    // `items` ends before `items` does: `loan`, declared after `items`, takes the pointer out of
    // the feed when dropped (rule 3), on return and on unwind alike, and the pointer is used
    // only under the feed's mutex (rule 2).
    let lent = unsafe {
        std::mem::transmute::<NonNull<dyn Pull<A> + '_>, NonNull<dyn Pull<A> + 'static>>(
            NonNull::from(input),
        )
    };
    let feed = Arc::new(Feed {
        state: Mutex::new(State {
            input: Some(Lent(lent)),
            cut: 0,
            next_range: 0,
            slots: Some(slots),
            first_error: None,
            panic: None,
            live: pullers,
            finish: Some(finish),
        }),
        len,
        size: size.max(1),
    });
    let loan = Loan(&feed);
    for _ in 0..pullers {
        let puller = Puller(Arc::clone(&feed));
        let f = f.clone();
        spawn(Box::new(move || puller.run(&f)));
    }
    let outcome = outcome.into_result();
    drop(loan);
    let panic = feed.lock().panic.take();
    if let Some(payload) = panic {
        panic::resume_unwind(payload);
    }
    outcome
}

#[cfg(test)]
mod tests {
    //! The loan under threads, short of a pool: pullers run on plain threads (or are dropped
    //! unrun), and `wait` is a channel. These run under Miri.
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    /// Runs `map` with pullers on threads of their own; `drop_first` pullers are dropped
    /// unrun. Returns the outcome and the threads, joined.
    fn run_map<I: Iterator<Item = u32> + Send>(
        items: I,
        len: usize,
        size: usize,
        workers: usize,
        drop_first: usize,
    ) -> Result<Vec<String>> {
        let (promise, outcome) = crate::future::pair();
        let mut threads = Vec::new();
        let mut dropped = 0;
        let started = Started {
            size,
            finish: Box::new(move |list| {
                let _ = promise.complete(list);
            }),
            outcome,
        };
        let outcome = map(
            items,
            len,
            workers,
            |x: u32| format!("<{x}>"),
            |puller| {
                if dropped < drop_first {
                    dropped += 1;
                    drop(puller);
                } else {
                    threads.push(thread::spawn(puller));
                }
            },
            started,
        );
        for t in threads {
            t.join().unwrap();
        }
        outcome
    }

    fn want(n: u32) -> Vec<String> {
        (0..n).map(|x| format!("<{x}>")).collect()
    }

    #[test]
    fn every_chunk_lands_in_order_whoever_pulls_it() {
        for (n, size, workers) in [(10, 3, 2), (7, 7, 3), (1, 5, 2), (12, 1, 4)] {
            let got = run_map(0..n, n as usize, size, workers, 0).unwrap();
            assert_eq!(
                got,
                want(n),
                "{n} items, chunks of {size}, {workers} pullers"
            );
        }
    }

    #[test]
    fn an_empty_input_gives_an_empty_list() {
        assert_eq!(run_map(0..0, 0, 4, 2, 0).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_borrowed_input_is_taken_back_before_it_goes() {
        // The input borrows a local: the loan must end before `words` does.
        let words: Vec<u32> = (0..9).collect();
        let got = run_map(words.iter().copied(), 9, 2, 3, 0).unwrap();
        assert_eq!(got, want(9));
    }

    #[test]
    fn pullers_dropped_unrun_leave_the_rest_to_the_others() {
        let got = run_map(0..10, 10, 3, 3, 2).unwrap();
        assert_eq!(got, want(10));
    }

    #[test]
    fn no_puller_run_fails_the_map() {
        let err = run_map(0..10, 10, 3, 2, 2).unwrap_err();
        assert!(err.is_invalid_state(), "{err}");
    }

    #[test]
    fn a_wrong_size_is_an_error_either_way() {
        let short = run_map(0..3, 5, 2, 2, 0).unwrap_err();
        assert!(short.to_string().contains("yielded 3"), "{short}");
        let long = run_map(0..8, 4, 2, 2, 0).unwrap_err();
        assert!(long.to_string().contains("yielded more"), "{long}");
    }

    #[test]
    fn a_panicking_input_panics_in_the_caller_after_the_map() {
        let input = (0..10u32).inspect(|&x| assert!(x != 6, "input broke at {x}"));
        let caught = panic::catch_unwind(AssertUnwindSafe(|| run_map(input, 10, 2, 2, 0)));
        let payload = caught.expect_err("the input's panic reaches the caller");
        let message = crate::unwind::payload_message(&*payload);
        assert!(message.contains("input broke at 6"), "{message}");
    }

    #[test]
    fn a_late_puller_finds_the_input_taken_back() {
        // The map is over (a terminate, as far as the caller knows) before this puller runs.
        let (tx, rx) = mpsc::channel();
        let mut late = None;
        let started = Started {
            size: 5,
            finish: Box::new(move |list| {
                let _ = tx.send(list);
            }),
            outcome: crate::future::Future::completed(Err(Error::Terminated)),
        };
        let outcome = map(
            0..10u32,
            10,
            1,
            |x: u32| x,
            |puller| late = Some(puller),
            started,
        );
        assert!(matches!(outcome, Err(Error::Terminated)));
        late.expect("one puller")();
        // It ran after the loan ended: it found no input and ended the map.
        assert!(rx.recv().unwrap().is_err());
    }
}
