//! Loop tasks: results, cancellation, panics, `gather` and `wait_for`. Python's rules are in
//! python-semantics.md §1.10–1.11 (test_asyncio's test_tasks: test_cancel_at_end,
//! test_cancel_awaited_task, test_cancel_inner_future; test_gather / test_waitfor), and the
//! cancel count (`Task::cancelling` / `uncancel`: test_uncancel_basic, test_cancelling).
//!
//! Changes from Python, on purpose: a cancelled coroutine is dropped, not resumed with
//! `CancelledError`, so it cannot swallow the cancellation; `wait_for` drops the awaitable
//! synchronously on timeout. Timers run on a `PausedClock` and are checked by order only.

use std::cell::RefCell;
use std::future::{pending, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::aio::{flag, paused, OnDrop};
use concurra::aio;
use concurra::{future, Error};

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

#[test]
fn a_task_completes_its_future_and_its_handle() {
    let (out, fut) = aio::run(async {
        let task = aio::create_task(async { String::from("value") });
        let fut = task.future();
        assert!(!task.done());
        let out = task.await;
        (out, fut)
    });
    assert_eq!(out.unwrap(), "value");
    assert_eq!(fut.result().unwrap(), "value");
}

#[test]
fn non_send_futures_and_values_run_as_tasks() {
    let out = aio::run(async {
        let shared = Rc::new(RefCell::new(0));
        let s = shared.clone();
        let t = aio::spawn_local(async move {
            *s.borrow_mut() += 1;
            s
        });
        let back = t.await.unwrap();
        assert!(Rc::ptr_eq(&back, &shared));
        let v = *shared.borrow();
        v
    });
    assert_eq!(out, 1);
}

#[test]
fn cancel_before_the_first_step_never_runs_the_body() {
    let ran = flag();
    let r = ran.clone();
    aio::run(async move {
        let task = aio::create_task(async move { r.set(true) });
        assert!(task.cancel());
        assert!(task.cancel(), "true every time while not done");
        let out = task.await;
        assert!(out.unwrap_err().is_cancelled());
    });
    assert!(!ran.get());
}

#[test]
fn cancel_drops_a_suspended_coroutine_at_its_await() {
    let dropped = flag();
    let after_await = flag();
    let (d, a) = (dropped.clone(), after_await.clone());
    paused(async move {
        let task = aio::create_task(async move {
            let _finally = OnDrop(d);
            aio::sleep(Duration::from_secs(3600)).await;
            a.set(true);
        });
        aio::yield_now().await; // the task runs up to its sleep
        assert!(!task.done());
        assert!(task.cancel());
        assert!(!task.done(), "done only once the coroutine is dropped");
        let handle = task.future();
        let out = task.await;
        assert!(matches!(out, Err(Error::Cancelled)));
        assert!(handle.cancelled());
    });
    assert!(dropped.get());
    assert!(!after_await.get());
}

#[test]
fn cancel_on_a_done_task_returns_false() {
    aio::run(async {
        let task = aio::create_task(async { 1 });
        aio::yield_now().await;
        assert!(task.done());
        assert!(!task.cancel());
        assert!(!task.cancelled());
        assert_eq!(task.await.unwrap(), 1);

        let cancelled = aio::create_task(pending::<()>());
        assert!(cancelled.cancel());
        aio::yield_now().await;
        assert!(cancelled.cancelled());
        assert!(!cancelled.cancel(), "false once done, even if cancelled");
    });
}

#[test]
fn a_task_that_cancels_itself_and_returns_ends_cancelled() {
    // test_cancel_at_end.
    aio::run(async {
        let me: Rc<RefCell<Option<aio::Task<u8>>>> = Rc::default();
        let m = me.clone();
        let task = aio::create_task(async move {
            aio::yield_now().await;
            let cancelled = m.borrow().as_ref().unwrap().cancel();
            assert!(cancelled);
            7
        });
        let fut = task.future();
        *me.borrow_mut() = Some(task);
        fut.await.unwrap_err();
        assert!(me.borrow().as_ref().unwrap().cancelled());
        me.borrow_mut().take();
    });
}

#[test]
fn cancelling_a_task_cancels_the_task_it_awaits() {
    // test_cancel_awaited_task.
    let inner_dropped = flag();
    let d = inner_dropped.clone();
    aio::run(async move {
        let inner = aio::create_task(async move {
            let _finally = OnDrop(d);
            pending::<()>().await;
        });
        let inner_fut = inner.future();
        let outer = aio::create_task(async move { inner.await });
        aio::yield_now().await;
        assert!(outer.cancel());
        assert!(outer.await.unwrap_err().is_cancelled());
        assert!(inner_fut.await.unwrap_err().is_cancelled());
    });
    assert!(inner_dropped.get());
}

#[test]
fn dropping_the_handle_leaves_the_task_running() {
    let out = aio::run(async {
        let (promise, fut) = future::pair::<u32>();
        drop(aio::create_task(async move {
            aio::yield_now().await;
            promise.set_result(5).unwrap();
        }));
        fut.await
    });
    assert_eq!(out.unwrap(), 5);
}

#[test]
fn cancelling_the_shared_future_drops_the_coroutine() {
    let dropped = flag();
    let d = dropped.clone();
    aio::run(async move {
        let task = aio::create_task(async move {
            let _finally = OnDrop(d);
            pending::<()>().await;
        });
        let fut = task.future();
        aio::yield_now().await;
        assert!(
            fut.cancel(),
            "a loop task's future is pending until the task ends"
        );
        assert!(task.done() && task.cancelled());
        assert!(!task.cancel());
        aio::yield_now().await; // the done-callback woke the task: its next step drops it
    });
    assert!(dropped.get());
}

#[test]
fn tasks_still_alive_when_main_ends_are_cancelled() {
    let dropped = flag();
    let d = dropped.clone();
    let (never_started, suspended) = aio::run(async move {
        let suspended = aio::create_task(async move {
            let _finally = OnDrop(d);
            pending::<u8>().await
        });
        let suspended = suspended.future();
        aio::yield_now().await; // the task runs up to pending()
        let never = aio::create_task(async { 1 }).future();
        (never, suspended)
    });
    assert!(never_started.cancelled());
    assert!(suspended.cancelled());
    assert!(dropped.get());
}

#[test]
fn a_panicking_task_fails_its_future_and_the_loop_goes_on() {
    let out = aio::run(async {
        let bad = aio::create_task(async {
            aio::yield_now().await;
            panic!("task boom {}", 7);
        });
        let good = aio::create_task(async {
            aio::yield_now().await;
            aio::yield_now().await;
            "fine"
        });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("task boom 7"));
        match &err {
            Error::Panicked { location, .. } => {
                assert!(location.as_deref().unwrap().contains("aio_tasks.rs"))
            }
            other => panic!("unexpected {other:?}"),
        }
        good.await.unwrap()
    });
    assert_eq!(out, "fine");
}

