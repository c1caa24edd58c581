//! `Fallible(coro)` on the event loop: a coroutine's `Err` fails its task with
//! `Error::Failed`, as a raised exception fails an asyncio task, so gather, wait and TaskGroup
//! see a failure (code-review §3.3 spot 6). A plain coroutine returning `Err` is still a task
//! whose *value* is that `Err`.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;

mod common;

use common::aio::paused;
use concurra::aio::{self, ReportKind};
use concurra::{Error, Fallible, ReturnWhen};

#[derive(Debug)]
struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

impl std::error::Error for Oops {}

#[test]
fn ok_is_the_value_and_err_fails_the_task() {
    let (ok, err, plain) = paused(async {
        let ok = aio::create_task(Fallible(async { Ok::<_, Oops>(5u8) }));
        let err = aio::create_task(Fallible(async { Err::<u8, _>(Oops) }));
        // Not wrapped: the `Err` is the task's value, a success.
        let plain = aio::create_task(async { Err::<u8, Oops>(Oops) });
        (ok.await, err.await, plain.await)
    });
    assert_eq!(ok.unwrap(), 5);
    let err = err.unwrap_err();
    assert!(err.is_failed());
    assert!(err.to_string().contains("oops"), "{err}");
    assert!(plain.unwrap().is_err());
}

#[test]
fn spawn_local_and_loop_create_task_take_fallible() {
    let out = paused(async {
        let rc = Rc::new(3);
        let local = aio::spawn_local(Fallible(async move { Ok::<_, Oops>(rc) }));
        let lp = aio::get_running_loop().unwrap();
        let failed = lp.create_task(Fallible(async { "x".parse::<i32>() }));
        (*local.await.unwrap(), failed.await.unwrap_err().is_failed())
    });
    assert_eq!(out, (3, true));
}

#[test]
fn gather_fails_with_a_fallible_child_and_the_others_keep_running() {
    let (tuple, iter, sibling) = paused(async {
        let gate = aio::Event::new();
        let g = gate.clone();
        let sibling = aio::create_task(async move {
            g.wait().await;
            1
        });
        let sibling_future = sibling.future();
        let tuple = aio::gather((sibling, Fallible(async { Err::<(), _>(Oops) }))).await;
        let iter = aio::gather(vec![
            aio::create_task(Fallible(async { Ok::<_, Oops>(1) })),
            aio::create_task(Fallible(async { Err::<i32, _>(Oops) })),
        ])
        .await;
        gate.set();
        (tuple, iter, sibling_future.await)
    });
    assert!(tuple.unwrap_err().is_failed());
    assert!(iter.unwrap_err().is_failed());
    assert_eq!(sibling.unwrap(), 1);
}

#[test]
fn gather_all_keeps_a_fallible_failure_in_its_place() {
    let (a, b) = paused(async {
        aio::gather_all((
            Fallible(async { Ok::<_, Oops>('a') }),
            Fallible(async { Err::<char, _>(Oops) }),
        ))
        .await
    });
    assert_eq!(a.unwrap(), 'a');
    assert!(b.unwrap_err().is_failed());
}

#[test]
fn wait_first_exception_returns_at_a_fallible_failure() {
    let (done, pending_tasks) = paused(async {
        let slow = aio::create_task(Fallible(pending::<Result<u8, Oops>>()));
        let bad = aio::create_task(Fallible(async {
            aio::yield_now().await;
            Err::<u8, _>(Oops)
        }));
        aio::wait(vec![slow, bad], ReturnWhen::FirstException)
            .await
            .unwrap()
    });
    assert_eq!((done.len(), pending_tasks.len()), (1, 1));
    assert!(done[0]
        .try_result()
        .unwrap()
        .as_ref()
        .unwrap_err()
        .is_failed());
}

#[test]
fn a_fallible_failure_in_a_task_group_cancels_the_siblings() {
    let (errors, sibling_cancelled) = paused(async {
        let group = aio::TaskGroup::new();
        let sibling = group
            .create_task(pending::<concurra::Result<()>>())
            .unwrap();
        let bad = group
            .create_task(Fallible(async { Err::<u8, _>(Oops) }))
            .unwrap();
        let ok = group
            .create_task(Fallible(async { Ok::<_, Oops>(2u8) }))
            .unwrap();
        let errors = group.wait().await.unwrap_err();
        assert!(bad.await.unwrap_err().is_failed());
        assert_eq!(ok.await.unwrap(), 2);
        (errors, sibling.cancelled())
    });
    assert_eq!(errors.len(), 1);
    assert!(errors[0].is_failed());
    assert!(sibling_cancelled);
}

#[test]
fn an_unretrieved_fallible_failure_is_reported_once() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    aio::Builder::new()
        .exception_handler(move |report| {
            r.borrow_mut()
                .push((report.kind.clone(), report.error.clone()))
        })
        .run(async {
            drop(aio::create_task(Fallible(async { Err::<(), _>(Oops) })));
            aio::yield_now().await;
        });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, ReportKind::NeverRetrieved);
    assert!(matches!(&reports[0].1, Some(Error::Failed(_))));
}
