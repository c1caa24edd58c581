//! A gate that works across processes: a call (in a worker process or a thread) connects to a
//! Unix socket the test owns, tells its pid, and blocks reading until the test writes a byte or
//! closes the connection. The test learns that the call is running (and where) by accepting.
//! No sleeps.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// Waits until one call is blocked on the gate: it is running.
    pub(crate) fn arrived(&self) -> Arrived {
        let (mut stream, _) = self.listener.accept().unwrap();
        let mut pid = [0u8; 4];
        stream.read_exact(&mut pid).unwrap();
        Arrived {
            stream,
            pid: u32::from_le_bytes(pid),
        }
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
