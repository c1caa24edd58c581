//! Faults with real worker nodes (this test binary in worker mode) and a real `redis-server`:
//! exactly-once under load, kill -9 of a node with and without retries, a node stalled past
//! its lease, and a soak killing random nodes (`CONCURRA_REDIS_SOAK_SECS`, default 5).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use concurra::Apply;

mod common;
use common::tasks::*;
use common::{executor, Node, Redis};

concurra_redis::worker_hook!();

const LEASE: Duration = Duration::from_millis(1000);

#[test]
fn four_workers_run_ten_thousand_calls_each_exactly_once() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("once");
    let _nodes: Vec<Node> = (0..4).map(|_| Node::start_prefetch(&url, 2, 16)).collect();
    let exe = executor(&url).build().unwrap();
    let n = 40_000u64;
    let values: Vec<u64> = exe.map(count_run, 0..n).map(Result::unwrap).collect();
    assert_eq!(values, (0..n).collect::<Vec<_>>());
    let mut con = redis.con();
    let runs: HashMap<u64, i64> = redis::cmd("HGETALL").arg("runs").query(&mut con).unwrap();
    assert_eq!(runs.len() as u64, n);
    assert!(runs.values().all(|&r| r == 1), "a call ran more than once");
}

/// 4 nodes of 2 processes hold 8 gated calls; one node is killed; its calls fail (retries
/// 0) or run elsewhere (retries 1); the others succeed.
fn kill_one_node(retries: u32) {
    let Some(redis) = Redis::start() else { return };
    let ns = format!("kill{retries}");
    let url = redis.url(&ns);
    let mut nodes: Vec<Node> = (0..4).map(|_| Node::start(&url, 2)).collect();
    let exe = executor(&url)
        .lease(LEASE)
        .retries(retries)
        .build()
        .unwrap();
    let _gates = redis.gates(&ns);
    let mut con = redis.con();
    let fs: Vec<_> = (0..8)
        .map(|_| exe.submit(Apply(held, ns.clone())))
        .collect();
    let started = await_started(&mut con, &ns, 8);
    let victim = nodes[0].pid();
    let on_victim = started.iter().filter(|&&p| p == victim).count();
    assert!(on_victim > 0, "the victim runs no call: {started:?}");
    nodes[0].kill9();
    let killed_at = Instant::now();
    if retries == 0 {
        // Exactly the victim's calls fail, each within lease + 1 s.
        let deadline = killed_at + LEASE + Duration::from_secs(1);
        let mut died = 0;
        for f in &fs {
            if f.wait_timeout(deadline.saturating_duration_since(Instant::now())) {
                let e = f.result().unwrap_err();
                assert!(e.is_worker_died() && e.is_worker_lost(), "{e:?}");
                died += 1;
            }
        }
        assert_eq!(
            died, on_victim,
            "not all of the dead node's calls failed in lease + 1 s"
        );
        release(&mut con, &ns, 8 - on_victim);
        for f in fs.iter().filter(|f| !f.done() || f.result().is_ok()) {
            let pid = f.result_timeout(Duration::from_secs(20)).unwrap();
            assert_ne!(pid, victim);
        }
    } else {
        // They run again elsewhere, once the survivors' calls free their slots: every call
        // succeeds.
        release(&mut con, &ns, 8 - on_victim);
        let again = await_started(&mut con, &ns, on_victim);
        assert!(again.iter().all(|&p| p != victim));
        release(&mut con, &ns, on_victim);
        for f in &fs {
            assert_ne!(f.result_timeout(Duration::from_secs(20)).unwrap(), victim);
        }
    }
    // Nothing is left pending.
    assert_eq!(exe.pending(), 0);
}

#[test]
fn kill_9_of_a_node_fails_exactly_its_calls_with_worker_died() {
    kill_one_node(0);
}

#[test]
fn kill_9_of_a_node_with_a_retry_runs_its_calls_elsewhere() {
    kill_one_node(1);
}

