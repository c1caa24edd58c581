//! `gather` and `gather_all` over a tuple of differently-typed awaitables (Python:
//! `a, b = await asyncio.gather(fetch(), parse())`), beside the iterator form; the same rules
//! as the iterator form (tests/aio_tasks.rs): argument order, the first failure in time ends
//! the gather and the other children keep running, a cancelled gather cancels its children.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

mod common;

use common::aio::paused;
use concurra::aio::{self, ReportKind};
use concurra::Error;

#[test]
fn a_tuple_of_types_gives_a_tuple_of_values() {
    let out = paused(async {
        let task = aio::create_task(async { 2.5f64 });
        aio::gather((async { 1u8 }, task, async { String::from("s") }))
            .await
            .unwrap()
    });
    assert_eq!(out, (1u8, 2.5, String::from("s")));
}

#[test]
fn both_shapes_infer_their_marker() {
    let out = paused(async {
        let v = aio::gather((1..=2).map(|i| async move { i }))
            .await
            .unwrap();
        let w = aio::gather(vec![aio::create_task(async { 9 })])
            .await
            .unwrap();
        assert_eq!(w, [9]);
        let a = aio::gather([aio::create_task(async { 3 })]).await.unwrap();
        let (one,) = aio::gather((async { 4 },)).await.unwrap();
        let eight = aio::gather((
            async { 1u8 },
            async { 2u16 },
            async { 3u32 },
            async { 4u64 },
            async { 5i8 },
            async { 6i16 },
            async { 7i32 },
            async { "8" },
        ))
        .await
        .unwrap();
        (v, a, one, eight)
    });
    assert_eq!(out.0, [1, 2]);
    assert_eq!(out.1, [3]);
    assert_eq!(out.2, 4);
    assert_eq!(out.3, (1, 2, 3, 4, 5, 6, 7, "8"));
}

#[test]
fn tuple_children_start_in_argument_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    paused(async move {
        let out = aio::gather((
            async move {
                l1.borrow_mut().push("a");
                aio::yield_now().await;
                l1.borrow_mut().push("a2");
                1
            },
            async move {
                l2.borrow_mut().push("b");
                'b'
            },
            async move {
                l3.borrow_mut().push("c");
            },
        ))
        .await
        .unwrap();
        assert_eq!(out, (1, 'b', ()));
    });
    assert_eq!(*log.borrow(), ["a", "b", "c", "a2"]);
}

#[test]
fn the_first_failure_ends_a_tuple_gather_and_the_others_keep_running() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    let (err, slow_value, late) = aio::Builder::new()
        .clock(aio::PausedClock::new())
        .exception_handler(move |report| r.borrow_mut().push(report.kind.clone()))
        .run(async {
            let gate = aio::Event::new();
            let g = gate.clone();
            let slow = aio::create_task(async move {
                g.wait().await;
                "slow"
            });
            let slow_future = slow.future();
            let late = aio::create_task(async {
                aio::sleep(Duration::from_secs(1)).await;
                panic!("late failure");
            });
            let late_future = late.future();
            let err = aio::gather((
                slow,
                async {
                    aio::yield_now().await;
                    panic!("boom")
                },
                late,
            ))
            .await
            .unwrap_err();
            // Not cancelled by the gather: the slow child ends with its value.
            assert!(!slow_future.done());
            gate.set();
            (err, slow_future.await, late_future.await)
        });
    assert!(err.is_panic());
    assert_eq!(slow_value.unwrap(), "slow");
    assert!(late.unwrap_err().is_panic());
    // The late child's failure is the gather's: not reported as never retrieved.
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

#[test]
fn a_cancelled_child_fails_a_tuple_gather() {
    let out = paused(async {
        let doomed = aio::create_task(pending::<u8>());
        doomed.cancel();
        aio::gather((async { 1 }, doomed)).await
    });
    assert!(out.unwrap_err().is_cancelled());
}

#[test]
fn a_cancelled_tuple_gather_cancels_its_children() {
    paused(async {
        let a = aio::create_task(pending::<u8>());
        let b = aio::create_task(pending::<String>());
        let (fa, fb) = (a.future(), b.future());
        let out = aio::wait_for(aio::gather((a, b)), Duration::from_secs(1)).await;
        assert!(matches!(out, Err(Error::Timeout { .. })));
        assert!(fa.await.unwrap_err().is_cancelled());
        assert!(fb.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn gather_all_over_a_tuple_keeps_every_outcome() {
    let reports = Rc::new(RefCell::new(Vec::<ReportKind>::new()));
    let r = reports.clone();
    let (a, b, c) = aio::Builder::new()
        .exception_handler(move |report| r.borrow_mut().push(report.kind.clone()))
        .run(async {
            let doomed = aio::create_task(pending::<()>());
            doomed.cancel();
            aio::gather_all((async { 'a' }, async { panic!("b") as u8 }, doomed)).await
        });
    assert_eq!(a.unwrap(), 'a');
    assert!(b.unwrap_err().is_panic());
    assert!(c.unwrap_err().is_cancelled());
    assert!(reports.borrow().is_empty());
}
