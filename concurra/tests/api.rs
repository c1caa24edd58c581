//! The one public API, engine by engine: values read without `Clone` (and without `Sync`),
//! the same constructors and builders, `Fallible` everywhere, `Thread` and `Process` alike,
//! the object-safe executor, and the closure types inferred with no trait import.

use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

use concurra::pool::{Callbacks, ProcessPool, ThreadPool};
use concurra::process::RemoteError;
use concurra::{
    wait, Apply, DynExecutor, Error, Fallible, Process, ProcessPoolExecutor, ReturnWhen, Thread,
    ThreadPoolExecutor,
};
use serde::{Deserialize, Serialize};

concurra::worker_hook!();

/// Neither `Clone` nor `Sync` (a `Cell`), `Send`, and a serde type, so it can come back from
/// every engine.
#[derive(Debug, Serialize, Deserialize)]
struct Unique {
    value: Cell<u64>,
}

fn unique(x: u64) -> Unique {
    Unique {
        value: Cell::new(x),
    }
}

fn unique_seven() -> Unique {
    unique(7)
}

fn parse(text: String) -> Result<u64, std::num::ParseIntError> {
    text.parse()
}

fn refuse() -> Result<u64, String> {
    Err("no, thanks".to_string())
}

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn a_thread_pool_gives_values_that_are_neither_clone_nor_sync() {
    let exe = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let f = exe.submit(|| unique(1));
    let value = f.try_into_result().ok().unwrap().unwrap();
    assert_eq!(value.value.get(), 1);
    assert_eq!(exe.call(|| unique(2)).unwrap().value.get(), 2);
    let mapped: Vec<u64> = exe
        .map(unique, 0..50)
        .map(|v| v.unwrap().value.get())
        .collect();
    assert_eq!(mapped, (0..50).collect::<Vec<_>>());
    // A `Box<dyn Error>` and a file: values one does not want copied.
    let boxed = exe.call(|| -> Box<dyn std::error::Error + Send + Sync> { "mine".into() });
    assert_eq!(boxed.unwrap().to_string(), "mine");
    let file = exe.call(|| std::fs::File::open("/dev/null")).unwrap();
    assert!(file.is_ok());
}

#[test]
fn a_process_pool_gives_values_that_are_neither_clone_nor_sync() {
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    assert_eq!(exe.call(Apply(unique, 3)).unwrap().value.get(), 3);
    assert_eq!(exe.call(unique_seven).unwrap().value.get(), 7);
    let f = exe.submit(Apply(unique, 4));
    assert_eq!(f.try_into_result().ok().unwrap().unwrap().value.get(), 4);
    let mapped: Vec<u64> = exe
        .map(unique, 0..20u64)
        .map(|v| v.unwrap().value.get())
        .collect();
    assert_eq!(mapped, (0..20).collect::<Vec<_>>());
}

#[test]
fn both_pools_apply_and_get_without_clone() {
    let threads = ThreadPool::builder().processes(2).build().unwrap();
    assert_eq!(threads.apply(|| unique(5)).unwrap().value.get(), 5);
    let r = threads.apply_async(|| unique(6));
    assert_eq!(r.get().unwrap().value.get(), 6);
    let (tx, rx) = mpsc::channel();
    let r = threads.apply_async_with(
        || unique(8),
        Callbacks::new().on_success(move |v: &Unique| tx.send(v.value.get()).unwrap()),
    );
    assert_eq!(r.get().unwrap().value.get(), 8);
    assert_eq!(
        rx.recv().unwrap(),
        8,
        "the callback saw the value before it moved on"
    );

    let processes = ProcessPool::builder().processes(2).build().unwrap();
    assert_eq!(processes.apply(Apply(unique, 9)).unwrap().value.get(), 9);
    let r = processes.apply_async(Apply(unique, 10));
    assert_eq!(r.get().unwrap().value.get(), 10);
}

#[test]
fn thread_and_process_join_value_without_clone() {
    let t = Thread::start(|| unique(11)).unwrap();
    assert_eq!(t.join_value().unwrap().value.get(), 11);
    let p = Process::start(Apply(unique, 12)).unwrap();
    assert_eq!(p.join_value().unwrap().value.get(), 12);
}

