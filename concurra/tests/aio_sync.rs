//! Loop synchronisation primitives: `Lock`, `Event`, `Semaphore`, `BoundedSemaphore`,
//! `Condition`, `Barrier`. Python's rules are in python-semantics.md §1.13; the cases are
//! ports of CPython's Lib/test/test_asyncio/test_locks.py (test_acquire,
//! test_finished_waiter_cancelled, test_acquire_fifo_order, test_acquire_hang,
//! test_release_not_acquired / BoundedSemaphore, test_wait / test_clear_with_waiters,
//! test_notify, test_notify_all, test_wait_for, test_barrier*).
//!
//! Changes from Python, on purpose: a lock is released by dropping its guard (it cannot be
//! released unheld); cancellation is dropping the waiting coroutine, so "cancelled" here means
//! `Task::cancel` and the coroutine dropped at its next step. No sleeps: order is forced by
//! yielding (`settle`).

use std::cell::RefCell;
use std::rc::Rc;

mod common;

use common::aio::paused;
use concurra::aio::{self, Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};

/// Lets every ready task run a few steps.
async fn settle() {
    for _ in 0..8 {
        aio::yield_now().await;
    }
}

type Log = Rc<RefCell<Vec<u32>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

// ----------------------------------------------------------------------------- Lock

#[test]
fn lock_waiters_are_served_fifo() {
    // test_acquire
    paused(async {
        let lock = Lock::new();
        let out = log();
        let guard = lock.acquire().await;
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (lock, out) = (lock.clone(), out.clone());
                aio::create_task(async move {
                    let _g = lock.acquire().await;
                    out.borrow_mut().push(i);
                    aio::yield_now().await;
                })
            })
            .collect();
        settle().await;
        assert_eq!(lock.waiters(), 3);
        assert!(out.borrow().is_empty());
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*out.borrow(), [1, 2, 3]);
        assert!(!lock.locked());
    });
}

#[test]
fn a_released_lock_is_handed_off_no_barging() {
    paused(async {
        let lock = Lock::new();
        let guard = lock.try_acquire().unwrap();
        assert!(lock.try_acquire().is_none());
        let l = lock.clone();
        let waiter = aio::create_task(async move {
            let _g = l.acquire().await;
            1
        });
        settle().await;
        drop(guard);
        // Handed to the waiter: still locked, a newcomer cannot take it.
        assert!(lock.locked());
        assert!(lock.try_acquire().is_none());
        assert_eq!(waiter.await.unwrap(), 1);
        assert!(lock.try_acquire().is_some());
    });
}

#[test]
fn a_waiter_cancelled_after_the_hand_off_passes_the_lock_on() {
    // test_finished_waiter_cancelled
    paused(async {
        let lock = Lock::new();
        let out = log();
        let guard = lock.acquire().await;
        let spawn = |i: u32| {
            let (lock, out) = (lock.clone(), out.clone());
            aio::create_task(async move {
                let _g = lock.acquire().await;
                out.borrow_mut().push(i);
            })
        };
        let (a, b) = (spawn(1), spawn(2));
        settle().await;
        drop(guard); // hands the lock to `a` and wakes it
        assert!(a.cancel()); // ... which is dropped before it runs
        settle().await;
        assert!(a.cancelled());
        b.await.unwrap();
        assert_eq!(*out.borrow(), [2]);
        assert!(!lock.locked(), "no wake-up and no lock lost");
    });
}

#[test]
fn a_waiter_cancelled_while_waiting_leaves_the_queue() {
    paused(async {
        let lock = Lock::new();
        let guard = lock.acquire().await;
        let l = lock.clone();
        let a = aio::create_task(async move { drop(l.acquire().await) });
        let l = lock.clone();
        let b = aio::create_task(async move { drop(l.acquire().await) });
        settle().await;
        assert_eq!(lock.waiters(), 2);
        a.cancel();
        settle().await;
        assert_eq!(lock.waiters(), 1);
        drop(guard);
        b.await.unwrap();
        assert!(!lock.locked());
    });
}

// ----------------------------------------------------------------------------- Event

