//! Every outcome × every way of waiting × every moment the waiter starts.
//!
//! Outcomes: a value, a task error, a panic, a cancellation, an abandoned producer. Waiters:
//! blocking `result`, `.await`, a done-callback, `wait`, `as_completed`. The waiter starts
//! either before the producer completes (and must be woken) or after (and must see it at once).
//! The producer runs on another thread; the ordering is forced with channels, never sleeps.

use std::sync::mpsc;
use std::thread;

use concurra::future::{self, Promise};
use concurra::{as_completed, wait, Error, Future, ReturnWhen};

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Value,
    TaskError,
    Panic,
    Cancel,
    Abandon,
}

#[derive(Debug, Clone, Copy)]
enum Waiter {
    Blocking,
    Await,
    Callback,
    WaitSet,
    AsCompleted,
}

#[derive(Debug, Clone, Copy)]
enum When {
    WaiterFirst,
    ProducerFirst,
}

/// Completes `promise` (or cancels `future`) as `outcome` says.
fn produce(outcome: Outcome, promise: Promise<u32>, future: &Future<u32>) {
    match outcome {
        Outcome::Value => promise.set_result(7).unwrap(),
        Outcome::TaskError => promise.set_error(Error::failed("bad")).unwrap(),
        Outcome::Panic => promise
            .set_error(Error::Panicked {
                message: "boom".into(),
                location: None,
            })
            .unwrap(),
        Outcome::Cancel => {
            assert!(future.cancel());
            assert!(!promise.set_running_or_notify_cancel());
        }
        Outcome::Abandon => drop(promise),
    }
}

fn check(outcome: Outcome, got: &concurra::Result<u32>) {
    match (outcome, got) {
        (Outcome::Value, Ok(7)) => {}
        (Outcome::TaskError, Err(e)) if e.is_failed() => {}
        (Outcome::Panic, Err(e)) if e.is_panic() => {}
        (Outcome::Cancel, Err(e)) if e.is_cancelled() => {}
        (Outcome::Abandon, Err(e)) if e.is_abandoned() => {}
        _ => panic!("{outcome:?} gave {got:?}"),
    }
}

/// Waits on `future` the way `waiter` says; `registered` is signalled once the waiter is in
/// place (or, for blocking forms, about to block: the producer then may run at any moment).
fn observe(
    waiter: Waiter,
    future: Future<u32>,
    registered: mpsc::Sender<()>,
) -> concurra::Result<u32> {
    match waiter {
        Waiter::Blocking => {
            registered.send(()).unwrap();
            future.result()
        }
        Waiter::Await => {
            registered.send(()).unwrap();
            futures::executor::block_on(future)
        }
        Waiter::Callback => {
            let (tx, rx) = mpsc::channel();
            future.add_done_callback(move |f| tx.send(f.try_result().unwrap().clone()).unwrap());
            registered.send(()).unwrap();
            rx.recv().unwrap()
        }
        Waiter::WaitSet => {
            registered.send(()).unwrap();
            let w = wait([&future], ReturnWhen::FirstCompleted);
            assert_eq!(w.done.len(), 1);
            w.done[0].try_result().unwrap().clone()
        }
        Waiter::AsCompleted => {
            let mut it = as_completed([&future]);
            registered.send(()).unwrap();
            let f = it.next().unwrap().unwrap();
            assert!(it.next().is_none());
            f.try_result().unwrap().clone()
        }
    }
}

#[test]
fn every_combination() {
    let outcomes = [
        Outcome::Value,
        Outcome::TaskError,
        Outcome::Panic,
        Outcome::Cancel,
        Outcome::Abandon,
    ];
    let waiters = [
        Waiter::Blocking,
        Waiter::Await,
        Waiter::Callback,
        Waiter::WaitSet,
        Waiter::AsCompleted,
    ];
    for _round in 0..20 {
        for outcome in outcomes {
            for waiter in waiters {
                for when in [When::WaiterFirst, When::ProducerFirst] {
                    let (promise, future) = future::pair::<u32>();
                    let (reg_tx, reg_rx) = mpsc::channel();
                    match when {
                        When::WaiterFirst => {
                            let f = future.clone();
                            let observer = thread::spawn(move || observe(waiter, f, reg_tx));
                            reg_rx.recv().unwrap();
                            produce(outcome, promise, &future);
                            check(outcome, &observer.join().unwrap());
                        }
                        When::ProducerFirst => {
                            produce(outcome, promise, &future);
                            check(outcome, &observe(waiter, future, reg_tx));
                        }
                    }
                }
            }
        }
    }
}