#[test]
fn gather_keeps_argument_order() {
    let out = paused(async {
        let children: Vec<Boxed<u64>> = [3u64, 1, 2]
            .into_iter()
            .map(|s| {
                Box::pin(async move {
                    aio::sleep(Duration::from_secs(s)).await;
                    s * 10
                }) as Boxed<u64>
            })
            .collect();
        aio::gather(children).await
    });
    assert_eq!(out.unwrap(), [30, 10, 20]);
}

#[test]
fn gather_of_nothing_and_of_tasks() {
    aio::run(async {
        let none: Vec<Boxed<u8>> = Vec::new();
        assert!(aio::gather(none).await.unwrap().is_empty());
        let tasks: Vec<_> = (0..4).map(|i| aio::create_task(async move { i })).collect();
        assert_eq!(aio::gather(tasks).await.unwrap(), [0, 1, 2, 3]);
    });
}

#[test]
fn gather_reports_the_first_failure_in_time_and_the_others_keep_running() {
    let finished_late = flag();
    let f = finished_late.clone();
    paused(async move {
        let (promise, last_done) = future::pair::<()>();
        let children: Vec<Boxed<u8>> = vec![
            Box::pin(async {
                aio::sleep(Duration::from_secs(2)).await;
                panic!("second failure");
            }),
            Box::pin(async {
                aio::sleep(Duration::from_secs(1)).await;
                panic!("first failure");
            }),
            Box::pin(async move {
                aio::sleep(Duration::from_secs(3)).await;
                f.set(true);
                promise.set_result(()).unwrap();
                3
            }),
        ];
        let err = aio::gather(children).await.unwrap_err();
        assert_eq!(err.panic_message(), Some("first failure"));
        assert_eq!(aio::time(), Duration::from_secs(1));
        last_done.await.unwrap();
    });
    assert!(finished_late.get());
}

