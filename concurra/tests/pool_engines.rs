//! The Pool interface on both engines: the same cases run on `ThreadPool` (threads) and on
//! `ProcessPool` (worker processes: this test binary started again), then the process pool's
//! faults.
//!
//! Ported by hand (it replaces the thread-only `cpython_pool.rs`) from CPython's `Lib/test/_test_multiprocessing.py` (`_TestPool`: test_apply,
//! test_map, test_starmap, test_starmap_async, test_map_async, test_map_async_callbacks,
//! test_map_chunksize, test_async, test_async_timeout, test_imap,
//! test_imap_handle_iterable_exception, test_imap_unordered, test_empty_iterable,
//! test_terminate, test_context, test_enter; `_TestPoolWorkerLifetime`; and `TestForkAwareThreadLock`'s
//! worker-death cases, which hang in CPython).
//!
//! Changes in the port:
//! - Work is `fn` items (with `Apply` for an argument), which both engines accept; a raising
//!   task is a panicking one; `ValueError`s are `Error::InvalidArgument`, misuse is `Error::InvalidState`;
//!   `multiprocessing.TimeoutError` is `Error::Timeout`.
//! - Work given to a closed pool fails its result instead of raising at the call.
//! - `terminate` fails outstanding results with `Error::Terminated` (Python leaves them
//!   pending); on processes it kills the workers, so a running call stops.
//! - A failing item fails only its own position in `imap` (and the first error is `map`'s).
//! - A worker killed while it runs a call fails that result with `WorkerDied` and the pool goes
//!   on (Python's `Pool` hangs forever, and deadlocks when the killed worker was idle).
//! - No sleeps: calls that must stay running block on a Unix-socket gate the test opens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use concurra::pool::{Callbacks, MapAsync, ProcessPool, ThreadPool};
use concurra::{wait, Apply, Error, Future, ProcessPoolExecutor, ReturnWhen};

mod common;
use common::socket_gate::{block_on, SocketGate};
use common::{kill_9, SHORT};

concurra::worker_hook!();

fn sqr(x: i64) -> i64 {
    x * x
}

fn seven() -> i64 {
    7
}

fn mul(a: i64, b: i64) -> i64 {
    a * b
}

fn fails_on_3(x: i64) -> i64 {
    assert!(x != 3, "three");
    x
}

fn fails_on_5(x: i64) -> i64 {
    assert!(x != 5, "five");
    x
}

/// Blocks on the gate at `path` (none if empty), then returns `x`.
fn gated((path, x): (String, i64)) -> i64 {
    if !path.is_empty() {
        block_on(&path);
    }
    x
}

/// An input whose exact size hint says `claims` items but which yields `left`.
struct Miscounted {
    left: i64,
    claims: usize,
}

impl Iterator for Miscounted {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        self.left -= 1;
        (self.left >= 0).then_some(self.left)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claims, Some(self.claims))
    }
}

fn pid() -> u32 {
    std::process::id()
}

/// CPython's `exception_throwing_generator(total, when)`: yields `0..total`, panicking with
/// "say when" instead of yielding `when`.
struct SayWhen {
    next: i64,
    total: i64,
    when: i64,
}

fn say_when(total: i64, when: i64) -> SayWhen {
    SayWhen {
        next: 0,
        total,
        when,
    }
}

impl Iterator for SayWhen {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.next == self.when {
            panic!("say when");
        }
        if self.next == self.total {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }
}

