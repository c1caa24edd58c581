//! The loop's reports (`aio::Builder::exception_handler`): task failures nobody retrieved,
//! panicking callbacks, slow steps. asyncio reports "Task exception was never retrieved" only
//! when the task is garbage-collected; concurra reports it deterministically, once, when the
//! last handle goes away, when the task fails after that, or when the loop ends.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use concurra::aio::{self, PausedClock, Report, ReportKind};

type Log = Rc<RefCell<Vec<Report>>>;

/// Runs `main(log)` on a paused loop whose reports go to `log`; returns main's value and the
/// reports.
fn reporting<F, Fut>(main: F) -> (Fut::Output, Vec<Report>)
where
    F: FnOnce(Log) -> Fut,
    Fut: Future,
{
    let log = Log::default();
    let sink = log.clone();
    let out = aio::Builder::new()
        .clock(PausedClock::new())
        .exception_handler(move |r| sink.borrow_mut().push(r.clone()))
        .run(main(log.clone()));
    let reports = log.borrow().clone();
    (out, reports)
}

fn kinds(log: &Log) -> Vec<ReportKind> {
    log.borrow().iter().map(|r| r.kind.clone()).collect()
}

fn assert_never_retrieved(report: &Report, name: &str, message: &str) {
    assert_eq!(report.kind, ReportKind::NeverRetrieved);
    assert_eq!(report.task.as_deref(), Some(name));
    let error = report
        .error
        .as_ref()
        .expect("the failure travels with the report");
    assert_eq!(error.panic_message(), Some(message));
}

#[test]
fn a_failure_is_reported_once_when_its_last_handle_is_dropped() {
    let ((), reports) = reporting(|log| async move {
        let task = aio::create_task(async { panic!("boom") });
        aio::yield_now().await;
        assert!(task.done());
        assert!(log.borrow().is_empty(), "the handle can still observe it");
        drop(task);
        assert_eq!(kinds(&log), [ReportKind::NeverRetrieved], "at the drop");
    });
    assert_eq!(reports.len(), 1);
    assert_never_retrieved(&reports[0], "Task-1", "boom");
}

#[test]
fn a_task_whose_handle_is_gone_is_reported_when_it_fails() {
    let ((), reports) = reporting(|log| async move {
        let task = aio::create_task(async {
            aio::sleep(Duration::from_secs(1)).await;
            panic!("later")
        })
        .with_name("orphan");
        drop(task);
        aio::yield_now().await;
        assert!(log.borrow().is_empty(), "not failed yet");
        aio::sleep(Duration::from_secs(2)).await;
        assert_eq!(kinds(&log), [ReportKind::NeverRetrieved], "at the failure");
    });
    assert_eq!(reports.len(), 1);
    assert_never_retrieved(&reports[0], "orphan", "later");
}

#[test]
fn a_handle_that_outlives_the_loop_is_reported_at_the_end_once() {
    let (task, reports) = reporting(|_| async {
        let task = aio::create_task(async { panic!("kept") });
        aio::yield_now().await;
        task
    });
    assert_eq!(reports.len(), 1, "reported as the loop ends");
    assert_never_retrieved(&reports[0], "Task-1", "kept");
    assert!(task.done());
    drop(task); // no second report (there is no loop, and it was reported)
}

#[test]
fn observed_failures_are_never_reported() {
    let ((), reports) = reporting(|_| async {
        // Awaited.
        let awaited = aio::create_task(async { panic!("awaited") });
        assert!(awaited.await.unwrap_err().is_panic());
        // Read with try_result.
        let read = aio::create_task(async { panic!("read") });
        aio::yield_now().await;
        assert!(read.try_result().unwrap().is_err());
        drop(read);
        // Converted into a crate Future that someone holds (and reads after the loop).
        let converted = aio::create_task(async {
            aio::yield_now().await;
            panic!("converted")
        });
        let future: concurra::Future<()> = converted.into();
        aio::sleep(Duration::from_secs(1)).await;
        assert!(future.done());
        // Given to as_completed.
        let streamed = aio::create_task(async { panic!("streamed") });
        let mut stream = aio::as_completed([streamed]);
        assert!(stream.next().await.unwrap().is_err());
        // A sibling failing after gather returned the first failure: the gather retrieved it.
        let first = aio::create_task(async { panic!("first") });
        let second = aio::create_task(async {
            aio::sleep(Duration::from_secs(1)).await;
            panic!("second")
        });
        assert!(aio::gather([first, second]).await.is_err());
        aio::sleep(Duration::from_secs(2)).await;
        // Neither cancellation nor success is a failure.
        let cancelled = aio::create_task(std::future::pending::<()>());
        cancelled.cancel();
        aio::yield_now().await;
        drop(cancelled);
        drop(aio::create_task(async { 1 }));
        aio::yield_now().await;
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_panicking_callback_goes_to_the_handler() {
    let ((), reports) = reporting(|_| async {
        aio::call_soon(|| panic!("in a callback"));
        aio::yield_now().await;
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind, ReportKind::CallbackPanicked);
    assert_eq!(reports[0].task, None);
    assert_eq!(
        reports[0].error.as_ref().unwrap().panic_message(),
        Some("in a callback")
    );
}

#[test]
fn a_step_that_holds_the_loop_too_long_is_reported_with_its_task_name() {
    let clock = PausedClock::new();
    let log = Log::default();
    let sink = log.clone();
    let c = clock.clone();
    aio::Builder::new()
        .clock(clock.clone())
        .slow_callback_duration(Duration::from_millis(100))
        .exception_handler(move |r| sink.borrow_mut().push(r.clone()))
        .run(async move {
            let (c1, c2) = (c.clone(), c.clone());
            let slow = aio::create_task(async move {
                aio::yield_now().await;
                // Holds the loop for 150 ms of loop time, inside one step.
                c1.advance(Duration::from_millis(150));
            })
            .with_name("slowpoke");
            let quick = aio::create_task(async move {
                c2.advance(Duration::from_millis(99));
            });
            let c3 = c.clone();
            aio::call_soon(move || c3.advance(Duration::from_millis(200)));
            slow.await.unwrap();
            quick.await.unwrap();
            // Sleeping is not holding the loop: the clock jumps while the loop is idle.
            aio::sleep(Duration::from_secs(10)).await;
        });
    let reports = log.borrow();
    let seen: Vec<_> = reports
        .iter()
        .map(|r| (r.kind.clone(), r.task.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                ReportKind::Slow {
                    took: Duration::from_millis(200)
                },
                None
            ),
            (
                ReportKind::Slow {
                    took: Duration::from_millis(150)
                },
                Some("slowpoke".to_owned())
            ),
        ]
    );
    let text = reports[1].to_string();
    assert_eq!(text, "executing task slowpoke took 0.150 seconds");
}

#[test]
fn without_a_threshold_nothing_is_timed() {
    let clock = PausedClock::new();
    let c = clock.clone();
    let ((), reports) = {
        let log = Log::default();
        let sink = log.clone();
        aio::Builder::new()
            .clock(clock)
            .exception_handler(move |r| sink.borrow_mut().push(r.clone()))
            .run(async move { c.advance(Duration::from_secs(5)) });
        let reports = log.borrow().clone();
        ((), reports)
    };
    assert!(reports.is_empty());
}
