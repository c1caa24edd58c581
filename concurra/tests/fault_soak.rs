//! The fault soak: every engine under injected faults, with a table of what came back.
//!
//! Runs as its own test target (`harness = false`), short by default (CI: seconds), longer
//! with `CONCURRA_SOAK=long` or `CONCURRA_SOAK=<multiplier>`: `cargo test --test fault_soak`.
//! For each engine and fault it counts the futures that succeeded, failed (by kind), were *lost* (completed as
//! abandoned: the work vanished) or *hung* (not done within a generous deadline), and the
//! processes, descriptors and threads left behind once the engine is dropped. Lost, hung and
//! leaked must be 0; the run fails otherwise. Memory: many calls through each pool with the
//! resident size sampled every 10%; growth from 20% to 100% must stay within 256 KiB.
//!
//! Faults: `kill -9` of random workers during a stream of calls, 1% panicking tasks, callbacks
//! and initializers, endless calls under `task_timeout`, `shutdown(cancel_futures)` and
//! `terminate` during 4-thread submit storms, values that fail to encode or decode in either
//! direction, and a worker that runs out of memory under an `RLIMIT_AS` its initializer set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use concurra::aio;
use concurra::pool::{Callbacks, ProcessPool, ThreadPool};
use concurra::{
    Apply, Error, Executor, Fallible, Future, Process, ProcessPoolExecutor, Thread,
    ThreadPoolExecutor,
};
use serde::{Deserialize, Serialize};

concurra::worker_hook!();

/// How long any one future may take before it counts as hung.
const HUNG: Duration = Duration::from_secs(60);

/// The run's size: `CONCURRA_SOAK=long` multiplies the work by 20 (5M calls through each
/// pool for the memory rows), `CONCURRA_SOAK=<n>` by `n`.
fn scale() -> usize {
    match std::env::var("CONCURRA_SOAK").as_deref() {
        Ok("long") => 20,
        Ok(n) => n.parse().unwrap_or(1).max(1),
        Err(_) => 1,
    }
}

// ---------- the work the faults are made of ----------

/// 1% of the calls panic.
fn maybe_panic(x: u64) -> u64 {
    assert!(x % 100 != 42, "injected panic at {x}");
    x
}

fn add_one(x: u64) -> u64 {
    x + 1
}

fn endless(_: u64) -> u64 {
    loop {
        std::hint::spin_loop();
    }
}

fn parse(text: String) -> Result<u64, std::num::ParseIntError> {
    text.parse()
}

/// Allocates without bound (under the worker's `RLIMIT_AS`, the allocation fails and the
/// worker aborts).
fn hog(_: u64) -> u64 {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(vec![1u8; 64 << 20]);
        std::hint::black_box(&kept);
    }
}

/// The worker initializer of the memory fault: at most 512 MiB of address space.
fn limit_memory() {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let limit = Rlimit {
        current: Some(512 << 20),
        maximum: Some(512 << 20),
    };
    setrlimit(Resource::As, limit).expect("setrlimit");
}

fn panicking_initializer() {
    panic!("injected initializer panic");
}

/// A value that cannot be encoded.
#[derive(Debug, Deserialize)]
struct Unencodable(u64);

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("injected encode failure"))
    }
}

/// A value that encodes but cannot be decoded.
#[derive(Debug, Serialize)]
struct Undecodable(u64);

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u64::deserialize(d)?;
        Err(serde::de::Error::custom("injected decode failure"))
    }
}

fn returns_unencodable(x: u64) -> Unencodable {
    Unencodable(x)
}

fn returns_undecodable(x: u64) -> Undecodable {
    Undecodable(x)
}

fn takes_undecodable(x: Undecodable) -> u64 {
    x.0
}

fn takes_unencodable(x: Unencodable) -> u64 {
    x.0
}

// ---------- counting ----------

/// One row of the table.
#[derive(Default)]
struct Row {
    engine: &'static str,
    fault: &'static str,
    tasks: usize,
    faults: usize,
    ok: usize,
    failed: BTreeMap<&'static str, usize>,
    lost: usize,
    hung: usize,
    leaked: Leaks,
    rss_growth_kib: Option<i64>,
}

