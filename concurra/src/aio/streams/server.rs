//! [`Server`]: asyncio's `Server` from `start_server` / `start_unix_server`.
//!
//! # Protocol
//!
//! 1. **Serving.** One task per listener accepts connections and starts one task per
//!    connection, which runs the handler with the connection's reader and writer. When the
//!    handler returns and drops them, the connection closes (after its buffer is flushed).
//! 2. **Out of descriptors.** An accept that fails with `EMFILE`/`ENFILE` (or out of memory)
//!    does not spin (tokio#3529, libuv#690): the accept task sleeps, 10 ms at first, doubling
//!    to 1 s, and serves again once descriptors come back. Other accept errors (a connection
//!    reset before it was accepted) are skipped.
//! 3. **Connection limit.** With [`ServerBuilder::max_connections`], the accept task waits
//!    while that many connections are open; the rest wait in the kernel's backlog.
//! 4. **Closing.** [`Server::close`] (and dropping the `Server`) stops the accept tasks and
//!    closes the listeners; connections go on. [`Server::wait_closed`] waits for the close and
//!    for every connection's handler (Python 3.12); [`Server::close_clients`] and
//!    [`Server::abort_clients`] end them (3.13). Cancelling [`Server::serve_forever`] closes
//!    the server and its clients (gh-123720).
//! 5. **The socket file.** A Unix server removes its socket file when it closes (Python
//!    3.13's `cleanup_socket=True`), but only if the path still names the socket it bound (the
//!    same device and inode, still a socket): a file another process put there since is left
//!    alone. [`ServerBuilder::cleanup_socket`] turns this off.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future as StdFuture;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::conn::{Conn, SockAddr};
use super::reader::{StreamReader, DEFAULT_LIMIT};
use super::writer::StreamWriter;
use super::{streams_of, Socket};
use crate::aio::net::{Target, TcpListener, UnixListener};
use crate::aio::{create_task, sleep, Event, Task};
use crate::error::{Error, Result};
use crate::sys;

/// The first back-off after an accept ran out of descriptors; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    async fn accept(&self) -> Result<Socket> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                // asyncio sets TCP_NODELAY on every TCP transport.
                s.set_nodelay(true)?;
                Ok(Socket::Tcp(s.into_registered()))
            }
            Listener::Unix(l) => Ok(Socket::Unix(l.accept().await?.0.into_registered())),
        }
    }

    fn addr(&self) -> Result<SockAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(SockAddr::Inet),
            Listener::Unix(l) => l.local_addr().map(SockAddr::Unix),
        }
    }
}

struct Inner {
    sockets: Vec<SockAddr>,
    accepting: RefCell<Vec<Task<()>>>,
    closed: Event,
    /// The open connections (for close_clients / abort_clients).
    clients: RefCell<Vec<Weak<Conn>>>,
    /// Connection tasks still running.
    active: Cell<usize>,
    /// Set while `active` is 0.
    idle: Event,
    /// Set while below the connection limit.
    room: Event,
    max: Option<usize>,
    limit: usize,
    /// A Unix server's socket file, removed at close (step 5).
    socket_file: RefCell<Option<SocketFile>>,
}

/// The file a Unix server bound, and what it was then (step 5).
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn of(path: &Path) -> Option<SocketFile> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Removes the file if it is still the socket that was bound.
    fn remove(self) {
        let same = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino);
        if same {
            // Gone already (another process removed it): nothing to do.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Inner {
    fn close(&self) {
        let tasks = std::mem::take(&mut *self.accepting.borrow_mut());
        for t in &tasks {
            t.cancel();
        }
        drop(tasks);
        let file = self.socket_file.borrow_mut().take();
        if let Some(file) = file {
            file.remove();
        }
        self.closed.set();
    }

    fn for_clients(&self, f: impl Fn(&Conn)) {
        let live: Vec<Rc<Conn>> = self
            .clients
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for c in live {
            f(&c);
        }
    }

    fn update_room(&self) {
        let full = self.max.is_some_and(|m| self.active.get() >= m);
        if full {
            self.room.clear();
        } else {
            self.room.set();
        }
        if self.active.get() == 0 {
            self.idle.set();
        } else {
            self.idle.clear();
        }
    }
}

