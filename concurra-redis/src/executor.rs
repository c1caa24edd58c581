//! [`RedisExecutor`]: the submitting side. Calls go to the build's stream; answers come back
//! on this executor's own result stream.
//!
//! # Threads
//!
//! 1. **Sender**: takes the calls `submit` queued, drops those cancelled meanwhile, and adds
//!    the rest to the stream in one pipeline (`XADD` each); records each call's entry id. A
//!    pipeline that fails (after one reconnection) fails its calls with [`Error::Broker`]
//!    and marks the broker down, so that the next `submit`s fail at once.
//! 2. **Reader**: reads the result stream (`XREAD BLOCK`), completes each call's future by
//!    its task number (the first answer wins; a later one finds no call and is dropped),
//!    deletes what it read. While the broker is unreachable it reconnects; past the broker
//!    timeout every waiting call fails with [`Error::Broker`].
//! 3. **Watchdog** (every 20 ms): withdraws the calls whose future was cancelled (a call no
//!    worker leased is deleted and never runs; a leased one is announced on the cancel
//!    channel and its worker kills it); fails every waiting call with [`Error::NoWorkers`]
//!    once no worker of the build renewed its lease for the no-worker timeout.
//!
//! A call's future stays pending until its answer arrives (this side is not told when a
//! worker starts it, which would cost a message per call), so [`Future::cancel`] succeeds
//! until then, and stops the call wherever it is.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use concurra::process::EncodedCall;
use concurra::{DynExecutor, Error, Executor, Future, RemoteExecutor, Result, Work};
use crossbeam_channel::{Receiver, Sender};
use redis::Value;

use crate::answer::{field, Answer};
use crate::broker::{self, Keys, Target};

/// The defaults: Celery's and the numbers.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
const DEFAULT_EXPIRY: Duration = Duration::from_secs(3600);
const DEFAULT_NO_WORKER: Duration = Duration::from_secs(30);
const DEFAULT_BROKER_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_WORKERS: usize = 64;
/// How often the watchdog looks for cancelled calls.
const TICK: Duration = Duration::from_millis(20);
/// How often it asks whether a worker is live (while calls wait).
const LIVENESS_EVERY: Duration = Duration::from_millis(250);
/// How long the reader blocks on its stream between two looks at the executor's state.
const READ_BLOCK_MS: u64 = 100;
/// The most calls one pipeline adds.
const BATCH: usize = 1024;

/// How a [`RedisExecutor`] is made: `RedisExecutor::builder(url)…build()`.
#[derive(Debug, Clone)]
pub struct Builder {
    url: String,
    namespace: Option<String>,
    lease: Duration,
    retries: u32,
    result_expiry: Duration,
    task_timeout: Option<Duration>,
    no_worker_timeout: Duration,
    broker_timeout: Duration,
    max_workers: usize,
}

impl Builder {
    /// The namespace (default: the URL's `?ns=`, else `concurra`): executors and workers
    /// meet only within one.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// How long a worker holds a call without renewing its lease before a live worker takes
    /// it over (default 30 s). Workers renew every quarter lease; a worker silent for a
    /// lease (killed, stopped, cut off) is presumed dead. The lease is per build and
    /// namespace: the executor built last sets it for every worker of the build.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// How many times a call whose worker was lost is run again (default 0, the process
    /// pool's rule: it fails with [`Error::WorkerLost`]). With `n > 0` a call may run more
    /// than once (at-least-once): use it for idempotent work.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// How long an answer waits unread in the result stream (default 1 h): the answers of an
    /// executor that went away expire.
    pub fn result_expiry(mut self, expiry: Duration) -> Self {
        self.result_expiry = expiry.max(Duration::from_millis(1));
        self
    }

    /// A time limit for every call, counted from its start on a worker (the process pool's
    /// `task_timeout`): past it the worker kills the call's process and its future fails
    /// with [`Error::Timeout`]. [`submit_timeout`](RemoteExecutor::submit_timeout) sets one
    /// per call.
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// How long calls wait while no worker of this build is live before they fail with
    /// [`Error::NoWorkers`] (default 30 s).
    pub fn no_worker_timeout(mut self, limit: Duration) -> Self {
        self.no_worker_timeout = limit;
        self
    }

