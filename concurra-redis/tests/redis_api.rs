//! The executor's surface against a real `redis-server` and real worker nodes: the same
//! Future and the same rules as the process pool.

use std::time::Duration;

use concurra::{Apply, DynExecutor, Fallible, RemoteExecutor};
use concurra_redis::{RedisExecutor, RedisPool};

mod common;
use common::tasks::*;
use common::{executor, Node, Redis};

concurra_redis::worker_hook!();

#[test]
fn submit_call_map_and_errors_come_back_on_the_same_future() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("api");
    let _node = Node::start(&url, 2);
    let exe = executor(&url).build().unwrap();
    assert_eq!(exe.submit(Apply(square, 7)).result().unwrap(), 49);
    assert_eq!(exe.call(Apply(square, 3)).unwrap(), 9);
    let squares: Vec<u64> = exe.map(square, 0..100).map(Result::unwrap).collect();
    assert_eq!(squares, (0..100).map(|x| x * x).collect::<Vec<_>>());
    let chunked: Vec<u64> = exe
        .map_chunked(square, 0..1000u64, 64)
        .map(Result::unwrap)
        .collect();
    assert_eq!(chunked, (0..1000).map(|x| x * x).collect::<Vec<_>>());
    // A panic and a Fallible error fail their future only.
    let e = exe.submit(Apply(boom, ())).result().unwrap_err();
    assert!(e.is_panic() && e.panic_message() == Some("boom"), "{e:?}");
    let e = exe
        .submit(Fallible(Apply(parse, "x".to_string())))
        .result()
        .unwrap_err();
    assert!(e.is_failed(), "{e:?}");
    assert_eq!(
        exe.submit(Fallible(Apply(parse, "12".to_string())))
            .result()
            .unwrap(),
        12
    );
    // wait / as_completed / callbacks / .await
    let fs: Vec<_> = (0..20).map(|x| exe.submit(Apply(square, x))).collect();
    let mut seen: Vec<u64> = concurra::as_completed(fs.iter())
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..20).map(|x| x * x).collect::<Vec<_>>());
    let (tx, rx) = std::sync::mpsc::channel();
    exe.submit(Apply(square, 5))
        .add_done_callback(move |f| tx.send(*f.result_ref().unwrap()).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 25);
    assert_eq!(
        futures::executor::block_on(exe.submit(Apply(square, 6))).unwrap(),
        36
    );
    // The object-safe form.
    let dynamic: &dyn DynExecutor = &exe;
    assert_eq!(dynamic.submit(Apply(square, 8)).result().unwrap(), 64);
    assert_eq!(exe.pending(), 0);
}

#[test]
fn the_pool_facade_runs_over_it() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("pool");
    let _node = Node::start_prefetch(&url, 2, 2);
    let pool = RedisPool::from_executor(executor(&url).max_workers(2).build().unwrap());
    assert_eq!(pool.apply_async(Apply(square, 9)).get().unwrap(), 81);
    assert_eq!(
        pool.map(square, 0..50u64).unwrap(),
        (0..50).map(|x| x * x).collect::<Vec<_>>()
    );
    let mut unordered: Vec<u64> = pool
        .imap_unordered(square, 0..30u64)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..30).map(|x| x * x).collect::<Vec<_>>());
    pool.close();
    pool.join().unwrap();
}

#[test]
fn a_crash_inside_a_call_fails_that_call_and_the_node_serves_on() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("crash");
    let node = Node::start(&url, 1);
    let exe = executor(&url).build().unwrap();
    let e = exe.submit(Apply(crash, ())).result().unwrap_err();
    assert!(e.is_worker_died() && !e.is_worker_lost(), "{e:?}");
    assert_eq!(exe.call(Apply(square, 4)).unwrap(), 16);
    assert!(node_alive(&node));
}

fn node_alive(node: &Node) -> bool {
    // SAFETY: signal 0 to our own unreaped child only checks that it exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(node.pid() as i32, 0) == 0
    }
}

