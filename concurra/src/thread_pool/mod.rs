//! [`ThreadPoolExecutor`]: Python's `concurrent.futures.ThreadPoolExecutor`.
//!
//! # Design
//!
//! One queue (a crossbeam channel of `Job`s), up to `max_workers` threads started on demand,
//! one [`Future`] per job. A submit queues the job, then takes an *idle token* if a worker left
//! one (each worker leaves one per finished job, as CPython's `_idle_semaphore`); only when no
//! token is left and fewer than `max_workers` threads exist does it start a thread. Sequential
//! submits therefore reuse one thread, and a saturated pool has exactly `max_workers` (`idle.rs`,
//! with its loom models). Once every thread is started, neither side touches the tokens.
//!
//! # Shutdown
//!
//! 1. Take the lifecycle write lock: no submit is between its check and its send.
//! 2. Mark the pool shut down; later submits get [`Error::Shutdown`] on their future.
//! 3. With `cancel_futures`, drain the queue and cancel every queued future (waiters see it at
//!    once).
//! 4. Send one stop message per worker, behind the queued jobs, and release the lock.
//! 5. With `wait`, join every worker except the calling thread (a task may shut its own pool
//!    down).
//!
//! # Broken pool
//!
//! A panicking initializer breaks the pool: the queued futures and every later submit fail with
//! [`Error::BrokenPool`] carrying the panic, as CPython's `BrokenThreadPool`.

mod idle;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::error::{Error, Result};
use crate::executor::{Apply, Executor, Fallible, Map, MapOptions, Work};
use crate::future::{self, Future};
use crate::work::{self, Job};
use idle::Idle;

/// What travels on the queue.
enum Message {
    Run(Job),
    /// Ends the worker that receives it; sent at shutdown behind every queued job.
    Stop,
}

/// A pool of threads running submitted closures (Python: `ThreadPoolExecutor`).
///
/// ```
/// use concurra::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
/// let f = pool.submit(|| "Hello from the task");
/// assert_eq!(f.result().unwrap(), "Hello from the task");
/// // Dropping the pool is `shutdown(wait = true)`, Python's `with` block.
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

/// State shared by the executor handle and its workers.
struct Shared {
    sender: Sender<Message>,
    receiver: Receiver<Message>,
    /// Write-locked only by shutdown and by breaking; submits hold it for reading.
    lifecycle: RwLock<Lifecycle>,
    /// Set (with `lifecycle.broken`) when an initializer failed: a lock-free copy of
    /// `lifecycle.broken.is_some()`, read on every job.
    broken: AtomicBool,
    /// Idle tokens and the thread count: whether a submit must start a thread (`idle.rs`).
    /// Until the pool is full, workers write it after every job (and submits when they take
    /// a token): on its own cache line, so the workers' writes do not take the line of the
    /// lifecycle lock every submit takes.
    idle: CachePadded<Idle>,
    workers: Mutex<Workers>,
    name_prefix: String,
    initializer: Option<Initializer>,
}

type Initializer = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Lifecycle {
    shutdown: bool,
    broken: Option<String>,
}

#[derive(Default)]
struct Workers {
    handles: Vec<JoinHandle<()>>,
    /// Completed by each worker as it exits: `shutdown(wait)` waits on these, so concurrent
    /// and repeated shutdowns all wait, through the one waiting path.
    exits: Vec<(ThreadId, Future<()>)>,
    started: usize,
}

/// Configures a [`ThreadPoolExecutor`].
#[must_use]
pub struct Builder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Initializer>,
}

impl Builder {
    /// The most threads the pool starts. Default: `min(32, cpus + 4)`, as Python.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Threads are named `{prefix}_{i}`. Default: `ThreadPoolExecutor-{n}`.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs in each new worker before it takes work. A panic breaks the pool: queued and later
    /// futures fail with [`Error::BrokenPool`].
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// Builds the pool; no thread starts until work arrives.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `max_workers` is 0.
    pub fn build(self) -> Result<ThreadPoolExecutor> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let max_workers = match self.max_workers {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "max_workers must be greater than 0".into(),
                ))
            }
            Some(n) => n,
            None => default_max_workers(),
        };
        let name_prefix = self.thread_name_prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOLS.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (sender, receiver) = crossbeam_channel::unbounded();
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                sender,
                receiver,
                lifecycle: RwLock::new(Lifecycle::default()),
                broken: AtomicBool::new(false),
                idle: CachePadded::new(Idle::new(max_workers)),
                workers: Mutex::new(Workers::default()),
                name_prefix,
                initializer: self.initializer,
            }),
        })
    }
}

/// Python's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

