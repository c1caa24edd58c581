//! The thread pool's `map`, its input read by the workers: the caller lends its iterator to
//! the pool for the length of the call; each worker takes the next chunk of items from it and
//! writes the chunk's values into the chunk's range of the list ([`Slots`]).
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
//!    whose lifetime is erased, kept in the feed.
//! 2. One puller at a time uses it: the one that set `pulling` under the feed's mutex, until
//!    it clears `pulling` under the mutex again (the iterator is `Send`, so any one thread may
//!    use it). The items are taken outside the mutex.
//! 3. Before [`map`] returns, or unwinds, [`Loan`]'s drop takes the pointer out under the mutex
//!    and waits until no puller is `pulling`: a puller that runs later (after a `terminate`
//!    failed the map early, say) finds no input. That is the pointer's last use; the iterator
//!    is dropped after it.
//!
//! # Never in the way of other work
//! A puller that finds another one taking items does not wait for it: it parks (its task
//! ends, freeing its thread) and the other gives it back to the pool when done. So an input
//! whose `next` waits for work in the same pool still gets a thread for that work. Each puller
//! takes chunks until the input is used up, so work submitted after a long map waits for its
//! end (Python queues each chunk as a task of its own, and later work interleaves).
//!
//! A panic in the iterator's `next` is caught in the puller, ends the input, and is raised again
//! on the caller's thread once the map is over (Python raises from the iterable in the caller).
//! A puller the pool drops unrun (a `terminate`) ends its share of the map all the same.
//!
//! Miri runs this module's tests (`scripts/miri.sh`).
#![allow(unsafe_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::list::{self, Finish, Started};
use super::slots::{Range, Slots};
use crate::error::{Error, Result};
use crate::future::Future;

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

// A copy of the pointer, not of the iterator (`derive` would ask for `A: Copy`).
impl<A> Clone for Lent<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Lent<A> {}

// SAFETY: the iterator behind the pointer is `Send` (`Pull: Send`), and only the one puller
// that set `pulling` uses it (rule 2), so moving the pointer to another thread moves the right
// to use the iterator there, one thread at a time.
unsafe impl<A> Send for Lent<A> {}

impl<A> Lent<A> {
    /// The iterator.
    ///
    /// # Safety
    /// Only by the puller that set `pulling` under the feed's mutex, until it clears it, and
    /// only while the loan lasts: the pointer was read from the feed in the same critical
    /// section that set `pulling`, and the loan does not end while `pulling` is set (rule 3).
    unsafe fn input<'a>(self) -> &'a mut (dyn Pull<A> + 'static) {
        let mut pointer = self.0;
        // SAFETY: no other reference to the iterator is live (rule 2: only the `pulling`
        // puller uses it) and the iterator is alive (rule 3: the loan waits for `pulling`).
        unsafe { pointer.as_mut() }
    }
}

/// A puller's task: the job the pool runs, submitted through `spawn`.
type Job = Box<dyn FnOnce() + Send>;

/// What the caller and the pullers share.
struct Feed<A: 'static, T, F> {
    state: Mutex<State<A, T, F>>,
    /// Notified when `pulling` is cleared (the loan's end waits for it).
    settled: Condvar,
    /// Items the input promised (its exact size, or its collected length).
    len: usize,
    /// Items a chunk.
    size: usize,
    f: F,
    /// Gives a job to the pool.
    spawn: Box<dyn Fn(Job) -> Future<()> + Send + Sync>,
}

struct State<A: 'static, T, F> {
    /// The input while lent and not used up.
    input: Option<Lent<A>>,
    /// A puller is taking items from the input (rule 2).
    pulling: bool,
    /// Pullers that found another one taking items, given back to the pool when it is done.
    parked: Vec<Puller<A, T, F>>,
    /// Items taken so far.
    cut: usize,
    /// The range the next chunk writes.
    next_range: usize,
    /// The list being written; taken out by the last puller to end.
    slots: Option<Arc<Slots<T>>>,
    first_error: Option<Error>,
    /// A panic raised by the input's `next`.
    panic: Option<Box<dyn Any + Send>>,
    /// Shares of the map not yet ended: the pullers (run, parked or dropped unrun), and the
    /// caller's while it spawns them (`Puller::share`).
    live: usize,
    finish: Option<Finish<T>>,
}

