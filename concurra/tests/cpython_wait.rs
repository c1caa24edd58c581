//! Port of CPython's `Lib/test/test_concurrent_futures/test_wait.py` (python/cpython): the
//! `WaitTests` mixin run against a thread pool (`ThreadPoolWaitTests`), with the state fixtures
//! of `util.py`.
//!
//! What changed in the port:
//! - `wait` returns `DoneAndNotDone { done, not_done }` as two `Vec`s in input order instead of
//!   two sets; membership is checked by identity (`Future::ptr_eq`).
//! - `threading.Event`s that block tasks become a `Promise<()>`/`Future<()>` pair: tasks wait on
//!   the future, the test releases them with `set_result(())`. If a test fails first, the promise
//!   is dropped, which releases the tasks too, so a failing test never hangs the pool's `Drop`.
//! - A task that raises becomes a task that panics (`Error::Panicked`) or a `Fallible` task
//!   returning `Err` (`Error::Failed`); both count for `FirstException`.
//! - Python's `CANCELLED_FUTURE` (cancelled, not yet notified) is *not done* for `wait`; concurra
//!   deliberately treats a cancelled future as complete at once (README, "Where concurra
//!   differs"). So `test_first_completed` returns at once with the cancelled future in `done`,
//!   and `test_first_exception_some_already_complete` counts it as done. The original facts
//!   (the blocked task stays in `not_done`, the completed one is in `done`) are kept, and
//!   `first_completed_without_cancelled` checks the Python case without that fixture.
//! - `test_pending_calls_race` lowered the interpreter's switch interval; here 100 tasks are
//!   released at once instead.
//! - Only the thread pool is covered: the process-pool variants (`ProcessPoolFork...`) have no
//!   concurra engine yet.
//! - An invalid `return_when` cannot be written (`ReturnWhen` is an enum).

use std::sync::mpsc;

use concurra::future::{pair, Future};
use concurra::{wait, wait_timeout, Apply, Fallible, ReturnWhen, Thread, ThreadPoolExecutor};

mod common;
use common::{
    cancelled, cancelled_and_notified, exception, mul, pool, same, successful, wait_on, SHORT,
};

#[test]
fn issue_20369_duplicates_collapse() {
    let pool = pool();
    let future = pool.submit(Apply(mul, (1, 2)));
    let waited = wait([&future, &future], ReturnWhen::AllCompleted);
    assert!(same(&waited.done, &[&future]));
    assert!(waited.not_done.is_empty());
}

#[test]
fn first_completed() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(Apply(mul, (21, 2)));
    let future2 = pool.submit(wait_on(&gate));
    let cancelled = cancelled();

    // concurra: the cancelled future is already complete, so wait returns at once with it in
    // `done`; future1 may or may not have finished yet. Python puts it in `not_done`.
    let waited = wait([&cancelled, &future1, &future2], ReturnWhen::FirstCompleted);
    assert!(waited.done.iter().any(|f| f.ptr_eq(&cancelled)));
    assert!(waited.not_done.iter().any(|f| f.ptr_eq(&future2)));
    assert_eq!(waited.done.len() + waited.not_done.len(), 3);

    release.set_result(()).unwrap();
    assert_eq!(future1.result().unwrap(), 42);
    assert_eq!(future2.result().unwrap(), 0);
}

/// Python's `test_first_completed` without the cancelled fixture: the finished task is done,
/// the blocked one is not.
#[test]
fn first_completed_without_cancelled() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(Apply(mul, (21, 2)));
    let future2 = pool.submit(wait_on(&gate));

    let waited = wait([&future1, &future2], ReturnWhen::FirstCompleted);
    assert!(same(&waited.done, &[&future1]));
    assert!(same(&waited.not_done, &[&future2]));

    release.set_result(()).unwrap();
    assert_eq!(future2.result().unwrap(), 0);
}

#[test]
fn first_completed_some_already_completed() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(wait_on(&gate));
    let cancelled = cancelled_and_notified();
    let successful = successful();

    let waited = wait(
        [&cancelled, &successful, &future1],
        ReturnWhen::FirstCompleted,
    );
    assert!(same(&waited.done, &[&cancelled, &successful]));
    assert!(same(&waited.not_done, &[&future1]));

    release.set_result(()).unwrap();
    assert_eq!(future1.result().unwrap(), 0);
}

#[test]
fn first_exception() {
    let pool = pool();
    let (release1, event1) = pair::<()>();
    let (release2, event2) = pair::<()>();
    let future1 = pool.submit(Apply(mul, (2, 21)));
    let future2 = pool.submit({
        let event1 = event1.clone();
        move || -> i32 {
            event1.wait();
            panic!("this is an exception")
        }
    });
    let future3 = pool.submit(wait_on(&event2));

    // future2 may fail only once future1 has finished.
    let helper = {
        let future1 = future1.clone();
        Thread::builder()
            .start(move || {
                future1.result().unwrap();
                release1.set_result(()).unwrap();
            })
            .unwrap()
    };

    let waited = wait([&future1, &future2, &future3], ReturnWhen::FirstException);
    assert!(same(&waited.done, &[&future1, &future2]));
    assert!(same(&waited.not_done, &[&future3]));
    helper.join().unwrap();
    assert_eq!(
        future2.result().unwrap_err().panic_message(),
        Some("this is an exception")
    );

    release2.set_result(()).unwrap();
    assert_eq!(future3.result().unwrap(), 0);
}

