//! [`ProcessPoolExecutor`]: the [`Executor`] over worker processes that heal.
//!
//! # Who holds what
//!
//! One lock guards the pool's [`State`], whose bookkeeping is the pure state machine in
//! [`state`]: the queue of calls not yet sent, each worker's [phase](state::Phase) and the
//! calls sent to it in order (its window). A worker runs its calls one at a time in the order
//! sent and writes each reply before it starts the next, so the front of its window is the
//! call it is running and the others have not started. Every change is a named transition of
//! [`state::Pool`] run under the lock; its [`Effects`] (kills, closes, writes, starts,
//! futures to complete) are carried out by [`After`] once the lock is released. Three kinds
//! of thread drive the transitions:
//!
//! 1. A submitter encodes its call (no lock), then under the lock queues it and dispatches.
//! 2. A worker's reader thread reads replies (no lock), then under the lock pops the replied
//!    calls and dispatches more; it completes the futures after releasing the lock. It never
//!    blocks on a write (a write that would block is finished by a short-lived flusher thread),
//!    so a worker writing a large reply is always drained.
//! 3. The supervisor thread starts workers (the handshake is outside the lock; an initializer
//!    runs on a thread of its own) and enforces time limits: it sleeps until the earliest
//!    deadline of a running call (`armed`), and a call that starts with an earlier one wakes
//!    it. A kill for a time limit or a stop names the call it is aimed at (the verdict): if
//!    that call replied before the worker died, the call running then died as in any death.
//!
//! Dispatching puts a worker's frames in its outbox under the lock, in window order, and
//! writes them after the lock is released (one write per worker for a batch): no thread ever
//! waits for the lock while another is in a system call.
//!
//! # The window
//!
//! A worker holds up to a window of calls: the one it runs and the next ones, already in its
//! channel, so it never waits for the parent between two calls. By default the window adapts
//! to the worker's average call time: 2, growing for short calls until about 1 ms of work
//! waits per worker (at most 64 calls), so tiny calls travel in batches. While the pool can
//! still grow the window is 1: a call waits for a free worker rather than queue behind a busy
//! one; so do as many queued calls as there are workers starting. A call in a worker's window
//! waits behind the call the worker runs; when long calls can follow short ones and that
//! matters, a fixed `window(1)` gives Python's spread (a call never waits while a worker is
//! free).
//!
//! # When a worker dies
//!
//! Its reader sees end of file, reaps it and, under the lock, removes it: the front call fails
//! (with [`Error::WorkerDied`], or [`Error::Timeout`] / [`Error::Terminated`] when the pool
//! killed it on purpose), the calls behind it go back to the front of the queue (they never
//! started), and a replacement is started if work is waiting. Nothing else is touched.
//!
//! A worker killed while idle fails nothing. A call written to it in the instant between its
//! death and its reader seeing end of file lies unread in its pipe, and goes back to the queue
//! (the outbox tells what was never read; staged in [`state`]'s tests). The one exception no
//! parent can rule out: a call the worker read just before it died counts as started, and
//! fails with [`Error::WorkerDied`] (a worker does not say when it takes a call: that would
//! cost a write per call).
//!
//! # Shutdown
//!
//! 1. `shutdown` marks the pool shut (later submits fail with [`Error::Shutdown`]) and, with
//!    `cancel_futures`, cancels the queued calls.
//! 2. A worker with nothing in flight and nothing queued has its channel closed; it exits at
//!    end of file and its reader reaps it.
//! 3. When no worker is left or starting and the queue is empty, the pool is drained:
//!    `shutdown(wait = true)` returns and the supervisor thread ends.
//!
//! `terminate_workers` shuts down with `cancel_futures`, fails the calls waiting in windows
//! with [`Error::Terminated`], and kills every worker (running calls fail with `Terminated`),
//! those still in their initializer too.
//!
//! # A broken pool
//!
//! A failing initializer, or three failed starts in a row with no worker alive, breaks the
//! pool: submits fail with [`Error::BrokenPool`], and queued calls fail too once no worker is
//! left to serve them. Workers still alive serve what they hold.