impl ThreadPoolExecutor {
    /// A pool with the default settings.
    pub fn new() -> Self {
        Self::builder().build().expect("the defaults are valid")
    }

    /// Configures a pool.
    pub fn builder() -> Builder {
        Builder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
        }
    }

    /// Schedules `work` and returns its future at once (Python: `submit(fn)`; see
    /// [`Executor::submit`]): a closure, [`Apply`]`(f, arg)`, or [`Fallible`]`(f)`.
    ///
    /// ```
    /// use concurra::ThreadPoolExecutor;
    ///
    /// let exe = ThreadPoolExecutor::new();
    /// assert_eq!(exe.submit(|| 3).result().unwrap(), 3);
    /// ```
    #[inline]
    pub fn submit<W: Work<Self>>(&self, work: W) -> Future<W::Output> {
        Executor::submit(self, work)
    }

    /// Runs `work` and waits for its value, moved out (see [`Executor::call`]).
    ///
    /// # Errors
    /// As [`Future::result`].
    pub fn call<W: Work<Self>>(&self, work: W) -> Result<W::Output> {
        Executor::call(self, work)
    }

    /// `f` over `items`, results in input order (Python: `map(fn, iterable)`; see
    /// [`Executor::map`]).
    ///
    /// ```
    /// use concurra::ThreadPoolExecutor;
    ///
    /// let exe = ThreadPoolExecutor::new();
    /// let doubled: Vec<i32> = exe.map(|x| x * 2, 1..=4).map(Result::unwrap).collect();
    /// assert_eq!(doubled, [2, 4, 6, 8]);
    /// ```
    pub fn map<F, T, I>(&self, f: F, items: I) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Clone + Send + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Executor::map(self, f, items)
    }

    /// [`map`](Self::map) with a total deadline (Python: `map(fn, iterable, timeout=t)`; see
    /// [`Executor::map_timeout`]).
    pub fn map_timeout<F, T, I>(
        &self,
        f: F,
        items: I,
        timeout: std::time::Duration,
    ) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Clone + Send + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Executor::map_timeout(self, f, items, timeout)
    }

    /// [`map`](Self::map) with every option (see [`Executor::map_with`]).
    pub fn map_with<F, T, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Clone + Send + 'static,
        I: IntoIterator,
        I::Item: Send + 'static,
        T: Send + 'static,
    {
        Executor::map_with(self, f, items, options)
    }

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`; see
    /// [`Executor::shutdown`]).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    /// How many worker threads have been started.
    pub fn threads(&self) -> usize {
        self.shared.workers().started
    }

    /// Queues `f`; the one submit path every [`Work`] impl goes through.
    fn submit_job<F, T>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        Shared::submit(&self.shared, f)
    }

    /// Whether the calling thread is one of this pool's workers (a task of the pool).
    pub(crate) fn is_own_thread(&self) -> bool {
        worker::is_worker_of(&self.shared)
    }

    /// A way for work running in this pool to submit more, without owning the pool (see
    /// [`Submitter`]).
    pub(crate) fn submitter(&self) -> Submitter {
        Submitter(Arc::downgrade(&self.shared))
    }
}

/// Submits work to a pool from inside it, without owning the pool: dropping it does not shut
/// the pool down, and once the pool is gone its submits fail with [`Error::Shutdown`]. (A map's
/// waiting pullers are given back to the pool through it.)
#[derive(Clone)]
pub(crate) struct Submitter(std::sync::Weak<Shared>);

impl Submitter {
    /// Queues `f`, as [`Executor::submit`] does.
    pub(crate) fn submit(&self, f: impl FnOnce() + Send + 'static) -> Future<()> {
        match self.0.upgrade() {
            Some(shared) => Shared::submit(&shared, move || {
                f();
                Ok(())
            }),
            None => Future::completed(Err(Error::Shutdown)),
        }
    }
}

impl Shared {
    /// Queues `f` on the pool `this`: the one submit path.
    fn submit<F, T>(this: &Arc<Shared>, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let shared = &**this;
        let lifecycle = shared
            .lifecycle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if lifecycle.shutdown {
            return Future::completed(Err(Error::Shutdown));
        }
        if let Some(cause) = &lifecycle.broken {
            return Future::completed(Err(Error::BrokenPool {
                cause: cause.clone(),
            }));
        }
        let (job, future) = work::job(f);
        // The receiver lives in `shared`, so the channel is never disconnected here.
        let _ = shared.sender.send(Message::Run(job));
        let started = shared.start_worker_if_needed(this);
        drop(lifecycle);
        if let Err(cause) = started {
            shared.break_pool(cause);
        }
        future
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, Workers> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle token, or starts a thread if none is left and the pool is not full.
    /// Called with the lifecycle read lock held, so shutdown cannot interleave. Fails only when
    /// the pool has no thread and none can be started: the caller then breaks the pool.
    fn start_worker_if_needed(&self, this: &Arc<Shared>) -> std::result::Result<(), String> {
        if !self.idle.needs_thread() {
            return Ok(());
        }
        let mut workers = self.workers();
        if workers.started >= self.idle.max() {
            return Ok(());
        }
        let index = workers.started;
        let (exit_promise, exit) = future::pair::<()>();
        let spawned = std::thread::Builder::new()
            .name(format!("{}_{}", self.name_prefix, index))
            .spawn({
                let shared = this.clone();
                move || {
                    worker::run(&shared);
                    let _ = exit_promise.set_result(());
                }
            });
        match spawned {
            Ok(handle) => {
                workers.exits.push((handle.thread().id(), exit));
                workers.started += 1;
                self.idle.started(workers.started);
                workers.handles.push(handle);
                Ok(())
            }
            Err(e) if workers.started == 0 => Err(format!("cannot start a worker thread: {e}")),
            // The running workers will take the job.
            Err(_) => Ok(()),
        }
    }

    /// Marks the pool broken and fails every queued future with the cause.
    fn break_pool(&self, cause: String) {
        {
            let mut lifecycle = self
                .lifecycle
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            lifecycle.broken.get_or_insert(cause);
            self.broken.store(true, Ordering::Release);
        }
        self.drain(|mut job| job.fail(self.broken_error()));
    }

    fn broken_error(&self) -> Error {
        let lifecycle = self
            .lifecycle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Error::BrokenPool {
            cause: lifecycle.broken.clone().unwrap_or_default(),
        }
    }

    /// Takes every queued job out and hands it to `f`.
    fn drain(&self, mut f: impl FnMut(Job)) {
        let mut stops = 0;
        while let Ok(message) = self.receiver.try_recv() {
            match message {
                Message::Run(job) => f(job),
                Message::Stop => stops += 1,
            }
        }
        for _ in 0..stops {
            let _ = self.sender.send(Message::Stop);
        }
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let mut cancelled = Vec::new();
        {
            let mut lifecycle = self
                .lifecycle
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let first = !lifecycle.shutdown;
            lifecycle.shutdown = true;
            if cancel_futures {
                self.drain(|job| cancelled.push(job));
            }
            if first {
                for _ in 0..self.workers().started {
                    let _ = self.sender.send(Message::Stop);
                }
            }
        }
        // Cancelling runs done-callbacks: never under the lifecycle lock (a callback may
        // submit, shut down, or print the pool).
        for mut job in cancelled {
            job.cancel();
        }
        if wait {
            let me = std::thread::current().id();
            let exits: Vec<Future<()>> = self
                .workers()
                .exits
                .iter()
                .filter(|(id, _)| *id != me)
                .map(|(_, exit)| exit.clone())
                .collect();
            for exit in exits {
                exit.wait();
            }
            // Reap the exited threads; a worker shutting its own pool down detaches itself.
            let handles = std::mem::take(&mut self.workers().handles);
            for handle in handles {
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor for ThreadPoolExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        self.shared.idle.max()
    }
}

impl Drop for ThreadPoolExecutor {
    /// `shutdown(wait = true)`: queued work still runs, then the workers are joined.
    fn drop(&mut self) {
        self.shared.shutdown(true, false);
    }
}

impl<F, T> Work<ThreadPoolExecutor> for F
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    #[inline]
    fn submit_to(self, executor: &ThreadPoolExecutor) -> Future<T> {
        executor.submit_job(move || Ok(self()))
    }
}

impl<F, A, T> Work<ThreadPoolExecutor> for Apply<F, A>
where
    F: FnOnce(A) -> T + Send + 'static,
    A: Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    #[inline]
    fn submit_to(self, executor: &ThreadPoolExecutor) -> Future<T> {
        let Apply(f, arg) = self;
        executor.submit_job(move || Ok(f(arg)))
    }
}

impl<F, T, E> Work<ThreadPoolExecutor> for Fallible<F>
where
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    T: Send + 'static,
{
    type Output = T;

    fn submit_to(self, executor: &ThreadPoolExecutor) -> Future<T> {
        let Fallible(f) = self;
        executor.submit_job(move || f().map_err(Error::failed))
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        let lifecycle = shared
            .lifecycle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ThreadPoolExecutor")
            .field("name", &shared.name_prefix)
            .field("max_workers", &shared.idle.max())
            .field("threads", &shared.workers().started)
            .field("queued", &shared.receiver.len())
            .field("shutdown", &lifecycle.shutdown)
            .field("broken", &lifecycle.broken)
            .finish()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}
