//! Bridges between the loop and threads: `to_thread`, `run_in_executor`,
//! `LoopHandle::run_coroutine_threadsafe`. Python's rules are in python-semantics.md §1.12;
//! the cases follow CPython's Lib/test/test_asyncio/test_threads.py (test_to_thread,
//! test_to_thread_exception, test_to_thread_once), test_events.py (test_run_in_executor,
//! test_run_in_executor_cancel) and test_tasks.py (RunCoroutineThreadsafeTests:
//! test_run_coroutine_threadsafe, _with_exception, _task_cancelled).
//!
//! Changes from Python, on purpose: a panic is the error (`Error::Panicked`); a loop that has
//! ended refuses `run_coroutine_threadsafe` with `Error::InvalidState`. Threads synchronise on
//! channels and gates, never on sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};

use concurra::aio::{self, LoopHandle};
use concurra::future::{self, Promise};
use concurra::{Fallible, ThreadPoolExecutor};

/// A loop serving on its own thread until the sender is used (or dropped).
struct LoopThread {
    handle: LoopHandle,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

fn loop_thread() -> LoopThread {
    let (tx, rx) = mpsc::channel();
    let (stop, stop_rx) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        aio::run(async move {
            tx.send(aio::get_running_loop().unwrap().handle()).unwrap();
            let _ = aio::to_thread(move || stop_rx.recv()).await;
        })
    });
    LoopThread {
        handle: rx.recv().unwrap(),
        stop,
        thread,
    }
}

impl LoopThread {
    fn stop(self) {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

/// Sends on its channel when dropped: a coroutine's `finally`, seen from another thread.
struct Dropped(mpsc::Sender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn boom() -> u8 {
    panic!("coroutine exploded")
}

#[derive(Debug, PartialEq)]
struct NotClone(u32);

#[test]
fn to_thread_runs_elsewhere_and_returns_the_value() {
    // test_to_thread
    let (value, other) = aio::run(async {
        let me = thread::current().id();
        let v = aio::to_thread(|| NotClone(7)).await.unwrap();
        let other = aio::to_thread(move || thread::current().id() != me)
            .await
            .unwrap();
        (v, other)
    });
    assert_eq!(value, NotClone(7));
    assert!(other, "ran on a pool thread");
}

#[test]
fn to_thread_panic_is_the_error_and_the_loop_goes_on() {
    // test_to_thread_exception
    aio::run(async {
        let err = aio::to_thread(|| -> u8 { panic!("in a thread") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("in a thread"));
        assert_eq!(aio::to_thread(|| 1).await.unwrap(), 1);
    });
}

#[test]
fn many_threads_wake_the_loop() {
    // The cross-thread wake path, stressed: 200 completions from pool threads.
    let total = aio::run(async {
        let results = aio::gather((0..200u64).map(|i| aio::to_thread(move || i))).await;
        results
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .sum::<u64>()
    });
    assert_eq!(total, (0..200).sum());
}

#[test]
fn run_in_executor_awaits_any_executor_work() {
    // test_run_in_executor
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    aio::run(async {
        assert_eq!(aio::run_in_executor(&pool, || 5).await.unwrap(), 5);
        let err = aio::run_in_executor(&pool, Fallible(|| "x".parse::<i32>()))
            .await
            .unwrap_err();
        assert!(err.is_failed());
        let f = aio::run_in_executor(&pool, || "kept").future();
        assert_eq!(f.await.unwrap(), "kept");
    });
}

#[test]
fn cancelling_the_awaiter_cancels_queued_work_only() {
    // test_run_in_executor_cancel: queued work never runs; running work completes anyway.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (gate_p, gate) = future::pair::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let (running, queued) = aio::run(async {
        let blocker = aio::run_in_executor(&pool, move || {
            started_tx.send(()).unwrap();
            gate.result().unwrap();
        });
        let running = blocker.future();
        let r = ran.clone();
        let queued = aio::run_in_executor(&pool, move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let queued_f = queued.future();
        // Wait (on another thread, not blocking the loop) until the blocker runs.
        aio::to_thread(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        let t1 = aio::create_task(blocker);
        let t2 = aio::create_task(queued);
        aio::yield_now().await;
        assert!(t1.cancel() && t2.cancel());
        aio::yield_now().await;
        aio::yield_now().await;
        assert!(t1.cancelled() && t2.cancelled());
        (running, queued_f)
    });
    assert!(queued.cancelled(), "queued work is cancelled");
    assert!(
        !running.cancelled() && !running.done(),
        "running work goes on"
    );
    open(gate_p);
    running.result().unwrap();
    drop(pool); // waits for the workers
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

fn open(p: Promise<()>) {
    p.set_result(()).unwrap();
}

#[test]
fn run_coroutine_threadsafe_returns_value_and_panic() {
    // test_run_coroutine_threadsafe, test_run_coroutine_threadsafe_with_exception
    let lp = loop_thread();
    let f = lp.handle.run_coroutine_threadsafe(async {
        aio::yield_now().await;
        String::from("from the loop")
    });
    assert_eq!(f.result().unwrap(), "from the loop");
    let f = lp.handle.run_coroutine_threadsafe(async { boom() });
    let err = f.result().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("coroutine exploded"));
    // The loop survives and keeps serving; many threads at once.
    let threads: Vec<_> = (0..8u32)
        .map(|i| {
            let h = lp.handle.clone();
            thread::spawn(move || {
                (0..50u32)
                    .map(|j| {
                        h.run_coroutine_threadsafe(async move { i * 1000 + j })
                            .result()
                            .unwrap()
                    })
                    .sum::<u32>()
            })
        })
        .collect();
    let sum: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        sum,
        (0..8u32)
            .map(|i| (0..50).map(|j| i * 1000 + j).sum::<u32>())
            .sum()
    );
    lp.stop();
}

#[test]
fn cancelling_the_threadsafe_future_cancels_the_task() {
    // test_run_coroutine_threadsafe_task_cancelled
    let lp = loop_thread();
    let (started_tx, started_rx) = mpsc::channel();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let f = lp.handle.run_coroutine_threadsafe(async move {
        let _finally = Dropped(dropped_tx);
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    started_rx.recv().unwrap();
    assert!(!f.running(), "never marked running: it stays cancellable");
    assert!(f.cancel());
    assert!(f.result().unwrap_err().is_cancelled());
    dropped_rx.recv().unwrap(); // the coroutine was dropped on the loop
    lp.stop();
}

#[test]
fn an_ended_loop_refuses_coroutines() {
    let lp = loop_thread();
    let handle = lp.handle.clone();
    lp.stop();
    assert!(handle.is_closed());
    let f = handle.run_coroutine_threadsafe(async { 1 });
    assert!(f.result().unwrap_err().is_invalid_state());
}
