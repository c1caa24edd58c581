//! The loop itself: [`Core`] (state only the loop thread touches), [`Shared`] (the part other
//! threads reach) and the iteration that drives them. The public handles on it are in
//! `handles`, the thread's current loop in `context`. The protocol is in the `aio` module docs.
//!
//! # Borrows
//!
//! `Core` keeps its queues in `RefCell`s. No borrow is ever held while user code runs, while a
//! waker is woken, or while anything that may own user values (a task, a callback, a timer) is
//! dropped: items are moved out of a queue in one statement and used or dropped in the next.
//! A wake on the loop thread therefore always finds the queues free.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use super::context::{current, Enter, CURRENT};
use super::handles::{Builder, Handle};
use super::reactor::{IoSet, Notifier, Reactor};
use super::report::{Handler, Report, ReportKind};
use super::slab::{Key, Slab};
use super::task::{self, IntoCoroutine, Task, TaskRun};

use super::time::{Clock, Due, SystemClock, TimerAction, Timers};
use super::waker::{self, LoopBits, WakeWord};
use crate::error::{Error, Result};
use crate::unwind;

/// The key of the main coroutine's waker (tasks have slab keys; no slab reaches this one).
const MAIN_KEY: WakeKey = WakeKey::Main;

/// What a waker wakes: main, or the task in a slot of the task slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeKey {
    /// The main coroutine.
    Main,
    /// A task, by its slab key (stale once the task ended).
    Task(Key),
}

/// Something the loop runs in an iteration.
enum Runnable {
    /// Poll the main coroutine.
    Main,
    /// Step a task.
    Task(Rc<dyn TaskRun>),
    /// Call a callback unless its handle was cancelled.
    Callback(Handle, Box<dyn FnOnce()>),
}

impl Runnable {
    /// Whose step this is, for a slow-step report: a task's name, "main", or none.
    fn name(&self) -> Option<String> {
        match self {
            Runnable::Main => Some("main".to_owned()),
            Runnable::Task(task) => Some(task.header().name()),
            Runnable::Callback(..) => None,
        }
    }
}

/// What other threads hand the loop.
enum Injected {
    /// A task (or main) was woken from another thread.
    Wake(WakeKey),
    /// `call_soon_threadsafe`.
    Callback(Handle, Box<dyn FnOnce() + Send>),
}

/// The inject queue, under `Shared::inject`.
struct Inject {
    queue: Vec<Injected>,
    /// Set once at shutdown: later pushes are refused.
    closed: bool,
}

/// The part of a loop other threads reach: the inject queue and the reactor's notifier.
pub(crate) struct Shared {
    inject: Mutex<Inject>,
    /// Set after a push into an empty inject queue; lets a busy loop skip the lock.
    pending: AtomicBool,
    notifier: Notifier,
}

impl Shared {
    /// Queues a `call_soon_threadsafe` callback; refused once the loop is closed.
    pub(super) fn inject_callback(
        &self,
        handle: Handle,
        f: Box<dyn FnOnce() + Send>,
    ) -> std::result::Result<(), ()> {
        self.inject(Injected::Callback(handle, f)).map_err(drop)
    }