mod direct;
mod outbox;
mod state;
mod supervisor;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use self::direct::DirectLine;
use self::outbox::Outbox;
use self::state::{Channel, Effects, Failure, Job, Limits, Pool, Refused, Stop};
use super::call::{Call, Chunked, EncodedCall, Remote, FLAGS};
use super::child::{Child, DEFAULT_HANDSHAKE};
use crate::chunk::{private, Chunk};
use crate::error::{Error, Result};
use crate::executor::{Apply, Executor, MapOptions, Work};
use crate::future::{self, Future, Promise};
use crate::sys::Kill;

/// Chunks `map_chunked` keeps submitted ahead of the one its caller waits for, per worker:
/// enough that the caller, who cuts and encodes the next chunks and takes the values of the
/// done ones, rarely finds the workers' queue empty (with 4 a worker, chunks of 1,000 items
/// cost 14 µs each in waits: `bench proc-map`).
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 16;

/// Appends the initializer's call frame.
type Initializer = Arc<dyn Fn(&mut Vec<u8>) -> Result<()> + Send + Sync>;

/// Configures a [`ProcessPoolExecutor`].
#[derive(Clone)]
pub struct Builder {
    max_workers: Option<usize>,
    initializer: Option<Initializer>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    handshake: Duration,
    /// `None`: adaptive (see [`Builder::window`]).
    window: Option<usize>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_workers", &self.max_workers)
            .field("initializer", &self.initializer.is_some())
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("task_timeout", &self.task_timeout)
            .field("window", &self.window)
            .finish()
    }
}

impl Builder {
    /// The most workers (default: the number of CPUs, as Python).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Work every new worker runs before its first call (Python's `initializer`; pass
    /// [`Apply`](crate::Apply) for `initargs`). If it panics, or runs longer than the
    /// [`task_timeout`](Builder::task_timeout) when one is set, the pool is broken: every call
    /// fails with [`Error::BrokenPool`]. It runs while the pool goes on serving.
    pub fn initializer<W>(mut self, work: W) -> Self
    where
        W: Remote + Clone + Send + Sync + 'static,
    {
        self.initializer = Some(Arc::new(move |out: &mut Vec<u8>| {
            work.clone().encode(!FLAGS, out) // an id no call gets, and no flag bit
        }));
        self
    }

    /// Replace a worker after it has run `n` calls (Python's `max_tasks_per_child`); 0 is an
    /// error at [`build`](Builder::build), as Python's `ValueError`.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Beyond Python: a call running longer than `limit` is stopped for real. Its worker is
    /// killed and replaced, and its future fails with [`Error::Timeout`].
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// How long a new worker has to answer the handshake (default 10 s).
    pub fn handshake_timeout(mut self, limit: Duration) -> Self {
        self.handshake = limit;
        self
    }

    /// Calls sent to a worker ahead of time, fixed. By default the window adapts: 2 (the
    /// running call and the next), growing for short calls until about 1 ms of work waits in
    /// each worker (at most 64 calls), so tiny calls travel in batches and a worker never
    /// idles between them. Calls in a worker's window wait behind the call it runs: when a
    /// long call can follow short ones, `window(1)` spreads calls most fairly (no call ever
    /// waits behind a running one while another worker is free).
    pub fn window(mut self, n: usize) -> Self {
        self.window = Some(n.max(1));
        self
    }

    /// Builds the pool. Workers start on demand, at the first calls.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `max_workers(0)` or `max_tasks_per_child(0)`; [`Error::Io`]
    /// if the supervisor thread cannot start.
    pub fn build(self) -> Result<ProcessPoolExecutor> {
        self.build_or_broken(true)
    }