    /// How long waiting calls survive an unreachable broker before they fail with
    /// [`Error::Broker`] (default 30 s). With persistence on, a broker back within it
    /// resumes them.
    pub fn broker_timeout(mut self, limit: Duration) -> Self {
        self.broker_timeout = limit;
        self
    }

    /// How many workers `map` plans for (calls in flight ahead of the consumer: 32 per
    /// worker; default 64). The workers themselves are wherever they run.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n.max(1);
        self
    }

    /// Connects to the broker and starts the executor's threads.
    ///
    /// # Errors
    /// [`Error::Broker`] if the broker cannot be reached, or is older than Redis 6.2;
    /// [`Error::Io`] if this executable's build id cannot be read.
    pub fn build(self) -> Result<RedisExecutor> {
        let target = Target::parse(&self.url);
        let namespace = self
            .namespace
            .clone()
            .or_else(|| target.param("ns").map(str::to_string))
            .unwrap_or_else(|| "concurra".into());
        let build = concurra::build_id()?.to_string();
        let keys = Keys::new(&namespace, &build);
        let redis = redis::Client::open(target.url.as_str())
            .map_err(|e| broker::broker("invalid broker URL", &e))?;
        let io = self.broker_timeout.max(Duration::from_secs(1));
        let mut con =
            broker::connect(&redis, io).map_err(|e| broker::broker("cannot connect", &e))?;
        broker::check_version(&mut con)?;
        broker::ensure_group(&mut con, &keys).map_err(|e| broker::broker("XGROUP CREATE", &e))?;
        let lease_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        redis::cmd("SET")
            .arg(&keys.lease)
            .arg(lease_ms)
            .query::<()>(&mut con)
            .map_err(|e| broker::broker("SET lease", &e))?;
        let client_id = client_id();
        let results = format!("{}{client_id}", keys.results_prefix);
        let shared = Arc::new(Shared {
            config: self,
            keys,
            build,
            client_id,
            results,
            redis,
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            next_task: AtomicU64::new(1),
            down: Mutex::new(None),
            stop: AtomicBool::new(false),
            sending: Mutex::new(Some(con)),
            flushed: Condvar::new(),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| Error::Io {
                    context: format!("cannot start the {name} thread"),
                    source: Arc::new(e),
                })
        };
        let s = Arc::clone(&shared);
        threads.push(spawn(
            "concurra-redis-send",
            Box::new(move || sender(&s, &rx)),
        )?);
        let s = Arc::clone(&shared);
        threads.push(spawn("concurra-redis-read", Box::new(move || reader(&s)))?);
        let s = Arc::clone(&shared);
        threads.push(spawn(
            "concurra-redis-watch",
            Box::new(move || watchdog(&s)),
        )?);
        Ok(RedisExecutor {
            shared,
            sender: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        })
    }
}

/// An executor whose calls run on worker nodes anywhere, through a Redis broker (Redis
/// Streams): Python's Celery or RQ, with concurra's [`Future`] and the process pool's rules.
/// See the [crate docs](crate) for the protocol and the failure semantics.
///
/// It runs what the process pool runs ([`Remote`] work: `fn` items or closures capturing
/// nothing, over `serde` values): `submit(f)`, `submit(Apply(f, x))`,
/// [`Fallible`](concurra::Fallible), `call`, `map`, [`map_chunked`](RemoteExecutor::map_chunked)
/// and the Pool facade ([`RedisPool`](crate::RedisPool)); it is a
/// [`DynExecutor`] too.
pub struct RedisExecutor {
    shared: Arc<Shared>,
    sender: Mutex<Option<Sender<Outgoing>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    config: Builder,
    keys: Keys,
    build: String,
    client_id: String,
    results: String,
    redis: redis::Client,
    state: Mutex<State>,
    /// Signalled when the last waiting call is answered.
    idle: Condvar,
    next_task: AtomicU64,
    /// Since when, and why, the broker is unreachable (`None`: it answers).
    down: Mutex<Option<(Instant, String)>>,
    /// The threads stop (the executor is dropped).
    stop: AtomicBool,
    /// The connection calls are added on, held while a batch is added (from the last look at
    /// its calls to the recording of their entries): `shutdown(cancel_futures)` waits it
    /// out. The sender thread adds batches; a call submitted alone is added by its caller.
    sending: Mutex<Option<redis::Connection>>,
    /// Signalled (with `state`) when entries are recorded.
    flushed: Condvar,
}

