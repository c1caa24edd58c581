//! Port of CPython's `Lib/test/test_concurrent_futures/test_future.py` (python/cpython, the
//! `FutureTests` class), together with the state fixtures it imports from `util.py`
//! (`PENDING_FUTURE`, `RUNNING_FUTURE`, ..., `create_future`).
//!
//! What changed in the port:
//! - Python builds futures in any state by poking `_state`. Here every fixture is reached through
//!   the public API: `future::pair()` (pending), `Promise::set_running_or_notify_cancel` (running),
//!   `Future::cancel` (cancelled), `Future::completed` (finished). The running fixture is started
//!   on a helper thread, because concurra remembers which thread runs a future (see the next
//!   point).
//! - `CANCELLED` and `CANCELLED_AND_NOTIFIED` are one state in concurra: a cancelled future is
//!   complete at once. The `CANCELLED_AND_NOTIFIED` fixture is a cancelled future whose producer
//!   has then called `set_running_or_notify_cancel` (which returns false).
//! - Exceptions become `Error` variants: `CancelledError` → `Error::Cancelled`, `TimeoutError` →
//!   `Error::Timeout`, `InvalidStateError` → `Error::InvalidState`, and the task's `OSError` →
//!   `Error::Failed` wrapping a `std::io::Error`.
//! - `set_result` twice cannot be written: completing consumes the `Promise`. What remains
//!   testable is completing a future that was cancelled meanwhile (`InvalidState`, the
//!   cancellation stays). Dropping a promise unset fails the future with `Error::Abandoned`
//!   (concurra's choice; Python would leave it pending).
//! - `test_done_callback_raises*`: a panicking callback stands for a raising one. concurra reports
//!   it on stderr, which a Rust test cannot capture; the test asserts the other callbacks still
//!   run and the completion does not panic.
//! - `test_repr` checks the `Debug` output, which follows Python's repr.
//! - `test_result_with_success`, `test_result_with_cancel`, `test_exception_with_success` slept
//!   one second so the main thread would be blocked first. Here a short timeout first proves the
//!   waiter is blocked, then a channel releases the completing thread.
//! - `test_get_snapshot` (the private `_get_snapshot`) maps to `Future::try_result`.
//! - A task waiting on its own running future gets `Error::InvalidState` (concurra's choice; in
//!   Python it would block, or time out).
//! - Skipped: `test_class_str` (Python class names; concurra has one `Error` enum).

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use concurra::future::{pair, Future};
use concurra::Error;

mod common;
use common::{
    cancelled, cancelled_and_notified, exception, os_error, pending, running, successful,
};

/// Long enough to see that a blocked wait stays blocked; used only to assert that nothing
/// happened yet.
const SHORT: Duration = Duration::from_millis(10);

#[test]
fn done_callback_with_result() {
    let (tx, rx) = mpsc::channel();
    let (promise, future) = pair::<i32>();
    future.add_done_callback(move |f| tx.send(f.result()).unwrap());
    promise.set_result(5).unwrap();
    // The callback ran in the completing thread, before set_result returned.
    assert_eq!(rx.try_recv().unwrap().unwrap(), 5);
}

#[test]
fn done_callback_with_exception() {
    let (tx, rx) = mpsc::channel();
    let (promise, future) = pair::<i32>();
    future.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    promise.set_error(Error::failed("test")).unwrap();
    let error = rx.try_recv().unwrap().unwrap().expect("an error");
    assert!(error.is_failed());
    assert_eq!(error.to_string(), "the task failed: test");
}

#[test]
fn done_callback_with_cancel() {
    let (tx, rx) = mpsc::channel();
    let (_promise, future) = pair::<i32>();
    future.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(future.cancel());
    // The callback ran in the cancelling thread, before cancel returned.
    assert!(rx.try_recv().unwrap());
}