    /// As [`build`](Self::build); with `strict` false, a supervisor thread that cannot start
    /// gives a broken pool (every call fails with [`Error::BrokenPool`]) instead of an error.
    fn build_or_broken(self, strict: bool) -> Result<ProcessPoolExecutor> {
        let max_workers = self
            .max_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if max_workers == 0 {
            return Err(Error::InvalidArgument(
                "max_workers must be greater than 0".into(),
            ));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(Error::InvalidArgument(
                "max_tasks_per_child must be >= 1".into(),
            ));
        }
        let (events, inbox) = crossbeam_channel::unbounded();
        let (drained_promise, drained) = future::pair();
        let shared = Arc::new(Shared {
            next_id: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(State {
                pool: Pool::new(Limits {
                    max_workers,
                    max_tasks_per_child: self.max_tasks_per_child,
                    task_timeout: self.task_timeout,
                    window: self.window,
                }),
                initializing: Vec::new(),
            }),
            config: Config {
                max_workers,
                initializer: self.initializer,
                task_timeout: self.task_timeout,
                handshake: self.handshake,
            },
            events,
            drained,
            drained_promise: Mutex::new(Some(drained_promise)),
        });
        let supervisor = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name("concurra-process-supervisor".into())
            .spawn(move || supervisor::supervise(&supervisor, &inbox));
        if let Err(e) = started {
            let error = Error::io("starting the process pool supervisor", e);
            if strict {
                return Err(error);
            }
            shared.lock().pool.break_with(error.to_string());
        }
        Ok(ProcessPoolExecutor { shared })
    }
}

/// A pool of worker processes (Python's `concurrent.futures.ProcessPoolExecutor`) whose
/// workers heal: a worker that dies fails only the call it was running and is replaced.
///
/// Work is a `fn` item or a closure that captures nothing, with `serde` arguments and values
/// ([`Remote`]): `submit(f)`, `submit(Apply(f, arg))`, `map(f, items, timeout)`, and
/// [`map_chunked`](ProcessPoolExecutor::map_chunked) for Python's `chunksize`. The program must
/// call [`init`](crate::init) first in `main` (or use [`worker_hook!`](crate::worker_hook)).
///
/// | Python                                   | concurra                                   |
/// |------------------------------------------|--------------------------------------------|
/// | `ProcessPoolExecutor(max_workers=n)`     | `ProcessPoolExecutor::builder().max_workers(n).build()?` |
/// | `initializer=f, initargs=(a,)`           | `.initializer(Apply(f, a))`                |
/// | `max_tasks_per_child=n`                  | `.max_tasks_per_child(n)`                  |
/// | a worker dies: `BrokenProcessPool` for all | [`Error::WorkerDied`] for its call only; the pool heals |
/// | (no way to stop a running call)          | `.task_timeout(t)`, [`submit_timeout`](ProcessPoolExecutor::submit_timeout), [`stop`](ProcessPoolExecutor::stop) |
///
/// ```
/// use concurra::{Apply, ProcessPoolExecutor};
///
/// concurra::worker_hook!();
///
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
///
/// # fn main() -> concurra::Result<()> {
/// let pool = ProcessPoolExecutor::builder().max_workers(2).build()?;
/// assert_eq!(pool.submit(Apply(cube, 3)).result()?, 27);
/// let cubes: Vec<u64> = pool.map(cube, 1..=4).collect::<Result<_, _>>()?;
/// assert_eq!(cubes, [1, 8, 27, 64]);
/// # Ok(())
/// # }
/// ```
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// The last call id given out (ids only need to be unique per pool).
    next_id: std::sync::atomic::AtomicU64,
    config: Config,
    /// Wakes the supervisor.
    events: Sender<Event>,
    /// Complete once shut down and drained (step 3 of the shutdown).
    drained: Future<()>,
    /// Its promise, taken when the state machine says the pool is drained (once).
    drained_promise: Mutex<Option<Promise<()>>>,
}

