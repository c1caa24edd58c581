//! The Pool interface (Python's `multiprocessing.pool`): [`ThreadPool`] today, the process
//! `Pool` when the process engine lands.
//!
//! A [`Pool`] is a thin facade: it owns no workers. It drives an executor's workers (the
//! [`ThreadPoolExecutor`]'s for [`ThreadPool`]) and hands back [`AsyncResult`]s that are views
//! over the one [`Future`].
//!
//! # How a result travels
//!
//! 1. `apply_async` submits the call to the executor and creates the *outer* future the
//!    [`AsyncResult`] shows. The outer promise is registered in the pool's outstanding set.
//! 2. When the call's future completes, its done-callback hands the outcome to the pool's
//!    result-handling thread (started on first use) if a callback is set, or completes the
//!    outer promise at once if not.
//! 3. The result-handling thread runs `callback(&value)` or `error_callback(&error)` — a panic
//!    there is reported on stderr and the thread carries on (Python's gh-83371 wedges the pool)
//!    — and then completes the outer promise: as in Python, a result is ready only after its
//!    callback ran.
//! 4. `terminate` fails every outstanding outer promise with [`Error::Terminated`] at once;
//!    Python leaves them pending forever.
//!
//! # Lifecycle
//!
//! Python's rules: `close` stops new work and lets queued work finish; `terminate` cancels
//! queued work and fails every outstanding result; `join` (only after `close` or `terminate`,
//! else [`Error::InvalidState`]) waits for the workers and the pending callbacks. Work given
//! to a pool that is not running fails its result with [`Error::InvalidState`].
//!
//! `Drop` is `terminate` then `join`, as leaving Python's `with Pool()` block terminates: wait
//! for your results first, as the examples do. Threads cannot be killed, so a task that is
//! already running finishes (its result is failed with `Terminated` all the same).
//!
//! `map` and `imap` split the input into chunks (one submitted call each); unlike Python,
//! a failing item fails only its own position, never its whole chunk.

mod async_result;
mod imap;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::Sender;

pub use async_result::AsyncResult;
pub use imap::{IMap, IMapUnordered};

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::future::{self, Future, Promise};
use crate::thread_pool::ThreadPoolExecutor;
use crate::unwind;

/// Python's `multiprocessing.pool.ThreadPool`.
pub type ThreadPool = Pool<ThreadPoolExecutor>;

/// A Pool facade over executor `E` (see the [module docs](self)).
pub struct Pool<E: Executor> {
    executor: E,
    processes: usize,
    lifecycle: Mutex<Lifecycle>,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Running,
    Closed,
    Terminated,
}

/// Work for the result-handling thread.
type HandlerJob = Box<dyn FnOnce() + Send>;
type OnSuccess<T> = Box<dyn FnOnce(&T) + Send>;
type OnError = Box<dyn FnOnce(&Error) + Send>;

/// What the pool's results and callbacks share.
#[derive(Default)]
struct Shared {
    /// The result-handling thread's queue; started on first use.
    handler: Mutex<Option<Sender<HandlerJob>>>,
    outstanding: Mutex<Outstanding>,
}

#[derive(Default)]
struct Outstanding {
    next: u64,
    /// Fails an outstanding outer promise with `Terminated`.
    fail: HashMap<u64, Box<dyn FnOnce() + Send>>,
}

impl Shared {
    /// Runs `job` on the result-handling thread (Python's `_handle_results`).
    fn on_handler(&self, job: HandlerJob) {
        let mut handler = self.handler.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = handler.get_or_insert_with(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<HandlerJob>();
            // Exits when the pool (and every result in flight) is gone.
            let spawned = std::thread::Builder::new()
                .name("concurra-pool-results".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                });
            if let Err(e) = spawned {
                eprintln!(
                    "concurra: cannot start the pool's result thread ({e}); callbacks run inline"
                );
            }
            tx
        });
        if let Err(crossbeam_channel::SendError(job)) = sender.send(job) {
            job();
        }
    }

    /// Registers an outer promise so that `terminate` can fail it; returns the relay that
    /// completes it.
    fn relay<T: Send + Sync + 'static>(self: &Arc<Self>, promise: Promise<T>) -> Relay<T> {
        let slot = Arc::new(Mutex::new(Some(promise)));
        let mut outstanding = self
            .outstanding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = outstanding.next;
        outstanding.next += 1;
        let weak = Arc::downgrade(&slot);
        outstanding.fail.insert(
            id,
            Box::new(move || {
                if let Some(slot) = weak.upgrade() {
                    let promise = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(p) = promise {
                        let _ = p.set_error(Error::Terminated);
                    }
                }
            }),
        );
        Relay {
            slot,
            id,
            shared: self.clone(),
        }
    }

    fn terminate_outstanding(&self) {
        let fail = std::mem::take(
            &mut self
                .outstanding
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .fail,
        );
        for (_, f) in fail {
            f();
        }
    }

    /// Blocks until every job queued on the result thread so far has run.
    fn drain_handler(&self) {
        let (done, finished) = future::pair::<()>();
        self.on_handler(Box::new(move || {
            let _ = done.set_result(());
        }));
        finished.wait();
    }
}