/// What a puller's turn at the input gave.
enum Took {
    /// `want` items (0: the check for items beyond the promised length).
    Items,
    /// The input yielded `n` items, fewer than wanted.
    Short(usize),
    /// The input yielded an item beyond its promised length.
    More,
    Panicked(Box<dyn Any + Send>),
}

impl<A, T, F> Feed<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State<A, T, F>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives `puller` to the pool; a refusal drops it, which ends its share.
    fn spawn(&self, puller: Puller<A, T, F>) -> Future<()> {
        (self.spawn)(Box::new(move || puller.run()))
    }

    /// `puller`'s next chunk: its items in `buf`, and its range. `None` when the puller is
    /// done: the input is used up, ended or taken back, or another puller is taking items
    /// (this one is then parked, to be given back to the pool when that one is done).
    fn next_chunk(
        &self,
        puller: Puller<A, T, F>,
        buf: &mut Vec<A>,
    ) -> Option<(Puller<A, T, F>, Range<T>)> {
        let mut state = self.lock();
        if state.pulling {
            state.parked.push(puller);
            return None;
        }
        let Some(lent) = state.input else {
            drop(state);
            drop(puller);
            return None;
        };
        let want = self.size.min(self.len - state.cut);
        state.pulling = true;
        drop(state);

        buf.clear();
        let took = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: this puller set `pulling` in the critical section that read `lent` from
            // the feed, and clears it below: the conditions of `Lent::input`.
            let input = unsafe { lent.input() };
            if want == 0 {
                // Every promised item is taken: an input that yields more lied about its size.
                if input.more() {
                    Took::More
                } else {
                    Took::Items
                }
            } else {
                input.pull(want, buf);
                if buf.len() < want {
                    Took::Short(buf.len())
                } else {
                    Took::Items
                }
            }
        }))
        .unwrap_or_else(Took::Panicked);

        let mut state = self.lock();
        state.pulling = false;
        if state.input.is_none() {
            // The loan's end waits for this (it takes the input out first).
            self.settled.notify_all();
        }
        let range = if matches!(took, Took::Items) && want > 0 {
            state.cut += want;
            let index = state.next_range;
            state.next_range += 1;
            state.slots.as_ref().map(|slots| Slots::range(slots, index))
        } else {
            // The input is used up, lied about its size, or panicked: it is read no more.
            state.input = None;
            match took {
                Took::Items => {}
                Took::More => state.fail(list::miscount(self.len, None)),
                Took::Short(n) => {
                    let yielded = state.cut + n;
                    state.fail(list::miscount(self.len, Some(yielded)));
                }
                Took::Panicked(payload) => state.panic = Some(payload),
            }
            None
        };
        // Taken last, so nothing can unwind with the pullers held under the lock (their drop
        // takes it).
        let parked = std::mem::take(&mut state.parked);
        drop(state);
        if range.is_none() {
            buf.clear();
        }
        // Out of the lock: a refused puller's drop takes it.
        for waiting in parked {
            drop(self.spawn(waiting));
        }
        match range {
            Some(range) => Some((puller, range)),
            None => {
                drop(puller);
                None
            }
        }
    }

    fn failed(&self, error: Error) {
        self.lock().fail(error);
    }
}

impl<A, T, F> State<A, T, F> {
    fn fail(&mut self, error: Error) {
        self.first_error.get_or_insert(error);
    }
}

/// One share of the map: ends it when dropped, run or not; the last to end makes the list and
/// hands it to `finish`.
struct Puller<A: 'static, T, F>(Arc<Feed<A, T, F>>);

impl<A, T, F> Puller<A, T, F>
where
    A: Send + 'static,
    T: Send + 'static,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    /// A new share of the map (counted at once, so an unwind before it is spawned still
    /// leaves the count right: the share ends when dropped).
    fn share(feed: &Arc<Feed<A, T, F>>) -> Self {
        feed.lock().live += 1;
        Puller(Arc::clone(feed))
    }

    /// Takes chunks and writes their values until the input is used up (or another puller
    /// holds it: see `next_chunk`).
    fn run(self) {
        let feed = Arc::clone(&self.0);
        let mut buf = Vec::new();
        let mut puller = self;
        while let Some((next, range)) = feed.next_chunk(puller, &mut buf) {
            if let Some(e) = range.fill(&feed.f, buf.drain(..)) {
                feed.failed(e);
            }
            puller = next;
        }
    }
}

