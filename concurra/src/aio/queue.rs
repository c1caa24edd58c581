//! Queues for tasks of one loop (Python: `asyncio.Queue`, `PriorityQueue`, `LifoQueue`,
//! with 3.13's `shutdown`).
//!
//! Not thread-safe, as in asyncio: a queue is `!Send` and used by tasks of one loop. Clones
//! are handles on the same queue.
//!
//! # Protocol
//!
//! 1. **Storage.** Items live in the queue's [`Storage`] ([`Fifo`], [`Lifo`] or
//!    [`Priority`]) until a getter takes one; `maxsize == 0` means unbounded.
//! 2. **Getters.** `get` takes an item at once if there is one. Otherwise it appends a slot to
//!    the getters' FIFO list and waits. Each `put` notifies the first waiting getter; the
//!    woken getter takes an item when it runs, or waits again (at the back) if another task
//!    took it first, as in asyncio (wake-ups are hints; the item stays in the queue until a
//!    getter takes it).
//! 3. **Putters.** `put` on a full queue waits the same way in the putters' list; each `get`
//!    notifies the first waiting putter.
//! 4. **Cancellation.** A dropped `get`/`put` future leaves its list. If it had been notified
//!    but not run, it passes the wake-up to the next waiter of its list (if an item, or a free
//!    place, is still there). An item is only moved by a `get` or `put` that completes, so a
//!    cancelled one never loses or duplicates an item (test_get_cancel_drop_one_pending_reader,
//!    test_put_cancel_drop).
//! 5. **Counting.** Every put item counts as unfinished until [`GenericQueue::task_done`] is called
//!    for it; [`GenericQueue::join`] waits until the count is 0.
//! 6. **Shutdown** (3.13): [`GenericQueue::shutdown`] makes every pending and later `put` fail with
//!    [`PutError::ShutDown`] (the item comes back) and wakes every getter; `get` keeps taking
//!    the items left and then fails with [`GetError::ShutDown`]. `shutdown(true)` (immediate)
//!    also drops the items left, counting each as done, so `join` returns.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::sync::{Slot, WaitList};
use crate::error::{Error, Result};

/// How a queue orders its items.
pub trait Storage: Default {
    /// The item type.
    type Item;
    /// Stores an item.
    fn push(&mut self, item: Self::Item);
    /// Takes the next item.
    fn pop(&mut self) -> Option<Self::Item>;
    /// How many items are stored.
    fn len(&self) -> usize;
    /// True if no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out ([`Queue`]).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out ([`LifoQueue`]).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

/// Smallest first ([`PriorityQueue`]); equal items in no particular order, as Python's `heapq`.
#[derive(Debug)]
pub struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Storage for Fifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Storage for Lifo<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Storage for Priority<T> {
    type Item = T;
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Why a `put` failed; the item comes back.
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue is full (Python: `QueueFull`, from `put_nowait` only).
    Full(T),
    /// The queue was shut down (Python: `QueueShutDown`).
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::ShutDown(t) => t,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::ShutDown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// Why a `get` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// The queue is empty (Python: `QueueEmpty`, from `get_nowait` only).
    Empty,
    /// The queue was shut down and is empty (Python: `QueueShutDown`).
    ShutDown,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::ShutDown => f.write_str("the queue is shut down"),
        }
    }
}

impl std::error::Error for GetError {}

struct Inner<S> {
    items: RefCell<S>,
    maxsize: usize,
    getters: WaitList,
    putters: WaitList,
    unfinished: Cell<usize>,
    joiners: WaitList,
    shut_down: Cell<bool>,
}

