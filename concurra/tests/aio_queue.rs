//! Loop queues: `Queue`, `LifoQueue`, `PriorityQueue`, `task_done`/`join`, 3.13's
//! `shutdown`. Python's rules are in python-semantics.md §1.13; the cases are ports of
//! CPython's Lib/test/test_asyncio/test_queues.py (test_maxsize, test_order, test_blocking_put,
//! test_blocking_get, test_nonblocking_put_exception / test_nonblocking_get_exception,
//! test_get_cancel_drop_one_pending_reader, test_put_cancel_drop, test_task_done,
//! test_task_done_underflow, test_join_empty_queue, test_shutdown_*).
//!
//! Changes from Python, on purpose: `QueueFull`/`QueueEmpty`/`QueueShutDown` are the variants
//! of `PutError` (which gives the item back) and `GetError`; `task_done` underflow is
//! `Error::InvalidState`. Cancellation is `Task::cancel` (the coroutine dropped at its next
//! step). No sleeps: order is forced by yielding.

mod common;

use common::aio::paused;
use concurra::aio::{self, GetError, LifoQueue, PriorityQueue, PutError, Queue};

async fn settle() {
    for _ in 0..8 {
        aio::yield_now().await;
    }
}

#[test]
fn fifo_lifo_and_priority_orders() {
    // test_order, LifoQueueTests, PriorityQueueTests
    paused(async {
        let q = Queue::new(0);
        let l = LifoQueue::new(0);
        let p = PriorityQueue::new(0);
        for i in [1, 3, 2] {
            q.put_nowait(i).unwrap();
            l.put_nowait(i).unwrap();
            p.put_nowait(i).unwrap();
        }
        let drain = |f: &dyn Fn() -> Result<i32, GetError>| {
            (0..3).map(|_| f().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(drain(&|| q.get_nowait()), [1, 3, 2]);
        assert_eq!(drain(&|| l.get_nowait()), [2, 3, 1]);
        assert_eq!(drain(&|| p.get_nowait()), [1, 2, 3]);
    });
}

#[test]
fn maxsize_bounds_and_nowait_errors() {
    // test_maxsize, test_nonblocking_put_exception, test_nonblocking_get_exception
    paused(async {
        let q = Queue::new(2);
        assert_eq!(q.maxsize(), 2);
        assert!(q.empty() && !q.full());
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert!(q.full());
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.put_nowait(3), Err(PutError::Full(3)));
        let unbounded = Queue::new(0);
        for i in 0..1000 {
            unbounded.put_nowait(i).unwrap();
        }
        assert!(!unbounded.full());
    });
}

#[test]
fn put_blocks_while_full_and_get_while_empty() {
    // test_blocking_put, test_blocking_get, test_why_are_putters_waiting
    paused(async {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let qq = q.clone();
        let putter = aio::create_task(async move {
            for i in 1..=3 {
                qq.put(i).await.unwrap();
            }
        });
        settle().await;
        assert!(!putter.done());
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.get().await.unwrap());
        }
        putter.await.unwrap();
        assert_eq!(got, [0, 1, 2, 3]);
        let qq = q.clone();
        let getter = aio::create_task(async move { qq.get().await });
        settle().await;
        assert!(!getter.done());
        q.put(9).await.unwrap();
        assert_eq!(getter.await.unwrap().unwrap(), 9);
    });
}

#[test]
fn getters_are_served_in_arrival_order() {
    paused(async {
        let q = Queue::new(0);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                aio::create_task(async move { q.get().await.unwrap() })
            })
            .collect();
        settle().await;
        for i in 10..13 {
            q.put_nowait(i).unwrap();
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        assert_eq!(got, [10, 11, 12]);
    });
}

#[test]
fn a_cancelled_getter_neither_loses_nor_duplicates_an_item() {
    // test_get_cancel_drop_one_pending_reader, test_get_cancel_drop_many_pending_readers
    paused(async {
        let q = Queue::new(0);
        let qq = q.clone();
        let a = aio::create_task(async move { qq.get().await.unwrap() });
        let qq = q.clone();
        let b = aio::create_task(async move { qq.get().await.unwrap() });
        settle().await;
        q.put_nowait(1).unwrap(); // wakes `a` ...
        a.cancel(); // ... which is dropped before it takes the item: `b` gets it
        assert_eq!(b.await.unwrap(), 1);
        assert!(a.cancelled());
        assert!(q.empty());
    });
}

#[test]
fn a_cancelled_putter_neither_loses_nor_duplicates_an_item() {
    // test_put_cancel_drop
    paused(async {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let qq = q.clone();
        let a = aio::create_task(async move { qq.put(1).await.unwrap() });
        let qq = q.clone();
        let b = aio::create_task(async move { qq.put(2).await.unwrap() });
        settle().await;
        assert_eq!(q.get_nowait().unwrap(), 0); // wakes `a` ...
        a.cancel(); // ... which is dropped: `b` takes the place
        b.await.unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(q.empty());
        assert_eq!(q.get_nowait(), Err(GetError::Empty));
    });
}

