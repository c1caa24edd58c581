//! Timeout scopes on the event loop: [`aio::Timeout`] (`run`, `when`, `expired`,
//! `reschedule`), [`aio::timeout`], [`aio::timeout_at`] and [`aio::wait_for`].
//!
//! Provenance: semantics ported by hand from CPython's Lib/test/test_asyncio/test_timeouts.py
//! (test_timeout_basic, test_timeout_at_basic, test_nested_timeouts, test_waiter_cancelled,
//! test_timeout_not_called, test_timeout_disabled, test_timeout_at_disabled,
//! test_timeout_zero, test_timeout_in_the_past_sleep_zero, test_foreign_exception_passed,
//! test_foreign_exception_on_timeout, test_foreign_cancel_doesnt_timeout_if_not_expired,
//! test_outer_task_is_not_cancelled, test_nested_timeouts_concurrent,
//! test_nested_timeouts_loop_busy, test_reschedule, test_repr_*), the rules of
//! Lib/asyncio/timeouts.py (`reschedule` refused unless active; a second `async with`
//! refused) and CPython 3.12's `wait_for` (an `async with timeout(t)`). No code is copied; each test restates the rule in Rust.
//!
//! Changes from Python, on purpose:
//! - `async with cm:` is `cm.run(block)`; the block is a future, and its cancellation is its
//!   drop (a `finally` is a destructor, checked with `OnDrop`). An inner scope cancelled by an
//!   outer one therefore never returns: it is dropped with the outer block.
//! - A deadline at or before the entry times out without polling the block (asyncio's
//!   `timeout(0)` runs the block to its first `await`; `wait_for(aw, 0)` never starts it).
//! - `repr(cm)` is `Debug`: `Timeout { state: "active", when: Some(..) }`.
//! - Not ported: test_nested_timeout_in_finally (a destructor cannot await, so no scope runs
//!   in a `finally`), test_timeout_after_cancellation and
//!   test_cancel_in_timeout_after_cancellation (a coroutine cannot catch its cancellation and
//!   go on), test_timeout_exception_cause (no exception chaining).
//! - "Busy" loops advance the paused clock (`PausedClock::advance`) instead of `time.sleep`.
//!
//! Every test runs on a `PausedClock`: time is checked by the loop's clock and by order,
//! never by wall time.

use std::cell::RefCell;
use std::future::{pending, Future};
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::aio::{flag, paused, OnDrop};
use concurra::aio::{self, PausedClock, Task, Timeout};
use concurra::Error;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// [`paused`] with a handle on the clock, for "busy" blocks.
fn paused_with<F: Future>(main: impl FnOnce(PausedClock) -> F) -> F::Output {
    let clock = PausedClock::new();
    aio::Builder::new().clock(clock.clone()).run(main(clock))
}

fn is_timeout<T: std::fmt::Debug>(out: &Result<T, Error>) -> bool {
    matches!(out, Err(Error::Timeout { .. }))
}

// ---- the divergence of issue 17: nested scopes with one deadline ----

#[test]
fn nested_timeouts_with_one_deadline_only_the_outermost_reports() {
    let inner_finally = flag();
    let f = inner_finally.clone();
    let (out, at) = paused(async move {
        let deadline = aio::time() + secs(1);
        let out = aio::timeout_at(deadline, async move {
            let inner = aio::timeout_at(deadline, async move {
                let _finally = OnDrop(f);
                aio::sleep(secs(10)).await;
            })
            .await;
            unreachable!("the inner scope returned {inner:?}: it must be cancelled with its block");
        })
        .await;
        (out, aio::time())
    });
    assert!(
        matches!(out, Err(Error::Timeout { after, .. }) if after == secs(1)),
        "{out:?}"
    );
    assert!(inner_finally.get(), "the inner block's finally ran");
    assert_eq!(at, secs(1));
}

