//! A gate that works across processes: a call (in a worker process or a thread) connects to a
//! Unix socket the test owns, tells its pid, and blocks reading until the test writes a byte or
//! closes the connection. The test learns that the call is running (and where) by accepting.
//! No sleeps.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a test waits for a call to reach a gate, or a process to exit, before failing.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// The test's side: a listening socket at a fresh path.
pub(crate) struct SocketGate {
    listener: UnixListener,
    path: PathBuf,
}

/// One call blocked on the gate: drop it (or [`open`](Arrived::open) it) to release the call.
pub(crate) struct Arrived {
    stream: UnixStream,
    /// The pid of the process running the call.
    pub(crate) pid: u32,
}

impl Arrived {
    /// Releases the call.
    pub(crate) fn open(mut self) {
        let _ = self.stream.write_all(&[1]);
    }
}

impl SocketGate {
    pub(crate) fn new() -> SocketGate {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "concurra-gate-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        SocketGate { listener, path }
    }

    /// The path a call connects to.
    pub(crate) fn path(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// Waits until one call is blocked on the gate: it is running. Panics after [`LIMIT`]
    /// (the call failed or never ran): a failing test, not a hanging one.
    pub(crate) fn arrived(&self) -> Arrived {
        assert!(
            self.ready_within(LIMIT),
            "no call reached the gate within {LIMIT:?}"
        );
        self.accept()
    }

    /// A call blocked on the gate now, if one is.
    pub(crate) fn try_arrived(&self) -> Option<Arrived> {
        self.ready_within(Duration::ZERO).then(|| self.accept())
    }

    fn accept(&self) -> Arrived {
        let (mut stream, _) = self.listener.accept().unwrap();
        let mut pid = [0u8; 4];
        stream.read_exact(&mut pid).unwrap();
        Arrived {
            stream,
            pid: u32::from_le_bytes(pid),
        }
    }

    /// True once a connection waits to be accepted, within `limit`.
    fn ready_within(&self, limit: Duration) -> bool {
        readable_within(&self.listener, limit)
    }
}

impl Drop for SocketGate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The call's side: connects to the gate at `path`, says its pid, blocks until released.
pub(crate) fn block_on(path: &str) {
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(&std::process::id().to_le_bytes()).unwrap();
    let _ = s.read(&mut [0u8]);
}

/// Waits at most `limit` for `fd` to be readable (a pending connection, data, end of file, or a
/// pidfd whose process exited); retries on `EINTR`.
pub(crate) fn readable_within(fd: &impl AsFd, limit: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}
