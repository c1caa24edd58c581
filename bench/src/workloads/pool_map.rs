//! `pool-map`: the Pool interface's chunked `map` and `imap_unordered` over 1M items, on
//! threads (`ThreadPool`) and on processes (`ProcessPool`), against rayon and Python's
//! `multiprocessing.pool.ThreadPool` and `multiprocessing.Pool`.
//!
//! Same function as `map` (a few ns of CPU per item): this measures the per-item overhead once
//! the input is cut into chunks (Python's default chunk size, `ceil(n / (4 * workers))`).

use concurra::{ProcessPool, ThreadPool};

use super::map::{check, f, rayon};
use super::{time_per_op, Peer, Workload, WORKERS};

pub const WORKLOAD: Workload = Workload {
    name: "pool-map",
    about: "Pool.map / imap_unordered of a small CPU function over 0..n, 2 threads or processes",
    unit: "item",
    peers,
};

const ITEMS: usize = 1_000_000;
const PYTHON_ITEMS: usize = 1_000_000;

fn peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra ThreadPool::map", ITEMS, pool_map),
        Peer::rust("concurra ThreadPool::imap_unordered", ITEMS, imap_unordered),
        Peer::rust("rayon par_iter().map().collect()", ITEMS, rayon),
        Peer::python("Python pool.ThreadPool.map", PYTHON_ITEMS, "pool_map.py"),
        Peer::python(
            "Python pool.ThreadPool.imap_unordered",
            PYTHON_ITEMS,
            "pool_imap_unordered.py",
        ),
        Peer::rust("concurra ProcessPool::map", ITEMS, process_map),
        Peer::rust(
            "concurra ProcessPool::imap_unordered",
            ITEMS,
            process_imap_unordered,
        ),
        Peer::python(
            "Python multiprocessing.Pool.map",
            PYTHON_ITEMS,
            "pool_map_mp.py",
        ),
        Peer::python(
            "Python multiprocessing.Pool.imap_unordered",
            PYTHON_ITEMS,
            "pool_imap_unordered_mp.py",
        ),
    ]
}

fn process_pool() -> ProcessPool {
    ProcessPool::builder()
        .processes(WORKERS)
        .build()
        .expect("2 workers is valid")
}

fn pool() -> ThreadPool {
    ThreadPool::builder()
        .processes(WORKERS)
        .build()
        .expect("2 workers is valid")
}

/// Times `job(n)` (a whole ordered map) and checks its last output.
fn map_timed(n: usize, mut job: impl FnMut(usize) -> Vec<u64>) -> f64 {
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| out = job(n));
    check(&out, n);
    ns
}

/// Times `job(n, chunksize)` (a whole unordered map, Python's default chunk size) and checks
/// that its last output holds `f` of every input, in any order.
fn unordered_timed(n: usize, mut job: impl FnMut(usize, usize) -> Vec<u64>) -> f64 {
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| out = job(n, n.div_ceil(4 * WORKERS).max(1)));
    let mut expected: Vec<u64> = (0..n as u64).map(f).collect();
    expected.sort_unstable();
    out.sort_unstable();
    assert_eq!(out, expected);
    ns
}

fn pool_map(n: usize) -> f64 {
    let pool = pool();
    map_timed(n, |n| pool.map(f, 0..n as u64).unwrap())
}

fn process_map(n: usize) -> f64 {
    let pool = process_pool();
    map_timed(n, |n| pool.map(f, 0..n as u64).unwrap())
}

fn imap_unordered(n: usize) -> f64 {
    let pool = pool();
    unordered_timed(n, |n, chunk| {
        let it = pool.imap_unordered_chunked(f, 0..n as u64, chunk).unwrap();
        it.map(Result::unwrap).collect()
    })
}

fn process_imap_unordered(n: usize) -> f64 {
    let pool = process_pool();
    unordered_timed(n, |n, chunk| {
        let it = pool.imap_unordered_chunked(f, 0..n as u64, chunk).unwrap();
        it.map(Result::unwrap).collect()
    })
}
