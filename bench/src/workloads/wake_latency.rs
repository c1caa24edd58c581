//! `wake-latency`: ping-pong between two threads, 20k round trips.
//!
//! Each round trip is two hand-offs, each waking a thread that sleeps in a blocking wait, so
//! this measures the wake-up path (park/unpark or futex) rather than any queue. Unpinned, the
//! two threads usually sit on different CPUs and every wake is a cross-CPU wake.
//!
//! crossbeam reuses one channel slot; `future::pair` and tokio's oneshot use one allocation
//! per message, freed after its hand-off on whichever thread drops it last, so those rows
//! also pay glibc's free of a block the other thread allocated: neither thread allocates
//! during the loop, so their caches fill and both free into the one arena that made the
//! blocks. Two rows split that cost from the hand-off: `future::pair` with its blocks freed
//! after timing, and crossbeam carrying a `Box` per message (allocated before timing, freed
//! by its receiver, as a future's block is).

use std::sync::{mpsc, Barrier, Mutex};
use std::thread;
use std::time::Instant;

use concurra::future;

use super::{ns_per_op, process_cpu_time, Peer, Workload};

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
        Peer::rust(
            "concurra future::pair, freed after timing",
            ROUND_TRIPS,
            concurra_kept,
        ),
        Peer::rust(
            "crossbeam bounded(1), a Box per message",
            ROUND_TRIPS,
            crossbeam_boxed,
        ),
        Peer::rust("concurra future::pair: CPU time", ROUND_TRIPS, concurra_cpu),
        Peer::rust("crossbeam bounded(1): CPU time", ROUND_TRIPS, crossbeam_cpu),
        Peer::rust("tokio oneshot per message", ROUND_TRIPS, tokio_oneshot),
        Peer::rust("std mpsc sync_channel(1)", ROUND_TRIPS, std_mpsc),
    ]
}

thread_local! {
    /// Set by the `: CPU time` rows: `ping_pong` reports CPU time instead of wall time.
    static CPU: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `a` here and `b` on a second thread, released together; `n` round trips: ns per trip
/// (wall time, or the CPU time of both threads for the `: CPU time` rows).
fn ping_pong(n: usize, a: impl FnOnce(), b: impl FnOnce() + Send) -> f64 {
    let start = Barrier::new(2);
    let done = Barrier::new(2);
    let (wall, cpu) = thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            b();
            done.wait();
        });
        start.wait();
        let (t, c) = (Instant::now(), process_cpu_time());
        a();
        done.wait();
        (t.elapsed(), process_cpu_time() - c)
    });
    ns_per_op(if CPU.get() { cpu } else { wall }, n)
}

fn concurra_cpu(n: usize) -> f64 {
    cpu_time_of(concurra, n)
}

fn crossbeam_cpu(n: usize) -> f64 {
    cpu_time_of(crossbeam, n)
}

fn cpu_time_of(peer: fn(usize) -> f64, n: usize) -> f64 {
    CPU.set(true);
    let ns = peer(n);
    CPU.set(false);
    ns
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

/// As [`concurra`], keeping every handle until the timing ends: the hand-off without the free.
fn concurra_kept(n: usize) -> f64 {
    let (ping_promises, ping_futures): (Vec<_>, Vec<_>) =
        (0..n).map(|_| future::pair::<u64>()).unzip();
    let (pong_promises, pong_futures): (Vec<_>, Vec<_>) =
        (0..n).map(|_| future::pair::<u64>()).unzip();
    let kept_by_a = Mutex::new(Vec::with_capacity(n));
    let kept_by_b = Mutex::new(Vec::with_capacity(n));
    ping_pong(
        n,
        || {
            let mut kept = kept_by_a.lock().unwrap();
            for (i, (ping, pong)) in ping_promises.into_iter().zip(pong_futures).enumerate() {
                ping.set_result(i as u64).unwrap();
                assert_eq!(*pong.result_ref().unwrap(), i as u64);
                kept.push(pong);
            }
        },
        || {
            let mut kept = kept_by_b.lock().unwrap();
            for (ping, pong) in ping_futures.into_iter().zip(pong_promises) {
                pong.set_result(*ping.result_ref().unwrap()).unwrap();
                kept.push(ping);
            }
        },
    )
}

/// The like-for-like peer of `future::pair`: a one-shot channel per message, made up front
/// (each is freed after its hand-off, as a Future is), waited on with a blocking receive.
fn tokio_oneshot(n: usize) -> f64 {
    use tokio::sync::oneshot;
    let (ping_tx, ping_rx): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot::channel::<u64>()).unzip();
    let (pong_tx, pong_rx): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot::channel::<u64>()).unzip();
    ping_pong(
        n,
        move || {
            for (i, (ping, pong)) in ping_tx.into_iter().zip(pong_rx).enumerate() {
                ping.send(i as u64).unwrap();
                assert_eq!(pong.blocking_recv().unwrap(), i as u64);
            }
        },
        move || {
            for (ping, pong) in ping_rx.into_iter().zip(pong_tx) {
                pong.send(ping.blocking_recv().unwrap()).unwrap();
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

/// As [`crossbeam`], each message a `Box` the size of a future's block, made before timing
/// and freed by its receiver: the channel's hand-off plus one cross-thread free per message.
fn crossbeam_boxed(n: usize) -> f64 {
    type Message = Box<[u64; 15]>;
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<Message>(1);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<Message>(1);
    let pings: Vec<Message> = (0..n).map(|_| Box::new([0; 15])).collect();
    let pongs: Vec<Message> = (0..n).map(|_| Box::new([0; 15])).collect();
    ping_pong(
        n,
        move || {
            for (i, mut ping) in pings.into_iter().enumerate() {
                ping[0] = i as u64;
                ping_tx.send(ping).unwrap();
                assert_eq!(pong_rx.recv().unwrap()[0], i as u64);
            }
        },
        move || {
            for mut pong in pongs {
                pong[0] = ping_rx.recv().unwrap()[0];
                pong_tx.send(pong).unwrap();
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