#[derive(Default, Clone, Copy)]
struct Leaks {
    processes: isize,
    descriptors: isize,
    threads: isize,
}

impl Row {
    fn new(engine: &'static str, fault: &'static str) -> Self {
        Row {
            engine,
            fault,
            ..Row::default()
        }
    }

    /// Counts `futures`' outcomes, each waited for at most [`HUNG`].
    fn tally<T>(&mut self, futures: impl IntoIterator<Item = Future<T>>) {
        for f in futures {
            self.tasks += 1;
            if !f.wait_timeout(HUNG) {
                self.hung += 1;
                continue;
            }
            match f.try_error().expect("done") {
                Ok(()) => self.ok += 1,
                Err(e) => self.count_error(e),
            }
        }
    }

    fn count_error(&mut self, e: &Error) {
        if e.is_abandoned() {
            self.lost += 1;
        } else {
            *self.failed.entry(kind(e)).or_default() += 1;
        }
    }

    fn count<T>(&mut self, outcome: &concurra::Result<T>) {
        self.tasks += 1;
        match outcome {
            Ok(_) => self.ok += 1,
            Err(e) => self.count_error(e),
        }
    }

    fn failed(&self, kind: &str) -> usize {
        self.failed.get(kind).copied().unwrap_or(0)
    }
}

fn kind(e: &Error) -> &'static str {
    if e.is_panic() {
        "panic"
    } else if e.is_failed() {
        "err"
    } else if e.is_worker_died() {
        "died"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_terminated() {
        "terminated"
    } else if e.is_cancelled() {
        "cancelled"
    } else if e.is_shutdown() {
        "shutdown"
    } else if e.is_broken_pool() {
        "broken"
    } else if e.is_encode() {
        "encode"
    } else if e.is_decode() {
        "decode"
    } else if e.is_invalid_state() {
        "refused"
    } else {
        "other"
    }
}

// ---------- resources ----------

#[derive(Clone, Copy)]
struct Snapshot {
    processes: usize,
    descriptors: usize,
    threads: usize,
}

fn snapshot() -> Snapshot {
    Snapshot {
        processes: workers_of_this_process().len(),
        descriptors: std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count),
        threads: threads(),
    }
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Processes below this one at depth 2 or more: workers forked by the fork server (itself a
/// child that lives as long as this process), and their own children.
fn workers_of_this_process() -> Vec<u32> {
    let me = std::process::id();
    let mut parent = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The fields after the command's closing parenthesis: state, ppid, ...
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let state = after.split_whitespace().next().unwrap_or("");
            let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            if let (Some(ppid), false) = (ppid, state == "Z") {
                parent.insert(pid, ppid);
            }
        }
    }
    parent
        .keys()
        .copied()
        .filter(|&pid| {
            let mut depth = 0;
            let mut at = pid;
            while let Some(&up) = parent.get(&at) {
                depth += 1;
                if up == me {
                    return depth >= 2;
                }
                at = up;
            }
            false
        })
        .collect()
}

/// What an engine left behind: the snapshot after, minus the one before. A worker that
/// was killed and replaced, or a thread ending, may take a moment to go: the count is
/// re-read until it settles or a deadline passes.
fn leaked(before: Snapshot) -> Leaks {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = snapshot();
        let leaks = Leaks {
            processes: after.processes as isize - before.processes as isize,
            descriptors: after.descriptors as isize - before.descriptors as isize,
            threads: after.threads as isize - before.threads as isize,
        };
        let clean = leaks.processes <= 0 && leaks.descriptors <= 0 && leaks.threads <= 0;
        if clean || Instant::now() >= deadline {
            return leaks;
        }
        std::thread::yield_now();
    }
}

fn rss_kib() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Runs `scenario` between two snapshots and records what it leaked.
fn measured(rows: &mut Vec<Row>, scenario: impl FnOnce() -> Row) {
    let before = snapshot();
    let mut row = scenario();
    row.leaked = leaked(before);
    rows.push(row);
}

// ---------- the scenarios ----------