/// Completes one outer promise, once, unless `terminate` got there first.
struct Relay<T> {
    slot: Arc<Mutex<Option<Promise<T>>>>,
    id: u64,
    shared: Arc<Shared>,
}

impl<T> Relay<T> {
    fn complete(self, outcome: Result<T>) {
        self.shared
            .outstanding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fail
            .remove(&self.id);
        let promise = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(p) = promise {
            let _ = p.complete(outcome);
        }
    }
}

/// Callbacks for an `*_async` call (Python's `callback` and `error_callback`). They run on the
/// pool's result-handling thread, before the result becomes ready.
pub struct Callbacks<T> {
    on_success: Option<OnSuccess<T>>,
    on_error: Option<OnError>,
}

impl<T> Callbacks<T> {
    /// No callbacks.
    pub fn new() -> Self {
        Callbacks {
            on_success: None,
            on_error: None,
        }
    }

    /// Python's `callback`: called with the value.
    pub fn on_success(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.on_success = Some(Box::new(f));
        self
    }

    /// Python's `error_callback`: called with the error.
    pub fn on_error(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }

    fn is_empty(&self) -> bool {
        self.on_success.is_none() && self.on_error.is_none()
    }

    fn run(self, outcome: &Result<T>) {
        match outcome {
            Ok(v) => {
                if let Some(f) = self.on_success {
                    unwind::report(&"a pool callback", || f(v));
                }
            }
            Err(e) => {
                if let Some(f) = self.on_error {
                    unwind::report(&"a pool error_callback", || f(e));
                }
            }
        }
    }
}

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("on_success", &self.on_success.is_some())
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

impl ThreadPool {
    /// A thread pool of `processes` threads (Python: `ThreadPool(processes)`); `None` means
    /// the CPU count.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if `processes` is `Some(0)`.
    pub fn new(processes: Option<usize>) -> Result<Self> {
        Self::with_executor_builder(processes, ThreadPoolExecutor::builder())
    }

    /// As [`new`](Self::new), running `initializer` in each worker first.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_initializer(
        processes: Option<usize>,
        initializer: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self> {
        Self::with_executor_builder(
            processes,
            ThreadPoolExecutor::builder().initializer(initializer),
        )
    }

