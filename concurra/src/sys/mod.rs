//! The only door to the operating system.
//!
//! # Contract
//!
//! Each backend provides:
//! * [`current_native_id`]: the kernel's id for the calling thread (Python's
//!   `threading.get_native_id`), or `None` where the platform has no such id.
//!
//! * [`self_exe`]: a path that starts this same executable again (`/proc/self/exe` on Linux,
//!   which names the running file even if it was replaced on disk).
//! * [`exe_fingerprint`]: a number that differs between two builds of the executable (the
//!   file's device, inode, size and modification time).
//! * [`exe_build_id`]: the build's identity, equal on every machine for the same build and
//!   different for any other build (the linker's build id when the file has one, else a hash
//!   of the file's content).
//! * [`die_with_parent`]: ask the kernel to kill the calling process when its parent dies
//!   (Linux: `PR_SET_PDEATHSIG`; elsewhere the worker's end-of-file watchdog does it alone),
//!   and report whether the expected parent is still the parent.
//! * [`signal_group`]: send a signal to a whole process group.
//! * [`exitcode`]: Python's `exitcode` of an exit status: the code, or minus the signal.
//! * [`wait_exited`]: block until a child has exited, leaving it unreaped (so its pid cannot be
//!   reused while a signal may still be sent to it).
//! * [`pipe`], [`write_nonblocking`], [`write_all_unless_hangup`]: the pipe a worker's calls go
//!   down, written without blocking (a hung-up peer ends a wait for room).
//! * [`grow_pipe`]: more room in a pipe where the platform allows it (Linux).
//! * [`read_appending`]: a read straight into a buffer's spare capacity (frames are read in
//!   place, not through a bounce buffer).
//! * [`quiet_stdin`]: move the inherited standard input (a worker's channel) to a new
//!   close-on-exec descriptor and put `/dev/null` in its place.
//!
//! * [`signal`]: the process-wide signal registry (every disposition concurra installs, the
//!   handler that only records and wakes, restoring what was there before).
//! * [`signal_self`]: send a signal to this process.
//! * `socket`: listening sockets with a chosen backlog, and the accept errors that mean
//!   "out of descriptors" (the event loop's servers back off on them).
//!
//! Linux is the first target; other POSIX systems get a fallback for what they lack.

pub(crate) mod signal;
mod socket;

pub(crate) use self::socket::{
    is_resource_exhausted, tcp_listener, unix_listener, DEFAULT_BACKLOG,
};

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use rustix::process::{Pid, Signal};

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

/// True on the process's main thread (the one that ran `main`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn is_main_thread() -> bool {
    rustix::thread::gettid() == rustix::process::getpid()
}

/// True on the process's main thread (the one that ran `main`).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: a libc function without preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::pthread_main_np() != 0
    }
}

/// The calling thread's kernel id: not available on this platform yet.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn current_native_id() -> Option<u64> {
    None
}

/// A path that starts this executable again.
pub(crate) fn self_exe() -> io::Result<PathBuf> {
    if cfg!(target_os = "linux") {
        Ok(PathBuf::from("/proc/self/exe"))
    } else {
        std::env::current_exe()
    }
}

/// A fingerprint of the running executable file: equal in a parent and a worker started from
/// the same file, different after a rebuild. Taken once per process, at its first use (the
/// engine's `init` takes it first thing), so a file rebuilt while the program runs cannot pass
/// for the one it started from.
pub(crate) fn exe_fingerprint() -> io::Result<u64> {
    static ONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    if let Some(&fingerprint) = ONCE.get() {
        return Ok(fingerprint);
    }
    // A failure is not kept: the next start tries again.
    let fingerprint = fingerprint_now()?;
    Ok(*ONCE.get_or_init(|| fingerprint))
}

fn fingerprint_now() -> io::Result<u64> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(self_exe()?)?;
    // DefaultHasher's keys are fixed (not random, unlike RandomState), so the parent and
    // the worker compute the same value.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
        .hash(&mut h);
    Ok(h.finish())
}

