//! The `signal` module with real signals sent to this process.
//!
//! From CPython's `Lib/test/test_signal.py`: `test_getsignal` (the disposition reads back),
//! `test_invalid_signal` / `test_out_of_range_signal` (refused numbers), `test_sigwait`,
//! `test_sigtimedwait` and `test_sigtimedwait_timeout` (waiting for a set, with a timeout).
//! Beyond CPython: dropping the last watcher restores the disposition found, including
//! "ignore" and another library's handler (which is also chained while concurra watches);
//! handlers run on a signal thread and survive a panic; no descriptor is left behind.
//!
//! Signals are process-wide, so the tests take one lock and each uses its own signals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Barrier, Mutex, MutexGuard};
use std::time::Duration;

use concurra::signal::{self, Disposition, Signal, Signals};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LONG: Duration = Duration::from_secs(10);

fn rt(n: i32) -> Signal {
    Signal::new(libc::SIGRTMIN() + n).unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn sigwait_returns_a_raised_signal() {
    let _s = serial();
    let mut signals = Signals::new([Signal::SIGUSR1, rt(1)]).unwrap();
    signal::raise(rt(1)).unwrap();
    assert_eq!(signals.wait_timeout(LONG), Some(rt(1)));
    signal::raise(Signal::SIGUSR1).unwrap();
    assert_eq!(signals.wait(), Signal::SIGUSR1);
    assert_eq!(signals.try_next(), None);
}

#[test]
fn sigtimedwait_times_out_with_nothing() {
    let _s = serial();
    assert_eq!(
        signal::wait_timeout([rt(2)], Duration::from_millis(20)).unwrap(),
        None
    );
}

#[test]
fn a_blocked_waiter_wakes_for_a_signal_sent_from_another_thread() {
    let _s = serial();
    let mut signals = Signals::new([rt(3)]).unwrap();
    let go = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            go.wait();
            signal::raise(rt(3)).unwrap();
        });
        go.wait();
        assert_eq!(signals.wait_timeout(LONG), Some(rt(3)));
    });
}

#[test]
fn deliveries_coalesce_and_are_never_invented() {
    let _s = serial();
    let mut signals = Signals::new([rt(4)]).unwrap();
    for _ in 0..3 {
        signal::raise(rt(4)).unwrap();
    }
    assert_eq!(signals.wait_timeout(LONG), Some(rt(4)));
    let mut more = 0;
    while signals.wait_timeout(Duration::from_millis(20)).is_some() {
        more += 1;
    }
    assert!(more <= 2, "3 raises gave {} deliveries", more + 1);
}

#[test]
fn every_watcher_of_a_signal_gets_it() {
    let _s = serial();
    let mut a = Signals::new([rt(5)]).unwrap();
    let mut b = Signals::new([rt(5), rt(6)]).unwrap();
    signal::raise(rt(5)).unwrap();
    assert_eq!(a.wait_timeout(LONG), Some(rt(5)));
    assert_eq!(b.wait_timeout(LONG), Some(rt(5)));
    signal::raise(rt(6)).unwrap();
    assert_eq!(b.wait_timeout(LONG), Some(rt(6)));
    assert_eq!(a.try_next(), None);
}

#[test]
fn the_last_watcher_restores_the_default_disposition() {
    let _s = serial();
    let sig = Signal::SIGUSR2;
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Default);
    let first = Signals::new([sig]).unwrap();
    let second = Signals::new([sig]).unwrap();
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Handler);
    drop(first);
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Handler);
    drop(second);
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Default);
}

fn set_disposition(sig: Signal, handler: libc::sighandler_t) {
    // SAFETY: a zeroed sigaction with a valid handler (SIG_IGN or an async-signal-safe fn).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        assert_eq!(
            libc::sigaction(sig.number(), &action, std::ptr::null_mut()),
            0
        );
    }
}

