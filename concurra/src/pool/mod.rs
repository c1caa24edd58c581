//! The Pool interface (Python's `multiprocessing.pool`): [`ThreadPool`] over threads and
//! [`ProcessPool`] (Python's `multiprocessing.Pool`) over processes, one facade for both.
//!
//! A [`Pool`] is a thin facade: it owns no workers. It drives an executor's workers (the
//! [`ThreadPoolExecutor`]'s for [`ThreadPool`], the [`ProcessPoolExecutor`]'s for
//! [`ProcessPool`]) and hands back [`AsyncResult`]s that are views over the one [`Future`].
//! What each engine accepts is said by [`Work`] (one call: `apply`) and [`MapFn`] (a function
//! over chunks: `map`, `imap`, `starmap`): any `Send` closure for threads, a `fn` item (or a
//! closure capturing nothing) over `serde` values for processes.
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
//! for your results first, as the examples do. `terminate` kills a process pool's workers (a
//! running call stops at once); threads cannot be killed, so a thread task that is already
//! running finishes (its result is failed with `Terminated` all the same).
//!
//! # Faults
//!
//! A process worker that dies while it runs an `apply_async` call or a `map` chunk fails that
//! result with [`Error::WorkerDied`] (Python's `Pool` hangs forever there); the executor starts
//! a replacement and the pool keeps serving.
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

use crate::chunk::private::{cut_on_caller, Submit, ThreadFn};
pub use crate::chunk::MapFn;
use crate::chunk::{list, Chunk};
use crate::error::{Error, Result};
use crate::executor::{Executor, Work};
use crate::future::{self, Future, Promise};
use crate::process::ProcessPoolExecutor;
use crate::thread_pool::ThreadPoolExecutor;
use crate::unwind;

/// Python's `multiprocessing.pool.ThreadPool`.
pub type ThreadPool = Pool<ThreadPoolExecutor>;

/// Python's `multiprocessing.Pool`: the Pool interface over worker processes.
pub type ProcessPool = Pool<ProcessPoolExecutor>;

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
                crate::unwind::print_report(&format_args!(
                    "cannot start the pool's result thread ({e}); callbacks run inline"
                ));
            }
            tx
        });
        if let Err(crossbeam_channel::SendError(job)) = sender.send(job) {
            job();
        }
    }

    /// Registers an outer promise so that `terminate` can fail it; returns the relay that
    /// completes it.
    fn relay<T: Send + 'static>(self: &Arc<Self>, promise: Promise<T>) -> Relay<T> {
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
    /// A thread pool of as many threads as CPUs (Python: `ThreadPool()`).
    ///
    /// ```
    /// use concurra::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.map(|x| x * x, 0..4).unwrap(), [0, 1, 4, 9]);
    /// ```
    pub fn new() -> Self {
        Self::builder().build().expect("the defaults are valid")
    }

    /// Configures a thread pool (Python's `ThreadPool(processes, initializer, initargs)`).
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            processes: None,
            executor: ThreadPoolExecutor::builder().thread_name_prefix("ThreadPool"),
        }
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        ThreadPool::new()
    }
}

/// Configures a [`ThreadPool`]: `ThreadPool::builder().processes(n).initializer(f).build()?`.
#[derive(Debug)]
#[must_use]
pub struct ThreadPoolBuilder {
    processes: Option<usize>,
    executor: crate::thread_pool::Builder,
}

impl ThreadPoolBuilder {
    /// How many threads (Python's `processes`; default: the CPU count).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs in each worker before its first task (Python's `initializer`, with `initargs`
    /// captured by the closure).
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.executor = self.executor.initializer(f);
        self
    }

    /// Builds the pool.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `processes(0)`.
    pub fn build(self) -> Result<ThreadPool> {
        let executor = self
            .executor
            .max_workers(processes_or_cpus(self.processes)?)
            .build()?;
        Ok(Pool::from_executor(executor))
    }
}

impl ProcessPool {
    /// A pool of as many worker processes as CPUs (Python: `multiprocessing.Pool()`).
    /// Workers are this executable started again: `main` must begin with
    /// [`concurra::init()`](crate::init) (see [`process`](crate::process)). Never fails: a
    /// pool whose supervisor thread cannot start fails its work with [`Error::BrokenPool`].
    pub fn new() -> Self {
        Pool::from_executor(ProcessPoolExecutor::new())
    }

