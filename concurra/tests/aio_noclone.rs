//! Awaiting a task reads its value once, so it needs no `T: Clone` (code-review §3.3 spot 1):
//! `task.await` moves the value out of the task; only sharing it ([`aio::Task::future`],
//! `Future::from`, `try_result`) needs `Clone`. Every case with a value that is neither `Clone`
//! nor `Send` where the case allows it.

use std::cell::Cell;
use std::error::Error as StdError;
use std::future::{pending, Future as _};
use std::rc::Rc;

mod common;

use common::aio::paused;
use concurra::aio;

/// Neither `Clone` nor `Send`; counts its drops.
struct NoClone(Rc<Cell<u32>>);

impl Drop for NoClone {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_non_clone_non_send_value_is_moved_out_by_await() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let back = aio::run(async move {
        let task = aio::spawn_local(async move {
            aio::yield_now().await;
            NoClone(d)
        });
        task.await.unwrap()
    });
    // Moved, not copied: the only instance is the one we hold, and nothing dropped yet.
    assert_eq!(drops.get(), 0);
    assert!(Rc::ptr_eq(&back.0, &drops));
    drop(back);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_task_already_done_gives_its_value_by_move() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let back = aio::run(async move {
        let task = aio::create_task(async move { NoClone(d) });
        aio::yield_now().await;
        assert!(task.done());
        task.await.unwrap()
    });
    assert_eq!(drops.get(), 0);
    drop(back);
    assert_eq!(drops.get(), 1);
}

#[test]
fn boxed_errors_and_files_can_be_awaited() {
    let (err, file) = aio::run(async {
        let err = aio::create_task(async {
            let e: Box<dyn StdError> = "not a number".parse::<i32>().unwrap_err().into();
            e
        });
        let file = aio::create_task(async { std::fs::File::open("Cargo.toml") });
        (err.await.unwrap(), file.await.unwrap())
    });
    assert!(err.to_string().contains("invalid digit"));
    assert!(file.unwrap().metadata().unwrap().is_file());
}

#[test]
fn a_shared_future_then_await_gives_both_readers_the_value() {
    // Sharing needs `Clone`: the clone captured by `future()` copies the value to the await.
    let (awaited, shared) = aio::run(async {
        let task = aio::create_task(async { vec![1, 2, 3] });
        let shared = task.future();
        (task.await.unwrap(), shared)
    });
    assert_eq!(awaited, [1, 2, 3]);
    assert_eq!(shared.result().unwrap(), [1, 2, 3]);
}

#[test]
fn a_shared_future_of_a_finished_task_then_await() {
    let (awaited, shared) = aio::run(async {
        let task = aio::create_task(async { String::from("done") });
        aio::yield_now().await;
        assert!(task.done());
        let shared = task.future();
        (task.await.unwrap(), shared)
    });
    assert_eq!(awaited, "done");
    assert_eq!(shared.result().unwrap(), "done");
}

#[test]
fn a_shared_future_cancelled_from_outside_ends_the_await() {
    let out = paused(async {
        let task = aio::spawn_local(pending::<String>());
        let shared = task.future();
        aio::yield_now().await;
        std::thread::spawn(move || assert!(shared.cancel()))
            .join()
            .unwrap();
        task.await
    });
    assert!(out.unwrap_err().is_cancelled());
}

#[test]
fn try_result_then_await() {
    let out = aio::run(async {
        let task = aio::create_task(async { String::from("x") });
        aio::yield_now().await;
        assert_eq!(task.try_result().unwrap().as_ref().unwrap(), "x");
        task.await
    });
    assert_eq!(out.unwrap(), "x");
}

#[test]
fn a_cancelled_non_clone_task_gives_cancelled() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let out = aio::run(async move {
        let task = aio::spawn_local(async move {
            let value = NoClone(d);
            pending::<()>().await;
            value
        });
        aio::yield_now().await;
        assert!(task.cancel());
        task.await.map(|_| ())
    });
    assert!(out.unwrap_err().is_cancelled());
    assert_eq!(
        drops.get(),
        1,
        "the coroutine's local was dropped by the cancel"
    );
}

