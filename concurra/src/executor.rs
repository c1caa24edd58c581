//! The [`Executor`] trait (Python's `concurrent.futures.Executor`): `submit`, `map`, `shutdown`,
//! shared by every pool engine.
//!
//! What an executor can run is expressed by [`Work<E>`]: the thread pool runs any `Send`
//! closure; the process pool (next) runs plain functions on values that cross a process
//! boundary. [`Apply`] binds a function to one argument and [`Fallible`] marks a closure whose
//! `Err` is the task's failure. [`Executor::map`] is written once, here, over `submit`.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

use crate::future::{deadline, Future};
use crate::process::{EncodedCall, Remote};

/// A unit of work that executor `E` can run, producing `Self::Output`.
///
/// Implemented by each engine for what it accepts; [`Executor::submit`] dispatches through it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not work that `{E}` can run",
    label = "not work for this executor",
    note = "a thread pool runs a `FnOnce() -> T + Send + 'static` closure (move what it uses into it: `move || ...`), `Apply(f, arg)` or `Fallible(f)`",
    note = "a process pool runs a `fn` item or a closure that captures nothing, over serde arguments and values: pass the argument with `Apply(f, arg)` instead of capturing it"
)]
pub trait Work<E: ?Sized>: Sized {
    /// What the work returns on success.
    type Output;

    /// Queues this work on `executor`. Prefer [`Executor::submit`].
    fn submit_to(self, executor: &E) -> Future<Self::Output>;

    /// Runs this work on `executor` and waits for its outcome, if the engine has a faster way
    /// to do that than [`submit_to`](Work::submit_to) and a wait; otherwise gives the work
    /// back (the default). Prefer [`Executor::call`].
    ///
    /// # Errors
    /// As the future's [`result`](Future::result).
    fn call_on(self, executor: &E) -> std::result::Result<Result<Self::Output>, Self> {
        let _ = executor;
        Err(self)
    }
}

/// `f` applied to one argument: the unit `map` submits, and the process pool's call form.
#[derive(Clone, Copy)]
pub struct Apply<F, A>(pub F, pub A);

/// A closure returning `Result<T, E>` whose `Err` fails the future with [`Error::Failed`]
/// (so it counts as a failure for `wait(FirstException)` and error callbacks).
///
/// ```
/// use concurra::{Executor, Fallible, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(Fallible(|| "x".parse::<i32>()));
/// assert!(f.result().unwrap_err().is_failed());
/// ```
#[derive(Clone, Copy)]
pub struct Fallible<F>(pub F);

impl<F, A: fmt::Debug> fmt::Debug for Apply<F, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Apply")
            .field(&"<fn>")
            .field(&self.1)
            .finish()
    }
}

impl<F> fmt::Debug for Fallible<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fallible(<fn>)")
    }
}

/// Calls [`Executor::map`] keeps in flight per worker: enough that workers rarely run dry
/// (and sleep) between two `next` calls, few enough to bound memory.
pub const DEFAULT_IN_FLIGHT_PER_WORKER: usize = 32;

/// Options for [`Executor::map_with`] (Python's keyword arguments of `Executor.map`), built
/// like a builder: `MapOptions::new().timeout(d).in_flight(n)`.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MapOptions {
    /// A total deadline counted from the `map` call (Python's `timeout`). `None`: no limit.
    pub timeout: Option<Duration>,
    /// How many calls may be submitted ahead of the consumer (Python 3.14's `buffersize`).
    /// `None`: [`DEFAULT_IN_FLIGHT_PER_WORKER`] per worker. `Some(0)` counts as 1.
    pub in_flight: Option<usize>,
}

impl MapOptions {
    /// No timeout, the default number of calls in flight.
    pub fn new() -> Self {
        MapOptions::default()
    }

    /// A total deadline counted from the `map` call (Python's `timeout`).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// At most `n` calls submitted ahead of the consumer (Python 3.14's `buffersize`; 0
    /// counts as 1).
    #[must_use]
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = Some(n);
        self
    }
}

/// Python's `concurrent.futures.Executor`.
///
/// `Drop` of an executor is `shutdown(wait = true)`, Python's `with` block.
pub trait Executor: Sized {
    /// Schedules `work` and returns its future at once (Python: `submit(fn)`).
    ///
    /// Never panics and never fails here: a refusal is the future's error —
    /// [`Error::Shutdown`] after shutdown, [`Error::BrokenPool`] on a broken pool.
    fn submit<W: Work<Self>>(&self, work: W) -> Future<W::Output> {
        work.submit_to(self)
    }

