//! The pool's bookkeeping as a pure state machine: the queue of calls, each worker's phase and
//! window, and every transition between them. No I/O, no thread, no clock (the time comes in
//! as an argument), no lock: the pool runs each transition under its lock and carries out the
//! returned [`Effects`] after releasing it. The one call out is [`Channel::post`], which puts a
//! frame in a worker's outbox (memory; written after the lock) and says whether the outbox
//! still takes frames.
//!
//! # A worker's life
//!
//! ```text
//!  (start requested: counted in `starting`, no calls)
//!        │ add_worker
//!        ▼            last call sent (max_tasks_per_child) · shutdown with nothing held
//!     Serving ─────────────────────────────────────────────▶ Retiring(LastCall | Closed
//!        │  │          a frame refused (its channel shut)            | Refused)
//!        │  └─────────────────────────────────────────────▶      │
//!        │ kill_for (time limit, stop, terminate) · out of step    │ kill_for · out of step
//!        ├──────────────────────────────────▶ Killed(Kill) ◀─────┘
//!        │ death_seen (end of file)                 │ death_seen
//!        └──────────────────────────────────▶ Dead(Kill) ◀┘   (Retiring too)
//!                                                    │ remove: the front call ends, the
//!                                                    ▼ rest go back to the queue
//!                                                 (gone)
//! ```
//!
//! | phase | takes calls | how it ends |
//! |---|---|---|
//! | [`Phase::Serving`] | yes, up to its window | any arrow above |
//! | [`Phase::Retiring`] | no; serves what it holds | exits (last call, end of file) or is killed |
//! | [`Phase::Killed`] | no | its death, judged by the [`Verdict`] |
//! | [`Phase::Dead`] | no | [`Pool::remove`] once reaped |
//!
//! # A call's life
//!
//! ```text
//!           dispatch (a worker with room)        reply
//!  Queued ────────────────────────────▶ Sent ───────────▶ Replied
//!   │  ▲                                 │ │
//!   │  │ remove: its frame unread        │ │ remove: it ran (front and read, or judged)
//!   │  └─────────────────────────────────┘ └────────────▶ Failed(Died | Timeout | Stopped
//!   │ cancelled while queued: dropped at dispatch              | Malformed)
//!   │ shutdown(cancel_futures): cancelled
//!   │ pool broken, no worker serving: Failed(Broken)
//!   ▼                          stop / terminate while waiting in a window: Failed(Stopped),
//!  (ends)                      a `Stopped` slot stays in its place, and kills the worker
//!                              when it reaches the front
//! ```
//!
//! Every call ends exactly once, and only through an [`Effects`] list, a [`Taken`]'s replies,
//! a [`Death`]'s front, or [`Stop::Waiting`]: the proptest in `state_tests.rs` drives the
//! machine through random event sequences against a model of the workers and checks it.
//!
//! # Who takes which transition
//!
//! | transition | thread |
//! |---|---|
//! | [`submit`](Pool::submit), [`call_direct`](Pool::call_direct), [`stop`](Pool::stop), [`shutdown`](Pool::shutdown), [`terminate`](Pool::terminate) | a caller |
//! | [`take_replies`](Pool::take_replies) | a worker's reader; the caller of a direct call for its reply |
//! | [`malformed`](Pool::malformed) | the caller of a direct call whose line is out of step |
//! | [`death_seen`](Pool::death_seen), [`remove`](Pool::remove) | a worker's reader, at end of file |
//! | [`may_start`](Pool::may_start), [`add_worker`](Pool::add_worker), [`start_failed`](Pool::start_failed), [`next_deadline`](Pool::next_deadline), [`expire`](Pool::expire) | the supervisor (or an initializer thread, for the worker it initialized) |
//! | [`dispatch`](Pool::dispatch) | any of them, after a change (most transitions end with it) |

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Calls a worker holds at once by default: the one it runs and one waiting in its channel,
/// so it never idles between calls (Python keeps one extra call queued per pool).
pub(super) const DEFAULT_WINDOW: usize = 2;

/// How much work (by the worker's average call time) may wait in a worker's channel: short
/// calls get a larger window, up to [`MAX_WINDOW`].
const QUEUED_WORK: Duration = Duration::from_millis(1);

/// The largest window short calls get.
pub(super) const MAX_WINDOW: usize = 64;

/// Worker starts failing in a row, with no worker alive, that break the pool.
const MAX_START_FAILURES: usize = 3;

