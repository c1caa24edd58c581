//! Signals on the event loop, with real signals sent to this process.
//!
//! From CPython's `Lib/test/test_asyncio/test_events.py`: `test_add_signal_handler` (every
//! error case; a delivery runs the handler once; remove restores the disposition; a second
//! remove is false), `test_signal_handling_while_selecting` (a loop blocked in its poll wakes
//! for the signal), `test_signal_handling_args` (the handler's arguments); from
//! `test_unix_events.py`: `test_close` (closing the loop removes its handlers) and
//! `test_remove_signal_handler_2`. Beyond CPython: a second add replaces the handler, a
//! panicking handler is reported and stays, the stream of deliveries, and signals at a high
//! rate for a second (the loop keeps serving, handlers coalesce, the last one is not lost).
//!
//! Signals are process-wide, so the tests take one lock.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use concurra::aio;
use concurra::signal::{self, Disposition, Signal};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LONG: Duration = Duration::from_secs(10);

/// Sends `signal` to the calling thread: delivered (the registry's handler has run) before
/// this returns. `kill(getpid())` would pick a thread of the kernel's choosing, which may run
/// the handler later, after the test restored the default disposition.
fn raise(signal: Signal) {
    // SAFETY: raise(3) with a valid signal number.
    let rc = unsafe { libc::raise(signal.number()) };
    assert_eq!(rc, 0);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (on the loop) until `cond` holds, checking once per loop iteration (each iteration
/// polls the reactor, where a raised signal's wake-up already waits), with a bound.
async fn until(mut cond: impl FnMut() -> bool) {
    aio::wait_for(
        async {
            while !cond() {
                aio::yield_now().await;
            }
        },
        LONG,
    )
    .await
    .expect("condition not reached in time");
}

#[test]
fn add_signal_handler_refuses_what_it_cannot_take() {
    let _s = serial();
    aio::run(async {
        for bad in [
            Signal::SIGKILL,
            Signal::SIGSTOP,
            Signal::new(libc::SIGSEGV).unwrap(),
            Signal::new(libc::SIGBUS).unwrap(),
            Signal::new(libc::SIGILL).unwrap(),
            Signal::new(libc::SIGFPE).unwrap(),
        ] {
            let before = signal::disposition(bad).unwrap();
            let e = aio::add_signal_handler(bad, || {}).unwrap_err();
            assert!(e.is_invalid_argument(), "{bad}: {e}");
            assert!(e.to_string().contains(&bad.name()), "{e}");
            assert!(aio::signal(bad).unwrap_err().is_invalid_argument());
            assert!(!aio::remove_signal_handler(bad));
            assert_eq!(signal::disposition(bad).unwrap(), before);
        }
    });
    // Out of range: not a signal at all (Python's ValueError).
    for n in [0, -1, 65, 1000] {
        assert!(Signal::new(n).unwrap_err().is_invalid_argument());
    }
    // Outside a running loop (Python: RuntimeError, "no running event loop").
    let e = aio::add_signal_handler(Signal::SIGUSR1, || {}).unwrap_err();
    assert!(e.is_invalid_state(), "{e}");
    assert!(aio::signal(Signal::SIGUSR1).unwrap_err().is_invalid_state());
    assert!(aio::add_signal_handler(Signal::SIGKILL, || {})
        .unwrap_err()
        .is_invalid_argument());
    assert!(!aio::remove_signal_handler(Signal::SIGUSR1));
    assert_eq!(
        signal::disposition(Signal::SIGUSR1).unwrap(),
        Disposition::Default
    );
}

#[test]
fn delivery_runs_the_handler_once_and_remove_restores() {
    let _s = serial();
    let fds = open_fds();
    aio::run(async {
        assert_eq!(
            signal::disposition(Signal::SIGINT).unwrap(),
            Disposition::Default
        );
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        aio::add_signal_handler(Signal::SIGINT, move || c.set(c.get() + 1)).unwrap();
        assert_eq!(
            signal::disposition(Signal::SIGINT).unwrap(),
            Disposition::Handler
        );
        raise(Signal::SIGINT);
        until(|| calls.get() > 0).await;
        for _ in 0..20 {
            aio::yield_now().await;
        }
        assert_eq!(calls.get(), 1);
        assert!(aio::remove_signal_handler(Signal::SIGINT));
        assert_eq!(
            signal::disposition(Signal::SIGINT).unwrap(),
            Disposition::Default
        );
        assert!(!aio::remove_signal_handler(Signal::SIGINT));
    });
    assert_eq!(open_fds(), fds);
}

#[test]
fn a_second_add_replaces_the_handler() {
    let _s = serial();
    aio::run(async {
        let first = Rc::new(Cell::new(0));
        let second = Rc::new(Cell::new(0));
        let f = first.clone();
        aio::add_signal_handler(Signal::SIGUSR1, move || f.set(f.get() + 1)).unwrap();
        let s = second.clone();
        aio::add_signal_handler(Signal::SIGUSR1, move || s.set(s.get() + 1)).unwrap();
        raise(Signal::SIGUSR1);
        until(|| second.get() > 0).await;
        assert_eq!(first.get(), 0);
        assert!(aio::remove_signal_handler(Signal::SIGUSR1));
        assert!(!aio::remove_signal_handler(Signal::SIGUSR1));
    });
    assert_eq!(
        signal::disposition(Signal::SIGUSR1).unwrap(),
        Disposition::Default
    );
}

#[test]
fn handler_arguments_are_what_the_closure_captures() {
    let _s = serial();
    aio::run(async {
        let seen = Rc::new(Cell::new(None));
        let (a, b) = (1, "two");
        let s = seen.clone();
        aio::add_signal_handler(Signal::SIGUSR2, move || s.set(Some((a, b)))).unwrap();
        raise(Signal::SIGUSR2);
        until(|| seen.get().is_some()).await;
        assert_eq!(seen.get(), Some((1, "two")));
    });
}

#[test]
fn closing_the_loop_removes_its_handlers() {
    let _s = serial();
    let fds = open_fds();
    aio::run(async {
        aio::add_signal_handler(Signal::SIGUSR1, || {}).unwrap();
        aio::add_signal_handler(Signal::SIGHUP, || {}).unwrap();
        let _stream = aio::signal(Signal::SIGWINCH).unwrap();
        assert_eq!(
            signal::disposition(Signal::SIGHUP).unwrap(),
            Disposition::Handler
        );
    });
    for s in [Signal::SIGUSR1, Signal::SIGHUP, Signal::SIGWINCH] {
        assert_eq!(signal::disposition(s).unwrap(), Disposition::Default, "{s}");
    }
    assert_eq!(open_fds(), fds);
    // A new loop on this thread starts without the old loop's handlers.
    aio::run(async {
        assert!(!aio::remove_signal_handler(Signal::SIGUSR1));
    });
}

#[test]
fn remove_restores_a_handler_installed_before() {
    let _s = serial();
    let (tx, rx) = std::sync::mpsc::channel();
    let threaded = signal::handle(Signal::SIGUSR2, move |s| tx.send(s).unwrap()).unwrap();
    aio::run(async {
        let got = Rc::new(aio::Event::new());
        let g = got.clone();
        aio::add_signal_handler(Signal::SIGUSR2, move || g.set()).unwrap();
        raise(Signal::SIGUSR2);
        got.wait().await;
        assert!(aio::remove_signal_handler(Signal::SIGUSR2));
    });
    // The threaded handler saw that delivery and still sees the next.
    assert_eq!(rx.recv_timeout(LONG).unwrap(), Signal::SIGUSR2);
    raise(Signal::SIGUSR2);
    assert_eq!(rx.recv_timeout(LONG).unwrap(), Signal::SIGUSR2);
    assert_eq!(
        signal::disposition(Signal::SIGUSR2).unwrap(),
        Disposition::Handler
    );
    threaded.remove();
    assert_eq!(
        signal::disposition(Signal::SIGUSR2).unwrap(),
        Disposition::Default
    );
}

#[test]
fn a_loop_blocked_in_its_poll_wakes_for_a_signal() {
    let _s = serial();
    aio::run(async {
        let got = Rc::new(aio::Event::new());
        let g = got.clone();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        aio::add_signal_handler(Signal::SIGALRM, move || {
            c.set(c.get() + 1);
            g.set();
        })
        .unwrap();
        // Another thread sends the signal while the loop has nothing to do but wait: the
        // only timer is the 10 s bound, so only the signal can wake the poll early.
        let sent = Arc::new(Mutex::new(None));
        let s = sent.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            *s.lock().unwrap() = Some(Instant::now());
            raise(Signal::SIGALRM);
        });
        aio::wait_for(got.wait(), LONG).await.unwrap();
        let woke = Instant::now();
        sender.join().unwrap();
        let sent = sent.lock().unwrap().expect("sent");
        assert!(woke - sent < Duration::from_secs(1), "{:?}", woke - sent);
        assert_eq!(calls.get(), 1);
        assert!(aio::remove_signal_handler(Signal::SIGALRM));
    });
}

