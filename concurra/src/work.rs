//! A [`Job`]: a closure and the producer of the future it completes (`future::Producer`, a
//! one-word `Promise`); the one place where running work turns into an outcome.
//!
//! `run` asks the producer whether the work may start (it may have been cancelled while
//! queued), runs the closure through [`unwind::catch`] so that a panic becomes that future's
//! [`Error::Panicked`], and completes the future. An engine that must drop queued work calls
//! `cancel` or `fail` instead; a job that is simply dropped fails its future with
//! [`Error::Abandoned`] (the producer's drop), so no queued work is ever lost silently.

use crate::error::{Error, Result};
use crate::future::{self, Future, Producer, Word};
use crate::unwind;

/// Queued work, type-erased. A small job (its closure within three words, beside its one-word
/// producer) travels inline in the queue's slot, with no allocation of its own (measured: `submit-wait`
/// ~0.8× the time of a `Box` per job); a larger one is boxed.
pub(crate) type Job = smallbox::SmallBox<dyn Run, smallbox::space::S4>;

/// What an engine can do with queued work. Each method is called at most once, and leaves
/// the job spent: dropping it then does nothing.
pub(crate) trait Run: Send {
    /// Runs the work, unless its future was cancelled, and completes the future.
    /// `idle` runs once the worker is done with this job: before the outcome is published
    /// when no done-callback waits (so a submitter that sees the result finds the worker
    /// idle), after the callbacks otherwise (see `Promise::complete_then`).
    fn run(&mut self, idle: &mut dyn FnMut()) {
        if let Some(guess) = self.start() {
            self.run_started(guess, idle);
        } else {
            idle();
            // Dropped here, inside the worker's guard: a capture whose drop panics must not
            // end the worker.
            self.discard();
        }
    }
    /// Marks the future running on this thread, giving the state word it wrote (the guess
    /// [`run_started`](Run::run_started) completes with); `None` if it was cancelled (drop
    /// the job).
    fn start(&self) -> Option<usize>;
    /// Runs work already marked running by [`start`](Run::start) and completes the future.
    fn run_started(&mut self, guess: usize, idle: &mut dyn FnMut());
    /// Cancels the future if it is still pending (`shutdown(cancel_futures = true)`).
    fn cancel(&mut self);
    /// Fails the future with `error` without running the work (a broken pool).
    fn fail(&mut self, error: Error);
    /// Drops the closure and the promise unrun (the promise's drop fails a pending future
    /// with [`Error::Abandoned`]).
    fn discard(&mut self);
}

/// A closure and the producer it completes (one word: the guess travels from `start` to
/// `run_started` on the stack). Spent once `f` is taken.
struct JobCell<F, T> {
    f: Option<F>,
    producer: Producer<T>,
}

impl<F, T> JobCell<F, T> {
    /// Takes the closure and the promise out, leaving the cell spent; `None` if it was.
    fn take(&mut self) -> Option<(F, Producer<T>)> {
        let f = self.f.take()?;
        Some((f, std::mem::replace(&mut self.producer, Producer::spent())))
    }
}

impl<F, T> Run for JobCell<F, T>
where
    F: FnOnce() -> Result<T> + Send,
    T: Send,
{
    #[inline]
    fn start(&self) -> Option<usize> {
        if self.f.is_some() {
            self.producer.start_here()
        } else {
            None
        }
    }

    #[inline]
    fn run_started(&mut self, guess: usize, idle: &mut dyn FnMut()) {
        let Some((f, producer)) = self.take() else {
            return idle();
        };
        let outcome = unwind::catch(f).and_then(|r| r);
        // Only a cancelled future refuses; a running one cannot be cancelled.
        let _ = producer.complete_then(outcome, guess, idle);
    }

    fn cancel(&mut self) {
        if let Some((f, producer)) = self.take() {
            producer.cancel();
            drop_unrun(f);
        }
    }

    fn fail(&mut self, error: Error) {
        if let Some((f, producer)) = self.take() {
            let _ = producer.complete_then(Err(error), Word::NEW, &mut || {});
            drop_unrun(f);
        }
    }

    fn discard(&mut self) {
        if let Some((f, producer)) = self.take() {
            drop_unrun(f);
            drop(producer);
        }
    }
}

