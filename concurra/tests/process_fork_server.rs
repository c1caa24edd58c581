//! The fork server: after the first, workers are forked from one server process (not from
//! this threaded test process). Its death takes its workers with it; their calls fail with
//! `WorkerDied`, and pools and `Process` go on with a new server.
//!
//! A binary of its own: the server is per process, and this test kills it.

use std::time::Duration;

use concurra::process::Process;
use concurra::{Apply, ProcessPoolExecutor};

mod common;
use common::kill_9;
use common::socket_gate::{block_on, SocketGate};
use common::tasks::square;

concurra::worker_hook!();

/// Blocks on the gate at `path`, then returns its pid.
fn gated(path: String) -> u32 {
    block_on(&path);
    std::process::id()
}

/// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit(')').next().unwrap();
    after_name
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn serves(pool: &ProcessPoolExecutor, n: u64) {
    for i in 0..n {
        assert_eq!(pool.submit(Apply(square, i)).result().unwrap(), i * i);
    }
}

#[test]
fn workers_come_from_one_server_whose_death_fails_only_their_calls() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .task_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    serves(&pool, 10);
    // Two calls running at once, on both workers, when the server dies: both fail with their
    // worker's death.
    let gate = SocketGate::new();
    let running = [
        pool.submit(Apply(gated, gate.path())),
        pool.submit(Apply(gated, gate.path())),
    ];
    let arrived = [gate.arrived(), gate.arrived()];
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    let server = parent_of(arrived[0].pid);
    assert_ne!(
        server,
        std::process::id(),
        "a forked worker's parent is the server"
    );
    assert_eq!(parent_of(arrived[1].pid), server);
    assert_eq!(parent_of(server), std::process::id());
    kill_9(server);
    for call in &running {
        let err = call.result().unwrap_err();
        assert!(err.is_worker_died(), "{err:?}");
    }
    drop(arrived);

    // The pool heals (its new workers from a new server), and so does `Process`.
    serves(&pool, 200);
    let healed = pool.worker_pids();
    assert!(
        healed.iter().all(|p| !pids.contains(p)),
        "{healed:?} after {pids:?}"
    );
    let p = Process::start(Apply(square, 9)).unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(p.result().unwrap(), 81);
    let new_server = parent_of(healed[0]);
    assert_ne!(new_server, server);
    drop(pool);
    for pid in healed {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} outlived its pool"
        );
    }
}