/// The running build's identity, as text: `elf-<hex>` (the GNU build-id note the linker
/// wrote, a hash of the linked output) or, for a file without one, `hash-<size>-<hex>` (a
/// hash of the file's bytes). The same on every machine that runs a copy of the file, and
/// different for any other build. Computed once per process (at its first use; the engine's
/// `init` takes it first thing), so a file rebuilt while the program runs cannot pass for
/// the one it started from.
pub(crate) fn exe_build_id() -> io::Result<&'static str> {
    static ONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(id) = ONCE.get() {
        return Ok(id);
    }
    let mut file = std::fs::File::open(self_exe()?)?;
    let id = match elf_build_id(&mut file)? {
        Some(note) => format!("elf-{}", hex(&note)),
        None => content_hash(&mut file)?,
    };
    Ok(ONCE.get_or_init(|| id))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The `NT_GNU_BUILD_ID` note of a 64-bit little-endian ELF file, if it has one: read from its
/// program headers' `PT_NOTE` segments (a few hundred bytes, not the whole file).
fn elf_build_id(file: &mut std::fs::File) -> io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let mut head = [0u8; 64];
    file.seek(SeekFrom::Start(0))?;
    // Only 64-bit (class 2), little-endian (data 1) files.
    if file.read_exact(&mut head).is_err()
        || &head[..4] != b"\x7fELF"
        || head[4] != 2
        || head[5] != 1
    {
        return Ok(None);
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&head, 32),
        usize::from(u16_at(&head, 54)),
        usize::from(u16_at(&head, 56)),
    );
    if phentsize < 56 || phnum > 4096 {
        return Ok(None);
    }
    let mut table = vec![0u8; phentsize * phnum];
    file.seek(SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)?;
    for header in table.chunks_exact(phentsize) {
        let (offset, size) = (u64_at(header, 8), u64_at(header, 32));
        if u32_at(header, 0) != PT_NOTE || size > 1 << 20 {
            continue;
        }
        let mut notes = vec![0u8; usize::try_from(size).unwrap_or(0)];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut notes)?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let name_len = u32_at(&notes, at) as usize;
            let desc_len = u32_at(&notes, at + 4) as usize;
            let kind = u32_at(&notes, at + 8);
            let name_at = at + 12;
            let desc_at = name_at + name_len.next_multiple_of(4);
            let end = desc_at + desc_len.next_multiple_of(4);
            if desc_at + desc_len > notes.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && notes[name_at..name_at + name_len] == *b"GNU\0" {
                return Ok(Some(notes[desc_at..desc_at + desc_len].to_vec()));
            }
            at = end;
        }
    }
    Ok(None)
}

/// `hash-<size>-<hex>`: a hash of every byte of the file (SipHash with fixed keys, over 1 MiB
/// blocks), for a file without a build-id note.
fn content_hash(file: &mut std::fs::File) -> io::Result<String> {
    use std::hash::Hasher;
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    // Two hashers with different seeds: 128 bits, so that two builds never collide by chance.
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    b.write_u64(0x9e37_79b9_7f4a_7c15);
    let mut block = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        a.write(&block[..n]);
        b.write(&block[..n]);
    }
    Ok(format!(
        "hash-{size:x}-{:016x}{:016x}",
        a.finish(),
        b.finish()
    ))
}

/// Asks for SIGKILL when the parent dies (Linux), then checks that `parent` is still the parent
/// (it may have died before the request): false means the parent is gone.
pub(crate) fn die_with_parent(parent: u32) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    }
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get().unsigned_abs()) == Some(parent)
}

/// The signals the process engine sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// SIGTERM: ask to stop.
    Term,
    /// SIGKILL: stop now.
    Kill,
}