#[test]
fn a_panicking_non_clone_task_gives_panicked() {
    let out = aio::run(async {
        let task = aio::spawn_local(async {
            aio::yield_now().await;
            if true {
                panic!("boom");
            }
            NoClone(Rc::new(Cell::new(0)))
        });
        task.await.map(|_| ())
    });
    assert!(out.unwrap_err().is_panic());
}

#[test]
fn gather_and_shield_take_non_clone_values() {
    let out = paused(async {
        let tasks = (0..3).map(|i| aio::spawn_local(async move { Rc::new(i) }));
        let gathered = aio::gather(tasks).await.unwrap();
        let all = aio::gather_all(vec![aio::spawn_local(async { Rc::new(9) })]).await;
        let shielded = aio::shield(aio::spawn_local(async { Rc::new(5) }))
            .await
            .unwrap();
        (
            gathered.iter().map(|r| **r).collect::<Vec<_>>(),
            **all[0].as_ref().unwrap(),
            *shielded,
        )
    });
    assert_eq!(out, (vec![0, 1, 2], 9, 5));
}

#[test]
fn a_join_moved_to_another_task_wakes_that_task() {
    // The task's one join parks the waker of its last poll: first main's, then another task's.
    let out = paused(async {
        let gate = aio::Event::new();
        let g = gate.clone();
        let task = aio::spawn_local(async move {
            g.wait().await;
            Rc::new(1)
        });
        let mut join = std::future::IntoFuture::into_future(task);
        std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut join).poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let waiter = aio::spawn_local(async move { join.await.unwrap() });
        aio::yield_now().await;
        gate.set();
        waiter.await.unwrap()
    });
    assert_eq!(*out, 1);
}

#[test]
fn wait_and_as_completed_take_non_clone_values() {
    let out = paused(async {
        let fast = aio::spawn_local(async { Rc::new('f') });
        let slow = aio::spawn_local(async {
            aio::sleep(std::time::Duration::from_secs(1)).await;
            Rc::new('s')
        });
        let (done, pending) = aio::wait(vec![fast, slow], concurra::ReturnWhen::FirstCompleted)
            .await
            .unwrap();
        assert_eq!((done.len(), pending.len()), (1, 1));
        let first = done.into_iter().next().unwrap().await.unwrap();
        let mut order = vec![*first];
        let mut rest = aio::as_completed(pending);
        while let Some(outcome) = rest.next().await {
            order.push(*outcome.unwrap());
        }
        order
    });
    assert_eq!(out, ['f', 's']);
}

#[test]
fn as_completed_moves_values_out_in_completion_order() {
    let drops = Rc::new(Cell::new(0));
    let (d1, d2) = (drops.clone(), drops.clone());
    let out = paused(async move {
        let a = aio::spawn_local(async move {
            aio::yield_now().await;
            ('a', NoClone(d1))
        });
        let b = aio::spawn_local(async move { ('b', NoClone(d2)) });
        let cancelled = aio::spawn_local(pending::<(char, NoClone)>());
        cancelled.cancel();
        let mut completions = aio::as_completed(vec![a, b, cancelled]);
        let mut got = Vec::new();
        while let Some(outcome) = completions.next().await {
            got.push(outcome.map(|(name, _)| name).map_err(|e| e.is_cancelled()));
        }
        got
    });
    // b first (no yield), then the cancellation (its step comes next), then a.
    assert_eq!(out, [Ok('b'), Err(true), Ok('a')]);
    assert_eq!(drops.get(), 2, "each value moved out once and dropped once");
}

#[test]
fn a_task_group_takes_non_clone_values() {
    let out = paused(async {
        let group = aio::TaskGroup::new();
        let plain = group.create_task(async { Ok(Rc::new(1)) }).unwrap();
        let fallible = group
            .create_task(concurra::Fallible(async {
                Ok::<_, std::fmt::Error>(Rc::new(2))
            }))
            .unwrap();
        group.wait().await.unwrap();
        (*plain.await.unwrap().unwrap(), *fallible.await.unwrap())
    });
    assert_eq!(out, (1, 2));
}
