//! concurra: Python's asynchronous-programming toolbox for Rust.
//!
//! An asynchronous call returns at once with a handle on the work, a [`Future`]. The same
//! handle and the same ways to wait — [`result`](Future::result) with or without a timeout,
//! [`cancel`](Future::cancel), [done callbacks](Future::add_done_callback), [`wait`](fn@wait),
//! [`as_completed`] and `.await` — serve every engine.
//!
//! # From Python to concurra
//!
//! | Python                                           | concurra                                  | module          |
//! |--------------------------------------------------|-------------------------------------------|-----------------|
//! | `concurrent.futures.Future`                      | [`Future<T>`]                             | [`future`]      |
//! | `Future()` + `set_result` / `set_exception`      | [`future::pair`] → ([`Promise<T>`], [`Future<T>`]) | [`future`] |
//! | `fut.result()`, `fut.result(timeout)`, `fut.exception()` | [`Future::result`], [`Future::result_timeout`], [`Future::exception`]; [`Future::try_into_result`] moves the value out | [`future`] |
//! | `fut.add_done_callback(fn)`                      | [`Future::add_done_callback`]             | [`future`]      |
//! | `await fut` (asyncio `wrap_future`)              | `fut.await` from any executor             | [`future`]      |
//! | `concurrent.futures.wait(fs, timeout, return_when)` | [`wait`](fn@wait) / [`wait_timeout`] / [`wait_async`], [`ReturnWhen`] | [`wait`](mod@wait) |
//! | `concurrent.futures.as_completed(fs, timeout)`   | [`as_completed`] / [`as_completed_timeout`] (an `Iterator` and a `Stream`) | [`wait`](mod@wait) |
//! | `concurrent.futures.Executor`                    | [`Executor`] trait (generic code); each executor has `submit`, `call`, `map`, `map_timeout`, `map_with`, `shutdown` of its own | [`executor`] |
//! | an executor picked at run time                   | [`DynExecutor`] (`Box<dyn DynExecutor>`)  | [`executor`]    |
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer)` | [`ThreadPoolExecutor::new`], [`ThreadPoolExecutor::builder`] | [`thread_pool`] |
//! | `with ThreadPoolExecutor() as ex:`               | `let ex = ThreadPoolExecutor::new();` (`Drop` = `shutdown(wait=True)`) | [`thread_pool`] |
//! | `threading.Thread(target, args, name, daemon)`   | [`Thread::start`], [`Thread::builder`] → [`thread::Builder::start`] | [`thread`](mod@thread) |
//! | `asyncio.run`, `create_task`, `sleep`, `gather`, `wait_for`, `loop.call_soon`/`call_later`/`call_soon_threadsafe` | [`aio::run`], [`aio::create_task`] → [`aio::Task`], [`aio::sleep`], [`aio::gather`], [`aio::wait_for`], [`aio::call_soon`] … | [`aio`] |
//! | `asyncio.open_connection`, `start_server`, `StreamReader`/`StreamWriter`, `loop.sock_*` | [`aio::open_connection`], [`aio::start_server`] → [`aio::Server`], [`aio::StreamReader`], [`aio::StreamWriter`], [`aio::net`] (TCP, Unix, UDP sockets with futures-io traits) | [`aio`] |
//! | `multiprocessing.pool.ThreadPool(processes, initializer)` | [`ThreadPool::new`], `ThreadPool::builder()`: `apply(_async)`, `map(_async)`, `starmap(_async)`, `imap`, `imap_unordered`, `close`/`terminate`/`join` | [`pool`] |
//! | `multiprocessing.Pool(processes, initializer, maxtasksperchild)` | [`ProcessPool::new`], `ProcessPool::builder()`: the same interface over worker processes; a killed worker fails only its result ([`Error::WorkerDied`]) | [`pool`] |
//! | `AsyncResult` (`get`, `wait`, `ready`, `successful`) | [`AsyncResult`]                        | [`pool`]        |
//! | `multiprocessing.Process(target, args)`: `start`, `join`, `exitcode`, `terminate`, `kill`, `close` | [`Process::start`]`(f)` / `(Apply(f, a))` → [`Process`] (with the return value) | [`process`] |
//! | `ProcessPoolExecutor(max_workers, initializer, max_tasks_per_child)` | [`ProcessPoolExecutor::new`], [`ProcessPoolExecutor::builder`] (+ `task_timeout`, [`stop`](ProcessPoolExecutor::stop)) | [`process`] |
//! | `if __name__ == '__main__':` (spawn start method) | [`init()`](init) first in `main`, or [`worker_hook!`] | [`process`] |
//! | `BrokenProcessPool` (a worker died: the pool is dead) | [`Error::WorkerDied`] on that call only; the pool heals | [`error`] |
//! | `signal.signal(sig, handler)`, `signal.sigwait`, `sigtimedwait`, `getsignal` | [`signal::handle`] → [`signal::Handler`] (runs on a signal thread), [`signal::wait`], [`signal::wait_timeout`], [`signal::Signals`], [`signal::disposition`] | [`signal`](mod@signal) |
//! | exceptions (`CancelledError`, `TimeoutError`, `ValueError`, `BrokenExecutor`, …) | one [`Error`] enum with an `is_*` accessor per kind | [`error`] |
//!
//! # Python idioms in Rust
//!
//! * **Exceptions are `Result`s.** A task that panics fails its future with
//!   [`Error::Panicked`] (message and location); a task that returns `Err` — submitted as
//!   [`Fallible`], on every engine — fails it with [`Error::Failed`]. Either counts as a
//!   failure for `wait(FirstException)`. A panic never kills a worker.
//! * **`with` blocks are `Drop`.** Dropping an executor shuts it down and waits, as leaving
//!   Python's `with` block does.
//! * **Keyword arguments are builders or named variants**, never a bare `None`:
//!   `ThreadPool::builder().processes(4).build()?`, `map_chunked(f, items, 8)`,
//!   `wait_timeout(&fs, d, ReturnWhen::FirstCompleted)`.
//! * **`Send` bounds** stand where Python would pickle or share: work sent to another thread
//!   must be `Send + 'static`, and so must its value.
//! * **Pickling is `serde`.** Work for another process is a `fn` item or a closure that
//!   captures nothing ([`process::Remote`]); arguments and values are `serde` types.
//! * **Values move; sharing is asked for.** The last handle on an outcome moves the value out
//!   (`exe.call`, `pool.apply`, [`AsyncResult::get`], [`Thread::join_value`],
//!   `task.await`, [`Future::try_into_result`]): a value need be neither `Clone` nor `Sync`.
//!   A second reader ([`Future`]'s clone, [`Thread::future`]) borrows it
//!   ([`Future::result_ref`], `T: Sync`) or clones it ([`Future::result`], `T: Clone`).
//!
//! # Compile errors that teach
//!
//! The three commonest mistakes do not compile, and the message names the fix.
//!
//! An `Rc` cannot leave its thread (the message points at `Send`):
//!
//! ```compile_fail
//! use concurra::ThreadPoolExecutor;
//!
//! let pool = ThreadPoolExecutor::new();
//! let f = pool.submit(|| std::rc::Rc::new(1));
//! ```
//!
//! A closure that captures cannot cross to a process ("pass what the closure captured as an
//! argument, `Apply(f, arg)`, or run closures on a thread engine"):
//!
//! ```compile_fail
//! use concurra::ProcessPoolExecutor;
//!
//! let pool = ProcessPoolExecutor::new();
//! let x = 3u64;
//! let f = pool.submit(move || x + 1);
//! ```
//!
//! An argument that is not a serde type cannot cross either ("a process runs `fn` items or
//! closures that capture nothing, over serde types"):
//!
//! ```compile_fail
//! use concurra::{Apply, ProcessPoolExecutor};
//!
//! struct Handle(std::fs::File);
//! fn size(h: Handle) -> u64 {
//!     h.0.metadata().unwrap().len()
//! }
//!
//! let pool = ProcessPoolExecutor::new();
//! let f = pool.submit(Apply(size, Handle(std::fs::File::open("/dev/null").unwrap())));
//! ```
//!
//! # Example: the seed's thread-pool twin
//!
//! ```
//! use concurra::ThreadPoolExecutor;
//!
//! let pool = ThreadPoolExecutor::new();
//! let future = pool.submit(|| {
//!     println!("Hello from the task");
//!     "Task is all done"
//! });
//! println!("Main is doing other things...");
//! println!("{}", future.result().unwrap());
//! ```

