//! One map's chunks gathered into one list (the Pool's `map`): each chunk is submitted as soon
//! as it is cut from the input, so workers start while the caller still reads it, and the
//! list is made once every chunk is done (Python's `map` does not fail fast either).
//!
//! The list is allocated once, at its length ([`Slots`]), and each chunk's values go into its
//! range of it as soon as the chunk is done: a thread pool's chunk writes them there itself
//! ([`in_place`]); a process pool's chunk comes back as a list, copied in by the thread that
//! completes it ([`copied_into`]).

use std::sync::{Arc, Mutex, PoisonError};

use super::slots::{Range, Slots};
use super::Chunk;
use crate::error::{Error, Result};
use crate::future::Future;

/// A `map`'s chunk size when the caller gives none: Python's, `ceil(len / (4 * workers))`, for
/// a short input; a long one is cut finer, into up to `per_worker` chunks a worker, never
/// below [`CHUNK_FLOOR`] items (nor above Python's size). Finer chunks keep every worker busy
/// to the end, and let a worker start while the rest of the input is still being cut and
/// encoded: with Python's 4 a worker, the last chunks ran alone (`bench pool-map`, threads:
/// 1.4 ns an item against 1.1; `bench proc-map`, processes: 24 ns against 12).
pub(crate) fn default_chunksize(len: usize, workers: usize, per_worker: usize) -> usize {
    let workers = workers.max(1);
    let python = len.div_ceil(4 * workers).max(1);
    let fine = len.div_ceil(per_worker.max(1) * workers).max(CHUNK_FLOOR);
    fine.min(python)
}

/// The fewest items a default chunk is cut to (below Python's own size).
const CHUNK_FLOOR: usize = 1024;

/// What gets a map's list, or its first error.
pub(crate) type Finish<T> = Box<dyn FnOnce(Result<Vec<T>>) + Send>;

/// A map about to be submitted, as its pool sees it (see [`Start`]).
#[allow(unreachable_pub)] // Named by `Submit`'s sealed methods only.
pub struct Started<T> {
    /// Items a chunk.
    pub(crate) size: usize,
    /// Gets the list, or the first error.
    pub(crate) finish: Finish<T>,
    /// The map's outcome: what `finish` got, or an earlier failure (a `terminate`).
    pub(crate) outcome: Future<Vec<T>>,
}

impl<T> std::fmt::Debug for Started<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The pool's side of starting a map of `len` items: checks that it runs and gives the chunk
/// size (`per_worker`: the engine's [`default_chunksize`] fineness) and the way back.
#[allow(unreachable_pub)] // Named by `Submit`'s sealed methods only.
pub trait Start<T> {
    /// Starts the map.
    ///
    /// # Errors
    /// A pool that is not running, a chunk size of 0.
    fn start(&mut self, len: usize, per_worker: usize) -> Result<Started<T>>;
}

/// Runs `$body` with `$items` the input and `$len` its length: the input as it is when its
/// size hint is exact, collected into a list first otherwise (Python turns the input into a
/// list to learn its length; an exact size hint spares that copy). The body is compiled once
/// for each, so each cutting loop runs on the input's own type (through an enum of the two,
/// every item cost a branch and the loop was not vectorized: `bench pool-map`).
macro_rules! sized {
    ($input:expr, |$items:ident, $len:ident| $body:expr) => {{
        let input = $input;
        match input.size_hint() {
            (lo, Some(hi)) if lo == hi => {
                let $items = input;
                let $len = lo;
                $body
            }
            _ => {
                let all: Vec<_> = input.collect();
                let $len = all.len();
                let $items = all.into_iter();
                $body
            }
        }
    }};
}
pub(crate) use sized;

/// A map's input whose exact size hint said `len` items but that yielded `yielded` (`None`:
/// more than `len`).
pub(crate) fn miscount(len: usize, yielded: Option<usize>) -> Error {
    let yielded = yielded.map_or_else(|| "more".to_string(), |n| n.to_string());
    Error::InvalidArgument(format!(
        "the map's input promised {len} items (an exact size hint) but yielded {yielded}"
    ))
}