    fn with_executor_builder(
        processes: Option<usize>,
        builder: crate::thread_pool::Builder,
    ) -> Result<Self> {
        let processes = match processes {
            Some(0) => {
                return Err(Error::InvalidState(
                    "Number of processes must be at least 1".into(),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let executor = builder
            .max_workers(processes)
            .thread_name_prefix("ThreadPool")
            .build()?;
        Ok(Pool {
            executor,
            processes,
            lifecycle: Mutex::new(Lifecycle::Running),
            shared: Arc::new(Shared::default()),
        })
    }

    /// Runs `f` on a worker and waits for its value (Python: `apply`).
    ///
    /// # Errors
    /// The task's error, or [`Error::InvalidState`] if the pool is not running.
    pub fn apply<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.apply_async(f).get()
    }

    /// Runs `f` on a worker; returns at once (Python: `apply_async`).
    pub fn apply_async<F, T>(&self, f: F) -> AsyncResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.apply_async_with(f, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` / `error_callback`.
    ///
    /// ```
    /// use concurra::pool::{Callbacks, ThreadPool};
    ///
    /// let pool = ThreadPool::new(Some(2)).unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let r = pool.apply_async_with(|| 2 + 2, Callbacks::new().on_success(move |v| tx.send(*v).unwrap()));
    /// assert_eq!(r.get().unwrap(), 4);
    /// assert_eq!(rx.recv().unwrap(), 4);
    /// ```
    pub fn apply_async_with<F, T>(&self, f: F, callbacks: Callbacks<T>) -> AsyncResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        if let Err(e) = self.check_running() {
            return AsyncResult::new(Future::completed(Err(e)));
        }
        let inner = self.executor.submit(f);
        self.relay_outcome(inner, callbacks)
    }

    /// `f` over `items`, in order, as one list (Python: `map`). `chunksize` `None` computes
    /// Python's default, `ceil(len / (4 * processes))`.
    ///
    /// # Errors
    /// The first item's error to arrive (as Python, after every chunk ran);
    /// [`Error::InvalidState`] for `chunksize` 0 or a pool that is not running.
    pub fn map<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<T>>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.map_async(f, items, chunksize, Callbacks::new()).get()
    }

    /// [`map`](Self::map) returning at once (Python: `map_async`); the callback gets the
    /// whole list.
    pub fn map_async<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<T>>,
    ) -> AsyncResult<Vec<T>>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        // Python turns the input into a list to learn its length; an exact size hint spares
        // that copy.
        let items = items.into_iter();
        let (items, len) = match items.size_hint() {
            (lo, Some(hi)) if lo == hi => (Either::Exact(items), lo),
            _ => {
                let all: Vec<A> = items.collect();
                let len = all.len();
                (Either::Collected(all.into_iter()), len)
            }
        };
        let chunks = match self
            .check_running()
            .and_then(|()| self.chunksize(len, chunksize))
        {
            Ok(size) => chunk(items, len, size),
            Err(e) => return AsyncResult::new(Future::completed(Err(e))),
        };
        let f = Arc::new(f);
        let parts: Vec<_> = chunks
            .into_iter()
            .map(|c| self.submit_chunk(&f, c))
            .collect();
        let (promise, outer) = future::pair::<Vec<T>>();
        let gathered = gather(parts);
        gathered.add_done_callback({
            let relay = self.shared.relay(promise);
            let shared = self.shared.clone();
            move |g| {
                relay_done(
                    &shared,
                    relay,
                    g.try_result().expect("done").clone(),
                    callbacks,
                )
            }
        });
        AsyncResult::new(outer)
    }

    /// `f` applied to each tuple of arguments (Python: `starmap`).
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<T>>
    where
        A: Args<F, Output = T> + Send + 'static,
        F: Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.map(move |args: A| args.apply(&f), items, chunksize)
    }

    /// [`starmap`](Self::starmap) returning at once (Python: `starmap_async`).
    pub fn starmap_async<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callbacks: Callbacks<Vec<T>>,
    ) -> AsyncResult<Vec<T>>
    where
        A: Args<F, Output = T> + Send + 'static,
        F: Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.map_async(move |args: A| args.apply(&f), items, chunksize, callbacks)
    }

    /// Lazy, ordered results of `f` over `items`, `chunksize` items per call (Python: `imap`).
    /// A failed item yields its error at its position and the later items still come.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for `chunksize` 0 or a pool that is not running.
    pub fn imap<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'_, F, I::IntoIter, T>>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.check_running()?;
        let chunksize = self.chunksize(1, Some(chunksize))?;
        Ok(IMap::new(self, Arc::new(f), items.into_iter(), chunksize))
    }

    /// Lazy results in completion order (Python: `imap_unordered`).
    ///
    /// # Errors
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMapUnordered<'_, F, I::IntoIter, T>>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        A: Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        self.check_running()?;
        let chunksize = self.chunksize(1, Some(chunksize))?;
        Ok(IMapUnordered::new(
            self,
            Arc::new(f),
            items.into_iter(),
            chunksize,
        ))
    }

    /// Submits one chunk; one failing item fails only its own position.
    fn submit_chunk<F, A, T>(&self, f: &Arc<F>, items: Vec<A>) -> Future<Chunk<T>>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + Sync + 'static,
    {
        let f = f.clone();
        self.executor.submit(move || Chunk::run(&*f, items))
    }

    fn relay_outcome<T>(&self, inner: Future<T>, callbacks: Callbacks<T>) -> AsyncResult<T>
    where
        T: Clone + Send + Sync + 'static,
    {
        let (promise, outer) = future::pair();
        let relay = self.shared.relay(promise);
        let shared = self.shared.clone();
        inner.add_done_callback(move |f| {
            relay_done(
                &shared,
                relay,
                f.try_result().expect("done").clone(),
                callbacks,
            )
        });
        AsyncResult::new(outer)
    }
}

