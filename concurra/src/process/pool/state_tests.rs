//! The pool's state machine against a model of its workers, over random event sequences.
//!
//! The model plays every other party: callers (submit, call, cancel, stop, shutdown,
//! terminate), the supervisor (starts that succeed or fail, time passing), each worker process
//! (reads its next frame, runs it, replies, exits after its last call or at end of file,
//! crashes, is killed) and its reader thread (takes replies, garbage, end of file, removal).
//! After every event it checks:
//!
//! 1. every call ends exactly once (a reply, a failure, a cancel), and a live call is in the
//!    queue or in exactly one window, once;
//! 2. no call is sent to a worker the pool killed, closed or saw dead;
//! 3. no call runs twice (a call handed back by a dead worker had not started);
//! 4. a worker holds at most its window, and at most `max_tasks_per_child` calls in its life;
//!    a live worker's window is exactly what it holds, in order (replies not yet taken, the
//!    call it runs, the frames it has not read), so the front is the call it runs;
//! 5. the pool never stays below its worker count while calls wait (workers on their way
//!    out count: their death starts a replacement);
//! 6. `starting` is the supervisor's count of starts asked for.
//!
//! Each sequence is then run to quiescence with no further faults: every call has ended; a
//! shutdown then drains the pool, said exactly once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

/// How a call ended, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Replied,
    Failed,
    Cancelled,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pending,
    Running,
    Ended(End),
}

/// What the model knows of each call, by id, and the rules broken so far.
#[derive(Default)]
struct Ledger {
    calls: RefCell<Vec<Fate>>,
    runs: RefCell<Vec<u32>>,
    broken: RefCell<Vec<String>>,
}

impl Ledger {
    fn violation(&self, why: String) {
        self.broken.borrow_mut().push(why);
    }

    fn state(&self, id: u64) -> Fate {
        self.calls.borrow()[id as usize]
    }

    fn end(&self, id: u64, how: End) {
        let mut calls = self.calls.borrow_mut();
        match calls[id as usize] {
            // Its caller cancelled it while queued: the future refuses any later outcome (a
            // broken pool or a shutdown that drains the queue fails or cancels it again).
            Fate::Ended(End::Cancelled) if how != End::Replied => {}
            Fate::Ended(was) => {
                drop(calls);
                self.violation(format!("call {id} ended twice: {was:?}, then {how:?}"));
            }
            _ => calls[id as usize] = Fate::Ended(how),
        }
    }
}

/// A call as the pool holds it.
struct ModelCall {
    id: u64,
    len: usize,
    limit: Option<Duration>,
    last: bool,
    direct: bool,
    ledger: Rc<Ledger>,
}

impl Job for ModelCall {
    fn id(&self) -> u64 {
        self.id
    }
    fn begin(&mut self) -> bool {
        let mut calls = self.ledger.calls.borrow_mut();
        match calls[self.id as usize] {
            Fate::Pending => {
                calls[self.id as usize] = Fate::Running;
                true
            }
            Fate::Running => true,
            Fate::Ended(_) => false,
        }
    }
    fn limit(&self) -> Option<Duration> {
        self.limit
    }
    fn frame_len(&self) -> usize {
        self.len
    }
    fn mark_last(&mut self) {
        self.last = true;
    }
    fn mark_direct(&mut self) {
        self.direct = true;
    }
    fn is_direct(&self) -> bool {
        self.direct
    }
    fn unmark(&mut self) {
        self.last = false;
        self.direct = false;
    }
}

impl Drop for ModelCall {
    /// A call the pool lets go of must have ended (the pool's `Promise` would fail it with a
    /// vague error: a lost call).
    fn drop(&mut self) {
        if !matches!(self.ledger.state(self.id), Fate::Ended(_)) {
            self.ledger
                .violation(format!("call {} dropped before it ended", self.id));
        }
    }
}

/// A frame in a worker's pipe: id, length, last-call mark.
type Frame = (u64, usize, bool);

