//! `map`: a small CPU function over 1M items, results collected in order.
//!
//! The function costs a few nanoseconds, so this measures each engine's per-item overhead in
//! a data-parallel map: concurra submits one task per item with a bounded window in flight
//! (4 per worker), rayon splits the range into chunks, Python submits one task per item.

use concurra::ThreadPoolExecutor;
use rayon::prelude::*;

use super::{time_per_op, Peer, Workload, WORKERS};

pub const WORKLOAD: Workload = Workload {
    name: "map",
    about: "a small CPU function over 0..n on a 2-worker pool, results collected in order",
    unit: "item",
    peers,
};

const ITEMS: usize = 1_000_000;
const PYTHON_ITEMS: usize = 50_000;

fn peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra ThreadPoolExecutor::map", ITEMS, concurra),
        Peer::rust("rayon par_iter().map().collect()", ITEMS, rayon),
        Peer::python("Python ThreadPoolExecutor.map", PYTHON_ITEMS, "map.py"),
    ]
}

/// A few rounds of multiply-xorshift; `bench/python/map.py` computes the same.
pub fn f(mut x: u64) -> u64 {
    for _ in 0..4 {
        x = x.wrapping_mul(2_654_435_761) ^ (x >> 7);
    }
    x
}

/// Checked after timing: every item mapped, in order.
pub fn check(out: &[u64], n: usize) {
    assert_eq!(out.len(), n);
    assert!(out.iter().zip(0..).all(|(&y, x)| y == f(x)));
}

fn concurra(n: usize) -> f64 {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("2 workers is valid");
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| {
        out = pool
            .map(f, 0..n as u64)
            .collect::<concurra::Result<_>>()
            .unwrap();
    });
    check(&out, n);
    ns
}

pub fn rayon(n: usize) -> f64 {
    let pool = super::RayonPool::new();
    let mut out = Vec::new();
    let ns = time_per_op(n, |n| {
        out = pool.install(|| (0..n as u64).into_par_iter().map(f).collect());
    });
    check(&out, n);
    ns
}
