//! The process engine: `Process` and `ProcessPoolExecutor`, their faults and how the pool heals.
//! Workers are this test binary started again (`worker_hook!` serves them before the harness).

use std::time::Duration;

use concurra::process::PoolBuilder;
use concurra::{Apply, Error, Executor, Process, ProcessPoolExecutor};
use serde::{Serialize, Serializer};

mod common;
use common::kill_9;
use common::socket_gate::{block_on, SocketGate};
use common::tasks::{exit_with, forever, square, whoami};

concurra::worker_hook!();

/// Panics here: the test checks the location names this file.
fn boom(message: String) -> u32 {
    panic!("{message}")
}

fn abort() {
    std::process::abort()
}

/// A pool of `n` workers. Its task timeout is a fail-safe only: a failing test whose pool
/// still runs `forever` would otherwise hang in the pool's `Drop` (Python hangs likewise).
fn pool(n: usize) -> PoolBuilder {
    ProcessPoolExecutor::builder()
        .max_workers(n)
        .task_timeout(Duration::from_secs(20))
}

/// A pool of `n` workers, all started (workers start on demand, at the first calls).
fn warm(builder: PoolBuilder, n: usize) -> ProcessPoolExecutor {
    let pool = builder.build().unwrap();
    let futures: Vec<_> = (0..n as u64)
        .map(|i| pool.submit(Apply(square, i)))
        .collect();
    for f in futures {
        f.result().unwrap();
    }
    pool
}

/// True while a process with this pid exists (or is a zombie).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn process_returns_its_value_and_exit_code_0() {
    let p = Process::start(Apply(square, 12)).unwrap();
    p.join().unwrap();
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(p.result().unwrap(), 144);
    assert_ne!(p.pid(), std::process::id());
}

#[test]
fn process_runs_in_another_process() {
    let p = Process::start(whoami).unwrap();
    assert_eq!(p.result().unwrap(), p.pid());
}

#[test]
fn process_panic_is_exit_code_1_and_panicked() {
    let p = Process::start(Apply(boom, "kaput".to_string())).unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(1));
    let e = p.result().unwrap_err();
    assert_eq!(e.panic_message(), Some("kaput"), "{e}");
    assert!(format!("{e}").contains("process_pool.rs"), "{e}");
}

#[test]
fn process_exit_inside_is_its_exit_code() {
    let p = Process::start(Apply(exit_with, 3)).unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(3));
    assert!(matches!(
        p.result().unwrap_err(),
        Error::WorkerDied { exitcode: 3, .. }
    ));
}

#[test]
fn process_kill_and_terminate_give_minus_the_signal() {
    let p = Process::start(forever).unwrap();
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert!(!p.join_timeout(Duration::from_millis(10)).unwrap());
    p.kill().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-9));
    assert!(p.result().unwrap_err().is_worker_died());
    // Signalling an exited process does nothing.
    p.kill().unwrap();
    p.terminate().unwrap();

    let p = Process::builder().name("victim").start(forever).unwrap();
    assert_eq!(p.name(), "victim");
    p.terminate().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(-15));
}

#[test]
fn pool_submit_and_map() {
    let pool = pool(2).build().unwrap();
    assert_eq!(pool.submit(Apply(square, 9)).result().unwrap(), 81);
    let got: Vec<u64> = pool
        .map(square, 0..100u64)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    let chunked: Vec<u64> = pool
        .map_chunked(square, 0..1000u64, 64)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chunked, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
    // A closure that captures nothing crosses too.
    let f = pool.submit(Apply(|(a, b): (u32, u32)| a + b, (2, 3)));
    assert_eq!(f.result().unwrap(), 5);
}

#[test]
fn a_panic_fails_only_its_future() {
    let pool = pool(2).build().unwrap();
    let bad = pool.submit(Apply(boom, "one task".to_string()));
    let good = pool.submit(Apply(square, 3));
    assert_eq!(bad.result().unwrap_err().panic_message(), Some("one task"));
    assert_eq!(good.result().unwrap(), 9);
    assert_eq!(pool.submit(Apply(square, 4)).result().unwrap(), 16);
}