macro_rules! pool_suite {
    ($engine:ident, $pool:ident) => {
        mod $engine {
            use super::*;

            fn pool(n: usize) -> $pool {
                $pool::builder().processes(n).build().unwrap()
            }

            #[test]
            fn apply() {
                let pool = pool(2);
                assert_eq!(pool.apply(Apply(sqr, 5)).unwrap(), 25);
                assert_eq!(pool.apply_async(Apply(sqr, 7)).get().unwrap(), 49);
                assert_eq!(pool.apply(seven).unwrap(), 7);
                assert!(pool.apply(Apply(fails_on_3, 3)).unwrap_err().is_panic());
            }

            /// CPython's `test_imap_handle_iterable_exception`: the results of the whole
            /// chunks before the failing item, then the input's error, then the end.
            #[test]
            fn imap_handles_an_input_that_panics() {
                let pool = pool(2);
                for (chunksize, whole) in [(1, 7), (2, 6), (4, 4)] {
                    let mut it = pool.imap_chunked(sqr, say_when(20, 7), chunksize).unwrap();
                    for i in 0..whole {
                        assert_eq!(it.next().unwrap().unwrap(), i * i, "chunks of {chunksize}");
                    }
                    let error = it.next().unwrap().unwrap_err();
                    assert!(
                        error.is_panic() && error.to_string().contains("say when"),
                        "{error}"
                    );
                    assert!(it.next().is_none(), "the input is not read again");
                }
                // The same with the input failing at once: no result, one error.
                let mut it = pool.imap(sqr, say_when(10, 0)).unwrap();
                assert!(it.next().unwrap().unwrap_err().is_panic());
                assert!(it.next().is_none());
            }

            /// CPython's `test_imap_unordered_handle_iterable_exception`: every result of
            /// the chunks taken before the failure (in any order), then the error.
            #[test]
            fn imap_unordered_handles_an_input_that_panics() {
                let pool = pool(2);
                for chunksize in [1, 2, 4] {
                    let whole = 7 / chunksize * chunksize;
                    let results: Vec<_> = pool
                        .imap_unordered_chunked(sqr, say_when(20, 7), chunksize as usize)
                        .unwrap()
                        .collect();
                    assert!(results.last().unwrap().is_err(), "the error comes last");
                    let (values, errors): (Vec<_>, Vec<_>) =
                        results.into_iter().partition(Result::is_ok);
                    let mut values: Vec<i64> = values.into_iter().map(Result::unwrap).collect();
                    values.sort_unstable();
                    assert_eq!(values, (0..whole).map(sqr).collect::<Vec<_>>());
                    assert_eq!(errors.len(), 1);
                    assert!(errors[0].as_ref().unwrap_err().is_panic());
                }
            }

            #[test]
            fn map_and_starmap() {
                let pool = pool(2);
                let want: Vec<i64> = (0..100).map(sqr).collect();
                assert_eq!(pool.map(sqr, 0..10).unwrap(), want[..10]);
                for chunksize in [1, 7, 53, 100, 1000] {
                    assert_eq!(pool.map_chunked(sqr, 0..100, chunksize).unwrap(), want);
                }
                let pairs: Vec<(i64, i64)> = (0..10).map(|i| (i, i + 1)).collect();
                let products: Vec<i64> = pairs.iter().map(|&(a, b)| a * b).collect();
                assert_eq!(pool.starmap(mul, pairs.clone()).unwrap(), products);
                let got = pool
                    .starmap_async_with(mul, pairs, MapAsync::new().chunksize(3))
                    .get()
                    .unwrap();
                assert_eq!(got, products);
            }

            #[test]
            fn a_long_map_keeps_its_order_across_many_chunks() {
                let pool = pool(2);
                let want: Vec<i64> = (0..100_000).map(sqr).collect();
                assert_eq!(pool.map(sqr, 0..100_000).unwrap(), want);
                // An input without an exact size is collected first.
                let unsized_input = (0..100_000).filter(|_| true);
                assert_eq!(pool.map(sqr, unsized_input).unwrap(), want);
            }

            #[test]
            fn a_wrong_exact_size_hint_fails_the_map_and_the_pool_serves() {
                let pool = pool(2);
                for (left, claims) in [(3, 5), (8, 4), (0, 2), (1, 0)] {
                    let err = pool
                        .map_chunked(sqr, Miscounted { left, claims }, 2)
                        .unwrap_err();
                    assert!(err.is_invalid_argument(), "{left} for {claims}: {err}");
                    assert!(err.to_string().contains("size hint"), "{err}");
                }
                // A hint far beyond memory is an error too, not an abort.
                let huge = Miscounted {
                    left: 3,
                    claims: usize::MAX / 2,
                };
                let err = pool.map(sqr, huge).unwrap_err();
                assert!(err.is_invalid_state(), "{err}");
                assert_eq!(pool.map_chunked(sqr, 0..5, 2).unwrap(), [0, 1, 4, 9, 16]);
            }

            #[test]
            fn map_async_callbacks() {
                let pool = pool(2);
                let (tx, rx) = mpsc::channel();
                let r = pool.map_async_with(
                    sqr,
                    0..10,
                    MapAsync::new().on_success(move |v: &Vec<i64>| tx.send(v.clone()).unwrap()),
                );
                assert_eq!(r.get().unwrap().len(), 10);
                assert_eq!(rx.recv().unwrap(), (0..10).map(sqr).collect::<Vec<_>>());

                let (tx, rx) = mpsc::channel();
                let r = pool.map_async_with(
                    fails_on_3,
                    0..10,
                    MapAsync::new()
                        .chunksize(2)
                        .on_error(move |e| tx.send(e.to_string()).unwrap()),
                );
                r.wait();
                assert_eq!(r.successful(), Some(false));
                let error = r.get().unwrap_err();
                assert!(
                    error.is_panic() && error.to_string().contains("three"),
                    "{error}"
                );
                assert!(rx.recv().unwrap().contains("three"));
            }

            #[test]
            fn callback_runs_before_ready_and_a_panicking_callback_does_not_wedge() {
                let pool = pool(2);
                let seen = Arc::new(AtomicUsize::new(0));
                let s = seen.clone();
                let r = pool.apply_async_with(
                    Apply(sqr, 1),
                    Callbacks::new().on_success(move |_| {
                        s.fetch_add(1, Ordering::SeqCst);
                    }),
                );
                r.wait();
                assert_eq!(seen.load(Ordering::SeqCst), 1, "callback ran before ready");
                let bad = pool.apply_async_with(
                    Apply(sqr, 2),
                    Callbacks::new().on_success(|_| panic!("callback boom")),
                );
                assert_eq!(bad.get().unwrap(), 4);
                assert_eq!(pool.apply_async(Apply(sqr, 3)).get().unwrap(), 9);
            }

            #[test]
            fn async_timeout_and_successful_before_ready() {
                let pool = pool(2);
                let gate = SocketGate::new();
                let r = pool.apply_async(Apply(gated, (gate.path(), 5)));
                let running = gate.arrived();
                assert!(r.get_timeout(SHORT).unwrap_err().is_timeout());
                assert!(!r.ready());
                assert!(r.successful().is_none());
                assert!(!r.wait_timeout(Duration::ZERO));
                running.open();
                r.wait();
                assert_eq!(r.successful(), Some(true));
                assert_eq!(r.get().unwrap(), 5);
            }

            #[test]
            fn imap_ordered_and_failing_item() {
                let pool = pool(2);
                let out: Vec<i64> = pool.imap(sqr, 0..20).unwrap().map(Result::unwrap).collect();
                assert_eq!(out, (0..20).map(sqr).collect::<Vec<_>>());
                let out: Vec<_> = pool.imap_chunked(fails_on_5, 0..10, 3).unwrap().collect();
                assert_eq!(out.len(), 10, "the iteration goes on after a failed item");
                assert!(out[5].as_ref().unwrap_err().is_panic());
                assert_eq!(*out[4].as_ref().unwrap(), 4);
                assert_eq!(*out[6].as_ref().unwrap(), 6);
            }

            #[test]
            fn imap_next_timeout() {
                let pool = pool(2);
                let gate = SocketGate::new();
                let items = vec![(gate.path(), 0), (String::new(), 1), (String::new(), 2)];
                let mut it = pool.imap(gated, items).unwrap();
                let running = gate.arrived();
                assert!(it.next_timeout(SHORT).unwrap().unwrap_err().is_timeout());
                running.open();
                assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 2]);
            }

            #[test]
            fn imap_unordered_yields_everything() {
                let pool = pool(2);
                let mut out: Vec<i64> = pool
                    .imap_unordered_chunked(sqr, 0..50, 4)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                out.sort_unstable();
                assert_eq!(out, (0..50).map(sqr).collect::<Vec<_>>());
            }

            #[test]
            fn empty_iterables_and_bad_chunksize() {
                let pool = pool(2);
                assert!(pool.map(sqr, Vec::new()).unwrap().is_empty());
                let empty = pool.map_async(sqr, Vec::new());
                assert!(empty.get().unwrap().is_empty());
                assert_eq!(pool.imap(sqr, Vec::new()).unwrap().count(), 0);
                assert_eq!(pool.imap_unordered(sqr, Vec::new()).unwrap().count(), 0);
                assert!(pool
                    .map_chunked(sqr, 0..3, 0)
                    .unwrap_err()
                    .is_invalid_argument());
                assert!(pool
                    .imap_chunked(sqr, 0..3, 0)
                    .unwrap_err()
                    .is_invalid_argument());
                assert!($pool::builder()
                    .processes(0)
                    .build()
                    .unwrap_err()
                    .is_invalid_argument());
            }

            #[test]
            fn lifecycle_rules() {
                let pool = pool(2);
                assert!(
                    pool.join().unwrap_err().is_invalid_state(),
                    "join before close"
                );
                let r = pool.apply_async(Apply(sqr, 4));
                pool.close();
                assert!(pool
                    .apply_async(seven)
                    .get()
                    .unwrap_err()
                    .is_invalid_state());
                assert!(pool.map(sqr, 0..3).unwrap_err().is_invalid_state());
                pool.join().unwrap();
                assert_eq!(r.get().unwrap(), 16, "close lets queued work finish");
            }

            #[test]
            fn terminate_fails_every_outstanding_result() {
                let pool = pool(1);
                let gate = SocketGate::new();
                let running = pool.apply_async(Apply(gated, (gate.path(), 1)));
                let arrived = gate.arrived();
                let queued: Vec<_> = (0..5).map(|i| pool.apply_async(Apply(sqr, i))).collect();
                let mapped = pool.map_async(sqr, 0..10);
                pool.terminate();
                assert!(running.get().unwrap_err().is_terminated());
                assert!(queued
                    .into_iter()
                    .all(|r| r.get().unwrap_err().is_terminated()));
                assert!(mapped.get().unwrap_err().is_terminated());
                // A thread cannot be killed: let it finish (a process worker is gone already).
                arrived.open();
                pool.join().unwrap();
            }

            #[test]
            fn drop_terminates_like_python_with_block() {
                let gate = SocketGate::new();
                let r = {
                    let pool = pool(1);
                    let _running = pool.apply_async(Apply(gated, (gate.path(), 1)));
                    let arrived = gate.arrived();
                    let r = pool.apply_async(seven);
                    // The pool's drop terminates, then joins: a running thread (which cannot
                    // be killed) is let go once the queued result has failed.
                    r.future().add_done_callback(move |_| arrived.open());
                    drop(pool);
                    r
                };
                assert!(r.get().unwrap_err().is_terminated());
            }

            #[test]
            fn async_results_work_with_wait_and_await() {
                let pool = pool(2);
                let rs: Vec<Future<i64>> = (0..4)
                    .map(|i| pool.apply_async(Apply(sqr, i)).future())
                    .collect();
                assert_eq!(wait(&rs, ReturnWhen::AllCompleted).done.len(), 4);
                let r = pool.apply_async(Apply(sqr, 9));
                assert_eq!(
                    futures::executor::block_on(async move { r.await }).unwrap(),
                    81
                );
            }
        }
    };
}

