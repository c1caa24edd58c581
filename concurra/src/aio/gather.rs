//! [`gather`] and [`gather_all`]: run awaitables concurrently as tasks and collect their
//! outcomes in argument order, over an iterator of one type or a tuple of up to 8 types.
//!
//! # Protocol
//!
//! 1. Every argument becomes a task at once ([`IntoTask`]), in argument order, so they start
//!    in that order when the caller next yields.
//! 2. Each poll polls every unfinished child's [`Join`] in argument order.
//! 3. [`gather`]: the first child seen failed (a panic, an [`Error::Failed`](crate::Error::Failed),
//!    a cancellation) ends the gather with its error at once. The other children keep running
//!    (asyncio does not cancel them either) and are marked observed: their failures are the
//!    gather's, never reported as unretrieved. [`gather_all`] never ends early; each child's
//!    `Result` is kept in its place.
//! 4. Dropping the gather inside a cancelling section (the awaiting task cancelled, a
//!    [`wait_for`](super::wait_for) expiring) drops every unfinished [`Join`], which cancels
//!    its task: asyncio's gather cancels its children when it is cancelled.
//!
//! # One function, two shapes
//!
//! [`Gatherable<M>`] carries a marker `M` ([`Many`] or [`Tuple`], in [`aio::marker`](super::marker)) so that its impl for every
//! `IntoIterator` and its impls for tuples never overlap (a blanket impl over `IntoIterator`
//! and one for `(A, B)` would, as far as coherence knows). Only one impl fits a given
//! argument, so `M` is inferred: callers never name it.

use std::fmt;
use std::future::{Future as StdFuture, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::engine::{self, IntoCoroutine, Join, Task};
use crate::error::Result;
use crate::executor::Fallible;

/// Something [`gather`] can run as a task (Python: an awaitable passed to `gather`, which
/// wraps coroutines with `ensure_future`): any `'static` future becomes a new task, as does a
/// [`Fallible`] future (its `Err` fails the task: see [`IntoCoroutine`]); a [`Task`] is taken
/// as it is.
pub trait IntoTask {
    /// The task's output.
    type Output;
    /// The task: the existing one, or a new one on the running loop.
    fn into_task(self) -> Task<Self::Output>;
}

impl<F: StdFuture + 'static> IntoTask for F {
    type Output = F::Output;

    fn into_task(self) -> Task<F::Output> {
        engine::spawn("aio::gather", self)
    }
}

impl<F> IntoTask for Fallible<F>
where
    Fallible<F>: IntoCoroutine,
{
    type Output = <Fallible<F> as IntoCoroutine>::Output;

    fn into_task(self) -> Task<Self::Output> {
        engine::spawn("aio::gather", self)
    }
}

impl<T> IntoTask for Task<T> {
    type Output = T;

    fn into_task(self) -> Task<T> {
        self
    }
}

/// What [`gather`] and [`gather_all`] accept: any `IntoIterator` of [`IntoTask`]s (marker
/// [`Many`]; the values come back as a `Vec`), or a tuple of 1 to 8 [`IntoTask`]s of
/// different types (marker [`Tuple`]; the values come back as a tuple). The marker is
/// inferred (see the module docs).
pub trait Gatherable<M> {
    /// The future [`gather`] returns.
    type Gather: StdFuture;
    /// The future [`gather_all`] returns.
    type GatherAll: StdFuture;
    /// Starts the tasks; see [`gather`].
    fn gather(self) -> Self::Gather;
    /// Starts the tasks; see [`gather_all`].
    fn gather_all(self) -> Self::GatherAll;
}

/// The [`Gatherable`] marker of an iterator of awaitables of one type.
#[derive(Debug)]
pub enum Many {}

/// The [`Gatherable`] marker of a tuple of awaitables.
#[derive(Debug)]
pub enum Tuple {}

/// Runs awaitables concurrently and collects their values in argument order (Python:
/// `asyncio.gather(*aws)`).
///
/// `aws` is an iterator of awaitables of one type (the values come back as a `Vec`) or a
/// tuple of up to 8 awaitables of any types (the values come back as a tuple). Every argument
/// becomes a task at once (so they start in argument order, when the caller next yields). The
/// result is `Ok` with every value, in argument order, once all are done; or the error of the
/// first task to *fail in time* (a panic, an [`Error::Failed`](crate::Error::Failed) from a
/// [`Fallible`](crate::Fallible) task, or a cancellation), at once — the other tasks keep
/// running, as in asyncio. If the coroutine awaiting the gather is cancelled, every unfinished
/// child is cancelled. `gather` of an empty iterator is `Ok(vec![])`.
///
/// ```
/// use concurra::aio;
///
/// let out = aio::run(async {
///     // Futures of one type become tasks; tasks are taken as they are.
///     let doubled = aio::gather((1..=3).map(|i| async move { i * 2 })).await;
///     let tasks = [aio::create_task(async { "a" }), aio::create_task(async { "b" })];
///     // A tuple mixes types: Python's `a, b = await gather(fetch(), parse())`.
///     let (n, s) = aio::gather((async { 1 }, async { String::from("one") })).await.unwrap();
///     (doubled, aio::gather(tasks).await, n, s)
/// });
/// assert_eq!(out.0.unwrap(), vec![2, 4, 6]);
/// assert_eq!(out.1.unwrap(), vec!["a", "b"]);
/// assert_eq!((out.2, out.3.as_str()), (1, "one"));
/// ```
///
/// # Panics
/// Outside a running loop, when an argument must become a task.
pub fn gather<A: Gatherable<M>, M>(aws: A) -> A::Gather {
    aws.gather()
}

