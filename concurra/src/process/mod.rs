//! The process engine: [`Process`] and [`ProcessPoolExecutor`] run plain functions in worker
//! processes started from this same executable, with their outcomes on the same
//! [`Future`](crate::Future) as every other engine.
//!
//! # The bootstrap protocol
//!
//! Every worker but the first is forked from a fork server instead, a worker that was itself
//! started this way and forks on request (the `zygote` module has its protocol): the steps
//! below then run once, for the server, and a forked worker starts at step 6.
//!
//! 1. **Start.** The parent makes a Unix socket pair and starts its own executable again
//!    (`/proc/self/exe` on Linux, `current_exe()` elsewhere): no `fork` of a threaded parent,
//!    no command-line arguments, the socket as standard input, standard output and error
//!    shared, the environment marker `CONCURRA_WORKER=v<wire version>:<parent pid>:<build
//!    fingerprint>`, and a process group of its own (so the pool can kill a worker with
//!    everything it started).
//! 2. **Recognise.** The child runs [`init`] (first thing in `main`, or before `main` through
//!    [`worker_hook!`](crate::worker_hook)). Without the marker `init` returns at once. With
//!    it, `init` never returns: it removes the marker (programs the worker starts are not
//!    workers) and serves. **Everything `main` does before `init` runs again in every worker.**
//! 3. **Die with the parent.** The worker asks for SIGKILL when its parent dies (Linux
//!    `PR_SET_PDEATHSIG`; the parent starts workers from a thread that outlives them) and
//!    exits if its parent is already gone. End of file on its calls also ends it (step 7).
//! 4. **Same build.** The worker compares the fingerprint of the file it runs (device, inode,
//!    size, modification time) with the marker's and exits with code 86 on a mismatch:
//!    function identities (below) are only meaningful within one build.
//! 5. **Handshake.** The worker moves the channel off standard input (which becomes
//!    `/dev/null`) and sends a `Ready` frame with its pid and fingerprint; the parent checks
//!    it within the handshake timeout (10 s by default). A worker that exits or stays silent
//!    (typically: `main` lacks `init`, so it runs the whole program) is killed, and the start
//!    fails with [`Error::WorkerStart`](crate::Error::WorkerStart) naming the likely cause —
//!    never a hang. A process started as a worker that reaches `main` without serving refuses
//!    to start workers itself, so a missing hook cannot multiply processes.
//!    The parent then sends the worker its *lines*, three pipes (one byte with
//!    `SCM_RIGHTS`; the channel's work is done): *calls* (parent to worker), *replies* and
//!    the *direct line* (worker to parent; the worker writes there the replies asked for
//!    there, step 6). A pipe carries one direction and costs less than a socket per message;
//!    a shared socket would also wake its blocked reader whenever the peer consumed what its
//!    own end wrote. The parent keeps an unread read end of the calls pipe, so writing a
//!    call never raises `SIGPIPE`, and ends a wait for room there when the replies pipe
//!    hangs up.
//! 6. **Calls.** The parent sends `Call` frames ([`wire`]): a call id, the function's identity
//!    (`identity`: its trampoline's distance from a fixed function of the binary) and the
//!    `postcard`-encoded argument. The worker runs calls one at a time, in order, and writes
//!    each `Reply` (the value, or the panic with its message and location, or a decode or
//!    encode error) before it starts the next. A call id with its top bit set is the worker's
//!    last: it exits after replying, with code 0, or 1 if the call panicked. A call id with
//!    its second bit set asks for the reply on the direct line: a caller that waits for it
//!    reads it there itself, with no thread in between (the pool's synchronous
//!    [`call`](crate::Executor::call)).
//! 7. **End.** The parent closes its end of the calls pipe: the worker reads end of file and
//!    exits with code 0.
//!    A worker killed or dead on its own is reaped by the parent, which reports the exit code
//!    (minus the signal number if killed, as Python) on the call it was running.
//!
//! # What crosses
//!
//! A `fn` item or a closure that captures nothing ([`Remote`]), called with no argument, or
//! with one through [`Apply`](crate::Apply), or over a chunk (`map_chunked`, the Pool's `map`). Arguments and
//! values are `serde` types. A function pointer or a capturing closure does not compile. An
//! argument that does not encode fails at the call (an error on its future); a value that does
//! not decode fails that future alone.

mod bootstrap;
mod call;
mod child;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz;
mod identity;
mod pool;
mod remote;
mod single;
pub mod wire;
mod zygote;

pub use bootstrap::init;
pub use call::{EncodedCall, Remote, RemoteError};
pub use identity::build_id;
pub use pool::{Builder as PoolBuilder, ProcessPoolExecutor};
pub use remote::RemoteExecutor;
pub use single::{Builder, Process};