/// What the machine needs to know of a call.
pub(super) trait Job {
    /// Its id (unique in the pool, flag bits cleared).
    fn id(&self) -> u64;
    /// Marks its future running, the first time (a call handed back by a dead worker is
    /// running already). False if it was cancelled while queued: it is dropped.
    fn begin(&mut self) -> bool;
    /// Its own time limit (`None`: the pool's).
    fn limit(&self) -> Option<Duration>;
    /// The length of its frame: tells which calls a dead worker never read.
    fn frame_len(&self) -> usize;
    /// Marks it as its worker's last call (`max_tasks_per_child`).
    fn mark_last(&mut self);
    /// Asks for its reply on the worker's direct line.
    fn mark_direct(&mut self);
    /// Whether its reply comes on the direct line.
    fn is_direct(&self) -> bool;
    /// Clears both marks: it goes back to the queue.
    fn unmark(&mut self);
}

/// A worker's channel, as the machine sees it.
pub(super) trait Channel<C>: Clone {
    /// Puts `call`'s frame in the worker's outbox (memory: it is written once the pool's lock
    /// is released). False if the outbox was shut (a write failed): nothing was queued.
    fn post(&self, call: &C) -> bool;
}

/// The pool's settings the machine needs.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) max_workers: usize,
    pub(super) max_tasks_per_child: Option<usize>,
    pub(super) task_timeout: Option<Duration>,
    /// `None`: adaptive (see [`Worker::window`]).
    pub(super) window: Option<usize>,
}

/// Why the pool killed a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The call ran longer than this limit.
    Timeout(Duration),
    /// `stop` or `terminate_workers`.
    Stopped,
}

/// Why the pool killed a worker, and the call it killed it for (its front call then). If that
/// call replied before the worker died, the call running at death fails as any other worker
/// death does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verdict {
    pub(super) call: u64,
    pub(super) why: Why,
}

/// What the pool knows of a worker it killed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Kill {
    /// Aimed at a call (a time limit, a stop); `None` when no call was in flight, or the kill
    /// was for being out of step.
    pub(super) verdict: Option<Verdict>,
    /// It was out of step (a malformed or out-of-order frame): its death names why.
    pub(super) malformed: Option<String>,
}

/// Why a worker takes no more calls while it serves what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retire {
    /// Its last call (`max_tasks_per_child`) is sent: it exits after replying.
    LastCall,
    /// The pool is shut down and the worker held nothing: its channel is closed, it exits at
    /// end of file.
    Closed,
    /// Its outbox refused a frame (a write failed, and the outbox killed it).
    Refused,
}

/// Where a worker is in its life (see the module docs' diagram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Takes calls, up to its window. The only phase `dispatch` sends to.
    Serving,
    /// Takes no calls; serves those it holds.
    Retiring(Retire),
    /// Killed by the pool: its end of file is coming. Takes no calls. A later kill replaces
    /// the verdict (a stop after a time limit ends the call as stopped).
    Killed(Kill),
    /// Its reader saw end of file: it is being reaped, then [removed](Pool::remove). Takes no
    /// calls; a kill still records its verdict (the death is judged at removal).
    Dead(Kill),
}

impl Phase {
    fn takes_calls(&self) -> bool {
        matches!(self, Phase::Serving)
    }

    fn verdict(&self) -> Option<Verdict> {
        match self {
            Phase::Killed(kill) | Phase::Dead(kill) => kill.verdict,
            _ => None,
        }
    }

    /// Enters `Killed` (a dead worker stays `Dead`) and gives its record.
    fn killed(&mut self) -> &mut Kill {
        if !matches!(self, Phase::Killed(_) | Phase::Dead(_)) {
            *self = Phase::Killed(Kill::default());
        }
        match self {
            Phase::Killed(kill) | Phase::Dead(kill) => kill,
            _ => unreachable!("just set"),
        }
    }

    /// Leaves the phase, giving the kill record if any.
    fn take_kill(&mut self) -> Kill {
        match std::mem::replace(self, Phase::Serving) {
            Phase::Killed(kill) | Phase::Dead(kill) => kill,
            _ => Kill::default(),
        }
    }
}

/// A place in a worker's window.
pub(super) enum Slot<C> {
    /// A call sent: the front one runs, the others have not started.
    Sent(C),
    /// A call stopped while it waited here: its future has failed already. Its place is kept
    /// (the worker will read its frame); the worker is killed when it reaches it.
    Stopped { id: u64, frame_len: usize },
}

