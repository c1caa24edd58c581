//! Pool semantics ported by hand from CPython's `Lib/test/_test_multiprocessing.py`
//! (`_TestPool`: test_apply, test_map, test_starmap, test_map_async, test_map_async_callbacks,
//! test_map_chunksize, test_async_timeout, test_imap, test_imap_handle_iterable_exception,
//! test_imap_unordered, test_empty_iterable, test_terminate, test_context, test_enter), run on
//! `ThreadPool` (the process `Pool` joins when the process engine lands).
//!
//! Changes in the port:
//! - exceptions are `Error` values: a raising task is a panicking one; `ValueError`s for misuse
//!   are `Error::InvalidState`; `multiprocessing.TimeoutError` is `Error::Timeout`.
//! - work given to a closed pool fails its result instead of raising at the call.
//! - `terminate` fails outstanding results with `Error::Terminated` (Python leaves them pending).
//! - a failing item fails only its own position, not its chunk.
//! - a panicking callback is reported and the pool keeps working (Python wedges: gh-83371).
//! - no sleeps: tasks wait on gates the test opens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use concurra::future::Future;
use concurra::pool::Callbacks;
use concurra::{wait, ReturnWhen, ThreadPool};

mod common;
use common::gate;

fn pool() -> ThreadPool {
    ThreadPool::new(Some(4)).unwrap()
}

fn sqr(x: i64) -> i64 {
    x * x
}

#[test]
fn apply() {
    let pool = pool();
    assert_eq!(pool.apply(|| sqr(5)).unwrap(), 25);
    assert_eq!(pool.apply_async(|| sqr(7)).get().unwrap(), 49);
}

#[test]
fn map_and_starmap() {
    let pool = pool();
    assert_eq!(
        pool.map(sqr, 0..10, None).unwrap(),
        (0..10).map(sqr).collect::<Vec<_>>()
    );
    assert_eq!(
        pool.map(sqr, 0..100, Some(53)).unwrap(),
        (0..100).map(sqr).collect::<Vec<_>>()
    );
    let pairs: Vec<(i64, i64)> = (0..10).map(|i| (i, i + 1)).collect();
    let out = pool
        .starmap(|a: i64, b: i64| a * b, pairs.clone(), None)
        .unwrap();
    assert_eq!(out, pairs.iter().map(|(a, b)| a * b).collect::<Vec<_>>());
    let out = pool
        .starmap_async(|a: i64, b: i64| a * b, pairs, Some(3), Callbacks::new())
        .get()
        .unwrap();
    assert_eq!(out.len(), 10);
}

#[test]
fn map_async_callbacks() {
    let pool = pool();
    let (tx, rx) = mpsc::channel();
    let r = pool.map_async(
        sqr,
        0..10,
        None,
        Callbacks::new().on_success(move |v: &Vec<i64>| tx.send(v.clone()).unwrap()),
    );
    assert_eq!(r.get().unwrap().len(), 10);
    assert_eq!(rx.recv().unwrap(), (0..10).map(sqr).collect::<Vec<_>>());

    let (tx, rx) = mpsc::channel();
    let r = pool.map_async(
        |x: i64| if x == 3 { panic!("three") } else { x },
        0..10,
        Some(2),
        Callbacks::new().on_error(move |e| tx.send(e.is_panic()).unwrap()),
    );
    assert!(r.get().unwrap_err().is_panic());
    assert!(rx.recv().unwrap());
    assert!(!r.successful().unwrap());
}

#[test]
fn callback_runs_before_ready_and_a_panicking_callback_does_not_wedge() {
    let pool = pool();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let r = pool.apply_async_with(
        || 1,
        Callbacks::new().on_success(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        }),
    );
    r.wait();
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the callback ran before the result was ready"
    );
    let bad = pool.apply_async_with(
        || 2,
        Callbacks::new().on_success(|_| panic!("callback boom")),
    );
    assert_eq!(bad.get().unwrap(), 2);
    assert_eq!(pool.apply_async(|| 3).get().unwrap(), 3);
}

#[test]
fn async_timeout_and_successful_before_ready() {
    let pool = pool();
    let (p, g) = gate();
    let r = pool.apply_async(move || g.wait());
    assert!(r
        .get_timeout(Duration::from_millis(10))
        .unwrap_err()
        .is_timeout());
    assert!(!r.ready());
    assert!(r.successful().unwrap_err().is_invalid_state());
    assert!(!r.wait_timeout(Duration::ZERO));
    p.set_result(()).unwrap();
    r.get().unwrap();
    assert!(r.successful().unwrap());
}

