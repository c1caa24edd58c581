//! The worker side: recognise a worker at start-up, check the handshake, serve calls until the
//! channel closes. The protocol is written out in the [module docs](super).

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

use super::identity::Entry;
use super::wire::{self, Decoder, FrameKind};
use crate::sys;

/// The environment variable that makes a process a worker: `v<VERSION>:<parent pid>:<fingerprint>`.
pub(crate) const MARKER: &str = "CONCURRA_WORKER";

/// A worker's exit code when it cannot serve: a bad marker, another executable, a broken
/// channel or a malformed frame (the parent reports it; the message is on standard error).
pub(crate) const EXIT_PROTOCOL: i32 = 86;

/// The worker's answer to the handshake, payload of the [`FrameKind::Ready`] frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Ready {
    /// The worker's pid.
    pub(crate) pid: u32,
    /// `sys::exe_fingerprint` in the worker.
    pub(crate) fingerprint: u64,
}

/// The head of a [`FrameKind::Call`] payload; the encoded argument follows it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CallHead {
    /// The function to call.
    pub(crate) entry: Entry,
}

/// The marker value for a worker of this parent.
pub(crate) fn marker(fingerprint: u64) -> String {
    format!("v{}:{}:{fingerprint:x}", wire::VERSION, std::process::id())
}

/// Makes this process serve as a worker if it was started as one; returns at once otherwise.
///
/// Call it first thing in `main` (or use [`worker_hook!`](crate::worker_hook), which runs it
/// before `main`). In a process the engine started, it never returns: it serves calls and
/// exits. Everything `main` does before it runs again in every worker.
pub fn init() {
    if let Some(marker) = std::env::var_os(MARKER) {
        std::process::exit(serve(&marker));
    }
    // Not a worker: fingerprint the executable now, before it can be rebuilt under us.
    let _ = sys::exe_fingerprint();
    let _ = sys::exe_build_id();
}

/// Whether this process was started as a worker but is running `main` instead of serving: the
/// hook is missing. The engine then refuses to start workers of its own (no fork bomb).
pub(crate) fn hook_missing() -> bool {
    std::env::var_os(MARKER).is_some()
}

/// Serves as a worker; returns the exit code.
fn serve(marker: &OsString) -> i32 {
    // Step 2: read and drop the marker, so that programs this worker starts are not workers.
    let Some((parent, fingerprint)) = parse(marker) else {
        eprintln!("concurra worker: malformed {MARKER}={marker:?}");
        return EXIT_PROTOCOL;
    };
    std::env::remove_var(MARKER);
    crate::sys::keep_freed_memory();
    // Step 3: die with the parent; stop if it is already gone.
    if !sys::die_with_parent(parent) {
        return EXIT_PROTOCOL;
    }
    // Step 4: the same file as the parent, or nothing runs.
    let mine = match sys::exe_fingerprint() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("concurra worker: cannot fingerprint this executable: {e}");
            return EXIT_PROTOCOL;
        }
    };
    if mine != fingerprint {
        eprintln!(
            "concurra worker: this executable is not the parent's (it was rebuilt or replaced)"
        );
        return EXIT_PROTOCOL;
    }
    // Step 5: the channel is standard input; move it away and read /dev/null instead.
    let channel = match sys::quiet_stdin() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("concurra worker: no channel on standard input: {e}");
            return EXIT_PROTOCOL;
        }
    };
    let mut out = Vec::new();
    let ready = Ready {
        pid: std::process::id(),
        fingerprint: mine,
    };
    wire::encode(&mut out, FrameKind::Ready, 0, &ready).expect("Ready always encodes");
    if (&channel).write_all(&out).is_err() {
        return EXIT_PROTOCOL;
    }
    // Step 5, last part: the lines, three pipes (or, for the fork server, its socket); the
    // channel has done its work.
    let mut role = [0u8; 1];
    let handed = sys::recv_message(&channel, &mut role);
    drop(channel);
    match handed {
        Ok((0, _)) => 0,
        Ok((1, fds)) if role[0] == b'L' && fds.len() == 3 => {
            let Ok([calls_in, replies, direct]) = <[_; 3]>::try_from(fds) else {
                return EXIT_PROTOCOL;
            };
            calls(
                &File::from(calls_in),
                &File::from(replies),
                &File::from(direct),
            )
        }
        Ok((1, mut fds)) if role[0] == b'Z' && fds.len() == 1 => {
            super::zygote::serve(fds.pop().expect("one"))
        }
        Ok(_) => {
            eprintln!("concurra worker: no lines from the parent");
            EXIT_PROTOCOL
        }
        Err(e) => {
            eprintln!("concurra worker: no lines from the parent: {e}");
            EXIT_PROTOCOL
        }
    }
}