/// Counts a connection task while it runs.
struct Active(Rc<Inner>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
        self.0.update_room();
    }
}

/// A listening server (Python: `asyncio.Server`), from [`start_server`](super::start_server),
/// [`start_unix_server`](super::start_unix_server) or a [`ServerBuilder`]. Dropping it closes
/// the listeners; connections being served go on.
pub struct Server {
    inner: Rc<Inner>,
}

/// Options for a [`Server`] (Python: `start_server`'s keyword arguments).
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    limit: usize,
    max: Option<usize>,
    cleanup_socket: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            limit: DEFAULT_LIMIT,
            max: None,
            cleanup_socket: true,
        }
    }
}

impl ServerBuilder {
    /// Default options: limit 64 KiB, no connection limit.
    pub fn new() -> Self {
        ServerBuilder::default()
    }

    /// The [`StreamReader`] limit of each connection (Python: `limit=`).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Serves at most `n` connections at once (step 3).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max = Some(n);
        self
    }

    /// Whether a Unix server removes its socket file when it closes (Python 3.13:
    /// `cleanup_socket=`); on by default. See step 5 of the module docs.
    pub fn cleanup_socket(mut self, cleanup: bool) -> Self {
        self.cleanup_socket = cleanup;
        self
    }

    /// Serves TCP on `addr` (see [`start_server`](super::start_server)).
    ///
    /// # Errors
    /// As [`start_server`](super::start_server); [`Error::InvalidArgument`] for a limit or a
    /// connection limit of 0.
    pub async fn start<H, F>(self, handler: H, addr: impl Into<Target>) -> Result<Server>
    where
        H: Fn(StreamReader, StreamWriter) -> F + 'static,
        F: StdFuture<Output = ()> + 'static,
    {
        self.check()?;
        let listeners = TcpListener::bind_all(addr).await?;
        self.serve(listeners.into_iter().map(Listener::Tcp).collect(), handler)
    }

    /// Serves on the Unix socket at `path` (see
    /// [`start_unix_server`](super::start_unix_server)).
    ///
    /// # Errors
    /// As [`start_unix_server`](super::start_unix_server).
    pub async fn start_unix<H, F>(self, handler: H, path: impl AsRef<Path>) -> Result<Server>
    where
        H: Fn(StreamReader, StreamWriter) -> F + 'static,
        F: StdFuture<Output = ()> + 'static,
    {
        self.check()?;
        let path = path.as_ref();
        // asyncio removes a stale socket file (and only a socket) before binding.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path);
        }
        let listener = Listener::Unix(UnixListener::bind(path)?);
        let file = if self.cleanup_socket {
            SocketFile::of(path)
        } else {
            None
        };
        let server = self.serve(vec![listener], handler)?;
        *server.inner.socket_file.borrow_mut() = file;
        Ok(server)
    }

    fn check(&self) -> Result<()> {
        if self.limit == 0 {
            return Err(Error::InvalidArgument("Limit cannot be <= 0".into()));
        }
        if self.max == Some(0) {
            return Err(Error::InvalidArgument(
                "max_connections must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn serve<H, F>(self, listeners: Vec<Listener>, handler: H) -> Result<Server>
    where
        H: Fn(StreamReader, StreamWriter) -> F + 'static,
        F: StdFuture<Output = ()> + 'static,
    {
        let idle = Event::new();
        idle.set();
        let room = Event::new();
        room.set();
        let inner = Rc::new(Inner {
            sockets: listeners
                .iter()
                .map(Listener::addr)
                .collect::<Result<_>>()?,
            accepting: RefCell::new(Vec::new()),
            closed: Event::new(),
            clients: RefCell::new(Vec::new()),
            active: Cell::new(0),
            idle,
            room,
            max: self.max,
            limit: self.limit,
            socket_file: RefCell::new(None),
        });
        let handler = Rc::new(handler);
        let tasks = listeners
            .into_iter()
            .map(|l| create_task(accept_loop(Rc::downgrade(&inner), l, handler.clone())))
            .collect();
        *inner.accepting.borrow_mut() = tasks;
        Ok(Server { inner })
    }
}

/// Step 1 and 2: the accept task of one listener.
async fn accept_loop<H, F>(server: Weak<Inner>, listener: Listener, handler: Rc<H>)
where
    H: Fn(StreamReader, StreamWriter) -> F + 'static,
    F: StdFuture<Output = ()> + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Step 3: wait for room under the connection limit.
        let room = match server.upgrade() {
            Some(s) if s.room.is_set() => None,
            Some(s) => Some(s),
            None => return,
        };
        if let Some(s) = room {
            s.room.wait().await;
            continue;
        }
        match listener.accept().await {
            Ok(sock) => {
                backoff = FIRST_BACKOFF;
                let Some(inner) = server.upgrade() else {
                    return;
                };
                let (mut reader, writer) = streams_of(sock);
                // The limit was checked when the server was built.
                let _ = reader.set_limit(inner.limit);
                {
                    let mut clients = inner.clients.borrow_mut();
                    if clients.len() == clients.capacity() {
                        clients.retain(|c| c.strong_count() > 0);
                    }
                    clients.push(Rc::downgrade(writer.conn()));
                }
                inner.active.set(inner.active.get() + 1);
                inner.update_room();
                let active = Active(inner);
                let fut = handler(reader, writer);
                drop(create_task(async move {
                    let _active = active;
                    fut.await;
                }));
            }
            Err(Error::Io { source, .. }) if sys::is_resource_exhausted(&source) => {
                // Step 2: back off instead of spinning on a level-triggered error.
                sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // A connection reset or aborted before it was accepted: take the next one.
            Err(_) => crate::aio::yield_now().await,
        }
    }
}

impl Server {
    /// Options for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// Stops listening (Python: `server.close()`); the connections go on.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Waits until the server is closed and every connection's handler has returned
    /// (Python 3.12: `await server.wait_closed()`).
    pub async fn wait_closed(&self) {
        self.inner.closed.wait().await;
        while self.inner.active.get() > 0 {
            self.inner.idle.wait().await;
        }
    }

    /// Closes every connection after flushing it (Python 3.13: `server.close_clients()`).
    pub fn close_clients(&self) {
        self.inner.for_clients(Conn::close);
    }

    /// Closes every connection at once (Python 3.13: `server.abort_clients()`).
    pub fn abort_clients(&self) {
        self.inner.for_clients(Conn::abort);
    }

    /// Serves until the server is closed (Python: `await server.serve_forever()`). Cancelled
    /// (its future dropped), it closes the server and its clients.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the server is already closed (Python: `RuntimeError`).
    pub async fn serve_forever(&self) -> Result<()> {
        if !self.is_serving() {
            return Err(Error::InvalidState(
                "serve_forever() on a closed server".into(),
            ));
        }
        struct OnCancel<'a>(&'a Server, bool);
        impl Drop for OnCancel<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.close();
                    self.0.close_clients();
                }
            }
        }
        let mut guard = OnCancel(self, false);
        self.inner.closed.wait().await;
        guard.1 = true;
        Ok(())
    }

    /// The addresses it listens on (Python: `server.sockets`).
    pub fn sockets(&self) -> &[SockAddr] {
        &self.inner.sockets
    }

    /// The TCP address it listens on, if it is a TCP server.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self.inner.sockets.first() {
            Some(SockAddr::Inet(a)) => Some(*a),
            _ => None,
        }
    }

    /// True until [`close`](Self::close) (Python: `server.is_serving()`).
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.is_set()
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.inner.active.get()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.inner.sockets)
            .field("serving", &self.is_serving())
            .field("connections", &self.connections())
            .finish()
    }
}
