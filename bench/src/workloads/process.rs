//! The process engine: `proc-roundtrip` (one trivial call at a time to a one-worker pool),
//! `proc-throughput` (100k trivial calls submitted to a 2-worker pool, then all awaited) and
//! `proc-map` (a chunked map of `x * x` over 1M items on 2 workers) and `proc-start` (one
//! `Process` started and joined), against a raw pipe round
//! trip (the floor), procspawn's `Pool`, and Python's `concurrent.futures.ProcessPoolExecutor`
//! and `multiprocessing.Pool`.
//!
//! Every worker is a process: the bench binary itself started again (concurra's
//! `worker_hook!`, procspawn's `init` and the echo child's check sit at the top of `main`), or
//! a Python interpreter forked by the Python pool.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use concurra::{Apply, ProcessPoolExecutor};

use super::{time_per_op, Peer, Workload, WORKERS};

pub const ROUNDTRIP: Workload = Workload {
    name: "proc-roundtrip",
    about: "one trivial call (x + 1) at a time to a one-worker process pool, result awaited",
    unit: "round trip",
    peers: roundtrip_peers,
};

pub const THROUGHPUT: Workload = Workload {
    name: "proc-throughput",
    about: "trivial calls (x + 1) all submitted to a 2-worker process pool, then all awaited",
    unit: "task",
    peers: throughput_peers,
};

pub const START: Workload = Workload {
    name: "proc-start",
    about: "one process started and joined, running a trivial function (or /bin/true)",
    unit: "start+join",
    peers: start_peers,
};

pub const MAP: Workload = Workload {
    name: "proc-map",
    about: "x * x over 0..n on a 2-worker process pool, chunked, results in order",
    unit: "item",
    peers: map_peers,
};

const ROUND_TRIPS: usize = 20_000;
const PYTHON_ROUND_TRIPS: usize = 5_000;
const TASKS: usize = 100_000;
/// procspawn holds three descriptors per queued call (two IPC channels made per spawn), so
/// 100k calls in flight need 300k descriptors: far above `ulimit -n` (20k here).
const PROCSPAWN_TASKS: usize = 5_000;
const PYTHON_TASKS: usize = 20_000;
const ITEMS: usize = 1_000_000;
const STARTS: usize = 300;
const PYTHON_FORKS: usize = 200;
const PYTHON_SPAWNS: usize = 20;
const CHUNK: usize = 1_000;

fn roundtrip_peers() -> Vec<Peer> {
    vec![
        Peer::rust(
            "concurra ProcessPoolExecutor(1).call",
            ROUND_TRIPS,
            concurra_call,
        ),
        Peer::rust(
            "concurra ProcessPoolExecutor(1).submit().result()",
            ROUND_TRIPS,
            concurra_roundtrip,
        ),
        Peer::rust(
            "concurra ProcessPool(1).apply",
            ROUND_TRIPS,
            concurra_pool_apply,
        ),
        Peer::rust("pipe floor (8-byte echo child)", ROUND_TRIPS, pipe_floor),
        Peer::rust("procspawn Pool(1)", ROUND_TRIPS, procspawn_roundtrip),
        Peer::python(
            "Python ProcessPoolExecutor(1)",
            PYTHON_ROUND_TRIPS,
            "proc_roundtrip_ppe.py",
        ),
        Peer::python(
            "Python multiprocessing.Pool(1).apply",
            PYTHON_ROUND_TRIPS,
            "proc_roundtrip_mp.py",
        ),
    ]
}

fn throughput_peers() -> Vec<Peer> {
    vec![
        Peer::rust(
            "concurra ProcessPoolExecutor(2)",
            TASKS,
            concurra_throughput,
        ),
        Peer::rust(
            "procspawn Pool(2) spawn, then join",
            PROCSPAWN_TASKS,
            procspawn_throughput,
        ),
        Peer::python(
            "Python ProcessPoolExecutor(2)",
            PYTHON_TASKS,
            "proc_throughput_ppe.py",
        ),
        Peer::python(
            "Python Pool(2).apply_async",
            PYTHON_TASKS,
            "proc_throughput_mp.py",
        ),
    ]
}