impl<C: Job> Slot<C> {
    fn id(&self) -> u64 {
        match self {
            Slot::Sent(call) => call.id(),
            Slot::Stopped { id, .. } => *id,
        }
    }

    fn frame_len(&self) -> usize {
        match self {
            Slot::Sent(call) => call.frame_len(),
            Slot::Stopped { frame_len, .. } => *frame_len,
        }
    }

    /// Stops a sent call: it is taken out, a `Stopped` slot stays.
    fn stop(&mut self) -> Option<C> {
        let stopped = Slot::Stopped {
            id: self.id(),
            frame_len: self.frame_len(),
        };
        match std::mem::replace(self, stopped) {
            Slot::Sent(call) => Some(call),
            Slot::Stopped { .. } => None,
        }
    }
}

/// A worker as the machine sees it: `io` is the I/O side's handle, held, cloned into effects,
/// never used here but through [`Channel::post`].
pub(super) struct Worker<C, W> {
    key: u64,
    io: W,
    phase: Phase,
    /// Calls sent, in order: the front one runs, the others have not started.
    in_flight: VecDeque<Slot<C>>,
    /// When the front call started.
    front_since: Instant,
    /// Calls sent in its life (`max_tasks_per_child`).
    sent: usize,
    /// How long its calls take, smoothed (`None` until its first reply): sizes its window.
    call_time: Option<Duration>,
}

impl<C: Job, W: Channel<C>> Worker<C, W> {
    /// How many calls this worker may hold: the fixed window if one was set, else
    /// [`DEFAULT_WINDOW`], or more for short calls, so that about [`QUEUED_WORK`] of them wait
    /// in its channel (at most [`MAX_WINDOW`]). A worker fed in batches never idles between
    /// tiny calls; long calls keep the small window and so spread over the workers.
    fn window(&self, fixed: Option<usize>) -> usize {
        if let Some(n) = fixed {
            return n;
        }
        match self.call_time {
            Some(t) if !t.is_zero() => {
                let fits = QUEUED_WORK.as_nanos() / t.as_nanos();
                (fits.min(MAX_WINDOW as u128) as usize).max(DEFAULT_WINDOW)
            }
            Some(_) => MAX_WINDOW,
            None => DEFAULT_WINDOW,
        }
    }

    /// The time limit of the call it runs: the call's own, or the pool's; `None` if it runs
    /// nothing, has no limit, or is being killed for a call already.
    fn front_limit(&self, pool_limit: Option<Duration>) -> Option<Duration> {
        let front = self.in_flight.front()?;
        if self.phase.verdict().is_some() {
            return None;
        }
        match front {
            Slot::Sent(call) => call.limit().or(pool_limit),
            Slot::Stopped { .. } => pool_limit,
        }
    }

    /// When the call it runs must be stopped (`None`: never, or too far to count).
    fn front_deadline(&self, pool_limit: Option<Duration>) -> Option<Instant> {
        self.front_since.checked_add(self.front_limit(pool_limit)?)
    }

    /// Kills the worker for `why`, aimed at the call it runs now.
    fn kill_for<P>(&mut self, why: Why, fx: &mut Effects<P, W>) {
        let front = self.in_flight.front().map(|slot| match slot {
            Slot::Sent(call) => call.id(),
            Slot::Stopped { id, .. } => *id,
        });
        let kill = self.phase.killed();
        if let Some(call) = front {
            kill.verdict = Some(Verdict { call, why });
        }
        fx.kill.push(self.io.clone());
    }

    /// Records that the front call took `took` (an exponential average, 1/8 per call).
    fn observe(&mut self, took: Duration) {
        self.call_time = Some(match self.call_time {
            None => took,
            Some(avg) => (avg * 7 + took) / 8,
        });
    }

    /// Its front call has just started: if its limit ends before the deadline the supervisor
    /// sleeps towards, the supervisor is woken.
    fn front_started(
        &self,
        pool_limit: Option<Duration>,
        armed: &mut Option<Instant>,
        fx: &mut Effects<C, W>,
    ) {
        let Some(deadline) = self.front_deadline(pool_limit) else {
            return;
        };
        if armed.is_none_or(|a| deadline < a) {
            *armed = Some(deadline);
            fx.wake = true;
        }
    }