#[test]
fn a_panicking_handler_is_reported_and_stays() {
    let _s = serial();
    let reports = Arc::new(AtomicUsize::new(0));
    let r = reports.clone();
    aio::Builder::new()
        .exception_handler(move |report| {
            assert_eq!(report.kind, aio::ReportKind::CallbackPanicked);
            r.fetch_add(1, Ordering::SeqCst);
        })
        .run(async {
            let calls = Rc::new(Cell::new(0));
            let c = calls.clone();
            aio::add_signal_handler(Signal::SIGUSR1, move || {
                c.set(c.get() + 1);
                panic!("handler panics");
            })
            .unwrap();
            raise(Signal::SIGUSR1);
            until(|| calls.get() == 1).await;
            raise(Signal::SIGUSR1);
            until(|| calls.get() == 2).await;
        });
    assert_eq!(reports.load(Ordering::SeqCst), 2);
}

#[test]
fn the_stream_yields_deliveries_and_restores_on_drop() {
    let _s = serial();
    aio::run(async {
        let mut usr1 = aio::signal(Signal::SIGUSR1).unwrap();
        assert!(!usr1.try_recv());
        for _ in 0..3 {
            raise(Signal::SIGUSR1);
            assert_eq!(aio::wait_for(usr1.next(), LONG).await.unwrap(), Some(()));
        }
        // Two deliveries before the stream is polled coalesce into one.
        raise(Signal::SIGUSR1);
        raise(Signal::SIGUSR1);
        assert_eq!(aio::wait_for(usr1.next(), LONG).await.unwrap(), Some(()));
        assert!(!usr1.try_recv());
        drop(usr1);
        assert_eq!(
            signal::disposition(Signal::SIGUSR1).unwrap(),
            Disposition::Default
        );
    });
}

