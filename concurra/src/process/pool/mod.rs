//! [`ProcessPoolExecutor`]: the [`Executor`] over worker processes that heal.
//!
//! # Who holds what
//!
//! One lock guards the pool's [`State`]: the queue of calls not yet sent, and per worker the
//! calls sent to it in order (`in_flight`). A worker runs its calls one at a time in the order
//! sent and writes each reply before it starts the next, so the front of `in_flight` is the
//! call it is running and the others have not started. Three kinds of thread touch the state:
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
//! Dispatching puts a worker's frames in its outbox under the lock, in `in_flight` order, and
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
//! A worker killed while idle fails nothing, with one exception no parent can rule out: a call
//! written to it in the instant between its death and its reader seeing end of file is its
//! front call, and fails with [`Error::WorkerDied`] (a worker does not say when it takes a
//! call: that would cost a write per call).
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
mod supervisor;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use self::direct::DirectLine;
use self::outbox::Outbox;
use super::call::{Call, Chunked, EncodedCall, Pending, Remote, FLAGS};
use super::child::{Child, DEFAULT_HANDSHAKE};
use crate::chunk::{private, Chunk};
use crate::error::{Error, Result};
use crate::executor::{Apply, Executor, MapOptions, Work};
use crate::future::{self, Future, Promise};
use crate::sys::Kill;

/// Calls a worker holds at once by default: the one it runs and one waiting in its channel,
/// so it never idles between calls (Python keeps one extra call queued per pool).
const DEFAULT_WINDOW: usize = 2;

/// How much work (by the worker's average call time) may wait in a worker's channel: short
/// calls get a larger window, up to [`MAX_WINDOW`].
const QUEUED_WORK: Duration = Duration::from_millis(1);

/// The largest window short calls get.
const MAX_WINDOW: usize = 64;

/// Chunks `map_chunked` keeps submitted ahead of the one its caller waits for, per worker:
/// enough that the caller, who cuts and encodes the next chunks and takes the values of the
/// done ones, rarely finds the workers' queue empty (with 4 a worker, chunks of 1,000 items
/// cost 14 µs each in waits: `bench proc-map`).
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 16;

/// Worker starts failing in a row, with no worker alive, that break the pool.
const MAX_START_FAILURES: usize = 3;

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
                queue: VecDeque::new(),
                workers: Vec::new(),
                starting: 0,
                next_worker: 0,
                shutdown: false,
                broken: None,
                start_failures: 0,
                armed: None,
                initializing: Vec::new(),
                drained: Some(drained_promise),
            }),
            config: Config {
                max_workers,
                initializer: self.initializer,
                max_tasks_per_child: self.max_tasks_per_child,
                task_timeout: self.task_timeout,
                handshake: self.handshake,
                window: self.window,
            },
            events,
            drained,
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
            shared.lock().broken = Some(error.to_string());
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
}

struct Config {
    max_workers: usize,
    initializer: Option<Initializer>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    handshake: Duration,
    /// `None`: adaptive (see [`Builder::window`]).
    window: Option<usize>,
}

enum Event {
    /// Start a worker (`starting` was already counted).
    Spawn,
    /// Something changed: re-check deadlines and whether the pool is drained.
    Wake,
}

struct State {
    /// Calls not yet sent, in submission order.
    queue: VecDeque<Call>,
    workers: Vec<Worker>,
    /// Workers being started by the supervisor.
    starting: usize,
    next_worker: u64,
    shutdown: bool,
    /// Why no worker can start (a failing initializer or handshake): every call fails.
    broken: Option<String>,
    /// Worker starts that failed in a row.
    start_failures: usize,
    /// The deadline the supervisor sleeps towards (`None`: it sleeps until woken). A call
    /// whose limit ends earlier wakes it.
    armed: Option<Instant>,
    /// Workers running their initializer (not serving yet): `terminate_workers` kills them.
    initializing: Vec<Arc<Child>>,
    drained: Option<Promise<()>>,
}

/// Why the pool killed a worker, and the call it killed it for (its front call then). If
/// that call replied before the worker died, the call running at death fails as any other
/// worker death does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    call: u64,
    why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The call ran longer than this limit.
    Timeout(Duration),
    /// [`ProcessPoolExecutor::stop`] or `terminate_workers`.
    Stopped,
}