pool_suite!(threads, ThreadPool);
pool_suite!(processes, ProcessPool);

/// The thread pool's chunks write into the list itself: whatever a failed or terminated map
/// wrote is dropped, once.
mod thread_map_list {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_panic_fails_the_map_and_every_value_written_is_dropped() {
        let pool = ThreadPool::builder().processes(2).build().unwrap();
        let alive = Arc::new(());
        let a = alive.clone();
        let f = move |x: u32| {
            assert!(x != 5_000, "item {x}");
            a.clone()
        };
        let err = pool.map_chunked(f, 0..10_000, 100).unwrap_err();
        assert!(
            err.is_panic() && err.to_string().contains("item 5000"),
            "{err}"
        );
        let strings = pool.map(|x: u32| x.to_string(), 0..3_000).unwrap();
        assert_eq!(strings[2_999], "2999", "the pool serves after a failed map");
        pool.close();
        pool.join().unwrap();
        assert_eq!(Arc::strong_count(&alive), 1, "every value dropped once");
    }

    #[test]
    fn a_terminated_map_drops_what_its_running_chunks_wrote() {
        let pool = ThreadPool::builder().processes(2).build().unwrap();
        let alive = Arc::new(());
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (started, first) = mpsc::channel();
        let (a, g) = (alive.clone(), gate.clone());
        let started = Mutex::new(started);
        let f = move |x: u32| {
            if x % 100 == 50 {
                let _ = started.lock().unwrap().send(x);
                drop(g.lock().unwrap());
            }
            a.clone()
        };
        let mapped = pool.map_async_with(f, 0..1_000, MapAsync::new().chunksize(100));
        first.recv().unwrap();
        pool.terminate();
        assert!(mapped.get().unwrap_err().is_terminated());
        drop(held);
        pool.join().unwrap();
        assert_eq!(Arc::strong_count(&alive), 1, "every value dropped once");
    }