    /// Runs `work` and waits for its outcome: `submit(work).result()` in one step, moving the
    /// value out (no `Clone` needed). Engines may take a faster path: the process pool reads a call's reply in the
    /// calling thread, so a round trip wakes no thread in between.
    ///
    /// ```
    /// use concurra::{Executor, ThreadPoolExecutor};
    ///
    /// fn answer<E: Executor>(exe: &E) -> i32
    /// where
    ///     fn() -> i32: concurra::Work<E, Output = i32>,
    /// {
    ///     exe.call((|| 6 * 7) as fn() -> i32).unwrap()
    /// }
    /// assert_eq!(answer(&ThreadPoolExecutor::new()), 42);
    /// ```
    ///
    /// # Errors
    /// As [`Future::result`].
    fn call<W: Work<Self>>(&self, work: W) -> Result<W::Output> {
        match work.call_on(self) {
            Ok(outcome) => outcome,
            Err(work) => self.submit(work).into_unique_result(),
        }
    }

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`). Idempotent.
    ///
    /// `cancel_futures` cancels the queued work (its futures complete as cancelled at once);
    /// running work finishes. `wait` blocks until the workers have exited.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// The most workers this executor runs at once.
    fn max_workers(&self) -> usize;

    /// Shuts down at once and stops the running work where the engine can (Python 3.14's
    /// `terminate_workers`): queued work is cancelled; a process pool kills its workers, and
    /// their running calls fail with [`Error::Terminated`]. Threads cannot be killed, so the
    /// thread pool's running tasks finish. Does not wait.
    fn terminate_workers(&self) {
        self.shutdown(false, true);
    }

    /// `f` over `items`, results in input order (Python: `map(fn, iterable)`).
    ///
    /// Unlike Python, which submits every call when `map` is called, at most
    /// [`DEFAULT_IN_FLIGHT_PER_WORKER`] calls per worker are in flight ahead of the consumer
    /// (see [`map_with`](Self::map_with)). If the executor shuts down mid-way, the first item
    /// not yet submitted yields [`Error::Shutdown`] and the iteration ends.
    /// The first calls are submitted now. A failed item yields its error at its position and
    /// ends the iteration; dropping the iterator cancels the calls still queued. Values are
    /// moved out, never cloned.
    ///
    /// ```
    /// use concurra::{Executor, ThreadPoolExecutor};
    ///
    /// fn squares<E: Executor>(exe: &E) -> Vec<i32>
    /// where
    ///     concurra::Apply<fn(i32) -> i32, i32>: concurra::Work<E, Output = i32>,
    /// {
    ///     let sqr: fn(i32) -> i32 = |x| x * x;
    ///     Executor::map(exe, sqr, 1..=4).map(Result::unwrap).collect()
    /// }
    /// assert_eq!(squares(&ThreadPoolExecutor::new()), [1, 4, 9, 16]);
    /// ```
    fn map<F, A, I>(&self, f: F, items: I) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Clone,
        I: IntoIterator<Item = A>,
        Apply<F, A>: Work<Self>,
    {
        self.map_with(f, items, MapOptions::default())
    }

    /// [`map`](Self::map) with a total deadline counted from the call (Python:
    /// `map(fn, iterable, timeout=t)`): the first result not ready by then is
    /// [`Error::Timeout`], and the iteration ends.
    fn map_timeout<F, A, I>(
        &self,
        f: F,
        items: I,
        timeout: Duration,
    ) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Clone,
        I: IntoIterator<Item = A>,
        Apply<F, A>: Work<Self>,
    {
        self.map_with(f, items, MapOptions::new().timeout(timeout))
    }

    /// [`map`](Self::map) with every option.
    fn map_with<F, A, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Map<'_, Self, F, I::IntoIter>
    where
        F: Clone,
        I: IntoIterator<Item = A>,
        Apply<F, A>: Work<Self>,
    {
        let mut map = Map {
            executor: self,
            f,
            items: items.into_iter(),
            in_flight: VecDeque::new(),
            limit: options
                .in_flight
                .unwrap_or_else(|| {
                    self.max_workers()
                        .saturating_mul(DEFAULT_IN_FLIGHT_PER_WORKER)
                })
                .max(1),
            deadline: options.timeout.and_then(deadline),
            timeout: options.timeout.unwrap_or(Duration::MAX),
            ended: false,
        };
        map.refill();
        map
    }
}

/// What one call of a [`Map`] returns.
type MapOutput<E, F, I> = <Apply<F, <I as Iterator>::Item> as Work<E>>::Output;

/// The iterator [`Executor::map`] returns: `Result<T>` per item, in input order.
pub struct Map<'a, E, F, I>
where
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
    executor: &'a E,
    f: F,
    items: I,
    in_flight: VecDeque<Future<MapOutput<E, F, I>>>,
    limit: usize,
    deadline: Option<Instant>,
    timeout: Duration,
    ended: bool,
}