#[test]
fn nested_timeouts() {
    // test_nested_timeouts: both scopes expire, only the outer reports, the inner is
    // cancelled (dropped: its `except CancelledError` is its destructor).
    let cancelled = flag();
    let c = cancelled.clone();
    paused(async move {
        let deadline = aio::time() + ms(10);
        let cm1 = Timeout::at(deadline);
        let cm2 = Timeout::at(deadline);
        let inner = cm2.clone();
        let out = cm1
            .run(async move {
                let _except_cancelled = OnDrop(c);
                let out = inner.run(aio::sleep(secs(10))).await;
                unreachable!("the inner scope returned {out:?}");
            })
            .await;
        assert!(is_timeout(&out), "{out:?}");
        assert!(cm1.expired());
        assert!(cm2.expired());
    });
    assert!(cancelled.get());
}

#[test]
fn wait_for_in_a_timeout_with_one_deadline_the_timeout_reports() {
    // CPython 3.12's wait_for is `async with timeout(t)`: inside an outer scope with the same
    // deadline, the outer scope raises TimeoutError.
    paused(async {
        let cm = Timeout::after(secs(1));
        let out = cm
            .run(async {
                let inner = aio::wait_for(pending::<()>(), secs(1)).await;
                unreachable!("wait_for returned {inner:?}");
            })
            .await;
        assert!(is_timeout(&out));
        assert!(cm.expired());
        assert_eq!(aio::time(), secs(1));
    });
}

#[test]
fn a_timeout_in_wait_for_with_one_deadline_wait_for_reports() {
    paused(async {
        let inner = Timeout::after(secs(1));
        let out = aio::wait_for(
            async {
                let out = inner.run(pending::<()>()).await;
                unreachable!("the inner scope returned {out:?}");
            },
            secs(1),
        )
        .await;
        assert!(matches!(out, Err(Error::Timeout { after, .. }) if after == secs(1)));
        assert!(inner.expired());
    });
}

#[test]
fn of_three_scopes_the_outermost_expired_reports_and_the_unexpired_middle_does_not_expire() {
    paused(async {
        let deadline = aio::time() + secs(1);
        let outer = Timeout::at(deadline);
        let middle = Timeout::at(deadline + secs(5));
        let inner = Timeout::at(deadline);
        let out = outer.run(middle.run(inner.run(aio::sleep(secs(10))))).await;
        assert!(is_timeout(&out), "{out:?}");
        assert!(outer.expired());
        assert!(!middle.expired(), "the middle deadline never passed");
        assert!(inner.expired());
        assert!(format!("{middle:?}").contains("finished"), "{middle:?}");
        assert!(format!("{inner:?}").contains("expired"), "{inner:?}");
    });
}

