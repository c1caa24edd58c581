//! Signals for threaded programs: Python's `signal` module, without running anything in
//! signal context.
//!
//! | Python                                            | concurra                                   |
//! |---------------------------------------------------|--------------------------------------------|
//! | `signal.SIGTERM`, `signal.Signals(n)`, `.name`     | [`Signal::SIGTERM`], [`Signal::new`], [`Signal::name`] |
//! | `signal.signal(sig, handler)`                     | [`handle`]`(sig, f)` → [`Handler`]; `f` runs on a signal thread |
//! | `signal.signal(sig, signal.SIG_DFL)` (undo)       | drop the [`Handler`] (or [`Handler::remove`]): the disposition found is restored |
//! | `signal.getsignal(sig)`                           | [`disposition`] → [`Disposition`]         |
//! | `signal.sigwait(sigs)`, `sigtimedwait(sigs, t)`    | [`wait`], [`wait_timeout`]                 |
//! | a loop over `sigwait`                             | [`Signals`]: an iterator of deliveries     |
//!
//! # How a signal travels
//!
//! concurra installs one small handler per watched signal (`sys/signal.rs`, the process-wide
//! registry). In signal context it only records the signal and writes a byte to a pipe; the
//! code you give runs later on an ordinary thread, so it may lock, allocate, print or
//! submit work. Dropping the last watcher of a signal restores the disposition that was there
//! before (the default, "ignore", or another library's handler), and while concurra watches a
//! signal it still calls a handler another library had installed.
//!
//! # Coalescing
//!
//! Deliveries of one signal that arrive before the watcher reads coalesce into one, as
//! POSIX signals themselves do: count work done, not signals received.
//!
//! # What is refused
//!
//! [`Error::InvalidArgument`]: `SIGKILL` and `SIGSTOP` (cannot be caught), `SIGSEGV`, `SIGBUS`,
//! `SIGILL` and `SIGFPE` (faults the thread cannot continue from), and numbers that are not
//! signals on this platform.
//!
//! ```
//! use std::time::Duration;
//! use concurra::signal::{self, Signal, Signals};
//!
//! let mut signals = Signals::new([Signal::SIGUSR1]).unwrap();
//! signal::raise(Signal::SIGUSR1).unwrap();
//! assert_eq!(signals.wait_timeout(Duration::from_secs(5)), Some(Signal::SIGUSR1));
//! ```

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::signal as registry;

/// A signal number (Python: `signal.Signals`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

impl Signal {
    /// Hangup.
    pub const SIGHUP: Signal = Signal(libc::SIGHUP);
    /// Interrupt (Ctrl-C).
    pub const SIGINT: Signal = Signal(libc::SIGINT);
    /// Quit (Ctrl-\).
    pub const SIGQUIT: Signal = Signal(libc::SIGQUIT);
    /// User signal 1.
    pub const SIGUSR1: Signal = Signal(libc::SIGUSR1);
    /// User signal 2.
    pub const SIGUSR2: Signal = Signal(libc::SIGUSR2);
    /// Write to a pipe with no reader.
    pub const SIGPIPE: Signal = Signal(libc::SIGPIPE);
    /// Timer (`alarm`).
    pub const SIGALRM: Signal = Signal(libc::SIGALRM);
    /// Termination request.
    pub const SIGTERM: Signal = Signal(libc::SIGTERM);
    /// A child stopped or exited.
    pub const SIGCHLD: Signal = Signal(libc::SIGCHLD);
    /// Continue after a stop.
    pub const SIGCONT: Signal = Signal(libc::SIGCONT);
    /// Terminal window size changed.
    pub const SIGWINCH: Signal = Signal(libc::SIGWINCH);
    /// Kill (cannot be caught).
    pub const SIGKILL: Signal = Signal(libc::SIGKILL);
    /// Stop (cannot be caught).
    pub const SIGSTOP: Signal = Signal(libc::SIGSTOP);

    /// The signal numbered `number` (Python: `signal.Signals(n)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `number` is not a signal on this platform.
    pub fn new(number: i32) -> Result<Signal> {
        if (1..=registry::max_signal()).contains(&number) {
            Ok(Signal(number))
        } else {
            Err(Error::InvalidArgument(format!(
                "{number} is not a signal number on this platform (1..={})",
                registry::max_signal()
            )))
        }
    }