/// A worker process and its reader thread.
struct Sim {
    key: Cell<u64>,
    ledger: Rc<Ledger>,
    /// Frames written and not read.
    pipe: RefCell<VecDeque<Frame>>,
    /// The call it runs (read from the pipe), and whether it is its last.
    running: Cell<Option<(u64, bool)>>,
    /// Replies written, not yet taken by the reader.
    replies: RefCell<Vec<u64>>,
    posted: Cell<usize>,
    exited: Cell<bool>,
    killed: Cell<bool>,
    closed: Cell<bool>,
    /// Its outbox was shut (a write failed).
    shut: Cell<bool>,
    /// The reader stopped reading (garbage): why.
    reader_bad: RefCell<Option<String>>,
    eof_seen: Cell<bool>,
    removed: Cell<bool>,
    max_tasks: Option<usize>,
}

type SimRef = Rc<Sim>;

impl Channel<ModelCall> for SimRef {
    fn post(&self, call: &ModelCall) -> bool {
        if self.eof_seen.get() || self.removed.get() || self.killed.get() || self.closed.get() {
            self.ledger.violation(format!(
                "call {} sent to worker {} (killed {}, closed {}, end of file {})",
                call.id,
                self.key.get(),
                self.killed.get(),
                self.closed.get(),
                self.eof_seen.get()
            ));
        }
        if self.shut.get() {
            return false;
        }
        self.posted.set(self.posted.get() + 1);
        if self.max_tasks.is_some_and(|max| self.posted.get() > max) {
            self.ledger.violation(format!(
                "worker {} sent {} calls, past max_tasks_per_child",
                self.key.get(),
                self.posted.get()
            ));
        }
        self.pipe
            .borrow_mut()
            .push_back((call.id, call.len, call.last));
        true
    }
}

impl Sim {
    fn exit(&self) {
        self.exited.set(true);
        self.running.set(None);
    }
}

/// One thing that happens. Indexes pick a call or a worker modulo how many there are.
#[derive(Debug, Clone)]
enum Event {
    Submit {
        len: usize,
        limit: Option<u64>,
    },
    Call {
        len: usize,
    },
    Cancel(usize),
    Stop(usize),
    /// The supervisor takes a start request: 0 started, 1 failed, 2 initializer failed, 3 no
    /// reader thread.
    Start(u8),
    /// The worker reads its next frame and starts it (or exits at end of file).
    Read(usize),
    /// The worker finishes its call and writes the reply.
    Finish(usize),
    /// The reader thread's next step: take replies, see end of file, or remove the worker.
    Reader(usize),
    Crash(usize),
    /// A write to the worker fails: its outbox is shut and it is killed.
    Refuse(usize),
    /// The reader reads a malformed frame after the replies.
    Garbage(usize),
    /// The worker's direct line is out of step.
    Malformed(usize),
    /// Time passes (ms) and the supervisor enforces time limits.
    Tick(u64),
    Shutdown {
        cancel: bool,
    },
    Terminate,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        40 => (1usize..8, prop::option::weighted(0.3, 1u64..30))
            .prop_map(|(len, limit)| Event::Submit { len, limit }),
        10 => (1usize..8).prop_map(|len| Event::Call { len }),
        8 => any::<usize>().prop_map(Event::Cancel),
        12 => any::<usize>().prop_map(Event::Stop),
        30 => prop_oneof![24 => Just(0u8), 4 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)]
            .prop_map(Event::Start),
        40 => any::<usize>().prop_map(Event::Read),
        40 => any::<usize>().prop_map(Event::Finish),
        40 => any::<usize>().prop_map(Event::Reader),
        8 => any::<usize>().prop_map(Event::Crash),
        3 => any::<usize>().prop_map(Event::Refuse),
        3 => any::<usize>().prop_map(Event::Garbage),
        3 => any::<usize>().prop_map(Event::Malformed),
        15 => (1u64..40).prop_map(Event::Tick),
        2 => any::<bool>().prop_map(|cancel| Event::Shutdown { cancel }),
        1 => Just(Event::Terminate),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        1usize..4,
        prop::option::of(1usize..4),
        prop::option::of(5u64..50),
        prop::option::of(1usize..4),
    )
        .prop_map(|(max_workers, max_tasks, timeout, window)| Limits {
            max_workers,
            max_tasks_per_child: max_tasks,
            task_timeout: timeout.map(Duration::from_millis),
            window,
        })
}