#[test]
fn a_cancelled_gather_cancels_its_children() {
    paused(async {
        let children: Vec<_> = (0..3).map(|_| aio::create_task(pending::<u8>())).collect();
        let futures: Vec<_> = children.iter().map(|t| t.future()).collect();
        let out = aio::wait_for(aio::gather(children), Duration::from_secs(1)).await;
        assert!(out.unwrap_err().is_timeout());
        for f in futures {
            assert!(f.await.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn wait_for_returns_the_value_in_time() {
    let out = paused(async {
        aio::wait_for(
            async {
                aio::sleep(Duration::from_secs(1)).await;
                "in time"
            },
            Duration::from_secs(2),
        )
        .await
    });
    assert_eq!(out.unwrap(), "in time");
}

#[test]
fn wait_for_times_out_and_drops_the_inner_before_returning() {
    let dropped = flag();
    let d = dropped.clone();
    let (out, at, dropped_on_return) = paused(async move {
        let local = String::from("borrowed");
        let out = aio::wait_for(
            async {
                let _finally = OnDrop(d);
                aio::sleep(Duration::from_secs(2)).await;
                local.len()
            },
            Duration::from_secs(1),
        )
        .await;
        (out, aio::time(), dropped.get())
    });
    assert!(matches!(out, Err(Error::Timeout { after, .. }) if after == Duration::from_secs(1)));
    assert_eq!(at, Duration::from_secs(1));
    assert!(dropped_on_return);
}

#[test]
fn wait_for_zero_never_starts_the_inner() {
    let ran = flag();
    let r = ran.clone();
    let out =
        aio::run(async move { aio::wait_for(async move { r.set(true) }, Duration::ZERO).await });
    assert!(out.unwrap_err().is_timeout());
    assert!(!ran.get());
}

#[test]
fn wait_for_a_task_cancels_it_on_timeout() {
    paused(async {
        let task = aio::create_task(async {
            aio::sleep(Duration::from_secs(10)).await;
            1
        });
        let fut = task.future();
        let out = aio::wait_for(task, Duration::from_secs(1)).await;
        assert!(out.unwrap_err().is_timeout());
        assert!(fut.await.unwrap_err().is_cancelled());
        assert_eq!(aio::time(), Duration::from_secs(1));
    });
}

/// A future that completes at once and panics when dropped afterwards.
struct ReadyThenPanicOnDrop;

impl Future for ReadyThenPanicOnDrop {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u32> {
        std::task::Poll::Ready(5)
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("in drop after completing");
    }
}

#[test]
fn a_panic_in_a_finished_coroutines_destructor_is_reported_and_the_value_kept() {
    let out = aio::run(async {
        let task = aio::create_task(ReadyThenPanicOnDrop);
        let after = aio::create_task(async { 6 });
        (task.await, after.await)
    });
    assert_eq!(out.0.unwrap(), 5);
    assert_eq!(out.1.unwrap(), 6, "the loop goes on");
}

/// A value whose destructor panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb");
    }
}

#[test]
fn a_cancelled_task_whose_value_panics_on_drop_does_not_stop_the_loop() {
    let after = aio::run(async {
        let slot: Rc<RefCell<Option<aio::Task<Bomb>>>> = Rc::default();
        let own = slot.clone();
        let task = aio::spawn_local(async move {
            aio::yield_now().await;
            // Cancelled during its last step: its value is dropped, and the drop panics.
            assert!(own.borrow().as_ref().expect("the handle").cancel());
            Bomb
        });
        *slot.borrow_mut() = Some(task);
        aio::yield_now().await;
        aio::yield_now().await;
        let task = slot.borrow_mut().take().expect("the handle");
        assert!(task.done() && task.cancelled());
        "the loop went on"
    });
    assert_eq!(after, "the loop went on");
}

// ---- Task::cancelling / uncancel (Python 3.11+; test_tasks' test_uncancel_basic,
// test_cancelling, and 3.13's rule that `uncancel` to zero withdraws a pending cancel) ----

#[test]
fn cancelling_counts_the_requests() {
    paused(async {
        let task = aio::create_task(pending::<()>());
        assert_eq!(task.cancelling(), 0);
        assert!(task.cancel());
        assert!(task.cancel());
        assert_eq!(task.cancelling(), 2);
        assert_eq!(task.uncancel(), 1);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn uncancel_to_zero_before_the_next_step_withdraws_the_cancel() {
    paused(async {
        let task = aio::create_task(async {
            aio::sleep(Duration::from_secs(1)).await;
            7
        });
        aio::yield_now().await; // started, now suspended in its sleep
        task.cancel();
        assert_eq!(task.uncancel(), 0);
        assert_eq!(task.uncancel(), 0, "the count does not go below zero");
        assert_eq!(task.await.unwrap(), 7);
        assert_eq!(aio::time(), Duration::from_secs(1));
    });
}

#[test]
fn a_task_that_cancels_itself_and_uncancels_keeps_its_value() {
    paused(async {
        let me: Rc<RefCell<Option<aio::Task<i32>>>> = Rc::default();
        let slot = me.clone();
        let task = aio::create_task(async move {
            aio::yield_now().await;
            let me = slot.borrow_mut().take().expect("handed in");
            me.cancel();
            assert_eq!(me.cancelling(), 1);
            me.uncancel();
            5
        });
        let observer = task.future();
        *me.borrow_mut() = Some(task);
        assert_eq!(observer.await.unwrap(), 5);
    });
}

#[test]
fn uncancel_after_the_cancelled_step_only_lowers_the_count() {
    paused(async {
        let task = aio::create_task(pending::<()>());
        task.cancel();
        let observer = task.future();
        assert!(observer.await.unwrap_err().is_cancelled());
        assert_eq!(task.cancelling(), 1);
        assert_eq!(task.uncancel(), 0);
        assert!(task.cancelled());
        assert!(!task.cancel(), "a done task takes no request");
        assert_eq!(task.cancelling(), 0);
    });
}