fn thread_pool_panics(n: usize) -> Row {
    let mut row = Row::new("ThreadPoolExecutor", "1% panicking tasks and callbacks");
    let exe = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);
    let calls = Arc::new(calls);
    let futures: Vec<_> = (0..n as u64)
        .map(|i| {
            let f = exe.submit(move || maybe_panic(i));
            let calls = Arc::clone(&calls);
            f.add_done_callback(move |_| {
                calls.fetch_add(1, Ordering::Relaxed);
                assert!(i % 100 != 7, "injected callback panic at {i}");
            });
            f
        })
        .collect();
    row.faults = 2 * n.div_ceil(100);
    row.tally(futures);
    drop(exe);
    assert_eq!(calls.load(Ordering::Relaxed), n, "every callback ran");
    row
}

fn thread_pool_broken_initializer() -> Row {
    let mut row = Row::new("ThreadPoolExecutor", "panicking initializer");
    let exe = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("injected initializer panic"))
        .build()
        .unwrap();
    row.faults = 1;
    row.tally((0..100u64).map(|i| exe.submit(move || i)));
    row
}

/// 4 threads submit while the main thread shuts the executor down (`cancel`) or terminates
/// it: every future completes, each as done, cancelled or refused.
fn storm<E, F, G>(row: &mut Row, exe: E, per_thread: usize, submit: F, stop: G)
where
    E: Sync,
    F: Fn(&E, u64) -> Future<u64> + Sync,
    G: FnOnce(&E),
{
    let submitted = AtomicUsize::new(0);
    let go = Barrier::new(5);
    let all: Mutex<Vec<Future<u64>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (exe, submit, go, submitted, all) = (&exe, &submit, &go, &submitted, &all);
            s.spawn(move || {
                go.wait();
                let mut mine = Vec::with_capacity(per_thread);
                for i in 0..per_thread as u64 {
                    mine.push(submit(exe, t * 1_000_000 + i));
                    submitted.fetch_add(1, Ordering::Relaxed);
                }
                all.lock().unwrap().extend(mine);
            });
        }
        go.wait();
        // Stop once a quarter of the calls are in: mid-storm, with no sleep.
        while submitted.load(Ordering::Relaxed) < per_thread {
            std::thread::yield_now();
        }
        stop(&exe);
    });
    row.faults = 1;
    row.tally(all.into_inner().unwrap());
    drop(exe);
}

fn thread_pool_cancel_storm(n: usize) -> Row {
    let mut cancel = Row::new("ThreadPoolExecutor", "shutdown(cancel_futures) in a storm");
    let exe = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    storm(
        &mut cancel,
        exe,
        n / 4,
        |e, i| e.submit(move || i),
        |e| e.shutdown(false, true),
    );
    cancel
}

fn thread_pool_terminate_storm(n: usize) -> Row {
    let mut terminate = Row::new("ThreadPool", "terminate() in a storm");
    let pool = ThreadPool::builder().processes(2).build().unwrap();
    storm(
        &mut terminate,
        pool,
        n / 4,
        |p, i| p.apply_async(move || i).future(),
        ThreadPool::terminate,
    );
    terminate
}

fn process_pool_kills(n: usize, kills: usize) -> Row {
    let mut row = Row::new("ProcessPoolExecutor", "kill -9 of random workers");
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    // Kill attempts at twice the rate wanted (a moment with no worker up finds none to kill),
    // until `kills` landed.
    let every = (n / (2 * kills)).max(1);
    let mut futures = Vec::with_capacity(n);
    let mut killed = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    // Calls go on past `n` until every kill landed.
    let mut i = 0u64;
    while (i as usize) < n || killed < kills {
        futures.push(exe.submit(Apply(add_one, i)));
        if killed < kills && i as usize % every == every - 1 {
            let pids = exe.worker_pids();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if let Some(&pid) = pids.get(seed as usize % pids.len().max(1)) {
                let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
                if rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok() {
                    killed += 1;
                }
            }
        }
        i += 1;
    }
    row.faults = killed;
    assert!(killed >= kills, "only {killed} of {kills} kills landed");
    row.tally(futures);
    // A killed worker fails only the call it ran: never more calls than kills.
    assert!(
        row.failed("died") <= killed,
        "{} died for {killed} kills",
        row.failed("died")
    );
    row
}