    /// The signal's number.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The signal's name, `"SIGTERM"` (realtime signals are `"SIGRTMIN+<n>"`).
    pub fn name(self) -> String {
        const NAMED: [(Signal, &str); 13] = [
            (Signal::SIGHUP, "SIGHUP"),
            (Signal::SIGINT, "SIGINT"),
            (Signal::SIGQUIT, "SIGQUIT"),
            (Signal::SIGUSR1, "SIGUSR1"),
            (Signal::SIGUSR2, "SIGUSR2"),
            (Signal::SIGPIPE, "SIGPIPE"),
            (Signal::SIGALRM, "SIGALRM"),
            (Signal::SIGTERM, "SIGTERM"),
            (Signal::SIGCHLD, "SIGCHLD"),
            (Signal::SIGCONT, "SIGCONT"),
            (Signal::SIGWINCH, "SIGWINCH"),
            (Signal::SIGKILL, "SIGKILL"),
            (Signal::SIGSTOP, "SIGSTOP"),
        ];
        match NAMED.iter().find(|(s, _)| *s == self) {
            Some((_, name)) => (*name).to_owned(),
            None => realtime_name(self.0).unwrap_or_else(|| format!("SIG{}", self.0)),
        }
    }

    /// Takes the lowest signal out of a registry mask (bit `n - 1` for signal `n`).
    fn pop_lowest(mask: &mut u64) -> Option<Signal> {
        if *mask == 0 {
            return None;
        }
        let n = mask.trailing_zeros() as i32 + 1;
        *mask &= *mask - 1;
        Some(Signal(n))
    }

