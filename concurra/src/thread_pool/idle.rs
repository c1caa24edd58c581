//! The pool's idle accounting: whether a submit can count on a worker that is already there,
//! or must start a thread (CPython's `_idle_semaphore` and `_adjust_thread_count`).
//!
//! 1. A worker leaves one *token* each time it is done with a job and goes back to the queue
//!    ([`Idle::leave_token`]); it leaves it *before* the job's outcome is published when no
//!    done-callback waits (`Promise::complete_then`), so a submitter that saw the result finds
//!    the token.
//! 2. A submit first queues its job, then takes a token if one is left
//!    ([`Idle::needs_thread`] is false): a worker on its way back to the queue will take the
//!    job. With no token, and fewer than `max` threads started, it takes the workers lock,
//!    checks again, and starts one ([`Idle::started`] records it).
//! 3. Once the pool has started every thread it may (it never shrinks), neither side touches
//!    the tokens: no decision is left for them to inform, and the counter would be the one
//!    line every submit and every finished job writes (measured: `submit-wait` 0.78× the
//!    time without this, unpinned).
//!
//! The count need not be exact (a token may be taken by a submit whose job another worker
//! takes first), only safe: a queued job is never left without a worker that will take it,
//! and the pool never starts more than `max` threads. The loom models below check both, with
//! the real [`Job`](crate::work::Job) and future, in every interleaving.

use crate::loom::{AtomicUsize, Ordering};

/// Idle tokens and started threads, shared by the submitters and the workers.
#[derive(Debug)]
pub(super) struct Idle {
    // ORDERING: both counters are hints whose exactness does not matter; Relaxed. What a
    // submitter relies on (a token left before the result it saw) is ordered by the future's
    // own publication, and the start decision is re-checked under the workers lock.
    tokens: AtomicUsize,
    /// A lock-free copy of the workers' `started`, so a full pool's submit skips the lock.
    started: AtomicUsize,
    max: usize,
}

impl Idle {
    pub(super) fn new(max: usize) -> Self {
        Idle {
            tokens: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            max,
        }
    }

    /// The most threads the pool starts.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// A worker is done with a job and goes back to the queue.
    #[inline]
    pub(super) fn leave_token(&self) {
        // A full pool never starts another thread, so nobody reads its tokens: skipping
        // them keeps its workers and submitters off one shared, written cache line.
        if !self.full() {
            self.tokens.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether every thread the pool may start has been started (it never shrinks).
    #[inline]
    fn full(&self) -> bool {
        self.started.load(Ordering::Relaxed) >= self.max
    }

    /// After a submit queued its job: takes a token if one is left. True when none was and
    /// the pool may not be full: the caller then starts a thread under the workers lock,
    /// checking `started < max` again there.
    #[inline]
    pub(super) fn needs_thread(&self) -> bool {
        if self.full() {
            return false;
        }
        let took_token = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        !took_token
    }

    /// Records, under the workers lock, that `n` threads have been started.
    pub(super) fn started(&self, n: usize) {
        self.started.store(n, Ordering::Relaxed);
    }
}

#[cfg(all(test, concurra_loom))]
mod loom_models {
    //! The pool's queue is a crossbeam channel, which loom cannot see: here it is a loom
    //! lock and condition variable with the same contract (FIFO, a blocked `recv` wakes for
    //! the next message). The submit and worker steps are `Shared::submit`'s and
    //! `worker::run`'s, over the real `Idle`, `Job` and `Future`.

    use std::collections::VecDeque;

    use ::loom::model;
    use ::loom::sync::{Condvar, Mutex};
    use ::loom::thread::{spawn, JoinHandle};

    use super::Idle;
    use crate::loom::Arc;
    use crate::work::{self, Job};

    enum Message {
        Run(Job),
        Stop,
    }

    struct Pool {
        idle: Idle,
        queue: Mutex<VecDeque<Message>>,
        ready: Condvar,
        workers: Mutex<Vec<JoinHandle<()>>>,
    }

    impl Pool {
        fn new(max: usize) -> Arc<Pool> {
            Arc::new(Pool {
                idle: Idle::new(max),
                queue: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
                workers: Mutex::new(Vec::new()),
            })
        }

        fn send(&self, message: Message) {
            self.queue.lock().unwrap().push_back(message);
            self.ready.notify_one();
        }

        fn recv(&self) -> Message {
            let mut queue = self.queue.lock().unwrap();
            loop {
                if let Some(message) = queue.pop_front() {
                    return message;
                }
                queue = self.ready.wait(queue).unwrap();
            }
        }

        /// `Shared::submit`: queue, then a token or a new thread.
        fn submit(this: &Arc<Pool>, job: Job) {
            this.send(Message::Run(job));
            if !this.idle.needs_thread() {
                return;
            }
            let mut workers = this.workers.lock().unwrap();
            if workers.len() >= this.idle.max() {
                return;
            }
            let pool = this.clone();
            workers.push(spawn(move || pool.work()));
            this.idle.started(workers.len());
        }

        /// `worker::run`.
        fn work(&self) {
            while let Message::Run(mut job) = self.recv() {
                job.run(&mut || self.idle.leave_token());
            }
        }

        /// Stops and joins every worker; returns how many there were.
        fn shutdown(&self) -> usize {
            let workers = std::mem::take(&mut *self.workers.lock().unwrap());
            for _ in &workers {
                self.send(Message::Stop);
            }
            let n = workers.len();
            for worker in workers {
                worker.join().unwrap();
            }
            n
        }
    }

    /// A submit that saw the previous result finds that job's worker idle: sequential
    /// submits reuse one thread, whatever the pool's size.
    #[test]
    fn loom_sequential_submits_reuse_the_idle_worker() {
        model(|| {
            let pool = Pool::new(2);
            let (job, first) = work::job(|| Ok(1));
            Pool::submit(&pool, job);
            assert_eq!(first.result().unwrap(), 1);
            let (job, second) = work::job(|| Ok(2));
            Pool::submit(&pool, job);
            assert_eq!(second.result().unwrap(), 2);
            assert_eq!(pool.shutdown(), 1, "the second submit started a thread");
        });
    }

    /// Concurrent submits to a pool of one: both jobs run, on one thread.
    #[test]
    fn loom_concurrent_submits_never_strand_a_job() {
        model(|| {
            let pool = Pool::new(1);
            let other = pool.clone();
            let submitter = spawn(move || {
                let (job, future) = work::job(|| Ok(1));
                Pool::submit(&other, job);
                future
            });
            let (job, mine) = work::job(|| Ok(2));
            Pool::submit(&pool, job);
            let theirs = submitter.join().unwrap();
            assert_eq!(mine.result().unwrap() + theirs.result().unwrap(), 3);
            assert_eq!(pool.shutdown(), 1);
        });
    }
}