#[test]
fn event_set_wakes_every_waiter_even_if_cleared_before_they_run() {
    // test_wait, test_clear_with_waiters
    paused(async {
        let ev = Event::new();
        let out = log();
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (ev, out) = (ev.clone(), out.clone());
                aio::create_task(async move {
                    ev.wait().await;
                    out.borrow_mut().push(i);
                })
            })
            .collect();
        settle().await;
        assert_eq!(ev.waiters(), 3);
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*out.borrow(), [1, 2, 3]);
        // A set event does not block.
        ev.set();
        ev.wait().await;
        ev.clear();
        let e = ev.clone();
        let late = aio::create_task(async move { e.wait().await });
        settle().await;
        assert!(!late.done());
        late.cancel();
        settle().await;
        assert_eq!(ev.waiters(), 0);
    });
}

// ----------------------------------------------------------------------------- Semaphore

#[test]
fn semaphore_acquirers_are_served_fifo() {
    // test_acquire_fifo_order
    paused(async {
        let sem = Semaphore::new(1);
        let out = log();
        let tasks: Vec<_> = (1..=4)
            .map(|i| {
                let (sem, out) = (sem.clone(), out.clone());
                aio::create_task(async move {
                    let _p = sem.acquire().await;
                    out.borrow_mut().push(i);
                    aio::yield_now().await;
                    aio::yield_now().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*out.borrow(), [1, 2, 3, 4]);
        assert_eq!(sem.value(), 1);
    });
}

#[test]
fn a_cancelled_acquirer_does_not_use_up_a_permit() {
    // test_acquire_hang
    paused(async {
        let sem = Semaphore::new(0);
        let s = sem.clone();
        let a = aio::create_task(async move { s.acquire().await.forget() });
        let s = sem.clone();
        let b = aio::create_task(async move { s.acquire().await.forget() });
        settle().await;
        assert!(sem.locked());
        sem.release(); // handed to `a` ...
        a.cancel(); // ... which never runs again: the permit goes to `b`
        b.await.unwrap();
        assert!(a.cancelled());
        assert_eq!(sem.value(), 0);
        sem.release();
        assert_eq!(sem.value(), 1);
        assert!(!sem.locked());
    });
}

#[test]
fn permits_come_back_when_dropped() {
    paused(async {
        let sem = Semaphore::new(2);
        let p1 = sem.acquire().await;
        let p2 = sem.try_acquire().unwrap();
        assert!(sem.locked());
        assert!(sem.try_acquire().is_none());
        drop(p1);
        assert_eq!(sem.value(), 1);
        p2.forget();
        assert_eq!(sem.value(), 1);
    });
}

#[test]
fn bounded_semaphore_refuses_to_be_released_too_often() {
    // test_release_not_acquired (BoundedSemaphore)
    paused(async {
        let sem = BoundedSemaphore::new(1);
        let err = sem.release().unwrap_err();
        assert!(err.is_invalid_state(), "{err:?}");
        assert!(err.to_string().contains("released too many times"));
        let p = sem.acquire().await;
        assert!(sem.locked());
        p.forget();
        sem.release().unwrap();
        assert_eq!(sem.value(), 1);
        assert!(sem.release().is_err());
        assert_eq!(sem.value(), 1);
    });
}

// ----------------------------------------------------------------------------- Condition

#[test]
fn condition_notify_wakes_n_waiters_fifo() {
    // test_notify, test_notify_all
    paused(async {
        let cond = Condition::new();
        let out = log();
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (cond, out) = (cond.clone(), out.clone());
                aio::create_task(async move {
                    let g = cond.acquire().await;
                    let _g = cond.wait(g).await.unwrap();
                    out.borrow_mut().push(i);
                })
            })
            .collect();
        settle().await;
        assert_eq!(cond.waiters(), 3);
        {
            let g = cond.acquire().await;
            assert_eq!(cond.notify(&g, 1).unwrap(), 1);
            settle().await;
            // The woken waiter needs the lock, which we still hold.
            assert!(out.borrow().is_empty());
        }
        settle().await;
        assert_eq!(*out.borrow(), [1]);
        {
            let g = cond.acquire().await;
            assert_eq!(cond.notify_all(&g).unwrap(), 2);
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*out.borrow(), [1, 2, 3]);
        assert!(!cond.lock().locked());
    });
}

#[test]
fn condition_needs_its_own_lock() {
    paused(async {
        let cond = Condition::new();
        let other = Lock::new();
        let g = other.acquire().await;
        assert!(cond.notify(&g, 1).unwrap_err().is_invalid_state());
        let err = cond.wait(g).await.unwrap_err();
        assert!(err.is_invalid_state());
        assert!(!other.locked(), "the foreign guard was dropped");
    });
}

#[test]
fn a_notified_condition_waiter_that_is_cancelled_passes_the_notification_on() {
    paused(async {
        let cond = Condition::new();
        let out = log();
        let spawn = |i: u32| {
            let (cond, out) = (cond.clone(), out.clone());
            aio::create_task(async move {
                let g = cond.acquire().await;
                let _g = cond.wait(g).await.unwrap();
                out.borrow_mut().push(i);
            })
        };
        let (a, b) = (spawn(1), spawn(2));
        settle().await;
        {
            let g = cond.acquire().await;
            cond.notify(&g, 1).unwrap();
            a.cancel();
        }
        b.await.unwrap();
        assert!(a.cancelled());
        assert_eq!(*out.borrow(), [2]);
        assert_eq!(cond.waiters(), 0);
        assert!(!cond.lock().locked());
    });
}

#[test]
fn condition_wait_for_rechecks_the_predicate() {
    // test_wait_for
    paused(async {
        let cond = Condition::new();
        let value = Rc::new(RefCell::new(0));
        let (c, v) = (cond.clone(), value.clone());
        let waiter = aio::create_task(async move {
            let g = c.acquire().await;
            let _g = c.wait_for(g, || *v.borrow() == 2).await.unwrap();
            *v.borrow()
        });
        for n in 1..=2 {
            settle().await;
            let g = cond.acquire().await;
            *value.borrow_mut() = n;
            cond.notify_all(&g).unwrap();
        }
        assert_eq!(waiter.await.unwrap(), 2);
    });
}

// ----------------------------------------------------------------------------- Barrier

#[test]
fn barrier_releases_a_full_round_and_is_reusable() {
    // test_barrier, test_barrier_parties, test_draining_state
    paused(async {
        let barrier = Barrier::new(3);
        for _round in 0..2 {
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let b = barrier.clone();
                    aio::create_task(async move { b.wait().await.unwrap() })
                })
                .collect();
            let mut idx = Vec::new();
            for t in tasks {
                idx.push(t.await.unwrap());
            }
            assert_eq!(idx, [0, 1, 2], "arrival order");
            assert_eq!(barrier.n_waiting(), 0);
        }
    });
}