struct Config {
    max_workers: usize,
    initializer: Option<Initializer>,
    task_timeout: Option<Duration>,
    handshake: Duration,
}

enum Event {
    /// Start a worker (the state machine counted it as starting).
    Spawn,
    /// Something changed: re-check deadlines and whether the pool is drained.
    Wake,
}

/// What the pool's lock guards: the state machine, and the handles of the workers still in
/// their initializer (not the machine's: they hold no call; `terminate_workers` kills them).
struct State {
    pool: Pool<Call, Io>,
    initializing: Vec<Arc<Child>>,
}

/// A worker's I/O handles, held by the state machine as an opaque key to them.
struct WorkerIo {
    child: Arc<Child>,
    out: Arc<Outbox>,
    /// Where the replies to synchronous calls come (see [`direct`]).
    direct: Arc<DirectLine>,
}

type Io = Arc<WorkerIo>;

type Fx = Effects<Call, Io>;

impl Channel<Call> for Io {
    #[inline]
    fn post(&self, call: &Call) -> bool {
        self.out.queue(&call.frame)
    }
}

impl Job for Call {
    #[inline]
    fn id(&self) -> u64 {
        Call::id(self)
    }

    #[inline]
    fn begin(&mut self) -> bool {
        if !self.started {
            if !self.pending.start() {
                return false;
            }
            self.started = true;
        }
        true
    }

    #[inline]
    fn limit(&self) -> Option<Duration> {
        self.timeout
    }

    #[inline]
    fn frame_len(&self) -> usize {
        self.frame.len()
    }

    #[inline]
    fn mark_last(&mut self) {
        Call::mark_last(self);
    }

    #[inline]
    fn mark_direct(&mut self) {
        Call::mark_direct(self);
    }

    #[inline]
    fn is_direct(&self) -> bool {
        Call::is_direct(self)
    }

    #[inline]
    fn unmark(&mut self) {
        self.unmark_last();
    }
}

impl Refused {
    fn into_error(self) -> Error {
        match self {
            Refused::Shutdown => Error::Shutdown,
            Refused::Broken(cause) => Error::BrokenPool { cause },
        }
    }
}

/// What to do once the lock is released: the state machine's effects, and the replies and
/// failures the I/O side made.
#[derive(Default)]
struct After {
    replies: Vec<(Call, Vec<u8>)>,
    failures: Vec<(Call, Error)>,
    cancels: Vec<Call>,
    /// Calls cancelled while queued: their futures are complete; dropped here, unlocked.
    dropped: Vec<Call>,
    spawns: usize,
    drained: bool,
    /// Workers with frames queued to write (by key).
    flushes: Vec<(u64, Io)>,
    /// Workers whose channel to close (then flush).
    closes: Vec<Io>,
    kills: Vec<Io>,
    /// Workers given up on: dropped (killed and reaped) once the lock is released.
    reap: Vec<Arc<Child>>,
    gone: Vec<Io>,
    /// A call started whose limit ends before the supervisor's armed deadline.
    wake: bool,
}

/// Appends `from` to `to`, without a copy when `to` is empty.
fn append<T>(to: &mut Vec<T>, mut from: Vec<T>) {
    if to.is_empty() {
        *to = from;
    } else {
        to.append(&mut from);
    }
}

impl After {
    /// Takes a transition's effects in.
    fn absorb(&mut self, fx: Fx) {
        let Effects {
            failed,
            cancelled,
            dropped,
            spawn,
            flush,
            close,
            kill,
            wake,
            drained,
        } = fx;
        for (call, failure) in failed {
            let error = match failure {
                Failure::Stopped => Error::Terminated,
                Failure::Broken(cause) => Error::BrokenPool { cause },
            };
            self.failures.push((call, error));
        }
        append(&mut self.cancels, cancelled);
        append(&mut self.dropped, dropped);
        self.spawns += spawn;
        append(&mut self.flushes, flush);
        append(&mut self.closes, close);
        append(&mut self.kills, kill);
        self.wake |= wake;
        self.drained |= drained;
    }

