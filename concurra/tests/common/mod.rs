//! Shared fixtures for the integration tests: the equivalent of CPython's
//! `Lib/test/test_concurrent_futures/util.py` (python/cpython), which the `test_*.py` files of
//! `test_concurrent_futures` import their state fixtures (`PENDING_FUTURE`, `RUNNING_FUTURE`,
//! `CANCELLED_FUTURE`, `CANCELLED_AND_NOTIFIED_FUTURE`, `EXCEPTION_FUTURE`,
//! `SUCCESSFUL_FUTURE`, `create_future`) and `ExecutorMixin` (`worker_count`) from, plus the
//! small helpers the ports share (`mul`, gates, identity comparison).
//!
//! Used with `mod common;` from each test file. Every test binary compiles this module on its
//! own and uses only part of it, hence the crate-level `dead_code` allow.
//!
//! How the fixtures are built: every state is reached through the public API (Python pokes
//! `_state`): `future::pair()` (pending), `Promise::set_running_or_notify_cancel` (running),
//! `Future::cancel` (cancelled), `Future::completed` (finished). `CANCELLED` and
//! `CANCELLED_AND_NOTIFIED` are one state in concurra: a cancelled future is complete at once;
//! the notified fixture is a cancelled future whose producer has then called
//! `set_running_or_notify_cancel` (which returns false).

#![allow(dead_code)]

pub(crate) mod aio;
pub(crate) mod examples;
pub(crate) mod net;
pub(crate) mod socket_gate;
pub(crate) mod tasks;

use std::io;
use std::thread;
use std::time::Duration;

use concurra::future::{pair, Future, Promise};
use concurra::{Error, ThreadPoolExecutor};

/// Long enough to see that a blocked task or wait stays blocked; used only to assert that
/// nothing happened yet.
pub(crate) const SHORT: Duration = Duration::from_millis(20);

/// A thread pool with `n` workers.
pub(crate) fn workers(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

/// `ExecutorMixin.worker_count`.
pub(crate) fn pool() -> ThreadPoolExecutor {
    workers(5)
}

pub(crate) fn mul((x, y): (i32, i32)) -> i32 {
    x * y
}

/// A gate: tasks block on `gate.wait()` until the test completes the promise (or drops it,
/// which releases them too).
pub(crate) fn gate() -> (Promise<()>, Future<()>) {
    pair()
}

/// A task body that blocks until `gate` completes.
pub(crate) fn wait_on(gate: &Future<()>) -> impl FnOnce() -> i32 + Send + 'static {
    let gate = gate.clone();
    move || {
        gate.wait();
        0
    }
}

/// `PENDING_FUTURE`.
pub(crate) fn pending() -> (Promise<i32>, Future<i32>) {
    pair()
}

/// `RUNNING_FUTURE`: a future marked running by a helper thread (so that this thread may wait
/// on it: concurra remembers which thread runs a future).
pub(crate) fn running() -> (Promise<i32>, Future<i32>) {
    let (promise, future) = pair();
    let promise = thread::spawn(move || {
        assert!(promise.set_running_or_notify_cancel());
        promise
    })
    .join()
    .unwrap();
    (promise, future)
}

/// `CANCELLED_FUTURE`.
pub(crate) fn cancelled() -> Future<i32> {
    let (promise, future) = pair();
    assert!(future.cancel());
    drop(promise);
    future
}

/// `CANCELLED_AND_NOTIFIED_FUTURE`.
pub(crate) fn cancelled_and_notified() -> Future<i32> {
    let (promise, future) = pair();
    assert!(future.cancel());
    assert!(!promise.set_running_or_notify_cancel());
    future
}

/// The `OSError` of `EXCEPTION_FUTURE`.
pub(crate) fn os_error() -> Error {
    Error::failed(io::Error::other("os error"))
}

/// `EXCEPTION_FUTURE`.
pub(crate) fn exception() -> Future<i32> {
    Future::completed(Err(os_error()))
}

/// `SUCCESSFUL_FUTURE`.
pub(crate) fn successful() -> Future<i32> {
    Future::completed(Ok(42))
}

/// True if `got` holds exactly the futures of `want` (by identity, in any order).
pub(crate) fn same<T>(got: &[Future<T>], want: &[&Future<T>]) -> bool {
    got.len() == want.len()
        && want
            .iter()
            .all(|w| got.iter().filter(|g| g.ptr_eq(w)).count() == 1)
}

/// `kill -9 pid`: a worker process dies as a crash kills it. Returns once it has exited (a
/// signal only queued leaves the process able to take one more read), within
/// [`socket_gate::LIMIT`].
pub(crate) fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid}");
    assert!(
        exits_within(pid, socket_gate::LIMIT),
        "{pid} still runs {:?} after kill -9",
        socket_gate::LIMIT
    );
}

/// Waits at most `limit` for process `pid` to exit (its pidfd: it need not be our child);
/// true if it has.
pub(crate) fn exits_within(pid: u32, limit: Duration) -> bool {
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let pid = Pid::from_raw(pid as i32).expect("a positive pid");
    match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => socket_gate::readable_within(&fd, limit),
        Err(rustix::io::Errno::SRCH) => true, // gone already
        Err(e) => panic!("pidfd_open: {e}"),
    }
}