    /// Configures a process pool (Python's `Pool(processes, initializer, initargs,
    /// maxtasksperchild)`):
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// use concurra::{Apply, ProcessPool};
    ///
    /// concurra::worker_hook!();
    ///
    /// static LEVEL: AtomicU32 = AtomicU32::new(0);
    ///
    /// fn setup(level: u32) {
    ///     LEVEL.store(level, Ordering::Relaxed); // per-worker state
    /// }
    ///
    /// fn level(x: u32) -> u32 {
    ///     LEVEL.load(Ordering::Relaxed) * x
    /// }
    ///
    /// # fn main() -> concurra::Result<()> {
    /// let pool = ProcessPool::builder()
    ///     .processes(2)
    ///     .initializer(Apply(setup, 3))
    ///     .max_tasks_per_child(100)
    ///     .build()?;
    /// assert_eq!(pool.map(level, 1..=3)?, [3, 6, 9]);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            processes: None,
            executor: ProcessPoolExecutor::builder(),
        }
    }
}

impl Default for ProcessPool {
    fn default() -> Self {
        ProcessPool::new()
    }
}

/// Configures a [`ProcessPool`]:
/// `ProcessPool::builder().processes(n).initializer(Apply(f, a)).max_tasks_per_child(k).build()?`.
#[derive(Debug)]
#[must_use]
pub struct ProcessPoolBuilder {
    processes: Option<usize>,
    executor: crate::process::PoolBuilder,
}

impl ProcessPoolBuilder {
    /// How many worker processes (Python's `processes`; default: the CPU count).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs in each new worker before its first call (Python's `initializer` and `initargs`:
    /// a `fn` item, or [`Apply`](crate::Apply)`(f, arg)`). A panic breaks the pool.
    pub fn initializer<W>(mut self, work: W) -> Self
    where
        W: crate::process::Remote + Clone + Send + Sync + 'static,
    {
        self.executor = self.executor.initializer(work);
        self
    }

    /// Replace a worker after it has run `n` calls (Python's `maxtasksperchild`).
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.executor = self.executor.max_tasks_per_child(n);
        self
    }

    /// Beyond Python: a call running longer than `limit` is stopped (its worker killed and
    /// replaced) and fails with [`Error::Timeout`].
    pub fn task_timeout(mut self, limit: std::time::Duration) -> Self {
        self.executor = self.executor.task_timeout(limit);
        self
    }

    /// Builds the pool.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `processes(0)` or `max_tasks_per_child(0)`;
    /// [`Error::Io`] if the supervisor thread cannot start.
    pub fn build(self) -> Result<ProcessPool> {
        let executor = self
            .executor
            .max_workers(processes_or_cpus(self.processes)?)
            .build()?;
        Ok(Pool::from_executor(executor))
    }
}

