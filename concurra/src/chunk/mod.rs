//! Chunks: many items of a map in one call (Python's `chunksize`), shared by every engine.
//!
//! A [`Chunk`] is the outcome of one call over many items: the values of the items that
//! succeeded, in order, and the errors of those that failed, by position. Unlike Python, a
//! failing item fails only its own position, never its whole chunk.
//!
//! [`MapFn`] says how an engine runs a function over a chunk: the thread pool shares one
//! closure between its chunks (`Arc<F>`); the process pool sends a `fn` item's identity with
//! each chunk's encoded items. The Pool facade and the process pool's own `map_chunked` are
//! written once over it. A whole `map` goes through [`list`]: the thread pool's chunks write
//! into their range of the final list ([`slots`]), the process pool's come back as lists.

pub(crate) mod list;
mod pull;
mod slots;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::unwind;

/// The outcome of one chunk: the values of the items that succeeded, in order, and the errors
/// of those that failed, by position in the chunk.
#[derive(Debug, Clone)]
#[allow(unreachable_pub)] // Named by `MapFn`'s sealed methods only.
pub struct Chunk<T> {
    values: Vec<T>,
    errors: Vec<(usize, Error)>,
}

impl<T> Chunk<T> {
    /// Runs `f` over `items` under one catch; after a panic, goes on with the next item under
    /// a new one (a catch per item would cost more than a small `f`).
    pub(crate) fn run<A>(f: &(impl Fn(A) -> T + ?Sized), items: Vec<A>) -> Chunk<T> {
        let mut chunk = Chunk {
            values: Vec::with_capacity(items.len()),
            errors: Vec::new(),
        };
        let mut items = items.into_iter();
        let mut position = 0;
        loop {
            let run = unwind::catch(|| {
                for item in items.by_ref() {
                    position += 1;
                    chunk.values.push(f(item));
                }
            });
            match run {
                Ok(()) => return chunk,
                Err(e) => chunk.errors.push((position - 1, e)),
            }
        }
    }

    /// A chunk from its parts (what crossed from another process).
    pub(crate) fn from_parts(values: Vec<T>, errors: Vec<(usize, Error)>) -> Chunk<T> {
        Chunk { values, errors }
    }

    /// The values of the items that succeeded, in order.
    #[cfg(test)]
    pub(crate) fn values(&self) -> &[T] {
        &self.values
    }

    /// The failed items' errors, by position in the chunk.
    pub(crate) fn errors(&self) -> &[(usize, Error)] {
        &self.errors
    }

    /// The values and the positioned errors.
    pub(crate) fn into_parts(self) -> (Vec<T>, Vec<(usize, Error)>) {
        (self.values, self.errors)
    }

    /// The first failed item's error.
    pub(crate) fn first_error(&self) -> Option<&Error> {
        self.errors.first().map(|(_, e)| e)
    }

    /// Every item's outcome, in order, taken out of the chunk.
    pub(crate) fn into_outcomes(self) -> Outcomes<T> {
        Outcomes {
            values: self.values.into_iter(),
            errors: self.errors.into_iter().peekable(),
            position: 0,
        }
    }
}

/// Every item's outcome of a [`Chunk`], in order.
pub(crate) struct Outcomes<T> {
    values: std::vec::IntoIter<T>,
    errors: std::iter::Peekable<std::vec::IntoIter<(usize, Error)>>,
    position: usize,
}

impl<T> Iterator for Outcomes<T> {
    type Item = Result<T>;