impl<E, F, I> Map<'_, E, F, I>
where
    F: Clone,
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
    fn refill(&mut self) {
        while !self.ended && self.in_flight.len() < self.limit {
            match self.items.next() {
                Some(item) => {
                    let work = Apply(self.f.clone(), item);
                    self.in_flight.push_back(work.submit_to(self.executor));
                }
                None => {
                    // The input is read no more (it need not be fused).
                    self.ended = true;
                    break;
                }
            }
        }
    }

    /// Ends the iteration, cancelling what is still queued.
    fn end(&mut self) {
        self.ended = true;
        for f in self.in_flight.drain(..) {
            f.cancel();
        }
    }
}

impl<E, F, I, T> Iterator for Map<'_, E, F, I>
where
    F: Clone,
    I: Iterator,
    Apply<F, I::Item>: Work<E, Output = T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let future = self.in_flight.pop_front()?;
        self.refill();
        if let Some(d) = self.deadline {
            // `Err` here is about the wait, not the call: the deadline passed, or this is the
            // very task running the call (a call's own failure is `Ok(Some(e))`).
            match future.exception_timeout(d.saturating_duration_since(Instant::now())) {
                Err(e) if e.is_timeout() => return Some(self.timed_out(&future)),
                Err(e) if e.is_invalid_state() => {
                    self.end();
                    return Some(Err(e));
                }
                _ => {}
            }
        }
        Some(self.take(future))
    }
}

impl<E, F, I, T> Map<'_, E, F, I>
where
    F: Clone,
    I: Iterator,
    Apply<F, I::Item>: Work<E, Output = T>,
{
    /// The deadline passed before `future` was done: it is cancelled and the map ends.
    fn timed_out(&mut self, future: &Future<T>) -> Result<T> {
        future.cancel();
        self.end();
        Err(Error::timeout(self.timeout))
    }

    /// A done (or to be waited for) call's value, moved out; an error ends the map.
    fn take(&mut self, future: Future<T>) -> Result<T> {
        // Taken, not cloned: the map holds the only handle.
        let outcome = future.into_unique_result();
        if outcome.is_err() {
            self.end();
        }
        outcome
    }
}

/// An iterator's async form, made by its `into_stream()`: [`Map`] (`Executor::map`, awaited),
/// and the Pool's [`IMap`](crate::pool::IMap) and [`IMapUnordered`](crate::pool::IMapUnordered).
/// A separate type, so that `StreamExt`'s methods never clash with `Iterator`'s.
#[derive(Debug)]
pub struct AsStream<S>(pub(crate) S);

impl<'a, E, F, I> Map<'a, E, F, I>
where
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
    /// The async form of this map (Python's `map`, awaited): results in input order, each
    /// once its call is done, without blocking the task. A deadline
    /// ([`map_timeout`](Executor::map_timeout)) is checked each time the stream is polled:
    /// race it with your runtime's timer to be woken at the deadline.
    ///
    /// ```
    /// use concurra::ThreadPoolExecutor;
    /// use futures::StreamExt;
    ///
    /// let exe = ThreadPoolExecutor::new();
    /// let squares: Vec<i32> = futures::executor::block_on(
    ///     exe.map(|x| x * x, 1..=4).into_stream().map(Result::unwrap).collect(),
    /// );
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// ```
    pub fn into_stream(self) -> AsStream<Self> {
        AsStream(self)
    }
}

impl<'a, E, F, I, T> futures_core::Stream for AsStream<Map<'a, E, F, I>>
where
    F: Clone,
    I: Iterator,
    Apply<F, I::Item>: Work<E, Output = T>,
    Map<'a, E, F, I>: Unpin,
{
    type Item = Result<T>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<T>>> {
        use std::task::Poll;
        let this = &mut self.0;
        let Some(front) = this.in_flight.front_mut() else {
            return Poll::Ready(None);
        };
        if front.poll_done(cx).is_pending() {
            if this.deadline.is_some_and(|d| Instant::now() >= d) {
                let future = this.in_flight.pop_front().expect("a front call");
                return Poll::Ready(Some(this.timed_out(&future)));
            }
            return Poll::Pending;
        }
        let future = this.in_flight.pop_front().expect("a front call");
        this.refill();
        Poll::Ready(Some(this.take(future)))
    }
}

/// Once `next` returned `None` it always will: the input is not read after its end.
impl<E, F, I> std::iter::FusedIterator for Map<'_, E, F, I>
where
    F: Clone,
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
}

impl<E, F, I> Drop for Map<'_, E, F, I>
where
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
    fn drop(&mut self) {
        for f in self.in_flight.drain(..) {
            f.cancel();
        }
    }
}

