//! [`IMap`] and [`IMapUnordered`]: lazy results of a Pool's `imap` and `imap_unordered`.
//!
//! Both read the input as they go, keeping at most four chunks per worker in flight (Python's
//! task thread reads the whole input ahead of the consumer). A failed item yields its error at
//! its position and the iteration goes on, as Python's `imap` does.
//!
//! An input that panics part-way ends the input: the chunks taken before it are handed out
//! first, then the panic comes out of the iterator as one [`Error::Panicked`] (the chunk it
//! broke is lost, as Python's), then the iteration ends. Never out of `imap(...)` itself,
//! though it reads ahead (CPython's `test_imap_handle_iterable_exception`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::Pool;
use crate::chunk::{Chunk, MapFn, Outcomes};
use crate::error::{Error, Result};
use crate::executor::{AsStream, Executor};
use crate::future::Future;
use crate::unwind;

/// Chunks in flight per worker.
const CHUNKS_PER_WORKER: usize = 4;

/// The input side both iterators share: the next chunks to submit.
struct Feed<'a, E: Executor, F: MapFn<E, A>, I, A> {
    pool: &'a Pool<E>,
    f: F::Held,
    items: I,
    chunksize: usize,
    limit: usize,
    /// The input ended: it is read no more (it need not be fused).
    ended: bool,
    /// The input's panic, handed out once the chunks taken before it are.
    failed: Option<Error>,
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> Feed<'a, E, F, I, A> {
    fn new(pool: &'a Pool<E>, f: F, items: I, chunksize: usize) -> Self {
        let f = f.hold();
        Feed {
            limit: pool.processes() * CHUNKS_PER_WORKER,
            pool,
            f,
            items,
            chunksize,
            ended: false,
            failed: None,
        }
    }

    /// Submits the next chunk, if the input has one.
    fn next_chunk(&mut self) -> Option<Future<Chunk<F::Output>>> {
        if self.ended {
            return None;
        }
        let (items, chunksize) = (&mut self.items, self.chunksize);
        let chunk: Vec<A> = match unwind::catch(|| items.by_ref().take(chunksize).collect()) {
            Ok(chunk) => chunk,
            Err(panic) => {
                // Not read again: an iterator that panicked may be in any state.
                self.ended = true;
                self.failed = Some(panic);
                return None;
            }
        };
        if chunk.is_empty() {
            self.ended = true;
            None
        } else {
            Some(F::submit_chunk(&self.f, &self.pool.executor, chunk))
        }
    }
}

/// Ordered lazy results (Python: `Pool.imap`).
pub struct IMap<'a, E: Executor, F: MapFn<E, A>, I, A> {
    feed: Feed<'a, E, F, I, A>,
    in_flight: VecDeque<Future<Chunk<F::Output>>>,
    /// The chunk being handed out, item by item.
    current: Option<Outcomes<F::Output>>,
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> IMap<'a, E, F, I, A> {
    pub(super) fn new(pool: &'a Pool<E>, f: F, items: I, chunksize: usize) -> Self {
        let mut it = IMap {
            feed: Feed::new(pool, f, items, chunksize),
            in_flight: VecDeque::new(),
            current: None,
        };
        it.refill();
        it
    }

    fn refill(&mut self) {
        while self.in_flight.len() < self.feed.limit {
            match self.feed.next_chunk() {
                Some(chunk) => self.in_flight.push_back(chunk),
                None => break,
            }
        }
    }

    /// The next result, waiting at most `timeout` (Python: `next(timeout)`). On
    /// [`Error::Timeout`](crate::Error::Timeout) nothing is consumed: call again.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<F::Output>> {
        self.next_until(Some(timeout))
    }

    fn next_until(&mut self, timeout: Option<Duration>) -> Option<Result<F::Output>> {
        let waited = self.advance(|front| match timeout {
            None => {
                front.wait();
                Ok(true)
            }
            Some(d) if front.wait_timeout(d) => Ok(true),
            Some(d) => Err(Error::timeout(d)),
        });
        match waited {
            Poll::Ready(next) => next,
            Poll::Pending => unreachable!("a blocking wait ends done or in error"),
        }
    }

    /// The one stepping of both forms: the current chunk's next result, else the front chunk's
    /// once `ready` (a blocking wait or a poll) says it is done; `Pending` when it is not.
    fn advance(
        &mut self,
        mut ready: impl FnMut(&mut Future<Chunk<F::Output>>) -> Result<bool>,
    ) -> Poll<Option<Result<F::Output>>> {
        loop {
            if let Some(r) = self.current.as_mut().and_then(Iterator::next) {
                return Poll::Ready(Some(r));
            }
            self.refill();
            let Some(front) = self.in_flight.front_mut() else {
                return Poll::Ready(self.feed.failed.take().map(Err));
            };
            match ready(front) {
                Ok(true) => {}
                Ok(false) => return Poll::Pending,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            let front = self.in_flight.pop_front().expect("a front chunk");
            match front.into_unique_result() {
                Ok(chunk) => self.current = Some(chunk.into_outcomes()),
                // The whole chunk failed (cancelled, terminated, refused): one error for it.
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl<E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> Iterator for IMap<'_, E, F, I, A> {
    type Item = Result<F::Output>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None)
    }
}

/// Once it gave `None` it always does: the input is not read past its end.
impl<E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> std::iter::FusedIterator
    for IMap<'_, E, F, I, A>
{
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> IMap<'a, E, F, I, A> {
    /// The async form: the same results, in order, each chunk's once it is done, without
    /// blocking the task (the input is still read, and chunks submitted, as it is polled).
    pub fn into_stream(self) -> AsStream<Self> {
        AsStream(self)
    }
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> futures_core::Stream
    for AsStream<IMap<'a, E, F, I, A>>
where
    IMap<'a, E, F, I, A>: Unpin,
{
    type Item = Result<F::Output>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.advance(|front| Ok(front.poll_done(cx).is_ready()))
    }
}

/// Lazy results in completion order (Python: `Pool.imap_unordered`).
pub struct IMapUnordered<'a, E: Executor, F: MapFn<E, A>, I, A> {
    feed: Feed<'a, E, F, I, A>,
    /// The chunks in flight, by number: the iterator's own handles, taken (not cloned) when
    /// their number arrives.
    in_flight: HashMap<u64, Future<Chunk<F::Output>>>,
    next_number: u64,
    sender: Sender<u64>,
    receiver: Receiver<u64>,
    /// The chunk being handed out, item by item.
    current: Option<Outcomes<F::Output>>,
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> IMapUnordered<'a, E, F, I, A> {
    pub(super) fn new(pool: &'a Pool<E>, f: F, items: I, chunksize: usize) -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let mut it = IMapUnordered {
            feed: Feed::new(pool, f, items, chunksize),
            in_flight: HashMap::new(),
            next_number: 0,
            sender,
            receiver,
            current: None,
        };
        it.refill();
        it
    }

    fn refill(&mut self) {
        while self.in_flight.len() < self.feed.limit {
            let Some(chunk) = self.feed.next_chunk() else {
                break;
            };
            let number = self.next_number;
            self.next_number += 1;
            let sender = self.sender.clone();
            chunk.add_done_callback(move |_| {
                // The iterator may be gone; then nobody wants the result.
                let _ = sender.send(number);
            });
            self.in_flight.insert(number, chunk);
        }
    }
}

