//! The event loop: Python's `asyncio` on one thread, on the same [`Future`](crate::Future).
//!
//! [`run`] starts a loop on the calling thread and drives an `async` main to completion.
//! Inside it, [`create_task`] runs more coroutines (any `'static` future, `Send` or not: tasks
//! live on the loop's thread), [`sleep`] and [`yield_now`] suspend, [`call_soon`],
//! [`call_later`] and [`call_at`] schedule callbacks, and [`get_running_loop`] hands out the
//! [`Loop`], whose [`LoopHandle`] lets other threads [`call_soon_threadsafe`](LoopHandle::call_soon_threadsafe).
//! A [`Task`] is awaited with `.await` or converted into the crate-wide
//! [`Future`](crate::Future), so a loop task can be waited on from any thread, and any
//! concurra `Future` (a thread-pool job, say) can be awaited on the loop: its completion wakes
//! the loop through the reactor.
//!
//! | Python                                         | concurra                                   |
//! |------------------------------------------------|--------------------------------------------|
//! | `asyncio.run(main())`                          | [`run`]`(main())`, [`Builder::run`]; [`try_run`], [`Builder::try_run`] return `Result` |
//! | `asyncio.create_task(coro)`                    | [`create_task`] / [`spawn_local`] → [`Task`] |
//! | a coroutine that raises                        | `create_task(`[`Fallible`](crate::Fallible)`(coro))`: its `Err` fails the task |
//! | `task.cancel()`, `task.done()`, `await task`   | [`Task::cancel`], [`Task::done`], `task.await` |
//! | `asyncio.sleep(d)`, `asyncio.sleep(0)`         | [`sleep`], [`yield_now`]                   |
//! | `asyncio.gather(*aws)`, `a, b = await gather(f(), g())` | [`gather`]`(iter)`, [`gather`]`((f(), g()))` |
//! | `asyncio.gather(*aws, return_exceptions=True)` | [`gather_all`]                             |
//! | `asyncio.wait_for(aw, timeout)`                | [`wait_for`]                               |
//! | `async with asyncio.timeout(d)` / `timeout_at` | [`timeout`], [`timeout_at`]                |
//! | `async with asyncio.timeout(d) as cm` / `timeout_at(when)`, `timeout(None)` | [`Timeout::after`], [`Timeout::at`], [`Timeout::never`], then [`Timeout::run`]`(block)` |
//! | `cm.when()`, `cm.reschedule(when)`, `cm.expired()` | [`Timeout::when`], [`Timeout::reschedule`], [`Timeout::expired`] |
//! | `task.cancelling()`, `task.uncancel()`          | [`Task::cancelling`], [`Task::uncancel`]   |
//! | `asyncio.shield(aw)`                           | [`shield`]                                 |
//! | `asyncio.wait(tasks, return_when=...)`         | [`wait()`] → `(done, pending)`             |
//! | `asyncio.as_completed(tasks)`                  | [`as_completed`] → [`AsCompleted`]         |
//! | `async with asyncio.TaskGroup() as tg`         | [`TaskGroup`], [`task_group`]              |
//! | `asyncio.get_running_loop()`                   | [`get_running_loop`] → [`Loop`]            |
//! | `loop.call_soon/call_later/call_at` → `Handle` | [`call_soon`], [`call_later`], [`call_at`] → [`Handle`] |
//! | `loop.call_soon_threadsafe(cb)`                | [`LoopHandle::call_soon_threadsafe`]       |
//! | `loop.time()`                                  | [`time`]                                   |
//! | `asyncio.Lock`, `Event`, `Condition`           | [`Lock`], [`Event`], [`Condition`]         |
//! | `asyncio.Semaphore`, `BoundedSemaphore`        | [`Semaphore`], [`BoundedSemaphore`]        |
//! | `asyncio.Barrier`                              | [`Barrier`]                                |
//! | `asyncio.Queue`, `LifoQueue`, `PriorityQueue`  | [`Queue`], [`LifoQueue`], [`PriorityQueue`] |
//! | a consumer's `await q.get()` loop until `QueueShutDown` | [`GenericQueue::stream`] → [`QueueStream`] |
//! | `asyncio.to_thread(fn)`                        | [`to_thread`]                              |
//! | `loop.run_in_executor(executor, fn)`           | [`run_in_executor`]                        |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`LoopHandle::run_coroutine_threadsafe`]   |
//! | `create_task(coro, name=n)`, `get_name`, `set_name` | [`Task::with_name`], [`Task::name`], [`Task::set_name`] |
//! | `loop.set_exception_handler(handler)`          | [`Builder::exception_handler`] → [`Report`] |
//! | "Task exception was never retrieved"           | [`ReportKind::NeverRetrieved`] (see step 6) |
//! | debug mode, `loop.slow_callback_duration`      | [`Builder::slow_callback_duration`] → [`ReportKind::Slow`] |
//! | `asyncio.open_connection(host, port)`, `open_unix_connection(path)` | [`open_connection`], [`open_unix_connection`] → ([`StreamReader`], [`StreamWriter`]) |
//! | `asyncio.start_server(cb, host, port)`, `start_unix_server(cb, path)` | [`start_server`], [`start_unix_server`], [`Server::builder`] → [`Server`] |
//! | `reader.read(n)`, `read()`, `readexactly`, `readuntil`, `readline`, `async for line in reader` | [`StreamReader::read`], [`read_to_end`](StreamReader::read_to_end), [`read_exactly`](StreamReader::read_exactly), [`read_until`](StreamReader::read_until), [`read_line`](StreamReader::read_line), [`lines`](StreamReader::lines) |
//! | `writer.write`, `drain`, `write_eof`, `close`, `wait_closed` | [`StreamWriter::write`], [`drain`](StreamWriter::drain), [`write_eof`](StreamWriter::write_eof), [`close`](StreamWriter::close), [`wait_closed`](StreamWriter::wait_closed) |
//! | `loop.sock_connect/sock_accept/sock_recv/sock_sendall/sock_sendto/sock_recvfrom` | [`net`]: `TcpStream`, `TcpListener`, `UnixStream`, `UnixListener`, `UdpSocket` |
//! | `loop.add_signal_handler(sig, cb)`, `remove_signal_handler(sig)` | [`add_signal_handler`], [`remove_signal_handler`] (restores the disposition found) |
//! | a loop awaiting a signal (tokio's `signal::unix::signal`) | [`signal()`] → [`SignalStream`] |
//! | `asyncio.create_subprocess_exec`, `_shell`, `Process` | [`subprocess`]: [`Command`](subprocess::Command) → [`Child`](subprocess::Child) |
//! | `asyncio.CancelledError`                       | [`Error::Cancelled`](crate::Error::Cancelled) on the task's outcome (see below) |
//!
//! # Protocol
//!
//! 1. **The loop.** `run(main)` makes a loop on this thread (one at a time per thread) and
//!    queues main's first poll. Then it iterates, as CPython's `_run_once`:
//!    1. *Events.* If the ready queue is empty, block in the reactor until the earliest live
//!       timer's deadline (without limit if there is none) or until another thread notifies
//!       it; if it is not empty, do not block (and make no syscall). Then move what other
//!       threads injected — wakes of tasks and `call_soon_threadsafe` callbacks, in the order
//!       they were pushed — to the back of the ready queue.
//!    2. *Timers.* Move every timer whose deadline is `<=` the clock's now, in `(deadline,
//!       creation)` order, to the back of the ready queue: a due timer runs after the
//!       callbacks that were already ready (`call_later(0, a); call_soon(b)` runs `b`, `a`).
//!    3. *Run.* Run exactly the items that are in the ready queue now, first in first out:
//!       step a task, or call a callback unless its handle was cancelled. What they schedule
//!       runs in the next iteration; so `sleep(ZERO)` yields exactly one iteration.
//!    4. *End.* The moment main completes, the loop shuts down (step 4) and `run` returns
//!       main's value. If main panics, the loop shuts down and the panic continues out of
//!       `run`.
//! 2. **Tasks.** [`create_task`] queues the task's first step behind what is ready: nothing
//!    runs until the creator yields, and tasks start in creation order. A woken task is queued
//!    once however often it is woken. Each step runs through the one panic door: a panicking
//!    task fails its future with [`Error::Panicked`](crate::Error::Panicked) and the loop goes
//!    on. States and step details: [`Task`] and the `task` module docs.
//! 3. **Cancellation.** Python throws `CancelledError` into the coroutine at its current
//!    `await`; the coroutine may catch it, clean up (even `await` more), and re-raise. Rust
//!    cannot throw into a future. Cancelling is dropping, at the next step:
//!    1. [`Task::cancel`] records the request and wakes the task; it returns true while the
//!       task is not done, every time, and false once it is.
//!    2. At the task's next step the loop drops the coroutine instead of polling it: the
//!       `.await` it is suspended at is where it stops (`CancelledError` raised "there"),
//!       and its destructors are its `finally` blocks — they run synchronously and cannot
//!       await. A task cancelled before its first step is dropped without ever running.
//!    3. The task's future is then cancelled: awaiting the task gives
//!       [`Error::Cancelled`](crate::Error::Cancelled) (asyncio's `CancelledError` at
//!       `await task`). A coroutine cannot swallow a cancellation, so a cancelled task always
//!       ends cancelled (Python lets it catch and return a value instead). Until that step
//!       the request can be withdrawn: [`Task::cancelling`] counts the requests and
//!       [`Task::uncancel`] takes one back (at zero the coroutine goes on).
//!    4. The drop happens in a *cancelling* section. A task handle being awaited (a
//!       [`Join`]) that is dropped in such a section cancels its task, as asyncio cancels the
//!       future a cancelled task awaits; an expired [`Timeout`] scope (and so [`wait_for`]
//!       and [`timeout`]) and the loop's shutdown use the same section. Any other drop of a
//!       handle leaves the task running.
//!    5. A [`Timeout`] scope cancels its block the same way, by dropping it inside the task's
//!       step, not through the task. Of nested scopes that expire together only the
//!       outermost reports [`Error::Timeout`](crate::Error::Timeout); the inner ones are
//!       dropped with its block and report [`Timeout::expired`] too, as CPython's
//!       (test_nested_timeouts). The rules are in the `timeout` module docs.
//! 4. **Shutdown.** When main completes (or panics): the loop closes, every task still alive
//!    is cancelled as in step 3 (in creation order; asyncio.run cancels them too), the inject
//!    queue is closed (later `call_soon_threadsafe` calls get
//!    [`Error::InvalidState`](crate::Error::InvalidState)), and ready callbacks and timers are
//!    dropped without running; last, failures nobody observed whose handles outlive the loop
//!    are reported (step 6.2). Tasks created on a closed loop are cancelled at once;
//!    callbacks scheduled on it get a cancelled handle.
//! 5. **Threads.** The loop and its tasks are not `Send`. Wakers are, and they are plain
//!    numbers (which loop, which slot of its task slab; no allocation, no reference count): a
//!    waker woken on the loop's thread queues its task directly; from another thread it finds
//!    the loop in a process-wide registry, pushes the task's key to the inject queue and, if
//!    that queue was empty, notifies the reactor (a `mio::Waker`), which interrupts step 1.1.
//!    [`LoopHandle::call_soon_threadsafe`] takes the same path. A wake for a task that has
//!    ended, or for a loop that is gone, finds nothing and is dropped. (The word packs 28 bits
//!    of task slot and 12 of registry slot: up to 2^28 - 1 live tasks per loop and 4,095 loops
//!    running at once; 64-bit targets only.)
//! 6. **Reports.** What the loop swallows goes to the [`Builder::exception_handler`], or to
//!    stderr without one (the `report` module docs):
//!    1. a callback that panicked ([`ReportKind::CallbackPanicked`]);
//!    2. a task failure (a panic) nobody observed ([`ReportKind::NeverRetrieved`]). Awaiting
//!       the task, [`Task::try_result`], converting it into a [`Future`](crate::Future)
//!       (whose holder then owns the outcome), `as_completed`, `wait`, `shield`, a
//!       [`TaskGroup`] and a [`gather`] that gave up on it all observe it. Unobserved, it is
//!       reported exactly once: when its last handle is dropped if it has failed by then;
//!       when it fails if no handle is left; else when the loop ends (step 4), after the
//!       leftovers are cancelled. A cancellation is not a failure;
//!    3. with [`Builder::slow_callback_duration`], a task step, callback or poll of main
//!       that held the loop at least that long on the loop's clock ([`ReportKind::Slow`], with
//!       the task's [name](Task::name)).
//! 7. **Memory.** A task is one allocation: an `Rc` holding its header, its coroutine (polled
//!    pinned in place) and then its outcome (the coroutine's space is reused for it; an error
//!    is boxed), kept in the loop's slab — 120 bytes for a small coroutine.
//!    The crate-wide [`Future`](crate::Future) of a task is made only when asked for
//!    ([`Task::future`], `Future::from`, [`Task::try_result`]); `task.await` does not need
//!    it. Neither do [`wait()`], [`as_completed`] and a [`TaskGroup`]: they wait on a
//!    value-free end signal (a `Future<()>`, also made on demand), so none of them needs
//!    `T: Clone`.
//!
//! # I/O
//!
//! Sockets ([`net`]) and streams register their descriptors with the loop's reactor (edge
//! triggered, once per descriptor) and wait for readiness; when the ready queue is busy the
//! loop still polls for I/O each iteration without blocking, so I/O is never starved. The
//! rules (cancel safety, no blocking, errors) are in the [`net`] module docs; the stream
//! semantics on [`StreamReader`] and [`StreamWriter`].
//!
//! # Time
//!
//! The loop reads its time from a [`Clock`]: the [`SystemClock`] by default, or a
//! [`PausedClock`] (through [`Builder::clock`]) that jumps to the next deadline whenever the
//! loop is idle, so tests check timer order without waiting. [`time`] is the loop's monotonic
//! time as a [`Duration`] since the clock's origin, and [`call_at`] takes
//! a time on that scale.
//!
//! # Done callbacks
//!
//! A task's future runs its done-callbacks synchronously when the task ends, on the loop's
//! thread (the crate's `Future` rule); asyncio schedules them with `call_soon` instead. To
//! get asyncio's timing, have the callback call [`LoopHandle::call_soon_threadsafe`].