#[test]
fn a_shared_value_is_cloned_and_a_unique_one_moved() {
    let exe = ThreadPoolExecutor::new();
    let f = exe.submit(|| vec![1, 2, 3]);
    let other = f.clone();
    // Another handle shares it: the consuming read gives the handle back...
    let f = f.try_into_result().unwrap_err();
    // ...and `into_result` clones it.
    assert_eq!(f.into_result().unwrap(), [1, 2, 3]);
    assert_eq!(other.try_into_result().ok().unwrap().unwrap(), [1, 2, 3]);

    // A thread whose future was shared: `join_value` clones for the last reader.
    let t = Thread::start(|| String::from("shared")).unwrap();
    let shared = t.future();
    assert_eq!(t.join_value().unwrap(), "shared");
    assert_eq!(shared.result().unwrap(), "shared");

    // An error is always given, shared or not.
    let failed = exe.submit(Fallible(|| "x".parse::<u8>()));
    let _keep = failed.clone();
    assert!(failed
        .try_into_result()
        .ok()
        .unwrap()
        .unwrap_err()
        .is_failed());
}

#[test]
fn fallible_fails_the_future_on_every_engine() {
    let exe = ThreadPoolExecutor::new();
    assert!(exe
        .call(Fallible(|| "x".parse::<u8>()))
        .unwrap_err()
        .is_failed());
    let t = Thread::start(Fallible(|| "x".parse::<u8>())).unwrap();
    assert!(t.join_value().unwrap_err().is_failed());

    let processes = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let err = processes
        .call(Fallible(Apply(parse, "nope".to_string())))
        .unwrap_err();
    assert!(err.is_failed(), "{err}");
    let remote = err.task_error::<RemoteError>().expect("a RemoteError");
    assert_eq!(remote.message(), "invalid digit found in string");
    assert!(remote.type_name().ends_with("ParseIntError"), "{remote:?}");
    assert_eq!(
        processes
            .call(Fallible(Apply(parse, "42".to_string())))
            .unwrap(),
        42
    );
    // wait(FirstException) sees a process's `Err` as a failure.
    let fs = vec![processes.submit(Fallible(refuse))];
    let waited = wait(&fs, ReturnWhen::FirstException);
    assert_eq!(waited.done.len(), 1);
    assert_eq!(
        fs[0].result().unwrap_err().to_string(),
        "the task failed: no, thanks"
    );
    let p = Process::start(Fallible(refuse)).unwrap();
    assert!(p.join_value().unwrap_err().is_failed());
}

#[test]
fn thread_and_process_share_one_api() {
    let t = Thread::builder()
        .name("t-api")
        .daemon(false)
        .start(|| 1)
        .unwrap();
    assert_eq!(t.name(), "t-api");
    assert!(!t.is_daemon());
    t.join().unwrap();
    assert!(t.join_timeout(Duration::ZERO).unwrap());
    assert!(!t.is_alive());
    assert_eq!(t.result().unwrap(), 1);

    let p = Process::builder()
        .name("p-api")
        .daemon(false)
        .start(Apply(square, 3))
        .unwrap();
    assert_eq!(p.name(), "p-api");
    assert!(!p.is_daemon());
    p.join().unwrap();
    assert!(p.join_timeout(Duration::ZERO).unwrap());
    assert!(!p.is_alive());
    assert_eq!(p.result().unwrap(), 9);
}

#[test]
fn process_close_follows_python() {
    let p = Process::start(Apply(square, 4)).unwrap();
    p.join().unwrap();
    p.close().unwrap();
    assert!(p.join().unwrap_err().is_invalid_state());
    assert!(p
        .join_timeout(Duration::ZERO)
        .unwrap_err()
        .is_invalid_state());
    assert!(p.terminate().unwrap_err().is_invalid_state());
    assert!(p.kill().unwrap_err().is_invalid_state());
    assert!(!p.is_alive());
    assert_eq!(p.join_value().unwrap(), 16, "the value outlives close");
}

