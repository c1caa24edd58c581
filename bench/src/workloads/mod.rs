//! The workloads, each written once as a list of [`Peer`]s that do the same job.
//!
//! Every peer builds its own engine with 2 workers (the machine has 2 cores; `proc-roundtrip`
//! uses 1), warms it up, then times the job and returns nanoseconds per operation. Building and
//! dropping the engine are not timed.

pub mod aio;
pub mod map;
pub mod net;
pub mod pool_map;
pub mod process;
pub mod remote;
pub mod submit_wait;
pub mod subproc;
pub mod wait_cpu;
pub mod wake_latency;

use std::time::{Duration, Instant};

use crate::python;

/// Worker threads (or processes) for every engine.
pub const WORKERS: usize = 2;

/// A job measured against every peer.
pub struct Workload {
    /// The command-line name.
    pub name: &'static str,
    /// What is measured, one line.
    pub about: &'static str,
    /// What one operation is: "task", "round trip", "item".
    pub unit: &'static str,
    pub peers: fn() -> Vec<Peer>,
}

pub const ALL: [Workload; 22] = [
    submit_wait::WORKLOAD,
    wake_latency::WORKLOAD,
    wait_cpu::WORKLOAD,
    map::WORKLOAD,
    pool_map::WORKLOAD,
    aio::SPAWN,
    aio::TIMERS,
    aio::QUEUE,
    process::ROUNDTRIP,
    process::THROUGHPUT,
    process::MAP,
    process::START,
    net::ECHO,
    net::ECHO_REMOTE,
    net::BULK,
    net::CONNECTIONS,
    remote::ROUNDTRIP,
    remote::THROUGHPUT,
    remote::MAP,
    subproc::SPAWN,
    subproc::PIPE,
    subproc::SIGNAL_LATENCY,
];

/// One engine doing a workload's job.
pub struct Peer {
    pub name: &'static str,
    /// Operations per run (fewer for Python, whose per-op time is much higher).
    pub ops: usize,
    run: Run,
}

enum Run {
    /// Does `ops` operations in this process; returns ns per op.
    Rust(fn(usize) -> f64),
    /// Runs `bench/python/<script>` with `ops` as its argument; it prints ns per op.
    Python(&'static str),
}

impl Peer {
    pub fn rust(name: &'static str, ops: usize, run: fn(usize) -> f64) -> Peer {
        Peer {
            name,
            ops,
            run: Run::Rust(run),
        }
    }

    pub fn python(name: &'static str, ops: usize, script: &'static str) -> Peer {
        Peer {
            name,
            ops,
            run: Run::Python(script),
        }
    }

    /// One round: nanoseconds per operation.
    pub fn run(&self) -> Result<f64, String> {
        match self.run {
            Run::Rust(run) => Ok(run(self.ops)),
            Run::Python(script) => python::run(script, self.ops),
        }
    }
}

/// Calls `job(n / 100)` once to warm up (threads started, caches and allocator primed), then
/// times `job(n)`: nanoseconds per op.
pub fn time_per_op(n: usize, mut job: impl FnMut(usize)) -> f64 {
    job((n / 100).max(1));
    let start = Instant::now();
    job(n);
    ns_per_op(start.elapsed(), n)
}

pub fn ns_per_op(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n as f64
}

/// The CPU time this process has used so far, all threads, user and system.
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A rayon pool of [`WORKERS`] threads that are gone once it is dropped. rayon's own drop
/// does not wait for its threads: left running (spinning for work, then exiting), they took
/// CPU time from the next peer's round, which showed as a slow median for whichever peer ran
/// after rayon (every other peer's pool joins its threads when dropped).
pub struct RayonPool {
    pool: Option<rayon::ThreadPool>,
    exited: crossbeam_channel::Receiver<()>,
}

impl RayonPool {
    pub fn new() -> RayonPool {
        let (tx, exited) = crossbeam_channel::unbounded();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .exit_handler(move |_| {
                let _ = tx.send(());
            })
            .build()
            .expect("a rayon pool");
        RayonPool {
            pool: Some(pool),
            exited,
        }
    }
}

impl std::ops::Deref for RayonPool {
    type Target = rayon::ThreadPool;

    fn deref(&self) -> &rayon::ThreadPool {
        self.pool.as_ref().expect("until dropped")
    }
}

impl Drop for RayonPool {
    fn drop(&mut self) {
        drop(self.pool.take());
        for _ in 0..WORKERS {
            let _ = self.exited.recv();
        }
    }
}
