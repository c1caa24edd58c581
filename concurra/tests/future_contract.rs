//! The Future contract, written once and run against every engine.
//!
//! `engine_test!` instantiates every contract case for each engine: the thread pool, `Thread`
//! and the event loop (`run_coroutine_threadsafe` onto loops on their own threads); the
//! process pool joins the list when it lands. Tasks that
//! must stay running are held on a gate (a promise the test completes), never on a sleep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use concurra::aio;
use concurra::future::{self, Promise};
use concurra::{
    as_completed, as_completed_timeout, wait, wait_timeout, Error, Fallible, Future, ReturnWhen,
    Thread, ThreadPoolExecutor,
};

mod common;
use common::{gate, SHORT};

/// Something that runs closures and hands back the one `Future`.
trait Engine {
    fn run<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static;

    fn run_fallible<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T, std::io::Error> + Send + 'static,
        T: Send + Sync + 'static;
}

struct Pool(ThreadPoolExecutor);

impl Engine for Pool {
    fn run<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.0.submit(f)
    }

    fn run_fallible<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T, std::io::Error> + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.0.submit(Fallible(f))
    }
}

/// One `Thread` per call; the handles are daemons, so dropping them detaches.
struct Threads;

impl Engine for Threads {
    fn run<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        Thread::builder().daemon(true).start(f).unwrap().into()
    }

    fn run_fallible<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T, std::io::Error> + Send + 'static,
        T: Send + Sync + 'static,
    {
        Thread::builder()
            .daemon(true)
            .start(Fallible(f))
            .unwrap()
            .into()
    }
}

/// The event loop: each closure becomes a coroutine handed with
/// `LoopHandle::run_coroutine_threadsafe` to one of a few loops, each serving on its own
/// thread (round robin). The closure's body runs on its loop's thread and a gate in it blocks
/// that loop, so there are enough loops that the cases never block them all.
struct Loops {
    loops: Vec<(
        aio::LoopHandle,
        mpsc::Sender<()>,
        Option<std::thread::JoinHandle<()>>,
    )>,
    next: AtomicUsize,
}

impl Loops {
    fn new(n: usize) -> Self {
        let loops = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel();
                let (stop, stop_rx) = mpsc::channel::<()>();
                let thread = std::thread::spawn(move || {
                    aio::run(async move {
                        tx.send(aio::get_running_loop().unwrap().handle()).unwrap();
                        // Serve until the engine is dropped.
                        let _ = aio::to_thread(move || stop_rx.recv()).await;
                    })
                });
                (rx.recv().unwrap(), stop, Some(thread))
            })
            .collect();
        Loops {
            loops,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> &aio::LoopHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        &self.loops[i].0
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        for (_, stop, thread) in &mut self.loops {
            let _ = stop.send(());
            // A failed case may leave a loop blocked: do not hang on it then.
            if !std::thread::panicking() {
                thread.take().unwrap().join().unwrap();
            }
        }
    }
}

impl Engine for Loops {
    fn run<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + Sync + 'static,
    {
        self.pick().run_coroutine_threadsafe(async move { f() })
    }

    /// A coroutine has no error channel of its own (its output is its value): the fallible
    /// closure's `Err` reaches the future through a promise the coroutine completes.
    fn run_fallible<T, F>(&self, f: F) -> Future<T>
    where
        F: FnOnce() -> Result<T, std::io::Error> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let (p, fut) = future::pair();
        let _task = self.pick().run_coroutine_threadsafe(async move {
            let _ = match f() {
                Ok(v) => p.set_result(v),
                Err(e) => p.set_error(Error::failed(e)),
            };
        });
        fut
    }
}

fn open(p: Promise<()>) {
    p.set_result(()).unwrap();
}

mod contract {
    use super::*;

    pub(super) fn value<E: Engine>(e: &E) {
        let f = e.run(|| 40 + 2);
        assert_eq!(f.result().unwrap(), 42);
        assert_eq!(*f.result_ref().unwrap(), 42);
        assert!(f.done() && !f.cancelled() && !f.running());
        assert!(f.exception().unwrap().is_none());
        // Read many times.
        assert_eq!(f.result().unwrap(), 42);
    }

    pub(super) fn panic_is_error<E: Engine>(e: &E) {
        let f = e.run(|| -> u8 { panic!("task exploded {}", 1) });
        let err = f.result().unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert_eq!(err.panic_message(), Some("task exploded 1"));
        assert!(err.to_string().contains("future_contract.rs"), "{err}");
        assert!(f.exception().unwrap().unwrap().is_panic());
        // The engine survives.
        assert_eq!(e.run(|| 1).result().unwrap(), 1);
    }

    pub(super) fn non_string_panic<E: Engine>(e: &E) {
        let f = e.run(|| -> u8 { std::panic::panic_any(7_i32) });
        let err = f.result().unwrap_err();
        assert_eq!(err.panic_message(), Some("<non-string panic payload>"));
    }