/// `v<VERSION>:<parent pid>:<fingerprint hex>`.
fn parse(marker: &OsString) -> Option<(u32, u64)> {
    let marker = marker.to_str()?;
    let mut parts = marker.split(':');
    if parts.next()? != format!("v{}", wire::VERSION) {
        return None;
    }
    let parent = parts.next()?.parse().ok()?;
    let fingerprint = u64::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((parent, fingerprint))
}

/// Step 6: runs the calls read from `calls` one at a time, in order, each reply written (on
/// `replies`, or on the direct line when the call asks) before the next call starts; returns
/// the exit code at end of file (0) or after a `last` call (0, or 1 if it panicked).
pub(super) fn calls(calls: &File, replies: &File, direct: &File) -> i32 {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    loop {
        match decoder.read_from(calls.as_fd()) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("concurra worker: {e}");
                    return EXIT_PROTOCOL;
                }
            };
            if frame.kind != FrameKind::Call {
                eprintln!("concurra worker: unexpected {:?} frame", frame.kind);
                return EXIT_PROTOCOL;
            }
            let Ok((head, args)) = postcard::take_from_bytes::<CallHead>(&frame.payload) else {
                eprintln!("concurra worker: malformed call {}", frame.id);
                return EXIT_PROTOCOL;
            };
            out.clear();
            let mut returned = false;
            wire::frame_with(&mut out, FrameKind::Reply, frame.id, |out| {
                returned = head.entry.resolve()(args, out);
                Ok(())
            })
            .unwrap_or_else(|e| {
                // Over the frame limit: say so in a reply of its own.
                let outcome: super::identity::Outcome<()> =
                    super::identity::Outcome::Encode(e.to_string());
                wire::encode(&mut out, FrameKind::Reply, frame.id, &outcome)
                    .expect("a message always encodes");
            });
            let line = if frame.id & super::call::DIRECT != 0 {
                direct
            } else {
                replies
            };
            if (&*line).write_all(&out).is_err() {
                return 0;
            }
            // The top bit of the id marks the last call (a single `Process`, or the last of
            // `max_tasks_per_child`).
            if frame.id & super::call::LAST != 0 {
                return if returned { 0 } else { 1 };
            }
        }
    }
}

/// Runs [`init`] before `main`: put `concurra::worker_hook!();` once in a binary, test or
/// example crate (at the top level) and its `main` needs no `init()` call.
///
/// This is how integration tests and examples use the process engine: the test harness's
/// `main` is not yours to edit. The hook is a constructor (`.init_array` on Linux,
/// `__mod_init_func` on macOS), which runs before `main` and before the test harness, and does
/// nothing in a process that is not a worker.
///
/// ```
/// concurra::worker_hook!();
///
/// fn main() {
///     // No concurra::init() needed: workers never get here.
/// }
/// ```
///
/// `worker_hook!(path::to::init)` runs another function instead, one that calls
/// [`init`] first (a remote engine's, whose worker mode wraps the process engine's).
#[macro_export]
macro_rules! worker_hook {
    () => {
        $crate::worker_hook!($crate::init);
    };
    // Another crate's hook that wraps `init` (a remote engine's worker mode).
    ($init:path) => {
        #[used]
        #[allow(unsafe_code)]
        #[cfg_attr(
            any(target_os = "linux", target_os = "android"),
            link_section = ".init_array"
        )]
        #[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
        static __CONCURRA_WORKER_HOOK: extern "C" fn() = {
            extern "C" fn concurra_worker_hook() {
                $init();
            }
            concurra_worker_hook
        };
    };
}
