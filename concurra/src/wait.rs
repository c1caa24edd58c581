//! [`wait`] and [`as_completed`]: waiting on many futures at once (Python's
//! `concurrent.futures.wait` and `as_completed`), blocking or async.
//!
//! Both are built on one shared waiter (`WaitSet`) registered with every future; no engine
//! code is involved, so they work across engines. Duplicates are collapsed (by identity), and a
//! cancelled future counts as complete the moment it is cancelled — unlike CPython, whose `wait`
//! never sees futures cancelled by `shutdown(cancel_futures=True)` (gh-87893).

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Unfinished};
use crate::future::waiter::{Key, WaitSet, Waiter};
use crate::future::{deadline, Future};

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any future is done (or cancelled).
    FirstCompleted,
    /// As soon as any future fails (a cancellation is not a failure); otherwise when all are done.
    FirstException,
    /// When every future is done.
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: the futures that are done and those that are not, each in input order
/// (Python returns two sets; concurra keeps the order you gave).
#[derive(Debug)]
pub struct DoneAndNotDone<T> {
    /// Finished or cancelled futures.
    pub done: Vec<Future<T>>,
    /// The rest.
    pub not_done: Vec<Future<T>>,
}

/// Waits until `return_when` holds (Python: `concurrent.futures.wait(fs, return_when=...)`).
///
/// ```
/// use concurra::{wait, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (0..4).map(|i| pool.submit(move || i * 2)).collect();
/// let waited = wait(&fs, ReturnWhen::AllCompleted);
/// assert_eq!(waited.done.len(), 4);
/// assert!(waited.not_done.is_empty());
/// ```
pub fn wait<T, F>(
    futures: impl IntoIterator<Item = F>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    F: Borrow<Future<T>>,
{
    wait_until(futures, None, return_when)
}

/// [`wait`] for at most `timeout` (Python: `wait(fs, timeout, return_when)`).
///
/// Never fails: on timeout it returns what is done so far. `Duration::ZERO` checks now; a
/// timeout too large for the clock waits without a limit.
///
/// ```
/// use std::time::Duration;
/// use concurra::{wait_timeout, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs = vec![pool.submit(|| 1)];
/// let waited = wait_timeout(&fs, Duration::from_secs(5), ReturnWhen::AllCompleted);
/// assert_eq!(waited.done.len(), 1);
/// ```
pub fn wait_timeout<T, F>(
    futures: impl IntoIterator<Item = F>,
    timeout: Duration,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    F: Borrow<Future<T>>,
{
    wait_until(futures, deadline(timeout), return_when)
}

fn wait_until<T, F>(
    futures: impl IntoIterator<Item = F>,
    deadline: Option<Instant>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    F: Borrow<Future<T>>,
{
    let mut watch = Watch::new(futures);
    if !watch.satisfied(return_when) {
        watch.register_all();
        while !watch.satisfied(return_when) {
            let arrived = watch.set.wait_until(deadline);
            if arrived.is_empty() {
                break; // timed out
            }
            watch.absorb(arrived);
        }
    }
    watch.split()
}

/// The async form of [`wait`], with no deadline: race it with your runtime's timeout.
///
/// ```
/// use concurra::{wait_async, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs = vec![pool.submit(|| 1), pool.submit(|| 2)];
/// let waited = futures::executor::block_on(wait_async(&fs, ReturnWhen::AllCompleted));
/// assert_eq!(waited.done.len(), 2);
/// ```
pub async fn wait_async<T, F>(
    futures: impl IntoIterator<Item = F>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    F: Borrow<Future<T>>,
{
    let mut watch = Watch::new(futures);
    if !watch.satisfied(return_when) {
        watch.register_all();
        std::future::poll_fn(|cx| loop {
            if watch.satisfied(return_when) {
                return Poll::Ready(());
            }
            match watch.set.poll_ready(cx) {
                Poll::Ready(arrived) => {
                    watch.absorb(arrived);
                }
                Poll::Pending => return Poll::Pending,
            }
        })
        .await;
    }
    watch.split()
}

/// Yields futures as they complete (Python: `concurrent.futures.as_completed`).
///
/// Futures already done come first, then the rest in completion order. It never cancels
/// anything, and drops its reference to each future it yields.
///
/// [`AsCompleted`] is also a [`Stream`](futures_core::Stream).
///
/// ```
/// use concurra::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let fs: Vec<_> = (1..=3).map(|i| pool.submit(move || i)).collect();
/// let mut total = 0;
/// for f in as_completed(&fs) {
///     total += f.unwrap().result().unwrap();
/// }
/// assert_eq!(total, 6);
/// ```
pub fn as_completed<T, F>(futures: impl IntoIterator<Item = F>) -> AsCompleted<T>
where
    F: Borrow<Future<T>>,
{
    as_completed_until(futures, None)
}

/// [`as_completed`] with a deadline fixed now (Python: `as_completed(fs, timeout)`): when
/// the iterator has to wait past it, it yields one `Err(`[`Error::Timeout`]`)` and ends.
/// Polled as a stream it checks the deadline each time it is polled, so race it with your
/// runtime's timer to be woken at the deadline.
pub fn as_completed_timeout<T, F>(
    futures: impl IntoIterator<Item = F>,
    timeout: Duration,
) -> AsCompleted<T>
where
    F: Borrow<Future<T>>,
{
    let mut it = as_completed_until(futures, deadline(timeout));
    it.timeout = timeout;
    it
}

fn as_completed_until<T, F>(
    futures: impl IntoIterator<Item = F>,
    deadline: Option<Instant>,
) -> AsCompleted<T>
where
    F: Borrow<Future<T>>,
{
    let mut watch = Watch::new(futures);
    let ready = (0..watch.futures.len())
        .filter(|&i| watch.done[i])
        .collect();
    // Futures that complete while registering arrive through the set, after those queued above.
    watch.register_all();
    AsCompleted {
        watch,
        ready,
        deadline,
        timeout: Duration::MAX,
        finished: false,
    }
}

/// The iterator (and stream) [`as_completed`] returns.
#[derive(Debug)]
pub struct AsCompleted<T> {
    watch: Watch<T>,
    ready: VecDeque<usize>,
    deadline: Option<Instant>,
    timeout: Duration,
    finished: bool,
}

impl<T> AsCompleted<T> {
    /// The next ready future, if any is queued.
    fn pop(&mut self) -> Option<Result<Future<T>>> {
        let index = self.ready.pop_front()?;
        let future = self.watch.futures[index].take().expect("yielded once");
        Some(Ok(future))
    }

    /// Python's `TimeoutError('2 (of 4) futures unfinished')`: the futures not yielded, of
    /// the futures watched (each counted once).
    fn timed_out(&mut self) -> Option<Result<Future<T>>> {
        self.finished = true;
        let total = self.watch.futures.len();
        let pending = self.watch.futures.iter().filter(|f| f.is_some()).count();
        Some(Err(Error::Timeout {
            after: self.timeout,
            unfinished: Some(Unfinished { pending, total }),
        }))
    }

    fn exhausted(&self) -> bool {
        self.finished || self.watch.remaining == 0 && self.ready.is_empty()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<Future<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(f) = self.pop() {
                return Some(f);
            }
            if self.exhausted() {
                return None;
            }
            let arrived = self.watch.set.wait_until(self.deadline);
            if arrived.is_empty() {
                return self.timed_out();
            }
            let fresh = self.watch.absorb(arrived);
            self.ready.extend(fresh);
        }
    }
}

/// After `None` (or the timeout's one error) it always gives `None`.
impl<T> std::iter::FusedIterator for AsCompleted<T> {}

impl<T> futures_core::Stream for AsCompleted<T> {
    type Item = Result<Future<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(f) = this.pop() {
                return Poll::Ready(Some(f));
            }
            if this.exhausted() {
                return Poll::Ready(None);
            }
            if this.deadline.is_some_and(|d| Instant::now() >= d) {
                return Poll::Ready(this.timed_out());
            }
            match this.watch.set.poll_ready(cx) {
                Poll::Ready(arrived) => {
                    let fresh = this.watch.absorb(arrived);
                    this.ready.extend(fresh);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Many futures watched through one [`WaitSet`]; withdraws its registrations when dropped.
struct Watch<T> {
    /// Deduplicated, in input order; `None` once `as_completed` has yielded it.
    futures: Vec<Option<Future<T>>>,
    /// The registration on each future, while it is pending and registered.
    keys: Vec<Option<Key>>,
    done: Vec<bool>,
    /// How many are not yet done.
    remaining: usize,
    /// Whether a done future failed (for `FirstException`).
    any_failed: bool,
    set: Arc<WaitSet>,
}

impl<T> Watch<T> {
    fn new<F: Borrow<Future<T>>>(futures: impl IntoIterator<Item = F>) -> Self {
        let mut seen = HashSet::new();
        let futures: Vec<Option<Future<T>>> = futures
            .into_iter()
            .filter(|f| seen.insert(f.borrow().id()))
            .map(|f| Some(f.borrow().clone()))
            .collect();
        let done: Vec<bool> = futures
            .iter()
            .map(|f| f.as_ref().is_some_and(Future::done))
            .collect();
        let any_failed = futures
            .iter()
            .any(|f| f.as_ref().is_some_and(Future::failed));
        Watch {
            keys: vec![None; futures.len()],
            remaining: done.iter().filter(|d| !**d).count(),
            any_failed,
            done,
            futures,
            set: WaitSet::new(),
        }
    }

    /// Registers the set with every future not yet done; one that completed meanwhile is
    /// delivered through the set like any other.
    fn register_all(&mut self) {
        for (index, future) in self.futures.iter().enumerate() {
            if self.done[index] {
                continue;
            }
            let future = future.as_ref().expect("pending futures are held");
            let waiter = Waiter::Set {
                set: self.set.clone(),
                index,
            };
            match future.register(waiter) {
                Some(key) => self.keys[index] = Some(key),
                None => {
                    // Completed since `new`: deliver it through the set like any other.
                    self.set.notify(index);
                }
            }
        }
    }

    /// Marks arrivals done; returns the ones not seen before.
    fn absorb(&mut self, arrived: Vec<usize>) -> Vec<usize> {
        // Each pending future is registered once, so each index arrives once.
        for &index in &arrived {
            self.keys[index] = None;
            self.mark_done(index);
        }
        arrived
    }

    fn mark_done(&mut self, index: usize) {
        if !self.done[index] {
            self.done[index] = true;
            self.remaining -= 1;
            self.any_failed |= self.futures[index].as_ref().is_some_and(Future::failed);
        }
    }

    fn satisfied(&self, return_when: ReturnWhen) -> bool {
        let all = self.remaining == 0;
        match return_when {
            ReturnWhen::AllCompleted => all,
            ReturnWhen::FirstCompleted => all || self.remaining < self.futures.len(),
            ReturnWhen::FirstException => all || self.any_failed,
        }
    }

    fn split(mut self) -> DoneAndNotDone<T> {
        self.unregister_all();
        let mut out = DoneAndNotDone {
            done: Vec::new(),
            not_done: Vec::new(),
        };
        for future in self.futures.iter_mut().filter_map(Option::take) {
            // Re-read: a future may have completed after the last arrival was absorbed.
            if future.done() {
                out.done.push(future);
            } else {
                out.not_done.push(future);
            }
        }
        out
    }
}

impl<T> Watch<T> {
    fn unregister_all(&mut self) {
        for (future, key) in self.futures.iter().zip(&mut self.keys) {
            if let (Some(future), Some(key)) = (future, key.take()) {
                future.unregister(key);
            }
        }
    }
}

impl<T> Drop for Watch<T> {
    fn drop(&mut self) {
        self.unregister_all();
    }
}

impl<T> std::fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("futures", &self.futures.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}
