//! One-thread event loops: `aio-spawn` (100k trivial tasks spawned, then awaited),
//! `aio-timers` (100k tasks, each sleeping a pseudo-random 0–10 ms, then awaited) and
//! `aio-queue` (100k producer/consumer round trips through two one-slot queues), against
//! tokio's current-thread runtime with a `LocalSet`, smol's `LocalExecutor`, asyncio and
//! uvloop.

use std::time::Duration;

use concurra::aio;

use super::{time_per_op, Peer, Workload};

pub const SPAWN: Workload = Workload {
    name: "aio-spawn",
    about: "trivial tasks spawned on a one-thread loop, then each awaited",
    unit: "task",
    peers: spawn_peers,
};

pub const TIMERS: Workload = Workload {
    name: "aio-timers",
    about: "tasks each sleeping a pseudo-random 0-10 ms on a one-thread loop, then awaited",
    unit: "timer",
    peers: timer_peers,
};

pub const QUEUE: Workload = Workload {
    name: "aio-queue",
    about: "ping-pong between a producer and a consumer task through two one-slot queues",
    unit: "round trip",
    peers: queue_peers,
};

const TASKS: usize = 100_000;
const ROUND_TRIPS: usize = 100_000;
const PYTHON_ROUND_TRIPS: usize = 20_000;
const PYTHON_TASKS: usize = 50_000;

fn spawn_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra aio create_task", TASKS, concurra_spawn),
        Peer::rust("tokio LocalSet spawn_local", TASKS, tokio_spawn),
        Peer::rust("smol LocalExecutor", TASKS, smol_spawn),
        Peer::python("Python asyncio", PYTHON_TASKS, "aio_spawn.py"),
        Peer::python("Python uvloop", PYTHON_TASKS, "aio_spawn_uvloop.py"),
    ]
}

fn timer_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra aio sleep", TASKS, concurra_timers),
        Peer::rust("tokio LocalSet time::sleep", TASKS, tokio_timers),
        Peer::python("Python asyncio", PYTHON_TASKS, "aio_timers.py"),
        Peer::python("Python uvloop", PYTHON_TASKS, "aio_timers_uvloop.py"),
    ]
}

fn queue_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra aio Queue(1)", ROUND_TRIPS, concurra_queue),
        Peer::rust("tokio LocalSet mpsc(1)", ROUND_TRIPS, tokio_queue),
        Peer::rust("smol LocalExecutor channel(1)", ROUND_TRIPS, smol_queue),
        Peer::python(
            "Python asyncio Queue(1)",
            PYTHON_ROUND_TRIPS,
            "aio_queue.py",
        ),
        Peer::python(
            "Python uvloop Queue(1)",
            PYTHON_ROUND_TRIPS,
            "aio_queue_uvloop.py",
        ),
    ]
}

/// Task `i`'s sleep: a spread over 0–10 ms that every peer (and the Python scripts) computes
/// the same way.
fn delay(i: usize) -> Duration {
    Duration::from_micros((i as u64 * 7919) % 10_000)
}

fn check(sum: u64, n: usize) {
    let n = n as u64;
    assert_eq!(sum, n * (n + 1) / 2);
}

fn concurra_spawn(n: usize) -> f64 {
    time_per_op(n, |n| {
        let sum = aio::run(async move {
            let tasks: Vec<_> = (0..n as u64)
                .map(|i| aio::create_task(async move { i + 1 }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        check(sum, n);
    })
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn tokio_spawn(n: usize) -> f64 {
    let rt = tokio_runtime();
    time_per_op(n, |n| {
        let local = tokio::task::LocalSet::new();
        let sum = local.block_on(&rt, async move {
            let tasks: Vec<_> = (0..n as u64)
                .map(|i| tokio::task::spawn_local(async move { i + 1 }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        check(sum, n);
    })
}

fn smol_spawn(n: usize) -> f64 {
    time_per_op(n, |n| {
        let ex = smol::LocalExecutor::new();
        let sum = smol::block_on(ex.run(async {
            let tasks: Vec<_> = (0..n as u64)
                .map(|i| ex.spawn(async move { i + 1 }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            sum
        }));
        check(sum, n);
    })
}

fn concurra_timers(n: usize) -> f64 {
    time_per_op(n, |n| {
        let sum = aio::run(async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    aio::create_task(async move {
                        aio::sleep(delay(i)).await;
                        i as u64 + 1
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        check(sum, n);
    })
}

fn tokio_timers(n: usize) -> f64 {
    let rt = tokio_runtime();
    time_per_op(n, |n| {
        let local = tokio::task::LocalSet::new();
        let sum = local.block_on(&rt, async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(delay(i)).await;
                        i as u64 + 1
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        check(sum, n);
    })
}

/// The ping-pong every queue peer runs: the producer puts `i` on the ping queue and waits for
/// the consumer's `i + 1` on the pong queue, `n` times; the sum of the replies is checked.
fn concurra_queue(n: usize) -> f64 {
    time_per_op(n, |n| {
        let sum = aio::run(async move {
            let ping = aio::Queue::<u64>::new(1);
            let pong = aio::Queue::<u64>::new(1);
            let (rx, tx) = (ping.clone(), pong.clone());
            let consumer = aio::create_task(async move {
                for _ in 0..n {
                    let i = rx.get().await.unwrap();
                    tx.put(i + 1).await.unwrap();
                }
            });
            let mut sum = 0;
            for i in 0..n as u64 {
                ping.put(i).await.unwrap();
                sum += pong.get().await.unwrap();
            }
            consumer.await.unwrap();
            sum
        });
        check(sum, n);
    })
}

fn tokio_queue(n: usize) -> f64 {
    let rt = tokio_runtime();
    time_per_op(n, |n| {
        let local = tokio::task::LocalSet::new();
        let sum = local.block_on(&rt, async move {
            let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let consumer = tokio::task::spawn_local(async move {
                for _ in 0..n {
                    let i = ping_rx.recv().await.unwrap();
                    pong_tx.send(i + 1).await.unwrap();
                }
            });
            let mut sum = 0;
            for i in 0..n as u64 {
                ping_tx.send(i).await.unwrap();
                sum += pong_rx.recv().await.unwrap();
            }
            consumer.await.unwrap();
            sum
        });
        check(sum, n);
    })
}

fn smol_queue(n: usize) -> f64 {
    time_per_op(n, |n| {
        let ex = smol::LocalExecutor::new();
        let sum = smol::block_on(ex.run(async {
            let (ping_tx, ping_rx) = smol::channel::bounded::<u64>(1);
            let (pong_tx, pong_rx) = smol::channel::bounded::<u64>(1);
            let consumer = ex.spawn(async move {
                for _ in 0..n {
                    let i = ping_rx.recv().await.unwrap();
                    pong_tx.send(i + 1).await.unwrap();
                }
            });
            let mut sum = 0;
            for i in 0..n as u64 {
                ping_tx.send(i).await.unwrap();
                sum += pong_rx.recv().await.unwrap();
            }
            consumer.await;
            sum
        }));
        check(sum, n);
    })
}