    #[inline]
    fn next(&mut self) -> Option<Result<T>> {
        let at = self.position;
        self.position += 1;
        if let Some((_, e)) = self.errors.next_if(|(failed, _)| *failed == at) {
            return Some(Err(e));
        }
        self.values.next().map(Ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.values.len() + self.errors.len();
        (len, Some(len))
    }
}

/// The items of a stream of chunks, in order; a chunk that failed as a whole (its worker
/// died, say) is one error in its place.
pub(crate) fn flatten<T>(
    chunks: impl Iterator<Item = Result<Chunk<T>>>,
) -> impl Iterator<Item = Result<T>> {
    let mut chunks = chunks;
    let mut current: Option<Outcomes<T>> = None;
    std::iter::from_fn(move || loop {
        if let Some(item) = current.as_mut().and_then(Iterator::next) {
            return Some(item);
        }
        match chunks.next()? {
            Ok(chunk) => current = Some(chunk.into_outcomes()),
            Err(e) => {
                current = None;
                return Some(Err(e));
            }
        }
    })
}

/// One of two iterators of the same items: a map's input read directly (its size was exact)
/// or collected first; a map's items, or the one error of a refused call.
pub(crate) enum Either<L, R> {
    Left(L),
    Right(R),
}

impl<T, L: Iterator<Item = T>, R: Iterator<Item = T>> Iterator for Either<L, R> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        match self {
            Either::Left(l) => l.next(),
            Either::Right(r) => r.next(),
        }
    }
}

/// A function that engine `E` can map over chunks of `A`s (the Pool's `map`, `imap`, …).
///
/// For the thread pool: any `Fn(A) -> T + Send + Sync + 'static` closure. For the process
/// pool: a `fn` item or a closure that captures nothing, over `serde` arguments and values
/// (as [`Remote`](crate::process::Remote)). Sealed: the engines implement it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be mapped over `{A}` items by `{E}`",
    label = "not a map function for this pool",
    note = "a ThreadPool maps a `Fn(A) -> T + Send + Sync + 'static` closure whose values are `Send`",
    note = "a ProcessPool maps a `fn` item or a closure that captures nothing, with serde items and values (`Serialize + DeserializeOwned`)"
)]
pub trait MapFn<E, A>: private::Submit<E, A> {}

impl<E, A, F: private::Submit<E, A>> MapFn<E, A> for F {}

pub(crate) mod private {
    use super::list::{self, Finish, Start, Started};
    use super::{Chunk, Future};
    use crate::error::Result;

    /// The engine's side of [`MapFn`](super::MapFn).
    #[allow(unreachable_pub)]
    pub trait Submit<E, A>: Sized {
        /// What each item gives.
        type Output: Send + 'static;
        /// The function as the engine keeps it between chunks.
        type Held: Send + Sync + 'static;
        /// Prepares the function for many chunks.
        fn hold(self) -> Self::Held;

        /// How many chunks a worker a long `map` is cut into when the caller gives no chunk
        /// size ([`list::default_chunksize`]): a process's chunk costs a message each way.
        const CHUNKS_PER_WORKER: usize = 16;
        /// Submits one chunk.
        fn submit_chunk(
            held: &Self::Held,
            executor: &E,
            items: Vec<A>,
        ) -> Future<Chunk<Self::Output>>;

        /// Submits a whole `map`: the `len` items of `items` in chunks of `size`; `finish` gets
        /// the list, or the first error, once every chunk is done. By default each chunk's
        /// values come back as a list of their own, copied into the final list as it arrives.
        fn submit_list(
            held: &Self::Held,
            executor: &E,
            items: impl Iterator<Item = A>,
            len: usize,
            size: usize,
            finish: Finish<Self::Output>,
        ) {
            list::in_place(
                items,
                len,
                size,
                |range, chunk| list::moved_into(range, Self::submit_chunk(held, executor, chunk)),
                finish,
            );
        }

        /// Runs a whole `map` and waits for it (the Pool's `map`): `start` checks the pool,
        /// gives the chunk size and the list's way back. By default the caller cuts the input
        /// and submits its chunks ([`cut_on_caller`]); the thread pool's workers take the
        /// input's chunks themselves (`pull`).
        fn map_list<I: Iterator<Item = A> + Send>(
            held: &Self::Held,
            executor: &E,
            items: I,
            start: &mut dyn Start<Self::Output>,
        ) -> Result<Vec<Self::Output>> {
            cut_on_caller::<Self, E, A>(held, executor, items, start)?.into_unique_result()
        }
    }