#[test]
fn a_task_awaited_in_the_inner_scope_is_cancelled_with_the_outer_block() {
    // The outer scope drops its block (and the inner scope in it) in a cancelling section:
    // a task the inner block awaits is cancelled, as asyncio cancels the awaited future.
    paused(async {
        let deadline = aio::time() + secs(1);
        let task = aio::create_task(pending::<()>());
        let observer = task.future();
        let inner = Timeout::at(deadline);
        let out = aio::timeout_at(deadline, inner.run(task)).await;
        assert!(is_timeout(&out), "{out:?}");
        assert!(inner.expired());
        assert!(observer.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_panic_in_an_inner_scope_leaves_the_scope_stack_clean() {
    // A block that panics unwinds through its scopes; the next scopes on the thread nest
    // correctly (the stack of enclosing scopes was popped).
    paused(async {
        let task = aio::create_task(aio::timeout(
            secs(1),
            aio::timeout(secs(1), async { panic!("boom") }),
        ));
        assert!(task.await.unwrap_err().is_panic());
        let deadline = aio::time() + secs(1);
        let inner = Timeout::at(deadline);
        let out = aio::timeout_at(deadline, inner.run(pending::<()>())).await;
        assert!(is_timeout(&out) && inner.expired());
    });
}

#[test]
fn an_outer_scope_rescheduled_away_leaves_the_timeout_to_the_inner_one() {
    paused(async {
        let deadline = aio::time() + secs(1);
        let outer = Timeout::at(deadline);
        let inner = Timeout::at(deadline);
        let handle = outer.clone();
        let out = outer
            .run(async {
                handle.reschedule(None).unwrap();
                inner.run(pending::<()>()).await
            })
            .await;
        let inner_out = out.expect("the outer scope no longer expires");
        assert!(is_timeout(&inner_out));
        assert!(!outer.expired() && inner.expired());
    });
}

#[test]
fn an_inner_deadline_first_is_the_inner_scopes_timeout() {
    // Different deadlines: only the inner one expired when it is checked.
    paused(async {
        let outer = Timeout::after(secs(10));
        let inner = Timeout::after(secs(1));
        let out = outer.run(inner.run(pending::<()>())).await;
        let inner_out = out.expect("the outer scope did not expire");
        assert!(is_timeout(&inner_out));
        assert!(inner.expired() && !outer.expired());
        assert_eq!(aio::time(), secs(1));
    });
}

// ---- test_timeouts, one by one ----

#[test]
fn timeout_basic() {
    paused(async {
        let cm = Timeout::after(ms(10));
        let out = cm.run(aio::sleep(secs(10))).await;
        assert!(matches!(out, Err(Error::Timeout { after, .. }) if after == ms(10)));
        assert!(cm.expired());
    });
}

#[test]
fn timeout_at_basic() {
    paused(async {
        let deadline = aio::time() + ms(10);
        let cm = Timeout::at(deadline);
        assert!(is_timeout(&cm.run(aio::sleep(secs(10))).await));
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(deadline));
        assert_eq!(aio::time(), deadline);
    });
}

#[test]
fn waiter_cancelled() {
    let cancelled = flag();
    let c = cancelled.clone();
    let out = paused(aio::timeout(ms(10), async move {
        let _except_cancelled = OnDrop(c);
        aio::sleep(secs(10)).await;
    }));
    assert!(is_timeout(&out));
    assert!(cancelled.get());
}

#[test]
fn timeout_not_called() {
    paused(async {
        let cm = Timeout::after(secs(10));
        cm.run(aio::sleep(ms(10))).await.unwrap();
        assert!(!cm.expired());
        assert!(cm.when().unwrap() > aio::time());
        assert_eq!(aio::time(), ms(10));
        assert!(format!("{cm:?}").contains("finished"));
    });
}

#[test]
fn timeout_disabled() {
    paused(async {
        let cm = Timeout::after(None);
        cm.run(aio::sleep(ms(10))).await.unwrap();
        assert!(!cm.expired());
        assert_eq!(cm.when(), None);
    });
}

#[test]
fn timeout_at_disabled() {
    paused(async {
        let cm = Timeout::at(None);
        cm.run(aio::sleep(ms(10))).await.unwrap();
        assert!(!cm.expired());
        assert_eq!(cm.when(), None);
        let never = Timeout::never();
        never.run(aio::sleep(secs(3600))).await.unwrap();
        assert!(!never.expired());
    });
}

#[test]
fn timeout_zero() {
    let ran = flag();
    let r = ran.clone();
    paused(async move {
        let t0 = aio::time();
        let cm = Timeout::after(Duration::ZERO);
        let out = cm
            .run(async move {
                r.set(true);
                aio::sleep(secs(10)).await;
            })
            .await;
        assert!(matches!(out, Err(Error::Timeout { after, .. }) if after.is_zero()));
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(t0));
        assert_eq!(aio::time(), t0);
    });
    assert!(!ran.get(), "a deadline at the entry never polls the block");
}

#[test]
fn timeout_in_the_past_sleep_zero() {
    paused(async {
        aio::sleep(secs(11)).await;
        let cm = Timeout::at(aio::time() - secs(11));
        assert!(is_timeout(&cm.run(aio::yield_now()).await));
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(Duration::ZERO));
    });
}

#[test]
fn a_huge_delay_never_expires() {
    paused(async {
        aio::sleep(secs(1)).await;
        let cm = Timeout::after(Duration::MAX);
        assert_eq!(cm.when(), None, "past the clock's range: never");
        cm.run(aio::sleep(secs(1))).await.unwrap();
        assert!(aio::wait_for(aio::sleep(secs(1)), Duration::MAX)
            .await
            .is_ok());
    });
}

#[test]
fn foreign_exception_passed() {
    // A block's error is a value: it passes through the scope.
    paused(async {
        let cm = Timeout::after(ms(10));
        let out = cm.run(async { "x".parse::<i32>() }).await;
        assert!(out.unwrap().is_err());
        assert!(!cm.expired());
    });
    // A panicking block fails the task, and the scope ends unexpired.
    paused(async {
        let cm = Timeout::after(ms(10));
        let inner = cm.clone();
        let task = aio::create_task(async move {
            inner
                .run(async { panic!("KeyError") })
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let out: Result<(), Error> = task.await;
        assert!(out.unwrap_err().is_panic());
        assert!(!cm.expired());
    });
}

/// Panics when dropped: a `finally` that raises.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("ZeroDivisionError");
    }
}

#[test]
fn foreign_exception_on_timeout() {
    // The block's finally raises while the timeout cancels it: that error wins.
    paused(async {
        let task = aio::create_task(aio::timeout(ms(10), async {
            let _finally = PanicOnDrop;
            aio::sleep(secs(1)).await;
        }));
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert!(err.to_string().contains("ZeroDivisionError"), "{err}");
    });
}

#[test]
fn foreign_cancel_doesnt_timeout_if_not_expired() {
    paused(async {
        let me: Rc<RefCell<Option<Task<()>>>> = Rc::default();
        let cm = Timeout::after(secs(10));
        let (inner, slot) = (cm.clone(), me.clone());
        let task = aio::create_task(async move {
            let out = inner
                .run(async move {
                    slot.borrow().as_ref().expect("handed in").cancel();
                    aio::sleep(secs(10)).await;
                })
                .await;
            unreachable!("the cancelled task went on with {out:?}");
        });
        // The task starts when this one yields: its handle is in the slot by then.
        *me.borrow_mut() = Some(task);
        aio::yield_now().await;
        let task = me.borrow_mut().take().unwrap();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!cm.expired());
        assert_eq!(aio::time(), Duration::ZERO);
    });
}