    /// The signal if concurra may watch it, else why not.
    pub(crate) fn watchable(self) -> Result<i32> {
        match registry::refusal(self.0) {
            None => Ok(self.0),
            Some(why) => Err(Error::InvalidArgument(format!("{self} {why}"))),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn realtime_name(n: i32) -> Option<String> {
    let min = libc::SIGRTMIN();
    (min..=libc::SIGRTMAX())
        .contains(&n)
        .then(|| format!("SIGRTMIN+{}", n - min))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn realtime_name(_: i32) -> Option<String> {
    None
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Deliveries of a set of signals, read on the calling thread: an iterator that blocks for
/// the next one (Python: a `signal.sigwait` loop).
///
/// While a `Signals` lives its signals are caught (their default action, such as ending the
/// process, does not happen); dropping the last watcher of a signal restores its
/// disposition.
///
/// ```
/// use concurra::signal::{self, Signal, Signals};
///
/// let mut signals = Signals::new([Signal::SIGUSR2]).unwrap();
/// signal::raise(Signal::SIGUSR2).unwrap();
/// assert_eq!(signals.next(), Some(Signal::SIGUSR2));
/// ```
#[derive(Debug)]
pub struct Signals {
    subscription: registry::Subscription,
    /// Taken from the registry, not yet returned (lowest number first).
    ready: u64,
}

impl Signals {
    /// Starts watching `signals`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a signal concurra may not take (module docs), or an empty
    /// set; [`Error::Io`](crate::Error) if the registry is out of room or descriptors.
    pub fn new(signals: impl IntoIterator<Item = Signal>) -> Result<Signals> {
        let numbers = signals
            .into_iter()
            .map(Signal::watchable)
            .collect::<Result<Vec<i32>>>()?;
        if numbers.is_empty() {
            return Err(Error::InvalidArgument(
                "watch at least one signal".to_owned(),
            ));
        }
        let subscription = registry::subscribe(&numbers).map_err(|e| Error::io("signal", e))?;
        Ok(Signals {
            subscription,
            ready: 0,
        })
    }

    /// The next delivery already recorded, without waiting.
    pub fn try_next(&mut self) -> Option<Signal> {
        if self.ready == 0 {
            self.ready = self.subscription.take();
        }
        self.pop()
    }

    /// Blocks until a watched signal is delivered (Python: `signal.sigwait`).
    pub fn wait(&mut self) -> Signal {
        loop {
            if let Some(signal) = self.wait_until(None) {
                return signal;
            }
        }
    }

    /// Blocks at most `timeout` for a delivery (Python: `signal.sigtimedwait`); `None` when
    /// none came.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Signal> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Signal> {
        loop {
            if let Some(signal) = self.try_next() {
                return Some(signal);
            }
            match crate::sys::wait_readable(self.subscription.fd(), deadline) {
                Ok(true) => {}
                Ok(false) => return self.try_next(),
                // poll(2) on a descriptor we own fails only on resource exhaustion: retry.
                Err(_) => std::thread::yield_now(),
            }
        }
    }

    fn pop(&mut self) -> Option<Signal> {
        Signal::pop_lowest(&mut self.ready)
    }
}

/// Blocks on the next delivery: never ends.
impl Iterator for Signals {
    type Item = Signal;

    fn next(&mut self) -> Option<Signal> {
        Some(self.wait())
    }
}

/// Waits for one of `signals` (Python: `signal.sigwait`): they are caught while it waits and
/// their dispositions restored after.
///
/// # Errors
/// As [`Signals::new`].
pub fn wait(signals: impl IntoIterator<Item = Signal>) -> Result<Signal> {
    Ok(Signals::new(signals)?.wait())
}

/// [`wait`] for at most `timeout` (Python: `signal.sigtimedwait`): `Ok(None)` when none came.
///
/// # Errors
/// As [`Signals::new`].
pub fn wait_timeout(
    signals: impl IntoIterator<Item = Signal>,
    timeout: Duration,
) -> Result<Option<Signal>> {
    Ok(Signals::new(signals)?.wait_timeout(timeout))
}

/// Sends `signal` to this process (Python: `signal.raise_signal`, for the process rather than
/// the thread, so any thread may take it).
///
/// # Errors
/// [`Error::Io`](crate::Error) if the kernel refuses.
pub fn raise(signal: Signal) -> Result<()> {
    crate::sys::signal_self(signal.0).map_err(|e| Error::io("kill", e))
}

/// A signal's disposition now (Python: `signal.getsignal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The default action (`SIG_DFL`).
    Default,
    /// Ignored (`SIG_IGN`).
    Ignore,
    /// A handler is installed (concurra's or another's).
    Handler,
}

/// Reads `signal`'s disposition without changing it.
///
/// # Errors
/// [`Error::Io`](crate::Error) if the kernel refuses.
pub fn disposition(signal: Signal) -> Result<Disposition> {
    match registry::disposition(signal.0).map_err(|e| Error::io("sigaction", e))? {
        registry::Disposition::Default => Ok(Disposition::Default),
        registry::Disposition::Ignore => Ok(Disposition::Ignore),
        registry::Disposition::Handler => Ok(Disposition::Handler),
    }
}

/// A function run for every delivery of a signal, on a thread of its own (Python:
/// `signal.signal(sig, handler)`; Python runs it on the main thread between bytecodes,
/// concurra on a signal thread, never in signal context).
///
/// Dropping it (or [`remove`](Self::remove)) stops the thread and restores the disposition
/// found when the signal was first watched. A panicking function is reported on stderr and
/// the handler keeps running.
///
/// ```
/// use std::sync::mpsc;
/// use concurra::signal::{self, Signal};
///
/// let (tx, rx) = mpsc::channel();
/// let handler = signal::handle(Signal::SIGWINCH, move |sig| tx.send(sig).unwrap()).unwrap();
/// signal::raise(Signal::SIGWINCH).unwrap();
/// assert_eq!(rx.recv().unwrap(), Signal::SIGWINCH);
/// handler.remove();
/// ```
#[derive(Debug)]
pub struct Handler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    waker: Arc<Signals>,
    thread: Option<JoinHandle<()>>,
}

/// Runs `f` on a signal thread for each delivery of `signal` (deliveries coalesce: module
/// docs).
///
/// # Errors
/// As [`Signals::new`]; [`Error::Io`](crate::Error) if the thread cannot start.
pub fn handle(signal: Signal, f: impl Fn(Signal) + Send + 'static) -> Result<Handler> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let signals = Arc::new(Signals::new([signal])?);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name(format!("concurra-signal-{}", signal.name()))
        .spawn({
            let signals = signals.clone();
            let stop = stop.clone();
            move || loop {
                let _ = crate::sys::wait_readable(signals.subscription.fd(), None);
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let mut ready = signals.subscription.take();
                while let Some(sig) = Signal::pop_lowest(&mut ready) {
                    crate::unwind::report(&format_args!("a handler of {sig}"), || f(sig));
                }
            }
        })
        .map_err(|e| Error::io("thread", e))?;
    Ok(Handler {
        stop,
        waker: signals,
        thread: Some(thread),
    })
}

impl Handler {
    /// Stops handling: the thread ends and the disposition is restored.
    pub fn remove(self) {}
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.waker.subscription.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