#[test]
fn close_on_a_running_process_is_an_error() {
    fn park() {
        std::thread::sleep(Duration::from_secs(60));
    }
    let p = Process::start(park).unwrap();
    assert!(p.close().unwrap_err().is_invalid_state());
    p.kill().unwrap();
    p.join().unwrap();
    p.close().unwrap();
}

#[test]
fn every_engine_has_an_infallible_new_and_a_builder() {
    let _ = ThreadPoolExecutor::new();
    let _ = ProcessPoolExecutor::new();
    let _ = ThreadPool::new();
    let _ = ProcessPool::new();
    assert!(ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err()
        .is_invalid_argument());
    assert!(ProcessPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err()
        .is_invalid_argument());
    assert!(ThreadPool::builder()
        .processes(0)
        .build()
        .unwrap_err()
        .is_invalid_argument());
    assert!(ProcessPool::builder()
        .max_tasks_per_child(0)
        .build()
        .unwrap_err()
        .is_invalid_argument());
    let pool = ThreadPool::builder()
        .processes(3)
        .initializer(|| {})
        .build()
        .unwrap();
    assert_eq!(pool.processes(), 3);
}

#[test]
fn closure_types_infer_with_no_trait_import() {
    let exe = ThreadPoolExecutor::new();
    assert_eq!(exe.submit(|| 3).result().unwrap(), 3);
    let doubled: Vec<i32> = exe.map(|x| x * 2, 1..=4).map(Result::unwrap).collect();
    assert_eq!(doubled, [2, 4, 6, 8]);
    let pool = ThreadPool::new();
    assert_eq!(
        pool.map(|x| x * x, 0..10).unwrap(),
        [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    );
    let it = pool.imap(|x| x + 1, 0..3).unwrap();
    assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3]);
    exe.shutdown(true, false);
}

#[test]
fn an_executor_chosen_at_run_time() {
    let engines: Vec<Box<dyn DynExecutor>> = vec![
        Box::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        ),
        Box::new(
            ProcessPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        ),
    ];
    for exe in &engines {
        assert_eq!(exe.submit(Apply(square, 5)).result().unwrap(), 25);
        assert_eq!(exe.call(Apply(unique, 6)).unwrap().value.get(), 6);
        let err = exe.call(Fallible(refuse)).unwrap_err();
        assert!(err.is_failed(), "{exe:?}: {err}");
        assert!(exe.max_workers() == 1);
    }
    for exe in &engines {
        exe.shutdown(true, false);
        assert!(exe
            .submit(Apply(square, 1))
            .result()
            .unwrap_err()
            .is_shutdown());
    }
}

static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn counted(x: u64) -> u64 {
    RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    x
}

#[test]
fn a_cancelled_dyn_future_cancels_its_queued_call() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let exe: &dyn DynExecutor = &pool;
    // The pool's one thread is held on a gate; the next call stays queued behind it.
    let (open, gate) = concurra::future::pair::<()>();
    let (started_tx, started) = mpsc::channel();
    let blocker = pool.submit(move || {
        started_tx.send(()).unwrap();
        gate.wait();
    });
    started.recv().unwrap();
    let queued = exe.submit(Apply(counted, 1));
    assert!(queued.cancel());
    assert!(queued.result().unwrap_err().is_cancelled());
    open.set_result(()).unwrap();
    blocker.wait();
    // The single worker runs in order: had the cancelled call run, it would have run first.
    assert_eq!(exe.call(Apply(counted, 2)).unwrap(), 2);
    assert_eq!(RUNS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn successful_is_none_until_ready() {
    let pool = ThreadPool::builder().processes(1).build().unwrap();
    let (open, gate) = concurra::future::pair::<()>();
    let r = pool.apply_async(move || gate.wait());
    assert_eq!(r.successful(), None);
    open.set_result(()).unwrap();
    r.wait();
    assert_eq!(r.successful(), Some(true));
    assert!(matches!(r.get(), Ok(())));
}

#[test]
fn errors_say_what_kind_they_are() {
    type Is = fn(&Error) -> bool;
    let kinds: Vec<(Error, Is)> = vec![
        (
            Error::InvalidArgument("x".into()),
            Error::is_invalid_argument,
        ),
        (Error::InvalidState("x".into()), Error::is_invalid_state),
        (Error::BrokenBarrier, Error::is_broken_barrier),
        (Error::WorkerStart("x".into()), Error::is_worker_start),
        (Error::Encode("x".into()), Error::is_encode),
        (Error::Decode("x".into()), Error::is_decode),
        (Error::Cancelled, Error::is_cancelled),
        (Error::Shutdown, Error::is_shutdown),
        (Error::Terminated, Error::is_terminated),
        (Error::Abandoned, Error::is_abandoned),
    ];
    for (i, (error, is)) in kinds.iter().enumerate() {
        assert!(is(error), "{error:?}");
        for (j, (other, _)) in kinds.iter().enumerate() {
            assert_eq!(is(other), i == j, "{other:?} is not {error:?}");
        }
    }
}

/// An input that is not fused: after its end it starts again. The iterators must not read it
/// past its end.
struct Restarting {
    at: u64,
    end: u64,
}

impl Iterator for Restarting {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.at == self.end {
            self.at = 0;
            return None;
        }
        self.at += 1;
        Some(self.at)
    }
}

