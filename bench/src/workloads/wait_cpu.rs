//! `wait-cpu`: what waiting costs in CPU time. A thread blocked on a result that comes after
//! 10 ms, and idle pools for 10 ms, each measured as the CPU time the whole process used over
//! the 10 ms (every thread, user and system). Below 100 µs is below 1% of a CPU.
//!
//! A waiter may spin a little before it sleeps (it saves a ~30 µs wake when the result is
//! close); this row shows that the spin stays bounded when the result is far.

use std::thread;
use std::time::Duration;

use concurra::{future, ProcessPoolExecutor, ThreadPoolExecutor};

use super::{process_cpu_time, Peer, Workload, WORKERS};

pub const WORKLOAD: Workload = Workload {
    name: "wait-cpu",
    about: "CPU time of the process over a 10 ms wait (a blocked result, idle pools)",
    unit: "10 ms wait (CPU time; < 100 µs is < 1% of a CPU)",
    peers,
};

const WAITS: usize = 20;
const WAIT: Duration = Duration::from_millis(10);

fn peers() -> Vec<Peer> {
    vec![
        Peer::rust(
            "concurra Future::result, set after 10 ms",
            WAITS,
            concurra_result,
        ),
        Peer::rust("crossbeam recv, sent after 10 ms", WAITS, crossbeam_recv),
        Peer::rust(
            "concurra ThreadPoolExecutor(2) idle",
            WAITS,
            concurra_idle_threads,
        ),
        Peer::rust("threadpool(2) idle", WAITS, threadpool_idle),
        Peer::rust(
            "concurra ProcessPoolExecutor(2) idle",
            WAITS,
            concurra_idle_processes,
        ),
    ]
}

/// CPU ns the process uses over `n` runs of `wait`, per run.
fn cpu_per_wait(n: usize, mut wait: impl FnMut()) -> f64 {
    wait();
    let start = process_cpu_time();
    for _ in 0..n {
        wait();
    }
    (process_cpu_time() - start).as_nanos() as f64 / n as f64
}

/// A thread that runs each job it is sent after sleeping 10 ms (started once: a thread's
/// start and exit would cost more CPU than the wait).
fn late_runner(
    n: usize,
    mut wait: impl FnMut(&std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>),
) -> f64 {
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let runner = thread::spawn(move || {
        for job in rx {
            thread::sleep(WAIT);
            job();
        }
    });
    let ns = cpu_per_wait(n, || wait(&tx));
    drop(tx);
    runner.join().unwrap();
    ns
}

fn concurra_result(n: usize) -> f64 {
    late_runner(n, |late| {
        let (promise, future) = future::pair::<u64>();
        late.send(Box::new(move || promise.set_result(1).unwrap()))
            .unwrap();
        assert_eq!(future.result().unwrap(), 1);
    })
}

fn crossbeam_recv(n: usize) -> f64 {
    late_runner(n, |late| {
        let (tx, rx) = crossbeam_channel::bounded(1);
        late.send(Box::new(move || tx.send(1u64).unwrap())).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
    })
}

fn concurra_idle_threads(n: usize) -> f64 {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("2 workers is valid");
    // Both workers started and back to waiting for work.
    let warm: Vec<_> = (0..64).map(|i| pool.submit(move || i)).collect();
    warm.iter().for_each(|f| drop(f.result()));
    cpu_per_wait(n, || thread::sleep(WAIT))
}

fn threadpool_idle(n: usize) -> f64 {
    let pool = threadpool::ThreadPool::new(WORKERS);
    for _ in 0..64 {
        pool.execute(|| {});
    }
    pool.join();
    cpu_per_wait(n, || thread::sleep(WAIT))
}

fn inc(x: u64) -> u64 {
    x + 1
}

fn concurra_idle_processes(n: usize) -> f64 {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("a process pool");
    let warm: Vec<_> = (0..64)
        .map(|i| pool.submit(concurra::Apply(inc, i)))
        .collect();
    warm.iter().for_each(|f| drop(f.result()));
    cpu_per_wait(n, || thread::sleep(WAIT))
}