struct Worker {
    key: u64,
    child: Arc<Child>,
    out: Arc<Outbox>,
    /// Where the replies to synchronous calls come (see [`direct`]).
    direct: Arc<DirectLine>,
    /// Why the worker was killed as out of step, when its direct line said so.
    malformed: Option<String>,
    /// Calls sent, in order: the front one is running, the others have not started.
    in_flight: VecDeque<InFlight>,
    /// When the front call started.
    front_since: Instant,
    /// Calls sent in its life (`max_tasks_per_child`).
    sent: usize,
    /// Its last call is sent, or its channel is closed: send nothing more.
    retiring: bool,
    verdict: Option<Verdict>,
    /// How long its calls take, smoothed (`None` until its first reply): sizes its window.
    call_time: Option<Duration>,
}

impl Worker {
    /// How many calls this worker may hold: the fixed window if one was set, else
    /// [`DEFAULT_WINDOW`], or more for short calls, so that about [`QUEUED_WORK`] of them wait
    /// in its channel (at most [`MAX_WINDOW`]). A worker fed in batches never idles between
    /// tiny calls; long calls keep the small window and so spread over the workers.
    fn window(&self, fixed: Option<usize>) -> usize {
        if let Some(n) = fixed {
            return n;
        }
        match self.call_time {
            Some(t) if !t.is_zero() => {
                let fits = QUEUED_WORK.as_nanos() / t.as_nanos();
                (fits.min(MAX_WINDOW as u128) as usize).max(DEFAULT_WINDOW)
            }
            Some(_) => MAX_WINDOW,
            None => DEFAULT_WINDOW,
        }
    }

    /// The time limit of the call it runs: the call's own, or the pool's; `None` if it runs
    /// nothing, has no limit, or is being killed already.
    fn front_limit(&self, pool_limit: Option<Duration>) -> Option<Duration> {
        let front = self.in_flight.front()?;
        if self.verdict.is_some() {
            return None;
        }
        front.call.timeout.or(pool_limit)
    }

    /// When the call it runs must be stopped (`None`: never, or too far to count).
    fn front_deadline(&self, pool_limit: Option<Duration>) -> Option<Instant> {
        self.front_since.checked_add(self.front_limit(pool_limit)?)
    }

    /// Kills the worker for the reason `why`, aimed at the call it runs now.
    fn kill_for(&mut self, why: Why) {
        if let Some(front) = self.in_flight.front() {
            self.verdict = Some(Verdict {
                call: front.call.id(),
                why,
            });
        }
        self.child.signal(Kill::Kill);
    }

    /// Records that the front call took `took` (an exponential average, 1/8 per call).
    fn observe(&mut self, took: Duration) {
        self.call_time = Some(match self.call_time {
            None => took,
            Some(avg) => (avg * 7 + took) / 8,
        });
    }
}

/// A call sent to a worker. The frame is kept: if the worker dies before starting it, the
/// call is sent again to another.
struct InFlight {
    call: Call,
    /// Stopped by the caller while waiting in the window: its future has failed already, and
    /// the worker is killed when it reaches the call.
    stopped: bool,
}

impl InFlight {
    /// Stops this call while it waits in the window: a placeholder takes the place of its
    /// waiting side, which is returned to be failed once the lock is released.
    fn stop(&mut self) -> Box<dyn Pending> {
        self.stopped = true;
        let id = self.call.pending.future_id();
        std::mem::replace(&mut self.call.pending, Box::new(Stopped(id)))
    }
}

/// What stays in the window in place of a stopped call's waiting side.
struct Stopped(usize);

impl Pending for Stopped {
    fn start(&self) -> bool {
        false
    }
    fn reply(self: Box<Self>, _: &[u8]) {}
    fn fail(self: Box<Self>, _: Error) {}
    fn cancel(self: Box<Self>) {}
    fn future_id(&self) -> usize {
        self.0
    }
}

/// What to do once the lock is released.
#[derive(Default)]
struct After {
    replies: Vec<(Box<dyn Pending>, Vec<u8>)>,
    failures: Vec<(Box<dyn Pending>, Error)>,
    cancels: Vec<Box<dyn Pending>>,
    spawns: usize,
    drained: Option<Promise<()>>,
    /// Workers with frames queued (or a close) to write.
    flushes: Vec<Arc<Outbox>>,
    /// Workers given up on: dropped (killed and reaped) once the lock is released.
    reap: Vec<Arc<Child>>,
    /// A call started whose limit ends before the supervisor's armed deadline.
    wake: bool,
}

