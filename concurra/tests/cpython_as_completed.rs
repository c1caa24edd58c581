//! Port of CPython's `Lib/test/test_concurrent_futures/test_as_completed.py` (python/cpython):
//! the `AsCompletedTests` mixin run against a thread pool, with the state fixtures of `util.py`.
//!
//! What changed in the port:
//! - `as_completed` yields `Result<Future<T>>`; Python's `TimeoutError` raised by the iterator is
//!   one `Err(Error::Timeout)` item, after which the iterator ends. Its message differs: Python
//!   says `'2 (of 4) futures unfinished'`, concurra's `Timeout` carries the timeout given, so
//!   `test_correct_timeout_exception_msg` counts what was yielded before the timeout instead.
//! - Sets of futures become `Vec`s compared by identity (`Future::ptr_eq`).
//! - Tasks that slept (`time.sleep`) to stay unfinished wait on a `Promise<()>`/`Future<()>` gate
//!   instead; the test releases them. A dropped gate releases them too, so a failing test never
//!   hangs the pool's `Drop`.
//! - `test_free_reference_yielded_future` used `weakref` on the future. Here the futures hold an
//!   `Arc` marker as their value and the test keeps a `Weak` to it: once the test drops its own
//!   handles, the marker is freed only if `as_completed` kept no reference. A cancelled future
//!   has no value to track, so only finished futures are checked.
//! - Python's `CANCELLED_AND_NOTIFIED_FUTURE` is a cancelled future here (concurra has no
//!   separate notified state: a cancelled future is complete at once).
//! - Only the thread pool is covered: the process-pool variants have no concurra engine yet.

use std::sync::{Arc, Weak};
use std::time::Duration;

use concurra::future::{pair, Future, Promise};
use concurra::{as_completed, as_completed_timeout, Apply, Error, Unfinished};

mod common;
use common::{
    cancelled_and_notified, exception, mul, pool, running, same, successful, wait_on, SHORT,
};

#[test]
fn no_timeout() {
    let pool = pool();
    let future1 = pool.submit(Apply(mul, (2, 21)));
    let future2 = pool.submit(Apply(mul, (7, 6)));
    let notified = cancelled_and_notified();
    let failed = exception();
    let successful = successful();

    let completed: Vec<_> = as_completed([&notified, &failed, &successful, &future1, &future2])
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(same(
        &completed,
        &[&notified, &failed, &successful, &future1, &future2]
    ));
}

#[test]
fn future_times_out() {
    let pool = pool();
    let already_completed = [cancelled_and_notified(), exception(), successful()];
    for timeout in [Duration::ZERO, SHORT] {
        let (release, gate) = pair::<()>();
        let future = pool.submit(wait_on(&gate));

        let mut completed = Vec::new();
        let mut timed_out = false;
        let all = already_completed.iter().chain([&future]);
        for item in as_completed_timeout(all, timeout) {
            match item {
                Ok(f) => completed.push(f),
                Err(e) => {
                    assert!(!timed_out, "one timeout, then the iterator ends");
                    assert!(e.is_timeout());
                    timed_out = true;
                }
            }
        }
        assert!(timed_out);
        // `future` was not yielded; the others were.
        let want: Vec<_> = already_completed.iter().collect();
        assert!(same(&completed, &want), "timeout {timeout:?}");
        // The timeout cancels nothing.
        assert!(!future.cancelled());

        release.set_result(()).unwrap();
        assert_eq!(future.result().unwrap(), 0);
    }
}

/// Issue 20367 (duplicates are yielded once) and #31641 (any iterable).
#[test]
fn duplicate_futures() {
    let pool = pool();
    let (release, gate) = pair::<()>();
    let future1 = pool.submit(wait_on(&gate));
    let mut completed = as_completed(std::iter::repeat_n(&future1, 3));
    release.set_result(()).unwrap();
    let first = completed.next().unwrap().unwrap();
    assert!(first.ptr_eq(&future1));
    assert!(completed.next().is_none());
}

struct Marker;

fn marked_value() -> (Arc<Marker>, Weak<Marker>) {
    let value = Arc::new(Marker);
    let weak = Arc::downgrade(&value);
    (value, weak)
}