struct World {
    pool: Pool<ModelCall, SimRef>,
    ledger: Rc<Ledger>,
    /// Every worker ever added, in order.
    sims: Vec<SimRef>,
    /// Start requests the supervisor has not taken yet.
    spawns: usize,
    start: Instant,
    now: Instant,
    drained: usize,
}

impl World {
    fn new(limits: Limits) -> World {
        let start = Instant::now();
        World {
            pool: Pool::new(limits),
            ledger: Rc::new(Ledger::default()),
            sims: Vec::new(),
            spawns: 0,
            start,
            now: start,
            drained: 0,
        }
    }

    fn new_call(&self, len: usize, limit: Option<u64>) -> ModelCall {
        let id = self.ledger.calls.borrow().len() as u64;
        self.ledger.calls.borrow_mut().push(Fate::Pending);
        self.ledger.runs.borrow_mut().push(0);
        ModelCall {
            id,
            len,
            limit: limit.map(Duration::from_millis),
            last: false,
            direct: false,
            ledger: Rc::clone(&self.ledger),
        }
    }

    fn end(&self, call: ModelCall, how: End) {
        self.ledger.end(call.id, how);
    }

    /// Carries out a transition's effects as the pool's I/O side does.
    fn apply(&mut self, fx: Effects<ModelCall, SimRef>) {
        for (call, _) in fx.failed {
            self.end(call, End::Failed);
        }
        for call in fx.cancelled {
            // A pending future is cancelled; a running one (handed back by a dead worker) is
            // failed when its promise drops.
            let how = match self.ledger.state(call.id) {
                Fate::Pending => End::Cancelled,
                _ => End::Failed,
            };
            self.end(call, how);
        }
        for call in fx.dropped {
            if self.ledger.state(call.id) != Fate::Ended(End::Cancelled) {
                self.ledger
                    .violation(format!("call {} dropped but not cancelled", call.id));
                self.ledger.end(call.id, End::Failed);
            }
        }
        self.spawns += fx.spawn;
        for w in fx.close {
            w.closed.set(true);
        }
        for w in fx.kill {
            w.killed.set(true);
            w.exit();
        }
        if fx.drained {
            self.drained += 1;
        }
    }

    fn sim(&self, i: usize) -> Option<SimRef> {
        let live: Vec<&SimRef> = self.sims.iter().filter(|s| !s.removed.get()).collect();
        if live.is_empty() {
            return None;
        }
        Some(Rc::clone(live[i % live.len()]))
    }

    fn call_id(&self, i: usize) -> Option<u64> {
        let n = self.ledger.calls.borrow().len();
        (n > 0).then(|| (i % n) as u64)
    }