    /// A `map` with the input cut on the caller's thread: every chunk submitted
    /// ([`Submit::submit_list`]) before this returns the map's outcome, to wait for (`map`) or
    /// hand back (`map_async`).
    ///
    /// # Errors
    /// `start`'s: a pool that is not running, a chunk size of 0.
    pub(crate) fn cut_on_caller<S: Submit<E, A>, E, A>(
        held: &S::Held,
        executor: &E,
        items: impl Iterator<Item = A>,
        start: &mut dyn Start<S::Output>,
    ) -> Result<Future<Vec<S::Output>>> {
        list::sized!(items, |items, len| {
            let Started {
                size,
                finish,
                outcome,
            } = start.start(len, S::CHUNKS_PER_WORKER)?;
            S::submit_list(held, executor, items, len, size, finish);
            Ok(outcome)
        })
    }

    /// What a thread pool's chunk calls on each item: a closure, or a
    /// [`Star`](crate::pool::Star) of one (`starmap`).
    #[allow(unreachable_pub)]
    pub trait ThreadFn<A>: Send + Sync + 'static {
        /// What each item gives.
        type Output: Send + 'static;
        /// `f(item)`.
        fn call(&self, item: A) -> Self::Output;
    }
}

/// The thread pool's chunks: one shared function, run in the worker under one catch; a whole
/// `map`'s chunks write into their range of the final list.
impl<G, A> private::Submit<crate::ThreadPoolExecutor, A> for G
where
    G: private::ThreadFn<A>,
    A: Send + 'static,
{
    type Output = G::Output;
    type Held = Arc<G>;

    fn hold(self) -> Arc<G> {
        Arc::new(self)
    }

    /// A thread's chunk costs about a microsecond, not a message.
    const CHUNKS_PER_WORKER: usize = 32;

    fn submit_chunk(
        held: &Arc<G>,
        executor: &crate::ThreadPoolExecutor,
        items: Vec<A>,
    ) -> Future<Chunk<G::Output>> {
        let f = Arc::clone(held);
        executor.submit(move || Chunk::run(&|item| f.call(item), items))
    }

    fn submit_list(
        held: &Arc<G>,
        executor: &crate::ThreadPoolExecutor,
        items: impl Iterator<Item = A>,
        len: usize,
        size: usize,
        finish: list::Finish<G::Output>,
    ) {
        list::in_place(
            items,
            len,
            size,
            |range, chunk| {
                let f = Arc::clone(held);
                executor.submit(move || range.fill(&|item| f.call(item), chunk))
            },
            finish,
        );
    }

    fn map_list<I: Iterator<Item = A> + Send>(
        held: &Arc<G>,
        executor: &crate::ThreadPoolExecutor,
        items: I,
        start: &mut dyn list::Start<G::Output>,
    ) -> Result<Vec<G::Output>> {
        use crate::Executor;
        let workers = executor.max_workers();
        if workers < 2 || executor.is_own_thread() {
            // An input whose `next` waits for work in this pool needs a thread for that work
            // besides the one reading it and the caller's: with one worker, or a caller that
            // is itself a worker (a map inside a task), there may be none. Cut here.
            return private::cut_on_caller::<Self, _, A>(held, executor, items, start)?
                .into_unique_result();
        }
        list::sized!(items, |items, len| {
            let started = start.start(len, Self::CHUNKS_PER_WORKER)?;
            let f = Arc::clone(held);
            let submitter = executor.submitter();
            pull::map(
                items,
                len,
                workers,
                move |item| f.call(item),
                move |puller| submitter.submit(puller),
                started,
            )
        })
    }
}

/// A closure is the thread pool's item function as it is.
impl<F, A, T> private::ThreadFn<A> for F
where
    F: Fn(A) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Output = T;

    #[inline]
    fn call(&self, item: A) -> T {
        self(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_fails_only_its_position_and_the_rest_run() {
        let chunk = Chunk::run(
            &|x: u32| {
                assert!(x % 3 != 1, "item {x}");
                x * 10
            },
            (0..6).collect(),
        );
        assert_eq!(chunk.clone().into_parts().0, [0, 20, 30, 50]);
        let outcomes: Vec<_> = chunk.into_outcomes().collect();
        assert_eq!(outcomes.len(), 6);
        assert_eq!(outcomes[0].as_ref().unwrap(), &0);
        assert!(outcomes[1].as_ref().unwrap_err().is_panic());
        assert_eq!(outcomes[2].as_ref().unwrap(), &20);
        assert!(outcomes[4]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("item 4"));
        assert_eq!(outcomes[5].as_ref().unwrap(), &50);
    }
}
