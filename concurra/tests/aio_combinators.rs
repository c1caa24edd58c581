//! The loop's combinators: `gather_all`, `timeout`/`timeout_at`, `shield`, `wait`,
//! `as_completed` and `TaskGroup`. Python's rules are in python-semantics.md §1.11.
//!
//! Provenance: semantics ported from CPython's test_asyncio — test_tasks (test_gather with
//! return_exceptions, test_shield_effect, test_shield_result, test_shield_exception-style
//! inner cancellation, test_wait_first_completed, test_wait_first_exception,
//! test_wait_really_done, test_as_completed, test_as_completed_reverse_wait), test_timeouts
//! (test_timeout_basic, test_timeout_zero, test_timeout_in_the_past, test_nested_timeouts,
//! test_foreign_cancel_doesnt_timeout_if_not_expired) and test_taskgroups
//! (test_taskgroup_01/02 results, test_children_cancel_on_error, multiple errors reported,
//! test_taskgroup_no_create_task_after_failure, test_taskgroup_cancel_children_on_parent...).
//! No code is copied; each test restates the rule in Rust.
//!
//! Changes from Python, on purpose: a cancelled coroutine is dropped, not resumed with
//! `CancelledError` (so a `finally` is a destructor, checked with `OnDrop`); `timeout` takes
//! the block as a future instead of being a context manager; `wait` and `as_completed` take
//! tasks only (coroutines are a type error, not a `TypeError`), and `as_completed` yields
//! outcomes; a `TaskGroup` reports a `Vec` of errors instead of an `ExceptionGroup`, and a
//! failure cannot cancel the body. Timers run on a `PausedClock` and are checked by the loop's
//! time and by order, never by wall time.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::aio::{flag, paused, OnDrop};
use concurra::aio::{self, TaskGroup};
use concurra::{Error, ReturnWhen};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn boom() -> Error {
    Error::failed(std::fmt::Error)
}

/// A task that sleeps `s` seconds on the loop's clock, then returns `v`.
fn after<T: 'static>(s: u64, v: T) -> aio::Task<T> {
    aio::create_task(async move {
        aio::sleep(secs(s)).await;
        v
    })
}

// ---- gather_all (gather(return_exceptions=True)) ----

#[test]
fn gather_all_returns_every_outcome_in_argument_order() {
    let out = paused(async {
        let slow = after(3, 1);
        let failing = aio::create_task(async {
            aio::sleep(secs(1)).await;
            if aio::time() > Duration::ZERO {
                panic!("child failed");
            }
            2
        });
        let cancelled = after(2, 3);
        cancelled.cancel();
        let fast = after(0, 4);
        let out = aio::gather_all([slow, failing, cancelled, fast]).await;
        assert_eq!(aio::time(), secs(3), "waits for the slowest child");
        out
    });
    assert_eq!(*out[0].as_ref().unwrap(), 1);
    assert!(out[1].as_ref().unwrap_err().is_panic());
    assert!(out[2].as_ref().unwrap_err().is_cancelled());
    assert_eq!(*out[3].as_ref().unwrap(), 4);
}

#[test]
fn gather_all_of_nothing_is_empty() {
    let out = aio::run(aio::gather_all(Vec::<aio::Task<()>>::new()));
    assert!(out.is_empty());
}

#[test]
fn gather_all_wraps_futures_into_tasks() {
    let out = paused(async {
        aio::gather_all((1..=3).map(|i| async move {
            aio::sleep(secs(4 - i)).await;
            i * 10
        }))
        .await
    });
    let values: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [10, 20, 30]);
}

#[test]
fn cancelling_gather_all_cancels_unfinished_children() {
    paused(async {
        let done = after(0, 1);
        let done_fut = done.future();
        let slow = after(10, 2);
        let slow_fut = slow.future();
        let outer = aio::create_task(aio::gather_all([done, slow]));
        aio::sleep(secs(1)).await;
        assert!(outer.cancel());
        assert!(outer.await.unwrap_err().is_cancelled());
        assert_eq!(done_fut.await.unwrap(), 1);
        assert!(slow_fut.await.unwrap_err().is_cancelled());
        assert_eq!(aio::time(), secs(1));
    });
}