/// Issue #14406: the iterator keeps no reference to the futures it has yielded.
#[test]
fn free_reference_yielded_future() {
    type F = Future<Arc<Marker>>;
    let mut promises: Vec<Promise<Arc<Marker>>> = Vec::new();
    let mut futures: Vec<F> = Vec::new();
    for _ in 0..8 {
        let (p, f) = pair();
        promises.push(p);
        futures.push(f);
    }
    let (p, cancelled) = pair();
    assert!(cancelled.cancel());
    assert!(!p.set_running_or_notify_cancel());
    futures.push(cancelled);
    let (value, finished_weak) = marked_value();
    futures.push(Future::completed(Ok(value)));

    /// Drops the yielded handle and the list's handle; returns the marker's weak, if any.
    fn forget(futures: &mut Vec<F>, yielded: F) -> Option<Weak<Marker>> {
        let weak = yielded
            .try_result()
            .and_then(|r| r.as_ref().ok())
            .map(Arc::downgrade);
        let at = futures.iter().position(|f| f.ptr_eq(&yielded)).unwrap();
        futures.remove(at);
        drop(yielded);
        weak
    }

    let mut timed_out = false;
    for item in as_completed_timeout(futures.clone(), Duration::ZERO) {
        match item {
            Ok(future) => {
                if let Some(weak) = forget(&mut futures, future) {
                    assert!(weak.upgrade().is_none(), "as_completed kept a reference");
                }
            }
            Err(e) => {
                assert!(e.is_timeout());
                timed_out = true;
            }
        }
    }
    assert!(timed_out);
    assert!(finished_weak.upgrade().is_none());
    assert_eq!(futures.len(), 8);

    let mut promises = promises.into_iter();
    let set_next = |promises: &mut std::vec::IntoIter<Promise<Arc<Marker>>>| {
        let (value, weak) = marked_value();
        promises.next().unwrap().set_result(value).unwrap();
        weak
    };
    let mut weak = set_next(&mut promises);
    for item in as_completed(futures.clone()) {
        forget(&mut futures, item.unwrap());
        assert!(weak.upgrade().is_none(), "as_completed kept a reference");
        if !futures.is_empty() {
            weak = set_next(&mut promises);
        }
    }
    assert!(futures.is_empty());
}

/// Python: `TimeoutError('2 (of 4) futures unfinished')`. concurra yields the two finished
/// futures and then one `Timeout` carrying the timeout given and the same counts.
#[test]
fn correct_timeout_exception() {
    let (_p, pending) = pair::<i32>();
    let (_r, running) = running();
    let items: Vec<_> = as_completed_timeout(
        [&cancelled_and_notified(), &pending, &running, &successful()],
        Duration::ZERO,
    )
    .collect();
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    match &items[2] {
        Err(e @ Error::Timeout { after, .. }) => {
            assert_eq!(*after, Duration::ZERO);
            assert_eq!(
                e.unfinished(),
                Some(Unfinished {
                    pending: 2,
                    total: 4
                })
            );
            assert_eq!(e.to_string(), "2 (of 4) futures unfinished after 0ns");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Already complete futures come first, then the rest in completion order (not input order).
#[test]
fn completion_order() {
    let pool = pool();
    let (release1, gate1) = pair::<()>();
    let (release2, gate2) = pair::<()>();
    let future1 = pool.submit(wait_on(&gate1));
    let future2 = pool.submit(wait_on(&gate2));
    let done = successful();

    let mut completed = as_completed([&future1, &future2, &done]);
    assert!(completed.next().unwrap().unwrap().ptr_eq(&done));
    release2.set_result(()).unwrap();
    assert!(completed.next().unwrap().unwrap().ptr_eq(&future2));
    release1.set_result(()).unwrap();
    assert!(completed.next().unwrap().unwrap().ptr_eq(&future1));
    assert!(completed.next().is_none());
}

/// concurra differs from Python on purpose: a future cancelled while `as_completed` waits is
/// yielded as soon as it is cancelled (Python yields it only once an executor notifies the
/// cancellation, which for a bare future never happens).
#[test]
fn cancelled_while_waiting_is_yielded() {
    let (_promise, future) = pair::<i32>();
    let mut completed = as_completed([&future]);
    std::thread::scope(|s| {
        s.spawn(|| assert!(future.cancel()));
        let yielded = completed.next().unwrap().unwrap();
        assert!(yielded.cancelled());
    });
    assert!(completed.next().is_none());
}