impl<S: Storage> Inner<S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.borrow().len() >= self.maxsize
    }

    fn empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    fn try_put(&self, item: S::Item) -> std::result::Result<(), PutError<S::Item>> {
        if self.shut_down.get() {
            return Err(PutError::ShutDown(item));
        }
        if self.full() {
            return Err(PutError::Full(item));
        }
        self.items.borrow_mut().push(item);
        self.unfinished.set(self.unfinished.get() + 1);
        self.getters.notify_one();
        Ok(())
    }

    fn try_get(&self) -> std::result::Result<S::Item, GetError> {
        let item = self.items.borrow_mut().pop();
        match item {
            Some(item) => {
                self.putters.notify_one();
                Ok(item)
            }
            None if self.shut_down.get() => Err(GetError::ShutDown),
            None => Err(GetError::Empty),
        }
    }
}

/// A queue for tasks over a [`Storage`]; use it through its aliases [`Queue`] (FIFO,
/// Python: `asyncio.Queue`), [`LifoQueue`] and [`PriorityQueue`]. See the
/// protocol at the top of `aio/queue.rs`: FIFO wake-ups, cancellation, shutdown.
///
/// ```
/// use concurra::aio::{self, Queue};
///
/// aio::run(async {
///     let q = Queue::new(1);
///     let producer = aio::create_task({
///         let q = q.clone();
///         async move {
///             for i in 0..3 {
///                 q.put(i).await.unwrap();
///             }
///         }
///     });
///     let mut got = Vec::new();
///     for _ in 0..3 {
///         got.push(q.get().await.unwrap());
///         q.task_done().unwrap();
///     }
///     producer.await.unwrap();
///     q.join().await;
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub struct GenericQueue<T, S: Storage<Item = T>> {
    inner: Rc<Inner<S>>,
}

/// A first-in, first-out queue (Python: `asyncio.Queue`).
pub type Queue<T> = GenericQueue<T, Fifo<T>>;

/// A last-in, first-out queue (Python: `asyncio.LifoQueue`).
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;

/// A queue serving the smallest item first (Python: `asyncio.PriorityQueue`).
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

impl<T, S: Storage<Item = T>> Clone for GenericQueue<T, S> {
    fn clone(&self) -> Self {
        GenericQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T, S: Storage<Item = T>> GenericQueue<T, S> {
    /// A queue holding at most `maxsize` items; `0` means unbounded.
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            inner: Rc::new(Inner {
                items: RefCell::new(S::default()),
                maxsize,
                getters: WaitList::default(),
                putters: WaitList::default(),
                unfinished: Cell::new(0),
                joiners: WaitList::default(),
                shut_down: Cell::new(false),
            }),
        }
    }

    /// The bound given to [`new`](Self::new) (`0`: unbounded).
    pub fn maxsize(&self) -> usize {
        self.inner.maxsize
    }

    /// How many items are in the queue (Python: `qsize()`).
    pub fn qsize(&self) -> usize {
        self.inner.items.borrow().len()
    }

    /// True if the queue holds no item.
    pub fn empty(&self) -> bool {
        self.inner.empty()
    }

    /// True if the queue holds `maxsize` items (never for an unbounded queue).
    pub fn full(&self) -> bool {
        self.inner.full()
    }

    /// Puts an item without waiting (Python: `put_nowait`).
    ///
    /// # Errors
    /// [`PutError::Full`] if the queue is full, [`PutError::ShutDown`] after
    /// [`shutdown`](Self::shutdown); the item comes back.
    pub fn put_nowait(&self, item: T) -> std::result::Result<(), PutError<T>> {
        self.inner.try_put(item)
    }

    /// Takes an item without waiting (Python: `get_nowait`).
    ///
    /// # Errors
    /// [`GetError::Empty`] if there is none; [`GetError::ShutDown`] if there is none and the
    /// queue was shut down.
    pub fn get_nowait(&self) -> std::result::Result<T, GetError> {
        self.inner.try_get()
    }

