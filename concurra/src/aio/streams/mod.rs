//! asyncio's streams: [`open_connection`] / [`start_server`] (and their Unix twins) give a
//! [`StreamReader`] and a [`StreamWriter`] per connection; a [`Server`] serves a handler.
//!
//! The reader pulls from the socket as its calls need bytes (see the `reader` module docs);
//! the writer sends at once and buffers the rest, flushed by the loop, with asyncio's water
//! marks (the `conn` module docs); the server's accept loop backs off when out of
//! descriptors (the `server` module docs). Each is built on the sockets of [`net`](super::net)
//! and nothing else of the loop.

mod conn;
mod reader;
mod server;
mod writer;

use std::future::Future as StdFuture;
use std::path::Path;
use std::rc::Rc;

pub use self::conn::SockAddr;
use self::conn::{Conn, ReaderShared, Socket};
pub use self::reader::{Lines, StreamFeeder, StreamReader, DEFAULT_LIMIT};
pub use self::server::{Server, ServerBuilder};
pub use self::writer::StreamWriter;
use super::net::{Target, TcpStream, UnixStream};
use crate::error::Result;

/// A reader over the read end of a pipe (a child's stdout or stderr), with `limit`.
pub(crate) fn pipe_reader(
    pipe: crate::aio::engine::Registered<mio::unix::pipe::Receiver>,
    limit: usize,
) -> Result<StreamReader> {
    let shared = Rc::new(ReaderShared::default());
    let conn = Conn::new(Socket::PipeIn(pipe), shared.clone());
    let mut reader = StreamReader::with_shared(shared, Some(conn));
    reader.set_limit(limit)?;
    Ok(reader)
}

/// A writer over the write end of a pipe (a child's stdin); `write_eof` closes it.
pub(crate) fn pipe_writer(
    pipe: crate::aio::engine::Registered<mio::unix::pipe::Sender>,
) -> StreamWriter {
    StreamWriter::new(Conn::new(
        Socket::PipeOut(pipe),
        Rc::new(ReaderShared::default()),
    ))
}

/// The reader and writer of a connected socket.
fn streams_of(sock: Socket) -> (StreamReader, StreamWriter) {
    let shared = Rc::new(ReaderShared::default());
    let conn = Conn::new(sock, shared.clone());
    (
        StreamReader::with_shared(shared, Some(conn.clone())),
        StreamWriter::new(conn),
    )
}

/// Connects over TCP and returns the connection's reader and writer (Python:
/// `reader, writer = await asyncio.open_connection(host, port)`). `addr` is a
/// [`Target`]: `(host, port)`, `"host:port"` or a socket address; a host name resolves
/// without blocking the loop. `TCP_NODELAY` is set, as asyncio does. The reader's limit is
/// 64 KiB ([`StreamReader::set_limit`] changes it).
///
/// ```
/// use concurra::aio;
///
/// aio::run(async {
///     let server = aio::start_server(
///         |mut reader, writer| async move {
///             let line = reader.read_line().await.unwrap();
///             writer.write(&line).unwrap();
///             writer.drain().await.unwrap();
///         },
///         ("127.0.0.1", 0),
///     )
///     .await
///     .unwrap();
///     let addr = server.local_addr().unwrap();
///     let (mut reader, writer) = aio::open_connection(addr).await.unwrap();
///     writer.write(b"Hello World!\n").unwrap();
///     assert_eq!(reader.read_line().await.unwrap(), b"Hello World!\n");
///     writer.close();
///     writer.wait_closed().await;
/// });
/// ```
///
/// # Errors
/// As [`TcpStream::connect`].
pub async fn open_connection(addr: impl Into<Target>) -> Result<(StreamReader, StreamWriter)> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s.into_streams())
}

/// Connects to the Unix socket at `path` (Python: `asyncio.open_unix_connection(path)`).
///
/// # Errors
/// As [`UnixStream::connect`].
pub async fn open_unix_connection(path: impl AsRef<Path>) -> Result<(StreamReader, StreamWriter)> {
    Ok(UnixStream::connect(path).await?.into_streams())
}

/// Serves TCP on `addr`: each connection runs `handler(reader, writer)` in a task of its own
/// (Python: `await asyncio.start_server(client_connected_cb, host, port)`). A plain
/// callback (Python allows one) is a handler whose future is `std::future::ready(())`.
/// Options (limit, connection limit): [`Server::builder`]. As asyncio's, it listens on every
/// address a host name resolves to (`localhost`: IPv4 and IPv6; [`Server::sockets`] lists
/// them; with port 0 each gets its own port).
///
/// # Errors
/// As [`TcpListener::bind`](super::net::TcpListener::bind).
pub async fn start_server<H, F>(handler: H, addr: impl Into<Target>) -> Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + 'static,
    F: StdFuture<Output = ()> + 'static,
{
    ServerBuilder::new().start(handler, addr).await
}

/// Serves on the Unix socket at `path` (Python: `asyncio.start_unix_server(cb, path)`); a
/// stale socket file at `path` is removed first, as asyncio does, and the server removes
/// its socket file when it closes or is dropped (Python 3.13; see
/// [`ServerBuilder::cleanup_socket`]).
///
/// # Errors
/// As [`UnixListener::bind`](super::net::UnixListener::bind).
pub async fn start_unix_server<H, F>(handler: H, path: impl AsRef<Path>) -> Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + 'static,
    F: StdFuture<Output = ()> + 'static,
{
    ServerBuilder::new().start_unix(handler, path).await
}

impl TcpStream {
    /// This connection as asyncio streams (a reader with the default limit, and a writer).
    pub fn into_streams(self) -> (StreamReader, StreamWriter) {
        streams_of(Socket::Tcp(self.into_registered()))
    }
}

impl UnixStream {
    /// This connection as asyncio streams.
    pub fn into_streams(self) -> (StreamReader, StreamWriter) {
        streams_of(Socket::Unix(self.into_registered()))
    }
}