    /// `map`'s workers read its input themselves (it is lent to them for the call): a
    /// terminate returns the map at once and takes the input back, though chunks still run.
    #[test]
    fn a_terminated_map_returns_and_takes_its_borrowed_input_back() {
        let pool = ThreadPool::builder().processes(2).build().unwrap();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (started, first) = mpsc::channel();
        let started = Mutex::new(started);
        let g = gate.clone();
        let f = move |x: u32| {
            if x == 150 {
                let _ = started.lock().unwrap().send(x);
                drop(g.lock().unwrap());
            }
            x * 2
        };
        // The input borrows a local of this test: it must not be used once `map` returns.
        let local: Vec<u32> = (0..1_000).collect();
        std::thread::scope(|s| {
            let mapping = s.spawn(|| pool.map_chunked(f, local.iter().copied(), 100));
            first.recv().unwrap();
            pool.terminate();
            let err = mapping.join().unwrap().unwrap_err();
            assert!(err.is_terminated(), "{err}");
        });
        drop(local);
        // The gated chunk goes on; the puller running it then finds no input.
        drop(held);
        pool.join().unwrap();
    }

    #[test]
    fn a_panicking_input_panics_in_the_caller_and_the_pool_serves() {
        let pool = ThreadPool::builder().processes(2).build().unwrap();
        let input = (0..1_000u32).inspect(|&x| assert!(x != 500, "input broke at {x}"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.map_chunked(|x: u32| x + 1, input, 10)
        }));
        let payload = caught.expect_err("the input's panic reaches the caller");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("input broke at 500"), "{message}");
        let want: Vec<u32> = (1..=3_000).collect();
        assert_eq!(pool.map(|x: u32| x + 1, 0..3_000).unwrap(), want);
    }

    /// The workers read the input; one whose `next` waits for work in the same pool still
    /// gets a thread for it (the other puller parks out of its way), on one worker too (the
    /// caller then reads the input, as Python's does).
    #[test]
    fn an_input_that_waits_for_the_same_pool_still_gets_a_thread() {
        for workers in [1, 2, 3] {
            let pool = Arc::new(ThreadPool::builder().processes(workers).build().unwrap());
            let p = pool.clone();
            let input = (0..40u64).map(move |i| p.apply(move || i * 10).unwrap());
            let got = pool.map_chunked(|x: u64| x + 1, input, 1).unwrap();
            let want: Vec<u64> = (0..40).map(|i| i * 10 + 1).collect();
            assert_eq!(got, want, "{workers} workers");
        }
    }

    /// A map inside a task of the same pool: the caller is a worker, so it reads the input
    /// itself and the other worker is left for the input's own work.
    #[test]
    fn a_map_inside_a_task_of_the_same_pool_with_an_input_that_needs_the_pool() {
        let pool = Arc::new(ThreadPool::builder().processes(2).build().unwrap());
        let outer = pool.clone();
        let got = pool
            .apply(move || {
                let p = outer.clone();
                let input = (0..30u64).map(move |i| p.apply(move || i * 2).unwrap());
                outer.map_chunked(|x: u64| x + 1, input, 4).unwrap()
            })
            .unwrap();
        let want: Vec<u64> = (0..30).map(|i| i * 2 + 1).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn many_maps_at_once_each_get_their_own_list() {
        let pool = ThreadPool::builder().processes(2).build().unwrap();
        std::thread::scope(|s| {
            let maps: Vec<_> = (0..4u64)
                .map(|k| {
                    let pool = &pool;
                    s.spawn(move || pool.map_chunked(move |x: u64| x * k, 0..20_000, 300))
                })
                .collect();
            for (k, m) in maps.into_iter().enumerate() {
                let want: Vec<u64> = (0..20_000).map(|x| x * k as u64).collect();
                assert_eq!(m.join().unwrap().unwrap(), want);
            }
        });
    }
}