    fn run(self, shared: &Shared) {
        for io in &self.kills {
            io.child.signal(Kill::Kill);
        }
        for io in &self.closes {
            io.out.close();
        }
        for (_, io) in &self.flushes {
            io.out.flush();
        }
        for io in &self.closes {
            io.out.flush();
        }
        if self.wake {
            let _ = shared.events.send(Event::Wake);
        }
        for _ in 0..self.spawns {
            let _ = shared.events.send(Event::Spawn);
        }
        for (call, payload) in self.replies {
            call.pending.reply(&payload);
        }
        for (call, error) in self.failures {
            call.pending.fail(error);
        }
        for call in self.cancels {
            call.pending.cancel();
        }
        drop(self.dropped);
        if self.drained {
            let promise = shared
                .drained_promise
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(drained) = promise {
                let _ = drained.set_result(());
            }
            let _ = shared.events.send(Event::Wake);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `transition` on the state machine under the lock, then its effects unlocked.
    fn apply(&self, transition: impl FnOnce(&mut Pool<Call, Io>) -> Fx) {
        let fx = transition(&mut self.lock().pool);
        let mut after = After::default();
        after.absorb(fx);
        after.run(self);
    }
}

impl ProcessPoolExecutor {
    /// A builder: max_workers, initializer, max_tasks_per_child, task_timeout.
    pub fn builder() -> Builder {
        Builder {
            max_workers: None,
            initializer: None,
            max_tasks_per_child: None,
            task_timeout: None,
            handshake: DEFAULT_HANDSHAKE,
            window: None,
        }
    }

    /// A pool with the default settings (as many workers as CPUs). Never fails: a supervisor
    /// thread the OS refuses gives a broken pool, whose calls fail with [`Error::BrokenPool`].
    pub fn new() -> Self {
        Self::builder()
            .build_or_broken(false)
            .expect("the defaults are valid")
    }

    /// Schedules `work` and returns its future at once (Python: `submit(fn, arg)`; see
    /// [`Executor::submit`]): a `fn` item, [`Apply`]`(f, arg)`, or either in
    /// [`Fallible`](crate::Fallible).
    #[inline]
    pub fn submit<W: Work<Self>>(&self, work: W) -> Future<W::Output> {
        Executor::submit(self, work)
    }

    /// Runs `work` and waits for its value, moved out; the reply is read in this thread
    /// when a worker is idle (see [`Executor::call`]).
    ///
    /// # Errors
    /// As [`Future::result`].
    pub fn call<W: Work<Self>>(&self, work: W) -> Result<W::Output> {
        Executor::call(self, work)
    }

    /// `f` over `items`, one call each, results in input order (Python: `map(fn, iterable)`;
    /// see [`Executor::map`]; [`map_chunked`](Self::map_chunked) for Python's `chunksize`).
    pub fn map<F, T, I>(&self, f: F, items: I) -> crate::executor::Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Copy + Send + 'static,
        I: IntoIterator,
        I::Item: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Executor::map(self, f, items)
    }

    /// [`map`](Self::map) with a total deadline (Python: `map(fn, iterable, timeout=t)`).
    pub fn map_timeout<F, T, I>(
        &self,
        f: F,
        items: I,
        timeout: Duration,
    ) -> crate::executor::Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Copy + Send + 'static,
        I: IntoIterator,
        I::Item: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Executor::map_timeout(self, f, items, timeout)
    }

