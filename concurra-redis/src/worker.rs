//! The worker node: the same program, started in worker mode, serving its build's stream.
//!
//! # What a node does
//!
//! 1. **Start.** Reads its build id, connects, creates the stream and group if missing,
//!    starts a local [`ProcessPoolExecutor`] (its processes are this executable again), sends
//!    its first heartbeat (it is now live), and prints `concurra-redis worker <name> serving
//!    <stream>` on standard error.
//! 2. **Lease.** `XREADGROUP` with the group, as many calls as it has free slots (processes
//!    plus `prefetch`): the calls are now in the group's pending list under its name.
//! 3. **Run.** Each call goes to the local pool with its time limit; a crash in the call
//!    kills one local process and fails that call only ([`Error::WorkerDied`]); the node
//!    keeps serving.
//! 4. **Answer.** One script per batch of answers: the answer to the submitter's result
//!    stream, `XACK`, `XDEL` (not written if another worker answered first).
//! 5. **Heartbeat** (every quarter lease, at most 250 ms): the node is live; every call it
//!    holds has its idle time reset (`XCLAIM … JUSTID` to itself).
//! 6. **Take over** (same tick): `XAUTOCLAIM` the calls idle longer than the lease (their
//!    worker is dead or stalled): run again if retries are left, else answered
//!    [`Error::WorkerLost`].
//! 7. **Cancel.** Entry ids published on the cancel channel stop their call here: a queued
//!    one never starts, a running one has its process killed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use concurra::process::EncodedCall;
use concurra::{DynExecutor, Error, Future, ProcessPoolExecutor, Result};
use crossbeam_channel::{Receiver, Sender};
use redis::Value;

use crate::answer::{field, Answer};
use crate::broker::{self, Keys, Target, GROUP};

/// The environment variable that starts a program as a worker node: the broker URL
/// (`CONCURRA_REDIS_WORKER=redis://host:6379/0?ns=jobs&processes=4&prefetch=4`).
pub const WORKER_ENV: &str = "CONCURRA_REDIS_WORKER";

/// Set by a worker node for its local processes: the node's name (`host:pid:nonce`).
pub const NODE_ENV: &str = "CONCURRA_REDIS_NODE";

/// The lease a worker assumes until an executor set one.
const DEFAULT_LEASE_MS: u64 = 30_000;
/// How long `XREADGROUP` blocks.
const READ_BLOCK_MS: u64 = 1000;
/// Calls taken over per heartbeat.
const RECLAIM_COUNT: usize = 64;

/// How a worker node is made: `Worker::builder(url).processes(4).run()`.
#[derive(Debug, Clone)]
pub struct WorkerBuilder {
    target: Target,
    namespace: Option<String>,
    processes: Option<usize>,
    prefetch: Option<usize>,
}

impl WorkerBuilder {
    /// The namespace (default: the URL's `?ns=`, else `concurra`).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Local processes that run calls (default: the URL's `?processes=`, else the number of
    /// CPUs).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n.max(1));
        self
    }

    /// Calls leased beyond the running ones, so that a process finds its next call at once
    /// (default: the URL's `?prefetch=`, else as many as processes). A leased call waits on
    /// this node: if the node dies, it is lost with it (and taken over after the lease).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// Serves until the process is killed.
    ///
    /// # Errors
    /// [`Error::Broker`] if the broker cannot be reached at start; [`Error::Io`] or
    /// [`Error::WorkerStart`] if the local pool cannot start. Once serving, a lost broker is
    /// waited for, not an error.
    pub fn run(self) -> Result<std::convert::Infallible> {
        let node = Node::start(self)?;
        node.serve()
    }
}

/// A worker node (see the [module docs](self)). Most programs start one through the
/// environment ([`WORKER_ENV`], caught by [`init`](crate::init)); a program with a `worker`
/// command of its own calls [`Worker::builder`]`(url).run()`.
#[derive(Debug)]
pub struct Worker;

