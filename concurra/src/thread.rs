//! [`Thread`]: Python's `threading.Thread`, with the target's return value through a
//! [`Future`].
//!
//! | Python                          | concurra                                         |
//! |---------------------------------|--------------------------------------------------|
//! | `Thread(target=f, name=n, daemon=d)` | `Thread::builder().name(n).daemon(d)`       |
//! | `Thread(target=f).start()`      | [`Thread::start(f)`](Thread::start), [`Builder::start(f)`](Builder::start) → `Thread<T>` (starting twice cannot be written) |
//! | `Thread(target=f, args=(a,))`   | `Thread::start(Apply(f, a))`                     |
//! | `t.join()` / `t.join(timeout)`  | [`join`](Thread::join) / [`join_timeout`](Thread::join_timeout) (returns whether it finished) |
//! | `t.is_alive()`, `t.name`        | [`is_alive`](Thread::is_alive), [`name`](Thread::name) |
//! | `t.ident`, `t.native_id`        | [`ident`](Thread::ident), [`native_id`](Thread::native_id) |
//! | (return value lost)             | [`join_value`](Thread::join_value) (moves it out), [`result`](Thread::result), [`future`](Thread::future) |
//! | exception → `threading.excepthook` | a panic is [`Error::Panicked`] on the future; `Thread::start(Fallible(f))` makes an `Err` [`Error::Failed`] |
//! | non-daemon: joined at exit      | non-daemon: **joined when the handle is dropped** |
//! | daemon: abandoned at exit       | daemon: detached when the handle is dropped      |
//!
//! Like Python's `start()`, [`Builder::start`] returns once the new thread is running.
//! [`Process`](crate::Process) has the same API, as in Python.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::executor::{Apply, Fallible};
use crate::future::{self, Future, Shares};
use crate::sys;
use crate::work;

/// Configures a [`Thread`] (Python: the `Thread(...)` constructor's arguments).
#[derive(Debug, Default)]
#[must_use]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
}

impl Builder {
    /// The thread's name. Default: `Thread-N`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A daemon thread is detached when its handle is dropped; a non-daemon one (the default)
    /// is joined, as Python joins non-daemon threads before exiting.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Starts `target` on a new thread and returns once it runs (Python: `start()`):
    /// a closure, [`Apply`]`(f, arg)`, or [`Fallible`]`(f)` whose `Err` fails the future with
    /// [`Error::Failed`].
    ///
    /// # Errors
    /// [`Error::Io`] if the operating system refuses a new thread.
    pub fn start<W: Target>(self, target: W) -> Result<Thread<W::Output>> {
        self.start_job(move || target.run())
    }

    fn start_job<F, T>(self, target: F) -> Result<Thread<T>>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        static THREADS: AtomicUsize = AtomicUsize::new(1);
        let name = self
            .name
            .unwrap_or_else(|| format!("Thread-{}", THREADS.fetch_add(1, Ordering::Relaxed)));
        let (job, future) = work::job(target);
        let (exit_promise, exited) = future::pair::<()>();
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Running before `start` returns: a Python thread cannot be cancelled.
                let mut job = job;
                let started = job.start();
                let _ = started_tx.send(sys::current_native_id());
                if let Some(guess) = started {
                    job.run_started(guess, &mut || {});
                }
                let _ = exit_promise.set_result(());
            })
            .map_err(|e| Error::io(format!("cannot start thread {name:?}"), e))?;
        // The sender is dropped unsent only if the thread died before its first line, which
        // cannot happen: nothing before the send can panic.
        let native_id = started_rx.recv().ok().flatten();
        Ok(Thread {
            ident: handle.thread().id(),
            handle: Mutex::new(Some(handle)),
            native_id,
            name,
            daemon: self.daemon,
            future,
            shares: Shares::new(),
            exited,
        })
    }
}

/// What a [`Thread`] runs: a closure, [`Apply`]`(f, arg)`, or [`Fallible`]`(f)`.
#[diagnostic::on_unimplemented(
    message = "a Thread runs a `FnOnce() -> T + Send + 'static` closure, `Apply(f, arg)` or `Fallible(f)`",
    label = "not a thread target",
    note = "move what the closure uses into it (`move || ...`), and make it `Send`: an `Rc` or a borrowed local cannot go to another thread"
)]
pub trait Target: Send + 'static {
    /// What the thread's future gives.
    type Output: Send + 'static;
    /// Runs the target; `Err` fails the future.
    fn run(self) -> Result<Self::Output>;
}

impl<F, T> Target for F
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn run(self) -> Result<T> {
        Ok(self())
    }
}