// ---- timeout / timeout_at ----

#[test]
fn timeout_returns_the_value_in_time() {
    let out = paused(aio::timeout(secs(2), async {
        aio::sleep(secs(1)).await;
        "in time"
    }));
    assert_eq!(out.unwrap(), "in time");
}

#[test]
fn timeout_drops_the_block_at_the_deadline_and_reports_timeout() {
    let dropped = flag();
    let d = dropped.clone();
    let (out, at, dropped_on_return) = paused(async move {
        let out = aio::timeout(secs(1), async move {
            let _finally = OnDrop(d);
            aio::sleep(secs(5)).await;
        })
        .await;
        (out, aio::time(), dropped.get())
    });
    assert!(matches!(out, Err(Error::Timeout { after, .. }) if after == secs(1)));
    assert_eq!(at, secs(1));
    assert!(
        dropped_on_return,
        "the block's finally ran before timeout returned"
    );
}

#[test]
fn a_zero_timeout_expires_even_if_the_block_only_yields() {
    let ran = flag();
    let r = ran.clone();
    let out = paused(aio::timeout(Duration::ZERO, async move {
        r.set(true);
        aio::yield_now().await;
    }));
    assert!(out.unwrap_err().is_timeout());
    assert!(!ran.get());
}

#[test]
fn timeout_at_in_the_past_expires_at_once() {
    let out = paused(async {
        aio::sleep(secs(2)).await;
        aio::timeout_at(secs(1), aio::yield_now()).await
    });
    assert!(out.unwrap_err().is_timeout());
}

#[test]
fn timeout_at_uses_the_loops_clock() {
    let (out, at) = paused(async {
        aio::sleep(secs(2)).await;
        let out = aio::timeout_at(secs(5), pending::<()>()).await;
        (out, aio::time())
    });
    assert!(out.unwrap_err().is_timeout());
    assert_eq!(at, secs(5));
}

#[test]
fn only_the_expired_scope_reports_the_timeout() {
    paused(async {
        // The outer deadline passes first: the inner scope is dropped with the block and never
        // reports (test_nested_timeouts).
        let inner_reported = flag();
        let r = inner_reported.clone();
        let out = aio::timeout(secs(1), async move {
            let inner = aio::timeout(secs(10), pending::<()>()).await;
            r.set(true);
            inner
        })
        .await;
        assert!(matches!(out, Err(Error::Timeout { after, .. }) if after == secs(1)));
        assert!(!inner_reported.get());
        // The inner deadline passes first: the outer block sees the inner timeout as a value.
        let out = aio::timeout(secs(10), aio::timeout(secs(1), pending::<()>())).await;
        let inner = out.expect("the outer scope did not expire");
        assert!(matches!(inner, Err(Error::Timeout { after, .. }) if after == secs(1)));
        assert_eq!(aio::time(), secs(2));
    });
}

#[test]
fn a_foreign_cancel_stays_a_cancellation() {
    paused(async {
        let reported = flag();
        let r = reported.clone();
        let task = aio::create_task(async move {
            let out = aio::timeout(secs(10), pending::<()>()).await;
            r.set(true);
            out
        });
        aio::sleep(secs(1)).await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!reported.get(), "no timeout was reported");
    });
}

// ---- shield ----

#[test]
fn cancelling_the_shield_does_not_cancel_the_inner_task() {
    paused(async {
        let inner = after(2, "inner result");
        let inner_fut = inner.future();
        let outer = aio::create_task(aio::shield(inner));
        aio::sleep(secs(1)).await;
        assert!(outer.cancel());
        assert!(outer.await.unwrap_err().is_cancelled());
        assert!(!inner_fut.done());
        assert_eq!(inner_fut.await.unwrap(), "inner result");
        assert_eq!(aio::time(), secs(2));
    });
}

#[test]
fn a_shield_gives_the_inner_result() {
    let out = paused(async { aio::shield(after(1, 7)).await });
    assert_eq!(out.unwrap(), 7);
}