#[test]
fn barrier_abort_breaks_waiters_and_a_cancelled_waiter_leaves_the_round() {
    // test_abort_barrier, test_cancel_wait
    paused(async {
        let barrier = Barrier::new(3);
        let b = barrier.clone();
        let leaver = aio::create_task(async move { b.wait().await });
        let b = barrier.clone();
        let stayer = aio::create_task(async move { b.wait().await });
        settle().await;
        assert_eq!(barrier.n_waiting(), 2);
        leaver.cancel();
        settle().await;
        assert_eq!(barrier.n_waiting(), 1);
        barrier.abort();
        assert!(barrier.broken());
        assert!(stayer.await.unwrap().unwrap_err().is_broken_barrier());
        assert!(barrier.wait().await.unwrap_err().is_broken_barrier());
        barrier.reset();
        assert!(!barrier.broken());
        let b = barrier.clone();
        let one = aio::create_task(async move { b.wait().await });
        let b = barrier.clone();
        let two = aio::create_task(async move { b.wait().await });
        // Main arrives first (the tasks have not started yet).
        assert_eq!(barrier.wait().await.unwrap(), 0);
        assert_eq!(one.await.unwrap().unwrap(), 1);
        assert_eq!(two.await.unwrap().unwrap(), 2);
    });
}