impl Worker {
    /// A builder for a node serving the broker at `url` (the URLs of
    /// [`RedisExecutor::builder`](crate::RedisExecutor::builder), plus `?processes=` and
    /// `?prefetch=`).
    pub fn builder(url: &str) -> WorkerBuilder {
        WorkerBuilder {
            target: Target::parse(url),
            namespace: None,
            processes: None,
            prefetch: None,
        }
    }
}

struct Node {
    name: String,
    keys: Keys,
    redis: redis::Client,
    pool: ProcessPoolExecutor,
    slots: usize,
    /// The calls on this node, by entry id.
    running: Mutex<HashMap<String, Running>>,
    /// Signalled when a call leaves `running`.
    freed: Condvar,
    lease_ms: AtomicU64,
    answers: Sender<Done>,
    /// The connection answers are written on (by the answer thread, or by a call's
    /// completion when it is the node's only call).
    answer_con: Mutex<Option<redis::Connection>>,
}

/// A call on this node.
struct Running {
    future: Future<Vec<u8>>,
}

/// An answer on its way to the broker.
struct Done {
    entry: String,
    results: String,
    task: Vec<u8>,
    answer: Vec<u8>,
    expiry_ms: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse_param(target: &Target, key: &str) -> Option<usize> {
    target.param(key).and_then(|v| v.parse().ok())
}

impl Node {
    fn start(b: WorkerBuilder) -> Result<Arc<Node>> {
        let namespace = b
            .namespace
            .clone()
            .or_else(|| b.target.param("ns").map(str::to_string))
            .unwrap_or_else(|| "concurra".into());
        let processes = b
            .processes
            .or_else(|| parse_param(&b.target, "processes"))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        let prefetch = b
            .prefetch
            .or_else(|| parse_param(&b.target, "prefetch"))
            .unwrap_or(processes);
        let build = concurra::build_id()?;
        let keys = Keys::new(&namespace, build);
        let redis = redis::Client::open(b.target.url.as_str())
            .map_err(|e| broker::broker("invalid broker URL", &e))?;
        let mut con = connect(&redis).map_err(|e| broker::broker("cannot connect", &e))?;
        broker::check_version(&mut con)?;
        broker::ensure_group(&mut con, &keys).map_err(|e| broker::broker("XGROUP CREATE", &e))?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{host}:{}:{nonce:x}", std::process::id());
        // The local processes learn their node's name (before any thread starts).
        std::env::set_var(NODE_ENV, &name);
        let pool = ProcessPoolExecutor::builder()
            .max_workers(processes)
            .build()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let node = Arc::new(Node {
            name,
            keys,
            redis,
            pool,
            slots: processes + prefetch,
            running: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
            lease_ms: AtomicU64::new(DEFAULT_LEASE_MS),
            answers: tx,
            answer_con: Mutex::new(None),
        });
        node.heartbeat(&mut con)
            .map_err(|e| broker::broker("first heartbeat", &e))?;
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map(drop)
                .map_err(|e| Error::WorkerStart(format!("cannot start the {name} thread: {e}")))
        };
        let n = Arc::clone(&node);
        spawn(
            "concurra-redis-answer",
            Box::new(move || n.answer_loop(&rx)),
        )?;
        let n = Arc::clone(&node);
        spawn(
            "concurra-redis-heartbeat",
            Box::new(move || n.heartbeat_loop()),
        )?;
        let n = Arc::clone(&node);
        spawn("concurra-redis-cancel", Box::new(move || n.cancel_loop()))?;
        eprintln!(
            "concurra-redis worker {} serving {} ({} processes)",
            node.name, node.keys.tasks, processes
        );
        Ok(node)
    }