fn start_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra Process::start(f).join()", STARTS, concurra_start),
        Peer::rust(
            "floor: Command::new(\"/bin/true\").status()",
            STARTS,
            bin_true,
        ),
        Peer::rust(
            "floor: this executable started again, exits at once",
            STARTS,
            self_exe_start,
        ),
        Peer::rust("procspawn::spawn(f).join()", STARTS, procspawn_start),
        Peer::python(
            "Python multiprocessing.Process, fork",
            PYTHON_FORKS,
            "proc_start_fork.py",
        ),
        Peer::python(
            "Python multiprocessing.Process, spawn",
            PYTHON_SPAWNS,
            "proc_start_spawn.py",
        ),
    ]
}

fn map_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra map_chunked, chunksize 1000", ITEMS, concurra_map),
        Peer::rust(
            "concurra map_chunked, chunksize n/(4*workers)",
            ITEMS,
            concurra_map_python_chunks,
        ),
        Peer::rust(
            "concurra ProcessPool(2).map (default chunksize)",
            ITEMS,
            concurra_pool_map,
        ),
        Peer::python(
            "Python Pool(2).map (default chunksize)",
            ITEMS,
            "proc_map_mp.py",
        ),
        Peer::python(
            "Python ProcessPoolExecutor(2).map, chunksize 1000",
            ITEMS,
            "proc_map_ppe.py",
        ),
    ]
}

/// The call of `proc-roundtrip` and `proc-throughput`; the Python scripts call the same.
fn inc(x: u64) -> u64 {
    x + 1
}

/// The function of `proc-map`.
fn square(x: u64) -> u64 {
    x * x
}

/// The sum of `i + 1` over `0..n`.
fn expected(n: usize) -> u64 {
    let n = n as u64;
    n * (n + 1) / 2
}

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .expect("a valid worker count")
}

// ---- proc-roundtrip ----

fn concurra_roundtrip(n: usize) -> f64 {
    let pool = pool(1);
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(pool.submit(Apply(inc, i)).result().unwrap(), i + 1);
        }
    })
}

/// The synchronous call: the caller reads the reply on the worker's direct line.
fn concurra_call(n: usize) -> f64 {
    let pool = pool(1);
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(pool.call(Apply(inc, i)).unwrap(), i + 1);
        }
    })
}

/// Python's `Pool(1).apply`, over the same engine.
fn concurra_pool_apply(n: usize) -> f64 {
    let pool = concurra::ProcessPool::builder()
        .processes(1)
        .build()
        .expect("a valid worker count");
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(pool.apply(Apply(inc, i)).unwrap(), i + 1);
        }
    })
}

/// The environment variable that makes the bench binary an echo child (checked in `main`).
pub const ECHO_CHILD: &str = "BENCH_ECHO_CHILD";