mod bridge;
mod combinators;
mod engine;
mod gather;
mod group;
pub mod net;
mod queue;
mod runner;
mod signal;
mod streams;
pub mod subprocess;
mod sync;
mod timeout;

use std::future::Future as StdFuture;
use std::time::Duration;

pub use self::bridge::{run_in_executor, to_thread, InExecutor, ToThread};
pub use self::combinators::{as_completed, shield, wait, AsCompleted, Shield};
pub use self::gather::{
    gather, gather_all, Gather, GatherAll, GatherAllTuple, GatherSlot, GatherTuple, Gatherable,
    IntoTask,
};
pub use self::group::{task_group, GroupChild, GroupWait, TaskGroup};

/// The marker types that let one function take two shapes of argument ([`gather`] an
/// iterator or a tuple; [`TaskGroup::create_task`] a plain or a [`Fallible`](crate::Fallible)
/// future). They are inferred: callers never name them.
pub mod marker {
    pub use super::gather::{Many, Tuple};
    pub use super::group::{Fails, Plain};
}
pub use self::engine::{
    sleep, yield_now, Clock, IntoCoroutine, Join, PausedClock, Sleep, SystemClock, Task,
};
pub use self::engine::{Builder, Handle, Loop, LoopHandle, Report, ReportKind};
pub use self::queue::{
    Fifo, GenericQueue, Get, GetError, Join as QueueJoin, Lifo, LifoQueue, Priority, PriorityQueue,
    Put, PutError, Queue, QueueStream, Storage,
};
pub use self::signal::{add_signal_handler, remove_signal_handler, signal, SignalStream};
pub use self::streams::{
    open_connection, open_unix_connection, start_server, start_unix_server, Lines, Server,
    ServerBuilder, SockAddr, StreamFeeder, StreamReader, StreamWriter, DEFAULT_LIMIT,
};
pub use self::sync::{
    Acquire, Barrier, BarrierWait, BoundedSemaphore, Condition, Event, EventWait, Lock, LockGuard,
    SemAcquire, Semaphore, SemaphorePermit,
};
pub use self::timeout::{timeout, timeout_at, wait_for, Timeout, TimeoutScope};
use crate::error::Result;

