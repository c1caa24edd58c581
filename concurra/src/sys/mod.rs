//! The only door to the operating system.
//!
//! # Contract
//!
//! Each backend provides:
//! * [`current_native_id`]: the kernel's id for the calling thread (Python's
//!   `threading.get_native_id`), or `None` where the platform has no such id.
//!
//! The process engine will add pipes, spawn, wait and signals here. Linux is the first target;
//! other POSIX systems get a fallback for what they lack.

/// The calling thread's kernel id (`gettid` on Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn current_native_id() -> Option<u64> {
    Some(u64::from(
        rustix::thread::gettid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs(),
    ))
}

/// The calling thread's kernel id: not available on this platform yet.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn current_native_id() -> Option<u64> {
    None
}
