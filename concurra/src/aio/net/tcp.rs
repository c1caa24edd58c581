//! TCP on the loop: [`TcpStream`] and [`TcpListener`].

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use super::addr::Target;
use super::stream::{listener_common, stream_common, Shared};
use crate::aio::engine::Registered;
use crate::error::{Error, Result};
use crate::sys;

/// A TCP connection on the running loop (Python: a non-blocking `socket` used with
/// `loop.sock_*`, or the socket under a stream transport).
///
/// Read and write it with the inherent `recv`/`send`/`send_all` (asyncio's `sock_recv_into`,
/// `sock_send`, `sock_sendall`) or through futures-io's `AsyncRead`/`AsyncWrite`, so the
/// ecosystem's codecs work on it; split it into owned halves with
/// [`into_split`](Self::into_split). Every call is cancel-safe (see `recv`).
///
/// ```
/// use concurra::aio::{self, net::{TcpListener, TcpStream}};
///
/// aio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = aio::create_task(async move {
///         let s = TcpStream::connect(addr).await.unwrap();
///         s.send_all(b"ping").await.unwrap();
///     });
///     let (conn, _) = listener.accept().await.unwrap();
///     let mut buf = [0; 4];
///     let n = conn.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     client.await.unwrap();
/// });
/// ```
pub struct TcpStream {
    io: Shared<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (Python: `loop.sock_connect`, `socket.create_connection`). A host
    /// name is resolved without blocking the loop; each address it resolves to (IPv4 or
    /// IPv6) is tried in turn, and the last error is returned if none accepts.
    ///
    /// Cancel-safe: dropped before it completes, the half-open socket is closed.
    ///
    /// # Errors
    /// [`Error::Io`] (`ConnectionRefused`, `TimedOut`, `NotFound` for an unknown host, ...);
    /// [`Error::InvalidArgument`] for a malformed address; [`Error::InvalidState`] outside a
    /// running loop.
    pub async fn connect(addr: impl Into<Target>) -> Result<TcpStream> {
        let mut last = None;
        for addr in addr.into().resolve().await? {
            match Self::connect_addr(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidArgument("no address to connect to".into())))
    }

    async fn connect_addr(addr: SocketAddr) -> Result<TcpStream> {
        let what = || format!("connecting to {addr}");
        let sock = mio::net::TcpStream::connect(addr).map_err(|e| Error::io(what(), e))?;
        let io = super::stream::connect(sock, what).await?;
        Ok(TcpStream { io })
    }

    fn from_mio(sock: mio::net::TcpStream) -> Result<TcpStream> {
        Ok(TcpStream {
            io: Rc::new(Registered::new(sock)?),
        })
    }

    /// Registers a connected standard-library stream with the running loop (it is made
    /// non-blocking).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS; [`Error::InvalidState`] outside a running loop.
    pub fn from_std(stream: std::net::TcpStream) -> Result<TcpStream> {
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::io("making a socket non-blocking", e))?;
        Self::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// The remote address (Python: `getpeername`, `get_extra_info('peername')`).
    ///
    /// # Errors
    /// [`Error::Io`] (`NotConnected` once the peer is gone).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .peer_addr()
            .map_err(|e| Error::io("reading a socket's peer address", e))
    }

    /// The local address (Python: `getsockname`, `get_extra_info('sockname')`).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .local_addr()
            .map_err(|e| Error::io("reading a socket's address", e))
    }

    /// Sets `TCP_NODELAY` (asyncio sets it on every TCP transport; the streams of
    /// [`open_connection`](super::super::open_connection) do too).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS.
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        self.io
            .get_ref()
            .set_nodelay(on)
            .map_err(|e| Error::io("setting TCP_NODELAY", e))
    }

    /// The socket's descriptor, for options this type does not offer.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self.io.get_ref())
    }
}

stream_common!(TcpStream, mio::net::TcpStream, TcpReadHalf, TcpWriteHalf);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// A TCP listening socket on the running loop (Python: a listening `socket` used with
/// `loop.sock_accept`; [`start_server`](super::super::start_server) serves on one).
pub struct TcpListener {
    io: Registered<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` and listens (`SO_REUSEADDR`, a backlog of 4,096 capped by the
    /// kernel's `somaxconn`). Port 0 picks a free port: see [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    /// [`Error::Io`] (`AddrInUse`, ...); [`Error::InvalidArgument`] for a malformed address;
    /// [`Error::InvalidState`] outside a running loop.
    pub async fn bind(addr: impl Into<Target>) -> Result<TcpListener> {
        let mut last = None;
        for addr in addr.into().resolve().await? {
            match TcpListener::bind_one(&addr, false) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidArgument("no address to bind to".into())))
    }

    /// Binds every address `addr` resolves to, as asyncio's `create_server` does (a host
    /// name such as `localhost` gives an IPv4 and an IPv6 listener; IPv6 ones are
    /// `IPV6_V6ONLY`). An address the machine does not have (`EADDRNOTAVAIL`, or IPv6 turned
    /// off) is skipped while another binds; any other failure is the error.
    pub(crate) async fn bind_all(addr: impl Into<Target>) -> Result<Vec<TcpListener>> {
        let mut addrs = addr.into().resolve().await?;
        let mut seen = std::collections::HashSet::new();
        addrs.retain(|a| seen.insert(*a));
        let mut listeners = Vec::new();
        let mut missing = None;
        for addr in &addrs {
            match TcpListener::bind_one(addr, true) {
                Ok(l) => listeners.push(l),
                Err(e)
                    if e.io_kind().is_some_and(|k| {
                        matches!(
                            k,
                            std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::Unsupported
                        )
                    }) =>
                {
                    missing = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        match missing {
            Some(e) if listeners.is_empty() => Err(e),
            _ => Ok(listeners),
        }
    }

    fn bind_one(addr: &SocketAddr, v6only: bool) -> Result<TcpListener> {
        let l = sys::tcp_listener(addr, sys::DEFAULT_BACKLOG, v6only)
            .map_err(|e| Error::io(format!("binding to {addr}"), e))?;
        Ok(TcpListener {
            io: Registered::new(mio::net::TcpListener::from_std(l))?,
        })
    }
}

listener_common!(TcpListener, TcpStream, SocketAddr);