    pub(super) fn task_error<E: Engine>(e: &E) {
        let f = e.run_fallible(|| -> Result<u8, _> { Err(std::io::Error::other("bad input")) });
        let err = f.result().unwrap_err();
        assert!(err.is_failed());
        assert_eq!(
            err.task_error::<std::io::Error>().unwrap().to_string(),
            "bad input"
        );
        assert!(wait([&f], ReturnWhen::FirstException).done.len() == 1);
        let ok = e.run_fallible(|| Ok(5_u8));
        assert_eq!(ok.result().unwrap(), 5);
    }

    pub(super) fn timeout_leaves_future_usable<E: Engine>(e: &E) {
        let (p, g) = gate();
        let f = e.run(move || {
            g.wait();
            9
        });
        assert!(f.result_timeout(Duration::ZERO).unwrap_err().is_timeout());
        assert!(f.result_timeout(SHORT).unwrap_err().is_timeout());
        assert!(f
            .exception_timeout(Duration::ZERO)
            .unwrap_err()
            .is_timeout());
        assert!(!f.wait_timeout(Duration::ZERO));
        assert!(!f.done());
        open(p);
        assert_eq!(f.result_timeout(Duration::MAX).unwrap(), 9);
        assert_eq!(f.result_timeout(Duration::ZERO).unwrap(), 9);
    }

    pub(super) fn running_state_and_cancel_refused<E: Engine>(e: &E) {
        let (started_tx, started_rx) = mpsc::channel();
        let (p, g) = gate();
        let f = e.run(move || {
            started_tx.send(()).unwrap();
            g.wait();
        });
        started_rx.recv().unwrap();
        assert!(f.running());
        assert!(!f.cancel(), "a running future cannot be cancelled");
        assert!(format!("{f:?}").contains("state=running"));
        open(p);
        f.result().unwrap();
        assert!(!f.cancel());
        assert!(format!("{f:?}").contains("state=finished, returned"));
    }

    pub(super) fn callbacks_in_order_once<E: Engine>(e: &E) {
        let (p, g) = gate();
        let f = e.run(move || {
            g.wait();
            3
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let main = std::thread::current().id();
        for i in 0..3 {
            let log = log.clone();
            f.add_done_callback(move |f| {
                assert_ne!(
                    std::thread::current().id(),
                    main,
                    "runs in the completing thread"
                );
                log.lock().unwrap().push((i, f.result().unwrap()));
            });
        }
        // A panicking callback is reported; later ones still run.
        f.add_done_callback(|_| panic!("callback exploded"));
        let after = log.clone();
        f.add_done_callback(move |_| after.lock().unwrap().push((99, 0)));
        let (done_tx, done_rx) = mpsc::channel();
        f.add_done_callback(move |_| done_tx.send(()).unwrap());
        open(p);
        done_rx.recv().unwrap();
        assert_eq!(*log.lock().unwrap(), [(0, 3), (1, 3), (2, 3), (99, 0)]);
        // Added after completion: runs at once, in the caller.
        let ran_here = Arc::new(AtomicUsize::new(0));
        let r = ran_here.clone();
        f.add_done_callback(move |_| {
            assert_eq!(std::thread::current().id(), main);
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(ran_here.load(Ordering::SeqCst), 1);
    }

    pub(super) fn many_waiters<E: Engine>(e: &E) {
        let (p, g) = gate();
        let f = e.run(move || {
            g.wait();
            String::from("shared")
        });
        let n = 8;
        let barrier = Arc::new(Barrier::new(n + 1));
        let readers: Vec<_> = (0..n)
            .map(|_| {
                let f = f.clone();
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    f.result().unwrap()
                })
            })
            .collect();
        barrier.wait();
        open(p);
        for r in readers {
            assert_eq!(r.join().unwrap(), "shared");
        }
    }

    pub(super) fn await_from_foreign_executors<E: Engine>(e: &E) {
        let (p, g) = gate();
        let f = e.run(move || {
            g.wait();
            11
        });
        let f2 = f.clone();
        let opener = std::thread::spawn(move || open(p));
        assert_eq!(futures::executor::block_on(f2).unwrap(), 11);
        opener.join().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (p, g) = gate();
        let f = e.run(move || {
            g.wait();
            12
        });
        let opener = std::thread::spawn(move || open(p));
        assert_eq!(rt.block_on(f).unwrap(), 12);
        opener.join().unwrap();
        let failed = e.run(|| -> u8 { panic!("async boom") });
        assert!(rt.block_on(failed).unwrap_err().is_panic());
    }

    pub(super) fn wait_and_as_completed<E: Engine>(e: &E) {
        let (p, g) = gate();
        let done = e.run(|| 1);
        done.wait();
        let blocked = e.run(move || {
            g.wait();
            2
        });
        let failed = e.run(|| -> i32 { panic!("x") });
        failed.wait();
        let fs = [done.clone(), blocked.clone(), failed.clone(), done.clone()];
        let w = wait_timeout(&fs, Duration::ZERO, ReturnWhen::AllCompleted);
        assert_eq!(w.done.len(), 2, "duplicates collapse");
        assert_eq!(w.not_done.len(), 1);
        let w = wait(&fs, ReturnWhen::FirstException);
        assert!(w.not_done.iter().any(|f| f.ptr_eq(&blocked)));
        let w = wait(&fs, ReturnWhen::FirstCompleted);
        assert_eq!(w.done.len(), 2);
        let mut it = as_completed_timeout(&fs, SHORT);
        let first_two: Vec<_> = (&mut it).take(2).map(Result::unwrap).collect();
        assert_eq!(first_two.len(), 2);
        assert!(it.next().unwrap().unwrap_err().is_timeout());
        assert!(it.next().is_none());
        let it = as_completed(&fs);
        open(p);
        assert_eq!(it.count(), 3);
        assert!(wait(&fs, ReturnWhen::AllCompleted).not_done.is_empty());
    }

    pub(super) fn self_wait_is_an_error<E: Engine>(e: &E) {
        let (tx, rx) = mpsc::channel::<Future<u8>>();
        let f = e.run(move || {
            let me = rx.recv().unwrap();
            me.result().unwrap_err().is_invalid_state() as u8
        });
        tx.send(f.clone()).unwrap();
        assert_eq!(f.result().unwrap(), 1);
    }
}

macro_rules! engine_test {
    ($($engine:ident => $make:expr;)*) => {$(
        mod $engine {
            use super::*;
            engine_test!(@cases $make; value, panic_is_error, non_string_panic, task_error,
                timeout_leaves_future_usable, running_state_and_cancel_refused,
                callbacks_in_order_once, many_waiters, await_from_foreign_executors,
                wait_and_as_completed, self_wait_is_an_error);
        }
    )*};
    (@cases $make:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            let engine = $make;
            contract::$case(&engine);
        }
    )*};
}