#[test]
fn imap_ordered_and_failing_item() {
    let pool = pool();
    let out: Vec<i64> = pool
        .imap(sqr, 0..20, 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..20).map(sqr).collect::<Vec<_>>());
    let out: Vec<_> = pool
        .imap(|x: i64| if x == 5 { panic!("five") } else { x }, 0..10, 3)
        .unwrap()
        .collect();
    assert_eq!(out.len(), 10, "the iteration goes on after a failed item");
    assert!(out[5].as_ref().unwrap_err().is_panic());
    assert_eq!(*out[6].as_ref().unwrap(), 6);
}

#[test]
fn imap_next_timeout() {
    let pool = pool();
    let (p, g) = gate();
    let g = Arc::new(Mutex::new(Some(g)));
    let mut it = pool
        .imap(
            move |x: i64| {
                if x == 0 {
                    let g = g.lock().unwrap().take().unwrap();
                    g.wait();
                }
                x
            },
            0..3,
            1,
        )
        .unwrap();
    assert!(it
        .next_timeout(Duration::from_millis(10))
        .unwrap()
        .unwrap_err()
        .is_timeout());
    p.set_result(()).unwrap();
    assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn imap_unordered_yields_everything() {
    let pool = pool();
    let mut out: Vec<i64> = pool
        .imap_unordered(sqr, 0..50, 4)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort_unstable();
    assert_eq!(out, (0..50).map(sqr).collect::<Vec<_>>());
}

#[test]
fn empty_iterables_and_bad_chunksize() {
    let pool = pool();
    assert!(pool.map(sqr, Vec::new(), None).unwrap().is_empty());
    assert!(pool
        .map_async(sqr, Vec::new(), None, Callbacks::new())
        .get()
        .unwrap()
        .is_empty());
    assert_eq!(pool.imap(sqr, Vec::new(), 1).unwrap().count(), 0);
    assert_eq!(pool.imap_unordered(sqr, Vec::new(), 1).unwrap().count(), 0);
    assert!(pool.map(sqr, 0..3, Some(0)).unwrap_err().is_invalid_state());
    assert!(pool.imap(sqr, 0..3, 0).unwrap_err().is_invalid_state());
    assert!(ThreadPool::new(Some(0)).unwrap_err().is_invalid_state());
}

#[test]
fn lifecycle_rules() {
    let pool = pool();
    assert!(
        pool.join().unwrap_err().is_invalid_state(),
        "join before close"
    );
    let r = pool.apply_async(|| 1);
    pool.close();
    assert!(pool.apply_async(|| 2).get().unwrap_err().is_invalid_state());
    assert!(pool.map(sqr, 0..3, None).unwrap_err().is_invalid_state());
    pool.join().unwrap();
    assert_eq!(r.get().unwrap(), 1, "close lets queued work finish");
}

#[test]
fn terminate_fails_every_outstanding_result() {
    let pool = ThreadPool::new(Some(1)).unwrap();
    let (p, g) = gate();
    let (started_tx, started_rx) = mpsc::channel();
    let running = pool.apply_async(move || {
        started_tx.send(()).unwrap();
        g.wait();
    });
    started_rx.recv().unwrap();
    let queued: Vec<_> = (0..5).map(|i| pool.apply_async(move || i)).collect();
    let mapped = pool.map_async(sqr, 0..10, None, Callbacks::new());
    pool.terminate();
    assert!(running.get().unwrap_err().is_terminated());
    assert!(queued.iter().all(|r| r.get().unwrap_err().is_terminated()));
    assert!(mapped.get().unwrap_err().is_terminated());
    p.set_result(()).unwrap();
    pool.join().unwrap();
}

#[test]
fn drop_terminates_like_python_with_block() {
    let (p, g) = gate();
    let r = {
        let pool = ThreadPool::new(Some(1)).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let _running = pool.apply_async(move || {
            started_tx.send(()).unwrap();
            g.wait();
        });
        started_rx.recv().unwrap();
        let r = pool.apply_async(|| 1);
        let opener = std::thread::spawn(move || p.set_result(()).unwrap());
        drop(pool);
        opener.join().unwrap();
        r
    };
    assert!(r.get().unwrap_err().is_terminated());
}

#[test]
fn async_results_work_with_wait_and_await() {
    let pool = pool();
    let rs: Vec<Future<i64>> = (0..4)
        .map(|i| pool.apply_async(move || i).future())
        .collect();
    assert_eq!(wait(&rs, None, ReturnWhen::AllCompleted).done.len(), 4);
    let r = pool.apply_async(|| 9);
    assert_eq!(
        futures::executor::block_on(async move { r.await }).unwrap(),
        9
    );
}