#[test]
fn done_callback_raises() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (promise, future) = pair::<i32>();
    let l = log.clone();
    future.add_done_callback(move |_| {
        l.lock().unwrap().push("raising");
        panic!("doh!");
    });
    let l = log.clone();
    future.add_done_callback(move |_| l.lock().unwrap().push("fn"));
    // The panic is caught and reported on stderr; set_result itself succeeds.
    promise.set_result(5).unwrap();
    // Both ran, in registration order.
    assert_eq!(*log.lock().unwrap(), ["raising", "fn"]);
    assert_eq!(future.result().unwrap(), 5);
}

#[test]
fn done_callback_already_successful() {
    let (tx, rx) = mpsc::channel();
    let (promise, future) = pair::<i32>();
    promise.set_result(5).unwrap();
    future.add_done_callback(move |f| tx.send(f.result()).unwrap());
    // Already done: the callback ran at once, in this thread.
    assert_eq!(rx.try_recv().unwrap().unwrap(), 5);
}

#[test]
fn done_callback_already_failed() {
    let (tx, rx) = mpsc::channel();
    let (promise, future) = pair::<i32>();
    promise.set_error(Error::failed("test")).unwrap();
    future.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    let error = rx.try_recv().unwrap().unwrap().expect("an error");
    assert_eq!(error.to_string(), "the task failed: test");
}

#[test]
fn done_callback_already_cancelled() {
    let (tx, rx) = mpsc::channel();
    let (_promise, future) = pair::<i32>();
    assert!(future.cancel());
    future.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(rx.try_recv().unwrap());
}

#[test]
fn done_callback_raises_already_succeeded() {
    let (promise, future) = pair::<i32>();
    promise.set_result(5).unwrap();
    // Runs at once in this thread; the panic is caught and reported, not propagated.
    future.add_done_callback(|_| panic!("doh!"));
    let (tx, rx) = mpsc::channel();
    future.add_done_callback(move |f| tx.send(f.result()).unwrap());
    assert_eq!(rx.try_recv().unwrap().unwrap(), 5);
}

#[test]
fn repr() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    assert_eq!(format!("{pending:?}"), "Future<i32>(state=pending)");
    assert_eq!(format!("{running:?}"), "Future<i32>(state=running)");
    assert_eq!(format!("{:?}", cancelled()), "Future<i32>(state=cancelled)");
    assert_eq!(
        format!("{:?}", cancelled_and_notified()),
        "Future<i32>(state=cancelled)"
    );
    assert_eq!(
        format!("{:?}", exception()),
        "Future<i32>(state=finished, raised Failed(os error))"
    );
    assert_eq!(
        format!("{:?}", successful()),
        "Future<i32>(state=finished, returned)"
    );
}

#[test]
fn cancel() {
    let calls = Arc::new(Mutex::new(0));
    let counting = |future: &Future<i32>| {
        let calls = calls.clone();
        future.add_done_callback(move |_| *calls.lock().unwrap() += 1);
    };

    // Pending: cancelled, callbacks run once.
    let (_p1, f1) = pending();
    counting(&f1);
    assert!(f1.cancel());
    assert!(f1.cancelled());
    assert_eq!(*calls.lock().unwrap(), 1);

    // Running: refused, still running.
    let (_p2, f2) = running();
    assert!(!f2.cancel());
    assert!(f2.running());
    assert!(!f2.done());

    // Already cancelled: true again, and the callbacks do not run again.
    assert!(f1.cancel());
    assert!(f1.cancelled());
    assert_eq!(*calls.lock().unwrap(), 1);
    let f3 = cancelled();
    assert!(f3.cancel());
    assert!(f3.cancelled());
    let f4 = cancelled_and_notified();
    assert!(f4.cancel());
    assert!(f4.cancelled());

    // Finished: refused, unchanged.
    let f5 = exception();
    assert!(!f5.cancel());
    assert!(!f5.cancelled());
    assert!(f5.exception().unwrap().unwrap().is_failed());
    let f6 = successful();
    assert!(!f6.cancel());
    assert_eq!(f6.result().unwrap(), 42);
}