#[test]
fn map_chunked_fails_only_the_failing_item() {
    fn odd_panics(x: u32) -> u32 {
        assert!(x % 2 == 0, "odd {x}");
        x
    }
    let pool = pool(2).build().unwrap();
    let got: Vec<Result<u32, Error>> = pool.map_chunked(odd_panics, 0..6u32, 4).collect();
    assert_eq!(got.len(), 6);
    for (i, r) in got.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*r.as_ref().unwrap(), i as u32);
        } else {
            assert!(r.as_ref().unwrap_err().is_panic());
        }
    }
}

/// The pool serves `n` more calls correctly.
fn serves(pool: &ProcessPoolExecutor, n: u64) {
    let futures: Vec<_> = (0..n).map(|i| pool.submit(Apply(square, i))).collect();
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result().unwrap(), (i as u64) * (i as u64));
    }
}

#[test]
fn kill_9_of_a_busy_worker_fails_its_call_and_the_pool_heals() {
    let pool = warm(pool(1), 1);
    let stuck = pool.submit(forever);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 1);
    kill_9(pids[0]);
    match stuck.result().unwrap_err() {
        Error::WorkerDied { pid, exitcode } => {
            assert_eq!(pid, pids[0]);
            assert_eq!(exitcode, -9);
        }
        other => panic!("{other:?}"),
    }
    serves(&pool, 1000);
    assert_ne!(pool.worker_pids(), pids);
}

/// Writes a frame header no reader accepts (a length of 2^32 - 1) to every pipe this worker
/// writes to but its standard output and error, reopened through `/proc/self/fd`: its
/// replies pipe and its direct line. Then waits to be killed.
fn garbage() -> u32 {
    use std::io::Write;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let name = entry.unwrap().file_name();
        let Some(fd) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
        let write_only = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & 3 == 1);
        if fd > 2 && write_only && target.to_string_lossy().starts_with("pipe:") {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{fd}"))
                .unwrap();
            pipe.write_all(&[0xff; 18]).unwrap();
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_worker_that_writes_garbage_to_its_reply_pipe_is_killed_and_its_call_fails_with_decode() {
    let pool = warm(pool(1), 1);
    let pids = pool.worker_pids();
    let error = pool.submit(garbage).result().unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("worker {}", pids[0])) && message.contains("frame length"),
        "{message}"
    );
    // Killed and reaped before its call failed, not left sleeping.
    assert!(!exists(pids[0]), "worker {} still exists", pids[0]);
    serves(&pool, 100);
    assert_ne!(pool.worker_pids(), pids);
}

#[test]
fn kill_9_of_an_idle_worker_fails_nothing() {
    let pool = pool(1).build().unwrap();
    assert_eq!(pool.submit(Apply(square, 2)).result().unwrap(), 4);
    let pids = pool.worker_pids();
    kill_9(pids[0]);
    // The kill is asynchronous: a call sent in the instant before the worker dies is lost
    // with it (it was sent to a live worker). Wait until the pool has seen the death.
    let seen = std::time::Instant::now();
    while pool.worker_pids() == pids {
        assert!(
            seen.elapsed() < Duration::from_secs(10),
            "the death went unseen"
        );
        std::thread::yield_now();
    }
    serves(&pool, 1000);
}