impl<F, A, T> Target for Apply<F, A>
where
    F: FnOnce(A) -> T + Send + 'static,
    A: Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn run(self) -> Result<T> {
        let Apply(f, arg) = self;
        Ok(f(arg))
    }
}

impl<F, T, E> Target for Fallible<F>
where
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    T: Send + 'static,
{
    type Output = T;

    fn run(self) -> Result<T> {
        (self.0)().map_err(Error::failed)
    }
}

/// A started thread and the future of its target's return value.
///
/// ```
/// use concurra::Thread;
///
/// let t = Thread::builder().name("worker").start(|| 6 * 7).unwrap();
/// t.join().unwrap();
/// assert!(!t.is_alive());
/// assert_eq!(t.join_value().unwrap(), 42);
/// ```
pub struct Thread<T> {
    name: String,
    daemon: bool,
    ident: ThreadId,
    native_id: Option<u64>,
    /// `None` once joined.
    handle: Mutex<Option<JoinHandle<()>>>,
    future: Future<T>,
    shares: Shares<T>,
    /// Done once the target and its done-callbacks have run and the thread is exiting.
    exited: Future<()>,
}

impl Thread<()> {
    /// Configures a thread.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl<T: Send + 'static> Thread<T> {
    /// Starts `target` on a new thread with the default settings (see [`Builder::start`]).
    ///
    /// # Errors
    /// As [`Builder::start`].
    pub fn start<W: Target<Output = T>>(target: W) -> Result<Thread<T>> {
        Thread::builder().start(target)
    }
}

impl<T> Thread<T> {
    /// Blocks until the thread has finished (Python: `join()`).
    ///
    /// # Errors
    /// [`Error::InvalidState`] when called from the thread itself (Python: "cannot join
    /// current thread").
    pub fn join(&self) -> Result<()> {
        self.join_until(Duration::MAX).map(|_| ())
    }

    /// Waits at most `timeout` for the thread to finish; returns whether it has (Python:
    /// `join(timeout)` then `not is_alive()`).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.join_until(timeout)
    }

    fn join_until(&self, timeout: Duration) -> Result<bool> {
        if std::thread::current().id() == self.ident {
            return Err(Error::InvalidState("cannot join current thread".into()));
        }
        if !self.exited.wait_timeout(timeout) {
            return Ok(false);
        }
        // The thread is past its last line: reaping it does not block.
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        Ok(true)
    }

    /// True from start until the thread has finished.
    pub fn is_alive(&self) -> bool {
        !self.exited.done()
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the thread is a daemon (see [`Builder::daemon`]).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Rust's id for the thread (Python: `ident`); kept after the thread ends.
    pub fn ident(&self) -> ThreadId {
        self.ident
    }

    /// The kernel's id for the thread (Python: `native_id`), where the platform has one.
    pub fn native_id(&self) -> Option<u64> {
        self.native_id
    }

    /// A second handle on the target's return value: wait on it with `wait`, `as_completed`,
    /// `.await` or callbacks like any other. Sharing the value needs `T: Clone + Sync`.
    pub fn future(&self) -> Future<T>
    where
        T: Clone + Sync,
    {
        self.shares.share(&self.future)
    }

    /// Blocks until the target returns and gives a clone of its value; the handle stays.
    ///
    /// # Errors
    /// [`Error::Panicked`] if the target panicked, [`Error::Failed`] for a fallible target's
    /// `Err`, [`Error::InvalidState`] from the thread itself.
    pub fn result(&self) -> Result<T>
    where
        T: Clone + Sync,
    {
        self.future.result()
    }

    /// Joins the thread and moves its target's value out (any `T`: no `Clone`, no `Sync`).
    ///
    /// # Errors
    /// As [`result`](Self::result).
    pub fn join_value(mut self) -> Result<T> {
        self.join()?;
        let future = std::mem::replace(&mut self.future, Future::completed(Err(Error::Abandoned)));
        self.shares.take(future)
    }
}

/// The thread's future, taking the place of its handle: the thread is detached, as a
/// daemon's is (wait on the future instead of joining). No `Clone` needed: this is the one
/// reader.
impl<T> From<Thread<T>> for Future<T> {
    fn from(mut thread: Thread<T>) -> Future<T> {
        thread.daemon = true;
        std::mem::replace(&mut thread.future, Future::completed(Err(Error::Abandoned)))
    }
}

impl<T> Drop for Thread<T> {
    /// Joins a non-daemon thread (Python joins them at exit); detaches a daemon one.
    fn drop(&mut self) {
        if !self.daemon {
            let _ = self.join();
        }
    }
}

impl<T> fmt::Debug for Thread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("alive", &self.is_alive())
            .field("native_id", &self.native_id)
            .field("future", &self.future)
            .finish()
    }
}