#[test]
fn outer_task_is_not_cancelled() {
    paused(async {
        let task = aio::create_task(async {
            let out = aio::timeout(ms(1), aio::sleep(secs(10))).await;
            assert!(is_timeout(&out));
        });
        let handle = task.future();
        task.await.unwrap();
        assert!(handle.done() && !handle.cancelled());
    });
}

#[test]
fn nested_timeouts_concurrent() {
    // The outer deadline passes while the inner block is busy: the outer scope reports,
    // through the inner one, which did not expire.
    paused_with(|clock| async move {
        let inner = Timeout::after(ms(100));
        let out = aio::timeout(ms(2), async {
            let out = inner
                .run(async {
                    clock.advance(ms(10)); // "crunch some numbers"
                    aio::sleep(secs(1)).await;
                })
                .await;
            unreachable!("the inner scope returned {out:?}");
        })
        .await;
        assert!(is_timeout(&out));
        assert!(!inner.expired());
    });
}

#[test]
fn nested_timeouts_loop_busy() {
    // The loop is busy past both deadlines: they expire together and the outer scope
    // reports (as in CPython, where both timer callbacks run in one iteration and the
    // inner `__aexit__` lets the CancelledError through); the outer block's long sleep never
    // runs.
    paused_with(|clock| async move {
        let t0 = aio::time();
        let outer = Timeout::after(ms(100));
        let inner = Timeout::after(ms(10));
        let out = outer
            .run(async {
                let _ = inner
                    .run(async {
                        clock.advance(ms(100)); // the loop is busy for a while
                        aio::sleep(secs(1)).await;
                    })
                    .await;
                aio::sleep(secs(10)).await;
            })
            .await;
        assert!(is_timeout(&out));
        assert!(outer.expired() && inner.expired());
        assert!(aio::time() - t0 < secs(1));
    });
}