#[test]
fn exit_abort_and_segfault_inside_a_task_fail_only_that_task() {
    let pool = pool(2).build().unwrap();
    let exit = pool.submit(Apply(exit_with, 3));
    assert!(matches!(
        exit.result().unwrap_err(),
        Error::WorkerDied { exitcode: 3, .. }
    ));
    let aborted = pool.submit(abort);
    assert!(matches!(
        aborted.result().unwrap_err(),
        Error::WorkerDied { exitcode: -6, .. }
    ));
    let crashed = pool.submit(segfault);
    let e = crashed.result().unwrap_err();
    assert!(
        matches!(e, Error::WorkerDied { exitcode: -11, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("SIGSEGV"), "{e}");
    serves(&pool, 1000);
}

/// A crash: the signal a bad memory access raises, without the undefined behaviour.
fn segfault() {
    use rustix::process::{getpid, kill_process, Signal};
    kill_process(getpid(), Signal::SEGV).unwrap();
    unreachable!("SIGSEGV ends the process");
}

#[test]
fn calls_waiting_behind_a_dying_call_are_sent_again() {
    // One worker, a window of 2: the second call waits in the dying worker's channel.
    let pool = pool(1).window(2).build().unwrap();
    let dies = pool.submit(Apply(exit_with, 7));
    let next: Vec<_> = (0..10u64).map(|i| pool.submit(Apply(square, i))).collect();
    assert!(dies.result().unwrap_err().is_worker_died());
    for (i, f) in next.iter().enumerate() {
        assert_eq!(f.result().unwrap(), (i * i) as u64);
    }
}

#[test]
fn an_endless_task_is_stopped_by_its_timeout() {
    let pool = pool(1)
        .task_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let stuck = pool.submit(forever);
    let e = stuck.result().unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    serves(&pool, 100);
}

#[test]
fn a_call_with_its_own_timeout_is_stopped_by_it_and_the_others_are_not() {
    // The pool's own limit (20 s) is only a fail-safe here.
    let pool = pool(2).build().unwrap();
    let limit = Duration::from_millis(100);
    let stuck = pool.submit_timeout(forever, limit);
    let fine = pool.submit_timeout(Apply(square, 9), Duration::from_secs(30));
    assert_eq!(fine.result().unwrap(), 81);
    match stuck.result().unwrap_err() {
        Error::Timeout { after, .. } => assert_eq!(after, limit),
        other => panic!("{other:?}"),
    }
    serves(&pool, 1000);
}

#[test]
fn stop_kills_a_running_call_and_cancel_keeps_python_meaning() {
    let pool = warm(pool(1).window(1), 1);
    let running = pool.submit(forever);
    let queued = pool.submit(Apply(square, 5));
    // `cancel` cannot touch a call that is running (Python's meaning)...
    assert!(!running.cancel());
    // ...but a queued one is cancelled.
    assert!(queued.cancel());
    assert!(pool.stop(&running));
    assert!(running.result().unwrap_err().is_terminated());
    assert!(queued.result().unwrap_err().is_cancelled());
    serves(&pool, 100);
}

#[test]
fn stop_of_a_call_waiting_in_the_window() {
    let pool = warm(pool(1).window(2), 1);
    let running = pool.submit(forever);
    let waiting = pool.submit(Apply(square, 5));
    assert!(pool.stop(&waiting));
    assert!(waiting.result().unwrap_err().is_terminated());
    assert!(pool.stop(&running));
    assert!(running.result().unwrap_err().is_terminated());
    serves(&pool, 100);
}

#[test]
fn max_tasks_per_child_replaces_the_worker() {
    let pool = pool(1).max_tasks_per_child(2).build().unwrap();
    let pids: Vec<u32> = (0..4)
        .map(|_| pool.submit(whoami).result().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[1], pids[2]);
}

fn init_panics() {
    panic!("no init for you")
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    // With two workers starting at once, the first failure breaks the pool: no endless
    // restarts while the other is on its way.
    for workers in [1, 2] {
        let pool = pool(workers).initializer(init_panics).build().unwrap();
        let calls: Vec<_> = (0..4).map(|i| pool.submit(Apply(square, i))).collect();
        for call in calls {
            let e = call.result().unwrap_err();
            assert!(e.is_broken_pool(), "{e:?}");
            assert!(format!("{e}").contains("no init for you"), "{e}");
        }
        assert!(pool
            .submit(Apply(square, 2))
            .result()
            .unwrap_err()
            .is_broken_pool());
    }
}

fn init_returns(x: u64) -> u64 {
    x + 1
}

#[test]
fn an_initializer_that_returns_a_value_is_a_success() {
    let pool = pool(2).initializer(Apply(init_returns, 1)).build().unwrap();
    let squares: Vec<u64> = pool
        .map(square, 0..10)
        .collect::<concurra::Result<_>>()
        .unwrap();
    assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<_>>());
}

#[derive(Debug, Clone)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to cross"))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this value refuses to arrive"))
    }
}