#![deny(missing_docs)]
// `unsafe` lives in these files, each block with a `// SAFETY:` comment:
// - `process/identity.rs`: calling a function named by its address in a worker (Miri:
//   `scripts/miri.sh`);
// - `process/call.rs`: `EncodedCall::from_payload` is an `unsafe fn` (no block): its caller
//   promises the bytes name a function of this build (a remote engine's worker node);
// - `process/bootstrap.rs`: `worker_hook!`'s static in the constructor section (no code);
// - `process/zygote.rs` and `sys/mod.rs`: `fork(2)` in the single-threaded fork server,
//   `signal(SIGCHLD, SIG_DFL)`, glibc's `mallopt` and `kill(2)` of this process (FFI; covered
//   by the process and signal tests);
// - `chunk/slots.rs` (a map's list written in place by its chunks) and `chunk/pull.rs` (a
//   map's input lent to the workers that read it) (Miri: `scripts/miri.sh`);
// - `future/outcome.rs`: the outcome cell, written once by the thread that claimed the
//   future's ending and read only after the state word published it; `Sync` for any `Send`
//   value, shared borrows need `T: Sync` (Miri: `scripts/miri.sh`; loom's `UnsafeCell` in the
//   models checks that the write and the reads never overlap);
// - `aio/engine/waker.rs` (a task's waker is a number, not a pointer: its vtable never dereferences
//   it) and `aio/engine/task.rs` (a coroutine is polled pinned in place in its task's `Rc`) (Miri:
//   `scripts/miri.sh`, which runs the aio tests too).
// - `sys/signal.rs`: `sigaction(2)`, the signal handler (atomics and `write(2)` only, errno
//   kept) and its chaining to a handler installed before (covered by `tests/signal.rs`, real
//   signals; the handler's handshake with subscriptions going away by loom models);
// - `sys/mod.rs` also: the pre-exec hook that puts ignored signals back to their default in a
//   child (`aio::subprocess`, `Command::reset_signals`; `tests/cpython_subprocess.rs`);
// - `sys/mod.rs` also: `raise(3)` (aio::run re-raising SIGINT), `kill(2)` to an unreaped child
//   (`aio::subprocess`), and the `setsid(2)` pre-exec hook of `start_new_session` (covered by
//   `tests/aio_interrupt.rs` and `tests/cpython_subprocess.rs`, real signals and children);
// - `work.rs`: the expansion of `smallbox!` (a queued job boxed inline in the queue's slot:
//   the crate's one way to make an unsized `SmallBox` on stable). The `smallbox` crate's own
//   unsafe code also runs on every job (on stable it builds the job's wide pointer from its
//   data pointer and vtable). `work.rs`'s unit tests run every path of a job, inline and
//   boxed, under Miri (`scripts/miri.sh`), and the pool and thread tests run them for real;
// Everything else is safe code. The Future's state machine, the thread pool's idle
// accounting and the signal registry's quiescence are checked by loom models (`src/loom.rs`,
// `scripts/loom.sh`).
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod aio;
pub mod error;
pub mod executor;
pub mod future;
pub mod pool;
pub mod process;
pub mod signal;
pub mod thread;
pub mod thread_pool;
pub mod wait;

mod chunk;
mod loom;
mod sys;
mod unwind;
mod work;

pub use error::{Error, Result, Unfinished};
pub use executor::{Apply, AsStream, DynExecutor, Executor, Fallible, Map, MapOptions, Work};
pub use future::{Future, Promise};
pub use pool::{AsyncResult, ProcessPool, ThreadPool};
pub use process::{build_id, init, Process, ProcessPoolExecutor, RemoteExecutor};
pub use thread::Thread;
pub use thread_pool::ThreadPoolExecutor;
pub use wait::{
    as_completed, as_completed_timeout, wait, wait_async, wait_timeout, AsCompleted,
    DoneAndNotDone, ReturnWhen,
};