#[test]
fn reschedule() {
    paused(async {
        let deadline1 = aio::time() + secs(10);
        let deadline2 = deadline1 + secs(20);
        let sent: Rc<RefCell<Option<Timeout>>> = Rc::default();
        let slot = sent.clone();
        let task = aio::create_task(async move {
            let cm = Timeout::at(deadline1);
            let out = cm
                .run(async {
                    *slot.borrow_mut() = Some(cm.clone());
                    aio::sleep(secs(50)).await;
                })
                .await;
            unreachable!("the cancelled task went on with {out:?}");
        });
        aio::yield_now().await;
        let cm = sent
            .borrow_mut()
            .take()
            .expect("the task entered its scope");
        assert_eq!(cm.when(), Some(deadline1));
        cm.reschedule(deadline2).unwrap();
        assert_eq!(cm.when(), Some(deadline2));
        cm.reschedule(None).unwrap();
        assert_eq!(cm.when(), None);
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!cm.expired());
        assert!(cm.reschedule(secs(1)).unwrap_err().is_invalid_state());
    });
}

#[test]
fn reschedule_from_another_task_wakes_the_scope() {
    paused(async {
        let cm = Timeout::never();
        let inner = cm.clone();
        let task = aio::create_task(async move { inner.run(pending::<()>()).await });
        aio::sleep(secs(1)).await;
        cm.reschedule(aio::time() + secs(2)).unwrap();
        assert!(is_timeout(&task.await.unwrap()));
        assert!(cm.expired());
        assert_eq!(aio::time(), secs(3));
    });
}

#[test]
fn reschedule_to_the_past_from_the_block_expires_at_its_next_wait() {
    paused(async {
        let cm = Timeout::after(secs(10));
        let handle = cm.clone();
        let out = cm
            .run(async move {
                handle.reschedule(Duration::ZERO).unwrap();
                aio::sleep(secs(1)).await;
            })
            .await;
        assert!(is_timeout(&out));
        assert!(cm.expired());
        assert_eq!(aio::time(), Duration::ZERO);
    });
}

#[test]
fn reschedule_is_refused_unless_active() {
    paused(async {
        let cm = Timeout::after(secs(1));
        let err = cm.reschedule(secs(2)).unwrap_err();
        assert!(err.is_invalid_state() && err.to_string().contains("not been entered"));
        assert!(is_timeout(&cm.run(pending::<()>()).await));
        let err = cm.reschedule(secs(2)).unwrap_err();
        assert!(
            err.is_invalid_state() && err.to_string().contains("expired"),
            "{err}"
        );
        assert_eq!(cm.when(), Some(secs(1)));
    });
}

#[test]
fn a_scope_is_entered_once() {
    paused(async {
        let cm = Timeout::after(secs(1));
        cm.run(async {}).await.unwrap();
        let err = cm.run(async {}).await.unwrap_err();
        assert!(err.is_invalid_state() && err.to_string().contains("already been entered"));
    });
}

#[test]
fn debug_is_pythons_repr() {
    paused(async {
        let cm = Timeout::after(secs(10));
        assert!(format!("{cm:?}").contains("created"));
        let inner = cm.clone();
        cm.run(async move {
            let repr = format!("{inner:?}");
            assert!(
                repr.contains("active") && repr.contains("when: Some(10s)"),
                "{repr}"
            );
        })
        .await
        .unwrap();
        assert_eq!(format!("{cm:?}"), r#"Timeout { state: "finished" }"#);
        let cm = Timeout::after(ms(10));
        let _ = cm.run(aio::sleep(secs(10))).await;
        assert_eq!(format!("{cm:?}"), r#"Timeout { state: "expired" }"#);
        let cm = Timeout::never();
        let inner = cm.clone();
        cm.run(async move {
            let repr = format!("{inner:?}");
            assert!(
                repr.contains("active") && repr.contains("when: None"),
                "{repr}"
            );
        })
        .await
        .unwrap();
    });
}

#[test]
fn timeout_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Timeout>();
    let cm = Timeout::at(secs(1));
    send(&cm.run(async {}));
    send(&aio::wait_for(async {}, secs(1)));
    send(&aio::timeout_at(secs(1), async {}));
}