    /// [`map`](Self::map) with every option (see [`Executor::map_with`]).
    pub fn map_with<F, T, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> crate::executor::Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Copy + Send + 'static,
        I: IntoIterator,
        I::Item: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Executor::map_with(self, f, items, options)
    }

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`; see
    /// [`Executor::shutdown`]).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    /// Submits a call encoded once ([`DynExecutor`](crate::DynExecutor)).
    pub(crate) fn submit_encoded(&self, call: EncodedCall) {
        if let Some(call) = call.into_call(self.next_id()) {
            self.enqueue(call);
        }
    }

    /// Queues a made call and dispatches it.
    fn enqueue(&self, call: Call) {
        let shared = &*self.shared;
        let submitted = shared.lock().pool.submit(call, Instant::now());
        match submitted {
            Ok(fx) => {
                let mut after = After::default();
                after.absorb(fx);
                after.run(shared);
            }
            Err((call, refused)) => call.pending.fail(refused.into_error()),
        }
    }

    fn submit_remote<W: Remote + 'static>(&self, work: W) -> Future<W::Output> {
        self.submit_with(work, None)
    }

    /// Submits `work` (as [`Executor::submit`]) with a time limit of its own, beyond Python: if
    /// it runs longer than `limit` its worker is killed and replaced, and its future fails with
    /// [`Error::Timeout`]. The limit counts from the moment the call starts, not from the
    /// submit; it overrides the pool's [`task_timeout`](Builder::task_timeout) for this call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use concurra::ProcessPoolExecutor;
    ///
    /// concurra::worker_hook!();
    ///
    /// fn spin() {
    ///     loop {
    ///         std::hint::spin_loop();
    ///     }
    /// }
    ///
    /// # fn main() -> concurra::Result<()> {
    /// let pool = ProcessPoolExecutor::builder().max_workers(1).build()?;
    /// let stuck = pool.submit_timeout(spin, Duration::from_millis(50));
    /// assert!(stuck.result().unwrap_err().is_timeout());
    /// # Ok(())
    /// # }
    /// ```
    pub fn submit_timeout<W: Remote + 'static>(
        &self,
        work: W,
        limit: Duration,
    ) -> Future<W::Output> {
        self.submit_with(work, Some(limit))
    }

    /// The next call id (ids only need to be unique per pool).
    fn next_id(&self) -> u64 {
        self.shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// [`Executor::call`]: to an idle worker, the call goes with the direct bit and this
    /// thread reads the reply itself (see [`direct`]); otherwise it is submitted and waited
    /// for.
    fn call_remote<W: Remote + 'static>(&self, work: W) -> Result<W::Output> {
        let shared = &self.shared;
        let id = self.next_id();
        let (call, future) = Call::new(work, id)?;
        let sent = shared.lock().pool.call_direct(call, Instant::now());
        let state::Direct { lead, effects } = sent.map_err(|(_, refused)| refused.into_error())?;
        let mut after = After::default();
        after.absorb(effects);
        after.run(shared);
        if let Some((key, io)) = lead {
            supervisor::lead(shared, key, &io.direct, id, &|| future.done());
        }
        future.into_unique_result()
    }

    fn submit_with<W: Remote + 'static>(
        &self,
        work: W,
        timeout: Option<Duration>,
    ) -> Future<W::Output> {
        let id = self.next_id();
        let (mut call, future) = match Call::new(work, id) {
            Ok(made) => made,
            Err(e) => return Future::completed(Err(e)),
        };
        call.timeout = timeout;
        self.enqueue(call);
        future
    }

    /// Stops the call behind `future` for real (beyond Python, whose `cancel` cannot touch a
    /// running call): a queued call is cancelled; a running one has its worker killed and
    /// replaced, and fails with [`Error::Terminated`]; one sent to a worker but not started
    /// fails with [`Error::Terminated`] at once, and its worker is replaced when it reaches
    /// it. Returns false if the future is not this pool's or is already done.
    pub fn stop<T>(&self, future: &Future<T>) -> bool {
        if future.done() {
            return false;
        }
        let id = future.id();
        let found = self
            .shared
            .lock()
            .pool
            .stop(|call| call.pending.future_id() == id);
        match found {
            Stop::Queued => future.cancel(),
            Stop::Running(fx) => {
                let mut after = After::default();
                after.absorb(fx);
                after.run(&self.shared);
                true
            }
            Stop::Waiting(call) => {
                call.pending.fail(Error::Terminated);
                true
            }
            Stop::Unknown => false,
        }
    }

    /// Python's `map(fn, *iterables, chunksize=n)`: `chunksize` items per call, values in
    /// order, lazily; a failing item fails only its place (`Err` at its position, and the
    /// iteration goes on, unlike [`Executor::map`] which ends at the first error).
    ///
    /// A `chunksize` of 0 yields one [`Error::InvalidArgument`] and nothing else (Python:
    /// `ValueError`).
    pub fn map_chunked<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> impl Iterator<Item = Result<T>> + '_
    where
        F: Fn(A) -> T + Copy + Send + 'static,
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        super::remote::map_chunked_on(
            self,
            f,
            items,
            chunksize,
            self.shared.config.max_workers * CHUNKS_IN_FLIGHT_PER_WORKER,
        )
    }

    /// Submits `f` over one chunk of `items` (the Pool facade's map unit).
    pub(crate) fn submit_chunk<F, A, T>(&self, f: F, items: Vec<A>) -> Future<Chunk<T>>
    where
        F: Fn(A) -> T + Copy + Send + 'static,
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        self.submit_remote(Apply(Chunked(f), items))
    }

    /// The worker pids now (for tests and diagnostics).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared
            .lock()
            .pool
            .workers()
            .map(|w| w.child.pid())
            .collect()
    }
}