/// Runs `main` on a new event loop on this thread and returns its output (Python:
/// `asyncio.run(main())`).
///
/// The loop ends as soon as `main` completes; tasks still running are cancelled (their
/// coroutines dropped). `main` itself need not be `'static` or `Send`.
///
/// ```
/// use concurra::aio;
///
/// let answer = aio::run(async {
///     let task = aio::create_task(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
///
/// # Panics
/// If called from inside a running loop (Python: `RuntimeError: asyncio.run() cannot be called
/// from a running event loop`), if the OS refuses a poller, or if `main` panics (the panic goes
/// on after the loop shut down).
pub fn run<F: StdFuture>(main: F) -> F::Output {
    match try_run(main) {
        Ok(out) => out,
        Err(e) if e.is_interrupted() => runner::exit_interrupted(),
        Err(e) => panic!("{e}"),
    }
}

/// [`run`] that returns an error instead of panicking when the loop cannot run `main`.
///
/// ```
/// use concurra::aio;
///
/// assert_eq!(aio::try_run(async { 6 * 7 }).unwrap(), 42);
/// let nested = aio::run(async { aio::try_run(async {}) });
/// assert!(nested.unwrap_err().is_invalid_state());
/// ```
///
/// # Ctrl-C
///
/// As `asyncio.run` since Python 3.11: on the main thread, while `SIGINT` has its default
/// disposition, the first Ctrl-C cancels main (and the task it awaits) and `try_run` returns
/// [`Error::Interrupted`](crate::Error::Interrupted); the default disposition is back at once,
/// so a second Ctrl-C ends the program. [`run`] has no error to return: it ends the process as
/// Python's uncaught `KeyboardInterrupt` does, by `SIGINT` (exit status 130 in a shell).
/// [`Builder::run`] and [`Builder::try_run`] leave `SIGINT` alone (Python's
/// `loop.run_until_complete`).
///
/// # Errors
/// [`Error::Interrupted`](crate::Error::Interrupted) after Ctrl-C (above);
/// [`Error::InvalidState`](crate::Error::InvalidState) if called from inside a running loop
/// (Python: `RuntimeError`); [`Error::Io`](crate::Error::Io) if the OS refuses a poller (too
/// many open files, say), or if the poller fails while the loop runs (the loop is shut down
/// first, its tasks cancelled).
///
/// # Panics
/// If `main` panics (the panic goes on after the loop shut down).
pub fn try_run<F: StdFuture>(main: F) -> Result<F::Output> {
    Builder::new().try_run(runner::interruptible(main))?
}