/// A node stopped past its lease: its call is taken over; the Future completes once, with
/// the first answer; the stalled node's late answer is dropped.
fn stall(retries: u32) {
    let Some(redis) = Redis::start() else { return };
    let ns = format!("stall{retries}");
    let url = redis.url(&ns);
    let a = Node::start(&url, 1);
    let exe = executor(&url)
        .lease(LEASE)
        .retries(retries)
        .build()
        .unwrap();
    let _gates = redis.gates(&ns);
    let mut con = redis.con();
    let f = exe.submit(Apply(held, ns.clone()));
    assert_eq!(await_started(&mut con, &ns, 1), [a.pid()]);
    let b = Node::start(&url, 1);
    let (tx, rx) = std::sync::mpsc::channel();
    f.add_done_callback(move |f| {
        let _ = tx.send(f.result().map_err(|e| e.is_worker_lost()));
    });
    a.signal(libc::SIGSTOP);
    if retries == 0 {
        let first = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(first, Err(true));
        a.signal(libc::SIGCONT);
        release(&mut con, &ns, 1);
    } else {
        // Both runs wait at the gate (the stopped node's local process is not stopped): open
        // it for both; only the live node can answer first.
        assert_eq!(await_started(&mut con, &ns, 1), [b.pid()]);
        release(&mut con, &ns, 2);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)).unwrap(),
            Ok(b.pid())
        );
        a.signal(libc::SIGCONT);
    }
    // The stalled node comes back and answers its run late: not the Future's answer. Once a
    // later call ran on it, its late answer was handled (one answer thread, in order).
    let runs = if retries == 0 { 1 } else { 2 };
    for _ in 0..runs {
        let finished: Option<(String, u32)> = redis::cmd("BLPOP")
            .arg(format!("finished:{ns}"))
            .arg(20)
            .query(&mut con)
            .unwrap();
        assert!(finished.is_some());
    }
    let mut on_a = false;
    for _ in 0..1000 {
        if exe.call(Apply(node_of, ())).unwrap() == a.pid() {
            on_a = true;
            break;
        }
    }
    assert!(on_a, "the stalled node never served again");
    assert!(rx.try_recv().is_err(), "the future completed twice");
    if retries == 0 {
        assert!(f.result().unwrap_err().is_worker_lost());
    } else {
        assert_eq!(f.result().unwrap(), b.pid());
    }
    assert_eq!(exe.pending(), 0);
}

#[test]
fn a_node_stopped_past_its_lease_loses_its_call_and_the_future_completes_once() {
    stall(0);
}

#[test]
fn a_node_stopped_past_its_lease_with_a_retry_gives_the_first_answer() {
    stall(1);
}

#[test]
fn soak_killing_random_nodes_loses_and_hangs_nothing() {
    let Some(redis) = Redis::start() else { return };
    let secs: u64 = std::env::var("CONCURRA_REDIS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let url = redis.url("soak");
    let lease = Duration::from_millis(500);
    let mut nodes: Vec<Node> = (0..4).map(|_| Node::start_prefetch(&url, 1, 1)).collect();
    let exe = executor(&url).lease(lease).build().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut futures = Vec::new();
    let mut kills = 0;
    let mut x = 0u64;
    let mut next_kill = Instant::now() + Duration::from_millis(200);
    while Instant::now() < end {
        for _ in 0..20 {
            futures.push((x, exe.submit(Apply(square, x))));
            x += 1;
        }
        if Instant::now() >= next_kill {
            let victim = (x as usize / 20) % nodes.len();
            nodes[victim].kill9();
            nodes[victim] = Node::start_prefetch(&url, 1, 1);
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(200);
        }
        // Pace the submitter by the answers, not by a clock.
        if let Some((_, f)) = futures.get(futures.len().saturating_sub(200)) {
            f.wait_timeout(Duration::from_secs(30));
        }
    }
    let (mut ok, mut died) = (0, 0);
    for (x, f) in &futures {
        match f.result_timeout(Duration::from_secs(30)) {
            Ok(v) => {
                assert_eq!(v, x * x);
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_worker_died(), "call {x}: {e:?}");
                died += 1;
            }
        }
    }
    eprintln!("soak {secs} s: {} calls, {ok} ok, {died} worker-died, {kills} nodes killed, 0 lost, 0 hung", futures.len());
    assert_eq!(exe.pending(), 0);
}
