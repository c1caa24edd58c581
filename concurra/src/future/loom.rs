//! loom models of the future's state machine: every interleaving of completion, cancellation,
//! abandonment, a blocked or awaiting waiter, done-callback registration and the last handle's
//! take, run on the real `Future` and `Promise` (`crate::loom` swaps in loom's lock, atomics,
//! `Arc` and park/unpark). Run with `scripts/loom.sh`.
//!
//! Each model checks, in every interleaving loom finds:
//! 1. the future ends exactly once, and every waiter sees that one outcome (no lost wake-up:
//!    loom fails a model in which a parked thread is never unparked);
//! 2. a done-callback runs exactly once, on a done future;
//! 3. `cancel` succeeds exactly when the work did not run;
//! 4. the last handle moves the value out once the completing side lets go, and a second
//!    handle makes it give the handle back instead;
//! 5. nothing leaks (loom checks that every `Arc` is dropped at the end of each execution).

use ::loom::future::block_on;
use ::loom::model;
use ::loom::thread::spawn;

use super::pair;
use crate::loom::{Arc, AtomicUsize, Ordering};

/// A value that is neither `Clone` nor `Sync`-readable through a shared borrow: only a move
/// gets it out.
#[derive(Debug, PartialEq)]
struct Moved(Box<u32>);

#[test]
fn loom_a_blocked_waiter_is_woken_by_completion() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let producer = spawn(move || promise.set_result(7).unwrap());
        assert_eq!(future.result().unwrap(), 7);
        producer.join().unwrap();
    });
}

#[test]
fn loom_an_awaiting_task_is_woken_by_completion() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let producer = spawn(move || promise.set_result(3).unwrap());
        assert_eq!(block_on(future).unwrap(), 3);
        producer.join().unwrap();
    });
}

#[test]
fn loom_cancel_races_the_worker_and_one_outcome_wins() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let counted = callbacks.clone();
        future.add_done_callback(move |f| {
            assert!(f.done());
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let canceller = future.clone();
        let cancel = spawn(move || canceller.cancel());
        let worker = spawn(move || {
            if promise.set_running_or_notify_cancel() {
                promise.set_result(7).unwrap();
                true
            } else {
                false
            }
        });
        let outcome = future.result();
        let cancelled = cancel.join().unwrap();
        let ran = worker.join().unwrap();
        assert_ne!(
            cancelled, ran,
            "cancel succeeds exactly when the work did not run"
        );
        match outcome {
            Ok(v) => assert!(ran && v == 7),
            Err(e) => assert!(cancelled && e.is_cancelled(), "{e}"),
        }
        assert_eq!(future.cancelled(), cancelled);
        assert_eq!(callbacks.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn loom_completion_without_start_races_cancel() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let canceller = future.clone();
        let cancel = spawn(move || {
            let cancelled = canceller.cancel();
            // Whatever `cancel` answers, every reader sees it once it returned.
            assert!(canceller.done());
            assert_eq!(canceller.cancelled(), cancelled);
            cancelled
        });
        let set = promise.set_result(1).is_ok();
        let cancelled = cancel.join().unwrap();
        assert_ne!(set, cancelled, "exactly one of set_result and cancel wins");
        assert_eq!(future.result().is_ok(), set);
    });
}

#[test]
fn loom_an_abandoned_promise_races_cancel() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let dropper = spawn(move || drop(promise));
        let cancelled = future.cancel();
        dropper.join().unwrap();
        let e = future.result().unwrap_err();
        if cancelled {
            assert!(e.is_cancelled(), "{e}");
        } else {
            assert!(e.is_abandoned(), "{e}");
        }
    });
}

