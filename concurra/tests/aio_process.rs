//! The event loop awaiting the process engines (asyncio's `loop.run_in_executor` with a
//! `ProcessPoolExecutor`): a worker process's reply wakes the loop through its reactor, a
//! dying worker is an error on the awaited call, and the loop goes on. No sleeps: the calls
//! that must stay running block on a socket gate the test opens.

use concurra::pool::ProcessPool;
use concurra::{aio, Apply, Error, ProcessPoolExecutor};

mod common;
use common::kill_9;
use common::socket_gate::{block_on, SocketGate};

concurra::worker_hook!();

fn cube(x: u64) -> u64 {
    x * x * x
}

fn pid() -> u32 {
    std::process::id()
}

fn gated(path: String) -> u64 {
    block_on(&path);
    1
}

#[test]
fn the_loop_awaits_process_pool_calls() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let total = aio::run(async {
        let calls: Vec<_> = (0..50)
            .map(|i| aio::create_task(aio::run_in_executor(&pool, Apply(cube, i)).future()))
            .collect();
        let mut total = 0;
        for call in calls {
            total += call.await.unwrap().unwrap();
        }
        total
    });
    assert_eq!(total, (0..50u64).map(cube).sum());
    let child = aio::run(async { aio::run_in_executor(&pool, pid).await.unwrap() });
    assert_ne!(child, std::process::id());
}

#[test]
fn a_worker_dying_under_an_awaited_call_is_its_error_and_the_loop_goes_on() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let gate = SocketGate::new();
    let path = gate.path();
    let outcome = std::thread::scope(|s| {
        let killer = s.spawn(|| {
            let arrived = gate.arrived();
            kill_9(arrived.pid);
        });
        let outcome = aio::run(async {
            let died = aio::run_in_executor(&pool, Apply(gated, path)).await;
            // The loop and the pool both go on.
            let after = aio::run_in_executor(&pool, Apply(cube, 3)).await;
            (died, after)
        });
        killer.join().unwrap();
        outcome
    });
    assert!(matches!(
        outcome.0,
        Err(Error::WorkerDied { exitcode: -9, .. })
    ));
    assert_eq!(outcome.1.unwrap(), 27);
}

#[test]
fn a_process_pool_async_result_is_awaited_on_the_loop() {
    let pool = ProcessPool::builder().processes(2).build().unwrap();
    let squares = aio::run(async {
        let r = pool.map_async(cube, 0..10u64);
        r.await.unwrap()
    });
    assert_eq!(squares, (0..10u64).map(cube).collect::<Vec<_>>());
}
