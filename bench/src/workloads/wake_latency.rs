//! `wake-latency`: ping-pong between two threads, 20k round trips.
//!
//! Each round trip is two hand-offs, each waking a thread that sleeps in a blocking wait, so
//! this measures the wake-up path (park/unpark or futex) rather than any queue. Unpinned, the
//! two threads usually sit on different CPUs and every wake is a cross-CPU wake.

use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::Instant;

use concurra::future;

use super::{ns_per_op, Peer, Workload};

pub const WORKLOAD: Workload = Workload {
    name: "wake-latency",
    about: "ping-pong between two threads: A sends ping i, B answers pong i",
    unit: "round trip",
    peers,
};

const ROUND_TRIPS: usize = 20_000;

fn peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra future::pair", ROUND_TRIPS, concurra),
        Peer::rust("crossbeam bounded(1)", ROUND_TRIPS, crossbeam),
        Peer::rust("std mpsc sync_channel(1)", ROUND_TRIPS, std_mpsc),
    ]
}

/// Runs `a` here and `b` on a second thread, released together; `n` round trips: ns per trip.
fn ping_pong(n: usize, a: impl FnOnce(), b: impl FnOnce() + Send) -> f64 {
    let start = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            b();
        });
        start.wait();
        let t = Instant::now();
        a();
        ns_per_op(t.elapsed(), n)
    })
}

/// One pair of one-shot futures per message, created before timing.
fn concurra(n: usize) -> f64 {
    let (ping_promises, ping_futures): (Vec<_>, Vec<_>) =
        (0..n).map(|_| future::pair::<u64>()).unzip();
    let (pong_promises, pong_futures): (Vec<_>, Vec<_>) =
        (0..n).map(|_| future::pair::<u64>()).unzip();
    ping_pong(
        n,
        move || {
            for (i, (ping, pong)) in ping_promises.into_iter().zip(pong_futures).enumerate() {
                ping.set_result(i as u64).unwrap();
                assert_eq!(pong.result().unwrap(), i as u64);
            }
        },
        move || {
            for (ping, pong) in ping_futures.into_iter().zip(pong_promises) {
                pong.set_result(ping.result().unwrap()).unwrap();
            }
        },
    )
}

fn crossbeam(n: usize) -> f64 {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded(1);
    ping_pong(
        n,
        move || {
            for i in 0..n as u64 {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv().unwrap(), i);
            }
        },
        move || {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().unwrap()).unwrap();
            }
        },
    )
}

fn std_mpsc(n: usize) -> f64 {
    let (ping_tx, ping_rx) = mpsc::sync_channel(1);
    let (pong_tx, pong_rx) = mpsc::sync_channel(1);
    ping_pong(
        n,
        move || {
            for i in 0..n as u64 {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv().unwrap(), i);
            }
        },
        move || {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().unwrap()).unwrap();
            }
        },
    )
}