    /// True once the loop has shut down.
    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> MutexGuard<'_, Inject> {
        self.inject.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` for the loop and wakes it; hands the item back if the loop is closed.
    fn inject(&self, item: Injected) -> std::result::Result<(), Injected> {
        let first = {
            let mut q = self.lock();
            if q.closed {
                return Err(item);
            }
            q.queue.push(item);
            q.queue.len() == 1
        };
        // Only the push into an empty queue wakes: later pushes find the loop already woken
        // (it drains the whole queue after the wake-up).
        if first {
            // ORDERING: SeqCst with the loop's swap in `drain_inject`; the mutex orders the
            // queue itself.
            self.pending.store(true, Ordering::SeqCst);
            self.notifier.notify();
        }
        Ok(())
    }
}

/// Wakes a task (or main) of the loop with `bits`, from any thread (the protocol is in the
/// [`waker`](super::waker) module docs).
///
/// On the loop's own thread the task is scheduled directly; from anywhere else its key goes
/// through the inject queue and the reactor's notifier.
pub(crate) fn wake(bits: LoopBits, key: WakeKey) {
    let local = CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(core) if core.loop_bits == bits => {
                core.schedule(key);
                true
            }
            _ => false,
        })
        .unwrap_or(false);
    if !local {
        if let Some(shared) = waker::lookup(bits) {
            // A closed loop refuses: the task is gone, nothing to wake.
            let _ = shared.inject(Injected::Wake(key));
        }
    }
}

/// Reports a task failure nobody retrieved, found when its last handle was dropped: through
/// the running loop's handler, or straight to stderr off the loop (see the `report` docs).
pub(crate) fn report_never_retrieved(name: String, error: Error) {
    let report = Report::new(ReportKind::NeverRetrieved, Some(name), Some(error));
    match current() {
        Some(core) => core.report(report),
        None => unwind::print_report(&report),
    }
}

/// Whether the loop still accepts work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `run` is iterating.
    Running,
    /// Main completed; the leftovers were (or are being) cancelled. New tasks are cancelled at
    /// once and new callbacks get a cancelled handle.
    Closed,
}

/// The loop thread's state. Reached through [`current`] or a [`Loop`].
pub(crate) struct Core {
    shared: Arc<Shared>,
    /// This loop's part of its wakers' words (registered in [`waker`]).
    loop_bits: LoopBits,
    clock: Rc<dyn Clock>,
    reactor: RefCell<Reactor>,
    /// The reactor's I/O registrations (reached without borrowing the reactor).
    io: Rc<IoSet>,
    /// The wakers a reactor turn found ready, woken after it (kept to reuse the buffer).
    io_wakes: Cell<Vec<std::task::Waker>>,
    ready: RefCell<VecDeque<Runnable>>,
    /// Live tasks, by the key their wakers carry.
    tasks: RefCell<Slab<Rc<dyn TaskRun>>>,
    timers: RefCell<Timers>,
    next_task_id: Cell<u64>,
    main_scheduled: Cell<bool>,
    /// Depth of "dropping a cancelled coroutine" sections.
    cancelling: Cell<usize>,
    phase: Cell<Phase>,
    /// Where reports go ([`Builder::exception_handler`]); stderr without one.
    handler: Option<Handler>,
    /// [`Builder::slow_callback_duration`].
    slow: Option<Duration>,
    /// Tasks that failed while a handle was alive: reported at shutdown if still unobserved.
    failed: RefCell<Vec<Weak<dyn TaskRun>>>,
}

impl Core {
    fn new(options: Builder) -> Result<Self> {
        let clock = options.clock.unwrap_or_else(|| Rc::new(SystemClock::new()));
        let (reactor, notifier) =
            Reactor::new().map_err(|e| Error::io("creating the event loop's reactor", e))?;
        let shared = Arc::new(Shared {
            inject: Mutex::new(Inject {
                queue: Vec::new(),
                closed: false,
            }),
            pending: AtomicBool::new(false),
            notifier,
        });
        Ok(Core {
            loop_bits: waker::register(shared.clone()),
            shared,
            clock,
            io: reactor.io().clone(),
            io_wakes: Cell::new(Vec::new()),
            reactor: RefCell::new(reactor),
            ready: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(Slab::default()),
            timers: RefCell::new(Timers::default()),
            next_task_id: Cell::new(1),
            main_scheduled: Cell::new(false),
            cancelling: Cell::new(0),
            phase: Cell::new(Phase::Running),
            handler: options.handler,
            slow: options.slow,
            failed: RefCell::new(Vec::new()),
        })
    }

    /// The `Send + Sync` part other threads reach.
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.phase.get() == Phase::Closed
    }

    /// Schedules the task (or main) with this key, unless it is already queued or gone.
    fn schedule(&self, key: WakeKey) {
        match key {
            WakeKey::Main => {
                if !self.main_scheduled.replace(true) {
                    self.ready.borrow_mut().push_back(Runnable::Main);
                }
            }
            WakeKey::Task(key) => {
                let task = self.tasks.borrow().get(key).cloned();
                if let Some(task) = task {
                    self.schedule_task(task);
                }
            }
        }
    }

    fn schedule_task(&self, task: Rc<dyn TaskRun>) {
        if !task.header().scheduled.replace(true) {
            self.ready.borrow_mut().push_back(Runnable::Task(task));
        }
    }

    /// Creates a task and queues its first step (Python: `loop.create_task`).
    pub(crate) fn spawn<F>(&self, coro: F) -> Task<F::Output>
    where
        F: IntoCoroutine,
    {
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        let key = self.tasks.borrow().vacant_key();
        let wake = WakeWord::new(self.loop_bits, WakeKey::Task(key));
        let (cell, task) = task::new(id, wake, coro);
        if self.is_closed() {
            // Never runs, as a task cancelled before its first step.
            self.drop_cancelled(&cell);
        } else {
            let inserted = self.tasks.borrow_mut().insert(cell.clone());
            debug_assert_eq!(inserted, key);
            self.schedule_task(cell);
        }
        task
    }

    /// Hands `report` to the exception handler, or prints it (see the `report` module docs).
    /// Call with no borrow of the loop held.
    pub(crate) fn report(&self, report: Report) {
        match &self.handler {
            Some(handler) => {
                if let Err(e) = unwind::catch(|| handler(&report)) {
                    unwind::print_report(&format_args!(
                        "the event loop's exception handler panicked on \"{report}\": {e}"
                    ));
                }
            }
            None => unwind::print_report(&report),
        }
    }

    /// A task just failed: reported now if no handle is left, else at shutdown unless
    /// someone observes it first (or its last handle is dropped: see `Task`'s drop).
    pub(crate) fn note_failed(&self, task: &Rc<dyn TaskRun>) {
        if task.header().handles() == 0 {
            self.report_unobserved(&**task);
        } else if !task.header().observed() {
            let mut failed = self.failed.borrow_mut();
            // Forget the tasks gone since (their drop reported or observed them): a long-lived
            // loop does not keep a record per failure.
            if failed.len() == failed.capacity() {
                failed.retain(|t| t.strong_count() > 0);
            }
            failed.push(Rc::downgrade(task));
        }
    }

    /// Reports `task`'s failure unless it was observed (or reported) already; once.
    pub(crate) fn report_unobserved(&self, task: &dyn TaskRun) {
        if let Some(error) = task.unobserved_failure() {
            let name = task.header().name();
            self.report(Report::new(
                ReportKind::NeverRetrieved,
                Some(name),
                Some(error),
            ));
        }
    }

    /// Removes a finished task from the live set.
    pub(crate) fn forget_task(&self, key: Key) {
        let gone = self.tasks.borrow_mut().remove(key);
        drop(gone);
    }

    /// Drops a task's coroutine as a cancellation (Join handles it was awaiting cancel theirs).
    pub(crate) fn drop_cancelled(&self, task: &Rc<dyn TaskRun>) {
        let _cancelling = self.enter_cancelling();
        task.cancel_now();
    }

    /// True inside a cancelling section.
    pub(super) fn is_cancelling(&self) -> bool {
        self.cancelling.get() > 0
    }

    /// Marks a section in which dropped coroutines count as cancelled.
    pub(crate) fn enter_cancelling(&self) -> CancellingGuard<'_> {
        self.cancelling.set(self.cancelling.get() + 1);
        CancellingGuard(self)
    }

    pub(crate) fn call_soon(&self, f: Box<dyn FnOnce()>) -> Handle {
        let handle = Handle::new(None);
        if self.is_closed() {
            handle.cancel();
        } else {
            self.ready
                .borrow_mut()
                .push_back(Runnable::Callback(handle.clone(), f));
        }
        handle
    }

    pub(crate) fn call_at(&self, when: Duration, f: Box<dyn FnOnce()>) -> Handle {
        let handle = Handle::new(Some(when));
        if self.is_closed() {
            handle.cancel();
        } else {
            self.add_timer(when, TimerAction::Callback(handle.clone(), f));
        }
        handle
    }

    pub(crate) fn add_timer(&self, when: Duration, action: TimerAction) {
        self.timers.borrow_mut().push(when, action);
    }

    /// The timer heap, for one statement (see the module docs, # Borrows).
    pub(crate) fn timers(&self) -> RefMut<'_, Timers> {
        self.timers.borrow_mut()
    }

    /// This loop's part of its wakers' words; unique among the loops alive.
    pub(crate) fn loop_bits(&self) -> LoopBits {
        self.loop_bits
    }

    /// Reports the step a `watch` started on if it took the threshold or longer.
    #[inline]
    fn check_slow(&self, watch: Option<(Duration, Duration, Option<String>)>) {
        if let Some((limit, started, name)) = watch {
            self.check_slow_cold(limit, started, name);
        }
    }

    #[cold]
    fn check_slow_cold(&self, limit: Duration, started: Duration, name: Option<String>) {
        let took = self.clock.now().saturating_sub(started);
        if took >= limit {
            self.report(Report::new(ReportKind::Slow { took }, name, None));
        }
    }

    /// Step 1 of an iteration: wait for events (or not), then drain the inject queue.
    ///
    /// # Errors
    /// [`Error::Io`] if the reactor failed: a poller that fails once fails for good (CPython's
    /// selector raises out of `run_forever`), there is no loop left to run.
    fn wait_for_events(&self) -> Result<()> {
        if !self.ready.borrow().is_empty() {
            // Busy: no syscall unless descriptors are registered (then a poll that does not
            // block, as asyncio's selector with timeout 0, so I/O is never starved by tasks
            // that keep the loop busy); take what other threads queued, if anything.
            if self.io.len() > 0 {
                self.turn(Some(Duration::ZERO))?;
            }
            if self.shared.pending.load(Ordering::SeqCst) {
                self.drain_inject();
            }
            return Ok(());
        }
        let deadline = loop {
            let top = self.timers.borrow_mut().pop_cancelled_top();
            if top.is_none() {
                break self.timers.borrow_mut().next_deadline();
            }
        };
        let now = self.clock.now();
        let (timeout, advance) = match deadline {
            None => (None, None),
            Some(d) if d <= now => (Some(Duration::ZERO), None),
            Some(d) if self.clock.auto_advance() => (Some(Duration::ZERO), Some(d)),
            Some(d) => (Some(d - now), None),
        };
        self.turn(timeout)?;
        self.drain_inject();
        if let Some(d) = advance {
            if self.ready.borrow().is_empty() {
                self.clock.advance_to(d);
            }
        }
        Ok(())
    }

    /// One reactor turn; then the I/O waiters it found ready are woken (no borrow held).
    fn turn(&self, timeout: Option<Duration>) -> Result<()> {
        let mut wakes = self.io_wakes.take();
        let turn = self.reactor.borrow_mut().turn(timeout, &mut wakes);
        for waker in wakes.drain(..) {
            waker.wake();
        }
        self.io_wakes.set(wakes);
        match turn {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::io("the event loop's reactor failed", e)),
        }
    }

    /// The loop's I/O registrations.
    pub(super) fn io(&self) -> &Rc<IoSet> {
        &self.io
    }

    fn drain_inject(&self) {
        // ORDERING: clear the flag before taking the queue: a push after the take sets it
        // again (see `Shared::inject`).
        self.shared.pending.store(false, Ordering::SeqCst);
        let items = std::mem::take(&mut self.shared.lock().queue);
        for item in items {
            match item {
                Injected::Wake(id) => self.schedule(id),
                Injected::Callback(handle, f) => self
                    .ready
                    .borrow_mut()
                    .push_back(Runnable::Callback(handle, f)),
            }
        }
    }

    /// Step 2: due timers join the ready queue behind what is there.
    fn run_due_timers(&self) {
        let now = self.clock.now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                None => break,
                Some(Due::Skip(entry)) => drop(entry),
                Some(Due::Callback(handle, f)) => self
                    .ready
                    .borrow_mut()
                    .push_back(Runnable::Callback(handle, f)),
                Some(Due::Wake(waker, stale)) => {
                    drop(stale);
                    waker.wake();
                }
            }
        }
    }

    /// Step 4: cancel what is left, close the inject queue, drop every queue.
    pub(super) fn shutdown(&self) {
        self.phase.set(Phase::Closed);
        // Tasks made while this runs are cancelled at once (the loop is closed), so one pass
        // over a snapshot, in creation order, leaves none.
        let mut live = self.tasks.borrow_mut().drain();
        live.sort_by_key(|task| task.header().id());
        for task in live {
            self.drop_cancelled(&task);
        }
        // Failures whose handles outlive the loop: nobody can observe them in the loop now.
        let failed = std::mem::take(&mut *self.failed.borrow_mut());
        for task in failed.iter().filter_map(Weak::upgrade) {
            self.report_unobserved(&*task);
        }
        let injected = {
            let mut q = self.shared.lock();
            q.closed = true;
            std::mem::take(&mut q.queue)
        };
        drop(injected);
        let ready = std::mem::take(&mut *self.ready.borrow_mut());
        drop(ready);
        let timers = self.timers.borrow_mut().take_all();
        drop(timers);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        waker::unregister(self.loop_bits);
    }
}

/// Ends a [`Core::enter_cancelling`] section.
pub(crate) struct CancellingGuard<'a>(&'a Core);

impl Drop for CancellingGuard<'_> {
    fn drop(&mut self) {
        self.0.cancelling.set(self.0.cancelling.get() - 1);
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("ready", &self.ready.try_borrow().map(|r| r.len()).ok())
            .field("tasks", &self.tasks.try_borrow().map(|t| t.len()).ok())
            .field("timers", &self.timers.try_borrow().map(|t| t.len()).ok())
            .field("phase", &self.phase.get())
            .finish()
    }
}

/// Runs `main` on a new loop on this thread until it completes; see [`try_run`](crate::aio::try_run).
pub(super) fn block_on<F: StdFuture>(options: Builder, main: F) -> Result<F::Output> {
    if current().is_some() {
        return Err(Error::InvalidState(
            "aio::run() cannot be called from a running event loop".into(),
        ));
    }
    let core = Rc::new(Core::new(options)?);
    // From here on, every way out (a value, an error, main's panic) shuts the loop down.
    let _enter = Enter::new(core.clone());
    let mut main = pin!(main);
    let main_waker = waker::waker(core.loop_bits, MAIN_KEY);
    let mut main_cx = Context::from_waker(&main_waker);
    core.schedule(MAIN_KEY);
    loop {
        core.wait_for_events()?;
        core.run_due_timers();
        // Step 3: run what is ready now; what these schedule runs next iteration.
        let ntodo = core.ready.borrow().len();
        for _ in 0..ntodo {
            let item = core.ready.borrow_mut().pop_front();
            let Some(item) = item else { break };
            // The slow-step watch (`Builder::slow_callback_duration`): only with a threshold.
            let watch = core
                .slow
                .map(|limit| (limit, core.clock.now(), item.name()));
            match item {
                Runnable::Main => {
                    core.main_scheduled.set(false);
                    // Main is not caught: its panic propagates out of `run`, after `Enter`
                    // shut the loop down.
                    if let Poll::Ready(out) = main.as_mut().poll(&mut main_cx) {
                        core.check_slow(watch);
                        return Ok(out);
                    }
                }
                Runnable::Task(task) => task.run(&core),
                Runnable::Callback(handle, f) => {
                    if !handle.cancelled() {
                        if let Err(e) = unwind::catch(f) {
                            core.report(Report::new(ReportKind::CallbackPanicked, None, Some(e)));
                        }
                    }
                }
            }
            core.check_slow(watch);
        }
    }
}