#[test]
fn a_shielded_coroutine_outlives_a_timeout() {
    paused(async {
        let finished = flag();
        let f = finished.clone();
        let inner = aio::create_task(async move {
            aio::sleep(secs(3)).await;
            f.set(true);
        });
        let inner_fut = inner.future();
        let out = aio::timeout(secs(1), aio::shield(inner)).await;
        assert!(out.unwrap_err().is_timeout());
        inner_fut.await.unwrap();
        assert!(finished.get());
    });
}

#[test]
fn cancelling_the_inner_task_cancels_the_shield() {
    let out = paused(async {
        let inner = after(5, ());
        let inner_fut = inner.future();
        let shielded = aio::create_task(aio::shield(inner));
        aio::sleep(secs(1)).await;
        inner_fut.cancel();
        shielded.await
    });
    // The task running the shield ends normally; the shield's own outcome is the cancellation.
    assert!(out.unwrap().unwrap_err().is_cancelled());
}

// ---- wait ----

#[test]
fn wait_first_completed_splits_done_and_pending_in_order() {
    paused(async {
        let tasks = vec![after(3, 'a'), after(1, 'b'), after(2, 'c')];
        let (done, pending) = aio::wait(tasks, ReturnWhen::FirstCompleted).await.unwrap();
        assert_eq!(aio::time(), secs(1));
        assert_eq!(done.len(), 1);
        assert_eq!(*done[0].try_result().unwrap().as_ref().unwrap(), 'b');
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|t| !t.done() && !t.cancelled()));
        // wait never cancels: the pending tasks finish.
        let rest = aio::gather(pending).await.unwrap();
        assert_eq!(rest, ['a', 'c']);
    });
}

#[test]
fn wait_all_completed_waits_for_every_task() {
    paused(async {
        let tasks = vec![after(3, 1), after(1, 2)];
        let (done, pending) = aio::wait(tasks, ReturnWhen::AllCompleted).await.unwrap();
        assert_eq!(aio::time(), secs(3));
        assert_eq!(done.len(), 2);
        assert!(pending.is_empty());
    });
}

#[test]
fn wait_first_exception_returns_at_the_first_failure() {
    paused(async {
        let failing = aio::create_task(async {
            aio::sleep(secs(1)).await;
            if aio::time() >= secs(1) {
                panic!("first exception");
            }
            0
        });
        let cancelled = after(10, 1);
        cancelled.cancel();
        let tasks = vec![after(5, 2), cancelled, failing];
        let (done, pending) = aio::wait(tasks, ReturnWhen::FirstException).await.unwrap();
        assert_eq!(aio::time(), secs(1));
        assert_eq!(done.len(), 2, "the cancelled task and the failed one");
        assert!(done[0].cancelled());
        assert!(done[1]
            .try_result()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .is_panic());
        assert_eq!(pending.len(), 1);
    });
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    paused(async {
        let tasks = vec![after(2, 1), after(1, 2)];
        let (done, pending) = aio::wait(tasks, ReturnWhen::FirstException).await.unwrap();
        assert_eq!(aio::time(), secs(2));
        assert_eq!((done.len(), pending.len()), (2, 0));
    });
}

#[test]
fn wait_on_nothing_is_an_error() {
    let out = aio::run(aio::wait(
        Vec::<aio::Task<()>>::new(),
        ReturnWhen::AllCompleted,
    ));
    assert!(out.unwrap_err().is_invalid_argument());
}

#[test]
fn a_timed_out_wait_cancels_nothing() {
    paused(async {
        let task = after(5, 1);
        let fut = task.future();
        let out = aio::timeout(secs(1), aio::wait(vec![task], ReturnWhen::AllCompleted)).await;
        assert!(out.unwrap_err().is_timeout());
        assert_eq!(fut.await.unwrap(), 1);
        assert_eq!(aio::time(), secs(5));
    });
}

// ---- as_completed ----