#[test]
fn iterators_are_fused_and_have_a_stream_form() {
    use futures::StreamExt;
    let exe = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let mut map = exe.map(square, Restarting { at: 0, end: 3 });
    assert_eq!(
        map.by_ref().map(Result::unwrap).collect::<Vec<_>>(),
        [1, 4, 9]
    );
    assert!(map.next().is_none(), "fused");
    let streamed: Vec<u64> = futures::executor::block_on(
        exe.map(square, 0..20u64)
            .into_stream()
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(streamed, (0..20u64).map(square).collect::<Vec<_>>());

    let pool = ThreadPool::builder().processes(2).build().unwrap();
    let mut imap = pool.imap(square, Restarting { at: 0, end: 3 }).unwrap();
    assert_eq!(
        imap.by_ref().map(Result::unwrap).collect::<Vec<_>>(),
        [1, 4, 9]
    );
    assert!(imap.next().is_none(), "fused");
    let ordered: Vec<u64> = futures::executor::block_on(
        pool.imap_chunked(square, 0..30u64, 4)
            .unwrap()
            .into_stream()
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(ordered, (0..30u64).map(square).collect::<Vec<_>>());
    let mut any: Vec<u64> = futures::executor::block_on(
        pool.imap_unordered(square, 0..30u64)
            .unwrap()
            .into_stream()
            .map(Result::unwrap)
            .collect(),
    );
    any.sort_unstable();
    assert_eq!(any, (0..30u64).map(square).collect::<Vec<_>>());
    let mut unordered = pool
        .imap_unordered(square, Restarting { at: 0, end: 3 })
        .unwrap();
    let mut got: Vec<u64> = unordered.by_ref().map(Result::unwrap).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 4, 9]);
    assert!(unordered.next().is_none(), "fused");

    let processes = ProcessPool::builder().processes(2).build().unwrap();
    let streamed: Vec<u64> = futures::executor::block_on(
        processes
            .imap_chunked(square, 0..10u64, 3)
            .unwrap()
            .into_stream()
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(streamed, (0..10u64).map(square).collect::<Vec<_>>());
}

#[test]
fn a_map_stream_times_out_when_polled_past_its_deadline() {
    use futures::StreamExt;
    let exe = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (open, gate) = concurra::future::pair::<()>();
    let gate = std::sync::Arc::new(gate);
    let g = gate.clone();
    let mut stream = exe
        .map_timeout(
            move |x: u64| {
                g.wait();
                x
            },
            0..3u64,
            Duration::ZERO,
        )
        .into_stream();
    let first = futures::executor::block_on(stream.next()).unwrap();
    assert!(first.unwrap_err().is_timeout());
    assert!(futures::executor::block_on(stream.next()).is_none());
    open.set_result(()).unwrap();
}

/// `use concurra::*; use concurra::aio::*;` together: one `Task` (asyncio's), and the names
/// both export are not used unqualified.
mod both_globs {
    #[allow(unused_imports)]
    use concurra::aio::*;
    #[allow(unused_imports)]
    use concurra::*;

    #[test]
    fn compile_and_mean_one_thing() {
        let exe = ThreadPoolExecutor::new();
        let value: Result<u8> = run(async {
            let task: Task<u8> = create_task(async { 7 });
            task.await
        });
        assert_eq!(value.unwrap(), 7);
        assert_eq!(exe.call(|| 1).unwrap(), 1);
        fn accepts<W: Work<ThreadPoolExecutor>>(_: W) {}
        accepts(|| 2);
    }
}

#[test]
fn a_take_inside_a_done_callback_gives_the_handle_back() {
    let exe = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let (open, gate) = concurra::future::pair::<()>();
    let f = exe.submit(move || {
        gate.wait();
        5u32
    });
    f.add_done_callback(move |f| {
        // This thread holds the callback's reference: the take must not wait for it.
        let back = f.clone().try_into_result();
        tx.send(back.map(Result::unwrap).map_err(|f| f.result().unwrap()))
            .unwrap();
    });
    drop(f);
    open.set_result(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), Err(5));
}

