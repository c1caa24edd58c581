//! `Executor::call` on the process pool: the reply read on the direct line by the calling
//! thread, and every way that path meets the rest of the pool (replies behind it taken by the
//! worker's reader, deaths, time limits, terminate, worker replacement).

use std::time::Duration;

use concurra::pool::ProcessPool;
use concurra::process::PoolBuilder;
use concurra::{Apply, Error, ProcessPoolExecutor};

mod common;
use common::kill_9;
use common::socket_gate::{block_on, SocketGate};
use common::tasks::{boom, exit_with, forever, square, whoami};

concurra::worker_hook!();

/// Blocks on the gate at `path`, then returns its pid.
fn gated(path: String) -> u32 {
    block_on(&path);
    std::process::id()
}

/// A pool of `n` workers; the task timeout is a fail-safe against a hang in `Drop`.
fn pool(n: usize) -> PoolBuilder {
    ProcessPoolExecutor::builder()
        .max_workers(n)
        .task_timeout(Duration::from_secs(20))
}

/// `n` more calls, each answered correctly.
fn calls(pool: &ProcessPoolExecutor, n: u64) {
    for i in 0..n {
        assert_eq!(pool.call(Apply(square, i)).unwrap(), i * i);
    }
}

#[test]
fn call_gives_the_value_on_a_cold_and_a_warm_pool() {
    let pool = pool(2).build().unwrap();
    // No worker yet: the call is queued and a worker started for it.
    assert_eq!(pool.call(Apply(square, 7)).unwrap(), 49);
    // A worker is idle: the reply comes on its direct line.
    calls(&pool, 200);
    assert_ne!(pool.call(whoami).unwrap(), std::process::id());
}

#[test]
fn a_panic_and_an_exit_in_a_call_fail_that_call_only() {
    let pool = pool(1).build().unwrap();
    calls(&pool, 1);
    match pool.call(Apply(boom, "no".to_string())).unwrap_err() {
        Error::Panicked { message, .. } => assert_eq!(message, "no"),
        other => panic!("{other:?}"),
    }
    let e = pool.call(Apply(exit_with, 3)).unwrap_err();
    assert!(matches!(e, Error::WorkerDied { exitcode: 3, .. }), "{e:?}");
    calls(&pool, 1000);
}

#[test]
fn kill_9_of_a_worker_running_a_call_fails_it_and_the_pool_heals() {
    let pool = pool(1).build().unwrap();
    calls(&pool, 1);
    let gate = SocketGate::new();
    let path = gate.path();
    std::thread::scope(|s| {
        let caller = s.spawn(|| pool.call(Apply(gated, path)));
        let arrived = gate.arrived();
        kill_9(arrived.pid);
        match caller.join().unwrap().unwrap_err() {
            Error::WorkerDied { pid, exitcode } => {
                assert_eq!(pid, arrived.pid);
                assert_eq!(exitcode, -9);
            }
            other => panic!("{other:?}"),
        }
    });
    calls(&pool, 1000);
}

#[test]
fn an_endless_call_is_stopped_by_the_task_timeout() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    calls(&pool, 1);
    let e = pool.call(forever).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    calls(&pool, 100);
}

#[test]
fn replies_behind_a_call_are_taken_after_it_whoever_reads_first() {
    // One worker with room for more: calls submitted while the direct call runs wait in its
    // channel, and their replies (on the channel) follow the direct one. Either the caller or
    // the worker's reader takes the direct reply; both orders must give every value.
    let pool = pool(1).window(8).build().unwrap();
    calls(&pool, 1);
    let gate = SocketGate::new();
    let path = gate.path();
    std::thread::scope(|s| {
        let caller = s.spawn(|| pool.call(Apply(gated, path)));
        let arrived = gate.arrived();
        let behind: Vec<_> = (0..6u64).map(|i| pool.submit(Apply(square, i))).collect();
        let pid = arrived.pid;
        arrived.open();
        for (i, f) in behind.iter().enumerate() {
            assert_eq!(f.result().unwrap(), (i * i) as u64);
        }
        assert_eq!(caller.join().unwrap().unwrap(), pid);
    });
    calls(&pool, 100);
}

#[test]
fn callers_and_submitters_at_once_all_get_their_values() {
    let pool = pool(2).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..300 {
                    let x = t * 1000 + i;
                    assert_eq!(pool.call(Apply(square, x)).unwrap(), x * x);
                }
            });
        }
        let pool = &pool;
        s.spawn(move || {
            for round in 0..30u64 {
                let fs: Vec<_> = (0..10)
                    .map(|i| pool.submit(Apply(square, round + i)))
                    .collect();
                for (i, f) in fs.iter().enumerate() {
                    let x = round + i as u64;
                    assert_eq!(f.result().unwrap(), x * x);
                }
            }
        });
    });
}

#[test]
fn calls_on_workers_replaced_after_every_call() {
    let pool = pool(1).max_tasks_per_child(1).build().unwrap();
    let pids: Vec<u32> = (0..20).map(|_| pool.call(whoami).unwrap()).collect();
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), pids.len(), "{pids:?}");
}

#[test]
fn pool_apply_reads_on_the_direct_line_and_terminate_ends_it() {
    let pool = ProcessPool::builder().processes(1).build().unwrap();
    assert_eq!(pool.apply(Apply(square, 5)).unwrap(), 25);
    assert_eq!(pool.apply(Apply(square, 6)).unwrap(), 36);
    let gate = SocketGate::new();
    let path = gate.path();
    std::thread::scope(|s| {
        let caller = s.spawn(|| pool.apply(Apply(gated, path)));
        let _arrived = gate.arrived();
        pool.terminate();
        let e = caller.join().unwrap().unwrap_err();
        assert!(matches!(e, Error::Terminated), "{e:?}");
    });
    pool.join().unwrap();
}

#[test]
fn call_after_shutdown_is_refused() {
    let pool = pool(1).build().unwrap();
    calls(&pool, 1);
    pool.shutdown(true, false);
    assert!(matches!(
        pool.call(Apply(square, 1)).unwrap_err(),
        Error::Shutdown
    ));
}