#[test]
fn cancelled_state() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    assert!(!pending.cancelled());
    assert!(!running.cancelled());
    assert!(cancelled().cancelled());
    assert!(cancelled_and_notified().cancelled());
    assert!(!exception().cancelled());
    assert!(!successful().cancelled());
}

#[test]
fn done() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    assert!(!pending.done());
    assert!(!running.done());
    assert!(cancelled().done());
    assert!(cancelled_and_notified().done());
    assert!(exception().done());
    assert!(successful().done());
}

#[test]
fn running_state() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    assert!(!pending.running());
    assert!(running.running());
    assert!(!cancelled().running());
    assert!(!cancelled_and_notified().running());
    assert!(!exception().running());
    assert!(!successful().running());
}

#[test]
fn result_with_timeout() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    let zero = Duration::ZERO;
    assert!(pending.result_timeout(zero).unwrap_err().is_timeout());
    assert!(running.result_timeout(zero).unwrap_err().is_timeout());
    assert!(cancelled().result_timeout(zero).unwrap_err().is_cancelled());
    assert!(cancelled_and_notified()
        .result_timeout(zero)
        .unwrap_err()
        .is_cancelled());
    let err = exception().result_timeout(zero).unwrap_err();
    assert!(err.task_error::<io::Error>().is_some());
    assert_eq!(successful().result_timeout(zero).unwrap(), 42);
}

/// concurra differs from Python on purpose: the thread that runs a future's work gets
/// `InvalidState` at once when it waits on that future, instead of blocking. A future started
/// by hand through the public `Promise` names no runner, so its starter may wait on it.
#[test]
fn result_of_own_running_future_is_invalid_state() {
    let pool = concurra::ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Future<bool>>();
    let future = concurra::Executor::submit(&pool, move || {
        let me = rx.recv().unwrap();
        me.result_timeout(Duration::ZERO)
            .unwrap_err()
            .is_invalid_state()
            && me.exception().unwrap_err().is_invalid_state()
            && me.result().unwrap_err().is_invalid_state()
    });
    tx.send(future.clone()).unwrap();
    assert!(future.result().unwrap());

    let (promise, by_hand) = pair::<i32>();
    assert!(promise.set_running_or_notify_cancel());
    assert!(by_hand
        .result_timeout(Duration::ZERO)
        .unwrap_err()
        .is_timeout());
    promise.set_result(1).unwrap();
    assert_eq!(by_hand.result().unwrap(), 1);
}

#[test]
fn result_with_success() {
    let (promise, future) = pending();
    let (go, wait_go) = mpsc::channel::<()>();
    let setter = thread::spawn(move || {
        // Released by the test once it has seen the waiter block.
        if wait_go.recv().is_ok() {
            promise.set_result(42).unwrap();
        }
    });
    assert!(future.result_timeout(SHORT).unwrap_err().is_timeout());
    go.send(()).unwrap();
    assert_eq!(future.result().unwrap(), 42);
    setter.join().unwrap();
}

#[test]
fn result_with_cancel() {
    let (_promise, future) = pending();
    let (go, wait_go) = mpsc::channel::<()>();
    let canceller = {
        let future = future.clone();
        thread::spawn(move || {
            if wait_go.recv().is_ok() {
                assert!(future.cancel());
            }
        })
    };
    assert!(future.result_timeout(SHORT).unwrap_err().is_timeout());
    go.send(()).unwrap();
    assert!(future.result().unwrap_err().is_cancelled());
    canceller.join().unwrap();
}

#[test]
fn exception_with_timeout() {
    let (_p, pending) = pending();
    let (_r, running) = running();
    let zero = Duration::ZERO;
    assert!(pending.exception_timeout(zero).unwrap_err().is_timeout());
    assert!(running.exception_timeout(zero).unwrap_err().is_timeout());
    assert!(cancelled()
        .exception_timeout(zero)
        .unwrap_err()
        .is_cancelled());
    assert!(cancelled_and_notified()
        .exception_timeout(zero)
        .unwrap_err()
        .is_cancelled());
    let err = exception()
        .exception_timeout(zero)
        .unwrap()
        .expect("failed");
    assert!(err.task_error::<io::Error>().is_some());
    assert!(successful().exception_timeout(zero).unwrap().is_none());
}

