//! The loop and other threads: `call_soon_threadsafe`, thread-pool futures awaited on the loop
//! (woken through the reactor's cross-thread waker), loop tasks waited on and cancelled from
//! other threads. Threads are synchronised with channels and futures, never with sleeps.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use concurra::aio;
use concurra::{future, ThreadPoolExecutor};

#[test]
fn call_soon_threadsafe_wakes_a_blocked_loop() {
    for round in 0..50 {
        let out = aio::run(async move {
            let handle = aio::get_running_loop().unwrap().handle();
            let (promise, fut) = future::pair::<u32>();
            let helper = thread::spawn(move || {
                handle
                    .call_soon_threadsafe(move || promise.set_result(round).unwrap())
                    .unwrap()
            });
            // Nothing is ready and no timer is set: the loop blocks in the reactor until the
            // other thread's callback arrives.
            let out = fut.await.unwrap();
            let h = helper.join().unwrap();
            assert!(!h.cancelled());
            out
        });
        assert_eq!(out, round);
    }
}

#[test]
fn call_soon_threadsafe_from_one_thread_is_fifo() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    aio::run(async move {
        let handle = aio::get_running_loop().unwrap().handle();
        let (promise, done) = future::pair::<()>();
        let helper = thread::spawn(move || {
            for i in 0..200 {
                let l = l.clone();
                handle
                    .call_soon_threadsafe(move || l.lock().unwrap().push(i))
                    .unwrap();
            }
            handle
                .call_soon_threadsafe(move || promise.set_result(()).unwrap())
                .unwrap();
        });
        done.await.unwrap();
        helper.join().unwrap();
    });
    assert_eq!(*log.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[test]
fn threadsafe_handles_cancel_and_closed_loops_refuse() {
    let ran = Arc::new(Mutex::new(false));
    let r = ran.clone();
    let handle = aio::run(async move {
        let handle = aio::get_running_loop().unwrap().handle();
        let h = handle
            .call_soon_threadsafe(move || *r.lock().unwrap() = true)
            .unwrap();
        h.cancel();
        aio::yield_now().await;
        aio::yield_now().await;
        assert!(!handle.is_closed());
        handle
    });
    assert!(!*ran.lock().unwrap());
    assert!(handle.is_closed());
    let err = handle.call_soon_threadsafe(|| {}).unwrap_err();
    assert!(err.is_invalid_state(), "{err:?}");
}

#[test]
fn a_thread_pool_future_awaited_on_the_loop_wakes_it() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    for round in 0..50u32 {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let job = pool.submit(move || {
            gate_rx.recv().unwrap();
            round * 2
        });
        let out = aio::run(async move {
            // Open the gate from a task, so the job can only finish while main is suspended
            // on it and the loop is blocked in the reactor.
            aio::create_task(async move { gate_tx.send(()).unwrap() });
            job.await
        });
        assert_eq!(out.unwrap(), round * 2);
    }
}

#[test]
fn many_pool_futures_awaited_by_many_tasks() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let total = aio::run(async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let job = pool.submit(move || i);
                aio::create_task(async move { job.await.unwrap() })
            })
            .collect();
        aio::gather(tasks).await.unwrap().into_iter().sum::<u64>()
    });
    assert_eq!(total, (0..200).sum::<u64>());
}

#[test]
fn a_loop_task_is_waited_on_from_another_thread() {
    let out = aio::run(async {
        let (promise, release) = future::pair::<()>();
        let task = aio::create_task(async move {
            release.await.unwrap();
            "from the loop"
        });
        let fut = task.future();
        let waiter = thread::spawn(move || fut.result().unwrap());
        // The other thread blocks on the task's future; release the task from here.
        aio::yield_now().await;
        promise.set_result(()).unwrap();
        let seen_here = task.await.unwrap();
        (seen_here, waiter.join().unwrap())
    });
    assert_eq!(out, ("from the loop", "from the loop"));
}

#[test]
fn a_loop_task_cancelled_from_another_thread_is_dropped() {
    for _ in 0..50 {
        let dropped = aio::run(async {
            let (drop_tx, drop_rx) = mpsc::channel::<()>();
            struct Finally(mpsc::Sender<()>);
            impl Drop for Finally {
                fn drop(&mut self) {
                    let _ = self.0.send(());
                }
            }
            let task = aio::create_task(async move {
                let _finally = Finally(drop_tx);
                std::future::pending::<()>().await;
            });
            let fut = task.future();
            aio::yield_now().await; // the task is suspended in pending()
            let canceller = thread::spawn(move || fut.cancel());
            // Main waits on the task; the cancel on the other thread wakes the task's waker
            // from that thread, through the inject queue.
            let out = task.await;
            assert!(canceller.join().unwrap());
            assert!(out.unwrap_err().is_cancelled());
            // The cancel woke main (a waiter) before the task (a done-callback); after the join
            // both wakes are in the loop, so the task's next step, which drops the coroutine,
            // comes within two iterations.
            aio::yield_now().await;
            aio::yield_now().await;
            drop_rx.try_recv().is_ok()
        });
        assert!(dropped);
    }
}

#[test]
fn concurrent_wakes_from_many_threads_all_arrive() {
    // Four threads race pushes into the inject queue while the loop alternates between
    // running ready work and blocking in the reactor.
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = ran.clone();
    let ran_before_main_resumed = aio::run(async move {
        let handle = aio::get_running_loop().unwrap().handle();
        let counter = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let (promise, all_sent) = future::pair::<()>();
        let promise = Arc::new(Mutex::new(Some(promise)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let handle = handle.clone();
                let r = r.clone();
                let pool = ThreadPoolExecutor::builder()
                    .max_workers(1)
                    .build()
                    .unwrap();
                thread::spawn(move || {
                    for i in 0..500u64 {
                        // A thread-pool future per push: its completion wakes a task from
                        // the pool's thread, racing the callbacks from this one.
                        let job = pool.submit(move || i);
                        job.wait();
                        let r = r.clone();
                        handle
                            .call_soon_threadsafe(move || {
                                r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        let c = counter.clone();
        let ticker = aio::create_task(async move {
            // Mostly busy (no syscall), sometimes blocked in the reactor with a timeout.
            loop {
                c.set(c.get() + 1);
                if c.get() % 50 == 0 {
                    aio::sleep(std::time::Duration::from_millis(1)).await;
                } else {
                    aio::yield_now().await;
                }
            }
        });
        let waiter = thread::spawn(move || {
            for t in threads {
                t.join().unwrap();
            }
            promise
                .lock()
                .unwrap()
                .take()
                .unwrap()
                .set_result(())
                .unwrap();
        });
        all_sent.await.unwrap();
        // Every callback was injected before main's wake-up, so all of them ran first.
        let ran_now = r.load(std::sync::atomic::Ordering::Relaxed);
        waiter.join().unwrap();
        ticker.cancel();
        assert!(ticker.await.unwrap_err().is_cancelled());
        assert!(counter.get() > 0);
        ran_now
    });
    assert_eq!(ran_before_main_resumed, 2000);
    assert_eq!(ran.load(std::sync::atomic::Ordering::Relaxed), 2000);
}