/// Faults only worker processes have: each ends as an error on its result, and the pool heals.
mod process_faults {
    use super::*;

    /// The pool serves `n` more calls correctly.
    fn serves(pool: &ProcessPool, n: i64) {
        let want: Vec<i64> = (0..n).map(sqr).collect();
        assert_eq!(pool.map_chunked(sqr, 0..n, 10).unwrap(), want);
    }

    #[test]
    fn a_worker_killed_during_apply_async_fails_that_result_only() {
        let pool = ProcessPool::builder().processes(2).build().unwrap();
        let gate = SocketGate::new();
        let doomed = pool.apply_async(Apply(gated, (gate.path(), 1)));
        let arrived = gate.arrived();
        let bystander = pool.apply_async(Apply(sqr, 6));
        assert_eq!(bystander.get().unwrap(), 36);
        kill_9(arrived.pid);
        match doomed.get().unwrap_err() {
            Error::WorkerDied { pid, exitcode } => {
                assert_eq!((pid, exitcode), (arrived.pid, -9));
            }
            other => panic!("{other:?}"),
        }
        serves(&pool, 1000);
    }

    #[test]
    fn a_worker_killed_during_a_map_chunk_fails_that_map_and_the_pool_serves() {
        let pool = ProcessPool::builder().processes(2).build().unwrap();
        let gate = SocketGate::new();
        let mut items: Vec<(String, i64)> = (0..40).map(|i| (String::new(), i)).collect();
        items[17].0 = gate.path();
        let mapped = pool.map_async_with(gated, items, MapAsync::new().chunksize(5));
        let arrived = gate.arrived();
        kill_9(arrived.pid);
        assert!(mapped.get().unwrap_err().is_worker_died());
        serves(&pool, 1000);
        let out: Vec<i64> = pool
            .imap_chunked(sqr, 0..100, 7)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (0..100).map(sqr).collect::<Vec<_>>());
    }

    #[test]
    fn an_idle_worker_killed_fails_nothing() {
        let pool = ProcessPool::builder().processes(2).build().unwrap();
        // Both workers busy at once: their pids.
        let gate = SocketGate::new();
        let both: Vec<_> = (0..2)
            .map(|i| pool.apply_async(Apply(gated, (gate.path(), i))))
            .collect();
        let (a, b) = (gate.arrived(), gate.arrived());
        assert_ne!(a.pid, b.pid);
        let idle = a.pid;
        a.open();
        b.open();
        for r in &both {
            r.wait();
        }
        kill_9(idle);
        // Nothing it ran fails, and nothing sent to it after its death either: those calls
        // were never read, so they run on another worker.
        for i in 0..50 {
            assert_eq!(pool.apply(Apply(sqr, i)).unwrap(), i * i);
        }
        assert!(both.iter().all(|r| r.successful().unwrap()));
        serves(&pool, 1000);
    }

    #[test]
    fn maxtasksperchild_replaces_workers() {
        let executor = ProcessPoolExecutor::builder()
            .max_workers(1)
            .max_tasks_per_child(2)
            .build()
            .unwrap();
        let pool = ProcessPool::from_executor(executor);
        let pids: Vec<u32> = (0..6).map(|_| pool.apply(pid).unwrap()).collect();
        for pair in pids.chunks(2) {
            assert_eq!(pair[0], pair[1], "two calls per worker: {pids:?}");
        }
        assert_ne!(pids[0], pids[2]);
        assert_ne!(pids[2], pids[4]);
        assert!(!pids.contains(&std::process::id()));
    }

    #[test]
    fn maxtasksperchild_with_an_early_close_still_joins() {
        // _TestPoolWorkerLifetime.test_pool_worker_lifetime_early_close.
        let executor = ProcessPoolExecutor::builder()
            .max_workers(1)
            .max_tasks_per_child(1)
            .build()
            .unwrap();
        let pool = ProcessPool::from_executor(executor);
        let results: Vec<_> = (0..6).map(|i| pool.apply_async(Apply(sqr, i))).collect();
        pool.close();
        pool.join().unwrap();
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r.get().unwrap(), (i * i) as i64);
        }
        let zero = ProcessPoolExecutor::builder()
            .max_tasks_per_child(0)
            .build();
        assert!(zero.unwrap_err().is_invalid_argument());
    }

    static LEVEL: AtomicUsize = AtomicUsize::new(0);

    fn set_level(level: usize) {
        LEVEL.store(level, Ordering::SeqCst);
    }

    fn level() -> usize {
        LEVEL.load(Ordering::SeqCst)
    }

    #[test]
    fn initializer_runs_in_every_worker() {
        let executor = ProcessPoolExecutor::builder()
            .max_workers(2)
            .initializer(Apply(set_level, 41))
            .build()
            .unwrap();
        let pool = ProcessPool::from_executor(executor);
        let levels = pool.map_chunked(|_: i64| level(), 0..20, 1).unwrap();
        assert!(levels.iter().all(|&l| l == 41), "{levels:?}");
        assert_eq!(level(), 0, "the initializer ran in the workers, not here");
    }
}
