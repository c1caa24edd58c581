//! Bad input ends as a clear error on that future: never a hang, a lost task or a panic in the
//! caller. One test per case the core issue lists.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use concurra::future;
use concurra::{
    as_completed_timeout, wait, wait_timeout, Future, ReturnWhen, Thread, ThreadPoolExecutor,
};

mod common;
use common::{gate, workers as pool};

#[test]
fn zero_and_huge_timeouts() {
    let (p, g) = gate();
    assert!(g.result_timeout(Duration::ZERO).unwrap_err().is_timeout());
    assert!(!g.wait_timeout(Duration::ZERO));
    let fs = [g.clone()];
    assert_eq!(
        wait_timeout(&fs, Duration::ZERO, ReturnWhen::AllCompleted)
            .not_done
            .len(),
        1
    );
    let mut it = as_completed_timeout(&fs, Duration::ZERO);
    assert!(it.next().unwrap().unwrap_err().is_timeout());
    let waiter = std::thread::spawn(move || g.result_timeout(Duration::MAX));
    p.set_result(()).unwrap();
    waiter.join().unwrap().unwrap();
    let w = wait_timeout(&fs, Duration::MAX, ReturnWhen::AllCompleted);
    assert_eq!(w.done.len(), 1);
}

#[test]
fn callback_calls_result_and_submit_on_the_same_pool() {
    let pool = Arc::new(pool(2));
    let (tx, rx) = mpsc::channel();
    let f = pool.submit(|| 5);
    let p = pool.clone();
    f.add_done_callback(move |f| {
        let v = f.result().unwrap();
        let g = p.submit(move || v * 2);
        tx.send(g.result().unwrap()).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), 10);
}