#[test]
fn as_completed_yields_in_completion_order() {
    let order = paused(async {
        let tasks = vec![after(3, 'a'), after(1, 'b'), after(2, 'c')];
        let mut completions = aio::as_completed(tasks);
        let mut order = Vec::new();
        while let Some(outcome) = completions.next().await {
            order.push((outcome.unwrap(), aio::time()));
        }
        order
    });
    assert_eq!(order, [('b', secs(1)), ('c', secs(2)), ('a', secs(3))]);
}

#[test]
fn as_completed_yields_done_tasks_first_and_failures_as_errors() {
    let out = paused(async {
        let slow = after(1, 1);
        let done = after(0, 2);
        let cancelled = after(5, 3);
        cancelled.cancel();
        aio::sleep(Duration::ZERO).await;
        aio::sleep(Duration::ZERO).await;
        assert!(done.done() && cancelled.done());
        let mut completions = aio::as_completed(vec![slow, done, cancelled]);
        let mut out = Vec::new();
        while let Some(outcome) = completions.next().await {
            out.push(outcome);
        }
        out
    });
    assert_eq!(out.len(), 3);
    assert_eq!(*out[0].as_ref().unwrap(), 2);
    assert!(out[1].as_ref().unwrap_err().is_cancelled());
    assert_eq!(*out[2].as_ref().unwrap(), 1);
}

#[test]
fn as_completed_under_a_timeout_leaves_stragglers_running() {
    paused(async {
        let straggler = after(10, 2);
        let fut = straggler.future();
        let mut completions = aio::as_completed(vec![after(1, 1), straggler]);
        assert_eq!(completions.next().await.unwrap().unwrap(), 1);
        let out = aio::timeout(secs(1), completions.next()).await;
        assert!(out.unwrap_err().is_timeout());
        assert!(!fut.done() && !fut.cancelled());
        assert_eq!(completions.next().await.unwrap().unwrap(), 2);
        assert!(completions.next().await.is_none());
        assert_eq!(aio::time(), secs(10));
    });
}

#[test]
fn as_completed_is_a_fused_stream_with_an_exact_size() {
    use futures::stream::{FusedStream, Stream};

    paused(async {
        let mut completions = aio::as_completed(vec![after(2, 'x'), after(1, 'y')]);
        assert_eq!(completions.size_hint(), (2, Some(2)));
        assert!(!completions.is_terminated());
        assert_eq!(completions.next().await.unwrap().unwrap(), 'y');
        assert_eq!(completions.size_hint(), (1, Some(1)));
        assert_eq!(completions.next().await.unwrap().unwrap(), 'x');
        assert!(completions.is_terminated());
        assert_eq!(completions.size_hint(), (0, Some(0)));
        // Fused: `None` for good.
        assert!(completions.next().await.is_none());
        assert!(completions.next().await.is_none());
    });
}

// ---- TaskGroup ----

#[test]
fn a_task_group_waits_for_every_child() {
    paused(async {
        let group = TaskGroup::new();
        let a = group.create_task(async {
            aio::sleep(secs(1)).await;
            Ok(1)
        });
        let b = group.create_task(async {
            aio::sleep(secs(2)).await;
            Ok("two")
        });
        group.wait().await.unwrap();
        assert_eq!(aio::time(), secs(2));
        assert_eq!(a.unwrap().await.unwrap().unwrap(), 1);
        assert_eq!(b.unwrap().await.unwrap().unwrap(), "two");
    });
}

#[test]
fn a_failing_child_cancels_its_siblings() {
    paused(async {
        let sibling_dropped = flag();
        let d = sibling_dropped.clone();
        let group = TaskGroup::new();
        let sibling = group
            .create_task(async move {
                let _finally = OnDrop(d);
                aio::sleep(secs(10)).await;
                Ok(())
            })
            .unwrap();
        group
            .create_task(async {
                aio::sleep(secs(1)).await;
                Err::<(), _>(boom())
            })
            .unwrap();
        let errors = group.wait().await.unwrap_err();
        assert_eq!(aio::time(), secs(1));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].is_failed());
        assert!(sibling.cancelled());
        assert!(sibling_dropped.get());
    });
}