    fn step(&mut self, event: &Event) {
        let now = self.now;
        match *event {
            Event::Submit { len, limit } => {
                let call = self.new_call(len, limit);
                match self.pool.submit(call, now) {
                    Ok(fx) => self.apply(fx),
                    Err((call, _)) => self.end(call, End::Refused),
                }
            }
            Event::Call { len } => {
                let call = self.new_call(len, None);
                match self.pool.call_direct(call, now) {
                    Ok(direct) => self.apply(direct.effects),
                    Err((call, _)) => self.end(call, End::Refused),
                }
            }
            Event::Cancel(i) => {
                if let Some(id) = self.call_id(i) {
                    if self.ledger.state(id) == Fate::Pending {
                        self.ledger.end(id, End::Cancelled);
                    }
                }
            }
            Event::Stop(i) => {
                let Some(id) = self.call_id(i) else { return };
                if matches!(self.ledger.state(id), Fate::Ended(_)) {
                    return;
                }
                match self.pool.stop(|c| c.id == id) {
                    Stop::Queued => {
                        if self.ledger.state(id) == Fate::Pending {
                            self.ledger.end(id, End::Cancelled);
                        }
                    }
                    Stop::Running(fx) => self.apply(fx),
                    Stop::Waiting(call) => self.end(call, End::Failed),
                    Stop::Unknown => {}
                }
            }
            Event::Start(how) => {
                if self.spawns == 0 {
                    return;
                }
                self.spawns -= 1;
                if let MayStart::Refused(fx) = self.pool.may_start(now) {
                    self.apply(fx);
                    return;
                }
                let fx = match how {
                    0 | 3 => {
                        let sim = Rc::new(Sim {
                            key: Cell::new(0),
                            ledger: Rc::clone(&self.ledger),
                            pipe: RefCell::default(),
                            running: Cell::new(None),
                            replies: RefCell::default(),
                            posted: Cell::new(0),
                            exited: Cell::new(false),
                            killed: Cell::new(false),
                            closed: Cell::new(false),
                            shut: Cell::new(false),
                            reader_bad: RefCell::new(None),
                            eof_seen: Cell::new(false),
                            removed: Cell::new(false),
                            max_tasks: self.pool.limits.max_tasks_per_child,
                        });
                        let key = self.pool.add_worker(Rc::clone(&sim), now);
                        sim.key.set(key);
                        if how == 0 {
                            self.pool.reader_running();
                            self.sims.push(sim);
                        } else {
                            let io = self.pool.abandon(key).expect("just added");
                            io.removed.set(true);
                        }
                        self.pool.dispatch(now)
                    }
                    n => self.pool.start_failed(n == 2, "no start".into(), now),
                };
                self.apply(fx);
            }
            Event::Read(i) => {
                let Some(sim) = self.sim(i) else { return };
                if sim.exited.get() || sim.running.get().is_some() {
                    return;
                }
                let next = sim.pipe.borrow_mut().pop_front();
                match next {
                    Some((id, _, last)) => {
                        let runs = {
                            let mut runs = self.ledger.runs.borrow_mut();
                            runs[id as usize] += 1;
                            runs[id as usize]
                        };
                        if runs > 1 {
                            self.ledger.violation(format!("call {id} ran {runs} times"));
                        }
                        sim.running.set(Some((id, last)));
                    }
                    None if sim.closed.get() => sim.exit(),
                    None => {}
                }
            }
            Event::Finish(i) => {
                let Some(sim) = self.sim(i) else { return };
                if let Some((id, last)) = sim.running.take() {
                    sim.replies.borrow_mut().push(id);
                    if last {
                        sim.exit();
                    }
                }
            }
            Event::Reader(i) => {
                let Some(sim) = self.sim(i) else { return };
                self.reader(&sim, None);
            }
            Event::Garbage(i) => {
                let Some(sim) = self.sim(i) else { return };
                if sim.reader_bad.borrow().is_none() && !sim.eof_seen.get() {
                    self.reader(&sim, Some("garbage".into()));
                }
            }
            Event::Crash(i) => {
                if let Some(sim) = self.sim(i) {
                    sim.exit();
                }
            }
            Event::Refuse(i) => {
                if let Some(sim) = self.sim(i) {
                    // The outbox drops what it had not written and kills the worker.
                    sim.shut.set(true);
                    sim.pipe.borrow_mut().clear();
                    sim.exit();
                }
            }
            Event::Malformed(i) => {
                if let Some(sim) = self.sim(i) {
                    let fx = self.pool.malformed(sim.key.get(), "direct".into());
                    self.apply(fx);
                }
            }
            Event::Tick(ms) => {
                self.now += Duration::from_millis(ms);
                let _ = self.pool.next_deadline();
                let fx = self.pool.expire(self.now);
                self.apply(fx);
            }
            Event::Shutdown { cancel } => {
                let fx = self.pool.shutdown(cancel, now);
                self.apply(fx);
            }
            Event::Terminate => {
                let fx = self.pool.shutdown(true, now);
                self.apply(fx);
                let fx = self.pool.terminate();
                self.apply(fx);
            }
        }
    }

