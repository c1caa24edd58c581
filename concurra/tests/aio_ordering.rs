//! The event loop's scheduling order: tasks, `call_soon`, timers, `sleep(0)`; handles; the
//! loop's lifetime. Python's rules (python-semantics.md §1.9, §1.10, checked against CPython
//! 3.11 in python-checks/check_asyncio*.py and test_asyncio's test_events / test_tasks).
//!
//! Timers are checked by the order they fire in, on a `PausedClock`, never by wall time.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::aio::paused;
use concurra::aio;

/// An append-only log shared by the callbacks and tasks of one test.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }

    /// A callback that logs `s`.
    fn cb(&self, s: &str) -> impl FnOnce() + 'static {
        let log = self.clone();
        let s = s.to_owned();
        move || log.push(s)
    }
}

#[test]
fn run_returns_mains_value() {
    assert_eq!(aio::run(async { 6 * 7 }), 42);
}

#[test]
fn tasks_start_in_creation_order_only_when_the_creator_yields() {
    let log = Log::default();
    let l = log.clone();
    aio::run(async move {
        for i in 0..5 {
            let l = l.clone();
            aio::create_task(async move { l.push(format!("task {i}")) });
        }
        l.push("main before yield");
        aio::sleep(Duration::ZERO).await;
        l.push("main after yield");
    });
    assert_eq!(
        log.take(),
        [
            "main before yield",
            "task 0",
            "task 1",
            "task 2",
            "task 3",
            "task 4",
            "main after yield"
        ]
    );
}

#[test]
fn call_soon_is_fifo() {
    let log = Log::default();
    let l = log.clone();
    aio::run(async move {
        for i in 0..20 {
            aio::call_soon(l.cb(&i.to_string()));
        }
        aio::yield_now().await;
    });
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(log.take(), expected);
}

#[test]
fn a_due_timer_runs_after_callbacks_already_ready() {
    // CPython: call_later(0, a); call_soon(b) runs b first.
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        aio::call_later(Duration::ZERO, l.cb("later(0)"));
        aio::call_soon(l.cb("soon"));
        let now = aio::time();
        aio::call_at(now, l.cb("at(now)"));
        aio::call_soon(l.cb("soon 2"));
        aio::sleep(Duration::from_secs(1)).await;
    });
    assert_eq!(log.take(), ["soon", "soon 2", "later(0)", "at(now)"]);
}

#[test]
fn sleep_zero_yields_exactly_one_iteration() {
    // test_sleep_zero: callbacks queued before sleep(0) run first; one queued by such a
    // callback runs one iteration later, after main has resumed.
    let log = Log::default();
    let l = log.clone();
    aio::run(async move {
        let l2 = l.clone();
        aio::call_soon(move || {
            l2.push("cb1");
            aio::call_soon(l2.cb("cb2 (scheduled by cb1)"));
        });
        aio::sleep(Duration::ZERO).await;
        l.push("main resumed");
        aio::yield_now().await;
        l.push("main resumed again");
    });
    assert_eq!(
        log.take(),
        [
            "cb1",
            "main resumed",
            "cb2 (scheduled by cb1)",
            "main resumed again"
        ]
    );
}