/// Python's check and default for `processes`.
fn processes_or_cpus(processes: Option<usize>) -> Result<usize> {
    match processes {
        Some(0) => Err(Error::InvalidArgument(
            "Number of processes must be at least 1".into(),
        )),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

impl<E: Executor> Pool<E> {
    /// The Pool interface over `executor`'s workers, as many as its
    /// [`max_workers`](Executor::max_workers). The pool owns the executor: dropping the pool
    /// terminates it.
    pub fn from_executor(executor: E) -> Self {
        Pool {
            processes: executor.max_workers(),
            executor,
            lifecycle: Mutex::new(Lifecycle::Running),
            shared: Arc::new(Shared::default()),
        }
    }

    /// Runs `work` on a worker and waits for its value, moved out (Python: `apply`): a
    /// closure on a [`ThreadPool`], a `fn` item (with [`Apply`](crate::Apply) for its
    /// argument) on a [`ProcessPool`], or either in [`Fallible`](crate::Fallible).
    ///
    /// # Errors
    /// The task's error, or [`Error::InvalidState`] if the pool is not running.
    pub fn apply<W>(&self, work: W) -> Result<W::Output>
    where
        W: Work<E>,
        W::Output: Send + 'static,
    {
        self.check_running()?;
        // The engine's synchronous path where it has one (a process pool reads the reply in
        // this thread; `terminate` still ends it, by killing the worker).
        match work.call_on(&self.executor) {
            Ok(outcome) => outcome,
            Err(work) => self.apply_async(work).get(),
        }
    }

    /// Runs `work` on a worker; returns at once (Python: `apply_async`).
    pub fn apply_async<W>(&self, work: W) -> AsyncResult<W::Output>
    where
        W: Work<E>,
        W::Output: Send + 'static,
    {
        self.apply_async_with(work, Callbacks::new())
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` / `error_callback`.
    ///
    /// ```
    /// use concurra::pool::{Callbacks, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().processes(2).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let r = pool.apply_async_with(|| 2 + 2, Callbacks::new().on_success(move |v| tx.send(*v).unwrap()));
    /// assert_eq!(r.get().unwrap(), 4);
    /// assert_eq!(rx.recv().unwrap(), 4);
    /// ```
    pub fn apply_async_with<W>(
        &self,
        work: W,
        callbacks: Callbacks<W::Output>,
    ) -> AsyncResult<W::Output>
    where
        W: Work<E>,
        W::Output: Send + 'static,
    {
        if let Err(e) = self.check_running() {
            return AsyncResult::new(Future::completed(Err(e)));
        }
        let inner = self.executor.submit(work);
        self.relay_outcome(inner, callbacks)
    }

    /// `f` over `items`, in order, as one list (Python: `map(f, items)`). The chunk size is
    /// Python's default, `ceil(len / (4 * processes))`, for a short input; a long one is cut
    /// finer: up to 16 chunks a process (32 a thread), of at least 1,024 items each. Finer
    /// chunks keep every worker busy to the end and let the first start sooner.
    ///
    /// On a thread pool each chunk writes its values straight into the returned list; a chunk
    /// stops at its first panic, as Python's stops at its first exception. The workers read
    /// the input themselves: the caller lends them its iterator (which is why it must be
    /// `Send`; it may borrow local data) and waits; a panic in the iterator is raised here
    /// once the map is over. On a process pool the caller cuts and encodes the chunks.
    ///
    /// ```
    /// use concurra::ThreadPool;
    ///
    /// let pool = ThreadPool::new();
    /// assert_eq!(pool.map(|x| x * x, 0..5).unwrap(), [0, 1, 4, 9, 16]);
    /// ```
    ///
    /// # Errors
    /// The first item's error to arrive (as Python, after every chunk ran);
    /// [`Error::InvalidState`] for a pool that is not running.
    pub fn map<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A, IntoIter: Send>,
    ) -> Result<Vec<<F as Submit<E, A>>::Output>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
    {
        self.map_list(f, items, None)
    }

    /// [`map`](Self::map) in chunks of `chunksize` items (Python: `map(f, items, chunksize)`).
    ///
    /// # Errors
    /// As [`map`](Self::map); [`Error::InvalidArgument`] for `chunksize` 0.
    pub fn map_chunked<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A, IntoIter: Send>,
        chunksize: usize,
    ) -> Result<Vec<<F as Submit<E, A>>::Output>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
    {
        self.map_list(f, items, Some(chunksize))
    }

    fn map_list<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A, IntoIter: Send>,
        chunksize: Option<usize>,
    ) -> Result<Vec<F::Output>>
    where
        F: MapFn<E, A>,
    {
        let mut start = MapStart {
            pool: self,
            chunksize,
            callbacks: Some(Callbacks::new()),
        };
        F::map_list(&f.hold(), &self.executor, items.into_iter(), &mut start)
    }

    /// [`map`](Self::map) returning at once (Python: `map_async`). The input is cut into
    /// chunks on the caller's thread before this returns, so any iterator will do (`map`'s
    /// workers read the input themselves on a thread pool).
    pub fn map_async<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> AsyncResult<Vec<<F as Submit<E, A>>::Output>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
    {
        self.map_async_list(f, items, MapAsync::new())
    }

    /// [`map_async`](Self::map_async) with Python's keyword arguments (`chunksize`,
    /// `callback`, `error_callback`; the callback gets the whole list).
    ///
    /// ```
    /// use concurra::pool::{MapAsync, ThreadPool};
    ///
    /// let pool = ThreadPool::new();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let options = MapAsync::new().chunksize(2).on_success(move |v: &Vec<i32>| tx.send(v.len()).unwrap());
    /// let r = pool.map_async_with(|x| x + 1, 0..5, options);
    /// assert_eq!(r.get().unwrap(), [1, 2, 3, 4, 5]);
    /// assert_eq!(rx.recv().unwrap(), 5);
    /// ```
    pub fn map_async_with<F, A, T>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        options: MapAsync<<F as Submit<E, A>>::Output>,
    ) -> AsyncResult<Vec<<F as Submit<E, A>>::Output>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
    {
        self.map_async_list(f, items, options)
    }

    fn map_async_list<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        options: MapAsync<F::Output>,
    ) -> AsyncResult<Vec<F::Output>>
    where
        F: MapFn<E, A>,
    {
        let mut start = MapStart {
            pool: self,
            chunksize: options.chunksize,
            callbacks: Some(options.callbacks),
        };
        let outcome =
            cut_on_caller::<F, E, A>(&f.hold(), &self.executor, items.into_iter(), &mut start);
        AsyncResult::new(outcome.unwrap_or_else(|e| Future::completed(Err(e))))
    }

    /// `f` applied to each tuple of arguments (Python: `starmap`).
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A, IntoIter: Send>,
    ) -> Result<Vec<<Star<F> as Submit<E, A>>::Output>>
    where
        Star<F>: MapFn<E, A>,
    {
        self.map_list(Star(f), items, None)
    }

    /// [`starmap`](Self::starmap) in chunks of `chunksize` (Python: `starmap(f, items,
    /// chunksize)`).
    ///
    /// # Errors
    /// As [`map_chunked`](Self::map_chunked).
    pub fn starmap_chunked<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A, IntoIter: Send>,
        chunksize: usize,
    ) -> Result<Vec<<Star<F> as Submit<E, A>>::Output>>
    where
        Star<F>: MapFn<E, A>,
    {
        self.map_list(Star(f), items, Some(chunksize))
    }

    /// [`starmap`](Self::starmap) returning at once (Python: `starmap_async`).
    pub fn starmap_async<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
    ) -> AsyncResult<Vec<<Star<F> as Submit<E, A>>::Output>>
    where
        Star<F>: MapFn<E, A>,
    {
        self.map_async_list(Star(f), items, MapAsync::new())
    }

    /// [`starmap_async`](Self::starmap_async) with Python's keyword arguments.
    pub fn starmap_async_with<F, A>(
        &self,
        f: F,
        items: impl IntoIterator<Item = A>,
        options: MapAsync<<Star<F> as Submit<E, A>>::Output>,
    ) -> AsyncResult<Vec<<Star<F> as Submit<E, A>>::Output>>
    where
        Star<F>: MapFn<E, A>,
    {
        self.map_async_list(Star(f), items, options)
    }

    /// Lazy, ordered results of `f` over `items`, one item per call (Python: `imap`). A
    /// failed item yields its error at its position and the later items still come.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a pool that is not running.
    pub fn imap<F, A, T, I>(&self, f: F, items: I) -> Result<IMap<'_, E, F, I::IntoIter, A>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
        I: IntoIterator<Item = A>,
    {
        self.imap_chunked(f, items, 1)
    }

    /// [`imap`](Self::imap), `chunksize` items per call (Python: `imap(f, items, chunksize)`).
    ///
    /// # Errors
    /// As [`imap`](Self::imap); [`Error::InvalidArgument`] for `chunksize` 0.
    pub fn imap_chunked<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<'_, E, F, I::IntoIter, A>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
        I: IntoIterator<Item = A>,
    {
        self.check_running()?;
        let chunksize = self.chunksize(Some(chunksize), || 1)?;
        Ok(IMap::new(self, f, items.into_iter(), chunksize))
    }

    /// Lazy results in completion order, one item per call (Python: `imap_unordered`).
    ///
    /// # Errors
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<F, A, T, I>(
        &self,
        f: F,
        items: I,
    ) -> Result<IMapUnordered<'_, E, F, I::IntoIter, A>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
        I: IntoIterator<Item = A>,
    {
        self.imap_unordered_chunked(f, items, 1)
    }

    /// [`imap_unordered`](Self::imap_unordered), `chunksize` items per call.
    ///
    /// # Errors
    /// As [`imap_chunked`](Self::imap_chunked).
    pub fn imap_unordered_chunked<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> Result<IMapUnordered<'_, E, F, I::IntoIter, A>>
    where
        F: Fn(A) -> T + MapFn<E, A>,
        I: IntoIterator<Item = A>,
    {
        self.check_running()?;
        let chunksize = self.chunksize(Some(chunksize), || 1)?;
        Ok(IMapUnordered::new(self, f, items.into_iter(), chunksize))
    }

    fn relay_outcome<T>(&self, inner: Future<T>, callbacks: Callbacks<T>) -> AsyncResult<T>
    where
        T: Send + 'static,
    {
        let (promise, outer) = future::pair();
        let relay = self.shared.relay(promise);
        let shared = self.shared.clone();
        // The pool holds the only handle on `inner`: its value moves on, never cloned.
        inner.into_sink(move |outcome| relay_done(&shared, relay, outcome, callbacks));
        AsyncResult::new(outer)
    }
}