/// The echo child: reads 8-byte messages on standard input and writes each back on standard
/// output, unbuffered, until end of file.
pub fn echo_child() -> std::io::Result<()> {
    use std::os::fd::AsFd;
    // Owned copies of the descriptors: plain `read`/`write` calls, no buffering.
    let mut input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let mut output = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let mut message = [0u8; 8];
    loop {
        match input.read_exact(&mut message) {
            Ok(()) => output.write_all(&message)?,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// The floor: one 8-byte message to a child process over a pipe and back over another, the
/// least a round trip to another process can cost (two writes, two reads, two wake-ups).
fn pipe_floor(n: usize) -> f64 {
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut child = Command::new(exe)
        .env(ECHO_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the echo child");
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = child.stdout.take().unwrap();
    let ns = time_per_op(n, |n| {
        let mut reply = [0u8; 8];
        for i in 0..n as u64 {
            to_child.write_all(&i.to_le_bytes()).unwrap();
            from_child.read_exact(&mut reply).unwrap();
            assert_eq!(u64::from_le_bytes(reply), i);
        }
    });
    drop(to_child);
    assert!(child.wait().unwrap().success(), "the echo child failed");
    ns
}

fn procspawn_roundtrip(n: usize) -> f64 {
    let pool = procspawn::Pool::new(1).expect("starting the procspawn pool");
    let ns = time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(pool.spawn(i, inc).join().unwrap(), i + 1);
        }
    });
    pool.shutdown();
    ns
}

// ---- proc-start ----

fn noop() -> u32 {
    7
}

fn concurra_start(n: usize) -> f64 {
    time_per_op(n, |n| {
        for _ in 0..n {
            let p = concurra::Process::start(noop).expect("starting a process");
            assert_eq!(p.result().unwrap(), 7);
            p.join().unwrap();
            assert_eq!(p.exitcode(), Some(0));
        }
    })
}

fn bin_true(n: usize) -> f64 {
    time_per_op(n, |n| {
        for _ in 0..n {
            assert!(Command::new("/bin/true").status().unwrap().success());
        }
    })
}

/// The bench binary as an echo child with standard input at end of file: it starts (the same
/// executable, so the same loading cost as a concurra worker) and exits at once.
fn self_exe_start(n: usize) -> f64 {
    let exe = std::env::current_exe().expect("the bench's own path");
    time_per_op(n, |n| {
        for _ in 0..n {
            let status = Command::new(&exe)
                .env(ECHO_CHILD, "1")
                .stdin(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        }
    })
}

fn procspawn_start(n: usize) -> f64 {
    time_per_op(n, |n| {
        for _ in 0..n {
            assert_eq!(procspawn::spawn((), |()| 7u32).join().unwrap(), 7);
        }
    })
}

// ---- proc-throughput ----

fn concurra_throughput(n: usize) -> f64 {
    let pool = pool(WORKERS);
    time_per_op(n, |n| {
        let futures: Vec<_> = (0..n as u64).map(|i| pool.submit(Apply(inc, i))).collect();
        let sum: u64 = futures.iter().map(|f| f.result().unwrap()).sum();
        assert_eq!(sum, expected(n));
    })
}

fn procspawn_throughput(n: usize) -> f64 {
    let pool = procspawn::Pool::new(WORKERS).expect("starting the procspawn pool");
    let ns = time_per_op(n, |n| {
        let handles: Vec<_> = (0..n as u64).map(|i| pool.spawn(i, inc)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, expected(n));
    });
    pool.shutdown();
    ns
}

// ---- proc-map ----

fn concurra_map_with(n: usize, chunksize: impl Fn(usize) -> usize) -> f64 {
    let pool = pool(WORKERS);
    let mut out: Vec<u64> = Vec::new();
    let ns = time_per_op(n, |n| {
        out = pool
            .map_chunked(square, 0..n as u64, chunksize(n))
            .collect::<concurra::Result<_>>()
            .unwrap();
    });
    check_squares(&out, n);
    ns
}

fn concurra_map(n: usize) -> f64 {
    concurra_map_with(n, |_| CHUNK)
}

/// The Pool interface, as Python's `Pool.map`: the whole list at once, its default chunk size.
fn concurra_pool_map(n: usize) -> f64 {
    let pool = concurra::ProcessPool::builder()
        .processes(WORKERS)
        .build()
        .expect("a valid worker count");
    let mut out: Vec<u64> = Vec::new();
    let ns = time_per_op(n, |n| out = pool.map(square, 0..n as u64).unwrap());
    check_squares(&out, n);
    ns
}

/// `out` is `square` of `0..n`, in order.
fn check_squares(out: &[u64], n: usize) {
    assert_eq!(out.len(), n);
    assert!(out.iter().zip(0..).all(|(&y, x)| y == square(x)));
}

/// Python's `Pool.map` default: `ceil(n / (4 * workers))`.
fn concurra_map_python_chunks(n: usize) -> f64 {
    concurra_map_with(n, |n| n.div_ceil(4 * WORKERS).max(1))
}