/// Sends `signal` to every process in the group led by `leader`. A group already gone is not
/// an error.
pub(crate) fn signal_group(leader: u32, signal: Kill) -> io::Result<()> {
    let sig = match signal {
        Kill::Term => Signal::TERM,
        Kill::Kill => Signal::KILL,
    };
    let Some(pid) = i32::try_from(leader).ok().and_then(Pid::from_raw) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no such process",
        ));
    };
    match rustix::process::kill_process_group(pid, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Python's `exitcode`: the exit code, or minus the signal that killed the process.
pub(crate) fn exitcode(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    python_code(status.code(), status.signal())
}

/// Python's exit code from an exit status's parts: the code, or minus the signal that killed
/// the process (`i32::MIN` if neither is known).
fn python_code(code: Option<i32>, signal: Option<i32>) -> i32 {
    match (code, signal) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => i32::MIN,
    }
}

/// Blocks until the child `pid` has exited, without reaping it.
pub(crate) fn wait_exited(pid: u32) -> io::Result<()> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no such process",
        ));
    };
    loop {
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pipe, both ends close-on-exec: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (read, write) = rustix::pipe::pipe()?;
        for fd in [&read, &write] {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
        }
        Ok((read, write))
    }
}

/// Reads once from `fd` into the spare capacity of `buf` (its length grows by what was read,
/// nothing is zeroed first); 0 at end of file, or when `buf` has no spare capacity.
pub(crate) fn read_appending(
    fd: std::os::fd::BorrowedFd<'_>,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, rustix::buffer::spare_capacity(buf)) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks for `bytes` of room in the pipe `fd`, best effort: where the platform cannot resize
/// pipes, or the user's pipe allowance is spent, the pipe keeps the room it has (only speed
/// depends on it).
pub(crate) fn grow_pipe(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::pipe::fcntl_setpipe_size(fd, bytes);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (fd, bytes);
}

/// Puts `fd` in non-blocking mode (for every descriptor that shares its open file).
pub(crate) fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(fd)?;
    fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    Ok(())
}