impl<A, T, F> Drop for Puller<A, T, F> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.live -= 1;
        if state.live > 0 {
            return;
        }
        let slots = state.slots.take();
        let first_error = state.first_error.take();
        let finish = state.finish.take();
        drop(state);
        // Every share has ended, so every range has been dropped: `slots` is unique.
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
struct Loan<'a, A: 'static, T, F>(&'a Feed<A, T, F>);

impl<A, T, F> Drop for Loan<'_, A, T, F> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.input = None;
        while state.pulling {
            state = self
                .0
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Maps `f` over the `len` items of `items` in chunks of `started.size`, pulled by up to
/// `workers` tasks given to the pool by `spawn` (which returns the task's future: a puller the
/// pool refuses or fails fails the map with that error); `started.finish` gets the list (or the
/// first error) when the last puller ends. Waits for `started.outcome` (the list, or an earlier
/// failure such as a `terminate`) and returns it once the input is taken back; a panic raised
/// by the input is raised again here.
pub(crate) fn map<A, T, I, F>(
    items: I,
    len: usize,
    workers: usize,
    f: F,
    spawn: impl Fn(Job) -> Future<()> + Send + Sync + 'static,
    started: Started<T>,
) -> Result<Vec<T>>
where
    A: Send + 'static,
    T: Send + 'static,
    I: Iterator<Item = A> + Send,
    F: Fn(A) -> T + Send + Sync + 'static,
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
            return outcome.into_unique_result();
        }
    };
    // At least one puller, to find out whether an empty promise holds.
    let pullers = workers.min(slots.ranges()).max(1);
    let mut items = items;
    let input: &mut (dyn Pull<A> + '_) = &mut items;
    // SAFETY: only the lifetime changes (same pointer, same vtable). The erased borrow of
    // `items` ends before `items` does: `loan`, declared after `items`, takes the pointer out of
    // the feed and waits for the puller using it when dropped (rule 3), on return and on unwind
    // alike, and only one puller at a time uses it (rule 2).
    let lent = unsafe {
        std::mem::transmute::<NonNull<dyn Pull<A> + '_>, NonNull<dyn Pull<A> + 'static>>(
            NonNull::from(input),
        )
    };
    let feed = Arc::new(Feed {
        state: Mutex::new(State {
            input: Some(Lent(lent)),
            pulling: false,
            parked: Vec::new(),
            cut: 0,
            next_range: 0,
            slots: Some(slots),
            first_error: None,
            panic: None,
            live: 0,
            finish: Some(finish),
        }),
        settled: Condvar::new(),
        len,
        size: size.max(1),
        f,
        spawn: Box::new(spawn),
    });
    let loan = Loan(&feed);
    // The caller's share: no puller refused on the spot can finish the map before its
    // refusal is recorded.
    let caller = Puller::share(&feed);
    for _ in 0..pullers {
        let spawned = feed.spawn(Puller::share(&feed));
        let recorder = Arc::clone(&feed);
        spawned.add_done_callback(move |spawned| {
            if let Some(Err(e)) = spawned.try_result() {
                recorder.failed(e.clone());
            }
        });
    }
    drop(caller);
    let outcome = outcome.into_unique_result();
    drop(loan);
    let panic = feed.lock().panic.take();
    if let Some(payload) = panic {
        panic::resume_unwind(payload);
    }
    outcome
}

#[cfg(test)]
mod tests {
    //! The loan under threads, short of a pool: pullers run on plain threads (or are refused),
    //! and the outcome is a promise's future. These run under Miri.
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread;

    type Threads = Arc<Mutex<Vec<thread::JoinHandle<()>>>>;

    /// A `spawn` that runs each job on a thread of its own, refusing the first `refuse`
    /// (dropping them, as a pool that is shut down does).
    fn on_threads(refuse: usize) -> (impl Fn(Job) -> Future<()> + Send + Sync, Threads) {
        let threads: Threads = Arc::default();
        let refused = AtomicUsize::new(0);
        let t = Arc::clone(&threads);
        let spawn = move |job: Job| {
            if refused.fetch_add(1, Ordering::SeqCst) < refuse {
                drop(job);
                return Future::completed(Err(Error::Shutdown));
            }
            t.lock().unwrap().push(thread::spawn(job));
            Future::completed(Ok(()))
        };
        (spawn, threads)
    }

