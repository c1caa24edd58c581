//! Beyond one machine: `remote-roundtrip` (one trivial call at a time), `remote-throughput`
//! (10k trivial calls submitted, then all awaited) and `remote-map` (x * x over 1M ints,
//! chunked) through a real `redis-server` the bench starts (loopback TCP, no persistence),
//! with 2 worker nodes on this machine: concurra's `RedisExecutor` against Python's **Celery**
//! (prefork 2, Redis broker and result backend) and **RQ** (2 workers) on the same server,
//! and the floor: the same number of raw `XADD` + `XREADGROUP` + `XACK` round trips through
//! the same client (the `redis` crate, one connection). `remote-map` also runs the local
//! process pool (what the network costs).
//!
//! concurra's worker nodes are the bench binary itself in worker mode
//! (`concurra_redis::worker_hook!` at the top of `main.rs`), one local process each.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};

use concurra::{Apply, ProcessPoolExecutor, RemoteExecutor};
use concurra_redis::{RedisExecutor, WORKER_ENV};

use super::{time_per_op, Peer, Workload, WORKERS};

pub const ROUNDTRIP: Workload = Workload {
    name: "remote-roundtrip",
    about: "one trivial call (x + 1) at a time through Redis to 2 worker nodes, result awaited",
    unit: "round trip",
    peers: roundtrip_peers,
};

pub const THROUGHPUT: Workload = Workload {
    name: "remote-throughput",
    about: "10k trivial calls (x + 1) submitted through Redis to 2 worker nodes, then all awaited",
    unit: "task",
    peers: throughput_peers,
};

pub const MAP: Workload = Workload {
    name: "remote-map",
    about: "x * x over 1M ints through Redis to 2 worker nodes, 1000 per call, in order",
    unit: "item",
    peers: map_peers,
};

const ROUND_TRIPS: usize = 2_000;
const CELERY_ROUND_TRIPS: usize = 300;
const RQ_ROUND_TRIPS: usize = 100;
const TASKS: usize = 10_000;
const CELERY_TASKS: usize = 2_000;
const RQ_TASKS: usize = 300;
const ITEMS: usize = 1_000_000;
const CELERY_ITEMS: usize = 200_000;
const CHUNK: usize = 1_000;

fn inc(x: u64) -> u64 {
    x + 1
}

fn square(x: u64) -> u64 {
    x * x
}

/// The bench's `redis-server`: started on first use, stopped by [`stop_server`].
static SERVER: Mutex<Option<(Child, String)>> = Mutex::new(None);

/// The server's URL (`redis://127.0.0.1:PORT`), starting it if needed; `BENCH_REDIS_URL` is
/// set for the Python peers.
fn server() -> String {
    let mut server = SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, url)) = server.as_ref() {
        return url.clone();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("bench-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for redis-server");
    let mut child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--logfile", "", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (install it: apt-get install redis-server)");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    for line in lines.by_ref() {
        if line
            .expect("redis-server's log")
            .to_ascii_lowercase()
            .contains("ready to accept connections")
        {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let url = format!("redis://127.0.0.1:{port}");
    std::env::set_var("BENCH_REDIS_URL", &url);
    *server = Some((child, url.clone()));
    url
}

/// Stops the bench's `redis-server`, if it started one.
pub fn stop_server() {
    if let Some((mut child, _)) = SERVER.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Worker nodes (the bench binary in worker mode), killed on drop.
struct Nodes(Vec<Child>);

impl Nodes {
    fn start(url: &str) -> Nodes {
        let exe = std::env::current_exe().expect("the bench's own path");
        Nodes(
            (0..WORKERS)
                .map(|_| {
                    let mut child = Command::new(&exe)
                        .env(
                            WORKER_ENV,
                            format!("{url}?ns=bench&processes=1&prefetch=64"),
                        )
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("a worker node");
                    // Serving once it says so.
                    let err = child.stderr.take().expect("piped");
                    let mut lines = BufReader::new(err).lines();
                    for line in lines.by_ref() {
                        if line
                            .expect("the node's log")
                            .starts_with("concurra-redis worker ")
                        {
                            break;
                        }
                    }
                    std::thread::spawn(move || for _ in lines {});
                    child
                })
                .collect(),
        )
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn executor(url: &str) -> RedisExecutor {
    RedisExecutor::builder(url)
        .namespace("bench")
        .max_workers(WORKERS)
        .build()
        .expect("the bench's redis-server")
}

fn roundtrip_peers() -> Vec<Peer> {
    server();
    vec![
        Peer::rust("concurra RedisExecutor.call", ROUND_TRIPS, concurra_call),
        Peer::rust(
            "concurra RedisExecutor.submit().result()",
            ROUND_TRIPS,
            concurra_roundtrip,
        ),
        Peer::rust(
            "floor: XADD+XREADGROUP+XACK (redis crate)",
            ROUND_TRIPS,
            floor,
        ),
        Peer::python(
            "Python Celery 2 prefork (Redis)",
            CELERY_ROUND_TRIPS,
            "remote_celery_roundtrip.py",
        ),
        Peer::python(
            "Python RQ 2 workers",
            RQ_ROUND_TRIPS,
            "remote_rq_roundtrip.py",
        ),
    ]
}

fn throughput_peers() -> Vec<Peer> {
    server();
    vec![
        Peer::rust(
            "concurra RedisExecutor submit all, await all",
            TASKS,
            concurra_throughput,
        ),
        Peer::rust("floor: XADD+XREADGROUP+XACK (redis crate)", TASKS, floor),
        Peer::python(
            "Python Celery 2 prefork (Redis)",
            CELERY_TASKS,
            "remote_celery_throughput.py",
        ),
        Peer::python("Python RQ 2 workers", RQ_TASKS, "remote_rq_throughput.py"),
    ]
}

fn map_peers() -> Vec<Peer> {
    server();
    vec![
        Peer::rust(
            "concurra RedisExecutor.map_chunked(1000)",
            ITEMS,
            concurra_map,
        ),
        Peer::rust(
            "concurra ProcessPoolExecutor(2).map_chunked(1000), local",
            ITEMS,
            local_map,
        ),
        Peer::python(
            "Python Celery chunks(1000), 2 prefork",
            CELERY_ITEMS,
            "remote_celery_map.py",
        ),
    ]
}

fn concurra_call(n: usize) -> f64 {
    let url = server();
    let _nodes = Nodes::start(&url);
    let exe = executor(&url);
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(exe.call(Apply(inc, i)).unwrap(), i + 1);
        }
    })
}

fn concurra_roundtrip(n: usize) -> f64 {
    let url = server();
    let _nodes = Nodes::start(&url);
    let exe = executor(&url);
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            assert_eq!(exe.submit(Apply(inc, i)).result().unwrap(), i + 1);
        }
    })
}