fn takes(_: Unencodable) -> u32 {
    1
}

fn gives() -> Unencodable {
    Unencodable
}

#[test]
fn values_that_cannot_cross_fail_their_future_only() {
    let pool = pool(1).build().unwrap();
    let e = pool.submit(Apply(takes, Unencodable)).result().unwrap_err();
    assert!(matches!(e, Error::Encode(_)), "{e:?}");
    assert!(
        format!("{e}").contains("the argument of process_pool::takes"),
        "{e}"
    );
    let e = pool.submit(gives).result().unwrap_err();
    assert!(matches!(e, Error::Encode(_)), "{e:?}");
    assert_eq!(pool.submit(Apply(square, 3)).result().unwrap(), 9);
}

#[test]
fn shutdown_during_a_storm_of_submits_resolves_every_future() {
    let pool = std::sync::Arc::new(pool(2).build().unwrap());
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let storms: Vec<_> = (0..2)
        .map(|_| {
            let pool = std::sync::Arc::clone(&pool);
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..500u64)
                    .map(|i| pool.submit(Apply(square, i)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    barrier.wait();
    pool.shutdown(false, true);
    for storm in storms {
        for (i, f) in storm.join().unwrap().into_iter().enumerate() {
            match f.result() {
                Ok(v) => assert_eq!(v, (i * i) as u64),
                Err(e) => assert!(e.is_shutdown() || e.is_cancelled(), "{e:?}"),
            }
        }
    }
    pool.shutdown(true, false);
    assert!(pool.worker_pids().is_empty());
}

#[test]
fn no_worker_outlives_its_pool() {
    let pool = pool(2).build().unwrap();
    serves(&pool, 10);
    let pids = pool.worker_pids();
    assert!(!pids.is_empty());
    drop(pool);
    for pid in pids {
        assert!(!exists(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn submit_after_shutdown_fails() {
    let pool = pool(1).build().unwrap();
    pool.shutdown(true, false);
    assert!(pool
        .submit(Apply(square, 1))
        .result()
        .unwrap_err()
        .is_shutdown());
}

/// Blocks on the gate at `path`, then returns 1.
fn gated(path: String) -> u32 {
    block_on(&path);
    1
}

#[test]
fn terminate_workers_fails_the_calls_in_windows_and_runs_none_of_them_later() {
    // One worker, a window of 2: the second call waits in its channel behind the first.
    let pool = pool(1).window(2).build().unwrap();
    let (first_gate, second_gate) = (SocketGate::new(), SocketGate::new());
    let running = pool.submit(Apply(gated, first_gate.path()));
    let waiting = pool.submit(Apply(gated, second_gate.path()));
    let queued = pool.submit(Apply(square, 3));
    let _arrived = first_gate.arrived();
    pool.terminate_workers();
    assert!(running.result().unwrap_err().is_terminated());
    assert!(waiting.result().unwrap_err().is_terminated());
    assert!(queued.result().unwrap_err().is_cancelled());
    // Drained: no worker is left, so none can run the waiting call now.
    pool.shutdown(true, false);
    assert!(
        second_gate.try_arrived().is_none(),
        "a call of a terminated pool ran"
    );
    assert!(pool.worker_pids().is_empty());
}

/// An initializer that fails once `flag` exists.
fn init_unless(flag: String) {
    assert!(!std::path::Path::new(&flag).exists(), "flag {flag} is set");
}

#[test]
fn calls_handed_back_to_a_pool_that_broke_fail_instead_of_hanging() {
    let flag = std::env::temp_dir().join(format!("concurra-flag-{}", std::process::id()));
    let _ = std::fs::remove_file(&flag);
    let init = Apply(init_unless, flag.to_str().unwrap().to_owned());
    let pool = pool(2).window(2).initializer(init).build().unwrap();
    // Two workers, each running a gated call...
    let gate = SocketGate::new();
    let held: Vec<_> = (0..2)
        .map(|_| pool.submit(Apply(gated, gate.path())))
        .collect();
    let _arrived = [gate.arrived(), gate.arrived()];
    // ...and one call waiting behind the first worker's (the first with room gets it).
    let behind = pool.submit(Apply(square, 4));
    let pids = pool.worker_pids();
    let (a, b) = (pids[0], pids[1]);
    // From now on a new worker's initializer fails. B dies; a new call finds no room, so a
    // replacement is started for it, and its initializer breaks the pool.
    std::fs::write(&flag, b"").unwrap();
    kill_9(b);
    let done = concurra::wait(&held, concurra::ReturnWhen::FirstCompleted).done;
    assert!(done[0].result().unwrap_err().is_worker_died());
    let queued = pool.submit(Apply(square, 5));
    // A dies too, before or after the break: the call behind its running one comes back to a
    // pool that cannot start a worker. Both calls fail; neither waits forever.
    kill_9(a);
    for f in [behind, queued] {
        let e = f.result().unwrap_err();
        assert!(
            e.is_broken_pool() && e.to_string().contains("is set"),
            "{e}"
        );
    }
    assert!(pool
        .submit(Apply(square, 6))
        .result()
        .unwrap_err()
        .is_broken_pool());
    let _ = std::fs::remove_file(&flag);
}

/// An initializer that never returns (it waits on a gate nobody opens).
fn init_hangs(path: String) {
    block_on(&path);
}

#[test]
fn an_initializer_that_hangs_is_stopped_by_the_task_timeout() {
    let gate = SocketGate::new();
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(Duration::from_millis(200))
        .initializer(Apply(init_hangs, gate.path()))
        .build()
        .unwrap();
    let call = pool.submit(Apply(square, 2));
    let _arrived = gate.arrived(); // the initializer runs, and hangs
    let e = call.result().unwrap_err();
    assert!(
        e.is_broken_pool() && e.to_string().contains("in time"),
        "{e}"
    );
    pool.shutdown(true, false); // returns: nothing hangs
}

#[test]
fn a_timed_call_that_starts_after_an_untimed_one_is_still_stopped() {
    // No pool limit: the supervisor sleeps with no deadline while the untimed call runs; the
    // timed call waits behind it (a window of 2), then starts when it replies.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .window(2)
        .build()
        .unwrap();
    let gate = SocketGate::new();
    let first = pool.submit(Apply(gated, gate.path()));
    let arrived = gate.arrived();
    let stuck = pool.submit_timeout(forever, Duration::from_millis(100));
    arrived.open();
    assert_eq!(first.result().unwrap(), 1);
    assert!(stuck.result().unwrap_err().is_timeout());
    // An idle pool with a limit, then an untimed submit: stopped too.
    let limited = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(limited.submit(Apply(square, 3)).result().unwrap(), 9);
    assert!(limited.submit(forever).result().unwrap_err().is_timeout());
}

#[test]
fn a_limit_too_long_to_count_is_no_limit() {
    let pool = pool(1).build().unwrap();
    let f = pool.submit_timeout(Apply(square, 5), Duration::MAX);
    assert_eq!(f.result().unwrap(), 25);
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .task_timeout(Duration::MAX)
        .initializer(Apply(init_returns, 1))
        .build()
        .unwrap();
    assert_eq!(pool.submit(Apply(square, 6)).result().unwrap(), 36);
}

/// Calls sent to a worker that died before reading them never ran: they run on its
/// replacement and none fails (Python's pool hangs here; a pool that fails them loses work).
#[test]
fn calls_a_dead_worker_never_read_run_elsewhere() {
    let pool = warm(pool(1), 1);
    let dead = pool.worker_pids()[0];
    kill_9(dead);
    // Sent at once: into the dead worker's pipe before the pool notices, or to its
    // replacement after; either way not run yet.
    let results: Vec<_> = (0..50u64).map(|i| pool.submit(Apply(square, i))).collect();
    for (i, r) in (0u64..).zip(&results) {
        assert_eq!(r.result().unwrap(), i * i, "call {i}");
    }
    assert!(!pool.worker_pids().contains(&dead));
}