/// Python's keyword arguments of `map_async` / `starmap_async`: `chunksize`, `callback`
/// (the whole list) and `error_callback`.
#[must_use]
pub struct MapAsync<T> {
    chunksize: Option<usize>,
    callbacks: Callbacks<Vec<T>>,
}

impl<T> MapAsync<T> {
    /// Python's defaults: the chunk size of [`Pool::map`], no callback.
    pub fn new() -> Self {
        MapAsync {
            chunksize: None,
            callbacks: Callbacks::new(),
        }
    }

    /// Items per call (Python's `chunksize`; 0 fails the result with
    /// [`Error::InvalidArgument`]).
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// Python's `callback`: called with the list on the pool's result thread before the
    /// result is ready.
    pub fn on_success(mut self, f: impl FnOnce(&Vec<T>) + Send + 'static) -> Self {
        self.callbacks = self.callbacks.on_success(f);
        self
    }

    /// Python's `error_callback`.
    pub fn on_error(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.callbacks = self.callbacks.on_error(f);
        self
    }
}

impl<T> Default for MapAsync<T> {
    fn default() -> Self {
        MapAsync::new()
    }
}

impl<T> fmt::Debug for MapAsync<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsync")
            .field("chunksize", &self.chunksize)
            .field("callbacks", &self.callbacks)
            .finish()
    }
}