#[test]
fn an_ignored_signal_is_ignored_again_after() {
    let _s = serial();
    let sig = rt(7);
    set_disposition(sig, libc::SIG_IGN);
    let mut signals = Signals::new([sig]).unwrap();
    signal::raise(sig).unwrap();
    assert_eq!(signals.wait_timeout(LONG), Some(sig));
    drop(signals);
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Ignore);
    // Ignored again: raising it does nothing to the process.
    signal::raise(sig).unwrap();
    set_disposition(sig, libc::SIG_DFL);
}

static THEIRS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn their_handler(_: libc::c_int) {
    THEIRS.fetch_add(1, Ordering::SeqCst);
}

/// Whether their handler's count reaches `n` within a few seconds of yielding.
fn theirs_reaches(n: usize) -> bool {
    let deadline = std::time::Instant::now() + LONG;
    while THEIRS.load(Ordering::SeqCst) < n {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    THEIRS.load(Ordering::SeqCst) == n
}

#[test]
fn another_librarys_handler_is_chained_then_restored() {
    let _s = serial();
    let sig = rt(8);
    set_disposition(
        sig,
        their_handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
    );
    let before = THEIRS.load(Ordering::SeqCst);
    let mut signals = Signals::new([sig]).unwrap();
    signal::raise(sig).unwrap();
    assert_eq!(signals.wait_timeout(LONG), Some(sig));
    // A process-directed signal may be handled by any thread: the chained call may still be
    // running there when the pipe wakes us.
    assert!(theirs_reaches(before + 1), "chained while watched");
    drop(signals);
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Handler);
    signal::raise(sig).unwrap();
    assert!(theirs_reaches(before + 2), "theirs alone after");
    set_disposition(sig, libc::SIG_DFL);
}

#[test]
fn a_handler_runs_on_a_signal_thread_and_survives_a_panic() {
    let _s = serial();
    let sig = rt(9);
    let (tx, rx) = mpsc::channel();
    let calls = AtomicUsize::new(0);
    let handler = signal::handle(sig, move |s| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("first delivery");
        }
        tx.send((s, std::thread::current().name().map(str::to_owned)))
            .unwrap();
    })
    .unwrap();
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Handler);
    // The first delivery panics in the handler; keep raising until the second is seen.
    let mut got = None;
    for _ in 0..100 {
        signal::raise(sig).unwrap();
        if let Ok(seen) = rx.recv_timeout(Duration::from_millis(100)) {
            got = Some(seen);
            break;
        }
    }
    let (s, name) = got.expect("the handler ran after its panic");
    assert_eq!(s, sig);
    assert!(name.unwrap().starts_with("concurra-signal-"));
    handler.remove();
    assert_eq!(signal::disposition(sig).unwrap(), Disposition::Default);
}

#[test]
fn refused_signals_are_clear_errors() {
    let _s = serial();
    for sig in [Signal::SIGKILL, Signal::SIGSTOP] {
        let e = Signals::new([sig]).unwrap_err();
        assert!(e.is_invalid_argument(), "{e}");
        assert!(e.to_string().contains("cannot be caught"), "{e}");
    }
    for n in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
        let e = Signals::new([Signal::new(n).unwrap()]).unwrap_err();
        assert!(e.is_invalid_argument(), "{e}");
    }
    for n in [0, -1, 65, 1000] {
        assert!(Signal::new(n).unwrap_err().is_invalid_argument());
    }
    assert!(Signals::new([]).unwrap_err().is_invalid_argument());
    assert!(signal::handle(Signal::SIGKILL, |_| {}).is_err());
    assert_eq!(Signal::SIGTERM.to_string(), "SIGTERM");
}

#[test]
fn no_descriptor_is_left_behind() {
    let _s = serial();
    let before = open_fds();
    for _ in 0..100 {
        let mut signals = Signals::new([rt(10)]).unwrap();
        signal::raise(rt(10)).unwrap();
        assert_eq!(signals.wait_timeout(LONG), Some(rt(10)));
    }
    let handler = signal::handle(rt(10), |_| {}).unwrap();
    drop(handler);
    assert_eq!(open_fds(), before);
    assert_eq!(signal::disposition(rt(10)).unwrap(), Disposition::Default);
}