/// Runs awaitables concurrently and collects every outcome in argument order (Python:
/// `asyncio.gather(*aws, return_exceptions=True)`).
///
/// As [`gather`], but it never ends early: it is ready once every child is done, with each
/// child's `Result` in its place — a failed child's error, a cancelled child's
/// [`Error::Cancelled`](crate::Error::Cancelled). Over a tuple, the output is a tuple of
/// `Result`s. If the coroutine awaiting it is cancelled, every unfinished child is cancelled.
/// `gather_all` of an empty iterator is `vec![]`.
///
/// ```
/// use concurra::aio;
///
/// let out = aio::run(async {
///     let doomed = aio::create_task(std::future::pending::<i32>());
///     doomed.cancel();
///     let ok = aio::create_task(async { 1 });
///     aio::gather_all([ok, doomed]).await
/// });
/// assert_eq!(*out[0].as_ref().unwrap(), 1);
/// assert!(out[1].as_ref().unwrap_err().is_cancelled());
///
/// let (a, b) = aio::run(async {
///     aio::gather_all((async { 'a' }, async { panic!("b") as u8 })).await
/// });
/// assert_eq!(a.unwrap(), 'a');
/// assert!(b.unwrap_err().is_panic());
/// ```
///
/// # Panics
/// Outside a running loop, when an argument must become a task.
pub fn gather_all<A: Gatherable<M>, M>(aws: A) -> A::GatherAll {
    aws.gather_all()
}

impl<I> Gatherable<Many> for I
where
    I: IntoIterator,
    I::Item: IntoTask,
{
    type Gather = Gather<<I::Item as IntoTask>::Output>;
    type GatherAll = GatherAll<<I::Item as IntoTask>::Output>;

    fn gather(self) -> Self::Gather {
        Gather(Children::new(self))
    }

    fn gather_all(self) -> Self::GatherAll {
        GatherAll(Children::new(self))
    }
}

/// One child of a gather: its join while it runs, then its outcome.
pub struct GatherSlot<T> {
    state: SlotState<T>,
}

/// Nothing in a slot is pinned: a child's coroutine is boxed inside its task, and its
/// outcome is a plain value, moved out when the gather ends.
impl<T> Unpin for GatherSlot<T> {}

enum SlotState<T> {
    Waiting(Join<T>),
    Done(Result<T>),
    Taken,
}

impl<T> GatherSlot<T> {
    fn new(aw: impl IntoTask<Output = T>) -> Self {
        GatherSlot {
            state: SlotState::Waiting(aw.into_task().into_future()),
        }
    }

    /// Step 2: polls the child if it runs; true once its outcome is here.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if let SlotState::Waiting(join) = &mut self.state {
            match Pin::new(join).poll(cx) {
                Poll::Ready(out) => self.state = SlotState::Done(out),
                Poll::Pending => return false,
            }
        }
        true
    }

    fn failed(&self) -> bool {
        matches!(self.state, SlotState::Done(Err(_)))
    }

    fn observe(&self) {
        if let SlotState::Waiting(join) = &self.state {
            join.observe();
        }
    }

    fn take(&mut self) -> Result<T> {
        match std::mem::replace(&mut self.state, SlotState::Taken) {
            SlotState::Done(out) => out,
            _ => unreachable!("taken once, when done"),
        }
    }
}

impl<T> fmt::Debug for GatherSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            SlotState::Waiting(_) => "GatherSlot::Waiting",
            SlotState::Done(_) => "GatherSlot::Done",
            SlotState::Taken => "GatherSlot::Taken",
        })
    }
}

/// The children of an iterator [`gather`] or [`gather_all`], one [`GatherSlot`] per argument.
struct Children<T> {
    slots: Vec<GatherSlot<T>>,
    remaining: usize,
}

