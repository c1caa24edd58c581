//! concurra: Python's asynchronous-programming toolbox for Rust.
//!
//! An asynchronous call returns at once with a handle on the work, a [`Future`]. The same
//! handle and the same ways to wait — [`result`](Future::result) with or without a timeout,
//! [`cancel`](Future::cancel), [done callbacks](Future::add_done_callback), [`wait`],
//! [`as_completed`] and `.await` — serve every engine.
//!
//! # From Python to concurra
//!
//! | Python                                           | concurra                                  | module          |
//! |--------------------------------------------------|-------------------------------------------|-----------------|
//! | `concurrent.futures.Future`                      | [`Future<T>`]                             | [`future`]      |
//! | `Future()` + `set_result` / `set_exception`      | [`future::pair`] → ([`Promise<T>`], [`Future<T>`]) | [`future`] |
//! | `fut.result(timeout)`, `fut.exception()`         | [`Future::result_timeout`], [`Future::exception`] | [`future`] |
//! | `fut.add_done_callback(fn)`                      | [`Future::add_done_callback`]             | [`future`]      |
//! | `await fut` (asyncio `wrap_future`)              | `fut.await` from any executor             | [`future`]      |
//! | `concurrent.futures.wait(fs, timeout, return_when)` | [`wait`] / [`wait_async`], [`ReturnWhen`] | [`wait`](mod@wait) |
//! | `concurrent.futures.as_completed(fs, timeout)`   | [`as_completed`] (an `Iterator` and a `Stream`) | [`wait`](mod@wait) |
//! | `concurrent.futures.Executor`                    | [`Executor`] trait: `submit`, `map`, `shutdown` | [`executor`] |
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer)` | [`ThreadPoolExecutor::builder`] | [`thread_pool`] |
//! | `with ThreadPoolExecutor() as ex:`               | `let ex = ThreadPoolExecutor::new();` (`Drop` = `shutdown(wait=True)`) | [`thread_pool`] |
//! | `threading.Thread(target, name, daemon)`         | [`Thread::builder`] → [`thread::Builder::start`] | [`thread`](mod@thread) |
//! | `asyncio.run`, `create_task`, `sleep`, `gather`, `wait_for`, `loop.call_soon`/`call_later`/`call_soon_threadsafe` | [`aio::run`], [`aio::create_task`] → [`aio::Task`], [`aio::sleep`], [`aio::gather`], [`aio::wait_for`], [`aio::call_soon`] … | [`aio`] |
//! | `multiprocessing.pool.ThreadPool(processes)`      | [`ThreadPool::new`]: `apply(_async)`, `map(_async)`, `starmap(_async)`, `imap`, `imap_unordered`, `close`/`terminate`/`join` | [`pool`] |
//! | `multiprocessing.Pool(processes, initializer, maxtasksperchild)` | [`ProcessPool::new`], [`Pool::from_executor`](pool::Pool::from_executor): the same interface over worker processes; a killed worker fails only its result ([`Error::WorkerDied`]) | [`pool`] |
//! | `AsyncResult` (`get`, `wait`, `ready`, `successful`) | [`AsyncResult`]                        | [`pool`]        |
//! | `multiprocessing.Process(target, args)`: `start`, `join`, `exitcode`, `terminate`, `kill` | [`Process::start`]`(f)` / `(Apply(f, a))` → [`Process`] (with the return value) | [`process`] |
//! | `ProcessPoolExecutor(max_workers, initializer, max_tasks_per_child)` | [`ProcessPoolExecutor::builder`] (+ `task_timeout`, [`stop`](ProcessPoolExecutor::stop)) | [`process`] |
//! | `if __name__ == '__main__':` (spawn start method) | [`init()`](init) first in `main`, or [`worker_hook!`] | [`process`] |
//! | `BrokenProcessPool` (a worker died: the pool is dead) | [`Error::WorkerDied`] on that call only; the pool heals | [`error`] |
//! | exceptions (`CancelledError`, `TimeoutError`, `BrokenExecutor`, …) | one [`Error`] enum with `is_*` accessors | [`error`] |
//!
//! # Python idioms in Rust
//!
//! * **Exceptions are `Result`s.** A task that panics fails its future with
//!   [`Error::Panicked`] (message and location); a task that returns `Err` — submitted as
//!   [`Fallible`] — fails it with [`Error::Failed`]. Either counts as a failure for
//!   `wait(FirstException)`. A panic never kills a worker.
//! * **`with` blocks are `Drop`.** Dropping an executor shuts it down and waits, as leaving
//!   Python's `with` block does.
//! * **`Send` bounds** stand where Python would pickle or share: work sent to another thread
//!   must be `Send + 'static`, and its result `Send + Sync` (every handle may read it). This
//!   does not compile, because an `Rc` cannot leave its thread:
//!
//! ```compile_fail
//! use concurra::{Executor, ThreadPoolExecutor};
//!
//! let pool = ThreadPoolExecutor::new();
//! let f = pool.submit(|| std::rc::Rc::new(1));
//! ```
//! * **Pickling is `serde`.** Work for another process is a `fn` item or a closure that
//!   captures nothing ([`process::Remote`]); arguments and values are `serde` types.
//! * **Values are shared.** A future's outcome is read by every handle: `result()` clones it
//!   (`T: Clone`), `result_ref()` borrows it.
//!
//! # Example: the seed's thread-pool twin
//!
//! ```
//! use concurra::{Executor, ThreadPoolExecutor};
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
// `unsafe` lives in three places, each block with a `// SAFETY:` comment: `process/identity.rs`
// (calling a function named by its address in a worker), `aio/waker.rs` (a task's waker is a
// number, not a pointer: its vtable never dereferences it) and `aio/task.rs` (a coroutine is
// polled pinned in place in its task's `Rc`). The two in `aio/` are run under Miri by
// `cargo +nightly miri test -p concurra --lib aio`, `--test aio_tasks` and `--test aio_threads`.
// Everything else is safe code.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod aio;
pub mod error;
pub mod executor;
pub mod future;
pub mod pool;
pub mod process;
pub mod thread;
pub mod thread_pool;
pub mod wait;

mod chunk;
mod sys;
mod unwind;
mod work;

pub use error::{Error, Result};
pub use executor::{Apply, AsStream, DynExecutor, Executor, Fallible, Map, MapOptions, Work};
pub use future::{Future, Promise};
pub use pool::{AsyncResult, ProcessPool, ThreadPool};
pub use process::{init, Process, ProcessPoolExecutor};
pub use thread::Thread;
pub use thread_pool::ThreadPoolExecutor;
pub use wait::{
    as_completed, as_completed_timeout, wait, wait_async, wait_timeout, AsCompleted,
    DoneAndNotDone, ReturnWhen,
};
