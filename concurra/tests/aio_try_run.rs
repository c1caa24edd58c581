//! `aio::try_run` when the OS refuses a poller: `Error::Io` instead of a panic, and nothing
//! leaked. Alone in its binary: it lowers this process's open-file limit for a moment, which
//! would fail any test running beside it.

use std::fs;

use concurra::aio;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_refused_poller_is_an_io_error_and_leaks_nothing() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        return; // the fd count needs Linux's /proc
    }
    // The lowest free descriptor: with the soft limit there, any new descriptor is refused
    // (EMFILE), whichever the reactor opens first.
    let probe = fs::File::open("/dev/null").unwrap();
    let lowest_free = {
        use std::os::fd::AsRawFd;
        probe.as_raw_fd() as u64
    };
    drop(probe);
    let before = open_fds();
    let saved = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(lowest_free),
            maximum: saved.maximum,
        },
    )
    .unwrap();
    let out = aio::try_run(async { 1 });
    setrlimit(Resource::Nofile, saved).unwrap();
    // Counted with the limit back (reading /proc/self/fd takes a descriptor itself).
    let after = open_fds();
    let err = out.unwrap_err();
    assert!(matches!(err, concurra::Error::Io { .. }), "{err:?}");
    assert_eq!(before, after, "the failed start closed what it opened");
    // The limit back, the loop starts again.
    assert_eq!(aio::try_run(async { 2 }).unwrap(), 2);
}