    /// The reader thread's next step (as `read_replies`, then `died`).
    fn reader(&mut self, sim: &SimRef, bad: Option<String>) {
        let now = self.now;
        let key = sim.key.get();
        let replies: Vec<(u64, ())> = if sim.reader_bad.borrow().is_some() {
            Vec::new()
        } else {
            sim.replies
                .borrow_mut()
                .drain(..)
                .map(|id| (id, ()))
                .collect()
        };
        if !replies.is_empty() || bad.is_some() {
            let Some(taken) = self.pool.take_replies(key, replies, bad, now) else {
                return;
            };
            for (call, ()) in taken.replies {
                self.end(call, End::Replied);
            }
            self.apply(taken.effects);
            if let Some(why) = taken.out_of_step {
                *sim.reader_bad.borrow_mut() = Some(why);
            }
        } else if sim.exited.get() && !sim.eof_seen.get() {
            self.pool.death_seen(key);
            sim.eof_seen.set(true);
        } else if sim.eof_seen.get() && !sim.removed.get() {
            let malformed = sim.reader_bad.borrow().clone();
            let unread = |s: &SimRef| s.pipe.borrow().iter().map(|f| f.1).sum();
            if let Some(death) = self.pool.remove(key, unread, malformed, now) {
                if let Some((call, _)) = death.front {
                    self.end(call, End::Failed);
                }
                self.apply(death.effects);
            }
            sim.removed.set(true);
        }
    }

    /// The rules that hold after every event.
    fn check(&self) -> std::result::Result<(), String> {
        if let Some(why) = self.ledger.broken.borrow().first() {
            return Err(why.clone());
        }
        let calls = self.ledger.calls.borrow();
        let mut seen = vec![0u32; calls.len()];
        for call in &self.pool.queue {
            seen[call.id as usize] += 1;
            if !matches!(
                calls[call.id as usize],
                Fate::Pending | Fate::Running | Fate::Ended(End::Cancelled)
            ) {
                return Err(format!("call {} queued after it ended", call.id));
            }
        }
        let max_window = self.pool.limits.window.unwrap_or(MAX_WINDOW);
        for w in &self.pool.workers {
            if w.in_flight.len() > max_window {
                return Err(format!(
                    "worker {} holds {} calls",
                    w.key,
                    w.in_flight.len()
                ));
            }
            let sim = self.sims.iter().find(|s| s.key.get() == w.key);
            let Some(sim) = sim else {
                return Err(format!("worker {} unknown", w.key));
            };
            if matches!(w.phase, Phase::Dead(_)) != sim.eof_seen.get() {
                return Err(format!("worker {} is {:?}", w.key, w.phase));
            }
            // The window mirrors the worker: replies written, the call it runs, the frames
            // it has not read, in that order (the front is the one running or replied).
            if !sim.exited.get() && sim.reader_bad.borrow().is_none() {
                let worker: Vec<u64> = sim
                    .replies
                    .borrow()
                    .iter()
                    .copied()
                    .chain(sim.running.get().map(|(id, _)| id))
                    .chain(sim.pipe.borrow().iter().map(|f| f.0))
                    .collect();
                let window: Vec<u64> = w.in_flight.iter().map(Slot::id).collect();
                if worker != window {
                    return Err(format!(
                        "worker {} holds {worker:?}, its window is {window:?}",
                        w.key
                    ));
                }
            }
            for slot in &w.in_flight {
                if let Slot::Sent(call) = slot {
                    seen[call.id as usize] += 1;
                    if matches!(calls[call.id as usize], Fate::Ended(_)) {
                        return Err(format!("call {} in a window after it ended", call.id));
                    }
                }
            }
        }
        for (id, state) in calls.iter().enumerate() {
            let live = !matches!(state, Fate::Ended(_));
            if live && seen[id] != 1 {
                return Err(format!("live call {id} held {} times", seen[id]));
            }
            if seen[id] > 1 {
                return Err(format!("call {id} held {} times", seen[id]));
            }
        }
        if self.pool.starting != self.spawns {
            return Err(format!(
                "starting {} but {} starts asked",
                self.pool.starting, self.spawns
            ));
        }
        let waiting = self.pool.queue.len();
        if waiting > 0
            && self.pool.broken.is_none()
            && self.pool.starting < waiting
            && self.pool.workers.len() + self.pool.starting < self.pool.limits.max_workers
        {
            return Err(format!(
                "{waiting} calls wait with {} workers and {} starting of {}",
                self.pool.workers.len(),
                self.pool.starting,
                self.pool.limits.max_workers
            ));
        }
        if self.drained > 1 {
            return Err("drained said twice".into());
        }
        Ok(())
    }