#[test]
fn first_exception_some_already_complete() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(Fallible(|| 21_i32.checked_div(0).ok_or("division by zero")));
    let future2 = pool.submit(wait_on(&gate));
    let successful = successful();
    let cancelled = cancelled();
    let notified = cancelled_and_notified();

    let waited = wait(
        [&successful, &cancelled, &notified, &future1, &future2],
        ReturnWhen::FirstException,
    );
    // concurra: `cancelled` is done too (Python: pending until notified). A cancellation is not
    // an exception, so only future1's failure ended the wait.
    assert!(same(
        &waited.done,
        &[&successful, &cancelled, &notified, &future1]
    ));
    assert!(same(&waited.not_done, &[&future2]));
    assert!(future1.result().unwrap_err().is_failed());

    release.set_result(()).unwrap();
    assert_eq!(future2.result().unwrap(), 0);
}

#[test]
fn first_exception_one_already_failed() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(wait_on(&gate));
    let failed = exception();

    let waited = wait([&failed, &future1], ReturnWhen::FirstException);
    assert!(same(&waited.done, &[&failed]));
    assert!(same(&waited.not_done, &[&future1]));

    release.set_result(()).unwrap();
    assert_eq!(future1.result().unwrap(), 0);
}

/// A cancellation alone never ends a `FirstException` wait: with nothing failing it behaves as
/// `AllCompleted`.
#[test]
fn first_exception_ignores_cancellation() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(wait_on(&gate));
    let cancelled = cancelled();

    let waited = wait_timeout([&cancelled, &future1], SHORT, ReturnWhen::FirstException);
    assert!(same(&waited.done, &[&cancelled]));
    assert!(same(&waited.not_done, &[&future1]));

    release.set_result(()).unwrap();
    let waited = wait([&cancelled, &future1], ReturnWhen::FirstException);
    assert!(same(&waited.done, &[&cancelled, &future1]));
    assert!(waited.not_done.is_empty());
}

#[test]
fn all_completed() {
    let pool = pool();
    let future1 = pool.submit(|| -> i32 {
        let zero = std::hint::black_box(0);
        2 / zero
    });
    let future2 = pool.submit(Apply(mul, (2, 21)));
    let successful = successful();
    let notified = cancelled_and_notified();
    let failed = exception();

    let waited = wait(
        [&successful, &notified, &failed, &future1, &future2],
        ReturnWhen::AllCompleted,
    );
    // concurra keeps the input order.
    let order = [&successful, &notified, &failed, &future1, &future2];
    assert_eq!(waited.done.len(), order.len());
    assert!(waited.done.iter().zip(order).all(|(g, w)| g.ptr_eq(w)));
    assert!(waited.not_done.is_empty());
    assert!(future1.result().unwrap_err().is_panic());
    assert_eq!(future2.result().unwrap(), 42);
}

#[test]
fn timeout() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future = pool.submit(wait_on(&gate));
    let notified = cancelled_and_notified();
    let failed = exception();
    let successful = successful();

    // Never fails on timeout: it returns what is done.
    let waited = wait_timeout(
        [&notified, &failed, &successful, &future],
        SHORT,
        ReturnWhen::AllCompleted,
    );
    assert!(same(&waited.done, &[&notified, &failed, &successful]));
    assert!(same(&waited.not_done, &[&future]));

    release.set_result(()).unwrap();
    assert_eq!(future.result().unwrap(), 0);
}

#[test]
fn empty() {
    let none: [Future<i32>; 0] = [];
    for return_when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let waited = wait(&none, return_when);
        assert!(waited.done.is_empty() && waited.not_done.is_empty());
    }
}

/// Issue #14406: a race when many futures complete while `wait` registers with them.
#[test]
fn pending_calls_race() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let fs: Vec<_> = (0..100).map(|_| pool.submit(wait_on(&gate))).collect();
    release.set_result(()).unwrap();
    let waited = wait(&fs, ReturnWhen::AllCompleted);
    assert_eq!(waited.done.len(), 100);
    assert!(waited.not_done.is_empty());
}

/// The fact behind Python's CANCELLED_FUTURE fixture, in a real pool: a queued future cancelled
/// while every worker is busy. Python's `wait` sees it only when a worker dequeues it; concurra
/// deliberately sees it at once.
#[test]
fn cancelled_queued_future_is_complete_at_once() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (release, gate) = pair::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let busy = pool.submit({
        let gate = gate.clone();
        move || {
            started_tx.send(()).unwrap();
            gate.wait();
            0
        }
    });
    started_rx.recv().unwrap();
    let queued = pool.submit(Apply(mul, (6, 7)));
    assert!(queued.cancel());

    let waited = wait([&queued], ReturnWhen::AllCompleted);
    assert!(same(&waited.done, &[&queued]));
    let waited = wait([&busy, &queued], ReturnWhen::FirstCompleted);
    assert!(same(&waited.done, &[&queued]));
    assert!(same(&waited.not_done, &[&busy]));

    release.set_result(()).unwrap();
    assert_eq!(busy.result().unwrap(), 0);
    assert!(queued.result().unwrap_err().is_cancelled());
}