fn process_pool_panics(n: usize) -> Row {
    let mut panics = Row::new("ProcessPoolExecutor", "1% panicking tasks");
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    panics.faults = n.div_ceil(100);
    panics.tally((0..n as u64).map(|i| exe.submit(Apply(maybe_panic, i))));
    drop(exe);
    panics
}

/// `n` calls on a fresh 2-worker pool made by `builder`, every `every`-th one `faulty` (a `fn`
/// item), the others `add_one`; each faulty call must fail as `kind`, and no other call.
fn one_fault_in<F>(
    row: &mut Row,
    builder: concurra::process::PoolBuilder,
    n: u64,
    every: u64,
    faulty: F,
    kind: &str,
) where
    F: Fn(u64) -> u64 + Copy + Send + 'static,
{
    let exe = builder.max_workers(2).build().unwrap();
    let mut futures = Vec::new();
    for i in 0..n {
        if i % every == 0 {
            futures.push(exe.submit(Apply(faulty, i)));
            row.faults += 1;
        } else {
            futures.push(exe.submit(Apply(add_one, i)));
        }
    }
    row.tally(futures);
    assert_eq!(row.failed(kind), row.faults, "{}", row.fault);
    assert_eq!(row.ok, row.tasks - row.faults, "{}", row.fault);
}

fn process_pool_endless() -> Row {
    let mut row = Row::new("ProcessPoolExecutor", "endless calls under task_timeout");
    let builder = ProcessPoolExecutor::builder().task_timeout(Duration::from_millis(200));
    one_fault_in(&mut row, builder, 200, 50, endless, "timeout");
    row
}

fn process_pool_values() -> Row {
    let mut values = Row::new("ProcessPoolExecutor", "values that fail to encode/decode");
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let mut futures: Vec<Future<u64>> = Vec::new();
    for i in 0..400u64 {
        match i % 8 {
            0 => futures.push(exe.submit(Apply(takes_unencodable, Unencodable(i)))),
            1 => futures.push(exe.submit(Apply(takes_undecodable, Undecodable(i)))),
            2 => {
                let r = exe.call(Apply(returns_unencodable, i));
                values.count(&r);
                values.faults += 1;
                continue;
            }
            3 => {
                let r = exe.call(Apply(returns_undecodable, i));
                values.count(&r);
                values.faults += 1;
                continue;
            }
            4 => futures.push(exe.submit(Fallible(Apply(parse, format!("x{i}"))))),
            _ => futures.push(exe.submit(Apply(add_one, i))),
        }
        if i % 8 <= 4 {
            values.faults += 1;
        }
    }
    values.tally(futures);
    assert_eq!(
        values.failed("encode") + values.failed("decode") + values.failed("err"),
        values.faults
    );
    drop(exe);
    values
}

fn process_pool_memory() -> Row {
    let mut row = Row::new("ProcessPoolExecutor", "a worker out of memory (RLIMIT_AS)");
    let builder = ProcessPoolExecutor::builder().initializer(limit_memory);
    one_fault_in(&mut row, builder, 40, 10, hog, "died");
    row
}

fn process_pool_initializer() -> Row {
    let mut init = Row::new("ProcessPoolExecutor", "panicking initializer");
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(panicking_initializer)
        .build()
        .unwrap();
    init.faults = 1;
    init.tally((0..50u64).map(|i| exe.submit(Apply(add_one, i))));
    assert_eq!(init.failed("broken"), 50);
    drop(exe);
    init
}

fn process_pool_terminate_storm(n: usize) -> Row {
    let mut storm_row = Row::new("ProcessPoolExecutor", "terminate_workers in a storm");
    let exe = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    storm(
        &mut storm_row,
        exe,
        n / 4,
        |e, i| e.submit(Apply(add_one, i)),
        Executor::terminate_workers,
    );
    storm_row
}