    /// Puts an item, waiting for room (Python: `await queue.put(item)`).
    ///
    /// Its output is `Err(PutError::ShutDown(item))` if the queue is or gets shut down.
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put {
            inner: &self.inner,
            item: Some(item),
            slot: None,
        }
    }

    /// Takes an item, waiting for one (Python: `await queue.get()`).
    ///
    /// Its output is `Err(GetError::ShutDown)` once the queue is shut down and empty.
    pub fn get(&self) -> Get<'_, S> {
        Get {
            inner: &self.inner,
            slot: None,
        }
    }

    /// A consuming [`Stream`](futures_core::Stream) of the queue's items: each item is a
    /// [`get`](Self::get), and the stream ends when `get` would fail with
    /// [`GetError::ShutDown`] (the queue shut down and empty; Python's `QueueShutDown` ending
    /// a consumer loop). Several streams and getters share the items, each item going to one
    /// of them. As with `get`, call [`task_done`](Self::task_done) per item if anyone
    /// [`join`](Self::join)s.
    ///
    /// ```
    /// use concurra::aio::{self, Queue};
    ///
    /// let got = aio::run(async {
    ///     let q = Queue::new(0);
    ///     for i in 0..3 {
    ///         q.put_nowait(i).unwrap();
    ///     }
    ///     q.shutdown(false);
    ///     let mut items = q.stream();
    ///     let mut got = Vec::new();
    ///     while let Some(item) = items.next().await {
    ///         got.push(item);
    ///     }
    ///     got
    /// });
    /// assert_eq!(got, [0, 1, 2]);
    /// ```
    pub fn stream(&self) -> QueueStream<T, S> {
        QueueStream {
            inner: self.inner.clone(),
            slot: None,
            ended: false,
        }
    }

    /// Marks one taken item as processed (Python: `task_done()`); wakes [`join`](Self::join)
    /// when none is left.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if called more times than items were put (Python:
    /// `ValueError('task_done() called too many times')`).
    pub fn task_done(&self) -> Result<()> {
        let n = self.inner.unfinished.get();
        if n == 0 {
            return Err(Error::InvalidState(
                "task_done() called too many times".into(),
            ));
        }
        self.inner.unfinished.set(n - 1);
        if n == 1 {
            self.inner.joiners.notify_all();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done (Python: `await queue.join()`).
    pub fn join(&self) -> Join<'_, S> {
        Join {
            inner: &self.inner,
            slot: None,
        }
    }

    /// Shuts the queue down (Python 3.13: `queue.shutdown(immediate)`).
    ///
    /// Pending and later `put`s fail; getters are woken and fail once the queue is empty.
    /// With `immediate`, the items left are dropped (each counted as done) so getters fail at
    /// once and `join` returns.
    pub fn shutdown(&self, immediate: bool) {
        let inner = &self.inner;
        inner.shut_down.set(true);
        if immediate {
            let dropped = std::mem::take(&mut *inner.items.borrow_mut());
            let n = dropped.len();
            drop(dropped);
            let left = inner.unfinished.get().saturating_sub(n);
            inner.unfinished.set(left);
            if left == 0 {
                inner.joiners.notify_all();
            }
        }
        inner.getters.notify_all();
        inner.putters.notify_all();
    }

    /// True once [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.get()
    }
}

impl<T, S: Storage<Item = T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.inner.maxsize)
            .field("qsize", &self.qsize())
            .field("getters", &self.inner.getters.len())
            .field("putters", &self.inner.putters.len())
            .field("unfinished", &self.inner.unfinished.get())
            .field("shut_down", &self.inner.shut_down.get())
            .finish()
    }
}

/// The future [`GenericQueue::put`] returns.
pub struct Put<'a, T, S: Storage<Item = T>> {
    inner: &'a Inner<S>,
    item: Option<T>,
    slot: Option<Rc<Slot>>,
}

impl<T, S: Storage<Item = T>> Unpin for Put<'_, T, S> {}

impl<T, S: Storage<Item = T>> StdFuture for Put<'_, T, S> {
    type Output = std::result::Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(item) = this.item.take() else {
            panic!("Put polled after completion");
        };
        match this.inner.try_put(item) {
            Err(PutError::Full(item)) => {
                this.item = Some(item);
                this.inner.putters.wait_in(&mut this.slot, cx);
                Poll::Pending
            }
            done => {
                this.inner.putters.leave(this.slot.take());
                Poll::Ready(done)
            }
        }
    }
}