    fn join(threads: &Threads) {
        // Revived pullers may add threads while earlier ones are joined.
        loop {
            let next = threads.lock().unwrap().pop();
            match next {
                Some(t) => t.join().unwrap(),
                None => return,
            }
        }
    }

    fn started<T: Send + Sync + 'static>(size: usize) -> Started<T> {
        let (promise, outcome) = crate::future::pair();
        Started {
            size,
            finish: Box::new(move |list| {
                let _ = promise.complete(list);
            }),
            outcome,
        }
    }

    fn run_map<I: Iterator<Item = u32> + Send>(
        items: I,
        len: usize,
        size: usize,
        workers: usize,
        refuse: usize,
    ) -> Result<Vec<String>> {
        let (spawn, threads) = on_threads(refuse);
        let outcome = map(
            items,
            len,
            workers,
            |x: u32| format!("<{x}>"),
            spawn,
            started(size),
        );
        join(&threads);
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
    fn pullers_refused_leave_the_rest_to_the_others_and_fail_the_map() {
        // The others write the whole list; the refusal is the map's error.
        let err = run_map(0..10, 10, 3, 3, 2).unwrap_err();
        assert!(matches!(err, Error::Shutdown), "{err}");
    }

    #[test]
    fn no_puller_run_fails_the_map_with_the_refusal() {
        let err = run_map(0..10, 10, 3, 2, 2).unwrap_err();
        assert!(matches!(err, Error::Shutdown), "{err}");
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
    fn a_puller_waiting_for_the_input_parks_and_is_given_back() {
        // The input's `next` blocks until the test says so: the second puller finds the first
        // taking items, parks (its thread ends) and is spawned again when the first is done.
        let (go, gate) = mpsc::channel::<()>();
        let (entered, inside) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let entered = Mutex::new(entered);
        let input = (0..6u32).inspect(move |&x| {
            if x == 0 {
                entered.lock().unwrap().send(()).unwrap();
                gate.lock().unwrap().recv().unwrap();
            }
        });
        let (spawn, threads) = on_threads(0);
        let spawned = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&spawned);
        let (ended, task_ended) = mpsc::channel::<()>();
        let ended = Mutex::new(ended);
        let spawn = move |job: Job| {
            count.fetch_add(1, Ordering::SeqCst);
            let ended = ended.lock().unwrap().clone();
            spawn(Box::new(move || {
                job();
                let _ = ended.send(());
            }))
        };
        thread::scope(|s| {
            let mapping = s.spawn(|| map(input, 6, 2, |x: u32| x * 3, spawn, started(2)));
            inside.recv().unwrap();
            // Both pullers spawned; the one not holding the input ends its task parked while
            // the other is still inside the input.
            task_ended.recv().unwrap();
            go.send(()).unwrap();
            assert_eq!(mapping.join().unwrap().unwrap(), [0, 3, 6, 9, 12, 15]);
        });
        join(&threads);
        // Two pullers, and the parked one given back (again if it parks again).
        assert!(spawned.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn a_late_puller_finds_the_input_taken_back() {
        // The map is over (a terminate, as far as the caller knows) before this puller runs.
        let (tx, rx) = mpsc::channel();
        let late: Arc<Mutex<Option<Job>>> = Arc::default();
        let keep = Arc::clone(&late);
        let spawn = move |job: Job| {
            *keep.lock().unwrap() = Some(job);
            Future::completed(Ok(()))
        };
        let started = Started {
            size: 5,
            finish: Box::new(move |list| {
                let _ = tx.send(list);
            }),
            outcome: Future::completed(Err(Error::Terminated)),
        };
        let outcome = map(0..10u32, 10, 1, |x: u32| x, spawn, started);
        assert!(matches!(outcome, Err(Error::Terminated)));
        let job = late.lock().unwrap().take().expect("one puller");
        job();
        // It ran after the loan ended: it found no input and ended the map.
        assert!(rx.recv().unwrap().is_err());
    }
}