impl Executor for ProcessPoolExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let shared = &*self.shared;
        shared.apply(|pool| pool.shutdown(cancel_futures, Instant::now()));
        let _ = shared.events.send(Event::Wake);
        if wait {
            shared.drained.wait();
        }
    }

    fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }

    /// Shuts down, cancels the queued calls and kills every worker: their running calls fail
    /// with [`Error::Terminated`] (Python 3.14's `terminate_workers`, which sends SIGTERM;
    /// concurra kills, so that no call can outlive it).
    fn terminate_workers(&self) {
        self.shutdown(false, true);
        let shared = &*self.shared;
        let fx = {
            let mut state = shared.lock();
            // Workers still in their initializer go too.
            for child in &state.initializing {
                child.signal(Kill::Kill);
            }
            // The calls waiting in windows never start: they fail, and are not handed to
            // another worker when their worker's death is seen.
            state.pool.terminate()
        };
        let mut after = After::default();
        after.absorb(fx);
        after.run(shared);
    }
}

/// The process pool's chunks: the `fn` item's identity and the chunk's encoded items, one call.
impl<F, A, T> private::Submit<ProcessPoolExecutor, A> for F
where
    F: Fn(A) -> T + Copy + Send + Sync + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    type Output = T;
    type Held = F;

    fn hold(self) -> F {
        self
    }

    fn submit_chunk(f: &F, executor: &ProcessPoolExecutor, items: Vec<A>) -> Future<Chunk<T>> {
        executor.submit_chunk(*f, items)
    }
}

impl<W: Remote + 'static> Work<ProcessPoolExecutor> for W {
    type Output = W::Output;

    fn submit_to(self, executor: &ProcessPoolExecutor) -> Future<W::Output> {
        executor.submit_remote(self)
    }

    /// The caller reads the reply itself when a worker is idle (see the `direct` module).
    fn call_on(
        self,
        executor: &ProcessPoolExecutor,
    ) -> std::result::Result<Result<W::Output>, Self> {
        Ok(executor.call_remote(self))
    }
}

impl Default for ProcessPoolExecutor {
    fn default() -> Self {
        ProcessPoolExecutor::new()
    }
}

impl Drop for ProcessPoolExecutor {
    /// `shutdown(wait = true)`, as Python's `with` block.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.config.max_workers)
            .field("workers", &state.pool.workers().count())
            .field("queued", &state.pool.queued())
            .field("shutdown", &(state.pool.life() != state::Life::Open))
            .finish()
    }
}