/// A map's start on this pool (see [`list::Start`]): the pool must run, the chunk size is
/// the caller's or the default, the list goes through a relay (so `terminate` fails it) and
/// the callbacks.
struct MapStart<'a, E: Executor, T> {
    pool: &'a Pool<E>,
    chunksize: Option<usize>,
    /// Taken by the one start.
    callbacks: Option<Callbacks<Vec<T>>>,
}

impl<E: Executor, T: Send + 'static> list::Start<T> for MapStart<'_, E, T> {
    fn start(&mut self, len: usize, per_worker: usize) -> Result<list::Started<T>> {
        self.pool.check_running()?;
        let size = self.pool.chunksize(self.chunksize, || {
            list::default_chunksize(len, self.pool.processes, per_worker)
        })?;
        let (promise, outcome) = future::pair::<Vec<T>>();
        let relay = self.pool.shared.relay(promise);
        let shared = self.pool.shared.clone();
        let callbacks = self.callbacks.take().unwrap_or_default();
        Ok(list::Started {
            size,
            finish: Box::new(move |list| relay_done(&shared, relay, list, callbacks)),
            outcome,
        })
    }
}

/// Step 2–3 of the module protocol: callbacks on the result thread, then the outer promise.
fn relay_done<T: Send + 'static>(
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

    /// `chunksize` checked, or the engine's default when `None`.
    fn chunksize(
        &self,
        chunksize: Option<usize>,
        default: impl FnOnce() -> usize,
    ) -> Result<usize> {
        match chunksize {
            Some(0) => Err(Error::InvalidArgument("chunksize must be >= 1".into())),
            Some(n) => Ok(n),
            None => Ok(default()),
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

    /// Stops at once: queued work is cancelled, every outstanding result fails with
    /// [`Error::Terminated`] (Python: `terminate`, whose results hang instead), and the
    /// executor's workers are stopped ([`Executor::terminate_workers`]): worker processes are
    /// killed; threads cannot be killed, so they finish their current task.
    pub fn terminate(&self) {
        *self
            .lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Lifecycle::Terminated;
        // Fail the results first: cancelling the queued calls would otherwise relay
        // `Cancelled` to them.
        self.shared.terminate_outstanding();
        self.executor.terminate_workers();
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

/// `f` taking its arguments from a tuple: what `starmap` maps.
#[derive(Debug, Clone, Copy)]
pub struct Star<F>(pub F);

/// Threads: the tuple's elements passed to the shared closure.
impl<F, A, T> ThreadFn<A> for Star<F>
where
    A: Args<F, Output = T>,
    F: Send + Sync + 'static,
    T: Send + 'static,
{
    type Output = T;

    #[inline]
    fn call(&self, args: A) -> T {
        args.apply(&self.0)
    }
}

/// Processes: a closure that captures only the zero-sized `fn` item is itself zero-sized, so it
/// crosses as the process pool's chunked call does.
impl<F, A, T> Submit<ProcessPoolExecutor, A> for Star<F>
where
    A: Args<F, Output = T> + serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F: Copy + Send + Sync + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    type Output = T;
    type Held = F;

    fn hold(self) -> F {
        self.0
    }

    fn submit_chunk(f: &F, executor: &ProcessPoolExecutor, items: Vec<A>) -> Future<Chunk<T>> {
        let f = *f;
        executor.submit_chunk(move |args: A| args.apply(&f), items)
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