#[test]
fn a_task_group_reports_every_error() {
    paused(async {
        let group = TaskGroup::new();
        // Both fail in the same iteration: as in asyncio, the abort comes after both ran.
        for _ in 0..2 {
            group
                .create_task(async {
                    aio::sleep(secs(1)).await;
                    Err::<(), _>(boom())
                })
                .unwrap();
        }
        let slow = group.create_task(async {
            aio::sleep(secs(5)).await;
            Ok(())
        });
        let errors = group.wait().await.unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(slow.unwrap().cancelled());
    });
}

#[test]
fn a_panicking_child_fails_the_group() {
    paused(async {
        let group = TaskGroup::new();
        group
            .create_task(async {
                aio::sleep(secs(1)).await;
                if aio::time() >= secs(1) {
                    panic!("child panicked");
                }
                Ok(())
            })
            .unwrap();
        let sibling = group
            .create_task(async {
                aio::sleep(secs(10)).await;
                Ok(())
            })
            .unwrap();
        let errors = group.wait().await.unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].is_panic());
        assert!(sibling.cancelled());
        assert_eq!(aio::time(), secs(1));
    });
}

#[test]
fn no_create_task_after_a_failure_or_the_end() {
    paused(async {
        let group = TaskGroup::new();
        group.create_task(async { Err::<(), _>(boom()) }).unwrap();
        aio::sleep(Duration::ZERO).await; // the child fails
        aio::sleep(Duration::ZERO).await; // the abort runs
        let refused = group.create_task(async { Ok(()) });
        assert!(refused.unwrap_err().is_invalid_state());
        assert_eq!(group.wait().await.unwrap_err().len(), 1);

        let group = TaskGroup::new();
        group.wait().await.unwrap();
        let refused = group.create_task(async { Ok(()) });
        assert!(refused.unwrap_err().is_invalid_state());
    });
}

#[test]
fn a_child_cancelled_alone_is_not_an_error() {
    paused(async {
        let group = TaskGroup::new();
        let lone = group
            .create_task(pending::<concurra::Result<()>>())
            .unwrap();
        let other = group.create_task(async {
            aio::sleep(secs(1)).await;
            Ok(5)
        });
        lone.cancel();
        group.wait().await.unwrap();
        assert!(lone.cancelled());
        assert_eq!(other.unwrap().await.unwrap().unwrap(), 5);
    });
}

#[test]
fn cancelling_the_parent_cancels_the_children() {
    paused(async {
        let children: Rc<RefCell<Vec<aio::Task<concurra::Result<()>>>>> = Rc::default();
        let c = children.clone();
        let parent = aio::create_task(aio::task_group(move |g| async move {
            for _ in 0..3 {
                c.borrow_mut()
                    .push(g.create_task(pending::<concurra::Result<()>>()).unwrap());
            }
        }));
        aio::sleep(secs(1)).await;
        assert_eq!(children.borrow().len(), 3);
        parent.cancel();
        assert!(parent.await.unwrap_err().is_cancelled());
        aio::sleep(Duration::ZERO).await;
        assert!(children.borrow().iter().all(|t| t.cancelled()));
    });
}

#[test]
fn children_may_start_siblings_while_the_group_waits() {
    let out = paused(aio::task_group(|g| async move {
        let g2 = g.clone();
        g.create_task(async move {
            aio::sleep(secs(1)).await;
            let late = g2.create_task(async {
                aio::sleep(secs(1)).await;
                Ok(())
            });
            late.map(|_| ())
        })
        .unwrap();
        "body"
    }));
    assert_eq!(out.unwrap(), "body");
}

#[test]
fn task_group_returns_the_bodys_value_after_the_children() {
    let finished = flag();
    let f = finished.clone();
    let (out, at) = paused(async move {
        let out = aio::task_group(|g| async move {
            g.create_task(async move {
                aio::sleep(secs(3)).await;
                f.set(true);
                Ok(())
            })
            .unwrap();
            42
        })
        .await;
        (out, aio::time())
    });
    assert_eq!(out.unwrap(), 42);
    assert_eq!(at, secs(3));
    assert!(finished.get());
}