#[test]
fn loom_a_callback_added_during_completion_runs_once() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let producer = spawn(move || promise.set_result(1).unwrap());
        let callbacks = Arc::new(AtomicUsize::new(0));
        let counted = callbacks.clone();
        future.add_done_callback(move |f| {
            assert!(matches!(f.try_error(), Some(Ok(()))));
            counted.fetch_add(1, Ordering::SeqCst);
        });
        producer.join().unwrap();
        assert_eq!(callbacks.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn loom_the_last_handle_moves_the_value_past_a_running_callback() {
    model(|| {
        let (promise, future) = pair::<Moved>();
        // The completing thread lends its callbacks a handle: the take must wait it out.
        future.add_done_callback(|f| assert!(f.done()));
        let producer = spawn(move || promise.set_result(Moved(Box::new(5))).unwrap());
        let value = future
            .try_into_result()
            .ok()
            .expect("the only handle takes");
        assert_eq!(value.unwrap(), Moved(Box::new(5)));
        producer.join().unwrap();
    });
}

#[test]
fn loom_a_second_handle_makes_the_take_give_back() {
    model(|| {
        let (promise, future) = pair::<Moved>();
        let other = future.clone();
        let dropper = spawn(move || drop(other));
        promise.set_result(Moved(Box::new(2))).unwrap();
        let future = match future.try_into_result() {
            Ok(outcome) => {
                assert_eq!(outcome.unwrap(), Moved(Box::new(2)));
                dropper.join().unwrap();
                return;
            }
            Err(shared) => shared,
        };
        // The other handle was still there: once it is gone, the value moves.
        dropper.join().unwrap();
        let value = future.try_into_result().ok().expect("now the only handle");
        assert_eq!(value.unwrap(), Moved(Box::new(2)));
    });
}

#[test]
fn loom_a_sink_gets_the_value_once() {
    model(|| {
        let (promise, future) = pair::<Moved>();
        let got = Arc::new(AtomicUsize::new(0));
        let seen = got.clone();
        let producer = spawn(move || promise.set_result(Moved(Box::new(4))).unwrap());
        future.into_sink(move |outcome| {
            let Moved(v) = outcome.unwrap();
            assert_eq!(seen.swap(*v as usize, Ordering::SeqCst), 0);
        });
        producer.join().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn loom_two_cancels_both_see_the_future_cancelled() {
    model(|| {
        let (promise, future) = pair::<u32>();
        let other = future.clone();
        let canceller = spawn(move || {
            let cancelled = other.cancel();
            // Once `cancel` returned true, the future is cancelled for everyone.
            assert!(cancelled && other.cancelled());
        });
        assert!(future.cancel());
        assert!(future.cancelled() && future.done());
        canceller.join().unwrap();
        assert!(!promise.set_running_or_notify_cancel());
    });
}

/// A completion tells its pool the worker is idle before it publishes when no callback
/// listens, and only after the callbacks otherwise: a callback never runs on a worker already
/// counted idle (`Promise::complete_then`).
#[test]
fn loom_idle_never_precedes_a_callback_on_the_completing_thread() {
    use super::promise::Promise;
    model(|| {
        let (promise, future) = pair::<u32>();
        let idle = Arc::new(AtomicUsize::new(0));
        let producer = {
            let idle = idle.clone();
            spawn(move || {
                assert!(promise.start_here());
                Promise::complete_then(promise, Ok(1), &mut || {
                    idle.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
                ::loom::thread::current().id()
            })
        };
        let ran_on = Arc::new(::loom::sync::Mutex::new(None));
        {
            let (idle, ran_on) = (idle.clone(), ran_on.clone());
            future.add_done_callback(move |_| {
                *ran_on.lock().unwrap() =
                    Some((::loom::thread::current().id(), idle.load(Ordering::SeqCst)));
            });
        }
        let producer_id = producer.join().unwrap();
        let (thread, idle_seen) = ran_on.lock().unwrap().take().expect("the callback ran");
        if thread == producer_id {
            assert_eq!(
                idle_seen, 0,
                "the worker was counted idle before its callback"
            );
        }
        assert_eq!(idle.load(Ordering::SeqCst), 1);
    });
}
