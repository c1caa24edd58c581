//! Sockets on the event loop: [`TcpStream`], [`TcpListener`], [`UnixStream`],
//! [`UnixListener`], [`UdpSocket`]; the streams and servers of asyncio are built on them.
//!
//! Each is a descriptor registered once with the running loop's reactor (the engine's one
//! registered-descriptor type) plus its own system calls; none of them touches the loop's
//! core.
//!
//! | Python                                        | concurra                                  |
//! |-----------------------------------------------|-------------------------------------------|
//! | `await loop.sock_connect(sock, (host, port))` | [`TcpStream::connect`]`((host, port))`, [`UnixStream::connect`] |
//! | `await loop.sock_accept(sock)`                | [`TcpListener::accept`], [`UnixListener::accept`] |
//! | `await loop.sock_recv(sock, n)` / `sock_recv_into(sock, buf)` | `stream.recv(&mut buf)`   |
//! | `await loop.sock_sendall(sock, data)`         | `stream.send_all(data)`                   |
//! | `await loop.sock_sendto(sock, data, addr)`    | [`UdpSocket::send_to`]                    |
//! | `await loop.sock_recvfrom(sock, n)` / `sock_recvfrom_into` | [`UdpSocket::recv_from`]     |
//! | `sock.shutdown(SHUT_WR)`                      | `stream.shutdown_write()`                 |
//! | `socket.socketpair()`                         | [`UnixStream::pair`]                      |
//!
//! # Rules
//!
//! 1. **On the loop's thread.** A socket is registered with the loop running when it is made
//!    (outside one: [`Error::InvalidState`](crate::Error::InvalidState)) and is `!Send`, as
//!    asyncio's transports belong to their loop.
//! 2. **Cancel-safe.** Every call completes within one poll or leaves nothing behind: dropping
//!    its future (a cancelled task, `wait_for`, `timeout`) loses no byte and leaves the socket
//!    usable for the next call. Only `send_all`, like `sock_sendall`, may have sent a prefix.
//! 3. **No blocking.** Host names resolve on the loop's default thread pool; everything else
//!    is a non-blocking system call retried on readiness.
//! 4. **Errors** are [`Error::Io`](crate::Error::Io) with the OS error kept:
//!    [`Error::io_kind`](crate::Error::io_kind) gives `ConnectionRefused`, `ConnectionReset`,
//!    ...; [`Error::is_connection_lost`](crate::Error::is_connection_lost) groups the "peer is
//!    gone" kinds.

mod addr;
pub(crate) mod stream;
mod tcp;
mod udp;
mod unix;

pub use self::addr::Target;
pub use self::tcp::{TcpListener, TcpReadHalf, TcpStream, TcpWriteHalf};
pub use self::udp::UdpSocket;
pub use self::unix::{UnixListener, UnixReadHalf, UnixStream, UnixWriteHalf};
