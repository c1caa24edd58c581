//! `submit-wait`: submit 100k trivial tasks (`i + 1`), then wait for every result.
//!
//! Measures the per-task cost of the submit path, the queue, the completion handle and the
//! wait: the overhead an executor adds around work that costs nothing.

use concurra::ThreadPoolExecutor;
use futures::task::SpawnExt;

use super::{time_per_op, Peer, Workload, WORKERS};

pub const WORKLOAD: Workload = Workload {
    name: "submit-wait",
    about: "trivial tasks (i + 1) all submitted to a 2-worker pool, then all waited",
    unit: "task",
    peers,
};

const TASKS: usize = 100_000;
const PYTHON_TASKS: usize = 20_000;

fn peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra ThreadPoolExecutor", TASKS, concurra),
        Peer::rust("rayon spawn + crossbeam channel", TASKS, rayon),
        Peer::rust("threadpool + crossbeam channel", TASKS, threadpool),
        Peer::rust(
            "threadpool + a future::pair per task",
            TASKS,
            threadpool_futures,
        ),
        Peer::rust("tokio spawn_blocking", TASKS, tokio),
        Peer::rust("futures ThreadPool spawn_with_handle", TASKS, futures_pool),
        Peer::python("Python ThreadPoolExecutor", PYTHON_TASKS, "submit_wait.py"),
    ]
}

/// The sum of `i + 1` over `0..n`: every peer checks its results against it.
fn expected(n: usize) -> u64 {
    let n = n as u64;
    n * (n + 1) / 2
}

fn concurra(n: usize) -> f64 {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("2 workers is valid");
    time_per_op(n, |n| {
        let futures: Vec<_> = (0..n as u64).map(|i| pool.submit(move || i + 1)).collect();
        let sum: u64 = futures.iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, expected(n));
    })
}

fn rayon(n: usize) -> f64 {
    let pool = super::RayonPool::new();
    time_per_op(n, |n| {
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..n as u64 {
            let tx = tx.clone();
            pool.spawn(move || tx.send(i + 1).unwrap());
        }
        let sum: u64 = rx.iter().take(n).sum();
        assert_eq!(sum, expected(n));
    })
}

fn threadpool(n: usize) -> f64 {
    let pool = threadpool::ThreadPool::new(WORKERS);
    time_per_op(n, |n| {
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..n as u64 {
            let tx = tx.clone();
            pool.execute(move || tx.send(i + 1).unwrap());
        }
        let sum: u64 = rx.iter().take(n).sum();
        assert_eq!(sum, expected(n));
    })
}

/// The threadpool row carrying what concurra's row carries: a Future per task (made by
/// `future::pair`, completed by the worker, waited on by the submitter), so the gap between
/// the two rows is the engine's, and the gap to the shared-channel row is the Future's.
fn threadpool_futures(n: usize) -> f64 {
    let pool = threadpool::ThreadPool::new(WORKERS);
    time_per_op(n, |n| {
        let futures: Vec<_> = (0..n as u64)
            .map(|i| {
                let (promise, future) = concurra::future::pair();
                pool.execute(move || {
                    let _ = promise.set_result(i + 1);
                });
                future
            })
            .collect();
        let sum: u64 = futures.iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, expected(n));
    })
}

fn tokio(n: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(WORKERS)
        .build()
        .unwrap();
    time_per_op(n, |n| {
        let handles: Vec<_> = (0..n as u64)
            .map(|i| runtime.spawn_blocking(move || i + 1))
            .collect();
        let sum = runtime.block_on(async {
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, expected(n));
    })
}

fn futures_pool(n: usize) -> f64 {
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(WORKERS)
        .create()
        .unwrap();
    time_per_op(n, |n| {
        let handles: Vec<_> = (0..n as u64)
            .map(|i| pool.spawn_with_handle(async move { i + 1 }).unwrap())
            .collect();
        let sum = futures::executor::block_on(async {
            let mut sum = 0;
            for handle in handles {
                sum += handle.await;
            }
            sum
        });
        assert_eq!(sum, expected(n));
    })
}