    /// Step 2: leases calls while there is room, forever.
    fn serve(self: &Arc<Self>) -> Result<std::convert::Infallible> {
        let mut con: Option<redis::Connection> = None;
        loop {
            let room = {
                let mut running = lock(&self.running);
                while running.len() >= self.slots {
                    running = self
                        .freed
                        .wait(running)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                self.slots - running.len()
            };
            if con.is_none() {
                con = connect(&self.redis).ok();
                if con.is_none() {
                    // The broker is away: try again shortly.
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            }
            let c = con.as_mut().expect("connected above");
            let read: redis::RedisResult<Value> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.name)
                .arg("COUNT")
                .arg(room)
                .arg("BLOCK")
                .arg(READ_BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.keys.tasks)
                .arg(">")
                .query(c);
            match read {
                Ok(reply) => {
                    for entry in broker::read_entries(&reply) {
                        self.dispatch(&entry, None);
                    }
                }
                Err(e) => {
                    if e.code() == Some("NOGROUP") {
                        // The stream was deleted (a flushed broker): make it again.
                        let _ = broker::ensure_group(c, &self.keys);
                    } else {
                        con = None;
                    }
                }
            }
        }
    }

    /// Step 3: runs one leased call in the local pool. `retry_of`: the delivery count of a
    /// call taken over.
    fn dispatch(self: &Arc<Self>, entry: &broker::Entry, retry_of: Option<u32>) {
        let get = |f: &str| entry.get(f).map(<[u8]>::to_vec).unwrap_or_default();
        let results = match entry
            .get(field::CLIENT)
            .and_then(|c| std::str::from_utf8(c).ok())
        {
            Some(client) => format!("{}{client}", self.keys.results_prefix),
            None => {
                // Not a call of ours: nobody to answer.
                self.send(
                    entry.id.clone(),
                    String::new(),
                    Vec::new(),
                    &Answer::Failed("malformed".into()),
                    Vec::new(),
                );
                return;
            }
        };
        let number = |f: &str| {
            entry
                .get(f)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let task = get(field::TASK);
        let expiry = get(field::EXPIRY);
        if let Some(attempts) = retry_of {
            let retries = number(field::RETRIES);
            if u64::from(attempts) > 1 + retries {
                let lost = Answer::WorkerLost {
                    attempts: attempts - 1,
                    lease_ms: self.lease_ms.load(Ordering::Relaxed),
                };
                self.send(entry.id.clone(), results, task, &lost, expiry);
                return;
            }
        }
        let Some(payload) = entry.get(field::PAYLOAD) else {
            self.send(
                entry.id.clone(),
                results,
                task,
                &Answer::Failed("a call without its payload".into()),
                expiry,
            );
            return;
        };
        #[allow(unsafe_code)]
        // SAFETY: the payload comes from the stream of this very build
        // (`cq:{ns}:{build_id}:tasks`), where only executors of this build add calls, each
        // the payload of an `EncodedCall::new`; the broker is trusted to carry them
        // unaltered (see the crate's security notes).
        let (mut call, future) = unsafe { EncodedCall::from_payload(payload.to_vec()) };
        let limit = number(field::LIMIT);
        if limit > 0 {
            call = call.with_time_limit(Duration::from_millis(limit));
        }
        {
            let mut running = lock(&self.running);
            if running.contains_key(&entry.id) {
                // Taken over from ourselves: it already runs here.
                return;
            }
            running.insert(
                entry.id.clone(),
                Running {
                    future: future.clone(),
                },
            );
        }
        let node = Arc::clone(self);
        let id = entry.id.clone();
        future.add_done_callback(move |f| {
            let outcome = match f.try_result() {
                Some(Ok(bytes)) => Ok(bytes.clone()),
                Some(Err(e)) => Err(e.clone()),
                None => Err(Error::Abandoned),
            };
            let alone = {
                let mut running = lock(&node.running);
                running.remove(&id);
                node.freed.notify_all();
                running.is_empty()
            };
            let done = Done {
                entry: id,
                results,
                task,
                answer: Answer::from_local(outcome).encode(),
                expiry_ms: expiry,
            };
            // The node's only call: answered from here, one thread hop less on a round trip.
            // Under load the answer thread batches.
            if alone {
                if let Ok(mut con) = node.answer_con.try_lock() {
                    if node.write(&mut con, std::slice::from_ref(&done)) {
                        return;
                    }
                }
            }
            let _ = node.answers.send(done);
        });
        self.pool.submit_encoded(call);
    }

    fn send(
        &self,
        entry: String,
        results: String,
        task: Vec<u8>,
        answer: &Answer,
        expiry_ms: Vec<u8>,
    ) {
        let _ = self.answers.send(Done {
            entry,
            results,
            task,
            answer: answer.encode(),
            expiry_ms,
        });
    }

    /// Step 4: writes answers in batches; a failed batch is tried again until the broker
    /// is back.
    fn answer_loop(&self, rx: &Receiver<Done>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(1023));
            loop {
                if self.write(&mut lock(&self.answer_con), &batch) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Writes `batch` with the completion script on `con` (connecting if needed); false if
    /// the broker did not take it.
    fn write(&self, con: &mut Option<redis::Connection>, batch: &[Done]) -> bool {
        if con.is_none() {
            *con = connect(&self.redis).ok();
        }
        let Some(c) = con.as_mut() else { return false };
        let script = redis::Script::new(broker::COMPLETE);
        let mut invoke = script.key(&self.keys.tasks);
        for d in batch {
            invoke
                .arg(&d.entry)
                .arg(&d.results)
                .arg(&d.task)
                .arg(&d.answer)
                .arg(&d.expiry_ms);
        }
        let written = invoke.invoke::<i64>(c).is_ok();
        if !written {
            *con = None;
        }
        written
    }

    /// Steps 5 and 6, forever.
    fn heartbeat_loop(self: &Arc<Self>) {
        let mut con: Option<redis::Connection> = None;
        loop {
            let lease = self.lease_ms.load(Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis((lease / 4).clamp(10, 250)));
            if con.is_none() {
                con = connect(&self.redis).ok();
            }
            let Some(c) = con.as_mut() else { continue };
            if self.heartbeat(c).is_err() || self.take_over(c).is_err() {
                con = None;
            }
        }
    }

    /// Step 5 once.
    fn heartbeat(&self, con: &mut redis::Connection) -> redis::RedisResult<()> {
        let lease: u64 = redis::Script::new(broker::HEARTBEAT)
            .key(&self.keys.tasks)
            .key(&self.keys.workers)
            .key(&self.keys.lease)
            .arg(&self.name)
            .arg(DEFAULT_LEASE_MS)
            .invoke(con)?;
        self.lease_ms.store(lease.max(1), Ordering::Relaxed);
        Ok(())
    }

    /// Step 6 once: the calls idle past the lease come here, with their delivery counts.
    fn take_over(self: &Arc<Self>, con: &mut redis::Connection) -> redis::RedisResult<()> {
        let lease = self.lease_ms.load(Ordering::Relaxed);
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&self.keys.tasks)
            .arg(GROUP)
            .arg(&self.name)
            .arg(lease)
            .arg("0-0")
            .arg("COUNT")
            .arg(RECLAIM_COUNT)
            .query(con)?;
        let claimed = broker::entries(broker::items(&reply).get(1).unwrap_or(&Value::Nil));
        if claimed.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for e in &claimed {
            pipe.cmd("XPENDING")
                .arg(&self.keys.tasks)
                .arg(GROUP)
                .arg(&e.id)
                .arg(&e.id)
                .arg(1);
        }
        let counts: Vec<Value> = pipe.query(con)?;
        for (entry, pending) in claimed.iter().zip(counts) {
            let count = broker::items(&pending)
                .first()
                .and_then(|p| broker::items(p).get(3))
                .and_then(broker::int)
                .unwrap_or(2);
            self.dispatch(entry, Some(u32::try_from(count).unwrap_or(u32::MAX)));
        }
        Ok(())
    }

    /// Step 7, forever.
    fn cancel_loop(&self) {
        loop {
            let Ok(mut con) = self.redis.get_connection() else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            let mut pubsub = con.as_pubsub();
            if pubsub.subscribe(&self.keys.cancel).is_err() {
                continue;
            }
            while let Ok(msg) = pubsub.get_message() {
                let Ok(entry) = msg.get_payload::<String>() else {
                    continue;
                };
                let future = lock(&self.running).get(&entry).map(|r| r.future.clone());
                if let Some(future) = future {
                    self.pool.stop(&future);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A node's connection: reads wait at most a little longer than a blocking read.
fn connect(redis: &redis::Client) -> redis::RedisResult<redis::Connection> {
    broker::connect(
        redis,
        Duration::from_millis(READ_BLOCK_MS) + Duration::from_secs(10),
    )
}