/// Step 2–3 of the module protocol: callbacks on the result thread, then the outer promise.
fn relay_done<T: Send + Sync + 'static>(
    shared: &Shared,
    relay: Relay<T>,
    outcome: Result<T>,
    callbacks: Callbacks<T>,
) {
    if callbacks.is_empty() {
        relay.complete(outcome);
    } else {
        shared.on_handler(Box::new(move || {
            callbacks.run(&outcome);
            relay.complete(outcome);
        }));
    }
}

/// The outcome of one chunk: the values of the items that succeeded, in order, and the
/// errors of those that failed, by position in the chunk.
#[derive(Clone)]
pub(crate) struct Chunk<T> {
    values: Vec<T>,
    errors: Vec<(usize, Error)>,
}

impl<T> Chunk<T> {
    /// Runs `f` over `items` under one catch; after a panic, goes on with the next item under
    /// a new one (a catch per item would cost more than a small `f`).
    fn run<A>(f: &(impl Fn(A) -> T + ?Sized), items: Vec<A>) -> Chunk<T> {
        let mut chunk = Chunk {
            values: Vec::with_capacity(items.len()),
            errors: Vec::new(),
        };
        let mut items = items.into_iter();
        let mut position = 0;
        loop {
            let run = unwind::catch(|| {
                for item in items.by_ref() {
                    position += 1;
                    chunk.values.push(f(item));
                }
            });
            match run {
                Ok(()) => return chunk,
                Err(e) => chunk.errors.push((position - 1, e)),
            }
        }
    }

    fn first_error(&self) -> Option<&Error> {
        self.errors.first().map(|(_, e)| e)
    }

    /// Every item's outcome, in order.
    fn outcomes(&self) -> impl Iterator<Item = Result<T>> + '_
    where
        T: Clone,
    {
        let len = self.values.len() + self.errors.len();
        let mut values = self.values.iter();
        let mut errors = self.errors.iter().peekable();
        (0..len).map(move |i| match errors.peek() {
            Some((at, e)) if *at == i => {
                errors.next();
                Err(e.clone())
            }
            _ => Ok(values
                .next()
                .expect("one value per successful item")
                .clone()),
        })
    }
}

/// One future for many chunks: the list in order, or the first error to arrive once every
/// chunk is done (Python's `map` does not fail fast).
fn gather<T>(parts: Vec<Future<Chunk<T>>>) -> Future<Vec<T>>
where
    T: Clone + Send + Sync + 'static,
{
    struct Gather<T> {
        parts: Vec<Future<Chunk<T>>>,
        remaining: usize,
        first_error: Option<Error>,
        promise: Option<Promise<Vec<T>>>,
    }
    let (promise, future) = future::pair();
    if parts.is_empty() {
        let _ = promise.set_result(Vec::new());
        return future;
    }
    let state = Arc::new(Mutex::new(Gather {
        parts: parts.clone(),
        remaining: parts.len(),
        first_error: None,
        promise: Some(promise),
    }));
    for part in parts {
        let state = state.clone();
        part.add_done_callback(move |part| {
            let mut g = state.lock().unwrap_or_else(PoisonError::into_inner);
            if g.first_error.is_none() {
                g.first_error = match part.try_result().expect("done") {
                    Ok(chunk) => chunk.first_error().cloned(),
                    Err(e) => Some(e.clone()),
                };
            }
            g.remaining -= 1;
            if g.remaining > 0 {
                return;
            }
            let promise = g.promise.take().expect("completed once");
            let outcome = match g.first_error.take() {
                Some(e) => Err(e),
                None => {
                    let mut out = Vec::new();
                    for part in &g.parts {
                        if let Some(Ok(chunk)) = part.try_result() {
                            out.extend_from_slice(&chunk.values);
                        }
                    }
                    Ok(out)
                }
            };
            g.parts.clear();
            drop(g);
            let _ = promise.complete(outcome);
        });
    }
    future
}