engine_test! {
    thread_pool => Pool(ThreadPoolExecutor::builder().max_workers(4).build().unwrap());
    thread => Threads;
}

/// The event loop engine. Left out, because the loop's contract differs on purpose:
/// - `running_state_and_cancel_refused`: a `run_coroutine_threadsafe` future is never marked
///   running; cancelling it from any thread cancels the task while it runs (Python: cancelling
///   the `concurrent.futures.Future` cancels the task), so `cancel` is not refused.
/// - `self_wait_is_an_error`: self-wait detection belongs to engines whose worker starts the
///   promise it completes; a loop task that blocks on its own future blocks its loop for good
///   (asyncio deadlocks the same way).
mod event_loop {
    use super::*;
    engine_test!(@cases Loops::new(4); value, panic_is_error, non_string_panic, task_error,
        timeout_leaves_future_usable, callbacks_in_order_once, many_waiters,
        await_from_foreign_executors, wait_and_as_completed);
}

#[test]
fn promise_by_hand() {
    let (p, f) = future::pair::<u8>();
    assert!(format!("{f:?}").contains("state=pending"));
    assert!(p.set_running_or_notify_cancel());
    p.set_error(Error::failed("manual")).unwrap();
    assert!(f.result().unwrap_err().is_failed());

    let (p, f) = future::pair::<u8>();
    assert!(f.cancel());
    assert!(f.cancel(), "cancelling again still returns true");
    assert!(!p.set_running_or_notify_cancel());
    assert!(p.set_result(1).unwrap_err().is_invalid_state());
    assert!(f.result().unwrap_err().is_cancelled());
    assert!(f.exception().unwrap_err().is_cancelled());

    let (p, f) = future::pair::<u8>();
    drop(p);
    assert!(f.result().unwrap_err().is_abandoned());
}

#[test]
fn cancel_runs_callbacks_once_and_wakes_every_waiter() {
    let (_p, f) = future::pair::<u8>();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    f.add_done_callback(move |f| {
        assert!(f.cancelled());
        c.fetch_add(1, Ordering::SeqCst);
    });
    let barrier = Arc::new(Barrier::new(3));
    let blocked: Vec<_> = (0..2)
        .map(|_| {
            let f = f.clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                f.result().unwrap_err().is_cancelled()
            })
        })
        .collect();
    let fs = [f.clone()];
    let watcher = std::thread::spawn(move || wait(&fs, ReturnWhen::AllCompleted).done.len());
    barrier.wait();
    assert!(f.cancel());
    assert!(f.cancel());
    for b in blocked {
        assert!(b.join().unwrap());
    }
    assert_eq!(watcher.join().unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_an_awaiting_task_withdraws_its_waker() {
    let (p, f) = future::pair::<u8>();
    {
        let mut fut = f.clone();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
        assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending());
    }
    p.set_result(4).unwrap();
    assert_eq!(f.result().unwrap(), 4);
}

use std::future::Future as _;