/// How many bytes wait unread in the pipe or socket `fd` (`FIONREAD`).
pub(crate) fn unread_bytes(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<usize> {
    Ok(usize::try_from(rustix::io::ioctl_fionread(fd)?).unwrap_or(usize::MAX))
}

/// Writes what the non-blocking `fd` takes now; `WouldBlock` when it takes nothing.
pub(crate) fn write_nonblocking(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until `fd` is readable (or at end of file, or in error) or `deadline` passes; false
/// if the deadline passed first.
pub(crate) fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    deadline: Option<std::time::Instant>,
) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    loop {
        let left = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                Some(Timespec {
                    tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
                    tv_nsec: left.subsec_nanos().into(),
                })
            }
        };
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut fds, left.as_ref()) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `buf` to the non-blocking `fd`, waiting for room as needed, unless `watch`
/// hangs up first (the peer is gone): then `BrokenPipe`, and the rest is not written.
pub(crate) fn write_all_unless_hangup(
    fd: std::os::fd::BorrowedFd<'_>,
    watch: std::os::fd::BorrowedFd<'_>,
    mut buf: &[u8],
) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};
    while !buf.is_empty() {
        match write_nonblocking(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [
                    PollFd::from_borrowed_fd(fd, PollFlags::OUT),
                    PollFd::from_borrowed_fd(watch, PollFlags::empty()),
                ];
                match poll(&mut fds, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
                let gone = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
                if fds[1].revents().intersects(gone) {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves standard input to a new close-on-exec descriptor, returned, and opens `/dev/null` as
/// standard input.
pub(crate) fn quiet_stdin() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let moved = rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3)?;
    let null = std::fs::File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    Ok(moved)
}

/// Sends `fds` over `socket` with one byte of data (`SCM_RIGHTS`; at most [`MAX_FDS`]).
pub(crate) fn send_fds(
    socket: &std::os::unix::net::UnixStream,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    send_message(socket, b"L", fds)
}

/// Sends `data` in one message with `fds` attached (`SCM_RIGHTS`; at most [`MAX_FDS`]).
pub(crate) fn send_message(
    socket: &impl std::os::fd::AsFd,
    data: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let room = fds.len() <= MAX_FDS
        && (fds.is_empty() || control.push(SendAncillaryMessage::ScmRights(fds)));
    if !room {
        return Err(io::Error::other("no room for the descriptors"));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::empty();
    loop {
        match sendmsg(socket, &[io::IoSlice::new(data)], &mut control, flags) {
            Ok(n) if n == data.len() => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The most descriptors [`send_message`] sends at once.
pub(crate) const MAX_FDS: usize = 3;

/// Receives one message into `buf` with the descriptors attached to it (close-on-exec); 0
/// bytes at end of file.
pub(crate) fn recv_message(
    socket: &impl std::os::fd::AsFd,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<std::os::fd::OwnedFd>)> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = RecvFlags::CMSG_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = RecvFlags::empty();
    let got = loop {
        match recvmsg(socket, &mut [io::IoSliceMut::new(buf)], &mut control, flags) {
            Ok(got) => break got,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            received.extend(fds);
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    for fd in &received {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok((got.bytes, received))
}

/// A pair of connected packet sockets (message boundaries kept), close-on-exec.
pub(crate) fn packet_pair() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// In a worker process (ours alone): asks the C allocator to keep freed memory for reuse
/// instead of handing it back to the kernel, so the large buffers a worker allocates and
/// frees for every chunk of a map do not cost fresh page faults each time (glibc only; a
/// no-op elsewhere). Memory stays bounded by the largest chunks in flight.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        for (param, value) in [(M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 256 << 20)] {
            // SAFETY: `mallopt` takes two integers and only changes the allocator's tuning;
            // glibc documents it as safe to call at any time (it takes the arena lock).
            #[allow(unsafe_code)]
            unsafe {
                mallopt(param, value);
            }
        }
    }
}

/// How many threads this process runs, where the system says (Linux: `/proc/self/task`).
pub(crate) fn thread_count() -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return std::fs::read_dir("/proc/self/task")
        .ok()
        .map(Iterator::count);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    None
}

/// This process's id.
pub(crate) fn own_pid() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// Forks this process: `Some(child pid)` in the parent, `None` in the child.
///
/// # Safety
/// The calling process must run one thread only: the child starts with this thread alone, and
/// a lock another thread held (the allocator's, say) would never be released there.
#[allow(unsafe_code)]
pub(crate) unsafe fn fork() -> io::Result<Option<u32>> {
    // SAFETY: the caller promises a single-threaded process (see above); `fork` itself takes
    // no arguments and has no other precondition.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid.unsigned_abs())),
    }
}

/// Kills the process `pid` (not its group: it may not lead one yet).
pub(crate) fn kill_process(pid: u32) {
    if let Ok(pid) = pid_of(pid) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// Sends signal number `signal` to this process (any thread may take it).
pub(crate) fn signal_self(signal: i32) -> io::Result<()> {
    // SAFETY: `kill(2)` on our own pid with a signal number the caller checked; no memory is
    // involved.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(libc::getpid(), signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends signal number `signal` to the calling thread (delivered before this returns unless
/// the thread blocks it).
pub(crate) fn raise_here(signal: i32) {
    // SAFETY: `raise(3)` with a signal number the caller checked; no memory is involved.
    #[allow(unsafe_code)]
    unsafe {
        libc::raise(signal);
    }
}

/// Sends signal number `signal` to the process `pid`. The caller guarantees `pid` is a child
/// it has not reaped (so the number cannot have been reused).
pub(crate) fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    let pid = pid_of(pid)?;
    // SAFETY: `kill(2)` with a live child's pid and a signal number; no memory is involved.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid.as_raw_nonzero().get(), signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the child started by `cmd` lead a new session (`setsid`, Python's
/// `start_new_session`). This takes std's fork path instead of `posix_spawn`.
pub(crate) fn new_session(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec and calls only `setsid(2)`,
    // which is async-signal-safe and touches no memory of the parent.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The standard signals (1–31) this process ignores now, as a mask of [`signal::bit`]s,
/// leaving out SIGPIPE: std's spawn already restores it in the child. (Real-time signals are
/// left as they are: checking them would double the cost of the check.)
pub(crate) fn ignored_signals() -> u64 {
    let mut mask = 0;
    for sig in 1..32 {
        if sig == libc::SIGPIPE || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        if signal::disposition(sig).ok() == Some(signal::Disposition::Ignore) {
            mask |= signal::bit(sig);
        }
    }
    mask
}

/// Makes the child started by `cmd` start with the default disposition for every signal in
/// `mask` (as [`ignored_signals`] builds it). This takes std's fork path instead of
/// `posix_spawn`, so callers pass a non-empty mask only.
pub(crate) fn default_signals_in_child(cmd: &mut std::process::Command, mask: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec and calls only `signal(2)`
    // with `SIG_DFL`, which is async-signal-safe, installs no handler and touches no memory
    // of the parent.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            for sig in 1..32 {
                if mask & signal::bit(sig) != 0 {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            Ok(())
        });
    }
}

/// Restores the default disposition of SIGCHLD (children stay until reaped).
pub(crate) fn default_child_signal() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler, so no code runs in signal context;
    // it is called by the fork server before it starts any child.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
}

/// Puts the process `pid` (this one if `None`) in a new process group it leads.
pub(crate) fn lead_own_group(pid: Option<u32>) -> io::Result<()> {
    let pid = pid.map(pid_of).transpose()?;
    Ok(rustix::process::setpgid(pid, pid)?)
}

fn pid_of(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such process"))
}

/// A descriptor that becomes readable when the child `pid` exits (Linux `pidfd_open`).
pub(crate) fn exit_watch(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return Ok(rustix::process::pidfd_open(
        pid_of(pid)?,
        rustix::process::PidfdFlags::empty(),
    )?);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid_of(pid)?;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Python's exit code of the child `pid`, which has exited, without reaping it (the zombie
/// keeps the pid from reuse until [`reap`]).
pub(crate) fn exit_code_of(pid: u32) -> io::Result<i32> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let pid = pid_of(pid)?;
    loop {
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(status)) => {
                return Ok(python_code(
                    status.exit_status(),
                    status.terminating_signal(),
                ))
            }
            Ok(None) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps the child `pid`, which has exited.
pub(crate) fn reap(pid: u32) {
    use rustix::process::{waitpid, WaitOptions};
    if let Ok(pid) = pid_of(pid) {
        while let Err(rustix::io::Errno::INTR) = waitpid(Some(pid), WaitOptions::empty()) {}
    }
}

/// Waits until one of `fds` is readable (or hung up); true for each that is.
pub(crate) fn wait_any_readable(fds: &[std::os::fd::BorrowedFd<'_>]) -> io::Result<Vec<bool>> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    loop {
        match poll(&mut polled, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(polled.iter().map(|p| !p.revents().is_empty()).collect())
}

#[cfg(test)]
mod build_id_tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> std::fs::File {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!(
            "concurra-hash-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        drop(f);
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn a_file_without_a_note_is_hashed_and_any_change_shows() {
        let a = vec![7u8; 3 << 20];
        let mut b = a.clone();
        b[2 << 20] = 8;
        b.push(0);
        let (mut fa, mut fb) = (file_with(&a), file_with(&b));
        assert_eq!(elf_build_id(&mut fa).unwrap(), None);
        let (ha, hb) = (
            content_hash(&mut fa).unwrap(),
            content_hash(&mut fb).unwrap(),
        );
        assert!(ha.starts_with("hash-300000-"), "{ha}");
        assert_ne!(ha, hb);
        assert_eq!(ha, content_hash(&mut fa).unwrap());
    }

    #[test]
    fn this_executable_has_the_linkers_build_id() {
        let id = exe_build_id().unwrap();
        if cfg!(target_os = "linux") {
            // Debian's toolchain links with --build-id (sha1: 20 bytes).
            assert!(id.starts_with("elf-") && id.len() == 4 + 40, "{id}");
        }
    }
}
