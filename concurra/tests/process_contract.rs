//! The Future contract on the two process engines: `ProcessPoolExecutor` and `Process`.
//!
//! `future_contract.rs` runs the contract with closures that capture their gates, which cannot
//! cross a process boundary; here every case is a plain `fn`, and the gate that keeps a call
//! running is a Unix socket the test owns (`common::socket_gate`): the call blocks reading it
//! until the test writes a byte (or closes it). No sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use concurra::process::Remote;
use concurra::{
    as_completed, wait, wait_timeout, Apply, Error, Future, Process, ProcessPoolExecutor,
    ReturnWhen,
};

mod common;
use common::socket_gate::{block_on, Arrived, SocketGate};

concurra::worker_hook!();

/// Blocks on the gate at `path`, then returns `value`.
fn gated((path, value): (String, u32)) -> u32 {
    block_on(&path);
    value
}

fn value(x: u32) -> u32 {
    x + 1
}

fn panics(x: u32) -> u32 {
    panic!("panic {x}")
}

/// The engines: each runs one call and hands back its `Future`.
trait Engine {
    fn run<W: Remote<Output = u32> + 'static>(&self, work: W) -> Future<u32>;
}

struct PoolEngine(ProcessPoolExecutor);

impl Engine for PoolEngine {
    fn run<W: Remote<Output = u32> + 'static>(&self, work: W) -> Future<u32> {
        self.0.submit(work)
    }
}

/// One `Process` per call; daemons, so dropping the handle detaches.
struct ProcessEngine;

impl Engine for ProcessEngine {
    fn run<W: Remote<Output = u32> + 'static>(&self, work: W) -> Future<u32> {
        Process::builder()
            .daemon(true)
            .start(work)
            .unwrap()
            .future()
    }
}

fn pool() -> PoolEngine {
    PoolEngine(
        ProcessPoolExecutor::builder()
            .max_workers(2)
            .task_timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    )
}

/// A call that runs until its gate opens.
fn held(engine: &impl Engine, gate: &SocketGate, v: u32) -> (Future<u32>, Arrived) {
    let f = engine.run(Apply(gated, (gate.path(), v)));
    let conn = gate.arrived();
    (f, conn)
}

fn release(conn: Arrived) {
    conn.open();
}

fn returns_its_value(e: &impl Engine) {
    assert_eq!(e.run(Apply(value, 41)).result().unwrap(), 42);
}

fn panic_is_an_error_with_message(e: &impl Engine) {
    let err = e.run(Apply(panics, 7)).result().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.panic_message(), Some("panic 7"));
}

fn running_then_done(e: &impl Engine) {
    let gate = SocketGate::new();
    let (f, conn) = held(e, &gate, 5);
    assert!(f.running());
    assert!(!f.done());
    assert!(!f.cancel(), "a running call cannot be cancelled");
    let err = f.result_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(err.is_timeout());
    release(conn);
    assert_eq!(f.result().unwrap(), 5);
    assert!(f.done() && !f.running() && !f.cancelled());
    assert!(f.exception().unwrap().is_none());
}

fn done_callbacks_run_once_in_order(e: &impl Engine) {
    let gate = SocketGate::new();
    let (f, conn) = held(e, &gate, 1);
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        let tx = tx.clone();
        f.add_done_callback(move |f: &Future<u32>| {
            tx.send((i, f.result().unwrap())).unwrap();
        });
    }
    release(conn);
    let got: Vec<_> = rx.iter().take(3).collect();
    assert_eq!(got, [(0, 1), (1, 1), (2, 1)]);
    // Added after completion: runs at once, in the caller.
    let here = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&here);
    f.add_done_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(here.load(Ordering::SeqCst), 1);
}

fn wait_and_as_completed(e: &impl Engine) {
    let gate = SocketGate::new();
    let (slow, conn) = held(e, &gate, 2);
    let fast = e.run(Apply(value, 0));
    let fs = [slow.clone(), fast.clone()];
    let done = wait(&fs, ReturnWhen::FirstCompleted);
    assert!(done.done.iter().any(|f| f.ptr_eq(&fast)));
    assert!(done.not_done.iter().any(|f| f.ptr_eq(&slow)));
    release(conn);
    let order: Vec<u32> = as_completed(&fs)
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(order.len(), 2);
    let all = wait_timeout(&fs, Duration::from_secs(20), ReturnWhen::AllCompleted);
    assert_eq!(all.done.len(), 2);
}

fn first_exception_counts_a_panic(e: &impl Engine) {
    let gate = SocketGate::new();
    let (slow, conn) = held(e, &gate, 3);
    let bad = e.run(Apply(panics, 0));
    let fs = [slow.clone(), bad];
    let done = wait(&fs, ReturnWhen::FirstException);
    assert_eq!(done.done.len(), 1);
    release(conn);
    slow.result().unwrap();
}

fn awaitable_from_any_executor(e: &impl Engine) {
    let f = e.run(Apply(value, 9));
    assert_eq!(futures::executor::block_on(f).unwrap(), 10);
}

fn cancel_of_a_queued_call(e: &PoolEngine) {
    // Two workers, each window 2: four gated calls fill them; the fifth waits in the queue.
    let gate = SocketGate::new();
    let held: Vec<_> = (0..2).map(|i| held(e, &gate, i)).collect();
    let behind: Vec<_> = (0..2).map(|i| e.run(Apply(value, i))).collect();
    let queued = e.run(Apply(value, 100));
    assert!(queued.cancel());
    assert!(queued.cancelled() && queued.done());
    assert!(queued.result().unwrap_err().is_cancelled());
    for (f, conn) in held {
        release(conn);
        f.result().unwrap();
    }
    for f in behind {
        f.result().unwrap();
    }
}

macro_rules! engine_test {
    ($engine:ident, $make:expr; $($case:ident),*) => {
        mod $engine {
            use super::*;
            $(
                #[test]
                fn $case() {
                    super::$case(&$make);
                }
            )*
        }
    };
}

engine_test!(process_pool, pool(); returns_its_value, panic_is_an_error_with_message,
    running_then_done, done_callbacks_run_once_in_order, wait_and_as_completed,
    first_exception_counts_a_panic, awaitable_from_any_executor, cancel_of_a_queued_call);
engine_test!(process, ProcessEngine; returns_its_value, panic_is_an_error_with_message,
    running_then_done, done_callbacks_run_once_in_order, wait_and_as_completed,
    first_exception_counts_a_panic, awaitable_from_any_executor);

/// An error's Debug names its kind (the message for users is its Display).
#[test]
fn worker_died_reads_well() {
    let e = Error::WorkerDied {
        pid: 42,
        exitcode: -9,
    };
    assert_eq!(
        e.to_string(),
        "worker process 42 died (killed by signal 9 (SIGKILL))"
    );
    assert!(e.is_worker_died());
}
