//! UDP on the loop: [`UdpSocket`].

use std::fmt;
use std::net::SocketAddr;

use super::addr::Target;
use crate::aio::engine::Registered;
use crate::error::{Error, Result};

/// A UDP socket on the running loop (Python: a non-blocking datagram `socket` with
/// `loop.sock_sendto`/`sock_recvfrom`; also what `create_datagram_endpoint` wraps).
///
/// Every call is cancel-safe: a datagram is received whole by the call that returns it, or
/// left queued. Several tasks may wait on one socket (each is woken when it is readable).
pub struct UdpSocket {
    io: Registered<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks one; see [`local_addr`](Self::local_addr)).
    ///
    /// # Errors
    /// [`Error::Io`] (`AddrInUse`, ...); [`Error::InvalidArgument`] for a malformed address;
    /// [`Error::InvalidState`] outside a running loop.
    pub async fn bind(addr: impl Into<Target>) -> Result<UdpSocket> {
        let mut last = None;
        for addr in addr.into().resolve().await? {
            match mio::net::UdpSocket::bind(addr) {
                Ok(s) => {
                    return Ok(UdpSocket {
                        io: Registered::new(s)?,
                    })
                }
                Err(e) => last = Some(Error::io(format!("binding to {addr}"), e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidArgument("no address to bind to".into())))
    }

    /// Sets the default destination and keeps only its datagrams (`connect(2)`); then
    /// [`send`](Self::send) and [`recv`](Self::recv) work, and ICMP errors (a refused port)
    /// come back as `ConnectionRefused` from them.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidArgument`] for a malformed address.
    pub async fn connect(&self, addr: impl Into<Target>) -> Result<()> {
        let mut last = None;
        for addr in addr.into().resolve().await? {
            match self.io.get_ref().connect(addr) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(Error::io(format!("connecting to {addr}"), e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidArgument("no address to connect to".into())))
    }

    /// Sends one datagram to `addr` (Python: `loop.sock_sendto`); waits while the send buffer
    /// is full (`EAGAIN`). Returns the bytes sent.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> Result<usize> {
        self.io
            .write_with(|s| s.send_to(buf, addr))
            .await
            .map_err(|e| Error::io("sending a datagram", e))
    }

    /// Receives one datagram into `buf` (the rest of a longer one is discarded) and its
    /// sender's address (Python: `loop.sock_recvfrom_into`).
    ///
    /// # Errors
    /// [`Error::Io`] from the socket.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        self.io
            .read_with(|s| s.recv_from(buf))
            .await
            .map_err(|e| Error::io("receiving a datagram", e))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotConnected` without [`connect`](Self::connect)).
    pub async fn send(&self, buf: &[u8]) -> Result<usize> {
        self.io
            .write_with(|s| s.send(buf))
            .await
            .map_err(|e| Error::io("sending a datagram", e))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// [`Error::Io`] (`ConnectionRefused` after an ICMP port-unreachable).
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.io
            .read_with(|s| s.recv(buf))
            .await
            .map_err(|e| Error::io("receiving a datagram", e))
    }

    /// The local address (Python: `get_extra_info('sockname')`).
    ///
    /// # Errors
    /// [`Error::Io`] from the OS.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .local_addr()
            .map_err(|e| Error::io("reading a socket's address", e))
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotConnected`).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.io
            .get_ref()
            .peer_addr()
            .map_err(|e| Error::io("reading a socket's peer address", e))
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