#[test]
fn task_done_and_join() {
    // test_task_done, test_task_done_underflow, test_join_empty_queue
    paused(async {
        let q = Queue::new(0);
        q.join().await; // empty: returns at once
        assert!(q.task_done().unwrap_err().is_invalid_state());
        for i in 0..10 {
            q.put_nowait(i).unwrap();
        }
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                aio::create_task(async move {
                    let mut sum = 0;
                    while let Ok(i) = q.get().await {
                        sum += i;
                        aio::yield_now().await;
                        q.task_done().unwrap();
                    }
                    sum
                })
            })
            .collect();
        q.join().await;
        assert!(q.empty());
        q.shutdown(false);
        let mut total = 0;
        for w in workers {
            total += w.await.unwrap();
        }
        assert_eq!(total, 45);
    });
}

#[test]
fn shutdown_fails_puts_and_drains_then_fails_gets() {
    // test_shutdown_empty, test_shutdown_nonempty, test_shutdown_pending_get
    paused(async {
        let q = Queue::new(1);
        let qq = q.clone();
        let getter = aio::create_task(async move { qq.get().await });
        settle().await;
        q.put_nowait(1).unwrap();
        assert_eq!(getter.await.unwrap(), Ok(1));
        q.put_nowait(2).unwrap();
        let qq = q.clone();
        let putter = aio::create_task(async move { qq.put(3).await.map_err(PutError::into_inner) });
        settle().await;
        q.shutdown(false);
        assert!(q.is_shut_down());
        assert_eq!(
            putter.await.unwrap(),
            Err(3),
            "pending put fails, item back"
        );
        assert_eq!(q.put_nowait(4), Err(PutError::ShutDown(4)));
        assert_eq!(q.get().await, Ok(2), "items left are still served");
        assert_eq!(q.get().await, Err(GetError::ShutDown));
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        let e = Queue::<u8>::new(0);
        let ee = e.clone();
        let waiting = aio::create_task(async move { ee.get().await });
        settle().await;
        e.shutdown(false);
        assert_eq!(waiting.await.unwrap(), Err(GetError::ShutDown));
    });
}

#[test]
fn immediate_shutdown_drops_items_and_releases_join() {
    // test_shutdown_immediate, test_shutdown_immediate_with_unfinished
    paused(async {
        let q = Queue::new(0);
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        assert_eq!(q.get_nowait().unwrap(), 0); // taken, not yet done
        let qq = q.clone();
        let joiner = aio::create_task(async move { qq.join().await });
        settle().await;
        q.shutdown(true);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
        settle().await;
        assert!(!joiner.done(), "one taken item is still unfinished");
        q.task_done().unwrap();
        joiner.await.unwrap();
    });
}

#[test]
fn a_stream_yields_until_shutdown_and_empty() {
    use futures::StreamExt;

    let got = paused(async {
        let q = Queue::new(1);
        let producer = aio::create_task({
            let q = q.clone();
            async move {
                for i in 0..4 {
                    q.put(i).await.unwrap();
                }
                // Python 3.13: the consumer's `get` raises QueueShutDown once it is empty.
                q.shutdown(false);
            }
        });
        let got: Vec<i32> = q.stream().collect().await;
        producer.await.unwrap();
        got
    });
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn a_stream_is_fused_and_an_immediate_shutdown_ends_it() {
    use futures::stream::FusedStream;

    paused(async {
        let q = LifoQueue::new(0);
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        let mut items = q.stream();
        assert_eq!(items.next().await, Some(2));
        q.shutdown(true);
        assert!(!items.is_terminated());
        assert_eq!(items.next().await, None);
        assert!(items.is_terminated());
        // Fused: a later put would be refused anyway, and the stream stays ended.
        assert_eq!(items.next().await, None);
    });
}

#[test]
fn streams_and_getters_share_the_items_and_a_waiting_stream_wakes() {
    use futures::StreamExt;

    let (a, b) = paused(async {
        let q = PriorityQueue::new(0);
        let consumer = aio::create_task({
            let q = q.clone();
            async move { q.stream().collect::<Vec<u32>>().await }
        });
        settle().await; // the consumer's stream waits on the empty queue
        for i in [3, 1, 2] {
            q.put_nowait(i).unwrap();
        }
        let first = q.get().await.unwrap();
        q.shutdown(false);
        (first, consumer.await.unwrap())
    });
    // The stream, waiting first, was woken and took the item left by each wake-up; the
    // getter took one: every item went to exactly one of them.
    let mut all = b.clone();
    all.push(a);
    all.sort_unstable();
    assert_eq!(all, [1, 2, 3]);
}

#[test]
fn a_dropped_waiting_stream_passes_its_wake_up_on() {
    // test_get_cancel_drop_one_pending_reader, with a stream as the cancelled reader.
    paused(async {
        let q: Queue<u8> = Queue::new(0);
        let streamer = aio::create_task({
            let q = q.clone();
            async move {
                let mut items = q.stream();
                items.next().await
            }
        });
        let getter = aio::create_task({
            let q = q.clone();
            async move { q.get().await.unwrap() }
        });
        settle().await;
        q.put_nowait(7).unwrap();
        streamer.cancel();
        assert_eq!(getter.await.unwrap(), 7);
        assert!(streamer.await.unwrap_err().is_cancelled());
    });
}