fn process_pool_facade(n: usize) -> Row {
    let mut pool_row = Row::new("ProcessPool", "1% panicking tasks and callbacks, kills");
    let pool = ProcessPool::builder().processes(2).build().unwrap();
    let results: Vec<_> = (0..n as u64)
        .map(|i| {
            let callbacks = Callbacks::new().on_success(move |_: &u64| {
                assert!(i % 100 != 9, "injected callback panic at {i}");
            });
            let r = pool.apply_async_with(Apply(maybe_panic, i), callbacks);
            if i as usize % (n / 10).max(1) == 0 {
                // A worker of this pool (the only pool with workers now).
                if let Some(&pid) = workers_of_this_process().first() {
                    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
                    if rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok() {
                        pool_row.faults += 1;
                    }
                }
            }
            r
        })
        .collect();
    pool_row.faults += 2 * n.div_ceil(100);
    pool_row.tally(results.into_iter().map(|r| r.future()));
    drop(pool);
    pool_row
}

fn thread_targets(n: usize) -> Row {
    let mut threads = Row::new("Thread", "1% panicking targets");
    // At most 200 threads alive at once (a long run would otherwise start tens of thousands,
    // past the kernel's map count).
    let ids: Vec<u64> = (0..n as u64).collect();
    for batch in ids.chunks(200) {
        let started: Vec<_> = batch
            .iter()
            .map(|&i| Thread::start(move || maybe_panic(i)).unwrap())
            .collect();
        for t in started {
            let outcome = t.join_value();
            threads.count(&outcome);
        }
    }
    threads.faults = n.div_ceil(100);
    threads
}

fn process_targets(n: usize) -> Row {
    let mut processes = Row::new("Process", "panics, Err and kill -9");
    for i in 0..(n / 10).max(10) as u64 {
        match i % 4 {
            0 => {
                let p = Process::start(Apply(maybe_panic, 42)).unwrap();
                processes.faults += 1;
                processes.count(&p.join_value());
            }
            1 => {
                let p = Process::start(Fallible(Apply(parse, "x".to_string()))).unwrap();
                processes.faults += 1;
                processes.count(&p.join_value());
            }
            2 => {
                let p = Process::start(Apply(endless, i)).unwrap();
                p.kill().unwrap();
                processes.faults += 1;
                processes.count(&p.join_value());
            }
            _ => {
                let p = Process::start(Apply(add_one, i)).unwrap();
                processes.count(&p.join_value());
            }
        }
    }
    processes
}

fn event_loop(n: usize) -> Row {
    let mut row = Row::new("aio", "1% panicking and failing tasks");
    let outcomes = aio::run(async move {
        let tasks: Vec<_> = (0..n as u64)
            .map(|i| {
                aio::create_task(Fallible(async move {
                    aio::yield_now().await;
                    if i % 100 == 13 {
                        return Err(format!("injected Err at {i}"));
                    }
                    Ok(maybe_panic(i))
                }))
            })
            .collect();
        aio::gather_all(tasks).await
    });
    row.faults = 2 * n.div_ceil(100);
    for outcome in &outcomes {
        row.count(outcome);
    }
    row
}

/// `n` calls through a pool, in batches of 1,000 submitted then waited, each counted, with
/// the resident size sampled every 10%; the growth from the 20% sample to the last.
fn memory_over_time(name: &'static str, n: usize, submit: impl Fn(u64) -> Future<u64>) -> Row {
    const BATCH: usize = 1000;
    let mut row = Row::new(name, "memory over time");
    let batches = (n / BATCH).max(10);
    let step = batches / 10;
    let mut samples = Vec::new();
    for b in 0..batches {
        let first = (b * BATCH) as u64;
        row.tally(
            (first..first + BATCH as u64)
                .map(&submit)
                .collect::<Vec<_>>(),
        );
        if (b + 1) % step == 0 {
            samples.push(rss_kib());
        }
    }
    row.rss_growth_kib = Some(samples[samples.len() - 1] - samples[1]);
    row
}