/// Wraps `coro` in a task on the running loop and schedules its first step (Python:
/// `asyncio.create_task`).
///
/// The task starts when the caller next yields, after the tasks created before it. Any
/// `'static` future works, `Send` or not. Wrapped as [`Fallible`](crate::Fallible)`(coro)`, a
/// future whose output is `Result<T, E>` makes a task of `T` that an `Err` *fails* (with
/// [`Error::Failed`](crate::Error::Failed)), as a raised exception fails an asyncio task; see
/// [`IntoCoroutine`].
///
/// # Panics
/// Outside a running loop (Python: `RuntimeError: no running event loop`).
pub fn create_task<F>(coro: F) -> Task<F::Output>
where
    F: IntoCoroutine,
{
    engine::spawn("aio::create_task", coro)
}

/// The same as [`create_task`]; the name says that the future need not be `Send` (tokio's
/// `spawn_local`).
///
/// # Panics
/// Outside a running loop.
pub fn spawn_local<F>(coro: F) -> Task<F::Output>
where
    F: IntoCoroutine,
{
    create_task(coro)
}

/// The running loop (Python: `asyncio.get_running_loop()`).
///
/// # Errors
/// [`Error::InvalidState`](crate::Error::InvalidState) outside a running loop.
pub fn get_running_loop() -> Result<Loop> {
    Loop::current()
}

/// The running loop's time (Python: `loop.time()`).
///
/// # Panics
/// Outside a running loop.
pub fn time() -> Duration {
    engine::now("aio::time")
}

/// [`Loop::call_soon`] on the running loop.
///
/// # Panics
/// Outside a running loop.
pub fn call_soon(f: impl FnOnce() + 'static) -> Handle {
    running("aio::call_soon").call_soon(f)
}

/// [`Loop::call_later`] on the running loop.
///
/// # Panics
/// Outside a running loop.
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> Handle {
    running("aio::call_later").call_later(delay, f)
}

/// [`Loop::call_at`] on the running loop.
///
/// # Panics
/// Outside a running loop.
pub fn call_at(when: Duration, f: impl FnOnce() + 'static) -> Handle {
    running("aio::call_at").call_at(when, f)
}

fn running(what: &str) -> Loop {
    Loop::current().unwrap_or_else(|_| panic!("{what} needs a running event loop"))
}