impl<T, S: Storage<Item = T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        // Step 4: pass the wake-up on.
        let inner = self.inner;
        inner.putters.abandon(self.slot.take(), || {
            if !inner.full() {
                inner.putters.notify_one();
            }
        });
    }
}

impl<T, S: Storage<Item = T>> fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.slot.is_some())
            .finish()
    }
}

/// The future [`GenericQueue::get`] returns.
pub struct Get<'a, S: Storage> {
    inner: &'a Inner<S>,
    slot: Option<Rc<Slot>>,
}

impl<S: Storage> StdFuture for Get<'_, S> {
    type Output = std::result::Result<S::Item, GetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match this.inner.try_get() {
            Err(GetError::Empty) => {
                this.inner.getters.wait_in(&mut this.slot, cx);
                Poll::Pending
            }
            done => {
                this.inner.getters.leave(this.slot.take());
                Poll::Ready(done)
            }
        }
    }
}

impl<S: Storage> Drop for Get<'_, S> {
    fn drop(&mut self) {
        // Step 4: pass the wake-up on.
        let inner = self.inner;
        inner.getters.abandon(self.slot.take(), || {
            if !inner.empty() {
                inner.getters.notify_one();
            }
        });
    }
}

impl<S: Storage> fmt::Debug for Get<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.slot.is_some())
            .finish()
    }
}

/// The stream [`GenericQueue::stream`] returns: the queue's items until it is shut down and
/// empty. It holds a handle on the queue (it is `'static` when the items are). Fused: `None`
/// for good once it ended.
#[must_use = "streams do nothing unless polled"]
pub struct QueueStream<T, S: Storage<Item = T>> {
    inner: Rc<Inner<S>>,
    /// Its place in the getters' list while it waits.
    slot: Option<Rc<Slot>>,
    ended: bool,
}

impl<T, S: Storage<Item = T>> QueueStream<T, S> {
    /// The next item, waiting for one; `None` once the queue is shut down and empty.
    pub async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<T, S: Storage<Item = T>> Unpin for QueueStream<T, S> {}

impl<T, S: Storage<Item = T>> futures_core::Stream for QueueStream<T, S> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match this.inner.try_get() {
            Err(GetError::Empty) => {
                this.inner.getters.wait_in(&mut this.slot, cx);
                Poll::Pending
            }
            done => {
                this.inner.getters.leave(this.slot.take());
                this.ended = done.is_err();
                Poll::Ready(done.ok())
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            (0, Some(0))
        } else {
            (self.inner.items.borrow().len(), None)
        }
    }
}

impl<T, S: Storage<Item = T>> futures_core::stream::FusedStream for QueueStream<T, S> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T, S: Storage<Item = T>> Drop for QueueStream<T, S> {
    fn drop(&mut self) {
        // Step 4: pass the wake-up on, as a dropped `get`.
        let inner = &*self.inner;
        inner.getters.abandon(self.slot.take(), || {
            if !inner.empty() {
                inner.getters.notify_one();
            }
        });
    }
}

impl<T, S: Storage<Item = T>> fmt::Debug for QueueStream<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("waiting", &self.slot.is_some())
            .field("ended", &self.ended)
            .finish()
    }
}

/// The future [`GenericQueue::join`] returns.
pub struct Join<'a, S: Storage> {
    inner: &'a Inner<S>,
    slot: Option<Rc<Slot>>,
}

impl<S: Storage> StdFuture for Join<'_, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.inner.unfinished.get() == 0 {
            this.inner.joiners.leave(this.slot.take());
            return Poll::Ready(());
        }
        this.inner.joiners.wait_in(&mut this.slot, cx);
        Poll::Pending
    }
}

impl<S: Storage> Drop for Join<'_, S> {
    fn drop(&mut self) {
        self.inner.joiners.abandon(self.slot.take(), || {});
    }
}

impl<S: Storage> fmt::Debug for Join<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.slot.is_some())
            .finish()
    }
}