    /// Puts `call` in the window (Serving only). Gives it back, unmarked, if the outbox
    /// refused it: the worker then takes nothing more.
    fn send(
        &mut self,
        mut call: C,
        now: Instant,
        limits: &Limits,
        armed: &mut Option<Instant>,
        fx: &mut Effects<C, W>,
    ) -> Result<(), C> {
        debug_assert!(
            self.phase.takes_calls(),
            "a call sent to a {:?} worker",
            self.phase
        );
        let last = limits.max_tasks_per_child == Some(self.sent + 1);
        if last {
            call.mark_last();
        }
        if !self.io.post(&call) {
            self.phase = Phase::Retiring(Retire::Refused);
            call.unmark();
            return Err(call);
        }
        // One write per worker for all its frames, once the lock is released.
        if !fx.flush.iter().any(|(key, _)| *key == self.key) {
            fx.flush.push((self.key, self.io.clone()));
        }
        self.sent += 1;
        if last {
            self.phase = Phase::Retiring(Retire::LastCall);
        }
        let starts = self.in_flight.is_empty();
        if starts {
            self.front_since = now;
        }
        self.in_flight.push_back(Slot::Sent(call));
        if starts {
            self.front_started(limits.task_timeout, armed, fx);
        }
        Ok(())
    }
}

/// Why a call ends without a reply, when no worker death is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// Stopped while it waited in a window (`terminate_workers`).
    Stopped,
    /// The pool broke (this cause) and no worker is left to serve it.
    Broken(String),
}

/// How a dead worker's front call ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// The worker died while running it.
    Died,
    /// The pool killed it for running longer than this.
    Timeout(Duration),
    /// The pool killed it for a stop.
    Stopped,
    /// The worker was out of step (why).
    Malformed(String),
}

/// Why a call is refused at submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    Shutdown,
    Broken(String),
}

/// What the I/O side must do after a transition, once the pool's lock is released.
#[must_use = "the pool must carry out the effects of a transition"]
pub(super) struct Effects<C, W> {
    /// Calls that end with this failure.
    pub(super) failed: Vec<(C, Failure)>,
    /// Calls cancelled by `shutdown(cancel_futures)`.
    pub(super) cancelled: Vec<C>,
    /// Calls dropped: cancelled while queued, their futures are complete already.
    pub(super) dropped: Vec<C>,
    /// Workers to start.
    pub(super) spawn: usize,
    /// Workers with frames in their outbox (by key, once each): to write.
    pub(super) flush: Vec<(u64, W)>,
    /// Workers whose channel to close (they exit at end of file).
    pub(super) close: Vec<W>,
    /// Workers to kill.
    pub(super) kill: Vec<W>,
    /// Wake the supervisor: a call started whose limit ends before its armed deadline.
    pub(super) wake: bool,
    /// The pool is shut down and drained (said once).
    pub(super) drained: bool,
}

impl<C, W> Default for Effects<C, W> {
    fn default() -> Self {
        Effects {
            failed: Vec::new(),
            cancelled: Vec::new(),
            dropped: Vec::new(),
            spawn: 0,
            flush: Vec::new(),
            close: Vec::new(),
            kill: Vec::new(),
            wake: false,
            drained: false,
        }
    }
}

/// What a batch of replies took.
#[must_use = "the replies must complete their calls"]
pub(super) struct Taken<C, P, W> {
    /// The calls replied to, with their payloads (stopped ones left out).
    pub(super) replies: Vec<(C, P)>,
    /// The worker replied out of order or sent a malformed frame: it is being killed.
    pub(super) out_of_step: Option<String>,
    pub(super) effects: Effects<C, W>,
}

/// Where a synchronous call went.
#[must_use = "the call's caller must read its reply, and the effects be carried out"]
pub(super) struct Direct<C, W> {
    /// The worker (key, handle) that took it with the direct mark: its caller reads the
    /// reply itself. `None`: it was queued.
    pub(super) lead: Option<(u64, W)>,
    pub(super) effects: Effects<C, W>,
}

/// A worker removed after its death.
#[must_use = "the dead worker's front call must end"]
pub(super) struct Death<C, W> {
    /// The worker's I/O handle, given back.
    pub(super) io: W,
    /// The call it ran, and how it ends.
    pub(super) front: Option<(C, Ending)>,
    pub(super) effects: Effects<C, W>,
}

/// What `stop` found.
#[must_use = "a stopped call must end"]
pub(super) enum Stop<C, W> {
    /// Still queued: cancel its future (dispatch then drops it).
    Queued,
    /// Its worker runs it: the worker is killed (the effects), and its death ends the call.
    Running(Effects<C, W>),
    /// Taken from a window: fail it with `Terminated` (its worker is killed when it reaches
    /// its place).
    Waiting(C),
    /// Not this pool's call, or done.
    Unknown,
}