impl<E, F, I> fmt::Debug for Map<'_, E, F, I>
where
    I: Iterator,
    Apply<F, I::Item>: Work<E>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.in_flight.len())
            .field("ended", &self.ended)
            .finish()
    }
}

/// An executor chosen at run time, behind one type (`Box<dyn DynExecutor>`): the thread
/// pool, the process pool, or an engine of another crate (a remote executor).
///
/// The object-safe core takes calls already encoded ([`EncodedCall`]): work that can cross a
/// process ([`Remote`]: a `fn` item or a closure that captures nothing, over `serde` values),
/// so every engine can run it, one on its threads (the call runs in this process), another in
/// its worker processes or on other machines. `submit` and `call` on `dyn DynExecutor` take
/// the typed work and give the same [`Future`] as every engine: it is running while the call
/// runs (so `cancel` is refused then), and cancelled if the engine drops the call queued.
///
/// ```
/// use concurra::{Apply, DynExecutor, ProcessPoolExecutor, ThreadPoolExecutor};
///
/// concurra::worker_hook!();
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// # fn main() -> concurra::Result<()> {
/// let processes = std::env::var_os("USE_PROCESSES").is_some();
/// let exe: Box<dyn DynExecutor> = if processes {
///     Box::new(ProcessPoolExecutor::new())
/// } else {
///     Box::new(ThreadPoolExecutor::new())
/// };
/// assert_eq!(exe.submit(Apply(square, 7)).result()?, 49);
/// assert_eq!(exe.call(Apply(square, 3))?, 9);
/// # Ok(())
/// # }
/// ```
pub trait DynExecutor: Send + Sync + fmt::Debug {
    /// Schedules `call` (Python: `submit`): the engine starts it
    /// ([`EncodedCall::start`]), runs it, and answers it ([`EncodedCall::reply`],
    /// [`fail`](EncodedCall::fail) or [`cancel`](EncodedCall::cancel)), which completes its
    /// future. Prefer `submit` on `dyn DynExecutor`.
    fn submit_encoded(&self, call: EncodedCall);

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`).
    fn shutdown_dyn(&self, wait: bool, cancel_futures: bool);

    /// The most workers this executor runs at once.
    fn max_workers_dyn(&self) -> usize;
}

impl dyn DynExecutor + '_ {
    /// Schedules `work` and returns its future at once (Python: `submit`).
    pub fn submit<W: Remote + 'static>(&self, work: W) -> Future<W::Output> {
        match EncodedCall::new(work) {
            Ok((call, future)) => {
                self.submit_encoded(call);
                future
            }
            Err(e) => Future::completed(Err(e)),
        }
    }

    /// Runs `work` and waits for its value, moved out.
    ///
    /// # Errors
    /// As [`Future::result`].
    pub fn call<W: Remote + 'static>(&self, work: W) -> Result<W::Output> {
        self.submit(work).into_unique_result()
    }

    /// Stops accepting work (Python: `shutdown(wait, cancel_futures)`).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shutdown_dyn(wait, cancel_futures);
    }

    /// The most workers this executor runs at once.
    pub fn max_workers(&self) -> usize {
        self.max_workers_dyn()
    }
}

impl DynExecutor for crate::ThreadPoolExecutor {
    /// The call runs on a pool thread, in this process. Queued calls the pool drops
    /// (`shutdown(cancel_futures)`) are cancelled; a refused one fails with the pool's error.
    fn submit_encoded(&self, call: EncodedCall) {
        let slot = Arc::new(Mutex::new(Some(call)));
        let runs = Arc::clone(&slot);
        let job = self.submit(move || {
            if let Some(call) = take(&runs) {
                call.run();
            }
        });
        // The job did not run the call (refused, or cancelled while queued): answer it.
        job.add_done_callback(move |job| {
            if let Some(call) = take(&slot) {
                match job.try_error() {
                    Some(Err(e)) if !e.is_cancelled() => call.fail(e.clone()),
                    _ => call.cancel(),
                }
            }
        });
    }

    fn shutdown_dyn(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    fn max_workers_dyn(&self) -> usize {
        Executor::max_workers(self)
    }
}

/// The call in `slot`, if nobody took it yet.
fn take(slot: &Mutex<Option<EncodedCall>>) -> Option<EncodedCall> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

impl DynExecutor for crate::ProcessPoolExecutor {
    fn submit_encoded(&self, call: EncodedCall) {
        crate::ProcessPoolExecutor::submit_encoded(self, call);
    }

    fn shutdown_dyn(&self, wait: bool, cancel_futures: bool) {
        Executor::shutdown(self, wait, cancel_futures);
    }

    fn max_workers_dyn(&self) -> usize {
        Executor::max_workers(self)
    }
}