#[test]
fn a_result_callback_may_use_the_pool() {
    // The worker that relays a result is not idle until its callbacks ran: a callback that
    // applies more work gets a second thread.
    let pool = std::sync::Arc::new(ThreadPool::builder().processes(2).build().unwrap());
    let (open, gate) = concurra::future::pair::<()>();
    let r = pool.apply_async(move || gate.wait());
    let weak = std::sync::Arc::downgrade(&pool);
    let (tx, rx) = mpsc::channel();
    r.future().add_done_callback(move |_| {
        let pool = weak.upgrade().expect("the test holds the pool");
        let value = pool.apply(|| 2).unwrap();
        drop(pool);
        tx.send(value).unwrap();
    });
    open.set_result(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), 2);
    r.wait();
}

static HOLD_STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static HOLD_RELEASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn hold(x: u64) -> u64 {
    use std::sync::atomic::Ordering::SeqCst;
    HOLD_STARTED.store(true, SeqCst);
    while !HOLD_RELEASE.load(SeqCst) {
        std::thread::yield_now();
    }
    x
}

#[test]
fn a_dyn_future_is_running_while_its_call_runs() {
    use std::sync::atomic::Ordering::SeqCst;
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let exe: &dyn DynExecutor = &pool;
    let running = exe.submit(Apply(hold, 3));
    let queued = exe.submit(Apply(square, 4));
    while !HOLD_STARTED.load(SeqCst) {
        std::thread::yield_now();
    }
    assert!(running.running());
    assert!(!running.cancel(), "a running call cannot be cancelled");
    // Dropped queued by the engine: cancelled, as every engine's queued work is.
    exe.shutdown(false, true);
    assert!(queued.cancelled());
    HOLD_RELEASE.store(true, SeqCst);
    assert_eq!(running.result().unwrap(), 3);
    assert!(exe
        .submit(Apply(square, 1))
        .result()
        .unwrap_err()
        .is_shutdown());
}

/// Neither `Clone` nor `Sync`, for the Pools' maps (values move from the workers' chunks into
/// the list, never cloned).
#[test]
fn pool_maps_give_values_that_are_neither_clone_nor_sync() {
    let threads = ThreadPool::builder().processes(2).build().unwrap();
    let got: Vec<u64> = threads
        .map(unique, 0..3000u64)
        .unwrap()
        .into_iter()
        .map(|u| u.value.get())
        .collect();
    assert_eq!(got, (0..3000).collect::<Vec<_>>());
    let got: Vec<u64> = threads
        .imap(unique, 0..50u64)
        .unwrap()
        .map(|u| u.unwrap().value.get())
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    let got = threads.map_async(unique, 0..10u64).get().unwrap();
    assert_eq!(got.len(), 10);

    let processes = ProcessPool::builder().processes(2).build().unwrap();
    let got: Vec<u64> = processes
        .map_chunked(unique, 0..3000u64, 100)
        .unwrap()
        .into_iter()
        .map(|u| u.value.get())
        .collect();
    assert_eq!(got, (0..3000).collect::<Vec<_>>());
    let mut got: Vec<u64> = processes
        .imap_unordered(unique, 0..50u64)
        .unwrap()
        .map(|u| u.unwrap().value.get())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}
