//! concurra's executor on Redis Streams: submit on one machine, run on worker nodes on any
//! number of machines, and get the same [`concurra::Future`] back, with the process pool's
//! promise that a dead worker fails only its own call.
//!
//! Python users take their executors to Celery or RQ when one machine is not enough;
//! [`RedisExecutor`] is that step for concurra, on the Redis they already run. It implements
//! [`concurra::Executor`], [`concurra::DynExecutor`] and [`concurra::RemoteExecutor`]:
//! `submit(f)`, `submit(Apply(f, x))`, `Fallible`, `call`, `map`,
//! [`map_chunked`](concurra::RemoteExecutor::map_chunked) (a chunk travels as one entry),
//! `shutdown(wait, cancel_futures)`, and the Pool facade ([`RedisPool`]: `apply_async`,
//! `map`, `imap_unordered`). `wait`, `as_completed`, callbacks and `.await` work unchanged.
//!
//! ```no_run
//! use concurra::{Apply, Executor};
//! use concurra_redis::RedisExecutor;
//!
//! concurra_redis::worker_hook!(); // this program is also the worker: see "Workers"
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> concurra::Result<()> {
//!     let exe = RedisExecutor::builder("redis://127.0.0.1:6379/0").build()?;
//!     assert_eq!(exe.submit(Apply(square, 7)).result()?, 49);
//!     let sum: u64 = exe.map(square, 0..1000).map(Result::unwrap).sum();
//!     println!("sum of squares: {sum}");
//!     Ok(())
//! }
//! ```
//!
//! # Workers
//!
//! A worker node is the **same executable** started in worker mode: with the environment
//! variable [`CONCURRA_REDIS_WORKER`](WORKER_ENV)`=redis://host:6379/0` (optionally
//! `?ns=…&processes=N&prefetch=M`), caught at start-up by [`init`] — call it first thing in
//! `main`, or put [`worker_hook!`] at the top level of the program, which runs it before `main`
//! (it also serves as the process engine's hook, [`concurra::worker_hook!`]: use one, not
//! both). A program with a `worker` command of its own calls
//! [`Worker::builder`]`(url).run()` (the `remote_squares` example does).
//!
//! A node runs each call in a **local process pool** (the process engine: the same
//! executable again), so a crash inside a call (an abort, a segfault, `exit`) kills one local
//! process and fails that call alone; the node keeps serving.
//!
//! # Which function: one stream per build
//!
//! A call names its function by its place in the build (the process engine's identity), so
//! it means something only to the very same build. Calls are routed by
//! [`concurra::build_id`] (the linker's build id, or a hash of the executable): the stream
//! is `cq:{namespace}:{build}:tasks`. A worker of another build reads another stream and
//! never takes a call; a submitter with no live worker of its build gets
//! [`Error::NoWorkers`](concurra::Error::NoWorkers) after the no-worker timeout, never a hang.
//!
//! # Protocol (Redis Streams and one consumer group per build)
//!
//! | pool concept | Redis |
//! |---|---|
//! | queue a call | `XADD cq:{ns}:{build}:tasks * c <submitter> t <task> d <limit> r <retries> x <expiry> p <call>` (pipelined) |
//! | a worker leases a call | `XREADGROUP GROUP workers <node> COUNT <free slots> … >`: the entry enters the pending list |
//! | in flight | the group's pending list (`XPENDING`) |
//! | heartbeat | every quarter lease: `XCLAIM <own entries> … JUSTID` (idle time restarts) and `ZADD …:workers <broker time> <node>` |
//! | dead worker's call taken over | `XAUTOCLAIM … <lease>`: entries idle past the lease move to a live node; the delivery count says how often it was handed out |
//! | done | one script: `XACK`; if it acknowledged (the first answer), `XADD cq:{ns}:res:{submitter}` + `PEXPIRE`; `XDEL` |
//! | result to the Future | the submitter's reader thread: `XREAD BLOCK` on its result stream; completes the future by task number |
//! | cancel | not leased: `XDEL` (never runs); leased: `PUBLISH …:cancel <entry>`, the node kills the local process |
//!
//! # Failure semantics
//!
//! | event | outcome |
//! |---|---|
//! | the call panics / returns `Err` (`Fallible`) | [`Error::Panicked`](concurra::Error::Panicked) / [`Error::Failed`](concurra::Error::Failed) for that Future only, as with the process pool |
//! | the call crashes its local process (abort, signal, exit) | [`Error::WorkerDied`](concurra::Error::WorkerDied) for that Future only; the node replaces the process and keeps serving |
//! | a worker node is killed (`kill -9`, machine lost) | after its lease (default 30 s, [`lease`](Builder::lease)) a live node takes its calls over: with `retries = 0` (the default, the pool's rule) each fails with [`Error::WorkerLost`](concurra::Error::WorkerLost) (`is_worker_died()` is true); with [`retries`](Builder::retries)`(n)` it runs again, up to `n` more times (**at-least-once**: the call may have run, in part, on the lost node). No other Future is affected. |
//! | a node stalled past its lease (SIGSTOP, a long pause) comes back | its calls were taken over: a call may run twice; the Future completes once, with the first answer (the broker writes only the answer whose `XACK` came first) |
//! | cancel before a worker leased the call | `Future::cancel` succeeds; the entry is deleted; the call never runs (a call cancelled during the one round trip that adds its entry is withdrawn right after it; [`flush`](RedisExecutor::flush) waits until the calls submitted are in the stream) |
//! | cancel after | `Future::cancel` succeeds (the future stays pending until its answer: the submitter is not told when a call starts); the node kills the call's local process |
//! | per-call time limit ([`task_timeout`](Builder::task_timeout), [`submit_timeout`](concurra::RemoteExecutor::submit_timeout)) | counted from the start on the node, which kills the local process: [`Error::Timeout`](concurra::Error::Timeout) |
//! | no live worker of this build | [`Error::NoWorkers`](concurra::Error::NoWorkers) for every waiting call after [`no_worker_timeout`](Builder::no_worker_timeout) (default 30 s); their entries are removed |
//! | Redis unreachable | `build` and `submit` fail at once with [`Error::Broker`](concurra::Error::Broker); waiting Futures fail with it after [`broker_timeout`](Builder::broker_timeout) (default 30 s); nodes wait for the broker. With persistence on (`appendonly yes`), a Redis restarted within the timeout keeps the streams and the pending lists: in-flight work resumes. Without it, calls in Redis are lost with it and their Futures fail after the timeout. |
//! | the submitter exits | its calls still run; their answers expire with its result stream ([`result_expiry`](Builder::result_expiry), default 1 h) |
//! | `shutdown(wait, cancel_futures)` | new calls fail with [`Error::Shutdown`](concurra::Error::Shutdown); `cancel_futures` withdraws the calls no node leased (cancelled, never run); `wait` waits for the rest |
//!
//! Delivery is at-least-once (a call is never lost while Redis keeps its data); execution is
//! at-most-once with `retries = 0` and at-least-once with retries.
//!
//! # Security
//!
//! The broker is trusted: a worker runs whatever call its build's stream holds, and a call
//! names a function of the build by its place in it. Whoever can write to the broker can make
//! workers run any function of the build with any arguments (not arbitrary code: only
//! functions of the build, through their argument decoding). So:
//!
//! - require a password: Redis `requirepass` or ACL users, given in the URL
//!   (`redis://user:password@host:6379/0`; AUTH is sent on connect);
//! - encrypt the link off loopback: build with the `tls` feature (the `redis` crate's
//!   rustls support) and use a `rediss://host:6380/0` URL;
//! - give each application its own namespace (`?ns=`) or database, and never expose Redis to
//!   untrusted networks.
//!
//! # `unsafe`
//!
//! One call: the worker node turns a payload read from its build's stream into a call
//! ([`concurra::EncodedCall::from_payload`], `worker.rs`), relying on the routing by build id
//! and on the trusted broker (above).

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

mod answer;
mod broker;
mod executor;
mod worker;

pub use executor::{Builder, RedisExecutor};
pub use worker::{Worker, WorkerBuilder, NODE_ENV, WORKER_ENV};

/// The Pool interface (Python's `multiprocessing.Pool`) over a [`RedisExecutor`]:
/// `RedisPool::from_executor(exe)`, then `apply_async`, `map`, `imap`, `imap_unordered`.
pub type RedisPool = concurra::pool::Pool<RedisExecutor>;

/// Makes this process a worker if it was started as one; returns at once otherwise.
///
/// First [`concurra::init`] (a local process of a node, or of any process pool, serves
/// there and never returns); then, if [`WORKER_ENV`] holds a broker URL, this process
/// becomes a worker node and never returns: it serves until killed, or exits with code 1
/// and a message on standard error if it cannot start. Call it first thing in `main`, or use
/// [`worker_hook!`].
pub fn init() {
    concurra::init();
    if let Some(url) = std::env::var_os(WORKER_ENV) {
        // The node's local processes are not nodes.
        std::env::remove_var(WORKER_ENV);
        let Some(url) = url.to_str() else {
            eprintln!("concurra-redis worker: {WORKER_ENV} is not UTF-8");
            std::process::exit(2);
        };
        match Worker::builder(url).run() {
            Ok(never) => match never {},
            Err(e) => {
                eprintln!("concurra-redis worker: {e}");
                std::process::exit(1);
            }
        }
    }
}

#[doc(hidden)]
pub use concurra as __concurra;

/// Runs [`init`] before `main` (as [`concurra::worker_hook!`] runs `concurra::init`): put
/// `concurra_redis::worker_hook!();` once at the top level of a binary, test or example,
/// instead of `concurra::worker_hook!()`.
#[macro_export]
macro_rules! worker_hook {
    () => {
        $crate::__concurra::worker_hook!($crate::init);
    };
}