/// An input read directly (its size was exact) or through a collected `Vec`.
enum Either<I, V> {
    Exact(I),
    Collected(V),
}

impl<A, I: Iterator<Item = A>, V: Iterator<Item = A>> Iterator for Either<I, V> {
    type Item = A;

    fn next(&mut self) -> Option<A> {
        match self {
            Either::Exact(i) => i.next(),
            Either::Collected(v) => v.next(),
        }
    }
}

/// Cuts `len` items into chunks of `size`.
fn chunk<A>(mut items: impl Iterator<Item = A>, len: usize, size: usize) -> Vec<Vec<A>> {
    let mut chunks = Vec::with_capacity(len.div_ceil(size));
    loop {
        let chunk: Vec<A> = items.by_ref().take(size).collect();
        if chunk.is_empty() {
            return chunks;
        }
        chunks.push(chunk);
    }
}

impl<E: Executor> Pool<E> {
    fn check_running(&self) -> Result<()> {
        match *self
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Lifecycle::Running => Ok(()),
            _ => Err(Error::InvalidState("Pool not running".into())),
        }
    }

    /// Python's chunk size: `ceil(len / (4 * processes))`, at least 1.
    fn chunksize(&self, len: usize, chunksize: Option<usize>) -> Result<usize> {
        match chunksize {
            Some(0) => Err(Error::InvalidState("chunksize must be at least 1".into())),
            Some(n) => Ok(n),
            None => Ok(len.div_ceil(4 * self.processes).max(1)),
        }
    }

    /// How many workers the pool runs (Python's `processes`).
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// Accepts no more work; queued work still runs (Python: `close`).
    pub fn close(&self) {
        let mut lifecycle = self
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *lifecycle == Lifecycle::Running {
            *lifecycle = Lifecycle::Closed;
            drop(lifecycle);
            self.executor.shutdown(false, false);
        }
    }

    /// Stops at once: queued work is cancelled and every outstanding result fails with
    /// [`Error::Terminated`] (Python: `terminate`, whose results hang instead). Running
    /// threads cannot be killed: they finish their current task.
    pub fn terminate(&self) {
        *self
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Lifecycle::Terminated;
        // Fail the results first: cancelling the queued calls would otherwise relay
        // `Cancelled` to them.
        self.shared.terminate_outstanding();
        self.executor.shutdown(false, true);
    }

    /// Waits for the workers to exit and the pending callbacks to run (Python: `join`).
    ///
    /// # Errors
    /// [`Error::InvalidState`] before `close` or `terminate` (Python: "Pool is still running").
    pub fn join(&self) -> Result<()> {
        if *self
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == Lifecycle::Running
        {
            return Err(Error::InvalidState("Pool is still running".into()));
        }
        self.executor.shutdown(true, false);
        self.shared.drain_handler();
        Ok(())
    }
}

impl<E: Executor> Drop for Pool<E> {
    /// `terminate` then `join`, as leaving Python's `with Pool()` block.
    fn drop(&mut self) {
        self.terminate();
        let _ = self.join();
    }
}

impl<E: Executor + fmt::Debug> fmt::Debug for Pool<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field(
                "state",
                &*self
                    .lifecycle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            )
            .field("executor", &self.executor)
            .finish()
    }
}

/// A tuple of arguments `f` can be applied to (for `starmap`): `(a,)`, `(a, b)`, `(a, b, c)`.
pub trait Args<F> {
    /// What `f` returns.
    type Output;
    /// Calls `f` with the tuple's elements.
    fn apply(self, f: &F) -> Self::Output;
}

macro_rules! args {
    ($($a:ident),+) => {
        impl<F, T, $($a),+> Args<F> for ($($a,)+)
        where
            F: Fn($($a),+) -> T,
        {
            type Output = T;
            #[allow(non_snake_case)]
            fn apply(self, f: &F) -> T {
                let ($($a,)+) = self;
                f($($a),+)
            }
        }
    };
}
args!(A);
args!(A, B);
args!(A, B, C);
args!(A, B, C, D);
