//! Fixtures for the network tests: the descriptor-leak check, a bounded loop, unique socket
//! paths.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use concurra::aio;

/// How long any one network test may run before it fails (every loop is bounded).
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

static SERIAL: Mutex<()> = Mutex::new(());

/// The process's open descriptors, counted in `/proc/self/fd`.
pub(crate) fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Serialises the tests of a file (so descriptor counts are not disturbed by a neighbour)
/// and checks, when dropped, that as many descriptors are open as when it was made.
pub(crate) struct NoLeaks {
    before: usize,
    _serial: MutexGuard<'static, ()>,
}

/// Starts a [`NoLeaks`] check.
pub(crate) fn no_leaks() -> NoLeaks {
    let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    NoLeaks {
        before: fd_count(),
        _serial: serial,
    }
}

impl Drop for NoLeaks {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(fd_count(), self.before, "descriptors leaked by the test");
        }
    }
}

/// Runs `main` on a new loop, failing the test if it takes longer than [`LIMIT`]; checks
/// for leaked descriptors around it.
pub(crate) fn run<F: Future + 'static>(main: F) -> F::Output {
    let _check = no_leaks();
    aio::run(async move {
        aio::wait_for(main, LIMIT)
            .await
            .expect("the test ran out of time")
    })
}

/// A fresh path for a Unix socket, removed when dropped.
pub(crate) struct SockPath(pub(crate) PathBuf);

impl SockPath {
    pub(crate) fn new() -> SockPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("concurra-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SockPath(path)
    }
}

impl Drop for SockPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
