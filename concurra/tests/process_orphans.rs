//! No orphans: when the parent dies, its workers go too (the parent-death signal on Linux, end
//! of file on the channel everywhere), even while they run a call.
//!
//! The test starts this test binary again as an intermediate parent (the ignored
//! `parent_role` test, with `ROLE=parent`), which starts a pool whose two workers block on the
//! test's socket gate. The test learns their pids from the gate, kills the parent with SIGKILL,
//! and waits for each worker's exit on a pidfd (they are not its children). No sleeps.

#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::Duration;

use concurra::{Apply, ProcessPoolExecutor};

mod common;
use common::exits_within;
use common::socket_gate::{block_on, SocketGate};

concurra::worker_hook!();

/// Blocks on the gate at `path` (it never opens: the worker dies with its parent).
fn blocked(path: String) -> u32 {
    block_on(&path);
    0
}

/// The intermediate parent: two workers blocked on the gate, then waits to be killed.
#[test]
#[ignore = "run by workers_die_with_their_parent as its intermediate parent"]
fn parent_role() {
    if std::env::var("ROLE").as_deref() != Ok("parent") {
        return;
    }
    let path = std::env::var("GATE").unwrap();
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let calls: Vec<_> = (0..2)
        .map(|_| pool.submit(Apply(blocked, path.clone())))
        .collect();
    // Killed while waiting here.
    for call in calls {
        let _ = call.result();
    }
}

#[test]
fn workers_die_with_their_parent() {
    let gate = SocketGate::new();
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "parent_role", "--ignored", "--quiet"])
        .env("ROLE", "parent")
        .env("GATE", gate.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let workers = [gate.arrived(), gate.arrived()];
    assert_ne!(workers[0].pid, workers[1].pid);
    assert!(workers.iter().all(|w| w.pid != parent.id()));
    parent.kill().unwrap();
    parent.wait().unwrap();
    for w in &workers {
        assert!(
            exits_within(w.pid, Duration::from_secs(10)),
            "worker {} outlived its parent",
            w.pid
        );
    }
}