#[derive(Default)]
struct State {
    calls: HashMap<u64, Slot>,
    shutdown: bool,
    /// `shutdown(cancel_futures)`: calls not yet added are cancelled, not added.
    cancel_unsent: bool,
}

/// A call waiting for its answer.
struct Slot {
    call: EncodedCall,
    /// Its stream entry, once added.
    entry: Option<String>,
}

/// A call on its way to the stream.
struct Outgoing {
    task: u64,
    payload: Vec<u8>,
    limit_ms: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `host:pid:time`, unique enough among the submitters of one broker.
fn client_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{nanos:x}", std::process::id())
}

impl RedisExecutor {
    /// A builder: namespace, lease, retries, result expiry, task timeout, no-worker and
    /// broker timeouts. `url`: `redis://[user:password@]host:port/db`, `rediss://…` (TLS,
    /// feature `tls`) or `redis+unix:///path/to/socket`, optionally with `?ns=namespace`.
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder {
            url: url.into(),
            namespace: None,
            lease: DEFAULT_LEASE,
            retries: 0,
            result_expiry: DEFAULT_EXPIRY,
            task_timeout: None,
            no_worker_timeout: DEFAULT_NO_WORKER,
            broker_timeout: DEFAULT_BROKER_TIMEOUT,
            max_workers: DEFAULT_MAX_WORKERS,
        }
    }

    /// An executor with the default settings.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new(url: impl Into<String>) -> Result<RedisExecutor> {
        Self::builder(url).build()
    }

    /// Schedules `work` and returns its future at once (see [`Executor::submit`]).
    pub fn submit<W: Work<Self>>(&self, work: W) -> Future<W::Output> {
        Executor::submit(self, work)
    }

    /// Runs `work` and waits for its value (see [`Executor::call`]).
    ///
    /// # Errors
    /// As [`Future::result`].
    pub fn call<W: Work<Self>>(&self, work: W) -> Result<W::Output> {
        Executor::call(self, work)
    }

    /// `f` over `items`, one call each, results in input order (see [`Executor::map`];
    /// [`map_chunked`](RemoteExecutor::map_chunked) sends many items per call).
    pub fn map<F, T, I>(&self, f: F, items: I) -> concurra::Map<'_, Self, F, I::IntoIter>
    where
        F: Fn(I::Item) -> T + Copy + Send + 'static,
        I: IntoIterator,
        I::Item: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        Executor::map(self, f, items)
    }

    /// Blocks until every call submitted before is in the broker's stream (or failed, or
    /// withdrawn because its future was cancelled): after it, a call cancelled while queued
    /// is deleted from the stream, never leased.
    pub fn flush(&self) {
        let target = self.shared.next_task.load(Ordering::Relaxed);
        let mut state = lock(&self.shared.state);
        while state
            .calls
            .iter()
            .any(|(t, s)| *t < target && s.entry.is_none())
        {
            state = self
                .shared
                .flushed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Stops accepting work (see [`Executor::shutdown`]): `cancel_futures` withdraws the calls
    /// no worker took yet (their futures are cancelled; they never run); `wait` blocks until
    /// every other call is answered (or failed: the broker and no-worker timeouts bound it).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    /// The build id calls are routed by ([`concurra::build_id`]): only workers of this very
    /// build take them.
    pub fn build_id(&self) -> &str {
        &self.shared.build
    }

    /// The stream the calls go to (`cq:{namespace}:{build}:tasks`).
    pub fn stream(&self) -> &str {
        &self.shared.keys.tasks
    }

    /// How many calls wait for their answer.
    pub fn pending(&self) -> usize {
        lock(&self.shared.state).calls.len()
    }
}

impl DynExecutor for RedisExecutor {
    fn submit_encoded(&self, call: EncodedCall) {
        let shared = &*self.shared;
        if let Some(reason) = shared.refusal() {
            call.fail(reason);
            return;
        }
        let task = shared.next_task.fetch_add(1, Ordering::Relaxed);
        let limit = call.time_limit().or(shared.config.task_timeout);
        let outgoing = Outgoing {
            task,
            payload: call.payload().to_vec(),
            limit_ms: limit.map_or(0, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
            }),
        };
        let alone = {
            let mut state = lock(&shared.state);
            if state.shutdown {
                drop(state);
                call.fail(Error::Shutdown);
                return;
            }
            state.calls.insert(task, Slot { call, entry: None });
            state.calls.len() == 1
        };
        // The only call in flight (a round trip): added from here, one thread hop less.
        if alone {
            if let Ok(mut con) = shared.sending.try_lock() {
                send_batch(shared, &mut con, vec![outgoing]);
                return;
            }
        }
        let sent = lock(&self.sender).as_ref().map(|tx| tx.send(outgoing));
        if !matches!(sent, Some(Ok(()))) {
            shared.fail_tasks(&[task], &Error::Shutdown);
        }
    }

    fn shutdown_dyn(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    fn max_workers_dyn(&self) -> usize {
        self.shared.config.max_workers
    }
}

impl Executor for RedisExecutor {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let shared = &*self.shared;
        lock(&shared.state).shutdown = true;
        if cancel_futures {
            shared.withdraw_queued();
        }
        if wait {
            let mut state = lock(&shared.state);
            while !state.calls.is_empty() {
                state = shared
                    .idle
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }

    /// Shuts down and withdraws every waiting call: those no worker leased are deleted from
    /// the stream (never run) and cancelled; the leased ones are killed on their workers and
    /// fail with [`Error::Terminated`] (Python 3.14's `terminate_workers`).
    fn terminate_workers(&self) {
        let shared = &*self.shared;
        let slots: Vec<Slot> = {
            let mut state = lock(&shared.state);
            state.shutdown = true;
            let slots = state.calls.drain().map(|(_, s)| s).collect();
            shared.idle.notify_all();
            shared.flushed.notify_all();
            slots
        };
        let (added, unsent): (Vec<Slot>, Vec<Slot>) =
            slots.into_iter().partition(|s| s.entry.is_some());
        unsent.into_iter().for_each(|s| s.call.cancel());
        let mut codes = Vec::new();
        for part in added.chunks(BATCH) {
            let entries: Vec<String> = part.iter().filter_map(|s| s.entry.clone()).collect();
            let got = shared.withdraw(&entries, "all").unwrap_or_default();
            codes.extend((0..part.len()).map(|i| got.get(i).copied().unwrap_or(1)));
        }
        for (slot, code) in added.into_iter().zip(codes) {
            if code == 0 {
                slot.call.cancel();
            } else {
                slot.call.fail(Error::Terminated);
            }
        }
    }
}

impl RemoteExecutor for RedisExecutor {}

impl Drop for RedisExecutor {
    /// `shutdown(wait = true)`, then the threads end.
    fn drop(&mut self) {
        self.shutdown(true, false);
        self.shared.stop.store(true, Ordering::Release);
        lock(&self.sender).take();
        for thread in lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for RedisExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("RedisExecutor")
            .field("stream", &self.shared.keys.tasks)
            .field("client", &self.shared.client_id)
            .field("pending", &state.calls.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

impl Shared {
    /// Why a new call is refused now, if it is: shut down, or the broker known unreachable.
    fn refusal(&self) -> Option<Error> {
        if lock(&self.state).shutdown {
            return Some(Error::Shutdown);
        }
        lock(&self.down)
            .as_ref()
            .map(|(_, why)| Error::Broker(format!("the broker is unreachable: {why}")))
    }

    fn mark_down(&self, why: String) {
        let mut down = lock(&self.down);
        if down.is_none() {
            *down = Some((Instant::now(), why));
        }
    }

    fn mark_up(&self) {
        lock(&self.down).take();
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        broker::connect(
            &self.redis,
            self.config.broker_timeout.max(Duration::from_secs(1)),
        )
    }

    /// Fails the calls `tasks` with `error` (those still waiting).
    fn fail_tasks(&self, tasks: &[u64], error: &Error) {
        self.take_tasks(tasks)
            .into_iter()
            .for_each(|call| call.fail(error.clone()));
    }

    /// Cancels the futures of `tasks` (those still waiting).
    fn cancel_tasks(&self, tasks: &[u64]) {
        self.take_tasks(tasks)
            .into_iter()
            .for_each(EncodedCall::cancel);
    }

    /// Takes the calls `tasks` that still wait, to be answered by the caller.
    fn take_tasks(&self, tasks: &[u64]) -> Vec<EncodedCall> {
        let mut state = lock(&self.state);
        let calls = tasks
            .iter()
            .filter_map(|t| state.calls.remove(t))
            .map(|s| s.call)
            .collect();
        if state.calls.is_empty() {
            self.idle.notify_all();
        }
        self.flushed.notify_all();
        calls
    }

    /// Fails every waiting call with `error`.
    fn fail_all(&self, error: &Error) {
        let slots: Vec<Slot> = {
            let mut state = lock(&self.state);
            let slots = state.calls.drain().map(|(_, s)| s).collect();
            self.idle.notify_all();
            self.flushed.notify_all();
            slots
        };
        for slot in slots {
            slot.call.fail(error.clone());
        }
    }

    /// Runs the withdraw script over `entries` in `mode`; the codes per entry.
    fn withdraw(&self, entries: &[String], mode: &str) -> redis::RedisResult<Vec<i64>> {
        let mut con = self.connect()?;
        let withdraw = redis::Script::new(broker::WITHDRAW);
        let mut script = withdraw.prepare_invoke();
        script
            .key(&self.keys.tasks)
            .key(&self.keys.cancel)
            .arg(mode);
        for e in entries {
            script.arg(e);
        }
        script.invoke(&mut con)
    }

    /// `shutdown(cancel_futures)`: cancels the calls not yet added and those no worker
    /// leased (deleted from the stream first, so that none of them runs).
    fn withdraw_queued(&self) {
        lock(&self.state).cancel_unsent = true;
        // A batch being added is waited out: its calls have their entries after this.
        drop(lock(&self.sending));
        let (unsent, added): (Vec<u64>, Vec<(u64, String)>) = {
            let state = lock(&self.state);
            let mut unsent = Vec::new();
            let mut added = Vec::new();
            for (task, slot) in &state.calls {
                match &slot.entry {
                    None => unsent.push(*task),
                    Some(e) => added.push((*task, e.clone())),
                }
            }
            (unsent, added)
        };
        self.cancel_tasks(&unsent);
        for part in added.chunks(BATCH) {
            let entries: Vec<String> = part.iter().map(|(_, e)| e.clone()).collect();
            if let Ok(codes) = self.withdraw(&entries, "queued-only") {
                let gone: Vec<u64> = part
                    .iter()
                    .zip(codes)
                    .filter(|(_, code)| *code == 0)
                    .map(|((t, _), _)| *t)
                    .collect();
                self.cancel_tasks(&gone);
            }
        }
    }

    /// The threads end: dropped, or shut down with nothing left to wait for.
    fn done(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The sender thread (see the module docs).
fn sender(shared: &Shared, rx: &Receiver<Outgoing>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(BATCH - 1));
        send_batch(shared, &mut lock(&shared.sending), batch);
    }
}

/// Adds one batch of calls to the stream and records their entries.
fn send_batch(shared: &Shared, con: &mut Option<redis::Connection>, mut batch: Vec<Outgoing>) {
    // Calls cancelled before they left are dropped here: they never run.
    let cancelled: Vec<u64> = {
        let state = lock(&shared.state);
        batch.retain(|o| state.calls.contains_key(&o.task));
        batch
            .iter()
            .filter(|o| {
                state.cancel_unsent
                    || state
                        .calls
                        .get(&o.task)
                        .is_some_and(|s| s.call.is_cancelled())
            })
            .map(|o| o.task)
            .collect()
    };
    if !cancelled.is_empty() {
        shared.cancel_tasks(&cancelled);
        batch.retain(|o| !cancelled.contains(&o.task));
    }
    if batch.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for o in &batch {
        pipe.cmd("XADD")
            .arg(&shared.keys.tasks)
            .arg("*")
            .arg(field::CLIENT)
            .arg(&shared.client_id)
            .arg(field::TASK)
            .arg(o.task)
            .arg(field::LIMIT)
            .arg(o.limit_ms)
            .arg(field::RETRIES)
            .arg(shared.config.retries)
            .arg(field::EXPIRY)
            .arg(u64::try_from(shared.config.result_expiry.as_millis()).unwrap_or(u64::MAX))
            .arg(field::PAYLOAD)
            .arg(&o.payload);
    }
    // One try on the connection we have, one on a new one (the broker restarted).
    let mut outcome = Err(None);
    for _ in 0..2 {
        if con.is_none() {
            *con = shared.connect().map_err(|e| outcome = Err(Some(e))).ok();
        }
        let Some(c) = con.as_mut() else { continue };
        match pipe.query::<Vec<String>>(c) {
            Ok(ids) => {
                outcome = Ok(ids);
                break;
            }
            Err(e) => {
                *con = None;
                outcome = Err(Some(e));
            }
        }
    }
    match outcome {
        Ok(ids) => {
            shared.mark_up();
            // Cancelled while being added: withdrawn at once (a node that leased one in
            // this round trip kills it).
            let mut late = Vec::new();
            {
                let mut state = lock(&shared.state);
                for (o, id) in batch.iter().zip(ids) {
                    if let Some(slot) = state.calls.get_mut(&o.task) {
                        if slot.call.is_cancelled() {
                            late.push((o.task, id.clone()));
                        }
                        slot.entry = Some(id);
                    }
                }
                shared.flushed.notify_all();
            }
            if !late.is_empty() {
                let entries: Vec<String> = late.iter().map(|(_, e)| e.clone()).collect();
                if shared.withdraw(&entries, "all").is_ok() {
                    let tasks: Vec<u64> = late.iter().map(|(t, _)| *t).collect();
                    shared.cancel_tasks(&tasks);
                }
            }
        }
        Err(e) => {
            let why = e.map_or_else(|| "no connection".to_string(), |e| e.to_string());
            shared.mark_down(why.clone());
            let tasks: Vec<u64> = batch.iter().map(|o| o.task).collect();
            shared.fail_tasks(
                &tasks,
                &Error::Broker(format!("cannot add the call: {why}")),
            );
        }
    }
}

/// The reader thread (see the module docs).
fn reader(shared: &Shared) {
    let mut con: Option<redis::Connection> = None;
    let mut last = "0-0".to_string();
    loop {
        if shared.done() {
            return;
        }
        if con.is_none() {
            match shared.connect() {
                Ok(c) => {
                    shared.mark_up();
                    con = Some(c);
                }
                Err(e) => {
                    shared.mark_down(e.to_string());
                    broker_lost(shared);
                    // Try again shortly (the broker may be restarting).
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let c = con.as_mut().expect("connected above");
        let read: redis::RedisResult<Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(READ_BLOCK_MS)
            .arg("STREAMS")
            .arg(&shared.results)
            .arg(&last)
            .query(c);
        let reply = match read {
            Ok(reply) => reply,
            Err(e) => {
                shared.mark_down(e.to_string());
                con = None;
                continue;
            }
        };
        let entries = broker::read_entries(&reply);
        if entries.is_empty() {
            continue;
        }
        let mut answered = Vec::with_capacity(entries.len());
        {
            let mut state = lock(&shared.state);
            for entry in &entries {
                let task = entry
                    .get(field::TASK)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<u64>().ok());
                if let (Some(task), Some(answer)) = (task, entry.get(field::ANSWER)) {
                    if let Some(slot) = state.calls.remove(&task) {
                        answered.push((slot.call, Answer::decode(answer)));
                    }
                }
            }
            if state.calls.is_empty() {
                shared.idle.notify_all();
            }
        }
        for (call, answer) in answered {
            match answer {
                Ok(answer) => answer.answer(call),
                Err(e) => call.fail(e),
            }
        }
        last.clone_from(&entries.last().expect("not empty").id);
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let _ = redis::cmd("XDEL")
            .arg(&shared.results)
            .arg(&ids)
            .query::<i64>(c);
    }
}

/// The broker is unreachable: past the broker timeout, every waiting call fails.
fn broker_lost(shared: &Shared) {
    let since = lock(&shared.down)
        .as_ref()
        .map(|(at, why)| (*at, why.clone()));
    if let Some((at, why)) = since {
        if at.elapsed() >= shared.config.broker_timeout {
            shared.fail_all(&Error::Broker(format!(
                "the broker was unreachable for {:?}: {why}",
                shared.config.broker_timeout
            )));
        }
    }
}

/// The watchdog thread (see the module docs).
fn watchdog(shared: &Shared) {
    let mut con: Option<redis::Connection> = None;
    let mut no_worker_since: Option<Instant> = None;
    let mut last_liveness = Instant::now()
        .checked_sub(LIVENESS_EVERY)
        .unwrap_or_else(Instant::now);
    while !shared.done() {
        std::thread::sleep(TICK);
        // Cancelled calls with an entry: withdraw them (the sender drops the others).
        let cancelled: Vec<(u64, String)> = {
            let state = lock(&shared.state);
            state
                .calls
                .iter()
                .filter(|(_, s)| s.entry.is_some() && s.call.is_cancelled())
                .map(|(t, s)| (*t, s.entry.clone().expect("filtered")))
                .collect()
        };
        if !cancelled.is_empty() {
            let entries: Vec<String> = cancelled.iter().map(|(_, e)| e.clone()).collect();
            if shared.withdraw(&entries, "all").is_ok() {
                let tasks: Vec<u64> = cancelled.iter().map(|(t, _)| *t).collect();
                shared.cancel_tasks(&tasks);
            }
        }
        if last_liveness.elapsed() < LIVENESS_EVERY {
            continue;
        }
        last_liveness = Instant::now();
        if lock(&shared.state).calls.is_empty() {
            no_worker_since = None;
            continue;
        }
        if con.is_none() {
            con = shared.connect().ok();
        }
        let Some(c) = con.as_mut() else { continue };
        let lease_ms = u64::try_from(shared.config.lease.as_millis()).unwrap_or(u64::MAX);
        let live: redis::RedisResult<i64> = redis::Script::new(broker::LIVE)
            .key(&shared.keys.workers)
            .arg(lease_ms)
            .invoke(c);
        match live {
            Ok(0) => {
                let since = *no_worker_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.config.no_worker_timeout {
                    // Nobody will run them: off the stream first, then their futures fail.
                    let entries: Vec<String> = lock(&shared.state)
                        .calls
                        .values()
                        .filter_map(|s| s.entry.clone())
                        .collect();
                    for part in entries.chunks(BATCH) {
                        let _ = shared.withdraw(part, "drop");
                    }
                    shared.fail_all(&Error::NoWorkers {
                        build: shared.build.clone(),
                        waited: shared.config.no_worker_timeout,
                    });
                    no_worker_since = None;
                }
            }
            Ok(_) => no_worker_since = None,
            Err(_) => con = None,
        }
    }
}
