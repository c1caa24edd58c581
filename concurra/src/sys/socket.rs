//! Listening sockets with a chosen backlog (mio and std listen with 128, too few for a
//! server that takes thousands of connections at once), and the socket options the loop's
//! sockets need beyond mio's.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

/// The backlog of the loop's listeners unless the caller chooses (Linux caps it at
/// `net.core.somaxconn`).
pub(crate) const DEFAULT_BACKLOG: i32 = 4096;

/// A non-blocking, close-on-exec TCP listener on `addr` with `SO_REUSEADDR` (as asyncio's
/// `create_server` and mio set it on POSIX) and `backlog`. With `v6only`, an IPv6 listener
/// takes IPv6 only (`IPV6_V6ONLY`, as asyncio's `create_server` sets it), so that the IPv4
/// address of the same port can be bound beside it.
pub(crate) fn tcp_listener(
    addr: &SocketAddr,
    backlog: i32,
    v6only: bool,
) -> io::Result<std::net::TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = stream_socket(family)?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    if v6only && addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, addr)?;
    rustix::net::listen(&fd, backlog)?;
    Ok(std::net::TcpListener::from(fd))
}

/// A non-blocking, close-on-exec Unix-domain listener bound to `path`, with `backlog`.
pub(crate) fn unix_listener(
    path: &Path,
    backlog: i32,
) -> io::Result<std::os::unix::net::UnixListener> {
    let fd = stream_socket(AddressFamily::UNIX)?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, backlog)?;
    Ok(std::os::unix::net::UnixListener::from(fd))
}

fn stream_socket(family: AddressFamily) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?)
}

/// True for the accept errors that mean "out of descriptors" (`EMFILE`, `ENFILE`) or memory
/// (`ENOBUFS`, `ENOMEM`): a server backs off and retries instead of spinning (tokio#3529).
pub(crate) fn is_resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