impl<E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> Iterator
    for IMapUnordered<'_, E, F, I, A>
{
    type Item = Result<F::Output>;

    fn next(&mut self) -> Option<Self::Item> {
        // We hold a sender, so this only ends when a chunk arrives.
        let arrived =
            self.advance(|this| Some(this.receiver.recv().expect("the iterator holds a sender")));
        match arrived {
            Poll::Ready(next) => next,
            Poll::Pending => unreachable!("a blocking receive always gives a chunk"),
        }
    }
}

impl<E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> IMapUnordered<'_, E, F, I, A> {
    /// The one stepping of both forms: the current chunk's next result, else the results of
    /// the chunk `done` names (received, or found by polling); `Pending` when none is done.
    fn advance(
        &mut self,
        mut done: impl FnMut(&mut Self) -> Option<u64>,
    ) -> Poll<Option<Result<F::Output>>> {
        loop {
            if let Some(r) = self.current.as_mut().and_then(Iterator::next) {
                return Poll::Ready(Some(r));
            }
            self.refill();
            if self.in_flight.is_empty() {
                return Poll::Ready(self.feed.failed.take().map(Err));
            }
            let Some(number) = done(self) else {
                return Poll::Pending;
            };
            // A chunk taken by the other form is not in flight any more.
            if let Some(chunk) = self.in_flight.remove(&number) {
                if let Some(error) = self.take(chunk) {
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }

    /// Hands out a done chunk's results next; the chunk's own error, if it failed whole.
    fn take(&mut self, chunk: Future<Chunk<F::Output>>) -> Option<Error> {
        match chunk.into_unique_result() {
            Ok(chunk) => {
                self.current = Some(chunk.into_outcomes());
                None
            }
            Err(e) => Some(e),
        }
    }
}

/// Once it gave `None` it always does: the input is not read past its end.
impl<E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> std::iter::FusedIterator
    for IMapUnordered<'_, E, F, I, A>
{
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> IMapUnordered<'a, E, F, I, A> {
    /// The async form: the same results, in completion order, without blocking the task.
    pub fn into_stream(self) -> AsStream<Self> {
        AsStream(self)
    }
}

impl<'a, E: Executor, F: MapFn<E, A>, I: Iterator<Item = A>, A> futures_core::Stream
    for AsStream<IMapUnordered<'a, E, F, I, A>>
where
    IMapUnordered<'a, E, F, I, A>: Unpin,
{
    type Item = Result<F::Output>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every chunk in flight learns this task's waker; the first done one is taken.
        self.0.advance(|this| {
            this.in_flight
                .iter_mut()
                .find_map(|(&number, chunk)| chunk.poll_done(cx).is_ready().then_some(number))
        })
    }
}

impl<E: Executor, F: MapFn<E, A>, I, A> fmt::Debug for IMap<'_, E, F, I, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMap")
            .field("chunks_in_flight", &self.in_flight.len())
            .finish()
    }
}

impl<E: Executor, F: MapFn<E, A>, I, A> fmt::Debug for IMapUnordered<'_, E, F, I, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IMapUnordered")
            .field("chunks_in_flight", &self.in_flight.len())
            .finish()
    }
}