/// Drops a closure that never ran. Its captures' `Drop` is user code: a panic there is
/// reported, never raised in the engine's thread (a worker, a shutdown, a breaking submit).
fn drop_unrun<F>(f: F) {
    unwind::report(&"dropping a task that never ran", || drop(f));
}

/// Packages a closure as a job and the future it will complete.
#[inline]
pub(crate) fn job<F, T>(f: F) -> (Job, Future<T>)
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (promise, future) = future::pair();
    let cell = JobCell {
        f: Some(f),
        producer: promise.into_producer(),
    };
    #[allow(unsafe_code)]
    // SAFETY: `smallbox!` (the crate's one way to box an unsized value on stable) takes the
    // metadata of `dyn Run` from a pointer to the very value it moves in.
    let job: Job = smallbox::smallbox!(cell);
    (job, future)
}

#[cfg(test)]
mod tests {
    //! Every path of a job, inline and boxed (`scripts/miri.sh` runs these).
    use super::*;

    /// A closure too big for the inline space: the job is boxed.
    fn big() -> impl FnOnce() -> Result<u64> + Send + 'static {
        let data = [7u64; 8];
        move || Ok(data.iter().sum())
    }

    #[test]
    fn a_small_job_is_inline_and_a_big_one_boxed() {
        let (small, _f) = job(|| Ok(1u64));
        assert!(!small.is_heap());
        // The common capture: a `String` (or a `Vec`, a `PathBuf`) travels inline too.
        let name = String::from("a path");
        let (string, _h) = job(move || Ok(name.len()));
        assert!(!string.is_heap());
        let (large, _g) = job(big());
        assert!(large.is_heap());
    }

    #[test]
    fn a_job_runs_once_and_completes_its_future() {
        for (mut j, f, want) in [
            {
                let (j, f) = job(|| Ok(1u64));
                (j, f, 1)
            },
            {
                let (j, f) = job(big());
                (j, f, 56)
            },
        ] {
            let mut idle = 0;
            j.run(&mut || idle += 1);
            assert_eq!(idle, 1);
            assert_eq!(f.result().unwrap(), want);
            // Spent: a second call and the drop do nothing.
            j.run(&mut || idle += 1);
            drop(j);
            assert_eq!(f.result().unwrap(), want);
        }
    }

    #[test]
    fn a_panic_fails_the_future_and_the_job_is_spent() {
        let (mut j, f) = job(|| -> Result<u64> { panic!("boom") });
        j.run(&mut || {});
        assert!(f.result().unwrap_err().is_panic());
    }

    #[test]
    fn cancel_fail_and_drop_end_a_queued_job() {
        let (mut j, f) = job(big());
        j.cancel();
        assert!(f.cancelled());
        let mut ran = false;
        j.run(&mut || ran = true);
        assert!(ran, "a cancelled job leaves its worker idle");

        let (mut j, f) = job(|| Ok(1u64));
        j.fail(Error::Shutdown);
        assert!(f.result().unwrap_err().is_shutdown());

        let (j, f) = job(|| Ok(1u64));
        drop(j);
        assert!(f.result().unwrap_err().is_abandoned());
    }

    #[test]
    fn a_cancelled_future_skips_the_work() {
        let (mut j, f) = job(|| -> Result<u64> { unreachable!("cancelled work ran") });
        assert!(f.cancel());
        j.run(&mut || {});
        assert!(f.cancelled());
        // The closure was dropped by `run`, not left for the job's drop.
        let token = std::sync::Arc::new(());
        let held = token.clone();
        let (mut j, f) = job(move || Ok(std::sync::Arc::strong_count(&held)));
        assert!(f.cancel());
        j.run(&mut || {});
        assert_eq!(
            std::sync::Arc::strong_count(&token),
            1,
            "run left the closure in the job"
        );
        drop(j);
    }
}