/// Whether the supervisor may start the worker it was asked for.
#[must_use]
pub(super) enum MayStart<C, W> {
    Start,
    /// The pool broke meanwhile: nothing starts.
    Refused(Effects<C, W>),
}

/// The pool's shutdown state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    Open,
    /// Shut down: calls are refused; drained once no worker is left or starting.
    ShutDown,
    /// Shut down and drained (said once, through [`Effects::drained`]).
    Drained,
}

/// The pool's bookkeeping (see the module docs).
pub(super) struct Pool<C, W> {
    limits: Limits,
    /// Calls not yet sent, in submission order (calls handed back by a dead worker first).
    queue: VecDeque<C>,
    workers: Vec<Worker<C, W>>,
    /// Workers asked of the supervisor and not yet added (or failed).
    starting: usize,
    next_key: u64,
    life: Life,
    /// Why no worker can start (a failing initializer or handshake): every call fails.
    broken: Option<String>,
    /// Worker starts that failed in a row.
    start_failures: usize,
    /// The deadline the supervisor sleeps towards (`None`: it sleeps until woken).
    armed: Option<Instant>,
}

impl<C: Job, W: Channel<C>> Pool<C, W> {
    pub(super) fn new(limits: Limits) -> Self {
        Pool {
            limits,
            queue: VecDeque::new(),
            workers: Vec::new(),
            starting: 0,
            next_key: 0,
            life: Life::Open,
            broken: None,
            start_failures: 0,
            armed: None,
        }
    }

    /// The workers' handles.
    pub(super) fn workers(&self) -> impl Iterator<Item = &W> {
        self.workers.iter().map(|w| &w.io)
    }