/// Cuts the `len` items of `items` into chunks of `size` and submits each with
/// `submit(index, chunk)` as soon as it is cut (its future gives the chunk's first error, if
/// any); once every chunk is done, calls `done` with the first error to arrive (a chunk's
/// own, or its future's), `None` if there was none. An input that yields a different count
/// than `len` (a wrong exact size hint) is an error on the map; its items beyond `len` are
/// not run.
fn submit_all<A>(
    items: impl Iterator<Item = A>,
    len: usize,
    size: usize,
    mut submit: impl FnMut(usize, Vec<A>) -> Future<Option<Error>>,
    done: impl FnOnce(Option<Error>) + Send + 'static,
) {
    struct Gather {
        /// Chunks not yet done, plus one for the caller until it has cut the whole input.
        remaining: usize,
        first_error: Option<Error>,
        done: Option<Box<dyn FnOnce(Option<Error>) + Send>>,
    }
    fn arrive(state: &Mutex<Gather>, error: Option<Error>) {
        let mut g = state.lock().unwrap_or_else(PoisonError::into_inner);
        if g.first_error.is_none() {
            g.first_error = error;
        }
        g.remaining -= 1;
        if g.remaining > 0 {
            return;
        }
        let done = g.done.take().expect("done once");
        let first_error = g.first_error.take();
        drop(g);
        done(first_error);
    }

    let size = size.max(1);
    let state = Arc::new(Mutex::new(Gather {
        remaining: 1,
        first_error: None,
        done: Some(Box::new(done)),
    }));
    let mut items = items.fuse();
    let mut cut = 0;
    let mut index = 0;
    while cut < len {
        let chunk: Vec<A> = items.by_ref().take(size.min(len - cut)).collect();
        if chunk.is_empty() {
            break;
        }
        cut += chunk.len();
        let part = submit(index, chunk);
        index += 1;
        state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remaining += 1;
        let state = Arc::clone(&state);
        part.add_done_callback(move |part| {
            let error = match part.try_result().expect("done") {
                Ok(error) => error.clone(),
                Err(e) => Some(e.clone()),
            };
            arrive(&state, error);
        });
    }
    let miscount = if cut < len {
        Some(miscount(len, Some(cut)))
    } else if items.next().is_some() {
        Some(miscount(len, None))
    } else {
        None
    };
    // Whatever `submit` holds (the slots of the list) goes before the last arrival can make
    // the list.
    drop(submit);
    arrive(&state, miscount);
}

/// A chunk that returns its own values (a process pool's, decoded from the worker's reply)
/// as its range's part: once the chunk is done, its values are moved into the range on the
/// thread that completed it, so the list is made while other chunks still run (a copy at the
/// end, of the whole list on one thread, left the other CPUs idle). The chunk's future is
/// this part's alone: its values move, never cloned.
pub(crate) fn moved_into<T>(range: Range<T>, part: Future<Chunk<T>>) -> Future<Option<Error>>
where
    T: Send + 'static,
{
    let (promise, out) = crate::future::pair();
    part.into_sink(move |outcome| {
        let values = match outcome {
            Ok(chunk) => match chunk.first_error() {
                None => Ok(chunk.into_parts().0),
                Some(e) => Err(e.clone()),
            },
            Err(e) => Err(e),
        };
        // The range goes before its part completes (see `in_place`).
        let error = match values {
            Ok(values) => range.fill(&|value| value, values),
            Err(e) => {
                drop(range);
                Some(e)
            }
        };
        let _ = promise.set_result(error);
    });
    out
}

/// Submits a map whose chunks write into their range of the final list
/// (`submit(range, chunk)` runs `range.fill(f, chunk)` on a worker); `finish` gets the list.
pub(crate) fn in_place<A, T>(
    items: impl Iterator<Item = A>,
    len: usize,
    size: usize,
    mut submit: impl FnMut(Range<T>, Vec<A>) -> Future<Option<Error>>,
    finish: Finish<T>,
) where
    T: Send + 'static,
{
    let slots = match Slots::<T>::new(len, size) {
        Ok(slots) => Arc::new(slots),
        Err(e) => {
            finish(Err(Error::InvalidState(format!(
                "no room for a map's {len} values ({e})"
            ))));
            return;
        }
    };
    let writer = Arc::clone(&slots);
    submit_all(
        items,
        len,
        size,
        move |index, chunk| submit(Slots::range(&writer, index), chunk),
        move |first_error| {
            // Every part is done, so every range has been dropped (a range goes with its
            // task's closure, before the task's future completes), leaving `slots` unique.
            let list = first_error.map_or(Ok(()), Err).and_then(|()| {
                Arc::try_unwrap(slots)
                    .ok()
                    .and_then(Slots::into_vec)
                    .ok_or_else(|| {
                        Error::InvalidState(
                            "a map's chunk came back with fewer values than items".into(),
                        )
                    })
            });
            finish(list);
        },
    );
}