fn concurra_throughput(n: usize) -> f64 {
    let url = server();
    let _nodes = Nodes::start(&url);
    let exe = executor(&url);
    time_per_op(n, |n| {
        let fs: Vec<_> = (0..n as u64).map(|i| exe.submit(Apply(inc, i))).collect();
        for (i, f) in fs.iter().enumerate() {
            assert_eq!(f.result().unwrap(), i as u64 + 1);
        }
    })
}

fn concurra_map(n: usize) -> f64 {
    let url = server();
    let _nodes = Nodes::start(&url);
    let exe = executor(&url);
    time_per_op(n, |n| {
        check_squares(exe.map_chunked(square, 0..n as u64, CHUNK), n)
    })
}

/// Sums a map's squares of `0..n` and checks the sum.
fn check_squares(values: impl Iterator<Item = concurra::Result<u64>>, n: usize) {
    let sum: u64 = values.map(Result::unwrap).sum();
    assert_eq!(sum, (0..n as u64).map(square).sum::<u64>());
}

fn local_map(n: usize) -> f64 {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("a process pool");
    time_per_op(n, |n| {
        check_squares(pool.map_chunked(square, 0..n as u64, CHUNK), n);
    })
}

/// The floor: per call, one entry added, read with a group and acknowledged: three round
/// trips through one connection of the same client, nothing else.
fn floor(n: usize) -> f64 {
    let url = server();
    let mut con = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("the bench's redis-server");
    let stream = "bench:floor";
    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(stream).query(&mut con);
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query::<()>(&mut con)
        .expect("XGROUP CREATE");
    time_per_op(n, |n| {
        for i in 0..n as u64 {
            let _: String = redis::cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("p")
                .arg(i)
                .query(&mut con)
                .unwrap();
            let read: redis::Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(stream)
                .arg(">")
                .query(&mut con)
                .unwrap();
            let id = first_id(&read).expect("the entry just added");
            let acked: i64 = redis::cmd("XACK")
                .arg(stream)
                .arg("g")
                .arg(&id)
                .query(&mut con)
                .unwrap();
            assert_eq!(acked, 1);
        }
    })
}

/// The id of the first entry of an `XREADGROUP` reply.
fn first_id(v: &redis::Value) -> Option<String> {
    use redis::Value;
    let items = |v: &Value| match v {
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    let stream = items(v).into_iter().next()?;
    let entries = items(&stream).into_iter().nth(1)?;
    let entry = items(&entries).into_iter().next()?;
    match items(&entry).into_iter().next()? {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}