    /// Runs everything to quiescence with no fault: starts succeed, workers run and reply,
    /// readers read. False if it does not settle.
    fn settle(&mut self) -> std::result::Result<(), String> {
        for _ in 0..10_000 {
            let before = self.fingerprint();
            if self.spawns > 0 {
                self.step(&Event::Start(0));
            }
            let n = self.sims.len();
            for i in 0..n {
                let sim = Rc::clone(&self.sims[i]);
                if sim.removed.get() {
                    continue;
                }
                let live = self.sims.iter().filter(|s| !s.removed.get()).count();
                let at = self
                    .sims
                    .iter()
                    .filter(|s| !s.removed.get())
                    .position(|s| Rc::ptr_eq(s, &sim))
                    .expect("live");
                debug_assert!(at < live);
                for event in [Event::Finish(at), Event::Read(at), Event::Reader(at)] {
                    self.step(&event);
                }
                self.check()?;
            }
            if self.fingerprint() == before {
                return Ok(());
            }
        }
        Err("does not settle".into())
    }

    fn fingerprint(&self) -> (usize, usize, usize, usize, usize, usize) {
        let ended = self
            .ledger
            .calls
            .borrow()
            .iter()
            .filter(|c| matches!(c, Fate::Ended(_)))
            .count();
        let pipes = self.sims.iter().map(|s| s.pipe.borrow().len()).sum();
        let steps = self
            .sims
            .iter()
            .map(|s| {
                usize::from(s.exited.get())
                    + usize::from(s.eof_seen.get())
                    + usize::from(s.removed.get())
                    + usize::from(s.running.get().is_some())
                    + s.replies.borrow().len()
            })
            .sum();
        (
            ended,
            pipes,
            steps,
            self.spawns,
            self.sims.len(),
            self.pool.queue.len(),
        )
    }
}

/// Runs `events`, checks after each, then settles, shuts down and drains.
fn run(limits: Limits, events: &[Event]) -> std::result::Result<(), String> {
    let mut world = World::new(limits);
    for (n, event) in events.iter().enumerate() {
        world.step(event);
        world
            .check()
            .map_err(|why| format!("after event {n} {event:?}: {why}"))?;
    }
    world.settle().map_err(|why| format!("settling: {why}"))?;
    let calls = world.ledger.calls.borrow().clone();
    if let Some(id) = calls.iter().position(|c| !matches!(c, Fate::Ended(_))) {
        return Err(format!("call {id} never ended: {:?}", calls[id]));
    }
    let fx = world.pool.shutdown(false, world.now);
    world.apply(fx);
    world.settle().map_err(|why| format!("draining: {why}"))?;
    world.check()?;
    if world.drained != 1 || !world.pool.workers.is_empty() {
        return Err(format!(
            "not drained: {} workers left, {} starting, drained said {} times",
            world.pool.workers.len(),
            world.pool.starting,
            world.drained
        ));
    }
    let _ = world.start;
    Ok(())
}

/// Cases per run: 500, or `PROPTEST_CASES` (e.g. 100000 for a long run).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    })]

    /// The rules in the module docs, over random sequences of up to 150 events.
    #[test]
    fn random_event_sequences(limits in limits(), events in prop::collection::vec(event(), 0..150)) {
        if let Err(why) = run(limits.clone(), &events) {
            return Err(TestCaseError::fail(format!("{limits:?}: {why}")));
        }
    }
}