#[test]
fn dropping_the_executor_runs_pending_work() {
    let done = Arc::new(AtomicUsize::new(0));
    let (p, g) = gate();
    let futures: Vec<_> = {
        let pool = pool(1);
        let first = pool.submit(move || g.wait());
        let rest: Vec<_> = (0..10)
            .map(|_| {
                let d = done.clone();
                pool.submit(move || d.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        p.set_result(()).unwrap();
        first.result().unwrap();
        rest
        // pool dropped here: shutdown(wait = true)
    };
    assert_eq!(done.load(Ordering::SeqCst), 10);
    assert!(futures.iter().all(Future::done));
}

#[test]
fn submit_from_inside_a_task() {
    let pool = Arc::new(pool(2));
    let p = pool.clone();
    let outer = pool.submit(move || p.submit(|| 21).result().unwrap() * 2);
    assert_eq!(outer.result().unwrap(), 42);
}

#[test]
fn waiting_on_its_own_future_is_an_error() {
    let pool = pool(1);
    let (tx, rx) = mpsc::channel::<Future<bool>>();
    let f = pool.submit(move || {
        let me = rx.recv().unwrap();
        me.result().unwrap_err().is_invalid_state()
    });
    tx.send(f.clone()).unwrap();
    assert!(f.result().unwrap());
}

#[test]
fn submit_after_shutdown_is_an_error_on_the_future() {
    let pool = pool(2);
    pool.shutdown(true, false);
    pool.shutdown(true, false); // idempotent
    let f = pool.submit(|| 1);
    assert!(f.result().unwrap_err().is_shutdown());
}

#[test]
fn failing_initializer_breaks_the_pool_with_its_cause() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    let first = pool.submit(|| 1);
    let err = first.result().unwrap_err();
    assert!(err.is_broken_pool(), "{err:?}");
    assert!(err.to_string().contains("no database"), "{err}");
    let later = pool.submit(|| 2);
    assert!(later.result().unwrap_err().is_broken_pool());
}

/// The same with standard error gone (a pipe nobody reads): the worker's report of the
/// failure must not kill it before it breaks the pool, or every future would hang. Runs in a
/// child (this test binary again), whose stderr it breaks itself.
#[test]
fn failing_initializer_breaks_the_pool_with_stderr_gone() {
    const CHILD: &str = "CONCURRA_TEST_STDERR_GONE";
    if std::env::var_os(CHILD).is_some() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        drop(read);
        rustix::stdio::dup2_stderr(&write).unwrap();
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .initializer(|| panic!("no database"))
            .build()
            .unwrap();
        let err = pool
            .submit(|| 1)
            .result_timeout(Duration::from_secs(20))
            .unwrap_err();
        println!("child: {}", err.is_broken_pool());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failing_initializer_breaks_the_pool_with_stderr_gone",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("child: true"), "{stdout}");
}

#[test]
fn cancel_futures_completes_waiters_at_once() {
    // CPython gh-87893: wait() never sees futures cancelled by shutdown(cancel_futures=True).
    let pool = pool(1);
    let (p, g) = gate();
    let (started_tx, started_rx) = mpsc::channel();
    let running = pool.submit(move || {
        started_tx.send(()).unwrap();
        g.wait();
    });
    started_rx.recv().unwrap();
    let queued: Vec<_> = (0..5).map(|i| pool.submit(move || i)).collect();
    let watched = queued.clone();
    let watcher = std::thread::spawn(move || wait(&watched, ReturnWhen::AllCompleted));
    pool.shutdown(false, true);
    let w = watcher.join().unwrap();
    assert_eq!(w.done.len(), 5);
    assert!(queued.iter().all(Future::cancelled));
    p.set_result(()).unwrap();
    running.result().unwrap();
}

#[test]
fn map_failure_and_timeout() {
    let pool = pool(2);
    let out: Vec<_> = pool
        .map(|x: i32| if x == 2 { panic!("two") } else { x }, 0..5)
        .collect();
    assert_eq!(out.len(), 3, "the failing item ends the iteration");
    assert!(out[2].as_ref().unwrap_err().is_panic());

    let (p, g) = gate();
    let g = Arc::new(Mutex::new(Some(g)));
    let mut it = pool.map_timeout(
        move |x: i32| {
            if x == 0 {
                let g = g.lock().unwrap().take().unwrap();
                g.wait();
            }
            x
        },
        0..3,
        Duration::from_millis(20),
    );
    assert!(it.next().unwrap().unwrap_err().is_timeout());
    assert!(it.next().is_none());
    p.set_result(()).unwrap();
}

#[test]
fn thread_start_join_and_self_join() {
    let (tx, rx) = mpsc::channel::<Arc<Thread<bool>>>();
    let t = Arc::new(
        Thread::builder()
            .name("self-joiner")
            .start(move || {
                let me = rx.recv().unwrap();
                assert_eq!(std::thread::current().name(), Some("self-joiner"));
                me.join().unwrap_err().is_invalid_state()
            })
            .unwrap(),
    );
    assert!(t.native_id().is_some() || !cfg!(target_os = "linux"));
    tx.send(t.clone()).unwrap();
    t.join().unwrap();
    assert!(!t.is_alive());
    assert!(t.result().unwrap());
    assert_eq!(t.name(), "self-joiner");
}

#[test]
fn thread_join_timeout_reports_whether_it_finished() {
    let (p, g) = gate();
    let t = Thread::builder().start(move || g.wait()).unwrap();
    assert!(!t.join_timeout(Duration::from_millis(10)).unwrap());
    assert!(t.is_alive());
    p.set_result(()).unwrap();
    assert!(t.join_timeout(Duration::MAX).unwrap());
    assert!(!t.is_alive());
}

#[test]
fn thread_panic_is_on_its_future() {
    let t = Thread::builder()
        .start(|| -> u8 { panic!("thread boom") })
        .unwrap();
    t.join().unwrap();
    assert_eq!(t.result().unwrap_err().panic_message(), Some("thread boom"));
}

#[test]
fn cancel_callbacks_may_use_the_pool_during_shutdown() {
    let pool = Arc::new(pool(1));
    let (p, g) = gate();
    let (started_tx, started_rx) = mpsc::channel();
    let running = pool.submit(move || {
        started_tx.send(()).unwrap();
        g.wait();
    });
    started_rx.recv().unwrap();
    let queued = pool.submit(|| 1);
    let (tx, rx) = mpsc::channel();
    let p2 = pool.clone();
    queued.add_done_callback(move |f| {
        // Runs inside shutdown: submitting and printing the pool must not deadlock.
        let refused = p2.submit(|| 2);
        tx.send((
            f.cancelled(),
            refused.result().unwrap_err().is_shutdown(),
            format!("{p2:?}"),
        ))
        .unwrap();
    });
    pool.shutdown(false, true);
    let (cancelled, refused, debug) = rx.recv().unwrap();
    assert!(cancelled && refused);
    assert!(debug.contains("shutdown: true"));
    p.set_result(()).unwrap();
    running.result().unwrap();
}

#[test]
fn shutdown_from_a_task_then_from_main_still_waits() {
    let pool = Arc::new(pool(1));
    let p = pool.clone();
    let (p_gate, g) = gate();
    let first = pool.submit(move || {
        g.wait();
        p.shutdown(true, false); // from its own worker: must not join itself
    });
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let second = pool.submit(move || d.fetch_add(1, Ordering::SeqCst));
    p_gate.set_result(()).unwrap();
    first.result().unwrap();
    pool.shutdown(true, false);
    assert!(
        second.done(),
        "shutdown(wait) returned before the queued work ran"
    );
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[test]
fn a_promise_started_by_hand_can_be_waited_on_by_its_starter() {
    let (promise, f) = future::pair::<u8>();
    assert!(promise.set_running_or_notify_cancel());
    let producer = std::thread::spawn(move || promise.set_result(3).unwrap());
    assert_eq!(f.result().unwrap(), 3);
    producer.join().unwrap();
}

#[test]
fn thread_is_running_once_started_and_cannot_be_cancelled() {
    let (p, g) = gate();
    let t = Thread::builder().start(move || g.wait()).unwrap();
    assert!(!t.future().cancel());
    p.set_result(()).unwrap();
    t.join().unwrap();
    t.result().unwrap();
}