impl<T> Children<T> {
    fn new<I>(aws: I) -> Self
    where
        I: IntoIterator,
        I::Item: IntoTask<Output = T>,
    {
        let slots: Vec<GatherSlot<T>> = aws.into_iter().map(GatherSlot::new).collect();
        Children {
            remaining: slots.len(),
            slots,
        }
    }

    /// Steps 2 and 3; `all`: [`gather_all`]. `Err` is the first failure of a [`gather`].
    fn poll(&mut self, cx: &mut Context<'_>, all: bool) -> Poll<Result<Vec<Result<T>>>> {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if matches!(slot.state, SlotState::Waiting(_)) && slot.poll(cx) {
                self.remaining -= 1;
                if !all && slot.failed() {
                    let error = slot.take().err().expect("failed");
                    for slot in &self.slots {
                        slot.observe();
                    }
                    return Poll::Ready(Err(error));
                }
            }
        }
        if self.remaining > 0 {
            return Poll::Pending;
        }
        Poll::Ready(Ok(self.slots.iter_mut().map(GatherSlot::take).collect()))
    }
}

impl<T> fmt::Debug for Children<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Children")
            .field("count", &self.slots.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

/// The future [`gather`] returns over an iterator.
#[must_use = "gather's tasks run anyway; await it to collect their values"]
#[derive(Debug)]
pub struct Gather<T>(Children<T>);

impl<T> StdFuture for Gather<T> {
    type Output = Result<Vec<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>>> {
        self.0.poll(cx, false).map(|kept| {
            kept.map(|all| {
                all.into_iter()
                    .map(|out| out.expect("gather ends at the first failure"))
                    .collect()
            })
        })
    }
}

/// The future [`gather_all`] returns over an iterator.
#[must_use = "gather_all's tasks run anyway; await it to collect their outcomes"]
#[derive(Debug)]
pub struct GatherAll<T>(Children<T>);

impl<T> StdFuture for GatherAll<T> {
    type Output = Vec<Result<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Result<T>>> {
        self.0
            .poll(cx, true)
            .map(|kept| kept.expect("gather_all keeps every outcome"))
    }
}

/// The future [`gather`] returns over a tuple: `S` is a tuple of [`GatherSlot`]s, one per
/// argument, and the output the tuple of their values.
#[must_use = "gather's tasks run anyway; await it to collect their values"]
#[derive(Debug)]
pub struct GatherTuple<S>(S);

/// The future [`gather_all`] returns over a tuple: `S` is a tuple of [`GatherSlot`]s, one per
/// argument, and the output the tuple of their `Result`s.
#[must_use = "gather_all's tasks run anyway; await it to collect their outcomes"]
#[derive(Debug)]
pub struct GatherAllTuple<S>(S);

macro_rules! tuple_gather {
    ($($A:ident $i:tt),+) => {
        impl<$($A: IntoTask),+> Gatherable<Tuple> for ($($A,)+) {
            type Gather = GatherTuple<($(GatherSlot<$A::Output>,)+)>;
            type GatherAll = GatherAllTuple<($(GatherSlot<$A::Output>,)+)>;

            fn gather(self) -> Self::Gather {
                GatherTuple(($(GatherSlot::new(self.$i),)+))
            }

            fn gather_all(self) -> Self::GatherAll {
                GatherAllTuple(($(GatherSlot::new(self.$i),)+))
            }
        }

        impl<$($A),+> StdFuture for GatherTuple<($(GatherSlot<$A>,)+)> {
            type Output = Result<($($A,)+)>;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let slots = &mut self.0;
                let mut done = true;
                let failure = 'poll: {
                    $(
                        let was_waiting = matches!(slots.$i.state, SlotState::Waiting(_));
                        if slots.$i.poll(cx) {
                            if was_waiting && slots.$i.failed() {
                                break 'poll slots.$i.take().err();
                            }
                        } else {
                            done = false;
                        }
                    )+
                    None
                };
                if let Some(error) = failure {
                    $( slots.$i.observe(); )+
                    return Poll::Ready(Err(error));
                }
                if !done {
                    return Poll::Pending;
                }
                Poll::Ready(Ok(($(slots.$i.take().expect("not failed"),)+)))
            }
        }

        impl<$($A),+> StdFuture for GatherAllTuple<($(GatherSlot<$A>,)+)> {
            type Output = ($(Result<$A>,)+);

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let slots = &mut self.0;
                let mut done = true;
                $( done &= slots.$i.poll(cx); )+
                if !done {
                    return Poll::Pending;
                }
                Poll::Ready(($(slots.$i.take(),)+))
            }
        }
    };
}

tuple_gather!(A 0);
tuple_gather!(A 0, B 1);
tuple_gather!(A 0, B 1, C 2);
tuple_gather!(A 0, B 1, C 2, D 3);
tuple_gather!(A 0, B 1, C 2, D 3, E 4);
tuple_gather!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_gather!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_gather!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