/// A call handed back by a dead worker runs again elsewhere; the one it ran fails.
#[test]
fn a_death_fails_the_running_call_and_hands_back_the_rest() {
    let limits = Limits {
        max_workers: 1,
        max_tasks_per_child: None,
        task_timeout: None,
        window: Some(3),
    };
    let mut world = World::new(limits);
    for len in [3, 4, 5] {
        world.step(&Event::Submit { len, limit: None });
    }
    world.step(&Event::Start(0));
    let sim = Rc::clone(&world.sims[0]);
    assert_eq!(sim.pipe.borrow().len(), 3, "one worker, window 3");
    world.step(&Event::Read(0)); // call 0 runs
    world.step(&Event::Crash(0));
    world.step(&Event::Reader(0)); // end of file
    world.step(&Event::Reader(0)); // removed
    world.check().unwrap();
    assert_eq!(world.ledger.state(0), Fate::Ended(End::Failed));
    assert_eq!(
        world.pool.queue.len(),
        2,
        "calls 1 and 2 go back to the queue"
    );
    assert_eq!(world.spawns, 1, "and a replacement is asked for");
    world.settle().unwrap();
    assert_eq!(world.ledger.state(1), Fate::Ended(End::Replied));
    assert_eq!(world.ledger.state(2), Fate::Ended(End::Replied));
}

/// A time limit kills the worker; the call it was aimed at fails, and the worker takes no
/// new call meanwhile.
#[test]
fn a_timeout_ends_its_call_and_the_killed_worker_takes_no_more() {
    let limits = Limits {
        max_workers: 1,
        max_tasks_per_child: None,
        task_timeout: Some(Duration::from_millis(10)),
        window: Some(1),
    };
    let mut world = World::new(limits);
    world.step(&Event::Submit {
        len: 2,
        limit: None,
    });
    world.step(&Event::Start(0));
    world.step(&Event::Read(0));
    world.step(&Event::Tick(11));
    assert!(world.sims[0].killed.get());
    world.step(&Event::Submit {
        len: 2,
        limit: None,
    });
    assert_eq!(
        world.sims[0].posted.get(),
        1,
        "nothing sent to a killed worker"
    );
    world.step(&Event::Reader(0));
    let (verdict, dead) = match &world.pool.workers[0].phase {
        Phase::Dead(kill) => (kill.verdict, true),
        other => panic!("{other:?}"),
    };
    assert!(dead);
    assert_eq!(
        verdict.map(|v| v.why),
        Some(Why::Timeout(Duration::from_millis(10)))
    );
    world.settle().unwrap();
    world.check().unwrap();
    assert_eq!(world.ledger.state(0), Fate::Ended(End::Failed));
    assert_eq!(world.ledger.state(1), Fate::Ended(End::Replied));
}

/// The race no real test can stage: a call written to a worker in the instant between its
/// death and its reader seeing end of file. Its frame lies unread in the pipe, so it goes back
/// to the queue and a replacement runs it.
#[test]
fn a_call_sent_to_a_worker_that_just_died_goes_back_to_the_queue() {
    let limits = Limits {
        max_workers: 1,
        max_tasks_per_child: None,
        task_timeout: None,
        window: None,
    };
    let mut world = World::new(limits);
    world.step(&Event::Submit {
        len: 3,
        limit: None,
    });
    world.step(&Event::Start(0));
    world.settle().unwrap();
    assert_eq!(world.ledger.state(0), Fate::Ended(End::Replied));
    world.step(&Event::Crash(0)); // idle, and dead: the pool does not know yet
    world.step(&Event::Submit {
        len: 5,
        limit: None,
    });
    assert_eq!(
        world.sims[0].pipe.borrow().len(),
        1,
        "sent to the dead worker"
    );
    world.step(&Event::Reader(0)); // end of file
    world.step(&Event::Reader(0)); // removed: its one frame is unread
    world.check().unwrap();
    assert_eq!(world.ledger.state(1), Fate::Running, "not failed");
    assert_eq!(world.pool.queue.len(), 1);
    assert_eq!(world.spawns, 1);
    world.settle().unwrap();
    assert_eq!(world.ledger.state(1), Fate::Ended(End::Replied));
    assert_eq!(world.ledger.runs.borrow()[1], 1);
}
