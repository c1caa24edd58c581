//! Engines of other crates that run [`Remote`] work: [`RemoteExecutor`].
//!
//! A remote engine (workers on other machines, reached through a broker) takes calls already
//! encoded ([`EncodedCall`], through [`DynExecutor::submit_encoded`]) and answers them with
//! the reply's bytes, exactly as the process pool's workers do. Implementing the marker
//! [`RemoteExecutor`] gives it the same typed surface as [`ProcessPoolExecutor`]: `submit`,
//! `call`, `map`, [`map_chunked`](RemoteExecutor::map_chunked) and the Pool facade
//! ([`Pool::from_executor`](crate::pool::Pool::from_executor)), written once here.
//!
//! [`ProcessPoolExecutor`]: super::ProcessPoolExecutor

use super::call::{Chunked, EncodedCall, Remote};
use crate::chunk::{private, Chunk, Either};
use crate::error::{Error, Result};
use crate::executor::{Apply, DynExecutor, Executor, MapOptions, Work};
use crate::future::Future;

/// Chunks a remote `map_chunked` keeps in flight per worker.
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 4;

/// An executor of another crate that runs [`Remote`] work (`fn` items over `serde` values)
/// through [`DynExecutor::submit_encoded`]: a remote engine such as `concurra-redis`'s.
///
/// The engine implements [`Executor`] (`shutdown`, `max_workers`) and [`DynExecutor`]
/// (`submit_encoded`); this marker then gives it, as for the process pool:
/// `submit(f)`, `submit(Apply(f, x))`, [`Fallible`](crate::Fallible), `call`, `map`,
/// [`map_chunked`](Self::map_chunked) (a chunk travels as one call), and the Pool facade's
/// `apply_async`, `map`, `imap`, `imap_unordered` over
/// [`Pool::from_executor`](crate::pool::Pool::from_executor).
pub trait RemoteExecutor: Executor + DynExecutor {
    /// Submits `work` with a time limit of its own, counted from its start on a worker: past
    /// it the engine stops the call and its future fails with [`Error::Timeout`] (as
    /// [`ProcessPoolExecutor::submit_timeout`](super::ProcessPoolExecutor::submit_timeout)).
    fn submit_timeout<W: Remote + 'static>(
        &self,
        work: W,
        limit: std::time::Duration,
    ) -> Future<W::Output> {
        match EncodedCall::new(work) {
            Ok((call, future)) => {
                self.submit_encoded(call.with_time_limit(limit));
                future
            }
            Err(e) => Future::completed(Err(e)),
        }
    }

    /// Python's `map(fn, *iterables, chunksize=n)`: `chunksize` items per call (one message to
    /// a worker and one back), values in order, lazily; a failing item fails only its place,
    /// a chunk whose call failed as a whole (its worker died) yields that error in its place.
    ///
    /// A `chunksize` of 0 yields one [`Error::InvalidArgument`] and nothing else.
    fn map_chunked<F, A, T, I>(
        &self,
        f: F,
        items: I,
        chunksize: usize,
    ) -> impl Iterator<Item = Result<T>> + '_
    where
        F: Fn(A) -> T + Copy + Send + 'static,
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'static,
    {
        let in_flight = Executor::max_workers(self).saturating_mul(CHUNKS_IN_FLIGHT_PER_WORKER);
        map_chunked_on(self, f, items, chunksize, in_flight)
    }
}

/// `map_chunked` on any engine that runs a chunk as one call: `chunksize` items per call, at
/// most `in_flight` chunks ahead of the consumer.
pub(crate) fn map_chunked_on<E, F, A, T, I>(
    executor: &E,
    f: F,
    items: I,
    chunksize: usize,
    in_flight: usize,
) -> impl Iterator<Item = Result<T>> + '_
where
    E: Executor,
    F: Fn(A) -> T + Copy + Send + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    I: IntoIterator<Item = A>,
    I::IntoIter: 'static,
    Apply<Chunked<F>, Vec<A>>: Work<E, Output = Chunk<T>>,
{
    if chunksize == 0 {
        let refused = Error::InvalidArgument("chunksize must be >= 1".into());
        return Either::Right(std::iter::once(Err(refused)));
    }
    let mut items = items.into_iter();
    let chunks = std::iter::from_fn(move || {
        let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
        (!chunk.is_empty()).then_some(chunk)
    });
    Either::Left(crate::chunk::flatten(Executor::map_with(
        executor,
        Chunked(f),
        chunks,
        MapOptions::new().in_flight(in_flight),
    )))
}

/// Every [`Remote`] work is work for a remote engine: encoded once, handed over.
impl<E: RemoteExecutor, W: Remote + 'static> Work<E> for W {
    type Output = W::Output;

    fn submit_to(self, executor: &E) -> Future<W::Output> {
        match EncodedCall::new(self) {
            Ok((call, future)) => {
                executor.submit_encoded(call);
                future
            }
            Err(e) => Future::completed(Err(e)),
        }
    }
}

/// A remote engine's chunks for the Pool facade: the `fn` item's identity and the chunk's
/// encoded items, one call.
impl<E, F, A, T> private::Submit<E, A> for F
where
    E: RemoteExecutor,
    F: Fn(A) -> T + Copy + Send + Sync + 'static,
    A: serde::Serialize + serde::de::DeserializeOwned + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    type Output = T;
    type Held = F;

    fn hold(self) -> F {
        self
    }

    fn submit_chunk(f: &F, executor: &E, items: Vec<A>) -> Future<Chunk<T>> {
        Apply(Chunked(*f), items).submit_to(executor)
    }
}
