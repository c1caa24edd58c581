//! Ports of CPython's `Lib/test/test_concurrent_futures/test_process_pool.py`
//! (python/cpython, 3.12 layout) to `ProcessPoolExecutor`, plus the process cases of
//! `executor.py`'s `ExecutorTest` that differ from the thread pool's.
//!
//! Changes made in the port:
//! - Functions are `fn` items with `serde` arguments (Python pickles callables by name).
//! - `test_killed_child` asserts the opposite of CPython: there every future fails with
//!   `BrokenProcessPool`; here only the killed worker's call fails (`WorkerDied`) and the pool
//!   heals. It is renamed `killed_child_fails_only_its_call`.
//! - `test_map_chunksize`'s `ValueError` for `chunksize < 1` is one `Error::InvalidArgument` item.
//! - `test_max_workers_negative`'s `ValueError` is `Error::InvalidArgument` from `build()`.
//! - `test_traceback`: the child's traceback text becomes the panic message and location.
//! - Worker counts are read with `worker_pids()` (Python reads `executor._processes`).
//! - `test_saturation` blocks the calls on a Unix-socket gate instead of a manager semaphore.

use std::time::Duration;

use concurra::{Apply, Error, ProcessPoolExecutor};

mod common;
use common::kill_9;
use common::socket_gate::SocketGate;

concurra::worker_hook!();

fn mul((x, y): (u64, u64)) -> u64 {
    x * y
}

fn pid() -> u32 {
    std::process::id()
}

fn raises(message: String) -> u32 {
    panic!("{message}")
}

fn forever() {
    loop {
        std::thread::park();
    }
}

fn block_on(path: String) -> u32 {
    common::socket_gate::block_on(&path);
    1
}

fn builder(n: usize) -> concurra::process::PoolBuilder {
    ProcessPoolExecutor::builder()
        .max_workers(n)
        .task_timeout(Duration::from_secs(20))
}

/// test_killed_child, inverted: the pool heals.
#[test]
fn killed_child_fails_only_its_call() {
    // A window of 1: no call waits behind `forever` in its worker.
    let pool = builder(2).window(1).build().unwrap();
    // Start both workers, then occupy one of them.
    let warm: Vec<_> = (0..2u64).map(|i| pool.submit(Apply(mul, (i, i)))).collect();
    for f in warm {
        f.result().unwrap();
    }
    let stuck = pool.submit(forever);
    let others: Vec<_> = (0..20u64)
        .map(|i| pool.submit(Apply(mul, (i, 2))))
        .collect();
    for (i, f) in others.iter().enumerate() {
        assert_eq!(f.result().unwrap(), i as u64 * 2);
    }
    // The free worker answers `pid`; the other one runs `forever`: kill that one.
    let free = pool.submit(pid).result().unwrap();
    let busy: Vec<u32> = pool
        .worker_pids()
        .into_iter()
        .filter(|p| *p != free)
        .collect();
    assert_eq!(busy.len(), 1);
    kill_9(busy[0]);
    assert!(matches!(
        stuck.result().unwrap_err(),
        Error::WorkerDied { exitcode: -9, .. }
    ));
    for i in 0..100u64 {
        assert_eq!(pool.submit(Apply(mul, (i, 3))).result().unwrap(), i * 3);
    }
}

#[test]
fn map_chunksize() {
    let pool = builder(2).build().unwrap();
    let reference: Vec<u64> = (0..40u64).map(|i| i * i).collect();
    for chunksize in [1, 5, 40, 50] {
        let got: Vec<u64> = pool
            .map_chunked(|i: u64| i * i, 0..40u64, chunksize)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, reference, "chunksize {chunksize}");
    }
}

#[test]
fn map_chunksize_zero_is_refused() {
    let pool = builder(1).build().unwrap();
    let out: Vec<_> = pool.map_chunked(|i: u64| i, 0..4u64, 0).collect();
    assert_eq!(out.len(), 1, "one error, nothing mapped");
    let e = out[0].as_ref().unwrap_err();
    assert!(
        e.is_invalid_argument() && e.to_string().contains(">= 1"),
        "{e}"
    );
}

#[test]
fn max_workers_zero_is_an_error() {
    let e = ProcessPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert!(e.is_invalid_argument(), "{e:?}");
}

#[test]
fn max_tasks_per_child() {
    let pool = builder(1).max_tasks_per_child(3).build().unwrap();
    let pids: Vec<u32> = (0..4).map(|_| pool.submit(pid).result().unwrap()).collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3], "the fourth call runs in a new worker");
}

#[test]
fn max_tasks_early_shutdown() {
    let pool = builder(3).max_tasks_per_child(1).build().unwrap();
    let futures: Vec<_> = (0..6u64).map(|i| pool.submit(Apply(mul, (i, i)))).collect();
    pool.shutdown(true, false);
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result().unwrap(), (i * i) as u64);
    }
}

#[test]
fn traceback_is_the_panic_message_and_location() {
    let pool = builder(1).build().unwrap();
    let e = pool
        .submit(Apply(raises, "123".to_string()))
        .result()
        .unwrap_err();
    assert_eq!(e.panic_message(), Some("123"));
    match e {
        Error::Panicked { location, .. } => {
            assert!(location.unwrap().contains("cpython_process_pool.rs"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn idle_process_reuse_one() {
    let pool = builder(4).build().unwrap();
    for i in 0..4u64 {
        pool.submit(Apply(mul, (i, i))).result().unwrap();
    }
    assert_eq!(pool.worker_pids().len(), 1);
}

#[test]
fn idle_process_reuse_multiple() {
    let pool = builder(4).build().unwrap();
    pool.submit(Apply(mul, (12, 7))).result().unwrap();
    pool.submit(Apply(mul, (33, 25)));
    pool.submit(Apply(mul, (25, 26))).result().unwrap();
    pool.submit(Apply(mul, (18, 29)));
    assert!(pool.worker_pids().len() <= 2);
}

#[test]
fn saturation() {
    let max = 2;
    let pool = builder(max).build().unwrap();
    let gate = SocketGate::new();
    let futures: Vec<_> = (0..15 * max)
        .map(|_| pool.submit(Apply(block_on, gate.path())))
        .collect();
    // Every call connects in turn; hold each connection until all have run.
    let held: Vec<_> = (0..max).map(|_| gate.arrived()).collect();
    assert_eq!(pool.worker_pids().len(), max);
    drop(held);
    for _ in max..15 * max {
        drop(gate.arrived());
    }
    for f in futures {
        assert_eq!(f.result().unwrap(), 1);
    }
}