#[test]
fn without_a_worker_of_this_build_calls_fail_with_no_workers() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("none");
    let exe = executor(&url)
        .no_worker_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let f = exe.submit(Apply(square, 2));
    let e = f.result_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(e.is_no_workers(), "{e:?}");
    assert!(e.to_string().contains(exe.build_id()), "{e}");
    // Its entry is gone: a worker that comes later does not run it.
    let mut con = redis.con();
    let len: i64 = redis::cmd("XLEN")
        .arg(exe.stream())
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 0);
}

/// A copy of this test binary whose build id differs (one byte of its build-id note
/// changed): the same code, another build.
fn other_build() -> std::path::PathBuf {
    let me = std::env::current_exe().unwrap();
    let mut bytes = std::fs::read(&me).unwrap();
    let id = concurra::build_id().unwrap();
    let hex = id.strip_prefix("elf-").expect("a build-id note on Linux");
    let note: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let at = bytes
        .windows(note.len())
        .position(|w| w == note.as_slice())
        .unwrap();
    bytes[at] ^= 0xff;
    let path = std::env::temp_dir().join(format!("cq-other-build-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

#[test]
fn a_worker_of_another_build_never_takes_a_call() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("builds");
    let exe_path = other_build();
    let other = Node::start_exe(&exe_path, &url, 1, 0);
    let exe = executor(&url)
        .no_worker_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let e = exe
        .submit(Apply(count_run, 1))
        .result_timeout(Duration::from_secs(10))
        .unwrap_err();
    assert!(e.is_no_workers(), "{e:?}");
    let mut con = redis.con();
    let runs: Option<i64> = redis::cmd("HGET")
        .arg("runs")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(runs, None, "the other build's worker ran the call");
    // It is live, on its own build's stream.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("cq:builds:*:workers")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!keys[0].contains(exe.build_id()));
    drop(other);
    std::fs::remove_file(exe_path).unwrap();
}

#[test]
fn cancel_before_start_never_runs_and_cancel_while_running_kills_the_call() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("cancel");
    let _node = Node::start(&url, 1);
    let exe = executor(&url).build().unwrap();
    let _gates = redis.gates("c1");
    let mut con = redis.con();
    // The node's one slot is held: the next call waits in the stream.
    let first = exe.submit(Apply(held, "c1".to_string()));
    await_started(&mut con, "c1", 1);
    let second = exe.submit(Apply(count_run, 2));
    // Queued in the stream (not leased: the node's one slot is held), then cancelled.
    exe.flush();
    assert!(second.cancel());
    // Cancel while running: the node kills the local process, the slot frees.
    assert!(first.cancel());
    let killed_pid_gone = exe.call(Apply(local_pid, ())).unwrap();
    assert!(killed_pid_gone > 0);
    // The stream is FIFO: the cancelled call would have run before that one.
    let runs: Option<i64> = redis::cmd("HGET")
        .arg("runs")
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(runs, None, "a call cancelled before it started ran");
    let finished: i64 = redis::cmd("LLEN")
        .arg("finished:c1")
        .query(&mut con)
        .unwrap();
    assert_eq!(finished, 0, "the cancelled running call finished");
    assert!(first.cancelled() && second.cancelled());
}

#[test]
fn a_deadline_kills_the_call_with_a_timeout() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("deadline");
    let _node = Node::start(&url, 1);
    let exe = executor(&url).build().unwrap();
    let f = exe.submit_timeout(Apply(held, "d1".to_string()), Duration::from_millis(300));
    let e = f.result_timeout(Duration::from_secs(20)).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    // The slot is free again.
    assert_eq!(exe.call(Apply(square, 5)).unwrap(), 25);
    let with_default = executor(&url)
        .task_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let e = with_default
        .submit(Apply(held, "d2".to_string()))
        .result()
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

#[test]
fn an_unreachable_broker_is_a_broker_error_at_once() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let url = redis.url("down");
    let _node = Node::start(&url, 1);
    let exe = executor(&url)
        .broker_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let mut con = redis.con();
    let waiting = exe.submit(Apply(held, "b1".to_string()));
    await_started(&mut con, "b1", 1);
    drop(con);
    redis.kill();
    let e = exe
        .submit(Apply(square, 1))
        .result_timeout(Duration::from_secs(5))
        .unwrap_err();
    assert!(e.is_broker(), "{e:?}");
    // The waiting call fails after the broker timeout.
    let e = waiting.result_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(e.is_broker(), "{e:?}");
    // A new executor cannot even start.
    let e = RedisExecutor::new(url).unwrap_err();
    assert!(e.is_broker(), "{e:?}");
}