impl After {
    fn run(self, shared: &Shared) {
        for outbox in &self.flushes {
            outbox.flush();
        }
        if self.wake {
            let _ = shared.events.send(Event::Wake);
        }
        for _ in 0..self.spawns {
            let _ = shared.events.send(Event::Spawn);
        }
        for (pending, payload) in self.replies {
            pending.reply(&payload);
        }
        for (pending, error) in self.failures {
            pending.fail(error);
        }
        for pending in self.cancels {
            pending.cancel();
        }
        if let Some(drained) = self.drained {
            let _ = drained.set_result(());
            let _ = shared.events.send(Event::Wake);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker's front call has just started: if its limit ends before the deadline the
    /// supervisor sleeps towards, wake the supervisor (after the lock is released).
    fn front_started(&self, worker: &Worker, armed: &mut Option<Instant>, after: &mut After) {
        let Some(deadline) = worker.front_deadline(self.config.task_timeout) else {
            return;
        };
        if armed.is_none_or(|a| deadline < a) {
            *armed = Some(deadline);
            after.wake = true;
        }
    }

    /// Puts `call` in `worker`'s window (its frame is written once the lock is released).
    /// Gives the call back, its flag bits cleared, if the worker's channel is closed (its
    /// flusher could not start): the worker then takes nothing more.
    fn send(
        &self,
        worker: &mut Worker,
        mut call: Call,
        now: Instant,
        armed: &mut Option<Instant>,
        after: &mut After,
    ) -> std::result::Result<(), Call> {
        if self.config.max_tasks_per_child == Some(worker.sent + 1) {
            call.mark_last();
        }
        if !worker.out.queue(&call.frame) {
            worker.retiring = true;
            call.unmark_last();
            return Err(call);
        }
        // One write per worker for all its frames, once the lock is released.
        if !after.flushes.iter().any(|o| Arc::ptr_eq(o, &worker.out)) {
            after.flushes.push(Arc::clone(&worker.out));
        }
        worker.sent += 1;
        if self.config.max_tasks_per_child == Some(worker.sent) {
            worker.retiring = true;
        }
        let starts = worker.in_flight.is_empty();
        if starts {
            worker.front_since = now;
        }
        worker.in_flight.push_back(InFlight {
            call,
            stopped: false,
        });
        if starts {
            self.front_started(worker, armed, after);
        }
        Ok(())
    }

    /// Why a call is refused now: the pool is shut down, or broken.
    fn refusal(state: &State) -> Option<Error> {
        if state.shutdown {
            return Some(Error::Shutdown);
        }
        let cause = state.broken.as_ref()?;
        Some(Error::BrokenPool {
            cause: cause.clone(),
        })
    }

    /// Sends queued calls to workers with room, asks for workers if calls still wait, and
    /// closes idle workers of a shut pool.
    fn dispatch(&self, state: &mut State, after: &mut After) {
        let now = Instant::now();
        // While the pool can still grow, a call waits for an idle worker (one is started for
        // it below) rather than queue in a busy worker's window behind a long call; so do as
        // many calls as there are workers on their way.
        let can_grow = state.workers.len() + state.starting < self.config.max_workers;
        while !state.queue.is_empty() {
            let windows = !can_grow && state.queue.len() > state.starting;
            let Some(worker) = state
                .workers
                .iter_mut()
                .filter(|w| {
                    let window = if windows {
                        w.window(self.config.window)
                    } else {
                        1
                    };
                    !w.retiring && w.in_flight.len() < window
                })
                .min_by_key(|w| w.in_flight.len())
            else {
                break;
            };
            let mut call = state.queue.pop_front().expect("not empty");
            if !call.started {
                if !call.pending.start() {
                    continue; // cancelled while queued: its future is complete
                }
                call.started = true;
            }
            if let Err(call) = self.send(worker, call, now, &mut state.armed, after) {
                // Another worker takes the call.
                state.queue.push_front(call);
            }
        }

        // A broken pool with no worker left to serve its queue (calls handed back by a worker
        // that died, say) fails them: nothing would ever run them.
        if let Some(cause) = &state.broken {
            if !state.workers.iter().any(|w| !w.retiring) {
                let cause = cause.clone();
                for call in state.queue.drain(..) {
                    let error = Error::BrokenPool {
                        cause: cause.clone(),
                    };
                    after.failures.push((call.pending, error));
                }
            }
        }
        // Calls still queued found no room: start a worker for each, up to `max_workers`.
        while state.broken.is_none()
            && state.starting < state.queue.len()
            && state.workers.len() + state.starting < self.config.max_workers
        {
            state.starting += 1;
            after.spawns += 1;
        }
        if state.shutdown && state.queue.is_empty() {
            for w in state.workers.iter_mut().filter(|w| w.in_flight.is_empty()) {
                w.retiring = true;
                w.out.close();
                after.flushes.push(Arc::clone(&w.out));
            }
            if state.workers.is_empty() && state.starting == 0 {
                after.drained = state.drained.take();
            }
        }
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
        let mut after = After::default();
        {
            let mut state = shared.lock();
            if let Some(refused) = Shared::refusal(&state) {
                drop(state);
                call.pending.fail(refused);
                return;
            }
            state.queue.push_back(call);
            shared.dispatch(&mut state, &mut after);
        }
        after.run(shared);
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
        let (mut call, future) = Call::new(work, id)?;
        let mut after = After::default();
        let lead = {
            let mut guard = shared.lock();
            let state = &mut *guard;
            if let Some(refused) = Shared::refusal(state) {
                return Err(refused);
            }
            // Nobody else holds the future: it cannot have been cancelled.
            call.pending.start();
            call.started = true;
            let idle = if state.queue.is_empty() {
                state
                    .workers
                    .iter_mut()
                    .find(|w| !w.retiring && w.in_flight.is_empty())
            } else {
                None
            };
            let mut lead = None;
            if let Some(worker) = idle {
                call.mark_direct();
                let line = (worker.key, Arc::clone(&worker.direct));
                match shared.send(worker, call, Instant::now(), &mut state.armed, &mut after) {
                    Ok(()) => lead = Some(line),
                    Err(call) => state.queue.push_back(call),
                }
            } else {
                state.queue.push_back(call);
            }
            if lead.is_none() {
                shared.dispatch(state, &mut after);
            }
            lead
        };
        after.run(shared);
        if let Some((key, line)) = lead {
            supervisor::lead(shared, key, &line, id, &|| future.done());
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
        let mut state = self.shared.lock();
        if state.queue.iter().any(|c| c.pending.future_id() == id) {
            drop(state);
            return future.cancel();
        }
        for worker in &mut state.workers {
            let Some(at) = worker
                .in_flight
                .iter()
                .position(|f| !f.stopped && f.call.pending.future_id() == id)
            else {
                continue;
            };
            if at == 0 {
                worker.kill_for(Why::Stopped);
                return true;
            }
            let pending = worker.in_flight[at].stop();
            drop(state);
            pending.fail(Error::Terminated);
            return true;
        }
        false
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
            .workers
            .iter()
            .map(|w| w.child.pid())
            .collect()
    }
}

impl Executor for ProcessPoolExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let shared = &*self.shared;
        let mut after = After::default();
        {
            let mut state = shared.lock();
            state.shutdown = true;
            if cancel_futures {
                after
                    .cancels
                    .extend(state.queue.drain(..).map(|c| c.pending));
            }
            shared.dispatch(&mut state, &mut after);
        }
        after.run(shared);
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
        let mut waiting = Vec::new();
        {
            let mut state = self.shared.lock();
            for worker in &mut state.workers {
                if worker.in_flight.is_empty() {
                    continue;
                }
                // The calls waiting in its window never start: they fail here, and are not
                // handed to another worker when this one's death is seen.
                for call in worker.in_flight.iter_mut().skip(1).filter(|f| !f.stopped) {
                    waiting.push(call.stop());
                }
                worker.kill_for(Why::Stopped);
            }
            // Workers still in their initializer go too.
            for child in &state.initializing {
                child.signal(Kill::Kill);
            }
        }
        for pending in waiting {
            pending.fail(Error::Terminated);
        }
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
            .field("workers", &state.workers.len())
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}