#[test]
fn signals_at_a_high_rate_coalesce_and_the_loop_keeps_serving() {
    let _s = serial();
    aio::run(async {
        let calls = Rc::new(Cell::new(0u64));
        let c = calls.clone();
        aio::add_signal_handler(Signal::SIGUSR2, move || c.set(c.get() + 1)).unwrap();
        let ticks = Rc::new(Cell::new(0u64));
        let t = ticks.clone();
        let ticker = aio::create_task(async move {
            loop {
                aio::sleep(Duration::from_millis(1)).await;
                t.set(t.get() + 1);
            }
        });
        // About 10 kHz for a second from another thread.
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let sender = aio::to_thread(move || {
            let start = Instant::now();
            let mut sent = 0u64;
            while start.elapsed() < Duration::from_secs(1) && !st.load(Ordering::Relaxed) {
                raise(Signal::SIGUSR2);
                sent += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            sent
        });
        let sent = sender.await.unwrap();
        stop.store(true, Ordering::Relaxed);
        // Everything sent was handled or coalesced: at least one call, never more calls
        // than deliveries, and the loop's other work went on meanwhile.
        until(|| calls.get() > 0).await;
        assert!(
            calls.get() <= sent,
            "{} calls for {sent} signals",
            calls.get()
        );
        assert!(ticks.get() >= 100, "only {} ticks in a second", ticks.get());
        // The signal after the storm is not lost. Every storm delivery already sits in the
        // pipe (each `raise` returned after its handler wrote there): a few loop iterations
        // (each polls the reactor) hand the last of them to the handler before `settled`.
        for _ in 0..8 {
            aio::yield_now().await;
        }
        let settled = calls.get();
        raise(Signal::SIGUSR2);
        until(|| calls.get() > settled).await;
        ticker.cancel();
        assert!(aio::remove_signal_handler(Signal::SIGUSR2));
    });
}

#[test]
fn handlers_work_on_a_loop_in_any_thread() {
    let _s = serial();
    let t = std::thread::spawn(|| {
        aio::run(async {
            let got = Rc::new(aio::Event::new());
            let g = got.clone();
            aio::add_signal_handler(Signal::SIGUSR1, move || g.set()).unwrap();
            raise(Signal::SIGUSR1);
            aio::wait_for(got.wait(), LONG).await.unwrap();
            aio::remove_signal_handler(Signal::SIGUSR1)
        })
    });
    assert!(t.join().unwrap());
}