#[test]
fn a_restarted_redis_with_persistence_resumes_the_calls() {
    let Some(mut redis) = Redis::start_with(true) else {
        return;
    };
    let url = redis.url("persist");
    let exe = executor(&url).build().unwrap();
    let fs: Vec<_> = (0..50).map(|x| exe.submit(Apply(square, x))).collect();
    // Every call is in the stream before the broker dies.
    exe.flush();
    redis.restart();
    let _node = Node::start(&url, 2);
    for (x, f) in fs.iter().enumerate() {
        assert_eq!(
            f.result_timeout(Duration::from_secs(20)).unwrap(),
            (x * x) as u64
        );
    }
}

#[test]
fn shutdown_with_cancel_futures_under_load_cancels_the_queued_and_ends_the_rest() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("shutdown");
    let _a = Node::start(&url, 2);
    let _b = Node::start(&url, 2);
    let exe = executor(&url).build().unwrap();
    let fs: Vec<_> = (0..2000).map(|x| exe.submit(Apply(count_run, x))).collect();
    exe.shutdown(true, true);
    let mut ok = 0;
    for f in &fs {
        match f.result_timeout(Duration::from_secs(30)) {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
    }
    assert!(exe
        .submit(Apply(square, 1))
        .result()
        .unwrap_err()
        .is_shutdown());
    let mut con = redis.con();
    let runs: std::collections::HashMap<u64, i64> =
        redis::cmd("HGETALL").arg("runs").query(&mut con).unwrap();
    // Exactly the calls that succeeded ran, once each.
    assert_eq!(runs.len(), ok, "ran {} but {ok} succeeded", runs.len());
    assert!(runs.values().all(|&n| n == 1));
}

/// The submitter of `a_submitter_that_exits_leaves_its_calls_running`, run as a child process
/// of this test binary (`CQ_SUBMITTER_URL` set; otherwise it does nothing): submits 20
/// counted calls, makes sure they are in the stream, and exits without waiting for them.
#[test]
fn submitter_child() {
    let Ok(url) = std::env::var("CQ_SUBMITTER_URL") else {
        return;
    };
    let exe = executor(&url)
        .result_expiry(Duration::from_secs(60))
        .build()
        .unwrap();
    let futures: Vec<_> = (0..20u64)
        .map(|x| exe.submit(Apply(count_run, x)))
        .collect();
    exe.flush();
    // Gone at once, as a crashed or finished submitter would be: no shutdown, no waiting.
    std::mem::forget(futures);
    std::mem::forget(exe);
    std::process::exit(0);
}

#[test]
fn a_submitter_that_exits_leaves_its_calls_running_and_their_answers_expire() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url("gone");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "submitter_child", "--test-threads=1"])
        .env("CQ_SUBMITTER_URL", &url)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the submitter child: {status}");
    // Its calls wait in the stream; a node started now runs each of them once.
    let _node = Node::start(&url, 2);
    let mut con = redis.con();
    // Each run pushes to `ran`: wait for the twenty pushes (BLPOP blocks until one comes).
    for n in 0..20 {
        let got: Option<(String, u64)> = redis::cmd("BLPOP")
            .arg("ran")
            .arg(30)
            .query(&mut con)
            .unwrap();
        assert!(got.is_some(), "{n} of 20 calls ran within 30 s");
    }
    let runs: std::collections::HashMap<u64, i64> =
        redis::cmd("HGETALL").arg("runs").query(&mut con).unwrap();
    assert!(runs.values().all(|&r| r == 1), "a call ran twice: {runs:?}");
    // The answers went to the gone submitter's result stream, which expires.
    let streams: Vec<String> = redis::cmd("KEYS")
        .arg("cq:gone:res:*")
        .query(&mut con)
        .unwrap();
    assert_eq!(streams.len(), 1, "{streams:?}");
    let ttl: i64 = redis::cmd("PTTL").arg(&streams[0]).query(&mut con).unwrap();
    assert!(
        ttl > 0 && ttl <= 60_000,
        "the result stream's time to live: {ttl} ms"
    );
}