#[test]
fn yielding_tasks_interleave() {
    let log = Log::default();
    let l = log.clone();
    aio::run(async move {
        let a = {
            let l = l.clone();
            aio::create_task(async move {
                for i in 0..3 {
                    l.push(format!("a{i}"));
                    aio::yield_now().await;
                }
            })
        };
        let b = {
            let l = l.clone();
            aio::create_task(async move {
                for i in 0..3 {
                    l.push(format!("b{i}"));
                    aio::yield_now().await;
                }
            })
        };
        a.await.unwrap();
        b.await.unwrap();
    });
    assert_eq!(log.take(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn timers_fire_in_deadline_order_and_equal_deadlines_fifo() {
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        aio::call_later(Duration::from_secs(3), l.cb("3s"));
        aio::call_later(Duration::from_secs(1), l.cb("1s"));
        aio::call_later(Duration::from_secs(2), l.cb("2s"));
        let when = aio::time() + Duration::from_millis(1500);
        for i in 0..8 {
            aio::call_at(when, l.cb(&format!("1.5s #{i}")));
        }
        aio::sleep(Duration::from_secs(4)).await;
    });
    let mut expected = vec!["1s".to_owned()];
    expected.extend((0..8).map(|i| format!("1.5s #{i}")));
    expected.extend(["2s".to_owned(), "3s".to_owned()]);
    assert_eq!(log.take(), expected);
}

#[test]
fn sleeping_tasks_wake_in_deadline_order() {
    let log = Log::default();
    let l = log.clone();
    let end = paused(async move {
        let tasks: Vec<_> = [3u64, 1, 2, 1]
            .into_iter()
            .enumerate()
            .map(|(i, secs)| {
                let l = l.clone();
                aio::create_task(async move {
                    aio::sleep(Duration::from_secs(secs)).await;
                    l.push(format!("task {i} after {secs}s at {:?}", aio::time()));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        aio::time()
    });
    assert_eq!(
        log.take(),
        [
            "task 1 after 1s at 1s",
            "task 3 after 1s at 1s",
            "task 2 after 2s at 2s",
            "task 0 after 3s at 3s"
        ]
    );
    assert_eq!(end, Duration::from_secs(3));
}

#[test]
fn cancelled_handles_never_run() {
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        let soon = aio::call_soon(l.cb("soon"));
        let later = aio::call_later(Duration::from_secs(1), l.cb("later"));
        let kept = aio::call_later(Duration::from_secs(2), l.cb("kept"));
        assert_eq!(later.when(), Some(aio::time() + Duration::from_secs(1)));
        assert_eq!(soon.when(), None);
        soon.cancel();
        later.cancel();
        later.cancel();
        assert!(soon.cancelled() && later.cancelled() && !kept.cancelled());
        aio::sleep(Duration::from_secs(3)).await;
    });
    assert_eq!(log.take(), ["kept"]);
}

#[test]
fn many_cancelled_timers_leave_the_live_ones_in_order() {
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        let handles: Vec<_> = (0..300u64)
            .map(|i| aio::call_later(Duration::from_millis(1000 - i), l.cb(&i.to_string())))
            .collect();
        for (i, h) in handles.iter().enumerate() {
            if i % 10 != 0 {
                h.cancel();
            }
        }
        // Dropped sleeps count as cancelled timers too.
        for _ in 0..200 {
            let mut s = std::pin::pin!(aio::sleep(Duration::from_secs(5)));
            let waker = std::task::Waker::noop();
            let _ = s.as_mut().poll(&mut std::task::Context::from_waker(waker));
        }
        aio::sleep(Duration::from_secs(2)).await;
    });
    let expected: Vec<String> = (0..300)
        .rev()
        .filter(|i| i % 10 == 0)
        .map(|i: u64| i.to_string())
        .collect();
    assert_eq!(log.take(), expected);
}

#[test]
fn timers_across_many_buckets_and_in_the_past_keep_deadline_order() {
    // Deadlines spread over 0-50 ms (about 190 buckets of 262 us), some equal; from inside
    // the run, a timer in the past and one due now join behind what is already due.
    let log = Log::default();
    let l = log.clone();
    let mut expected: Vec<(u64, usize)> = Vec::new();
    paused(async move {
        for (n, i) in (0..400u64).enumerate() {
            let at = Duration::from_micros((i * 7919) % 50_000 / 10 * 10);
            expected.push((at.as_micros() as u64, n));
            aio::call_at(at, l.cb(&format!("{}:{n}", at.as_micros())));
        }
        aio::sleep(Duration::from_millis(30)).await;
        let l2 = l.clone();
        aio::call_at(Duration::from_millis(5), move || l2.push("past"));
        let l3 = l.clone();
        aio::call_later(Duration::ZERO, move || l3.push("now"));
        aio::sleep(Duration::from_millis(30)).await;
        expected.sort();
        let before: Vec<String> = expected
            .iter()
            .filter(|(at, _)| *at <= 30_000)
            .map(|(at, n)| format!("{at}:{n}"))
            .collect();
        let after: Vec<String> = expected
            .iter()
            .filter(|(at, _)| *at > 30_000)
            .map(|(at, n)| format!("{at}:{n}"))
            .collect();
        let got = l.take();
        assert_eq!(got[..before.len()], before[..]);
        assert_eq!(got[before.len()..before.len() + 2], ["past", "now"]);
        assert_eq!(got[before.len() + 2..], after[..]);
    });
}

#[test]
fn a_sleep_polled_with_another_waker_wakes_the_latest_one() {
    // First polled by hand with a waker that does nothing, then awaited by the task: the
    // timer must wake the task (the later waker), in deadline order with another sleep.
    let log = Log::default();
    let l = log.clone();
    let now = paused(async move {
        let mut first = Box::pin(aio::sleep(Duration::from_secs(2)));
        let noop = std::task::Waker::noop();
        assert!(first
            .as_mut()
            .poll(&mut std::task::Context::from_waker(noop))
            .is_pending());
        let l2 = l.clone();
        let other = aio::create_task(async move {
            aio::sleep(Duration::from_secs(1)).await;
            l2.push("one");
        });
        first.await;
        l.push("two");
        other.await.unwrap();
        aio::time()
    });
    assert_eq!(now, Duration::from_secs(2));
    assert_eq!(log.take(), ["one", "two"]);
}

#[test]
fn a_dropped_sleep_never_moves_the_paused_clock() {
    let now = paused(async {
        {
            let mut s = std::pin::pin!(aio::sleep(Duration::from_secs(10)));
            let noop = std::task::Waker::noop();
            let _ = s.as_mut().poll(&mut std::task::Context::from_waker(noop));
        }
        // The loop idles here with the dropped sleep's entry on top of the heap: it is
        // discarded, neither waited for nor taken as fired.
        aio::to_thread(|| ()).await.unwrap();
        let before = aio::time();
        // A later, earlier sleep (the timeout's) polled again before its deadline is not done.
        let out = aio::wait_for(
            async {
                for _ in 0..3 {
                    aio::yield_now().await;
                }
                7
            },
            Duration::from_secs(5),
        )
        .await;
        aio::sleep(Duration::from_secs(1)).await;
        (before, out.unwrap(), aio::time())
    });
    assert_eq!(now, (Duration::ZERO, 7, Duration::from_secs(1)));
}

#[test]
fn a_panicking_callback_does_not_stop_the_loop() {
    let log = Log::default();
    let l = log.clone();
    aio::run(async move {
        aio::call_soon(|| panic!("callback boom"));
        aio::call_soon(l.cb("next callback"));
        aio::yield_now().await;
        l.push("main goes on");
    });
    assert_eq!(log.take(), ["next callback", "main goes on"]);
}

#[test]
fn the_running_loop_is_reachable_inside_only() {
    let err = aio::get_running_loop().unwrap_err();
    assert!(err.is_invalid_state(), "{err:?}");
    let log = Log::default();
    let l = log.clone();
    let closed_after = paused(async move {
        let lp = aio::get_running_loop().unwrap();
        assert!(!lp.is_closed());
        let t0 = lp.time();
        lp.call_later(Duration::from_secs(1), l.cb("via loop"));
        lp.create_task(aio::sleep(Duration::from_secs(2)))
            .await
            .unwrap();
        assert_eq!(lp.time() - t0, Duration::from_secs(2));
        lp
    });
    assert!(closed_after.is_closed());
    // A closed loop accepts nothing: the handle comes back cancelled.
    assert!(closed_after.call_soon(|| unreachable!()).cancelled());
    assert_eq!(log.take(), ["via loop"]);
}

#[test]
fn run_inside_a_running_loop_is_refused() {
    let out = aio::run(async { aio::create_task(async { aio::run(async {}) }).await });
    let err = out.unwrap_err();
    assert!(
        err.panic_message()
            .unwrap()
            .contains("cannot be called from a running event loop"),
        "{err:?}"
    );
}

#[test]
fn a_panic_in_main_leaves_run_and_the_thread_can_run_again() {
    let caught = std::panic::catch_unwind(|| {
        aio::run(async {
            aio::create_task(std::future::pending::<()>());
            aio::yield_now().await;
            panic!("main boom");
        })
    });
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main boom"));
    assert_eq!(aio::run(async { 1 }), 1);
}

#[test]
#[should_panic(expected = "needs a running event loop")]
fn create_task_outside_a_loop_panics() {
    let _ = aio::create_task(async {});
}

#[test]
fn try_run_inside_a_running_loop_is_an_invalid_state_error() {
    let (nested, builder) = aio::run(async {
        let nested = aio::try_run(async { unreachable!("never polled") });
        let builder = aio::Builder::new().try_run(async {});
        (nested, builder)
    });
    assert!(nested.unwrap_err().is_invalid_state());
    let err = builder.unwrap_err();
    assert!(err.is_invalid_state());
    assert!(err
        .to_string()
        .contains("cannot be called from a running event loop"));
    // Outside a loop it runs main.
    assert_eq!(aio::try_run(async { 5 }).unwrap(), 5);
}
