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
    ]
}

fn process_pool() -> ProcessPool {
    ProcessPool::new(Some(WORKERS)).expect("2 workers is valid")
}

fn process_map(n: usize) -> f64 {
    let pool = process_pool();
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| out = pool.map(f, 0..n as u64, None).unwrap());
    check(&out, n);
    ns
}

fn process_imap_unordered(n: usize) -> f64 {
    let pool = process_pool();
    let mut out: Vec<u64> = Vec::new();
    let ns = time_per_op(n, |n| {
        let chunk = n.div_ceil(4 * WORKERS).max(1);
        out = pool
            .imap_unordered(f, 0..n as u64, chunk)
            .unwrap()
            .map(Result::unwrap)
            .collect();
    });
    check_unordered(out, n);
    ns
}

fn pool() -> ThreadPool {
    ThreadPool::new(Some(WORKERS)).expect("2 workers is valid")
}

fn pool_map(n: usize) -> f64 {
    let pool = pool();
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| out = pool.map(f, 0..n as u64, None).unwrap());
    check(&out, n);
    ns
}

fn imap_unordered(n: usize) -> f64 {
    let pool = pool();
    let mut out: Vec<u64> = Vec::new();
    let ns = time_per_op(n, |n| {
        let chunk = n.div_ceil(4 * WORKERS).max(1);
        out = pool
            .imap_unordered(f, 0..n as u64, chunk)
            .unwrap()
            .map(Result::unwrap)
            .collect();
    });
    check_unordered(out, n);
    ns
}

/// `out` holds `f` of every input, in any order.
fn check_unordered(mut out: Vec<u64>, n: usize) {
    let mut expected: Vec<u64> = (0..n as u64).map(f).collect();
    expected.sort_unstable();
    out.sort_unstable();
    assert_eq!(out, expected);
}
