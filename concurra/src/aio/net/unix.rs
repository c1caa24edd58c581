//! Unix-domain stream sockets on the loop: [`UnixStream`] and [`UnixListener`].

use std::fmt;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use super::stream::{listener_common, stream_common, Shared};
use crate::aio::engine::Registered;
use crate::error::{Error, Result};
use crate::sys;

/// A Unix-domain stream connection on the running loop; the same calls as
/// [`TcpStream`](super::TcpStream) (`recv`, `send`, `send_all`, `shutdown_write`,
/// `into_split`, futures-io `AsyncRead`/`AsyncWrite`), all cancel-safe.
pub struct UnixStream {
    io: Shared<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path` (Python: `loop.sock_connect` on an `AF_UNIX`
    /// socket). Cancel-safe.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound`, `ConnectionRefused`, ...); [`Error::InvalidState`] outside a
    /// running loop.
    pub async fn connect(path: impl AsRef<Path>) -> Result<UnixStream> {
        let path = path.as_ref();
        let what = || format!("connecting to {}", path.display());
        let sock = mio::net::UnixStream::connect(path).map_err(|e| Error::io(what(), e))?;
        let io = super::stream::connect(sock, what).await?;
        Ok(UnixStream { io })
    }

    /// A connected pair (Python: `socket.socketpair()`).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS; [`Error::InvalidState`] outside a running loop.
    pub fn pair() -> Result<(UnixStream, UnixStream)> {
        let (a, b) =
            mio::net::UnixStream::pair().map_err(|e| Error::io("creating a socket pair", e))?;
        Ok((Self::from_mio(a)?, Self::from_mio(b)?))
    }

    fn from_mio(sock: mio::net::UnixStream) -> Result<UnixStream> {
        Ok(UnixStream {
            io: Rc::new(Registered::new(sock)?),
        })
    }

    /// The peer's address (unnamed for a client socket).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .peer_addr()
            .map_err(|e| Error::io("reading a socket's peer address", e))
    }

    /// The local address.
    ///
    /// # Errors
    /// [`Error::Io`] from the OS.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .local_addr()
            .map_err(|e| Error::io("reading a socket's address", e))
    }
}

stream_common!(
    UnixStream,
    mio::net::UnixStream,
    UnixReadHalf,
    UnixWriteHalf
);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// A Unix-domain listening socket on the running loop.
///
/// The socket file stays after the listener is dropped (as Python's, whose
/// `start_unix_server` removes a stale one before binding: see
/// [`bind`](Self::bind)).
pub struct UnixListener {
    io: Registered<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` and listens (backlog 4,096, capped by `somaxconn`).
    ///
    /// # Errors
    /// [`Error::Io`] (`AddrInUse` if the file exists); [`Error::InvalidState`] outside a
    /// running loop.
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener> {
        let path = path.as_ref();
        let l = sys::unix_listener(path, sys::DEFAULT_BACKLOG)
            .map_err(|e| Error::io(format!("binding to {}", path.display()), e))?;
        Ok(UnixListener {
            io: Registered::new(mio::net::UnixListener::from_std(l))?,
        })
    }
}

listener_common!(UnixListener, UnixStream, SocketAddr);