fn memory_rows(n: usize) -> Vec<Row> {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let thread_row = memory_over_time("ThreadPoolExecutor", n, |i| pool.submit(move || i + 1));
    drop(pool);
    let processes = ProcessPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let process_row = memory_over_time("ProcessPoolExecutor", n, |i| {
        processes.submit(Apply(add_one, i))
    });
    drop(processes);
    vec![thread_row, process_row]
}

fn print(rows: &[Row], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nfault soak ({}, {:.1} s)\n{:<20} {:<40} {:>7} {:>6} {:>7} {:<40} {:>4} {:>4} {:>14} {:>9}",
        if scale() > 1 { "long" } else { "CI length" },
        took.as_secs_f64(),
        "engine",
        "fault",
        "tasks",
        "faults",
        "ok",
        "failed by kind",
        "lost",
        "hung",
        "leaked p/fd/th",
        "RSS KiB"
    );
    for r in rows {
        let failed = r
            .failed
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "{:<20} {:<40} {:>7} {:>6} {:>7} {:<40} {:>4} {:>4} {:>14} {:>9}",
            r.engine,
            r.fault,
            r.tasks,
            r.faults,
            r.ok,
            if failed.is_empty() {
                "-".into()
            } else {
                failed
            },
            r.lost,
            r.hung,
            format!(
                "{}/{}/{}",
                r.leaked.processes, r.leaked.descriptors, r.leaked.threads
            ),
            r.rss_growth_kib
                .map_or_else(|| "-".to_string(), |g| format!("{g:+}"))
        );
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test -- --list` asks every target for its tests.
        println!("fault_soak: test");
        return;
    }
    let started = Instant::now();
    let s = scale();
    // Warm up: the fork server and the engines' process-wide threads start once, so what a
    // scenario leaves behind is measured against a steady baseline.
    {
        let warm = ProcessPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        warm.call(Apply(add_one, 1)).unwrap();
        let _ = Process::start(Apply(add_one, 1)).unwrap().join_value();
        let _ = ThreadPool::new().apply(|| 1);
        let _ = aio::run(async { 1 });
    }
    let mut rows = Vec::new();
    measured(&mut rows, || thread_pool_panics(20_000 * s));
    measured(&mut rows, thread_pool_broken_initializer);
    measured(&mut rows, || thread_pool_cancel_storm(20_000 * s));
    measured(&mut rows, || thread_pool_terminate_storm(20_000 * s));
    measured(&mut rows, || process_pool_kills(10_000 * s, 50 * s));
    measured(&mut rows, || process_pool_panics(4_000 * s));
    measured(&mut rows, process_pool_endless);
    measured(&mut rows, process_pool_values);
    measured(&mut rows, process_pool_memory);
    measured(&mut rows, process_pool_initializer);
    measured(&mut rows, || process_pool_terminate_storm(4_000 * s));
    measured(&mut rows, || process_pool_facade(4_000 * s));
    measured(&mut rows, || thread_targets(200 * s));
    measured(&mut rows, || process_targets(200 * s));
    measured(&mut rows, || event_loop(20_000 * s));
    let calls = if s > 1 { 5_000_000 } else { 500_000 };
    for row in memory_rows(calls) {
        rows.push(row);
    }
    let table = print(&rows, started.elapsed());
    println!("{table}");
    let mut bad = Vec::new();
    for r in &rows {
        if r.lost > 0 || r.hung > 0 {
            bad.push(format!(
                "{} / {}: lost {}, hung {}",
                r.engine, r.fault, r.lost, r.hung
            ));
        }
        if r.leaked.processes > 0 || r.leaked.descriptors > 0 || r.leaked.threads > 0 {
            bad.push(format!(
                "{} / {}: leaked {} processes, {} descriptors, {} threads",
                r.engine, r.fault, r.leaked.processes, r.leaked.descriptors, r.leaked.threads
            ));
        }
        if r.rss_growth_kib.is_some_and(|g| g > 256) {
            bad.push(format!(
                "{} / {}: RSS grew {} KiB",
                r.engine,
                r.fault,
                r.rss_growth_kib.unwrap()
            ));
        }
    }
    if !bad.is_empty() {
        eprintln!("fault soak FAILED:\n{}", bad.join("\n"));
        std::process::exit(1);
    }
}