    /// Calls queued.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn life(&self) -> Life {
        self.life
    }

    /// Why a call is refused now: the pool is shut down, or broken.
    pub(super) fn refusal(&self) -> Option<Refused> {
        if self.life != Life::Open {
            return Some(Refused::Shutdown);
        }
        self.broken.clone().map(Refused::Broken)
    }

    /// Marks the pool broken (no supervisor): every call is refused.
    pub(super) fn break_with(&mut self, cause: String) {
        self.broken = Some(cause);
    }

    /// Queues a call and dispatches; gives it back if the pool refuses it.
    pub(super) fn submit(&mut self, call: C, now: Instant) -> Result<Effects<C, W>, (C, Refused)> {
        if let Some(refused) = self.refusal() {
            return Err((call, refused));
        }
        self.queue.push_back(call);
        Ok(self.dispatch(now))
    }

    /// A synchronous call: started here (its caller holds its future), and sent with the
    /// direct mark to an idle worker if one serves and nothing is queued; the worker's key and
    /// handle are given then (the caller reads the reply itself). Otherwise it is queued.
    pub(super) fn call_direct(
        &mut self,
        mut call: C,
        now: Instant,
    ) -> Result<Direct<C, W>, (C, Refused)> {
        if let Some(refused) = self.refusal() {
            return Err((call, refused));
        }
        let mut fx = Effects::default();
        if !call.begin() {
            fx.dropped.push(call);
            return Ok(Direct {
                lead: None,
                effects: fx,
            });
        }
        let idle = if self.queue.is_empty() {
            self.workers
                .iter_mut()
                .find(|w| w.phase.takes_calls() && w.in_flight.is_empty())
        } else {
            None
        };
        let mut lead = None;
        match idle {
            Some(worker) => {
                call.mark_direct();
                let line = (worker.key, worker.io.clone());
                match worker.send(call, now, &self.limits, &mut self.armed, &mut fx) {
                    Ok(()) => lead = Some(line),
                    Err(call) => self.queue.push_back(call),
                }
            }
            None => self.queue.push_back(call),
        }
        if lead.is_none() {
            self.dispatch_into(now, &mut fx);
        }
        Ok(Direct { lead, effects: fx })
    }

    /// Shuts the pool down: later calls are refused; with `cancel_futures` the queued calls
    /// are cancelled.
    pub(super) fn shutdown(&mut self, cancel_futures: bool, now: Instant) -> Effects<C, W> {
        if self.life == Life::Open {
            self.life = Life::ShutDown;
        }
        let mut fx = Effects::default();
        if cancel_futures {
            fx.cancelled.extend(self.queue.drain(..));
        }
        self.dispatch_into(now, &mut fx);
        fx
    }

    /// `terminate_workers` after a `shutdown(cancel_futures)`: the calls waiting in windows
    /// fail as stopped (they are not handed to another worker), and every worker holding a
    /// call is killed for it.
    pub(super) fn terminate(&mut self) -> Effects<C, W> {
        let mut fx = Effects::default();
        for worker in &mut self.workers {
            if worker.in_flight.is_empty() {
                continue;
            }
            for slot in worker.in_flight.iter_mut().skip(1) {
                if let Some(call) = slot.stop() {
                    fx.failed.push((call, Failure::Stopped));
                }
            }
            worker.kill_for(Why::Stopped, &mut fx);
        }
        fx
    }

    /// Stops the call `is_it` names (see [`Stop`]).
    pub(super) fn stop(&mut self, is_it: impl Fn(&C) -> bool) -> Stop<C, W> {
        if self.queue.iter().any(&is_it) {
            return Stop::Queued;
        }
        for worker in &mut self.workers {
            let at = worker
                .in_flight
                .iter()
                .position(|slot| matches!(slot, Slot::Sent(call) if is_it(call)));
            match at {
                None => continue,
                Some(0) => {
                    let mut fx = Effects::default();
                    worker.kill_for(Why::Stopped, &mut fx);
                    return Stop::Running(fx);
                }
                Some(at) => {
                    return match worker.in_flight[at].stop() {
                        Some(call) => Stop::Waiting(call),
                        None => Stop::Unknown,
                    }
                }
            }
        }
        Stop::Unknown
    }

    /// The supervisor is about to start a worker it was asked for.
    pub(super) fn may_start(&mut self, now: Instant) -> MayStart<C, W> {
        if self.broken.is_some() {
            // Asked for before the pool broke: start nothing.
            return MayStart::Refused(self.start_abandoned(now));
        }
        MayStart::Start
    }

    /// A start asked for ends with no worker and no failure counted.
    pub(super) fn start_abandoned(&mut self, now: Instant) -> Effects<C, W> {
        self.starting -= 1;
        self.dispatch(now)
    }

    /// A worker started (and initialized): it serves from now on. Its key is returned; the
    /// caller starts its reader, then calls [`reader_running`](Pool::reader_running) or
    /// [`abandon`](Pool::abandon), then [`dispatch`](Pool::dispatch).
    pub(super) fn add_worker(&mut self, io: W, now: Instant) -> u64 {
        self.starting -= 1;
        let key = self.next_key;
        self.next_key += 1;
        self.workers.push(Worker {
            key,
            io,
            phase: Phase::Serving,
            in_flight: VecDeque::new(),
            front_since: now,
            sent: 0,
            call_time: None,
        });
        key
    }

    /// The new worker's reader runs: the run of failed starts ends.
    pub(super) fn reader_running(&mut self) {
        self.start_failures = 0;
    }

    /// Gives up on a worker added with no reader (it holds no call yet).
    pub(super) fn abandon(&mut self, key: u64) -> Option<W> {
        let at = self.workers.iter().position(|w| w.key == key)?;
        Some(self.workers.swap_remove(at).io)
    }

    /// A worker failed to start (`initializer`: its initializer failed). A failing
    /// initializer breaks the pool (Python: `BrokenProcessPool`). A worker that cannot start
    /// breaks it when no worker is alive to serve and none is on its way, or after a few
    /// failures in a row with none alive: restarting them forever would be a hang. A start
    /// that fails while workers serve is transient: work goes on.
    pub(super) fn start_failed(
        &mut self,
        initializer: bool,
        cause: String,
        now: Instant,
    ) -> Effects<C, W> {
        self.starting -= 1;
        self.start_failures += 1;
        let alone = self.workers.is_empty()
            && (self.starting == 0 || self.start_failures >= MAX_START_FAILURES);
        if initializer || alone {
            self.broken = Some(cause);
        }
        self.dispatch(now)
    }

    /// The id of the worker's front call if it asked for its reply on the direct line.
    pub(super) fn direct_front(&self, key: u64) -> Option<u64> {
        let worker = self.workers.iter().find(|w| w.key == key)?;
        match worker.in_flight.front()? {
            Slot::Sent(call) if call.is_direct() => Some(call.id()),
            _ => None,
        }
    }

    /// Replies from worker `key`, in the order read: each must answer its front call. `bad`
    /// (a malformed frame after them) or a reply out of order puts the worker out of step: it
    /// is killed, and its death names why. `None`: the worker is no longer the pool's.
    pub(super) fn take_replies<P>(
        &mut self,
        key: u64,
        replies: Vec<(u64, P)>,
        bad: Option<String>,
        now: Instant,
    ) -> Option<Taken<C, P, W>> {
        let worker = self.workers.iter_mut().find(|w| w.key == key)?;
        let mut fx = Effects::default();
        let mut taken = Vec::with_capacity(replies.len());
        let mut out_of_step = bad;
        for (id, payload) in replies {
            if worker
                .in_flight
                .front()
                .is_none_or(|front| front.id() != id)
            {
                out_of_step = Some(format!("a reply to call {id}, out of order"));
                break;
            }
            let done = worker.in_flight.pop_front().expect("front");
            worker.observe(now.saturating_duration_since(worker.front_since));
            worker.front_since = now;
            if let Slot::Sent(call) = done {
                taken.push((call, payload));
            }
        }
        // A call stopped while it waited in the window has now started: stop it.
        if matches!(worker.in_flight.front(), Some(Slot::Stopped { .. })) {
            worker.kill_for(Why::Stopped, &mut fx);
        }
        // The front changed: its limit may end before the supervisor's next wake-up.
        if !worker.in_flight.is_empty() {
            worker.front_started(self.limits.task_timeout, &mut self.armed, &mut fx);
        }
        if let Some(why) = &out_of_step {
            worker
                .phase
                .killed()
                .malformed
                .get_or_insert_with(|| why.clone());
            fx.kill.push(worker.io.clone());
        }
        self.dispatch_into(now, &mut fx);
        Some(Taken {
            replies: taken,
            out_of_step,
            effects: fx,
        })
    }

    /// Worker `key` is out of step (its direct line said so): it is killed, and its death
    /// names why.
    pub(super) fn malformed(&mut self, key: u64, why: String) -> Effects<C, W> {
        let mut fx = Effects::default();
        if let Some(worker) = self.workers.iter_mut().find(|w| w.key == key) {
            worker.phase.killed().malformed.get_or_insert(why);
            fx.kill.push(worker.io.clone());
        }
        fx
    }

    /// Worker `key`'s reader saw end of file: nothing more is sent to it while it is reaped
    /// (a call sent now would sit unread and fail as if it had run).
    pub(super) fn death_seen(&mut self, key: u64) {
        if let Some(worker) = self.workers.iter_mut().find(|w| w.key == key) {
            let kill = worker.phase.take_kill();
            worker.phase = Phase::Dead(kill);
        }
    }

    /// Removes a reaped worker: `unread` tells how many bytes of what was sent it never read
    /// (the calls whose frames lie in that tail never started, the front one included: they
    /// go back to the queue). The front call, if it started, ends: with `malformed` or the
    /// worker's own out-of-step cause, else the verdict aimed at it, else as a death. The
    /// calls behind it go back to the front of the queue, in order.
    pub(super) fn remove(
        &mut self,
        key: u64,
        unread: impl FnOnce(&W) -> usize,
        malformed: Option<String>,
        now: Instant,
    ) -> Option<Death<C, W>> {
        let at = self.workers.iter().position(|w| w.key == key)?;
        let mut worker = self.workers.swap_remove(at);
        let kill = worker.phase.take_kill();
        let malformed = malformed.or(kill.malformed);
        let mut unread = unread(&worker.io);
        let mut unstarted = 0;
        for slot in worker.in_flight.iter().rev() {
            match unread.checked_sub(slot.frame_len()) {
                Some(rest) => {
                    unread = rest;
                    unstarted += 1;
                }
                None => break,
            }
        }
        // A verdict (time limit, stop) or a malformed reply means the front did run.
        let judged = worker
            .in_flight
            .front()
            .is_some_and(|front| kill.verdict.is_some_and(|v| v.call == front.id()));
        let front_started = unstarted < worker.in_flight.len() || judged || malformed.is_some();
        let mut front = None;
        if front_started {
            if let Some(slot) = worker.in_flight.pop_front() {
                // The verdict counts for the call it was aimed at; if that one replied before
                // the worker died, the call running then died as in any other death.
                let verdict = kill.verdict.filter(|v| v.call == slot.id());
                let ending = match (malformed, verdict) {
                    (Some(why), _) => Ending::Malformed(why),
                    (
                        None,
                        Some(Verdict {
                            why: Why::Timeout(limit),
                            ..
                        }),
                    ) => Ending::Timeout(limit),
                    (
                        None,
                        Some(Verdict {
                            why: Why::Stopped, ..
                        }),
                    ) => Ending::Stopped,
                    (None, None) => Ending::Died,
                };
                if let Slot::Sent(call) = slot {
                    front = Some((call, ending));
                }
            }
        }
        // The calls behind the front (and the front, if it never started) did not run: back
        // to the front of the queue, in order (their futures stay running).
        for slot in worker.in_flight.drain(..).rev() {
            if let Slot::Sent(mut call) = slot {
                call.unmark();
                self.queue.push_front(call);
            }
        }
        let mut fx = Effects::default();
        self.dispatch_into(now, &mut fx);
        Some(Death {
            io: worker.io,
            front,
            effects: fx,
        })
    }

    /// The earliest deadline of a running call, which the supervisor then sleeps towards
    /// (armed, so that a call with an earlier one wakes it).
    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        let pool_limit = self.limits.task_timeout;
        let next = self
            .workers
            .iter()
            .filter_map(|w| w.front_deadline(pool_limit))
            .min();
        self.armed = next;
        next
    }

    /// Kills the workers whose running call is past its deadline at `now`.
    pub(super) fn expire(&mut self, now: Instant) -> Effects<C, W> {
        let pool_limit = self.limits.task_timeout;
        let mut fx = Effects::default();
        for w in &mut self.workers {
            if w.front_deadline(pool_limit).is_some_and(|d| d <= now) {
                let limit = w.front_limit(pool_limit).expect("a deadline has a limit");
                w.kill_for(Why::Timeout(limit), &mut fx);
            }
        }
        fx
    }

    /// Sends queued calls to workers with room, fails them if the pool is broken and no worker
    /// serves, asks for workers if calls still wait, and closes idle workers of a shut pool.
    pub(super) fn dispatch(&mut self, now: Instant) -> Effects<C, W> {
        let mut fx = Effects::default();
        self.dispatch_into(now, &mut fx);
        fx
    }

    fn dispatch_into(&mut self, now: Instant, fx: &mut Effects<C, W>) {
        // While the pool can still grow, a call waits for an idle worker (one is started for
        // it below) rather than queue in a busy worker's window behind a long call; so do as
        // many calls as there are workers on their way.
        let can_grow = self.workers.len() + self.starting < self.limits.max_workers;
        let fixed = self.limits.window;
        while !self.queue.is_empty() {
            let windows = !can_grow && self.queue.len() > self.starting;
            let Some(worker) = self
                .workers
                .iter_mut()
                .filter(|w| {
                    let window = if windows { w.window(fixed) } else { 1 };
                    w.phase.takes_calls() && w.in_flight.len() < window
                })
                .min_by_key(|w| w.in_flight.len())
            else {
                break;
            };
            let mut call = self.queue.pop_front().expect("not empty");
            if !call.begin() {
                fx.dropped.push(call); // cancelled while queued: its future is complete
                continue;
            }
            if let Err(call) = worker.send(call, now, &self.limits, &mut self.armed, fx) {
                // Another worker takes the call.
                self.queue.push_front(call);
            }
        }
        // A broken pool with no worker left to serve its queue (calls handed back by a worker
        // that died, say) fails them: nothing would ever run them.
        if let Some(cause) = &self.broken {
            if !self.workers.iter().any(|w| w.phase.takes_calls()) {
                for call in self.queue.drain(..) {
                    fx.failed.push((call, Failure::Broken(cause.clone())));
                }
            }
        }
        // Calls still queued found no room: start a worker for each, up to `max_workers`.
        while self.broken.is_none()
            && self.starting < self.queue.len()
            && self.workers.len() + self.starting < self.limits.max_workers
        {
            self.starting += 1;
            fx.spawn += 1;
        }
        if self.life != Life::Open && self.queue.is_empty() {
            for w in &mut self.workers {
                let idle = w.in_flight.is_empty();
                if idle
                    && matches!(w.phase, Phase::Serving | Phase::Retiring(_))
                    && w.phase != Phase::Retiring(Retire::Closed)
                {
                    w.phase = Phase::Retiring(Retire::Closed);
                    fx.close.push(w.io.clone());
                }
            }
            if self.life == Life::ShutDown && self.workers.is_empty() && self.starting == 0 {
                self.life = Life::Drained;
                fx.drained = true;
            }
        }
    }
}

impl<C, W> std::fmt::Debug for Pool<C, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("queued", &self.queue.len())
            .field("workers", &self.workers.len())
            .field("starting", &self.starting)
            .field("life", &self.life)
            .field("broken", &self.broken)
            .finish()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
