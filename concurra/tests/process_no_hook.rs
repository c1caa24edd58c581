//! A program whose `main` never calls `concurra::init()` (and that has no `worker_hook!`):
//! starting a worker fails with a clear error, at once, instead of hanging or running the
//! program again and again.
//!
//! The worker started here runs this test binary's `main` (the test harness) with no
//! arguments, so it runs this test too: there, the engine refuses to start workers of its own
//! (the marker is set), which is the other half of what this file checks.

use std::time::Duration;

use concurra::{Apply, Error, Process, ProcessPoolExecutor};

fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn a_missing_hook_is_a_clear_error_not_a_hang() {
    let started = Process::builder()
        .handshake_timeout(Duration::from_secs(30))
        .start(Apply(square, 3));
    if std::env::var_os("CONCURRA_WORKER").is_some() {
        // In the worker that runs `main`: no workers of its own.
        assert!(
            matches!(started, Err(Error::InvalidState(_))),
            "{started:?}"
        );
        return;
    }
    match started {
        Err(Error::WorkerStart(why)) => {
            assert!(why.contains("concurra::init()"), "{why}");
            assert!(why.contains("worker_hook"), "{why}");
        }
        other => panic!("expected WorkerStart, got {other:?}"),
    }
    // A pool says the same on the call's future, and stays broken rather than respawning.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let e = pool.submit(Apply(square, 3)).result().unwrap_err();
    assert!(e.is_broken_pool(), "{e:?}");
    assert!(format!("{e}").contains("concurra::init()"), "{e}");
}