#[test]
fn exception_with_success() {
    let (promise, future) = pending();
    let (go, wait_go) = mpsc::channel::<()>();
    let setter = thread::spawn(move || {
        if wait_go.recv().is_ok() {
            promise.set_error(os_error()).unwrap();
        }
    });
    assert!(future.exception_timeout(SHORT).unwrap_err().is_timeout());
    go.send(()).unwrap();
    let err = future.exception().unwrap().expect("failed");
    assert!(err.task_error::<io::Error>().is_some());
    setter.join().unwrap();
}

/// Python: a second `set_result` raises `InvalidStateError` and the first value stays. In
/// concurra a second set cannot be written (completing consumes the promise); the one way to
/// complete a done future is to complete one that was cancelled meanwhile.
#[test]
fn set_result_after_cancel_is_invalid_state() {
    let (promise, future) = pending();
    assert!(future.cancel());
    let err = promise.set_result(2).unwrap_err();
    assert!(err.is_invalid_state());
    assert_eq!(
        err.to_string(),
        "invalid state: cannot complete a future in state cancelled"
    );
    assert!(future.done());
    assert!(future.cancelled());
    assert!(future.result().unwrap_err().is_cancelled());
}

#[test]
fn set_error_after_cancel_is_invalid_state() {
    let (promise, future) = pending();
    assert!(future.cancel());
    assert!(promise
        .set_error(os_error())
        .unwrap_err()
        .is_invalid_state());
    assert!(future.exception().unwrap_err().is_cancelled());
}

/// `set_running_or_notify_cancel` on a future that is already running is a producer bug:
/// Python raises `RuntimeError`; concurra returns false (and reports it on stderr).
#[test]
fn set_running_twice_is_refused() {
    let (promise, future) = pending();
    assert!(promise.set_running_or_notify_cancel());
    assert!(!promise.set_running_or_notify_cancel());
    assert!(future.running());
    promise.set_result(3).unwrap();
    assert_eq!(future.result().unwrap(), 3);
}

/// concurra differs from Python on purpose: a dropped producer fails the future with
/// `Abandoned` instead of leaving it pending forever.
#[test]
fn dropped_promise_abandons_future() {
    let (promise, future) = pending();
    drop(promise);
    assert!(future.done());
    assert!(future.result().unwrap_err().is_abandoned());
    assert!(future.exception().unwrap().unwrap().is_abandoned());
}

/// `_get_snapshot()` → `try_result()`: one consistent look at a future without blocking.
#[test]
fn get_snapshot() {
    let (_p, pending) = pending();
    assert!(pending.try_result().is_none());

    let (promise, future) = pair::<i32>();
    promise.set_result(42).unwrap();
    assert_eq!(*future.try_result().unwrap().as_ref().unwrap(), 42);

    let (promise, future) = pair::<i32>();
    promise.set_error(Error::failed("test error")).unwrap();
    let err = future.try_result().unwrap().as_ref().unwrap_err();
    assert_eq!(err.to_string(), "the task failed: test error");

    let (_promise, future) = pair::<i32>();
    assert!(future.cancel());
    assert!(future
        .try_result()
        .unwrap()
        .as_ref()
        .unwrap_err()
        .is_cancelled());

    // Concurrent readers all see the same outcome.
    let (promise, future) = pair::<i32>();
    promise.set_result(100).unwrap();
    thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..1000)
                        .map(|_| (future.done(), future.cancelled(), future.try_result()))
                        .all(|(done, cancelled, outcome)| {
                            done && !cancelled && matches!(outcome, Some(Ok(100)))
                        })
                })
            })
            .collect();
        for reader in readers {
            assert!(reader.join().unwrap());
        }
    });
}
